package node

import (
	"errors"
	"sync"

	"github.com/vchain-dev/vchain/kv"
)

// stateCache is a read cache in front of the committed chain state: the
// accounts a block touches are read by the mempool's admission, by the
// block's validation and by its application, and a map lookup costs a
// fraction of a Pebble read. Only the node loop writes the state, and it
// reports every committed write (Update), so the cache never serves a
// value older than the last Update; a read that raced with a commit is
// not kept.
//
// It holds at most 2×max keys in two generations: when the current one
// fills, it becomes the old one and the older is dropped, so keys read
// often stay and memory stays bounded.
type stateCache struct {
	base kv.Reader
	max  int

	mu       sync.Mutex
	gen      uint64 // incremented by each Update
	cur, old map[string][]byte
}

func newStateCache(base kv.Reader, max int) *stateCache {
	return &stateCache{base: base, max: max, cur: map[string][]byte{}, old: map[string][]byte{}}
}

func (c *stateCache) lookup(k string) ([]byte, bool) {
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	if v, ok := c.old[k]; ok {
		c.put(k, v)
		return v, true
	}
	return nil, false
}

// put stores v (owned by the cache) under k; c.mu is held.
func (c *stateCache) put(k string, v []byte) {
	if len(c.cur) >= c.max {
		c.old, c.cur = c.cur, make(map[string][]byte, c.max/4)
	}
	c.cur[k] = v
}

// Get implements kv.Reader.
func (c *stateCache) Get(k []byte) ([]byte, error) {
	c.mu.Lock()
	v, ok := c.lookup(string(k))
	gen := c.gen
	c.mu.Unlock()
	if ok {
		if v == nil {
			return nil, kv.ErrNotFound
		}
		return append([]byte(nil), v...), nil
	}
	v, err := c.base.Get(k)
	var keep []byte
	switch {
	case err == nil:
		keep = append(make([]byte, 0, len(v)), v...)
	case errors.Is(err, kv.ErrNotFound):
		keep = nil
	default:
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.put(string(k), keep)
	}
	c.mu.Unlock()
	return v, err
}

// Iterate implements kv.Reader; it reads the committed state directly.
func (c *stateCache) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return c.base.Iterate(prefix, fn)
}

// Update records writes just committed (a nil value: the key was
// deleted). Reads that started before it are not cached.
func (c *stateCache) Update(writes func(yield func(string, []byte) bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, v := range writes {
		if v != nil {
			v = append(make([]byte, 0, len(v)), v...)
		}
		c.put(k, v)
	}
}

// Reset forgets everything cached, for writes made without Update.
func (c *stateCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.cur)
	clear(c.old)
}
