package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestCLIConcurrentCallsOneKey: ten `vchain contract call` processes with
// one key all succeed, each adding its own topic, and the audit passes.
func TestCLIConcurrentCallsOneKey(t *testing.T) {
	dir := t.TempDir()
	url, _ := startDev(t, filepath.Join(dir, "host"))
	key := filepath.Join(dir, "alice.key")
	id := strings.TrimSpace(mustRun(t, "contract", "deploy", "--host", url, "--key", key, "--new-key", filepath.Join("..", "..", "examples", "forum.js")))
	const n = 10
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, code := run(t, "", "contract", "call", "--host", url, "--key", key, id, "addTopic", fmt.Sprintf(`"topic %d"`, i))
			if code != 0 {
				t.Errorf("call %d: exit %d: %s", i, code, errOut)
			}
			results[i] = strings.TrimSpace(out)
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { a, _ := strconv.Atoi(results[i]); b, _ := strconv.Atoi(results[j]); return a < b })
	if got := strings.Join(results, ","); got != "1,2,3,4,5,6,7,8,9,10" {
		t.Fatalf("the calls returned topics %s, want 1..10 once each", got)
	}
	out := mustRun(t, "audit", "--host", url, "--contract", id)
	if !strings.Contains(out, "audit OK") || !strings.Contains(out, fmt.Sprintf("%d calls replayed", n+1)) {
		t.Fatalf("audit:\n%s", out)
	}
}

// TestCLIClientMistakes: a --key that names no file, a --host without a
// scheme, a second host on one data directory, unknown subcommands.
func TestCLIClientMistakes(t *testing.T) {
	dir := t.TempDir()
	datadir := filepath.Join(dir, "host")
	url, dev := startDev(t, datadir)
	key := filepath.Join(dir, "alice.key")
	forum := filepath.Join("..", "..", "examples", "forum.js")

	// A mistyped --key is an error naming it, not a new identity.
	typo := filepath.Join(dir, "alcie.key")
	_, errOut, code := run(t, "", "contract", "deploy", "--host", url, "--key", typo, forum)
	if code == 0 || !strings.Contains(errOut, typo) || !strings.Contains(errOut, "--new-key") {
		t.Errorf("deploy with a missing --key: exit %d, %q; want an error naming %s and --new-key", code, errOut, typo)
	}
	if _, err := os.Stat(typo); err == nil {
		t.Errorf("a missing --key was created")
	}
	id := strings.TrimSpace(mustRun(t, "contract", "deploy", "--host", url, "--key", key, "--new-key", forum))

	// HOST:PORT and :PORT mean http://HOST:PORT.
	hostPort := strings.TrimPrefix(url, "http://")
	_, port, _ := net.SplitHostPort(hostPort)
	for _, h := range []string{hostPort, ":" + port, url + "/"} {
		if out := mustRun(t, "contract", "call", "--host", h, "--key", key, id, "addTopic", `"via `+h+`"`); strings.TrimSpace(out) == "" {
			t.Errorf("--host %s: no result", h)
		}
	}
	if out := mustRun(t, "audit", "--host", hostPort, "--contract", id); !strings.Contains(out, "audit OK") {
		t.Errorf("audit --host %s:\n%s", hostPort, out)
	}
	for _, h := range []string{"ftp://" + hostPort, "http://", hostPort + "/x?y=1", "localhost:99999"} {
		_, errOut, code := run(t, "", "contract", "state", "--host", h, id, "/topics/1/title")
		if code == 0 || !strings.Contains(errOut, "--host") {
			t.Errorf("--host %q: exit %d, %q; want an error about --host", h, code, errOut)
		}
	}

	// A second host on the same data directory names the first.
	_, errOut, code = run(t, "", "dev", "--datadir", datadir, "--listen", "127.0.0.1:0")
	if want := fmt.Sprintf("process %d", dev.Process.Pid); code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("a second vchain dev on %s: exit %d, %q; want it to name %s", datadir, code, errOut, want)
	}

	// Unknown subcommands fail, nested ones too; a bare group prints help.
	for _, c := range []struct {
		args    []string
		unknown string
	}{{[]string{"contract", "foo"}, "foo"}, {[]string{"contract", "dploy", "x"}, "dploy"}, {[]string{"nosuch"}, "nosuch"}} {
		_, errOut, code := run(t, "", c.args...)
		if code == 0 || !strings.Contains(errOut, `unknown command "`+c.unknown+`"`) {
			t.Errorf("vchain %v: exit %d, %q; want an unknown-command error", c.args, code, errOut)
		}
	}
	if _, errOut, _ := run(t, "", "contract", "dploy"); !strings.Contains(errOut, "did you mean deploy") {
		t.Errorf("vchain contract dploy: %q; want a suggestion", errOut)
	}
	if out, _, code := run(t, "", "contract"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("vchain contract: exit %d, %q; want its help", code, out)
	}

	// Listening beyond loopback needs --public.
	_, errOut, code = run(t, "", "dev", "--datadir", filepath.Join(dir, "other"), "--listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(errOut, "--public") {
		t.Errorf("dev --listen 0.0.0.0:0: exit %d, %q; want a refusal mentioning --public", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused --listen left the data directory behind (%v)", err)
	}
}

func TestCLIVersion(t *testing.T) {
	out := mustRun(t, "version")
	if !strings.HasPrefix(out, "vchain ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "github.com/vchain-dev/vchain") || !strings.Contains(out, "revision ") {
		t.Fatalf("vchain version:\n%s", out)
	}
	// What a build with version control information prints.
	var b strings.Builder
	printVersion(&b, &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "github.com/vchain-dev/vchain", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: strings.Repeat("ab", 20)}, {Key: "vcs.time", Value: "2030-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}})
	for _, want := range []string{"vchain v1.2.3\n", "revision " + strings.Repeat("ab", 20) + "+dirty (2030-01-02T03:04:05Z)", "go       go1.99 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printVersion lacks %q:\n%s", want, b.String())
		}
	}
}

// TestCLIWhoami: `contract whoami` prints the public key contracts see as
// call.caller: the token's deployer holds the supply under it.
func TestCLIWhoami(t *testing.T) {
	dir := t.TempDir()
	url, _ := startDev(t, filepath.Join(dir, "host"))
	key := filepath.Join(dir, "me.key")
	id := strings.TrimSpace(mustRun(t, "contract", "deploy", filepath.Join("..", "..", "examples", "token.js"), "--host", url, "--key", key, "--new-key"))
	me := strings.TrimSpace(mustRun(t, "contract", "whoami", "--key", key))
	if len(me) != 64 {
		t.Fatalf("whoami printed %q, want 64 hex digits", me)
	}
	if got := strings.TrimSpace(mustRun(t, "contract", "call", id, "balanceOf", `"`+me+`"`, "--host", url, "--key", key)); got != "1000000" {
		t.Fatalf("the deployer's balance under whoami's key: %s, want 1000000", got)
	}
	if again := strings.TrimSpace(mustRun(t, "contract", "whoami", "--key", key)); again != me {
		t.Fatalf("whoami changed: %s then %s", me, again)
	}
}
