// Package node runs a DPoR chain node: the LBFT core (validators), block
// proposing (proposers whose turn it is), the chain state and blocks in
// Pebble, the p2p transport, transaction gossip and a mempool, block sync
// for lagging and restarted nodes (every certificate checked), and an
// HTTP API. The core is pure; this package is its driver.
package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/dpor/p2p"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
)

// Frame kinds on the wire.
const (
	kindConsensus byte = 1 // an lbft.Message
	kindTxs       byte = 2 // encoded transactions
	kindSyncReq   byte = 3 // syncRequest
	kindSyncResp  byte = 4 // final blocks
)

type syncRequest struct {
	From uint64 `cbor:"1,keyasint"`
}

// Config describes a node.
type Config struct {
	Name    string
	Dir     string
	Genesis *chain.Genesis
	Key     ed25519.PrivateKey
	// Listen is the p2p address; Peers the p2p addresses to dial.
	// Listener, when set, is the p2p listener to use instead.
	Listen   string
	Listener net.Listener
	Peers    []string
	// HTTP is the API's address ("" for none).
	HTTP   string
	Logger *slog.Logger
	// MaxBlockTxs bounds a proposed block (default 2,000).
	MaxBlockTxs int
	// MaxPending is how many transactions the pool may hold before the
	// API refuses more (RejectBusy); gossip may fill it to twice that
	// (default 2 blocks' worth: past capacity, a transaction waits about
	// two blocks, not longer).
	MaxPending int
	// MaxPerSender bounds one sender's pending transactions (default 64).
	MaxPerSender int
	// HTTPReadTimeout bounds the time to read one API request, body
	// included (default 20 s): a client dripping its body is cut off.
	HTTPReadTimeout time.Duration
	// Clock returns the time in ms (default: the wall clock).
	Clock func() int64
	// Routes, when set, adds routes to the API (applications running on
	// the node's final blocks serve their reads there).
	Routes func(mux *Mux)
}

// Node is a running node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	chain  *chain.Chain
	db     *store.DB
	state  kv.Reader // committed chain state (through cache)
	cache  *stateCache
	core   *lbft.Core
	tr     *p2p.Transport
	events *events.Log
	pool   *Mempool
	self   int // validator index or -1
	addr   chain.Address
	lcfg   lbft.Config
	valIdx map[string]int // validator key -> index
	// members are the genesis proposers' keys.
	members map[string]bool
	// storedBodies are the blocks stored with the vote record at the
	// current height.
	storedBodies map[lbft.Hash]bool

	tried    map[lbft.Hash]tried // proposals validated (or run ahead, see speculate), by hash
	proposed uint64
	// insertedAt is when the head was inserted (zero before the first).
	insertedAt time.Time
	txIn       chan [][]byte // admitted through the API, for the forwarder
	// gossipIn carries the transaction lists peers send to the receiver.
	gossipIn chan p2p.Inbound
	// resendAt is when this node next resends the transactions it pools
	// but will not propose (clock ms), and resendSeq the pool's Seq at the
	// last resend: what it took since then waits for the next one.
	resendAt  int64
	resendSeq uint64
	// resendFrom is the arrival number (see Mempool.Seq) the next resend
	// starts after: a pool holding more than one resend's worth is sent
	// in turns, the oldest never taking every turn.
	resendFrom uint64

	// halt is why the node cannot go on (set once, by the loop).
	halt error
	// badProposal is why the last proposal at the current height was
	// refused ("height H: reason"), for the impeach block's log line.
	badProposal string
	progress    progressWindow

	mu        sync.RWMutex // guards the fields below, read by the API
	head      *lbft.Block
	impeached uint64
	waiters   []chan struct{}

	met      *metrics
	httpAddr string
}

// stateCacheKeys bounds the state cache: two generations of this many
// keys (accounts are about 100 bytes with their keys).
const stateCacheKeys = 1 << 17

// Key layout of node data (the chain state lives under "s/").
var (
	keyHead      = []byte("n/head")
	keyVote      = []byte("n/vote")
	keyImpeached = []byte("n/impeached")
	prefixBlock  = []byte("n/b/")
	prefixTx     = []byte("n/tx/") // hash -> txRecord
	prefixBody   = []byte("n/p/")  // height, hash -> a block the vote record names
	prefixState  = []byte("s/")
	prefixEvents = []byte("n/v/")
)

// txRecord is a final transaction's place and outcome.
type txRecord struct {
	Height uint64 `cbor:"1,keyasint"`
	Index  int    `cbor:"2,keyasint"`
	Err    string `cbor:"3,keyasint,omitempty"`
}

func txKey(h [32]byte) []byte { return append(append([]byte(nil), prefixTx...), h[:]...) }

func bodyPrefix(height uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixBody...), height)
}

func bodyKey(height uint64, x lbft.Hash) []byte { return append(bodyPrefix(height), x[:]...) }

func blockKey(h uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixBlock...), h)
}

