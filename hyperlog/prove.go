package hyperlog

import "fmt"

// ProofRequest asks for a proof the way a hypercore request message does.
type ProofRequest struct {
	// Block asks for a block's value and the nodes above it.
	Block *BlockRequest
	// Hash asks for a tree node (its Index is a tree index) and the nodes
	// above it. At most one of Block and Hash may be set.
	Hash *BlockRequest
	// Upgrade asks for the nodes that carry a verifier holding the roots of
	// length Start to length Start+Length (and on to the current head).
	Upgrade *UpgradeRequest
	// Manifest asks for the manifest to be included.
	Manifest bool
}

// BlockRequest names a block (or tree node) and how many levels of the path
// above it the requester lacks: Nodes = 0 means it already trusts the node's
// own hash; with an Upgrade the path instead runs up to the root that the
// upgrade covers.
type BlockRequest struct {
	Index uint64
	Nodes uint64
}

// UpgradeRequest names the length a verifier holds (Start) and how many
// blocks to extend it by (Length).
type UpgradeRequest struct {
	Start  uint64
	Length uint64
}

// nodeSource reads tree nodes; every node asked for is complete.
type nodeSource interface {
	node(index uint64) (Node, error)
}

// proofParts collects the node lists while a proof is built.
type proofParts struct {
	block, upgrade, additional []Node
	blockDone                  bool
	upgradeStarted             bool
	err                        error
}

func (p *proofParts) get(src nodeSource, index uint64) Node {
	if p.err != nil {
		return Node{}
	}
	n, err := src.node(index)
	if err != nil {
		p.err = err
	}
	return n
}

// indexed is the block or node a proof is about.
type indexed struct {
	index     uint64 // tree index
	nodes     uint64
	lastBlock uint64 // last block under the node
	isBlock   bool
}

