package hyperlog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Node is one node of a log's Merkle tree: its flat-tree index, the byte
// length of all blocks under it, and its hash. JSON: {"index", "size",
// "hash" (hex)}.
type Node struct {
	Index uint64 `json:"index"` // flat-tree index (block i is 2i)
	Size  uint64 `json:"size"`  // bytes of all blocks under the node
	Hash  Hash   `json:"hash"`  // leaf or parent hash
}

// String returns a short description of n, for errors and logs.
func (n Node) String() string {
	return fmt.Sprintf("node %d (size %d, hash %x…)", n.Index, n.Size, n.Hash[:4])
}

// nodeSlotSize is the size of one node in the tree file: u64le(size) ‖ hash.
const nodeSlotSize = 8 + HashSize

// putSlot writes n's tree-file slot into b (nodeSlotSize bytes).
func putSlot(b []byte, n Node) {
	binary.LittleEndian.PutUint64(b, n.Size)
	copy(b[8:nodeSlotSize], n.Hash[:])
}

// readSlot decodes a tree-file slot for node index.
func readSlot(b []byte, index uint64) Node {
	n := Node{Index: index, Size: binary.LittleEndian.Uint64(b)}
	copy(n.Hash[:], b[8:nodeSlotSize])
	return n
}

// appendRoot pushes node onto roots and merges the last two roots while they
// are siblings, calling emit (when not nil) for every parent it creates. It
// returns the new roots.
func appendRoot(roots []Node, node Node, emit func(Node)) []Node {
	roots = append(roots, node)
	for len(roots) > 1 {
		a, b := roots[len(roots)-2], roots[len(roots)-1]
		if Sibling(b.Index) != a.Index {
			break
		}
		p := ParentNode(a, b)
		if emit != nil {
			emit(p)
		}
		roots = append(roots[:len(roots)-2], p)
	}
	return roots
}

// RootsOf computes the full roots of a log holding blocks, in order. It is
// the from-scratch reference every incremental computation is checked
// against.
func RootsOf(blocks [][]byte) []Node {
	var roots []Node
	for i, b := range blocks {
		roots = appendRoot(roots, LeafNode(uint64(i), b), nil)
	}
	return roots
}

// ByteLength returns the total size of the blocks under roots.
func ByteLength(roots []Node) uint64 {
	var n uint64
	for _, r := range roots {
		n += r.Size
	}
	return n
}

// lengthOfRoots returns the block count that roots cover, checking that they
// are exactly the full roots of that length.
func lengthOfRoots(roots []Node) (uint64, error) {
	var next uint64 // first leaf index not covered yet
	for i, r := range roots {
		l, rs := Spans(r.Index)
		if l != next {
			return 0, fmt.Errorf("%w: root %d does not start where the previous one ends", ErrInvalidProof, r.Index)
		}
		if i > 0 && Depth(r.Index) >= Depth(roots[i-1].Index) {
			return 0, fmt.Errorf("%w: roots are not full roots", ErrInvalidProof)
		}
		next = rs + 2
	}
	return next / 2, nil
}

// checkRoots verifies that roots are the full roots of length.
func checkRoots(roots []Node, length uint64) error {
	want := FullRoots(length)
	if len(want) != len(roots) {
		return fmt.Errorf("%w: %d roots for length %d, want %d", ErrInvalidProof, len(roots), length, len(want))
	}
	for i, idx := range want {
		if roots[i].Index != idx {
			return fmt.Errorf("%w: root %d is node %d, want %d", ErrInvalidProof, i, roots[i].Index, idx)
		}
	}
	return nil
}

// Errors returned by verification and decoding.
var (
	// ErrInvalidProof means a proof does not prove what it is asked to.
	ErrInvalidProof = errors.New("hyperlog: invalid proof")
	// ErrBadSignature means a head's signature does not verify.
	ErrBadSignature = errors.New("hyperlog: bad signature")
	// ErrMalformed means bytes could not be decoded.
	ErrMalformed = errors.New("hyperlog: malformed encoding")
)

// AppendLeaf returns roots after block number index, holding data, is
// appended: the incremental form of RootsOf, for code that tracks a log's
// head without the log (a client signing its own log, an auditor).
func AppendLeaf(roots []Node, index uint64, data []byte) []Node {
	return appendRoot(roots, LeafNode(index, data), nil)
}
