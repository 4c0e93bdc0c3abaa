// Package audit checks a contract host from the outside. Fetch gathers what
// an audit needs over the API: a contract's call log, the old call log it
// continues when it moved from another host, and the logs of every user
// either names. Verify, which touches no network, checks every signature,
// tree and link, replays every call with the same engine and runtime, and
// reports the first thing that does not add up. Run does both.
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/vchash"
)

// Finding is the first inconsistency an audit found.
type Finding struct {
	// Check names the check that failed: "call log", "user log", "link",
	// "order", "replay", "ack" or "moved".
	Check string
	// Entry is the call log index concerned (-1 when none).
	Entry int64
	Msg   string
}

func (f *Finding) Error() string {
	if f.Entry >= 0 {
		return fmt.Sprintf("%s check failed at call log entry %d: %s", f.Check, f.Entry, f.Msg)
	}
	return fmt.Sprintf("%s check failed: %s", f.Check, f.Msg)
}

// Report says what an audit checked.
type Report struct {
	Contract   string
	Entries    uint64 // call log entries verified and replayed
	Users      int    // user logs verified
	UserEntry  uint64 // user log entries verified
	Acks       int    // acks checked against the call log
	Pending    int    // user calls not served yet
	Consensus  string // consensus hash after the last call
	Signatures int    // signed heads verified
	// From is the contract this one continues, when it moved here; its
	// log was audited first.
	From string
	// MovedTo is the host key the contract's log was sealed for, when it
	// moved away.
	MovedTo string
	// Adopted is how many records (from the first) the state adopted from
	// a snapshot covers: their calls were not replayed, their signatures,
	// links and order were checked all the same.
	Adopted uint64
}

// Options tune an audit.
type Options struct {
	// Limits must be the host's limits (default contract.DefaultLimits()).
	Limits contract.Limits
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	// Adopt, in Run, fetches the host's snapshot of the contract's state
	// (the Source must be a SnapshotSource) and replays only the calls
	// after it (Evidence.Snapshot).
	Adopt bool
}

// Log is a log as a host showed it: a signed head and every entry.
type Log struct {
	Head    hyperlog.SignedHead
	Entries [][]byte
}

// Evidence is everything an audit checks, as fetched from a host (or made
// up by one).
type Evidence struct {
	// Contract is the id of the contract audited.
	Contract string
	// CallLog is its call log.
	CallLog Log
	// From is the old call log the contract continues when its first
	// record is a migrate; nil otherwise.
	From *Log
	// Older are the call logs From continues when the contract moved
	// more than once: the one From's migrate record names first, back to
	// the one that starts with the create.
	Older []Log
	// Users holds the log of every user the call logs name, by key.
	Users map[string]Log
	// Snapshot, when set, is a snapshot of the contract's state at one of
	// its records: Verify adopts it if it hashes to that record's state
	// commitment (signed with the call log) and replays only the calls
	// after it.
	Snapshot *snapshot.File
}

// Source serves the logs an audit reads, each whole: *api.Client reads
// them from a host over its API, HostSource from a host in this process.
// A source that returns entries out of place answers with a *Finding.
type Source interface {
	// AuditCallLog returns the call log signed under contract id.
	AuditCallLog(ctx context.Context, id string) (*Log, error)
	// AuditUserLog returns the log of the user with key (hex).
	AuditUserLog(ctx context.Context, key string) (*Log, error)
}

// SnapshotSource is a Source that also serves a snapshot of a contract's
// state (package snapshot's format).
type SnapshotSource interface {
	Source
	AuditSnapshot(ctx context.Context, id string) (*snapshot.File, error)
}

// Run fetches the evidence for contract id from src and verifies it. It
// returns the report of what was checked and, when something does not add
// up, a *Finding.
func Run(ctx context.Context, src Source, id string, opts Options) (*Report, error) {
	ev, err := Fetch(ctx, src, id)
	if err != nil {
		return &Report{Contract: id}, err
	}
	if opts.Adopt {
		ss, ok := src.(SnapshotSource)
		if !ok {
			return &Report{Contract: id}, errors.New("audit: this source serves no snapshots")
		}
		if ev.Snapshot, err = ss.AuditSnapshot(ctx, id); err != nil {
			return &Report{Contract: id}, fmt.Errorf("the contract's snapshot: %w", err)
		}
		defer ev.Snapshot.Close()
	}
	return Verify(ev, opts)
}

