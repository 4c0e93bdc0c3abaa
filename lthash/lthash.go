// Package lthash is an order-independent, incremental hash of a set of
// key/value pairs: LtHash (Bellare and Micciancio's additive multiset hash
// over a lattice) with the parameters of Lewi et al.'s lthash16, 1024
// lanes of 16 bits. A pair's element is 2048 pseudo-random bytes; the
// hash of a set is the lane-wise sum of its elements modulo 2^16, so a
// pair is added or removed in constant time, in any order, and a state
// that changed in k keys is rehashed in O(k), not O(state). Sum condenses
// the lanes into 32 bytes to publish.
//
// An element is AES-256-CTR keystream keyed by SHA-256 over a domain tag
// and the length-prefixed key and value: both run on the CPU's AES and SHA
// instructions, several times faster than an extendable-output hash
// (BLAKE2b XOF) for the same 2048 bytes.
package lthash

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
)

// Lanes is the number of 16-bit lanes; Size the bytes they take.
const (
	Lanes = 1024
	Size  = 2 * Lanes
)

const words = Lanes / 4 // each uint64 holds four lanes, little-endian

// domain separates these elements from any other use of the same hashes.
const domain = "vchain/lthash16/v1\x00"

// Hash is the hash of a multiset of key/value pairs. The zero value is the
// hash of the empty set.
type Hash struct {
	w [words]uint64
}

// Digest is a Hash condensed to publish: SHA-256 over its lanes.
type Digest [32]byte

// String is the digest in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is unset (no digest was computed).
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest reads a digest in hex.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("state commitment %q: want %d hex digits", s, 2*len(d))
	}
	copy(d[:], b)
	return d, nil
}

// Element writes the element of the pair (key, value) into out.
func Element(key, value []byte, out *[Size]byte) {
	sc := scratchPool.Get().(*scratch)
	sc.element(key, value, out)
	scratchPool.Put(sc)
}

// scratch holds the buffers an element needs, reused through a pool so
// that hashing a state allocates little.
type scratch struct {
	in []byte
	e  [Size]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (sc *scratch) element(key, value []byte, out *[Size]byte) {
	sc.in = append(append(binary.AppendUvarint(append(sc.in[:0], domain...), uint64(len(key))), key...), value...)
	seed := sha256.Sum256(sc.in)
	block, _ := aes.NewCipher(seed[:]) // a 32-byte key is always valid
	var iv [aes.BlockSize]byte
	clear(out[:])
	cipher.NewCTR(block, iv[:]).XORKeyStream(out[:], out[:])
}

// Lane-wise arithmetic on four 16-bit lanes per word, without carries
// between lanes.
const high = 0x8000_8000_8000_8000

func add4(a, b uint64) uint64 { return ((a &^ high) + (b &^ high)) ^ ((a ^ b) & high) }
func sub4(a, b uint64) uint64 { return ((a | high) - (b &^ high)) ^ ((a ^ ^b) & high) }

// Add adds the pair (key, value) to the set.
func (h *Hash) Add(key, value []byte) {
	sc := scratchPool.Get().(*scratch)
	sc.element(key, value, &sc.e)
	h.AddElement(&sc.e)
	scratchPool.Put(sc)
}

// Remove takes the pair (key, value) out of the set. Removing a pair that
// was never added leaves a hash no set has (until it is added back).
func (h *Hash) Remove(key, value []byte) {
	sc := scratchPool.Get().(*scratch)
	sc.element(key, value, &sc.e)
	h.RemoveElement(&sc.e)
	scratchPool.Put(sc)
}

// AddElement adds an element computed by Element.
func (h *Hash) AddElement(e *[Size]byte) {
	for i := range h.w {
		h.w[i] = add4(h.w[i], binary.LittleEndian.Uint64(e[8*i:]))
	}
}

// RemoveElement takes out an element computed by Element.
func (h *Hash) RemoveElement(e *[Size]byte) {
	for i := range h.w {
		h.w[i] = sub4(h.w[i], binary.LittleEndian.Uint64(e[8*i:]))
	}
}

// Merge adds every pair of o's set to h's (the hash of the union of two
// disjoint sets, say two halves of a state hashed in parallel).
func (h *Hash) Merge(o *Hash) {
	for i := range h.w {
		h.w[i] = add4(h.w[i], o.w[i])
	}
}

// Equal reports whether h and o are the hash of the same set.
func (h *Hash) Equal(o *Hash) bool { return h.w == o.w }

// Sum condenses h into a digest.
func (h *Hash) Sum() Digest {
	b := h.AppendBinary(make([]byte, 0, len(domain)+Size))
	s := sha256.New()
	s.Write([]byte(domain))
	s.Write(b)
	var d Digest
	s.Sum(d[:0])
	return d
}

// AppendBinary appends h's lanes (Size bytes, little-endian) to b.
func (h *Hash) AppendBinary(b []byte) []byte {
	for _, w := range h.w {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// UnmarshalBinary reads lanes AppendBinary wrote.
func (h *Hash) UnmarshalBinary(b []byte) error {
	if len(b) != Size {
		return fmt.Errorf("lthash: %d bytes, want %d", len(b), Size)
	}
	for i := range h.w {
		h.w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}
