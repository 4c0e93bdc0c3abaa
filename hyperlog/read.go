package hyperlog

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
)

// Get returns entry index. The record's checksum is checked.
func (l *Log) Get(index uint64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return nil, err
	}
	if index >= l.length {
		return nil, fmt.Errorf("%w: entry %d, length %d", ErrOutOfRange, index, l.length)
	}
	return l.getLocked(index)
}

func (l *Log) readableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return nil
}

func (l *Log) getLocked(index uint64) ([]byte, error) {
	off, err := l.dataOffset(index)
	if err != nil {
		return nil, err
	}
	leaf, err := l.nodeLocked(2 * index)
	if err != nil {
		return nil, err
	}
	if leaf.Size > MaxEntrySize {
		return nil, fmt.Errorf("%w: %s: entry %d has size %d", ErrCorrupt, filepath.Join(l.dir, treeFileName), index, leaf.Size)
	}
	buf := make([]byte, recordHeaderSize+leaf.Size)
	if _, err := l.data.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("hyperlog: %s: read entry %d: %w", filepath.Join(l.dir, dataFileName), index, err)
	}
	if !checkRecord(buf, buf[recordHeaderSize:]) {
		return nil, fmt.Errorf("%w: %s: entry %d at byte %d fails its checksum", ErrCorrupt, filepath.Join(l.dir, dataFileName), index, off)
	}
	return buf[recordHeaderSize:], nil
}

// dataOffset returns where entry index's record starts in the data file:
// the size of all earlier entries (the sizes of the full roots of index)
// plus their record headers.
func (l *Log) dataOffset(index uint64) (int64, error) {
	var size uint64
	if index == l.length {
		size = l.byteLength
	} else {
		var buf [64]uint64
		for _, r := range appendFullRoots(buf[:0], index) {
			n, err := l.nodeLocked(r)
			if err != nil {
				return 0, err
			}
			size += n.Size
		}
	}
	return int64(size + recordHeaderSize*index), nil
}

// Node returns tree node index; it must be complete at the current length.
func (l *Log) Node(index uint64) (Node, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return Node{}, err
	}
	return l.nodeLocked(index)
}

func (l *Log) nodeLocked(index uint64) (Node, error) {
	if RightSpan(index) >= 2*l.length || RightSpan(index) < index {
		return Node{}, fmt.Errorf("%w: node %d, length %d", ErrOutOfRange, index, l.length)
	}
	var slot [nodeSlotSize]byte
	if _, err := l.tree.ReadAt(slot[:], int64(slotOf(index))*nodeSlotSize); err != nil {
		return Node{}, fmt.Errorf("hyperlog: %s: read node %d: %w", filepath.Join(l.dir, treeFileName), index, err)
	}
	return readSlot(slot[:], index), nil
}

// node implements nodeSource for proof generation (the lock is held).
func (l *Log) node(index uint64) (Node, error) { return l.nodeLocked(index) }

// ReadRange calls fn with each entry from index from up to (not including)
// to, in order, reading the data file sequentially. The entry slice is only
// valid during the call. It stops at the first error fn returns.
func (l *Log) ReadRange(from, to uint64, fn func(index uint64, entry []byte) error) error {
	l.mu.RLock()
	if err := l.readableLocked(); err != nil {
		l.mu.RUnlock()
		return err
	}
	if from > to || to > l.length {
		l.mu.RUnlock()
		return fmt.Errorf("%w: range %d..%d, length %d", ErrOutOfRange, from, to, l.length)
	}
	off, err := l.dataOffset(from)
	end := l.dataEnd
	data := l.data
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	// Entries below the length never change, so reading continues unlocked.
	r := bufio.NewReaderSize(io.NewSectionReader(data, off, end-off), 256<<10)
	var hdr [recordHeaderSize]byte
	var buf []byte
	for i := from; i < to; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("hyperlog: %s: read entry %d: %w", filepath.Join(l.dir, dataFileName), i, err)
		}
		n := parseRecordHeader(hdr[:])
		if n > MaxEntrySize {
			return fmt.Errorf("%w: %s: entry %d has size %d", ErrCorrupt, filepath.Join(l.dir, dataFileName), i, n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("hyperlog: %s: read entry %d: %w", filepath.Join(l.dir, dataFileName), i, err)
		}
		if !checkRecord(hdr[:], buf) {
			return fmt.Errorf("%w: %s: entry %d fails its checksum", ErrCorrupt, filepath.Join(l.dir, dataFileName), i)
		}
		if err := fn(i, buf); err != nil {
			return err
		}
	}
	return nil
}

// HeadAt returns the signed head the log had at length (with its roots). A
// head exists at the length after each Append (and at 0); other lengths give
// ErrOutOfRange. Heads of earlier lengths stay available, so an auditor can
// ask for proofs against any head it saw.
func (l *Log) HeadAt(length uint64) (SignedHead, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return SignedHead{}, err
	}
	return l.headAtLocked(length)
}

