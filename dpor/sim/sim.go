// Package sim is a deterministic simulator for the LBFT core: a seeded
// in-process network (drops, delays, reordering, duplicates, partitions,
// crashes and restarts before a global stabilization time, GST; bounded
// delays after it) driving N validator cores, proposers and a civilian,
// with byzantine proposers (silent, equivocating, invalid) and up to f
// byzantine validators (silent, double-signing, sending garbage). After
// every step it checks the safety invariants; at the end, liveness. A run
// is a function of its Config: a failing seed replays exactly, and its
// trace says what happened.
//
// With Config.Chain the cores run on the real chain (dpor/chain): Ed25519
// validator and proposer keys in a real genesis, votes signed and verified
// as dpor/node wires them, proposers building blocks from a seeded
// workload of signed transfers (some invalid), validators checking
// proposals with TryProposal on their own state, impeach bodies from
// ImpeachBody, and final blocks applied as dpor/node's insert does. Every
// node keeps its own chain state and blocks, which is what it restarts
// from. An independent checker verifies every final block's commit
// signatures itself and re-executes each final block on a reference state
// that only it updates; every node's state after each height must equal
// the reference's. Without Config.Chain, bodies are strings and
// signatures MACs, which is cheaper and drives the same consensus.
package sim

import (
	"container/heap"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/kv"
)

// Behaviour is how a byzantine validator misbehaves.
type Behaviour int

// Validator behaviours.
const (
	Honest Behaviour = iota
	// Silent sends nothing.
	Silent
	// DoubleSign runs the protocol but sends each recipient a vote, at
	// random, for what it voted or for another value, and reports that
	// differ between recipients.
	DoubleSign
	// Garbage sends malformed and badly signed messages, and validly
	// signed votes for random rounds and values.
	Garbage
	// Equivocator, as a round's coordinator, sends half the validators
	// its justification and the other half another valid one (2f+1 empty
	// reports, for the impeach block) whenever it has seen enough.
	Equivocator
	// Revealer completes every prepare certificate it can (2f honest
	// prepares and its own) and shows it to one honest validator only, late
	// (the safety notes' S4 and cert-reveal-before-report).
	Revealer
)

var behaviourNames = []string{"honest", "silent", "double-sign", "garbage", "equivocating-coordinator", "revealer"}

func (b Behaviour) String() string { return behaviourNames[b] }

// ProposerBehaviour is how a proposer misbehaves.
type ProposerBehaviour int

// Proposer behaviours.
const (
	GoodProposer ProposerBehaviour = iota
	// SilentProposer never proposes.
	SilentProposer
	// TwoBlocks proposes two different valid blocks to different halves
	// of the validators.
	TwoBlocks
	// InvalidBlock proposes a block with a bad seal (with the real chain,
	// every other one carries an invalid transaction under a good seal
	// instead).
	InvalidBlock
)

var proposerNames = []string{"good", "silent", "two-blocks", "invalid-block"}

func (p ProposerBehaviour) String() string { return proposerNames[p] }

// Config describes one run.
type Config struct {
	Seed int64
	// Validators is n = 3f+1; Proposers take heights in turn.
	Validators, Proposers int
	// Heights is how many heights every honest node must decide.
	Heights uint64
	// Period, Timeout and Delta (the post-GST delay bound) in ms.
	Period, Timeout, Delta int64
	// GST is when the network becomes synchronous: before it messages
	// may be dropped (Drop), duplicated (Dup) or delayed up to MaxDelay,
	// nodes may crash and restart (Crashes), and the network may split
	// (Partitions).
	GST        int64
	Drop, Dup  float64
	MaxDelay   int64
	Crashes    bool
	Partitions bool
	// Byzantine validators and proposers.
	Byzantine map[int]Behaviour
	Proposer  map[int]ProposerBehaviour
	// Script, when set, replaces the random network with a per-message
	// decision (used by the named schedules).
	Script func(s *Sim, e *Envelope) Verdict

	// Chain runs the real chain (see the package comment).
	Chain bool
	// ViewLen is the genesis's view length with the real chain (default
	// 1): a term is Proposers × ViewLen heights, and the proposers of the
	// next term are elected at its last height.
	ViewLen int
	// ForgedTxs (real chain): the invalid transaction an InvalidBlock
	// proposer adds always has a forged signature, at the nonce its
	// account has after the block's other transactions (so the signature
	// is all that is wrong with it).
	ForgedTxs bool
	// Restarts are planned crashes, of one node or of every node at once,
	// at a time or at a point of storing a final block. A node restarts
	// from what it persisted: its blocks (and chain state) and its vote
	// record.
	Restarts []Restart
	// CrashAllAnywhere lets a crash of every node come while validators
	// have prepared a proposer's block that no node has stored as final
	// yet: the validators stored its body with their vote records, and
	// Restore gives it back (see TestCrashAllKeepsPreparedBody). Without
	// it such a crash waits until a node stores the block.
	CrashAllAnywhere bool
	// Break injects a fault into an honest core or driver. It exists for
	// the invariants' self-tests, which show each invariant firing; an
	// honest run leaves it NoFault.
	Break Fault
}

