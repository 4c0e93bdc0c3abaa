package host

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
)

// instance is one contract on this host: its call log, its state engine
// and the sequencer goroutine that serves its calls in order.
type instance struct {
	h  *Host
	id ContractID
	// creator is the user whose create entry made the contract (for a
	// contract that moved here, the id it had before).
	creator  hyperlog.Hash
	dir      string
	calls    *hyperlog.Log
	from     *hyperlog.Log   // a migrated contract's old call log
	older    []*hyperlog.Log // the logs from continues, when it moved more than once
	eng      *engine.Engine
	store    *store.Namespace // the engine's store
	app      *app
	queue    *fairQueue
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
	return h.startInstance(id, user, dir, calls, nil)
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
	// Every entry of a call log is rehashed at start (VerifyAll): a call log
	// is read whole at start anyway, and damage anywhere in it must stop the
	// start rather than surface in an audit.
	opts := h.logOptions()
	opts.PrivateKey, opts.VerifyAll = priv, true
	calls, err := hyperlog.Open(filepath.Join(dir, "calls"), opts)
	if err != nil {
		return nil, fmt.Errorf("call log: %w; %s", err, remedy(dir, err))
	}
	var chain []*hyperlog.Log
	if o.Index == migratedIndex {
		for i := 0; ; i++ {
			name := oldLogDir(i)
			if _, err := os.Stat(filepath.Join(dir, name)); i > 0 && errors.Is(err, os.ErrNotExist) {
				break
			}
			l, err := hyperlog.Open(filepath.Join(dir, name), hyperlog.Options{ReadOnly: true, VerifyAll: true, Logger: h.log})
			if err != nil {
				calls.Close()
				closeLogs(chain)
				return nil, fmt.Errorf("old call log %s: %w; %s", name, err, remedy(dir, err))
			}
			chain = append(chain, l)
		}
	}
	return h.startInstance(ContractID(calls.Key()), creator, dir, calls, chain)
}

// oldLogDir names the directory of a migrated contract's i-th old call
// log: "from" for the one it continues, "from-1" for the one that log
// continues, and so on.
func oldLogDir(i int) string {
	if i == 0 {
		return "from"
	}
	return fmt.Sprintf("from-%d", i)
}

func closeLogs(ls []*hyperlog.Log) {
	for _, l := range ls {
		l.Close()
	}
}

// chain returns the contract's old call logs, newest first.
func (in *instance) chain() []*hyperlog.Log {
	if in.from == nil {
		return nil
	}
	return append([]*hyperlog.Log{in.from}, in.older...)
}

