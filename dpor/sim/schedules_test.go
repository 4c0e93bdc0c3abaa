package sim

import (
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/lbft"
)

// The named adversarial schedules of the safety notes, each a
// deterministic run with a scripted network, with string bodies and on
// the real chain.

func base(heights uint64) Config {
	return Config{Seed: 7, Validators: 4, Proposers: 4, Heights: heights, Period: 100, Timeout: 200, Delta: 10,
		Byzantine: map[int]Behaviour{}, Proposer: map[int]ProposerBehaviour{}}
}

// bothModes runs a schedule with string bodies ("strings") and on the
// real chain ("chain"): base makes the run's Config in that mode.
func bothModes(t *testing.T, f func(t *testing.T, base func(uint64) Config)) {
	for _, real := range []bool{false, true} {
		name := "strings"
		if real {
			name = "chain"
		}
		t.Run(name, func(t *testing.T) {
			f(t, func(h uint64) Config {
				cfg := base(h)
				cfg.Chain = real
				return cfg
			})
		})
	}
}

func mustRun(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(); err != nil {
		tr := s.Trace()
		if len(tr) > 200 {
			tr = tr[len(tr)-200:]
		}
		t.Fatalf("%v\n%s", err, strings.Join(tr, "\n"))
	}
	return s
}

// final is the block every honest node holds at h (they agree, or the
// run would have failed).
func final(s *Sim, h uint64) *lbft.Block { return s.Chain(0)[h] }

func TestSilentProposer(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(3)
		cfg.Proposer[0] = SilentProposer // height 1
		s := mustRun(t, cfg)
		b := final(s, 1)
		if !b.Impeach || b.Round != 1 {
			t.Fatalf("height 1: impeach=%v round=%d; want the impeach block at round 1", b.Impeach, b.Round)
		}
		if n := s.Sent(lbft.MsgImpeachPreprepare, 1); n != 0 {
			t.Fatalf("%d coordinator messages; the empty reports alone must decide", n)
		}
		if final(s, 2).Impeach {
			t.Fatal("height 2 has a good proposer")
		}
	})
}

func TestInvalidBlockImpeachesAtOnce(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(2)
		cfg.Proposer[0] = InvalidBlock
		s := mustRun(t, cfg)
		b := final(s, 1)
		if !b.Impeach || b.Round != 1 {
			t.Fatalf("height 1: impeach=%v round=%d", b.Impeach, b.Round)
		}
		// AC2: round 0 ends on the invalid block, not at its deadline.
		deadline := s.Chain(0)[0].Time + cfg.Period + cfg.Timeout
		if s.nodes[0].decidedAt[0] >= deadline {
			t.Fatalf("decided at %d, not before the round-0 deadline %d", s.nodes[0].decidedAt[0], deadline)
		}
	})
}

// TestLateCommitsFork is S1: every COMMIT of height 1 is delayed past the
// timeout, then everyone impeaches. CPChain's rules fork here; these
// decide B at round 0 or the impeach block later, never both (the run
// checks agreement after every step).
func TestLateCommitsFork(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(3)
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.Msg.Type == lbft.MsgCommit && e.Msg.Height == 1 && e.Msg.Round == 0 {
				return Verdict{Delay: 5 * cfg.Timeout}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		if b := final(s, 1); b.Impeach {
			// The impeach path was taken only if B never had a certificate
			// honest validators reported; with every prepare delivered, B
			// is locked and must win.
			t.Fatalf("height 1 decided the impeach block although B was prepared by all")
		}
	})
}