// Fetch gathers the evidence for contract id: its call log, the old log
// it continues when it moved here, and the logs of every user they name.
// It checks nothing but that the host answers with the entries asked for,
// in order.
func Fetch(ctx context.Context, src Source, id string) (*Evidence, error) {
	ev := &Evidence{Contract: id, Users: map[string]Log{}}
	l, err := src.AuditCallLog(ctx, id)
	if err != nil {
		return nil, err
	}
	ev.CallLog = *l
	logs := []*Log{l}
	// Each log that starts with a migrate continues an older one: fetch
	// them all, back to the create.
	for prev := l; len(prev.Entries) > 0; {
		var first host.Record
		if json.Unmarshal(prev.Entries[0], &first) != nil || first.Type != host.TypeMigrate {
			break
		}
		if _, err := hyperlog.ParseHash(first.From); err != nil {
			return nil, &Finding{Check: "link", Entry: 0, Msg: fmt.Sprintf("migrate record names contract %q: %v", first.From, err)}
		}
		if len(logs) > host.MaxMigrations {
			return nil, &Finding{Check: "link", Entry: 0, Msg: fmt.Sprintf("the contract moved more than %d times", host.MaxMigrations)}
		}
		old, err := src.AuditCallLog(ctx, first.From)
		if err != nil {
			return nil, fmt.Errorf("the old contract %s: %w", first.From, err)
		}
		if ev.From == nil {
			ev.From = old
		} else {
			ev.Older = append(ev.Older, *old)
		}
		logs = append(logs, old)
		prev = old
	}
	for _, l := range logs {
		for _, raw := range l.Entries {
			var r struct {
				User string `json:"user"`
			}
			if json.Unmarshal(raw, &r) != nil || r.User == "" {
				continue // Verify says what is wrong with it
			}
			if _, ok := ev.Users[r.User]; ok {
				continue
			}
			if _, err := hyperlog.ParseHash(r.User); err != nil {
				continue
			}
			ul, err := src.AuditUserLog(ctx, r.User)
			if err != nil {
				return nil, fmt.Errorf("user %s's log: %w", r.User, err)
			}
			ev.Users[r.User] = *ul
		}
	}
	return ev, nil
}

// HostSource reads the logs (and snapshots) of a host in this process
// (an explorer's checks, tests).
func HostSource(h *host.Host) SnapshotSource { return hostSource{h} }

type hostSource struct{ h *host.Host }

func (s hostSource) AuditCallLog(_ context.Context, id string) (*Log, error) {
	hash, err := hyperlog.ParseHash(id)
	if err != nil {
		return nil, fmt.Errorf("contract %q: %w", id, err)
	}
	head, es, err := s.h.CallLog(host.ContractID(hash), 0, 0, false)
	return logOf(head, es, err)
}

func (s hostSource) AuditUserLog(_ context.Context, key string) (*Log, error) {
	hash, err := hyperlog.ParseHash(key)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", key, err)
	}
	head, es, err := s.h.UserLog(hash, 0, 0, false)
	return logOf(head, es, err)
}

// AuditSnapshot implements SnapshotSource.
func (s hostSource) AuditSnapshot(_ context.Context, id string) (*snapshot.File, error) {
	hash, err := hyperlog.ParseHash(id)
	if err != nil {
		return nil, fmt.Errorf("contract %q: %w", id, err)
	}
	f, err := os.CreateTemp("", "vchain-audit-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := s.h.ExportState(host.ContractID(hash), f); err != nil {
		return nil, err
	}
	return snapshot.Open(f.Name())
}

func logOf(head hyperlog.SignedHead, es []host.LogEntry, err error) (*Log, error) {
	if err != nil {
		return nil, err
	}
	l := &Log{Head: head, Entries: make([][]byte, len(es))}
	for i, e := range es {
		l.Entries[i] = e.Data
	}
	return l, nil
}

