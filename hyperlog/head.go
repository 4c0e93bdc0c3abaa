package hyperlog

import "fmt"

// SignedHead is a signed statement of a log's state: its length, fork and
// tree hash, with the signature in stored form (64 raw bytes in compat mode,
// the multisig encoding in manifest mode). In manifest mode Manifest holds
// the encoded manifest, which must hash to the core key; in compat mode it is
// empty. Roots, when present, are the log's full roots at Length; they are
// not signed but are checked against TreeHash by VerifyHead.
//
// Its JSON form uses hex for every byte string:
//
//	{"length":3,"fork":0,"treeHash":"a20b…","signature":"0100…","manifest":"0100…","roots":[{"index":1,"size":14,"hash":"8a6e…"}]}
type SignedHead struct {
	Length    uint64 `json:"length"`             // number of entries
	Fork      uint64 `json:"fork"`               // fork id (always 0 for logs written here)
	TreeHash  Hash   `json:"treeHash"`           // TreeHash of the full roots at Length
	Signature Bytes  `json:"signature"`          // stored form: raw (compat) or multisig (manifest)
	Manifest  Bytes  `json:"manifest,omitempty"` // encoded manifest; empty in compat mode
	Roots     []Node `json:"roots,omitempty"`    // full roots at Length, optional, unsigned
}

// Mode reports the signing mode of the head: manifest mode when it carries a
// manifest, compat mode otherwise.
func (h SignedHead) Mode() Mode {
	if len(h.Manifest) > 0 {
		return ModeManifest
	}
	return ModeCompat
}

// ByteLength returns the total size of the log's blocks, from the roots; ok
// is false when the head carries no roots.
func (h SignedHead) ByteLength() (n uint64, ok bool) {
	if h.Roots == nil && h.Length > 0 {
		return 0, false
	}
	return ByteLength(h.Roots), true
}

// RawSignature returns the raw 64-byte Ed25519 signature inside the head's
// signature: the signature itself in compat mode, the single proof of a
// one-signer multisig in manifest mode.
func (h SignedHead) RawSignature() ([]byte, error) {
	if h.Mode() == ModeCompat {
		if len(h.Signature) != SignatureSize {
			return nil, fmt.Errorf("%w: compat signature is %d bytes", ErrMalformed, len(h.Signature))
		}
		return h.Signature, nil
	}
	ms, err := DecodeMultiSig(h.Signature)
	if err != nil {
		return nil, err
	}
	if len(ms.Proofs) != 1 || ms.Proofs[0].Signer != 0 || ms.Proofs[0].Patch != 0 || len(ms.Patch) != 0 {
		return nil, fmt.Errorf("%w: not a single-signer signature", ErrMalformed)
	}
	return ms.Proofs[0].Signature[:], nil
}

// Equal reports whether h and o sign the same state with the same bytes
// (roots are not compared).
func (h SignedHead) Equal(o SignedHead) bool {
	return h.Length == o.Length && h.Fork == o.Fork && h.TreeHash == o.TreeHash &&
		string(h.Signature) == string(o.Signature) && string(h.Manifest) == string(o.Manifest)
}

// clone returns a deep copy of h.
func (h SignedHead) clone() SignedHead {
	h.Signature = append(Bytes(nil), h.Signature...)
	if h.Manifest != nil {
		h.Manifest = append(Bytes(nil), h.Manifest...)
	}
	if h.Roots != nil {
		h.Roots = append([]Node(nil), h.Roots...)
	}
	return h
}
