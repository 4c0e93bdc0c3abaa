package chain

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
)

// The chain state's commitment: an LtHash (package lthash) over every key
// under prefixChain and its value, kept beside the state (outside the
// prefix, so it does not hash itself) with its digest. Every block's body
// carries the commitment of the state its parent left (State), checked
// when the block applies, so a node handed a state it did not compute (a
// snapshot) can check it against a block the validators certified.
var (
	prefixChain = []byte("c/")
	keyLattice  = []byte("h/lt") // lanes, then their digest
)

// ErrNoStateHash is returned when a state has no commitment yet (written
// by a version without them): EnsureStateHash computes it.
var ErrNoStateHash = errors.New("chain: the state has no commitment yet")

// StateCommitment returns the commitment of the chain state r holds.
func StateCommitment(r kv.Reader) (lthash.Digest, error) {
	raw, err := r.Get(keyLattice)
	if errors.Is(err, kv.ErrNotFound) {
		return lthash.Digest{}, ErrNoStateHash
	}
	if err != nil {
		return lthash.Digest{}, err
	}
	if len(raw) != lthash.Size+32 {
		return lthash.Digest{}, fmt.Errorf("chain: the state's lattice is %d bytes, want %d", len(raw), lthash.Size+32)
	}
	return lthash.Digest(raw[lthash.Size:]), nil
}

// HashState hashes the chain state r holds from scratch.
func HashState(r kv.Reader) (lthash.Hash, error) {
	var h lthash.Hash
	err := r.Iterate(prefixChain, func(k, v []byte) error {
		h.Add(k, v)
		return nil
	})
	return h, err
}

// EnsureStateHash computes and stores the state's lattice when t has none
// (a state written before blocks carried commitments). t must iterate.
func EnsureStateHash(t kv.Txn) error {
	if _, err := StateCommitment(t); !errors.Is(err, ErrNoStateHash) {
		return err
	}
	h, err := HashState(t)
	if err != nil {
		return err
	}
	return writeLattice(t, &h)
}

func writeLattice(t kv.Txn, h *lthash.Hash) error {
	d := h.Sum()
	return t.Set(keyLattice, append(h.AppendBinary(make([]byte, 0, lthash.Size+32)), d[:]...))
}

// hashing is a kv.Txn that remembers what each key held before its first
// write, so that the lattice moves over the keys a block changed.
type hashing struct {
	kv.Txn
	seen  map[string]bool
	prior []priorValue
}

type priorValue struct {
	key     string
	existed bool
	value   []byte
}

func newHashing(t kv.Txn) *hashing { return &hashing{Txn: t, seen: map[string]bool{}} }

func (h *hashing) note(k []byte) error {
	if h.seen[string(k)] {
		return nil
	}
	v, err := h.Txn.Get(k)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		h.prior = append(h.prior, priorValue{key: string(k)})
	case err != nil:
		return err
	default:
		h.prior = append(h.prior, priorValue{key: string(k), existed: true, value: v})
	}
	h.seen[string(k)] = true
	return nil
}

// Set implements kv.Txn.
func (h *hashing) Set(k, v []byte) error {
	if err := h.note(k); err != nil {
		return err
	}
	return h.Txn.Set(k, v)
}

// Delete implements kv.Txn.
func (h *hashing) Delete(k []byte) error {
	if err := h.note(k); err != nil {
		return err
	}
	return h.Txn.Delete(k)
}

// finish moves the stored lattice over the changed keys.
func (h *hashing) finish() error {
	var lt lthash.Hash
	raw, err := h.Txn.Get(keyLattice)
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return ErrNoStateHash
		}
		return err
	}
	if err := lt.UnmarshalBinary(raw[:min(len(raw), lthash.Size)]); err != nil {
		return err
	}
	for _, p := range h.prior {
		if !bytes.HasPrefix([]byte(p.key), prefixChain) {
			continue
		}
		after, err := h.Txn.Get([]byte(p.key))
		exists := err == nil
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		if exists == p.existed && (!exists || bytes.Equal(after, p.value)) {
			continue
		}
		if p.existed {
			lt.Remove([]byte(p.key), p.value)
		}
		if exists {
			lt.Add([]byte(p.key), after)
		}
	}
	return writeLattice(h.Txn, &lt)
}
