package host

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/hyperlog"
)

// testUser signs entries into its own user log and submits them straight
// to a Host.
type testUser struct {
	priv   ed25519.PrivateKey
	pub    hyperlog.Hash
	roots  []hyperlog.Node
	length uint64
}

func newTestUser(t *testing.T) *testUser {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var h hyperlog.Hash
	copy(h[:], pub)
	return &testUser{priv: priv, pub: h}
}

// submit appends one entry and returns the host's record for it.
func (u *testUser) submit(t *testing.T, h *Host, e UserEntry) *Record {
	t.Helper()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	roots := hyperlog.AppendLeaf(append([]hyperlog.Node(nil), u.roots...), u.length, raw)
	head := UserIdentity(u.pub).SignHead(u.priv, hyperlog.TreeHash(roots), u.length+1, 0)
	answers, err := h.Submit(context.Background(), u.pub, [][]byte{raw}, head)
	if err != nil {
		t.Fatalf("submit %s %s: %v", e.Type, e.Method, err)
	}
	u.roots, u.length = roots, u.length+1
	return answers[0].Record
}

func (u *testUser) deploy(t *testing.T, h *Host, code string) (string, *Record) {
	t.Helper()
	rec := u.submit(t, h, UserEntry{Type: TypeCreate, Code: code})
	ids := h.Contracts()
	for _, id := range ids {
		if in, err := h.instance(id); err == nil && in.calls.Length() > 0 {
			raw, _ := in.calls.Get(0)
			var first Record
			if json.Unmarshal(raw, &first) == nil && first.UserEntry == rec.UserEntry {
				return id.String(), rec
			}
		}
	}
	t.Fatal("deployed contract not found")
	return "", nil
}

func (u *testUser) call(t *testing.T, h *Host, id, method, args string) *Record {
	t.Helper()
	return u.submit(t, h, UserEntry{Type: TypeCall, Contract: id, Method: method, Args: json.RawMessage(args)})
}

func openTestHost(t *testing.T, dir string, limits contract.Limits) *Host {
	t.Helper()
	h, err := Open(Config{Dir: dir, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func exportsOf(t *testing.T, h *Host, id string) string {
	t.Helper()
	cid, _ := ParseContractID(id)
	info, err := h.Info(cid)
	if err != nil {
		t.Fatal(err)
	}
	return string(info.Exports)
}

// TestInitOnce: the token example's init makes its caller the owner; it
// runs at deploy as the creator, and a later call to init, by anyone,
// including the creator, is refused with InitOnce and changes nothing.
func TestInitOnce(t *testing.T) {
	code, err := os.ReadFile("../../examples/token.js")
	if err != nil {
		t.Fatal(err)
	}
	h := openTestHost(t, t.TempDir(), contract.Limits{})
	defer h.Close()
	alice, mallory := newTestUser(t), newTestUser(t)
	id, rec := alice.deploy(t, h, string(code))
	if rec.Error != nil || string(rec.Result) != "null" {
		t.Fatalf("create: %+v", rec)
	}
	want := `{"holders":1,"owner":"` + alice.pub.String() + `","supply":1000000,"symbol":"TOK"}`
	if got := exportsOf(t, h, id); got != want {
		t.Fatalf("exports after deploy: %s, want %s", got, want)
	}
	for _, u := range []*testUser{mallory, alice} {
		rec := u.call(t, h, id, "init", "[]")
		if rec.Error == nil || rec.Error.Code != CodeInitOnce || !strings.Contains(rec.Error.Message, "init runs once") || rec.Gas != 0 {
			t.Fatalf("init after deploy: %+v, want %s", rec, CodeInitOnce)
		}
	}
	if got := exportsOf(t, h, id); got != want {
		t.Fatalf("exports after refused inits: %s", got)
	}
	// The refusal is a recorded outcome like any other: a replay agrees.
	bal := mallory.call(t, h, id, "balanceOf", `["`+alice.pub.String()+`"]`)
	if bal.Error != nil || string(bal.Result) != "1000000" {
		t.Fatalf("balanceOf(alice): %+v", bal)
	}
}

// quotaContract writes and removes files of a given size.
const quotaContract = `
exports.put = (name, n) => { state.writeFile('/f/' + name, 'x'.repeat(n)); return n }
exports.del = (name) => { state.unlink('/f/' + name) }
`

// TestStateQuota: a call that would grow the state past MaxStateBytes fails
// with StateQuota and changes nothing; shrinking calls pass; and a replay
// from the call log alone (the engine's store deleted) reaches the same
// verdicts and the same state.
func TestStateQuota(t *testing.T) {
	dir := t.TempDir()
	limits := contract.DefaultLimits()
	limits.MaxStateBytes = 2000
	h := openTestHost(t, dir, limits)
	u := newTestUser(t)
	id, _ := u.deploy(t, h, quotaContract)
	cid, _ := ParseContractID(id)
	ok := func(method, args string) {
		t.Helper()
		if rec := u.call(t, h, id, method, args); rec.Error != nil {
			t.Fatalf("%s%s: %+v", method, args, rec.Error)
		}
	}
	refused := func(method, args string) {
		t.Helper()
		rec := u.call(t, h, id, method, args)
		if rec.Error == nil || rec.Error.Code != "StateQuota" || !strings.Contains(rec.Error.Message, "quota of 2000") || len(rec.Writes) != 0 {
			t.Fatalf("%s%s: %+v, want StateQuota", method, args, rec)
		}
	}
	size := func() int64 {
		t.Helper()
		in, err := h.instance(cid)
		if err != nil {
			t.Fatal(err)
		}
		st := in.eng.State()
		exports, err := st.Get(keyExports)
		if err != nil {
			t.Fatal(err)
		}
		n, err := loadSize(st, exports)
		if err != nil {
			t.Fatal(err)
		}
		counted, err := stateSize(st, exports)
		if err != nil || counted != n {
			t.Fatalf("running size %d, counted %d (%v)", n, counted, err)
		}
		return n
	}
	ok("put", `["a", 900]`)
	ok("put", `["b", 900]`)
	if got := size(); got != 2+2+904+904 { // "{}", "/f", "/f/a" and 900 bytes, "/f/b" and 900
		t.Fatalf("size %d", got)
	}
	refused("put", `["c", 300]`)
	if _, _, _, err := h.ReadFile(cid, "/f/c"); err == nil {
		t.Fatal("a refused write was stored")
	}
	ok("put", `["a", 100]`) // shrinks
	ok("put", `["c", 700]`)
	refused("put", `["d", 300]`)
	ok("del", `["b"]`)
	ok("put", `["d", 800]`)
	before := size()
	info, _ := h.Info(cid)
	h.Close()

	// Replay everything from the call log alone.
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	h = openTestHost(t, dir, limits)
	defer h.Close()
	again, err := h.Info(cid)
	if err != nil {
		t.Fatal(err)
	}
	if again.StateRoot != info.StateRoot || again.StateLength != info.StateLength || size() != before {
		t.Fatalf("replay: state %d %s size %d, want %d %s size %d", again.StateLength, again.StateRoot, size(), info.StateLength, info.StateRoot, before)
	}
	refused("put", `["e", 500]`)
}
