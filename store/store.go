// Package store keeps the engine's state in Pebble: committed state is read
// through DB, and each block's changes are gathered in a Txn (an indexed
// Pebble batch whose reads see its own writes) and committed atomically.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/vchain-dev/vchain/internal/pidlock"
	"github.com/vchain-dev/vchain/kv"
)

// DB is a Pebble database.
type DB struct {
	pdb    *pebble.DB
	lock   *os.File // the owner lock, nil in memory
	closed bool
}

// Options tune Open.
type Options struct {
	// InMemory keeps everything in memory; Dir is ignored. For a temporary
	// store that leaves nothing behind.
	InMemory bool
	// Logger receives Pebble's messages (at debug level; errors at error).
	// Nil discards them.
	Logger *slog.Logger
	// CacheBytes bounds the block cache, allocated as it fills (default
	// DefaultCacheBytes). Engines read back recent state constantly; once
	// the blocks they touch outgrow the cache, every lookup reads the disk.
	CacheBytes int64
	// MaxOpenFiles bounds the table files Pebble keeps open (its table
	// cache closes the least recently used beyond it); 0 leaves Pebble's
	// default of 1,000. For processes that budget their descriptors.
	MaxOpenFiles int
}

// DefaultCacheBytes is the block cache's bound when Options do not say.
const DefaultCacheBytes = 256 << 20

// Open opens (creating if needed) the database in dir.
func Open(dir string, o Options) (*DB, error) {
	popts := &pebble.Options{
		Logger: pebbleLogger{o.Logger},
		// Recent state stays in memory: engines read back what the last
		// blocks wrote far more often than old state.
		MemTableSize: 64 << 20,
	}
	if o.MaxOpenFiles > 0 {
		popts.MaxOpenFiles = o.MaxOpenFiles
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	popts.Cache = cache
	// Bloom filters let a lookup of an absent key (a new file, a new name)
	// skip every table that cannot hold it instead of reading its index.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if o.InMemory {
		popts.FS = vfs.NewMem()
		dir = ""
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var lock *os.File
	if dir != "" {
		// Pebble's own LOCK cannot say who holds it; this one can.
		f, err := os.OpenFile(filepath.Join(dir, ownerFileName), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if err := pidlock.TryLock(f); err != nil {
			f.Close()
			if errors.Is(err, pidlock.ErrHeld) {
				return nil, fmt.Errorf("store: %s is in use: %w", dir, err)
			}
			return nil, fmt.Errorf("store: %w", err)
		}
		lock = f
	}
	pdb, err := pebble.Open(dir, popts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &DB{pdb: pdb, lock: lock}, nil
}

// ownerFileName is the lock file beside Pebble's that holds the owning
// process's id.
const ownerFileName = "vchain.lock"

// Close flushes and closes the database. Closing twice is a no-op.
func (d *DB) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.pdb.Close()
	if d.lock != nil {
		d.lock.Close()
	}
	return err
}

// Sync makes every commit so far durable.
func (d *DB) Sync() error { return d.pdb.LogData(nil, pebble.Sync) }

// Get implements kv.Reader over committed state.
func (d *DB) Get(key []byte) ([]byte, error) {
	return get(d.pdb.Get(key))
}

// Iterate implements kv.Reader over committed state.
func (d *DB) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it, err := d.pdb.NewIter(prefixBounds(prefix))
	if err != nil {
		return err
	}
	return iterate(it, fn)
}

// IterateFrom is Iterate over the keys with prefix from start on (start
// below prefix means from the first).
func (d *DB) IterateFrom(prefix, start []byte, fn func(key, value []byte) error) error {
	o := prefixBounds(prefix)
	if bytes.Compare(start, o.LowerBound) > 0 {
		o.LowerBound = start
	}
	it, err := d.pdb.NewIter(o)
	if err != nil {
		return err
	}
	return iterate(it, fn)
}

// Snapshot returns a read-only view of the committed state as it is now:
// commits after the call do not show through it, so a reader running
// beside a writer sees one consistent point. Close it when done.
func (d *DB) Snapshot() *Snapshot { return &Snapshot{s: d.pdb.NewSnapshot()} }

// Snapshot is a kv.Reader over a point-in-time view of a DB.
type Snapshot struct{ s *pebble.Snapshot }

// Get implements kv.Reader.
func (s *Snapshot) Get(key []byte) ([]byte, error) { return get(s.s.Get(key)) }

// Iterate implements kv.Reader.
func (s *Snapshot) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it, err := s.s.NewIter(prefixBounds(prefix))
	if err != nil {
		return err
	}
	return iterate(it, fn)
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.s.Close() }

// NewTxn starts a transaction whose reads see committed state plus its own
// writes.
func (d *DB) NewTxn() *Txn { return &Txn{b: d.pdb.NewIndexedBatch()} }

// NewWriteTxn starts a transaction that only writes: its writes are not
// indexed (cheaper when a batch holds thousands of keys), and its Get and
// Iterate fail. Reads go to the DB, or to an overlay the caller keeps.
func (d *DB) NewWriteTxn() *Txn { return &Txn{b: d.pdb.NewBatch()} }

// Txn is a kv.Txn over one Pebble batch (indexed unless it came from
// NewWriteTxn). It must be committed or discarded.
type Txn struct {
	b *pebble.Batch
}

var _ kv.Txn = (*Txn)(nil)

// Get implements kv.Reader.
func (t *Txn) Get(key []byte) ([]byte, error) { return get(t.b.Get(key)) }

// Iterate implements kv.Reader.
func (t *Txn) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it, err := t.b.NewIter(prefixBounds(prefix))
	if err != nil {
		return err
	}
	return iterate(it, fn)
}

// Set implements kv.Txn.
func (t *Txn) Set(key, value []byte) error { return t.b.Set(key, value, nil) }

// Delete implements kv.Txn.
func (t *Txn) Delete(key []byte) error { return t.b.Delete(key, nil) }

// Commit applies the transaction atomically. With sync it is durable when
// Commit returns; without, it is durable at the next synced commit or Sync,
// and a crash before then loses it whole, never in part.
func (t *Txn) Commit(sync bool) error {
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	err := t.b.Commit(opts)
	t.b.Close()
	return err
}

// Discard abandons the transaction.
func (t *Txn) Discard() { t.b.Close() }

func get(v []byte, closer io.Closer, err error) ([]byte, error) {
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func prefixBounds(prefix []byte) *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)}
}

func iterate(it *pebble.Iterator, fn func(key, value []byte) error) error {
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l != nil {
		p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.l != nil {
		p.l.Error(msg, "component", "pebble")
	}
	panic("pebble: " + msg)
}
