package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

// Migration is a protocol between the contract's creator, the old host and
// the new one (docs/contract-host.md, "Migration"):
//
//  1. The creator appends a move entry to its user log naming the new host's
//     public key and submits it to the old host, which serves it by ending
//     the contract's call log with a moved record. From then on the old host
//     refuses calls to the contract with ErrMoved, naming the new host.
//  2. Anyone streams the sealed call log and its users' logs to the new host
//     (an import stream, see ImportWriter). The new host accepts only a call
//     log that ends in a moved record for its own key, served from the
//     creator's signed move entry; it verifies every signature and tree as
//     the entries arrive, replays every old call, and continues the contract
//     under a key of its own, serving it under the old id too.

// Limits of an import. The stream is written to disk as it arrives, so
// MaxImportBytes bounds disk, not memory.
const (
	// MaxImportBytes bounds an import stream.
	MaxImportBytes = 256 << 20
	// MaxConcurrentImports bounds imports running at once; more get ErrBusy.
	MaxConcurrentImports = 2
	// MaxImportUsers bounds the user logs one import carries.
	MaxImportUsers = 1 << 14
	// maxHeaderBytes bounds a header frame (a head with its roots as JSON).
	maxHeaderBytes = 64 << 10
)

// migratedIndex marks contract keys derived for migrations, apart from
// those derived for user creates.
const migratedIndex = 1 << 63

// importGate bounds concurrent imports and remembers which user log entries
// came with an import (never to be served here). Its zero value is ready.
type importGate struct {
	mu      sync.Mutex
	running int
	// session prefixes this process's staging directories.
	session string
	// foreign holds, per user, the index ranges of entries imported
	// rather than submitted here; nil until loaded from disk.
	foreign map[hyperlog.Hash][][2]uint64
}

func (g *importGate) acquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running >= MaxConcurrentImports {
		return false
	}
	g.running++
	return true
}

// stagingDir makes a directory for an import to build its logs in,
// under imports/. The first import of a process removes what imports of
// an earlier process left there (it was stopped mid-import).
func (h *Host) stagingDir(from ContractID) (string, error) {
	g := &h.imports
	root := filepath.Join(h.cfg.Dir, "imports")
	g.mu.Lock()
	if g.session == "" {
		g.session = fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano())
		if ents, err := os.ReadDir(root); err == nil {
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), g.session+"-") {
					os.RemoveAll(filepath.Join(root, e.Name()))
				}
			}
		}
	}
	prefix := g.session + "-" + from.String() + "-"
	g.mu.Unlock()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(root, prefix)
}

func (g *importGate) release() {
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
}

// foreignFile lists the user log ranges imports brought, one JSON object a
// line.
const foreignFile = "imported-user-entries.jsonl"

type foreignRange struct {
	User string `json:"user"`
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// loadForeignLocked reads the foreign ranges once.
func (h *Host) loadForeignLocked() {
	g := &h.imports
	if g.foreign != nil {
		return
	}
	g.foreign = map[hyperlog.Hash][][2]uint64{}
	b, err := os.ReadFile(filepath.Join(h.cfg.Dir, foreignFile))
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r foreignRange
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a torn last line: that import never appended
		}
		if k, err := hyperlog.ParseHash(r.User); err == nil {
			g.foreign[k] = append(g.foreign[k], [2]uint64{r.From, r.To})
		}
	}
}

