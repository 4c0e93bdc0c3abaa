package sim

import (
	"container/heap"
	"fmt"

	"github.com/vchain-dev/vchain/dpor/lbft"
)

// drain carries out what a node's core asks for, as dpor/node's drain:
// persist the vote record (when the Ready decides a height, in the same
// atomic batch as its final block), store the final blocks with their
// state, send the messages, ask for fetches, and Advance once blocks are
// stored. It
// checks the safety invariants on what the node signs and stores, and
// crashes the node where a planned restart says.
func (s *Sim) drain(n *node) {
	for i := 0; i < 100 && !n.down && s.err == nil; i++ {
		rd := n.core.Ready()
		var h uint64
		decided := len(rd.Insert) > 0
		if decided {
			h = rd.Insert[0].Height
			if s.crashAt(n, h, BeforePersist) {
				return
			}
		}
		keep := rd.Persist != nil && !(s.cfg.Break == ForgetRecord && n.id == 0)
		if keep && (!decided || s.cfg.Break == StaleImpeach) {
			n.rec = rd.Persist // durable before anything is sent
			s.keepBodies(n)
		}
		if decided && s.crashAt(n, h, BeforeStore) {
			return
		}
		if decided && s.cfg.Break == StaleImpeach {
			// Broken: Advance now, and the blocks reach the store later.
			n.core.Advance(s.now)
			n.stores = append(n.stores, rd.Insert...)
			for range rd.Insert {
				s.push(event{at: s.now + s.cfg.Period + 2*s.cfg.Timeout, kind: evStore, node: n.id, epoch: n.epoch})
			}
			rd.Insert = nil
		}
		for _, b := range rd.Insert {
			if !s.store(n, b) {
				return
			}
		}
		if keep && decided && s.cfg.Break != StaleImpeach {
			n.rec = rd.Persist // in the batch of the last final block
			n.bodies = nil     // those kept for the decided height's votes
		}
		if decided && (s.crashAt(n, h, BeforeSend) || s.crashPending() && n.down) {
			return
		}
		for _, m := range rd.Messages {
			s.outgoing(n, m)
		}
		for _, f := range rd.Fetch {
			s.fetch(n, f)
		}
		if decided && s.crashAt(n, h, BeforeAdvance) {
			return
		}
		s.checkNode(n, rd.Persist)
		if decided {
			if s.cfg.Break != StaleImpeach {
				n.core.Advance(s.now) // the stored block is in place: go on
			}
			continue
		}
		if rd.Wake > s.now {
			s.push(event{at: rd.Wake, kind: evWake, node: n.id})
		}
		if rd.Empty() {
			break
		}
	}
	if !n.down && s.err == nil {
		s.maybePropose(n)
	}
}

// keepBodies stores, with the vote record, the body of every proposer's
// block the record names (as dpor/node's persistVotes), unless the
// configuration breaks that on purpose.
func (s *Sim) keepBodies(n *node) {
	if s.cfg.Break == ForgetBodies || n.rec == nil {
		return
	}
	if n.bodies == nil || n.bodiesAt != n.rec.Height {
		n.bodies, n.bodiesAt = map[lbft.Hash]*lbft.Block{}, n.rec.Height
	}
	named := []lbft.Hash{}
	for _, x := range n.rec.Prepared {
		named = append(named, x)
	}
	for _, x := range n.rec.Committed {
		named = append(named, x)
	}
	if n.rec.HighCert != nil {
		named = append(named, n.rec.HighCert.Value)
	}
	for _, x := range named {
		if b := n.core.Body(x); b != nil && !b.Impeach {
			n.bodies[x] = b
		}
	}
}

