package chain

import "math/bits"

// add returns a+b, and false when the sum does not fit in 64 bits: no
// amount, fee or balance ever wraps.
func add(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	return s, carry == 0
}

// mul returns a·b, and false when the product does not fit in 64 bits.
func mul(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

// Cost is what a transaction can take from its sender: amount plus fee,
// and false when the sum overflows (such a transaction is never valid).
func (t *Tx) Cost() (uint64, bool) { return add(t.Amount, t.Fee) }

func mulOK(a, b uint64) bool { _, ok := mul(a, b); return ok }

// satAdd is a+b, or the largest uint64 when the sum does not fit: for
// running totals that only report.
func satAdd(a, b uint64) uint64 {
	if s, ok := add(a, b); ok {
		return s
	}
	return ^uint64(0)
}
