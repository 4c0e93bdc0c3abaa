package hyperlog

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vchain-dev/vchain/internal/edkey"
)

// identityKey is the encoding of the curve's identity point: with R the
// identity and s = 0, a signature under it verifies for any message.
var identityKey = Hash{1}

// forgedHead is a head "signed" under identityKey without any secret.
func forgedHead(mode Mode, entries [][]byte) SignedHead {
	var roots []Node
	for i, e := range entries {
		roots = AppendLeaf(roots, uint64(i), e)
	}
	raw := append(append([]byte(nil), identityKey[:]...), make([]byte, 32)...)
	id := Identity{Mode: mode, PublicKey: identityKey}
	h := id.headWithRaw(uint64(len(entries)), 0, TreeHash(roots), raw)
	h.Roots = roots
	return h
}

func TestForgedHeadUnderIdentityKeyRefused(t *testing.T) {
	entries := [][]byte{[]byte("I owe you everything")}
	for _, mode := range []Mode{ModeCompat, ModeManifest} {
		id := Identity{Mode: mode, PublicKey: identityKey}
		h := forgedHead(mode, entries)
		// The forgery is a valid Ed25519 signature as the standard
		// library checks it: only the key check stops it.
		if !ed25519.Verify(identityKey[:], id.Signable(h.TreeHash, h.Length, 0), append(identityKey[:], make([]byte, 32)...)) {
			t.Fatalf("%v: the forgery does not verify under crypto/ed25519; the test tests nothing", mode)
		}
		err := VerifyHead(id.Key(), h)
		if !errors.Is(err, ErrBadSignature) || !errors.Is(err, edkey.ErrSmallOrder) {
			t.Errorf("%v: VerifyHead(forged) = %v, want ErrBadSignature for a small-order key", mode, err)
		}
		if err := VerifyLog(id.Key(), h, entries); err == nil {
			t.Errorf("%v: VerifyLog accepted the forged log", mode)
		}
	}
}

func TestReplicaForWeakKeyNotCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "user")
	_, err := CreateReplica(dir, Identity{Mode: ModeManifest, PublicKey: identityKey}, Options{Logger: quietLogger})
	if !errors.Is(err, edkey.ErrSmallOrder) {
		t.Fatalf("CreateReplica(identity key) = %v, want a small-order refusal", err)
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("a refused replica left %s behind (%v)", dir, statErr)
	}
	// A real key still works.
	pub, _, _ := ed25519.GenerateKey(nil)
	l, err := CreateReplica(dir, NewIdentity(ModeManifest, pub), Options{Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
