package sim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/kv"
)

// checker judges final blocks with code of its own, not the code under
// test: it counts a certificate's distinct valid signers, verifying each
// signature itself, and, with the real chain, re-executes every final
// block on a reference state that only it updates, then holds every
// node's state after each height to the reference's.
type checker struct {
	s      *Sim
	n      int
	quorum int
	// pub are the validators' keys, decoded from the genesis here.
	pub  []ed25519.PublicKey
	sigs map[string]bool // signatures verified, by signer, digest and signature

	// The reference (real chain): its own Chain (its own cache of
	// verified transaction signatures), its own state, the final blocks it
	// applied, the state's digest and a copy of it after each height, and
	// whose turn each height was.
	chain    *chain.Chain
	ref      *kv.Mem
	blocks   []*lbft.Block
	digests  [][32]byte
	snaps    []*kv.Mem
	proposer map[uint64]chain.Address
}

func newChecker(s *Sim) *checker {
	c := &checker{s: s, n: s.cfg.Validators, quorum: 2*s.f() + 1, sigs: map[string]bool{},
		blocks: []*lbft.Block{s.genesis}, proposer: map[uint64]chain.Address{}}
	if s.w == nil {
		return c
	}
	for _, m := range s.w.g.Validators {
		k, err := m.PubKey()
		if err != nil {
			panic(err)
		}
		c.pub = append(c.pub, k)
	}
	c.chain = chain.New(s.w.g)
	c.ref = kv.NewMem()
	if err := c.chain.InitState(c.ref); err != nil {
		panic(err)
	}
	c.digests = append(c.digests, digest(c.ref))
	c.snaps = append(c.snaps, clone(c.ref))
	return c
}

// validSig tells whether sig is validator i's signature over d: Ed25519
// with the genesis key, or the string mode's MAC.
func (c *checker) validSig(i int, d lbft.Hash, sig []byte) bool {
	if i < 0 || i >= c.n {
		return false
	}
	k := string(rune(i)) + string(d[:]) + string(sig)
	if ok, done := c.sigs[k]; done {
		return ok
	}
	var ok bool
	if c.s.w != nil {
		ok = ed25519.Verify(c.pub[i], d[:], sig)
	} else {
		ok = bytes.Equal(c.s.mac(i, d), sig)
	}
	c.sigs[k] = ok
	return ok
}

// finality checks that b carries 2f+1 distinct validators' valid commit
// votes of its round for its hash, and nothing else.
func (c *checker) finality(b *lbft.Block) error {
	x := b.Hash()
	signers := map[int]bool{}
	for i := range b.Commits {
		v := &b.Commits[i]
		if v.Kind != lbft.Commit || v.Height != b.Height || v.Round != b.Round || v.Value != x {
			return fmt.Errorf("commit %d is a %s for h=%d r=%d %s, not the block's", i, v.Kind, v.Height, v.Round, v.Value.Short())
		}
		if !c.validSig(v.Signer, v.Digest(), v.Sig) {
			return fmt.Errorf("commit %d: bad signature of validator %d", i, v.Signer)
		}
		signers[v.Signer] = true
	}
	if len(signers) < c.quorum {
		return fmt.Errorf("%d distinct commit signers in %d votes, want %d", len(signers), len(b.Commits), c.quorum)
	}
	return nil
}

// stored checks a block node n has just stored: its certificate, that it
// is the block every node stores at its height, and (real chain) that the
// node's state is the reference's after it.
func (c *checker) stored(n *node, b *lbft.Block) {
	s := c.s
	if err := c.finality(b); err != nil {
		s.fail("FINALITY: node %d stored block %d (%s) without a valid certificate: %v", n.id, b.Height, b.Hash().Short(), err)
		return
	}
	x := b.Hash()
	if prev, ok := s.final[b.Height]; ok && prev != x {
		s.fail("AGREEMENT: node %d inserted %s at height %d, another node %s", n.id, x.Short(), b.Height, prev.Short())
		return
	} else if !ok {
		s.final[b.Height] = x
		if b.Impeach {
			s.Stats.Impeached++
		}
		if err := c.advance(b); err != nil {
			s.fail("FINAL BLOCK INVALID: the reference cannot execute final block %d (%s): %v", b.Height, x.Short(), err)
			return
		}
	}
	if s.w != nil {
		c.sameState(n, b.Height, "after storing block")
	}
}

// booted checks that a node restarts on the state of its head.
func (c *checker) booted(n *node) {
	head := n.chain[len(n.chain)-1]
	c.sameState(n, head.Height, "restarting at block")
}

func (c *checker) sameState(n *node, h uint64, when string) {
	if d := digest(n.state); d != c.digests[h] {
		c.s.fail("STATE: node %d's state %s %d differs from the reference: %s", n.id, when, h, c.diff(n.state, c.snaps[h]))
	}
}

