package node_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
)

func exportNode(t *testing.T, c *dportest.Cluster, i int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.snap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.ExportSnapshot(c.Config(i).Dir, c.Genesis, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// stateOf returns a node's chain state commitment and height.
func stateOf(t *testing.T, n *node.Node) (string, uint64) {
	t.Helper()
	d, err := chain.StateCommitment(n.State())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := chain.ReadState(n.State()).Height()
	return d.String(), h
}

// TestNodeFromSnapshot: a validator's data directory replaced by another
// node's snapshot (its chain state at its head, the head block with
// its certificate, the genesis) starts at that head without the blocks
// below it and goes on with the chain, its state equal to the others';
// a tampered snapshot is refused and changes nothing.
func TestNodeFromSnapshot(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 6, 20*time.Second)
	// Validator 3 takes proposer 5's state.
	c.Stop(3)
	c.Stop(5)
	path := exportNode(t, c, 5)
	sf, err := snapshot.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	head := uint64(sf.Manifest.Height)
	sf.Close()

	// Tampered: a byte of a state value changed; the file cut short.
	raw, _ := os.ReadFile(path)
	i := bytes.Index(raw, []byte("s/c/acct/"))
	bad := bytes.Clone(raw)
	bad[i+len("s/c/acct/")+25] ^= 1
	badPath := filepath.Join(t.TempDir(), "bad.snap")
	os.WriteFile(badPath, bad, 0o644)
	cutPath := filepath.Join(t.TempDir(), "cut.snap")
	os.WriteFile(cutPath, raw[:len(raw)-10], 0o644)
	dir := c.Config(3).Dir
	before := dumpStore(t, dir)
	for _, p := range []string{badPath, cutPath} {
		if _, err := node.ImportSnapshot(context.Background(), p, dir, c.Genesis); err == nil {
			t.Fatalf("%s imported", filepath.Base(p))
		}
		if dumpStore(t, dir) != before {
			t.Fatal("a refused import changed the data directory")
		}
	}

	got, err := node.ImportSnapshot(context.Background(), path, dir, c.Genesis)
	if err != nil || got != head {
		t.Fatalf("import: head %d, %v", got, err)
	}
	c.StartNode(3)
	c.StartNode(5)
	if _, err := c.Nodes[3].Block(1); err == nil {
		t.Fatal("the imported node has block 1: it did not start from the snapshot")
	}
	target := c.Nodes[0].Head().Height + 4
	for _, i := range []int{0, 3} {
		c.WaitHeight(i, target, 20*time.Second)
	}
	// Both at the same height: the same state.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		a, ha := stateOf(t, c.Nodes[0])
		b, hb := stateOf(t, c.Nodes[3])
		if ha == hb && a == b {
			break
		}
		if ha == hb || time.Now().After(deadline) {
			t.Fatalf("at %d/%d: node 0's state %s, the imported node's %s", ha, hb, a, b)
		}
	}
}

// TestForgedNodeSnapshotHalts: a snapshot whose state was changed and
// re-hashed to match itself passes the import (its head's certificate is
// real), but the next final block carries the commitment of the real
// state: the node stops there with a HaltedError instead of going on.
func TestForgedNodeSnapshotHalts(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 4, 20*time.Second)
	c.Stop(3)
	path := exportNode(t, c, 3)
	forged := forge(t, path)
	cfg := c.Config(3)
	if _, err := node.ImportSnapshot(context.Background(), forged, cfg.Dir, c.Genesis); err != nil {
		t.Fatalf("the self-consistent forgery should pass the import: %v", err)
	}
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	head := n.Head().Height
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = n.Run(ctx)
	var he *node.HaltedError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "state commitment") {
		t.Fatalf("Run returned %v, want a HaltedError about the state commitment", err)
	}
	if n.Head().Height != head {
		t.Fatalf("the head moved past the block that exposed the forged state")
	}
}

// forge rewrites a node snapshot with the funded account's balance raised
// and the state's lattice re-hashed to match.
func forge(t *testing.T, path string) string {
	t.Helper()
	sf, err := snapshot.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var all []engine.KV
	sf.Chunks(func(_ int, kvs []engine.KV) error {
		for _, e := range kvs {
			all = append(all, engine.KV{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
		}
		return nil
	})
	funded := dportest.Address(dportest.Funded)
	acct := append([]byte("s/c/acct/"), funded[:]...)
	var lt lthash.Hash
	changed := false
	for i := range all {
		if bytes.Equal(all[i].Key, acct) {
			var a chain.Account
			chain.Unmarshal(all[i].Value, &a)
			a.Balance += 1_000_000
			all[i].Value = chain.Marshal(a)
			changed = true
		}
		if bytes.HasPrefix(all[i].Key, []byte("s/c/")) {
			lt.Add(all[i].Key[2:], all[i].Value)
		}
	}
	if !changed {
		t.Fatal("no funded account to forge")
	}
	d := lt.Sum()
	for i := range all {
		if string(all[i].Key) == "s/h/lt" {
			all[i].Value = append(lt.AppendBinary(nil), d[:]...)
		}
	}
	m := *sf.Manifest
	m.State = d.String()
	out := filepath.Join(t.TempDir(), "forged.snap")
	f, _ := os.Create(out)
	defer f.Close()
	if err := snapshot.Write(f, &m, func(put func(k, v []byte) error) error {
		for _, e := range all {
			if err := put(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func dumpStore(t *testing.T, dir string) string {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	db.Iterate(nil, func(k, v []byte) error { b.Write(k); b.Write(v); return nil })
	return b.String()
}
