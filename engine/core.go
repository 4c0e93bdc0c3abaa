package engine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// DefaultUndoDepth is how many recent blocks can be rolled back when the
// configuration does not say.
const DefaultUndoDepth = 100

// History answers the consensus hashes of committed blocks.
type History interface {
	// ConsensusAt returns the consensus hash of the committed block at
	// height (at or above the first block), and whether there is one.
	ConsensusAt(height int64) (vchash.ConsensusHash, bool)
}

// Processor is the engine's deterministic core. Apply turns one block into
// state changes inside a transaction; Undo reverses the newest block. It
// uses no clocks, goroutines or I/O of its own: everything goes through the
// kv.Txn and History it is handed, so the same inputs always give the same
// outputs, and the driver (Engine) decides when to commit.
type Processor struct {
	app         Application
	info        Info
	window      int64
	undoDepth   int64
	checkpoints map[int64]vchash.ConsensusHash
	states      map[int64]lthash.Digest
	history     History
	opcodes     [256]bool
}

// ProcessorConfig is what a Processor needs besides the application.
type ProcessorConfig struct {
	// UndoDepth is R: undo records are kept for the last R blocks.
	UndoDepth int64
	// Checkpoints are known-good consensus hashes by height.
	Checkpoints map[int64]vchash.ConsensusHash
	// StateCheckpoints are known-good state commitments by height.
	StateCheckpoints map[int64]lthash.Digest
}

// NewProcessor returns a core for app that reads earlier consensus hashes
// from history.
func NewProcessor(app Application, history History, cfg ProcessorConfig) (*Processor, error) {
	info := app.Info()
	if info.Name == "" {
		return nil, errors.New("engine: application has no name")
	}
	if !info.AllTransactions && len(info.Opcodes) == 0 {
		return nil, fmt.Errorf("engine: application %q has no opcodes", info.Name)
	}
	p := &Processor{
		app:         app,
		info:        info,
		window:      info.ValidWindow,
		undoDepth:   cfg.UndoDepth,
		checkpoints: cfg.Checkpoints,
		states:      cfg.StateCheckpoints,
		history:     history,
	}
	if p.window <= 0 {
		p.window = DefaultValidWindow
	}
	if p.undoDepth <= 0 {
		p.undoDepth = DefaultUndoDepth
	}
	for _, c := range info.Opcodes {
		p.opcodes[c] = true
	}
	return p, nil
}

// Info returns the application's description.
func (p *Processor) Info() Info { return p.info }

// Result is what Apply made of a block.
type Result struct {
	Record BlockRecord
	// Rejected lists the candidate transactions that did not become
	// accepted ops, with the reason, for logging.
	Rejected []RejectedTx
	// Accepted lists the block's accepted ops, in order.
	Accepted []AcceptedOp
}

// AcceptedOp names an accepted op: its transaction and opcode, and the
// application's serialization of it (what its consensus hash covers).
type AcceptedOp struct {
	TxIndex int
	TxID    vchash.Hash
	Opcode  byte
	Op      []byte
	// Contract and Name are what the application says the op is about
	// (EventNamer), for event filters.
	Contract, Name string
}

// EventNamer is implemented by applications whose ops are about a named
// thing (a contract, a name): events of their ops carry it, so a client
// can follow one.
type EventNamer interface {
	OpSubject(op *Op) (contract, name string)
}

// RejectedTx says why a candidate transaction was not committed.
type RejectedTx struct {
	TxIndex int
	TxID    vchash.Hash
	Stage   string // "parse", "scan" or "check"
	Reason  error
}

// CheckpointError is returned when a block's consensus hash differs from a
// configured checkpoint.
type CheckpointError struct {
	Height    int64
	Got, Want vchash.ConsensusHash
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("checkpoint mismatch at height %d: computed consensus hash %s, checkpoint says %s", e.Height, e.Got, e.Want)
}

// StateCheckpointError is returned when a block's state commitment
// differs from a configured checkpoint: the application computed another
// state from the same ops.
type StateCheckpointError struct {
	Height    int64
	Got, Want lthash.Digest
}

func (e *StateCheckpointError) Error() string {
	return fmt.Sprintf("state checkpoint mismatch at height %d: computed state commitment %s, checkpoint says %s", e.Height, e.Got, e.Want)
}

// StateMismatchError is returned when the state after a rollback does not
// hash to the commitment the block below recorded: the store no longer
// holds the state the engine committed.
type StateMismatchError struct {
	Height    int64
	Got, Want lthash.Digest
}

func (e *StateMismatchError) Error() string {
	return fmt.Sprintf("the state after rolling back to block %d hashes to %s, but the block recorded %s: the store is inconsistent", e.Height, e.Got, e.Want)
}

