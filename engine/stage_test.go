package engine_test

import (
	"context"
	"testing"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape/memtape"
)

// TestStageCommitDiscard: a staged block, committed, gives the records and
// state that applying it directly gives; one discarded, or staged by an
// engine that is then closed without committing, leaves nothing, its
// driver keys included; an engine holding a staged block takes no other.
func TestStageCommitDiscard(t *testing.T) {
	ctx := context.Background()
	c := memtape.Generate(memtape.GenConfig{Seed: 21, Blocks: 30, Txs: randomTxs}, nil)
	ref, refDB := replayFresh(t, c, 0, engine.Config{})
	defer refDB.Close()

	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{})
	for h := int64(0); h < 30; h++ {
		b, err := c.Block(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.Stage(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.Record(h)
		if st.Record.Consensus != want.Consensus || st.Record.State != want.State {
			t.Fatalf("block %d staged: consensus %s state %s; applied directly: %s %s", h, st.Record.Consensus, st.Record.State, want.Consensus, want.State)
		}
		if _, err := e.Stage(b); err == nil {
			t.Fatalf("block %d: a second Stage while one is pending was accepted", h)
		}
		if h%3 == 0 {
			// Discard, then stage again: the same record.
			if err := st.SetDriver([]byte("n"), []byte{byte(h)}); err != nil {
				t.Fatal(err)
			}
			st.Discard()
			if e.Height() != h-1 {
				t.Fatalf("after a discard the engine is at %d, want %d", e.Height(), h-1)
			}
			if v, err := e.Driver().Get([]byte("n")); h > 0 && (err != nil || v[0] != byte(h-1)) || h == 0 && err != kv.ErrNotFound {
				t.Fatalf("block %d: the driver key after a discard: %v %v", h, v, err)
			}
			if st, err = e.Stage(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetDriver([]byte("n"), []byte{byte(h)}); err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(); err == nil {
			t.Fatal("a second Commit of the same staged block was accepted")
		}
	}
	if dump(e.State()) != dump(ref.State()) {
		t.Fatal("state after staged blocks differs from the state after applying them")
	}

	// A staged block never committed is gone after a restart.
	more := memtape.Generate(memtape.GenConfig{Seed: 21, Blocks: 31, Txs: randomTxs}, nil)
	b, _ := more.Block(ctx, 30)
	st, err := e.Stage(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetDriver([]byte("n"), []byte{30}); err != nil {
		t.Fatal(err)
	}
	e2 := openEngine(t, db, 0, engine.Config{})
	if e2.Height() != 29 {
		t.Fatalf("reopened at %d, want 29", e2.Height())
	}
	if v, err := e2.Driver().Get([]byte("n")); err != nil || v[0] != 29 {
		t.Fatalf("driver key after reopening: %v %v", v, err)
	}
}
