package hyperlog

import (
	"fmt"
)

// Verifier follows a log from an untrusted source: it is fed the entries in
// order and the signed heads, and accepts a head only when the entries fed
// so far recompute exactly that head's tree hash and its signature verifies
// under the core key. It keeps only the roots (O(log n) memory) and the
// leaves of entries not yet covered by a head. It is not safe for
// concurrent use.
type Verifier struct {
	key     Hash
	head    SignedHead // last accepted head (Length 0 before any)
	roots   []Node     // full roots at head.Length
	pending []Node     // leaves of entries after head.Length
	tip     []Node     // full roots at head.Length+len(pending)
	leaf    *leafHasher
}

// NewVerifier returns a verifier for the log with core key key, starting
// from the empty log.
func NewVerifier(key Hash) *Verifier {
	return &Verifier{key: key, head: SignedHead{TreeHash: TreeHash(nil)}, leaf: newLeafHasher()}
}

// NewVerifierAt returns a verifier that starts from a trusted head instead
// of the empty log; the head must carry its roots and verify under key.
func NewVerifierAt(key Hash, head SignedHead) (*Verifier, error) {
	if head.Roots == nil && head.Length > 0 {
		return nil, fmt.Errorf("hyperlog: starting head carries no roots")
	}
	if err := VerifyHead(key, head); err != nil {
		return nil, err
	}
	v := NewVerifier(key)
	v.head = head.clone()
	v.roots = append([]Node(nil), head.Roots...)
	v.tip = append([]Node(nil), head.Roots...)
	return v, nil
}

// Key returns the core key the verifier checks against.
func (v *Verifier) Key() Hash { return v.key }

// Length returns the length of the last accepted head.
func (v *Verifier) Length() uint64 { return v.head.Length }

// Head returns the last accepted head, with its roots.
func (v *Verifier) Head() SignedHead {
	h := v.head.clone()
	h.Roots = append([]Node{}, v.roots...)
	return h
}

// Pending returns how many entries were fed beyond the last accepted head.
func (v *Verifier) Pending() int { return len(v.pending) }

// Add feeds the next entries of the log, in order. They stay unverified
// until a head covering them is accepted.
func (v *Verifier) Add(entries ...[]byte) {
	next := v.head.Length + uint64(len(v.pending))
	for i, e := range entries {
		leaf := Node{Index: 2 * (next + uint64(i)), Size: uint64(len(e)), Hash: v.leaf.hash(e)}
		v.pending = append(v.pending, leaf)
		v.tip = appendRoot(v.tip, leaf, nil)
	}
}

// Accept checks head against the entries fed so far: its length must lie
// between the accepted length and the entries fed, its signature must
// verify, and the entries up to its length must hash to its tree hash. On
// success the head becomes the accepted one and the entries it covers are
// verified. On a mismatch the unverified entries are dropped (their source
// lied) and the verifier stays at its last accepted head.
func (v *Verifier) Accept(head SignedHead) error {
	if err := VerifyHead(v.key, head); err != nil {
		return err
	}
	have := v.head.Length + uint64(len(v.pending))
	if head.Length < v.head.Length || head.Length > have {
		return fmt.Errorf("%w: head length %d outside the fed range %d..%d", ErrInvalidProof, head.Length, v.head.Length, have)
	}
	n := head.Length - v.head.Length
	var roots []Node
	if n == uint64(len(v.pending)) {
		roots = v.tip
	} else {
		roots = append([]Node(nil), v.roots...)
		for _, leaf := range v.pending[:n] {
			roots = appendRoot(roots, leaf, nil)
		}
	}
	if TreeHash(roots) != head.TreeHash {
		v.pending = v.pending[:0]
		v.tip = append(v.tip[:0], v.roots...)
		return fmt.Errorf("%w: entries do not hash to head %d's tree hash", ErrInvalidProof, head.Length)
	}
	v.head = head.clone()
	v.head.Roots = nil
	v.roots = append(v.roots[:0:0], roots...)
	v.pending = append(v.pending[:0], v.pending[n:]...)
	if len(v.pending) == 0 {
		v.tip = append(v.tip[:0:0], v.roots...)
	}
	return nil
}

// Upgrade moves the verifier to a newer head without its entries, from a
// hypercore upgrade proof starting at Length (for example the Proof of
// Log.ProveExtension). No unverified entries may be pending.
func (v *Verifier) Upgrade(p *Proof, head SignedHead) error {
	if len(v.pending) > 0 {
		return fmt.Errorf("hyperlog: upgrade with %d unverified entries pending", len(v.pending))
	}
	if err := VerifyHead(v.key, head); err != nil {
		return err
	}
	if head.Length == v.head.Length && head.TreeHash == v.head.TreeHash {
		return nil
	}
	if p == nil || p.Upgrade == nil || p.Upgrade.Start != v.head.Length || p.Block != nil || p.Hash != nil || p.Seek != nil {
		return fmt.Errorf("%w: need an upgrade proof starting at %d", ErrInvalidProof, v.head.Length)
	}
	if p.Fork != head.Fork {
		return fmt.Errorf("%w: proof fork %d, head fork %d", ErrInvalidProof, p.Fork, head.Fork)
	}
	if err := sameSignature(p.Upgrade, head); err != nil {
		return err
	}
	roots, _, err := verifyUpgrade(p.Upgrade, nil, v.roots)
	if err != nil {
		return err
	}
	if err := matchHead(roots, head); err != nil {
		return err
	}
	v.head = head.clone()
	v.head.Roots = nil
	v.roots = roots
	v.tip = append([]Node(nil), roots...)
	return nil
}

// VerifyLog checks that entries are exactly the log head covers: the head
// is signed for key and the entries, all of them, hash to its tree hash.
// It is how a whole log copied from an untrusted source is checked.
func VerifyLog(key Hash, head SignedHead, entries [][]byte) error {
	if uint64(len(entries)) != head.Length {
		return fmt.Errorf("%w: %d entries for a head of length %d", ErrInvalidProof, len(entries), head.Length)
	}
	v := NewVerifier(key)
	v.Add(entries...)
	return v.Accept(head)
}
