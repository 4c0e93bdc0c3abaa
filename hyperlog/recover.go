package hyperlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vchain-dev/vchain/internal/durable"
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
	// LostLength, when not 0, is the length of the newest validly signed
	// head a repair (Options.Repair) cut because the files no longer held
	// its entries.
	LostLength uint64 `json:"lostLength,omitempty"`
	// Backup is the directory the damaged files were copied to before a
	// repair cut signed entries.
	Backup string `json:"backup,omitempty"`
}

// DamagedError is what Open returns when the files hold a validly signed
// head whose entries they no longer hold intact: a file was truncated,
// emptied or altered after the append completed (a crash never does that).
// Cutting the log back would lose signed entries nobody can rebuild from
// what is left, so Open changes nothing; Options.Repair allows the cut, and
// restoring the directory from a copy of the log avoids it.
type DamagedError struct {
	// Dir is the log's directory; File the file found damaged in it.
	Dir, File string
	// Reason says what is wrong with File.
	Reason string
	// Intact is the length the files still hold intact; Signed the length
	// of the newest validly signed head.
	Intact, Signed uint64
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("hyperlog: %s: %s: the log has a signed head of length %d but its files hold only %d entries intact; refusing to cut signed entries",
		filepath.Join(e.Dir, e.File), e.Reason, e.Signed, e.Intact)
}

// Unwrap makes a DamagedError match ErrCorrupt.
func (e *DamagedError) Unwrap() error { return ErrCorrupt }

