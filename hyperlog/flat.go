package hyperlog

import "math/bits"

// Flat-tree index math. The tree over a log is numbered in order: block i is
// the leaf at index 2i, and a parent sits between its two children, so every
// even index is a leaf and the depth of a node is the number of trailing
// 1-bits of its index. These functions are the Go form of the flat-tree
// module hypercore uses; they never allocate except FullRoots.

// Depth returns the height of node index above the leaves (0 for a leaf).
func Depth(index uint64) uint64 { return uint64(bits.TrailingZeros64(^index)) }

// Offset returns the position of node index among the nodes of its depth,
// counted from the left.
func Offset(index uint64) uint64 { return index >> (Depth(index) + 1) }

// TreeIndex returns the index of the node at depth and offset.
func TreeIndex(depth, offset uint64) uint64 {
	return offset<<(depth+1) | (uint64(1)<<depth - 1)
}

// Parent returns the index of the parent of node index.
func Parent(index uint64) uint64 {
	d := Depth(index)
	return TreeIndex(d+1, Offset(index)>>1)
}

// Sibling returns the index of the other child of index's parent.
func Sibling(index uint64) uint64 {
	d := Depth(index)
	return TreeIndex(d, Offset(index)^1)
}

// Children returns the left and right children of index; ok is false for a
// leaf.
func Children(index uint64) (left, right uint64, ok bool) {
	d := Depth(index)
	if d == 0 {
		return 0, 0, false
	}
	half := uint64(1) << (d - 1)
	return index - half, index + half, true
}

// LeftSpan returns the leftmost leaf index under node index.
func LeftSpan(index uint64) uint64 { return index - (uint64(1)<<Depth(index) - 1) }

// RightSpan returns the rightmost leaf index under node index.
func RightSpan(index uint64) uint64 { return index + (uint64(1)<<Depth(index) - 1) }

// Spans returns LeftSpan and RightSpan of index.
func Spans(index uint64) (left, right uint64) { return LeftSpan(index), RightSpan(index) }

// Contains reports whether node index covers node other (a node covers
// itself).
func Contains(index, other uint64) bool {
	l, r := Spans(index)
	return l <= other && other <= r
}

// FullRoots returns the roots of the perfect subtrees that together cover the
// first length blocks, left to right (ascending index). Its argument is a
// block count, not a tree index: FullRoots(3) is [1 4].
func FullRoots(length uint64) []uint64 {
	roots := make([]uint64, 0, bits.OnesCount64(length))
	return appendFullRoots(roots, length)
}

// appendFullRoots appends FullRoots(length) to dst.
func appendFullRoots(dst []uint64, length uint64) []uint64 {
	var offset uint64 // first leaf index not yet covered
	for k := 63; k >= 0; k-- {
		if length&(uint64(1)<<k) == 0 {
			continue
		}
		dst = append(dst, offset+uint64(1)<<k-1)
		offset += uint64(1) << (k + 1)
	}
	return dst
}

// nodeCount returns how many tree nodes exist once length blocks are in the
// log: every leaf and every parent whose two children exist.
func nodeCount(length uint64) uint64 {
	return 2*length - uint64(bits.OnesCount64(length))
}

// slotOf returns the position of node index in creation order, the order in
// which appending blocks one by one produces nodes: a block's leaf, then the
// parents it completes from the bottom up. The tree file stores nodes in this
// order, so it only ever grows at its end.
func slotOf(index uint64) uint64 {
	b := RightSpan(index) / 2 // the last block under the node completes it
	return nodeCount(b) + Depth(index)
}
