package lbft_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
)

// testKeys signs with a keyed hash per validator (enough for tests: a
// validator without another's key cannot make its signatures).
func mac(i int, d lbft.Hash) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "key-%d", i)
	h.Write(d[:])
	return h.Sum(nil)[:16]
}

func config(self int) lbft.Config {
	return lbft.Config{Self: self, N: 4, Period: 100, Timeout: 200,
		Sign:   func(d lbft.Hash) []byte { return mac(self, d) },
		Verify: func(i int, d lbft.Hash, sig []byte) bool { return string(mac(i, d)) == string(sig) },
	}
}

// net delivers every message at once, in order, until nothing is left.
func run(cores []*lbft.Core, now int64) map[int][]*lbft.Block {
	inserted := map[int][]*lbft.Block{}
	for {
		var msgs []lbft.Message
		for i, c := range cores {
			rd := c.Ready()
			inserted[i] = append(inserted[i], rd.Insert...)
			msgs = append(msgs, rd.Messages...)
			if len(rd.Insert) > 0 {
				c.Advance(now)
			}
		}
		if len(msgs) == 0 {
			return inserted
		}
		for _, m := range msgs {
			for j, c := range cores {
				if j != m.From && (m.To == lbft.Broadcast || m.To == j) {
					c.Step(now, m)
				}
			}
		}
	}
}

// Example: four validators decide a proposer's block in round 0.
func Example() {
	genesis := &lbft.Block{Height: 0, Time: 0}
	var cores []*lbft.Core
	for i := 0; i < 4; i++ {
		c, _ := lbft.New(config(i), genesis, nil)
		cores = append(cores, c)
	}
	b := &lbft.Block{Height: 1, Parent: genesis.Hash(), Time: 100, Proposer: []byte("p0"), Body: []byte("txs")}
	for _, c := range cores {
		c.Step(100, lbft.Message{Type: lbft.MsgPreprepare, From: -1, Height: 1, Block: b})
	}
	inserted := run(cores, 100)
	for i := range cores {
		blk := inserted[i][0]
		fmt.Printf("validator %d: block %d, round %d, %d commit signatures, impeach=%v\n", i, blk.Height, blk.Round, len(blk.Commits), blk.Impeach)
	}
	// Output:
	// validator 0: block 1, round 0, 3 commit signatures, impeach=false
	// validator 1: block 1, round 0, 3 commit signatures, impeach=false
	// validator 2: block 1, round 0, 3 commit signatures, impeach=false
	// validator 3: block 1, round 0, 3 commit signatures, impeach=false
}

// TestTimeoutImpeaches: with no block, every validator's round-0 timer
// fires at parent.Time + Period + Timeout and the impeach block is
// decided through the empty reports alone.
func TestTimeoutImpeaches(t *testing.T) {
	genesis := &lbft.Block{Height: 0, Time: 1000}
	var cores []*lbft.Core
	for i := 0; i < 4; i++ {
		c, _ := lbft.New(config(i), genesis, nil)
		cores = append(cores, c)
	}
	for _, c := range cores {
		c.Tick(1000) // the cores start with the chain
		c.Tick(1299)
	}
	if got := run(cores, 1299); len(got[0]) != 0 {
		t.Fatal("decided before the deadline")
	}
	for _, c := range cores {
		c.Tick(1300)
	}
	got := run(cores, 1300)
	for i := range cores {
		if len(got[i]) != 1 || !got[i][0].Impeach || got[i][0].Round != 1 || got[i][0].Time != 1300 {
			t.Fatalf("validator %d: %+v", i, got[i])
		}
	}
}