// crashAt crashes n (or every node) when a planned restart names this
// point of storing block h.
func (s *Sim) crashAt(n *node, h uint64, p CrashPoint) bool {
	for i := range s.restarts {
		r := &s.restarts[i]
		if r.fired || r.Point != p || r.Height != h || r.Node != n.id {
			continue
		}
		r.fired = true
		s.Stats.PointCrashes[p]++
		if s.w != nil && (s.w.g.IsCheckpoint(h) || s.w.g.IsCheckpoint(h-1) || h == 1) {
			s.Stats.BoundaryCrashes++
		}
		if r.All {
			s.logf("every node is to crash: node %d is at %s of block %d", n.id, p, h)
			s.crashAll(r.Down)
		} else {
			s.logf("node %d crashes at %s of block %d", n.id, p, h)
			s.crash(n, r.Down)
		}
		return n.down
	}
	return false
}

// crashAll crashes every node, unless validators have prepared a block
// no node has stored (see Config.CrashAllAnywhere): then the crash waits
// until a node stores it.
func (s *Sim) crashAll(down int64) {
	if !s.cfg.CrashAllAnywhere && s.bodyAtRisk() {
		s.logf("the crash of every node waits: a prepared block is stored nowhere yet")
		s.pendingAll = append(s.pendingAll, down)
		return
	}
	s.logf("every node crashes")
	s.Stats.CrashAlls++
	for _, m := range s.nodes {
		s.crash(m, down)
	}
}

// crashPending carries out the crashes of every node that waited, once
// the block is stored (by the node storing it now).
func (s *Sim) crashPending() bool {
	if len(s.pendingAll) == 0 || s.bodyAtRisk() {
		return false
	}
	down := s.pendingAll[0]
	s.pendingAll = s.pendingAll[1:]
	s.logf("every node crashes (it waited)")
	s.Stats.CrashAlls++
	for _, m := range s.nodes {
		s.crash(m, down)
	}
	return true
}

// bodyAtRisk tells whether a validator's persisted record holds a vote
// for a proposer's block at the height no honest validator has stored
// yet: a block whose body only the nodes' memories hold (only validators
// answer for final blocks, and a silent one does not).
func (s *Sim) bodyAtRisk() bool {
	top := uint64(0)
	for _, n := range s.nodes[:s.cfg.Validators] {
		if n.behave == Honest {
			top = max(top, uint64(len(n.chain)-1))
		}
	}
	h := top + 1
	for _, n := range s.nodes[:s.cfg.Validators] {
		r := n.rec
		if r == nil || r.Height != h {
			continue
		}
		imp := s.impeachAtHeight(h)
		for _, x := range r.Prepared {
			if x != imp {
				return true
			}
		}
		for _, x := range r.Committed {
			if x != imp {
				return true
			}
		}
		if r.HighCert != nil && r.HighCert.Value != imp {
			return true
		}
	}
	return false
}

// impeachAtHeight is the hash of the impeach block at height h, the one
// after the final block h-1.
func (s *Sim) impeachAtHeight(h uint64) lbft.Hash {
	if x, ok := s.impeachAt[h]; ok {
		return x
	}
	parent := s.check.blocks[h-1]
	cfg := s.lcfg
	if s.w != nil {
		cfg = lbft.Config{Period: s.cfg.Period, Timeout: s.cfg.Timeout, ImpeachBody: func(p *lbft.Block) []byte {
			body, err := s.check.chain.ImpeachBody(s.check.snaps[h-1], p)
			if err != nil {
				panic(err)
			}
			return body
		}}
	}
	x := lbft.ImpeachBlock(&cfg, parent).Hash()
	s.impeachAt[h] = x
	return x
}

// crash stops n: what it did not persist is lost (its core, the
// proposals it validated, whether it proposed). It restarts after down ms.
func (s *Sim) crash(n *node, down int64) {
	if n.down {
		return
	}
	n.down, n.core, n.tried, n.proposedAt, n.stores = true, nil, nil, 0, nil
	n.epoch++
	at := s.now + max(down, 1)
	s.push(event{at: at, kind: evBoot, node: n.id, epoch: n.epoch})
	s.quiet = max(s.quiet, at)
}

