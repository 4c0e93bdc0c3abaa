package kv_test

import (
	"testing"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/kv/kvtest"
)

func TestMem(t *testing.T) {
	kvtest.Run(t, func(*testing.T) kv.Txn { return kv.NewMem() })
}

func TestPrefixEnd(t *testing.T) {
	cases := map[string]string{"a": "b", "a\xff": "b", "\xff\xff": "", "": ""}
	for in, want := range cases {
		if got := string(kv.PrefixEnd([]byte(in))); got != want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrefixedConformance: a prefixed view behaves like a store of its
// own, and nothing it writes lands outside its prefix.
func TestPrefixedConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Txn {
		m := kv.NewMem()
		m.Set([]byte("a"), []byte("outside, before"))
		m.Set([]byte("p/"), []byte("the prefix itself"))
		m.Set([]byte("q"), []byte("outside, after"))
		return kv.PrefixedTxn(kv.PrefixedTxn(m, []byte("p/")), []byte("x"))
	})
}
