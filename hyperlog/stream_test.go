package hyperlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestAppendStream: a replica takes a batch entry by entry (more than the
// flush size, so it is written in several pieces); a batch that does not
// hash to the head, or whose source fails, leaves the replica unchanged
// and usable; the result survives reopening.
func TestAppendStream(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, filepath.Join(dir, "w"), testKey(1), Options{})
	defer w.Close()
	var entries [][]byte
	for i := range 300 {
		e := make([]byte, 8<<10)
		copy(e, fmt.Sprintf("entry %d", i))
		entries = append(entries, e)
	}
	if _, err := w.Append(entries[:10]...); err != nil {
		t.Fatal(err)
	}
	head10 := w.Head()
	if _, err := w.Append(entries[10:]...); err != nil {
		t.Fatal(err)
	}
	head := w.Head()
	r, err := CreateReplica(filepath.Join(dir, "r"), w.Identity(), Options{Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	feed := func(from int, tamper int) func() ([]byte, error) {
		i := from
		return func() ([]byte, error) {
			e := append([]byte(nil), entries[i]...)
			if i == tamper {
				e[0] ^= 1
			}
			i++
			return e, nil
		}
	}
	if err := r.AppendStream(head10, feed(0, -1)); err != nil {
		t.Fatal(err)
	}
	checkLog(t, r, entries[:10])
	if err := r.AppendStream(head, feed(10, 250)); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("a tampered entry: %v", err)
	}
	checkLog(t, r, entries[:10])
	boom := errors.New("source failed")
	n := 0
	if err := r.AppendStream(head, func() ([]byte, error) {
		if n++; n > 200 {
			return nil, boom
		}
		return entries[9+n], nil
	}); !errors.Is(err, boom) {
		t.Fatalf("a failing source: %v", err)
	}
	checkLog(t, r, entries[:10])
	if err := r.AppendStream(head, feed(10, -1)); err != nil {
		t.Fatal(err)
	}
	checkLog(t, r, entries)
	r.Close()
	r = mustOpen(t, filepath.Join(dir, "r"), Options{VerifyAll: true})
	defer r.Close()
	checkLog(t, r, entries)
}