// CrashPoint is where, in storing a final block, a planned crash happens.
// The driver (as dpor/node's drain) handles a Ready that decides a height
// in this order: store each final block with its state, the last one in
// one atomic batch with the Ready's vote record (the next height's), send
// the messages, ask for fetches, then call Advance.
type CrashPoint int

// Crash points.
const (
	// AtTime crashes at Restart.At, whatever the node is doing.
	AtTime CrashPoint = iota
	// BeforePersist crashes on the Ready that carries the final block,
	// before any of it is done: the block is lost and must be fetched
	// again; the vote record is the one persisted before.
	BeforePersist
	// BeforeStore crashes just before the batch that stores the block
	// and the next height's record. (dpor/node once persisted the record
	// first: a crash here forgot the votes cast at the decided height;
	// see TestCrashBetweenPersistAndStore.)
	BeforeStore
	// BeforeSend crashes after the block is stored, before the Ready's
	// messages are sent and before Advance.
	BeforeSend
	// BeforeAdvance crashes after the messages are sent, before Advance.
	BeforeAdvance
)

var crashPointNames = []string{"at-time", "before-persist", "before-store", "before-send", "before-advance"}

func (p CrashPoint) String() string { return crashPointNames[p] }

// Restart is a planned crash and restart.
type Restart struct {
	// Node crashes, or every node when All.
	Node int
	All  bool
	// At is the time of an AtTime crash. Otherwise the crash comes when
	// Node reaches Point in storing final block Height (with All, the
	// others crash wherever they are).
	At     int64
	Height uint64
	Point  CrashPoint
	// Down is how long the crashed nodes stay down (ms, at least 1).
	Down int64

	fired bool
}

func (r Restart) String() string {
	who := fmt.Sprint("node ", r.Node)
	if r.All {
		who = "all"
	}
	if r.Point == AtTime {
		return fmt.Sprintf("%s at t=%d for %d ms", who, r.At, r.Down)
	}
	if r.All {
		who = fmt.Sprintf("all when node %d", r.Node)
	}
	return fmt.Sprintf("%s at %s of block %d for %d ms", who, r.Point, r.Height, r.Down)
}

// Fault is a deliberately broken core or driver, for the self-tests.
type Fault int

// Faults.
const (
	NoFault Fault = iota
	// StaleImpeach: every driver calls Advance as soon as a block is
	// final and stores it Period + 2·Timeout later (a slow disk), and
	// builds impeach bodies from its committed state without checking it
	// is at the parent (dpor/node before the Advance contract).
	StaleImpeach
	// ForgedCommit: validator 0's core inserts blocks whose first commit
	// signature is forged.
	ForgedCommit
	// DuplicateSigner: validator 0's core inserts blocks whose
	// certificate repeats one signer's commit vote.
	DuplicateSigner
	// DoubleVote: validator 0 signs, with each prepare vote, a second
	// prepare of the same round for another value, and sends both.
	DoubleVote
	// DivergeState: validator 0's driver credits a workload account with
	// one coin too many when it stores block 2.
	DivergeState
	// ForgetRecord: validator 0's driver never persists its vote record.
	ForgetRecord
	// ForgetBodies: no driver stores the blocks its vote record names
	// (dpor/node before persistVotes).
	ForgetBodies
	// SkipSignatures (real chain): no validator checks the signatures of
	// a proposal's transactions (a share of the checks too small to
	// cover every quorum, see chain.SigShare). With ForgedTxs, the
	// checker's re-execution of final blocks catches it.
	SkipSignatures
)

