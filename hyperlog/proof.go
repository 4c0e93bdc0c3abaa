package hyperlog

import "fmt"

// Proof is hypercore's proof message (the wire "data" message): an
// optional block with the sibling hashes up to a subtree root, optional hash
// and seek parts, and an optional upgrade that carries the verifier from the
// roots it holds to a signed head. MarshalBinary and UnmarshalBinary use the
// exact wire encoding; the JSON form mirrors it with hex byte strings.
type Proof struct {
	// Request is the id of the request the proof answers (wire only).
	Request uint64 `json:"request,omitempty"`
	// Fork is the fork id of the head the proof leads to.
	Fork     uint64        `json:"fork"`
	Block    *BlockProof   `json:"block,omitempty"`    // a block and its path upward
	Hash     *HashProof    `json:"hash,omitempty"`     // a tree node and its path upward
	Seek     *SeekProof    `json:"seek,omitempty"`     // which block holds a byte offset
	Upgrade  *UpgradeProof `json:"upgrade,omitempty"`  // the way to a signed head
	Manifest *Manifest     `json:"manifest,omitempty"` // the log's manifest, when asked for
}

// BlockProof proves one block: its value and the siblings of the path from
// its leaf upward, bottom first.
type BlockProof struct {
	Index uint64 `json:"index"`
	Value Bytes  `json:"value"`
	Nodes []Node `json:"nodes"`
}

// HashProof proves a tree node (Index is a tree index): Nodes starts with
// the node itself, then the siblings of its path upward.
type HashProof struct {
	Index uint64 `json:"index"`
	Nodes []Node `json:"nodes"`
}

// SeekProof proves which block holds a byte offset.
type SeekProof struct {
	Bytes uint64 `json:"bytes"`
	Nodes []Node `json:"nodes"`
}

// UpgradeProof carries a verifier holding the roots of length Start to the
// roots of Start+Length (with Nodes), and then on to the sender's current
// head (with AdditionalNodes); Signature signs that final head, in stored
// form.
type UpgradeProof struct {
	Start           uint64 `json:"start"`
	Length          uint64 `json:"length"`
	Nodes           []Node `json:"nodes"`
	AdditionalNodes []Node `json:"additionalNodes"`
	Signature       Bytes  `json:"signature"`
}

// proof message flag bits.
const (
	proofBlock = 1 << iota
	proofHash
	proofSeek
	proofUpgrade
	proofManifest
)

// MarshalBinary returns the hypercore wire encoding of p.
func (p *Proof) MarshalBinary() ([]byte, error) {
	var flags uint64
	if p.Block != nil {
		flags |= proofBlock
	}
	if p.Hash != nil {
		flags |= proofHash
	}
	if p.Seek != nil {
		flags |= proofSeek
	}
	if p.Upgrade != nil {
		flags |= proofUpgrade
	}
	var manifest []byte
	if p.Manifest != nil {
		flags |= proofManifest
		var err error
		if manifest, err = p.Manifest.Encode(); err != nil {
			return nil, err
		}
	}
	b := appendUint(nil, flags)
	b = appendUint(b, p.Request)
	b = appendUint(b, p.Fork)
	if p.Block != nil {
		b = appendUint(b, p.Block.Index)
		b = appendBuffer(b, p.Block.Value)
		b = appendNodes(b, p.Block.Nodes)
	}
	if p.Hash != nil {
		b = appendUint(b, p.Hash.Index)
		b = appendNodes(b, p.Hash.Nodes)
	}
	if p.Seek != nil {
		b = appendUint(b, p.Seek.Bytes)
		b = appendNodes(b, p.Seek.Nodes)
	}
	if u := p.Upgrade; u != nil {
		b = appendUint(b, u.Start)
		b = appendUint(b, u.Length)
		b = appendNodes(b, u.Nodes)
		b = appendNodes(b, u.AdditionalNodes)
		b = appendBuffer(b, u.Signature)
	}
	return append(b, manifest...), nil
}

// UnmarshalBinary decodes the hypercore wire encoding into p. It never
// panics and rejects trailing bytes and unknown flags.
func (p *Proof) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	flags := d.uint()
	if d.err == nil && flags&^(proofBlock|proofHash|proofSeek|proofUpgrade|proofManifest) != 0 {
		d.fail(fmt.Sprintf("unknown proof flags %#x", flags))
	}
	q := Proof{Request: d.uint(), Fork: d.uint()}
	if flags&proofBlock != 0 {
		q.Block = &BlockProof{Index: d.uint()}
		q.Block.Value = d.buffer("block value")
		if q.Block.Value == nil {
			q.Block.Value = Bytes{}
		}
		q.Block.Nodes = d.nodes()
	}
	if flags&proofHash != 0 {
		q.Hash = &HashProof{Index: d.uint()}
		q.Hash.Nodes = d.nodes()
	}
	if flags&proofSeek != 0 {
		q.Seek = &SeekProof{Bytes: d.uint()}
		q.Seek.Nodes = d.nodes()
	}
	if flags&proofUpgrade != 0 {
		u := &UpgradeProof{Start: d.uint(), Length: d.uint()}
		u.Nodes = d.nodes()
		u.AdditionalNodes = d.nodes()
		u.Signature = d.buffer("signature")
		q.Upgrade = u
	}
	if flags&proofManifest != 0 {
		m := d.manifest()
		q.Manifest = &m
	}
	if err := d.done("proof"); err != nil {
		return err
	}
	*p = q
	return nil
}

// DecodeProof decodes a wire-encoded proof.
func DecodeProof(data []byte) (*Proof, error) {
	p := new(Proof)
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return p, nil
}

// ExtensionProof shows that a log at a newer head extends the log at an
// older one: OldRoots are the full roots at the old length (they must hash
// to the old tree hash), and Proof is an upgrade from the old length to the
// new one (nil when the lengths are equal).
type ExtensionProof struct {
	OldRoots []Node `json:"oldRoots"`        // full roots at the old length
	Proof    *Proof `json:"proof,omitempty"` // upgrade from the old length to the new one
}

// MarshalBinary encodes e as a node array followed, when present, by the
// wire-encoded proof.
func (e *ExtensionProof) MarshalBinary() ([]byte, error) {
	b := appendNodes(nil, e.OldRoots)
	if e.Proof == nil {
		return b, nil
	}
	pb, err := e.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(b, pb...), nil
}

// UnmarshalBinary decodes the form MarshalBinary writes.
func (e *ExtensionProof) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	roots := d.nodes()
	if d.err != nil {
		return d.err
	}
	out := ExtensionProof{OldRoots: roots}
	if len(d.b) > 0 {
		p, err := DecodeProof(d.b)
		if err != nil {
			return err
		}
		out.Proof = p
	}
	*e = out
	return nil
}
