package vchash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	//lint:ignore SA1019 RIPEMD-160 (in hash160) is part of Virtualchain's consensus rules.
	"golang.org/x/crypto/ripemd160"
)

// ConsensusHash is a block's 16-byte consensus hash.
type ConsensusHash [16]byte

// String returns the lowercase hex form used everywhere in Virtualchain.
func (c ConsensusHash) String() string { return hex.EncodeToString(c[:]) }

// IsZero reports whether c is the zero value.
func (c ConsensusHash) IsZero() bool { return c == ConsensusHash{} }

// ParseConsensusHash decodes 32 hex characters.
func ParseConsensusHash(s string) (ConsensusHash, error) {
	var c ConsensusHash
	if len(s) != 2*len(c) {
		return c, fmt.Errorf("consensus hash %q: want %d hex characters, got %d", s, 2*len(c), len(s))
	}
	if _, err := hex.Decode(c[:], []byte(s)); err != nil {
		return c, fmt.Errorf("consensus hash %q: %w", s, err)
	}
	return c, nil
}

// Hash is a 32-byte hash in display order (an ops hash, a block hash).
type Hash [32]byte

// String returns the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash decodes 64 hex characters.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex characters, got %d", s, 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	return h, nil
}

// PrevBlocks lists the heights whose consensus hashes are mixed into block
// k's consensus hash when the application's first block is first:
// k-1, k-3, k-7, …, k-(2^i-1) while that height is at least first. Nearest
// first, as the reference fetches them.
func PrevBlocks(k, first int64) []int64 {
	var out []int64
	for i := uint(1); i < 63; i++ {
		h := k - (int64(1)<<i - 1)
		if h < first {
			break
		}
		out = append(out, h)
	}
	return out
}

// NumPrevBlocks is len(PrevBlocks(k, first)) without allocating.
func NumPrevBlocks(k, first int64) int {
	n := 0
	for i := uint(1); i < 63 && k-(int64(1)<<i-1) >= first; i++ {
		n++
	}
	return n
}

// Consensus computes a block's consensus hash from its ops hash and the
// consensus hashes of the blocks PrevBlocks names (in any order).
func Consensus(opsHash Hash, prev []ConsensusHash) ConsensusHash {
	// The reference sorts the hex strings of all inputs. Hex preserves byte
	// order, and a 16-byte value sorts before a 32-byte value it prefixes in
	// both forms, so comparing raw bytes is equivalent.
	leaves := make([][]byte, 0, len(prev)+1)
	for i := range prev {
		leaves = append(leaves, prev[i][:])
	}
	leaves = append(leaves, opsHash[:])
	slices.SortFunc(leaves, bytes.Compare)
	for i, l := range leaves {
		r := slices.Clone(l)
		slices.Reverse(r)
		leaves[i] = r
	}
	root := merkleRoot(leaves)
	slices.Reverse(root)
	h160 := Hash160(root)
	var out ConsensusHash
	copy(out[:], h160[:])
	return out
}

// Hash160 returns RIPEMD160(SHA256(b)), Bitcoin's hash160.
func Hash160(b []byte) [20]byte {
	s := sha256.Sum256(b)
	h := ripemd160.New()
	h.Write(s[:])
	var out [20]byte
	copy(out[:], h.Sum(nil))
	return out
}
