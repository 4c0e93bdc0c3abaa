package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// Config tunes an Engine. The zero value is usable.
type Config struct {
	// Confirmations is K: the engine processes blocks up to the source's
	// tip minus K.
	Confirmations int64
	// UndoDepth is R: how many recent blocks can be rolled back on a reorg
	// (default DefaultUndoDepth). A deeper fork stops the engine.
	UndoDepth int64
	// Checkpoints are known consensus hashes by height; a mismatch stops
	// the engine before the block commits.
	Checkpoints map[int64]vchash.ConsensusHash
	// StateCheckpoints are known state commitments by height; a mismatch
	// stops the engine before the block commits.
	StateCheckpoints map[int64]lthash.Digest
	// SyncBlocks and SyncInterval bound how much committed work a power
	// failure may take back during catch-up: the engine fsyncs after that
	// many blocks or that much time, whichever comes first, and always when
	// it catches up. Every block still commits atomically and in order; a
	// crash loses whole blocks at the end, never part of one. Zero values
	// mean 1000 blocks and 200ms. SyncBlocks of 1 syncs every block.
	SyncBlocks   int
	SyncInterval time.Duration
	// FetchAhead is how many fetched blocks may wait for processing
	// (default 64). A tape.RangeSource is asked for everything up to the
	// target and fetches within its own budget; the blocks it returns
	// wait here.
	FetchAhead int
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// OnBlock, when set, is called after each block commits.
	OnBlock func(BlockEvent)
	// OnTip, when set, is called with the source's tip each time the
	// driver asks for it.
	OnTip func(tip int64)
	// OnRollback, when set, is called after blocks are rolled back.
	OnRollback func(RollbackEvent)
	// Events keeps a durable event log (Engine.Events) in the engine's
	// store, written in each block's batch: the block, its accepted ops
	// and its rejected candidates with the reasons, and reverts.
	Events bool
}

// BlockEvent reports a committed block.
type BlockEvent struct {
	Record   BlockRecord
	Rejected []RejectedTx
	// Target is the height the current catch-up is heading for.
	Target int64
}

// RollbackEvent reports a reorg: the blocks above ForkHeight were undone.
type RollbackEvent struct {
	ForkHeight int64
	From       int64
}

// ReorgTooDeepError is returned when the source's chain forked below the
// blocks the engine can undo. The engine changes nothing.
//
// The undo depth R counts from the highest block ever committed: once R
// blocks have been committed on top of a block, it is final and its undo
// record is dropped, even if a later reorg takes some of those blocks back.
type ReorgTooDeepError struct {
	Committed int64 // the engine's newest block
	UndoDepth int64
	// Fork is the common ancestor, or -1 when none was found within
	// UndoDepth blocks.
	Fork int64
	// Final is the block that would have to be undone but is final.
	Final int64
	// Imported says the store was imported from a snapshot at height
	// Snapshot, below which nothing can be undone.
	Imported bool
	Snapshot int64
}

func (e *ReorgTooDeepError) Error() string {
	if e.Imported && (e.Fork < 0 || e.Final <= e.Snapshot) {
		return fmt.Sprintf("the source's chain differs from this store's at or below block %d, which it was imported at from a snapshot and cannot roll back: the snapshot is not of the chain the source serves, or the source reorganized below it; state left untouched at height %d",
			e.Snapshot, e.Committed)
	}
	if e.Fork < 0 {
		return fmt.Sprintf("reorg deeper than the undo depth: the source no longer has block %d and shares none of the last %d committed blocks; state left untouched at height %d",
			e.Committed, e.UndoDepth, e.Committed)
	}
	return fmt.Sprintf("reorg deeper than the undo depth: the source forked after block %d, but block %d is final (%d blocks were committed on top of it); state left untouched at height %d",
		e.Fork, e.Final, e.UndoDepth, e.Committed)
}

// Engine drives an Application over a Source: it fetches blocks, runs them
// through the Processor, commits each in one atomic Pebble batch, follows
// reorgs, and answers questions about the consensus history. It is the I/O
// shell around the deterministic Processor. Methods are not safe for
// concurrent use, except the readers documented as such.
type Engine struct {
	db   store.Store
	app  Application
	info Info
	cfg  Config
	proc *Processor
	log  *slog.Logger

	// hist holds the hash and consensus hash of every committed block,
	// indexed by height - FirstBlock.
	hist []histEntry

	unsynced int
	lastSync time.Time
	// staged is set while a Staged block is neither committed nor
	// discarded.
	staged bool
	// restoring is set while a Restore runs.
	restoring atomic.Bool

	events *events.Log
}

