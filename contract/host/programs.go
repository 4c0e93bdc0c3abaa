package host

import (
	"crypto/sha256"
	"sync"

	"github.com/vchain-dev/vchain/contract"
)

// programCache keeps compiled programs by the SHA-256 of their source.
// Compiling is deterministic, so a cached program is interchangeable with
// a fresh one.
type programCache struct {
	mu sync.Mutex
	m  map[[32]byte]*contract.Program
}

func newProgramCache() *programCache { return &programCache{m: map[[32]byte]*contract.Program{}} }

func (c *programCache) get(code []byte, limits contract.Limits) (*contract.Program, error) {
	h := sha256.Sum256(code)
	c.mu.Lock()
	p, ok := c.m[h]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := contract.Compile(code, limits)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[h] = p
	c.mu.Unlock()
	return p, nil
}