// String describes the recovery in one line.
func (r Recovery) String() string {
	if !r.Recovered {
		return fmt.Sprintf("clean at length %d (%d entries verified)", r.Length, r.Verified)
	}
	s := fmt.Sprintf("recovered to length %d: cut %d data, %d tree and %d heads bytes (%d head records), %d entries verified",
		r.Length, r.DataBytes, r.TreeBytes, r.HeadsBytes, r.DroppedHeads, r.Verified)
	if r.LostLength > 0 {
		s += fmt.Sprintf("; repaired: lost signed entries %d..%d, damaged files kept in %s", r.Length, r.LostLength, r.Backup)
	}
	return s
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
//
// A crash only ever leaves a torn tail: bytes and head records of an append
// that did not complete, never a complete, validly signed head whose entries
// are missing (entries and tree nodes are written before the head record).
// So when a validly signed head would be cut, the files were damaged after
// the fact (truncated, emptied, altered, or lost to a power cut without
// Sync), and the signed entries cannot be rebuilt from what is left: Open
// refuses with a *DamagedError and changes nothing, unless Options.Repair
// allows the cut, in which case the damaged files are first copied aside.
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
		return fmt.Errorf("%w: %s: no readable head record (%d bytes)", ErrCorrupt, filepath.Join(l.dir, headsFileName), headsSize)
	}

	from := topRec.synced
	if l.opts.VerifyAll {
		from = 0
	}
	var stop scanStop
	for {
		consistent, st, err := l.scanConsistent(from, dataSize, treeSize)
		if st.file != "" {
			stop = st
		}
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
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, l.dir, err)
			}
			return fmt.Errorf("%w: %s: no valid signed head matches the data (%s: %s)", ErrCorrupt, l.dir, stop.file, stop.reason)
		}
		from = 0
	}
	r := &l.recovery
	r.Recovered = r.DroppedHeads > 0 || r.DataBytes != 0 || r.TreeBytes != 0 || r.HeadsBytes != 0
	if !r.Recovered {
		return nil
	}
	if lost, ok := l.newestSignedBeyond(l.headsEnd/headRecordSize, nrec, r.Length); ok {
		if stop.file == "" {
			stop = scanStop{file: dataFileName, reason: "entries missing"}
		}
		derr := &DamagedError{Dir: l.dir, File: stop.file, Reason: stop.reason, Intact: r.Length, Signed: lost.length}
		if !l.opts.Repair {
			return derr
		}
		if !l.opts.ReadOnly {
			backup, err := l.backup()
			if err != nil {
				return fmt.Errorf("%w (copying the damaged files aside before the repair failed: %v)", derr, err)
			}
			r.Backup = backup
		}
		r.LostLength = lost.length
		l.opts.Logger.Warn("hyperlog: repair cuts signed entries the damaged files no longer hold",
			"dir", l.dir, "file", stop.file, "damage", stop.reason, "signed", lost.length, "kept", r.Length, "backup", r.Backup)
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

// newestSignedBeyond returns the newest head record among records
// [first, n) that is intact (its checksum holds), longer than length, and
// validly signed: a signed state that cutting at length would lose.
func (l *Log) newestSignedBeyond(first, n int64, length uint64) (headRecord, bool) {
	var buf [headRecordSize]byte
	for k := n - 1; k >= first; k-- {
		rec, err := l.readHeadRecord(k, buf[:])
		if err != nil || rec.length <= length {
			continue
		}
		if l.validRecord(rec) {
			return rec, true
		}
	}
	return headRecord{}, false
}

// backup copies the data, tree and heads files into a new directory
// damaged-N inside the log's directory, before a repair cuts them.
func (l *Log) backup() (string, error) {
	var dir string
	for i := 1; ; i++ {
		dir = filepath.Join(l.dir, fmt.Sprintf("damaged-%d", i))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	for _, c := range []struct {
		name string
		f    *os.File
	}{{dataFileName, l.data}, {treeFileName, l.tree}, {headsFileName, l.heads}} {
		out, err := os.OpenFile(filepath.Join(dir, c.name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(out, io.NewSectionReader(c.f, 0, 1<<62))
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	return dir, durable.SyncDir(dir)
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

// scanStop says where and why a scan stopped: the file and what is wrong.
// The zero value means the scan reached the end of the files.
type scanStop struct {
	file, reason string
}

// scanConsistent trusts the first from entries and returns the largest
// length whose entries (after from) have intact records and whose leaves and
// parents match the tree file, and what stopped the scan there.
func (l *Log) scanConsistent(from uint64, dataSize, treeSize int64) (uint64, scanStop, error) {
	roots, err := l.readRoots(from)
	if err != nil {
		return 0, scanStop{treeFileName, fmt.Sprintf("cannot give the roots of the durable length %d: %v", from, err)}, err
	}
	dataOff := int64(ByteLength(roots) + recordHeaderSize*from)
	treeOff := int64(nodeCount(from)) * nodeSlotSize
	if dataOff > dataSize {
		st := scanStop{dataFileName, fmt.Sprintf("is %d bytes, shorter than the %d bytes its %d durable entries need", dataSize, dataOff, from)}
		return 0, st, errors.New(st.file + " " + st.reason)
	}
	if treeOff > treeSize {
		st := scanStop{treeFileName, fmt.Sprintf("is %d bytes, shorter than the %d bytes its %d durable entries need", treeSize, treeOff, from)}
		return 0, st, errors.New(st.file + " " + st.reason)
	}
	dr := bufio.NewReaderSize(io.NewSectionReader(l.data, dataOff, dataSize-dataOff), int(min(1<<20, max(16, dataSize-dataOff))))
	tr := bufio.NewReaderSize(io.NewSectionReader(l.tree, treeOff, treeSize-treeOff), int(min(1<<18, max(16, treeSize-treeOff))))
	var hdr [recordHeaderSize]byte
	var slot [nodeSlotSize]byte
	var entry []byte
	var stop scanStop
	match := func(n Node) error {
		if _, err := io.ReadFull(tr, slot[:]); err != nil {
			stop = scanStop{treeFileName, fmt.Sprintf("ends before node %d", n.Index)}
			return errStop
		}
		if readSlot(slot[:], n.Index) != n {
			stop = scanStop{treeFileName, fmt.Sprintf("node %d does not match the entries", n.Index)}
			return errStop
		}
		return nil
	}
	n := from
	off := dataOff
	for {
		if _, err := io.ReadFull(dr, hdr[:]); err != nil {
			if off < dataSize {
				stop = scanStop{dataFileName, fmt.Sprintf("ends inside the header of entry %d at byte %d", n, off)}
			} else {
				stop = scanStop{dataFileName, fmt.Sprintf("ends after entry %d at byte %d", int64(n)-1, off)}
			}
			break
		}
		size := parseRecordHeader(hdr[:])
		if size > MaxEntrySize {
			stop = scanStop{dataFileName, fmt.Sprintf("entry %d at byte %d has an impossible size %d", n, off, size)}
			break
		}
		if uint64(cap(entry)) < size {
			entry = make([]byte, size)
		}
		entry = entry[:size]
		if _, err := io.ReadFull(dr, entry); err != nil {
			stop = scanStop{dataFileName, fmt.Sprintf("ends inside entry %d (byte %d)", n, off)}
			break
		}
		if !checkRecord(hdr[:], entry) {
			stop = scanStop{dataFileName, fmt.Sprintf("entry %d at byte %d fails its checksum", n, off)}
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
		off += int64(recordHeaderSize + size)
	}
	return n, stop, nil
}