// TestSplitCommitHalt is S2: v0 prepares B but never sees its
// certificate before its timer (it reports none), v1 and v2 commit B (the
// commits are lost), v3 is silent. The seed's one-commit-per-height rule
// halts for ever; these rules decide B within f+2 rounds.
func TestSplitCommitHalt(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(2)
		cfg.Byzantine[3] = Silent
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.Msg.Height == 1 && e.To == 0 && e.Msg.Type == lbft.MsgPrepare && e.Msg.Round == 0 {
				return Verdict{Drop: true} // v0 prepares B but never sees its certificate
			}
			if e.Msg.Height == 1 && e.Msg.Type == lbft.MsgCommit && e.Msg.Round == 0 {
				return Verdict{Drop: true} // commits of round 0 are lost too
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		b := final(s, 1)
		// Round 1 fails (v0's empty report is its vote for I), round 2's
		// coordinator is the silent v3, round 3's re-proposes B: f+2 rounds.
		if b.Impeach || b.Round > 3 {
			t.Fatalf("height 1: impeach=%v round=%d; want B re-proposed by a coordinator within f+2 rounds", b.Impeach, b.Round)
		}
	})
}

// TestByzWithholdOnePrepare: Z sends its PREPARE only to v1, so only v1
// commits B; the others impeach. B must be decided (the coordinator sees
// v1's certificate), never I together with B.
func TestByzWithholdOnePrepare(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(2)
		cfg.Byzantine[3] = DoubleSign
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.Msg.Height != 1 || e.Msg.Round != 0 {
				return Verdict{}
			}
			if e.From == 3 && e.To != 1 {
				return Verdict{Drop: true}
			}
			if e.Msg.Type == lbft.MsgPrepare && e.From != 3 && e.To != 1 {
				return Verdict{Drop: true} // only v1 gathers the certificate
			}
			if e.Msg.Type == lbft.MsgCommit {
				return Verdict{Drop: true}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		_ = final(s, 1) // agreement is checked after every step
	})
}

// TestByzCoordinatorSilent: the byzantine validator coordinates round 1
// and says nothing; a later round decides.
func TestByzCoordinatorSilent(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(2)
		// Coordinator of (h=1, r=1) is validator (1+1) mod 4 = 2.
		cfg.Byzantine[2] = Silent
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			// v0 alone certifies B in round 0; nobody commits in time.
			if e.Msg.Height == 1 && e.Msg.Round == 0 && (e.Msg.Type == lbft.MsgCommit || e.Msg.Type == lbft.MsgPrepare && e.To != 0) {
				return Verdict{Drop: true}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		if b := final(s, 1); b.Round < 1 {
			t.Fatalf("decided in round %d", b.Round)
		}
	})
}

// TestLaggingValidator: v2 is cut off until well into the run, then
// rejoins, catches up and never votes in an old round (the invariants
// check that).
func TestLaggingValidator(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(8)
		cut := int64(1500)
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if s.Now() < cut && (e.To == 2 || e.From == 2) {
				return Verdict{Drop: true}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		if got, want := s.Chain(2)[8].Hash(), final(s, 8).Hash(); got != want {
			t.Fatal("the lagging validator ended on another head")
		}
	})
}

// TestCivilianCatchUp: a civilian offline for 50 heights syncs the final
// blocks, checking each certificate, and ends at the same head.
func TestCivilianCatchUp(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(55)
		civ := 4 + 4
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.To == civ && s.Height(0) < 50 {
				return Verdict{Drop: true}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		if got := s.Chain(civ)[55].Hash(); got != final(s, 55).Hash() {
			t.Fatal("the civilian ended on another head")
		}
	})
}

// TestValidateInImpeachState: a validator deep in the impeach rounds
// inserts a VALIDATE for B of round 0 (CPChain's code ignores it).
func TestValidateInImpeachState(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		cfg := base(2)
		cfg.Script = func(s *Sim, e *Envelope) Verdict {
			if e.Msg.Height == 1 && e.To == 0 && e.Msg.Type != lbft.MsgValidate {
				return Verdict{Drop: true} // v0 hears nothing but the final block
			}
			if e.Msg.Height == 1 && e.To == 0 && e.Msg.Type == lbft.MsgValidate {
				return Verdict{Delay: 4 * cfg.Timeout}
			}
			return Verdict{}
		}
		s := mustRun(t, cfg)
		if final(s, 1).Impeach {
			t.Fatal("B should be final: three validators decided it")
		}
		if s.nodes[0].lastRound[1] < 2 {
			t.Fatalf("v0 reached round %d before the VALIDATE; the schedule wants it in the impeach rounds", s.nodes[0].lastRound[1])
		}
	})
}

