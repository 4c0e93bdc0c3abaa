package host_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

// trySubmit submits entries under a head signed over them, advancing the
// signer's log only when the host accepts them.
func (s *signer) trySubmit(h *host.Host, entries ...[]byte) ([]*host.Answer, error) {
	next := *s
	next.roots = append([]hyperlog.Node(nil), s.roots...)
	answers, err := h.Submit(context.Background(), s.pub, entries, next.sign(entries...))
	if err == nil {
		*s = next
	}
	return answers, err
}

// userLength is the length of user's log on h, 0 when h has none.
func userLength(t *testing.T, h *host.Host, user hyperlog.Hash) uint64 {
	t.Helper()
	head, err := h.UserHead(user)
	if codeOf(err) == host.ErrNotFound {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return head.Length
}

// ackOf is the ack an api.User signs for answer a.
func ackOf(a *host.Answer) host.UserEntry {
	return host.UserEntry{Type: host.TypeAck, Contract: a.Contract.String(), Seq: a.Record.Seq,
		Head:       &host.Head{Length: a.Head.Length, TreeHash: a.Head.TreeHash.String(), Signature: a.Head.Signature.String()},
		RecordHash: host.EntryHash(a.Raw)}
}

// TestAckRefusals: acks are only logged, so the host checks them before
// they enter a user's log: an ack must name a contract the host holds and
// have fields of their fixed sizes, or a user could fill the disk with
// acks of nothing. A refused ack writes nothing (no log for a new user, no
// entry for a known one); a real ack is still logged.
func TestAckRefusals(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir})
	defer h.Close()
	bob := newSigner(t)
	id := bob.deploy(t, h, counter)
	answers := bob.submit(t, h, entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[2]")}))
	good := ackOf(answers[0])

	var unknown host.ContractID
	if _, err := rand.Read(unknown[:]); err != nil {
		t.Fatal(err)
	}
	mb := strings.Repeat("a", 1<<20-1000)
	type bad struct {
		name string
		raw  []byte
		code host.ErrorCode
	}
	mut := func(name string, code host.ErrorCode, f func(e *host.UserEntry)) bad {
		e := good
		hd := *good.Head
		e.Head = &hd
		f(&e)
		return bad{name, entry(t, e), code}
	}
	cases := []bad{
		mut("unknown contract", host.ErrNotFound, func(e *host.UserEntry) { e.Contract = unknown.String() }),
		mut("megabyte tree hash", host.ErrInvalid, func(e *host.UserEntry) { e.Head.TreeHash = mb }),
		mut("megabyte signature", host.ErrInvalid, func(e *host.UserEntry) { e.Head.Signature = mb }),
		mut("megabyte record hash", host.ErrInvalid, func(e *host.UserEntry) { e.RecordHash = mb }),
		mut("non-hex tree hash", host.ErrInvalid, func(e *host.UserEntry) { e.Head.TreeHash = strings.Repeat("z", 64) }),
		mut("upper-case record hash", host.ErrInvalid, func(e *host.UserEntry) { e.RecordHash = strings.ToUpper(e.RecordHash) }),
		mut("compat-sized signature", host.ErrInvalid, func(e *host.UserEntry) { e.Head.Signature = e.Head.Signature[:128] }),
		mut("empty signature", host.ErrInvalid, func(e *host.UserEntry) { e.Head.Signature = "" }),
		mut("head of length 0", host.ErrInvalid, func(e *host.UserEntry) { e.Head.Length, e.Seq = 0, 0 }),
		mut("record beyond the head", host.ErrInvalid, func(e *host.UserEntry) { e.Seq = e.Head.Length }),
		mut("no head", host.ErrInvalid, func(e *host.UserEntry) { e.Head = nil }),
		mut("code riding along", host.ErrInvalid, func(e *host.UserEntry) { e.Code = "x" }),
		mut("args riding along", host.ErrInvalid, func(e *host.UserEntry) { e.Args = json.RawMessage(`["` + mb[:500] + `"]`) }),
	}
	// Whitespace is valid JSON: padding a real ack past the bound is refused.
	pad := entry(t, good)
	pad = append(pad[:len(pad)-1], []byte(strings.Repeat(" ", host.MaxAckBytes)+"}")...)
	cases = append(cases, bad{"padded to over 1 KiB", pad, host.ErrInvalid})

	before := listTree(t, dir)
	bobLen := userLength(t, h, bob.pub)
	for _, c := range cases {
		// A new user (whose log would be created) and bob (whose log
		// would grow), each with the ack alone and after a valid call.
		for _, u := range []*signer{newSigner(t), bob} {
			call := entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[1]")})
			for _, entries := range [][][]byte{{c.raw}, {call, c.raw}} {
				_, err := u.trySubmit(h, entries...)
				if got := codeOf(err); got != c.code {
					t.Fatalf("%s: submit gave %v (code %v), want code %v", c.name, err, got, c.code)
				}
			}
		}
	}
	if got := userLength(t, h, bob.pub); got != bobLen {
		t.Fatalf("bob's log went from %d to %d entries with refused acks", bobLen, got)
	}
	if after := listTree(t, dir); !slices.Equal(after, before) {
		t.Fatalf("refused acks changed the data directory:\nbefore %s\nafter  %s", before, after)
	}

	// The real ack is accepted, alone and before a call, and logged as signed.
	raw := entry(t, good)
	if len(raw) > host.MaxAckBytes/2 {
		t.Fatalf("a real ack is %d bytes, close to the bound of %d", len(raw), host.MaxAckBytes)
	}
	if _, err := bob.trySubmit(h, raw); err != nil {
		t.Fatalf("a real ack: %v", err)
	}
	call := entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[3]")})
	got, err := bob.trySubmit(h, raw, call)
	if err != nil || len(got) != 1 || string(got[0].Record.Result) != "5" {
		t.Fatalf("a real ack and a call: %v %+v", err, got)
	}
	if n := userLength(t, h, bob.pub); n != bobLen+3 {
		t.Fatalf("bob's log has %d entries, want %d", n, bobLen+3)
	}
	_, logged, err := h.UserLog(bob.pub, bobLen, bobLen+1, false)
	if err != nil || len(logged) != 1 || string(logged[0].Data) != string(raw) {
		t.Fatalf("the logged ack: %v %+v", err, logged)
	}
}

