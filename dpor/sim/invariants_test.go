package sim

import (
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/lbft"
)

// The invariants' self-tests: each breaks an honest core or driver on
// purpose (Config.Break) and shows the invariant that must notice it
// firing. A checker that passes everything would fail these.

// chainBase is a small real-chain run: 4 validators, 4 proposers in terms
// of 4 heights, a good network.
func chainBase(heights uint64) Config {
	cfg := base(heights)
	cfg.Chain = true
	return cfg
}

// expectViolation runs cfg and wants it stopped by a violation whose text
// has one of want.
func expectViolation(t *testing.T, cfg Config, want ...string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run()
	if err == nil {
		t.Fatalf("the %v fault went unnoticed", cfg.Break)
	}
	for _, w := range want {
		if strings.Contains(err.Error(), w) {
			t.Logf("caught: %v", err)
			return
		}
	}
	tr := s.Trace()
	if len(tr) > 60 {
		tr = tr[len(tr)-60:]
	}
	t.Fatalf("the %v fault was caught as %v; want one of %q\n%s", cfg.Break, err, want, strings.Join(tr, "\n"))
}

// TestCatchesStaleImpeachBody: drivers that call Advance before the block
// is stored build the next impeach body on the state before it. At the
// term boundary the old body (the committed state's view of whose turn
// it is) is empty: every validator certifies that impeach block, and no
// node can apply it.
func TestCatchesStaleImpeachBody(t *testing.T) {
	cfg := chainBase(6)
	cfg.Break = StaleImpeach
	for p := 0; p < cfg.Proposers; p++ {
		cfg.Proposer[p] = SilentProposer
	}
	expectViolation(t, cfg, "APPLY: node", "could not apply final block 5")
}

// TestCatchesForgedCommit: a core that inserts a block one of whose
// commit signatures is forged trips the checker's own verification.
func TestCatchesForgedCommit(t *testing.T) {
	for _, real := range []bool{false, true} {
		cfg := base(3)
		cfg.Chain, cfg.Break = real, ForgedCommit
		expectViolation(t, cfg, "FINALITY: node 0", "bad signature of validator")
	}
}

// TestCatchesDuplicateSigner: a certificate of 2f+1 votes that are one
// validator's, repeated, counts one signer.
func TestCatchesDuplicateSigner(t *testing.T) {
	for _, real := range []bool{false, true} {
		cfg := base(3)
		cfg.Chain, cfg.Break = real, DuplicateSigner
		expectViolation(t, cfg, "FINALITY: node 0", "1 distinct commit signers")
	}
}

// TestCatchesDoubleVote: a validator that signs two prepares in one round.
func TestCatchesDoubleVote(t *testing.T) {
	for _, real := range []bool{false, true} {
		cfg := base(3)
		cfg.Chain, cfg.Break = real, DoubleVote
		expectViolation(t, cfg, "DOUBLE VOTE: validator 0")
	}
}

// TestCatchesDivergentState: a driver that credits a coin too many when
// it stores block 2; the state check compares every key with the
// reference's.
func TestCatchesDivergentState(t *testing.T) {
	cfg := chainBase(3)
	cfg.Break = DivergeState
	expectViolation(t, cfg, "STATE: node 0's state after storing block 2 differs from the reference")
}

// TestCatchesUncheckedSignatures: validators that leave a proposal's
// signatures unchecked (a share of the checks that misses a quorum)
// finalize a transaction with a forged signature; the checker's own
// re-execution of every final block, checking every signature, refuses it.
func TestCatchesUncheckedSignatures(t *testing.T) {
	cfg := chainBase(8)
	cfg.Break, cfg.ForgedTxs = SkipSignatures, true
	cfg.Proposer[0] = InvalidBlock
	expectViolation(t, cfg, "FINAL BLOCK INVALID")
}

