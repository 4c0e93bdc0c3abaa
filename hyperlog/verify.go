package hyperlog

import (
	"bytes"
	"fmt"
)

// nodeQueue hands out a proof's nodes in order, checking each has the index
// the verifier expects next. extra is a node computed by the verifier (the
// root of a block path) that stands in for the node of the same index.
type nodeQueue struct {
	nodes []Node
	i     int
	extra *Node
}

func (q *nodeQueue) remaining() int {
	n := len(q.nodes) - q.i
	if q.extra != nil {
		n++
	}
	return n
}

func (q *nodeQueue) shift(index uint64) (Node, error) {
	if q.extra != nil && q.extra.Index == index {
		n := *q.extra
		q.extra = nil
		return n, nil
	}
	if q.i >= len(q.nodes) {
		return Node{}, fmt.Errorf("%w: expected node %d, got none", ErrInvalidProof, index)
	}
	n := q.nodes[q.i]
	if n.Index != index {
		return Node{}, fmt.Errorf("%w: expected node %d, got node %d", ErrInvalidProof, index, n.Index)
	}
	q.i++
	return n, nil
}

// verifyTree recomputes the subtree root a proof's seek, block or hash part
// leads to. It returns nil when the proof has none.
func verifyTree(p *Proof) (*Node, error) {
	var root *Node
	if p.Seek != nil && len(p.Seek.Nodes) > 0 {
		q := nodeQueue{nodes: p.Seek.Nodes}
		cur, err := q.shift(p.Seek.Nodes[0].Index)
		if err != nil {
			return nil, err
		}
		if cur, err = climb(&q, cur); err != nil {
			return nil, err
		}
		root = &cur
	}
	var start uint64
	var nodes []Node
	var leaf *Node
	switch {
	case p.Block != nil && p.Hash != nil:
		return nil, fmt.Errorf("%w: both a block and a hash", ErrInvalidProof)
	case p.Block != nil:
		if p.Block.Index > maxBlockIndex {
			return nil, fmt.Errorf("%w: block %d out of range", ErrInvalidProof, p.Block.Index)
		}
		n := LeafNode(p.Block.Index, p.Block.Value)
		start, nodes, leaf = n.Index, p.Block.Nodes, &n
	case p.Hash != nil:
		start, nodes = p.Hash.Index, p.Hash.Nodes
	default:
		return root, nil
	}
	q := nodeQueue{nodes: nodes, extra: root}
	var cur Node
	if leaf != nil {
		cur = *leaf
	} else {
		var err error
		if cur, err = q.shift(start); err != nil {
			return nil, err
		}
	}
	cur, err := climb(&q, cur)
	if err != nil {
		return nil, err
	}
	return &cur, nil
}

// maxBlockIndex keeps 2*index and the depth arithmetic below 2^63.
const maxBlockIndex = 1<<61 - 1

// climb folds the queue's nodes into cur as siblings, bottom up.
func climb(q *nodeQueue, cur Node) (Node, error) {
	for q.remaining() > 0 {
		if Depth(cur.Index) >= 60 {
			return Node{}, fmt.Errorf("%w: path too long", ErrInvalidProof)
		}
		sib, err := q.shift(Sibling(cur.Index))
		if err != nil {
			return Node{}, err
		}
		cur = ParentNode(cur, sib)
	}
	return cur, nil
}

