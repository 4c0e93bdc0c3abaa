// Package host is the auditable contract host of the "Many Isolated VMs"
// design: users sign calls into their own append-only logs, the host
// serves each call in a per-contract call log it signs, runs it through the
// state engine and the deterministic JavaScript runtime, and keeps every
// log so that anyone can replay and audit it. See docs/contract-host.md.
package host

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
)

// Config configures a Host.
type Config struct {
	// Dir holds everything: the host key, the engine store, call logs and
	// user log replicas.
	Dir string
	// Limits bound every call; zero means contract.DefaultLimits().
	Limits contract.Limits
	// Sync fsyncs logs and the store before a call is answered, so an
	// answered call survives power loss; without it an answered call
	// survives the host process being killed.
	Sync bool
	// MaxBatch bounds how many queued calls are served with one signature
	// and one commit (default 256).
	MaxBatch int
	// BatchGas ends a batch early once its calls have used this much gas
	// (default twice Limits.Gas), so expensive calls cannot make one batch,
	// and everyone queued behind it, wait for seconds; the calls left over
	// go first in the next batch.
	BatchGas uint64
	// MaxQueuedPerUser bounds how many calls of one user wait at one
	// contract (default 64). Waiting calls are served one per user in turn,
	// so a user's calls wait behind at most one call of each other user
	// per round; a request that would queue more is refused with ErrBusy
	// before anything is written, and the client retries it.
	MaxQueuedPerUser int
	// MaxQueued bounds how many calls wait at one contract in all (default
	// 4096); beyond it requests are refused with ErrBusy the same way.
	MaxQueued int
	// MaxContractsPerUser bounds how many contracts one user may create on
	// the host (default 100), so no one user can take all of MaxContracts;
	// a create beyond it is refused with ErrForbidden.
	MaxContractsPerUser int
	// Clock gives calls their time (default time.Now). Calls of one
	// contract get non-decreasing times.
	Clock func() time.Time
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// CacheBytes bounds the store's block cache (default 1 GiB, allocated
	// as it fills): a host's throughput falls once the state it reads
	// outgrows the cache.
	CacheBytes int64
	// MaxOpenUserLogs bounds how many user log replicas are open at once
	// (default 64; each holds 4 file descriptors). Logs open when a request
	// needs them and the least recently used idle one is closed to make
	// room, so descriptors stay bounded however many users the host has.
	MaxOpenUserLogs int
	// MaxContracts bounds how many contracts the host runs (default 1000).
	// Each keeps its call log open (4 descriptors) and a sequencer, so a
	// create beyond the bound is refused with ErrBusy.
	MaxContracts int
	// ReservedFDs is how many file descriptors the caller keeps for itself
	// (its connections, say). Open checks that RLIMIT_NOFILE covers the
	// host's logs, its store and these; when it does not, it lowers
	// MaxContracts and MaxOpenUserLogs to what fits, with a warning, and
	// refuses to start when not even the contracts on disk fit.
	ReservedFDs int
	// Repair lets start-up cut a log whose files were damaged (truncated,
	// emptied, altered) back to the newest state they hold intact, losing
	// the signed entries after it; the damaged files are copied to a
	// damaged-N directory inside the log's first. Without it such a log
	// stops the host from starting with an error naming the file.
	Repair bool
}

// Defaults of Config.
const (
	DefaultMaxOpenUserLogs = 64
	DefaultMaxContracts    = 1000
)

// Host serves contracts. Its methods are safe for concurrent use.
type Host struct {
	cfg      Config
	log      *slog.Logger
	master   ed25519.PrivateKey
	db       *store.DB
	events   *hostEvents
	programs *programCache
	pool     *contract.Pool
	limits   contract.Limits

	users     *userCache
	userLocks [userStripes]sync.Mutex
	imports   importGate   // imports running, entries imported (migrate.go)
	stamps    userStamps   // user logs' stamps for the clean-close manifest (manifest.go)
	unchanged atomic.Int64 // user logs a start found unchanged since the clean close

	mu        sync.Mutex
	contracts map[ContractID]*instance
	closed    bool
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
}

// ErrorCode says why the host refused a request; callers branch on it (the
// API maps it to an HTTP status).
type ErrorCode int

