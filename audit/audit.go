// Package audit checks a contract host from the outside: it fetches a
// contract's call log and the logs of every user who called it, verifies
// every signature, tree and link, replays every call with the same engine
// and runtime, and reports the first thing that does not add up.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

// Finding is the first inconsistency an audit found.
type Finding struct {
	// Check names the check that failed: "call log", "user log", "link",
	// "order", "replay" or "ack".
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
	Pending    int    // user calls not served yet (the newest of a user)
	Consensus  string // consensus hash after the last call
	Signatures int    // signed heads verified
}

// Options tune an audit.
type Options struct {
	// Limits must be the host's limits (default contract.DefaultLimits()).
	Limits contract.Limits
	// Progress, when set, receives a line per phase.
	Progress io.Writer
}

type userData struct {
	key     hyperlog.Hash
	head    hyperlog.SignedHead
	entries [][]byte
	decoded []*host.UserEntry
}

// Run audits contract id on the host c talks to. It returns the report of
// what was checked and, when something does not add up, a *Finding.
func Run(ctx context.Context, c *api.Client, id string, opts Options) (*Report, error) {
	rep := &Report{Contract: id}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	key, err := hyperlog.ParseHash(id)
	if err != nil {
		return rep, fmt.Errorf("contract id: %w", err)
	}

	// 1. The call log: its head is signed by the contract's key and its
	// entries hash to that head.
	log, err := c.CallLog(ctx, id, 0, 0, false)
	if err != nil {
		return rep, err
	}
	head := log.Head
	if err := hyperlog.VerifyHead(key, head); err != nil {
		return rep, &Finding{Check: "call log", Entry: -1, Msg: "head is not signed by the contract's key: " + err.Error()}
	}
	rep.Signatures++
	raws := make([][]byte, len(log.Entries))
	for i, e := range log.Entries {
		if e.Index != uint64(i) {
			return rep, &Finding{Check: "call log", Entry: int64(i), Msg: fmt.Sprintf("host returned entry %d in place %d", e.Index, i)}
		}
		raws[i] = []byte(e.Data)
	}
	if err := hyperlog.VerifyLog(key, head, raws); err != nil {
		return rep, &Finding{Check: "call log", Entry: -1, Msg: "entries do not match the signed head: " + err.Error()}
	}
	recs := make([]*host.Record, len(raws))
	for i, raw := range raws {
		var r host.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return rep, &Finding{Check: "call log", Entry: int64(i), Msg: "malformed record: " + err.Error()}
		}
		if r.Seq != uint64(i) {
			return rep, &Finding{Check: "call log", Entry: int64(i), Msg: fmt.Sprintf("record says seq %d", r.Seq)}
		}
		recs[i] = &r
	}
	say("call log: %d entries, head signed by the contract key, tree hash matches", len(recs))

	// 2. Every user's log: signed by the user, entries hash to the head.
	// A contract that moved here continues an older call log: audit that
	// one first, and check the new log starts from its signed head.
	var history [][]byte
	var oldCode string
	if len(recs) > 0 && recs[0].Type == host.TypeMigrate {
		m := recs[0]
		say("contract moved here from %s: auditing the old call log first", m.From)
		if m.FromHead == nil {
			return rep, &Finding{Check: "link", Entry: 0, Msg: "migrate record without the old head"}
		}
		if _, err := Run(ctx, c, m.From, opts); err != nil {
			return rep, fmt.Errorf("the old contract %s: %w", m.From, err)
		}
		old, err := c.CallLog(ctx, m.From, 0, 0, false)
		if err != nil {
			return rep, err
		}
		if old.Head.Length != m.FromHead.Length || old.Head.TreeHash.String() != m.FromHead.TreeHash {
			return rep, &Finding{Check: "link", Entry: 0, Msg: fmt.Sprintf("continues the old log at length %d, tree hash %s, but the old log shown is length %d, %s",
				m.FromHead.Length, m.FromHead.TreeHash, old.Head.Length, old.Head.TreeHash)}
		}
		for _, e := range old.Entries {
			history = append(history, []byte(e.Data))
		}
		var first host.Record
		if len(history) == 0 || json.Unmarshal(history[0], &first) != nil {
			return rep, &Finding{Check: "link", Entry: 0, Msg: "the old call log does not start with a create"}
		}
		u, err := fetchUser(ctx, c, first.User)
		if err != nil {
			return rep, err
		}
		oldCode = u.decoded[first.UserIndex].Code
	}

	users := map[string]*userData{}
	for _, r := range recs {
		if _, ok := users[r.User]; ok || r.Type == host.TypeMigrate {
			continue
		}
		u, err := fetchUser(ctx, c, r.User)
		if err != nil {
			if f, ok := err.(*Finding); ok {
				f.Entry = int64(r.Seq)
				return rep, f
			}
			return rep, err
		}
		users[r.User] = u
		rep.Users++
		rep.UserEntry += uint64(len(u.entries))
		rep.Signatures++
	}
	say("user logs: %d users, %d entries, every head signed by its user", rep.Users, rep.UserEntry)

	// 3. Links and order: each record serves its user's entry, and each
	// user's calls to this contract are served once, in the user's order.
	for _, r := range recs {
		if r.Type == host.TypeMigrate {
			if r.Seq != 0 {
				return rep, &Finding{Check: "link", Entry: int64(r.Seq), Msg: "a migrate after the first entry"}
			}
			continue
		}
		if err := checkLink(id, r, users[r.User]); err != nil {
			return rep, err
		}
	}
	pending, err := checkOrder(id, recs, users)
	if err != nil {
		return rep, err
	}
	rep.Pending = pending
	say("links: every entry serves a signed user entry; every user's calls served once, in order (%d pending)", pending)

	// 4. Replay.
	rp, err := host.NewReplayer(opts.Limits)
	if err != nil {
		return rep, err
	}
	defer rp.Close()
	for _, r := range recs {
		code, hist := "", [][]byte(nil)
		switch r.Type {
		case host.TypeCreate:
			code = users[r.User].decoded[r.UserIndex].Code
		case host.TypeMigrate:
			code, hist = oldCode, history
		}
		if err := rp.Apply(r, code, hist); err != nil {
			var d *host.Divergence
			if errors.As(err, &d) {
				err = d
			}
			return rep, &Finding{Check: "replay", Entry: int64(r.Seq), Msg: err.Error()}
		}
		rep.Entries++
	}
	rep.Consensus = rp.Consensus()
	say("replay: %d calls re-executed; results, state roots and consensus hashes match", rep.Entries)

	// 5. Acks: every head a user acknowledged is a prefix of this log.
	n, err := checkAcks(id, head, raws, users)
	rep.Acks = n
	if err != nil {
		return rep, err
	}
	say("acks: %d acknowledged heads are prefixes of the current call log", n)
	return rep, nil
}