// TestRestartKeepsVotes: a validator restarted from its persisted record
// does not vote again differently in a round it voted in.
func TestRestartKeepsVotes(t *testing.T) {
	genesis := &lbft.Block{Height: 0, Time: 0}
	c, _ := lbft.New(config(0), genesis, nil)
	b := &lbft.Block{Height: 1, Parent: genesis.Hash(), Time: 100, Body: []byte("a")}
	c.Step(100, lbft.Message{Type: lbft.MsgPreprepare, From: -1, Height: 1, Block: b})
	rd := c.Ready()
	if rd.Persist == nil || rd.Persist.Prepared[0] != b.Hash() {
		t.Fatal("the prepare must be in the record to persist")
	}
	c2, _ := lbft.New(config(0), genesis, rd.Persist)
	other := &lbft.Block{Height: 1, Parent: genesis.Hash(), Time: 100, Body: []byte("b")}
	c2.Step(100, lbft.Message{Type: lbft.MsgPreprepare, From: -1, Height: 1, Block: other})
	for _, m := range c2.Ready().Messages {
		for _, v := range m.Votes {
			if v.Signer == 0 && v.Round == 0 && v.Value != b.Hash() {
				t.Fatal("voted for another block in round 0 after a restart")
			}
		}
	}
}

// FuzzStep: whatever a peer sends, Step returns (an error at worst) and
// never panics.
func FuzzStep(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{5, 3, 1, 2, 200, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		genesis := &lbft.Block{Height: 0, Time: 0}
		c, _ := lbft.New(config(1), genesis, nil)
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for len(data) > 0 {
			m := lbft.Message{Type: lbft.MsgType(next() % 9), From: int(int8(next())), To: int(int8(next())),
				Height: uint64(next() % 3), Round: uint32(next() % 4)}
			var x lbft.Hash
			x[0] = next()
			m.Value = x
			switch next() % 6 {
			case 0:
				m.Block = &lbft.Block{Height: uint64(next() % 3), Parent: genesis.Hash(), Time: int64(next()), Impeach: next()%2 == 0}
				if next()%2 == 0 {
					m.Block.Commits = []lbft.Vote{{Kind: lbft.Commit, Height: m.Block.Height, Signer: int(int8(next())), Sig: []byte{next()}}}
				}
			case 1:
				v := lbft.Vote{Kind: lbft.VoteKind(next() % 4), Height: uint64(next() % 3), Round: uint32(next()), Value: x, Signer: int(int8(next()))}
				if next()%2 == 0 && v.Signer >= 0 && v.Signer < 4 {
					v.Sig = mac(v.Signer, v.Digest())
				}
				m.Votes = []lbft.Vote{v}
				m.Prepare = &v
			case 2:
				r := lbft.Report{Height: uint64(next() % 3), Round: uint32(next() % 5), Signer: int(int8(next())), CertRound: int64(int8(next()))}
				if r.Signer >= 0 && r.Signer < 4 {
					r.Sig = mac(r.Signer, r.Digest())
				}
				m.Report = &r
				m.Justification = []lbft.Report{r, r, r}
			case 3:
				m.Cert = &lbft.Cert{Kind: lbft.VoteKind(next() % 3), Height: 1, Round: uint32(next() % 3), Votes: []lbft.Vote{{}}}
				m.HighCert = &lbft.Cert{}
			}
			c.Step(int64(binary.BigEndian.Uint16([]byte{next(), next()})), m)
			c.Tick(int64(next()) * 10)
			c.Ready()
		}
	})
}

// FuzzDecodeMessage: wire bytes decode to a message or fail, and any
// decoded message goes through Step without a panic.
func FuzzDecodeMessage(f *testing.F) {
	genesis := &lbft.Block{Height: 0, Time: 0}
	b := &lbft.Block{Height: 1, Parent: genesis.Hash(), Time: 100, Body: []byte("x")}
	f.Add(cborOf(lbft.Message{Type: lbft.MsgPreprepare, Height: 1, Block: b}))
	f.Add(cborOf(lbft.Message{Type: lbft.MsgPrepare, Height: 1, Votes: []lbft.Vote{{Kind: lbft.Prepare, Height: 1}}}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m lbft.Message
		if chain.Unmarshal(raw, &m) != nil {
			return
		}
		c, _ := lbft.New(config(2), genesis, nil)
		m.From = 1
		c.Step(150, m)
		c.Ready()
	})
}

func cborOf(m lbft.Message) []byte { return chain.Marshal(m) }

