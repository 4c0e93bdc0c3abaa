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

// TestRecordsSummarizeData: a call log record does not repeat the data a
// call wrote (it is in the archive, and in the args); it lists each large
// write by size and state-log leaf, so the state root can be rebuilt from
// the records alone and a file read from the host checked against them.
func TestRecordsSummarizeData(t *testing.T) {
	code, err := os.ReadFile("../../examples/forum.js")
	if err != nil {
		t.Fatal(err)
	}
	h := openTestHost(t, t.TempDir(), contract.Limits{})
	defer h.Close()
	u := newTestUser(t)
	id, create := u.deploy(t, h, string(code))
	cid, _ := ParseContractID(id)
	post := strings.Repeat("All work and no play. ", 50)
	recs := []*Record{create, u.call(t, h, id, "addTopic", `["small"]`), u.call(t, h, id, "addPost", `[1, "`+post+`"]`)}
	last := recs[2]
	if len(last.Writes) != 2 || strings.Contains(string(last.Writes[0]), "All work") {
		t.Fatalf("addPost writes: %s", last.Writes)
	}
	var sum summary
	if err := json.Unmarshal(last.Writes[0], &sum); err != nil || sum.Op != "writeFile" || sum.Path != "/topics/1/1" || sum.Size != len(post) {
		t.Fatalf("summary %s: %+v %v", last.Writes[0], sum, err)
	}
	if !strings.Contains(string(recs[1].Writes[1]), `"data":"small"`) {
		t.Fatalf("a small write is listed whole: %s", recs[1].Writes[1])
	}
	// The content the host serves is the content the record commits to.
	data, _, _, err := h.ReadFile(cid, "/topics/1/1")
	if err != nil {
		t.Fatal(err)
	}
	entry := writeEntry(contract.Write{Op: contract.WriteFile, Path: "/topics/1/1", Data: data})
	if hyperlog.LeafHash(entry).String() != sum.LeafHash || len(entry) != sum.LeafSize {
		t.Fatal("the served file does not match the record's leaf")
	}
	// The state root from the records alone.
	var roots []hyperlog.Node
	var n uint64
	for _, rec := range recs {
		for _, w := range rec.Writes {
			node := hyperlog.LeafNode(n, w)
			var s summary
			if json.Unmarshal(w, &s) == nil && s.LeafHash != "" {
				lh, err := hyperlog.ParseHash(s.LeafHash)
				if err != nil {
					t.Fatal(err)
				}
				node = hyperlog.Node{Index: 2 * n, Size: uint64(s.LeafSize), Hash: lh}
			}
			roots = append(roots, node)
			for len(roots) >= 2 && hyperlog.Parent(roots[len(roots)-2].Index) == hyperlog.Parent(roots[len(roots)-1].Index) {
				p := hyperlog.ParentNode(roots[len(roots)-2], roots[len(roots)-1])
				roots = append(roots[:len(roots)-2], p)
			}
			n++
		}
		if n != rec.StateLength || hyperlog.TreeHash(roots).String() != rec.StateRoot {
			t.Fatalf("record %d: rebuilt state log %d %s, recorded %d %s", rec.Seq, n, hyperlog.TreeHash(roots), rec.StateLength, rec.StateRoot)
		}
	}
}
