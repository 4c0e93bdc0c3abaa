package host

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"unicode/utf8"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"

	"golang.org/x/crypto/blake2b"
)

// The contract application's payloads: magic "vc", then an opcode, then
// the JSON of an input.
const (
	magic     = "vc"
	opCreate  = 'c'
	opCall    = 'x'
	opMigrate = 'm'
)

// Keys of a contract engine's application state.
var (
	keyExports    = []byte("x")    // canonical JSON of the exports snapshot
	keyMeta       = []byte("m")    // JSON meta
	keyCode       = []byte("code") // the contract's source
	keyStateRoots = []byte("sr")   // the state log's roots and length
	keySize       = []byte("sz")   // the state's size (see stateSize), uvarint
)

// input is what the engine processes for one call log entry: the record's
// input fields and, when replaying a log, its recorded outcome to check.
type input struct {
	Record
	// Code is the contract's source (create; migrate: the old contract's),
	// taken from the user entry that created it.
	Code string `json:"code,omitempty"`
	// History is the old contract's call log (migrate), replayed to
	// rebuild its state.
	History []json.RawMessage `json:"history,omitempty"`
	// Older are the call logs History continues when the contract moved
	// more than once (migrate): the log History's migrate record
	// continues first, back to the one that starts with the create.
	Older [][]json.RawMessage `json:"older,omitempty"`
	// oldLog, when set, is where a migrate reads History from instead:
	// the old call log on disk, streamed (see eachHistory); older, the
	// logs it continues, as Older.
	oldLog *hyperlog.Log
	older  []*hyperlog.Log
	// adopt, when set, is the old contract's state, checked against the
	// sealed record's state commitment: a migrate copies it instead of
	// replaying the old call logs. Only an import sets it; a migrate
	// replayed later (recovery, an audit) replays the logs.
	adopt kv.Reader
	// participants are who a private contract's create or call was sealed
	// to (ChainApp, through package private); nil for a public one.
	participants []string
}

// meta is a contract's descriptive state.
type meta struct {
	CodeHash string   `json:"code_hash"`
	Methods  []string `json:"methods"`
	Creator  string   `json:"creator"`
	// Participants are a private contract's participants (hex Ed25519
	// keys); a call sealed to any other set is refused.
	Participants []string `json:"participants,omitempty"`
}

// outcome is what executing an input produced.
type outcome struct {
	rec Record // input fields plus outcome, without Consensus
	// stateLog is what the call's record lists of the state log entries
	// it appended: the entries, the large ones summarized (see summary).
	stateLog [][]byte
	// contract is the contract called (ChainApp), for events.
	contract string
}

// Divergence is what a replay found: a recorded outcome that the
// contract's code does not produce.
type Divergence struct {
	Seq      uint64
	Field    string
	Recorded string
	Computed string
}

func (d *Divergence) Error() string {
	return fmt.Sprintf("call log entry %d: recorded %s %s, but replaying the call gives %s", d.Seq, d.Field, d.Recorded, d.Computed)
}

// app runs one contract's calls: the engine.Application of a contract
// engine, on the host (verify false) and in an audit (verify true).
type app struct {
	engine.Base
	programs *programCache
	pool     *contract.Pool
	limits   contract.Limits
	verify   bool
	// outcomes collects what each block's call produced, in order, for
	// the host to log; the host resets it before each batch.
	outcomes []*outcome
	// hot caches what every call reads (program, exports, state log roots)
	// as of the newest applied block; nil when unknown. It runs ahead of
	// committed state within a batch, so whoever discards a batch or rolls
	// the engine back must reset it (see host.process and reconcile).
	hot *hotState
}

// hotState is the part of a contract's state every call reads.
type hotState struct {
	prog    *contract.Program
	exports []byte
	roots   []hyperlog.Node
	length  uint64
	size    int64 // the state's size, as stateSize counts it
}

// load returns the hot state, reading it from st when not cached.
func (a *app) load(st kv.Reader) (*hotState, error) {
	if a.hot != nil {
		return a.hot, nil
	}
	hs := &hotState{}
	code, err := st.Get(keyCode)
	switch {
	case err == nil:
		if hs.prog, err = a.programs.get(code, a.limits); err != nil {
			return nil, fmt.Errorf("stored code no longer compiles: %w", err)
		}
		if hs.exports, err = st.Get(keyExports); err != nil {
			return nil, err
		}
	case !errors.Is(err, kv.ErrNotFound):
		return nil, err
	}
	if hs.roots, hs.length, err = loadStateRoots(st); err != nil {
		return nil, err
	}
	if hs.size, err = loadSize(st, hs.exports); err != nil {
		return nil, err
	}
	a.hot = hs
	return hs, nil
}