// advance checks that b, the first final block at its height, is a valid
// successor of the reference's last block, and executes it on the
// reference state.
func (c *checker) advance(b *lbft.Block) error {
	s := c.s
	parent := c.blocks[len(c.blocks)-1]
	if b.Height != parent.Height+1 || b.Parent != parent.Hash() {
		return fmt.Errorf("it does not extend final block %d", parent.Height)
	}
	lo, hi := parent.Time+s.cfg.Period, parent.Time+s.cfg.Period+s.cfg.Timeout
	switch {
	case b.Impeach && (b.Time != hi || len(b.Proposer) != 0 || len(b.Seal) != 0):
		return fmt.Errorf("an impeach block with time %d (want %d), proposer %x, seal %x", b.Time, hi, b.Proposer, b.Seal)
	case !b.Impeach && (b.Time < lo || b.Time > hi):
		return fmt.Errorf("time %d outside [%d, %d]", b.Time, lo, hi)
	}
	if s.w == nil {
		switch {
		case b.Impeach && !bytes.Equal(b.Body, impeachBody(parent)):
			return fmt.Errorf("impeach body %q", b.Body)
		case !b.Impeach && (len(b.Proposer) != 1 || int(b.Proposer[0]) != s.proposerOf(b.Height) || !bytes.Equal(b.Seal, s.mac(s.proposerOf(b.Height), b.Hash()))):
			return fmt.Errorf("proposer %v or its seal is wrong", b.Proposer)
		}
		c.blocks = append(c.blocks, b)
		return nil
	}
	turn, err := c.chain.ProposerOf(c.ref, b.Height)
	if err != nil {
		return err
	}
	c.proposer[b.Height] = turn
	if !b.Impeach {
		if len(b.Proposer) != ed25519.PublicKeySize || chain.AddressOf(b.Proposer) != turn {
			return fmt.Errorf("sealed by %x; it was %s's turn", b.Proposer, turn)
		}
		if !ed25519.Verify(b.Proposer, chain.SealBytes(b), b.Seal) {
			return fmt.Errorf("bad seal")
		}
	}
	// The block must carry the commitment of the state its parent left:
	// the reference state hashed from scratch, not the chain's stored
	// lattice.
	body, err := chain.DecodeBody(b.Body)
	if err != nil {
		return err
	}
	full, err := chain.HashState(c.ref)
	if err != nil {
		return err
	}
	if sum := full.Sum(); !bytes.Equal(body.State, sum[:]) {
		return fmt.Errorf("it carries state commitment %x; the state block %d left hashes to %s", body.State, parent.Height, sum)
	}
	batch := chain.NewOverlay(c.ref)
	rec, err := c.chain.ApplyBlock(batch, b.WithoutCert())
	if err != nil {
		return err
	}
	if err := batch.WriteTo(c.ref); err != nil {
		return err
	}
	s.Stats.Txs += len(rec.Txs)
	for _, err := range rec.Failed {
		if err != nil {
			s.Stats.Failed++
		}
	}
	c.blocks = append(c.blocks, b)
	c.digests = append(c.digests, digest(c.ref))
	c.snaps = append(c.snaps, clone(c.ref))
	return nil
}

// digest is a hash of every key and value of a state.
func digest(m *kv.Mem) [32]byte {
	h := sha256.New()
	var n [8]byte
	m.Iterate(nil, func(k, v []byte) error {
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write(k)
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write(v)
		return nil
	})
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func clone(m *kv.Mem) *kv.Mem {
	c := kv.NewMem()
	m.Iterate(nil, func(k, v []byte) error { return c.Set(k, v) })
	return c
}

// diff describes how a node's state differs from the reference: the keys
// that differ, accounts decoded.
func (c *checker) diff(got, want *kv.Mem) string {
	keys := map[string]bool{}
	for _, m := range []*kv.Mem{got, want} {
		m.Iterate(nil, func(k, _ []byte) error { keys[string(k)] = true; return nil })
	}
	var out []string
	show := func(m *kv.Mem, k string) string {
		v, err := m.Get([]byte(k))
		if err != nil {
			return "absent"
		}
		if strings.HasPrefix(k, "c/acct/") {
			var a chain.Account
			if chain.Unmarshal(v, &a) == nil {
				return fmt.Sprintf("balance %d nonce %d", a.Balance, a.Nonce)
			}
		}
		return fmt.Sprintf("%x", v)
	}
	for _, k := range sortedStrings(keys) {
		g, w := show(got, k), show(want, k)
		if g == w {
			continue
		}
		name := k
		if strings.HasPrefix(k, "c/acct/") && len(k) == len("c/acct/")+20 {
			var a chain.Address
			copy(a[:], k[len("c/acct/"):])
			name = "account " + a.String()
		}
		out = append(out, fmt.Sprintf("%q: node %s, reference %s", name, g, w))
		if len(out) == 5 {
			break
		}
	}
	return strings.Join(out, "; ")
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