// TestCallArgsOverLimit: a call whose arguments exceed the host's limit
// is refused at submit with ErrTooLarge naming the limit, before it enters
// the user's log (the call log would otherwise repeat the arguments next
// to a BadArgs error); arguments at the limit are served.
func TestCallArgsOverLimit(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir})
	defer h.Close()
	bob := newSigner(t)
	id := bob.deploy(t, h, counter)
	limit := contract.DefaultLimits().MaxArgsBytes
	args := func(n int) json.RawMessage { // add(1), with a string beside it making n bytes
		return json.RawMessage(`[1,"` + strings.Repeat("x", n-6) + `"]`)
	}
	call := func(n int) []byte {
		return entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: args(n)})
	}
	before := userLength(t, h, bob.pub)
	tree := listTree(t, dir)
	for _, n := range []int{1_000_000, limit + 1} {
		for _, u := range []*signer{bob, newSigner(t)} {
			_, err := u.trySubmit(h, call(n))
			if codeOf(err) != host.ErrTooLarge || !strings.Contains(err.Error(), "65536") {
				t.Fatalf("a call with %d bytes of arguments: %v (code %v), want ErrTooLarge naming the limit 65536", n, err, codeOf(err))
			}
		}
	}
	if got := userLength(t, h, bob.pub); got != before {
		t.Fatalf("refused calls took bob's log from %d to %d entries", before, got)
	}
	if after := listTree(t, dir); !slices.Equal(after, tree) {
		t.Fatalf("refused calls changed the data directory:\nbefore %s\nafter  %s", tree, after)
	}
	answers, err := bob.trySubmit(h, call(limit))
	if err != nil || answers[0].Record.Error != nil || string(answers[0].Record.Result) != "1" {
		t.Fatalf("a call with arguments at the limit: %v %+v", err, answers)
	}

	// The host's configured limit counts, not the default.
	small := openHost(t, host.Config{Dir: ramDir(t), Limits: contract.Limits{MaxArgsBytes: 100}})
	defer small.Close()
	amy := newSigner(t)
	id = amy.deploy(t, small, counter) // call now names this contract
	_, err = amy.trySubmit(small, call(101))
	if codeOf(err) != host.ErrTooLarge || !strings.Contains(err.Error(), "of 100 bytes") {
		t.Fatalf("101 bytes of arguments on a host limited to 100: %v", err)
	}
}
