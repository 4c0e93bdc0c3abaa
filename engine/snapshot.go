package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/vchash"
)

// A snapshot of an engine's store at a committed height H holds what a
// node needs to go on from H+1 without replaying: the application's state
// at H, every block record up to H (the consensus hashes of blocks H+1,
// H+2, … cover earlier ones all the way down, and freshness looks back
// ValidWindow blocks), the store's identity, and, when H is the tip, the
// driver keys (Staged.SetDriver: a consensus engine's nonces, say; the
// engine does not check them, the driver that wrote them does). It holds no undo record:
// an imported store starts final at H (a fork below H stops the engine
// with ReorgTooDeepError) and no event log (events start at H+1).

// ExportAt calls fn with the keys and values of a snapshot at height, in
// ascending key order: the application's state at that height, then the
// block records up to it, then the identity, then (at the tip only) the
// driver keys. The state at a height below
// the tip is rebuilt from the undo records above it, so height must be
// within the undo window. r must be a consistent view (a store.Snapshot).
func ExportAt(r kv.Reader, height int64, fn func(key, value []byte) error) (BlockRecord, error) {
	tip, ok, err := ReadTip(r)
	if err != nil {
		return BlockRecord{}, err
	}
	if !ok {
		return BlockRecord{}, errors.New("engine: nothing committed to export")
	}
	if height > tip.Height {
		return BlockRecord{}, fmt.Errorf("engine: height %d is above the tip %d", height, tip.Height)
	}
	rec, err := ReadRecord(r, height)
	if err != nil {
		return BlockRecord{}, fmt.Errorf("engine: block %d: %w", height, err)
	}
	if rec.State.IsZero() {
		return BlockRecord{}, fmt.Errorf("engine: block %d has no state commitment (an older engine wrote it): export a block this version processed", height)
	}
	// The values at height of the keys the blocks above it changed: undo
	// records newest first, so the oldest block's prior value wins.
	overlay := map[string]undoEntry{}
	for h := tip.Height; h > height; h-- {
		raw, err := r.Get(heightKey(prefixUndo, h))
		if errors.Is(err, kv.ErrNotFound) {
			return BlockRecord{}, fmt.Errorf("engine: height %d is below the undo window (block %d's undo record is gone): export a newer height", height, h)
		}
		if err != nil {
			return BlockRecord{}, err
		}
		entries, err := decodeUndo(raw)
		if err != nil {
			return BlockRecord{}, fmt.Errorf("engine: block %d: %w", h, err)
		}
		for _, e := range entries {
			overlay[string(e.key)] = e
		}
	}
	changed := make([]string, 0, len(overlay))
	for k := range overlay {
		changed = append(changed, k)
	}
	slices.Sort(changed)
	// Merge the current state with the overlay, in key order.
	next := 0
	flush := func(upTo []byte) error { // emit overlay keys below upTo (nil: all)
		for next < len(changed) && (upTo == nil || changed[next] < string(upTo)) {
			if e := overlay[changed[next]]; e.existed {
				if err := fn(e.key, e.value); err != nil {
					return err
				}
			}
			next++
		}
		return nil
	}
	err = r.Iterate(prefixApp, func(k, v []byte) error {
		if err := flush(k); err != nil {
			return err
		}
		if e, ok := overlay[string(k)]; ok {
			next++ // the overlay's value replaces the current one
			if !e.existed {
				return nil
			}
			v = e.value
		}
		return fn(k, v)
	})
	if err == nil {
		err = flush(nil)
	}
	if err != nil {
		return BlockRecord{}, err
	}
	err = r.Iterate(prefixBlock, func(k, v []byte) error {
		if int64(be64(k[len(prefixBlock):])) > height {
			return errStopIteration
		}
		return fn(k, v)
	})
	if err != nil && !errors.Is(err, errStopIteration) {
		return BlockRecord{}, err
	}
	id, err := r.Get(keyIdentity)
	if err != nil {
		return BlockRecord{}, fmt.Errorf("engine: the store's identity: %w", err)
	}
	if err := fn(keyIdentity, id); err != nil {
		return BlockRecord{}, err
	}
	if height != tip.Height {
		return rec, nil // driver keys have no undo records: they are the tip's
	}
	return rec, r.Iterate(prefixDriver, fn)
}

