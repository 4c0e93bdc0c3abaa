// Package comet runs a vchain application on CometBFT (v0.38, ABCI 2.0):
// App is an ABCI application wrapping the same engine every other source
// feeds. CometBFT orders the transactions; each decided block becomes a
// tape block that the engine applies through its Processor, and the
// block's consensus hash and state commitment are the AppHash.
//
// Transactions are DPoR chain transactions (dpor/chain.Tx: Ed25519-signed
// canonical CBOR, bound to the chain id), so the CLI that signs for the
// DPoR chain signs for a CometBFT chain too, and a transaction becomes the
// same tape transaction on both (package tape/dpor's mapping): the same
// op stream gives the same consensus hashes. CometBFT has no accounts, so
// App keeps each sender's next nonce itself, committed in the block's
// batch: a transaction is included as an op only with the next nonce, and
// its nonce is used whatever the application makes of the op. Amounts and
// fees are carried as signed and move nothing.
//
// FinalizeBlock stages the block (engine.Stage) and Commit commits it in
// one synced batch, so Info always reports a height whose block is on
// disk with its AppHash: a node killed at any instant restarts without an
// AppHash mismatch (CometBFT replays the blocks above it). Queries read
// committed state and never wait for a block being executed.
package comet

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	tapedpor "github.com/vchain-dev/vchain/tape/dpor"
	"github.com/vchain-dev/vchain/vchash"
)

// Codes of a transaction's result (CheckTx and FinalizeBlock). 0 is OK.
const (
	// CodeMalformed: the transaction does not decode, or its signature or
	// form is bad.
	CodeMalformed uint32 = 1
	// CodeNonce: the transaction's nonce is not the sender's next.
	CodeNonce uint32 = 2
	// CodeNotForApp: the payload does not start with the application's
	// magic bytes (or there is none).
	CodeNotForApp uint32 = 3
	// CodeRejected: the transaction was included and its nonce used, but
	// the application refused its op (the log says why).
	CodeRejected uint32 = 4
	// CodeRestoring: a query while the node restores a snapshot.
	CodeRestoring uint32 = 5
)

// Codespace names the codes above in CometBFT's results.
const Codespace = "vchain"

// AppHashSize is the length of the AppHash: the block's consensus hash
// (16 bytes), its state commitment (32 bytes), then the commitment of the
// senders' nonces (32 bytes: an LtHash over each sender's next nonce).
const AppHashSize = 16 + 32 + 32

// AppHash is the AppHash of an engine block record with the nonces'
// commitment after it.
func AppHash(r engine.BlockRecord, nonces lthash.Digest) []byte {
	b := make([]byte, 0, AppHashSize)
	return append(append(append(b, r.Consensus[:]...), r.State[:]...), nonces[:]...)
}

// SplitAppHash is AppHash's inverse.
func SplitAppHash(b []byte) (ch vchash.ConsensusHash, state, nonces lthash.Digest, err error) {
	if len(b) != AppHashSize {
		return ch, state, nonces, fmt.Errorf("an app hash of %d bytes, want %d", len(b), AppHashSize)
	}
	copy(ch[:], b[:16])
	copy(state[:], b[16:48])
	copy(nonces[:], b[48:])
	return ch, state, nonces, nil
}

// keyNonceLattice holds the LtHash lanes over the senders' nonces.
var keyNonceLattice = []byte("nlt")

// nonceElement is what a sender's next nonce adds to the nonces' LtHash.
func nonceElement(lt *lthash.Hash, from chain.Address, next uint64, add bool) {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], next)
	if add {
		lt.Add(nonceKey(from), v[:])
	} else {
		lt.Remove(nonceKey(from), v[:])
	}
}