// prefixEvents is where the event log lives in the engine's store.
var prefixEvents = []byte("e/v/")

// snapshotHeight is the height the store was imported at, or -1.
func (e *Engine) snapshotHeight() int64 {
	raw, err := e.db.Get(keySnapshot)
	if err != nil || len(raw) != 8 {
		return -1
	}
	return int64(be64(raw))
}

// Events is the engine's event log, nil unless Config.Events is set.
func (e *Engine) Events() *events.Log { return e.events }

// blockEvents are the events of one applied block.
func (e *Engine) blockEvents(res *Result) []events.Event {
	r := &res.Record
	app := e.info.Name
	data, _ := json.Marshal(map[string]any{"hash": r.Hash.String(), "parent": r.Parent.String(), "consensus": r.Consensus.String(),
		"ops_hash": r.OpsHash.String(), "state": r.State.String(), "time": r.Time, "accepted": r.Accepted, "candidates": r.Candidates})
	evs := []events.Event{{Kind: events.KindBlock, Height: r.Height, App: app, Data: data}}
	for _, a := range res.Accepted {
		d, _ := json.Marshal(map[string]any{"tx": a.TxID.String(), "tx_index": a.TxIndex, "opcode": string(a.Opcode), "op": string(a.Op)})
		evs = append(evs, events.Event{Kind: events.KindOp, Height: r.Height, App: app, Contract: a.Contract, Name: a.Name, Data: d})
	}
	for _, rj := range res.Rejected {
		d, _ := json.Marshal(map[string]any{"tx": rj.TxID.String(), "tx_index": rj.TxIndex, "stage": rj.Stage, "reason": rj.Reason.Error()})
		evs = append(evs, events.Event{Kind: events.KindRejected, Height: r.Height, App: app, Data: d})
	}
	return evs
}

type histEntry struct {
	hash vchash.Hash
	ch   vchash.ConsensusHash
}

// Open loads an engine's state from db for app. A database that belongs to
// another application (name or first block) is refused.
func Open(db store.Store, app Application, cfg Config) (*Engine, error) {
	e := &Engine{db: db, app: app, cfg: cfg, log: cfg.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.cfg.UndoDepth <= 0 {
		e.cfg.UndoDepth = DefaultUndoDepth
	}
	if e.cfg.SyncBlocks <= 0 {
		e.cfg.SyncBlocks = 1000
	}
	if e.cfg.SyncInterval <= 0 {
		e.cfg.SyncInterval = 200 * time.Millisecond
	}
	if e.cfg.FetchAhead <= 0 {
		e.cfg.FetchAhead = 64
	}
	proc, err := NewProcessor(app, e, ProcessorConfig{UndoDepth: e.cfg.UndoDepth, Checkpoints: cfg.Checkpoints,
		StateCheckpoints: cfg.StateCheckpoints})
	if err != nil {
		return nil, err
	}
	e.proc = proc
	e.info = proc.Info()
	if cfg.Events {
		rr, ok := db.(events.RangeReader)
		if !ok {
			return nil, errors.New("engine: Config.Events needs a store that reads key ranges")
		}
		if e.events, err = events.Open(rr, prefixEvents); err != nil {
			return nil, err
		}
	}
	if err := e.interruptedRestore(); err != nil {
		return nil, err
	}
	if err := e.checkIdentity(); err != nil {
		return nil, err
	}
	if err := e.load(); err != nil {
		return nil, err
	}
	e.lastSync = time.Now()
	return e, nil
}

func (e *Engine) identity() []byte {
	return fmt.Appendf(nil, "%s\x00%d", e.info.Name, e.info.FirstBlock)
}

func (e *Engine) checkIdentity() error {
	id, err := e.db.Get(keyIdentity)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		txn := e.db.Begin()
		if err := txn.Set(keyIdentity, e.identity()); err != nil {
			txn.Discard()
			return err
		}
		return txn.Commit(true)
	case err != nil:
		return err
	case !bytes.Equal(id, e.identity()):
		name, first, _ := bytes.Cut(id, []byte{0})
		return fmt.Errorf("engine: this data directory belongs to application %q with first block %s, not %q with first block %d",
			name, first, e.info.Name, e.info.FirstBlock)
	}
	return nil
}