// TestRestartMidRound: crashes and restarts before GST keep every vote
// record (the invariants check no second vote in a round).
func TestRestartMidRound(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		for seed := int64(1); seed <= 50; seed++ {
			cfg := base(5)
			cfg.Seed, cfg.GST, cfg.Crashes, cfg.Drop = seed, 2000, true, 0.2
			mustRun(t, cfg)
		}
	})
}

func TestEquivocatingProposer(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		for seed := int64(1); seed <= 50; seed++ {
			cfg := base(4)
			cfg.Seed = seed
			cfg.Proposer[0], cfg.Proposer[2] = TwoBlocks, TwoBlocks
			cfg.Byzantine[1] = DoubleSign
			cfg.GST, cfg.Drop = 1000, 0.1
			mustRun(t, cfg)
		}
	})
}

// TestByzCoordinatorEquivocates: the byzantine coordinator of round 1
// (validator 2 at height 1) sends one justification to some validators
// and another, for the impeach block, to the others. Round 1 fails or
// decides one value; a later round with an honest coordinator decides.
func TestByzCoordinatorEquivocates(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		equivocated := 0
		for seed := int64(1); seed <= 30; seed++ {
			cfg := base(3)
			cfg.Seed = seed
			cfg.Byzantine[2] = Equivocator
			cfg.Script = func(s *Sim, e *Envelope) Verdict {
				// Only v0 sees B's certificate in round 0; no commit gets through.
				if e.Msg.Height == 1 && e.Msg.Round == 0 && (e.Msg.Type == lbft.MsgCommit || e.Msg.Type == lbft.MsgPrepare && e.To != 0) {
					return Verdict{Drop: true}
				}
				return Verdict{}
			}
			sim := mustRun(t, cfg)
			if strings.Contains(strings.Join(sim.Trace(), "\n"), "equivocates") {
				equivocated++
			}
		}
		if equivocated == 0 {
			t.Fatal("the coordinator never equivocated: the schedule does not test what it says")
		}
		t.Logf("%d of 30 runs had two justifications in one round", equivocated)
	})
}

// TestPreGSTLoss: 30% of messages are lost before GST; the re-sends
// decide every height after it.
func TestPreGSTLoss(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		for seed := int64(1); seed <= 30; seed++ {
			cfg := base(5)
			cfg.Seed, cfg.GST, cfg.Drop = seed, 2500, 0.3
			mustRun(t, cfg)
		}
	})
}

// TestLateCertReveal: the byzantine validator completes each prepare
// certificate it can and shows it to one honest validator, late, round
// after round (S4, where leaderless locking livelocks, and
// cert-reveal-before-report). Every height still ends, and safety holds.
func TestLateCertReveal(t *testing.T) {
	bothModes(t, func(t *testing.T, base func(uint64) Config) {
		revealed := 0
		for seed := int64(1); seed <= 40; seed++ {
			cfg := base(4)
			cfg.Seed, cfg.GST, cfg.Drop = seed, 1500, 0.2
			cfg.Byzantine[3] = Revealer
			cfg.Proposer[1] = TwoBlocks
			sim := mustRun(t, cfg)
			if strings.Contains(strings.Join(sim.Trace(), "\n"), "reveals the certificate") {
				revealed++
			}
		}
		if revealed == 0 {
			t.Fatal("no certificate was ever revealed")
		}
		t.Logf("%d of 40 runs had late, selective reveals", revealed)
	})
}
