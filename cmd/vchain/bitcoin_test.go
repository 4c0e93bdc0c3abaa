package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/vchain-dev/vchain/internal/btcdtest"
)

// TestCLINamesOnBtcd is the walk-through a new user would do against a
// btcd regtest node: preorder and register alice.id, sync, show; transfer
// it, sync, the new owner shows; invalidate the block holding the
// transfer, sync, the old owner shows again.
func TestCLINamesOnBtcd(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	if _, err := c.Generate(101); err != nil {
		t.Fatal(err)
	}
	wif, err := btcutil.NewWIF(n.Key, btcdtest.Params, true)
	if err != nil {
		t.Fatal(err)
	}
	_, bobPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{42}, 32))
	bob, _ := address.NewAddressPubKeyHash(address.Hash160(bobPub.SerializeCompressed()), btcdtest.Params)
	dd := filepath.Join(t.TempDir(), "names")
	rpc := []string{"--rpc", n.RPC, "--rpc-user", n.User, "--rpc-pass", n.Pass, "--rpc-notls", "--network", "regtest"}
	cli := func(args ...string) string {
		t.Helper()
		return mustRun(t, append(args, rpc...)...)
	}
	sync := func() { cli("sync", "--source", "bitcoin", "--app", "names", "--datadir", dd, "--confirmations", "0") }
	mine := func() {
		if _, err := c.Generate(1); err != nil {
			t.Fatal(err)
		}
	}
	owner := func() string {
		out := mustRun(t, "names", "show", "alice.id", "--datadir", dd)
		var rec struct {
			Name, Owner string
		}
		if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Name != "alice.id" {
			t.Fatalf("names show: %q %v", out, err)
		}
		return rec.Owner
	}

	sync()
	if _, errOut, code := run(t, "", "names", "show", "alice.id", "--datadir", dd); code != 1 || !strings.Contains(errOut, "no such name") {
		t.Fatalf("an unknown name: exit %d, %q", code, errOut)
	}
	cli("names", "preorder", "alice.id", "--key", wif.String(), "--datadir", dd)
	mine()
	sync()
	cli("names", "register", "alice.id", "--key", wif.String(), "--datadir", dd)
	mine()
	sync()
	if got := owner(); got != n.Address.EncodeAddress() {
		t.Fatalf("owner after register: %s, want the registrant %s", got, n.Address)
	}
	cli("names", "transfer", "alice.id", bob.EncodeAddress(), "--key", wif.String(), "--datadir", dd)
	mine()
	sync()
	if got := owner(); got != bob.EncodeAddress() {
		t.Fatalf("owner after transfer: %s, want %s", got, bob)
	}
	tip, err := c.GetBestBlockHash()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateBlock(tip); err != nil {
		t.Fatal(err)
	}
	sync()
	if got := owner(); got != n.Address.EncodeAddress() {
		t.Fatalf("owner after invalidating the transfer's block: %s, want the old owner %s", got, n.Address)
	}
	// Clear errors.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"names", "register", "bob.id", "--key", wif.String(), "--datadir", dd}, "preorder it first"},
		{[]string{"names", "preorder", "carol.id", "--key", "not-a-key", "--datadir", dd}, "bad key"},
	} {
		_, errOut, code := run(t, "", append(tc.args, rpc...)...)
		if code == 0 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.msg)
		}
	}
	if _, errOut, code := run(t, "", "sync", "--datadir", dd, "--rpc", "127.0.0.1:1", "--rpc-notls"); code == 0 || !strings.Contains(errOut, "unreachable") {
		t.Errorf("an unreachable node: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", append([]string{"sync", "--datadir", dd, "--fetch-mem", "-5"}, rpc...)...); code == 0 || !strings.Contains(errOut, "--fetch-mem -5") {
		t.Errorf("a negative fetch budget: exit %d, %q", code, errOut)
	}
}

// TestCLISyncKilledResumes: a sync killed with SIGKILL part-way, started
// again, ends with the same consensus hashes as a sync never interrupted.
func TestCLISyncKilledResumes(t *testing.T) {
	n := btcdtest.Start(t)
	if _, err := n.Client.Generate(6000); err != nil {
		t.Fatal(err)
	}
	rpc := []string{"--rpc", n.RPC, "--rpc-user", n.User, "--rpc-pass", n.Pass, "--rpc-notls", "--network", "regtest", "--confirmations", "0"}
	ref := filepath.Join(t.TempDir(), "ref")
	mustRun(t, append([]string{"sync", "--datadir", ref}, rpc...)...)
	want := mustRun(t, "consensus", "--datadir", ref)
	if strings.Count(want, "\n") != 6001 {
		t.Fatalf("reference sync committed %d blocks", strings.Count(want, "\n"))
	}
	dd := filepath.Join(t.TempDir(), "killed")
	kills := 0
	for i := 0; i < 8; i++ {
		cmd := exec.Command(vchainBin, append([]string{"sync", "--datadir", dd}, rpc...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(40+25*i) * time.Millisecond)
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
		}
		if err := cmd.Wait(); err != nil {
			kills++
		}
		got, _, _ := run(t, "", "consensus", "--datadir", dd)
		if !strings.HasPrefix(want, got) {
			t.Fatalf("after kill %d the committed history is not a prefix of the reference", kills)
		}
	}
	mustRun(t, append([]string{"sync", "--datadir", dd}, rpc...)...)
	if got := mustRun(t, "consensus", "--datadir", dd); got != want {
		t.Fatal("a sync killed and resumed ends with different consensus hashes")
	}
	if kills == 0 {
		t.Fatal("no run was killed part-way")
	}
	t.Logf("%d runs killed part-way; final consensus history identical", kills)
}