// TestAdvanceGatesNextHeight: once a height is decided, the core builds
// nothing on the new head (no impeach body, no proposal check) until the
// driver reports the block stored; then the next height runs normally.
func TestAdvanceGatesNextHeight(t *testing.T) {
	genesis := &lbft.Block{Height: 0, Time: 1000}
	stored := uint64(0) // the height the "driver" has stored
	var cores []*lbft.Core
	for i := 0; i < 4; i++ {
		cfg := config(i)
		cfg.ImpeachBody = func(parent *lbft.Block) []byte {
			if parent.Height != stored {
				t.Fatalf("impeach body for parent %d built on state at %d", parent.Height, stored)
			}
			return []byte(fmt.Sprint("penalty-", parent.Height+1))
		}
		cfg.CheckProposal = func(b, parent *lbft.Block) error {
			if parent.Height != stored {
				t.Fatalf("proposal %d checked on state at %d", b.Height, stored)
			}
			return nil
		}
		c, _ := lbft.New(cfg, genesis, nil)
		c.Tick(1000)
		cores = append(cores, c)
	}
	// No proposer: every validator's timer fires and decides the impeach
	// block 1; the driver does not report it stored.
	var inserted []*lbft.Block
	deliver := func(now int64) {
		for {
			var msgs []lbft.Message
			for _, c := range cores {
				rd := c.Ready()
				inserted = append(inserted, rd.Insert...)
				msgs = append(msgs, rd.Messages...)
			}
			if len(msgs) == 0 {
				return
			}
			for _, m := range msgs {
				for j, c := range cores {
					if j != m.From && (m.To == lbft.Broadcast || m.To == j) {
						c.Step(now, m)
					}
				}
			}
		}
	}
	for _, c := range cores {
		c.Tick(1300)
	}
	deliver(1300)
	if len(inserted) != 4 {
		t.Fatalf("%d inserts, want one per validator", len(inserted))
	}
	// Time passes far beyond every deadline: nothing happens at height 2
	// until Advance.
	for now := int64(1300); now < 10_000; now += 100 {
		for _, c := range cores {
			c.Tick(now)
			if !c.Settled() {
				t.Fatal("the core left the decided height without Advance")
			}
		}
		deliver(now)
	}
	if len(inserted) != 4 {
		t.Fatalf("%d inserts before Advance", len(inserted))
	}
	stored = 1
	for _, c := range cores {
		c.Advance(10_000)
	}
	// The height began at 10,000: a proposer gets Timeout from then.
	for _, c := range cores {
		c.Tick(10_199)
	}
	deliver(10_199)
	if len(inserted) != 4 {
		t.Fatal("impeached before Timeout passed since the height began")
	}
	for _, c := range cores {
		c.Tick(10_200)
	}
	deliver(10_200)
	if len(inserted) != 8 || !inserted[7].Impeach || inserted[7].Height != 2 || string(inserted[7].Body) != "penalty-2" {
		t.Fatalf("height 2: %d inserts, last %+v", len(inserted), inserted[len(inserted)-1])
	}
}

// TestRestartedCoreWaitsTimeout: a validator restarted long after its
// head's time gives the proposer Timeout from the restart before it
// reports (it does not impeach at once because the chain's clock is
// behind).
func TestRestartedCoreWaitsTimeout(t *testing.T) {
	genesis := &lbft.Block{Height: 0, Time: 1000}
	c, _ := lbft.New(config(0), genesis, nil)
	c.Tick(50_000)
	if rd := c.Ready(); len(rd.Messages) != 0 || rd.Wake > 50_200 {
		t.Fatalf("restarted core: %d messages, wake %d", len(rd.Messages), rd.Wake)
	}
	c.Tick(50_200)
	rd := c.Ready()
	if len(rd.Messages) == 0 || rd.Messages[0].Type != lbft.MsgImpeachPrepare {
		t.Fatalf("after Timeout: %v", rd.Messages)
	}
	// A proposal whose time window is in the past is still taken in the
	// meantime.
	c2, _ := lbft.New(config(0), genesis, nil)
	c2.Tick(50_000)
	b := &lbft.Block{Height: 1, Parent: genesis.Hash(), Time: 1000 + 100 + 200}
	c2.Step(50_010, lbft.Message{Type: lbft.MsgPreprepare, From: -1, Height: 1, Value: b.Hash(), Block: b})
	if rd := c2.Ready(); rd.Persist == nil || rd.Persist.Prepared[0] != b.Hash() {
		t.Fatal("a restarted validator did not prepare the late proposal")
	}
}
