package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser returns a headless Chromium context, or skips the test when
// there is no Chromium (a failure instead when VCHAIN_REQUIRE_BROWSER=1,
// as scripts/test sets after installing it).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("VCHAIN_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium found, and VCHAIN_REQUIRE_BROWSER=1")
		}
		t.Skip("no Chromium on this machine (scripts/test installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1200, 800))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestExplorerInBrowser drives Chromium through the host's explorer: the
// home page lists the forum contract, its link leads to the contract's
// page with the call log, a call made from the CLI appears there without
// a reload, and the caller's link leads to the user's log. Screenshots
// go to $VCHAIN_SCREENSHOTS when set (docs/ for the README).
func TestExplorerInBrowser(t *testing.T) {
	ctx := browser(t)
	url, id, contract := forumOnDev(t)
	dir := t.TempDir()
	shots := os.Getenv("VCHAIN_SCREENSHOTS")
	if shots == "" {
		shots = dir
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#contracts a`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	if home := text(`#contracts`); !strings.Contains(home, id[:8]) {
		t.Fatalf("the home page lists %q", home)
	}
	shot("explorer-home.png")
	do(chromedp.Click(chromedp.CSS(`#contracts a`)), chromedp.WaitVisible(chromedp.CSS(`#calls`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#calls tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(location, "/contract/"+id) || rows != 2 || !strings.Contains(text(`h1`), id[:8]) {
		t.Fatalf("at %s with %d rows", location, rows)
	}
	// A call from the CLI shows up without a reload.
	contract("call", id, "addPost", "1", `"a live post"`)
	do(chromedp.WaitVisible(chromedp.CSS(`#calls tbody tr.fresh`)))
	if fresh := text(`#calls tbody tr.fresh`); !strings.Contains(fresh, "addPost") {
		t.Fatalf("the new row: %q", fresh)
	}
	if n := text(`#log-length`); n != "3" {
		t.Fatalf("the call log's length shows %q", n)
	}
	// The exports follow too.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('exports').textContent.includes('"postCounter":1')`)); err != nil {
		t.Fatalf("the exports did not follow: %v", err)
	}
	// The host audits its logs for the page: every record, the new one
	// too, verifies.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('td.check.verified').length === 3 && document.getElementById('audit').textContent === 'all 3 records verify'`)); err != nil {
		t.Fatalf("the records were not marked verified (audit: %q): %v", text(`#audit`), err)
	}
	shot("explorer-contract.png")
	// The caller's link leads to the user's log.
	do(chromedp.Click(chromedp.CSS(`#calls tbody tr:not(.fresh) a`)), chromedp.WaitVisible(chromedp.CSS(`ol`)))
	loc2, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(loc2, "/user/") || !strings.Contains(text(`h1`), "User") {
		t.Fatalf("the caller's link led to %s", loc2)
	}
}

// TestChainExplorerInBrowser drives Chromium through a DPoR node's
// explorer on a localnet: the home page shows the newest blocks and a new
// block arrives without a reload; a block's link leads to its page with
// the commit certificate, whose links lead to the next block and to its
// term's proposers.
func TestChainExplorerInBrowser(t *testing.T) {
	ctx := browser(t)
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "1", "--dir", dir, "--period", "200", "--timeout", "2000")
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", dir) })
	raw, err := os.ReadFile(filepath.Join(dir, "p0", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nc struct{ HTTP string }
	json.Unmarshal(raw, &nc)
	url := "http://" + nc.HTTP
	shots := os.Getenv("VCHAIN_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shots, name), buf, 0o644)
	}
	do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#blocks tbody tr`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	// Blocks keep coming every 200 ms: one arrives without a reload.
	do(chromedp.WaitVisible(chromedp.CSS(`#blocks tbody tr.fresh`)))
	if h := text(`#blocks tbody tr.fresh td`); h == "" {
		t.Fatal("the new row has no height")
	}
	shot("explorer-chain.png")
	do(chromedp.Click(chromedp.CSS(`#blocks tbody tr:nth-child(3) a`)), chromedp.WaitVisible(chromedp.CSS(`#certificate`)))
	title, cert := text(`h1`), text(`#certificate`)
	if !strings.HasPrefix(title, "Block ") || !strings.Contains(cert, "commit votes of 3 needed") || strings.Contains(cert, ": 0 commit") {
		t.Fatalf("the block page: %q, certificate %q", title, cert)
	}
	shot("explorer-block.png")
	do(chromedp.Click(chromedp.CSS(`a[rel=next]`)), chromedp.WaitVisible(chromedp.CSS(`#certificate`)))
	if next := text(`h1`); next == title {
		t.Fatalf("the next link stayed on %q", next)
	}
	do(chromedp.Click(chromedp.CSS(`dd a[href^="/term/"]`)), chromedp.WaitVisible(chromedp.CSS(`#proposers li`)))
	if p := text(`#proposers`); !strings.Contains(p, "p0") {
		t.Fatalf("the term's proposers: %q", p)
	}
}
