package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// openMem opens an in-memory store; the caller closes it.
func openMem(t tb) *store.DB {
	t.Helper()
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openEngine(t tb, db *store.DB, first int64, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.Open(db, &kvApp{first: first}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// replayFresh syncs a new engine over the final chain.
func replayFresh(t tb, c *memtape.Chain, first int64, cfg engine.Config) (*engine.Engine, *store.DB) {
	t.Helper()
	db := openMem(t)
	e := openEngine(t, db, first, cfg)
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return e, db
}

func consensusLines(t tb, e *engine.Engine) string {
	t.Helper()
	var b strings.Builder
	if err := e.Records(func(r engine.BlockRecord) error {
		fmt.Fprintf(&b, "%d %s %s %s\n", r.Height, r.Hash, r.OpsHash, r.Consensus)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestForksMatchFreshReplay is the engine's main property: however the
// chain forked while the engine followed it (forks up to the undo depth),
// the engine ends with exactly the store a fresh replay of the final best
// chain builds: the same consensus hashes at every height, the same
// application state, the same undo records.
func TestForksMatchFreshReplay(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		undoDepth := rapid.Int64Range(1, 10).Draw(rt, "undoDepth")
		conf := rapid.Int64Range(0, 3).Draw(rt, "confirmations")
		first := rapid.Int64Range(0, 5).Draw(rt, "first")
		cfg := engine.Config{UndoDepth: undoDepth, Confirmations: conf, SyncBlocks: rapid.IntRange(1, 50).Draw(rt, "syncBlocks")}
		gen := memtape.GenConfig{
			Seed:         rapid.Uint64().Draw(rt, "seed"),
			Base:         0,
			Blocks:       rapid.IntRange(1, 120).Draw(rt, "blocks"),
			ForkProb:     rapid.Float64Range(0, 0.5).Draw(rt, "forkProb"),
			MaxForkDepth: int(undoDepth),
			Txs:          randomTxs,
		}
		syncProb := rapid.Float64Range(0.1, 1).Draw(rt, "syncProb")
		sched := rand.New(rand.NewPCG(gen.Seed, 7))

		db := openMem(rt)
		defer db.Close()
		e := openEngine(rt, db, first, cfg)
		ctx := context.Background()
		seen := 0
		c := memtape.Generate(gen, func(c *memtape.Chain) {
			// Always sync right after a rewind, so that the fork the engine
			// sees is one rewind deep (at most R); otherwise sync at random.
			rewound := c.Len() < seen
			seen = c.Len()
			if rewound || sched.Float64() < syncProb {
				if err := e.Sync(ctx, c); err != nil {
					rt.Fatalf("sync at chain length %d: %v", c.Len(), err)
				}
			}
		})
		if err := e.Sync(ctx, c); err != nil {
			rt.Fatal(err)
		}
		fresh, freshDB := replayFresh(rt, c, first, cfg)
		defer freshDB.Close()
		if got, want := consensusLines(rt, e), consensusLines(rt, fresh); got != want {
			rt.Fatalf("consensus history differs from a fresh replay:\n got:\n%s\nwant:\n%s", got, want)
		}
		if got, want := dump(db), dump(freshDB); got != want {
			rt.Fatalf("store differs from a fresh replay:\n got:\n%s\nwant:\n%s", got, want)
		}
		tip, _ := c.Tip(ctx)
		if want := max(tip-conf, first-1); e.Height() != want {
			rt.Fatalf("engine at height %d, want %d (tip %d, K %d)", e.Height(), want, tip, conf)
		}
	})
}

// TestReorgDeeperThanUndoDepth: a fork one block deeper than R stops the
// engine with a clear error and leaves its state exactly as it was.
func TestReorgDeeperThanUndoDepth(t *testing.T) {
	const R = 5
	for _, depth := range []int{R, R + 1} {
		t.Run(fmt.Sprint("depth", depth), func(t *testing.T) {
			c := memtape.Generate(memtape.GenConfig{Seed: 3, Blocks: 30, Txs: randomTxs}, nil)
			db := openMem(t)
			defer db.Close()
			e := openEngine(t, db, 0, engine.Config{UndoDepth: R})
			ctx := context.Background()
			if err := e.Sync(ctx, c); err != nil {
				t.Fatal(err)
			}
			before := dump(db)
			c.Rewind(depth)
			r := rand.New(rand.NewPCG(9, 9))
			for i := 0; i < depth+1; i++ {
				c.Append(randomTxs(r, int64(c.Len())))
			}
			err := e.Sync(ctx, c)
			if depth <= R {
				if err != nil {
					t.Fatalf("fork of depth %d with R=%d: %v", depth, R, err)
				}
				return
			}
			var deep *engine.ReorgTooDeepError
			if !errors.As(err, &deep) {
				t.Fatalf("fork of depth %d with R=%d: got %v, want ReorgTooDeepError", depth, R, err)
			}
			if !strings.Contains(err.Error(), "deeper than the undo depth") {
				t.Errorf("unclear error: %v", err)
			}
			if after := dump(db); after != before {
				t.Fatal("state changed after a refused reorg")
			}
			if e.Height() != 29 {
				t.Fatalf("height %d after refused reorg, want 29", e.Height())
			}
		})
	}
}

func TestCheckpointMismatchStops(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 5, Blocks: 20, Txs: randomTxs}, nil)
	good, _ := replayFresh(t, c, 0, engine.Config{})
	right, _ := good.ConsensusAt(7)
	wrong := right
	wrong[0] ^= 1

	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{Checkpoints: map[int64]vchash.ConsensusHash{7: right, 12: wrong}})
	err := e.Sync(context.Background(), c)
	var cp *engine.CheckpointError
	if !errors.As(err, &cp) {
		t.Fatalf("got %v, want a CheckpointError", err)
	}
	msg := err.Error()
	if cp.Height != 12 || !strings.Contains(msg, "12") || !strings.Contains(msg, right.String()) && !strings.Contains(msg, wrong.String()) {
		t.Fatalf("error should name height 12 and both hashes: %v", err)
	}
	want, _ := good.ConsensusAt(12)
	if !strings.Contains(msg, want.String()) || !strings.Contains(msg, wrong.String()) {
		t.Fatalf("error should name the computed and the expected hash: %v", err)
	}
	if e.Height() != 11 {
		t.Fatalf("engine at %d; the mismatching block must not commit", e.Height())
	}
}

func TestFreshness(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 11, Blocks: 40, Txs: randomTxs}, nil)
	e, _ := replayFresh(t, c, 0, engine.Config{})
	// Next block is 40: fresh hashes are those of blocks 16..39.
	for h := int64(0); h < 40; h++ {
		ch, _ := e.ConsensusAt(h)
		if got, want := e.IsFresh(ch), h >= 40-engine.DefaultValidWindow; got != want {
			t.Errorf("hash of block %d: fresh=%v, want %v", h, got, want)
		}
		if hh, ok := e.HeightOfConsensus(ch); !ok || hh != h {
			t.Errorf("HeightOfConsensus(block %d) = %d, %v", h, hh, ok)
		}
	}
	if e.IsFresh(vchash.ConsensusHash{1}) {
		t.Error("an unknown hash is fresh")
	}
}

