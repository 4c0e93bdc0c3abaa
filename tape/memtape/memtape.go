// Package memtape is an in-memory tape.Source: a chain you append to and
// rewind, for tests, simulations, benchmarks and the demo. Block hashes are
// derived from the parent hash, the height, a branch salt and the
// transactions, so two branches at the same height always differ.
package memtape

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// Chain is a mutable best chain starting at height Base. It is safe for
// concurrent use: a test may extend or rewind it while an engine reads it.
type Chain struct {
	mu     sync.RWMutex
	base   int64
	blocks []*tape.Block
	salt   uint64
	// TimeStep is added to the previous block's time for each new block.
	TimeStep int64
	genesis  int64
}

// New returns an empty chain whose first block will be at height base.
func New(base int64) *Chain {
	return &Chain{base: base, TimeStep: 600, genesis: 1_700_000_000}
}

// Base returns the height of the chain's first block.
func (c *Chain) Base() int64 { return c.base }

// Append adds a block holding txs (their Index and ID are filled in when
// zero) and returns it.
func (c *Chain) Append(txs []tape.Tx) *tape.Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.base + int64(len(c.blocks))
	var parent vchash.Hash
	t := c.genesis
	if n := len(c.blocks); n > 0 {
		parent = c.blocks[n-1].Hash
		t = c.blocks[n-1].Time + c.TimeStep
	}
	hs := sha256.New()
	hs.Write(parent[:])
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(h))
	hs.Write(buf[:])
	binary.BigEndian.PutUint64(buf[:], c.salt)
	hs.Write(buf[:])
	for i := range txs {
		txs[i].Index = i
		if txs[i].ID == (vchash.Hash{}) {
			th := sha256.New()
			th.Write(buf[:])
			binary.BigEndian.PutUint64(buf[:], uint64(h)<<20|uint64(i))
			th.Write(buf[:])
			th.Write(parent[:])
			th.Write(txs[i].Payload)
			copy(txs[i].ID[:], th.Sum(nil))
		}
		hs.Write(txs[i].ID[:])
	}
	b := &tape.Block{Header: tape.Header{Height: h, Parent: parent, Time: t}, Txs: txs}
	copy(b.Hash[:], hs.Sum(nil))
	c.blocks = append(c.blocks, b)
	return b
}

// Rewind drops the newest n blocks (a reorg's first half) and changes the
// salt so the blocks appended next form a different branch.
func (c *Chain) Rewind(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > len(c.blocks) {
		n = len(c.blocks)
	}
	c.blocks = c.blocks[:len(c.blocks)-n]
	c.salt++
}

// Len returns the number of blocks.
func (c *Chain) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.blocks)
}

// Blocks returns the chain's blocks, oldest first.
func (c *Chain) Blocks() []*tape.Block {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]*tape.Block(nil), c.blocks...)
}

// Tip implements tape.Source.
func (c *Chain) Tip(ctx context.Context) (int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.blocks) == 0 {
		return c.base - 1, nil
	}
	return c.base + int64(len(c.blocks)) - 1, nil
}

func (c *Chain) at(height int64) (*tape.Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if height < c.base {
		return nil, fmt.Errorf("memtape: height %d: %w", height, tape.ErrUnknown)
	}
	i := height - c.base
	if i >= int64(len(c.blocks)) {
		return nil, fmt.Errorf("memtape: height %d: %w", height, tape.ErrNotFound)
	}
	return c.blocks[i], nil
}

// Header implements tape.Source.
func (c *Chain) Header(ctx context.Context, height int64) (tape.Header, error) {
	b, err := c.at(height)
	if err != nil {
		return tape.Header{}, err
	}
	return b.Header, nil
}

// Block implements tape.Source. The block is shared: callers must not modify
// it.
func (c *Chain) Block(ctx context.Context, height int64) (*tape.Block, error) {
	return c.at(height)
}

// TxFunc makes the transactions of the block at height.
type TxFunc func(r *rand.Rand, height int64) []tape.Tx

// GenConfig describes a random chain with forks.
type GenConfig struct {
	Seed   uint64
	Base   int64
	Blocks int
	// ForkProb is the chance, after each block, that some of the newest
	// blocks are dropped for a new branch. MaxForkDepth bounds how far below
	// the highest block ever built a fork may start: a fork never drops a
	// block that had MaxForkDepth blocks on top of it at any time.
	ForkProb     float64
	MaxForkDepth int
	Txs          TxFunc
}

// Generate builds a chain from cfg and calls observe (when not nil) after
// every change, so a test can sync an engine against the chain mid-way. The
// same config always gives the same chain.
func Generate(cfg GenConfig, observe func(c *Chain)) *Chain {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	c := New(cfg.Base)
	highest := 0
	for c.Len() < cfg.Blocks {
		var txs []tape.Tx
		if cfg.Txs != nil {
			txs = cfg.Txs(r, c.base+int64(c.Len()))
		}
		c.Append(txs)
		highest = max(highest, c.Len())
		if observe != nil {
			observe(c)
		}
		if cfg.MaxForkDepth > 0 && r.Float64() < cfg.ForkProb {
			d := 1 + r.IntN(cfg.MaxForkDepth)
			d = min(d, c.Len()-(highest-cfg.MaxForkDepth))
			if d <= 0 {
				continue
			}
			c.Rewind(d)
			if observe != nil {
				observe(c)
			}
		}
	}
	return c
}
