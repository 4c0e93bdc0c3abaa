package chain

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/kv"
	"pgregory.net/rapid"
)

// TestTransferFastPathAgrees: a plain transfer takes a path without an
// overlay; whatever the balances and amounts (overflow and self-transfer
// included), it leaves the same state and the same outcome as the
// general path every call takes.
func TestTransferFastPathAgrees(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 3)
	for i := range keys {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		keys[i] = ed25519.NewKeyFromSeed(seed)
	}
	c := New(&Genesis{ChainID: "t", Params: DefaultParams()})
	rapid.Check(t, func(rt *rapid.T) {
		bals := make([]uint64, len(keys))
		for i := range bals {
			bals[i] = rapid.OneOf(rapid.Uint64Range(0, 1000), rapid.Just(^uint64(0)), rapid.Uint64()).Draw(rt, fmt.Sprint("bal", i))
		}
		from := rapid.IntRange(0, 2).Draw(rt, "from")
		to := rapid.IntRange(0, 2).Draw(rt, "to")
		tx := &Tx{To: AddressOf(keys[to].Public().(ed25519.PublicKey)),
			Amount: rapid.OneOf(rapid.Uint64Range(0, 1200), rapid.Uint64()).Draw(rt, "amount"),
			Fee:    rapid.Uint64Range(1, 5).Draw(rt, "fee")}
		tx.Sign("t", keys[from])
		run := func(general bool) (string, map[string]string) {
			st := kv.NewMem()
			s := WriteState(st)
			for i, k := range keys {
				s.SetAccount(AddressOf(k.Public().(ed25519.PublicKey)), Account{Balance: bals[i]})
			}
			p := DefaultParams()
			var failed, err error
			if general {
				// The general path: the same checks, then execute on an overlay.
				acct, _ := s.Account(tx.Sender())
				if acct.Balance < tx.Fee {
					err = txErr("fee")
				} else {
					acct.Nonce++
					acct.Balance -= tx.Fee
					s.SetAccount(tx.Sender(), acct)
					o := NewOverlay(st)
					if failed = c.execute(WriteState(o), &p, 1, tx); failed == nil {
						o.WriteTo(st)
					}
				}
			} else {
				failed, err = c.applyTx(s, &p, 1, tx, true)
			}
			out := map[string]string{}
			for _, k := range keys {
				a, _ := s.Account(AddressOf(k.Public().(ed25519.PublicKey)))
				out[fmt.Sprint(k.Public())] = fmt.Sprint(a.Balance, "/", a.Nonce)
			}
			return fmt.Sprint(err != nil, failed != nil), out
		}
		g1, s1 := run(true)
		g2, s2 := run(false)
		if g1 != g2 || fmt.Sprint(s1) != fmt.Sprint(s2) {
			rt.Fatalf("general path %s %v, fast path %s %v", g1, s1, g2, s2)
		}
	})
}

// TestBatchAgreesWithSingle: whatever mix of good and bad signatures and
// keys a batch holds (a forged signature, the identity point as a key
// with a zero signature, a non-canonical key, keys seen before and
// cached in expanded form), the batch check finds exactly the ones the
// single check finds, on a fresh chain and on one whose key cache is
// warm.
func TestBatchAgreesWithSingle(t *testing.T) {
	g := &Genesis{ChainID: "t"}
	var txs []*Tx
	for i := 0; i < 300; i++ {
		seed := make([]byte, 32)
		seed[0], seed[1] = byte(i%7), 9
		k := ed25519.NewKeyFromSeed(seed)
		tx := &Tx{Nonce: uint64(i), Amount: uint64(i), Fee: 1}
		tx.Sign("t", k)
		switch i % 10 {
		case 3: // forged
			tx.Sig[5] ^= 1
		case 5: // identity point, R = identity, s = 0
			tx.PubKey = append([]byte{1}, make([]byte, 31)...)
			tx.Sig = append(append([]byte{1}, make([]byte, 31)...), make([]byte, 32)...)
		case 7: // a non-canonical encoding of a key (y >= p)
			tx.PubKey = append([]byte{0xed}, bytesOf(0xff, 30)...)
			tx.PubKey = append(tx.PubKey, 0x7f)
		}
		tx.hashed = false
		txs = append(txs, tx)
	}
	for _, warm := range []bool{false, true} {
		c := New(g)
		if warm {
			c.VerifyAll(txs[:50], 1) // fills the key cache
			c = &Chain{G: g, keys: c.keys}
		}
		c.VerifyAll(txs, 2)
		for i, tx := range txs {
			single := tx.CheckSignature("t") == nil
			if c.IsVerified(tx.Hash()) != single {
				t.Fatalf("warm=%v tx %d (case %d): batch says %v, single says %v", warm, i, i%10, c.IsVerified(tx.Hash()), single)
			}
		}
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestAccountCodecAgrees: the hand-written account codec writes exactly
// what the canonical CBOR encoder writes and reads it back, and leaves
// any other bytes to the general decoder.
func TestAccountCodecAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := func(name string) uint64 {
			bits := rapid.SampledFrom([]int{4, 8, 16, 32, 64}).Draw(t, name+"bits")
			v := rapid.Uint64().Draw(t, name)
			if bits < 64 {
				v &= 1<<bits - 1
			}
			return v
		}
		a := Account{Balance: u("balance"), Nonce: u("nonce"), Epoch: u("epoch"), EpochNonce: u("epochNonce"), PrevNonce: u("prevNonce")}
		want := Marshal(a)
		got := encodeAccount(a)
		if string(got) != string(want) {
			t.Fatalf("encodeAccount(%+v) = %x, Marshal gives %x", a, got, want)
		}
		back, ok := decodeAccount(want)
		if !ok || back != a {
			t.Fatalf("decodeAccount(%x) = %+v, %v; want %+v", want, back, ok, a)
		}
		// Any other bytes: the fast decoder either refuses them or agrees
		// with the general one.
		junk := rapid.SliceOfN(rapid.Byte(), 0, 50).Draw(t, "junk")
		if rapid.Bool().Draw(t, "array") {
			junk = append([]byte{0x85}, junk...)
		}
		if fast, ok := decodeAccount(junk); ok {
			var slow Account
			if err := Unmarshal(junk, &slow); err != nil || slow != fast {
				t.Fatalf("decodeAccount(%x) = %+v, but Unmarshal gives %+v, %v", junk, fast, slow, err)
			}
		}
	})
}
