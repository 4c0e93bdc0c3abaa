package chain

import (
	"encoding/binary"
	"testing"
)

// TestSigCacheBounded: the signature cache never holds more than two
// generations, and always remembers the latest generation's worth of
// hashes (an unbounded cache was a memory leak under a long flood; one
// that cleared at once re-verified the next block in full).
func TestSigCacheBounded(t *testing.T) {
	var s sigCache
	key := func(i int) (h [32]byte) {
		binary.BigEndian.PutUint64(h[:], uint64(i))
		return h
	}
	n := 2*sigCacheGen + sigCacheGen/2
	for i := range n {
		s.add(key(i))
		if len(s.cur)+len(s.prev) > 2*sigCacheGen {
			t.Fatalf("after %d adds the cache holds %d", i+1, len(s.cur)+len(s.prev))
		}
	}
	for i := n - sigCacheGen; i < n; i++ {
		if !s.has(key(i)) {
			t.Fatalf("hash %d of the last %d added is forgotten", i, sigCacheGen)
		}
	}
	if s.has(key(0)) {
		t.Fatal("the oldest hash outlived two generations")
	}
}