// noteForeign records, durably and before they are appended, that user
// entries [from, to) arrive with an import.
func (h *Host) noteForeign(user hyperlog.Hash, from, to uint64) error {
	g := &h.imports
	g.mu.Lock()
	defer g.mu.Unlock()
	h.loadForeignLocked()
	line, _ := json.Marshal(foreignRange{User: user.String(), From: from, To: to})
	f, err := os.OpenFile(filepath.Join(h.cfg.Dir, foreignFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	g.foreign[user] = append(g.foreign[user], [2]uint64{from, to})
	return nil
}

// imported reports whether a user log entry came with an import.
func (h *Host) imported(user hyperlog.Hash, index uint64) bool {
	g := &h.imports
	g.mu.Lock()
	defer g.mu.Unlock()
	h.loadForeignLocked()
	for _, r := range g.foreign[user] {
		if index >= r[0] && index < r[1] {
			return true
		}
	}
	return false
}

// servesOnRecovery decides whether recovery serves an unserved user entry:
// only creates and calls submitted to this host, addressed to a contract it
// holds and has not sealed. Entries that arrived in an imported user log
// belong to other hosts (their creates, their contracts) and are never
// served here.
func (h *Host) servesOnRecovery(user hyperlog.Hash, index uint64, ue *UserEntry) bool {
	if ue.Type == TypeAck || h.imported(user, index) {
		return false
	}
	if ue.Type == TypeCreate {
		return true
	}
	id, err := ParseContractID(ue.Contract)
	if err != nil {
		return false
	}
	in, err := h.instance(id)
	return err == nil && in.movedTo() == nil
}

// aliasLocked finds the contract that moved here from id (h.mu held).
func (h *Host) aliasLocked(id ContractID) *instance {
	for _, in := range h.contracts {
		for _, l := range in.chain() {
			if ContractID(l.Key()) == id {
				return in
			}
		}
	}
	return nil
}

// movedError is the refusal of a call to a contract that moved away.
func movedError(id ContractID, to *MovedTo) error {
	where := "host " + to.Host
	if to.URL != "" {
		where += " at " + to.URL
	}
	return refuse(ErrMoved, "contract %s moved to %s: call it there", id, where)
}

// admit refuses, before it enters the user's log, an entry the host will
// not serve: a call with arguments over the runtime's limit, a call or
// move to a contract it does not hold or that moved away, a move not
// signed by the contract's creator, an ack of a contract the host never
// held (under its id or an old one).
func (h *Host) admit(user hyperlog.Hash, ue *UserEntry) error {
	switch ue.Type {
	case TypeCall:
		// The runtime would refuse the call with BadArgs, and the call log
		// would repeat the arguments beside the error.
		if limit := h.limits.WithDefaults().MaxArgsBytes; len(ue.Args) > limit {
			return refuse(ErrTooLarge, "call arguments of %d bytes exceed the host's limit of %d bytes", len(ue.Args), limit)
		}
	case TypeMove:
	case TypeAck:
		// An ack is only logged: it must acknowledge a contract of this
		// host, or a user could fill the disk with acks of nothing.
		id, _ := ParseContractID(ue.Contract)
		if _, err := h.instance(id); err != nil {
			return refuse(ErrNotFound, "ack of contract %s, which this host does not hold: acknowledge an answer on the host that gave it", id)
		}
		return nil
	default:
		return nil
	}
	id, _ := ParseContractID(ue.Contract)
	in, err := h.instance(id)
	if err != nil {
		return err
	}
	if to := in.movedTo(); to != nil {
		return movedError(id, to)
	}
	if ue.Type != TypeMove {
		return nil
	}
	if ue.To.Host == hex.EncodeToString(h.PublicKey()) {
		return badRequest("contract %s is already on host %s", id, ue.To.Host)
	}
	info, err := h.Info(in.id)
	if err != nil {
		return err
	}
	if info.Creator != user.String() {
		return refuse(ErrForbidden, "only contract %s's creator (user %s) may move it; this move is signed by %s", id, info.Creator, user)
	}
	return nil
}

// lastSeal returns where the contract moved when its call log ends in a
// successful moved record.
func (in *instance) lastSeal() *MovedTo {
	n := in.calls.Length()
	if n == 0 {
		return nil
	}
	raw, err := in.calls.Get(n - 1)
	if err != nil {
		return nil
	}
	var rec Record
	if json.Unmarshal(raw, &rec) != nil || rec.Type != TypeMoved || rec.Error != nil {
		return nil
	}
	return rec.To
}

// movedTo returns where the contract moved, or nil while it is here.
func (in *instance) movedTo() *MovedTo {
	in.sealOnce.Do(func() {
		if to := in.lastSeal(); to != nil {
			in.moved.CompareAndSwap(nil, to)
		}
	})
	return in.moved.Load()
}

// moved serves a move: only the contract's creator may seal its log. A
// refused move is recorded as a failed call and seals nothing.
func (a *app) moved(in *input, st kv.Txn) (*outcome, error) {
	out := &outcome{rec: in.Record}
	out.rec.Result, out.rec.Error, out.rec.Gas = nil, nil, 0
	var m meta
	b, err := st.Get(keyMeta)
	switch {
	case err != nil || json.Unmarshal(b, &m) != nil:
		out.rec.Error = &RecordError{Code: "NoContract", Message: "the contract was not created"}
	case m.Creator != in.User:
		out.rec.Error = &RecordError{Code: "Forbidden", Message: "only the contract's creator may move it"}
	case in.To == nil:
		out.rec.Error = &RecordError{Code: "BadMove", Message: "a move names no host"}
	default:
		out.rec.Result = json.RawMessage("null")
	}
	return a.finish(out, nil, st)
}

// eachHistory calls fn with each entry of the level-th old call log a
// migrate replays (0: the one it continues, then down its chain): streamed
// from disk when the host has it there, else from History and Older (an
// audit's replay).
func (in *input) eachHistory(level int, fn func(i int, raw []byte) error) error {
	if in.oldLog == nil {
		hist := in.History
		if level > 0 {
			hist = in.Older[level-1]
		}
		for i, raw := range hist {
			if err := fn(i, raw); err != nil {
				return err
			}
		}
		return nil
	}
	l := in.oldLog
	if level > 0 {
		l = in.older[level-1]
	}
	return l.ReadRange(0, l.Length(), func(i uint64, raw []byte) error { return fn(int(i), raw) })
}

// chainLen is how many old call logs the input carries.
func (in *input) chainLen() int {
	if in.oldLog != nil {
		return 1 + len(in.older)
	}
	return 1 + len(in.Older)
}

// MigrationLink is what a host signs when it takes a contract over: the
// new contract's id, the old one's, and the old call log's head it
// continues. An audit checks the signature against the host key the old
// log's moved record names.
func MigrationLink(id, from string, head *Head) []byte {
	return fmt.Appendf(nil, "vchain migration\x00%s\x00%s\x00%d\x00%s", id, from, head.Length, head.TreeHash)
}

// migration is what a migrate request carries to the sequencer.
type migration struct {
	from    ContractID
	head    hyperlog.SignedHead
	old     *hyperlog.Log
	older   []*hyperlog.Log
	code    string
	hostKey string
	hostSig string
	// adopt, when set, is the old contract's state at the sealed record,
	// checked against its state commitment: the migrate copies it instead
	// of replaying the old calls.
	adopt kv.Reader
}

// headOf is the API form of a signed head.
func headOf(h hyperlog.SignedHead) *Head {
	return &Head{Length: h.Length, TreeHash: h.TreeHash.String(), Signature: h.Signature.String()}
}

// migrationOf rebuilds a migrate record's input from the old log kept
// beside the contract (for recovery).
func (h *Host) migrationOf(in *instance, rec *Record) (*input, error) {
	if in.from == nil || in.from.Length() == 0 {
		return nil, errors.New("migrated contract without its old call log")
	}
	inp := &input{Record: *rec, oldLog: in.from, older: in.older}
	// The code is the create's, at the start of the oldest log.
	chain := in.chain()
	raw, err := chain[len(chain)-1].Get(0)
	if err != nil {
		return nil, err
	}
	var first Record
	if err := json.Unmarshal(raw, &first); err != nil {
		return nil, err
	}
	if inp.Code, err = h.userCode(&first); err != nil {
		return nil, err
	}
	return inp, nil
}

// The import stream: the magic line, then frames of a kind byte, a uvarint
// length and the payload. A header frame (ImportHeader) and the call log's
// entries come first; when that log starts with a migrate (the contract
// moved before), an older frame (ImportHeader) and the entries of the log
// it continues follow, and so on down to the log that starts with the
// create; then for each user log a user frame (UserLogHeader) and its
// entries; then, optionally, snapshot frames carrying a snapshot of the
// contract's state at the sealed record (package snapshot's file, in
// pieces), which the new host adopts instead of replaying the old calls;
// then an end frame. Each log's entries come in order, exactly as many as
// its head's length.
const (
	importMagic   = "vchain-import/1\n"
	frameHeader   = 'H'
	frameOlder    = 'O'
	frameUser     = 'U'
	frameEntry    = 'E'
	frameSnapshot = 'S'
	frameEnd      = 'Z'
)

// ImportHeader opens an import stream: the contract moving and its sealed
// call log's head.
type ImportHeader struct {
	From string              `json:"from"`
	Head hyperlog.SignedHead `json:"head"`
}

// UserLogHeader opens a user log in an import stream.
type UserLogHeader struct {
	User string              `json:"user"`
	Head hyperlog.SignedHead `json:"head"`
}

// ImportWriter writes an import stream.
type ImportWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewImportWriter starts an import stream of contract from whose call log
// has the signed head; the call log's entries follow with Entry.
func NewImportWriter(w io.Writer, from string, head hyperlog.SignedHead) (*ImportWriter, error) {
	iw := &ImportWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := iw.w.WriteString(importMagic); err != nil {
		return nil, err
	}
	b, err := json.Marshal(ImportHeader{From: from, Head: head})
	if err != nil {
		return nil, err
	}
	return iw, iw.frame(frameHeader, b)
}

func (iw *ImportWriter) frame(kind byte, payload []byte) error {
	iw.buf = binary.AppendUvarint(append(iw.buf[:0], kind), uint64(len(payload)))
	if _, err := iw.w.Write(iw.buf); err != nil {
		return err
	}
	_, err := iw.w.Write(payload)
	return err
}

// Entry writes the next entry of the current log.
func (iw *ImportWriter) Entry(e []byte) error { return iw.frame(frameEntry, e) }

// Older starts the call log the previous one continues (it starts with
// a migrate from contract from); its entries follow with Entry.
func (iw *ImportWriter) Older(from string, head hyperlog.SignedHead) error {
	b, err := json.Marshal(ImportHeader{From: from, Head: head})
	if err != nil {
		return err
	}
	return iw.frame(frameOlder, b)
}

// User starts a user log; its entries follow with Entry.
func (iw *ImportWriter) User(user string, head hyperlog.SignedHead) error {
	b, err := json.Marshal(UserLogHeader{User: user, Head: head})
	if err != nil {
		return err
	}
	return iw.frame(frameUser, b)
}

// Snapshot writes a snapshot of the contract's state at its sealed record
// (the old host's GET /v1/contracts/{id}/snapshot), read from r, after the
// user logs: the new host adopts the state if it hashes to the sealed
// record's state commitment, instead of replaying every old call.
func (iw *ImportWriter) Snapshot(r io.Reader) error {
	buf := make([]byte, MaxEntryBytes)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if ferr := iw.frame(frameSnapshot, buf[:n]); ferr != nil {
				return ferr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// Close ends the stream and flushes it.
func (iw *ImportWriter) Close() error {
	if err := iw.frame(frameEnd, nil); err != nil {
		return err
	}
	return iw.w.Flush()
}

// importReader decodes an import stream, bounding every frame and the
// whole stream; it allocates no more than one frame at a time.
type importReader struct {
	r    *bufio.Reader
	read int64
	buf  []byte
	// snap is the payload of the snapshot frame next returned last.
	snap []byte
	// rerr is the last error of the underlying reader.
	rerr error
}

func newImportReader(r io.Reader) *importReader {
	return &importReader{r: bufio.NewReaderSize(r, 64<<10)}
}

func (d *importReader) ReadByte() (byte, error) {
	b, err := d.r.ReadByte()
	if err == nil {
		d.read++
	}
	d.rerr = err
	return b, err
}

// frame reads the next frame; its payload is valid until the next call.
func (d *importReader) frame() (byte, []byte, error) {
	kind, err := d.ReadByte()
	if err != nil {
		return 0, nil, d.streamErr(err, "a frame")
	}
	n, err := binary.ReadUvarint(d)
	if err != nil {
		if d.rerr == nil {
			return 0, nil, badRequest("import stream: bad frame length at byte %d", d.read)
		}
		return 0, nil, d.streamErr(err, "a frame length")
	}
	limit := uint64(MaxEntryBytes)
	switch kind {
	case frameHeader, frameOlder, frameUser:
		limit = maxHeaderBytes
	case frameEntry, frameSnapshot:
	case frameEnd:
		limit = 0
	default:
		return 0, nil, badRequest("import stream: unknown frame kind %q at byte %d", kind, d.read)
	}
	if n > limit {
		return 0, nil, refuse(ErrTooLarge, "import stream: a %q frame of %d bytes exceeds %d", kind, n, limit)
	}
	if d.read+int64(n) > MaxImportBytes {
		return 0, nil, refuse(ErrTooLarge, "import stream exceeds %d bytes", MaxImportBytes)
	}
	if uint64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	d.buf = d.buf[:n]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		return 0, nil, d.streamErr(err, "a frame")
	}
	d.read += int64(n)
	return kind, d.buf, nil
}

// streamErr wraps a read error: a stream cut short is the sender's fault;
// anything else (a body limit, a dropped connection) passes through.
func (d *importReader) streamErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("import stream ends inside %s at byte %d", what, d.read)
	}
	return fmt.Errorf("import stream: %w", err)
}

// header reads the magic line and the header frame.
func (d *importReader) header() (*ImportHeader, error) {
	magic := make([]byte, len(importMagic))
	if _, err := io.ReadFull(d.r, magic); err != nil || string(magic) != importMagic {
		return nil, badRequest("not an import stream: want it to start with %q", importMagic)
	}
	d.read += int64(len(magic))
	kind, body, err := d.frame()
	if err != nil {
		return nil, err
	}
	if kind != frameHeader {
		return nil, badRequest("import stream: want the header frame first, got %q", kind)
	}
	var hdr ImportHeader
	if err := strictJSON(body, &hdr); err != nil {
		return nil, badRequest("import stream header: %v", err)
	}
	return &hdr, nil
}

// entry reads the next entry frame.
func (d *importReader) entry() ([]byte, error) {
	kind, body, err := d.frame()
	if err != nil {
		return nil, err
	}
	if kind != frameEntry {
		return nil, badRequest("import stream: want an entry at byte %d, got a %q frame (fewer entries than the head's length?)", d.read, kind)
	}
	return body, nil
}

// next reads the frame that opens the next log (an older call log or a
// user log) or ends the stream; kind is 0 at the end.
func (d *importReader) next() (byte, *ImportHeader, *UserLogHeader, error) {
	kind, body, err := d.frame()
	if err != nil {
		return 0, nil, nil, err
	}
	switch kind {
	case frameEnd:
		if _, err := d.r.ReadByte(); err != io.EOF {
			return 0, nil, nil, badRequest("import stream: data after the end frame")
		}
		return 0, nil, nil, nil
	case frameOlder:
		var oh ImportHeader
		if err := strictJSON(body, &oh); err != nil {
			return 0, nil, nil, badRequest("import stream older call log header: %v", err)
		}
		return kind, &oh, nil, nil
	case frameUser:
		var uh UserLogHeader
		if err := strictJSON(body, &uh); err != nil {
			return 0, nil, nil, badRequest("import stream user header: %v", err)
		}
		return kind, nil, &uh, nil
	case frameSnapshot:
		d.snap = body
		return kind, nil, nil, nil
	}
	return 0, nil, nil, badRequest("import stream: want a log or the end at byte %d, got a %q frame (more entries than the head's length?)", d.read, kind)
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// MaxMigrations bounds how many times a contract can have moved: the old
// call logs an import carries.
const MaxMigrations = 64

// sealCheck follows an old call log as it streams in: it must start with
// a create or a migrate, number its records in order, and end with a
// successful moved record naming host me, with nothing after it.
type sealCheck struct {
	id     ContractID
	me     string
	here   bool // me is this host
	n      uint64
	first  *Record
	sealed *Record
}

func (c *sealCheck) record(raw []byte) error {
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return badRequest("old call log %s entry %d: %v", c.id, c.n, err)
	}
	switch {
	case r.Seq != c.n:
		return badRequest("old call log %s entry %d says seq %d", c.id, c.n, r.Seq)
	case c.n == 0 && r.Type != TypeCreate && r.Type != TypeMigrate:
		return badRequest("the old call log %s does not start with a create or a migrate", c.id)
	case c.n > 0 && (r.Type == TypeCreate || r.Type == TypeMigrate):
		return badRequest("the old call log %s has a %s at entry %d", c.id, r.Type, c.n)
	case c.sealed != nil:
		return badRequest("the old call log %s has entry %d after the record that sealed it", c.id, c.n)
	}
	if c.n == 0 {
		if r.Type == TypeMigrate {
			if _, err := ParseContractID(r.From); err != nil || r.FromHead == nil {
				return badRequest("the old call log %s starts with a migrate that names no old log: %v", c.id, err)
			}
		}
		c.first = &r
	}
	if r.Type == TypeMoved && r.Error == nil {
		c.sealed = &r
	}
	c.n++
	return nil
}

func (c *sealCheck) done() error {
	if c.sealed == nil {
		return refuse(ErrForbidden, "the old call log %s does not end in a moved record: its host never sealed it for a move (an import at an older head?)", c.id)
	}
	if c.sealed.To == nil || c.sealed.To.Host != c.me {
		host := "no host"
		if c.sealed.To != nil {
			host = "host " + c.sealed.To.Host
		}
		want := "host " + c.me + ", which took it over"
		if c.here {
			want = "this host (" + c.me + ")"
		}
		return refuse(ErrForbidden, "the old call log %s was sealed for %s, not %s", c.id, host, want)
	}
	return nil
}

// olderLink checks, before its entries are read, that an older call log's
// header is the one the newer log's migrate record continues: the same
// contract and head, signed by that contract's key.
func olderLink(newer *sealCheck, oh *ImportHeader) (ContractID, error) {
	m := newer.first
	id, err := ParseContractID(oh.From)
	if err != nil {
		return id, badRequest("import: older call log: %v", err)
	}
	if oh.From != m.From || oh.Head.Length != m.FromHead.Length || oh.Head.TreeHash.String() != m.FromHead.TreeHash {
		return id, refuse(ErrForbidden, "import: contract %s continues contract %s at length %d, tree hash %s, but the stream carries %s at length %d, %s: the chain of call logs is broken",
			newer.id, m.From, m.FromHead.Length, m.FromHead.TreeHash, oh.From, oh.Head.Length, oh.Head.TreeHash)
	}
	if err := hyperlog.VerifyHead(hyperlog.Hash(id), oh.Head); err != nil {
		return id, refuse(ErrForbidden, "import: the head of contract %s's call log is not signed by its key: %v", id, err)
	}
	return id, nil
}

// linkSigned checks that the host that took the contract over from old
// signed the link in newer's migrate record, and is the host old was
// sealed for.
func linkSigned(newer, old *sealCheck) error {
	m := newer.first
	pub, err := hex.DecodeString(m.HostKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return refuse(ErrForbidden, "import: contract %s's migrate record names host key %q", newer.id, m.HostKey)
	}
	sig, err := hex.DecodeString(m.HostSig)
	if err != nil || !ed25519.Verify(pub, MigrationLink(newer.id.String(), old.id.String(), m.FromHead), sig) {
		return refuse(ErrForbidden, "import: contract %s's migrate record is not signed by host %s: the chain of call logs is broken", newer.id, m.HostKey)
	}
	return nil
}

// Import takes over a contract from another host, reading an import
// stream (see ImportWriter) as it arrives: the old call log must end in a
// moved record naming this host and serving its creator's signed move
// entry. Every head's signature is checked before its entries are read,
// and every entry is written to disk as it comes, so an import holds about
// one entry in memory; at most MaxConcurrentImports run at once (others get
// ErrBusy). The new contract starts under a key of its own, its first call
// log entry naming the old log's head, its state rebuilt by replaying (and
// checking) every old call; it answers under the old id too. Importing the
// same sealed log again answers with the same contract. Like a create, an
// import is refused with ErrBusy when the host runs MaxContracts.
func (h *Host) Import(ctx context.Context, r io.Reader) (*Answer, error) {
	a, err := h.importContract(ctx, r)
	return a, busyIfOutOfFDs(err)
}

func (h *Host) importContract(ctx context.Context, r io.Reader) (*Answer, error) {
	if !h.imports.acquire() {
		return nil, refuse(ErrBusy, "%d imports are running; try again shortly", MaxConcurrentImports)
	}
	defer h.imports.release()
	d := newImportReader(r)
	hdr, err := d.header()
	if err != nil {
		return nil, err
	}
	from, err := ParseContractID(hdr.From)
	if err != nil {
		return nil, badRequest("import: %v", err)
	}
	if err := hyperlog.VerifyHead(hyperlog.Hash(from), hdr.Head); err != nil {
		return nil, refuse(ErrForbidden, "import: the call log's head is not signed by contract %s's key: %v", from, err)
	}
	manifest, err := hyperlog.DecodeManifest(hdr.Head.Manifest)
	if err != nil || len(manifest.Signers) != 1 {
		return nil, badRequest("import: the old call log must be a single-signer manifest-mode log")
	}
	priv := DeriveContractKey(h.master, hyperlog.Hash(from), migratedIndex)
	id := ContractID(hyperlog.NewIdentity(hyperlog.ModeManifest, priv.Public().(ed25519.PublicKey)).Key())
	h.mu.Lock()
	_, holds := h.contracts[from]
	done := h.contracts[id]
	running := len(h.contracts)
	h.mu.Unlock()
	if holds {
		return nil, refuse(ErrConflict, "contract %s is on this host already", from)
	}
	if done != nil {
		return h.importedAnswer(done, hdr.Head)
	}
	if running >= h.cfg.MaxContracts {
		return nil, refuse(ErrBusy, "the host runs %d contracts, its maximum is %d: no room for an import", running, h.cfg.MaxContracts)
	}

	staging, err := h.stagingDir(from)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)
	var opened []*hyperlog.Log
	defer func() {
		for _, l := range opened {
			l.Close()
		}
	}()

	// The old call log: its head is verified, its entries hashed and
	// written as they arrive, each record checked.
	old, err := hyperlog.CreateReplica(filepath.Join(staging, "from"), hyperlog.Identity{Mode: hyperlog.ModeManifest, PublicKey: manifest.Signers[0].PublicKey}, hyperlog.Options{Logger: h.log})
	if err != nil {
		return nil, err
	}
	opened = append(opened, old)
	chk := &sealCheck{id: from, me: hex.EncodeToString(h.PublicKey()), here: true}
	err = old.AppendStream(hdr.Head, func() ([]byte, error) {
		e, err := d.entry()
		if err != nil {
			return nil, err
		}
		return e, chk.record(e)
	})
	if err != nil {
		return nil, importError("the old call log", err)
	}
	if err := chk.done(); err != nil {
		return nil, err
	}

	// When the contract moved before, the logs it continues follow, back
	// to the create: each must be the one the newer log's migrate names,
	// sealed for the host that signed that link.
	var chain []*hyperlog.Log
	ids := map[string]bool{from.String(): true}
	last := chk
	kind, oh, uh, err := d.next()
	for ; err == nil && kind == frameOlder; kind, oh, uh, err = d.next() {
		if last.first.Type != TypeMigrate {
			return nil, badRequest("import: contract %s's call log starts with its create, but an older call log follows it", last.id)
		}
		if len(chain) >= MaxMigrations {
			return nil, refuse(ErrTooLarge, "import: more than %d older call logs", MaxMigrations)
		}
		oid, err := olderLink(last, oh)
		if err != nil {
			return nil, err
		}
		om, err := hyperlog.DecodeManifest(oh.Head.Manifest)
		if err != nil || len(om.Signers) != 1 {
			return nil, badRequest("import: contract %s's call log must be a single-signer manifest-mode log", oid)
		}
		l, err := hyperlog.CreateReplica(filepath.Join(staging, oldLogDir(len(chain)+1)), hyperlog.Identity{Mode: hyperlog.ModeManifest, PublicKey: om.Signers[0].PublicKey}, hyperlog.Options{Logger: h.log})
		if err != nil {
			return nil, err
		}
		opened = append(opened, l)
		c := &sealCheck{id: oid, me: last.first.HostKey}
		err = l.AppendStream(oh.Head, func() ([]byte, error) {
			e, err := d.entry()
			if err != nil {
				return nil, err
			}
			return e, c.record(e)
		})
		if err != nil {
			return nil, importError("contract "+oid.String()+"'s call log", err)
		}
		if err := c.done(); err != nil {
			return nil, err
		}
		if err := linkSigned(last, c); err != nil {
			return nil, err
		}
		chain = append(chain, l)
		ids[oid.String()] = true
		last = c
	}
	if err != nil {
		return nil, err
	}
	if last.first.Type == TypeMigrate {
		return nil, badRequest("import: contract %s continues contract %s, whose call log the stream does not carry (a contract that moved before needs every call log back to its create)", last.id, last.first.From)
	}
	root := last.first

	// The users' logs, each into a staging replica first.
	users := map[hyperlog.Hash]*hyperlog.Log{}
	for ; err == nil && kind == frameUser; kind, _, uh, err = d.next() {
		pub, err := hyperlog.ParseHash(uh.User)
		if err != nil {
			return nil, badRequest("import: user %q: %v", uh.User, err)
		}
		if _, dup := users[pub]; dup {
			return nil, badRequest("import: user %s's log comes twice", pub)
		}
		if len(users) >= MaxImportUsers {
			return nil, refuse(ErrTooLarge, "import: more than %d user logs", MaxImportUsers)
		}
		l, err := hyperlog.CreateReplica(filepath.Join(staging, "users", pub.String()), UserIdentity(pub), hyperlog.Options{Logger: h.log})
		if err != nil {
			return nil, err
		}
		opened = append(opened, l)
		users[pub] = l
		if err := l.AppendStream(uh.Head, d.entry); err != nil {
			return nil, importError("user "+pub.String()+"'s log", err)
		}
	}
	if err != nil {
		return nil, err
	}
	var snap string
	if kind == frameSnapshot {
		snap = filepath.Join(staging, "snapshot")
		if kind, err = d.saveSnapshot(snap); err != nil {
			return nil, err
		}
	}
	if kind != 0 {
		return nil, badRequest("import stream: a %q frame after the user logs", kind)
	}

	// The seal serves the creator's signed move to this host.
	if err := checkSeal(ids, chk, root, users); err != nil {
		return nil, err
	}
	for pub, l := range users {
		if err := h.mergeUser(ctx, pub, l); err != nil {
			return nil, err
		}
	}
	code, err := h.userCode(root)
	if err != nil {
		return nil, badRequest("the old contract's code: %v", err)
	}
	m := &migration{from: from, head: hdr.Head, code: code}
	if snap != "" {
		db, err := h.adoptable(ctx, snap, chk.sealed)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		m.adopt = engine.AppState(db)
	}

	// Claim the contract's directory; a concurrent import of the same log
	// finds it taken.
	dir := filepath.Join(h.cfg.Dir, "contracts", id.String())
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, refuse(ErrConflict, "contract %s is being imported here as %s already", from, id)
		}
		return nil, err
	}
	in, ans, err := h.startImported(ctx, id, priv, dir, append([]*hyperlog.Log{old}, chain...), m)
	opened = opened[1+len(chain):] // the old logs are closed or moved into the contract
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	h.log.Info("contract imported", "from", from, "id", in.id, "entries", chk.n, "adopted", m.adopt != nil)
	return ans, nil
}

