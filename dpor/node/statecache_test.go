package node

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/vchain-dev/vchain/kv"
)

// TestStateCacheAgreesWithState: whatever the mix of reads, commits
// (reported with Update) and evictions, a read through the cache gives
// what the committed state holds.
func TestStateCacheAgreesWithState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := kv.NewMem()
		c := newStateCache(base, rapid.IntRange(1, 8).Draw(t, "max"))
		keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		for i := range rapid.IntRange(1, 200).Draw(t, "steps") {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0: // commit writes, then report them
				writes := map[string][]byte{}
				for range rapid.IntRange(1, 4).Draw(t, "n") {
					k := rapid.SampledFrom(keys).Draw(t, "wkey")
					if rapid.Bool().Draw(t, "delete") {
						writes[k] = nil
						base.Delete([]byte(k))
					} else {
						v := []byte(fmt.Sprint(i))
						if rapid.Bool().Draw(t, "empty") {
							v = []byte{}
						}
						writes[k] = v
						base.Set([]byte(k), v)
					}
				}
				c.Update(func(yield func(string, []byte) bool) {
					for k, v := range writes {
						if !yield(k, v) {
							return
						}
					}
				})
			default:
				want, wantErr := base.Get([]byte(k))
				got, err := c.Get([]byte(k))
				if !errors.Is(err, wantErr) || string(got) != string(want) {
					t.Fatalf("Get(%q) = %q, %v; the state holds %q, %v", k, got, err, want, wantErr)
				}
				if len(got) > 0 {
					got[0] = 'X' // the caller owns the slice
				}
			}
		}
	})
}

// TestStateCacheNeverServesOlderThanUpdate: readers racing with commits
// never see a value older than the last Update that finished before
// their read began.
func TestStateCacheNeverServesOlderThanUpdate(t *testing.T) {
	base := &lockedMem{m: kv.NewMem()}
	base.Set([]byte("k"), []byte{0})
	c := newStateCache(base, 4)
	var mu sync.Mutex
	committed := 0 // the newest value whose Update finished
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				floor := committed
				mu.Unlock()
				v, err := c.Get([]byte("k"))
				if err != nil || int(v[0]) < floor {
					t.Errorf("read %v, %v after value %d was committed", v, err, floor)
					return
				}
			}
		}()
	}
	for i := 1; i < 250; i++ {
		base.Set([]byte("k"), []byte{byte(i)})
		c.Update(func(yield func(string, []byte) bool) { yield("k", []byte{byte(i)}) })
		mu.Lock()
		committed = i
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}

type lockedMem struct {
	mu sync.Mutex
	m  *kv.Mem
}

func (l *lockedMem) Get(k []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Get(k)
}

func (l *lockedMem) Iterate(p []byte, fn func(k, v []byte) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Iterate(p, fn)
}

func (l *lockedMem) Set(k, v []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m.Set(k, v)
}
