package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/memtape"
)

// stagedChain commits c's blocks 0..n-1 through Stage, with a driver key
// per block, and returns the engine.
func stagedChain(t *testing.T, db *store.DB, c *memtape.Chain, n int64) *engine.Engine {
	t.Helper()
	e := openEngine(t, db, 0, engine.Config{})
	for h := e.Height() + 1; h < n; h++ {
		b, err := c.Block(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.Stage(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetDriver(fmt.Appendf(nil, "d/%d", h%7), []byte{byte(h)}); err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// exportTip is the snapshot of e's store at its tip, as key-value pairs.
func exportTip(t *testing.T, db *store.DB, e *engine.Engine) ([]engine.KV, engine.BlockRecord) {
	t.Helper()
	snap := db.Snapshot()
	defer snap.Close()
	var kvs []engine.KV
	rec, err := engine.ExportAt(snap, e.Height(), func(k, v []byte) error {
		kvs = append(kvs, engine.KV{Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kvs, rec
}

func TestRestoreInPlace(t *testing.T) {
	ctx := context.Background()
	c := memtape.Generate(memtape.GenConfig{Seed: 5, Blocks: 60, Txs: randomTxs}, nil)
	srcDB := openMem(t)
	defer srcDB.Close()
	src := stagedChain(t, srcDB, c, 40)
	kvs, rec := exportTip(t, srcDB, src)
	trust := engine.Trust{Height: rec.Height, Consensus: rec.Consensus, State: rec.State}

	db := openMem(t)
	defer db.Close()
	e := stagedChain(t, db, c, 1) // a node that has committed its genesis block only

	anyDriver := engine.RestoreOptions{Height: rec.Height, OnDriver: func(key, value []byte) error { return nil }}
	// Without a hook, driver keys are refused; records above the trusted
	// height are refused as they arrive.
	for _, o := range []engine.RestoreOptions{{Height: rec.Height}, {Height: rec.Height - 1, OnDriver: anyDriver.OnDriver}} {
		r, err := e.BeginRestore(o)
		if err != nil {
			t.Fatal(err)
		}
		var ie *engine.ImportError
		if err := r.Put(kvs); !errors.As(err, &ie) {
			t.Fatalf("a restore with %+v took the snapshot: %v", o, err)
		}
		if !e.Restoring() {
			t.Fatal("Restoring is false during a restore")
		}
		r.Abort()
		if e.Restoring() {
			t.Fatal("Restoring is true after Abort")
		}
	}

	// A restore whose trust is wrong fails and leaves an empty engine.
	r, err := e.BeginRestore(anyDriver)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put(kvs); err != nil {
		t.Fatal(err)
	}
	bad := trust
	bad.State[0] ^= 1
	var ie *engine.ImportError
	if _, err := r.Finish(bad, nil); !errors.As(err, &ie) {
		t.Fatalf("a restore against the wrong state commitment: %v, want an ImportError", err)
	}
	if e.Height() != -1 || dump(e.State()) != "" {
		t.Fatalf("after a failed restore the engine is at %d with state %q, want empty", e.Height(), dump(e.State()))
	}

	// A restore that is refused a driver key fails in Put.
	r, err = e.BeginRestore(engine.RestoreOptions{OnDriver: func(key, value []byte) error { return errors.New("no driver keys here") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put(kvs); err == nil {
		t.Fatal("Put went on past a driver key its hook refused")
	}
	r.Abort()

	// A good one, in pieces; the driver keys arrive through the hook.
	var driver []string
	r, err = e.BeginRestore(engine.RestoreOptions{Height: rec.Height, OnDriver: func(key, value []byte) error {
		driver = append(driver, fmt.Sprintf("%s=%x", key, value))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kvs); i += 7 {
		if err := r.Put(kvs[i:min(i+7, len(kvs))]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Finish(trust, []engine.KV{{Key: []byte("mine"), Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if got != rec || e.Height() != 39 || e.Restoring() {
		t.Fatalf("restored to %+v at height %d, want %+v", got, e.Height(), rec)
	}
	if len(driver) != 7 {
		t.Fatalf("the hook saw driver keys %v, want 7", driver)
	}
	if v, err := e.Driver().Get([]byte("d/3")); err != nil || v[0] != 38 {
		t.Fatalf("driver key d/3 after the restore: %v %v", v, err)
	}
	if v, err := e.Driver().Get([]byte("mine")); err != nil || string(v) != "x" {
		t.Fatalf("the driver key Finish set: %q %v", v, err)
	}
	if dump(e.State()) != dump(src.State()) {
		t.Fatal("the restored state differs from the source's")
	}
	// Both go on alike.
	for h := int64(40); h < 60; h++ {
		b, _ := c.Block(ctx, h)
		for _, x := range []*engine.Engine{src, e} {
			st, err := x.Stage(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := src.Record(h)
		b2, _ := e.Record(h)
		if a != b2 {
			t.Fatalf("block %d after the restore: %+v, the source's %+v", h, b2, a)
		}
	}
}

func TestRestoreKilledMidwayStartsEmpty(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 6, Blocks: 30, Txs: randomTxs}, nil)
	srcDB := openMem(t)
	defer srcDB.Close()
	src := stagedChain(t, srcDB, c, 30)
	kvs, _ := exportTip(t, srcDB, src)

	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := stagedChain(t, db, c, 3)
	r, err := e.BeginRestore(engine.RestoreOptions{OnDriver: func(key, value []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put(kvs[:len(kvs)/2]); err != nil {
		t.Fatal(err)
	}
	db.Close() // the process dies here

	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e = openEngine(t, db, 0, engine.Config{})
	if e.Height() != -1 || dump(e.State()) != "" {
		t.Fatalf("reopened after an interrupted restore at %d with state %q, want an empty engine", e.Height(), dump(e.State()))
	}
	if _, err := e.Driver().Get([]byte("d/1")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a driver key survived the interrupted restore: %v", err)
	}
	// It is an ordinary empty engine: the chain applies from block 0.
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if consensusLines(t, e) != consensusLines(t, src) {
		t.Fatal("the chain applied after the interrupted restore differs")
	}
}

// killStore fails its commit number failAt and every later one: the
// process died there.
type killStore struct {
	store.Store
	n, failAt int
}

type killBatch struct {
	store.Batch
	s *killStore
}

func (s *killStore) Begin() store.Batch { return killBatch{s.Store.Begin(), s} }

func (b killBatch) Commit(sync bool) error {
	if b.s.n++; b.s.n >= b.s.failAt {
		b.Batch.Discard()
		return errors.New("killed")
	}
	return b.Batch.Commit(sync)
}

// TestInterruptedWipeKeepsTheMark: emptying a store a killed restore left
// takes several batches; killed after any of them, the mark is still
// there and the next Open empties it again, so nothing of the snapshot
// survives into an engine that looks empty.
func TestInterruptedWipeKeepsTheMark(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 6, Blocks: 30, Txs: randomTxs}, nil)
	srcDB := openMem(t)
	defer srcDB.Close()
	src := stagedChain(t, srcDB, c, 30)
	kvs, _ := exportTip(t, srcDB, src)

	// The mark sorts after the state, the records and the identity, and
	// before the tip and the driver keys: a state that puts it near the
	// end of the first batch leaves those for the second.
	before := 0
	for _, e := range kvs {
		if string(e.Key) < "e/restoring" {
			before++
		}
	}
	for _, failAt := range []int{1, 2} {
		dir := t.TempDir()
		db, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := stagedChain(t, db, c, 3)
		if _, err := e.BeginRestore(engine.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		// A restore's committed batches: a state, the records, the
		// identity, the driver keys.
		txn := db.Begin()
		for i := range 9_995 - before {
			txn.Set(fmt.Appendf(nil, "a/\x00big%06d", i), []byte{1})
		}
		for _, e := range kvs {
			txn.Set(e.Key, e.Value)
		}
		if err := txn.Commit(true); err != nil {
			t.Fatal(err)
		}
		db.Close() // killed mid-restore

		db, err = store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Open(&killStore{Store: db, failAt: failAt}, &kvApp{}, engine.Config{}); err == nil {
			t.Fatalf("the wipe was not killed at commit %d", failAt)
		}
		db.Close() // killed while emptying the store

		db, err = store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e = openEngine(t, db, 0, engine.Config{})
		var left []string
		db.Iterate(nil, func(k, v []byte) error {
			if string(k) != "e/identity" {
				left = append(left, string(k))
			}
			return nil
		})
		if e.Height() != -1 || len(left) > 0 {
			t.Fatalf("killed at commit %d of the wipe: engine at %d with keys %q left", failAt, e.Height(), left[:min(len(left), 5)])
		}
		db.Close()
	}
}
