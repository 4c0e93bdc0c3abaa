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
		// Up to 200 workers: with 67 workers and 4,289 signatures the
		// last one's share once started past the end.
		got := VerifySignatures("c", txs, rapid.IntRange(1, 200).Draw(t, "workers"))
		for i, tx := range txs {
			want := tx.CheckSignature("c")
			if (want == nil) != (got[i] == nil) || want != nil && errors.Is(want, ErrBadSignature) != errors.Is(got[i], ErrBadSignature) {
				t.Fatalf("tx %d: batch says %v, one by one %v", i, got[i], want)
			}
		}
	})
}

// TestVerifySignaturesManyWorkers: 67 workers for 4,289 signatures give
// shares of 65 whose last would start past the end (it panicked).
func TestVerifySignaturesManyWorkers(t *testing.T) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	txs := make([]*Tx, 4289)
	for i := range txs {
		txs[i] = &Tx{Nonce: uint64(i)}
		txs[i].Sign("c", k)
	}
	txs[4288].Sig[0] ^= 1
	errs := VerifySignatures("c", txs, 67)
	for i, err := range errs {
		if (err != nil) != (i == 4288) {
			t.Fatalf("tx %d: %v", i, err)
		}
	}
}
