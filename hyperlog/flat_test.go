package hyperlog

import (
	"reflect"
	"testing"
)

func TestFlatTree(t *testing.T) {
	tests := []struct {
		index                 uint64
		depth, offset         uint64
		parent, sibling       uint64
		leftSpan, rightSpan   uint64
		leftChild, rightChild uint64
		hasChildren           bool
	}{
		{0, 0, 0, 1, 2, 0, 0, 0, 0, false},
		{2, 0, 1, 1, 0, 2, 2, 0, 0, false},
		{1, 1, 0, 3, 5, 0, 2, 0, 2, true},
		{5, 1, 1, 3, 1, 4, 6, 4, 6, true},
		{3, 2, 0, 7, 11, 0, 6, 1, 5, true},
		{9, 1, 2, 11, 13, 8, 10, 8, 10, true},
		{7, 3, 0, 15, 23, 0, 14, 3, 11, true},
		{511, 9, 0, 1023, 1535, 0, 1022, 255, 767, true},
		{1279, 8, 2, 1535, 1791, 1024, 1534, 1151, 1407, true},
	}
	for _, tt := range tests {
		if got := Depth(tt.index); got != tt.depth {
			t.Errorf("Depth(%d) = %d, want %d", tt.index, got, tt.depth)
		}
		if got := Offset(tt.index); got != tt.offset {
			t.Errorf("Offset(%d) = %d, want %d", tt.index, got, tt.offset)
		}
		if got := TreeIndex(tt.depth, tt.offset); got != tt.index {
			t.Errorf("TreeIndex(%d, %d) = %d, want %d", tt.depth, tt.offset, got, tt.index)
		}
		if got := Parent(tt.index); got != tt.parent {
			t.Errorf("Parent(%d) = %d, want %d", tt.index, got, tt.parent)
		}
		if got := Sibling(tt.index); got != tt.sibling {
			t.Errorf("Sibling(%d) = %d, want %d", tt.index, got, tt.sibling)
		}
		if l, r := Spans(tt.index); l != tt.leftSpan || r != tt.rightSpan {
			t.Errorf("Spans(%d) = %d, %d, want %d, %d", tt.index, l, r, tt.leftSpan, tt.rightSpan)
		}
		l, r, ok := Children(tt.index)
		if ok != tt.hasChildren || l != tt.leftChild || r != tt.rightChild {
			t.Errorf("Children(%d) = %d, %d, %v", tt.index, l, r, ok)
		}
		if !Contains(tt.index, tt.index) || !Contains(tt.parent, tt.index) || Contains(tt.index, tt.sibling) {
			t.Errorf("Contains wrong around %d", tt.index)
		}
	}
}

func TestFullRoots(t *testing.T) {
	tests := []struct {
		length uint64
		want   []uint64
	}{
		{0, []uint64{}},
		{1, []uint64{0}},
		{2, []uint64{1}},
		{3, []uint64{1, 4}},
		{7, []uint64{3, 9, 12}},
		{100, []uint64{63, 159, 195}},
		{1000, []uint64{511, 1279, 1663, 1855, 1951, 1991}},
	}
	for _, tt := range tests {
		if got := FullRoots(tt.length); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FullRoots(%d) = %v, want %v", tt.length, got, tt.want)
		}
	}
}

// TestSlotOrder checks that slotOf numbers nodes in exactly the order
// appending blocks creates them, which the tree file relies on.
func TestSlotOrder(t *testing.T) {
	var roots []Node
	var next uint64
	check := func(n Node) {
		if got := slotOf(n.Index); got != next {
			t.Fatalf("slotOf(%d) = %d, want %d", n.Index, got, next)
		}
		next++
	}
	for i := uint64(0); i < 5000; i++ {
		leaf := Node{Index: 2 * i}
		check(leaf)
		roots = appendRoot(roots, leaf, check)
		if nodeCount(i+1) != next {
			t.Fatalf("nodeCount(%d) = %d, want %d", i+1, nodeCount(i+1), next)
		}
		if len(roots) != len(FullRoots(i+1)) {
			t.Fatalf("length %d: %d roots", i+1, len(roots))
		}
	}
}
