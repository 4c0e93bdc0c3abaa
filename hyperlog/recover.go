package hyperlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// Recovery reports what Open found beyond the newest consistent, validly
// signed state. When Recovered is true the files held a torn or damaged tail
// (a crash during an append, or corruption) that was cut away, or, for a
// read-only log, skipped.
type Recovery struct {
	// Recovered is true when anything was cut or skipped.
	Recovered bool `json:"recovered"`
	// Length is the length the log was recovered to.
	Length uint64 `json:"length"`
	// Verified is how many entries Open rehashed and checked against the
	// tree (those written since the last durable point, or all with
	// Options.VerifyAll).
	Verified uint64 `json:"verified"`
	// DroppedHeads counts head records discarded (torn, corrupt, or ahead
	// of the data).
	DroppedHeads int64 `json:"droppedHeads"`
	// DataBytes, TreeBytes and HeadsBytes are the bytes past the recovered
	// state in each file.
	DataBytes  int64 `json:"dataBytes"`
	TreeBytes  int64 `json:"treeBytes"`  // see DataBytes
	HeadsBytes int64 `json:"headsBytes"` // see DataBytes
}

// String describes the recovery in one line.
func (r Recovery) String() string {
	if !r.Recovered {
		return fmt.Sprintf("clean at length %d (%d entries verified)", r.Length, r.Verified)
	}
	return fmt.Sprintf("recovered to length %d: cut %d data, %d tree and %d heads bytes (%d head records), %d entries verified",
		r.Length, r.DataBytes, r.TreeBytes, r.HeadsBytes, r.DroppedHeads, r.Verified)
}

