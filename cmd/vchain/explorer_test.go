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

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/chromedp/chromedp"

	"github.com/vchain-dev/vchain/internal/btcdtest"
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

// tab is a Chromium tab a test drives, failing the test on any error.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string // where screenshots go: $VCHAIN_SCREENSHOTS, else a temporary directory
}

func newTab(t *testing.T) *tab {
	b := &tab{t: t, ctx: browser(t), shots: os.Getenv("VCHAIN_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	}
	return b
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// poll waits until the JavaScript expression js is true. It evaluates js
// again and again rather than once in the page: a navigation under way
// destroys the page's context, which ends a poll running in it.
func (b *tab) poll(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s (after 30 s): %v", what, last)
}

func (b *tab) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestExplorerInBrowser drives Chromium through the host's explorer: the
// home page lists the forum contract, its link leads to the contract's
// page with the call log, a call made from the CLI appears there without
// a reload, and the caller's link leads to the user's log. Screenshots
// go to $VCHAIN_SCREENSHOTS when set (docs/ for the README).
func TestExplorerInBrowser(t *testing.T) {
	b := newTab(t)
	url, id, contract := forumOnDev(t)
	b.do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#contracts a`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	if home := b.text(`#contracts`); !strings.Contains(home, id[:8]) {
		t.Fatalf("the home page lists %q", home)
	}
	b.shot("explorer-home.png")
	b.do(chromedp.Click(chromedp.CSS(`#contracts a`)), chromedp.WaitVisible(chromedp.CSS(`#calls`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#calls tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	if loc := b.location(); !strings.HasSuffix(loc, "/contract/"+id) || rows != 2 || !strings.Contains(b.text(`h1`), id[:8]) {
		t.Fatalf("at %s with %d rows", loc, rows)
	}
	// A call from the CLI shows up without a reload.
	contract("call", id, "addPost", "1", `"a live post"`)
	b.do(chromedp.WaitVisible(chromedp.CSS(`#calls tbody tr.fresh`)))
	if fresh := b.text(`#calls tbody tr.fresh`); !strings.Contains(fresh, "addPost") {
		t.Fatalf("the new row: %q", fresh)
	}
	if n := b.text(`#log-length`); n != "3" {
		t.Fatalf("the call log's length shows %q", n)
	}
	// The exports follow too.
	b.poll("the exports did not follow", `document.getElementById('exports').textContent.includes('"postCounter":1')`)
	// The host audits its logs for the page: every record, the new one
	// too, verifies.
	b.poll("the records were not marked verified", `document.querySelectorAll('td.check.verified').length === 3 && document.getElementById('audit').textContent === 'all 3 records verify'`)
	b.shot("explorer-contract.png")
	// The caller's link leads to the user's log.
	b.do(chromedp.Click(chromedp.CSS(`#calls tbody tr:not(.fresh) a`)), chromedp.WaitVisible(chromedp.CSS(`ol`)))
	if loc := b.location(); !strings.Contains(loc, "/user/") || !strings.Contains(b.text(`h1`), "User") {
		t.Fatalf("the caller's link led to %s", loc)
	}
}

// clickJS is a script that clicks the first element sel matches and
// says whether there was one (tab.poll runs it until there is).
func clickJS(sel string) string {
	return `(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return false; e.click(); return true })()`
}

// TestChainExplorerInBrowser drives Chromium through a DPoR node's
// explorer on a localnet: the home page shows the newest blocks and a new
// block arrives without a reload; a block's link leads to its page with
// the commit certificate, whose links lead to the next block and to its
// term's proposers.
func TestChainExplorerInBrowser(t *testing.T) {
	b := newTab(t)
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
	b.do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#blocks tbody tr`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	// Blocks keep coming every 200 ms: one arrives without a reload.
	b.do(chromedp.WaitVisible(chromedp.CSS(`#blocks tbody tr.fresh`)))
	if h := b.text(`#blocks tbody tr.fresh td`); h == "" {
		t.Fatal("the new row has no height")
	}
	b.shot("explorer-chain.png")
	b.do(chromedp.Click(chromedp.CSS(`#blocks tbody tr:nth-child(3) a`)), chromedp.WaitVisible(chromedp.CSS(`#certificate`)))
	title, cert := b.text(`h1`), b.text(`#certificate`)
	if !strings.HasPrefix(title, "Block ") || !strings.Contains(cert, "commit votes of 3 needed") || strings.Contains(cert, ": 0 commit") {
		t.Fatalf("the block page: %q, certificate %q", title, cert)
	}
	b.shot("explorer-block.png")
	// Each click waits for the new page itself: an element both pages have
	// would match the old one while the navigation is still under way.
	// The pages update themselves as blocks arrive, so an element found
	// one moment may be replaced the next: click from inside the page.
	b.poll("no next link", clickJS(`a[rel=next]`))
	b.poll("the next link did not lead to the next block", `document.querySelector('h1') !== null && document.querySelector('h1').textContent !== `+jsString(title)+` && !!document.getElementById('certificate')`)
	b.poll("no term link", clickJS(`dd a[href^="/term/"]`))
	b.poll("the term link did not lead to the term's page", `location.pathname.startsWith('/term/') && document.readyState === 'complete' && !!document.querySelector('#proposers li')`)
	if p := b.text(`#proposers`); !strings.Contains(p, "p0") {
		t.Fatalf("the term's proposers: %q", p)
	}
}

// TestEngineExplorerInBrowser drives Chromium through the explorer of a
// `vchain node` following btcd: a block with a names op appears on the
// home page without a reload; its link leads to the block page with the
// op and the consensus hashes it covers; the consensus hash's link says
// it is fresh; the name's page shows its history; a reorg strikes the
// reverted block out, live.
func TestEngineExplorerInBrowser(t *testing.T) {
	b := newTab(t)
	n := btcdtest.Start(t)
	c := n.Client
	if _, err := c.Generate(101); err != nil {
		t.Fatal(err)
	}
	wif, _ := btcutil.NewWIF(n.Key, btcdtest.Params, true)
	dd := filepath.Join(t.TempDir(), "names")
	rpc := []string{"--rpc", n.RPC, "--rpc-user", n.User, "--rpc-pass", n.Pass, "--rpc-notls", "--network", "regtest"}
	node := exec.Command(vchainBin, append([]string{"node", "--source", "bitcoin", "--app", "names", "--datadir", dd, "--confirmations", "0", "--poll", "50ms"}, rpc...)...)
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })
	var info nodeInfo
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if raw, err := os.ReadFile(nodeFile(dd)); err == nil && json.Unmarshal(raw, &info) == nil && info.HTTP != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not write node.json in 15s")
		}
	}
	url := "http://" + info.HTTP
	b.do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	b.poll("the home page never reached block 101", `document.getElementById('height').textContent === '101'`)

	mustRun(t, append([]string{"names", "preorder", "alice.id", "--key", wif.String(), "--datadir", dd}, rpc...)...)
	c.Generate(1)
	b.poll("block 102 did not appear without a reload", `!!document.querySelector('#blocks tr.fresh[data-height="102"]')`)
	b.poll("the lag and the source's tip did not follow", `document.getElementById('source-tip').textContent === '102' && document.getElementById('lag').textContent === '0'`)
	mustRun(t, append([]string{"names", "register", "alice.id", "--key", wif.String(), "--datadir", dd}, rpc...)...)
	c.Generate(1)
	b.poll("block 103 did not appear without a reload", `!!document.querySelector('#blocks tr.fresh[data-height="103"]')`)
	if ops := b.text(`#blocks tr[data-height="103"] td:nth-child(4)`); ops != "1" {
		t.Fatalf("block 103 shows %q ops", ops)
	}
	b.poll("the source's tip did not follow", `document.getElementById('source-tip').textContent === '103' && document.getElementById('tip-hash').textContent !== ''`)
	b.shot("explorer-engine.png")

	b.do(chromedp.Click(chromedp.CSS(`#blocks tr[data-height="103"] a`)), chromedp.WaitVisible(chromedp.CSS(`#ops`)))
	if h, ops := b.text(`h1`), b.text(`#ops tbody`); h != "Block 103" || !strings.Contains(ops, "alice.id") {
		t.Fatalf("the block page: %q with ops %q", h, ops)
	}
	if covered := b.text(`#covered tbody`); !strings.Contains(covered, "102") || !strings.Contains(covered, "100") {
		t.Fatalf("block 103 covers %q, want 102, 100, …", covered)
	}
	b.shot("explorer-engine-block.png")
	b.do(chromedp.Click(chromedp.CSS(`#ops a[href^="/name/"]`)), chromedp.WaitVisible(chromedp.CSS(`#history`)))
	if rec, hist := b.text(`#record`), b.text(`#history tbody`); !strings.Contains(rec, n.Address.EncodeAddress()) || !strings.Contains(hist, "103") {
		t.Fatalf("the name page: record %q, history %q", rec, hist)
	}
	b.do(chromedp.Navigate(url+"/block/103"), chromedp.WaitVisible(chromedp.CSS(`#ops`)),
		chromedp.Click(chromedp.CSS(`dd a[href^="/consensus/"]`)), chromedp.WaitVisible(chromedp.CSS(`#fresh`)))
	if f := b.text(`#fresh`); !strings.HasPrefix(f, "Fresh") {
		t.Fatalf("the tip's consensus hash: %q", f)
	}

	// A reorg: block 103 goes, and the home page strikes it out live.
	b.do(chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	tip, _ := c.GetBestBlockHash()
	if err := c.InvalidateBlock(tip); err != nil {
		t.Fatal(err)
	}
	b.poll("the reverted block was not struck out", `!!document.querySelector('#blocks tr.reverted[data-height="103"]') && document.getElementById('height').textContent === '102'`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