// load rebuilds the in-memory history from the block records and checks
// they are contiguous and agree with the tip record.
func (e *Engine) load() error {
	next := e.info.FirstBlock
	err := e.db.Iterate(prefixBlock, func(k, v []byte) error {
		h := int64(be64(k[len(prefixBlock):]))
		if h != next {
			return fmt.Errorf("engine: block records jump from %d to %d", next-1, h)
		}
		rec, err := decodeBlockRecord(h, v)
		if err != nil {
			return err
		}
		e.hist = append(e.hist, histEntry{hash: rec.Hash, ch: rec.Consensus})
		next++
		return nil
	})
	if err != nil {
		return err
	}
	tipRaw, err := e.db.Get(keyTip)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		if len(e.hist) != 0 {
			return errors.New("engine: block records without a tip record")
		}
	case err != nil:
		return err
	default:
		h, hash, err := decodeTip(tipRaw)
		if err != nil {
			return err
		}
		if h != e.Height() || hash != e.hist[len(e.hist)-1].hash {
			return fmt.Errorf("engine: tip record says height %d but block records end at %d", h, e.Height())
		}
		return e.loadLattice(h)
	}
	return nil
}

// loadLattice makes sure the state's LtHash is stored: a data directory an
// older engine wrote has none, so it is computed once from the whole state
// (and checked against the tip's commitment when the tip has one).
func (e *Engine) loadLattice(tip int64) error {
	if _, ok, err := ReadLattice(e.db); ok || err != nil {
		return err
	}
	e.log.Info("computing the state commitment from the whole state (once)", "height", tip)
	lt, err := HashState(e.db)
	if err != nil {
		return err
	}
	rec, err := e.Record(tip)
	if err != nil {
		return err
	}
	if !rec.State.IsZero() && rec.State != lt.Sum() {
		return &StateMismatchError{Height: tip, Got: lt.Sum(), Want: rec.State}
	}
	txn := e.db.Begin()
	if _, err := writeLattice(txn, &lt); err != nil {
		txn.Discard()
		return err
	}
	return txn.Commit(true)
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// Info returns the application's description.
func (e *Engine) Info() Info { return e.info }

// Height returns the newest committed height (FirstBlock-1 when none).
func (e *Engine) Height() int64 { return e.info.FirstBlock + int64(len(e.hist)) - 1 }

// Hash returns the hash of the newest committed block (zero when none).
func (e *Engine) Hash() vchash.Hash {
	if len(e.hist) == 0 {
		return vchash.Hash{}
	}
	return e.hist[len(e.hist)-1].hash
}

// ConsensusAt implements History: the consensus hash of a committed block.
func (e *Engine) ConsensusAt(height int64) (vchash.ConsensusHash, bool) {
	i := height - e.info.FirstBlock
	if i < 0 || i >= int64(len(e.hist)) {
		return vchash.ConsensusHash{}, false
	}
	return e.hist[i].ch, true
}

// Consensus returns the newest committed consensus hash, the one a client
// puts in a new op.
func (e *Engine) Consensus() (vchash.ConsensusHash, bool) { return e.ConsensusAt(e.Height()) }

// IsFresh reports whether an op carrying ch would be fresh in the next block.
func (e *Engine) IsFresh(ch vchash.ConsensusHash) bool { return e.proc.isFresh(e.Height()+1, ch) }

// HeightOfConsensus returns the newest committed height whose consensus
// hash is ch.
func (e *Engine) HeightOfConsensus(ch vchash.ConsensusHash) (int64, bool) {
	for i := len(e.hist) - 1; i >= 0; i-- {
		if e.hist[i].ch == ch {
			return e.info.FirstBlock + int64(i), true
		}
	}
	return 0, false
}

// Record returns the stored record of a committed block.
func (e *Engine) Record(height int64) (BlockRecord, error) {
	v, err := e.db.Get(heightKey(prefixBlock, height))
	if err != nil {
		return BlockRecord{}, fmt.Errorf("block %d: %w", height, err)
	}
	return decodeBlockRecord(height, v)
}

// ReadRecord reads the record of the block committed at height from a
// store an engine wrote (a snapshot, for a consistent view);
// kv.ErrNotFound when there is none.
func ReadRecord(r kv.Reader, height int64) (BlockRecord, error) {
	v, err := r.Get(heightKey(prefixBlock, height))
	if err != nil {
		return BlockRecord{}, err
	}
	return decodeBlockRecord(height, v)
}

// Records calls fn for each committed block record, oldest first.
func (e *Engine) Records(fn func(BlockRecord) error) error { return ReadRecords(e.db, fn) }

// ReadRecords calls fn for each block record in a store an engine wrote,
// oldest first, without opening an engine (it needs no application).
func ReadRecords(r kv.Reader, fn func(BlockRecord) error) error {
	return r.Iterate(prefixBlock, func(k, v []byte) error {
		rec, err := decodeBlockRecord(int64(be64(k[len(prefixBlock):])), v)
		if err != nil {
			return err
		}
		return fn(rec)
	})
}

// State returns a reader over the application's committed state, for
// queries.
func (e *Engine) State() kv.Reader { return AppState(e.db) }

// AppState narrows a reader over a whole engine store (a store.DB, or a
// kv.Mem a Processor wrote to) to the application's keys, as the
// application saw them.
func AppState(r kv.Reader) kv.Reader { return appReader{r} }

// prefixDriver holds the driver keys (Staged.SetDriver). A rollback does
// not undo them: they serve sources without reorgs.
var prefixDriver = []byte("e/x/")

func driverKey(key []byte) []byte { return append(append([]byte(nil), prefixDriver...), key...) }

type driverReader struct{ r kv.Reader }

func (d driverReader) Get(key []byte) ([]byte, error) { return d.r.Get(driverKey(key)) }

func (d driverReader) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return d.r.Iterate(driverKey(prefix), func(k, v []byte) error { return fn(k[len(prefixDriver):], v) })
}