// Info implements engine.Application.
func (a *app) Info() engine.Info {
	return engine.Info{Name: "contract", Version: "1", FirstBlock: 0, MagicBytes: []byte(magic), Opcodes: []byte{opCreate, opCall, opMigrate}}
}

// Parse implements engine.Application.
func (a *app) Parse(_ *engine.BlockContext, tx *tape.Tx, opcode byte, payload []byte) (any, error) {
	if in, ok := tx.Decoded.(*input); ok {
		// The host built this block from in: no need to parse it back.
		return in, nil
	}
	var in input
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, fmt.Errorf("contract input: %w", err)
	}
	if (opcode == opCreate) != (in.Type == TypeCreate) || (opcode == opMigrate) != (in.Type == TypeMigrate) {
		return nil, fmt.Errorf("contract input: opcode %q with type %q", opcode, in.Type)
	}
	return &in, nil
}

// Commit implements engine.Application: it executes the call.
func (a *app) Commit(b *engine.BlockContext, op *engine.Op, st kv.Txn) error {
	in := op.Data.(*input)
	var out *outcome
	var err error
	switch in.Type {
	case TypeCreate:
		out, err = a.create(in, st)
	case TypeMigrate:
		out, err = a.migrate(in, st)
	case TypeMoved:
		out, err = a.moved(in, st)
	default:
		out, err = a.call(in, st)
	}
	if err != nil {
		return err
	}
	if a.verify {
		if err := compareOutcome(&in.Record, &out.rec); err != nil {
			return err
		}
	}
	op.Data = out
	a.outcomes = append(a.outcomes, out)
	return nil
}

// Serialize implements engine.Application: Virtualchain-style fields of the
// record, outcome included, so the consensus hash covers what each call
// returned and left behind.
func (a *app) Serialize(op *engine.Op) ([]byte, error) {
	r := &op.Data.(*outcome).rec
	code, msg := "", ""
	if r.Error != nil {
		code, msg = r.Error.Code, r.Error.Message
	}
	return vchash.SerializeValues(op.Opcode, r.Type, r.Seq, r.User, r.UserIndex, r.UserEntry, r.CodeHash,
		r.Method, string(r.Args), r.Time, string(r.Result), code, msg, r.Gas, r.StateLength, r.StateRoot, r.From)
}

func (a *app) create(in *input, st kv.Txn) (*outcome, error) {
	out := &outcome{rec: in.Record}
	out.rec.Result, out.rec.Error, out.rec.Gas = nil, nil, 0
	if _, err := st.Get(keyMeta); err == nil {
		return nil, errors.New("create: the contract already exists")
	}
	a.hot = nil
	prog, err := a.programs.get([]byte(in.Code), a.limits)
	if err != nil {
		// Code that does not compile makes a failed create: recorded, so
		// the user learns why, and nothing else is stored.
		out.rec.Error = &RecordError{Code: "BadCode", Message: err.Error()}
		return a.finish(out, nil, st)
	}
	h := prog.Hash()
	out.rec.CodeHash = fmt.Sprintf("%x", h[:])
	exports, methods, err := prog.Instantiate(a.limits)
	if err != nil {
		out.rec.Error = &RecordError{Code: "BadModule", Message: err.Error()}
		return a.finish(out, nil, st)
	}
	m, _ := json.Marshal(meta{CodeHash: out.rec.CodeHash, Methods: methods, Creator: in.User, Participants: in.participants})
	if err := st.Set(keyMeta, m); err != nil {
		return nil, err
	}
	if err := st.Set(keyCode, []byte(in.Code)); err != nil {
		return nil, err
	}
	entries := [][]byte{exportsEntry(exports)}
	if err := st.Set(keyExports, exports); err != nil {
		return nil, err
	}
	size := int64(len(exports))
	// Creating runs init() when the contract has one, as the gist's
	// "new Forum()" does.
	if hasMethod(methods, "init") {
		res := a.pool.Call(prog, exports, newArchive(st), a.callOf(in, "init", []byte("[]")), a.limits)
		out.rec.Gas = res.Gas
		if res.Err != nil && res.Err.Code == contract.Internal {
			return nil, fmt.Errorf("contract runtime: %v", res.Err)
		}
		if res.Err == nil {
			newSize, qerr := a.checkQuota(st, size, exports, res)
			switch {
			case qerr != nil && qerr.Code == "":
				return nil, qerr
			case qerr != nil:
				res.Err = &contract.CallError{Code: contract.StateQuota, Message: qerr.Message}
			default:
				size = newSize
			}
		}
		if res.Err != nil {
			out.rec.Error = &RecordError{Code: res.Err.Code.String(), Message: res.Err.Message}
		} else {
			out.rec.Result = res.Value
			more, err := a.applyWrites(st, res)
			if err != nil {
				return nil, err
			}
			entries = append(entries, more...)
			if !bytes.Equal(res.Exports, exports) {
				if err := st.Set(keyExports, res.Exports); err != nil {
					return nil, err
				}
				entries = append(entries, exportsEntry(res.Exports))
			}
		}
	} else {
		out.rec.Result = json.RawMessage("null")
	}
	if err := st.Set(keySize, binary.AppendUvarint(nil, uint64(size))); err != nil {
		return nil, err
	}
	a.hot = nil // the contract's state was just made: read it afresh
	return a.finish(out, entries, st)
}