var faultNames = []string{"none", "stale-impeach", "forged-commit", "duplicate-signer", "double-vote", "diverge-state", "forget-record", "forget-bodies", "skip-signatures"}

func (f Fault) String() string { return faultNames[f] }

// Verdict is a script's decision on a message.
type Verdict struct {
	Drop  bool
	Delay int64 // added to the base delay
}

// Envelope is a message in flight.
type Envelope struct {
	At   int64
	To   int // node index
	From int
	Msg  lbft.Message
}

// node indices: validators 0..n-1, proposers n..n+P-1, one civilian last.
type node struct {
	id   int
	core *lbft.Core
	rec  *lbft.VoteRecord // persisted vote record
	// bodies are the blocks persisted with rec (for height bodiesAt).
	bodies   map[lbft.Hash]*lbft.Block
	bodiesAt uint64
	chain    []*lbft.Block // persisted final blocks, genesis first
	down     bool
	epoch    int // crashes so far: a restart is for the latest crash
	behave   Behaviour
	// invariants state
	lastRound  map[uint64]uint32
	lastHigh   map[uint64]int64
	proposedAt uint64  // volatile, as dpor/node's
	decidedAt  []int64 // time each height was stored

	// With the real chain: the node's keys, its persisted chain state,
	// and (volatile) the proposals it validated with their state changes.
	key   ed25519.PrivateKey
	addr  chain.Address
	state *kv.Mem
	tried map[lbft.Hash]*chain.Overlay
	// stores are final blocks a StaleImpeach driver has yet to store.
	stores []*lbft.Block
}

// Sim is a running simulation.
type Sim struct {
	cfg     Config
	rng     *rand.Rand
	now     int64
	queue   eventQueue
	seq     uint64
	nodes   []*node
	genesis *lbft.Block
	lcfg    lbft.Config // the string mode's core configuration
	keys    [][]byte    // the string mode's MAC keys
	w       *world      // the real chain
	check   *checker
	// quiet is when the last fault ends: GST, or the last restart after
	// it.
	quiet    int64
	restarts []Restart
	// pendingAll are the downtimes of crashes of every node that wait for
	// a stored block (see CrashAllAnywhere).
	pendingAll []int64
	impeachAt  map[uint64]lbft.Hash // the impeach block's hash at each height
	// safety bookkeeping
	final     map[uint64]lbft.Hash
	votes     map[voteKey]lbft.Hash // honest validators' votes
	honestP   map[prepKey]map[int]bool
	honestC   map[prepKey]map[int]bool
	trace     []string
	sent      map[sentKey]int
	reports   map[prepKey]map[int]*lbft.Message // IMPEACH-PREPAREs seen, by (height, round)
	prepVotes map[prepKey][]lbft.Vote           // honest prepare votes seen
	revealed  map[prepKey]bool
	signCache map[string][]byte // byzantine signatures (Ed25519 is deterministic)
	err       error
	// Stats of the run.
	Stats Stats
}

// Stats summarizes a run.
type Stats struct {
	Messages, Dropped int
	Impeached         int
	MaxRound          uint32
	End               int64
	// Restarts counts node restarts; Txs the transactions in final
	// blocks, Failed those of them that failed when they ran, and
	// Rejected those a proposer's Build left out (real chain).
	Restarts, Txs, Failed, Rejected int
	// CrashAlls counts crashes of every node at once; PointCrashes the
	// planned crashes at each CrashPoint (of one node or all), and
	// BoundaryCrashes those at the last or first block of a term.
	CrashAlls       int
	PointCrashes    [5]int
	BoundaryCrashes int
}

type voteKey struct {
	who  int
	kind lbft.VoteKind
	h    uint64
	r    uint32
}

type prepKey struct {
	h uint64
	r uint32
	x lbft.Hash
}

func (s *Sim) f() int { return (s.cfg.Validators - 1) / 3 }

func (s *Sim) civilian() int { return s.cfg.Validators + s.cfg.Proposers }