// saveSnapshot writes the snapshot frames, from the one next returned
// last, to path; it returns the kind of the frame after them.
func (d *importReader) saveSnapshot(path string) (byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	kind := byte(frameSnapshot)
	for kind == frameSnapshot {
		if _, err := f.Write(d.snap); err != nil {
			return 0, err
		}
		if kind, _, _, err = d.next(); err != nil {
			return 0, err
		}
	}
	return kind, f.Close()
}

// adoptable checks the snapshot at path against the sealed record's
// consensus hash and state commitment, which the old host's signed call
// log covers, and returns it loaded into an in-memory store. Nothing in
// it is trusted but what hashes to that record.
func (h *Host) adoptable(ctx context.Context, path string, sealed *Record) (*store.DB, error) {
	bad := func(format string, args ...any) error {
		return refuse(ErrForbidden, "import: the snapshot cannot be adopted: "+format, args...)
	}
	if sealed == nil || sealed.State == "" {
		return nil, bad("the sealed record carries no state commitment (a host older than state commitments wrote it); import without a snapshot to replay the calls")
	}
	ch, err := vchash.ParseConsensusHash(sealed.Consensus)
	if err != nil {
		return nil, bad("the sealed record's consensus hash: %v", err)
	}
	st, err := lthash.ParseDigest(sealed.State)
	if err != nil {
		return nil, bad("the sealed record's state commitment: %v", err)
	}
	sf, err := snapshot.Open(path)
	if err != nil {
		return nil, bad("%v", err)
	}
	defer sf.Close()
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return nil, err
	}
	a := &app{programs: h.programs, pool: h.pool, limits: h.limits}
	if _, err := snapshot.Load(ctx, sf, a, db, engine.Trust{Height: int64(sealed.Seq), Consensus: ch, State: st}); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, bad("%v", err)
	}
	return db, nil
}