// checkNode checks that an honest validator's round, and the highest
// certificate of the records it persists, never go back at a height.
func (s *Sim) checkNode(n *node, persisted *lbft.VoteRecord) {
	if n.id >= s.cfg.Validators || n.behave != Honest || n.core == nil {
		return
	}
	h, r := n.core.Height(), n.core.Round()
	if last, ok := n.lastRound[h]; ok && r < last {
		s.fail("MONOTONICITY: validator %d went back from round %d to %d at height %d", n.id, last, r, h)
	}
	n.lastRound[h] = r
	if r > s.Stats.MaxRound {
		s.Stats.MaxRound = r
	}
	if persisted == nil {
		return
	}
	h = persisted.Height
	hr := int64(-1)
	if persisted.HighCert != nil {
		hr = int64(persisted.HighCert.Round)
	}
	if last, ok := n.lastHigh[h]; ok && hr < last {
		s.fail("MONOTONICITY: validator %d's highest certificate went back from round %d to %d at height %d", n.id, last, hr, h)
	}
	n.lastHigh[h] = hr
}

// store stores a final block as the node's driver does (with the real
// chain, applying it to the node's state in one batch), and has the
// checker judge it. A block the node cannot apply is a violation.
func (s *Sim) store(n *node, b *lbft.Block) bool {
	if n.id == 0 && (s.cfg.Break == ForgedCommit || s.cfg.Break == DuplicateSigner) {
		b = s.breakCert(b)
	}
	head := n.chain[len(n.chain)-1]
	if b.Height != head.Height+1 || b.Parent != head.Hash() {
		s.fail("node %d inserted block %d that does not extend its head %d", n.id, b.Height, head.Height)
		return false
	}
	x := b.Hash()
	if s.w != nil {
		if err := s.apply(n, b); err != nil {
			s.fail("APPLY: node %d could not apply final block %d (%s): %v", n.id, b.Height, x.Short(), err)
			return false
		}
	}
	n.chain = append(n.chain, b)
	n.decidedAt = append(n.decidedAt, s.now)
	kind := "block"
	if b.Impeach {
		kind = "IMPEACH block"
	}
	s.logf("node %d inserts %s %d %s (round %d)", n.id, kind, b.Height, x.Short(), b.Round)
	s.check.stored(n, b)
	return s.err == nil
}

// breakCert is a broken core's certificate: a forged first signature, or
// one signer's vote repeated.
func (s *Sim) breakCert(b *lbft.Block) *lbft.Block {
	c := *b
	c.Commits = append([]lbft.Vote(nil), b.Commits...)
	if s.cfg.Break == ForgedCommit {
		sig := append([]byte(nil), c.Commits[0].Sig...)
		sig[0] ^= 1
		c.Commits[0].Sig = sig
	} else {
		for i := range c.Commits {
			c.Commits[i] = c.Commits[0]
		}
	}
	return &c
}

// outgoing records an honest validator's signatures and routes the
// message (mutated by byzantine behaviours).
func (s *Sim) outgoing(n *node, m lbft.Message) {
	if n.id < s.cfg.Validators && n.behave == Honest {
		if m.Type == lbft.MsgCommit {
			s.commitEvidence(n.id, &m)
		}
		for i := range m.Votes {
			s.signed(n.id, &m.Votes[i])
		}
		if m.Prepare != nil {
			s.signed(n.id, m.Prepare)
		}
	}
	s.logf("node %d sends %v", n.id, &m)
	s.sent[sentKey{m.Type, m.Height}]++
	if s.cfg.Break == DoubleVote && n.id == 0 && m.Type == lbft.MsgPrepare {
		s.doubleVote(n, m)
	}
	if m.Type == lbft.MsgImpeachPrepare && m.Report != nil {
		k := prepKey{m.Height, m.Round, lbft.Hash{}}
		if s.reports[k] == nil {
			s.reports[k] = map[int]*lbft.Message{}
		}
		mm := m
		s.reports[k][m.Report.Signer] = &mm
	}
	switch n.behave {
	case Silent:
		return
	case DoubleSign:
		s.doubleSign(n, m)
		return
	case Garbage:
		s.route(n.id, m)
		s.garbage(n, m)
		return
	case Equivocator:
		if m.Type == lbft.MsgImpeachPreprepare {
			s.equivocate(n, m)
			return
		}
	}
	s.route(n.id, m)
}