func TestReopenResumes(t *testing.T) {
	dir := t.TempDir()
	c := memtape.Generate(memtape.GenConfig{Seed: 21, Blocks: 50, Txs: randomTxs}, nil)
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, db, 0, engine.Config{})
	partial := memtape.New(0)
	for _, b := range c.Blocks()[:30] {
		partial.Append(b.Txs)
	}
	if err := e.Sync(context.Background(), partial); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e = openEngine(t, db, 0, engine.Config{})
	if e.Height() != 29 {
		t.Fatalf("reopened at %d, want 29", e.Height())
	}
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	fresh, _ := replayFresh(t, c, 0, engine.Config{})
	if consensusLines(t, e) != consensusLines(t, fresh) {
		t.Fatal("resumed engine differs from a fresh replay")
	}
	if _, err := engine.Open(db, &kvApp{first: 3}, engine.Config{}); err == nil || !strings.Contains(err.Error(), "first block") {
		t.Fatalf("opening with another first block: %v", err)
	}
}

// TestRejections checks that parse, scan and check rejections leave ops
// out of the hash and out of the state.
func TestRejections(t *testing.T) {
	c := memtape.New(0)
	c.Append([]tape.Tx{
		{Payload: []byte("vvsa=1")},
		{Payload: []byte("vvdb")},   // check: no such key
		{Payload: []byte("vvs")},    // parse: empty key
		{Payload: []byte("vvxa=2")}, // scan: collides with the set of a
		{Payload: []byte("zzsa=9")}, // not ours
		{Payload: []byte("vvsc=3")},
	})
	var ev engine.BlockEvent
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{OnBlock: func(b engine.BlockEvent) { ev = b }})
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if ev.Record.Accepted != 2 || ev.Record.Candidates != 5 {
		t.Fatalf("accepted %d of %d candidates, want 2 of 5", ev.Record.Accepted, ev.Record.Candidates)
	}
	stages := map[string]int{}
	for _, r := range ev.Rejected {
		stages[r.Stage]++
	}
	if stages["parse"] != 1 || stages["scan"] != 1 || stages["check"] != 1 {
		t.Fatalf("rejections by stage: %v", stages)
	}
	st := e.State()
	if v, err := st.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("a = %q, %v", v, err)
	}
	// The ops hash covers exactly the two accepted ops; VTxIndex counts
	// parsed ops, so c=3 (the fourth parsed op) has index 3.
	var ops [][]byte
	for i, p := range []string{"a=1", "c=3"} {
		k, v, _ := strings.Cut(p, "=")
		b := c.Blocks()[0]
		idx := []int{0, 5}[i]
		s, _ := vchash.SerializeValues('s', k, v, b.Txs[idx].ID.String(), []int{0, 3}[i])
		ops = append(ops, s)
	}
	if got, want := ev.Record.OpsHash, vchash.OpsHash(ops); got != want {
		t.Fatalf("ops hash %s, want %s", got, want)
	}
}

