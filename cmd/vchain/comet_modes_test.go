package main

import (
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

	cfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"

	"github.com/vchain-dev/vchain/comet/cometnode"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
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

// TestCLIABCISocket: vchain abci serves the contract runtime over ABCI's
// socket protocol to a CometBFT node in another process (the node code a
// stock cometbft binary runs, here started by the test), and its chain
// API submits through that node's RPC: the forum deploys and answers.
func TestCLIABCISocket(t *testing.T) {
	dir := t.TempDir()
	homes, err := cometnode.Lay(filepath.Join(dir, "net"), cometnode.Layout{Validators: 1, ChainID: "abci-test"})
	if err != nil {
		t.Fatal(err)
	}
	h := homes[0]
	startProcess(t, "abci", "--app", "contracts", "--datadir", filepath.Join(dir, "app"), "--chain-id", "abci-test",
		"--listen", "tcp://"+h.ABCI, "--api", h.API, "--comet-rpc", "http://"+h.RPC)
	conf, err := cometnode.LoadConfig(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := types.GenesisDocFromFile(conf.GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	// The application may not listen yet: the client connects with
	// retries (mustConnect false).
	n, err := nm.NewNode(conf, pv, nodeKey, proxy.NewRemoteClientCreator(conf.ProxyApp, "socket", false),
		func() (*types.GenesisDoc, error) { return gen, nil }, cfg.DefaultDBProvider, nm.DefaultMetricsProvider(conf.Instrumentation), cmtlog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped before the application's process (cleanups run last
	// first), its ABCI connections too (the node leaves them running): CometBFT
	// kills its own process when an application connection ends under it.
	t.Cleanup(func() { n.Stop(); n.Wait(); n.ProxyApp().Stop() })
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
}