// generateProof builds the proof hypercore's merkle tree builds for req
// against a tree of length blocks read from src. signature is attached to
// the upgrade (it must sign the head at length) and value fills the block.
func generateProof(src nodeSource, length, fork uint64, req ProofRequest, signature []byte, value func(uint64) ([]byte, error)) (*Proof, error) {
	head := 2 * length
	var from, to uint64 = 0, head
	if u := req.Upgrade; u != nil {
		from = 2 * u.Start
		to = from + 2*u.Length
		if u.Length == 0 || u.Start+u.Length < u.Start || to > head {
			return nil, fmt.Errorf("hyperlog: invalid upgrade %d+%d for length %d", u.Start, u.Length, length)
		}
	}
	if req.Block != nil && req.Hash != nil {
		return nil, fmt.Errorf("hyperlog: a proof covers a block or a hash, not both")
	}
	var ix *indexed
	if b := req.Block; b != nil {
		if b.Index >= length {
			return nil, fmt.Errorf("hyperlog: block %d out of range (length %d)", b.Index, length)
		}
		ix = &indexed{index: 2 * b.Index, nodes: b.Nodes, lastBlock: b.Index, isBlock: true}
	} else if h := req.Hash; h != nil {
		if RightSpan(h.Index) >= head || RightSpan(h.Index) < h.Index {
			return nil, fmt.Errorf("hyperlog: node %d out of range (length %d)", h.Index, length)
		}
		ix = &indexed{index: h.Index, nodes: h.Nodes, lastBlock: RightSpan(h.Index) / 2}
	}

	var p proofParts
	subTree := head
	if ix != nil && (req.Upgrade == nil || ix.lastBlock < req.Upgrade.Start) {
		root, err := nodesToRoot(ix.index, ix.nodes, to)
		if err != nil {
			return nil, err
		}
		subTree = root
		p.pathProof(src, ix, root)
	} else if ix != nil {
		subTree = ix.index
	}
	if req.Upgrade != nil {
		p.upgradeProof(src, ix, from, to, subTree)
		if head > to {
			p.additionalProof(src, to, head)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	if ix != nil && !p.blockDone {
		return nil, fmt.Errorf("hyperlog: node %d is beyond the requested upgrade", ix.index)
	}

	out := &Proof{Fork: fork}
	if ix != nil && ix.isBlock {
		v, err := value(req.Block.Index)
		if err != nil {
			return nil, err
		}
		out.Block = &BlockProof{Index: req.Block.Index, Value: v, Nodes: nonNil(p.block)}
	} else if ix != nil {
		out.Hash = &HashProof{Index: req.Hash.Index, Nodes: nonNil(p.block)}
	}
	if u := req.Upgrade; u != nil {
		out.Upgrade = &UpgradeProof{Start: u.Start, Length: u.Length, Nodes: nonNil(p.upgrade),
			AdditionalNodes: nonNil(p.additional), Signature: append(Bytes(nil), signature...)}
	}
	return out, nil
}

func nonNil(n []Node) []Node {
	if n == nil {
		return []Node{}
	}
	return n
}

// nodesToRoot climbs levels parents from index; the result must lie inside
// a tree of head/2 blocks.
func nodesToRoot(index, levels, head uint64) (uint64, error) {
	for i := uint64(0); i < levels; i++ {
		index = Parent(index)
		if Contains(index, head) || Depth(index) > 62 {
			return 0, fmt.Errorf("hyperlog: %d nodes above %d is out of bounds", levels, index)
		}
	}
	return index, nil
}

// pathProof adds the node path from ix up to root: for a hash proof the node
// itself first, then each sibling on the way up.
func (p *proofParts) pathProof(src nodeSource, ix *indexed, root uint64) {
	p.blockDone = true
	p.block = []Node{}
	cur := ix.index
	if !ix.isBlock {
		p.block = append(p.block, p.get(src, cur))
	}
	for cur != root {
		p.block = append(p.block, p.get(src, Sibling(cur)))
		cur = Parent(cur)
	}
}

// upgradeProof adds the nodes that take a verifier holding the roots of
// from/2 blocks to the roots of to/2 blocks. Where the proven block lies
// inside the range, its path stands in for the node that covers it.
func (p *proofParts) upgradeProof(src nodeSource, ix *indexed, from, to, subTree uint64) {
	if from == 0 {
		p.upgradeStarted = true
		p.upgrade = []Node{}
	}
	for _, root := range FullRoots(to / 2) {
		if RightSpan(root)+2 <= from {
			continue // the verifier holds it
		}
		if !p.upgradeStarted && Contains(root, from-2) {
			p.upgradeStarted = true
			p.upgrade = []Node{}
			target := from - 2
			for cur := target; cur != root; cur = Parent(cur) {
				sib := Sibling(cur)
				if sib <= target {
					continue
				}
				if ix != nil && !p.blockDone && Contains(sib, subTree) {
					p.pathProof(src, ix, sib)
				} else {
					p.upgrade = append(p.upgrade, p.get(src, sib))
				}
			}
			continue
		}
		if !p.upgradeStarted {
			p.upgradeStarted = true
			p.upgrade = []Node{}
		}
		if ix != nil && !p.blockDone && Contains(root, subTree) {
			p.pathProof(src, ix, root)
			continue
		}
		p.upgrade = append(p.upgrade, p.get(src, root))
	}
}

// additionalProof adds the nodes that take a verifier from the roots of
// from/2 blocks on to the current head.
func (p *proofParts) additionalProof(src nodeSource, from, to uint64) {
	p.additional = []Node{}
	started := false
	for _, root := range FullRoots(to / 2) {
		if RightSpan(root)+2 <= from {
			continue
		}
		if !started && Contains(root, from-2) {
			started = true
			target := from - 2
			for cur := target; cur != root; cur = Parent(cur) {
				if sib := Sibling(cur); sib > target {
					p.additional = append(p.additional, p.get(src, sib))
				}
			}
			continue
		}
		started = true
		p.additional = append(p.additional, p.get(src, root))
	}
}

// memTree is a nodeSource over nodes held in memory, for building proofs
// from a list of blocks.
type memTree map[uint64]Node

func (m memTree) node(index uint64) (Node, error) {
	n, ok := m[index]
	if !ok {
		return Node{}, fmt.Errorf("hyperlog: no node %d", index)
	}
	return n, nil
}

// buildMemTree returns every node of the tree over blocks.
func buildMemTree(blocks [][]byte) memTree {
	m := memTree{}
	var roots []Node
	for i, b := range blocks {
		leaf := LeafNode(uint64(i), b)
		m[leaf.Index] = leaf
		roots = appendRoot(roots, leaf, func(n Node) { m[n.Index] = n })
	}
	return m
}