// Options configure an App.
type Options struct {
	// ChainID is the CometBFT chain id transactions are signed for.
	ChainID string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger

	// SnapshotInterval, when positive, has App take a snapshot of every
	// block whose height is a multiple of it, for nodes that state-sync;
	// SnapshotKeep is how many it keeps (default 2), in SnapshotDir, and
	// Store is the engine's store, read through a consistent view while
	// blocks go on. SnapshotDir alone serves the snapshots already there.
	SnapshotInterval int64
	SnapshotKeep     int
	SnapshotDir      string
	Store            *store.DB
	// SnapshotChunkBytes is the size snapshot chunks are cut at (default
	// snapshot.ChunkBytes; CometBFT sends chunks of at most 16e6 bytes).
	SnapshotChunkBytes int
}

// App is the ABCI application. Its methods are safe for concurrent use:
// CometBFT calls the consensus, mempool and query connections from
// different goroutines.
type App struct {
	abci.BaseApplication

	eng     *engine.Engine
	name    string
	magic   []byte
	chainID string
	log     *slog.Logger

	// mu guards the consensus connection's state.
	mu     sync.Mutex
	staged *engine.Staged
	// restore is a snapshot being restored (state sync).
	restore *restoring
	// snaps takes and serves snapshots.
	snaps *snapshots
	// nlt is the nonces' LtHash as committed; stagedNlt the staged
	// block's, and stagedNonces the senders' next nonces after it.
	nlt, stagedNlt lthash.Hash
	stagedNonces   map[chain.Address]uint64

	// checkMu guards the mempool connection's view of nonces: the next
	// nonce of each sender with transactions in the mempool, reset after
	// each Commit (CometBFT then rechecks what is left).
	checkMu sync.Mutex
	pending map[chain.Address]uint64
	// verified remembers the transactions whose signatures CheckTx
	// verified (bounded, oldest forgotten first), so FinalizeBlock need
	// not verify them again.
	verified *hashSet

	// height is the newest committed height, read by Query; last is
	// that block with its AppHash.
	height atomic.Int64
	last   atomic.Pointer[lastCommitted]

	// waitMu guards changed and failed. changed is closed and replaced
	// whenever a block commits (one channel for every waiter, so waiters
	// that give up leave nothing behind); halted is closed when a block
	// cannot be applied.
	waitMu  sync.Mutex
	changed chan struct{}
	halted  chan struct{}
	failed  error
}

// Halted is closed once a block could not be applied (Err says why):
// CometBFT then stops its consensus but not its process.
func (a *App) Halted() <-chan struct{} { return a.halted }

// ErrHalted is returned by WaitHeight once a block could not be applied.
var ErrHalted = errors.New("the application halted")

// Name is the application's name.
func (a *App) Name() string { return a.name }

// Height is the newest committed block.
func (a *App) Height() int64 { return a.height.Load() }

// Engine is the application's engine; its State is safe to read at any
// time (committed state).
func (a *App) Engine() *engine.Engine { return a.eng }

// Err is why the application halted (a block it could not apply), or nil.
func (a *App) Err() error {
	a.waitMu.Lock()
	defer a.waitMu.Unlock()
	return a.failed
}