type appReader struct{ r kv.Reader }

func (a appReader) Get(key []byte) ([]byte, error) {
	return a.r.Get(append(append([]byte(nil), prefixApp...), key...))
}

func (a appReader) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	p := append(append([]byte(nil), prefixApp...), prefix...)
	return a.r.Iterate(p, func(k, v []byte) error { return fn(k[len(prefixApp):], v) })
}

// Flush makes every committed block durable.
func (e *Engine) Flush() error {
	if e.unsynced == 0 {
		return nil
	}
	if err := e.db.Sync(); err != nil {
		return err
	}
	e.unsynced = 0
	e.lastSync = time.Now()
	return nil
}

// ApplyBlock processes one block directly, without a Source: b must extend
// the newest committed block. Sources that push blocks (a replay file, a
// contract host's call log) use it; Sync uses it for each fetched block.
// target is the height the caller is heading for, reported in BlockEvent
// (-1 when unknown).
func (e *Engine) ApplyBlock(b *tape.Block, target int64) error {
	_, err := e.ApplyBlocks([]*tape.Block{b}, target)
	return err
}

// ApplyBlocks processes consecutive blocks and commits them in one atomic
// batch: all of them or none. Each block still gets its own record, undo
// record and consensus hash, exactly as if applied one by one; grouping
// only saves commits when blocks arrive in bursts. It returns the records
// of the committed blocks.
func (e *Engine) ApplyBlocks(bs []*tape.Block, target int64) ([]BlockRecord, error) {
	return e.ApplyBlocksUntil(bs, target, nil)
}

// ApplyBlocksUntil is ApplyBlocks that may end the batch early: after each
// block it calls stop (when not nil), and once stop returns true it
// applies no more blocks and commits those applied so far. The caller
// learns how many from the records it returns. A sequencer uses it to
// bound the work of one batch by what its blocks turn out to cost.
func (e *Engine) ApplyBlocksUntil(bs []*tape.Block, target int64, stop func() bool) ([]BlockRecord, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	st, err := e.stage(bs, stop)
	if err != nil {
		return nil, err
	}
	st.target = target
	return st.commit()
}

