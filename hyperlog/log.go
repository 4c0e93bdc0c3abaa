package hyperlog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Options tune Create, CreateReplica and Open.
type Options struct {
	// Mode is the signing mode of a new log (Create only; Open reads it
	// from the log). The zero value is ModeManifest, hypercore 11's default.
	Mode Mode
	// PrivateKey opens an existing log as its writer (Open only). It must
	// belong to the log's public key.
	PrivateKey ed25519.PrivateKey
	// ReadOnly opens without writing anything: no lock, no repair of a torn
	// tail (it is only skipped in memory), and Append fails.
	ReadOnly bool
	// Sync makes every Append fsync before it returns, so an acknowledged
	// append survives power loss. Without it an acknowledged append is in
	// the operating system and survives the process being killed.
	Sync bool
	// CheckpointBytes bounds the work Open does after a crash when Sync is
	// off: once this many bytes were appended since the last fsync, the next
	// Append fsyncs and records the durable point. 0 means 64 MiB; a
	// negative value never checkpoints (Close and Sync still do).
	CheckpointBytes int64
	// VerifyAll makes Open rehash every entry and tree node instead of only
	// those written since the last durable point.
	VerifyAll bool
	// Repair lets Open cut a log whose files were damaged after the fact
	// back to the newest state they hold intact, losing the signed entries
	// after it (the damaged files are first copied to a damaged-N directory
	// inside the log's). Without it Open refuses such a log with a
	// *DamagedError and changes nothing; a torn tail left by a crash is
	// cut either way.
	Repair bool
	// Logger receives a warning when Open cuts a damaged or torn tail. Nil
	// means slog.Default().
	Logger *slog.Logger
}

const defaultCheckpointBytes = 64 << 20

// Errors returned by a Log.
var (
	// ErrExists means Create found a log already in the directory.
	ErrExists = errors.New("hyperlog: a log already exists in directory")
	// ErrReadOnly means the log was opened without the means to append.
	ErrReadOnly = errors.New("hyperlog: log is read-only")
	// ErrClosed means the log was closed.
	ErrClosed = errors.New("hyperlog: log is closed")
	// ErrLocked means another writer holds the log.
	ErrLocked = errors.New("hyperlog: log is locked by another writer")
	// ErrWrongKey means the private key does not belong to the log.
	ErrWrongKey = errors.New("hyperlog: private key does not match the log")
	// ErrOutOfRange means an index or length beyond the log.
	ErrOutOfRange = errors.New("hyperlog: out of range")
	// ErrCorrupt means the files hold no state that a valid signed head
	// covers.
	ErrCorrupt = errors.New("hyperlog: log is corrupt")
)

// Log is a single-writer, signed, append-only Merkle log stored in a
// directory. Each Append adds a batch of entries and one new signed head.
// All methods are safe for concurrent use; appends are serialized.
type Log struct {
	mu   sync.RWMutex
	dir  string
	opts Options

	id       Identity
	key      Hash
	manifest []byte // encoded manifest, nil in compat mode
	priv     ed25519.PrivateKey

	data, tree, heads, lock *os.File

	// State as of the last signed head.
	length     uint64
	byteLength uint64
	fork       uint64
	roots      []Node
	treeHash   Hash
	rawSig     [SignatureSize]byte
	dataEnd    int64 // size of the data file holding exactly length entries
	treeEnd    int64
	headsEnd   int64
	synced     uint64 // length known durable
	unsynced   int64  // bytes written since the last fsync

	// Scratch, reused by every Append.
	newRoots []Node
	dataBuf  []byte
	treeBuf  []byte
	headBuf  [headRecordSize]byte
	signBuf  []byte
	leaf     *leafHasher

	group    groupCommit
	recovery Recovery
	err      error // a failed write that could not be undone
	closed   bool
}