type userData struct {
	key     hyperlog.Hash
	head    hyperlog.SignedHead
	entries [][]byte
	decoded []*host.UserEntry
}

// verified is one call log that passed its own checks.
type verified struct {
	id      string
	head    hyperlog.SignedHead
	raws    [][]byte
	recs    []*host.Record
	creator string // the user who created the contract
	sealed  *host.Record
	// Filled by verify: the contract's source (from its create, at the
	// start of the oldest log), every id it had, every record served
	// under them (oldest log first), and the raw logs this one continues
	// (newest first).
	code   string
	ids    map[string]bool
	served []*host.Record
	older  [][][]byte
}

// Verify checks evidence without touching the network: it returns the
// report of what was checked and, when something does not add up, a
// *Finding. Anything a host could send is handled: malformed or forged
// evidence gives a finding, never a panic.
func Verify(ev *Evidence, opts Options) (*Report, error) {
	rep, _, err := verify(ev, opts, 0)
	return rep, err
}

// verify is Verify that also returns the verified log with what a newer
// log continuing it needs; depth counts the logs that continue it.
func verify(ev *Evidence, opts Options, depth int) (*Report, *verified, error) {
	rep := &Report{Contract: ev.Contract}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	users := map[string]*userData{}
	user := func(key string, seq uint64) (*userData, error) {
		if u, ok := users[key]; ok {
			return u, nil
		}
		u, err := checkUser(key, ev.Users)
		if err != nil {
			var f *Finding
			if errors.As(err, &f) {
				f.Entry = int64(seq)
			}
			return nil, err
		}
		users[key] = u
		rep.Users++
		rep.UserEntry += uint64(len(u.entries))
		rep.Signatures++
		return u, nil
	}

	// 1. The call log: signed by the contract's key, entries hash to the head.
	cur, err := checkCallLog(ev.Contract, ev.CallLog)
	if err != nil {
		return rep, nil, err
	}
	rep.Signatures++
	if len(cur.recs) == 0 || (cur.recs[0].Type != host.TypeCreate && cur.recs[0].Type != host.TypeMigrate) {
		// Every contract's log starts with its create (or, when it moved
		// here, its migrate): a host showing anything else hides it.
		return rep, nil, &Finding{Check: "call log", Entry: 0, Msg: "the call log does not start with a create or a migrate record"}
	}
	say("call log: %d entries, head signed by the contract key, tree hash matches", len(cur.recs))

	// A contract that moved here continues an older call log: check that
	// one the same way first, then the link between the two.
	var old *verified
	if len(cur.recs) > 0 && cur.recs[0].Type == host.TypeMigrate {
		m := cur.recs[0]
		rep.From = m.From
		say("contract moved here from %s: auditing the old call log first", m.From)
		if ev.From == nil {
			return rep, nil, &Finding{Check: "link", Entry: 0, Msg: "the contract continues " + m.From + ", but its call log was not shown"}
		}
		if depth >= host.MaxMigrations {
			return rep, nil, &Finding{Check: "link", Entry: 0, Msg: fmt.Sprintf("the contract moved more than %d times", host.MaxMigrations)}
		}
		// The old log is audited as a contract of its own (down its own
		// chain, when it moved before), then linked to this one.
		sub := &Evidence{Contract: m.From, CallLog: *ev.From, Users: ev.Users}
		if len(ev.Older) > 0 {
			sub.From, sub.Older = &ev.Older[0], ev.Older[1:]
		}
		if _, old, err = verify(sub, Options{Limits: opts.Limits}, depth+1); err != nil {
			return rep, nil, fmt.Errorf("the old contract %s: %w", m.From, err)
		}
		if err := checkMigration(cur, old); err != nil {
			return rep, nil, err
		}
		if _, err := user(old.creator, 0); err != nil {
			return rep, nil, err
		}
		cur.creator = old.creator
	}

	// 2. Every user's log: signed by the user, entries hash to the head.
	for _, r := range cur.recs {
		if r.Type == host.TypeMigrate {
			continue
		}
		if _, err := user(r.User, r.Seq); err != nil {
			return rep, nil, err
		}
	}
	say("user logs: %d users, %d entries, every head signed by its user", rep.Users, rep.UserEntry)

	// 3. Links and order: each record serves its user's entry, and each
	// user's calls to this contract are served once, in the user's order.
	ids := map[string]bool{ev.Contract: true}
	if old != nil {
		for id := range old.ids {
			ids[id] = true
		}
	}
	if len(cur.recs) > 0 && cur.recs[0].Type == host.TypeCreate {
		cur.creator = cur.recs[0].User
	}
	for _, r := range cur.recs {
		if r.Type == host.TypeMigrate {
			if r.Seq != 0 {
				return rep, nil, &Finding{Check: "link", Entry: int64(r.Seq), Msg: "a migrate after the first entry"}
			}
			continue
		}
		if err := checkLink(ids, cur.creator, r, users[r.User]); err != nil {
			return rep, nil, err
		}
	}
	// Calls addressed to the old id are served by the old log up to its
	// seal, then by this one: together they must follow each user's order.
	served := cur.recs
	if old != nil {
		served = append(append([]*host.Record(nil), old.served...), cur.recs...)
	}
	cur.ids, cur.served = ids, served
	pending, err := checkOrder(ids, served, users)
	if err != nil {
		return rep, nil, err
	}
	rep.Pending = pending
	say("links: every entry serves a signed user entry; every user's calls served once, in order (%d pending)", pending)

	// 4. The seal: nothing follows a moved record.
	for i, r := range cur.recs {
		if r.Type == host.TypeMoved && r.Error == nil {
			if i != len(cur.recs)-1 {
				return rep, nil, &Finding{Check: "moved", Entry: int64(i + 1), Msg: fmt.Sprintf("a record after the contract moved to host %s at entry %d: the host kept serving a contract it had handed over", r.To.Host, i)}
			}
			rep.MovedTo = r.To.Host
			say("moved: the log is sealed for host %s", r.To.Host)
		}
	}

	// 5. Replay, from the first record or from an adopted snapshot.
	rp, adopted, err := replayer(ev, cur, opts, depth)
	if err != nil {
		return rep, nil, err
	}
	defer rp.Close()
	rep.Adopted = adopted
	if adopted > 0 {
		say("snapshot: the state after record %d hashes to its state commitment: adopted", adopted-1)
	}
	for _, r := range cur.recs {
		code, hist, older := "", [][]byte(nil), [][][]byte(nil)
		switch r.Type {
		case host.TypeCreate:
			code = users[r.User].decoded[r.UserIndex].Code
			cur.code = code
		case host.TypeMigrate:
			code, hist, older = old.code, old.raws, old.older
			cur.code = code
			cur.older = append([][][]byte{old.raws}, old.older...)
		}
		if r.Seq < adopted {
			continue
		}
		if err := replay(rp, r, code, hist, older); err != nil {
			var d *host.Divergence
			if errors.As(err, &d) {
				err = d
			}
			return rep, nil, &Finding{Check: "replay", Entry: int64(r.Seq), Msg: err.Error()}
		}
		rep.Entries++
	}
	rep.Consensus = rp.Consensus()
	say("replay: %d calls re-executed; results, state roots and consensus hashes match", rep.Entries)

	// 6. Acks: every head a user acknowledged is a prefix of this log.
	n, err := checkAcks(ev.Contract, cur.head, cur.raws, users)
	rep.Acks = n
	if err != nil {
		return rep, nil, err
	}
	say("acks: %d acknowledged heads are prefixes of the current call log", n)
	return rep, cur, nil
}

