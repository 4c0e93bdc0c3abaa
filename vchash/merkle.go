package vchash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// DoubleSHA256 returns SHA256(SHA256(b)).
func DoubleSHA256(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// emptyDigest is dsha256 of the empty string: the single leaf of an empty
// block's ops tree.
var emptyDigest = DoubleSHA256(nil)

// EmptyOpsHash is the ops hash of a block with no operations.
var EmptyOpsHash = OpsHashOfDigests(nil)

// MerkleRootHex computes Virtualchain's MerkleTree(leaves).root(): each leaf is
// decoded from hex and byte-reversed, rows are paired with the last element
// duplicated when a row is odd, each pair is double-SHA256'd, and the root is
// byte-reversed and hex encoded. Leaves are used in the order given. Leaves
// may have different lengths; the result of a one-leaf tree is that leaf.
func MerkleRootHex(leaves []string) (string, error) {
	if len(leaves) == 0 {
		return "", errors.New("vchash: merkle tree needs at least one leaf")
	}
	raw := make([][]byte, len(leaves))
	for i, l := range leaves {
		b, err := hex.DecodeString(l)
		if err != nil {
			return "", fmt.Errorf("vchash: leaf %d: %w", i, err)
		}
		slices.Reverse(b)
		raw[i] = b
	}
	root := merkleRoot(raw)
	slices.Reverse(root)
	return hex.EncodeToString(root), nil
}

// merkleRoot reduces already-reversed leaves to the (internal byte order)
// root. It reuses the first level's buffer for every later level.
func merkleRoot(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return slices.Clone(leaves[0])
	}
	var buf [64]byte
	h := sha256.New()
	level := make([][32]byte, (len(leaves)+1)/2)
	for i := range level {
		l := leaves[2*i]
		r := l
		if 2*i+1 < len(leaves) {
			r = leaves[2*i+1]
		}
		level[i] = dshaPair(h, l, r, buf[:0])
	}
	for len(level) > 1 {
		next := level[:(len(level)+1)/2]
		for i := range next {
			l := level[2*i][:]
			r := l
			if 2*i+1 < len(level) {
				r = level[2*i+1][:]
			}
			next[i] = dshaPair(h, l, r, buf[:0])
		}
		level = next
	}
	return level[0][:]
}

type hasher interface {
	Reset()
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// dshaPair returns dsha256(l || r) using h and scratch, without allocating
// for the common 32-byte case.
func dshaPair(h hasher, l, r, scratch []byte) [32]byte {
	var out [32]byte
	h.Reset()
	h.Write(l)
	h.Write(r)
	first := h.Sum(scratch)
	out = sha256.Sum256(first)
	return out
}

// OpsHash returns the ops hash of a block whose committed operations
// serialize to ops (in any order: the leaves are sorted).
func OpsHash(ops [][]byte) Hash {
	digests := make([][32]byte, len(ops))
	for i, op := range ops {
		digests[i] = DoubleSHA256(op)
	}
	return OpsHashOfDigests(digests)
}

// OpsHashOfDigests returns the ops hash of a block from the double-SHA256
// digests of its serialized operations. It sorts digests in place. An empty
// slice gives EmptyOpsHash.
func OpsHashOfDigests(digests [][32]byte) Hash {
	if len(digests) == 0 {
		digests = [][32]byte{emptyDigest}
	}
	// The reference sorts the hex strings of the digests; for equal-length
	// lowercase hex that is the byte order of the digests.
	slices.SortFunc(digests, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	leaves := make([][]byte, len(digests))
	for i := range digests {
		// Leaves are the hex of the digest, reversed on decode.
		d := digests[i]
		slices.Reverse(d[:])
		leaves[i] = d[:]
	}
	var out Hash
	copy(out[:], merkleRoot(leaves))
	slices.Reverse(out[:])
	return out
}
