// Package kv defines the transactional key-value view the engine hands to an
// application, and an in-memory implementation for tests and simulations.
//
// An application never opens files: everything it keeps lives behind a Txn
// that the engine scopes to one block, so the block's writes commit together
// with the engine's own bookkeeping and can be undone on a reorg.
package kv

import "errors"

// ErrNotFound is returned by Get when a key is absent.
var ErrNotFound = errors.New("kv: key not found")

// Reader reads a consistent view of state.
type Reader interface {
	// Get returns the value stored at key, or ErrNotFound. The returned slice
	// belongs to the caller.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for every key that starts with prefix, in ascending
	// key order, until fn returns an error (which Iterate returns). The
	// slices passed to fn are valid only during the call.
	Iterate(prefix []byte, fn func(key, value []byte) error) error
}

// Txn is a Reader that also takes writes; reads see the Txn's own writes.
type Txn interface {
	Reader
	// Set stores value at key. Both slices may be reused after the call.
	Set(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or nil when there is none (a prefix of 0xff bytes).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Prefixed returns a Reader that sees r's keys under prefix, with the
// prefix taken off.
func Prefixed(r Reader, prefix []byte) Reader { return prefixed{r: r, p: prefix} }

// PrefixedTxn returns a Txn that reads and writes t's keys under prefix.
func PrefixedTxn(t Txn, prefix []byte) Txn { return prefixedTxn{prefixed{r: t, p: prefix}, t} }

type prefixed struct {
	r Reader
	p []byte
}

func (p prefixed) key(k []byte) []byte {
	out := make([]byte, 0, len(p.p)+len(k))
	return append(append(out, p.p...), k...)
}

func (p prefixed) Get(k []byte) ([]byte, error) { return p.r.Get(p.key(k)) }

func (p prefixed) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return p.r.Iterate(p.key(prefix), func(k, v []byte) error { return fn(k[len(p.p):], v) })
}

type prefixedTxn struct {
	prefixed
	t Txn
}

func (p prefixedTxn) Set(k, v []byte) error { return p.t.Set(p.key(k), v) }

func (p prefixedTxn) Delete(k []byte) error { return p.t.Delete(p.key(k)) }