// replayer returns the replayer for the calls of cur: an empty one, or
// one that adopted ev.Snapshot after checking it against the signed
// record at its height; adopted is how many records that state covers.
func replayer(ev *Evidence, cur *verified, opts Options, depth int) (rp *host.Replayer, adopted uint64, err error) {
	if ev.Snapshot == nil || depth > 0 {
		rp, err = host.NewReplayer(opts.Limits)
		return rp, 0, err
	}
	h := ev.Snapshot.Manifest.Height
	if h < 0 || h >= int64(len(cur.recs)) {
		return nil, 0, &Finding{Check: "snapshot", Entry: -1, Msg: fmt.Sprintf("the snapshot is at record %d; the signed call log has %d", h, len(cur.recs))}
	}
	rec := cur.recs[h]
	bad := func(msg string) error { return &Finding{Check: "snapshot", Entry: h, Msg: msg} }
	if rec.State == "" {
		return nil, 0, bad("the record carries no state commitment (a host older than state commitments wrote it): replay from the start")
	}
	ch, err := vchash.ParseConsensusHash(rec.Consensus)
	if err != nil {
		return nil, 0, bad(err.Error())
	}
	st, err := lthash.ParseDigest(rec.State)
	if err != nil {
		return nil, 0, bad(err.Error())
	}
	rp, err = host.NewReplayerFrom(context.Background(), opts.Limits, ev.Snapshot, engine.Trust{Height: h, Consensus: ch, State: st})
	if err != nil {
		return nil, 0, bad(err.Error())
	}
	return rp, uint64(h) + 1, nil
}