// New builds a simulation.
func New(cfg Config) (*Sim, error) {
	if cfg.Validators < 4 || (cfg.Validators-1)%3 != 0 {
		return nil, fmt.Errorf("sim: %d validators, want 3f+1 ≥ 4", cfg.Validators)
	}
	byz := 0
	for _, b := range cfg.Byzantine {
		if b != Honest {
			byz++
		}
	}
	if byz > (cfg.Validators-1)/3 {
		return nil, fmt.Errorf("sim: %d byzantine validators, more than f", byz)
	}
	if cfg.Proposers < 1 {
		cfg.Proposers = 1
	}
	if cfg.Delta <= 0 {
		cfg.Delta = 10
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 4 * cfg.Timeout
	}
	if cfg.ViewLen <= 0 {
		cfg.ViewLen = 1
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		final: map[uint64]lbft.Hash{}, votes: map[voteKey]lbft.Hash{},
		honestP: map[prepKey]map[int]bool{}, honestC: map[prepKey]map[int]bool{}, sent: map[sentKey]int{}, reports: map[prepKey]map[int]*lbft.Message{},
		prepVotes: map[prepKey][]lbft.Vote{}, revealed: map[prepKey]bool{}, signCache: map[string][]byte{},
		quiet: cfg.GST, impeachAt: map[uint64]lbft.Hash{}}
	s.restarts = append([]Restart(nil), cfg.Restarts...)
	total := cfg.Validators + cfg.Proposers + 1
	if cfg.Chain {
		if err := s.setupChain(); err != nil {
			return nil, err
		}
	} else {
		for i := 0; i < total; i++ {
			k := sha256.Sum256([]byte(fmt.Sprintf("sim-key-%d-%d", cfg.Seed, i)))
			s.keys = append(s.keys, k[:])
		}
		s.genesis = &lbft.Block{Height: 0, Time: 0, Body: []byte("genesis")}
		s.lcfg = lbft.Config{N: cfg.Validators, Period: cfg.Period, Timeout: cfg.Timeout,
			Verify:        func(i int, d lbft.Hash, sig []byte) bool { return string(s.mac(i, d)) == string(sig) },
			CheckProposal: s.checkProposal,
			ImpeachBody:   impeachBody,
		}
	}
	s.check = newChecker(s)
	for i := 0; i < total; i++ {
		n := &node{id: i, chain: []*lbft.Block{s.genesis}, lastRound: map[uint64]uint32{}, lastHigh: map[uint64]int64{}}
		if i < cfg.Validators {
			n.behave = cfg.Byzantine[i]
		}
		if cfg.Chain {
			s.initNode(n)
		}
		s.nodes = append(s.nodes, n)
		s.boot(n)
	}
	return s, nil
}

// impeachBody is the deterministic penalty the impeach block carries: it
// names the proposer whose turn it was.
func impeachBody(parent *lbft.Block) []byte {
	return binary.BigEndian.AppendUint64([]byte("penalty:"), parent.Height+1)
}

func (s *Sim) mac(i int, d lbft.Hash) []byte {
	h := sha256.New()
	h.Write(s.keys[i])
	h.Write(d[:])
	return h.Sum(nil)[:16]
}

// sign is validator i's signature over d, for the byzantine behaviours
// (honest cores sign through their Config).
func (s *Sim) sign(i int, d lbft.Hash) []byte {
	if s.w == nil {
		return s.mac(i, d)
	}
	k := string(d[:]) + string(rune(i))
	if sig, ok := s.signCache[k]; ok {
		return sig
	}
	sig := ed25519.Sign(s.w.keys[i], d[:])
	s.signCache[k] = sig
	return sig
}

// impeachHash is the hash of the impeach block after n's head as n
// builds it, for the byzantine behaviours.
func (s *Sim) impeachHash(n *node) lbft.Hash {
	head := n.core.Head()
	cfg := s.lcfg
	if s.w != nil {
		cfg = lbft.Config{Period: s.cfg.Period, Timeout: s.cfg.Timeout, ImpeachBody: func(parent *lbft.Block) []byte {
			body, _ := s.w.chain.ImpeachBody(n.state, parent)
			return body
		}}
	}
	return lbft.ImpeachBlock(&cfg, head).Hash()
}

// proposerOf is the proposer node of height h in the string mode.
func (s *Sim) proposerOf(h uint64) int { return s.cfg.Validators + int((h-1)%uint64(s.cfg.Proposers)) }

// proposerNode is the node whose turn height h was: with the real chain,
// as the checker's reference state says.
func (s *Sim) proposerNode(h uint64) int {
	if s.w != nil {
		return s.w.byAddr[s.check.proposer[h]]
	}
	return s.proposerOf(h)
}