func (a *app) call(in *input, st kv.Txn) (*outcome, error) {
	out := &outcome{rec: in.Record}
	out.rec.Result, out.rec.Error, out.rec.Gas = nil, nil, 0
	if a.verify && in.Error != nil && nonDeterministic(in.Error.Code) {
		// The backstops (wall clock, heap) give the only verdicts that are
		// not deterministic; a replay follows what the log says.
		out.rec.Error, out.rec.Gas = in.Error, in.Gas
		return a.finish(out, nil, st)
	}
	hs, err := a.load(st)
	if err != nil {
		return nil, err
	}
	if hs.prog == nil {
		out.rec.Error = &RecordError{Code: "NoContract", Message: "the contract was not created"}
		return a.finish(out, nil, st)
	}
	if in.participants != nil {
		var m meta
		if raw, err := st.Get(keyMeta); err == nil {
			json.Unmarshal(raw, &m)
		}
		if !sameSet(m.Participants, in.participants) {
			out.rec.Error = &RecordError{Code: "NotParticipants", Message: "the call was sealed to other participants than the private contract's"}
			return a.finish(out, nil, st)
		}
	}
	if in.Method == "init" {
		// init runs once, as the creator, when the contract is created
		// (see create); afterwards nobody may run it again, or a second
		// caller could take over what it sets up (owner = call.caller).
		out.rec.Error = &RecordError{Code: CodeInitOnce, Message: "init runs once, when the contract is created; it cannot be called afterwards"}
		return a.finish(out, nil, st)
	}
	exports := hs.exports
	res := a.pool.Call(hs.prog, exports, newArchive(st), a.callOf(in, in.Method, in.Args), a.limits)
	out.rec.Gas = res.Gas
	if res.Err != nil && res.Err.Code == contract.Internal {
		// Not a verdict on the call: the state could not be read.
		return nil, fmt.Errorf("contract runtime: %v", res.Err)
	}
	if res.Err == nil {
		size, qerr := a.checkQuota(st, hs.size, exports, res)
		switch {
		case qerr != nil && qerr.Code == "":
			return nil, qerr
		case qerr != nil:
			res.Err = &contract.CallError{Code: contract.StateQuota, Message: qerr.Message}
		case size != hs.size:
			if err := st.Set(keySize, binary.AppendUvarint(nil, uint64(size))); err != nil {
				return nil, err
			}
			nh := *hs
			nh.size = size
			a.hot, hs = &nh, &nh
		}
	}
	if res.Err != nil {
		out.rec.Error = &RecordError{Code: res.Err.Code.String(), Message: res.Err.Message}
		return a.finish(out, nil, st)
	}
	out.rec.Result = res.Value
	entries, err := a.applyWrites(st, res)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(res.Exports, exports) {
		if err := st.Set(keyExports, res.Exports); err != nil {
			return nil, err
		}
		nh := *hs
		nh.exports = res.Exports
		a.hot = &nh
		entries = append(entries, exportsEntry(res.Exports))
	}
	return a.finish(out, entries, st)
}

// CodeInitOnce is the error code of a call to init after the contract was
// created: init runs once, at creation, as the creator.
const CodeInitOnce = "InitOnce"