// WaitHeight waits until block h is committed, ctx ends, or the
// application halts (an error wrapping ErrHalted).
func (a *App) WaitHeight(ctx context.Context, h int64) error {
	for {
		a.waitMu.Lock()
		if a.failed != nil {
			err := a.failed
			a.waitMu.Unlock()
			return fmt.Errorf("%w: %v", ErrHalted, err)
		}
		if a.height.Load() >= h {
			a.waitMu.Unlock()
			return nil
		}
		w := a.changed
		a.waitMu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wake wakes WaitHeight's waiters, recording err (a halt) when not nil.
func (a *App) wake(err error) {
	a.waitMu.Lock()
	if err != nil && a.failed == nil {
		a.failed = err
		close(a.halted)
	}
	close(a.changed)
	a.changed = make(chan struct{})
	a.waitMu.Unlock()
}

// PendingNonce is the nonce to give sender's next transaction: its
// committed next nonce, or past those waiting in the mempool.
func (a *App) PendingNonce(from chain.Address) (committed, pending uint64, err error) {
	if committed, err = a.nextNonce(from); err != nil {
		return 0, 0, err
	}
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	pending = max(committed, a.pending[from])
	return committed, pending, nil
}

// New returns an App over eng, whose application starts at or below the
// chain's initial height (InitChain fills the heights below it).
func New(eng *engine.Engine, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	info := eng.Info()
	a := &App{eng: eng, name: info.Name, magic: info.MagicBytes, chainID: opts.ChainID, log: opts.Logger,
		pending: map[chain.Address]uint64{}, verified: newHashSet(maxVerified),
		changed: make(chan struct{}), halted: make(chan struct{})}
	var err error
	if a.snaps, err = openSnapshots(opts); err != nil {
		return nil, err
	}
	switch raw, err := eng.Driver().Get(keyNonceLattice); {
	case errors.Is(err, kv.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := a.nlt.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("comet: the nonces' lattice: %w", err)
		}
	}
	if err := a.remember(); err != nil {
		return nil, err
	}
	return a, nil
}

// Version is the application version App reports in Info.
const Version = "vchain-comet/1"

// Info reports the newest committed block and its AppHash, from which
// CometBFT replays what the application has not committed. Blocks below
// the chain's first (InitChain's genesis blocks) count as none. It takes
// no lock the consensus connection holds (Info and Query share a
// connection).
func (a *App) Info(_ context.Context, req *abci.RequestInfo) (*abci.ResponseInfo, error) {
	resp := &abci.ResponseInfo{Data: a.name, Version: Version, AppVersion: 1}
	if c := a.last.Load(); c != nil && c.began {
		resp.LastBlockHeight, resp.LastBlockAppHash = c.height, c.appHash
	}
	return resp, nil
}

// lastCommitted is the newest committed block as Info and Query report it.
type lastCommitted struct {
	height  int64
	appHash []byte
	// began is false for InitChain's genesis blocks.
	began bool
}

// remember records the engine's newest committed block for Info and
// Query; the caller holds mu (or is New).
func (a *App) remember() error {
	h := a.eng.Height()
	c := &lastCommitted{height: h}
	if h >= a.eng.Info().FirstBlock {
		rec, err := a.eng.Record(h)
		if err != nil {
			return fmt.Errorf("comet: the record of committed block %d: %w", h, err)
		}
		c.appHash, c.began = AppHash(rec, a.nlt.Sum()), a.began(h)
	}
	a.last.Store(c)
	a.height.Store(h)
	return nil
}

// began reports whether committed block h is one of the chain's (not a
// genesis block InitChain applied below its initial height).
func (a *App) began(h int64) bool {
	v, err := a.eng.Driver().Get(keyInitial)
	if err != nil || len(v) != 8 {
		return true // no genesis blocks were applied
	}
	return h >= int64(binary.BigEndian.Uint64(v))
}

// maxGenesisBlocks bounds the empty blocks InitChain makes up.
const maxGenesisBlocks = 10_000

// keyInitial holds the chain's initial height once InitChain applied
// genesis blocks below it.
var keyInitial = []byte("initial")

// InitChain starts the application where the chain starts. An application
// whose first block is below the chain's initial height (the contract
// runtime and the names app start at 0, as on the DPoR chain, whose block
// 0 is its genesis; CometBFT's first block is 1) gets an empty block for
// each height below it, committed here, so that heights, and therefore
// consensus hashes, are those the same ops get on the DPoR chain.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.eng.Info().FirstBlock
	initial := req.InitialHeight
	if initial == 0 {
		initial = 1
	}
	if first > initial {
		return nil, fmt.Errorf("comet: the chain starts at height %d, application %s at block %d: set the genesis initial_height to %d", initial, a.name, first, first)
	}
	if initial-first > maxGenesisBlocks {
		return nil, fmt.Errorf("comet: the chain starts at height %d, %d blocks past application %s's first: at most %d empty blocks are made up at genesis", initial, initial-first, a.name, maxGenesisBlocks)
	}
	if a.chainID != "" && req.ChainId != a.chainID {
		return nil, fmt.Errorf("comet: the genesis is of chain %q, the application was configured for %q", req.ChainId, a.chainID)
	}
	if a.eng.Height() >= initial {
		return nil, fmt.Errorf("comet: InitChain, but the application has committed block %d already: its store is of another chain (or CometBFT's data was removed)", a.eng.Height())
	}
	for h := a.eng.Height() + 1; h < initial; h++ {
		st, err := a.eng.Stage(&tape.Block{Header: tape.Header{Height: h, Time: req.Time.Unix()}})
		if err != nil {
			return nil, fmt.Errorf("comet: genesis block %d: %w", h, err)
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(initial))
		if err := st.SetDriver(keyInitial, v[:]); err != nil {
			st.Discard()
			return nil, err
		}
		if err := st.Commit(); err != nil {
			return nil, err
		}
	}
	if err := a.remember(); err != nil {
		return nil, err
	}
	resp := &abci.ResponseInitChain{}
	if h := a.eng.Height(); h >= first {
		rec, err := a.eng.Record(h)
		if err != nil {
			return nil, err
		}
		resp.AppHash = AppHash(rec, a.nlt.Sum())
	}
	return resp, nil
}

// decoded is a transaction checked for form, signature and payload.
type decoded struct {
	tx   *chain.Tx
	from chain.Address
}

// check decodes raw and checks everything but its nonce.
func (a *App) check(raw []byte) (*decoded, uint32, string) {
	d, code, msg := a.parse(raw)
	if code != 0 {
		return nil, code, msg
	}
	if err := d.tx.CheckSignature(a.chainID); err != nil {
		return nil, CodeMalformed, err.Error()
	}
	return d, 0, ""
}

// parse is check without the signature.
func (a *App) parse(raw []byte) (*decoded, uint32, string) {
	if len(raw) > MaxTxBytes {
		return nil, CodeMalformed, fmt.Sprintf("a transaction of %d bytes, at most %d", len(raw), MaxTxBytes)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, CodeMalformed, err.Error()
	}
	if tx.Call != nil {
		return nil, CodeNotForApp, "a call to a DPoR system contract: there are none on this chain"
	}
	if len(tx.PubKey) != ed25519.PublicKeySize {
		return nil, CodeMalformed, fmt.Sprintf("a public key of %d bytes", len(tx.PubKey))
	}
	if len(tx.Data) < len(a.magic)+1 || string(tx.Data[:len(a.magic)]) != string(a.magic) {
		return nil, CodeNotForApp, fmt.Sprintf("the payload does not start with application %s's magic bytes %x and an opcode", a.name, a.magic)
	}
	return &decoded{tx: tx, from: tx.Sender()}, 0, ""
}

// MaxTxBytes bounds a transaction: a DPoR transaction with the largest
// payload fits with room to spare.
const MaxTxBytes = chain.MaxData + 1024

// nextNonce is the sender's next nonce as committed.
func (a *App) nextNonce(from chain.Address) (uint64, error) {
	v, err := a.eng.Driver().Get(nonceKey(from))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("comet: sender %s's nonce is stored in %d bytes", from, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func nonceKey(from chain.Address) []byte { return append([]byte("n/"), from[:]...) }

// CheckTx admits a transaction to the mempool only if it decodes, its
// signature verifies, its payload is for this application and its nonce
// is the sender's next: its committed nonce, or the one after those it
// already has in the mempool. A gap would let a sender fill the mempool
// with transactions no block can take (there are no fees here to make
// that cost anything). CometBFT checks the mempool again after each
// block, in order, by the same rule: what a block used goes, and so does
// what lost its predecessor.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	check := a.check
	if req.Type == abci.CheckTxType_Recheck {
		// The same bytes passed a full check when they entered the
		// mempool; after a block only the nonce can have changed.
		check = a.parse
	}
	d, code, msg := check(req.Tx)
	if code != 0 {
		return &abci.ResponseCheckTx{Code: code, Codespace: Codespace, Log: msg}, nil
	}
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	next, ok := a.pending[d.from]
	if !ok {
		var err error
		if next, err = a.nextNonce(d.from); err != nil {
			return nil, err
		}
	}
	switch {
	case d.tx.Nonce < next:
		return &abci.ResponseCheckTx{Code: CodeNonce, Codespace: Codespace,
			Log: fmt.Sprintf("nonce %d is taken: sender %s's next is %d", d.tx.Nonce, d.from, next)}, nil
	case d.tx.Nonce > next:
		return &abci.ResponseCheckTx{Code: CodeNonce, Codespace: Codespace,
			Log: fmt.Sprintf("nonce %d leaves a gap: sender %s's next is %d", d.tx.Nonce, d.from, next)}, nil
	case !ok && len(a.pending) >= maxPendingSenders:
		return &abci.ResponseCheckTx{Code: CodeNonce, Codespace: Codespace, Log: "too many senders with transactions waiting; try again after the next block"}, nil
	}
	a.pending[d.from] = next + 1
	if req.Type != abci.CheckTxType_Recheck {
		a.verified.add(d.tx.Hash())
	}
	return &abci.ResponseCheckTx{GasWanted: 1}, nil
}

// maxVerified bounds the verified-signature cache: four times CometBFT's
// default mempool.
const maxVerified = 1 << 15

// hashSet is a bounded set of transaction hashes, safe for concurrent use.
type hashSet struct {
	mu    sync.Mutex
	set   map[[32]byte]struct{}
	order [][32]byte
	next  int
}

func newHashSet(n int) *hashSet {
	return &hashSet{set: make(map[[32]byte]struct{}, n), order: make([][32]byte, 0, n)}
}

func (s *hashSet) add(h [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[h]; ok {
		return
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, h)
	} else {
		delete(s.set, s.order[s.next])
		s.order[s.next] = h
		s.next = (s.next + 1) % len(s.order)
	}
	s.set[h] = struct{}{}
}

func (s *hashSet) has(h [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[h]
	return ok
}

// maxPendingSenders bounds the mempool view (CometBFT's mempool holds
// 5,000 transactions by default).
const maxPendingSenders = 1 << 17

// PrepareProposal orders the proposer's block: each sender's transactions
// by nonce, from its committed nonce on, without gaps or repeats, each
// sender in the place of its first transaction in the mempool's order;
// the rest stay in the mempool for a later block. FinalizeBlock still
// checks everything: a proposer that does not run this (or lies) gets
// failing results for what is out of turn, never a wrong state.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	type entry struct {
		nonce uint64
		raw   []byte
	}
	var order []chain.Address
	by := map[chain.Address][]entry{}
	var size int64
	for _, raw := range req.Txs {
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			continue
		}
		from := tx.Sender()
		if _, ok := by[from]; !ok {
			order = append(order, from)
		}
		by[from] = append(by[from], entry{tx.Nonce, raw})
	}
	out := make([][]byte, 0, len(req.Txs))
	for _, from := range order {
		es := by[from]
		slices.SortStableFunc(es, func(x, y entry) int { return cmp.Compare(x.nonce, y.nonce) })
		next, err := a.nextNonce(from)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.nonce != next {
				if e.nonce < next {
					continue // a repeat, or used
				}
				break // a gap: the rest waits
			}
			if req.MaxTxBytes > 0 && size+int64(len(e.raw)) > req.MaxTxBytes {
				break
			}
			size += int64(len(e.raw))
			out = append(out, e.raw)
			next++
		}
	}
	return &abci.ResponsePrepareProposal{Txs: out}, nil
}

