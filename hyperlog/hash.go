package hyperlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// HashSize is the length of every hash, key and namespace: 32 bytes.
const HashSize = 32

// Hash is a 32-byte BLAKE2b-256 digest, core key, discovery key or
// namespace. Its text form (and so its JSON form) is lowercase hex.
type Hash [HashSize]byte

// String returns h in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as hex.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, 2*HashSize)
	hex.Encode(out, h[:])
	return out, nil
}

// UnmarshalText decodes 64 hex digits into h.
func (h *Hash) UnmarshalText(text []byte) error {
	if len(text) != 2*HashSize {
		return fmt.Errorf("hyperlog: hash must be %d hex digits, got %d", 2*HashSize, len(text))
	}
	_, err := hex.Decode(h[:], text)
	return err
}

// ParseHash decodes a hex string into a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	err := h.UnmarshalText([]byte(s))
	return h, err
}

// Bytes is a byte string whose text (and JSON) form is lowercase hex.
type Bytes []byte

// String returns b in hex.
func (b Bytes) String() string { return hex.EncodeToString(b) }

// MarshalText encodes b as hex.
func (b Bytes) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(b)))
	hex.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes hex into b.
func (b *Bytes) UnmarshalText(text []byte) error {
	out := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(out, text); err != nil {
		return fmt.Errorf("hyperlog: bad hex: %w", err)
	}
	*b = out
	return nil
}

// Domain-separation prefixes of the three node hashes.
const (
	leafType   = 0x00
	parentType = 0x01
	rootType   = 0x02
)

// LeafHash returns the hash of a block: BLAKE2b(0x00 ‖ u64le(len) ‖ data).
func LeafHash(data []byte) Hash {
	h := leafHashers.Get().(*leafHasher)
	sum := h.hash(data)
	leafHashers.Put(h)
	return sum
}

var leafHashers = sync.Pool{New: func() any { return newLeafHasher() }}

// leafHasher computes leaf hashes with a reusable digest and buffers, so a
// hash allocates nothing.
type leafHasher struct {
	h      hash.Hash
	prefix [9]byte
	sum    [HashSize]byte
}

func newLeafHasher() *leafHasher {
	h, _ := blake2b.New256(nil) // cannot fail without a key
	return &leafHasher{h: h}
}

func (lh *leafHasher) hash(data []byte) Hash {
	lh.prefix[0] = leafType
	binary.LittleEndian.PutUint64(lh.prefix[1:], uint64(len(data)))
	lh.h.Reset()
	lh.h.Write(lh.prefix[:])
	lh.h.Write(data)
	lh.h.Sum(lh.sum[:0])
	return lh.sum
}

// LeafNode returns the tree node of block index holding data.
func LeafNode(index uint64, data []byte) Node {
	return Node{Index: 2 * index, Size: uint64(len(data)), Hash: LeafHash(data)}
}

// ParentHash returns the hash of the parent of a and b:
// BLAKE2b(0x01 ‖ u64le(a.Size+b.Size) ‖ left.Hash ‖ right.Hash), where left
// is whichever of a and b has the smaller index.
func ParentHash(a, b Node) Hash {
	if a.Index > b.Index {
		a, b = b, a
	}
	var buf [1 + 8 + 2*HashSize]byte
	buf[0] = parentType
	binary.LittleEndian.PutUint64(buf[1:], a.Size+b.Size)
	copy(buf[9:], a.Hash[:])
	copy(buf[9+HashSize:], b.Hash[:])
	return blake2b.Sum256(buf[:])
}

// ParentNode returns the parent node of siblings a and b.
func ParentNode(a, b Node) Node {
	return Node{Index: Parent(a.Index), Size: a.Size + b.Size, Hash: ParentHash(a, b)}
}

// TreeHash returns the hash over a log's full roots (ascending index):
// BLAKE2b(0x02 ‖ for each root: hash ‖ u64le(index) ‖ u64le(size)). With no
// roots (an empty log) it is BLAKE2b(0x02).
func TreeHash(roots []Node) Hash {
	var buf [1 + 64*(HashSize+16)]byte // a log never has more than 64 roots
	if len(roots) > 64 {
		panic("hyperlog: more than 64 roots")
	}
	buf[0] = rootType
	p := buf[1:]
	for _, r := range roots {
		copy(p, r.Hash[:])
		binary.LittleEndian.PutUint64(p[HashSize:], r.Index)
		binary.LittleEndian.PutUint64(p[HashSize+8:], r.Size)
		p = p[HashSize+16:]
	}
	return blake2b.Sum256(buf[:1+len(roots)*(HashSize+16)])
}

// blake2b256 hashes the concatenation of parts.
func blake2b256(parts ...[]byte) Hash {
	h, _ := blake2b.New256(nil)
	for _, p := range parts {
		h.Write(p)
	}
	var sum Hash
	h.Sum(sum[:0])
	return sum
}

// Namespace derives n capability hashes from a name the way
// hypercore-crypto's namespace does: with ns = BLAKE2b(name), item i is
// BLAKE2b(ns ‖ byte(i)).
func Namespace(name string, n int) []Hash {
	ns := blake2b256([]byte(name))
	out := make([]Hash, n)
	for i := range out {
		out[i] = blake2b256(ns[:], []byte{byte(i)})
	}
	return out
}

// The hypercore namespaces, namespace("hypercore", 6) in order.
var (
	// NamespaceTree prefixes every signable.
	NamespaceTree Hash
	// NamespaceReplicateInitiator is the initiator's replication capability prefix.
	NamespaceReplicateInitiator Hash
	// NamespaceReplicateResponder is the responder's replication capability prefix.
	NamespaceReplicateResponder Hash
	// NamespaceManifest prefixes an encoded manifest when hashing it into a core key.
	NamespaceManifest Hash
	// DefaultNamespace is the namespace of the signer in a default manifest.
	DefaultNamespace Hash
	// NamespaceDefaultEncryption is hypercore's block-encryption namespace (unused here).
	NamespaceDefaultEncryption Hash
)

func init() {
	ns := Namespace("hypercore", 6)
	NamespaceTree = ns[0]
	NamespaceReplicateInitiator = ns[1]
	NamespaceReplicateResponder = ns[2]
	NamespaceManifest = ns[3]
	DefaultNamespace = ns[4]
	NamespaceDefaultEncryption = ns[5]
}

// DiscoveryKey returns the key under which peers announce a log: BLAKE2b-256
// keyed with the core key over the ASCII bytes "hypercore". It reveals
// nothing about the core key itself.
func DiscoveryKey(key Hash) Hash {
	h, err := blake2b.New256(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	h.Write([]byte("hypercore"))
	var sum Hash
	h.Sum(sum[:0])
	return sum
}