// TestSharedChecksRefuseForgedSignatures: the same proposer, with every
// validator checking its share of the signatures (three of four check
// each): no block with a forged signature becomes final, and the chain
// goes on past the impeached turns, over many seeds.
func TestSharedChecksRefuseForgedSignatures(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		cfg := chainBase(12)
		cfg.Seed, cfg.ForgedTxs = seed, true
		cfg.Proposer[0] = InvalidBlock
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestCatchesForgottenRecord: a driver that never persists the vote
// record, restarted in round 1, is back in round 0 (and would vote
// again).
func TestCatchesForgottenRecord(t *testing.T) {
	for _, real := range []bool{false, true} {
		cfg := base(3)
		cfg.Chain, cfg.Break = real, ForgetRecord
		cfg.Proposer[0] = SilentProposer // height 1 goes to round 1 at t=300
		cfg.Restarts = []Restart{{Node: 0, At: 302, Down: 5}}
		expectViolation(t, cfg, "MONOTONICITY: validator 0", "DOUBLE VOTE: validator 0")
	}
}

// TestHonestRestartsPass is the same restart as TestCatchesForgottenRecord
// with the record persisted, and restarts of every node at every point of
// storing a block at a term boundary: no invariant fires.
func TestHonestRestartsPass(t *testing.T) {
	for _, p := range []CrashPoint{BeforePersist, BeforeStore, BeforeSend, BeforeAdvance} {
		for _, h := range []uint64{1, 4, 5} {
			cfg := chainBase(6)
			cfg.Proposer[0] = SilentProposer
			cfg.Restarts = []Restart{{Node: 0, At: 302, Down: 5}, {Node: 1, Height: h, Point: p, All: true, Down: 150}}
			s := mustRun(t, cfg)
			if s.Stats.Restarts < len(s.nodes)+1 {
				t.Fatalf("%v at block %d: %d restarts", p, h, s.Stats.Restarts)
			}
		}
	}
}

// Two bugs this simulator found in dpor/node, now fixed: each test runs
// the schedule that showed it.

// TestCrashBetweenPersistAndStore: a validator crashes just as it
// stores the block that ends a height it voted in (in round 1, after the
// silent proposer's round 0). dpor/node once persisted the Ready's vote
// record, already the next height's, before storing the block: a crash
// in between restarted the validator at the decided height with no
// record of its votes there (lbft.New ignores a record for another
// height), back in round 0, free to sign another value in a round it had
// voted in. Record and block now go in one batch.
func TestCrashBetweenPersistAndStore(t *testing.T) {
	cfg := chainBase(3)
	cfg.Proposer[0] = SilentProposer // height 1 is decided in round 1
	cfg.Restarts = []Restart{{Node: 0, Height: 1, Point: BeforeStore, Down: 5}}
	mustRun(t, cfg)
}

// TestCrashAllKeepsPreparedBody: every node crashes after the validators
// prepared and committed the proposer's block and before any stored it.
// Their records make that block the only value any later round may
// decide, and the restarted proposer (which forgot it proposed) builds
// another. The validators stored the block with their records, and
// Restore gives it back to their cores: a later round decides it. With
// the bodies forgotten (dpor/node before it stored them, ForgetBodies)
// every round re-certifies a block no GET-BLOCK can fetch, and the chain
// is wedged for good: the test shows the liveness check firing.
func TestCrashAllKeepsPreparedBody(t *testing.T) {
	for _, broken := range []bool{false, true} {
		cfg := chainBase(3)
		cfg.CrashAllAnywhere = true
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.Msg.Height == 1 && e.Msg.Type == lbft.MsgCommit {
				return Verdict{Delay: 50} // every validator commits before any decides
			}
			return Verdict{}
		}
		cfg.Restarts = []Restart{{All: true, At: 140, Down: 100}}
		if !broken {
			mustRun(t, cfg)
			continue
		}
		cfg.Break = ForgetBodies
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Run()
		if err == nil || !strings.Contains(err.Error(), "LIVENESS") {
			t.Fatalf("with the bodies forgotten: %v, want a LIVENESS violation", err)
		}
	}
}
