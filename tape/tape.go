// Package tape defines the ordered, authenticated input an engine runs on (a
// "tape"): blocks of transactions with their hashes and parent hashes, and
// the Source interface every ordering backend implements (Bitcoin, the DPoR
// chain, a hyperlog, a file, an in-memory generator).
package tape

import (
	"context"
	"errors"

	"github.com/vchain-dev/vchain/vchash"
)

// ErrNotFound is returned by a Source for a height above its tip.
var ErrNotFound = errors.New("tape: no block at that height")

// ErrUnknown is returned by a Source that cannot say anything about a height
// below the range it serves (a file that starts later, a pruned node). The
// engine then trusts what it has stored.
var ErrUnknown = errors.New("tape: height outside the source's range")

// Header identifies a block on a source's best chain.
type Header struct {
	Height int64
	Hash   vchash.Hash
	// Parent is the hash of the block at Height-1. The zero hash means the
	// source does not know it (the first block of a file); the engine then
	// does not check the link.
	Parent vchash.Hash
	// Time is the block's timestamp in Unix seconds (0 when the source has
	// none). Applications may read it; it is part of the input, not a clock.
	Time int64
}

// Block is a header with its transactions in block order.
type Block struct {
	Header
	Txs []Tx
}

// Tx is one transaction as an application sees it.
type Tx struct {
	// ID is the transaction id in display order.
	ID vchash.Hash
	// Index is the transaction's position in its block.
	Index int
	// Payload is the data the transaction carries for virtual chains (a
	// Bitcoin OP_RETURN push): magic bytes, opcode, op payload.
	Payload []byte
	// Senders are the outputs this transaction spends, in input order.
	Senders []Sender
	// Outputs are the transaction's outputs, in order.
	Outputs []Output
	// Fee is what the transaction paid, in the chain's smallest unit.
	Fee int64
	// Decoded, when a source sets it, is the source's own decoding of
	// Payload, which an application that recognizes its type may use
	// instead of parsing the payload again. It must mean exactly what
	// Payload means; sources that cannot promise that leave it nil.
	Decoded any
}

// Sender describes one spent output: who sent the transaction.
type Sender struct {
	Script  []byte
	Address string
	PubKey  []byte
	Value   int64
}

// Output describes one transaction output: who received what.
type Output struct {
	Script  []byte
	Address string
	Value   int64
}

// Source is an ordered input. Implementations must be safe for use by one
// goroutine at a time and must honour ctx cancellation on blocking calls.
type Source interface {
	// Tip returns the height of the newest block on the source's best chain;
	// -1 when it has none.
	Tip(ctx context.Context) (int64, error)
	// Header returns the header at height on the best chain: ErrNotFound
	// above the tip, ErrUnknown below the range the source serves.
	Header(ctx context.Context, height int64) (Header, error)
	// Block returns the block at height on the best chain, with the same
	// errors as Header.
	Block(ctx context.Context, height int64) (*Block, error)
}

// RangeSource is a Source that can fetch a run of blocks at once, for
// instance with several requests in flight. The engine uses it, when a
// source offers it, to fetch ahead of processing.
type RangeSource interface {
	Source
	// Blocks returns blocks from the run of heights from..to (inclusive),
	// in order, starting at from. It may return a shorter prefix of the run
	// than asked (to keep within a memory budget, say), but at least one
	// block when err is nil. On failure it returns the blocks before the
	// first height that failed and the error Block would give for it.
	Blocks(ctx context.Context, from, to int64) ([]*Block, error)
}