// importError maps a failed streamed append: the host's refusals and read
// errors pass through, a head or tree that does not verify is forbidden.
func importError(what string, err error) error {
	var he *Error
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, hyperlog.ErrBadSignature), errors.Is(err, hyperlog.ErrInvalidProof), errors.Is(err, hyperlog.ErrMalformed):
		return refuse(ErrForbidden, "import: %s does not verify: %v", what, err)
	}
	return fmt.Errorf("import: %s: %w", what, err)
}

// checkSeal checks that the moved record serves a move entry in its user's
// signed log, addressed to the old contract and naming the same host. (The
// replay checks that user is the creator.)
// The move may name the contract by any of its ids.
func checkSeal(ids map[string]bool, chk *sealCheck, root *Record, users map[hyperlog.Hash]*hyperlog.Log) error {
	rec := chk.sealed
	pub, err := hyperlog.ParseHash(rec.User)
	if err != nil {
		return badRequest("the moved record names user %q: %v", rec.User, err)
	}
	l, ok := users[pub]
	if !ok {
		return badRequest("the import lacks the log of user %s, who asked for the move", pub)
	}
	if _, ok := users[mustHash(root.User)]; !ok {
		return badRequest("the import lacks the log of user %s, who created the contract", root.User)
	}
	if rec.UserIndex >= l.Length() {
		return refuse(ErrForbidden, "the moved record serves user %s entry %d, which the user's log does not have", pub, rec.UserIndex)
	}
	raw, err := l.Get(rec.UserIndex)
	if err != nil {
		return err
	}
	ue, err := DecodeUserEntry(raw)
	if err != nil || EntryHash(raw) != rec.UserEntry || ue.Type != TypeMove || !ids[ue.Contract] || *ue.To != *rec.To {
		return refuse(ErrForbidden, "the moved record does not serve a move to this host that user %s signed", pub)
	}
	return nil
}