// replay applies one record, turning a panic in the engine (a record no
// honest host writes) into an error.
func replay(rp *host.Replayer, r *host.Record, code string, hist [][]byte, older [][][]byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("replaying the record failed: %v", p)
		}
	}()
	return rp.Apply(r, code, hist, older...)
}

// checkCallLog checks a call log's head and tree and parses its records.
func checkCallLog(id string, l Log) (*verified, error) {
	key, err := hyperlog.ParseHash(id)
	if err != nil {
		return nil, fmt.Errorf("contract id: %w", err)
	}
	if err := hyperlog.VerifyHead(key, l.Head); err != nil {
		return nil, &Finding{Check: "call log", Entry: -1, Msg: "head is not signed by the contract's key: " + err.Error()}
	}
	if err := hyperlog.VerifyLog(key, l.Head, l.Entries); err != nil {
		return nil, &Finding{Check: "call log", Entry: -1, Msg: "entries do not match the signed head: " + err.Error()}
	}
	v := &verified{id: id, head: l.Head, raws: l.Entries, recs: make([]*host.Record, len(l.Entries))}
	for i, raw := range l.Entries {
		var r host.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, &Finding{Check: "call log", Entry: int64(i), Msg: "malformed record: " + err.Error()}
		}
		if r.Seq != uint64(i) {
			return nil, &Finding{Check: "call log", Entry: int64(i), Msg: fmt.Sprintf("record says seq %d", r.Seq)}
		}
		if r.Type == host.TypeMoved && r.Error == nil {
			if r.To == nil {
				return nil, &Finding{Check: "moved", Entry: int64(i), Msg: "a moved record names no host"}
			}
			v.sealed = &r
		}
		v.recs[i] = &r
	}
	if len(v.recs) > 0 && v.recs[0].Type == host.TypeCreate {
		v.creator = v.recs[0].User
	}
	return v, nil
}

// checkMigration checks the link from a migrated contract's first record
// to the old log: it continues exactly the old log's head, which ends in a
// seal for the host whose signature the record carries.
func checkMigration(cur, old *verified) error {
	f := func(format string, args ...any) error {
		return &Finding{Check: "link", Entry: 0, Msg: fmt.Sprintf(format, args...)}
	}
	m := cur.recs[0]
	if m.FromHead == nil {
		return f("migrate record without the old head")
	}
	if old.head.Length != m.FromHead.Length || old.head.TreeHash.String() != m.FromHead.TreeHash {
		return f("continues the old log at length %d, tree hash %s, but the old log shown is length %d, %s",
			m.FromHead.Length, m.FromHead.TreeHash, old.head.Length, old.head.TreeHash)
	}
	if old.sealed == nil || len(old.recs) == 0 || old.recs[len(old.recs)-1] != old.sealed {
		return f("the old log does not end in a moved record: its host never handed the contract over")
	}
	if old.sealed.To.Host != m.HostKey {
		return f("the old log was sealed for host %s, but host %s took the contract over", old.sealed.To.Host, m.HostKey)
	}
	pub, err := hex.DecodeString(m.HostKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return f("migrate record names host key %q", m.HostKey)
	}
	sig, err := hex.DecodeString(m.HostSig)
	if err != nil || !ed25519.Verify(pub, host.MigrationLink(cur.id, old.id, m.FromHead), sig) {
		return f("the migrate record is not signed by host %s, which the old log was sealed for", m.HostKey)
	}
	return nil
}