// Staged is a block the engine has applied but not committed (Stage): its
// record, consensus hash and state commitment are known, nothing is on
// disk. A consensus engine that decides a block in one step and persists
// it in another (CometBFT's FinalizeBlock and Commit) uses it; until
// Commit or Discard the engine takes no other block.
type Staged struct {
	// Record is the block's record as it will be committed.
	Record BlockRecord
	// Rejected are the block's transactions the application refused.
	Rejected []RejectedTx
	// Accepted are the ops the application accepted, in order.
	Accepted []AcceptedOp

	e       *Engine
	txn     store.Batch
	base    int
	results []*Result
	heights [2]int64
	target  int64
	done    bool
}

// Stage applies b, which must extend the newest committed block, and
// holds its writes until the returned Staged is committed or discarded.
func (e *Engine) Stage(b *tape.Block) (*Staged, error) {
	if e.staged {
		return nil, errors.New("engine: a staged block is neither committed nor discarded")
	}
	st, err := e.stage([]*tape.Block{b}, nil)
	if err != nil {
		return nil, err
	}
	e.staged = true
	st.target = -1
	st.Record, st.Rejected, st.Accepted = st.results[0].Record, st.results[0].Rejected, st.results[0].Accepted
	return st, nil
}

// SetDriver stores a driver key (package kv's conventions) beside the
// block, in the same atomic batch: what the driver itself must remember
// with each block (a consensus engine's replay protection, say). Driver
// keys are outside the application's state and its commitment; read them
// with Engine.Driver.
func (s *Staged) SetDriver(key, value []byte) error {
	if s.done {
		return errors.New("engine: the staged block is already committed or discarded")
	}
	return s.txn.Set(driverKey(key), value)
}

// Commit writes the staged block in one atomic batch, synced to disk.
func (s *Staged) Commit() error {
	if s.done {
		return errors.New("engine: the staged block is already committed or discarded")
	}
	s.done, s.e.staged = true, false
	s.e.unsynced = s.e.cfg.SyncBlocks // a consensus engine relies on Commit being durable
	_, err := s.commit()
	return err
}

// Discard drops the staged block: the engine is back at the block before.
func (s *Staged) Discard() {
	if s.done {
		return
	}
	s.done, s.e.staged = true, false
	s.fail(nil)
}

// Driver reads the driver keys (Staged.SetDriver) as committed.
func (e *Engine) Driver() kv.Reader { return driverReader{e.db} }

func (s *Staged) fail(err error) ([]BlockRecord, error) {
	s.txn.Discard()
	s.e.hist = s.e.hist[:s.base]
	if s.e.events != nil {
		s.e.events.Abort()
	}
	return nil, err
}

// stage applies consecutive blocks in one transaction, stopping early
// once stop says so.
func (e *Engine) stage(bs []*tape.Block, stop func() bool) (*Staged, error) {
	st := &Staged{e: e, base: len(e.hist), txn: e.db.Begin()}
	st.results = make([]*Result, 0, len(bs))
	for _, b := range bs {
		if want := e.Height() + 1; b.Height != want {
			_, err := st.fail(fmt.Errorf("engine: block %d does not follow height %d", b.Height, e.Height()))
			return nil, err
		}
		if len(e.hist) > 0 && b.Parent != (vchash.Hash{}) && b.Parent != e.Hash() {
			_, err := st.fail(&parentMismatch{height: b.Height, parent: b.Parent, have: e.Hash()})
			return nil, err
		}
		res, err := e.proc.Apply(b, st.txn)
		if err != nil {
			_, err := st.fail(err)
			return nil, err
		}
		st.results = append(st.results, res)
		if e.events != nil {
			if err := e.events.Append(st.txn, e.blockEvents(res)...); err != nil {
				_, err := st.fail(err)
				return nil, err
			}
		}
		// The next block in the batch mixes in this one's consensus hash.
		e.hist = append(e.hist, histEntry{hash: b.Hash, ch: res.Record.Consensus})
		if stop != nil && stop() {
			break
		}
	}
	st.heights = [2]int64{bs[0].Height, bs[len(st.results)-1].Height}
	return st, nil
}