func mustHash(s string) hyperlog.Hash {
	h, _ := hyperlog.ParseHash(s)
	return h
}

// mergeUser brings this host's replica of a user's log up to a verified
// staged copy: a user the host has no log for gets the staged replica
// itself, renamed into place; otherwise the missing entries are streamed
// from it. The entries it adds are recorded as imported first, so they are
// never served here.
func (h *Host) mergeUser(ctx context.Context, pub hyperlog.Hash, staged *hyperlog.Log) error {
	want := staged.Length()
	mu := h.userLock(pub)
	mu.Lock()
	if _, err := os.Stat(h.userDir(pub)); errors.Is(err, os.ErrNotExist) {
		defer mu.Unlock()
		if err := h.noteForeign(pub, 0, want); err != nil {
			return err
		}
		if err := staged.Close(); err != nil {
			return err
		}
		if err := os.Rename(staged.Dir(), h.userDir(pub)); err != nil {
			return err
		}
		h.noteClosed(pub, want)
		return nil
	}
	mu.Unlock()
	u, err := h.acquireUser(ctx, pub, true)
	if err != nil {
		return err
	}
	defer h.users.release(u)
	mu.Lock()
	defer mu.Unlock()
	n := u.log.Length()
	if n >= want {
		return nil
	}
	if err := h.noteForeign(pub, n, want); err != nil {
		return err
	}
	i := n
	err = u.log.AppendStream(staged.Head(), func() ([]byte, error) {
		e, err := staged.Get(i)
		i++
		return e, err
	})
	if err != nil {
		return refuse(ErrConflict, "user %s: this host's copy of the log disagrees with the imported one: %v", pub, err)
	}
	return nil
}

