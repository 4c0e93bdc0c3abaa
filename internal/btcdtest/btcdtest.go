// Package btcdtest starts a real btcd node in regtest, for tests and for
// benchmarks: a fresh chain in a temporary directory, RPC on a free
// loopback port, mining to a key the caller holds.
package btcdtest

import (
	"bytes"
	"errors"
	"fmt"
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

	"github.com/vchain-dev/vchain/internal/freeport"
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

	cmd  *exec.Cmd
	bin  string
	args []string
	dir  string
	out  bytes.Buffer
}

// Params are regtest's.
var Params = &chaincfg.RegressionNetParams

// ErrNoBinary is returned by FindBinary when there is no btcd.
var ErrNoBinary = errors.New("btcd not found (./scripts/test installs it into .tools/bin; or set VCHAIN_BTCD)")

// FindBinary finds btcd: $VCHAIN_BTCD, then .tools/bin of the repository
// holding the working directory, then $GOPATH/bin, then $PATH.
func FindBinary() (string, error) {
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
			return c, nil
		}
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	return "", ErrNoBinary
}

// Binary finds btcd as FindBinary does. When there is none the test is
// skipped, unless VCHAIN_REQUIRE_BTCD is set (as the project's test script
// does), which makes it fail.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := FindBinary()
	if err == nil {
		return bin
	}
	if os.Getenv("VCHAIN_REQUIRE_BTCD") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
	return ""
}

// Start runs a btcd regtest node until the test ends.
func Start(t testing.TB) *Node {
	t.Helper()
	n, err := Launch(Binary(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("btcd output:\n%s", n.Output())
		}
	})
	return n
}

// Launch runs btcd (the binary bin) in regtest with its data in dir, with
// the transaction and address indexes on, and waits until it answers RPC.
// Stop it with Stop.
func Launch(bin, dir string) (*Node, error) {
	priv, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	addr, err := address.NewAddressPubKeyHash(address.Hash160(pub.SerializeCompressed()), Params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	ports, err := freeport.Loopback(2)
	if err != nil {
		return nil, err
	}
	n := &Node{RPC: ports[0], User: "u", Pass: "p", Key: priv, Address: addr, Script: script, dir: dir, bin: bin}
	n.args = []string{"--regtest",
		"--datadir=" + filepath.Join(dir, "data"), "--logdir=" + filepath.Join(dir, "logs"), "--configfile=/dev/null",
		"--rpcuser=" + n.User, "--rpcpass=" + n.Pass, "--rpclisten=" + n.RPC, "--notls",
		"--listen=" + ports[1], "--nodnsseed",
		"--miningaddr=" + addr.EncodeAddress(), "--txindex", "--addrindex"}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, nil
}

// start runs btcd and waits until it answers RPC.
func (n *Node) start() error {
	n.cmd = exec.Command(n.bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("btcd: %w", err)
	}
	var err error
	n.Client, err = rpcclient.New(&rpcclient.ConnConfig{Host: n.RPC, User: n.User, Pass: n.Pass, HTTPPostMode: true, DisableTLS: true}, nil)
	if err != nil {
		n.Stop()
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := n.Client.GetBlockCount(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			n.Stop()
			return fmt.Errorf("btcd did not answer RPC in 20s: %v\n%s", err, n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops btcd (an interrupt, so that it saves its chain state) and
// starts it again on the same data and ports; it returns once btcd answers
// RPC. Connections to the old process are broken, as after a crash.
func (n *Node) Restart() error {
	n.Client.Shutdown()
	n.cmd.Process.Signal(os.Interrupt)
	exited := make(chan struct{})
	go func() { n.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-exited
	}
	return n.start()
}

// PID is the btcd process's id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Stop kills the node and waits for it to exit.
func (n *Node) Stop() {
	if n.Client != nil {
		n.Client.Shutdown()
	}
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

// Output is what btcd has printed.
func (n *Node) Output() string { return n.out.String() }