// quotaError is checkQuota's verdict: Code "" wraps a storage failure (not
// a verdict on the call); otherwise the call exceeds the quota.
type quotaError struct {
	Code    string
	Message string
	err     error
}

func (e *quotaError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return e.Message
}

// checkQuota returns the state's size after a successful call's writes
// and new exports, or a StateQuota verdict when that is over
// Limits.MaxStateBytes. Growth is refused, shrinking never is: a call
// that leaves the state smaller passes even over a lowered quota.
func (a *app) checkQuota(st kv.Reader, size int64, oldExports []byte, res contract.Result) (int64, *quotaError) {
	delta, err := writesDelta(st, res.Writes)
	if err != nil {
		return 0, &quotaError{err: err}
	}
	delta += int64(len(res.Exports)) - int64(len(oldExports))
	limit := a.limits.WithDefaults().MaxStateBytes
	if delta > 0 && size+delta > limit {
		return 0, &quotaError{Code: contract.StateQuota.String(), Message: fmt.Sprintf("the call would leave %d bytes of state, over the contract's quota of %d", size+delta, limit)}
	}
	return size + delta, nil
}

// writesDelta is how much a call's writes change the state's size.
func writesDelta(st kv.Reader, writes []contract.Write) (int64, error) {
	ar := archive{r: st, prefix: []byte("n/")}
	cur := map[string]int64{} // path → its size now, -1 when absent
	sizeOf := func(p string) (int64, error) {
		if n, ok := cur[p]; ok {
			return n, nil
		}
		v, err := ar.node(p)
		if errors.Is(err, fs.ErrNotExist) {
			return -1, nil
		}
		if err != nil {
			return 0, err
		}
		return int64(len(p) + len(v) - 1), nil
	}
	var delta int64
	for _, w := range writes {
		old, err := sizeOf(w.Path)
		if err != nil {
			return 0, err
		}
		n := int64(-1)
		switch w.Op {
		case contract.Mkdir:
			n = int64(len(w.Path))
		case contract.WriteFile:
			n = int64(len(w.Path) + len(w.Data))
		}
		delta += max(n, 0) - max(old, 0)
		cur[w.Path] = n
	}
	return delta, nil
}

// stateSize counts a contract's state: the exports snapshot's length plus,
// for every file and directory of the archive, its path's length and the
// file's size. It is how a store made before the size was kept learns it.
func stateSize(st kv.Reader, exports []byte) (int64, error) {
	size := int64(len(exports))
	err := st.Iterate([]byte("n/"), func(k, v []byte) error {
		k = k[2:]
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return fmt.Errorf("corrupt archive key %q", k)
		}
		dir, name := k[:i], k[i+1:]
		p := len(dir) + 1 + len(name)
		if string(dir) == "/" {
			p = 1 + len(name)
		}
		size += int64(p + len(v) - 1)
		return nil
	})
	return size, err
}

// loadSize reads the state's size, counting it when the store predates it.
func loadSize(st kv.Reader, exports []byte) (int64, error) {
	b, err := st.Get(keySize)
	if errors.Is(err, kv.ErrNotFound) {
		if exports == nil {
			return 0, nil
		}
		return stateSize(st, exports)
	}
	if err != nil {
		return 0, err
	}
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, errors.New("corrupt state size")
	}
	return int64(n), nil
}

func (a *app) callOf(in *input, method string, args []byte) contract.Call {
	seed := blake2b.Sum256(fmt.Appendf(nil, "%s/%d/%s", in.UserEntry, in.Seq, in.User))
	return contract.Call{Method: method, Args: args, Caller: in.User, Time: in.Time, Seed: seed}
}