// Open opens (or initializes) the node's data directory.
func Open(cfg Config) (*Node, error) {
	if cfg.Genesis == nil {
		return nil, errors.New("node: no genesis")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBlockTxs <= 0 {
		cfg.MaxBlockTxs = 2000
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 2 * cfg.MaxBlockTxs
	}
	if cfg.MaxPerSender <= 0 {
		cfg.MaxPerSender = 64
	}
	if cfg.HTTPReadTimeout <= 0 {
		cfg.HTTPReadTimeout = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	db, err := store.Open(cfg.Dir, store.Options{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, chain: chain.New(cfg.Genesis), db: db, self: -1,
		pool: NewMempool(2*cfg.MaxPending, cfg.MaxPerSender), tried: map[lbft.Hash]tried{}, valIdx: map[string]int{},
		txIn: make(chan [][]byte, 256), gossipIn: make(chan p2p.Inbound, gossipQueue)}
	if n.events, err = events.Open(db, prefixEvents); err != nil {
		db.Close()
		return nil, err
	}
	n.cache = newStateCache(kv.Prefixed(db, prefixState), stateCacheKeys)
	n.state = n.cache
	n.met = newMetrics(n)
	pub := cfg.Key.Public().(ed25519.PublicKey)
	n.addr = chain.AddressOf(pub)
	n.members = map[string]bool{}
	n.storedBodies = map[lbft.Hash]bool{}
	for _, m := range cfg.Genesis.Proposers {
		if k, err := m.PubKey(); err == nil {
			n.members[string(k)] = true
		}
	}
	for i, v := range cfg.Genesis.Validators {
		k, _ := v.PubKey()
		n.valIdx[string(k)] = i
		if k.Equal(pub) {
			n.self = i
		}
	}
	if err := n.load(); err != nil {
		db.Close()
		return nil, err
	}
	return n, nil
}

// load reads the head and the vote record, initializing a fresh directory
// with the genesis.
func (n *Node) load() error {
	raw, err := n.db.Get(keyHead)
	if errors.Is(err, kv.ErrNotFound) {
		t := n.db.NewTxn()
		if err := n.chain.InitState(kv.PrefixedTxn(t, prefixState)); err != nil {
			t.Discard()
			return err
		}
		g := n.chain.GenesisBlock()
		t.Set(blockKey(0), chain.Marshal(g))
		t.Set(keyHead, binary.BigEndian.AppendUint64(nil, 0))
		if err := t.Commit(true); err != nil {
			return err
		}
		n.cache.Reset()
		raw = binary.BigEndian.AppendUint64(nil, 0)
	} else if err != nil {
		return err
	} else if _, err := chain.StateCommitment(kv.Prefixed(n.db, prefixState)); errors.Is(err, chain.ErrNoStateHash) {
		// A data directory from before state commitments: hash its state
		// once.
		t := n.db.NewTxn()
		if err := chain.EnsureStateHash(kv.PrefixedTxn(t, prefixState)); err != nil {
			t.Discard()
			return err
		}
		if err := t.Commit(true); err != nil {
			return err
		}
		n.cache.Reset()
	}
	h := binary.BigEndian.Uint64(raw)
	head, err := n.Block(h)
	if err != nil {
		return fmt.Errorf("node: head block %d: %w", h, err)
	}
	if g := n.chain.GenesisBlock(); h == 0 && head.Hash() != g.Hash() || h > 0 {
		g0, err := n.Block(0)
		if err != nil || g0.Hash() != g.Hash() {
			return errors.New("node: the data directory holds another chain than this genesis")
		}
	}
	if raw, err := n.db.Get(keyImpeached); err == nil {
		n.impeached = binary.BigEndian.Uint64(raw)
	}
	var rec *lbft.VoteRecord
	if raw, err := n.db.Get(keyVote); err == nil {
		rec = &lbft.VoteRecord{}
		if err := chain.Unmarshal(raw, rec); err != nil {
			return fmt.Errorf("node: vote record: %w", err)
		}
	}
	n.lcfg = lbft.Config{Self: n.self, N: len(n.cfg.Genesis.Validators),
		Period: n.cfg.Genesis.PeriodMS, Timeout: n.cfg.Genesis.TimeoutMS,
		Sign: func(d lbft.Hash) []byte { return ed25519.Sign(n.cfg.Key, d[:]) },
		Verify: func(i int, d lbft.Hash, sig []byte) bool {
			k, err := n.cfg.Genesis.Validators[i].PubKey()
			return err == nil && ed25519.Verify(k, d[:], sig)
		},
		CheckProposal: func(b, parent *lbft.Block) error {
			start := time.Now()
			o, rec, err := n.chain.TryProposalAs(n.state, b, parent, n.share())
			n.met.stage.WithLabelValues("check_proposal").Observe(time.Since(start).Seconds())
			n.log.Debug("checked", "height", b.Height, "took_ms", time.Since(start).Milliseconds(), "err", err)
			if err == nil {
				if len(n.tried) > 16 {
					clear(n.tried)
				}
				n.tried[b.Hash()] = tried{o, rec}
			}
			return err
		},
		ImpeachBody: func(parent *lbft.Block) []byte {
			body, err := n.chain.ImpeachBody(n.state, parent)
			if err != nil {
				n.stop(fmt.Errorf("building the impeach block %d: %w", parent.Height+1, err))
			}
			return body
		},
	}
	n.head = head
	if n.core, err = lbft.New(n.lcfg, head, rec); err != nil {
		return err
	}
	// The bodies the vote record names, stored with it.
	return n.db.Iterate(bodyPrefix(head.Height+1), func(_, v []byte) error {
		var b lbft.Block
		if err := chain.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("node: a stored block body: %w", err)
		}
		n.core.Restore(&b)
		n.storedBodies[b.Hash()] = true
		return nil
	})
}

// Events is the node's event log: each final block, impeach block and
// election, written in the block's batch.
func (n *Node) Events() *events.Log { return n.events }

// blockEvents are the events of final block b.
func (n *Node) blockEvents(b *lbft.Block, rec *chain.Receipt) []events.Event {
	h := b.Hash()
	d := map[string]any{"hash": hex.EncodeToString(h[:]), "time": b.Time, "round": b.Round}
	if !b.Impeach {
		d["proposer"] = n.NameOf(chain.AddressOf(b.Proposer))
	}
	if rec != nil {
		failed := 0
		for _, f := range rec.Failed {
			if f != nil {
				failed++
			}
		}
		d["txs"], d["failed"], d["fees"] = len(rec.Txs), failed, rec.Fees
	}
	raw, _ := json.Marshal(d)
	kind := events.KindBlock
	if b.Impeach {
		kind = events.KindImpeach
	}
	evs := []events.Event{{Kind: kind, Height: int64(b.Height), App: "dpor", Data: raw}}
	if rec != nil && rec.Punished != nil {
		raw, _ := json.Marshal(map[string]any{"punished": rec.Punished.String()})
		evs[0].Name = rec.Punished.String()
		evs[0].Data = mergeJSON(evs[0].Data, raw)
	}
	if rec != nil && len(rec.Elected) > 0 {
		names := make([]string, len(rec.Elected))
		for i, a := range rec.Elected {
			names[i] = a.String()
		}
		raw, _ := json.Marshal(map[string]any{"term": n.cfg.Genesis.TermOf(b.Height) + 1, "proposers": names})
		evs = append(evs, events.Event{Kind: events.KindElection, Height: int64(b.Height), App: "dpor", Data: raw})
	}
	return evs
}

// mergeJSON merges two JSON objects' fields.
func mergeJSON(a, b []byte) []byte {
	m := map[string]any{}
	json.Unmarshal(a, &m)
	json.Unmarshal(b, &m)
	out, _ := json.Marshal(m)
	return out
}

// Block returns the final block at height h.
func (n *Node) Block(h uint64) (*lbft.Block, error) {
	raw, err := n.db.Get(blockKey(h))
	if err != nil {
		return nil, err
	}
	var b lbft.Block
	if err := chain.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// blocksFrom returns final blocks from height from on: at most maxN, and
// no more after their bodies pass maxBytes (the first is always given).
func (n *Node) blocksFrom(from uint64, maxN, maxBytes int) []*lbft.Block {
	var out []*lbft.Block
	size := 0
	head := n.Head().Height
	for h := from; h <= head && len(out) < maxN && size < maxBytes; h++ {
		b, err := n.Block(h)
		if err != nil {
			break
		}
		size += len(b.Body) + 128*len(b.Commits)
		if len(out) > 0 && size > maxBytes {
			break
		}
		out = append(out, b)
	}
	return out
}

// Head is the newest final block.
func (n *Node) Head() *lbft.Block {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.head
}

// Chain is the node's chain.
func (n *Node) Chain() *chain.Chain { return n.chain }

// State reads the committed chain state.
func (n *Node) State() kv.Reader { return n.state }

// Close closes the store.
func (n *Node) Close() error { return n.db.Close() }

// Run connects to the peers and runs until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	g := n.cfg.Genesis
	gh := n.chain.GenesisBlock().Hash()
	tr, err := p2p.New(ctx, p2p.Config{Key: n.cfg.Key, Network: append([]byte(g.ChainID+":"), gh[:]...),
		Listen: n.cfg.Listen, Listener: n.cfg.Listener, Peers: n.cfg.Peers, Logger: n.log, Member: n.isMember})
	if err != nil {
		return err
	}
	n.tr = tr
	// Transactions move on their own goroutines, off the consensus loop:
	// they stop when Run returns, whether ctx ended or the node halted.
	wctx, cancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	workers.Go(func() { n.forwarder(wctx) })
	workers.Go(func() { n.receiver(wctx) })
	defer func() { cancel(); workers.Wait() }()
	if n.cfg.HTTP != "" {
		if err := n.serveHTTP(ctx); err != nil {
			return err
		}
	}
	n.log.Info("node running", "name", n.cfg.Name, "role", n.Role(), "height", n.Head().Height, "p2p", tr.Addr())
	// Start the consensus clock once the peers are reachable (or after
	// two timeouts): a restarted chain's first proposer must be heard
	// before the validators' timers run out.
	for wait := time.Now().Add(2 * time.Duration(g.TimeoutMS) * time.Millisecond); len(tr.Connected()) < len(n.cfg.Peers) && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			n.log.Info("node stopping", "height", n.Head().Height, "cause", context.Cause(ctx).Error())
			return nil
		case in := <-tr.Inbox():
			n.onFrame(in)
			// Everything already received is handled before the timers
			// fire: a proposal that arrived in time is never impeached
			// because the loop was busy with other frames.
		more:
			for i := 0; i < 1024 && n.halt == nil; i++ {
				select {
				case in := <-tr.Inbox():
					n.drain()
					n.onFrame(in)
				default:
					break more
				}
			}
		case <-timer.C:
		}
		if n.halt != nil {
			return n.halted()
		}
		now := n.cfg.Clock()
		n.maybeResend(now)
		n.core.Tick(now)
		n.met.round.Set(float64(n.core.Round()))
		n.drain() // inserts land before a proposal builds on them
		wake := n.drain()
		if at := n.maybePropose(now); at > 0 {
			wake = min(wake, at)
		}
		wake = min(wake, n.drain())
		if n.halt != nil {
			return n.halted()
		}
		d := time.Duration(max(wake-n.cfg.Clock(), 1)) * time.Millisecond
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(min(d, time.Second))
	}
}