// updateLattice moves the state's LtHash over the keys a block (or its
// undo) changed: each entry holds a key's value before (existed, value);
// its value after is read from txn. It returns the new digest and writes
// the lattice to txn. A block that changed nothing keeps the digest.
func updateLattice(txn kv.Txn, entries []undoEntry) (lthash.Digest, error) {
	var lt lthash.Hash
	raw, err := txn.Get(keyLattice)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		raw = nil
	case err != nil:
		return lthash.Digest{}, err
	default:
		if len(raw) != latticeSz {
			return lthash.Digest{}, fmt.Errorf("engine: the state's lattice is %d bytes, want %d", len(raw), latticeSz)
		}
		if err := lt.UnmarshalBinary(raw[:lthash.Size]); err != nil {
			return lthash.Digest{}, err
		}
	}
	changed := false
	for _, e := range entries {
		after, err := txn.Get(e.key)
		exists := err == nil
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return lthash.Digest{}, err
		}
		if exists == e.existed && (!exists || bytes.Equal(after, e.value)) {
			continue
		}
		key := e.key[len(prefixApp):]
		if e.existed {
			lt.Remove(key, e.value)
		}
		if exists {
			lt.Add(key, after)
		}
		changed = true
	}
	if !changed && raw != nil {
		return lthash.Digest(raw[lthash.Size:]), nil
	}
	return writeLattice(txn, &lt)
}

// writeLattice stores the lattice with its digest (so that a block that
// changes nothing reads the digest instead of hashing the lanes).
func writeLattice(txn kv.Txn, lt *lthash.Hash) (lthash.Digest, error) {
	d := lt.Sum()
	return d, txn.Set(keyLattice, append(lt.AppendBinary(make([]byte, 0, latticeSz)), d[:]...))
}

// selectOp returns the opcode and op payload of a candidate transaction.
func (p *Processor) selectOp(payload []byte) (byte, []byte, bool) {
	if p.info.AllTransactions {
		if len(payload) == 0 {
			return 0, payload, true
		}
		return payload[0], payload, true
	}
	m := p.info.MagicBytes
	if len(payload) <= len(m) || string(payload[:len(m)]) != string(m) {
		return 0, nil, false
	}
	op := payload[len(m)]
	if !p.opcodes[op] {
		return 0, nil, false
	}
	return op, payload[len(m)+1:], true
}

// Apply runs block b through parse, scan, check, commit and serialize,
// computes its ops hash and consensus hash, and writes the application's
// changes, the block record, an undo record and the new tip into txn. The
// caller commits txn atomically, or discards it on error. b must be the
// block right after the last one applied to the state txn reads.
func (p *Processor) Apply(b *tape.Block, txn kv.Txn) (*Result, error) {
	bc := &BlockContext{Header: b.Header, p: p}
	res := &Result{}
	app := p.app

	ops := make([]*Op, 0, len(b.Txs))
	opStore := make([]Op, 0, len(b.Txs))
	candidates := 0
	for i := range b.Txs {
		tx := &b.Txs[i]
		opcode, payload, ok := p.selectOp(tx.Payload)
		if !ok {
			continue
		}
		candidates++
		data, err := app.Parse(bc, tx, opcode, payload)
		if err != nil {
			res.Rejected = append(res.Rejected, RejectedTx{TxIndex: tx.Index, TxID: tx.ID, Stage: "parse", Reason: err})
			continue
		}
		opStore = append(opStore, Op{Opcode: opcode, Tx: tx, VTxIndex: len(opStore), Data: data})
	}
	for i := range opStore {
		ops = append(ops, &opStore[i])
	}

	view := newAppView(txn)
	ro := readOnly{view}
	if len(ops) > 0 {
		if err := app.ScanBlock(bc, ops, ro); err != nil {
			return nil, fmt.Errorf("block %d: scan: %w", b.Height, err)
		}
	}
	accepted := make([]*Op, 0, len(ops))
	digests := make([][32]byte, 0, len(ops))
	for _, op := range ops {
		if op.rejected != nil {
			res.Rejected = append(res.Rejected, RejectedTx{TxIndex: op.Tx.Index, TxID: op.Tx.ID, Stage: "scan", Reason: op.rejected})
			continue
		}
		if err := app.Check(bc, op, accepted, ro); err != nil {
			if !IsRejection(err) {
				return nil, fmt.Errorf("block %d tx %d: check: %w", b.Height, op.Tx.Index, err)
			}
			op.rejected = err
			res.Rejected = append(res.Rejected, RejectedTx{TxIndex: op.Tx.Index, TxID: op.Tx.ID, Stage: "check", Reason: err})
			continue
		}
		if err := app.Commit(bc, op, view); err != nil {
			return nil, fmt.Errorf("block %d tx %d: commit: %w", b.Height, op.Tx.Index, err)
		}
		s, err := app.Serialize(op)
		if err != nil {
			return nil, fmt.Errorf("block %d tx %d: serialize: %w", b.Height, op.Tx.Index, err)
		}
		digests = append(digests, vchash.DoubleSHA256(s))
		accepted = append(accepted, op)
		ao := AcceptedOp{TxIndex: op.Tx.Index, TxID: op.Tx.ID, Opcode: op.Opcode, Op: s}
		if en, ok := app.(EventNamer); ok {
			ao.Contract, ao.Name = en.OpSubject(op)
		}
		res.Accepted = append(res.Accepted, ao)
	}

	slices.SortStableFunc(res.Rejected, func(a, b RejectedTx) int { return a.TxIndex - b.TxIndex })
	opsHash := vchash.OpsHashOfDigests(digests)
	prevHeights := vchash.NumPrevBlocks(b.Height, p.info.FirstBlock)
	prev := make([]vchash.ConsensusHash, prevHeights)
	for i := 0; i < prevHeights; i++ {
		h := b.Height - (int64(1)<<uint(i+1) - 1)
		ch, ok := p.history.ConsensusAt(h)
		if !ok {
			return nil, fmt.Errorf("block %d: no consensus hash stored for earlier block %d", b.Height, h)
		}
		prev[i] = ch
	}
	ch := vchash.Consensus(opsHash, prev)
	if want, ok := p.checkpoints[b.Height]; ok && want != ch {
		return nil, &CheckpointError{Height: b.Height, Got: ch, Want: want}
	}
	state, err := updateLattice(txn, view.undo)
	if err != nil {
		return nil, fmt.Errorf("block %d: state commitment: %w", b.Height, err)
	}
	if want, ok := p.states[b.Height]; ok && want != state {
		return nil, &StateCheckpointError{Height: b.Height, Got: state, Want: want}
	}

	res.Record = BlockRecord{
		Height:     b.Height,
		Hash:       b.Hash,
		Parent:     b.Parent,
		OpsHash:    opsHash,
		Consensus:  ch,
		Time:       b.Time,
		Accepted:   uint32(len(accepted)),
		Candidates: uint32(candidates),
		State:      state,
	}
	if err := txn.Set(heightKey(prefixBlock, b.Height), res.Record.encode()); err != nil {
		return nil, err
	}
	if err := txn.Set(heightKey(prefixUndo, b.Height), encodeUndo(view.undo)); err != nil {
		return nil, err
	}
	if old := b.Height - p.undoDepth; old >= p.info.FirstBlock {
		if err := txn.Delete(heightKey(prefixUndo, old)); err != nil {
			return nil, err
		}
	}
	if err := txn.Set(keyTip, encodeTip(b.Height, b.Hash)); err != nil {
		return nil, err
	}
	return res, nil
}