// TestCLINodeFollows: `vchain node` keeps following btcd: names registered
// while it runs appear, `names show` answers through the node while it
// holds the data directory, a reorg at the tip (invalidateblock) rolls
// the transfer back, and after the node stops the data directory answers
// directly with the same record.
func TestCLINodeFollows(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	if _, err := c.Generate(101); err != nil {
		t.Fatal(err)
	}
	wif, _ := btcutil.NewWIF(n.Key, btcdtest.Params, true)
	_, bobPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{42}, 32))
	bob, _ := address.NewAddressPubKeyHash(address.Hash160(bobPub.SerializeCompressed()), btcdtest.Params)
	dd := filepath.Join(t.TempDir(), "names")
	rpc := []string{"--rpc", n.RPC, "--rpc-user", n.User, "--rpc-pass", n.Pass, "--rpc-notls", "--network", "regtest"}

	node := exec.Command(vchainBin, append([]string{"node", "--source", "bitcoin", "--app", "names", "--datadir", dd, "--confirmations", "0", "--poll", "50ms"}, rpc...)...)
	var nodeErr bytes.Buffer
	node.Stderr = &nodeErr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		node.Process.Kill()
		node.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", nodeErr.String())
		}
	}()
	// show waits until names show gives a record satisfying ok.
	show := func(what string, ok func(owner string, code int) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, _, code := run(t, "", "names", "show", "alice.id", "--datadir", dd)
			var rec struct{ Owner string }
			json.Unmarshal([]byte(out), &rec)
			if ok(rec.Owner, code) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the node did not get there in 15s (last exit %d, %q)", what, code, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitHeight := func(h int64) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			nr, err := openNames(dd)
			if err == nil {
				st, err := nr.status()
				nr.Close()
				if err == nil && st.Height >= h {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node did not reach height %d in 15s", h)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Wait for the node to hold the data directory before querying it.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(nodeFile(dd)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not write node.json in 15s")
		}
	}
	waitHeight(101)
	show("an unknown name", func(_ string, code int) bool { return code == 1 })
	mustRun(t, append([]string{"names", "preorder", "alice.id", "--key", wif.String(), "--datadir", dd}, rpc...)...)
	c.Generate(1)
	waitHeight(102)
	mustRun(t, append([]string{"names", "register", "alice.id", "--key", wif.String(), "--datadir", dd}, rpc...)...)
	c.Generate(1)
	show("register", func(o string, _ int) bool { return o == n.Address.EncodeAddress() })
	mustRun(t, append([]string{"names", "transfer", "alice.id", bob.EncodeAddress(), "--key", wif.String(), "--datadir", dd}, rpc...)...)
	c.Generate(1)
	show("transfer", func(o string, _ int) bool { return o == bob.EncodeAddress() })

	tip, _ := c.GetBestBlockHash()
	if err := c.InvalidateBlock(tip); err != nil {
		t.Fatal(err)
	}
	show("the reorg removing the transfer", func(o string, _ int) bool { return o == n.Address.EncodeAddress() })

	// The node's events show the reorg (vchain watch), and it lists its
	// routes.
	raw, err := os.ReadFile(nodeFile(dd))
	if err != nil {
		t.Fatal(err)
	}
	var info nodeInfo
	json.Unmarshal(raw, &info)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out := mustRun(t, "watch", "--rpc", info.HTTP, "--once", "--kind", "revert")
		if strings.Contains(out, `"kind":"revert"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no revert event after the reorg: %q", out)
		}
	}
	// The explorer's history of the name: the register stands, the
	// transfer is marked reverted.
	var hist struct {
		Record  struct{ Owner string }
		History []struct {
			Height   int64
			Op       string
			Reverted bool
		}
	}
	req, _ := http.NewRequest("GET", "http://"+info.HTTP+"/name/alice.id", nil)
	req.Header.Set("Accept", "application/json")
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(hr.Body).Decode(&hist)
	hr.Body.Close()
	if len(hist.History) != 2 || !hist.History[0].Reverted || hist.History[1].Reverted || hist.Record.Owner != n.Address.EncodeAddress() {
		t.Fatalf("the explorer's history of alice.id after the reorg: %+v", hist)
	}
	resp, err := http.Get("http://" + info.HTTP + "/v1/")
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(idx), `"/v1/events"`) || !strings.Contains(string(idx), `"/v1/names/{name}"`) {
		t.Fatalf("the route index: %s", idx)
	}

	// Stop the node: the data directory answers by itself.
	node.Process.Signal(syscall.SIGTERM)
	if err := node.Wait(); err != nil {
		t.Fatalf("node exit: %v", err)
	}
	if _, err := os.Stat(nodeFile(dd)); !os.IsNotExist(err) {
		t.Fatal("node.json left behind after a clean stop")
	}
	out := mustRun(t, "names", "show", "alice.id", "--datadir", dd)
	if !strings.Contains(out, n.Address.EncodeAddress()) {
		t.Fatalf("names show from the data directory: %s", out)
	}
}