func checkUser(user string, logs map[string]Log) (*userData, error) {
	pub, err := hyperlog.ParseHash(user)
	if err != nil {
		return nil, &Finding{Check: "link", Msg: fmt.Sprintf("user key %q: %v", user, err)}
	}
	l, ok := logs[user]
	if !ok {
		return nil, &Finding{Check: "user log", Msg: fmt.Sprintf("user %s's log was not shown", user)}
	}
	u := &userData{key: pub, head: l.Head, entries: l.Entries}
	ukey := host.UserIdentity(pub).Key()
	if err := hyperlog.VerifyHead(ukey, l.Head); err != nil {
		return nil, &Finding{Check: "user log", Msg: fmt.Sprintf("user %s's log head is not signed by that user (a forged user entry?): %v", user, err)}
	}
	if err := hyperlog.VerifyLog(ukey, l.Head, l.Entries); err != nil {
		return nil, &Finding{Check: "user log", Msg: fmt.Sprintf("user %s: entries do not match the signed head: %v", user, err)}
	}
	for i, raw := range u.entries {
		ue, err := host.DecodeUserEntry(raw)
		if err != nil {
			return nil, &Finding{Check: "user log", Msg: fmt.Sprintf("user %s entry %d: %v", user, i, err)}
		}
		u.decoded = append(u.decoded, ue)
	}
	return u, nil
}

// userType is the user entry type a record of type t serves.
func userType(t string) string {
	if t == host.TypeMoved {
		return host.TypeMove
	}
	return t
}

func checkLink(ids map[string]bool, creator string, r *host.Record, u *userData) error {
	f := func(format string, args ...any) error {
		return &Finding{Check: "link", Entry: int64(r.Seq), Msg: fmt.Sprintf(format, args...)}
	}
	if r.UserIndex >= uint64(len(u.entries)) {
		return f("serves user %s entry %d, which the user's log does not have", r.User, r.UserIndex)
	}
	if host.EntryHash(u.entries[r.UserIndex]) != r.UserEntry {
		return f("names user entry hash %s, but user %s entry %d hashes differently", r.UserEntry, r.User, r.UserIndex)
	}
	ue := u.decoded[r.UserIndex]
	if ue.Type != userType(r.Type) {
		return f("is a %s, but the user entry is a %s", r.Type, ue.Type)
	}
	switch r.Type {
	case host.TypeCall:
		if !ids[ue.Contract] {
			return f("serves a call the user addressed to contract %s", ue.Contract)
		}
		if ue.Method != r.Method || !bytes.Equal(compactJSON(ue.Args), compactJSON(r.Args)) {
			return f("records %s(%s), but the user called %s(%s)", r.Method, r.Args, ue.Method, ue.Args)
		}
	case host.TypeMoved:
		if !ids[ue.Contract] {
			return f("serves a move the user addressed to contract %s", ue.Contract)
		}
		if r.To == nil || ue.To == nil || *r.To != *ue.To {
			return f("moves the contract somewhere the user's move entry does not name")
		}
		if r.Error == nil && r.User != creator {
			return f("user %s moved the contract, but only its creator %s may", r.User, creator)
		}
	case host.TypeCreate:
		if r.Seq != 0 {
			return f("a create after the first entry")
		}
	default:
		return f("a record of type %q serves no call", r.Type)
	}
	return nil
}

