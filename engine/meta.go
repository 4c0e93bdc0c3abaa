package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/vchash"
)

// Key layout. Everything the engine keeps lives under "e/", the application's
// keys under "a/", so the two never collide.
var (
	keyTip      = []byte("e/tip")
	keyIdentity = []byte("e/identity")
	prefixBlock = []byte("e/b/")
	prefixUndo  = []byte("e/u/")
	prefixApp   = []byte("a/")
	keyLattice  = []byte("e/lt")   // the state's LtHash lanes, then their digest
	keySnapshot = []byte("e/snap") // the height a snapshot import started the store at
	latticeSz   = lthash.Size + 32
	// A block record without the state commitment (written before there
	// was one), and with it.
	blockRecordV1 = 32 + 32 + 32 + 16 + 8 + 4 + 4
	blockRecordSz = blockRecordV1 + 32
)

func heightKey(prefix []byte, h int64) []byte {
	k := make([]byte, len(prefix)+8)
	copy(k, prefix)
	binary.BigEndian.PutUint64(k[len(prefix):], uint64(h))
	return k
}

// BlockRecord is what the engine stores for each committed block.
type BlockRecord struct {
	Height    int64
	Hash      vchash.Hash
	Parent    vchash.Hash
	OpsHash   vchash.Hash
	Consensus vchash.ConsensusHash
	Time      int64
	// Accepted is how many ops the block committed; Candidates how many
	// transactions carried the application's magic and a known opcode.
	Accepted, Candidates uint32
	// State is the commitment to the application's state after the
	// block: the digest of an LtHash over every key and value (package
	// lthash). Zero in records written before the engine kept one.
	State lthash.Digest
}

func (r *BlockRecord) encode() []byte {
	b := make([]byte, 0, blockRecordSz)
	b = append(b, r.Hash[:]...)
	b = append(b, r.Parent[:]...)
	b = append(b, r.OpsHash[:]...)
	b = append(b, r.Consensus[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = binary.BigEndian.AppendUint32(b, r.Accepted)
	b = binary.BigEndian.AppendUint32(b, r.Candidates)
	b = append(b, r.State[:]...)
	return b
}

func decodeBlockRecord(h int64, b []byte) (BlockRecord, error) {
	var r BlockRecord
	if len(b) != blockRecordSz && len(b) != blockRecordV1 {
		return r, fmt.Errorf("block record %d: %d bytes, want %d", h, len(b), blockRecordSz)
	}
	r.Height = h
	copy(r.Hash[:], b[0:32])
	copy(r.Parent[:], b[32:64])
	copy(r.OpsHash[:], b[64:96])
	copy(r.Consensus[:], b[96:112])
	r.Time = int64(binary.BigEndian.Uint64(b[112:120]))
	r.Accepted = binary.BigEndian.Uint32(b[120:124])
	r.Candidates = binary.BigEndian.Uint32(b[124:128])
	copy(r.State[:], b[128:])
	return r, nil
}

func encodeTip(h int64, hash vchash.Hash) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(h))
	return append(b, hash[:]...)
}

func decodeTip(b []byte) (int64, vchash.Hash, error) {
	var hash vchash.Hash
	if len(b) != 40 {
		return 0, hash, errors.New("tip record: bad length")
	}
	copy(hash[:], b[8:])
	return int64(binary.BigEndian.Uint64(b)), hash, nil
}

// undoEntry restores one application key to what it held before a block.
type undoEntry struct {
	key     []byte
	existed bool
	value   []byte
}

func encodeUndo(entries []undoEntry) []byte {
	n := binary.MaxVarintLen64
	for _, e := range entries {
		n += 2*binary.MaxVarintLen64 + 1 + len(e.key) + len(e.value)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e.key)))
		b = append(b, e.key...)
		if e.existed {
			b = append(b, 1)
			b = binary.AppendUvarint(b, uint64(len(e.value)))
			b = append(b, e.value...)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

var errCorruptUndo = errors.New("corrupt undo record")

func decodeUndo(b []byte) ([]undoEntry, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errCorruptUndo
	}
	b = b[k:]
	out := make([]undoEntry, 0, n)
	readBytes := func() ([]byte, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(l)]
		b = b[k+int(l):]
		return v, true
	}
	for i := uint64(0); i < n; i++ {
		key, ok := readBytes()
		if !ok || len(b) == 0 {
			return nil, errCorruptUndo
		}
		e := undoEntry{key: key, existed: b[0] == 1}
		b = b[1:]
		if e.existed {
			if e.value, ok = readBytes(); !ok {
				return nil, errCorruptUndo
			}
		}
		out = append(out, e)
	}
	if len(b) != 0 {
		return nil, errCorruptUndo
	}
	return out, nil
}

// ReadTip returns the record of the newest committed block in a store an
// engine wrote, without opening an engine; ok is false when no block is
// committed. Read it from a store.Snapshot to see the tip and the
// application state of the same instant while an engine runs.
func ReadTip(r kv.Reader) (rec BlockRecord, ok bool, err error) {
	raw, err := r.Get(keyTip)
	if errors.Is(err, kv.ErrNotFound) {
		return BlockRecord{}, false, nil
	}
	if err != nil {
		return BlockRecord{}, false, err
	}
	h, _, err := decodeTip(raw)
	if err != nil {
		return BlockRecord{}, false, err
	}
	v, err := r.Get(heightKey(prefixBlock, h))
	if err != nil {
		return BlockRecord{}, false, fmt.Errorf("block %d: %w", h, err)
	}
	rec, err = decodeBlockRecord(h, v)
	return rec, err == nil, err
}

// ReadLattice reads the LtHash of the application's state at the tip from
// a store an engine wrote; ok is false when the engine has not kept one.
func ReadLattice(r kv.Reader) (h lthash.Hash, ok bool, err error) {
	raw, err := r.Get(keyLattice)
	if errors.Is(err, kv.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	if len(raw) != latticeSz {
		return h, false, fmt.Errorf("engine: the state's lattice is %d bytes, want %d", len(raw), latticeSz)
	}
	if err := h.UnmarshalBinary(raw[:lthash.Size]); err != nil {
		return h, false, err
	}
	return h, true, nil
}

// HashState computes the LtHash of the application's state from scratch,
// over every key and value under r's application prefix.
func HashState(r kv.Reader) (lthash.Hash, error) {
	var h lthash.Hash
	err := r.Iterate(prefixApp, func(k, v []byte) error {
		h.Add(k[len(prefixApp):], v)
		return nil
	})
	return h, err
}
