// Package apps runs vchain applications on a DPoR node's own final
// blocks, in the node's process: the contract runtime (JavaScript
// contracts deployed and called by chain transactions) and, through the
// same Runner, any engine.Application. Each application has its own engine
// and Pebble store beside the node's; it applies every final block once,
// in order, and serves its reads on the node's API, so a client reads a
// contract's state from the node it submitted to.
//
// The node's chain and the applications commit separately: a crash
// between them leaves an application behind the node, and the next Run
// catches up from the node's blocks (an engine's blocks are atomic, and it
// restarts at the last one it committed). A block an application cannot
// apply stops that application, loudly; it never goes past it.
package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	tapedpor "github.com/vchain-dev/vchain/tape/dpor"
)

// Runner runs one application over a node's final blocks.
type Runner struct {
	name   string
	magic  []byte
	n      *node.Node
	db     *store.DB
	eng    *engine.Engine
	log    *slog.Logger
	height atomic.Int64

	mu      sync.Mutex
	waiters []chan struct{}
	failed  error
}

// Open opens (or creates) the application's store in dir and its engine.
// Run must be called to apply blocks.
func Open(n *node.Node, dir string, app engine.Application, log *slog.Logger) (*Runner, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", app.Info().Name, err)
	}
	r := &Runner{name: app.Info().Name, magic: app.Info().MagicBytes, n: n, db: db, log: log}
	r.eng, err = engine.Open(db, app, engine.Config{Logger: log, Events: true, OnBlock: func(ev engine.BlockEvent) {
		r.height.Store(ev.Record.Height)
		r.wake()
	}})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	r.height.Store(r.eng.Height())
	return r, nil
}

// Name is the application's name.
func (r *Runner) Name() string { return r.name }

// Height is the newest block the application has applied (-1: none).
func (r *Runner) Height() int64 { return r.height.Load() }

// Engine is the application's engine; its State is safe to read while Run
// applies blocks.
func (r *Runner) Engine() *engine.Engine { return r.eng }

// Err is why Run stopped, or nil while it runs.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// ErrStopped is returned by WaitHeight when the application stopped.
var ErrStopped = errors.New("the application stopped")

// WaitHeight waits until the application has applied block h, the
// context ends, or the application stops.
func (r *Runner) WaitHeight(ctx context.Context, h int64) error {
	for {
		r.mu.Lock()
		if r.failed != nil {
			err := r.failed
			r.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		if r.height.Load() >= h {
			r.mu.Unlock()
			return nil
		}
		w := make(chan struct{})
		r.waiters = append(r.waiters, w)
		r.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Runner) wake() {
	r.mu.Lock()
	for _, w := range r.waiters {
		close(w)
	}
	r.waiters = nil
	r.mu.Unlock()
}

// Run applies the node's final blocks, as they become final, until ctx
// ends (nil) or a block cannot be applied (that error; the application
// then stays at the block before it).
func (r *Runner) Run(ctx context.Context) error {
	src := &localSource{n: r.n, magic: r.magic}
	for {
		next := r.n.WaitHead()
		if err := r.eng.Sync(ctx, src); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			err = fmt.Errorf("application %s stopped at height %d: %w", r.name, r.Height(), err)
			r.log.Error("application stopped", "app", r.name, "height", r.Height(), "err", err)
			r.mu.Lock()
			r.failed = err
			r.mu.Unlock()
			r.wake()
			return err
		}
		select {
		case <-next:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// Close flushes the engine and closes the store.
func (r *Runner) Close() error {
	return errors.Join(r.eng.Flush(), r.db.Close())
}

// localSource is the node's own final blocks as a tape.Source. Their
// certificates were checked when the node took them.
type localSource struct {
	n     *node.Node
	magic []byte
}

func (s *localSource) Tip(context.Context) (int64, error) { return int64(s.n.Head().Height), nil }

func (s *localSource) Header(ctx context.Context, h int64) (tape.Header, error) {
	b, err := s.Block(ctx, h)
	if err != nil {
		return tape.Header{}, err
	}
	return b.Header, nil
}

func (s *localSource) Block(_ context.Context, h int64) (*tape.Block, error) {
	if h < 0 {
		return nil, fmt.Errorf("height %d: %w", h, tape.ErrUnknown)
	}
	if uint64(h) > s.n.Head().Height {
		return nil, fmt.Errorf("height %d: %w", h, tape.ErrNotFound)
	}
	b, err := s.n.Block(uint64(h))
	if err != nil {
		return nil, fmt.Errorf("the node's block %d: %w", h, err)
	}
	return tapedpor.DecodeBlock(b, s.magic)
}