// FinalizeBlock turns the decided block into a tape block, applies it
// through the engine without committing, and answers each transaction's
// result and the AppHash. A block it cannot apply is an error: CometBFT
// stops rather than go past it.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.restore != nil {
		a.log.Warn("a block before the snapshot being restored was finished: giving the restore up")
		a.restore.r.Abort()
		a.restore = nil
	}
	if a.staged != nil {
		// FinalizeBlock again without a Commit: CometBFT crashed between
		// them in an earlier life of this process's state, which cannot
		// happen in one process; start the block over.
		a.staged.Discard()
		a.staged = nil
	}
	if want := a.eng.Height() + 1; req.Height != want {
		return nil, fmt.Errorf("comet: block %d does not follow the application's committed block %d", req.Height, want-1)
	}
	b := &tape.Block{Header: tape.Header{Height: req.Height, Time: req.Time.Unix()}}
	copy(b.Hash[:], req.Hash)
	results := make([]*abci.ExecTxResult, len(req.Txs))
	nonces := map[chain.Address]uint64{} // the senders' next nonces after the block
	olds := map[chain.Address]uint64{}   // and before it
	// Decode everything, then check the signatures in batches on every
	// core; the results are those of checking one by one.
	ds := make([]*decoded, len(req.Txs))
	codes := make([]uint32, len(req.Txs))
	msgs := make([]string, len(req.Txs))
	var txs []*chain.Tx
	var at []int
	for i, raw := range req.Txs {
		if ds[i], codes[i], msgs[i] = a.parse(raw); codes[i] == 0 && !a.verified.has(ds[i].tx.Hash()) {
			txs, at = append(txs, ds[i].tx), append(at, i)
		}
	}
	for j, err := range chain.VerifySignatures(a.chainID, txs, runtime.GOMAXPROCS(0)) {
		if err != nil {
			codes[at[j]], msgs[at[j]] = CodeMalformed, err.Error()
		}
	}
	for i := range req.Txs {
		d, code, msg := ds[i], codes[i], msgs[i]
		if code == 0 {
			next, ok := nonces[d.from]
			if !ok {
				var err error
				if next, err = a.nextNonce(d.from); err != nil {
					return nil, err
				}
				olds[d.from] = next
			}
			if d.tx.Nonce != next {
				code, msg = CodeNonce, fmt.Sprintf("nonce %d, sender %s's next is %d", d.tx.Nonce, d.from, next)
			} else {
				nonces[d.from] = next + 1
			}
		}
		if code != 0 {
			results[i] = &abci.ExecTxResult{Code: code, Codespace: Codespace, Log: msg}
			continue
		}
		b.Txs = append(b.Txs, tapedpor.TapeTx(d.tx, i))
		results[i] = &abci.ExecTxResult{}
	}
	st, err := a.eng.Stage(b)
	if err != nil {
		err = fmt.Errorf("comet: application %s cannot apply block %d: %w", a.name, req.Height, err)
		a.log.Error("halting: a block the application cannot apply", "height", req.Height, "err", err)
		a.wake(err)
		return nil, err
	}
	lt := a.nlt
	for from, next := range nonces {
		if next == olds[from] {
			continue
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], next)
		if err := st.SetDriver(nonceKey(from), v[:]); err != nil {
			st.Discard()
			return nil, err
		}
		if old := olds[from]; old > 0 {
			nonceElement(&lt, from, old, false)
		}
		nonceElement(&lt, from, next, true)
	}
	if err := st.SetDriver(keyNonceLattice, lt.AppendBinary(nil)); err != nil {
		st.Discard()
		return nil, err
	}
	a.stagedNlt, a.stagedNonces = lt, nonces
	for _, r := range st.Rejected {
		// A tape transaction's Index is its place in the block.
		if i := r.TxIndex; i >= 0 && i < len(results) {
			results[i].Code, results[i].Codespace, results[i].Log = CodeRejected, Codespace, r.Stage+": "+r.Reason.Error()
		}
	}
	a.staged = st
	return &abci.ResponseFinalizeBlock{TxResults: results, AppHash: AppHash(st.Record, lt.Sum())}, nil
}

