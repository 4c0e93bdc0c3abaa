package lbft

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Config is what a Core needs to know.
type Config struct {
	// Self is this node's index among the validators, or -1 for a node
	// that does not vote (a proposer or a civilian): it only inserts
	// blocks that carry a commit certificate.
	Self int
	// N is the number of validators, 3f+1.
	N int
	// Period is the minimum block interval and Timeout the impeach
	// timeout, in milliseconds. Round 0 at height h ends at
	// parent.Time + Period + Timeout; round r ≥ 1 lasts Timeout·(1 + r/2).
	Period, Timeout int64
	// Resend is how often (ms) the latest messages of the current round
	// are sent again, to repair losses (default Timeout/2).
	Resend int64
	// Sign signs a digest with this node's validator key.
	Sign func(digest Hash) []byte
	// Verify checks validator signer's signature over digest.
	Verify func(signer int, digest Hash, sig []byte) bool
	// CheckProposal validates a proposer's block on its parent: the
	// proposer's turn and seal, and the body. nil accepts every block.
	// The core checks the height, the parent link and the timestamp
	// window itself.
	CheckProposal func(b, parent *Block) error
	// ImpeachBody builds the body of the impeach block on parent. It must
	// be a pure function: every honest validator builds the same block.
	ImpeachBody func(parent *Block) []byte
}

// F is the number of faulty validators tolerated.
func (c *Config) F() int { return (c.N - 1) / 3 }

// Quorum is 2f+1.
func (c *Config) Quorum() int { return 2*c.F() + 1 }

// Coordinator is the validator that coordinates round r ≥ 1 at height h.
func (c *Config) Coordinator(h uint64, r uint32) int { return int((h + uint64(r)) % uint64(c.N)) }

func (c *Config) validate() error {
	switch {
	case c.N < 1 || (c.N-1)%3 != 0:
		return fmt.Errorf("lbft: %d validators; want 3f+1", c.N)
	case c.Self < -1 || c.Self >= c.N:
		return fmt.Errorf("lbft: self %d out of range", c.Self)
	case c.Period < 0 || c.Timeout <= 0:
		return errors.New("lbft: period and timeout must be positive")
	case c.Verify == nil || c.Self >= 0 && c.Sign == nil:
		return errors.New("lbft: Sign and Verify are required")
	}
	return nil
}

// VoteRecord is what a validator must keep across restarts for the
// height it is deciding: it is the double-sign guard. Ready.Persist
// carries it whenever it changes; persist it (durably) before sending
// that Ready's messages.
type VoteRecord struct {
	Height    uint64
	Round     uint32
	Prepared  map[uint32]Hash
	Committed map[uint32]Hash
	// HighCert is the highest-round prepare certificate seen.
	HighCert *Cert
	// Justified records the rounds this validator sent a coordinator's
	// justification for.
	Justified map[uint32]bool
}

func newRecord(h uint64) VoteRecord {
	return VoteRecord{Height: h, Prepared: map[uint32]Hash{}, Committed: map[uint32]Hash{}, Justified: map[uint32]bool{}}
}

func (r *VoteRecord) clone() *VoteRecord {
	c := *r
	c.Prepared = maps(r.Prepared)
	c.Committed = maps(r.Committed)
	c.Justified = make(map[uint32]bool, len(r.Justified))
	for k, v := range r.Justified {
		c.Justified[k] = v
	}
	return &c
}