func (h *Host) startInstance(id ContractID, creator hyperlog.Hash, dir string, calls *hyperlog.Log, chain []*hyperlog.Log) (*instance, error) {
	in := &instance{h: h, id: id, creator: creator, dir: dir, calls: calls, queue: newFairQueue(), stop: make(chan struct{})}
	if len(chain) > 0 {
		in.from, in.older = chain[0], chain[1:]
	}
	in.app = &app{programs: h.programs, pool: h.pool, limits: h.limits}
	cfg := engine.Config{UndoDepth: int64(4 * h.cfg.MaxBatch), Logger: h.log}
	if h.cfg.Sync {
		cfg.SyncBlocks = 1
	}
	ns := h.db.Namespace(append([]byte("c/"), append(id[:], '/')...))
	in.store = ns
	eng, err := engine.Open(ns, in.app, cfg)
	if err != nil {
		calls.Close()
		closeLogs(chain)
		return nil, fmt.Errorf("contract %s: engine: %w", id, err)
	}
	in.eng = eng
	// The call log is the truth: undo what the engine holds beyond it,
	// re-run (and check) what it lacks.
	err = in.reconcile()
	var deep *engine.ReorgTooDeepError
	if errors.As(err, &deep) {
		// The call log lost more calls than the engine can undo (a repair
		// cut it): the log is the truth, so the state is rebuilt from it.
		h.log.Warn("the contract's state is ahead of its call log by more than the engine can undo: rebuilding it from the call log",
			"contract", id, "stateHeight", deep.Committed, "callLog", calls.Length(), "undoDepth", deep.UndoDepth)
		if err := ns.Clear(); err != nil {
			calls.Close()
			closeLogs(chain)
			return nil, fmt.Errorf("contract %s: clearing its state to rebuild it: %w", id, err)
		}
		if in.eng, err = engine.Open(ns, in.app, cfg); err != nil {
			calls.Close()
			closeLogs(chain)
			return nil, fmt.Errorf("contract %s: engine: %w", id, err)
		}
		err = in.reconcile()
	}
	if err != nil {
		calls.Close()
		closeLogs(chain)
		return nil, fmt.Errorf("contract %s: recovering: %w", id, err)
	}
	if err := in.catchUpEvents(); err != nil {
		calls.Close()
		closeLogs(chain)
		return nil, fmt.Errorf("contract %s: events: %w", id, err)
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
		select {
		case <-in.queue.ready:
		case <-in.stop:
			// Calls still waiting stay in their users' logs: the next start
			// serves them.
			for _, r := range in.queue.take(math.MaxInt) {
				r.reply <- reply{err: errors.New("host is closing")}
			}
			return
		}
		batch := in.queue.take(in.h.cfg.MaxBatch)
		if len(batch) == 0 {
			continue
		}
		taken, requeued := batch, 0
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
				in.queue.done(batch)
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
			b, rest := in.execute(seg)
			if b != nil {
				in.inflight.Add(1)
				logged <- b
			}
			if len(rest) > 0 {
				// The batch used its gas: what it did not run goes first
				// in the next one.
				requeued = len(rest) + len(batch)
				in.queue.requeue(append(rest, batch...))
				break
			}
		}
		in.queue.done(taken[:len(taken)-requeued])
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
// records; it answers the batch itself only when the engine fails. Once
// the calls run have used Config.BatchGas it stops and returns the calls
// it did not run.
func (in *instance) execute(batch []*request) (*executed, []*request) {
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
			inp.HostKey, inp.HostSig, inp.oldLog, inp.older = m.hostKey, m.hostSig, m.old, m.older
			inp.adopt = m.adopt
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
	records, err := in.eng.ApplyBlocksUntil(blocks, -1, func() bool {
		var gas uint64
		for _, out := range in.app.outcomes {
			gas += out.rec.Gas
		}
		return gas >= in.h.cfg.BatchGas
	})
	if err != nil {
		in.app.hot = hot // the batch was discarded
		in.h.log.Error("contract engine failed", "contract", in.id, "err", err)
		for _, r := range batch {
			r.reply <- reply{err: fmt.Errorf("engine: %w", err)}
		}
		return nil, nil
	}
	batch, rest := batch[:len(records)], batch[len(records):]
	b := &executed{batch: batch, raws: make([][]byte, len(batch)), recs: make([]*Record, len(batch))}
	for i, out := range in.app.outcomes {
		rec := out.rec
		rec.Consensus = records[i].Consensus.String()
		rec.State = records[i].State.String()
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
	return b, rest
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
	if err := in.h.events.emit(in.id, b.recs[0].Seq, b.recs); err != nil {
		// The records are logged; the next start writes their events.
		in.h.log.Error("event log", "contract", in.id, "err", err)
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
	var raw []byte
	err = h.withUser(pub, func(l *hyperlog.Log) error {
		var err error
		if raw, err = l.Get(rec.UserIndex); err != nil {
			err = fmt.Errorf("user %s entry %d: %w", rec.User, rec.UserIndex, err)
			if errors.Is(err, hyperlog.ErrCorrupt) {
				err = fmt.Errorf("%w; %s", err, remedy(h.userDir(pub), err))
			}
		}
		return err
	})
	if err != nil {
		return "", err
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

// recover opens every contract on disk, checks that no user log lost
// entries a call log served, and serves user calls that were logged but
// never reached a call log (the host stopped in between).
//
// It reads every call log (to know what each served) but not every user
// log: only those a call log served, one at a time, to check their length,
// and the entries of users with pending markers (see markPending). Every
// problem it finds stops the start with an error that names the contract,
// the user, the file and what to do; what it removes (half-made logs that
// hold no signed entry) it logs.
func (h *Host) recover() error {
	t0 := time.Now()
	if err := h.takeManifest(); err != nil {
		return err
	}
	if err := h.cleanUsers(); err != nil {
		return err
	}
	pending, markers, tracked, err := h.loadPending()
	if err != nil {
		return err
	}
	if h.cfg.Repair {
		// A repair may cut records off a call log: the calls they served
		// have no pending marker any more, so every user log is read to
		// find them and serve them again.
		tracked = false
	}
	dirs, err := os.ReadDir(filepath.Join(h.cfg.Dir, "contracts"))
	if err != nil {
		return err
	}
	served := map[hyperlog.Hash]*servedBy{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(h.cfg.Dir, "contracts", d.Name())
		if h.halfCreatedContract(dir) {
			continue
		}
		in, err := h.openInstance(dir)
		if err != nil {
			return fmt.Errorf("contract %s: %w", d.Name(), err)
		}
		if err := scanServed(in, served, pending, tracked); err != nil {
			return err
		}
	}
	var visit []hyperlog.Hash
	if tracked {
		for pub := range served {
			visit = append(visit, pub)
		}
		for pub := range pending {
			if served[pub] == nil {
				visit = append(visit, pub)
			}
		}
	} else {
		// A directory from before pending markers: read every user log
		// once, one at a time.
		ents, err := os.ReadDir(filepath.Join(h.cfg.Dir, "users"))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if pub, err := hyperlog.ParseHash(e.Name()); err == nil && e.IsDir() {
				visit = append(visit, pub)
			}
		}
		for pub := range served {
			if _, err := os.Stat(h.userDir(pub)); err != nil {
				visit = append(visit, pub)
			}
		}
	}
	sort.Slice(visit, func(i, j int) bool { return string(visit[i][:]) < string(visit[j][:]) })
	t1 := time.Now()
	unserved, err := h.visitUsers(visit, func(pub hyperlog.Hash) (*servedBy, uint64, bool) {
		from, ok := pending[pub]
		return served[pub], from, ok || !tracked
	})
	if err != nil {
		return err
	}
	t2 := time.Now()
	// A contract's create runs before any call to it: users are visited in
	// key order, and another user's calls may come before the creator's.
	sort.SliceStable(unserved, func(i, j int) bool {
		return unserved[i].entry.Type == TypeCreate && unserved[j].entry.Type != TypeCreate
	})
	if err := h.serveLogged(unserved); err != nil {
		return err
	}
	h.log.Info("host recovered", "contracts", len(dirs), "usersChecked", len(visit), "usersUnchanged", h.unchanged.Load(), "pending", len(pending), "callsServed", len(unserved),
		"contractsTook", t1.Sub(t0).Round(time.Millisecond), "usersTook", t2.Sub(t1).Round(time.Millisecond), "servingTook", time.Since(t2).Round(time.Millisecond))
	for _, m := range markers {
		h.clearPending(m)
	}
	if !tracked {
		if err := os.MkdirAll(filepath.Join(h.cfg.Dir, pendingDir), 0o755); err != nil {
			return err
		}
	}
	h.stamps.mu.Lock()
	h.stamps.ok, h.stamps.prev = true, nil
	h.stamps.mu.Unlock()
	return nil
}

// servedBy is what the call logs served of one user: entries below upTo at
// most (the newest served is call log entry seq of contract), and, when
// asked for, exactly which.
type servedBy struct {
	upTo     uint64
	contract ContractID
	seq      uint64
	indexes  map[uint64]bool
}

// scanServed reads a call log and notes, per user, the newest entry it
// served and (for users with pending calls, or all when untracked) which.
func scanServed(in *instance, served map[hyperlog.Hash]*servedBy, pending map[hyperlog.Hash]uint64, tracked bool) error {
	var rec struct {
		User      string `json:"user"`
		UserIndex uint64 `json:"user_index"`
	}
	return in.calls.ReadRange(0, in.calls.Length(), func(i uint64, raw []byte) error {
		rec.User, rec.UserIndex = "", 0
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("contract %s: call log entry %d: %w", in.id, i, err)
		}
		if rec.User == "" {
			return nil // a migrate record serves no user entry
		}
		pub, err := hyperlog.ParseHash(rec.User)
		if err != nil {
			return fmt.Errorf("contract %s: call log entry %d: user: %w", in.id, i, err)
		}
		s := served[pub]
		if s == nil {
			s = &servedBy{}
			served[pub] = s
		}
		if rec.UserIndex+1 > s.upTo {
			s.upTo, s.contract, s.seq = rec.UserIndex+1, in.id, i
		}
		if _, ok := pending[pub]; ok || !tracked {
			if s.indexes == nil {
				s.indexes = map[uint64]bool{}
			}
			s.indexes[rec.UserIndex] = true
		}
		return nil
	})
}

// halfCreatedContract removes (and reports true for) a contract directory
// whose creation was interrupted before its call log held an entry: its
// create is still in the user's log and is served again.
func (h *Host) halfCreatedContract(dir string) bool {
	_, oerr := os.Stat(filepath.Join(dir, "origin.json"))
	_, ierr := os.Stat(filepath.Join(dir, "calls", "identity.json"))
	if oerr == nil && ierr == nil {
		return false
	}
	if st, err := os.Stat(filepath.Join(dir, "calls", "data")); err == nil && st.Size() > 0 {
		return false // openInstance says what is missing
	}
	if _, err := os.Stat(filepath.Join(dir, "from")); err == nil {
		return false // an import keeps the old log there
	}
	h.log.Warn("removed a contract directory whose creation was interrupted before it served a call", "dir", dir)
	if err := os.RemoveAll(dir); err != nil {
		h.log.Error("removing a half-created contract directory", "dir", dir, "err", err)
	}
	return true
}

// loggedCall is a user call found in a user log at start.
type loggedCall struct {
	user  hyperlog.Hash
	index uint64
	raw   []byte
	entry *UserEntry
}

// visitUsers checks each user log (a few at a time, each opened alone and
// closed before the next): it must exist and hold every entry a call log
// served; and, for users whose calls may be unserved, it returns those
// calls, in the user's order.
func (h *Host) visitUsers(users []hyperlog.Hash, of func(hyperlog.Hash) (*servedBy, uint64, bool)) ([]loggedCall, error) {
	const workers = 4
	results := make([][]loggedCall, len(users))
	errs := make([]error, len(users))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(users) {
					return
				}
				s, from, scan := of(users[i])
				results[i], errs[i] = h.visitUser(users[i], s, from, scan)
				if errs[i] != nil {
					next.Store(int64(len(users))) // stop early
					return
				}
			}
		}()
	}
	wg.Wait()
	var out []loggedCall
	for i := range users {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, results[i]...)
	}
	return out, nil
}

