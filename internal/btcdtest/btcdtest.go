// Package btcdtest starts a real btcd node in regtest for tests: a fresh
// chain in a temporary directory, RPC on a free loopback port, mining to a
// key the test holds.
package btcdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript/v2"
)

// Node is a running btcd.
type Node struct {
	RPC    string // host:port
	User   string
	Pass   string
	Client *rpcclient.Client
	// Key receives the mined coins; Address and Script are its P2PKH
	// address and output script.
	Key     *btcec.PrivateKey
	Address address.Address
	Script  []byte
}

// Params are regtest's.
var Params = &chaincfg.RegressionNetParams

// Binary finds btcd: $VCHAIN_BTCD, then .tools/bin of the repository, then
// $GOPATH/bin, then $PATH. When there is none the test is skipped, unless
// VCHAIN_REQUIRE_BTCD is set (as the project's test script does), which
// makes it fail.
func Binary(t testing.TB) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("VCHAIN_BTCD"); p != "" {
		candidates = append(candidates, p)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(d, ".tools", "bin", "btcd"))
				break
			}
		}
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		candidates = append(candidates, filepath.Join(string(bytes.TrimSpace(gp)), "bin", "btcd"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p
	}
	if os.Getenv("VCHAIN_REQUIRE_BTCD") != "" {
		t.Fatal("btcd not found (scripts/test installs it into .tools/bin)")
	}
	t.Skip("btcd not found; run ./scripts/test, which installs it")
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a btcd regtest node until the test ends.
func Start(t testing.TB) *Node {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	priv, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	addr, err := address.NewAddressPubKeyHash(address.Hash160(pub.SerializeCompressed()), Params)
	if err != nil {
		t.Fatal(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{RPC: fmt.Sprintf("127.0.0.1:%d", freePort(t)), User: "u", Pass: "p", Key: priv, Address: addr, Script: script}
	cmd := exec.Command(bin, "--regtest",
		"--datadir="+filepath.Join(dir, "data"), "--logdir="+filepath.Join(dir, "logs"), "--configfile=/dev/null",
		"--rpcuser="+n.User, "--rpcpass="+n.Pass, "--rpclisten="+n.RPC, "--notls",
		fmt.Sprintf("--listen=127.0.0.1:%d", freePort(t)), "--nodnsseed",
		"--miningaddr="+addr.EncodeAddress(), "--txindex", "--addrindex")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("btcd output:\n%s", out.String())
		}
	})
	n.Client, err = rpcclient.New(&rpcclient.ConnConfig{Host: n.RPC, User: n.User, Pass: n.Pass, HTTPPostMode: true, DisableTLS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Client.Shutdown)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := n.Client.GetBlockCount(); err == nil {
			return n
		} else if time.Now().After(deadline) {
			t.Fatalf("btcd did not answer RPC in 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