func fetchUser(ctx context.Context, c *api.Client, user string) (*userData, error) {
	pub, err := hyperlog.ParseHash(user)
	if err != nil {
		return nil, &Finding{Check: "link", Msg: fmt.Sprintf("user key %q: %v", user, err)}
	}
	es, err := c.UserEntries(ctx, user, 0, 0, false)
	if err != nil {
		return nil, err
	}
	u := &userData{key: pub, head: es.Head}
	ukey := host.UserIdentity(pub).Key()
	if err := hyperlog.VerifyHead(ukey, es.Head); err != nil {
		return nil, &Finding{Check: "user log", Msg: fmt.Sprintf("user %s's log head is not signed by that user (a forged user entry?): %v", user, err)}
	}
	for _, e := range es.Entries {
		u.entries = append(u.entries, []byte(e.Data))
	}
	if err := hyperlog.VerifyLog(ukey, es.Head, u.entries); err != nil {
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

func checkLink(id string, r *host.Record, u *userData) error {
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
	if ue.Type != r.Type {
		return f("is a %s, but the user entry is a %s", r.Type, ue.Type)
	}
	if r.Type == host.TypeCall {
		if ue.Contract != id {
			return f("serves a call the user addressed to contract %s", ue.Contract)
		}
		if ue.Method != r.Method || !bytes.Equal(compactJSON(ue.Args), compactJSON(r.Args)) {
			return f("records %s(%s), but the user called %s(%s)", r.Method, r.Args, ue.Method, ue.Args)
		}
	}
	if r.Type == host.TypeCreate && r.Seq != 0 {
		return f("a create after the first entry")
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

// checkOrder checks that each user's calls to the contract appear in the
// call log once each and in the user's order. The newest unserved calls of
// a user are pending, not missing.
func checkOrder(id string, recs []*host.Record, users map[string]*userData) (pending int, err error) {
	served := map[string][]*host.Record{}
	for _, r := range recs {
		served[r.User] = append(served[r.User], r)
	}
	names := make([]string, 0, len(users))
	for k := range users {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		u := users[name]
		var want []uint64 // the user's entries addressed to this contract
		for i, ue := range u.decoded {
			if ue.Type == host.TypeCall && ue.Contract == id {
				want = append(want, uint64(i))
			}
			if ue.Type == host.TypeCreate && len(recs) > 0 && recs[0].User == name && recs[0].UserIndex == uint64(i) {
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