func maps(m map[uint32]Hash) map[uint32]Hash {
	c := make(map[uint32]Hash, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Fetch asks the driver for the final blocks from height From on, from
// Peer (which showed it has them), to be fed back as VALIDATE messages
// in height order.
type Fetch struct {
	Peer int
	From uint64
}

// Ready is what a Core asks its driver to do.
type Ready struct {
	// Persist, when not nil, must be stored durably before Messages are
	// sent.
	Persist *VoteRecord
	// Messages to send: To is a validator index or Broadcast.
	Messages []Message
	// Insert are final blocks, in height order, each with its commit
	// certificate. Once they are durably stored (with the state they
	// produce), the driver calls Advance; until then the core does not
	// start the next height. A driver that cannot store a final block
	// must stop: it never calls Advance past it.
	Insert []*Block
	// Fetch asks for missing final blocks.
	Fetch []Fetch
	// Wake is the time (ms) by which Tick should be called next.
	Wake int64
}

// Empty tells whether there is nothing to do but wait until Wake.
func (r *Ready) Empty() bool {
	return r.Persist == nil && len(r.Messages) == 0 && len(r.Insert) == 0 && len(r.Fetch) == 0
}

type vkey struct {
	round uint32
	value Hash
}

type reportEntry struct {
	rep  Report
	cert *Cert
}

// Core is one node's consensus state machine. It is not safe for
// concurrent use; the driver serializes calls.
type Core struct {
	cfg  Config
	head *Block // the last final block: the parent of the height being decided
	rec  VoteRecord
	now  int64

	started    bool
	roundStart int64
	dirty      bool
	out        Ready

	prepares map[vkey]map[int]Vote
	commits  map[vkey]map[int]Vote
	reports  map[uint32]map[int]reportEntry
	seen     map[uint32]map[int]bool // rounds in which a validator was heard
	blocks   map[Hash]*Block         // bodies known at this height
	impeach  *Block
	impeachH Hash
	// settle is set when a height was decided: the next height waits
	// until the driver reports the block stored (Advance).
	settle   bool
	pending  []*Block // proposals whose time has not come
	justify  map[uint32]*Message
	future   []Message
	verified map[string]bool
	helped   map[int]int64
	fetching int64
	// own is this node's proposal (a proposer's core), sent again every
	// Resend while its height is undecided.
	own *Block
	// last messages of the current round, sent again every Resend.
	nextResend int64
	wantBody   map[Hash]bool
}

// maxFuture bounds the messages kept for heights not reached yet.
const maxFuture = 4096

// maxRoundJump bounds how far ahead of its round a validator listens:
// votes and reports for rounds further ahead are dropped, so a byzantine
// validator cannot fill memory with far rounds.
const maxRoundJump = 256

// New returns a core deciding the height after head (the last final block,
// or genesis). rec, when not nil, is the vote record persisted before a
// restart; it is used when it is for that height.
func New(cfg Config, head *Block, rec *VoteRecord) (*Core, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if head == nil {
		return nil, errors.New("lbft: no head block")
	}
	if cfg.Resend <= 0 {
		cfg.Resend = max(cfg.Timeout/2, 1)
	}
	c := &Core{cfg: cfg, head: head}
	c.startHeight()
	if rec != nil && rec.Height == c.rec.Height {
		c.rec = *rec.clone()
	}
	return c, nil
}

// Head is the last final block.
func (c *Core) Head() *Block { return c.head }

// Height is the height being decided.
func (c *Core) Height() uint64 { return c.head.Height + 1 }

// Round is the current round at Height.
func (c *Core) Round() uint32 { return c.rec.Round }

// Record is the current vote record (a copy).
func (c *Core) Record() VoteRecord { return *c.rec.clone() }

// ImpeachBlock is the impeach block every honest validator builds for
// the height after parent.
func ImpeachBlock(cfg *Config, parent *Block) *Block {
	b := &Block{Height: parent.Height + 1, Parent: parent.Hash(), Time: parent.Time + cfg.Period + cfg.Timeout, Impeach: true}
	if cfg.ImpeachBody != nil {
		b.Body = cfg.ImpeachBody(parent)
	}
	return b
}

func (c *Core) startHeight() {
	c.rec = newRecord(c.head.Height + 1)
	c.prepares = map[vkey]map[int]Vote{}
	c.commits = map[vkey]map[int]Vote{}
	c.reports = map[uint32]map[int]reportEntry{}
	c.seen = map[uint32]map[int]bool{}
	c.blocks = map[Hash]*Block{}
	c.justify = map[uint32]*Message{}
	c.verified = map[string]bool{}
	c.wantBody = map[Hash]bool{}
	c.pending = nil
	c.impeach = nil // built on first use, once the driver has inserted the head
	c.roundStart = c.now
	c.nextResend = c.now + c.cfg.Resend
}

// impeachBlock is the height's impeach block. It is built on first use,
// which comes after the driver has inserted the head (a core that
// decides a height does nothing more for the next one until it is called
// again): ImpeachBody may read the state the head produced.
func (c *Core) impeachBlock() *Block {
	if c.impeach == nil {
		c.impeach = ImpeachBlock(&c.cfg, c.head)
		c.impeachH = c.impeach.Hash()
		c.blocks[c.impeachH] = c.impeach
	}
	return c.impeach
}

func (c *Core) impeachHash() Hash {
	c.impeachBlock()
	return c.impeachH
}

// deadline is when the current round's timer fires. Round 0 waits
// Timeout past the block's earliest time, or past the moment this core
// began the height when that is later (after a restart, or when the
// parent took long to store), so a proposer always gets Timeout to be
// heard.
func (c *Core) deadline() int64 {
	if c.rec.Round == 0 {
		return max(c.head.Time+c.cfg.Period, c.roundStart) + c.cfg.Timeout
	}
	return c.roundStart + c.cfg.Timeout + c.cfg.Timeout*int64(c.rec.Round)/2
}

func (c *Core) advance(now int64) {
	if !c.started {
		c.started = true
		c.roundStart = now
		c.nextResend = now + c.cfg.Resend
	}
	if now > c.now {
		c.now = now
	}
}

// Tick tells the core the time is now (ms): timers fire, waiting
// proposals become due, and the current round's messages are sent again
// every Resend.
func (c *Core) Tick(now int64) {
	c.advance(now)
	c.fire()
}

// Advance tells the core that the blocks of the Ready's Insert are
// durably stored, with the state they produce: the next height starts
// now (etcd raft's Advance). Until it is called, the core keeps what it
// receives for the next height and builds nothing on the new head, so
// callbacks that read the driver's state (CheckProposal, ImpeachBody)
// always see the state at the head.
func (c *Core) Advance(now int64) {
	c.advance(now)
	if !c.settle {
		return
	}
	c.settle = false
	c.roundStart = c.now
	c.nextResend = c.now + c.cfg.Resend
	c.replayFuture()
	c.evaluate()
	c.fire()
}

// Body returns the block of hash x this core holds at its height (a
// proposal it checked, or the impeach block once built), or nil. A driver
// stores the bodies its vote record names, so that after a restart it can
// Restore them.
func (c *Core) Body(x Hash) *Block { return c.blocks[x] }

// Restore hands a restarted core a block body it held before the restart:
// one its vote record names, stored by the driver with the record. The
// core can then decide it and give it to validators that ask for it
// (without it, a value every later round must decide could be lost with
// every node's memory). A body for another height is ignored; a body is
// only ever used under its own hash, so it needs no other check.
func (c *Core) Restore(b *Block) {
	if b == nil || b.Height != c.Height() || c.settle {
		return
	}
	b = b.WithoutCert()
	x := b.Hash()
	if _, ok := c.blocks[x]; !ok {
		c.blocks[x] = b
		delete(c.wantBody, x)
	}
}

// Settled tells whether a decided block waits for Advance.
func (c *Core) Settled() bool { return c.settle }

func (c *Core) fire() {
	if c.settle {
		return
	}
	for i := 0; i < 64 && !c.settle; i++ {
		h := c.Height()
		if len(c.pending) > 0 {
			due := c.pending[:0:0]
			var keep []*Block
			for _, b := range c.pending {
				if b.Time <= c.now {
					due = append(due, b)
				} else {
					keep = append(keep, b)
				}
			}
			c.pending = keep
			for _, b := range due {
				c.onProposal(b)
			}
		}
		if c.Height() == h && !c.settle && c.now >= c.deadline() && c.cfg.Self >= 0 {
			c.enterRound(c.rec.Round+1, true)
			c.evaluate()
		}
		if c.Height() == h {
			break
		}
	}
	if c.now >= c.nextResend {
		c.nextResend = c.now + c.cfg.Resend
		c.resend()
	}
}

// Propose hands the core a block this node proposes: it is sent to every
// validator.
func (c *Core) Propose(now int64, b *Block) {
	c.advance(now)
	c.send(Message{Type: MsgPreprepare, To: Broadcast, Height: b.Height, Value: b.Hash(), Block: b})
	switch {
	case b.Height != c.Height():
	case c.cfg.Self < 0:
		// A proposer's own block: kept to send again, and for its body
		// when the certificate comes.
		c.own = b.WithoutCert()
		c.blocks[c.own.Hash()] = c.own
	case c.settle:
		c.future = append(c.future, Message{Type: MsgPreprepare, From: c.cfg.Self, Height: b.Height, Value: b.Hash(), Block: b})
	default:
		c.onProposal(b)
	}
}

// Ready returns what the driver must do now, and clears it. Persist
// Ready.Persist before sending Ready.Messages.
func (c *Core) Ready() Ready {
	if c.dirty {
		c.out.Persist = c.rec.clone()
		c.dirty = false
	}
	r := c.out
	c.out = Ready{}
	r.Wake = c.nextResend
	if c.cfg.Self >= 0 {
		r.Wake = min(r.Wake, c.deadline())
	}
	for _, b := range c.pending {
		r.Wake = min(r.Wake, b.Time)
	}
	return r
}

func (c *Core) send(m Message) {
	m.From = c.cfg.Self
	c.out.Messages = append(c.out.Messages, m)
}

// Step handles a message received at time now. It returns an error
// saying why a message was dropped (malformed, badly signed, out of
// place); the core is unchanged by a dropped message.
func (c *Core) Step(now int64, m Message) error {
	c.advance(now)
	defer c.fire()
	h := c.Height()
	switch {
	case m.Height+1 == h && m.Type != MsgValidate && m.From >= 0 && m.From < c.cfg.N && m.From != c.cfg.Self:
		// A validator one height behind: hand it the block it misses.
		if last, ok := c.helped[m.From]; !ok || c.now-last >= c.cfg.Resend {
			if c.helped == nil {
				c.helped = map[int]int64{}
			}
			c.helped[m.From] = c.now
			c.send(Message{Type: MsgValidate, To: m.From, Height: c.head.Height, Round: c.head.Round, Value: c.head.Hash(), Block: c.head})
		}
		return nil
	case m.Height < h:
		return nil
	case m.Height > h:
		if len(c.future) < maxFuture {
			c.future = append(c.future, m)
		}
		if m.Type == MsgValidate || m.Height > h+1 {
			if m.From >= 0 && m.From < c.cfg.N && c.now >= c.fetching {
				c.fetching = c.now + c.cfg.Resend
				c.out.Fetch = append(c.out.Fetch, Fetch{Peer: m.From, From: h})
			}
		}
		return nil
	}
	if c.settle {
		// Decided, not yet stored: the new height starts at Advance.
		if len(c.future) < maxFuture {
			c.future = append(c.future, m)
		}
		return nil
	}
	err := c.handle(m)
	c.evaluate()
	return err
}

func (c *Core) handle(m Message) error {
	switch m.Type {
	case MsgPreprepare:
		if m.Block == nil {
			return errors.New("preprepare without a block")
		}
		return c.onProposal(m.Block)
	case MsgPrepare, MsgCommit:
		kind := Prepare
		if m.Type == MsgCommit {
			kind = Commit
			if m.Cert != nil {
				if err := c.addCert(m.Cert); err != nil {
					return fmt.Errorf("commit's certificate: %w", err)
				}
			}
		}
		if m.HighCert != nil {
			if err := c.addCert(m.HighCert); err != nil {
				return fmt.Errorf("high certificate: %w", err)
			}
		}
		for i := range m.Votes {
			if err := c.addVote(&m.Votes[i], kind); err != nil {
				return err
			}
		}
		return nil
	case MsgValidate:
		if m.Block == nil {
			return errors.New("validate without a block")
		}
		return c.onValidate(m.Block)
	case MsgImpeachPrepare:
		return c.onReport(m)
	case MsgImpeachPreprepare:
		return c.onJustification(m)
	case MsgGetBlock:
		if b := c.blocks[m.Value]; b != nil && !b.Impeach && m.From >= 0 && m.From != c.cfg.Self {
			c.send(Message{Type: MsgPreprepare, To: m.From, Height: b.Height, Value: m.Value, Block: b})
		}
		return nil
	}
	return fmt.Errorf("unknown message type %d", m.Type)
}

// verify checks a signature once per height.
func (c *Core) verify(signer int, d Hash, sig []byte) bool {
	if signer < 0 || signer >= c.cfg.N || len(sig) == 0 {
		return false
	}
	k := string(d[:]) + string(rune(signer)) + string(sig)
	if ok, done := c.verified[k]; done {
		return ok
	}
	ok := c.cfg.Verify(signer, d, sig)
	if len(c.verified) < 1<<16 {
		c.verified[k] = ok
	}
	return ok
}

func (c *Core) checkVote(v *Vote, kind VoteKind) error {
	switch {
	case v.Kind != kind:
		return fmt.Errorf("a %s where a %s was due", v.Kind, kind)
	case v.Height != c.Height():
		return fmt.Errorf("vote for height %d at height %d", v.Height, c.Height())
	case !c.verify(v.Signer, v.Digest(), v.Sig):
		return fmt.Errorf("bad %s signature of validator %d", v.Kind, v.Signer)
	}
	return nil
}

func (c *Core) addVote(v *Vote, kind VoteKind) error {
	if v.Round > c.rec.Round+maxRoundJump {
		return fmt.Errorf("vote for round %d, far ahead of round %d", v.Round, c.rec.Round)
	}
	if err := c.checkVote(v, kind); err != nil {
		return err
	}
	set := c.prepares
	if kind == Commit {
		set = c.commits
	}
	k := vkey{v.Round, v.Value}
	if set[k] == nil {
		set[k] = map[int]Vote{}
	}
	if _, ok := set[k][v.Signer]; !ok {
		set[k][v.Signer] = *v
	}
	c.markSeen(v.Round, v.Signer)
	return nil
}

func (c *Core) markSeen(r uint32, who int) {
	if who < 0 {
		return
	}
	if c.seen[r] == nil {
		c.seen[r] = map[int]bool{}
	}
	c.seen[r][who] = true
}

// checkCert verifies a prepare certificate for the current height.
func (c *Core) checkCert(cert *Cert) error {
	if cert.Kind != Prepare || cert.Height != c.Height() {
		return fmt.Errorf("not a prepare certificate for height %d", c.Height())
	}
	signers := map[int]bool{}
	for i := range cert.Votes {
		v := &cert.Votes[i]
		if v.Round != cert.Round || v.Value != cert.Value {
			return errors.New("certificate mixes votes")
		}
		if err := c.checkVote(v, Prepare); err != nil {
			return err
		}
		signers[v.Signer] = true
	}
	if len(signers) < c.cfg.Quorum() {
		return fmt.Errorf("certificate has %d signers, want %d", len(signers), c.cfg.Quorum())
	}
	return nil
}

// addCert verifies a prepare certificate, keeps its votes and adopts it
// as the highest when it is.
func (c *Core) addCert(cert *Cert) error {
	if err := c.checkCert(cert); err != nil {
		return err
	}
	for i := range cert.Votes {
		c.addVote(&cert.Votes[i], Prepare)
	}
	c.adopt(cert)
	return nil
}

func (c *Core) adopt(cert *Cert) {
	if c.cfg.Self < 0 {
		return
	}
	if c.rec.HighCert == nil || cert.Round > c.rec.HighCert.Round {
		c.rec.HighCert = cert
		c.dirty = true
	}
}

// certFor builds the certificate of (kind, r, x) from collected votes, or
// nil below quorum.
func (c *Core) certFor(kind VoteKind, r uint32, x Hash) *Cert {
	set := c.prepares
	if kind == Commit {
		set = c.commits
	}
	votes := set[vkey{r, x}]
	if len(votes) < c.cfg.Quorum() {
		return nil
	}
	cert := &Cert{Kind: kind, Height: c.Height(), Round: r, Value: x}
	for _, v := range votes {
		cert.Votes = append(cert.Votes, v)
	}
	sort.Slice(cert.Votes, func(i, j int) bool { return cert.Votes[i].Signer < cert.Votes[j].Signer })
	cert.Votes = cert.Votes[:c.cfg.Quorum()]
	return cert
}

func (c *Core) collected(kind VoteKind, r uint32, x Hash) []Vote {
	set := c.prepares
	if kind == Commit {
		set = c.commits
	}
	var out []Vote
	for _, v := range set[vkey{r, x}] {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Signer < out[j].Signer })
	return out
}

// checkProposal validates a proposer's block for the current height.
func (c *Core) checkProposal(b *Block) error {
	lo := c.head.Time + c.cfg.Period
	switch {
	case b.Impeach:
		return errors.New("a proposal marked impeach")
	case b.Height != c.Height():
		return fmt.Errorf("proposal for height %d at %d", b.Height, c.Height())
	case b.Parent != c.head.Hash():
		return errors.New("proposal on another parent")
	case b.Time < lo || b.Time > lo+c.cfg.Timeout:
		return fmt.Errorf("timestamp %d outside [%d, %d]", b.Time, lo, lo+c.cfg.Timeout)
	}
	if c.cfg.CheckProposal != nil {
		return c.cfg.CheckProposal(b.WithoutCert(), c.head)
	}
	return nil
}

func (c *Core) onProposal(b *Block) error {
	b = b.WithoutCert()
	x := b.Hash()
	if _, ok := c.blocks[x]; ok {
		return nil
	}
	if b.Time > c.now && b.Height == c.Height() && len(c.pending) < 16 {
		// Rules say a validator acts on a block only once its time has
		// come; keep it until then.
		for _, p := range c.pending {
			if p.Hash() == x {
				return nil
			}
		}
		c.pending = append(c.pending, b)
		return nil
	}
	if err := c.checkProposal(b); err != nil {
		// AC2: an invalid block ends round 0 at once.
		if c.cfg.Self >= 0 && c.rec.Round == 0 && b.Height == c.Height() {
			if _, voted := c.rec.Prepared[0]; !voted {
				c.enterRound(1, true)
			}
		}
		return fmt.Errorf("invalid proposal: %w", err)
	}
	c.blocks[x] = b
	delete(c.wantBody, x)
	if c.cfg.Self >= 0 && c.rec.Round == 0 {
		if _, voted := c.rec.Prepared[0]; !voted {
			c.prepare(0, x)
		}
	}
	return nil
}

func (c *Core) prepare(r uint32, x Hash) {
	c.rec.Prepared[r] = x
	c.dirty = true
	v := Vote{Kind: Prepare, Height: c.Height(), Round: r, Value: x, Signer: c.cfg.Self}
	v.Sig = c.cfg.Sign(v.Digest())
	c.addVote(&v, Prepare)
	c.sendPrepare(r, x)
}

func (c *Core) sendPrepare(r uint32, x Hash) {
	c.send(Message{Type: MsgPrepare, To: Broadcast, Height: c.Height(), Round: r, Value: x,
		Votes: c.collected(Prepare, r, x), HighCert: c.rec.HighCert})
}

func (c *Core) commit(r uint32, x Hash, pc *Cert) {
	c.rec.Committed[r] = x
	c.dirty = true
	v := Vote{Kind: Commit, Height: c.Height(), Round: r, Value: x, Signer: c.cfg.Self}
	v.Sig = c.cfg.Sign(v.Digest())
	c.addVote(&v, Commit)
	c.sendCommit(r, x, pc)
}

func (c *Core) sendCommit(r uint32, x Hash, pc *Cert) {
	m := Message{Type: MsgCommit, To: Broadcast, Height: c.Height(), Round: r, Value: x,
		Votes: c.collected(Commit, r, x), Cert: pc}
	if hc := c.rec.HighCert; hc != nil && hc != pc && (pc == nil || hc.Round > pc.Round) {
		m.HighCert = hc
	}
	c.send(m)
}

// enterRound moves to round r (rule 3 with report, rule 8 without).
func (c *Core) enterRound(r uint32, report bool) {
	if c.cfg.Self < 0 || r <= c.rec.Round || r > c.rec.Round+maxRoundJump {
		return
	}
	c.rec.Round = r
	c.roundStart = c.now
	c.dirty = true
	if report {
		c.sendReport(r)
	}
	if j := c.justify[r]; j != nil {
		c.follow(j)
	}
}

func (c *Core) sendReport(r uint32) {
	rep := Report{Height: c.Height(), Round: r, Signer: c.cfg.Self, CertRound: -1}
	hc := c.rec.HighCert
	if hc != nil {
		rep.CertRound, rep.CertValue = int64(hc.Round), hc.Value
	}
	rep.Sig = c.cfg.Sign(rep.Digest())
	m := Message{Type: MsgImpeachPrepare, To: Broadcast, Height: c.Height(), Round: r, Report: &rep, Cert: hc}
	if hc == nil {
		// An empty report is also a prepare vote for the impeach block.
		x := c.impeachHash()
		c.rec.Prepared[r] = x
		v := Vote{Kind: Prepare, Height: c.Height(), Round: r, Value: x, Signer: c.cfg.Self}
		v.Sig = c.cfg.Sign(v.Digest())
		c.addVote(&v, Prepare)
		m.Prepare = &v
		m.Value = x
	}
	c.storeReport(rep, hc)
	c.send(m)
}

func (c *Core) storeReport(rep Report, cert *Cert) {
	if c.reports[rep.Round] == nil {
		c.reports[rep.Round] = map[int]reportEntry{}
	}
	if _, ok := c.reports[rep.Round][rep.Signer]; !ok {
		c.reports[rep.Round][rep.Signer] = reportEntry{rep, cert}
	}
	c.markSeen(rep.Round, rep.Signer)
}

// checkReport verifies a report and the certificate it names.
func (c *Core) checkReport(rep *Report, cert *Cert) error {
	switch {
	case rep.Height != c.Height():
		return fmt.Errorf("report for height %d at %d", rep.Height, c.Height())
	case rep.Round == 0:
		return errors.New("report for round 0")
	case rep.Round > c.rec.Round+maxRoundJump:
		return fmt.Errorf("report for round %d, far ahead of round %d", rep.Round, c.rec.Round)
	case !c.verify(rep.Signer, rep.Digest(), rep.Sig):
		return fmt.Errorf("bad report signature of validator %d", rep.Signer)
	case rep.CertRound >= int64(rep.Round):
		return fmt.Errorf("report for round %d names a certificate of round %d", rep.Round, rep.CertRound)
	}
	if rep.Empty() {
		return nil
	}
	if cert == nil || int64(cert.Round) != rep.CertRound || cert.Value != rep.CertValue {
		return errors.New("report names a certificate it does not carry")
	}
	return c.checkCert(cert)
}

func (c *Core) onReport(m Message) error {
	if m.Report == nil {
		return errors.New("impeach prepare without a report")
	}
	rep := *m.Report
	if err := c.checkReport(&rep, m.Cert); err != nil {
		return err
	}
	if rep.Empty() {
		v := m.Prepare
		if v == nil || v.Round != rep.Round || v.Signer != rep.Signer || v.Value != c.impeachHash() {
			return errors.New("empty impeach prepare without its prepare vote for the impeach block")
		}
		if err := c.addVote(v, Prepare); err != nil {
			return err
		}
	} else {
		c.addCert(m.Cert)
	}
	c.storeReport(rep, m.Cert)
	return nil
}

// choose is the value 2f+1 reports justify: the value of the highest
// certificate among them, or the impeach block when none has one.
func (c *Core) choose(reps []Report, cert *Cert) (Hash, error) {
	best := int64(-1)
	var x Hash
	for _, r := range reps {
		if r.CertRound > best {
			best, x = r.CertRound, r.CertValue
		}
	}
	if best < 0 {
		return c.impeachHash(), nil
	}
	for _, r := range reps {
		if r.CertRound == best && r.CertValue != x {
			return Hash{}, errors.New("two certificates of one round")
		}
	}
	if cert == nil || int64(cert.Round) != best || cert.Value != x {
		return Hash{}, errors.New("justification lacks the certificate of its highest report")
	}
	if err := c.checkCert(cert); err != nil {
		return Hash{}, err
	}
	return x, nil
}

func (c *Core) onJustification(m Message) error {
	switch {
	case m.Round == 0:
		return errors.New("justification for round 0")
	case m.From != c.cfg.Coordinator(c.Height(), m.Round):
		return fmt.Errorf("justification for round %d from %d, not its coordinator", m.Round, m.From)
	case m.Round < c.rec.Round:
		if m.Cert != nil {
			c.addCert(m.Cert)
		}
		return nil
	}
	signers := map[int]bool{}
	for i := range m.Justification {
		r := &m.Justification[i]
		if r.Round != m.Round {
			return errors.New("justification mixes rounds")
		}
		// Certificates other than the highest travel only as claims: a
		// report's signature binds its signer to the claim.
		if r.Height != c.Height() || !c.verify(r.Signer, r.Digest(), r.Sig) || r.CertRound >= int64(r.Round) {
			return fmt.Errorf("bad report of validator %d in justification", r.Signer)
		}
		signers[r.Signer] = true
	}
	if len(signers) < c.cfg.Quorum() {
		return fmt.Errorf("justification has %d reports, want %d", len(signers), c.cfg.Quorum())
	}
	x, err := c.choose(m.Justification, m.Cert)
	if err != nil {
		return err
	}
	if x != m.Value {
		return errors.New("justification names another value than its reports")
	}
	if m.Cert != nil {
		c.addCert(m.Cert)
	}
	if c.justify[m.Round] == nil {
		mm := m
		c.justify[m.Round] = &mm
	}
	if c.cfg.Self < 0 {
		return nil
	}
	if m.Round > c.rec.Round {
		c.enterRound(m.Round, false) // follows the justification
		return nil
	}
	c.follow(&m)
	return nil
}

// follow prepares a justified value (rule 5).
func (c *Core) follow(m *Message) {
	if m.Round != c.rec.Round {
		return
	}
	if _, voted := c.rec.Prepared[m.Round]; voted {
		return
	}
	c.prepare(m.Round, m.Value)
	if _, ok := c.blocks[m.Value]; !ok {
		c.wantBody[m.Value] = true
	}
}

// coordinate sends the round's justification when this validator is its
// coordinator and holds 2f+1 reports (rule 4).
func (c *Core) coordinate() {
	r := c.rec.Round
	if c.cfg.Self < 0 || r == 0 || c.cfg.Coordinator(c.Height(), r) != c.cfg.Self || c.rec.Justified[r] {
		return
	}
	reps := c.reports[r]
	if len(reps) < c.cfg.Quorum() {
		return
	}
	var js []Report
	var best *Cert
	signers := make([]int, 0, len(reps))
	for who := range reps {
		signers = append(signers, who)
	}
	slices.Sort(signers)
	for _, who := range signers {
		e := reps[who]
		js = append(js, e.rep)
		if e.cert != nil && (best == nil || e.cert.Round > best.Round) {
			best = e.cert
		}
	}
	x, err := c.choose(js, best)
	if err != nil {
		return // cannot happen with verified reports; wait for more
	}
	if best == nil {
		// Every report is empty: they are 2f+1 prepare votes for the
		// impeach block, a certificate the commits carry (rule 6); no
		// coordination is needed.
		return
	}
	c.rec.Justified[r] = true
	c.dirty = true
	m := Message{Type: MsgImpeachPreprepare, To: Broadcast, Height: c.Height(), Round: r, Value: x, Justification: js, Cert: best}
	c.send(m)
	m.From = c.cfg.Self
	c.justify[r] = &m
	c.follow(&m)
}

// evaluate applies the threshold rules until nothing changes. Maps are
// walked in sorted order, so a core's outputs are a function of its
// inputs.
func (c *Core) evaluate() {
	for range 16 {
		h := c.Height()
		changed := false
		// Decide on a commit certificate of any round (rule 9).
		for _, k := range sortedKeys(c.commits) {
			if len(c.commits[k]) >= c.cfg.Quorum() && c.decide(k.round, k.value) {
				break
			}
		}
		if c.Height() != h || c.settle {
			return
		}
		if c.cfg.Self < 0 {
			return
		}
		// Prepare certificates: adopt, and commit in the current round
		// (rule 2).
		for _, k := range sortedKeys(c.prepares) {
			if len(c.prepares[k]) < c.cfg.Quorum() {
				continue
			}
			if hc := c.rec.HighCert; hc == nil || k.round > hc.Round {
				c.adopt(c.certFor(Prepare, k.round, k.value))
			}
			if k.round == c.rec.Round {
				if _, done := c.rec.Committed[k.round]; !done {
					c.commit(k.round, k.value, c.certFor(Prepare, k.round, k.value))
					changed = true
				}
			}
		}
		// Catch up inside the height on f+1 validators heard in a later
		// round (rule 8): jump to the highest such round.
		var jump uint32
		for r, who := range c.seen {
			if r > c.rec.Round && r > jump && len(who) >= c.cfg.F()+1 {
				jump = r
			}
		}
		if jump > 0 {
			c.enterRound(jump, true)
			changed = true
		}
		before := len(c.out.Messages)
		c.coordinate()
		if len(c.out.Messages) != before {
			changed = true
		}
		if !changed {
			return
		}
	}
}

func sortedKeys[V any](m map[vkey]V) []vkey {
	keys := make([]vkey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b vkey) int {
		if a.round != b.round {
			return int(int64(a.round) - int64(b.round))
		}
		return bytes.Compare(a.value[:], b.value[:])
	})
	return keys
}