// commit commits a stage's transaction and tells the application and the
// callbacks about its blocks.
func (st *Staged) commit() ([]BlockRecord, error) {
	e := st.e
	e.unsynced += len(st.results)
	sync := e.unsynced >= e.cfg.SyncBlocks || time.Since(e.lastSync) >= e.cfg.SyncInterval
	if err := st.txn.Commit(sync); err != nil {
		e.hist = e.hist[:st.base]
		if e.events != nil {
			e.events.Abort()
		}
		return nil, fmt.Errorf("engine: commit blocks %d..%d: %w", st.heights[0], st.heights[1], err)
	}
	if e.events != nil {
		e.events.Publish()
	}
	if sync {
		e.unsynced = 0
		e.lastSync = time.Now()
	}
	records := make([]BlockRecord, len(st.results))
	for i, res := range st.results {
		records[i] = res.Record
		for _, r := range res.Rejected {
			e.log.Debug("op rejected", "height", res.Record.Height, "tx", r.TxIndex, "stage", r.Stage, "reason", r.Reason)
		}
		if e.cfg.OnBlock != nil {
			e.cfg.OnBlock(BlockEvent{Record: res.Record, Rejected: res.Rejected, Target: st.target})
		}
	}
	for _, r := range records {
		if err := e.app.Continue(r.Height, r.Consensus); err != nil {
			if ferr := e.Flush(); ferr != nil {
				return records, ferr
			}
			return records, err
		}
	}
	return records, nil
}

type parentMismatch struct {
	height       int64
	parent, have vchash.Hash
}

func (p *parentMismatch) Error() string {
	return fmt.Sprintf("block %d's parent is %s but the committed block below it is %s", p.height, p.parent, p.have)
}

