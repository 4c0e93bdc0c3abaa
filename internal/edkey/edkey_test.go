package edkey

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

// smallOrder are the canonical encodings of the eight points of the
// curve's torsion subgroup (orders 1, 2, 4, 4, 8, 8, 8, 8).
var smallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The identity key with R = identity, s = 0 verifies any message under
// the standard library: the attack Check exists to stop.
func TestIdentityKeyForgesUnderStdlib(t *testing.T) {
	pub := mustHex(t, smallOrder[0])
	sig := append(mustHex(t, smallOrder[0]), make([]byte, 32)...)
	if !ed25519.Verify(pub, []byte("anything at all"), sig) {
		t.Skip("this Go's ed25519.Verify already refuses the identity key")
	}
	if err := Check(pub); !errors.Is(err, ErrSmallOrder) {
		t.Fatalf("Check(identity) = %v, want ErrSmallOrder", err)
	}
}

func TestSmallOrderPointsRefused(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range smallOrder {
		if seen[s] {
			t.Fatalf("duplicate %s", s)
		}
		seen[s] = true
		err := Check(mustHex(t, s))
		if !errors.Is(err, ErrSmallOrder) {
			t.Errorf("Check(%s) = %v, want ErrSmallOrder", s, err)
		}
		var ke *Error
		if !errors.As(err, &ke) || hex.EncodeToString(ke.Key) != s {
			t.Errorf("Check(%s): error %v does not name the key", s, err)
		}
	}
}

// le encodes n as 32 little-endian bytes.
func le(n *big.Int) []byte {
	b := make([]byte, 32)
	be := n.Bytes()
	for i := range be {
		b[i] = be[len(be)-1-i]
	}
	return b
}

func TestNonCanonicalRefused(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// y = p + k names the same y as k (k < 19). Each that decodes must be
	// refused as non-canonical, whatever its order; at least one of them
	// is a point of large order (so the check is not just small order).
	largeOrder := 0
	for k := int64(0); k < 19; k++ {
		canon := le(big.NewInt(k))
		nonCanon := le(new(big.Int).Add(p, big.NewInt(k)))
		cerr := Check(canon)
		if errors.Is(cerr, ErrNotOnCurve) {
			if err := Check(nonCanon); !errors.Is(err, ErrNotOnCurve) {
				t.Errorf("y=p+%d: %v, want ErrNotOnCurve like y=%d", k, err, k)
			}
			continue
		}
		if cerr == nil {
			largeOrder++
		}
		if err := Check(nonCanon); !errors.Is(err, ErrNonCanonical) {
			t.Errorf("y=p+%d (%x): %v, want ErrNonCanonical", k, nonCanon, err)
		}
	}
	if largeOrder == 0 {
		t.Fatal("no y < 19 decodes to a point of large order; the test checks nothing beyond small order")
	}
	// x = 0 with the sign bit set: the identity and the point of order 2
	// have x = 0, so "negative x" is a second encoding of each.
	for _, s := range []string{
		"0100000000000000000000000000000000000000000000000000000000000080",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	} {
		if err := Check(mustHex(t, s)); !errors.Is(err, ErrNonCanonical) {
			t.Errorf("Check(%s) = %v, want ErrNonCanonical", s, err)
		}
	}
}

func TestGeneratedKeysAccepted(t *testing.T) {
	for i := 0; i < 200; i++ {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(pub); err != nil {
			t.Fatalf("a generated key: %v", err)
		}
	}
	for _, n := range []int{0, 31, 33} {
		if err := Check(make([]byte, n)); !errors.Is(err, ErrSize) {
			t.Errorf("%d bytes: %v, want ErrSize", n, err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(nil)
	for b.Loop() {
		if Check(pub) != nil {
			b.Fatal("refused")
		}
	}
}