// startImported starts an imported contract: the old log moves beside it,
// its engine replays the old calls in the migrate record, and only when
// that succeeds is the contract registered and its sequencer started.
func (h *Host) startImported(ctx context.Context, id ContractID, priv ed25519.PrivateKey, dir string, staged []*hyperlog.Log, m *migration) (*instance, *Answer, error) {
	for i, l := range staged {
		if err := l.Close(); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(l.Dir(), filepath.Join(dir, oldLogDir(i))); err != nil {
			return nil, nil, err
		}
	}
	o, _ := json.Marshal(origin{Creator: hyperlog.Hash(m.from).String(), Index: migratedIndex})
	if err := os.WriteFile(filepath.Join(dir, "origin.json"), o, 0o644); err != nil {
		return nil, nil, err
	}
	var chain []*hyperlog.Log
	for i := range staged {
		l, err := hyperlog.Open(filepath.Join(dir, oldLogDir(i)), hyperlog.Options{ReadOnly: true, Logger: h.log})
		if err != nil {
			closeLogs(chain)
			return nil, nil, err
		}
		chain = append(chain, l)
	}
	from := chain[0]
	calls, err := hyperlog.Create(filepath.Join(dir, "calls"), priv, hyperlog.Options{Sync: h.cfg.Sync, Logger: h.log})
	if err != nil {
		closeLogs(chain)
		return nil, nil, err
	}
	in := &instance{h: h, id: id, dir: dir, calls: calls, from: from, older: chain[1:], queue: newFairQueue(), stop: make(chan struct{})}
	in.app = &app{programs: h.programs, pool: h.pool, limits: h.limits}
	cfg := engine.Config{UndoDepth: int64(4 * h.cfg.MaxBatch), Logger: h.log}
	if h.cfg.Sync {
		cfg.SyncBlocks = 1
	}
	fail := func(err error) (*instance, *Answer, error) {
		calls.Close()
		closeLogs(chain)
		return nil, nil, err
	}
	in.store = h.db.Namespace(append([]byte("c/"), append(id[:], '/')...))
	if in.eng, err = engine.Open(in.store, in.app, cfg); err != nil {
		return fail(fmt.Errorf("contract %s: engine: %w", id, err))
	}
	m.old, m.older = from, chain[1:]
	m.hostKey = hex.EncodeToString(h.PublicKey())
	m.hostSig = hex.EncodeToString(ed25519.Sign(h.master, MigrationLink(id.String(), m.from.String(), headOf(m.head))))
	req := &request{entry: &UserEntry{Type: TypeMigrate}, reply: make(chan reply, 1), migrate: m}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	b, _ := in.execute([]*request{req})
	if b != nil {
		in.inflight.Add(1)
		in.log(b)
	}
	r := <-req.reply
	if r.err != nil {
		in.eng.Flush()
		var d *Divergence
		if errors.As(r.err, &d) {
			return fail(refuse(ErrForbidden, "replaying the old call log: %v", d))
		}
		return fail(fmt.Errorf("replaying the old call log: %w", r.err))
	}
	in.lastTime = r.answer.Record.Time
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		in.eng.Flush()
		return fail(errors.New("host is closing"))
	}
	h.contracts[id] = in
	h.wg.Add(1)
	h.mu.Unlock()
	go in.run()
	return in, r.answer, nil
}

// importedAnswer answers an import of a contract already imported: its
// first record, if it continues the same head.
func (h *Host) importedAnswer(in *instance, head hyperlog.SignedHead) (*Answer, error) {
	raw, err := in.calls.Get(0)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	if rec.FromHead == nil || rec.FromHead.Length != head.Length || rec.FromHead.TreeHash != head.TreeHash.String() {
		return nil, refuse(ErrConflict, "contract %s was imported here as %s from another head", rec.From, in.id)
	}
	ch := in.calls.Head()
	ch.Roots = nil
	return &Answer{Contract: in.id, Record: &rec, Raw: raw, Head: ch}, nil
}