// Commit persists the block FinalizeBlock staged, in one synced batch.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.staged == nil {
		return nil, errors.New("comet: Commit without a finalized block")
	}
	st := a.staged
	a.staged = nil
	if err := st.Commit(); err != nil {
		err = fmt.Errorf("comet: committing block %d: %w", st.Record.Height, err)
		a.wake(err)
		return nil, err
	}
	a.nlt = a.stagedNlt
	a.last.Store(&lastCommitted{height: st.Record.Height, appHash: AppHash(st.Record, a.nlt.Sum()), began: true})
	a.height.Store(st.Record.Height)
	a.wake(nil)
	// CometBFT rechecks what is left in the mempool next, in order, under
	// its lock (no new transaction comes between): that rebuilds the
	// view, without the gaps a block may have made (a hostile proposer
	// can take a sender's later transaction without the earlier one, and
	// CometBFT drops every transaction a block holds from its mempool).
	a.checkMu.Lock()
	clear(a.pending)
	a.checkMu.Unlock()
	a.stagedNonces = nil
	a.maybeSnapshot(st.Record.Height)
	return &abci.ResponseCommit{}, nil
}

// Query paths.
const (
	// QueryStatus answers {"height", "consensus_hash", "state_commitment",
	// "app"} for the newest committed block.
	QueryStatus = "/status"
	// QueryRecord answers block Height's engine record (JSON); height 0:
	// the newest.
	QueryRecord = "/record"
	// QueryState answers the value of the application's key Data (raw
	// bytes), committed.
	QueryState = "/state"
	// QueryNonce answers the next nonce (decimal) of the sender whose
	// address (hex) is Data.
	QueryNonce = "/nonce"
)