// Sync catches up with src: it rolls back blocks src no longer has, then
// processes every block up to src's tip minus the confirmations, and
// returns once caught up (or on error, cancellation, or ErrStop from the
// application). Everything committed is durable when it returns.
func (e *Engine) Sync(ctx context.Context, src tape.Source) (err error) {
	defer func() {
		if ferr := e.Flush(); err == nil {
			err = ferr
		}
	}()
	relinks := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		tip, err := src.Tip(ctx)
		if err != nil {
			return fmt.Errorf("source tip: %w", err)
		}
		if e.cfg.OnTip != nil {
			e.cfg.OnTip(tip)
		}
		if err := e.reconcile(ctx, src); err != nil {
			return err
		}
		target := tip - e.cfg.Confirmations
		start := max(e.Height()+1, e.info.FirstBlock)
		if start > target {
			return nil
		}
		err = e.run(ctx, src, start, target)
		var pm *parentMismatch
		if errors.As(err, &pm) {
			// The source changed under us: reconcile again. A source whose
			// chain does not link up even then is broken.
			if relinks++; relinks > 3 {
				return fmt.Errorf("source is inconsistent: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		relinks = 0
	}
}

// Follow keeps the engine in step with src, checking for new blocks every
// poll interval until ctx ends.
func (e *Engine) Follow(ctx context.Context, src tape.Source, poll time.Duration) error {
	for {
		if err := e.Sync(ctx, src); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

type fetched struct {
	b   *tape.Block
	err error
}

// run processes heights [start, target], fetching ahead in a goroutine.
func (e *Engine) run(ctx context.Context, src tape.Source, start, target int64) error {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan fetched, e.cfg.FetchAhead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		send := func(f fetched) bool {
			select {
			case ch <- f:
				return f.err == nil
			case <-ctx.Done():
				return false
			}
		}
		if rs, ok := src.(tape.RangeSource); ok {
			for h := start; h <= target; {
				bs, err := rs.Blocks(ctx, h, target)
				if err == nil && len(bs) == 0 {
					err = fmt.Errorf("source returned no blocks for heights %d..%d", h, target)
				}
				for _, b := range bs {
					if !send(fetched{b: b}) {
						return
					}
				}
				if err != nil {
					send(fetched{err: err})
					return
				}
				h += int64(len(bs))
			}
			return
		}
		for h := start; h <= target; h++ {
			b, err := src.Block(ctx, h)
			if !send(fetched{b, err}) {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range ch {
		}
		<-done
	}()
	for f := range ch {
		if f.err != nil {
			if errors.Is(f.err, tape.ErrNotFound) {
				return nil // the tip moved back; Sync reconciles
			}
			return fmt.Errorf("source block: %w", f.err)
		}
		if err := e.ApplyBlock(f.b, target); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// reconcile rolls back committed blocks that are no longer on src's best
// chain, all in one atomic batch.
func (e *Engine) reconcile(ctx context.Context, src tape.Source) error {
	last := e.Height()
	if len(e.hist) == 0 {
		return nil
	}
	same, known, err := e.matches(ctx, src, last)
	if err != nil || same || !known {
		return err
	}
	first := e.info.FirstBlock
	fork := last - 1
	for ; fork >= first; fork-- {
		if last-fork > e.cfg.UndoDepth {
			return &ReorgTooDeepError{Committed: last, UndoDepth: e.cfg.UndoDepth, Fork: -1, Imported: e.snapshotHeight() >= 0, Snapshot: e.snapshotHeight()}
		}
		same, known, err := e.matches(ctx, src, fork)
		if err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("reorg: the source cannot show a common ancestor: block %d differs and block %d is outside its range", last, fork)
		}
		if same {
			break
		}
	}
	if last-fork > e.cfg.UndoDepth {
		return &ReorgTooDeepError{Committed: last, UndoDepth: e.cfg.UndoDepth, Fork: -1, Imported: e.snapshotHeight() >= 0, Snapshot: e.snapshotHeight()}
	}
	if err := e.Flush(); err != nil {
		return err
	}
	txn := e.db.Begin()
	for h := last; h > fork; h-- {
		var parent vchash.Hash
		if i := h - 1 - first; i >= 0 {
			parent = e.hist[i].hash
		}
		if err := e.proc.Undo(h, parent, txn); err != nil {
			txn.Discard()
			if errors.Is(err, ErrNoUndo) {
				// Block h became final earlier: R blocks were committed on
				// top of it before an earlier reorg took them back.
				return &ReorgTooDeepError{Committed: last, UndoDepth: e.cfg.UndoDepth, Fork: fork, Final: h, Imported: e.snapshotHeight() >= 0, Snapshot: e.snapshotHeight()}
			}
			return fmt.Errorf("reorg: %w", err)
		}
	}
	if e.events != nil {
		d, _ := json.Marshal(map[string]any{"from": last, "fork": fork})
		if err := e.events.Append(txn, events.Event{Kind: events.KindRevert, Height: fork, App: e.info.Name, Data: d}); err != nil {
			txn.Discard()
			e.events.Abort()
			return err
		}
	}
	if err := txn.Commit(true); err != nil {
		if e.events != nil {
			e.events.Abort()
		}
		return fmt.Errorf("reorg: commit rollback: %w", err)
	}
	if e.events != nil {
		e.events.Publish()
	}
	e.hist = e.hist[:fork+1-first]
	e.log.Info("reorg: rolled back", "from", last, "to", fork, "depth", last-fork)
	if e.cfg.OnRollback != nil {
		e.cfg.OnRollback(RollbackEvent{ForkHeight: fork, From: last})
	}
	return nil
}

// matches reports whether src's block at h is the committed one; known is
// false when src cannot say.
func (e *Engine) matches(ctx context.Context, src tape.Source, h int64) (same, known bool, err error) {
	hdr, err := src.Header(ctx, h)
	switch {
	case errors.Is(err, tape.ErrUnknown):
		return false, false, nil
	case errors.Is(err, tape.ErrNotFound):
		return false, true, nil
	case err != nil:
		return false, false, fmt.Errorf("source header %d: %w", h, err)
	}
	return hdr.Hash == e.hist[h-e.info.FirstBlock].hash, true, nil
}

// StoredIdentity returns the application name and first block a data
// directory was created for; ok is false for a fresh one.
func StoredIdentity(r kv.Reader) (name string, first int64, ok bool, err error) {
	id, err := r.Get(keyIdentity)
	if errors.Is(err, kv.ErrNotFound) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	n, f, found := bytes.Cut(id, []byte{0})
	if !found {
		return "", 0, false, errors.New("engine: corrupt identity record")
	}
	if _, err := fmt.Sscan(string(f), &first); err != nil {
		return "", 0, false, fmt.Errorf("engine: corrupt identity record: %w", err)
	}
	return string(n), first, true, nil
}

// HashAt returns the hash of the committed block at height.
func (e *Engine) HashAt(height int64) (vchash.Hash, bool) {
	i := height - e.info.FirstBlock
	if i < 0 || i >= int64(len(e.hist)) {
		return vchash.Hash{}, false
	}
	return e.hist[i].hash, true
}
