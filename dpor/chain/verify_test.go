package chain

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

// TestVerifySignaturesAgreesWithOneByOne: batch verification on several
// goroutines gives, for any mix of good, forged, other-chain and malformed
// transactions, exactly the verdicts of CheckSignature one by one.
func TestVerifySignaturesAgreesWithOneByOne(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		txs := make([]*Tx, n)
		for i := range txs {
			seed := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed")
			k := ed25519.NewKeyFromSeed(seed)
			tx := &Tx{Nonce: uint64(i), Data: []byte{1, 2, 3}}
			switch rapid.IntRange(0, 4).Draw(t, "kind") {
			case 0, 1:
				tx.Sign("c", k)
			case 2:
				tx.Sign("other", k)
			case 3:
				tx.Sign("c", k)
				tx.Sig[5] ^= 1
			case 4:
				tx.Sign("c", k)
				tx.Sig = tx.Sig[:10]
			}
			txs[i] = tx
		}
		got := VerifySignatures("c", txs, rapid.IntRange(1, 4).Draw(t, "workers"))
		for i, tx := range txs {
			want := tx.CheckSignature("c")
			if (want == nil) != (got[i] == nil) || want != nil && errors.Is(want, ErrBadSignature) != errors.Is(got[i], ErrBadSignature) {
				t.Fatalf("tx %d: batch says %v, one by one %v", i, got[i], want)
			}
		}
	})
}