// signed checks one vote per (kind, height, round) for an honest
// validator, and that no two values can be final or certified at once.
func (s *Sim) signed(who int, v *lbft.Vote) {
	if v.Signer != who {
		return
	}
	k := voteKey{who, v.Kind, v.Height, v.Round}
	if prev, ok := s.votes[k]; ok && prev != v.Value {
		s.fail("DOUBLE VOTE: validator %d signed %s for %s and %s at height %d round %d", who, v.Kind, prev.Short(), v.Value.Short(), v.Height, v.Round)
		return
	}
	s.votes[k] = v.Value
	if v.Kind == lbft.Prepare {
		pk := prepKey{v.Height, v.Round, v.Value}
		s.prepVotes[pk] = append(s.prepVotes[pk], *v)
		s.reveal(pk)
	}
	set := s.honestP
	if v.Kind == lbft.Commit {
		set = s.honestC
	}
	pk := prepKey{v.Height, v.Round, v.Value}
	if set[pk] == nil {
		set[pk] = map[int]bool{}
	}
	set[pk][who] = true
	// With the byzantine validators signing anything, a value is
	// certifiable once 2f+1 minus their number honest validators voted
	// for it.
	need := 2*s.f() + 1 - s.byzantine()
	if len(set[pk]) < need {
		return
	}
	for other, voters := range set {
		if other.h != v.Height || other.x == v.Value || len(voters) < need {
			continue
		}
		if v.Kind == lbft.Prepare && other.r == v.Round {
			s.fail("CERTIFICATES: two values certifiable at height %d round %d: %s and %s", v.Height, v.Round, v.Value.Short(), other.x.Short())
		}
		if v.Kind == lbft.Commit {
			s.fail("UNIQUE FINAL: two values finalizable at height %d: %s (round %d) and %s (round %d)", v.Height, v.Value.Short(), v.Round, other.x.Short(), other.r)
		}
	}
}

// Now is the simulated time (ms).
func (s *Sim) Now() int64 { return s.now }

// Chain is what node i has inserted, genesis first.
func (s *Sim) Chain(i int) []*lbft.Block { return s.nodes[i].chain }

// Sent counts the messages of a type sent (by any node) at a height.
func (s *Sim) Sent(t lbft.MsgType, h uint64) int { return s.sent[sentKey{t, h}] }

// Round is validator i's current round.
func (s *Sim) Round(i int) uint32 { return s.nodes[i].core.Round() }

// Height is the height node i is deciding.
func (s *Sim) Height(i int) uint64 { return s.nodes[i].core.Height() }

type sentKey struct {
	t lbft.MsgType
	h uint64
}

// commitEvidence checks that an honest validator's first COMMIT of
// (h, r) carries the prepare certificate it commits on.
func (s *Sim) commitEvidence(who int, m *lbft.Message) {
	k := voteKey{who, lbft.Commit, m.Height, m.Round}
	if _, seen := s.votes[k]; seen {
		return // a re-send
	}
	c := m.Cert
	if c == nil || c.Kind != lbft.Prepare || c.Height != m.Height || c.Round != m.Round || c.Value != m.Value {
		s.fail("COMMIT EVIDENCE: validator %d commits h=%d r=%d %s without its prepare certificate", who, m.Height, m.Round, m.Value.Short())
		return
	}
	signers := map[int]bool{}
	for _, v := range c.Votes {
		if v.Kind == lbft.Prepare && v.Height == m.Height && v.Round == m.Round && v.Value == m.Value && s.check.validSig(v.Signer, v.Digest(), v.Sig) {
			signers[v.Signer] = true
		}
	}
	if len(signers) < 2*s.f()+1 {
		s.fail("COMMIT EVIDENCE: validator %d commits h=%d r=%d on %d valid prepares", who, m.Height, m.Round, len(signers))
	}
}

