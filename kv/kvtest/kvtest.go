// Package kvtest checks that a kv.Txn implementation behaves as the engine
// and applications rely on: reads see the transaction's own writes, Iterate
// walks exactly the keys under a prefix in ascending order, deletes hide
// keys, and returned slices belong to the caller.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/kv"
)

// Run checks the Txn that newTxn returns (a fresh, empty one per call).
func Run(t *testing.T, newTxn func(t *testing.T) kv.Txn) {
	t.Run("ReadYourWrites", func(t *testing.T) {
		txn := newTxn(t)
		if _, err := txn.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get of an absent key: %v, want ErrNotFound", err)
		}
		key, val := []byte("a"), []byte("1")
		must(t, txn.Set(key, val))
		key[0], val[0] = 'z', '9' // the caller may reuse its slices
		got, err := txn.Get([]byte("a"))
		if err != nil || string(got) != "1" {
			t.Fatalf("Get after Set: %q, %v", got, err)
		}
		got[0] = 'x' // the returned slice is the caller's
		if again, _ := txn.Get([]byte("a")); string(again) != "1" {
			t.Fatal("modifying a returned value changed the store")
		}
		must(t, txn.Set([]byte("a"), []byte("2")))
		if got, _ := txn.Get([]byte("a")); string(got) != "2" {
			t.Fatalf("overwrite: %q", got)
		}
		must(t, txn.Delete([]byte("a")))
		if _, err := txn.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		must(t, txn.Delete([]byte("never-there")))
		must(t, txn.Set([]byte("empty"), nil))
		if got, err := txn.Get([]byte("empty")); err != nil || len(got) != 0 {
			t.Fatalf("empty value: %q, %v", got, err)
		}
	})
	t.Run("IteratePrefix", func(t *testing.T) {
		txn := newTxn(t)
		for _, k := range []string{"p/b", "p/a", "p", "q/a", "p/\xff", "o/z", "p/c"} {
			must(t, txn.Set([]byte(k), []byte("v"+k)))
		}
		must(t, txn.Delete([]byte("p/c")))
		var got []string
		must(t, txn.Iterate([]byte("p/"), func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				return fmt.Errorf("key %q has value %q", k, v)
			}
			got = append(got, string(k))
			return nil
		}))
		if want := []string{"p/a", "p/b", "p/\xff"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Iterate(p/) = %q, want %q", got, want)
		}
		stop := errors.New("stop")
		n := 0
		err := txn.Iterate(nil, func(k, v []byte) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Iterate must stop at and return fn's error: %v after %d keys", err, n)
		}
		all := 0
		must(t, txn.Iterate(nil, func(k, v []byte) error { all++; return nil }))
		if all != 6 {
			t.Fatalf("Iterate(nil) saw %d keys, want 6", all)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