// The reasons a request is refused.
const (
	// ErrInvalid: the request is malformed (bad entry, bad path, bad JSON).
	ErrInvalid ErrorCode = iota + 1
	// ErrNotFound: no such user log, contract or file.
	ErrNotFound
	// ErrConflict: the request disagrees with what the host holds (a head
	// that does not extend the user's log, a contract imported twice).
	ErrConflict
	// ErrForbidden: a signature or authorisation does not verify.
	ErrForbidden
	// ErrMoved: the contract migrated to another host.
	ErrMoved
	// ErrBusy: the host is at a limit it will leave soon; try again.
	ErrBusy
	// ErrTooLarge: the request exceeds a size limit.
	ErrTooLarge
)

var errorCodeNames = map[ErrorCode]string{
	ErrInvalid: "invalid", ErrNotFound: "not found", ErrConflict: "conflict",
	ErrForbidden: "forbidden", ErrMoved: "moved", ErrBusy: "busy", ErrTooLarge: "too large",
}

// String names the code.
func (c ErrorCode) String() string {
	if s, ok := errorCodeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// Error is a request the host refuses: a code to branch on and a message
// that says what is wrong.
type Error struct {
	Code ErrorCode
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// refuse returns an *Error with a formatted message.
func refuse(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return refuse(ErrInvalid, format, args...)
}

// Open starts a host in cfg.Dir, creating it if needed, and recovers every
// contract: the call log is the truth, so the engine is brought in line
// with it, and user calls that never reached a call log are served.
func Open(cfg Config) (*Host, error) {
	if cfg.Dir == "" {
		return nil, errors.New("host: no directory")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Limits == (contract.Limits{}) {
		cfg.Limits = contract.DefaultLimits()
	}
	if cfg.BatchGas == 0 {
		cfg.BatchGas = 2 * cfg.Limits.WithDefaults().Gas
	}
	if cfg.MaxQueuedPerUser <= 0 {
		cfg.MaxQueuedPerUser = DefaultMaxQueuedPerUser
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.MaxContractsPerUser <= 0 {
		cfg.MaxContractsPerUser = DefaultMaxContractsPerUser
	}
	if cfg.MaxOpenUserLogs <= 0 {
		cfg.MaxOpenUserLogs = DefaultMaxOpenUserLogs
	}
	if cfg.MaxContracts <= 0 {
		cfg.MaxContracts = DefaultMaxContracts
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := budgetFDs(&cfg, logger); err != nil {
		return nil, err
	}
	h := &Host{
		cfg:       cfg,
		log:       logger,
		programs:  newProgramCache(),
		pool:      contract.NewPool(),
		limits:    cfg.Limits,
		contracts: map[ContractID]*instance{},
		done:      make(chan struct{}),
	}
	h.users = newUserCache(cfg.MaxOpenUserLogs, h.log)
	h.users.onClose, h.users.forget = h.noteClosed, h.forgetStamp
	for _, d := range []string{cfg.Dir, filepath.Join(cfg.Dir, "contracts"), filepath.Join(cfg.Dir, "users")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	}
	var err error
	keyFile := filepath.Join(cfg.Dir, "host.key")
	if _, statErr := os.Stat(keyFile); errors.Is(statErr, os.ErrNotExist) {
		// Every contract's key derives from the host key: a new one would
		// sign nothing the call logs hold.
		if ents, _ := os.ReadDir(filepath.Join(cfg.Dir, "contracts")); len(ents) > 0 {
			return nil, fmt.Errorf("host: %s is missing but %s holds %d contracts whose keys derive from it: restore host.key from a backup of this directory (a new key cannot sign their call logs)", keyFile, cfg.Dir, len(ents))
		}
	}
	if h.master, err = loadOrCreateKey(keyFile); err != nil {
		return nil, err
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 1 << 30
	}
	if h.db, err = store.Open(filepath.Join(cfg.Dir, "state"), store.Options{Logger: h.log, CacheBytes: cfg.CacheBytes, MaxOpenFiles: storeMaxTables}); err != nil {
		return nil, err
	}
	if h.events, err = openHostEvents(h.db); err != nil {
		h.db.Close()
		return nil, err
	}
	if err := h.recover(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Limits are the limits every call runs under (an auditor replays with
// the same).
func (h *Host) Limits() contract.Limits { return h.limits }

// PublicKey returns the host's master public key.
func (h *Host) PublicKey() ed25519.PublicKey { return h.master.Public().(ed25519.PublicKey) }

// Close stops the sequencers and closes every log and the store.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.done)
	insts := make([]*instance, 0, len(h.contracts))
	for _, in := range h.contracts {
		insts = append(insts, in)
	}
	h.mu.Unlock()
	for _, in := range insts {
		close(in.stop)
	}
	h.wg.Wait()
	var errs []error
	for _, in := range insts {
		if in.eng != nil {
			errs = append(errs, in.eng.Flush())
		}
		errs = append(errs, in.calls.Close())
		for _, l := range in.chain() {
			errs = append(errs, l.Close())
		}
	}
	errs = append(errs, h.users.closeAll())
	if h.db != nil {
		errs = append(errs, h.db.Close())
	}
	h.stamps.mu.Lock()
	clean := h.stamps.ok
	h.stamps.mu.Unlock()
	if err := errors.Join(errs...); err != nil || !clean {
		return err
	}
	// Everything is closed: what the host knows of its user logs lets the
	// next start skip those that did not change.
	return h.writeManifest()
}

// loadOrCreateKey reads an Ed25519 seed (hex) from path, creating one when
// the file does not exist.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	return ParseKey(b)
}

// ParseKey decodes a key file: 64 hex characters of an Ed25519 seed.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("key file: want 64 hex characters (an Ed25519 seed)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// contractKey derives the private key of a contract's call log.
func (h *Host) contractKey(creator hyperlog.Hash, index uint64) ed25519.PrivateKey {
	return DeriveContractKey(h.master, creator, index)
}

// DeriveContractKey derives the private key of a contract's call log from
// the host's key and the user entry that created the contract (creator's
// public key and entry index): keyed BLAKE2b-256 of both, as an Ed25519
// seed. Each contract has its own key, hence its own id, and the host
// keeps one secret.
func DeriveContractKey(hostKey ed25519.PrivateKey, creator hyperlog.Hash, index uint64) ed25519.PrivateKey {
	mac, _ := blake2b.New256(hostKey.Seed())
	fmt.Fprintf(mac, "vchain contract key\x00%x\x00%d", creator[:], index)
	return ed25519.NewKeyFromSeed(mac.Sum(nil))
}

// UserIdentity is how user logs sign: manifest mode, like hypercore 11.
func UserIdentity(pub hyperlog.Hash) hyperlog.Identity {
	return hyperlog.Identity{Mode: hyperlog.ModeManifest, PublicKey: pub}
}

// Answer is what the host returns for a served call.
type Answer struct {
	Contract ContractID
	Record   *Record
	// Raw is the call log entry exactly as logged (its hash is what an ack
	// names).
	Raw []byte
	// Head is the call log's signed head covering the entry.
	Head hyperlog.SignedHead
}

// Submit appends entries, signed by head, to the user's log replica, and
// serves every create and call among them, in order; acks are only
// logged. One request may carry many calls under one signature, as
// hypercore batches appends under one signed head. It returns the answers
// once every call is logged.
//
// Nothing touches the disk before the request verifies: the entries are
// decoded, calls must name contracts the host runs (with arguments within
// its limit), acks contracts it holds or held, and the head must be
// signed by the user; for a user the host has no log for yet, the entries
// must hash to the head too, and the replica is then built aside and
// renamed into place, so a refused or interrupted request leaves nothing.
func (h *Host) Submit(ctx context.Context, user hyperlog.Hash, entries [][]byte, head hyperlog.SignedHead) ([]*Answer, error) {
	if len(entries) == 0 {
		return nil, badRequest("no entries")
	}
	decoded := make([]*UserEntry, len(entries))
	creates := 0
	for i, e := range entries {
		ue, err := DecodeUserEntry(e)
		if err != nil {
			return nil, badRequest("entry %d: %v", i, err)
		}
		switch ue.Type {
		case TypeCall, TypeMove, TypeAck:
			// Refuse calls to unknown or moved contracts or with arguments
			// over the limit, moves not signed by the creator, and acks of
			// contracts the host never held, before they enter the log.
			if err := h.admit(user, ue); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
		case TypeCreate:
			creates++
		}
		decoded[i] = ue
	}
	if creates > 0 {
		h.mu.Lock()
		n := len(h.contracts)
		h.mu.Unlock()
		if n+creates > h.cfg.MaxContracts {
			return nil, refuse(ErrBusy, "the host runs %d contracts, its maximum is %d: no room for %d more", n, h.cfg.MaxContracts, creates)
		}
	}
	if err := verifyUserHead(user, head); err != nil {
		return nil, err
	}
	sub, err := h.appendUser(ctx, user, head, entries, decoded)
	if err != nil {
		return nil, err
	}
	return sub.wait(ctx)
}

// enqueue hands a user entry already in the user's log to its contract's
// sequencer.
func (h *Host) enqueue(ctx context.Context, user hyperlog.Hash, index uint64, raw []byte, ue *UserEntry) (*request, error) {
	var in *instance
	var err error
	if ue.Type == TypeCreate {
		in, err = h.createInstance(user, index)
	} else {
		id, _ := ParseContractID(ue.Contract)
		in, err = h.instance(id)
	}
	if err != nil {
		return nil, err
	}
	req := &request{user: user, index: index, raw: raw, entry: ue, reply: make(chan reply, 1)}
	select {
	case <-in.stop:
		return nil, errors.New("host is closing")
	default:
	}
	in.queue.push(req)
	return req, nil
}

// Defaults for the call queues (see Config).
const (
	DefaultMaxQueuedPerUser    = 64
	DefaultMaxQueued           = 4096
	DefaultMaxContractsPerUser = 100
)

// admitQueued refuses, before anything is written, a request whose calls
// would give user more than MaxQueuedPerUser calls queued at one contract,
// or a contract more than MaxQueued (ErrBusy: retry later), or whose
// creates would give user more than MaxContractsPerUser contracts
// (ErrForbidden). The caller holds user's lock, and contracts are created
// under it, so the user's own counts cannot grow meanwhile.
func (h *Host) admitQueued(user hyperlog.Hash, decoded []*UserEntry) error {
	per := map[ContractID]int{}
	var order []ContractID
	creates := 0
	for _, ue := range decoded {
		if ue.Type == TypeCreate {
			creates++
		}
		if ue.Type != TypeCall && ue.Type != TypeMove {
			continue
		}
		id, _ := ParseContractID(ue.Contract)
		if per[id] == 0 {
			order = append(order, id)
		}
		per[id]++
	}
	if creates > 0 {
		h.mu.Lock()
		mine := 0
		for _, in := range h.contracts {
			if in.creator == user {
				mine++
			}
		}
		h.mu.Unlock()
		if mine+creates > h.cfg.MaxContractsPerUser {
			return refuse(ErrForbidden, "user %s has created %d contracts on this host, and one user may create at most %d", user, mine, h.cfg.MaxContractsPerUser)
		}
	}
	for _, id := range order {
		k := per[id]
		in, err := h.instance(id)
		if err != nil {
			continue // admit refused it already, unless it just went away
		}
		if k > h.cfg.MaxQueuedPerUser {
			return refuse(ErrTooLarge, "%d calls to contract %s in one request: the host queues at most %d calls per user and contract", k, id, h.cfg.MaxQueuedPerUser)
		}
		if w := in.queue.queued(user); w+k > h.cfg.MaxQueuedPerUser {
			return refuse(ErrBusy, "user %s already has %d calls waiting at contract %s (at most %d): retry once some are answered", user, w, id, h.cfg.MaxQueuedPerUser)
		}
		if n := in.queue.len(); n+k > h.cfg.MaxQueued {
			return refuse(ErrBusy, "contract %s has %d calls waiting (at most %d): retry shortly", id, n, h.cfg.MaxQueued)
		}
	}
	return nil
}

func (h *Host) instance(id ContractID) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in, ok := h.contracts[id]
	if !ok {
		if in = h.aliasLocked(id); in != nil {
			return in, nil // it moved here under a new id
		}
		return nil, refuse(ErrNotFound, "no contract %s", id)
	}
	return in, nil
}

// Contracts lists the ids of the host's contracts.
func (h *Host) Contracts() []ContractID {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]ContractID, 0, len(h.contracts))
	for id := range h.contracts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

// inputHash is the engine block hash of a call: the BLAKE2b-256 of its
// input fields, the same whether computed before the call runs or from
// the logged record.
func inputHash(r *Record) [32]byte {
	in := Record{Type: r.Type, Seq: r.Seq, User: r.User, UserIndex: r.UserIndex, UserEntry: r.UserEntry,
		Method: r.Method, Args: r.Args, Time: r.Time}
	b, _ := json.Marshal(in)
	return blake2b.Sum256(b)
}

// block builds the engine block for a call log entry.
func block(in *input) *tape.Block {
	op := byte(opCall)
	switch in.Type {
	case TypeCreate:
		op = opCreate
	case TypeMigrate:
		op = opMigrate
	}
	payload, _ := json.Marshal(in)
	payload = append([]byte{magic[0], magic[1], op}, payload...)
	return &tape.Block{
		Header: tape.Header{Height: int64(in.Seq), Hash: inputHash(&in.Record), Time: in.Time / 1000},
		Txs:    []tape.Tx{{Payload: payload, Decoded: in}},
	}
}