func (h *Host) visitUser(pub hyperlog.Hash, s *servedBy, from uint64, scan bool) ([]loggedCall, error) {
	dir := h.userDir(pub)
	servedMsg := func() string {
		if s == nil {
			return ""
		}
		return fmt.Sprintf(" (contract %s served its entries up to index %d, in call log entry %d)", s.contract, s.upTo-1, s.seq)
	}
	var out []loggedCall
	check := func(l *hyperlog.Log) error {
		n := l.Length()
		if s != nil && n < s.upTo {
			return fmt.Errorf("user log %s holds %d entries, but contract %s served its entry %d (call log entry %d), so it had at least %d: the user log lost entries the call log answered; restore %s from a peer that holds the logs (a user also keeps their own log)",
				pub, n, s.contract, s.upTo-1, s.seq, s.upTo, dir)
		}
		if !scan || from >= n {
			return nil
		}
		return l.ReadRange(from, n, func(i uint64, raw []byte) error {
			if s != nil && s.indexes[i] {
				return nil
			}
			ue, err := DecodeUserEntry(raw)
			if err != nil || !h.servesOnRecovery(pub, i, ue) {
				return nil // an ack, an imported entry, another host's contract
			}
			out = append(out, loggedCall{user: pub, index: i, raw: append([]byte(nil), raw...), entry: ue})
			return nil
		})
	}
	if h.cfg.Repair {
		// A repair writes: go through the cache, which holds the writer.
		err := h.withUser(pub, check)
		var he *Error
		if errors.As(err, &he) && he.Code == ErrNotFound {
			if s != nil {
				return nil, fmt.Errorf("user log %s is missing%s; restore %s from a peer that holds the logs", pub, servedMsg(), dir)
			}
			return nil, nil
		}
		return out, err
	}
	// A log whose files are as they were at the last clean close holds
	// what it held then (see manifestFile): only its length is checked.
	if !scan {
		if n, ok := h.unchangedSinceClose(pub); ok {
			h.unchanged.Add(1)
			if s != nil && n < s.upTo {
				return nil, fmt.Errorf("user log %s holds %d entries, but contract %s served its entry %d (call log entry %d), so it had at least %d: the user log lost entries the call log answered; restore %s from a peer that holds the logs (a user also keeps their own log)",
					pub, n, s.contract, s.upTo-1, s.seq, s.upTo, dir)
			}
			return nil, nil
		}
	}
	// User logs are small: rehash them whole (VerifyAll), so that damage
	// anywhere in one a contract served stops the start.
	l, err := hyperlog.Open(dir, hyperlog.Options{ReadOnly: true, VerifyAll: true, Logger: h.log})
	if errors.Is(err, hyperlog.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		if s != nil {
			return nil, fmt.Errorf("user log %s is missing%s; restore %s from a peer that holds the logs", pub, servedMsg(), dir)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("user log %s%s: %w; %s", pub, servedMsg(), err, remedy(dir, err))
	}
	err = check(l)
	length := l.Length()
	empty := length == 0
	if cerr := l.Close(); err == nil && cerr == nil {
		h.noteClosed(pub, length)
	}
	if err != nil {
		if errors.Is(err, hyperlog.ErrCorrupt) {
			err = fmt.Errorf("user log %s: %w; %s", pub, err, remedy(dir, err))
		}
		return nil, err
	}
	if empty && s == nil {
		// An older host created a replica before checking the request's
		// signature: it holds no signed entry.
		h.log.Warn("removed an empty user log (no signed entry)", "dir", dir)
		h.forgetStamp(pub)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// serveLogged serves calls found in user logs at start, keeping a bounded
// number in flight.
func (h *Host) serveLogged(calls []loggedCall) error {
	const window = 4096
	var inflight []*request
	wait := func(req *request) error {
		r := <-req.reply
		return r.err
	}
	for _, c := range calls {
		h.log.Debug("serving a call logged before a restart", "user", c.user, "index", c.index)
		req, err := h.enqueue(context.Background(), c.user, c.index, c.raw, c.entry)
		var he *Error
		if errors.As(err, &he) {
			h.log.Warn("a logged call stays unserved", "user", c.user, "index", c.index, "err", err)
			continue // a call to a contract that does not exist stays unserved
		}
		if err != nil {
			return err
		}
		inflight = append(inflight, req)
		if len(inflight) >= window {
			if err := wait(inflight[0]); err != nil {
				return err
			}
			inflight = inflight[1:]
		}
	}
	for _, req := range inflight {
		if err := wait(req); err != nil {
			return err
		}
	}
	return nil
}