func (s *Sim) byzantine() int {
	b := 0
	for _, n := range s.nodes[:s.cfg.Validators] {
		if n.behave != Honest {
			b++
		}
	}
	return b
}

func (s *Sim) fetch(n *node, f lbft.Fetch) {
	if f.Peer < 0 || f.Peer >= len(s.nodes) {
		return
	}
	p := s.nodes[f.Peer]
	if p.down || p.behave == Silent {
		return
	}
	for h := f.From; h < uint64(len(p.chain)) && h < f.From+64; h++ {
		b := p.chain[h]
		s.deliverTo(p.id, n.id, lbft.Message{Type: lbft.MsgValidate, From: p.id, To: n.id, Height: b.Height, Round: b.Round, Value: b.Hash(), Block: b})
	}
}

// maybePropose has a proposer propose when its turn comes.
func (s *Sim) maybePropose(n *node) {
	if s.w != nil {
		s.proposeReal(n)
		return
	}
	if n.id < s.cfg.Validators || n.id >= s.civilian() || n.down {
		return
	}
	head := n.core.Head()
	h := head.Height + 1
	if s.proposerOf(h) != n.id || n.proposedAt >= h {
		return
	}
	at := head.Time + s.cfg.Period
	if s.now < at {
		s.push(event{at: at, kind: evWake, node: n.id})
		return
	}
	n.proposedAt = h
	behave := s.cfg.Proposer[n.id-s.cfg.Validators]
	if behave == SilentProposer {
		return
	}
	b := &lbft.Block{Height: h, Parent: head.Hash(), Time: max(at, s.now), Proposer: []byte{byte(n.id)},
		Body: fmt.Appendf(nil, "txs of %d at %d by %d", h, s.now, n.id)}
	b.Seal = s.mac(n.id, b.Hash())
	switch behave {
	case InvalidBlock:
		b.Seal = []byte("forged")
	case TwoBlocks:
		b2 := *b
		b2.Body = append(b2.Body, " (the other one)"...)
		b2.Seal = s.mac(n.id, b2.Hash())
		for v := 0; v < s.cfg.Validators; v++ {
			blk := b
			if v%2 == 1 {
				blk = &b2
			}
			s.deliverTo(n.id, v, lbft.Message{Type: lbft.MsgPreprepare, From: -1, To: v, Height: h, Value: blk.Hash(), Block: blk})
		}
		s.logf("proposer %d sends two blocks at height %d", n.id, h)
		return
	}
	s.logf("proposer %d proposes %s at height %d", n.id, b.Hash().Short(), h)
	n.core.Propose(s.now, b)
	rd := n.core.Ready()
	for _, m := range rd.Messages {
		m.From = -1
		s.route(n.id, m)
	}
}

// Run runs the simulation until every honest node has decided Heights
// heights, or the time bound passes, or an invariant fails.
func (s *Sim) Run() error {
	s.scheduleFaults()
	for s.queue.Len() > 0 && s.err == nil {
		e := heap.Pop(&s.queue).(event)
		if e.at > s.limit() {
			break
		}
		s.now = max(s.now, e.at)
		switch e.kind {
		case evCrash:
			if e.all {
				s.crashAll(e.down)
				continue
			}
			n := s.nodes[e.node]
			if !n.down {
				s.logf("node %d crashes at height %d", n.id, len(n.chain))
				s.crash(n, e.down)
			}
		case evBoot:
			n := s.nodes[e.node]
			if !n.down || n.epoch != e.epoch {
				continue
			}
			s.Stats.Restarts++
			s.logf("node %d restarts at height %d (record height %v round %v)", n.id, len(n.chain), recHeight(n.rec), recRound(n.rec))
			s.boot(n)
		case evStore:
			n := s.nodes[e.node]
			if n.down || n.epoch != e.epoch || len(n.stores) == 0 {
				continue
			}
			b := n.stores[0]
			n.stores = n.stores[1:]
			s.store(n, b)
		case evWake:
			n := s.nodes[e.node]
			if n.down {
				continue
			}
			n.core.Tick(s.now)
			s.drain(n)
		default:
			n := s.nodes[e.env.To]
			if n.down {
				continue
			}
			msg := e.env.Msg
			msg.From = e.env.From
			if e.env.From >= s.cfg.Validators {
				msg.From = -1
			}
			n.core.Step(s.now, msg)
			s.drain(n)
		}
		if s.done() {
			break
		}
	}
	s.Stats.End = s.now
	if s.err != nil {
		return s.err
	}
	return s.checkLiveness()
}