func compactJSON(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

// checkOrder checks that each user's calls (and moves) to the contract,
// under any of its ids, appear once each and in the user's order among
// the served records. Unserved calls are pending.
func checkOrder(ids map[string]bool, recs []*host.Record, users map[string]*userData) (pending int, err error) {
	served := map[string][]*host.Record{}
	for _, r := range recs {
		if r.Type != host.TypeMigrate {
			served[r.User] = append(served[r.User], r)
		}
	}
	names := make([]string, 0, len(users))
	for k := range users {
		names = append(names, k)
	}
	sort.Strings(names)
	var create *host.Record
	if len(recs) > 0 && recs[0].Type == host.TypeCreate {
		create = recs[0]
	}
	for _, name := range names {
		u := users[name]
		var want []uint64 // the user's entries addressed to this contract
		for i, ue := range u.decoded {
			if (ue.Type == host.TypeCall || ue.Type == host.TypeMove) && ids[ue.Contract] {
				want = append(want, uint64(i))
			}
			if ue.Type == host.TypeCreate && create != nil && create.User == name && create.UserIndex == uint64(i) {
				want = append(want, uint64(i))
			}
		}
		got := served[name]
		for k, r := range got {
			if k >= len(want) {
				return 0, &Finding{Check: "order", Entry: int64(r.Seq), Msg: fmt.Sprintf("serves user %s entry %d a second time", name, r.UserIndex)}
			}
			if r.UserIndex != want[k] {
				if r.UserIndex > want[k] {
					return 0, &Finding{Check: "order", Entry: int64(r.Seq), Msg: fmt.Sprintf("serves user %s entry %d, but the user's earlier call (entry %d) was never served: the host dropped or reordered it", name, r.UserIndex, want[k])}
				}
				return 0, &Finding{Check: "order", Entry: int64(r.Seq), Msg: fmt.Sprintf("serves user %s entry %d out of the user's order (entry %d was due)", name, r.UserIndex, want[k])}
			}
		}
		pending += len(want) - len(got)
	}
	return pending, nil
}

// checkAcks checks every ack users signed for this contract: the head it
// names was signed by the contract key and is a prefix of the current log,
// and the acknowledged record is the one logged.
func checkAcks(id string, head hyperlog.SignedHead, raws [][]byte, users map[string]*userData) (int, error) {
	key, _ := hyperlog.ParseHash(id)
	n := 0
	// The tree hash of every prefix of the log, computed once.
	prefix := make([]hyperlog.Hash, len(raws)+1)
	var roots []hyperlog.Node
	prefix[0] = hyperlog.TreeHash(nil)
	for i, raw := range raws {
		roots = hyperlog.AppendLeaf(roots, uint64(i), raw)
		prefix[i+1] = hyperlog.TreeHash(roots)
	}
	names := make([]string, 0, len(users))
	for k := range users {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		for i, ue := range users[name].decoded {
			if ue.Type != host.TypeAck || ue.Contract != id {
				continue
			}
			f := func(format string, args ...any) error {
				return &Finding{Check: "ack", Entry: int64(ue.Seq), Msg: fmt.Sprintf("user %s entry %d: ", name, i) + fmt.Sprintf(format, args...)}
			}
			th, err := hyperlog.ParseHash(ue.Head.TreeHash)
			if err != nil {
				return n, f("tree hash: %v", err)
			}
			var sig hyperlog.Bytes
			if err := sig.UnmarshalText([]byte(ue.Head.Signature)); err != nil {
				return n, f("signature: %v", err)
			}
			acked := hyperlog.SignedHead{Length: ue.Head.Length, TreeHash: th, Signature: sig, Manifest: head.Manifest}
			if err := hyperlog.VerifyHead(key, acked); err != nil {
				return n, f("acknowledges a head the contract key did not sign: %v", err)
			}
			if acked.Length > head.Length {
				return n, f("the host signed a head of length %d, but now shows only %d entries: it rewrote its log", acked.Length, head.Length)
			}
			if got := prefix[acked.Length]; got != th {
				return n, f("the host signed tree hash %s at length %d, but its log now has %s there: it forked its signed history", th, acked.Length, got)
			}
			if ue.Seq >= acked.Length || host.EntryHash(raws[ue.Seq]) != ue.RecordHash {
				return n, f("the acknowledged record %d is not the one in the log", ue.Seq)
			}
			n++
		}
	}
	return n, nil
}
