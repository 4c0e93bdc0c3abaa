package chain

import (
	"bytes"
	"crypto/ed25519"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// decodeTxReflect is DecodeTx through the reflective codec alone: the
// reference the fast path is held to.
func decodeTxReflect(b []byte) (*Tx, bool) {
	var t Tx
	if err := Unmarshal(b, &t); err != nil {
		return nil, false
	}
	if !bytes.Equal(marshalReflect(&t), b) {
		return nil, false
	}
	return &t, true
}

// sameTx compares the transactions' fields (not their cached hashes).
func sameTx(a, b *Tx) bool {
	x, y := *a, *b
	x.hash, x.hashed, y.hash, y.hashed = [32]byte{}, false, [32]byte{}, false
	return reflect.DeepEqual(x, y)
}

func genBytes(t *rapid.T, label string, sizes ...int) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+" kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	n := rapid.SampledFrom(sizes).Draw(t, label+" size")
	return rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, label)
}

func genUint(t *rapid.T, label string) uint64 {
	edges := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	if rapid.Bool().Draw(t, label+" edge") {
		return rapid.SampledFrom(edges).Draw(t, label)
	}
	return rapid.Uint64().Draw(t, label)
}

// TestTxCodecAgrees: for transactions of every shape, the hand-written
// encoder writes the reflective codec's bytes (signed and unsigned), and
// DecodeTx gives back the transaction.
func TestTxCodecAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tx := &Tx{PubKey: genBytes(t, "pubkey", 1, 32, 33), Nonce: genUint(t, "nonce"), Amount: genUint(t, "amount"),
			Fee: genUint(t, "fee"), Data: genBytes(t, "data", 1, 23, 24, 255, 256, 70000), Sig: genBytes(t, "sig", 64, 3)}
		copy(tx.To[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "to"))
		if rapid.IntRange(0, 4).Draw(t, "call") == 0 {
			tx.Call = &Call{Method: rapid.StringN(0, 10, 10).Draw(t, "method")}
		}
		want := marshalReflect(tx)
		if got := Marshal(tx); !bytes.Equal(got, want) {
			t.Fatalf("Marshal:\n%x\nreflective:\n%x", got, want)
		}
		if got := Marshal(*tx); !bytes.Equal(got, want) {
			t.Fatalf("Marshal of a value:\n%x\nreflective:\n%x", got, want)
		}
		c := *tx
		c.Sig = nil
		if got, want := tx.SigningBytes("chain-x"), append([]byte("vchain-dpor-tx:chain-x:"), marshalReflect(&c)...); !bytes.Equal(got, want) {
			t.Fatalf("SigningBytes:\n%x\nreflective:\n%x", got, want)
		}
		back, err := DecodeTx(want)
		if err != nil {
			t.Fatalf("DecodeTx of %x: %v", want, err)
		}
		if !bytes.Equal(marshalReflect(back), want) || tx.Call == nil && !sameTx(back, tx) {
			t.Fatalf("DecodeTx gave %+v, want %+v", back, tx)
		}
		_, fast := decodeTxFast(want)
		if fast != (tx.Call == nil) {
			t.Fatalf("the fast path took it: %v, with a call: %v", fast, tx.Call != nil)
		}
	})
}

// FuzzDecodeTxFast: whatever the bytes, the fast decoder takes them only
// if the reflective codec decodes them (canonically) to the same
// transaction, and takes every canonical transaction without a call.
func FuzzDecodeTxFast(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	for _, tx := range []*Tx{{Nonce: 300, Amount: 1 << 40, Fee: 24, Data: []byte("id+x")}, {}, {Data: []byte{}}} {
		tx.Sign("c", key)
		f.Add(Marshal(tx))
	}
	f.Add([]byte{0x88, 0xf6, 0x18, 0x05, 0x54})
	f.Add([]byte{0x88, 0x40, 0x18, 0x17})
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeTxFast(b)
		slow, sok := decodeTxReflect(b)
		switch {
		case ok && !sok:
			t.Fatalf("the fast path took %x, which the reflective codec refuses", b)
		case ok && !sameTx(fast, slow):
			t.Fatalf("%x: fast %+v, reflective %+v", b, fast, slow)
		case !ok && sok && slow.Call == nil:
			t.Fatalf("the fast path left %x, a canonical transaction without a call, to the slow one", b)
		}
		got, err := DecodeTx(b)
		if (err == nil) != sok || (err == nil && !sameTx(got, slow)) {
			t.Fatalf("DecodeTx(%x) = %+v, %v; the reflective codec: %+v, %v", b, got, err, slow, sok)
		}
	})
}

// BenchmarkDecodeTx: what each node does with each transaction it
// receives before checking its signature: decode it (canonical check
// included) and rebuild the bytes the signature covers; hand-written
// (the path DecodeTx and SigningBytes take) against reflective.
func BenchmarkDecodeTx(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	tx := &Tx{Nonce: 1234, Amount: 10, Fee: 1}
	tx.Sign("bench", key)
	raw := Marshal(tx)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			t, err := DecodeTx(raw)
			if err != nil {
				b.Fatal(err)
			}
			t.SigningBytes("bench")
		}
	})
	b.Run("reflective", func(b *testing.B) {
		for b.Loop() {
			t, ok := decodeTxReflect(raw)
			if !ok {
				b.Fatal("refused")
			}
			c := *t
			c.Sig = nil
			_ = append([]byte("vchain-dpor-tx:bench:"), marshalReflect(&c)...)
		}
	})
}

// FuzzDecodeBodyFast: the fast paths for a block body and for gossiped
// transactions take bytes only if the reflective codec decodes them to
// the same value, and take every canonical body without a penalty.
func FuzzDecodeBodyFast(f *testing.F) {
	f.Add(Marshal(&Body{Txs: [][]byte{{1, 2}, {}, bytes.Repeat([]byte{7}, 300)}, State: bytes.Repeat([]byte{9}, 32)}))
	f.Add(Marshal(&Body{Txs: [][]byte{}}))
	f.Add(Marshal(&Body{Txs: [][]byte{{1}}, Penalty: &Penalty{Height: 3}}))
	f.Add(Marshal([][]byte{{1, 2, 3}, {}}))
	f.Add([]byte{0xa1, 0x01, 0x81, 0x58, 0x01, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		if fast, ok := decodeBodyFast(b); ok {
			var slow Body
			if err := Unmarshal(b, &slow); err != nil || !reflect.DeepEqual(*fast, slow) {
				t.Fatalf("body %x: fast %+v, reflective %+v %v", b, fast, slow, err)
			}
		} else {
			var slow Body
			if Unmarshal(b, &slow) == nil && slow.Penalty == nil && slow.Txs != nil && bytes.Equal(marshalReflect(&slow), b) {
				t.Fatalf("the fast path left %x, a canonical body, to the slow one", b)
			}
		}
		fast, ok := decodeByteStringsFast(b)
		var slow [][]byte
		err := Unmarshal(b, &slow)
		switch {
		case ok && (err != nil || !reflect.DeepEqual(fast, slow)):
			t.Fatalf("byte strings %x: fast %q, reflective %q %v", b, fast, slow, err)
		case !ok && err == nil && slow != nil && bytes.Equal(marshalReflect(slow), b):
			t.Fatalf("the fast path left %x, canonical byte strings, to the slow one", b)
		}
	})
}
