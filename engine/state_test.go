package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
)

// fullState hashes the application's state from scratch: the check the
// incremental commitment must always agree with.
func fullState(t tb, db *store.DB) lthash.Digest {
	t.Helper()
	h, err := engine.HashState(db)
	if err != nil {
		t.Fatal(err)
	}
	return h.Sum()
}

// TestStateCommitmentFollowsForks: however the chain forks under the
// engine, the commitment at its tip is the hash of the whole state
// computed from scratch, after every sync (rollbacks included), and every
// block's commitment is the one a fresh replay of the final chain records.
func TestStateCommitmentFollowsForks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		undoDepth := rapid.Int64Range(1, 8).Draw(rt, "undoDepth")
		gen := memtape.GenConfig{
			Seed:         rapid.Uint64().Draw(rt, "seed"),
			Blocks:       rapid.IntRange(1, 80).Draw(rt, "blocks"),
			ForkProb:     rapid.Float64Range(0, 0.5).Draw(rt, "forkProb"),
			MaxForkDepth: int(undoDepth),
			Txs:          randomTxs,
		}
		db := openMem(rt)
		defer db.Close()
		cfg := engine.Config{UndoDepth: undoDepth}
		e := openEngine(rt, db, 0, cfg)
		ctx := context.Background()
		c := memtape.Generate(gen, func(c *memtape.Chain) {
			if err := e.Sync(ctx, c); err != nil {
				rt.Fatal(err)
			}
			if e.Height() < 0 {
				return
			}
			rec, err := e.Record(e.Height())
			if err != nil {
				rt.Fatal(err)
			}
			if got := fullState(rt, db); rec.State != got {
				rt.Fatalf("at %d the record's commitment is %s, the state hashes to %s", e.Height(), rec.State, got)
			}
		})
		fresh, freshDB := replayFresh(rt, c, 0, cfg)
		defer freshDB.Close()
		for h := int64(0); h <= e.Height(); h++ {
			a, _ := e.Record(h)
			b, _ := fresh.Record(h)
			if a.State != b.State || a.State.IsZero() {
				rt.Fatalf("block %d: commitment %s after forks, %s replayed fresh", h, a.State, b.State)
			}
		}
	})
}

// TestStateCommitmentTracksChanges: a block that changes nothing keeps
// the commitment, one that changes a key moves it, and setting a key back
// to what it held brings the commitment back.
func TestStateCommitmentTracksChanges(t *testing.T) {
	c := memtape.New(0)
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{})
	state := func() lthash.Digest {
		t.Helper()
		if err := e.Sync(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		rec, _ := e.Record(e.Height())
		return rec.State
	}
	c.Append(txs("vvsa=1"))
	s1 := state()
	c.Append(txs("zzsa=2")) // not for the app
	if s := state(); s != s1 {
		t.Fatal("a block without ops moved the commitment")
	}
	c.Append(txs("vvsa=2"))
	if s := state(); s == s1 {
		t.Fatal("a changed value kept the commitment")
	}
	c.Append(txs("vvsa=1"))
	if s := state(); s != s1 {
		t.Fatal("setting the value back did not bring the commitment back")
	}
	c.Append(txs("vvda"))
	var empty lthash.Hash
	if s := state(); s != empty.Sum() {
		t.Fatal("the empty state's commitment is not the empty set's")
	}
}

func TestStateCheckpointMismatchStops(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 5, Blocks: 20, Txs: randomTxs}, nil)
	good, _ := replayFresh(t, c, 0, engine.Config{})
	r7, _ := good.Record(7)
	r12, _ := good.Record(12)
	wrong := r12.State
	wrong[0] ^= 1
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{StateCheckpoints: map[int64]lthash.Digest{7: r7.State, 12: wrong}})
	err := e.Sync(context.Background(), c)
	var sc *engine.StateCheckpointError
	if !errors.As(err, &sc) || sc.Height != 12 || sc.Got != r12.State || !strings.Contains(err.Error(), wrong.String()) {
		t.Fatalf("got %v, want a StateCheckpointError at 12 naming both commitments", err)
	}
	if e.Height() != 11 {
		t.Fatalf("engine at %d; the mismatching block must not commit", e.Height())
	}
}

// TestStateLatticeRebuilt: a data directory without the lattice (an older
// engine's) gets it computed at open, equal to the incremental one; if the
// state no longer hashes to the tip's commitment, the engine refuses to
// open and says so.
func TestStateLatticeRebuilt(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 8, Blocks: 30, Txs: randomTxs}, nil)
	dir := t.TempDir()
	open := func() (*engine.Engine, *store.DB, error) {
		db, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(db, &kvApp{}, engine.Config{})
		return e, db, err
	}
	e, db, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	before := dump(db)
	edit := func(fn func(txn *store.Txn)) {
		txn := db.NewTxn()
		fn(txn)
		if err := txn.Commit(true); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(txn *store.Txn) { txn.Delete([]byte("e/lt")) })
	db.Close()
	e, db, err = open()
	if err != nil {
		t.Fatal(err)
	}
	if after := dump(db); after != before {
		t.Fatal("the rebuilt lattice differs from the incremental one")
	}
	// A value changed behind the engine's back, and the lattice gone.
	edit(func(txn *store.Txn) {
		var key []byte
		db.Iterate([]byte("a/"), func(k, _ []byte) error { key = append([]byte(nil), k...); return errors.New("stop") })
		txn.Set(key, []byte("tampered"))
		txn.Delete([]byte("e/lt"))
	})
	db.Close()
	_, db, err = open()
	defer db.Close()
	var sm *engine.StateMismatchError
	if !errors.As(err, &sm) || sm.Height != e.Height() {
		t.Fatalf("opening over a tampered state: %v", err)
	}
}

// TestRollbackChecksState: a key the newest block wrote, changed behind
// the engine's back, makes the rollback of that block fail loudly instead
// of restoring a state no block recorded.
func TestRollbackChecksState(t *testing.T) {
	c := memtape.New(0)
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{})
	c.Append(txs("vvsa=1"))
	c.Append(txs("vvsa=2"))
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	txn := db.NewTxn()
	txn.Set([]byte("a/a"), []byte("3"))
	txn.Commit(true)
	c.Rewind(1)
	c.Append(txs("vvsb=1"))
	err := e.Sync(context.Background(), c)
	var sm *engine.StateMismatchError
	if !errors.As(err, &sm) || sm.Height != 0 {
		t.Fatalf("a rollback over a tampered key: %v", err)
	}
}

// txs makes a block's transactions from payloads.
func txs(payloads ...string) []tape.Tx {
	out := make([]tape.Tx, len(payloads))
	for i, p := range payloads {
		out[i] = tape.Tx{Index: i, Payload: []byte(p)}
	}
	return out
}