// stop records why the node cannot go on; the loop returns it. Only the
// first reason is kept: it is the one that matters.
func (n *Node) stop(err error) {
	if n.halt == nil {
		n.halt = err
		n.log.Error("node stopping", "err", err)
	}
}

// HaltedError is what Run returns when the node stopped because it could
// not go on correctly (a final block it cannot apply, say).
type HaltedError struct{ Err error }

func (e *HaltedError) Error() string { return "node halted: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *HaltedError) Unwrap() error { return e.Err }

func (n *Node) halted() error { return &HaltedError{n.halt} }

// Role is validator, proposer or civilian.
func (n *Node) Role() string {
	if n.self >= 0 {
		return "validator"
	}
	for _, a := range n.cfg.Genesis.DefaultProposerAddresses() {
		if a == n.addr {
			return "proposer"
		}
	}
	if _, ok, _ := chain.ReadState(n.state).CandidateInfoOf(n.addr); ok {
		return "proposer"
	}
	return "civilian"
}

func (n *Node) onFrame(in p2p.Inbound) {
	from := -1
	if i, ok := n.valIdx[string(in.From)]; ok {
		from = i
	}
	if !in.Member && in.Kind != kindSyncReq {
		// Only the genesis' validators and proposers (and elected
		// candidates) take part; anyone else may only ask for blocks.
		n.met.dropped.WithLabelValues("stranger").Inc()
		return
	}
	switch in.Kind {
	case kindConsensus:
		var m lbft.Message
		if err := chain.Unmarshal(in.Payload, &m); err != nil {
			n.log.Debug("bad consensus message", "err", err)
			return
		}
		m.From = from // who sent it is what the handshake proved
		if n.self < 0 && m.Type == lbft.MsgPreprepare {
			n.speculate(m.Block) // a proposer sends its block to the next one
			return
		}
		if n.self < 0 && m.Type != lbft.MsgValidate {
			return
		}
		if from < 0 && m.Type != lbft.MsgPreprepare && m.Type != lbft.MsgValidate {
			return
		}
		if err := n.core.Step(n.cfg.Clock(), m); err != nil {
			n.met.dropped.WithLabelValues(m.Type.String()).Inc()
			n.log.Debug("message dropped", "msg", m.String(), "err", err)
			if m.Type == lbft.MsgPreprepare && m.Height == n.core.Height() {
				n.badProposal = fmt.Sprintf("height %d: %v", m.Height, err)
			}
		}
	case kindTxs:
		select {
		case n.gossipIn <- in: // see receiver
		default:
			n.met.dropped.WithLabelValues("txs_queue_full").Inc()
		}
	case kindSyncReq:
		var req syncRequest
		if chain.Unmarshal(in.Payload, &req) != nil {
			return
		}
		out := n.blocksFrom(req.From, 64, 8<<20)
		if len(out) > 0 {
			n.tr.Send(in.From, p2p.Frame{Kind: kindSyncResp, Payload: chain.Marshal(out)})
		}
	case kindSyncResp:
		var bs []*lbft.Block
		if chain.Unmarshal(in.Payload, &bs) != nil {
			return
		}
		for _, b := range bs {
			if b.Height != n.core.Height() {
				continue
			}
			n.core.Step(n.cfg.Clock(), lbft.Message{Type: lbft.MsgValidate, From: from, Height: b.Height, Round: b.Round, Value: b.Hash(), Block: b})
			n.drain()
		}
	}
}

// drain carries out what the core asks; it returns when to wake it next.
func (n *Node) drain() int64 {
	for {
		rd := n.core.Ready()
		// The vote record goes to disk before any message is sent. When the
		// Ready decides a height, its record is already the next height's:
		// it is written in the same batch as the final block, never before
		// it (a crash in between would forget the votes cast at the
		// decided height, and the validator could vote again there).
		if rd.Persist != nil && len(rd.Insert) == 0 {
			if err := n.persistVotes(rd.Persist); err != nil {
				n.stop(fmt.Errorf("persisting the vote record: %w", err))
				return rd.Wake
			}
		}
		for i, b := range rd.Insert {
			var vote *lbft.VoteRecord
			if i == len(rd.Insert)-1 {
				vote = rd.Persist
			}
			if err := n.insert(b, vote); err != nil {
				n.stop(fmt.Errorf("cannot apply final block %d (%s): %w", b.Height, b.Hash().Short(), err))
				return rd.Wake
			}
		}
		for _, m := range rd.Messages {
			n.send(m)
		}
		for _, f := range rd.Fetch {
			if f.Peer >= 0 && f.Peer < len(n.cfg.Genesis.Validators) {
				k, _ := n.cfg.Genesis.Validators[f.Peer].PubKey()
				n.tr.Send(k, p2p.Frame{Kind: kindSyncReq, Payload: chain.Marshal(syncRequest{From: f.From})})
			}
		}
		if len(rd.Insert) > 0 {
			n.core.Advance(n.cfg.Clock()) // the blocks are stored: go on
			continue
		}
		if rd.Empty() {
			return rd.Wake
		}
	}
}

func (n *Node) send(m lbft.Message) {
	f := p2p.Frame{Kind: kindConsensus, Payload: chain.Marshal(m)}
	if m.To != lbft.Broadcast {
		k, _ := n.cfg.Genesis.Validators[m.To].PubKey()
		n.tr.Send(k, f)
		return
	}
	if m.Type == lbft.MsgValidate {
		n.tr.Broadcast(f) // everyone follows final blocks
		return
	}
	// A proposal also goes to the next height's proposer, which runs it
	// while the validators decide (see speculate).
	var next ed25519.PublicKey
	if m.Type == lbft.MsgPreprepare {
		if a, err := n.chain.ProposerOf(n.state, m.Height+1); err == nil && a != n.addr {
			next, _ = chain.ReadState(n.state).PubKeyOf(a)
		}
	}
	n.tr.SendIf(f, func(k ed25519.PublicKey) bool {
		_, ok := n.valIdx[string(k)]
		return ok || next != nil && k.Equal(next)
	})
}

// persistVotes stores the vote record durably, with the body of every
// proposer's block it names that is not stored yet: if every node
// restarted, the value the record locks the validators onto must still
// be somewhere (Restore gives it back to the core on load).
func (n *Node) persistVotes(rec *lbft.VoteRecord) error {
	defer n.timeStage("persist_votes", time.Now())
	t := n.db.NewTxn()
	if err := t.Set(keyVote, chain.Marshal(rec)); err != nil {
		t.Discard()
		return err
	}
	named := make([]lbft.Hash, 0, len(rec.Prepared)+len(rec.Committed)+1)
	for _, x := range rec.Prepared {
		named = append(named, x)
	}
	for _, x := range rec.Committed {
		named = append(named, x)
	}
	if rec.HighCert != nil {
		named = append(named, rec.HighCert.Value)
	}
	for _, x := range named {
		if n.storedBodies[x] {
			continue
		}
		if b := n.core.Body(x); b != nil && !b.Impeach {
			if err := t.Set(bodyKey(rec.Height, x), chain.Marshal(b)); err != nil {
				t.Discard()
				return err
			}
			n.storedBodies[x] = true
		}
	}
	return t.Commit(true)
}

// tried is a validated proposal's state changes and receipt.
type tried struct {
	o   *chain.Overlay
	rec *chain.Receipt
}

// insert commits a final block: its state changes, its receipts, the
// block, the head and (when given) the next height's vote record in one
// atomic batch.
func (n *Node) insert(b *lbft.Block, vote *lbft.VoteRecord) error {
	start := time.Now()
	defer n.timeStage("insert", start)
	// The batch only writes: the block runs on an overlay of the
	// committed state, whose writes go into it.
	t := n.db.NewWriteTxn()
	if vote != nil {
		t.Set(keyVote, chain.Marshal(vote))
	}
	// The bodies kept for this height's votes are not needed any more.
	var stale [][]byte
	n.db.Iterate(bodyPrefix(b.Height), func(k, _ []byte) error {
		stale = append(stale, append([]byte(nil), k...))
		return nil
	})
	for _, k := range stale {
		t.Delete(k)
	}
	clear(n.storedBodies)
	x := b.Hash()
	var rec *chain.Receipt
	var o *chain.Overlay
	tr, ok := n.tried[x]
	if ok {
		n.met.ready.Inc()
		o, rec = tr.o, tr.rec
		if err := o.WriteTo(kv.PrefixedTxn(t, prefixState)); err != nil {
			t.Discard()
			return err
		}
	} else {
		o = chain.NewOverlay(n.state)
		var err error
		if rec, err = n.chain.ApplyFinal(o, b); err != nil {
			t.Discard()
			return err
		}
		if err := o.WriteTo(kv.PrefixedTxn(t, prefixState)); err != nil {
			t.Discard()
			return err
		}
	}
	clear(n.tried)
	if rec != nil {
		for i, tx := range rec.Txs {
			t.Set(txKey(tx.Hash()), chain.Marshal(txRecord{Height: b.Height, Index: i, Err: rec.Status(i)}))
		}
	}
	t.Set(blockKey(b.Height), chain.Marshal(b))
	t.Set(keyHead, binary.BigEndian.AppendUint64(nil, b.Height))
	if err := n.events.Append(t, n.blockEvents(b, rec)...); err != nil {
		t.Discard()
		n.events.Abort()
		return err
	}
	imp := n.impeached
	if b.Impeach {
		imp++
		t.Set(keyImpeached, binary.BigEndian.AppendUint64(nil, imp))
	}
	if err := t.Commit(true); err != nil {
		n.events.Abort()
		return err
	}
	n.events.Publish()
	n.cache.Update(o.Writes())
	// Every node prunes, validators too: their API pools what clients
	// send them (and resends it until it is final).
	if rec != nil && len(rec.Txs) > 0 {
		senders := make([]chain.Address, 0, len(rec.Txs))
		for _, tx := range rec.Txs {
			senders = append(senders, tx.Sender())
		}
		st := chain.ReadState(n.state)
		n.pool.Prune(senders, func(a chain.Address) uint64 { acct, _ := st.Account(a); return acct.Nonce })
	}
	kind := "normal"
	if b.Impeach {
		kind = "impeach"
	}
	n.met.blocks.WithLabelValues(kind).Inc()
	n.met.height.Set(float64(b.Height))
	if rec != nil {
		n.met.txs.Add(float64(len(rec.Txs)))
	}
	if prev := n.Head(); prev != nil && b.Time >= prev.Time {
		n.met.interval.Observe(float64(b.Time-prev.Time) / 1000)
	}
	n.insertedAt = time.Now()
	n.mu.Lock()
	n.head, n.impeached = b, imp
	ws := n.waiters
	n.waiters = nil
	n.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
	n.log.Debug("final", "height", b.Height, "round", b.Round, "impeach", b.Impeach, "insert_ms", time.Since(start).Milliseconds(), "ran_ahead", ok)
	n.report(b, rec)
	return nil
}

// report logs what an operator needs to know about a final block: each
// impeach block with its cause, each election, and every few seconds the
// chain's progress and rates.
func (n *Node) report(b *lbft.Block, rec *chain.Receipt) {
	txs := 0
	if rec != nil {
		txs = len(rec.Txs)
	}
	if b.Impeach {
		who := "?"
		if rec != nil && rec.Punished != nil {
			who = n.NameOf(*rec.Punished)
		}
		cause := fmt.Sprintf("no valid proposal from %s within the timeout", who)
		if n.badProposal != "" && strings.HasPrefix(n.badProposal, fmt.Sprintf("height %d:", b.Height)) {
			cause = "invalid proposal, " + n.badProposal
		}
		n.log.Info("impeach block", "height", b.Height, "proposer", who, "round", b.Round, "cause", cause)
	}
	if rec != nil && rec.Elected != nil {
		names := make([]string, len(rec.Elected))
		for i, a := range rec.Elected {
			names[i] = n.NameOf(a)
		}
		n.log.Info("term elected", "term", n.cfg.Genesis.TermOf(b.Height)+1, "from_height", b.Height+1, "proposers", names)
	}
	p := &n.progress
	p.blocks++
	p.txs += txs
	if b.Impeach {
		p.impeached++
	}
	now := time.Now()
	if p.since.IsZero() {
		p.since = now
		return
	}
	if d := now.Sub(p.since); d >= 5*time.Second {
		n.log.Info("final blocks", "height", b.Height, "blocks_per_s", round1(float64(p.blocks)/d.Seconds()),
			"tx_per_s", round1(float64(p.txs)/d.Seconds()), "impeached", p.impeached, "mempool", n.pool.Len(), "peers", len(n.tr.Connected()))
		*p = progressWindow{since: now}
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// progressWindow counts what was final since a moment, for the periodic
// progress line.
type progressWindow struct {
	since                  time.Time
	blocks, txs, impeached int
}

// waitHead returns a channel closed when the next block is inserted.
// WaitHead returns a channel closed when the node's final head next
// advances.
func (n *Node) WaitHead() <-chan struct{} { return n.waitHead() }

func (n *Node) waitHead() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := make(chan struct{})
	n.waiters = append(n.waiters, w)
	return w
}

// maybePropose builds and proposes the next block when it is this node's
// turn and its time has come; it returns when that time is, if it has not
// come yet (0: nothing to wait for).
func (n *Node) maybePropose(now int64) int64 {
	head := n.core.Head()
	h := head.Height + 1
	if n.self >= 0 || n.proposed >= h || n.core.Settled() {
		return 0
	}
	p, err := n.chain.ProposerOf(n.state, h)
	if err != nil || p != n.addr {
		return 0
	}
	g := n.cfg.Genesis
	at := head.Time + g.PeriodMS
	if now < at {
		return at
	}
	if n.validatorsConnected() < 2*((len(g.Validators)-1)/3)+1 {
		// Nobody would hear it (the node just started): try again soon.
		return now + 50
	}
	n.proposed = h
	start := time.Now()
	if !n.insertedAt.IsZero() {
		defer func() { n.met.stage.WithLabelValues("ready_to_propose").Observe(time.Since(n.insertedAt).Seconds()) }()
	}
	defer n.timeStage("build", start)
	st := chain.ReadState(n.state)
	txs := n.pool.Select(n.cfg.MaxBlockTxs, func(a chain.Address) uint64 {
		acct, _ := st.Account(a)
		return acct.Nonce
	})
	n.chain.VerifyAll(txs, runtime.GOMAXPROCS(0))
	body, _, rejected, err := n.chain.Build(n.state, h, txs)
	if err != nil {
		n.log.Error("building a block", "height", h, "err", err)
		return 0
	}
	if len(rejected) > 0 {
		var hs [][32]byte
		for k := range rejected {
			hs = append(hs, k)
		}
		n.pool.RemoveHashes(hs)
	}
	b := &lbft.Block{Height: h, Parent: head.Hash(), Time: min(max(at, now), at+g.TimeoutMS),
		Proposer: n.cfg.Key.Public().(ed25519.PublicKey), Body: body}
	b.Seal = ed25519.Sign(n.cfg.Key, chain.SealBytes(b))
	n.log.Debug("proposing", "height", h, "txs", len(txs)-len(rejected))
	n.core.Propose(now, b)
	n.drain() // the proposal goes out first
	n.speculate(b)
	return 0
}

// speculate runs a proposal for height h while the validators decide on
// it, when this node proposes at h+1: if the block becomes final, its
// state changes are ready (insert commits them), and the next proposal is
// not held back by applying it. Only the node that proposes next does
// this (every other node applies the block when it is final), a proposal
// runs at most once, and only a few per height; anything that is not the
// current proposer's sealed block on this node's head is ignored.
func (n *Node) speculate(b *lbft.Block) {
	if b == nil || n.self >= 0 {
		return
	}
	head := n.core.Head()
	if b.Height != head.Height+1 || b.Parent != head.Hash() {
		return
	}
	x := b.Hash()
	if _, ok := n.tried[x]; ok || len(n.tried) >= maxSpeculated {
		return
	}
	if p, err := n.chain.ProposerOf(n.state, b.Height+1); err != nil || p != n.addr {
		return
	}
	start := time.Now()
	o, rec, err := n.chain.RunProposal(n.state, b)
	n.timeStage("speculate", start)
	if err != nil {
		n.log.Debug("a proposal did not run", "height", b.Height, "err", err)
		return
	}
	n.tried[x] = tried{o, rec}
}

// share is this validator's share of the signature checks of proposals
// (see chain.SigShare); the zero share, every signature, on other nodes.
func (n *Node) share() chain.SigShare {
	if n.self < 0 {
		return chain.SigShare{}
	}
	return chain.SigShare{Index: n.self, Validators: len(n.cfg.Genesis.Validators)}
}

// maxSpeculated bounds the proposals a node runs ahead at one height (an
// equivocating proposer could send many).
const maxSpeculated = 4

// gossipQueue bounds the transaction lists from peers waiting for the
// receiver; more are dropped (a proposer then includes those
// transactions at its own turn; a validator checks them in the block).
const gossipQueue = 64

// receiver takes the transaction lists peers send, until ctx ends, on its
// own goroutine so that the consensus loop never waits for signature
// checks. A proposer admits them to its pool, checked like the API's
// (signature, nonce, funds) up to the pool's bound. A validator only
// checks their signatures, ahead of the block that will hold them (then
// checking the block is mostly running it), and pools nothing. Both wait
// a little for more lists to check a larger batch (see preverifyGather). The checked signatures go into the chain's bounded cache; a
// malformed list or transaction is skipped.
func (n *Node) receiver(ctx context.Context) {
	banned := map[string]time.Time{} // peer -> until when its lists are ignored
	for {
		var frames []p2p.Inbound
		size := 0
		select {
		case <-ctx.Done():
			return
		case f := <-n.gossipIn:
			frames, size = append(frames, f), len(f.Payload)
		}
		// A batch is bounded in bytes: a peer found sending forged
		// transactions is ignored from the next batch on, so one batch is
		// what a flood can cost.
		gather := proposerGather
		if n.self >= 0 {
			gather = preverifyGather
		}
		t := time.NewTimer(gather)
	wait:
		for size < maxGossipBatch {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case f := <-n.gossipIn:
				frames, size = append(frames, f), size+len(f.Payload)
			case <-t.C:
				break wait
			}
		}
		t.Stop()
		now := time.Now()
		for k, until := range banned { // forget what has expired
			if now.After(until) {
				delete(banned, k)
			}
		}
		var raws [][]byte
		var from []string // the sender of each of raws
		for _, f := range frames {
			if now.Before(banned[string(f.From)]) {
				n.met.dropped.WithLabelValues("txs_banned_peer").Inc()
				continue
			}
			list, err := chain.DecodeByteStrings(f.Payload)
			if err != nil || len(list) > maxGossipTxs {
				continue
			}
			raws = append(raws, list...)
			for range list {
				from = append(from, string(f.From))
			}
		}
		// A peer that sends a transaction whose signature does not verify
		// is faulty (every node checks what it forwards): its lists are
		// ignored for a while, so flooding forged transactions costs the
		// node one list's checks per banGossip, not its CPU.
		bad := func(i int) {
			if _, ok := banned[from[i]]; !ok || now.After(banned[from[i]]) {
				n.log.Warn("a peer sent a transaction with a bad signature; its transactions are ignored for a while", "peer", fmt.Sprintf("%x", from[i][:8]), "for", banGossip)
			}
			banned[from[i]] = now.Add(banGossip)
		}
		start := time.Now()
		if n.self < 0 {
			for i, err := range n.admit(raws, false) {
				var re *RejectError
				if errors.As(err, &re) && re.Code == RejectSignature {
					bad(i)
				}
			}
			n.timeStage("admit_gossip", start)
			continue
		}
		// Only this validator's share of the signatures (see
		// chain.SigShare): the others' are checked by other validators.
		txs := make([]*chain.Tx, len(raws))
		var ok []*chain.Tx
		share := n.share()
		for i, raw := range raws {
			if tx, err := chain.DecodeTx(raw); err == nil && share.Checks(tx.Hash()) {
				txs[i] = tx
				ok = append(ok, tx)
			}
		}
		n.chain.VerifyAll(ok, runtime.GOMAXPROCS(0))
		for i, tx := range txs {
			if tx != nil && !n.chain.IsVerified(tx.Hash()) {
				bad(i)
			}
		}
		n.timeStage("preverify", start)
	}
}

// maxGossipBatch bounds the bytes of transaction lists one batch of the
// receiver takes (about 4,000 transfers).
const maxGossipBatch = 512 << 10

// banGossip is how long a node ignores the transaction lists of a peer
// that sent a transaction whose signature does not verify.
const banGossip = time.Minute

// preverifyGather is how long a validator's receiver waits for more
// transaction lists before checking a batch, and proposerGather a
// proposer's (whose pool should have them before its turn): a batch of
// 64 signatures costs a third more per signature than one of 512.
const (
	preverifyGather = 40 * time.Millisecond
	proposerGather  = 10 * time.Millisecond
)

// forwarder sends what the API admitted on to the peers that check it
// next (see gossip), until ctx ends: everything admitted since the last
// send goes in one frame, receivers checking signatures in batches.
func (n *Node) forwarder(ctx context.Context) {
	for {
		var txs [][]byte
		select {
		case <-ctx.Done():
			return
		case txs = <-n.txIn:
		}
	gather:
		for len(txs) < maxGossipTxs {
			select {
			case more := <-n.txIn:
				txs = append(txs, more...)
			default:
				break gather
			}
		}
		n.gossip(txs, n.cfg.Clock())
	}
}

// timeStage records how long a step that began at start took.
func (n *Node) timeStage(stage string, start time.Time) {
	n.met.stage.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}

// gossipHeights is how many upcoming blocks' proposers a transaction is
// forwarded to.
const gossipHeights = 2

// maxGossipTxs bounds the transactions of one gossip frame.
const maxGossipTxs = 4096

// isMember tells whether a key is named in the genesis (a validator or a
// default proposer) or is an elected candidate's.
func (n *Node) isMember(k ed25519.PublicKey) bool {
	if _, ok := n.valIdx[string(k)]; ok {
		return true
	}
	if _, ok := n.members[string(k)]; ok {
		return true
	}
	_, ok, _ := chain.ReadState(n.state).CandidateInfoOf(chain.AddressOf(k))
	return ok
}

// validatorsConnected counts the validators this node can send to.
func (n *Node) validatorsConnected() int {
	c := 0
	for _, k := range n.tr.Connected() {
		if _, ok := n.valIdx[string(k)]; ok {
			c++
		}
	}
	return c
}

// gossip forwards transactions received through the API to the proposer
// that can include them first and to the validators. The proposer is the
// one of the next height if its proposal time has not come yet, else the
// one after (the next block is then already proposed, or about to be):
// every proposer that receives a transaction checks its signature, the
// cluster's largest cost, so one is sent it, not every proposer of the
// view. A transaction that misses that proposer's block stays in this
// node's pool for its own turn, or, on a node that does not propose
// soon, is sent again (see maybeResend). The validators check the signatures on
// receipt, off the path of the block that will hold them (see
// receiver), and pool nothing. It runs on the forwarder's goroutine.
func (n *Node) gossip(txs [][]byte, now int64) {
	head := n.Head()
	next := head.Height + 1
	if now >= head.Time+n.cfg.Genesis.PeriodMS {
		next++
	}
	want := map[string]bool{}
	for h := next; h < next+gossipHeights; h++ {
		if a, ok := n.likelyProposerOf(h); ok && a != n.addr {
			if k, err := chain.ReadState(n.state).PubKeyOf(a); err == nil {
				want[string(k)] = true
			}
		}
	}
	for k := range n.valIdx {
		want[k] = true
	}
	n.sendTxs(txs, want)
}

// resendEvery is how often (ms) a node that will not propose soon resends
// the transactions its pool has held since the last resend.
const resendEvery = 1000

// maybeResend sends the transactions this node has pooled for a while to
// the next proposers again, unless it proposes itself in the current or
// next term: a validator's pool, or a proposer's that was not re-elected,
// is never proposed, and what it took was sent once, to proposers that
// may have been full, out of turn, or unreachable then (or not at all, when
// the loop was busy). A transaction is resent every resendEvery until it
// is final or stale (a pool of more than maxGossipTxs is sent in turns,
// so what can never be included does not crowd out the rest); receivers
// that hold it already drop it before any signature check.
func (n *Node) maybeResend(now int64) {
	if now < n.resendAt {
		return
	}
	n.resendAt = now + resendEvery
	seq := n.resendSeq
	n.resendSeq = n.pool.Seq()
	if seq == 0 || n.proposesSoon() {
		return
	}
	old, last := n.pool.AddedBetween(n.resendFrom, seq, maxGossipTxs)
	n.resendFrom = last
	if len(old) < maxGossipTxs {
		n.resendFrom = 0 // all sent: from the oldest again next time
	}
	if len(old) == 0 {
		return
	}
	raws := make([][]byte, len(old))
	for i, tx := range old {
		raws[i] = chain.Marshal(tx)
	}
	want := map[string]bool{}
	h := n.Head().Height
	for i := uint64(1); i <= n.cfg.Genesis.TermLen(); i++ {
		if a, ok := n.likelyProposerOf(h + i); ok && a != n.addr {
			if k, err := chain.ReadState(n.state).PubKeyOf(a); err == nil {
				want[string(k)] = true
			}
		}
	}
	n.met.resent.Add(float64(len(raws)))
	n.log.Debug("resending pooled transactions", "txs", len(raws), "to", len(want))
	n.sendTxs(raws, want)
}

// proposesSoon tells whether this node proposes one of the blocks of the
// rest of this term and the next (as far as elected).
func (n *Node) proposesSoon() bool {
	h := n.Head().Height
	for i := uint64(1); i <= 2*n.cfg.Genesis.TermLen(); i++ {
		if a, err := n.chain.ProposerOf(n.state, h+i); err == nil && a == n.addr {
			return true
		}
	}
	return false
}

// likelyProposerOf is the proposer of height h if its term's election is
// known, else the one of h's slot in the term after the head (the
// election at the checkpoint usually keeps the proposers; a transaction
// sent to the wrong one is resent, see maybeResend).
func (n *Node) likelyProposerOf(h uint64) (chain.Address, bool) {
	if a, err := n.chain.ProposerOf(n.state, h); err == nil {
		return a, true
	}
	ps, err := chain.ReadState(n.state).ProposersOf(n.cfg.Genesis.TermOf(n.Head().Height + 1))
	if slot := n.cfg.Genesis.Slot(h); err == nil && slot < len(ps) {
		return ps[slot], true
	}
	return chain.Address{}, false
}

// sendTxs sends transactions to the peers whose keys are in want, in
// frames of at most maxGossipTxs.
func (n *Node) sendTxs(txs [][]byte, want map[string]bool) {
	for len(txs) > 0 {
		part := txs[:min(len(txs), maxGossipTxs)]
		txs = txs[len(part):]
		n.tr.SendIf(p2p.Frame{Kind: kindTxs, Payload: chain.Marshal(part)}, func(k ed25519.PublicKey) bool { return want[string(k)] })
	}
}