// verifyUpgrade applies an upgrade to roots, the full roots of the length
// the verifier holds (u.Start). blockRoot, when not nil, is the root a block
// path led to; usedBlock reports whether the upgrade consumed it (so the
// block is covered by the resulting head). It returns the full roots of the
// resulting length.
func verifyUpgrade(u *UpgradeProof, blockRoot *Node, roots []Node) (out []Node, usedBlock bool, err error) {
	if u.Length == 0 || u.Start+u.Length < u.Start || u.Start+u.Length > maxBlockIndex {
		return nil, false, fmt.Errorf("%w: bad upgrade range %d+%d", ErrInvalidProof, u.Start, u.Length)
	}
	if err := checkRoots(roots, u.Start); err != nil {
		return nil, false, err
	}
	roots = append([]Node(nil), roots...)
	q := nodeQueue{nodes: u.Nodes, extra: blockRoot}
	grow := len(roots) > 0
	i := 0
	for _, r := range FullRoots(u.Start + u.Length) {
		if i < len(roots) && roots[i].Index == r {
			i++
			continue
		}
		if grow {
			grow = false
			if i < len(roots) {
				cur := roots[len(roots)-1].Index
				if !Contains(r, cur) {
					return nil, false, fmt.Errorf("%w: root %d does not cover held root %d", ErrInvalidProof, r, cur)
				}
				for cur != r {
					n, err := q.shift(Sibling(cur))
					if err != nil {
						return nil, false, err
					}
					roots = appendRoot(roots, n, nil)
					cur = roots[len(roots)-1].Index
				}
				continue
			}
		}
		n, err := q.shift(r)
		if err != nil {
			return nil, false, err
		}
		roots = appendRoot(roots, n, nil)
	}
	if q.i != len(q.nodes) {
		return nil, false, fmt.Errorf("%w: %d unused upgrade nodes", ErrInvalidProof, len(q.nodes)-q.i)
	}
	if err := checkRoots(roots, u.Start+u.Length); err != nil {
		return nil, false, err
	}

	extra := u.AdditionalNodes
	k := 0
	cur := roots[len(roots)-1].Index
	for k < len(extra) && extra[k].Index == Sibling(cur) {
		roots = appendRoot(roots, extra[k], nil)
		k++
		cur = roots[len(roots)-1].Index
	}
	if k < len(extra) {
		cur = Sibling(cur)
	}
	for k < len(extra) {
		n := extra[k]
		k++
		for n.Index != cur {
			l, _, ok := Children(cur)
			if !ok {
				return nil, false, fmt.Errorf("%w: unexpected additional node %d", ErrInvalidProof, n.Index)
			}
			cur = l
		}
		roots = appendRoot(roots, n, nil)
		cur = Sibling(roots[len(roots)-1].Index)
	}
	if _, err := lengthOfRoots(roots); err != nil {
		return nil, false, err
	}
	return roots, q.extra == nil && blockRoot != nil, nil
}

// VerifyInclusion checks that entry is block index of the log whose core key
// is key, as of the signed head: the head's signature must verify, and the
// proof must lead from the entry's leaf to the head's tree hash. The proof is
// what Log.ProveInclusion returns (a block part and an upgrade from length
// 0 to the head's length); if the head carries roots, a proof whose block
// path ends at one of them needs no upgrade.
func VerifyInclusion(key Hash, head SignedHead, index uint64, entry []byte, p *Proof) error {
	// The cheap hashing comes first, the signature check last.
	if err := verifyInclusion(head, index, entry, p); err != nil {
		return err
	}
	return VerifyHead(key, head)
}

func verifyInclusion(head SignedHead, index uint64, entry []byte, p *Proof) error {
	if p == nil || p.Block == nil || p.Hash != nil || p.Seek != nil {
		return fmt.Errorf("%w: not a block proof", ErrInvalidProof)
	}
	if p.Block.Index != index {
		return fmt.Errorf("%w: proof is for block %d, not %d", ErrInvalidProof, p.Block.Index, index)
	}
	if index >= head.Length {
		return fmt.Errorf("%w: block %d is beyond head length %d", ErrInvalidProof, index, head.Length)
	}
	if p.Block.Value != nil && !bytes.Equal(p.Block.Value, entry) {
		return fmt.Errorf("%w: proof carries a different value", ErrInvalidProof)
	}
	if p.Fork != head.Fork {
		return fmt.Errorf("%w: proof fork %d, head fork %d", ErrInvalidProof, p.Fork, head.Fork)
	}
	blk := *p.Block
	blk.Value = entry
	root, err := verifyTree(&Proof{Block: &blk})
	if err != nil {
		return err
	}
	if p.Upgrade == nil {
		if err := checkRoots(head.Roots, head.Length); err != nil {
			return err
		}
		if TreeHash(head.Roots) != head.TreeHash {
			return fmt.Errorf("%w: head roots do not hash to its tree hash", ErrInvalidProof)
		}
		for _, r := range head.Roots {
			if r == *root {
				return nil
			}
		}
		return fmt.Errorf("%w: block path does not end at a root of the head", ErrInvalidProof)
	}
	if p.Upgrade.Start != 0 {
		return fmt.Errorf("%w: inclusion upgrade must start at 0", ErrInvalidProof)
	}
	if err := sameSignature(p.Upgrade, head); err != nil {
		return err
	}
	roots, used, err := verifyUpgrade(p.Upgrade, root, nil)
	if err != nil {
		return err
	}
	if !used {
		return fmt.Errorf("%w: block path is not part of the upgrade", ErrInvalidProof)
	}
	return matchHead(roots, head)
}