// Query serves committed reads; it takes no lock the consensus connection
// holds, so a block being executed never delays it.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	h := a.height.Load()
	resp := &abci.ResponseQuery{Height: h}
	fail := func(code uint32, format string, args ...any) (*abci.ResponseQuery, error) {
		resp.Code, resp.Codespace, resp.Log = code, Codespace, fmt.Sprintf(format, args...)
		return resp, nil
	}
	if a.eng.Restoring() {
		return fail(CodeRestoring, "restoring a snapshot (state sync): nothing is served until it is checked")
	}
	if req.Height != 0 && req.Height != h && req.Path != QueryRecord {
		return fail(CodeMalformed, "only the newest committed height (%d) is served", h)
	}
	switch req.Path {
	case QueryStatus, QueryRecord:
		at := h
		if req.Path == QueryRecord && req.Height != 0 {
			at = req.Height
		}
		if at < a.eng.Info().FirstBlock {
			return fail(CodeMalformed, "no block committed at height %d", at)
		}
		rec, err := a.eng.Record(at)
		if err != nil {
			return fail(CodeMalformed, "block %d: %v", at, err)
		}
		resp.Height = at
		if req.Path == QueryRecord {
			resp.Value, _ = json.Marshal(rec)
			return resp, nil
		}
		resp.Value, _ = json.Marshal(map[string]any{"height": at, "consensus_hash": rec.Consensus.String(),
			"state_commitment": rec.State.String(), "app": a.name})
		if c := a.last.Load(); c != nil && c.height == at && c.began {
			resp.Value, _ = json.Marshal(map[string]any{"height": at, "consensus_hash": rec.Consensus.String(),
				"state_commitment": rec.State.String(), "app": a.name, "app_hash": hex.EncodeToString(c.appHash)})
		}
		return resp, nil
	case QueryState:
		v, err := a.eng.State().Get(req.Data)
		if errors.Is(err, kv.ErrNotFound) {
			return fail(CodeMalformed, "no key %x", req.Data)
		}
		if err != nil {
			return nil, err
		}
		resp.Key, resp.Value = req.Data, v
		return resp, nil
	case QueryNonce:
		raw, err := hex.DecodeString(strings.TrimPrefix(string(req.Data), "0x"))
		var from chain.Address
		if err != nil || len(raw) != len(from) {
			return fail(CodeMalformed, "want an address in hex (%d bytes)", len(from))
		}
		copy(from[:], raw)
		n, err := a.nextNonce(from)
		if err != nil {
			return nil, err
		}
		resp.Value = []byte(strconv.FormatUint(n, 10))
		return resp, nil
	}
	return fail(CodeMalformed, "unknown query path %q (want %s, %s, %s or %s)", req.Path, QueryStatus, QueryRecord, QueryState, QueryNonce)
}
