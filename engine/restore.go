package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
)

// keyRestoring marks a store whose contents a Restore is replacing: a
// store opened with it holds part of a snapshot and nothing else.
var keyRestoring = []byte("e/restoring")

// wipeBatchKeys is how many keys a wipe deletes per batch.
const wipeBatchKeys = 10_000

// restoreBatchBytes is how much a restore writes per batch.
const restoreBatchBytes = 16 << 20

// Restore replaces an open engine's store with a snapshot's keys as they
// stream in (CometBFT's state sync hands a running application a snapshot
// chunk by chunk). BeginRestore marks the store and empties it; Put writes
// and checks the snapshot's keys as an Importer does; Finish checks the
// whole against what the caller trusts, writes the tip and clears the
// mark in one synced batch, and the engine goes on from the snapshot's
// block. Abort (or any failed check) empties the store again. A process
// killed before Finish leaves the mark: the next Open empties the store,
// so a half-restored store is never taken for a chain.
//
// The application must keep no state outside the store (none of vchain's
// does): the engine does not tell it that its state changed under it.
type Restore struct {
	e    *Engine
	w    *store.BatchWriter
	im   *Importer
	done bool
	o    RestoreOptions
}

// RestoreOptions say what a Restore accepts.
type RestoreOptions struct {
	// Height is the height the snapshot must end at: a block record
	// above it is refused as it arrives.
	Height int64
	// OnDriver is called with each driver key (Staged.SetDriver's keys)
	// the snapshot carries, and may refuse it. Without it, driver keys
	// are refused: only the driver that wrote them can check them.
	OnDriver func(key, value []byte) error
}

// BeginRestore starts a Restore. Everything the store holds but its event
// log is deleted. While a restore runs, Restoring reports true: the store
// holds keys nothing has checked yet.
func (e *Engine) BeginRestore(o RestoreOptions) (*Restore, error) {
	if e.staged {
		return nil, errors.New("engine: a staged block is neither committed nor discarded")
	}
	e.restoring.Store(true)
	txn := e.db.Begin()
	if err := txn.Set(keyRestoring, []byte{1}); err != nil {
		txn.Discard()
		return nil, err
	}
	if err := txn.Commit(true); err != nil {
		return nil, err
	}
	if err := e.wipe(false); err != nil {
		return nil, err
	}
	e.hist = nil
	r := &Restore{e: e, w: store.NewBatchWriter(e.db, restoreBatchBytes), o: o}
	r.im = NewImporter(e.app, r.w)
	r.im.maxHeight = o.Height
	r.im.driver = r.driverKey
	return r, nil
}

func (r *Restore) driverKey(key, value []byte) error {
	if r.o.OnDriver == nil {
		return bad("driver key %q: nothing here checks driver keys", key)
	}
	return r.o.OnDriver(key[len(prefixDriver):], value)
}

// Restoring reports whether a Restore is under way (the store holds keys
// nothing has checked yet: do not serve them). Safe for concurrent use.
func (e *Engine) Restoring() bool { return e.restoring.Load() }

// Put takes the snapshot's next keys and values (ascending, continuing
// the previous call's). An *ImportError says what is wrong with them.
func (r *Restore) Put(kvs []KV) error {
	if r.done {
		return errors.New("engine: the restore is finished or aborted")
	}
	return r.im.Put(kvs)
}

// Keys is how many keys the restore took.
func (r *Restore) Keys() int64 { return r.im.Keys() }

// Finish checks the snapshot against trust (an *ImportError when it
// fails: the store is emptied again), sets the driver keys given (the
// caller's own view of what the snapshot's driver keys imply), and makes
// the snapshot's block the engine's newest committed block.
func (r *Restore) Finish(trust Trust, driver []KV) (BlockRecord, error) {
	if r.done {
		return BlockRecord{}, errors.New("engine: the restore is finished or aborted")
	}
	rec, err := r.im.Finish(trust)
	if err != nil {
		r.Abort()
		return BlockRecord{}, err
	}
	for _, kv := range driver {
		if err := r.w.Set(driverKey(kv.Key), kv.Value); err != nil {
			r.Abort()
			return BlockRecord{}, err
		}
	}
	if err := r.w.Delete(keyRestoring); err != nil {
		r.Abort()
		return BlockRecord{}, err
	}
	if err := r.w.Commit(true); err != nil {
		r.Abort()
		return BlockRecord{}, err
	}
	r.done = true
	e := r.e
	e.hist = nil
	e.restoring.Store(false)
	if err := e.load(); err != nil {
		return BlockRecord{}, fmt.Errorf("engine: the restored store: %w", err)
	}
	e.log.Info("restored from a snapshot", "height", rec.Height, "consensus", rec.Consensus.String(), "state", rec.State.String(), "keys", r.im.Keys())
	return rec, nil
}

// Abort gives the restore up: the store is emptied (an engine with no
// block committed). It is a no-op after Finish.
func (r *Restore) Abort() error {
	if r.done {
		return nil
	}
	r.done = true
	r.im.wg.Wait()
	r.w.Discard()
	err := r.e.reset()
	if err == nil {
		r.e.restoring.Store(false)
	}
	return err
}

// reset empties the store (but its event log), clears a restore's mark
// and leaves the engine with no block committed.
func (e *Engine) reset() error {
	if err := e.wipe(true); err != nil {
		return err
	}
	e.hist = nil
	return e.checkIdentity()
}

// wipe deletes every key but the event log's in batches, the last one
// synced; the restore mark goes in that last batch when mark is set (a
// wipe cut short leaves it, and the next Open wipes again), and stays
// otherwise.
func (e *Engine) wipe(mark bool) error {
	txn := e.db.Begin()
	n := 0
	err := e.db.Iterate(nil, func(k, _ []byte) error {
		if bytes.HasPrefix(k, prefixEvents) || bytes.Equal(k, keyRestoring) {
			return nil
		}
		if err := txn.Delete(bytes.Clone(k)); err != nil {
			return err
		}
		if n++; n%wipeBatchKeys == 0 {
			if err := txn.Commit(false); err != nil {
				return err
			}
			txn = e.db.Begin()
		}
		return nil
	})
	if err != nil {
		txn.Discard()
		return err
	}
	if mark {
		if err := txn.Delete(keyRestoring); err != nil {
			txn.Discard()
			return err
		}
	}
	return txn.Commit(true)
}

// interruptedRestore empties a store a killed Restore left half written.
func (e *Engine) interruptedRestore() error {
	switch _, err := e.db.Get(keyRestoring); {
	case errors.Is(err, kv.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	e.log.Warn("the store holds part of a snapshot whose restore was interrupted: emptying it")
	return e.wipe(true)
}
