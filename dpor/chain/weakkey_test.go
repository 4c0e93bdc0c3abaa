package chain_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// A transaction "signed" by the identity point's key (R = identity,
// s = 0) verifies under plain ZIP-215; the chain refuses it.
func TestTxFromIdentityKeyRefused(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1
	tx := &chain.Tx{PubKey: identity, Nonce: 0, To: addr(31), Amount: 1, Fee: 1}
	tx.Sig = append(append([]byte(nil), identity...), make([]byte, 32)...)
	if !ed25519.Verify(identity, tx.SigningBytes("test"), tx.Sig) {
		t.Fatal("the forgery does not verify under crypto/ed25519; the test tests nothing")
	}
	if err := tx.CheckSignature("test"); !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("CheckSignature(forged by the identity key) = %v, want ErrBadSignature", err)
	}
	// The same transaction from a real key passes.
	real := &chain.Tx{Nonce: 0, To: addr(31), Amount: 1, Fee: 1}
	real.Sign("test", key(30))
	if err := real.CheckSignature("test"); err != nil {
		t.Fatal(err)
	}
}

func TestGenesisWithSmallOrderKeyRefused(t *testing.T) {
	g := testGenesis()
	g.Validators[1].Key = "0100000000000000000000000000000000000000000000000000000000000000"
	err := g.Validate()
	if err == nil || !strings.Contains(err.Error(), "validators[1].key") || !strings.Contains(err.Error(), "small order") {
		t.Fatalf("Validate = %v, want validators[1].key refused as a small-order point", err)
	}
	// A non-canonical encoding (y = p + 1, the identity again) too.
	g = testGenesis()
	g.Proposers[0].Key = hex.EncodeToString(append([]byte{0xee}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...))
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "proposers[0].key") || !strings.Contains(err.Error(), "not canonically encoded") {
		t.Fatalf("Validate = %v, want proposers[0].key refused as non-canonical", err)
	}
}
