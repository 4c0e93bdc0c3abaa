// Package edkey checks Ed25519 public keys before anything trusts them.
//
// Ed25519 verification as the standard library (and ZIP-215) does it
// accepts any 32 bytes that decode to a curve point. Two kinds of such
// keys are weak:
//
//   - a point of small order (one of the eight in the curve's torsion
//     subgroup, the identity 0100…00 among them): with R the identity and
//     s = 0, a "signature" verifies for every message, so anyone can sign
//     as that key;
//   - a non-canonical encoding (y ≥ p, or x = 0 with the sign bit set):
//     two byte strings would name one point, so one signer would have two
//     identities.
//
// Check rejects both. It decodes the point, checks that the bytes are the
// point's one canonical encoding, and multiplies the point by the cofactor
// 8 (a small-order point becomes the identity).
package edkey

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

// Size is the size of an Ed25519 public key in bytes.
const Size = 32

// Reasons a key is refused; Check's errors wrap one of them.
var (
	// ErrSize: the key is not 32 bytes.
	ErrSize = errors.New("not 32 bytes")
	// ErrNotOnCurve: the bytes do not decode to a point.
	ErrNotOnCurve = errors.New("not a point of the curve")
	// ErrNonCanonical: the bytes are not the point's canonical encoding.
	ErrNonCanonical = errors.New("not canonically encoded")
	// ErrSmallOrder: the point is in the small-order subgroup, so a
	// forged signature verifies for any message.
	ErrSmallOrder = errors.New("a point of small order (anyone can sign as it)")
)

// Error is why a public key was refused.
type Error struct {
	Key    []byte
	Reason error // one of ErrSize, ErrNotOnCurve, ErrNonCanonical, ErrSmallOrder
}

func (e *Error) Error() string {
	return fmt.Sprintf("Ed25519 public key %x is %v", e.Key, e.Reason)
}

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Reason }

// Check returns nil when pub is the canonical encoding of a curve point
// outside the small-order subgroup, and an *Error saying what is wrong
// otherwise.
func Check(pub []byte) error {
	if len(pub) != Size {
		return &Error{Key: bytes.Clone(pub), Reason: ErrSize}
	}
	var c curve.CompressedEdwardsY
	copy(c[:], pub)
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return &Error{Key: bytes.Clone(pub), Reason: ErrNotOnCurve}
	}
	if !c.IsCanonicalVartime() {
		return &Error{Key: bytes.Clone(pub), Reason: ErrNonCanonical}
	}
	if p.IsSmallOrder() {
		return &Error{Key: bytes.Clone(pub), Reason: ErrSmallOrder}
	}
	return nil
}
