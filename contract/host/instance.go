package host

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/tape"
)

// instance is one contract on this host: its call log, its state engine
// and the sequencer goroutine that serves its calls in order.
type instance struct {
	h        *Host
	id       ContractID
	dir      string
	calls    *hyperlog.Log
	from     *hyperlog.Log // a migrated contract's old call log
	eng      *engine.Engine
	app      *app
	reqs     chan *request
	stop     chan struct{}
	lastTime int64
	// failed is set by the logger when a batch could not be logged;
	// inflight counts executed batches the logger has not finished.
	failed   atomic.Pointer[error]
	inflight atomic.Int64
	// moved is where the contract went once its call log is sealed (see
	// movedTo, which loads it from the log once).
	moved    atomic.Pointer[MovedTo]
	sealOnce sync.Once
}

type request struct {
	user    hyperlog.Hash
	index   uint64
	raw     []byte
	entry   *UserEntry
	migrate *migration // a contract moving in
	reply   chan reply
}

type reply struct {
	answer *Answer
	err    error
}

// origin is stored beside a call log: the user entry that created the
// contract, from which the host derives the log's key again.
type origin struct {
	Creator string `json:"creator"`
	Index   uint64 `json:"index"`
}

func (h *Host) createInstance(user hyperlog.Hash, index uint64) (*instance, error) {
	priv := h.contractKey(user, index)
	id := ContractID(hyperlog.NewIdentity(hyperlog.ModeManifest, priv.Public().(ed25519.PublicKey)).Key())
	h.mu.Lock()
	if in, ok := h.contracts[id]; ok {
		h.mu.Unlock()
		return in, nil
	}
	h.mu.Unlock()
	dir := filepath.Join(h.cfg.Dir, "contracts", id.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o, _ := json.Marshal(origin{Creator: user.String(), Index: index})
	if err := os.WriteFile(filepath.Join(dir, "origin.json"), o, 0o644); err != nil {
		return nil, err
	}
	calls, err := hyperlog.Create(filepath.Join(dir, "calls"), priv, hyperlog.Options{Sync: h.cfg.Sync, Logger: h.log})
	if err != nil {
		return nil, fmt.Errorf("contract %s: call log: %w", id, err)
	}
	return h.startInstance(id, dir, calls, nil)
}

// openInstance reopens a contract found on disk.
func (h *Host) openInstance(dir string) (*instance, error) {
	b, err := os.ReadFile(filepath.Join(dir, "origin.json"))
	if err != nil {
		return nil, err
	}
	var o origin
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	creator, err := hyperlog.ParseHash(o.Creator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	priv := h.contractKey(creator, o.Index)
	calls, err := hyperlog.Open(filepath.Join(dir, "calls"), hyperlog.Options{PrivateKey: priv, Sync: h.cfg.Sync, Logger: h.log})
	if err != nil {
		return nil, fmt.Errorf("%s: call log: %w", dir, err)
	}
	var from *hyperlog.Log
	if o.Index == migratedIndex {
		if from, err = hyperlog.Open(filepath.Join(dir, "from"), hyperlog.Options{ReadOnly: true, Logger: h.log}); err != nil {
			calls.Close()
			return nil, fmt.Errorf("%s: old call log: %w", dir, err)
		}
	}
	return h.startInstance(ContractID(calls.Key()), dir, calls, from)
}

func (h *Host) startInstance(id ContractID, dir string, calls, from *hyperlog.Log) (*instance, error) {
	in := &instance{h: h, id: id, dir: dir, calls: calls, from: from, reqs: make(chan *request, 1024), stop: make(chan struct{})}
	in.app = &app{programs: h.programs, pool: h.pool, limits: h.limits}
	cfg := engine.Config{UndoDepth: int64(4 * h.cfg.MaxBatch), Logger: h.log}
	if h.cfg.Sync {
		cfg.SyncBlocks = 1
	}
	eng, err := engine.Open(h.db.Namespace(append([]byte("c/"), append(id[:], '/')...)), in.app, cfg)
	if err != nil {
		calls.Close()
		return nil, fmt.Errorf("contract %s: engine: %w", id, err)
	}
	in.eng = eng
	// The call log is the truth: undo what the engine holds beyond it,
	// re-run (and check) what it lacks.
	if err := in.reconcile(); err != nil {
		calls.Close()
		return nil, fmt.Errorf("contract %s: recovering: %w", id, err)
	}
	if n := calls.Length(); n > 0 {
		raw, err := calls.Get(n - 1)
		if err != nil {
			return nil, err
		}
		var last Record
		if err := json.Unmarshal(raw, &last); err == nil {
			in.lastTime = last.Time
		}
	}
	h.mu.Lock()
	h.contracts[id] = in
	h.wg.Add(1)
	h.mu.Unlock()
	go in.run()
	return in, nil
}

func (in *instance) reconcile() error {
	in.app.verify = true
	in.app.hot = nil
	defer func() { in.app.verify = false; in.app.outcomes = nil; in.app.hot = nil }()
	return in.eng.Sync(context.Background(), &callLogSource{in: in})
}

// run is the sequencer: it executes queued calls in batches (one engine
// commit per batch) and hands each executed batch to the logger goroutine,
// which appends it to the call log (one signature per batch) and answers;
// the next batch executes while the previous one is being logged.
func (in *instance) run() {
	defer in.h.wg.Done()
	logged := make(chan *executed, 2)
	loggerDone := make(chan struct{})
	go func() {
		defer close(loggerDone)
		for b := range logged {
			in.log(b)
		}
	}()
	defer func() {
		close(logged)
		<-loggerDone
	}()
	for {
		var first *request
		select {
		case first = <-in.reqs:
		case <-in.stop:
			return
		}
		batch := []*request{first}
	drain:
		for len(batch) < in.h.cfg.MaxBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if in.failed.Load() != nil {
			// A batch could not be logged: wait until the logger has dealt
			// with everything in flight, then bring the engine back to the
			// call log before executing more.
			for in.inflight.Load() > 0 {
				time.Sleep(time.Millisecond)
			}
			if err := in.reconcile(); err != nil {
				in.h.log.Error("rolling the engine back failed", "contract", in.id, "err", err)
				for _, r := range batch {
					r.reply <- reply{err: fmt.Errorf("contract %s is unavailable: %w", in.id, err)}
				}
				continue
			}
			in.failed.Store(nil)
			in.moved.Store(in.lastSeal()) // a seal that was not logged is undone
		}
		// A move seals the log: it ends its batch, and nothing after it runs.
		for len(batch) > 0 {
			seg := batch[:sealEnd(batch)]
			batch = batch[len(seg):]
			if to := in.movedTo(); to != nil {
				for _, r := range seg {
					r.reply <- reply{err: movedError(in.id, to)}
				}
				continue
			}
			if b := in.execute(seg); b != nil {
				in.inflight.Add(1)
				logged <- b
			}
		}
	}
}

// sealEnd is the length of the batch prefix up to and including its first
// move.
func sealEnd(batch []*request) int {
	for i, r := range batch {
		if r.entry.Type == TypeMove {
			return i + 1
		}
	}
	return len(batch)
}

func (in *instance) nextTime() int64 {
	t := in.h.cfg.Clock().UnixMilli()
	if t < in.lastTime {
		t = in.lastTime
	}
	in.lastTime = t
	return t
}

// executed is a batch the engine has run, waiting to be logged.
type executed struct {
	batch []*request
	recs  []*Record
	raws  [][]byte
}

// execute runs a batch through the engine and builds its call log
// records; it answers the batch itself only when the engine fails.
func (in *instance) execute(batch []*request) *executed {
	seq0 := uint64(in.eng.Height() + 1)
	blocks := make([]*tape.Block, len(batch))
	for i, r := range batch {
		rec := Record{Type: r.entry.Type, Seq: seq0 + uint64(i), User: r.user.String(), UserIndex: r.index,
			UserEntry: EntryHash(r.raw), Time: in.nextTime()}
		inp := &input{Record: rec}
		switch {
		case r.migrate != nil:
			m := r.migrate
			inp.User, inp.UserEntry = "", ""
			inp.From, inp.FromHead, inp.Code = m.from.String(), headOf(m.head), m.code
			inp.HostKey, inp.HostSig, inp.oldLog = m.hostKey, m.hostSig, m.old
		case r.entry.Type == TypeMove:
			inp.Type, inp.To = TypeMoved, r.entry.To
		case r.entry.Type == TypeCreate:
			inp.Code = r.entry.Code
		default:
			inp.Method, inp.Args = r.entry.Method, r.entry.Args
		}
		blocks[i] = block(inp)
	}
	in.app.outcomes = in.app.outcomes[:0]
	hot := in.app.hot
	records, err := in.eng.ApplyBlocks(blocks, -1)
	if err != nil {
		in.app.hot = hot // the batch was discarded
		in.h.log.Error("contract engine failed", "contract", in.id, "err", err)
		for _, r := range batch {
			r.reply <- reply{err: fmt.Errorf("engine: %w", err)}
		}
		return nil
	}
	b := &executed{batch: batch, raws: make([][]byte, len(batch)), recs: make([]*Record, len(batch))}
	for i, out := range in.app.outcomes {
		rec := out.rec
		rec.Consensus = records[i].Consensus.String()
		for _, w := range out.stateLog {
			rec.Writes = append(rec.Writes, json.RawMessage(w))
		}
		b.recs[i] = &rec
		b.raws[i], _ = json.Marshal(&rec)
		if rec.Type == TypeMoved && rec.Error == nil {
			// Sealed: nothing after this record runs (run refuses it).
			in.moved.Store(rec.To)
		}
	}
	return b
}

// log appends an executed batch to the call log and answers its calls.
// After a failure it refuses every batch until the sequencer has brought
// the engine back in line with the log.
func (in *instance) log(b *executed) {
	defer in.inflight.Add(-1)
	fail := func(err error) {
		for _, r := range b.batch {
			r.reply <- reply{err: err}
		}
	}
	if err := in.failed.Load(); err != nil {
		fail(fmt.Errorf("call log: %w", *err))
		return
	}
	if n := in.calls.Length(); n != b.recs[0].Seq {
		err := fmt.Errorf("call log has %d entries, batch starts at %d", n, b.recs[0].Seq)
		in.failed.Store(&err)
		fail(err)
		return
	}
	if _, err := in.calls.Append(b.raws...); err != nil {
		in.h.log.Error("call log append failed", "contract", in.id, "err", err)
		in.failed.Store(&err)
		fail(fmt.Errorf("call log: %w", err))
		return
	}
	head := in.calls.Head()
	head.Roots = nil // answers carry the signed head; roots are for whoever wants to extend it
	for i, r := range b.batch {
		r.reply <- reply{answer: &Answer{Contract: in.id, Record: b.recs[i], Raw: b.raws[i], Head: head}}
	}
}

// callLogSource shows a contract's call log to its engine as a tape.
type callLogSource struct{ in *instance }

func (s *callLogSource) Tip(context.Context) (int64, error) {
	return int64(s.in.calls.Length()) - 1, nil
}

func (s *callLogSource) record(h int64) (*Record, error) {
	if h < 0 || uint64(h) >= s.in.calls.Length() {
		return nil, fmt.Errorf("call log entry %d: %w", h, tape.ErrNotFound)
	}
	raw, err := s.in.calls.Get(uint64(h))
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("call log entry %d: %w", h, err)
	}
	return &rec, nil
}

func (s *callLogSource) Header(_ context.Context, h int64) (tape.Header, error) {
	rec, err := s.record(h)
	if err != nil {
		return tape.Header{}, err
	}
	return tape.Header{Height: h, Hash: inputHash(rec), Time: rec.Time / 1000}, nil
}

func (s *callLogSource) Block(_ context.Context, h int64) (*tape.Block, error) {
	rec, err := s.record(h)
	if err != nil {
		return nil, err
	}
	inp := &input{Record: *rec}
	switch rec.Type {
	case TypeCreate:
		if inp.Code, err = s.in.h.userCode(rec); err != nil {
			return nil, err
		}
	case TypeMigrate:
		if inp, err = s.in.h.migrationOf(s.in, rec); err != nil {
			return nil, err
		}
	}
	return block(inp), nil
}

// userCode finds the source a create record names in its user's log.
func (h *Host) userCode(rec *Record) (string, error) {
	pub, err := hyperlog.ParseHash(rec.User)
	if err != nil {
		return "", err
	}
	u, err := h.user(pub, false)
	if err != nil {
		return "", err
	}
	raw, err := u.log.Get(rec.UserIndex)
	if err != nil {
		return "", fmt.Errorf("user %s entry %d: %w", rec.User, rec.UserIndex, err)
	}
	if EntryHash(raw) != rec.UserEntry {
		return "", fmt.Errorf("user %s entry %d does not match the call log", rec.User, rec.UserIndex)
	}
	ue, err := DecodeUserEntry(raw)
	if err != nil {
		return "", err
	}
	return ue.Code, nil
}

// recover opens every contract on disk, then serves user calls that were
// logged but never reached a call log (the host stopped in between).
func (h *Host) recover() error {
	dirs, err := os.ReadDir(filepath.Join(h.cfg.Dir, "contracts"))
	if err != nil {
		return err
	}
	served := map[string]map[uint64]bool{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		in, err := h.openInstance(filepath.Join(h.cfg.Dir, "contracts", d.Name()))
		if err != nil {
			return err
		}
		err = in.calls.ReadRange(0, in.calls.Length(), func(_ uint64, raw []byte) error {
			var rec Record
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			if served[rec.User] == nil {
				served[rec.User] = map[uint64]bool{}
			}
			served[rec.User][rec.UserIndex] = true
			return nil
		})
		if err != nil {
			return err
		}
	}
	users, err := os.ReadDir(filepath.Join(h.cfg.Dir, "users"))
	if err != nil {
		return err
	}
	for _, d := range users {
		pub, err := hyperlog.ParseHash(d.Name())
		if err != nil {
			continue
		}
		u, err := h.user(pub, false)
		if err != nil {
			return err
		}
		n := u.log.Length()
		for i := uint64(0); i < n; i++ {
			if served[pub.String()][i] {
				continue
			}
			raw, err := u.log.Get(i)
			if err != nil {
				return err
			}
			ue, err := DecodeUserEntry(raw)
			if err != nil || ue.Type == TypeAck {
				continue
			}
			h.log.Info("serving a call logged before a restart", "user", pub, "index", i)
			req, err := h.enqueue(context.Background(), pub, i, raw, ue)
			var he *Error
			if errors.As(err, &he) {
				continue // a call to a contract that does not exist stays unserved
			}
			if err != nil {
				return err
			}
			if r := <-req.reply; r.err != nil {
				return r.err
			}
		}
	}
	return nil
}