// TestFinalityCountsFromHighestBlock: once R blocks were committed on top of
// a block, a later reorg cannot undo it, even after a shorter reorg took some
// of those blocks back.
func TestFinalityCountsFromHighestBlock(t *testing.T) {
	const R = 3
	c := memtape.Generate(memtape.GenConfig{Seed: 4, Blocks: 12, Txs: randomTxs}, nil)
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{UndoDepth: R})
	ctx := context.Background()
	if err := e.Sync(ctx, c); err != nil { // heights 0..11; block 8 is final
		t.Fatal(err)
	}
	c.Rewind(1)
	if err := e.Sync(ctx, c); err != nil { // back to 10
		t.Fatal(err)
	}
	before := dump(db)
	c.Rewind(3) // fork after 7: would undo 10, 9, 8
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5; i++ {
		c.Append(randomTxs(r, int64(c.Len())))
	}
	err := e.Sync(ctx, c)
	var deep *engine.ReorgTooDeepError
	if !errors.As(err, &deep) || deep.Final != 8 || deep.Fork != 7 {
		t.Fatalf("got %v, want ReorgTooDeepError naming final block 8 and fork 7", err)
	}
	if dump(db) != before || e.Height() != 10 {
		t.Fatal("state changed after a refused reorg")
	}
}

