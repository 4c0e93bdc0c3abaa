package store

import (
	"github.com/cockroachdb/pebble/v2"

	"github.com/vchain-dev/vchain/kv"
)

// Store is what an engine needs from its storage: committed reads, atomic
// batches, and a way to make commits durable. *DB and *Namespace implement
// it.
type Store interface {
	kv.Reader
	// Begin starts a batch whose reads see committed state plus its own
	// writes.
	Begin() Batch
	// Sync makes every commit so far durable.
	Sync() error
}

// Batch is an atomic group of writes.
type Batch interface {
	kv.Txn
	// Commit applies the batch atomically, fsyncing first when sync is set.
	Commit(sync bool) error
	// Discard abandons the batch.
	Discard()
}

var (
	_ Store = (*DB)(nil)
	_ Store = (*Namespace)(nil)
)

// Begin implements Store.
func (d *DB) Begin() Batch { return d.NewTxn() }

// Namespace is a Store confined to the keys under a prefix of a DB, so
// several engines (one per contract, say) can share one database and its
// write-ahead log. Keys are seen without the prefix.
type Namespace struct {
	db     *DB
	prefix []byte
}

// Namespace returns the part of d under prefix. Namespaces whose prefixes
// are not prefixes of one another never see each other's keys.
func (d *DB) Namespace(prefix []byte) *Namespace {
	return &Namespace{db: d, prefix: append([]byte(nil), prefix...)}
}

func (n *Namespace) key(k []byte) []byte {
	out := make([]byte, len(n.prefix)+len(k))
	copy(out, n.prefix)
	copy(out[len(n.prefix):], k)
	return out
}

// Get implements kv.Reader.
func (n *Namespace) Get(key []byte) ([]byte, error) { return n.db.Get(n.key(key)) }

// Iterate implements kv.Reader.
func (n *Namespace) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return n.db.Iterate(n.key(prefix), func(k, v []byte) error { return fn(k[len(n.prefix):], v) })
}

// IterateFrom is Iterate over the keys with prefix from start on.
func (n *Namespace) IterateFrom(prefix, start []byte, fn func(key, value []byte) error) error {
	return n.db.IterateFrom(n.key(prefix), n.key(start), func(k, v []byte) error { return fn(k[len(n.prefix):], v) })
}

// Begin implements Store.
func (n *Namespace) Begin() Batch { return &nsBatch{t: n.db.NewTxn(), n: n} }

// Sync implements Store.
func (n *Namespace) Sync() error { return n.db.Sync() }

type nsBatch struct {
	t *Txn
	n *Namespace
}

func (b *nsBatch) Get(key []byte) ([]byte, error) { return b.t.Get(b.n.key(key)) }

func (b *nsBatch) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return b.t.Iterate(b.n.key(prefix), func(k, v []byte) error { return fn(k[len(b.n.prefix):], v) })
}

func (b *nsBatch) Set(key, value []byte) error { return b.t.Set(b.n.key(key), value) }
func (b *nsBatch) Delete(key []byte) error     { return b.t.Delete(b.n.key(key)) }
func (b *nsBatch) Commit(sync bool) error      { return b.t.Commit(sync) }
func (b *nsBatch) Discard()                    { b.t.Discard() }

// Clear deletes every key of the namespace in one atomic, synced batch.
func (n *Namespace) Clear() error {
	b := n.db.pdb.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(n.prefix, kv.PrefixEnd(n.prefix), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// NamespaceSnapshot is a consistent view of a Namespace at one instant.
type NamespaceSnapshot struct {
	s *Snapshot
	n *Namespace
}

// Snapshot returns a view of the namespace as it is now; Close it.
func (n *Namespace) Snapshot() *NamespaceSnapshot {
	return &NamespaceSnapshot{s: n.db.Snapshot(), n: n}
}

// Get implements kv.Reader.
func (s *NamespaceSnapshot) Get(key []byte) ([]byte, error) { return s.s.Get(s.n.key(key)) }

// Iterate implements kv.Reader.
func (s *NamespaceSnapshot) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return s.s.Iterate(s.n.key(prefix), func(k, v []byte) error { return fn(k[len(s.n.prefix):], v) })
}

// Close releases the view.
func (s *NamespaceSnapshot) Close() error { return s.s.Close() }
