package hyperlog

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/vchain-dev/vchain/internal/edkey"
)

// Mode chooses how a log's heads are signed and what its core key is.
//
// The zero value, ModeManifest, is the default: it is what hypercore 11
// does for a core created with just a key pair, so a log made here has the
// same key, discovery key and signatures as such a core, and the manifest
// leaves room for multi-signer quorums. ModeCompat is hypercore 10's scheme
// (and hypercore 11 with compat: true): simpler, and the key is the public
// key itself, but current hypercore only uses it for old cores.
type Mode uint8

const (
	// ModeManifest: core key = hash of the default single-signer manifest,
	// signable = TREE ‖ key ‖ treeHash ‖ u64le(length) ‖ u64le(fork) (112
	// bytes), stored signature = a 68-byte multisig holding one signature.
	ModeManifest Mode = iota
	// ModeCompat: core key = the Ed25519 public key, signable = TREE ‖
	// treeHash ‖ u64le(length) ‖ u64le(fork) (80 bytes), stored signature =
	// the raw 64-byte Ed25519 signature.
	ModeCompat
)

// String returns "manifest" or "compat".
func (m Mode) String() string {
	switch m {
	case ModeManifest:
		return "manifest"
	case ModeCompat:
		return "compat"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText returns the mode's name.
func (m Mode) MarshalText() ([]byte, error) {
	if m > ModeCompat {
		return nil, fmt.Errorf("hyperlog: unknown mode %d", m)
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses "manifest" or "compat".
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "manifest":
		*m = ModeManifest
	case "compat":
		*m = ModeCompat
	default:
		return fmt.Errorf("hyperlog: unknown mode %q", b)
	}
	return nil
}

// Signable sizes in bytes.
const (
	CompatSignableSize   = 2*HashSize + 16
	ManifestSignableSize = 3*HashSize + 16
	// SignatureSize is the size of a raw Ed25519 signature.
	SignatureSize = ed25519.SignatureSize
	// MultiSigSize is the size of a stored single-signer multisig signature.
	MultiSigSize = SignatureSize + 4
)

// CompatSignable returns the 80 bytes a compat-mode head signature covers.
func CompatSignable(treeHash Hash, length, fork uint64) []byte {
	return appendSignable(make([]byte, 0, CompatSignableSize), ModeCompat, Hash{}, treeHash, length, fork)
}

// ManifestSignable returns the 112 bytes a manifest-mode head signature
// covers; manifestHash is the core key.
func ManifestSignable(manifestHash, treeHash Hash, length, fork uint64) []byte {
	return appendSignable(make([]byte, 0, ManifestSignableSize), ModeManifest, manifestHash, treeHash, length, fork)
}

// appendSignable appends the signable of mode to dst.
func appendSignable(dst []byte, mode Mode, key, treeHash Hash, length, fork uint64) []byte {
	dst = append(dst, NamespaceTree[:]...)
	if mode == ModeManifest {
		dst = append(dst, key[:]...)
	}
	dst = append(dst, treeHash[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, length)
	return binary.LittleEndian.AppendUint64(dst, fork)
}

// SignerProof is one signature inside a multisig.
type SignerProof struct {
	// Signer indexes the manifest's Signers.
	Signer uint64
	// Signature is the raw Ed25519 signature.
	Signature [SignatureSize]byte
	// Patch is how many blocks the signer's signature is behind (0 when it
	// signs the head itself).
	Patch uint64
}

// MultiSig is the stored and transmitted signature of a manifest-mode head.
type MultiSig struct {
	Proofs []SignerProof // one per signer that signed
	Patch  []Node        // nodes for patched signatures (unused here)
}

// Encode returns the compact encoding of s.
func (s MultiSig) Encode() []byte {
	b := appendUint(make([]byte, 0, MultiSigSize), uint64(len(s.Proofs)))
	for _, p := range s.Proofs {
		b = appendUint(b, p.Signer)
		b = append(b, p.Signature[:]...)
		b = appendUint(b, p.Patch)
	}
	return appendNodes(b, s.Patch)
}

// DecodeMultiSig parses a stored multisig signature.
func DecodeMultiSig(b []byte) (MultiSig, error) {
	d := decoder{b: b}
	var s MultiSig
	n := d.count(2+SignatureSize, "signer proofs")
	for i := 0; i < n && d.err == nil; i++ {
		var p SignerProof
		p.Signer = d.uint()
		if len(d.b) < SignatureSize {
			d.fail("truncated signature")
			break
		}
		copy(p.Signature[:], d.b)
		d.b = d.b[SignatureSize:]
		p.Patch = d.uint()
		s.Proofs = append(s.Proofs, p)
	}
	s.Patch = d.nodes()
	if err := d.done("multisig"); err != nil {
		return MultiSig{}, err
	}
	return s, nil
}

// singleMultiSig wraps one raw signature by signer 0 in the stored form.
func singleMultiSig(raw []byte) []byte {
	var p SignerProof
	copy(p.Signature[:], raw)
	return MultiSig{Proofs: []SignerProof{p}}.Encode()
}

// CheckPublicKey refuses an Ed25519 public key that anyone could sign as
// (a point of small order, such as the identity 0100…00) or that is not
// the canonical encoding of its point. Every head this package verifies
// and every log it creates goes through it; the error wraps one of the
// reasons in package internal/edkey.
func CheckPublicKey(pub []byte) error { return edkey.Check(pub) }

// Identity is the public half of a log this package writes: the signing
// mode and the single signer's public key. Everything else (the manifest,
// the core key, the discovery key) follows from it.
type Identity struct {
	Mode      Mode `json:"mode"`      // signing mode
	PublicKey Hash `json:"publicKey"` // the signer's Ed25519 public key
}

// NewIdentity returns the identity of pub signing in mode.
func NewIdentity(mode Mode, pub ed25519.PublicKey) Identity {
	var pk Hash
	copy(pk[:], pub)
	return Identity{Mode: mode, PublicKey: pk}
}

// Manifest returns the default single-signer manifest of the identity. It
// is meaningful in manifest mode only.
func (id Identity) Manifest() Manifest {
	return DefaultManifest(id.PublicKey[:])
}

// encodedManifest returns the encoded manifest, or nil in compat mode.
func (id Identity) encodedManifest() []byte {
	if id.Mode != ModeManifest {
		return nil
	}
	enc, err := id.Manifest().Encode()
	if err != nil {
		panic(err) // the default manifest always encodes
	}
	return enc
}

// Key returns the core key: the manifest hash in manifest mode, the public
// key in compat mode.
func (id Identity) Key() Hash {
	if id.Mode == ModeCompat {
		return id.PublicKey
	}
	return ManifestHash(id.encodedManifest())
}

// DiscoveryKey returns the discovery key of the core key.
func (id Identity) DiscoveryKey() Hash { return DiscoveryKey(id.Key()) }

// Signable returns the bytes a head signature covers in the identity's mode.
func (id Identity) Signable(treeHash Hash, length, fork uint64) []byte {
	return appendSignable(nil, id.Mode, id.Key(), treeHash, length, fork)
}

// SignHead signs the head (treeHash, length, fork) with priv, which must
// belong to the identity, and returns it with the signature in stored form.
func (id Identity) SignHead(priv ed25519.PrivateKey, treeHash Hash, length, fork uint64) SignedHead {
	raw := ed25519.Sign(priv, id.Signable(treeHash, length, fork))
	return id.headWithRaw(length, fork, treeHash, raw)
}

// headWithRaw builds the SignedHead for a raw signature.
func (id Identity) headWithRaw(length, fork uint64, treeHash Hash, raw []byte) SignedHead {
	h := SignedHead{Length: length, Fork: fork, TreeHash: treeHash}
	if id.Mode == ModeManifest {
		h.Signature = singleMultiSig(raw)
		h.Manifest = id.encodedManifest()
	} else {
		h.Signature = append(Bytes(nil), raw...)
	}
	return h
}

// VerifyHead checks a head's signature against the core key: in compat mode
// (no manifest in the head) the key is the Ed25519 public key; in manifest
// mode the head's manifest must hash to the key and its quorum of signers
// must have signed. When the head carries roots they must be the full roots
// of its length and hash to its tree hash.
func VerifyHead(key Hash, h SignedHead) error {
	if h.Roots != nil || h.Length == 0 {
		if err := checkRoots(h.Roots, h.Length); err != nil {
			return fmt.Errorf("head roots: %w", err)
		}
		if TreeHash(h.Roots) != h.TreeHash {
			return fmt.Errorf("%w: head roots do not hash to its tree hash", ErrInvalidProof)
		}
	}
	if len(h.Manifest) == 0 {
		if len(h.Signature) != SignatureSize {
			return fmt.Errorf("%w: compat signature is %d bytes, want %d", ErrBadSignature, len(h.Signature), SignatureSize)
		}
		if err := CheckPublicKey(key[:]); err != nil {
			return fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		if !ed25519.Verify(key[:], CompatSignable(h.TreeHash, h.Length, h.Fork), h.Signature) {
			return fmt.Errorf("%w: head %d", ErrBadSignature, h.Length)
		}
		return nil
	}
	if ManifestHash(h.Manifest) != key {
		return fmt.Errorf("%w: manifest does not hash to the key", ErrBadSignature)
	}
	m, err := DecodeManifest(h.Manifest)
	if err != nil {
		return err
	}
	return m.verify(key, h.TreeHash, h.Length, h.Fork, h.Signature)
}

// verify checks a stored signature over (treeHash, length, fork) under the
// manifest whose hash is key.
func (m Manifest) verify(key, treeHash Hash, length, fork uint64, sig []byte) error {
	if m.Prologue != nil && length <= m.Prologue.Length {
		if length == m.Prologue.Length && treeHash == m.Prologue.TreeHash {
			return nil
		}
		return fmt.Errorf("%w: head %d does not match the manifest prologue", ErrBadSignature, length)
	}
	if m.Quorum == 0 {
		return fmt.Errorf("%w: manifest quorum is 0", ErrBadSignature)
	}
	ms, err := DecodeMultiSig(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if uint64(len(ms.Proofs)) < m.Quorum {
		return fmt.Errorf("%w: %d signatures, quorum %d", ErrBadSignature, len(ms.Proofs), m.Quorum)
	}
	signable := ManifestSignable(key, treeHash, length, fork)
	seen := make([]bool, len(m.Signers))
	for _, p := range ms.Proofs[:m.Quorum] {
		if p.Patch != 0 && m.AllowPatch {
			return fmt.Errorf("%w: patched signatures are not supported", ErrBadSignature)
		}
		if p.Signer >= uint64(len(m.Signers)) || seen[p.Signer] {
			return fmt.Errorf("%w: bad or repeated signer %d", ErrBadSignature, p.Signer)
		}
		seen[p.Signer] = true
		if err := CheckPublicKey(m.Signers[p.Signer].PublicKey[:]); err != nil {
			return fmt.Errorf("%w: signer %d: %w", ErrBadSignature, p.Signer, err)
		}
		if !ed25519.Verify(m.Signers[p.Signer].PublicKey[:], signable, p.Signature[:]) {
			return fmt.Errorf("%w: head %d, signer %d", ErrBadSignature, length, p.Signer)
		}
	}
	return nil
}
