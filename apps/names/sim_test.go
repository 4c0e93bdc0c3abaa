package names_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// simOpts are short lifetimes so that a few hundred blocks see preorders
// expire, names expire and get registered again.
var simOpts = names.Options{PreorderTTL: 6, Lifetime: 40, GracePeriod: 2, ValidWindow: 6}

func newSim(seed uint64) *namesim.Sim {
	s := namesim.NewSim(seed, 6)
	s.PreorderTTL, s.Lifetime = simOpts.PreorderTTL, simOpts.Lifetime
	return s
}

// simRun is what a simulated run produced.
type simRun struct {
	consensus []vchash.ConsensusHash
	accepted  map[byte]int   // accepted ops by opcode
	rejected  map[string]int // rejected txs by stage
	state     string
}

// runSim drives the application through the Processor for blocks blocks of
// a simulated workload.
func runSim(t testing.TB, seed uint64, blocks int) simRun {
	t.Helper()
	rec := &recorder{App: names.New(withFirst(simOpts))}
	h := newHarnessApp(t, rec)
	h.apply()
	sim := newSim(seed)
	r := rand.New(rand.NewPCG(seed, 42))
	run := simRun{accepted: map[byte]int{}, rejected: map[string]int{}}
	for range blocks {
		res := h.apply(sim.NextBlock(r, h.next(), h.ch())...)
		run.consensus = append(run.consensus, res.Record.Consensus)
		for _, x := range res.Rejected {
			run.rejected[x.Stage]++
		}
	}
	for _, s := range rec.out {
		run.accepted[s[0]]++
	}
	run.state = dump(t, h)
	return run
}

func withFirst(o names.Options) names.Options {
	o.FirstBlock = firstBlock
	return o
}

func TestSimDeterminism(t *testing.T) {
	a := runSim(t, 1, 300)
	b := runSim(t, 1, 300)
	if !slices.Equal(a.consensus, b.consensus) || a.state != b.state {
		t.Fatal("same seed gave different consensus hashes or state")
	}
	c := runSim(t, 2, 300)
	if c.consensus[len(c.consensus)-1] == a.consensus[len(a.consensus)-1] {
		t.Fatal("different seeds gave the same consensus hash")
	}
	// The workload exercises every opcode and every way to be rejected.
	for _, op := range []byte("?:+>~&") {
		if a.accepted[op] == 0 {
			t.Errorf("no %s accepted in 300 blocks: %v", names.OpName(op), a.accepted)
		}
	}
	for _, stage := range []string{"parse", "check"} {
		if a.rejected[stage] == 0 {
			t.Errorf("no rejection at %s: %v", stage, a.rejected)
		}
	}
	for _, op := range []byte("?:+>~&") {
		t.Logf("accepted %-8s %d", names.OpName(op), a.accepted[op])
	}
	t.Logf("rejected %v", a.rejected)
}

// TestSimForksMatchFreshReplay follows a forking chain with the real engine
// and checks that it ends where a fresh replay of the final chain does: the
// same consensus hash at every height and the same names.
func TestSimForksMatchFreshReplay(t *testing.T) {
	ctx := context.Background()
	open := func() (*engine.Engine, *store.DB) {
		db, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e, err := engine.Open(db, names.New(withFirst(simOpts)), engine.Config{UndoDepth: 8})
		if err != nil {
			t.Fatal(err)
		}
		return e, db
	}
	e, _ := open()
	sim := newSim(7)
	rollbacks := 0
	chain := memtape.Generate(memtape.GenConfig{
		Seed: 7, Base: firstBlock, Blocks: 200, ForkProb: 0.15, MaxForkDepth: 5,
		Txs: func(r *rand.Rand, height int64) []tape.Tx {
			ch, _ := e.Consensus()
			return sim.NextBlock(r, height, ch)
		},
	}, func(c *memtape.Chain) {
		before := e.Height()
		if err := e.Sync(ctx, c); err != nil {
			t.Fatal(err)
		}
		if e.Height() < before {
			rollbacks++
		}
	})
	if rollbacks == 0 {
		t.Fatal("the chain never forked")
	}
	fresh, _ := open()
	if err := fresh.Sync(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if got, want := records(t, e), records(t, fresh); got != want {
		t.Fatalf("consensus history after forks differs from a fresh replay:\n%s\nwant\n%s", got, want)
	}
	got, want := listing(t, e.State(), e.Height()), listing(t, fresh.State(), fresh.Height())
	if got != want {
		t.Fatalf("names after forks:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(got, ".") {
		t.Fatal("no names registered")
	}
}

func records(t testing.TB, e *engine.Engine) string {
	var b strings.Builder
	if err := e.Records(func(r engine.BlockRecord) error {
		fmt.Fprintf(&b, "%d %s %s\n", r.Height, r.Hash, r.Consensus)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func listing(t testing.TB, r kv.Reader, height int64) string {
	list, err := names.List(r, height)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, rec := range list {
		fmt.Fprintf(&b, "%+v\n", rec)
	}
	return b.String()
}

// BenchmarkSimBlocks measures the application under the engine's core:
// one simulated block (up to 8 transactions) per iteration.
func BenchmarkSimBlocks(b *testing.B) {
	h := newHarness(b, simOpts)
	sim := newSim(1)
	r := rand.New(rand.NewPCG(1, 42))
	txs := 0
	for b.Loop() {
		block := sim.NextBlock(r, h.next(), h.ch())
		txs += len(block)
		h.apply(block...)
	}
	b.ReportMetric(float64(txs)/float64(b.N), "txs/block")
}