// limit is the time by which every honest node must have decided every
// height: the run gives up after it.
func (s *Sim) limit() int64 {
	return s.quiet + int64(s.cfg.Heights)*(s.cfg.Period+s.cfg.Timeout)*int64(2*s.f()+8)
}

func recHeight(r *lbft.VoteRecord) any {
	if r == nil {
		return "none"
	}
	return r.Height
}

func recRound(r *lbft.VoteRecord) any {
	if r == nil {
		return "none"
	}
	return r.Round
}

func (s *Sim) honestNodes() []*node {
	var out []*node
	for _, n := range s.nodes {
		if s.honest(n) {
			out = append(out, n)
		}
	}
	return out
}

// honest tells whether n must decide every height: an honest validator
// or the civilian (proposers are not required to follow).
func (s *Sim) honest(n *node) bool {
	if n.id < s.cfg.Validators {
		return n.behave == Honest
	}
	return n.id == s.civilian()
}

func (s *Sim) done() bool {
	for _, n := range s.nodes {
		if s.honest(n) && uint64(len(n.chain)) <= s.cfg.Heights {
			return false
		}
	}
	return true
}

func (s *Sim) checkLiveness() error {
	for _, n := range s.honestNodes() {
		if uint64(len(n.chain)) <= s.cfg.Heights {
			return fmt.Errorf("LIVENESS: node %d decided %d heights of %d by t=%d (GST %d, faults end %d)", n.id, len(n.chain)-1, s.cfg.Heights, s.now, s.cfg.GST, s.quiet)
		}
	}
	// A faulty proposer's height ends with an impeach block within
	// period + timeout (plus message delays) once the network is good.
	for h := uint64(1); h <= s.cfg.Heights; h++ {
		pb := s.cfg.Proposer[s.proposerNode(h)-s.cfg.Validators]
		if pb != SilentProposer && pb != InvalidBlock {
			continue
		}
		var parentAt, at int64 = -1, -1
		firstParent := int64(-1)
		var parent, blk *lbft.Block
		for _, n := range s.honestNodes() {
			if n.id >= s.cfg.Validators {
				continue
			}
			d := n.decidedAtHeight(h - 1)
			parentAt = max(parentAt, d)
			if firstParent < 0 || d < firstParent {
				firstParent = d
			}
			if d := n.decidedAtHeight(h); at < 0 || d < at {
				at = d
			}
			parent, blk = n.chain[h-1], n.chain[h]
		}
		if !blk.Impeach {
			return fmt.Errorf("IMPEACH: height %d of a %s proposer ended with a normal block", h, pb)
		}
		if firstParent < s.quiet {
			continue // the height began, for someone, before the faults ended
		}
		// Each validator's round-0 timer runs Timeout past the block's
		// earliest time, or past the moment it began the height.
		bound := max(parent.Time+s.cfg.Period, parentAt) + s.cfg.Timeout + 4*s.cfg.Delta
		if at > bound {
			return fmt.Errorf("IMPEACH: height %d decided at %d, after period+timeout bound %d", h, at, bound)
		}
	}
	return nil
}

func (n *node) decidedAtHeight(h uint64) int64 {
	if h == 0 {
		return 0
	}
	return n.decidedAt[h-1]
}

