package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/comet/cometnode"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/internal/cometbench"
)

// startProcess runs vchain with args in the background until the test
// ends (SIGTERM, then the process is waited for).
func startProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(vchainBin, args...)
	logf, err := os.CreateTemp("", "vchain-process-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("vchain %v's output:\n%s", args, out)
		}
		os.Remove(logf.Name())
	})
	return cmd
}

// waitAPI waits until a vchain chain API answers with a committed height
// of at least h.
func waitAPI(t *testing.T, api string, h int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st cometnode.Status
		if err := localnet.GetJSON(&http.Client{Timeout: time.Second}, api+"/v1/status", &st); err == nil && st.Height >= h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not at height %d after a minute", api, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCLINamesOnComet: the names commands submit on a one-validator
// CometBFT chain (vchain comet init, vchain node --source comet --app
// names) with --source comet, and names show reads the node's
// application through its data directory.
func TestCLINamesOnComet(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "c1")
	var info struct{ API string }
	if err := json.Unmarshal([]byte(mustRun(t, "comet", "init", "--home", home)), &info); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "node", "--source", "comet", "--app", "names", "--home", home, "--api", info.API, "--http", "127.0.0.1:0")
	api := "http://" + info.API
	waitAPI(t, api, 1)
	key := filepath.Join(dir, "alice.key")
	mustRun(t, "key", "new", "--out", key)
	data := cometnode.AppDir(home)
	op := func(args ...string) {
		t.Helper()
		mustRun(t, append(append([]string{"names"}, args...), "--source", "comet", "--rpc", api, "--key", key, "--datadir", data)...)
	}
	show := func(name string) map[string]any {
		t.Helper()
		var rec map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "names", "show", name, "--datadir", data)), &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	if _, errOut, code := run(t, "", "names", "register", "alice.id", "--source", "comet", "--rpc", api, "--key", key, "--datadir", data); code == 0 || !strings.Contains(errOut, "preorder it first") {
		t.Fatalf("register without a preorder: exit %d, %s", code, errOut)
	}
	op("preorder", "alice.id")
	op("register", "alice.id")
	k, err := localnet.ReadKey(key)
	if err != nil {
		t.Fatal(err)
	}
	owner := chain.AddressOf(k.Public().(ed25519.PublicKey)).String()
	if rec := show("alice.id"); rec["owner"] != owner {
		t.Fatalf("after register: %v, want owner %s", rec, owner)
	}
}

// cometBinary is the stock cometbft binary the socket tests run:
// $VCHAIN_COMET_BIN (scripts/test installs CometBFT v0.38.26 and sets it).
func cometBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(cometbench.BinEnv)
	if bin == "" {
		if os.Getenv("VCHAIN_REQUIRE_COMET") == "1" {
			t.Fatalf("$%s is not set, and $VCHAIN_REQUIRE_COMET=1", cometbench.BinEnv)
		}
		t.Skipf("$%s is not set: no stock cometbft binary to serve (scripts/test installs one)", cometbench.BinEnv)
	}
	v, err := cometbench.BinaryVersion(context.Background(), bin)
	if err != nil || v != strings.TrimPrefix(cometbench.Version, "v") {
		t.Fatalf("$%s: %q %v, want CometBFT %s", cometbench.BinEnv, v, err, cometbench.Version)
	}
	return bin
}

// startBinary runs bin with args in the background, its output in log,
// until it is killed or the test ends.
func startBinary(t *testing.T, log string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		f.Close()
	})
	return cmd
}

// TestCLIABCISocket: vchain abci serves the contract runtime over ABCI's
// socket protocol to a stock cometbft binary (v0.38.26) in another
// process, and its chain API submits through that node's RPC: the forum
// deploys and answers. Both processes killed with SIGKILL at once and
// started again, the chain goes on without an AppHash mismatch.
func TestCLIABCISocket(t *testing.T) {
	bin := cometBinary(t)
	dir := t.TempDir()
	homes, err := cometnode.Lay(filepath.Join(dir, "net"), cometnode.Layout{Validators: 1, ChainID: "abci-test"})
	if err != nil {
		t.Fatal(err)
	}
	h := homes[0]
	appLog, cometLog := filepath.Join(dir, "abci.log"), filepath.Join(dir, "cometbft.log")
	start := func() (*exec.Cmd, *exec.Cmd) {
		app := startBinary(t, appLog, vchainBin, "abci", "--app", "contracts", "--datadir", filepath.Join(dir, "app"), "--chain-id", "abci-test",
			"--listen", "tcp://"+h.ABCI, "--api", h.API, "--comet-rpc", "http://"+h.RPC)
		// cometbft retries its connection until the application listens.
		node := startBinary(t, cometLog, bin, "start", "--home", h.Dir)
		return app, node
	}
	app, node := start()
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{appLog, cometLog} {
				b, _ := os.ReadFile(f)
				t.Logf("%s:\n%s", f, b[max(0, len(b)-4000):])
			}
		}
	})
	api := "http://" + h.API
	waitAPI(t, api, 1)
	key := filepath.Join(dir, "bob.key")
	contract := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(t, "", append([]string{"contract"}, args...)...)
		if code != 0 {
			t.Fatalf("vchain contract %v: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	id := contract("deploy", filepath.Join("..", "..", "examples", "forum.js"), "--rpc", api, "--key", key, "--new-key")
	if got := contract("call", id, "addTopic", `"over a socket"`, "--rpc", api, "--key", key); got != "1" {
		t.Fatalf("addTopic: %s", got)
	}
	if got := contract("state", id, "/topics/1/title", "--rpc", api); got != "over a socket" {
		t.Fatalf("state: %q", got)
	}

	// Both killed at once, then started again.
	var st cometnode.Status
	if err := localnet.GetJSON(&http.Client{Timeout: time.Second}, api+"/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*exec.Cmd{app, node} {
		p.Process.Kill()
		p.Wait()
	}
	start()
	waitAPI(t, api, st.Height+3)
	post := contract("call", id, "addPost", "1", `"after the crash"`, "--rpc", api, "--key", key)
	if got := contract("state", id, "/topics/1/"+post, "--rpc", api); got != "after the crash" {
		t.Fatalf("post %s after the restart: %q", post, got)
	}
	b, _ := os.ReadFile(cometLog)
	for _, bad := range []string{"wrong Block.Header.AppHash", "apphash mismatch", "panic:"} {
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(bad)) {
			t.Fatalf("cometbft's log shows %q", bad)
		}
	}
}
