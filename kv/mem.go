package kv

import (
	"bytes"
	"slices"
	"strings"
)

// Mem is an in-memory Txn over a sorted map. It is not safe for concurrent
// use. The zero value is ready to use.
type Mem struct {
	m map[string][]byte
}

// NewMem returns an empty Mem.
func NewMem() *Mem { return &Mem{m: map[string][]byte{}} }

// Get implements Reader.
func (s *Mem) Get(key []byte) ([]byte, error) {
	v, ok := s.m[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Iterate implements Reader.
func (s *Mem) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	keys := make([]string, 0)
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), s.m[k]); err != nil {
			return err
		}
	}
	return nil
}

// IterateFrom is Iterate over the keys with prefix from start on.
func (s *Mem) IterateFrom(prefix, start []byte, fn func(key, value []byte) error) error {
	return s.Iterate(prefix, func(k, v []byte) error {
		if bytes.Compare(k, start) < 0 {
			return nil
		}
		return fn(k, v)
	})
}

// Set implements Txn.
func (s *Mem) Set(key, value []byte) error {
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[string(key)] = bytes.Clone(value)
	return nil
}

// Delete implements Txn.
func (s *Mem) Delete(key []byte) error {
	delete(s.m, string(key))
	return nil
}

// Len returns the number of keys.
func (s *Mem) Len() int { return len(s.m) }