// scheduleFaults plans crashes and restarts: with Crashes, each honest
// validator (with the real chain, each honest node) crashes at random
// with even odds, before GST, and comes back before it; and the planned
// restarts at a time.
func (s *Sim) scheduleFaults() {
	if s.cfg.Crashes && s.cfg.GST > 0 {
		last := s.cfg.Validators
		if s.w != nil {
			last = len(s.nodes)
		}
		for _, n := range s.nodes[:last] {
			if n.behave != Honest || s.rng.IntN(2) == 0 {
				continue
			}
			at := s.rng.Int64N(s.cfg.GST)
			back := at + 1 + s.rng.Int64N(max(s.cfg.GST-at, 1))
			s.push(event{at: at, kind: evCrash, node: n.id, down: back - at})
		}
	}
	for i := range s.restarts {
		if r := &s.restarts[i]; r.Point == AtTime {
			r.fired = true
			s.push(event{at: r.At, kind: evCrash, node: r.Node, all: r.All, down: r.Down})
			s.quiet = max(s.quiet, r.At+max(r.Down, 1))
		}
	}
}

// doubleSign sends each recipient, at random, the message as the core
// made it or one whose own votes are for another value.
func (s *Sim) doubleSign(n *node, m lbft.Message) {
	for _, to := range s.recipients(n.id, m) {
		mm := m
		if s.rng.IntN(2) == 0 && (m.Type == lbft.MsgPrepare || m.Type == lbft.MsgCommit) {
			alt := s.impeachHash(n)
			if alt == m.Value {
				alt = lbft.Hash{byte(s.rng.IntN(256)), 1}
			}
			kind := lbft.Prepare
			if m.Type == lbft.MsgCommit {
				kind = lbft.Commit
			}
			v := lbft.Vote{Kind: kind, Height: m.Height, Round: m.Round, Value: alt, Signer: n.id}
			v.Sig = s.sign(n.id, v.Digest())
			mm.Value, mm.Votes, mm.Cert = alt, []lbft.Vote{v}, nil
		}
		if m.Type == lbft.MsgImpeachPrepare && s.rng.IntN(2) == 0 {
			// An empty report (a prepare vote for the impeach block) to
			// some, the real one to others.
			rep := lbft.Report{Height: m.Height, Round: m.Round, Signer: n.id, CertRound: -1}
			rep.Sig = s.sign(n.id, rep.Digest())
			x := s.impeachHash(n)
			v := lbft.Vote{Kind: lbft.Prepare, Height: m.Height, Round: m.Round, Value: x, Signer: n.id}
			v.Sig = s.sign(n.id, v.Digest())
			mm.Report, mm.Cert, mm.Prepare, mm.Value = &rep, nil, &v, x
		}
		s.deliverTo(n.id, to, mm)
	}
}

// reveal has each Revealer complete a prepare certificate once 2f honest
// validators prepared (h, r, x), and show it to one honest validator,
// late.
func (s *Sim) reveal(pk prepKey) {
	if s.revealed[pk] || len(s.prepVotes[pk]) < 2*s.f() {
		return
	}
	for _, z := range s.nodes[:s.cfg.Validators] {
		if z.behave != Revealer || z.down {
			continue
		}
		s.revealed[pk] = true
		mine := lbft.Vote{Kind: lbft.Prepare, Height: pk.h, Round: pk.r, Value: pk.x, Signer: z.id}
		mine.Sig = s.sign(z.id, mine.Digest())
		votes := append(append([]lbft.Vote{}, s.prepVotes[pk][:2*s.f()]...), mine)
		var honest []int
		for _, n := range s.nodes[:s.cfg.Validators] {
			if n.behave == Honest {
				honest = append(honest, n.id)
			}
		}
		to := honest[s.rng.IntN(len(honest))]
		m := lbft.Message{Type: lbft.MsgPrepare, Height: pk.h, Round: pk.r, Value: pk.x, Votes: votes, To: to}
		s.logf("node %d reveals the certificate of h=%d r=%d x=%s to %d", z.id, pk.h, pk.r, pk.x.Short(), to)
		env := &Envelope{From: z.id, To: to, Msg: m, At: s.now + s.delay(s.now) + s.rng.Int64N(s.cfg.Timeout)}
		s.push(event{at: env.At, kind: evMsg, env: env})
		return
	}
}