// sameSignature checks that a signature carried in an upgrade, if any, is
// the head's: the head is verified on its own, so a proof that names another
// signature was made for another head.
func sameSignature(u *UpgradeProof, head SignedHead) error {
	if len(u.Signature) > 0 && !bytes.Equal(u.Signature, head.Signature) {
		return fmt.Errorf("%w: proof carries another head's signature", ErrInvalidProof)
	}
	return nil
}

// matchHead checks that roots are the head's roots.
func matchHead(roots []Node, head SignedHead) error {
	n, err := lengthOfRoots(roots)
	if err != nil {
		return err
	}
	if n != head.Length {
		return fmt.Errorf("%w: proof leads to length %d, head is %d", ErrInvalidProof, n, head.Length)
	}
	if TreeHash(roots) != head.TreeHash {
		return fmt.Errorf("%w: proof leads to a different tree hash than the head's", ErrInvalidProof)
	}
	return nil
}

// VerifyExtension checks that the log at newHead extends the log at oldHead:
// both heads must verify under key, the proof's old roots must hash to the
// old tree hash, and the upgrade must grow exactly those roots into the new
// tree hash. A log rewritten at or below the old length cannot produce such
// a proof.
func VerifyExtension(key Hash, oldHead, newHead SignedHead, e *ExtensionProof) error {
	if err := verifyExtension(oldHead, newHead, e); err != nil {
		return err
	}
	if err := VerifyHead(key, oldHead); err != nil {
		return fmt.Errorf("old head: %w", err)
	}
	if err := VerifyHead(key, newHead); err != nil {
		return fmt.Errorf("new head: %w", err)
	}
	return nil
}

func verifyExtension(oldHead, newHead SignedHead, e *ExtensionProof) error {
	if newHead.Length < oldHead.Length {
		return fmt.Errorf("%w: new head %d is shorter than old head %d", ErrInvalidProof, newHead.Length, oldHead.Length)
	}
	if e == nil {
		return fmt.Errorf("%w: no proof", ErrInvalidProof)
	}
	if err := checkRoots(e.OldRoots, oldHead.Length); err != nil {
		return err
	}
	if TreeHash(e.OldRoots) != oldHead.TreeHash {
		return fmt.Errorf("%w: old roots do not hash to the old tree hash", ErrInvalidProof)
	}
	if newHead.Length == oldHead.Length {
		if newHead.TreeHash != oldHead.TreeHash {
			return fmt.Errorf("%w: heads of equal length differ", ErrInvalidProof)
		}
		return nil
	}
	p := e.Proof
	if p == nil || p.Upgrade == nil || p.Block != nil || p.Hash != nil || p.Seek != nil {
		return fmt.Errorf("%w: extension needs a pure upgrade proof", ErrInvalidProof)
	}
	if p.Upgrade.Start != oldHead.Length {
		return fmt.Errorf("%w: upgrade starts at %d, old head is %d", ErrInvalidProof, p.Upgrade.Start, oldHead.Length)
	}
	if err := sameSignature(p.Upgrade, newHead); err != nil {
		return err
	}
	if p.Fork != newHead.Fork {
		return fmt.Errorf("%w: proof fork %d, head fork %d", ErrInvalidProof, p.Fork, newHead.Fork)
	}
	roots, _, err := verifyUpgrade(p.Upgrade, nil, e.OldRoots)
	if err != nil {
		return err
	}
	return matchHead(roots, newHead)
}
