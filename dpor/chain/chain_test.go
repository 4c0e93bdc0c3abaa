package chain_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/kv"
)

func key(i int) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0], seed[1] = byte(i), 0x77
	return ed25519.NewKeyFromSeed(seed)
}

func addr(i int) chain.Address { return chain.AddressOf(key(i).Public().(ed25519.PublicKey)) }

func member(name string, i int) chain.Member {
	return chain.Member{Name: name, Key: hex.EncodeToString(key(i).Public().(ed25519.PublicKey))}
}

// Keys: 0..3 validators, 10..11 default proposers, 20 deployer, 30+ users.
func testGenesis() *chain.Genesis {
	g := &chain.Genesis{ChainID: "test", PeriodMS: 100, TimeoutMS: 300, ProposersPerTerm: 2, ViewLen: 2,
		Deployer: addr(20), Balances: map[chain.Address]uint64{addr(20): 1_000_000, addr(30): 100_000, addr(31): 100_000, addr(32): 50_000},
		Params: chain.DefaultParams()}
	for i := 0; i < 4; i++ {
		g.Validators = append(g.Validators, member(fmt.Sprintf("v%d", i), i))
	}
	g.Proposers = []chain.Member{member("p0", 10), member("p1", 11)}
	g.Params.CPUDifficulty, g.Params.MemoryDifficulty = 4, 1
	g.Params.BaseDeposit, g.Params.Window = 100, 8
	return g
}

// harness applies blocks to an in-memory state.
type harness struct {
	t     testing.TB
	c     *chain.Chain
	st    *kv.Mem
	head  *lbft.Block
	nonce map[int]uint64
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, testGenesis()) }

func newHarnessWith(t testing.TB, g *chain.Genesis) *harness {
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	c := chain.New(g)
	st := kv.NewMem()
	if err := c.InitState(st); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, st: st, head: c.GenesisBlock(), nonce: map[int]uint64{}}
}

func (h *harness) tx(from int, to chain.Address, amount uint64, call *chain.Call) *chain.Tx {
	tx := &chain.Tx{Nonce: h.nonce[from], To: to, Amount: amount, Fee: 1, Call: call}
	tx.Sign("test", key(from))
	h.nonce[from]++
	return tx
}

func (h *harness) state() *chain.State { return chain.ReadState(h.st) }

// block builds, seals and checks the next block, and applies it.
func (h *harness) block(txs ...*chain.Tx) (*chain.Receipt, error) {
	height := h.head.Height + 1
	p, err := h.c.ProposerOf(h.st, height)
	if err != nil {
		return nil, err
	}
	k := -1
	for i := 0; i < 40; i++ {
		if addr(i) == p {
			k = i
		}
	}
	pre, _ := chain.StateCommitment(h.st)
	body := chain.Body{State: pre[:]}
	for _, tx := range txs {
		body.Txs = append(body.Txs, chain.Marshal(tx))
	}
	b := &lbft.Block{Height: height, Parent: h.head.Hash(), Time: h.head.Time + 100, Proposer: key(k).Public().(ed25519.PublicKey), Body: chain.Marshal(body)}
	b.Seal = ed25519.Sign(key(k), chain.SealBytes(b))
	if err := h.c.CheckProposal(h.st, b, h.head); err != nil {
		return nil, err
	}
	rec, err := h.c.ApplyBlock(h.st, b)
	if err != nil {
		h.t.Fatalf("a checked block failed to apply: %v", err)
	}
	h.head = b
	// A transaction that failed when it ran is in the block (its nonce and
	// fee taken): its reason is the error.
	for i := range rec.Txs {
		if rec.Failed[i] != nil {
			return rec, rec.Failed[i]
		}
	}
	return rec, nil
}

func (h *harness) mustBlock(txs ...*chain.Tx) *chain.Receipt {
	h.t.Helper()
	rec, err := h.block(txs...)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) balance(a chain.Address) uint64 {
	acct, err := h.state().Account(a)
	if err != nil {
		h.t.Fatal(err)
	}
	return acct.Balance
}

