package hyperlog

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// Manifest says who may sign a log's heads. In manifest mode the core key
// is the hash of the encoded manifest, so the key commits to the signers.
// Only Ed25519 signers and the BLAKE2b tree hash exist, so neither is a
// field.
type Manifest struct {
	// Version is 1 or 2 (2 is required for Linked and UserData).
	Version uint64
	// AllowPatch lets signers sign an older length and patch it forward.
	// Verification here rejects patched signatures.
	AllowPatch bool
	// Quorum is how many distinct signers must sign a head.
	Quorum uint64
	// Signers are the keys allowed to sign.
	Signers []ManifestSigner
	// Prologue, when set, fixes the log's first Length blocks: a head of
	// exactly that length and tree hash is valid without a signature.
	Prologue *Prologue
	// Linked lists the keys of related logs (version 2).
	Linked []Hash
	// UserData is opaque application data (version 2).
	UserData []byte
}

// ManifestSigner is one Ed25519 signer of a manifest.
type ManifestSigner struct {
	Namespace Hash `json:"namespace"`
	PublicKey Hash `json:"publicKey"`
}

// Prologue pins the first Length blocks of a log to TreeHash.
type Prologue struct {
	TreeHash Hash   `json:"hash"`
	Length   uint64 `json:"length"`
}

// DefaultManifest returns the manifest hypercore creates for a single
// signer: version 1, quorum 1, the signer in DefaultNamespace, nothing else.
func DefaultManifest(publicKey ed25519.PublicKey) Manifest {
	var pk Hash
	copy(pk[:], publicKey)
	return Manifest{
		Version: 1,
		Quorum:  1,
		Signers: []ManifestSigner{{Namespace: DefaultNamespace, PublicKey: pk}},
	}
}

// manifest flag bits.
const (
	manifestAllowPatch = 1 << iota
	manifestPrologue
	manifestLinked
	manifestUserData
)

// Encode returns the manifest's compact encoding, the bytes its hash (and
// so the core key) covers. The default manifest encodes to 70 bytes.
func (m Manifest) Encode() ([]byte, error) {
	if m.Version != 1 && m.Version != 2 {
		return nil, fmt.Errorf("hyperlog: manifest version %d not supported (1 or 2)", m.Version)
	}
	if m.Version < 2 && (m.Linked != nil || m.UserData != nil) {
		return nil, fmt.Errorf("hyperlog: manifest linked and userData need version 2")
	}
	var flags uint64
	if m.AllowPatch {
		flags |= manifestAllowPatch
	}
	if m.Prologue != nil {
		flags |= manifestPrologue
	}
	if m.Linked != nil {
		flags |= manifestLinked
	}
	if m.UserData != nil {
		flags |= manifestUserData
	}
	b := make([]byte, 0, 6+len(m.Signers)*(1+2*HashSize))
	b = appendUint(b, m.Version)
	b = appendUint(b, flags)
	b = appendUint(b, 0) // hash: blake2b
	b = appendUint(b, m.Quorum)
	b = appendUint(b, uint64(len(m.Signers)))
	for _, s := range m.Signers {
		b = appendUint(b, 0) // signature: ed25519
		b = append(b, s.Namespace[:]...)
		b = append(b, s.PublicKey[:]...)
	}
	if m.Prologue != nil {
		b = append(b, m.Prologue.TreeHash[:]...)
		b = appendUint(b, m.Prologue.Length)
	}
	if m.Linked != nil {
		b = appendUint(b, uint64(len(m.Linked)))
		for _, k := range m.Linked {
			b = append(b, k[:]...)
		}
	}
	if m.UserData != nil {
		b = appendBuffer(b, m.UserData)
	}
	return b, nil
}

