package engine_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/memtape"
)

// TestEventsFollowBlocksReorgsAndRestarts: with Config.Events the engine
// logs, in each block's batch, the block, its accepted ops and its
// rejected candidates with their reasons, and a revert event on a reorg;
// a reader that resumes from its cursor after the engine restarts (and
// after its own restart) sees every event exactly once, in order, the
// same as the full history read at the end.
func TestEventsFollowBlocksReorgsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	c := memtape.New(0)
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 6; i++ {
		c.Append(randomTxs(r, int64(c.Len())))
	}
	open := func() (*store.DB, *engine.Engine) {
		db, err := store.Open(filepath.Join(dir, "db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db, openEngine(t, db, 0, engine.Config{Events: true})
	}
	var seen []events.Event
	var cursor uint64
	follow := func(e *engine.Engine) {
		for {
			evs, next, err := e.Events().Read(cursor, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				return
			}
			seen = append(seen, evs...)
			cursor = next
		}
	}
	db, e := open()
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	follow(e)
	// A reorg of two blocks, then more blocks.
	c.Rewind(2)
	for i := 0; i < 4; i++ {
		c.Append(randomTxs(r, int64(c.Len())))
	}
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	half := len(seen)
	follow(e)
	if len(seen) == half {
		t.Fatal("no events after the reorg")
	}
	// The engine restarts; the reader keeps its cursor.
	e.Flush()
	db.Close()
	c.Append(randomTxs(r, int64(c.Len())))
	db, e = open()
	defer db.Close()
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	follow(e)

	all, _, err := e.Events().Read(0, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(seen) {
		t.Fatalf("the reader saw %d events, the log holds %d", len(seen), len(all))
	}
	kinds := map[string]int{}
	for i := range all {
		a, b := all[i], seen[i]
		if a.Seq != uint64(i+1) || b.Seq != a.Seq || string(a.Data) != string(b.Data) {
			t.Fatalf("event %d: log %+v, reader %+v", i, a, b)
		}
		kinds[a.Kind]++
	}
	if kinds[events.KindBlock] != 6+4+1 || kinds[events.KindRevert] != 1 || kinds[events.KindOp] == 0 || kinds[events.KindRejected] == 0 {
		t.Fatalf("kinds: %v", kinds)
	}
	for _, ev := range all {
		if ev.Kind == events.KindRevert {
			var d struct{ From, Fork int64 }
			json.Unmarshal(ev.Data, &d)
			if d.From != 5 || d.Fork != 3 {
				t.Fatalf("revert: %s", ev.Data)
			}
		}
		if ev.Kind == events.KindRejected {
			var d struct{ Reason string }
			if json.Unmarshal(ev.Data, &d); d.Reason == "" {
				t.Fatalf("a rejection without its reason: %s", ev.Data)
			}
		}
	}
}