func TestTransfersFeesAndRewards(t *testing.T) {
	h := newHarness(t)
	p := h.c.G.Params
	proposer, _ := h.c.ProposerOf(h.st, 1)
	h.mustBlock(h.tx(30, addr(40), 500, nil), h.tx(30, addr(41), 200, nil))
	if got := h.balance(addr(30)); got != 100_000-700-2 {
		t.Fatalf("sender balance %d", got)
	}
	if h.balance(addr(40)) != 500 || h.balance(addr(41)) != 200 {
		t.Fatal("receivers not credited")
	}
	if got := h.balance(proposer); got != p.BlockReward+2 {
		t.Fatalf("proposer got %d, want reward %d + fees 2", got, p.BlockReward)
	}
	for _, tc := range []struct {
		name string
		tx   *chain.Tx
		want string
	}{
		{"replayed nonce", func() *chain.Tx {
			tx := &chain.Tx{Nonce: 0, To: addr(40), Amount: 1, Fee: 1}
			tx.Sign("test", key(30))
			return tx
		}(), "nonce 0"},
		{"bad signature", func() *chain.Tx { tx := h.tx(31, addr(40), 1, nil); tx.Amount = 2; return tx }(), "bad signature"},
		{"fee too low", func() *chain.Tx {
			tx := &chain.Tx{Nonce: 2, To: addr(40), Amount: 1}
			tx.Sign("test", key(30))
			return tx
		}(), "below the minimum"},
		{"another chain", func() *chain.Tx {
			tx := &chain.Tx{Nonce: 2, To: addr(40), Amount: 1, Fee: 1}
			tx.Sign("other", key(30))
			return tx
		}(), "bad signature"},
	} {
		_, err := h.block(tc.tx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if h.head.Height != 1 {
		t.Fatal("a rejected block must not apply")
	}
	// A transfer beyond the balance is included and fails: the nonce and
	// the fee are taken, nothing else moves, and the receipt says why.
	before := h.balance(addr(32))
	_, err := h.block(h.tx(32, addr(40), 60_000, nil))
	if err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("a transfer beyond the balance: %v", err)
	}
	if h.balance(addr(32)) != before-1 || h.balance(addr(40)) != 500 {
		t.Fatalf("after the failed transfer: sender %d (was %d), receiver %d", h.balance(addr(32)), before, h.balance(addr(40)))
	}
	if acct, _ := h.state().Account(addr(32)); acct.Nonce != 1 {
		t.Fatalf("nonce after a failed transaction %d, want 1", acct.Nonce)
	}
	// A fee the balance cannot cover keeps the transaction out.
	poor := &chain.Tx{Nonce: 0, To: addr(40), Fee: 5}
	poor.Sign("test", key(33))
	if _, err := h.block(poor); err == nil || !strings.Contains(err.Error(), "for the fee") {
		t.Fatalf("a fee nobody pays: %v", err)
	}
	// Amount plus fee beyond 2^64 never wraps into a small cost.
	huge := &chain.Tx{Nonce: 0, To: addr(40), Amount: ^uint64(0), Fee: 1}
	huge.Sign("test", key(31))
	if _, err := h.block(huge); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("an amount of 2^64-1: %v", err)
	}
	if h.balance(addr(40)) != 500 {
		t.Fatal("the huge transfer moved coins")
	}
}

func TestProposalChecks(t *testing.T) {
	h := newHarness(t)
	b := &lbft.Block{Height: 1, Parent: h.head.Hash(), Time: 100, Proposer: key(11).Public().(ed25519.PublicKey), Body: chain.Marshal(chain.Body{})}
	want, _ := h.c.ProposerOf(h.st, 1)
	if want == addr(11) {
		b.Proposer = key(10).Public().(ed25519.PublicKey)
	}
	b.Seal = ed25519.Sign(key(11), chain.SealBytes(b))
	if err := h.c.CheckProposal(h.st, b, h.head); err == nil || !strings.Contains(err.Error(), "turn") {
		t.Fatalf("a block from the wrong proposer: %v", err)
	}
	b.Proposer = nil
	for i := 10; i <= 11; i++ {
		if addr(i) == want {
			b.Proposer = key(i).Public().(ed25519.PublicKey)
		}
	}
	b.Seal = []byte("forged")
	if err := h.c.CheckProposal(h.st, b, h.head); err == nil || !strings.Contains(err.Error(), "seal") {
		t.Fatalf("a forged seal: %v", err)
	}
}

