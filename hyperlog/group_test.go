package hyperlog

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentAppend appends from many goroutines, with Append and with
// AppendShared, while readers prove and verify: every caller's entries
// must land contiguously at the index it was told, and every head verify.
func TestConcurrentAppend(t *testing.T) {
	l := mustCreate(t, t.TempDir(), testKey(14), Options{})
	defer l.Close()
	const writers, perWriter = 8, 60
	type placed struct {
		first uint64
		batch [][]byte
	}
	results := make(chan placed, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				batch := [][]byte{[]byte(fmt.Sprintf("w%d/%d", w, i))}
				if i%3 == 0 {
					batch = append(batch, []byte(fmt.Sprintf("w%d/%d+", w, i)))
				}
				var first uint64
				if w%2 == 0 {
					n, err := l.Append(batch...)
					if err != nil {
						t.Error(err)
						return
					}
					first = n - uint64(len(batch))
				} else {
					f, n, err := l.AppendShared(batch...)
					if err != nil {
						t.Error(err)
						return
					}
					if n < f+uint64(len(batch)) {
						t.Errorf("AppendShared: head %d does not cover %d+%d", n, f, len(batch))
					}
					first = f
				}
				results <- placed{first, batch}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h := l.Head()
			if h.Length == 0 {
				continue
			}
			i := h.Length / 2
			p, err := l.ProveInclusion(i, h.Length)
			if err != nil {
				t.Error(err)
				return
			}
			e, err := l.Get(i)
			if err != nil {
				t.Error(err)
				return
			}
			if err := VerifyInclusion(l.Key(), h, i, e, p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(results)
	total := 0
	for r := range results {
		for j, want := range r.batch {
			got, err := l.Get(r.first + uint64(j))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("entry %d = %q (%v), want %q", r.first+uint64(j), got, err, want)
			}
		}
		total += len(r.batch)
	}
	if l.Length() != uint64(total) {
		t.Fatalf("length %d, want %d", l.Length(), total)
	}
	if err := VerifyHead(l.Key(), l.Head()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries under %d signed heads", total, l.headsWritten()-1)
}

func TestAppendSharedReadOnly(t *testing.T) {
	dir := t.TempDir()
	mustCreate(t, dir, testKey(15), Options{}).Close()
	l := mustOpen(t, dir, Options{ReadOnly: true})
	defer l.Close()
	if _, _, err := l.AppendShared([]byte("x")); err == nil {
		t.Fatal("read-only AppendShared succeeded")
	}
}
