package engine

import (
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// DefaultValidWindow is how many recent blocks' consensus hashes count as
// fresh when an application does not say (Blockstack's 24).
const DefaultValidWindow = 24

// Info describes an application to the engine: the Go form of
// Virtualchain's get_virtual_chain_name, get_first_block_id,
// get_magic_bytes, get_opcodes, get_valid_transaction_window and
// get_initial_snapshots.
type Info struct {
	// Name identifies the application; a data directory belongs to one name.
	Name string
	// Version is the application's version, informative only.
	Version string
	// FirstBlock is the height of the first block the engine processes and
	// hashes. Blocks below it are skipped.
	FirstBlock int64
	// MagicBytes prefix every payload meant for this application.
	MagicBytes []byte
	// Opcodes are the bytes that may follow the magic bytes.
	Opcodes []byte
	// AllTransactions makes every transaction a candidate, whatever its
	// payload starts with: the opcode is then its first byte (0 for an empty
	// payload) and Parse receives the whole payload. The replay application
	// uses it; applications on a shared chain should not.
	AllTransactions bool
	// ValidWindow is S: an op's consensus hash is fresh when it equals the
	// consensus hash of one of the last S blocks. Zero means
	// DefaultValidWindow.
	ValidWindow int64
	// InitialSnapshots are consensus hashes of heights below FirstBlock that
	// count as fresh at the start (Virtualchain's initial snapshots). They are
	// never mixed into a consensus hash.
	InitialSnapshots map[int64]vchash.ConsensusHash
}

// Application is a replicated state machine driven by the engine: the Go form
// of Virtualchain's hooks. For each block the engine selects candidate
// transactions by magic bytes and opcode, then calls, in order:
//
//  1. Parse, once per candidate, in block order: decode the payload into an
//     op, or reject it by returning an error;
//  2. ScanBlock, once, over all parsed ops (prepare-commit): look at the whole
//     block before deciding, for instance to break ties; it may mark ops
//     rejected with Op.Reject and must not write;
//  3. Check, per op not yet rejected, in block order (vote-to-commit), with
//     the ops accepted so far in this block; return nil to accept, a
//     Rejection to reject, any other error to stop the engine;
//  4. Commit, per accepted op (the state transition), writing through the
//     block's transactional view;
//  5. Serialize, per accepted op after its Commit: the op's canonical bytes,
//     which go into the ops hash (use vchash.SerializeValues for
//     Virtualchain-compatible bytes);
//
// then the engine saves the block (the app's writes, its own metadata and an
// undo record in one atomic batch) and calls Continue with the block's
// consensus hash.
//
// Hooks must be deterministic: the same blocks and state give the same
// results on every machine. They must not keep state outside the view,
// read clocks or do I/O. Embed Base for default ScanBlock, Check and
// Continue.
type Application interface {
	Info() Info
	Parse(b *BlockContext, tx *tape.Tx, opcode byte, payload []byte) (any, error)
	ScanBlock(b *BlockContext, ops []*Op, state kv.Reader) error
	Check(b *BlockContext, op *Op, accepted []*Op, state kv.Reader) error
	Commit(b *BlockContext, op *Op, state kv.Txn) error
	Serialize(op *Op) ([]byte, error)
	Continue(height int64, consensus vchash.ConsensusHash) error
}

// Base gives an Application the optional hooks: ScanBlock does nothing,
// Check accepts everything, Continue always continues.
type Base struct{}

// ScanBlock implements Application.
func (Base) ScanBlock(*BlockContext, []*Op, kv.Reader) error { return nil }

// Check implements Application.
func (Base) Check(*BlockContext, *Op, []*Op, kv.Reader) error { return nil }

// Continue implements Application.
func (Base) Continue(int64, vchash.ConsensusHash) error { return nil }

// ErrStop, returned by Continue, stops the engine cleanly after the block.
var ErrStop = errors.New("engine: application asked to stop")

// Op is a parsed operation on its way through the pipeline.
type Op struct {
	// Opcode is the byte after the magic bytes.
	Opcode byte
	// Tx is the transaction that carried the op.
	Tx *tape.Tx
	// VTxIndex is the op's position among the block's parsed ops.
	VTxIndex int
	// Data is what Parse returned; Commit may update it before Serialize.
	Data any

	rejected error
}

// Reject marks the op rejected (from ScanBlock); Check and Commit will not
// see it.
func (o *Op) Reject(reason error) {
	if reason == nil {
		reason = errors.New("rejected")
	}
	o.rejected = reason
}

// Rejected returns why the op was rejected, or nil.
func (o *Op) Rejected() error { return o.rejected }

// Rejection is an application's verdict that an op is invalid. It skips the
// op; it does not stop the engine.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return r.Reason }

// Reject returns a Rejection with a formatted reason.
func Reject(format string, args ...any) error {
	return &Rejection{Reason: fmt.Sprintf(format, args...)}
}

// IsRejection reports whether err is, or wraps, a Rejection.
func IsRejection(err error) bool {
	var r *Rejection
	return errors.As(err, &r)
}

// BlockContext is what hooks know about the block being processed.
type BlockContext struct {
	tape.Header
	p *Processor
}

// ValidWindow returns S, the freshness window in blocks.
func (b *BlockContext) ValidWindow() int64 { return b.p.window }

// IsFresh reports whether ch is the consensus hash of one of the last S
// blocks before this one (or an initial snapshot in that range): whether an
// op carrying it was made against this chain, recently.
func (b *BlockContext) IsFresh(ch vchash.ConsensusHash) bool {
	return b.p.isFresh(b.Height, ch)
}

// ConsensusAt returns the consensus hash of an earlier block.
func (b *BlockContext) ConsensusAt(height int64) (vchash.ConsensusHash, bool) {
	if height >= b.Height {
		return vchash.ConsensusHash{}, false
	}
	return b.p.consensusAt(height)
}
