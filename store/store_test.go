package store_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/kv/kvtest"
	"github.com/vchain-dev/vchain/store"
)

func TestTxnConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Txn {
		db, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		txn := db.NewTxn()
		t.Cleanup(func() { txn.Discard(); db.Close() })
		return txn
	})
}

// TestCommitIsAtomicAndDurable: a committed Txn is visible after reopening;
// a discarded one leaves nothing.
func TestCommitIsAtomicAndDurable(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	txn := db.NewTxn()
	txn.Set([]byte("k1"), []byte("v1"))
	txn.Set([]byte("k2"), []byte("v2"))
	if _, err := db.Get([]byte("k1")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal("an uncommitted write is visible outside its Txn")
	}
	if err := txn.Commit(true); err != nil {
		t.Fatal(err)
	}
	gone := db.NewTxn()
	gone.Set([]byte("k3"), []byte("v3"))
	gone.Discard()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, want := range map[string]string{"k1": "v1", "k2": "v2"} {
		if v, err := db.Get([]byte(k)); err != nil || string(v) != want {
			t.Fatalf("%s = %q, %v after reopen", k, v, err)
		}
	}
	if _, err := db.Get([]byte("k3")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal("a discarded Txn's write survived")
	}
	n := 0
	db.Iterate([]byte("k"), func(k, v []byte) error { n++; return nil })
	if n != 2 {
		t.Fatalf("Iterate saw %d keys", n)
	}
}

func TestNamespaceConformanceAndIsolation(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Txn {
		db, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		b := db.Namespace([]byte("ns1/")).Begin()
		t.Cleanup(func() { b.Discard(); db.Close() })
		return b
	})
	db, _ := store.Open("", store.Options{InMemory: true})
	defer db.Close()
	a, b := db.Namespace([]byte("a/")), db.Namespace([]byte("b/"))
	ba := a.Begin()
	ba.Set([]byte("k"), []byte("in a"))
	if err := ba.Commit(false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get([]byte("k")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal("a key of one namespace is visible in another")
	}
	if v, err := a.Get([]byte("k")); err != nil || string(v) != "in a" {
		t.Fatalf("a/k = %q, %v", v, err)
	}
	if v, err := db.Get([]byte("a/k")); err != nil || string(v) != "in a" {
		t.Fatalf("the namespace's key on the DB: %q, %v", v, err)
	}
}

// TestWriteTxn: a write-only transaction commits its writes and
// deletions atomically; reading through it is an error, not a panic.
func TestWriteTxn(t *testing.T) {
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seed := db.NewTxn()
	seed.Set([]byte("gone"), []byte("x"))
	if err := seed.Commit(false); err != nil {
		t.Fatal(err)
	}
	w := db.NewWriteTxn()
	w.Set([]byte("a"), []byte("1"))
	w.Delete([]byte("gone"))
	if _, err := w.Get([]byte("a")); err == nil {
		t.Fatal("a write-only transaction answered a read")
	}
	if v, err := db.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("visible before commit: %q %v", v, err)
	}
	if err := w.Commit(true); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("after commit: %q %v", v, err)
	}
	if _, err := db.Get([]byte("gone")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a deletion did not commit: %v", err)
	}
}

// A second opener of a store is told which process has it.
func TestSecondOpenNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(dir, store.Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open = %v, want it to name process %d and %s", err, os.Getpid(), dir)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	db.Close()
}