// decide inserts the value of a commit certificate when its body is
// known.
func (c *Core) decide(r uint32, x Hash) bool {
	c.impeachBlock() // its body may be the value
	b := c.blocks[x]
	if b == nil {
		c.wantBody[x] = true
		return false
	}
	cert := c.certFor(Commit, r, x)
	final := *b
	final.Round, final.Commits = r, cert.Votes
	c.insert(&final)
	return true
}

func (c *Core) insert(b *Block) {
	c.out.Insert = append(c.out.Insert, b)
	c.send(Message{Type: MsgValidate, To: Broadcast, Height: b.Height, Round: b.Round, Value: b.Hash(), Block: b})
	c.head = b
	c.startHeight()
	c.dirty = c.cfg.Self >= 0
	c.settle = true
}

// CheckFinal verifies that b carries a commit certificate: 2f+1 distinct
// validators' valid commit votes of one round for b's hash.
func CheckFinal(cfg *Config, b *Block) error { return checkFinal(cfg, b, cfg.Verify) }

func checkFinal(cfg *Config, b *Block, verify func(int, Hash, []byte) bool) error {
	x := b.Hash()
	signers := map[int]bool{}
	for i := range b.Commits {
		v := &b.Commits[i]
		if v.Kind != Commit || v.Height != b.Height || v.Round != b.Round || v.Value != x {
			return fmt.Errorf("block %d: a commit vote for something else", b.Height)
		}
		if v.Signer < 0 || v.Signer >= cfg.N || !verify(v.Signer, v.Digest(), v.Sig) {
			return fmt.Errorf("block %d: bad commit signature of validator %d", b.Height, v.Signer)
		}
		signers[v.Signer] = true
	}
	if len(signers) < cfg.Quorum() {
		return fmt.Errorf("block %d: %d commit signers, want %d", b.Height, len(signers), cfg.Quorum())
	}
	return nil
}