// ErrNoUndo is returned when a block cannot be rolled back because its undo
// record is gone (it is deeper than the undo depth).
var ErrNoUndo = errors.New("no undo record")

// Undo reverses block height, which must be the newest applied block, inside
// txn: it restores every application key the block wrote, deletes the
// block's records, and makes parent (the block below) the tip.
func (p *Processor) Undo(height int64, parent vchash.Hash, txn kv.Txn) error {
	raw, err := txn.Get(heightKey(prefixUndo, height))
	if errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("block %d: %w", height, ErrNoUndo)
	}
	if err != nil {
		return err
	}
	entries, err := decodeUndo(raw)
	if err != nil {
		return fmt.Errorf("block %d: %w", height, err)
	}
	// The lattice moves from the block's values back to the ones before
	// it: the entries with the roles of before and after swapped.
	back := make([]undoEntry, len(entries))
	for i, e := range entries {
		cur, err := txn.Get(e.key)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			back[i] = undoEntry{key: e.key}
		case err != nil:
			return err
		default:
			back[i] = undoEntry{key: e.key, existed: true, value: cur}
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.existed {
			err = txn.Set(e.key, e.value)
		} else {
			err = txn.Delete(e.key)
		}
		if err != nil {
			return err
		}
	}
	state, err := updateLattice(txn, back)
	if err != nil {
		return fmt.Errorf("block %d: state commitment: %w", height, err)
	}
	if height-1 >= p.info.FirstBlock {
		below, err := txn.Get(heightKey(prefixBlock, height-1))
		if err != nil {
			return fmt.Errorf("block %d: %w", height-1, err)
		}
		rec, err := decodeBlockRecord(height-1, below)
		if err != nil {
			return err
		}
		if !rec.State.IsZero() && rec.State != state {
			return &StateMismatchError{Height: height - 1, Got: state, Want: rec.State}
		}
	}
	if err := txn.Delete(heightKey(prefixUndo, height)); err != nil {
		return err
	}
	if err := txn.Delete(heightKey(prefixBlock, height)); err != nil {
		return err
	}
	if height-1 < p.info.FirstBlock {
		return txn.Delete(keyTip)
	}
	return txn.Set(keyTip, encodeTip(height-1, parent))
}

func (p *Processor) consensusAt(h int64) (vchash.ConsensusHash, bool) {
	if h < p.info.FirstBlock {
		ch, ok := p.info.InitialSnapshots[h]
		return ch, ok
	}
	return p.history.ConsensusAt(h)
}

// isFresh reports whether ch is the consensus hash of a block in
// [height-S, height-1].
func (p *Processor) isFresh(height int64, ch vchash.ConsensusHash) bool {
	for h := height - 1; h >= height-p.window; h-- {
		if got, ok := p.consensusAt(h); ok && got == ch {
			return true
		}
	}
	return false
}