// Create makes a new log in dir (created if needed) signed by priv, and
// opens it for appending. It fails with ErrExists if dir already holds a log.
func Create(dir string, priv ed25519.PrivateKey, opts Options) (*Log, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("hyperlog: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	opts.PrivateKey = priv
	opts.ReadOnly = false
	return create(dir, NewIdentity(opts.Mode, priv.Public().(ed25519.PublicKey)), opts)
}

// CreateReplica makes a new, empty log in dir for id without its private
// key. It grows only through AppendSigned, with heads signed by the writer.
func CreateReplica(dir string, id Identity, opts Options) (*Log, error) {
	if id.Mode > ModeCompat {
		return nil, fmt.Errorf("hyperlog: unknown mode %d", id.Mode)
	}
	opts.PrivateKey = nil
	opts.ReadOnly = false
	return create(dir, id, opts)
}

func create(dir string, id Identity, opts Options) (*Log, error) {
	if err := CheckPublicKey(id.PublicKey[:]); err != nil {
		return nil, fmt.Errorf("hyperlog: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, identityFileName)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := newLog(dir, id, opts)
	ok := false
	defer func() {
		if !ok {
			l.closeFiles()
		}
	}()
	if err := l.openFiles(true); err != nil {
		return nil, err
	}
	// The empty log's head: signed by a writer, unsigned in a replica.
	rec := headRecord{treeHash: TreeHash(nil)}
	if l.priv != nil {
		copy(rec.sig[:], ed25519.Sign(l.priv, l.id.Signable(rec.treeHash, 0, 0)))
	}
	rec.put(l.headBuf[:])
	if _, err := l.heads.WriteAt(l.headBuf[:], 0); err != nil {
		return nil, err
	}
	for _, f := range []*os.File{l.data, l.tree, l.heads} {
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	// identity.json appears last: a directory without it holds no log.
	if err := writeIdentity(dir, id); err != nil {
		return nil, err
	}
	l.treeHash = rec.treeHash
	l.rawSig = rec.sig
	l.headsEnd = headRecordSize
	ok = true
	return l, nil
}

// Open opens the log in dir. With opts.PrivateKey it is the writer; without,
// it is a replica (AppendSigned only) or, with opts.ReadOnly, a reader. A
// torn or damaged tail left by a crash is cut back to the newest state a
// valid signed head covers; Recovery reports what was cut.
func Open(dir string, opts Options) (*Log, error) {
	id, err := readIdentity(dir)
	if err != nil {
		return nil, err
	}
	if opts.PrivateKey != nil {
		if len(opts.PrivateKey) != ed25519.PrivateKeySize ||
			!bytes.Equal(opts.PrivateKey.Public().(ed25519.PublicKey), id.PublicKey[:]) {
			return nil, ErrWrongKey
		}
		opts.ReadOnly = false
	}
	l := newLog(dir, id, opts)
	if err := l.openFiles(false); err != nil {
		l.closeFiles()
		return nil, err
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

func newLog(dir string, id Identity, opts Options) *Log {
	if opts.CheckpointBytes == 0 {
		opts.CheckpointBytes = defaultCheckpointBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{dir: dir, opts: opts, id: id, key: id.Key(), manifest: id.encodedManifest(), leaf: newLeafHasher()}
	if opts.PrivateKey != nil {
		l.priv = append(ed25519.PrivateKey(nil), opts.PrivateKey...)
	}
	l.opts.PrivateKey = nil // keep one copy of the secret
	l.treeHash = TreeHash(nil)
	return l
}

func (l *Log) openFiles(create bool) error {
	flag := os.O_RDWR
	if l.opts.ReadOnly {
		flag = os.O_RDONLY
	}
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	if !l.opts.ReadOnly {
		f, err := os.OpenFile(filepath.Join(l.dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		l.lock = f
		if err := lockExclusive(f); err != nil {
			return err
		}
	}
	var err error
	open := func(name string) *os.File {
		if err != nil {
			return nil
		}
		var f *os.File
		f, err = os.OpenFile(filepath.Join(l.dir, name), flag, 0o644)
		return f
	}
	l.data = open(dataFileName)
	l.tree = open(treeFileName)
	l.heads = open(headsFileName)
	return err
}

func (l *Log) closeFiles() error {
	var first error
	for _, f := range []*os.File{l.data, l.tree, l.heads, l.lock} {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	l.data, l.tree, l.heads, l.lock = nil, nil, nil, nil
	return first
}

// Close makes everything durable (as Sync does) and closes the files.
// Closing twice is a no-op.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if !l.opts.ReadOnly && l.err == nil {
		err = l.syncLocked()
	}
	l.closed = true
	if cerr := l.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

// Sync fsyncs everything appended so far and records that point, so a later
// Open after a crash has nothing before it to re-verify.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if l.opts.ReadOnly {
		return nil
	}
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	if l.synced == l.length && l.unsynced == 0 {
		return nil
	}
	if err := l.syncDataAndTree(); err != nil {
		return l.fail(err)
	}
	if l.synced != l.length {
		// Record the durable point with a copy of the current head.
		rec := headRecord{length: l.length, fork: l.fork, synced: l.length, treeHash: l.treeHash, sig: l.rawSig}
		rec.put(l.headBuf[:])
		if _, err := l.heads.WriteAt(l.headBuf[:], l.headsEnd); err != nil {
			return l.fail(err)
		}
		l.headsEnd += headRecordSize
	}
	if err := datasync(l.heads); err != nil {
		return l.fail(err)
	}
	l.synced = l.length
	l.unsynced = 0
	return nil
}

// fail records an I/O error that leaves the files in an unknown state:
// the log refuses further writes until reopened (Open repairs the tail).
func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("hyperlog: write failed, reopen the log: %w", err)
	}
	return l.err
}

func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// Append adds entries as one batch and signs one new head over the result;
// it returns the new length. Entry i of the call gets index
// newLength-len(entries)+i. When it returns the batch is in the operating
// system (and on disk with Options.Sync). An empty call changes nothing. If
// a write or fsync fails, the batch is not added and the log refuses further
// writes until it is reopened.
// Callers with many small concurrent appends should batch them, for example
// with AppendShared, since each call costs one signature.
func (l *Log) Append(entries ...[]byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(entries)
}

func (l *Log) appendLocked(entries [][]byte) (uint64, error) {
	if err := l.usableLocked(); err != nil {
		return l.length, err
	}
	if l.priv == nil {
		return l.length, ErrReadOnly
	}
	if len(entries) == 0 {
		return l.length, nil
	}
	if err := checkEntries(entries); err != nil {
		return l.length, err
	}
	treeHash := l.stage(entries)
	newLen := l.length + uint64(len(entries))
	l.signBuf = appendSignable(l.signBuf[:0], l.id.Mode, l.key, treeHash, newLen, l.fork)
	var sig [SignatureSize]byte
	copy(sig[:], ed25519.Sign(l.priv, l.signBuf))
	return l.commit(newLen, treeHash, sig)
}

// AppendSigned adds entries to a replica together with the writer's signed
// head covering them: the head must be exactly Length()+len(entries) long,
// verify under the log's key, and match the entries' tree hash; otherwise
// nothing is written.
func (l *Log) AppendSigned(head SignedHead, entries ...[]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if head.Length != l.length+uint64(len(entries)) {
		return fmt.Errorf("%w: head length %d, log has %d and %d new entries", ErrInvalidProof, head.Length, l.length, len(entries))
	}
	if head.Fork != l.fork {
		return fmt.Errorf("%w: head fork %d, log fork %d", ErrInvalidProof, head.Fork, l.fork)
	}
	if err := checkEntries(entries); err != nil {
		return err
	}
	if head.Mode() != l.id.Mode || (l.id.Mode == ModeManifest && !bytes.Equal(head.Manifest, l.manifest)) {
		return fmt.Errorf("%w: head is not in the log's mode or manifest", ErrBadSignature)
	}
	if err := VerifyHead(l.key, head); err != nil {
		return err
	}
	raw, err := head.RawSignature()
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		if head.TreeHash != l.treeHash {
			return fmt.Errorf("%w: head differs from the log at the same length", ErrInvalidProof)
		}
		return nil
	}
	if l.stage(entries) != head.TreeHash {
		return fmt.Errorf("%w: entries do not hash to the head's tree hash", ErrInvalidProof)
	}
	var sig [SignatureSize]byte
	copy(sig[:], raw)
	_, err = l.commit(head.Length, head.TreeHash, sig)
	return err
}

func checkEntries(entries [][]byte) error {
	for _, e := range entries {
		if len(e) > MaxEntrySize {
			return fmt.Errorf("hyperlog: entry of %d bytes exceeds MaxEntrySize", len(e))
		}
	}
	return nil
}

// stage frames entries into dataBuf, computes their tree nodes into treeBuf
// (in creation order) and the new roots into newRoots, and returns the new
// tree hash. It changes no committed state.
func (l *Log) stage(entries [][]byte) Hash {
	l.dataBuf = l.dataBuf[:0]
	l.treeBuf = l.treeBuf[:0]
	roots := append(l.newRoots[:0], l.roots...)
	idx := l.length
	for _, e := range entries {
		roots = l.stageEntry(e, idx, roots)
		idx++
	}
	l.newRoots = roots
	return TreeHash(roots)
}

// commit writes the staged batch and its head record, then makes them the
// log's state. On a write error it cuts the files back to the previous state.
func (l *Log) commit(newLen uint64, treeHash Hash, sig [SignatureSize]byte) (uint64, error) {
	dataOff, treeOff, headsOff := l.dataEnd, l.treeEnd, l.headsEnd
	rec := headRecord{length: newLen, fork: l.fork, synced: l.synced, treeHash: treeHash, sig: sig}
	err := func() error {
		if _, err := l.data.WriteAt(l.dataBuf, dataOff); err != nil {
			return err
		}
		if _, err := l.tree.WriteAt(l.treeBuf, treeOff); err != nil {
			return err
		}
		if l.opts.Sync {
			if err := l.syncDataAndTree(); err != nil {
				return err
			}
			rec.synced = newLen
		}
		rec.put(l.headBuf[:])
		if _, err := l.heads.WriteAt(l.headBuf[:], headsOff); err != nil {
			return err
		}
		if l.opts.Sync {
			return datasync(l.heads)
		}
		return nil
	}()
	if err != nil {
		// Cut back what was written (best effort), then refuse further
		// writes: after a failed write or fsync the file contents are
		// uncertain, and reopening runs recovery.
		_ = errors.Join(l.data.Truncate(dataOff), l.tree.Truncate(treeOff), l.heads.Truncate(headsOff))
		return l.length, l.fail(err)
	}
	written := int64(len(l.dataBuf) + len(l.treeBuf) + headRecordSize)
	l.dataEnd += int64(len(l.dataBuf))
	l.treeEnd += int64(len(l.treeBuf))
	l.headsEnd += headRecordSize
	l.byteLength = ByteLength(l.newRoots)
	l.roots, l.newRoots = l.newRoots, l.roots
	l.length = newLen
	l.treeHash = treeHash
	l.rawSig = sig
	if l.opts.Sync {
		l.synced = newLen
	} else {
		l.unsynced += written
		if l.opts.CheckpointBytes > 0 && l.unsynced >= l.opts.CheckpointBytes {
			if err := l.syncLocked(); err != nil {
				return newLen, err
			}
		}
	}
	return newLen, nil
}

// syncDataAndTree fsyncs the data and tree files concurrently: they are
// independent, and both must be durable before a head record covers them.
func (l *Log) syncDataAndTree() error {
	errc := make(chan error, 1)
	go func() { errc <- datasync(l.tree) }()
	err := datasync(l.data)
	return errors.Join(err, <-errc)
}

// Length returns the number of entries.
func (l *Log) Length() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.length
}

// ByteLength returns the total size of all entries.
func (l *Log) ByteLength() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.byteLength
}

// Head returns the current signed head, with its roots.
func (l *Log) Head() SignedHead {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.headLocked()
}

func (l *Log) headLocked() SignedHead {
	h := l.id.headWithRaw(l.length, l.fork, l.treeHash, l.rawSig[:])
	if l.length == 0 && l.rawSig == ([SignatureSize]byte{}) {
		h.Signature = nil // a replica's empty log is unsigned
	}
	h.Roots = append([]Node{}, l.roots...)
	return h
}

// Roots returns the full roots of the current head.
func (l *Log) Roots() []Node {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]Node{}, l.roots...)
}

