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