func (l *Log) headAtLocked(length uint64) (SignedHead, error) {
	if length == l.length {
		return l.headLocked(), nil
	}
	rec, err := l.findHeadRecord(length)
	if err != nil {
		return SignedHead{}, err
	}
	roots, err := l.rootsAtLocked(length)
	if err != nil {
		return SignedHead{}, err
	}
	h := l.id.headWithRaw(rec.length, rec.fork, rec.treeHash, rec.sig[:])
	if length == 0 && rec.sig == ([SignatureSize]byte{}) {
		h.Signature = nil
	}
	h.Roots = roots
	return h, nil
}

// findHeadRecord binary-searches the heads file (lengths never decrease)
// for a record of exactly length.
func (l *Log) findHeadRecord(length uint64) (headRecord, error) {
	if length > l.length {
		return headRecord{}, fmt.Errorf("%w: no head at length %d (length %d)", ErrOutOfRange, length, l.length)
	}
	n := l.headsEnd / headRecordSize
	lo, hi := int64(0), n // find the first record with record.length >= length
	var buf [headRecordSize]byte
	for lo < hi {
		mid := (lo + hi) / 2
		rec, err := l.readHeadRecord(mid, buf[:])
		if err != nil {
			return headRecord{}, err
		}
		if rec.length < length {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < n {
		rec, err := l.readHeadRecord(lo, buf[:])
		if err != nil {
			return headRecord{}, err
		}
		if rec.length == length {
			return rec, nil
		}
	}
	return headRecord{}, fmt.Errorf("%w: no signed head at length %d", ErrOutOfRange, length)
}

func (l *Log) readHeadRecord(k int64, buf []byte) (headRecord, error) {
	if _, err := l.heads.ReadAt(buf[:headRecordSize], k*headRecordSize); err != nil {
		return headRecord{}, err
	}
	return decodeHeadRecord(buf[:headRecordSize])
}

// rootsAtLocked reads the full roots of length (≤ the current length).
func (l *Log) rootsAtLocked(length uint64) ([]Node, error) {
	if length == l.length {
		return append([]Node{}, l.roots...), nil
	}
	roots := []Node{}
	for _, r := range FullRoots(length) {
		n, err := l.nodeLocked(r)
		if err != nil {
			return nil, err
		}
		roots = append(roots, n)
	}
	return roots, nil
}

// ProveInclusion returns the proof that entry index is part of the log at
// length (a signed head's length, at most the current one): the entry, the
// sibling path to the subtree root covering it, and the other roots of that
// length, with the head's signature. VerifyInclusion checks it against the
// head. It is exactly what hypercore sends for a request of block index
// (nodes 0) with an upgrade from 0 to length, from a core of that length.
func (l *Log) ProveInclusion(index, length uint64) (*Proof, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return nil, err
	}
	if length > l.length || index >= length {
		return nil, fmt.Errorf("%w: entry %d at length %d (length %d)", ErrOutOfRange, index, length, l.length)
	}
	var sig []byte
	if h, err := l.headAtLocked(length); err == nil {
		sig = h.Signature
	}
	return generateProof(l, length, l.fork, ProofRequest{
		Block:   &BlockRequest{Index: index},
		Upgrade: &UpgradeRequest{Start: 0, Length: length},
	}, sig, l.getLocked)
}

// ProveExtension returns the proof that the log at length to extends the
// log at length from (from ≤ to ≤ Length()): the roots at from and the
// upgrade nodes from there to to, with the head signature at to when the
// log signed one there. VerifyExtension checks it.
func (l *Log) ProveExtension(from, to uint64) (*ExtensionProof, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return nil, err
	}
	if from > to || to > l.length {
		return nil, fmt.Errorf("%w: extension %d..%d (length %d)", ErrOutOfRange, from, to, l.length)
	}
	roots, err := l.rootsAtLocked(from)
	if err != nil {
		return nil, err
	}
	e := &ExtensionProof{OldRoots: roots}
	if from == to {
		return e, nil
	}
	var sig []byte
	if h, err := l.headAtLocked(to); err == nil {
		sig = h.Signature
	}
	e.Proof, err = generateProof(l, to, l.fork, ProofRequest{Upgrade: &UpgradeRequest{Start: from, Length: to - from}}, sig, nil)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Proof answers a hypercore-style proof request against the current head,
// as a hypercore core would: an upgrade carries additional nodes up to the
// current length and the current head's signature.
func (l *Log) Proof(req ProofRequest) (*Proof, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.readableLocked(); err != nil {
		return nil, err
	}
	h := l.headLocked()
	p, err := generateProof(l, l.length, l.fork, req, h.Signature, l.getLocked)
	if err != nil {
		return nil, err
	}
	if req.Manifest && l.id.Mode == ModeManifest {
		m := l.id.Manifest()
		p.Manifest = &m
	}
	return p, nil
}
