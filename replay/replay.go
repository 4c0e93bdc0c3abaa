// Package replay runs the engine over a JSON Lines tape (see package
// tape/file) with the pass-through application: the job behind `vchain
// replay`. It prints one line per committed block,
//
//	<height> <ops hash> <consensus hash>
//
// resumes after the last committed block when the store already holds a
// replay, and on malformed input stops at the bad line with every block
// before it committed.
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/progress"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/file"
	"github.com/vchain-dev/vchain/vchash"
)

// Options configure Run.
type Options struct {
	// FirstBlock, when FirstBlockSet, is the application's first block;
	// otherwise the store's (when resuming) or the first line's height.
	FirstBlock    int64
	FirstBlockSet bool
	// Out receives one line per committed block; nil discards them.
	Out io.Writer
	// Size is the input's length in bytes when known (for the ETA), else 0.
	Size int64
	// Progress, when set, is told about each block.
	Progress *progress.Meter
	// Engine is the engine configuration (Logger, sync policy, ...).
	Engine engine.Config
}

// Stats summarizes a run.
type Stats struct {
	Blocks, Ops int64 // committed now
	Skipped     int64 // lines already committed before (resume)
	Height      int64 // newest committed height afterwards
}

type item struct {
	b    *tape.Block
	line int
	read int64
	err  error
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// decode reads blocks in a goroutine so JSON decoding overlaps processing.
func decode(ctx context.Context, in io.Reader) <-chan item {
	ch := make(chan item, 256)
	go func() {
		defer close(ch)
		cr := &countingReader{r: in}
		r := file.NewReader(cr)
		for {
			b, err := r.Next()
			if err == io.EOF {
				return
			}
			it := item{b: b, line: r.Line(), read: cr.n.Load(), err: err}
			select {
			case ch <- it:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// Run replays in into db.
func Run(ctx context.Context, db store.Store, in io.Reader, opts Options) (Stats, error) {
	var st Stats
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := decode(ctx, in)
	firstItem, ok := <-items
	if !ok {
		return st, nil // empty input
	}
	if firstItem.err != nil {
		return st, firstItem.err
	}

	name, stored, have, err := engine.StoredIdentity(db)
	if err != nil {
		return st, err
	}
	first := firstItem.b.Height
	switch {
	case have && name != passthrough.Name:
		return st, fmt.Errorf("the data directory holds application %q, not a replay", name)
	case have && opts.FirstBlockSet && opts.FirstBlock != stored:
		return st, fmt.Errorf("--first-block %d differs from the data directory's first block %d", opts.FirstBlock, stored)
	case have:
		first = stored
	case opts.FirstBlockSet:
		first = opts.FirstBlock
	}

	var w *bufio.Writer
	cfg := opts.Engine
	userOnBlock := cfg.OnBlock
	if opts.Out != nil {
		w = bufio.NewWriterSize(opts.Out, 64<<10)
		defer w.Flush()
	}
	var lastRead int64
	cfg.OnBlock = func(ev engine.BlockEvent) {
		st.Blocks++
		st.Ops += int64(ev.Record.Accepted)
		if w != nil {
			writeLine(w, ev.Record)
		}
		if opts.Progress != nil {
			frac := -1.0
			if opts.Size > 0 {
				frac = float64(lastRead) / float64(opts.Size)
			}
			opts.Progress.Add(ev.Record.Height, int64(ev.Record.Accepted), frac)
		}
		if userOnBlock != nil {
			userOnBlock(ev)
		}
	}
	e, err := engine.Open(db, passthrough.New(first), cfg)
	if err != nil {
		return st, err
	}
	defer func() { st.Height = e.Height() }()

	apply := func(it item) error {
		if it.err != nil {
			return it.err
		}
		b := it.b
		lastRead = it.read
		switch h := b.Height; {
		case h < first:
			return nil
		case h <= e.Height():
			have, _ := e.HashAt(h)
			if have != b.Hash {
				return &file.LineError{Line: it.line, Err: fmt.Errorf(
					"block %d differs from the block committed at that height (hash %s, committed %s): the input changed since this data directory was written",
					h, b.Hash, have)}
			}
			st.Skipped++
			return nil
		case h > e.Height()+1:
			return &file.LineError{Line: it.line, Err: fmt.Errorf("block %d leaves a gap: the next block to commit is %d", h, e.Height()+1)}
		}
		if err := e.ApplyBlock(b, -1); err != nil {
			if errors.Is(err, engine.ErrStop) {
				return err
			}
			return &file.LineError{Line: it.line, Err: err}
		}
		if w != nil && len(items) == 0 {
			w.Flush()
		}
		return nil
	}
	err = apply(firstItem)
	for it := range items {
		if err != nil {
			break
		}
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
			break
		}
		err = apply(it)
	}
	if ferr := e.Flush(); err == nil {
		err = ferr
	}
	if opts.Progress != nil {
		opts.Progress.Done()
	}
	return st, err
}

func writeLine(w *bufio.Writer, r engine.BlockRecord) {
	var buf [160]byte
	b := fmt.Appendf(buf[:0], "%d %s %s\n", r.Height, r.OpsHash, r.Consensus)
	w.Write(b)
}

// HashOnly runs the same decode and hashing over in, without an engine or
// storage: the baseline the replay benchmark compares against. It returns
// the consensus hash of the last block.
func HashOnly(ctx context.Context, in io.Reader) (Stats, vchash.ConsensusHash, error) {
	var st Stats
	var last vchash.ConsensusHash
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var hist []vchash.ConsensusHash
	first := int64(-1)
	for it := range decode(ctx, in) {
		if it.err != nil {
			return st, last, it.err
		}
		b := it.b
		if first < 0 {
			first = b.Height
		}
		digests := make([][32]byte, len(b.Txs))
		for i := range b.Txs {
			digests[i] = vchash.DoubleSHA256(b.Txs[i].Payload)
		}
		opsHash := vchash.OpsHashOfDigests(digests)
		n := vchash.NumPrevBlocks(b.Height, first)
		prev := make([]vchash.ConsensusHash, n)
		for i := 0; i < n; i++ {
			prev[i] = hist[b.Height-(int64(1)<<uint(i+1)-1)-first]
		}
		last = vchash.Consensus(opsHash, prev)
		hist = append(hist, last)
		st.Blocks++
		st.Ops += int64(len(b.Txs))
		st.Height = b.Height
	}
	return st, last, ctx.Err()
}
