package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/kv"
)

// TestBatchWriter: keys are committed batch by batch as batches fill;
// Discard drops only the batch being filled; Commit writes it.
func TestBatchWriter(t *testing.T) {
	db, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := NewBatchWriter(db, 100)
	for i := range 12 { // 10 bytes each: a batch fills every 10 keys
		if err := w.Set(fmt.Appendf(nil, "key%02d", i), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Get([]byte("key09")); err != nil {
		t.Fatalf("a full batch was not committed: %v", err)
	}
	if _, err := db.Get([]byte("key10")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a key of the batch being filled is visible: %v", err)
	}
	w.Discard()
	if err := w.Set([]byte("key12"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get([]byte("key10")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a discarded key was written: %v", err)
	}
	if _, err := db.Get([]byte("key12")); err != nil {
		t.Fatalf("Commit did not write the last batch: %v", err)
	}
}
