package lthash

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// naive is the specification: 1024 lanes, each the sum of the elements'
// little-endian 16-bit words modulo 2^16.
type naive [Lanes]uint16

func (n *naive) apply(key, value []byte, sign int) {
	var e [Size]byte
	Element(key, value, &e)
	for i := range n {
		x := binary.LittleEndian.Uint16(e[2*i:])
		if sign > 0 {
			n[i] += x
		} else {
			n[i] -= x
		}
	}
}

func (n *naive) bytes() []byte {
	b := make([]byte, 0, Size)
	for _, x := range n {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// TestMatchesLanes: the word-wise arithmetic equals lane-by-lane sums, for
// any sequence of additions and removals.
func TestMatchesLanes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h Hash
		var n naive
		for range rapid.IntRange(0, 30).Draw(t, "ops") {
			k := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "key")
			v := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "value")
			if rapid.Bool().Draw(t, "add") {
				h.Add(k, v)
				n.apply(k, v, 1)
			} else {
				h.Remove(k, v)
				n.apply(k, v, -1)
			}
			if !bytes.Equal(h.AppendBinary(nil), n.bytes()) {
				t.Fatalf("lanes differ from the lane-by-lane sums")
			}
		}
	})
}

// TestOrderIndependent: a set hashes the same whatever the order its
// pairs were added in, through removals and re-additions, and split in
// parts merged; a different set hashes differently.
func TestOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.MapOfN(rapid.StringN(1, 6, 6), rapid.SliceOfN(rapid.Byte(), 0, 6), 1, 20).Draw(t, "state")
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		perm := rapid.Permutation(keys).Draw(t, "order")
		var a, b, c1, c2 Hash
		for _, k := range keys {
			a.Add([]byte(k), m[k])
		}
		for i, k := range perm {
			b.Add([]byte(k), []byte("junk"))
			b.Add([]byte(k), m[k])
			b.Remove([]byte(k), []byte("junk"))
			if i%2 == 0 {
				c1.Add([]byte(k), m[k])
			} else {
				c2.Add([]byte(k), m[k])
			}
		}
		c1.Merge(&c2)
		if a.Sum() != b.Sum() || !a.Equal(&c1) {
			t.Fatal("the same set hashed differently")
		}
		k := keys[0]
		var d Hash
		for _, kk := range keys {
			v := m[kk]
			if kk == k {
				v = append(bytes.Clone(v), 0)
			}
			d.Add([]byte(kk), v)
		}
		if d.Sum() == a.Sum() {
			t.Fatal("a changed value did not change the hash")
		}
	})
}

// TestPairBoundaries: the key's length is part of the element, so moving
// bytes between key and value changes it.
func TestPairBoundaries(t *testing.T) {
	var a, b Hash
	a.Add([]byte("ab"), []byte("c"))
	b.Add([]byte("a"), []byte("bc"))
	if a.Equal(&b) {
		t.Fatal(`("ab","c") and ("a","bc") hash the same`)
	}
	var empty Hash
	if !(&Hash{}).Equal(&empty) || empty.Sum() == a.Sum() {
		t.Fatal("the empty set")
	}
}

// TestVector pins the construction against an independent implementation
// (testdata/vector.py, Python): a change to the element expansion, the
// lanes or the digest changes it and must be a new version.
func TestVector(t *testing.T) {
	var h Hash
	h.Add([]byte("n/alice.id"), []byte(`{"owner":"alice"}`))
	h.Add([]byte("n/bob.id"), []byte(`{"owner":"bob"}`))
	got := h.Sum().String()
	const want = "53cb07b04ed73004a51cd30b25a7b078c808aa391b8fbd4e682fadb681d2a4c3"
	if got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	var h, g Hash
	h.Add([]byte("k"), []byte("v"))
	if err := g.UnmarshalBinary(h.AppendBinary(nil)); err != nil || !g.Equal(&h) {
		t.Fatal(err)
	}
	if err := g.UnmarshalBinary(make([]byte, 10)); err == nil {
		t.Fatal("10 bytes accepted")
	}
	d, err := ParseDigest(h.Sum().String())
	if err != nil || d != h.Sum() {
		t.Fatal(err)
	}
	if _, err := ParseDigest("zz"); err == nil {
		t.Fatal("a bad digest parsed")
	}
}

func BenchmarkAdd(b *testing.B) {
	var h Hash
	v := make([]byte, 200)
	for i := 0; b.Loop(); i++ {
		h.Add([]byte(fmt.Sprintf("n/name%d", i)), v)
	}
}

func ExampleHash() {
	var h Hash
	h.Add([]byte("alice"), []byte("1"))
	h.Add([]byte("bob"), []byte("2"))
	// bob's value changes: remove the old pair, add the new one.
	h.Remove([]byte("bob"), []byte("2"))
	h.Add([]byte("bob"), []byte("3"))

	var fresh Hash
	fresh.Add([]byte("bob"), []byte("3"))
	fresh.Add([]byte("alice"), []byte("1"))
	fmt.Println(h.Sum() == fresh.Sum())
	// Output: true
}