var errStopIteration = errors.New("stop")

// KV is a key and its value.
type KV struct{ Key, Value []byte }

// Writer is where an Importer writes: a batch it commits now and then.
type Writer interface {
	Set(key, value []byte) error
}

// Importer checks a snapshot's keys as they stream in and writes them: the
// keys ascend with no repeats and belong to a snapshot (state, block
// records, identity); the block records start at the application's first
// block, link up, and each consensus hash is the one its ops hash and the
// earlier ones make; the state is hashed (LtHash) as it passes. Finish
// checks the whole against the trusted height and consensus hash and the
// state commitment, and writes the tip and the lattice. Nothing an
// Importer wrote should be used unless Finish succeeds.
type Importer struct {
	info Info
	w    Writer
	last []byte
	// The block records so far.
	hist     []histEntry
	lastRec  BlockRecord
	unlinked bool // the tape's blocks carry no parent hash
	identity []byte
	keys     int64
	// driver sees each driver key (with its prefix); without it driver
	// keys are refused: only the driver that wrote them can check them.
	driver func(key, value []byte) error
	// maxHeight, when positive, refuses block records above it.
	maxHeight int64

	// Chunks of state are hashed on up to two goroutines while the
	// caller writes.
	mu      sync.Mutex
	lattice lthash.Hash
	wg      sync.WaitGroup
	sem     chan struct{}
}

// NewImporter returns an importer for app's snapshots writing to w.
func NewImporter(app Application, w Writer) *Importer {
	return &Importer{info: app.Info(), w: w, sem: make(chan struct{}, 2)}
}

// ImportError says what is wrong with a snapshot.
type ImportError struct{ Msg string }

func (e *ImportError) Error() string { return "snapshot: " + e.Msg }

func bad(format string, args ...any) error { return &ImportError{fmt.Sprintf(format, args...)} }

// Put takes a chunk of keys and values (in ascending order, continuing
// the previous chunk's).
func (im *Importer) Put(kvs []KV) error {
	var state []KV
	for _, e := range kvs {
		if im.last != nil && bytes.Compare(e.Key, im.last) <= 0 {
			return bad("key %q does not come after %q: keys must ascend, each once", e.Key, im.last)
		}
		im.last = append(im.last[:0], e.Key...)
		switch {
		case bytes.HasPrefix(e.Key, prefixApp):
			if len(im.hist) > 0 || im.identity != nil {
				return bad("state key %q after the block records", e.Key)
			}
			state = append(state, e)
		case bytes.HasPrefix(e.Key, prefixBlock) && len(e.Key) == len(prefixBlock)+8:
			if err := im.record(e); err != nil {
				return err
			}
		case bytes.Equal(e.Key, keyIdentity):
			want := fmt.Appendf(nil, "%s\x00%d", im.info.Name, im.info.FirstBlock)
			if !bytes.Equal(e.Value, want) {
				name, first, _ := bytes.Cut(e.Value, []byte{0})
				return bad("it belongs to application %q with first block %s, not %q with first block %d", name, first, im.info.Name, im.info.FirstBlock)
			}
			im.identity = bytes.Clone(e.Value)
		case bytes.HasPrefix(e.Key, prefixDriver):
			if im.identity == nil {
				return bad("driver key %q before the identity", e.Key)
			}
			if im.driver == nil {
				return bad("driver key %q: a consensus engine's own records (a CometBFT node's nonces), which only that engine can check: restore it through the engine's state sync", e.Key[len(prefixDriver):])
			}
			if err := im.driver(e.Key, e.Value); err != nil {
				return err
			}
		default:
			return bad("key %q is not part of a snapshot", e.Key)
		}
		if err := im.w.Set(e.Key, e.Value); err != nil {
			return err
		}
		im.keys++
	}
	if len(state) > 0 {
		im.sem <- struct{}{}
		im.wg.Add(1)
		go func() {
			defer func() { <-im.sem; im.wg.Done() }()
			var h lthash.Hash
			for _, e := range state {
				h.Add(e.Key[len(prefixApp):], e.Value)
			}
			im.mu.Lock()
			im.lattice.Merge(&h)
			im.mu.Unlock()
		}()
	}
	return nil
}