// applyWrites stores a successful call's writes in the archive and returns
// their state log entries.
func (a *app) applyWrites(st kv.Txn, res contract.Result) ([][]byte, error) {
	w := newWriter(st)
	entries := make([][]byte, 0, len(res.Writes))
	for _, wr := range res.Writes {
		var err error
		switch wr.Op {
		case contract.Mkdir:
			err = w.mkdirAll(wr.Path)
		case contract.WriteFile:
			err = w.writeFile(wr.Path, wr.Data)
		case contract.Unlink, contract.Rmdir:
			err = w.unlink(wr.Path)
		default:
			err = fmt.Errorf("unknown write %v", wr.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("applying %v %s: %w", wr.Op, wr.Path, err)
		}
		entries = append(entries, writeEntry(wr))
	}
	return entries, nil
}

// finish appends the call's state log entries to the state log's roots
// kept in state, and records the state log's new length and tree hash.
func (a *app) finish(out *outcome, entries [][]byte, st kv.Txn) (*outcome, error) {
	hs, err := a.load(st)
	if err != nil {
		return nil, err
	}
	roots, length := hs.roots, hs.length
	if len(entries) > 0 {
		// A new slice: the cached one may be a discarded batch's rollback
		// point.
		roots = slices.Clone(roots)
		for _, e := range entries {
			roots = hyperlog.AppendLeaf(roots, length, e)
			length++
		}
		if err := st.Set(keyStateRoots, encodeRoots(roots, length)); err != nil {
			return nil, err
		}
		nh := *hs
		nh.roots, nh.length = roots, length
		a.hot = &nh
	}
	out.stateLog = make([][]byte, len(entries))
	for i, e := range entries {
		out.stateLog[i] = summarize(e)
	}
	out.rec.StateLength = length
	out.rec.StateRoot = hyperlog.TreeHash(roots).String()
	return out, nil
}

func hasMethod(methods []string, m string) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

// stateEntry is one state log entry.
type stateEntry struct {
	Op      string          `json:"op"`
	Path    string          `json:"path,omitempty"`
	Data    *string         `json:"data,omitempty"`
	DataHex string          `json:"data_hex,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
}

// summary is how a call log record lists a state log entry whose data (a
// file's content, an exports snapshot) is over summaryMinBytes: the data
// is in the state archive, and usually in the call's args, already, so the
// record keeps the data's size and the entry's tree leaf (its length and
// hyperlog.LeafHash) instead, from which the state log's tree, and so
// StateRoot, can still be rebuilt, and against which the content read from
// the archive can be checked. Replays recompute the entries and check
// StateRoot; they never read a record's writes, so records written before
// summaries (with the data inline) replay alike.
type summary struct {
	Op       string `json:"op"`
	Path     string `json:"path,omitempty"`
	Size     int    `json:"size"`
	LeafSize int    `json:"leaf_size"`
	LeafHash string `json:"leaf_hash"`
}

// summaryMinBytes is the data size from which a summary is shorter than
// the entry.
const summaryMinBytes = 128

// summarize returns e itself when it carries little or no data, else its
// summary.
func summarize(e []byte) []byte {
	if len(e) < summaryMinBytes {
		return e
	}
	var se stateEntry
	if err := json.Unmarshal(e, &se); err != nil {
		return e
	}
	size := 0
	switch {
	case se.Data != nil:
		size = len(*se.Data)
	case se.DataHex != "":
		size = len(se.DataHex) / 2
	case se.Value != nil:
		size = len(se.Value)
	}
	if size < summaryMinBytes {
		return e
	}
	b, _ := json.Marshal(summary{Op: se.Op, Path: se.Path, Size: size, LeafSize: len(e), LeafHash: hyperlog.LeafHash(e).String()})
	return b
}

func writeEntry(w contract.Write) []byte {
	e := stateEntry{Op: w.Op.String(), Path: w.Path}
	if w.Op == contract.WriteFile {
		if utf8.Valid(w.Data) {
			s := string(w.Data)
			e.Data = &s
		} else {
			e.DataHex = fmt.Sprintf("%x", w.Data)
		}
	}
	b, _ := json.Marshal(e)
	return b
}

func exportsEntry(exports []byte) []byte {
	b, _ := json.Marshal(stateEntry{Op: "exports", Value: exports})
	return b
}

func encodeRoots(roots []hyperlog.Node, length uint64) []byte {
	b := binary.AppendUvarint(nil, length)
	for _, n := range roots {
		b = binary.AppendUvarint(b, n.Index)
		b = binary.AppendUvarint(b, n.Size)
		b = append(b, n.Hash[:]...)
	}
	return b
}

func loadStateRoots(r kv.Reader) ([]hyperlog.Node, uint64, error) {
	b, err := r.Get(keyStateRoots)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	length, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, 0, errors.New("corrupt state roots")
	}
	b = b[k:]
	var roots []hyperlog.Node
	for len(b) > 0 {
		var n hyperlog.Node
		var k1, k2 int
		n.Index, k1 = binary.Uvarint(b)
		if k1 <= 0 {
			return nil, 0, errors.New("corrupt state roots")
		}
		n.Size, k2 = binary.Uvarint(b[k1:])
		if k2 <= 0 || len(b) < k1+k2+32 {
			return nil, 0, errors.New("corrupt state roots")
		}
		copy(n.Hash[:], b[k1+k2:])
		b = b[k1+k2+32:]
		roots = append(roots, n)
	}
	return roots, length, nil
}

// compareOutcome checks a recorded outcome against the computed one.
func compareOutcome(rec, got *Record) error {
	d := func(field, r, c string) error {
		return &Divergence{Seq: rec.Seq, Field: field, Recorded: r, Computed: c}
	}
	errStr := func(e *RecordError) string {
		if e == nil {
			return "no error"
		}
		return e.Code + ": " + e.Message
	}
	switch {
	case errStr(rec.Error) != errStr(got.Error):
		return d("error", errStr(rec.Error), errStr(got.Error))
	case !bytes.Equal(rec.Result, got.Result):
		return d("result", string(rec.Result), string(got.Result))
	case rec.Gas != got.Gas:
		return d("gas", fmt.Sprint(rec.Gas), fmt.Sprint(got.Gas))
	case rec.CodeHash != got.CodeHash:
		return d("code hash", rec.CodeHash, got.CodeHash)
	case rec.StateLength != got.StateLength:
		return d("state log length", fmt.Sprint(rec.StateLength), fmt.Sprint(got.StateLength))
	case rec.StateRoot != got.StateRoot:
		return d("state root", rec.StateRoot, got.StateRoot)
	}
	return nil
}

// nonDeterministic reports whether a recorded error code is a backstop's
// verdict, which a replay must follow rather than recompute.
func nonDeterministic(code string) bool {
	for c := contract.Code(0); c < 64; c++ {
		if c.String() == code {
			return !c.Deterministic()
		}
	}
	return false
}

// migrate rebuilds a contract moved from another host: it replays the old
// call log, checking every recorded outcome, so the contract continues
// from exactly the state the old host's log proves. An old log that itself
// starts with a migrate (the contract moved before) is replayed the same
// way, down the chain of sealed logs to the create.
func (a *app) migrate(in *input, st kv.Txn) (*outcome, error) {
	verify := a.verify
	a.verify = true
	defer func() { a.verify = verify }()
	if _, err := st.Get(keyMeta); err == nil {
		return nil, errors.New("migrate: the contract already exists")
	}
	if in.adopt != nil {
		if err := in.adopt.Iterate(nil, st.Set); err != nil {
			return nil, fmt.Errorf("migrate: adopting the old contract's state: %w", err)
		}
	} else if err := a.replayOld(in, 0, st); err != nil {
		return nil, err
	}
	return a.migrated(in.Record, st)
}

// migrated is a migrate record's outcome once the old log is replayed.
func (a *app) migrated(rec Record, st kv.Txn) (*outcome, error) {
	out := &outcome{rec: rec}
	out.rec.Result, out.rec.Error, out.rec.Gas = json.RawMessage("null"), nil, 0
	a.hot = nil
	return a.finish(out, nil, st)
}

// replayOld replays the level-th old call log of a migrate's chain (0: the
// one it continues; 1: the one that log's migrate continues, ...).
func (a *app) replayOld(in *input, level int, st kv.Txn) error {
	sealed := false
	return in.eachHistory(level, func(i int, raw []byte) error {
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("migrate: old call log %d entry %d: %w", level, i, err)
		}
		first := rec.Type == TypeCreate || rec.Type == TypeMigrate
		if rec.Seq != uint64(i) || first != (i == 0) || sealed {
			return fmt.Errorf("migrate: old call log %d entry %d is out of place", level, i)
		}
		old := &input{Record: rec}
		var out *outcome
		var err error
		switch rec.Type {
		case TypeCreate:
			old.Code = in.Code
			out, err = a.create(old, st)
		case TypeMigrate:
			if level+1 >= in.chainLen() {
				return fmt.Errorf("migrate: old call log %d continues contract %s, whose call log is missing", level, rec.From)
			}
			if err := a.replayOld(in, level+1, st); err != nil {
				return err
			}
			out, err = a.migrated(rec, st)
		case TypeMoved:
			out, err = a.moved(old, st)
			sealed = err == nil && out.rec.Error == nil
		default:
			out, err = a.call(old, st)
		}
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := compareOutcome(&rec, &out.rec); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