// TestApplyBlocksMatchesOneByOne: grouping blocks into one commit, and
// ending a group early, changes nothing in the result, and a failing block
// leaves the whole group out.
func TestApplyBlocksMatchesOneByOne(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := memtape.Generate(memtape.GenConfig{Seed: rapid.Uint64().Draw(rt, "seed"), Blocks: rapid.IntRange(1, 60).Draw(rt, "blocks"), Txs: randomTxs}, nil)
		fresh, freshDB := replayFresh(rt, c, 0, engine.Config{})
		defer freshDB.Close()
		db := openMem(rt)
		defer db.Close()
		e := openEngine(rt, db, 0, engine.Config{})
		blocks := c.Blocks()
		for len(blocks) > 0 {
			n := rapid.IntRange(1, len(blocks)).Draw(rt, "batch")
			// Some batches end early, after stopAfter blocks: the rest is
			// applied by the next batch.
			stopAfter := rapid.IntRange(1, n+1).Draw(rt, "stopAfter")
			applied := 0
			recs, err := e.ApplyBlocksUntil(blocks[:n], -1, func() bool { applied++; return applied >= stopAfter })
			if err != nil {
				rt.Fatal(err)
			}
			if want := min(n, stopAfter); len(recs) != want || e.Height() != blocks[want-1].Height {
				rt.Fatalf("a batch of %d stopped after %d: %d records, height %d", n, stopAfter, len(recs), e.Height())
			}
			blocks = blocks[len(recs):]
		}
		if consensusLines(rt, e) != consensusLines(rt, fresh) || dump(db) != dump(freshDB) {
			rt.Fatal("batched application differs from one block at a time")
		}
	})
	// A bad block in the middle of a batch: nothing of the batch commits.
	c := memtape.Generate(memtape.GenConfig{Seed: 1, Blocks: 6, Txs: randomTxs}, nil)
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{})
	bs := c.Blocks()
	if _, err := e.ApplyBlocks(bs[:2], -1); err != nil {
		t.Fatal(err)
	}
	before := dump(db)
	if _, err := e.ApplyBlocks([]*tape.Block{bs[2], bs[4]}, -1); err == nil {
		t.Fatal("a gap inside a batch must fail")
	}
	wrongParent := *bs[3]
	wrongParent.Parent = bs[0].Hash
	if _, err := e.ApplyBlocks([]*tape.Block{bs[2], &wrongParent}, -1); err == nil {
		t.Fatal("a block that does not link inside a batch must fail")
	}
	if dump(db) != before || e.Height() != 1 {
		t.Fatal("a failed batch left something behind")
	}
	if _, err := e.ApplyBlocks(bs[2:], -1); err != nil {
		t.Fatalf("the engine must carry on after a failed batch: %v", err)
	}
}

// shortRuns is a RangeSource that returns at most n blocks per call, as a
// source keeping within a memory budget does.
type shortRuns struct {
	*memtape.Chain
	n     int
	calls int
}

func (s *shortRuns) Blocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	s.calls++
	var out []*tape.Block
	for h := from; h <= to && len(out) < s.n; h++ {
		b, err := s.Block(ctx, h)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

// TestRangeSourceShortRuns: a range source may return less than asked;
// the engine asks again from where it stopped and ends with the same
// consensus history as with one block at a time.
func TestRangeSourceShortRuns(t *testing.T) {
	c := memtape.Generate(memtape.GenConfig{Seed: 9, Blocks: 45, Txs: randomTxs}, nil)
	want, _ := replayFresh(t, c, 0, engine.Config{})
	src := &shortRuns{Chain: c, n: 4}
	db := openMem(t)
	defer db.Close()
	e := openEngine(t, db, 0, engine.Config{})
	if err := e.Sync(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if got, exp := consensusLines(t, e), consensusLines(t, want); got != exp {
		t.Fatalf("histories differ:\n%s\nwant\n%s", got, exp)
	}
	if src.calls < 45/4 {
		t.Fatalf("%d calls for 45 blocks in runs of 4", src.calls)
	}
}