func (s *Sim) checkProposal(b, parent *lbft.Block) error {
	want := s.proposerOf(b.Height)
	if len(b.Proposer) != 1 || int(b.Proposer[0]) != want {
		return fmt.Errorf("block %d from proposer %v, not %d", b.Height, b.Proposer, want)
	}
	if string(b.Seal) != string(s.mac(want, b.Hash())) {
		return errors.New("bad seal")
	}
	return nil
}

// boot starts n's core from what it persisted, as dpor/node's load:
// lbft.New(cfg, head, rec).
func (s *Sim) boot(n *node) {
	var cfg lbft.Config
	if s.w != nil {
		cfg = s.nodeConfig(n)
		n.tried = map[lbft.Hash]*chain.Overlay{}
		s.check.booted(n)
	} else {
		cfg = s.lcfg
		cfg.Self = -1
		if n.id < s.cfg.Validators {
			cfg.Self = n.id
			id := n.id
			cfg.Sign = func(d lbft.Hash) []byte { return s.mac(id, d) }
		}
	}
	head := n.chain[len(n.chain)-1]
	c, err := lbft.New(cfg, head, n.rec)
	if err != nil {
		panic(err)
	}
	for _, b := range n.bodies {
		c.Restore(b)
	}
	n.core = c
	n.down = false
	c.Tick(s.now)
	s.drain(n)
}

// Trace is the run's event log.
func (s *Sim) Trace() []string { return s.trace }

func (s *Sim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("t=%d ", s.now)+fmt.Sprintf(format, args...))
}

func (s *Sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("t=%d: "+format, append([]any{s.now}, args...)...)
		s.logf("VIOLATION: %v", s.err)
	}
}

// events

type eventKind int

const (
	evMsg eventKind = iota
	evWake
	evCrash
	evBoot
	evStore // a StaleImpeach driver stores a block, late
)

type event struct {
	at    int64
	seq   uint64
	kind  eventKind
	node  int
	env   *Envelope
	epoch int   // evBoot: the crash it ends
	down  int64 // evCrash: how long
	all   bool  // evCrash: every node
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func (s *Sim) push(e event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.queue, e)
}

// delay draws a message delay.
func (s *Sim) delay(at int64) int64 {
	if at >= s.cfg.GST {
		return 1 + s.rng.Int64N(s.cfg.Delta)
	}
	return 1 + s.rng.Int64N(s.cfg.MaxDelay)
}

func (s *Sim) partitioned(a, b int) bool {
	if !s.cfg.Partitions || s.now >= s.cfg.GST {
		return false
	}
	// The network splits in the middle third of the pre-GST period.
	if s.now < s.cfg.GST/3 || s.now > 2*s.cfg.GST/3 {
		return false
	}
	side := func(i int) bool { return i%2 == 0 }
	return side(a) != side(b)
}

func (s *Sim) deliverTo(from, to int, m lbft.Message) {
	env := &Envelope{From: from, To: to, Msg: m}
	base := s.delay(s.now)
	if s.cfg.Script != nil {
		v := s.cfg.Script(s, env)
		if v.Drop {
			s.Stats.Dropped++
			return
		}
		base += v.Delay
	} else if s.now < s.cfg.GST {
		if s.rng.Float64() < s.cfg.Drop || s.partitioned(from, to) {
			s.Stats.Dropped++
			return
		}
		if s.rng.Float64() < s.cfg.Dup {
			s.push(event{at: s.now + s.delay(s.now), kind: evMsg, env: &Envelope{From: from, To: to, Msg: m}})
		}
	}
	env.At = s.now + base
	s.push(event{at: env.At, kind: evMsg, env: env})
	s.Stats.Messages++
}

// route sends a core's message to its recipients.
func (s *Sim) route(from int, m lbft.Message) {
	var to []int
	if m.To != lbft.Broadcast {
		to = []int{m.To}
	} else {
		for i := 0; i < s.cfg.Validators; i++ {
			if i != from {
				to = append(to, i)
			}
		}
		if m.Type == lbft.MsgValidate {
			for i := s.cfg.Validators; i < len(s.nodes); i++ {
				if i != from {
					to = append(to, i)
				}
			}
		}
	}
	for _, t := range to {
		s.deliverTo(from, t, m)
	}
}