func (c *Core) onValidate(b *Block) error {
	if b.Height != c.Height() || b.Parent != c.head.Hash() {
		return errors.New("validate does not extend the head")
	}
	if err := checkFinal(&c.cfg, b, c.verify); err != nil {
		return err
	}
	body := b.WithoutCert()
	x := body.Hash()
	// 2f+1 commits mean f+1 honest validators validated the block: it is
	// not validated again (rule 11). An impeach block must still be the
	// one the rules build.
	if b.Impeach && x != c.impeachHash() {
		return errors.New("validate carries an impeach block that differs from the one the rules build")
	}
	for i := range b.Commits {
		c.addVote(&b.Commits[i], Commit)
	}
	if c.blocks[x] == nil {
		c.blocks[x] = body
	}
	return nil // evaluate decides
}

func (c *Core) replayFuture() {
	h := c.Height()
	var now, later []Message
	for _, m := range c.future {
		switch {
		case m.Height == h:
			now = append(now, m)
		case m.Height > h:
			later = append(later, m)
		}
	}
	c.future = later
	for _, m := range now {
		c.handle(m)
	}
}

// resend repeats the current round's messages (rule 10) and asks for
// the bodies the core is waiting for.
func (c *Core) resend() {
	if c.cfg.Self < 0 {
		if c.own != nil && c.own.Height == c.Height() {
			c.send(Message{Type: MsgPreprepare, To: Broadcast, Height: c.own.Height, Value: c.own.Hash(), Block: c.own})
		}
		return
	}
	r := c.rec.Round
	h := c.Height()
	if r >= 1 {
		c.ownReport(r)
		e := c.reports[r][c.cfg.Self]
		m := Message{Type: MsgImpeachPrepare, To: Broadcast, Height: h, Round: r, Report: &e.rep, Cert: e.cert}
		if e.rep.Empty() {
			v := c.ownVote(Prepare, r, c.impeachHash())
			m.Prepare, m.Value = &v, v.Value
		}
		c.send(m)
		if j := c.justify[r]; j != nil && c.rec.Justified[r] {
			c.send(*j)
		}
	}
	if x, ok := c.rec.Prepared[r]; ok {
		c.ownVote(Prepare, r, x)
		c.sendPrepare(r, x)
	}
	if x, ok := c.rec.Committed[r]; ok {
		c.ownVote(Commit, r, x)
		c.sendCommit(r, x, c.certFor(Prepare, r, x))
	}
	want := make([]Hash, 0, len(c.wantBody))
	for x := range c.wantBody {
		if c.blocks[x] == nil {
			want = append(want, x)
		}
	}
	slices.SortFunc(want, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	for _, x := range want {
		c.send(Message{Type: MsgGetBlock, To: Broadcast, Height: h, Value: x})
	}
}

// ownVote returns this validator's vote for (kind, r, x), signing it again
// when it was lost in a restart (the record shows it was cast).
func (c *Core) ownVote(kind VoteKind, r uint32, x Hash) Vote {
	set := c.prepares
	if kind == Commit {
		set = c.commits
	}
	if v, ok := set[vkey{r, x}][c.cfg.Self]; ok {
		return v
	}
	v := Vote{Kind: kind, Height: c.Height(), Round: r, Value: x, Signer: c.cfg.Self}
	v.Sig = c.cfg.Sign(v.Digest())
	c.addVote(&v, kind)
	return v
}

// ownReport makes sure this validator has a report for round r, building
// it again after a restart from the record: empty when it prepared the
// impeach block in r (or nothing yet and knows no certificate), else
// naming its highest certificate.
func (c *Core) ownReport(r uint32) {
	if _, ok := c.reports[r][c.cfg.Self]; ok {
		return
	}
	rep := Report{Height: c.Height(), Round: r, Signer: c.cfg.Self, CertRound: -1}
	x, voted := c.rec.Prepared[r]
	hc := c.rec.HighCert
	if hc != nil && !(voted && x == c.impeachHash()) {
		rep.CertRound, rep.CertValue = int64(hc.Round), hc.Value
	} else {
		hc = nil
		if !voted {
			c.rec.Prepared[r] = c.impeachHash()
			c.dirty = true
		}
	}
	rep.Sig = c.cfg.Sign(rep.Digest())
	c.storeReport(rep, hc)
}