// Identity returns the log's mode and public key.
func (l *Log) Identity() Identity { return l.id }

// Mode returns the log's signing mode.
func (l *Log) Mode() Mode { return l.id.Mode }

// Key returns the core key: the manifest hash in manifest mode, the public
// key in compat mode.
func (l *Log) Key() Hash { return l.key }

// PublicKey returns the signer's Ed25519 public key.
func (l *Log) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), l.id.PublicKey[:]...)
}

// DiscoveryKey returns the discovery key.
func (l *Log) DiscoveryKey() Hash { return DiscoveryKey(l.key) }

// Manifest returns the encoded manifest (nil in compat mode).
func (l *Log) Manifest() []byte { return append([]byte(nil), l.manifest...) }

// Writable reports whether Append works (the log was opened with its key).
func (l *Log) Writable() bool { return l.priv != nil && !l.opts.ReadOnly }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery reports what Open found and cut.
func (l *Log) Recovery() Recovery { return l.recovery }

// stageEntry buffers entry e, the log's entry number index, for writing: its
// data record, its leaf and every parent it completes go to the data and
// tree buffers, and roots (the tree's roots before e) becomes the roots
// after it.
func (l *Log) stageEntry(e []byte, index uint64, roots []Node) []Node {
	var slot [nodeSlotSize]byte
	l.dataBuf = appendRecord(l.dataBuf, e)
	leaf := Node{Index: 2 * index, Size: uint64(len(e)), Hash: l.leaf.hash(e)}
	putSlot(slot[:], leaf)
	l.treeBuf = append(l.treeBuf, slot[:]...)
	roots = append(roots, leaf)
	for len(roots) > 1 {
		a, b := &roots[len(roots)-2], &roots[len(roots)-1]
		if Sibling(b.Index) != a.Index {
			break
		}
		p := ParentNode(*a, *b)
		putSlot(slot[:], p)
		l.treeBuf = append(l.treeBuf, slot[:]...)
		roots = append(roots[:len(roots)-2], p)
	}
	return roots
}