// equivocate sends half the validators the coordinator's justification
// and the other half 2f+1 empty reports naming the impeach block, when it
// has seen that many.
func (s *Sim) equivocate(n *node, m lbft.Message) {
	var empties []lbft.Report
	for who := 0; who < s.cfg.Validators && len(empties) < 2*s.f()+1; who++ {
		if r := s.reports[prepKey{m.Height, m.Round, lbft.Hash{}}][who]; r != nil && r.Report.Empty() {
			empties = append(empties, *r.Report)
		}
	}
	alt := m
	if len(empties) == 2*s.f()+1 {
		alt.Justification, alt.Cert = empties, nil
		alt.Value = s.impeachHash(n)
		s.logf("node %d equivocates as coordinator of h=%d r=%d", n.id, m.Height, m.Round)
	}
	for i, to := range s.recipients(n.id, m) {
		if i%2 == 1 {
			s.deliverTo(n.id, to, alt)
		} else {
			s.deliverTo(n.id, to, m)
		}
	}
}

func (s *Sim) recipients(from int, m lbft.Message) []int {
	if m.To != lbft.Broadcast {
		return []int{m.To}
	}
	var to []int
	for i := 0; i < s.cfg.Validators; i++ {
		if i != from {
			to = append(to, i)
		}
	}
	return to
}

// garbage sends a malformed or misleading message after each real one.
func (s *Sim) garbage(n *node, m lbft.Message) {
	h := m.Height + uint64(s.rng.IntN(3)) - 1
	r := uint32(s.rng.IntN(4))
	x := lbft.Hash{byte(s.rng.IntN(256)), 2}
	g := lbft.Message{Type: lbft.MsgType(s.rng.IntN(9)), Height: h, Round: r, Value: x}
	switch s.rng.IntN(6) {
	case 0: // badly signed votes
		g.Votes = []lbft.Vote{{Kind: lbft.Prepare, Height: h, Round: r, Value: x, Signer: s.rng.IntN(s.cfg.Validators), Sig: []byte("junk")}}
	case 1: // validly signed votes for random values
		v := lbft.Vote{Kind: lbft.VoteKind(1 + s.rng.IntN(2)), Height: h, Round: r, Value: x, Signer: n.id}
		v.Sig = s.sign(n.id, v.Digest())
		g.Votes = []lbft.Vote{v}
	case 2: // a report claiming a certificate it does not carry
		rep := lbft.Report{Height: h, Round: r + 1, Signer: n.id, CertRound: int64(r), CertValue: x}
		rep.Sig = s.sign(n.id, rep.Digest())
		g.Type, g.Report = lbft.MsgImpeachPrepare, &rep
	case 3: // a block with a forged certificate
		g.Type = lbft.MsgValidate
		g.Block = &lbft.Block{Height: h, Parent: n.core.Head().Hash(), Commits: []lbft.Vote{{Kind: lbft.Commit, Height: h, Signer: 0, Sig: []byte("x")}}}
	case 4: // a justification of too few reports
		g.Type = lbft.MsgImpeachPreprepare
		g.Justification = []lbft.Report{{Height: h, Round: r, Signer: n.id}}
	case 5: // fields missing
		g.Block, g.Report, g.Cert = nil, nil, &lbft.Cert{}
	}
	s.route(n.id, g)
}

// doubleVote is a broken validator's second prepare in a round: for
// another value than the one it just prepared, signed and sent.
func (s *Sim) doubleVote(n *node, m lbft.Message) {
	alt := s.impeachHash(n)
	if alt == m.Value {
		alt = lbft.Hash{0xdb, byte(m.Round)}
	}
	v := lbft.Vote{Kind: lbft.Prepare, Height: m.Height, Round: m.Round, Value: alt, Signer: n.id}
	v.Sig = s.sign(n.id, v.Digest())
	s.signed(n.id, &v)
	s.route(n.id, lbft.Message{Type: lbft.MsgPrepare, To: lbft.Broadcast, Height: m.Height, Round: m.Round, Value: alt, Votes: []lbft.Vote{v}})
}