func (im *Importer) record(e KV) error {
	h := int64(be64(e.Key[len(prefixBlock):]))
	if im.maxHeight > 0 && h > im.maxHeight {
		return bad("block record %d is above the trusted height %d", h, im.maxHeight)
	}
	want := im.info.FirstBlock + int64(len(im.hist))
	if h != want {
		return bad("block record %d where %d was due: the records must run from the first block without a gap", h, want)
	}
	rec, err := decodeBlockRecord(h, e.Value)
	if err != nil {
		return bad("%v", err)
	}
	// Tapes whose blocks carry no parent hash (a contract host's call
	// log) record a zero one: the second record says which kind of tape
	// it is, and every later one must be of the same kind.
	if len(im.hist) == 1 {
		im.unlinked = rec.Parent == (vchash.Hash{})
	}
	if len(im.hist) > 0 {
		switch {
		case im.unlinked && rec.Parent != (vchash.Hash{}):
			return bad("block %d has a parent hash, but the records before it have none", h)
		case !im.unlinked && rec.Parent != im.lastRec.Hash:
			return bad("block %d's parent %s is not block %d's hash %s", h, rec.Parent, h-1, im.lastRec.Hash)
		}
	}
	n := vchash.NumPrevBlocks(h, im.info.FirstBlock)
	prev := make([]vchash.ConsensusHash, n)
	for i := range prev {
		prev[i] = im.hist[h-(int64(1)<<uint(i+1)-1)-im.info.FirstBlock].ch
	}
	if ch := vchash.Consensus(rec.OpsHash, prev); ch != rec.Consensus {
		return bad("block %d's consensus hash %s is not the %s its ops hash and the earlier consensus hashes make", h, rec.Consensus, ch)
	}
	im.hist = append(im.hist, histEntry{hash: rec.Hash, ch: rec.Consensus})
	im.lastRec = rec
	return nil
}

// Trust is what an import is checked against: the height, its consensus
// hash, and (when known) its state commitment.
type Trust struct {
	Height    int64
	Consensus vchash.ConsensusHash
	State     lthash.Digest // zero: not given
}

// Finish checks the snapshot against trust and writes the tip and the
// state's lattice. It returns the record of the snapshot's block.
func (im *Importer) Finish(trust Trust) (BlockRecord, error) {
	im.wg.Wait()
	if im.identity == nil {
		return BlockRecord{}, bad("no identity record")
	}
	if len(im.hist) == 0 {
		return BlockRecord{}, bad("no block record")
	}
	rec := im.lastRec
	if rec.Height != trust.Height {
		return BlockRecord{}, bad("it ends at height %d, not the trusted %d", rec.Height, trust.Height)
	}
	if rec.Consensus != trust.Consensus {
		return BlockRecord{}, bad("block %d's consensus hash is %s, not the trusted %s", rec.Height, rec.Consensus, trust.Consensus)
	}
	got := im.lattice.Sum()
	if got != rec.State {
		return BlockRecord{}, bad("the state hashes to %s, but block %d's record says %s", got, rec.Height, rec.State)
	}
	if !trust.State.IsZero() && got != trust.State {
		return BlockRecord{}, bad("the state hashes to %s, not the trusted %s", got, trust.State)
	}
	if err := im.w.Set(keyTip, encodeTip(rec.Height, rec.Hash)); err != nil {
		return BlockRecord{}, err
	}
	if err := im.w.Set(keySnapshot, binary.BigEndian.AppendUint64(nil, uint64(rec.Height))); err != nil {
		return BlockRecord{}, err
	}
	d := im.lattice.Sum()
	if err := im.w.Set(keyLattice, append(im.lattice.AppendBinary(make([]byte, 0, latticeSz)), d[:]...)); err != nil {
		return BlockRecord{}, err
	}
	return rec, nil
}

// Keys is how many keys the importer took.
func (im *Importer) Keys() int64 { return im.keys }
