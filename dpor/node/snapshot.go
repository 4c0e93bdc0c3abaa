package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
)

// A node's snapshot is its chain state at its head H, the head block with
// its commit certificate, and the genesis block (package snapshot's
// format). A node that imports it starts at H: the certificate, checked
// against the genesis validators, says H is final; the state is checked
// against its own commitment as it streams in, and block H+1, which
// carries the commitment of the state H left, checks it again when it
// applies. No block below H, receipt or event comes with it.

// snapshotApp is the manifest's application name for a chain's node.
func snapshotApp(g *chain.Genesis) string { return "dpor-node:" + g.ChainID }

// ExportSnapshot writes a snapshot of the node data directory dir (no node
// running on it) at its head to w.
func ExportSnapshot(dir string, g *chain.Genesis, w io.Writer) (*snapshot.Manifest, error) {
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("data directory %s (stop the node first): %w", dir, err)
	}
	defer db.Close()
	snap := db.Snapshot()
	defer snap.Close()
	raw, err := snap.Get(keyHead)
	if err != nil {
		return nil, fmt.Errorf("data directory %s holds no chain: %w", dir, err)
	}
	h := binary.BigEndian.Uint64(raw)
	headRaw, err := snap.Get(blockKey(h))
	if err != nil {
		return nil, fmt.Errorf("the head block %d: %w", h, err)
	}
	var head lbft.Block
	if err := chain.Unmarshal(headRaw, &head); err != nil {
		return nil, err
	}
	state := kv.Prefixed(snap, prefixState)
	pre, err := chain.StateCommitment(state)
	if err != nil {
		return nil, fmt.Errorf("the state's commitment (open the node once with this version): %w", err)
	}
	x := head.Hash()
	m := &snapshot.Manifest{App: snapshotApp(g), Height: int64(h), BlockHash: hex.EncodeToString(x[:]), State: pre.String(), Final: true}
	err = snapshot.Write(w, m, func(put func(k, v []byte) error) error {
		// Ascending: n/b/<0>, n/b/<H>, n/head, s/…
		g0, err := snap.Get(blockKey(0))
		if err != nil {
			return err
		}
		if err := put(blockKey(0), g0); err != nil {
			return err
		}
		if h > 0 {
			if err := put(blockKey(h), headRaw); err != nil {
				return err
			}
		}
		if err := put(keyHead, raw); err != nil {
			return err
		}
		return snap.Iterate(prefixState, put)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ImportSnapshot checks the snapshot at path against the genesis (its
// genesis block, the head's commit certificate against the genesis
// validators, the state against its commitment and the head) and makes it
// the node data directory dir, which must be free. It returns the head.
func ImportSnapshot(ctx context.Context, path, dir string, g *chain.Genesis) (uint64, error) {
	sf, err := snapshot.Open(path)
	if err != nil {
		return 0, err
	}
	defer sf.Close()
	m := sf.Manifest
	if m.App != snapshotApp(g) {
		return 0, &snapshot.Error{Msg: fmt.Sprintf("it is a snapshot of %q, not of this chain's node (%q)", m.App, snapshotApp(g))}
	}
	c := chain.New(g)
	var head uint64
	err = snapshot.Install(dir, func(db *store.DB) error {
		raw, err := db.Get(blockKey(0))
		if err != nil {
			return fmt.Errorf("data directory %s holds a store that is no node's: import into an empty directory", dir)
		}
		var g0 lbft.Block
		if chain.Unmarshal(raw, &g0) != nil || g0.Hash() != c.GenesisBlock().Hash() {
			return fmt.Errorf("data directory %s holds another chain's node: import into an empty directory", dir)
		}
		return nil
	}, func(db *store.DB) error {
		var err error
		head, err = importNode(ctx, sf, db, c)
		return err
	})
	return head, err
}

func importNode(ctx context.Context, sf *snapshot.File, db *store.DB, c *chain.Chain) (uint64, error) {
	bad := func(format string, args ...any) error { return &snapshot.Error{Msg: fmt.Sprintf(format, args...)} }
	w := snapshot.NewBatchWriter(db)
	var lattice lthash.Hash
	var last []byte
	var headRaw, headKey []byte
	var head uint64
	haveHead, haveGenesis := false, false
	stateLattice := []byte(nil)
	err := sf.Chunks(func(_ int, kvs []engine.KV) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range kvs {
			if last != nil && bytes.Compare(e.Key, last) <= 0 {
				return bad("key %q does not come after %q", e.Key, last)
			}
			last = append(last[:0], e.Key...)
			switch {
			case bytes.Equal(e.Key, blockKey(0)):
				var b lbft.Block
				if err := chain.Unmarshal(e.Value, &b); err != nil || b.Hash() != c.GenesisBlock().Hash() {
					return bad("its genesis block is not this chain's")
				}
				haveGenesis = true
			case bytes.HasPrefix(e.Key, prefixBlock) && len(e.Key) == len(prefixBlock)+8:
				if headRaw != nil {
					return bad("more than one block besides the genesis")
				}
				headRaw, headKey = bytes.Clone(e.Value), bytes.Clone(e.Key)
			case bytes.Equal(e.Key, keyHead):
				if len(e.Value) != 8 {
					return bad("the head record is %d bytes", len(e.Value))
				}
				head, haveHead = binary.BigEndian.Uint64(e.Value), true
			case bytes.HasPrefix(e.Key, prefixState):
				k := e.Key[len(prefixState):]
				if bytes.HasPrefix(k, []byte("c/")) {
					lattice.Add(k, e.Value)
				} else if bytes.Equal(k, []byte("h/lt")) {
					stateLattice = bytes.Clone(e.Value)
				} else {
					return bad("key %q is not part of a node snapshot", e.Key)
				}
			default:
				return bad("key %q is not part of a node snapshot", e.Key)
			}
			if err := w.Set(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	m := sf.Manifest
	switch {
	case !haveGenesis || !haveHead:
		return 0, bad("no genesis block or no head record")
	case int64(head) != m.Height:
		return 0, bad("its head is %d, the manifest says %d", head, m.Height)
	case head > 0 && headRaw == nil:
		return 0, bad("no head block %d", head)
	}
	var hb lbft.Block
	if head > 0 {
		if err := chain.Unmarshal(headRaw, &hb); err != nil {
			return 0, bad("the head block: %v", err)
		}
		if hb.Height != head || !bytes.Equal(headKey, blockKey(head)) {
			return 0, bad("the head block is block %d under key %x, the head record says %d", hb.Height, headKey, head)
		}
		keys := make([][]byte, len(c.G.Validators))
		for i, v := range c.G.Validators {
			pk, err := v.PubKey()
			if err != nil {
				return 0, err
			}
			keys[i] = pk
		}
		cfg := lbft.Config{N: len(keys), Verify: func(i int, d lbft.Hash, sig []byte) bool { return verifyEd25519(keys[i], d[:], sig) }}
		if err := lbft.CheckFinal(&cfg, &hb); err != nil {
			return 0, bad("the head block's certificate: %v", err)
		}
	} else {
		hb = *c.GenesisBlock()
	}
	if x := hb.Hash(); hex.EncodeToString(x[:]) != m.BlockHash {
		return 0, bad("the head block's hash is %x, the manifest says %s", x, m.BlockHash)
	}
	sum := lattice.Sum()
	if len(stateLattice) != lthash.Size+32 || !bytes.Equal(stateLattice[:lthash.Size], lattice.AppendBinary(nil)) ||
		!bytes.Equal(stateLattice[lthash.Size:], sum[:]) || sum.String() != m.State {
		return 0, bad("the state hashes to %s; it says %x, the manifest %s", sum, stateLattice[min(len(stateLattice), lthash.Size):], m.State)
	}
	if err := w.Commit(true); err != nil {
		return 0, err
	}
	// The state must be at the head block.
	st := chain.ReadState(kv.Prefixed(db, prefixState))
	sh, err := st.Height()
	if err != nil {
		return 0, err
	}
	rec, ok, err := st.Block(sh)
	if err != nil || !ok || sh != head || rec.Hash != hb.Hash() {
		return 0, bad("the state is at block %d, not at the head block %d", sh, head)
	}
	return head, nil
}

func verifyEd25519(pub []byte, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}