// DecodeManifest parses an encoded manifest (versions 1 and 2).
func DecodeManifest(b []byte) (Manifest, error) {
	d := decoder{b: b}
	m := d.manifest()
	if err := d.done("manifest"); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// manifest reads an encoded manifest from d.
func (d *decoder) manifest() Manifest {
	var m Manifest
	m.Version = d.uint()
	if d.err == nil && m.Version != 1 && m.Version != 2 {
		d.fail(fmt.Sprintf("manifest version %d not supported", m.Version))
	}
	flags := d.uint()
	if d.err == nil && flags&^(manifestAllowPatch|manifestPrologue|manifestLinked|manifestUserData) != 0 {
		d.fail("unknown manifest flags")
	}
	if d.err == nil && m.Version < 2 && flags&(manifestLinked|manifestUserData) != 0 {
		d.fail("manifest linked/userData need version 2")
	}
	if h := d.uint(); d.err == nil && h != 0 {
		d.fail("manifest hash is not blake2b")
	}
	m.AllowPatch = flags&manifestAllowPatch != 0
	m.Quorum = d.uint()
	n := d.count(1+2*HashSize, "signers")
	for i := 0; i < n && d.err == nil; i++ {
		if sig := d.uint(); d.err == nil && sig != 0 {
			d.fail("manifest signer is not ed25519")
		}
		s := ManifestSigner{Namespace: d.fixed32(), PublicKey: d.fixed32()}
		m.Signers = append(m.Signers, s)
	}
	if flags&manifestPrologue != 0 {
		m.Prologue = &Prologue{TreeHash: d.fixed32(), Length: d.uint()}
	}
	if flags&manifestLinked != 0 {
		n := d.count(HashSize, "linked")
		m.Linked = make([]Hash, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			m.Linked = append(m.Linked, d.fixed32())
		}
	}
	if flags&manifestUserData != 0 {
		m.UserData = d.buffer("userData")
		if m.UserData == nil {
			m.UserData = []byte{}
		}
	}
	if d.err != nil {
		return Manifest{}
	}
	return m
}

// Hash returns the manifest hash, BLAKE2b(MANIFEST ‖ encoding): the core key
// of a manifest-mode log.
func (m Manifest) Hash() (Hash, error) {
	enc, err := m.Encode()
	if err != nil {
		return Hash{}, err
	}
	return ManifestHash(enc), nil
}

// ManifestHash hashes an already encoded manifest into a core key.
func ManifestHash(encoded []byte) Hash {
	return blake2b256(NamespaceManifest[:], encoded)
}

// manifestJSON is the JSON shape of a Manifest, hypercore's field names.
type manifestJSON struct {
	Version    uint64               `json:"version"`
	Hash       string               `json:"hash"`
	AllowPatch bool                 `json:"allowPatch"`
	Quorum     uint64               `json:"quorum"`
	Signers    []manifestSignerJSON `json:"signers"`
	Prologue   *Prologue            `json:"prologue"`
	Linked     []Hash               `json:"linked"`
	UserData   *Bytes               `json:"userData"`
}

type manifestSignerJSON struct {
	Signature string `json:"signature"`
	Namespace Hash   `json:"namespace"`
	PublicKey Hash   `json:"publicKey"`
}

// MarshalJSON writes m with hypercore's field names.
func (m Manifest) MarshalJSON() ([]byte, error) {
	j := manifestJSON{Version: m.Version, Hash: "blake2b", AllowPatch: m.AllowPatch, Quorum: m.Quorum,
		Prologue: m.Prologue, Linked: m.Linked, Signers: []manifestSignerJSON{}}
	if m.UserData != nil {
		u := Bytes(m.UserData)
		j.UserData = &u
	}
	for _, s := range m.Signers {
		j.Signers = append(j.Signers, manifestSignerJSON{"ed25519", s.Namespace, s.PublicKey})
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (m *Manifest) UnmarshalJSON(b []byte) error {
	var j manifestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Hash != "" && j.Hash != "blake2b" {
		return fmt.Errorf("hyperlog: manifest hash %q not supported", j.Hash)
	}
	*m = Manifest{Version: j.Version, AllowPatch: j.AllowPatch, Quorum: j.Quorum, Prologue: j.Prologue,
		Linked: j.Linked}
	if j.UserData != nil {
		m.UserData = append([]byte{}, *j.UserData...)
	}
	for _, s := range j.Signers {
		if s.Signature != "" && s.Signature != "ed25519" {
			return fmt.Errorf("hyperlog: signature %q not supported", s.Signature)
		}
		m.Signers = append(m.Signers, ManifestSigner{s.Namespace, s.PublicKey})
	}
	return nil
}