// recover finds the newest head record whose state the data and tree files
// hold intact, loads it, and (unless read-only) cuts everything after it.
//
// Everything up to the durable point recorded in the newest readable head
// record was fsynced before that record was written, so only what follows
// it is rehashed: entries are read in order, their checksums checked, and
// their leaves and the parents they complete compared with the tree file.
// The newest head record within that consistent prefix whose roots hash to
// its tree hash and whose signature verifies wins. If none does (the durable
// part itself is damaged) everything is rehashed from the start.
func (l *Log) recover() error {
	sizes := [3]int64{}
	for i, f := range []*os.File{l.data, l.tree, l.heads} {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		sizes[i] = st.Size()
	}
	dataSize, treeSize, headsSize := sizes[0], sizes[1], sizes[2]
	nrec := headsSize / headRecordSize
	var buf [headRecordSize]byte

	top := int64(-1)
	var topRec headRecord
	for k := nrec - 1; k >= 0; k-- {
		if rec, err := l.readHeadRecord(k, buf[:]); err == nil {
			top, topRec = k, rec
			break
		}
	}
	if top < 0 {
		return fmt.Errorf("%w: no readable head record in %s", ErrCorrupt, l.dir)
	}

	from := topRec.synced
	if l.opts.VerifyAll {
		from = 0
	}
	for {
		consistent, err := l.scanConsistent(from, dataSize, treeSize)
		if err == nil {
			k, rec, roots, ok := l.pickHead(top, from, consistent)
			if ok {
				l.load(rec, roots, k)
				l.recovery = Recovery{
					Length:       rec.length,
					Verified:     consistent - from,
					DroppedHeads: nrec - (k + 1),
					DataBytes:    dataSize - l.dataEnd,
					TreeBytes:    treeSize - l.treeEnd,
					HeadsBytes:   headsSize - l.headsEnd,
				}
				break
			}
		}
		if from == 0 {
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			return fmt.Errorf("%w: no valid signed head matches the data in %s", ErrCorrupt, l.dir)
		}
		from = 0
	}
	r := &l.recovery
	r.Recovered = r.DroppedHeads > 0 || r.DataBytes != 0 || r.TreeBytes != 0 || r.HeadsBytes != 0
	if !r.Recovered {
		return nil
	}
	l.opts.Logger.Warn("hyperlog: cut a torn or damaged tail", "dir", l.dir, "recovery", r.String())
	if l.opts.ReadOnly {
		return nil
	}
	for _, c := range []struct {
		f    *os.File
		size int64
	}{{l.data, l.dataEnd}, {l.tree, l.treeEnd}, {l.heads, l.headsEnd}} {
		if err := c.f.Truncate(c.size); err != nil {
			return err
		}
		if err := c.f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// load makes head record rec (number k) with roots the log's state.
func (l *Log) load(rec headRecord, roots []Node, k int64) {
	l.length = rec.length
	l.fork = rec.fork
	l.roots = roots
	l.byteLength = ByteLength(roots)
	l.treeHash = rec.treeHash
	l.rawSig = rec.sig
	l.synced = rec.synced
	l.dataEnd = int64(l.byteLength + recordHeaderSize*rec.length)
	l.treeEnd = int64(nodeCount(rec.length)) * nodeSlotSize
	l.headsEnd = (k + 1) * headRecordSize
}

// pickHead returns the newest head record at or below record top whose
// length lies in [from, consistent], whose roots hash to its tree hash and
// whose signature verifies.
func (l *Log) pickHead(top int64, from, consistent uint64) (int64, headRecord, []Node, bool) {
	var buf [headRecordSize]byte
	for k := top; k >= 0; k-- {
		rec, err := l.readHeadRecord(k, buf[:])
		if err != nil || rec.length > consistent {
			continue
		}
		if rec.length < from {
			break // records never shrink: all older ones are shorter still
		}
		roots, err := l.readRoots(rec.length)
		if err != nil || TreeHash(roots) != rec.treeHash {
			continue
		}
		if !l.validRecord(rec) {
			continue
		}
		return k, rec, roots, true
	}
	return 0, headRecord{}, nil, false
}

// validRecord checks a head record's signature. The empty log needs none.
func (l *Log) validRecord(rec headRecord) bool {
	if rec.length == 0 && rec.treeHash == TreeHash(nil) {
		return true
	}
	return VerifyHead(l.key, l.id.headWithRaw(rec.length, rec.fork, rec.treeHash, rec.sig[:])) == nil
}

// readRoots reads the full roots of length from the tree file, without
// consulting the in-memory state (which recovery has not loaded yet).
func (l *Log) readRoots(length uint64) ([]Node, error) {
	roots := []Node{}
	var slot [nodeSlotSize]byte
	for _, r := range FullRoots(length) {
		if _, err := l.tree.ReadAt(slot[:], int64(slotOf(r))*nodeSlotSize); err != nil {
			return nil, fmt.Errorf("read root %d: %w", r, err)
		}
		roots = append(roots, readSlot(slot[:], r))
	}
	return roots, nil
}

// errStop ends a scan at the first inconsistency.
var errStop = errors.New("stop")

// scanConsistent trusts the first from entries and returns the largest
// length whose entries (after from) have intact records and whose leaves and
// parents match the tree file.
func (l *Log) scanConsistent(from uint64, dataSize, treeSize int64) (uint64, error) {
	roots, err := l.readRoots(from)
	if err != nil {
		return 0, err
	}
	dataOff := int64(ByteLength(roots) + recordHeaderSize*from)
	treeOff := int64(nodeCount(from)) * nodeSlotSize
	if dataOff > dataSize || treeOff > treeSize {
		return 0, fmt.Errorf("files shorter than the durable length %d", from)
	}
	dr := bufio.NewReaderSize(io.NewSectionReader(l.data, dataOff, dataSize-dataOff), 1<<20)
	tr := bufio.NewReaderSize(io.NewSectionReader(l.tree, treeOff, treeSize-treeOff), 1<<18)
	var hdr [recordHeaderSize]byte
	var slot [nodeSlotSize]byte
	var entry []byte
	match := func(n Node) error {
		if _, err := io.ReadFull(tr, slot[:]); err != nil {
			return errStop
		}
		if readSlot(slot[:], n.Index) != n {
			return errStop
		}
		return nil
	}
	n := from
	for {
		if _, err := io.ReadFull(dr, hdr[:]); err != nil {
			break
		}
		size := parseRecordHeader(hdr[:])
		if size > MaxEntrySize {
			break
		}
		if uint64(cap(entry)) < size {
			entry = make([]byte, size)
		}
		entry = entry[:size]
		if _, err := io.ReadFull(dr, entry); err != nil || !checkRecord(hdr[:], entry) {
			break
		}
		leaf := Node{Index: 2 * n, Size: size, Hash: l.leaf.hash(entry)}
		if match(leaf) != nil {
			break
		}
		roots = append(roots, leaf)
		ok := true
		for ok && len(roots) > 1 {
			a, b := roots[len(roots)-2], roots[len(roots)-1]
			if Sibling(b.Index) != a.Index {
				break
			}
			p := ParentNode(a, b)
			ok = match(p) == nil
			roots = append(roots[:len(roots)-2], p)
		}
		if !ok {
			break
		}
		n++
	}
	return n, nil
}