func (h *harness) claim(who int, terms uint64) error {
	st := h.state()
	p, _ := st.Params()
	height := h.head.Height + 1
	blk := height - 1
	rec, _, _ := st.Block(blk)
	a := chain.ClaimCampaignArgs{Terms: terms, CPUBlock: blk, MemBlock: blk,
		CPUNonce: chain.SolveProof(addr(who), rec.Hash, p.CPUDifficulty, false),
		MemNonce: chain.SolveProof(addr(who), rec.Hash, p.MemoryDifficulty, true)}
	_, err := h.block(h.tx(who, chain.CampaignAddress, p.BaseDeposit*terms, &chain.Call{Method: "claimCampaign", Args: chain.Marshal(a)}))
	return err
}

func TestCampaignElectionAndRefunds(t *testing.T) {
	h := newHarness(t)
	termLen := h.c.G.TermLen()
	if err := h.claim(30, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.claim(31, 1); err != nil {
		t.Fatal(err)
	}
	st := h.state()
	cands, _ := st.CandidatesOf(1)
	if !slices.Equal(cands, []chain.Address{addr(30), addr(31)}) {
		t.Fatalf("candidates of term 1: %v", cands)
	}
	if c2, _ := st.CandidatesOf(2); !slices.Equal(c2, []chain.Address{addr(30)}) {
		t.Fatalf("candidates of term 2: %v", c2)
	}
	ci, ok, _ := st.CandidateInfoOf(addr(30))
	if !ok || ci.Deposit != 200 || ci.StartTerm != 1 || ci.StopTerm != 2 {
		t.Fatalf("candidate info %+v", ci)
	}
	before := h.balance(addr(31))
	for h.head.Height < termLen {
		h.mustBlock()
	}
	// The checkpoint elected term 1 from its two candidates.
	ps, err := h.state().ProposersOf(1)
	if err != nil || len(ps) != 2 || !slices.Contains(ps, addr(30)) || !slices.Contains(ps, addr(31)) {
		t.Fatalf("term 1 proposers %v, %v", ps, err)
	}
	// Term 1's blocks are sealed by them (the harness finds their keys).
	for h.head.Height < 2*termLen {
		h.mustBlock()
	}
	// At the end of term 1 each got that term's deposit back.
	if got := h.balance(addr(31)); got < before+100 {
		t.Fatalf("31's deposit not refunded: %d -> %d", before, got)
	}
	// Term 2 had one candidate: one seat, one default proposer.
	ps2, _ := h.state().ProposersOf(2)
	if len(ps2) != 2 || !slices.Contains(ps2, addr(30)) {
		t.Fatalf("term 2 proposers %v", ps2)
	}
}

func TestElectionIsDeterministic(t *testing.T) {
	results := map[string]bool{}
	for run := 0; run < 3; run++ {
		h := newHarness(t)
		for _, who := range []int{30, 31, 32} {
			if err := h.claim(who, 1); err != nil {
				t.Fatal(err)
			}
		}
		for h.head.Height < h.c.G.TermLen() {
			h.mustBlock()
		}
		ps, _ := h.state().ProposersOf(1)
		results[fmt.Sprint(ps)] = true
	}
	if len(results) != 1 {
		t.Fatalf("the same chain elected differently: %v", results)
	}
}

func TestOnlyDeployerMayPunishOrTune(t *testing.T) {
	h := newHarness(t)
	if err := h.claim(30, 2); err != nil {
		t.Fatal(err)
	}
	punish := &chain.Call{Method: "punishCandidate", Args: chain.Marshal(chain.PunishCandidateArgs{Candidate: addr(30), Term: 2})}
	if _, err := h.block(h.tx(31, chain.CampaignAddress, 0, punish)); err == nil || !strings.Contains(err.Error(), "deployer") {
		t.Fatalf("punish by a stranger: %v", err)
	}
	h.mustBlock(h.tx(20, chain.CampaignAddress, 0, punish))
	if c2, _ := h.state().CandidatesOf(2); slices.Contains(c2, addr(30)) {
		t.Fatal("the punished candidate is still listed for term 2")
	}
	if ci, _, _ := h.state().CandidateInfoOf(addr(30)); ci.Deposit != 100 {
		t.Fatalf("deposit after punishment %d, want one term's detained", ci.Deposit)
	}
	before, _ := h.c.GetRPT(h.state(), addr(30))
	h.mustBlock(h.tx(20, chain.RPTAddress, 0, &chain.Call{Method: "updateAlpha", Args: chain.Marshal(chain.UpdateArgs{Value: 0})}))
	after, _ := h.c.GetRPT(h.state(), addr(30))
	if p, _ := h.state().Params(); p.Alpha != 0 || after.Value >= before.Value && before.Value > chain.RPTFloor {
		t.Fatalf("alpha %d, RPT %d -> %d", p.Alpha, before.Value, after.Value)
	}
	if _, err := h.block(h.tx(31, chain.RPTAddress, 0, &chain.Call{Method: "updateWindow", Args: chain.Marshal(chain.UpdateArgs{Value: 5})})); err == nil {
		t.Fatal("a stranger changed the window")
	}
	if _, err := h.block(h.tx(20, chain.AdmissionAddress, 0, &chain.Call{Method: "updateCPUDifficulty", Args: chain.Marshal(chain.UpdateArgs{Value: 300})})); err == nil {
		t.Fatal("a difficulty above 256 bits was accepted")
	}
	if _, err := h.block(h.tx(20, chain.AdmissionAddress, 0, &chain.Call{Method: "noSuchFunction"})); err == nil || !strings.Contains(err.Error(), "no function") {
		t.Fatalf("an unknown function: %v", err)
	}
}

func TestClaimNeedsAdmissionAndDeposit(t *testing.T) {
	h := newHarness(t)
	h.mustBlock()
	bad := chain.ClaimCampaignArgs{Terms: 1, CPUBlock: 1, MemBlock: 1, CPUNonce: 0, MemNonce: 0}
	rec, _, _ := h.state().Block(1)
	for chain.ProofOK(addr(30), rec.Hash, bad.CPUNonce, h.c.G.Params.CPUDifficulty, false) {
		bad.CPUNonce++
	}
	_, err := h.block(h.tx(30, chain.CampaignAddress, 100, &chain.Call{Method: "claimCampaign", Args: chain.Marshal(bad)}))
	if err == nil || !strings.Contains(err.Error(), "admission") {
		t.Fatalf("a claim without proof of work: %v", err)
	}
	_, err = h.block(h.tx(30, chain.CampaignAddress, 99, &chain.Call{Method: "claimCampaign", Args: chain.Marshal(chain.ClaimCampaignArgs{Terms: 1})}))
	if err == nil || !strings.Contains(err.Error(), "deposit") {
		t.Fatalf("a claim with a short deposit: %v", err)
	}
}

func TestImpeachPenalty(t *testing.T) {
	h := newHarness(t)
	victim, _ := h.c.ProposerOf(h.st, 1)
	h.st.Set([]byte("unused"), nil)
	// Give the victim coins to lose.
	h.mustBlock(h.tx(30, victim, 1000, nil))
	bal := h.balance(victim)
	next, _ := h.c.ProposerOf(h.st, 2)
	ib := lbft.ImpeachBlock(&lbft.Config{Period: 100, Timeout: 300, ImpeachBody: func(p *lbft.Block) []byte {
		body, err := h.c.ImpeachBody(h.st, p)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}}, h.head)
	if _, err := h.c.ApplyBlock(h.st, ib); err != nil {
		t.Fatal(err)
	}
	hs, _ := h.state().Impeachments(next)
	if len(hs) != 1 || hs[0] != 2 {
		t.Fatalf("impeachments of %s: %v", next, hs)
	}
	if next == victim && h.balance(victim) != bal-h.c.G.Params.Penalty {
		t.Fatal("penalty not taken")
	}
	wrong := *ib
	wrong.Height = 3
	wrong.Parent = ib.Hash()
	wrong.Body = chain.Marshal(chain.Body{Penalty: &chain.Penalty{Height: 3, Proposer: addr(39)}})
	if _, err := h.c.ApplyBlock(h.st, &wrong); err == nil {
		t.Fatal("an impeach block punishing the wrong proposer applied")
	}
}

func TestGenesisErrorsNameTheField(t *testing.T) {
	good := testGenesis()
	for _, tc := range []struct {
		field string
		edit  func(g *chain.Genesis)
	}{
		{"chain_id", func(g *chain.Genesis) { g.ChainID = " " }},
		{"period_ms", func(g *chain.Genesis) { g.PeriodMS = 0 }},
		{"validators", func(g *chain.Genesis) { g.Validators = g.Validators[:3] }},
		{"validators[2].key", func(g *chain.Genesis) { g.Validators[2].Key = "zz" }},
		{"proposers[1].key", func(g *chain.Genesis) { g.Proposers[1].Key = g.Validators[0].Key }},
		{"proposers", func(g *chain.Genesis) { g.Proposers = nil }},
		{"params.low_rpt_percent", func(g *chain.Genesis) { g.Params.LowRPTPercent = 101 }},
	} {
		g := *good
		g.Validators = slices.Clone(good.Validators)
		g.Proposers = slices.Clone(good.Proposers)
		tc.edit(&g)
		err := g.Validate()
		var fe *chain.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	if _, err := chain.ParseGenesis([]byte(`{"chain_id":"x","bogus":1}`)); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("an unknown field: %v", err)
	}
}

func FuzzDecodeTx(f *testing.F) {
	tx := &chain.Tx{Nonce: 1, To: addr(1), Amount: 5, Fee: 1, Data: []byte("id?x")}
	tx.Sign("test", key(3))
	f.Add(chain.Marshal(tx))
	f.Add([]byte{0xa1, 0x01, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := chain.DecodeTx(b)
		if err != nil {
			return
		}
		tx.CheckSignature("test")
		tx.Hash()
		chain.DecodeBody(b)
	})
}

func FuzzParseGenesis(f *testing.F) {
	f.Add([]byte(`{"chain_id":"x","period_ms":100,"timeout_ms":300,"proposers_per_term":1,"view_len":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		chain.ParseGenesis(b)
	})
}

// TestElectionPartitions: with eight candidates of distinct reputation,
// four seats, half the candidates in the low-RPT partition and two seats
// for it, two proposers come from the four lowest and two from the four
// highest, whatever the seed; the draw is a function of the seed.
func TestElectionPartitions(t *testing.T) {
	g := testGenesis()
	g.ProposersPerTerm = 4
	g.Params.LowRPTPercent, g.Params.LowRPTSeats = 50, 2
	c := chain.New(g)
	st := kv.NewMem()
	if err := c.InitState(st); err != nil {
		t.Fatal(err)
	}
	var cands []chain.Address
	for i := 0; i < 8; i++ {
		cands = append(cands, addr(50+i))
	}
	s := chain.WriteState(st)
	for i, a := range cands {
		s.SetAccount(a, chain.Account{Balance: uint64(1000 * (i + 1))}) // balance rank = i
	}
	st.Set(append([]byte("c/cand/"), 0, 0, 0, 0, 0, 0, 0, 1), chain.Marshal(cands))
	p := g.Params
	low, high := cands[:4], cands[4:]
	draws := map[string]bool{}
	for seed := byte(0); seed < 20; seed++ {
		got, err := c.Elect(s, &p, 1, 5, [32]byte{seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("%d proposers, want 4", len(got))
		}
		nLow, nHigh := 0, 0
		for _, a := range got {
			switch {
			case slices.Contains(low, a):
				nLow++
			case slices.Contains(high, a):
				nHigh++
			}
		}
		if nLow != 2 || nHigh != 2 {
			t.Fatalf("seed %d: %d low and %d high, want 2 and 2: %v", seed, nLow, nHigh, got)
		}
		again, _ := c.Elect(s, &p, 1, 5, [32]byte{seed})
		if !slices.Equal(got, again) {
			t.Fatal("the same seed drew differently")
		}
		draws[fmt.Sprint(got)] = true
	}
	if len(draws) < 3 {
		t.Fatalf("20 seeds gave only %d different draws", len(draws))
	}
}

// TestStateCommitment: every block carries the commitment of the state its
// parent left, which always equals the state hashed from scratch; a block
// carrying another one is refused, and so is one carrying none.
func TestStateCommitment(t *testing.T) {
	h := newHarness(t)
	check := func() {
		t.Helper()
		got, err := chain.StateCommitment(h.st)
		full, _ := chain.HashState(h.st)
		if err != nil || got != full.Sum() {
			t.Fatalf("at %d the stored commitment %s, the state hashes to %s (%v)", h.head.Height, got, full.Sum(), err)
		}
	}
	check()
	for i := range 6 {
		h.mustBlock(h.tx(30+i%3, addr(40+i), 10, nil), h.tx(20, addr(41), 5, nil))
		check()
	}
	pre, _ := chain.StateCommitment(h.st)
	body, _ := chain.DecodeBody(h.head.Body)
	if body.State == nil {
		t.Fatal("a block without a state commitment")
	}
	for _, bad := range [][]byte{nil, append([]byte{pre[0] ^ 1}, pre[1:]...)} {
		p, _ := h.c.ProposerOf(h.st, h.head.Height+1)
		k := -1
		for i := 0; i < 40; i++ {
			if addr(i) == p {
				k = i
			}
		}
		b := &lbft.Block{Height: h.head.Height + 1, Parent: h.head.Hash(), Time: h.head.Time + 100, Proposer: key(k).Public().(ed25519.PublicKey),
			Body: chain.Marshal(chain.Body{State: bad})}
		b.Seal = ed25519.Sign(key(k), chain.SealBytes(b))
		if err := h.c.CheckProposal(h.st, b, h.head); err == nil || !strings.Contains(err.Error(), "state commitment") {
			t.Fatalf("a block carrying state commitment %x: %v", bad, err)
		}
	}
}

// TestRunProposal: running a proposal ahead (a proposer that inserts the
// block next, while the validators decide) gives exactly the writes and
// receipt ApplyFinal gives once the block is final, leaves the state
// untouched, and refuses what is not the current proposer's sealed block.
func TestRunProposal(t *testing.T) {
	h := newHarness(t)
	txs := []*chain.Tx{h.tx(20, addr(30), 5, nil), h.tx(30, addr(31), 7, nil), h.tx(20, addr(32), 1, nil)}
	height := h.head.Height + 1
	k := h.proposerKey(height)
	body, _, rejected, err := h.c.Build(h.st, height, txs)
	if err != nil || len(rejected) != 0 {
		t.Fatalf("build: %v %v", err, rejected)
	}
	seal := func(b *lbft.Block, by int) *lbft.Block {
		b.Seal = ed25519.Sign(key(by), chain.SealBytes(b))
		return b
	}
	b := seal(&lbft.Block{Height: height, Parent: h.head.Hash(), Time: h.head.Time + 100, Proposer: key(k).Public().(ed25519.PublicKey), Body: body}, k)
	before, _ := chain.StateCommitment(h.st)
	o, rec, err := h.c.RunProposal(h.st, b)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := chain.StateCommitment(h.st); after != before {
		t.Fatal("running a proposal ahead changed the committed state")
	}
	final := chain.NewOverlay(h.st)
	want, err := h.c.ApplyFinal(final, b)
	if err != nil {
		t.Fatal(err)
	}
	got, exp := maps.Collect(o.Writes()), maps.Collect(final.Writes())
	if !maps.EqualFunc(got, exp, bytes.Equal) {
		t.Fatalf("ran ahead: %d writes; final: %d writes, not the same", len(got), len(exp))
	}
	if len(rec.Txs) != len(want.Txs) || rec.Fees != want.Fees {
		t.Fatalf("receipts differ: %d txs, fees %d; want %d, %d", len(rec.Txs), rec.Fees, len(want.Txs), want.Fees)
	}
	other := (k + 1) % 40
	for name, bad := range map[string]*lbft.Block{
		"sealed by another": seal(&lbft.Block{Height: height, Parent: h.head.Hash(), Time: b.Time, Proposer: key(other).Public().(ed25519.PublicKey), Body: body}, other),
		"bad seal":          {Height: height, Parent: h.head.Hash(), Time: b.Time, Proposer: b.Proposer, Body: body, Seal: make([]byte, 64)},
		"impeach":           seal(&lbft.Block{Height: height, Parent: h.head.Hash(), Time: b.Time, Proposer: b.Proposer, Body: body, Impeach: true}, k),
	} {
		if _, _, err := h.c.RunProposal(h.st, bad); err == nil {
			t.Errorf("%s: ran", name)
		}
	}
}

// TestSigShareCoversEveryQuorum: with validators sharing the signature
// checks, each transaction is checked by exactly n-f of them, and every
// quorum of 2f+1 holds at least f+1 of its checkers (so an honest one,
// whatever f validators are faulty).
func TestSigShareCoversEveryQuorum(t *testing.T) {
	for _, n := range []int{1, 4, 5, 7, 10} {
		f := (n - 1) / 3
		q := 2*f + 1
		for i := range 500 {
			h := sha256.Sum256([]byte{byte(n), byte(i), byte(i >> 8)})
			var checkers uint
			for v := range n {
				if (chain.SigShare{Index: v, Validators: n}).Checks(h) {
					checkers |= 1 << v
				}
			}
			if c := bits.OnesCount(checkers); c != n-f {
				t.Fatalf("n=%d: %d validators check transaction %x, want %d", n, c, h[:4], n-f)
			}
			for quorum := uint(0); quorum < 1<<n; quorum++ {
				if bits.OnesCount(quorum) == q && bits.OnesCount(quorum&checkers) < f+1 {
					t.Fatalf("n=%d: quorum %b holds %d checkers of %x, want at least %d", n, quorum, bits.OnesCount(quorum&checkers), h[:4], f+1)
				}
			}
		}
	}
	if !(chain.SigShare{}).Checks([32]byte{}) {
		t.Fatal("the zero share does not check every signature")
	}
}

// TestForgedTransactionRefusedByItsCheckers: a proposal with a forged
// signature under a good seal is refused by the n-f validators whose
// share holds it, and only by a check of all signatures otherwise.
func TestForgedTransactionRefusedByItsCheckers(t *testing.T) {
	h := newHarness(t)
	tx := h.tx(30, addr(40), 5, nil)
	tx.Sig[5] ^= 1 // well formed, forged
	height := h.head.Height + 1
	k := h.proposerKey(height)
	pre, _ := chain.StateCommitment(h.st)
	b := &lbft.Block{Height: height, Parent: h.head.Hash(), Time: h.head.Time + 100, Proposer: key(k).Public().(ed25519.PublicKey),
		Body: chain.Marshal(chain.Body{State: pre[:], Txs: [][]byte{chain.Marshal(tx)}})}
	b.Seal = ed25519.Sign(key(k), chain.SealBytes(b))
	if _, _, err := h.c.TryProposal(h.st, b, h.head); err == nil {
		t.Fatal("a full check took the forged transaction")
	}
	refused := 0
	for v := range 4 {
		share := chain.SigShare{Index: v, Validators: 4}
		_, _, err := chain.New(h.c.G).TryProposalAs(h.st, b, h.head, share)
		switch {
		case share.Checks(tx.Hash()) && err == nil:
			t.Fatalf("validator %d checks the forged signature, but took the block", v)
		case !share.Checks(tx.Hash()) && err != nil:
			t.Fatalf("validator %d does not check it, yet refused the block: %v", v, err)
		case err != nil:
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("%d of 4 validators refused the block, want 3", refused)
	}
}

// proposerKey is the key index of the proposer whose turn height is.
func (h *harness) proposerKey(height uint64) int {
	h.t.Helper()
	p, err := h.c.ProposerOf(h.st, height)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if addr(i) == p {
			return i
		}
	}
	h.t.Fatalf("no test key proposes at %d", height)
	return -1
}
