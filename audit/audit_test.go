package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/snapshot"
)

// world is a real host with a forum contract that two users called.
type world struct {
	dir      string
	h        *host.Host
	srv      *httptest.Server
	c        *api.Client
	id       string
	bob      *api.User
	alice    *api.User
	contract ed25519.PrivateKey
}

func forum(t testing.TB) []byte {
	t.Helper()
	code, err := os.ReadFile(filepath.Join("..", "examples", "forum.js"))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func newUser(t testing.TB) *api.User {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewUser(priv)
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), bob: newUser(t), alice: newUser(t)}
	var err error
	if w.h, err = host.Open(host.Config{Dir: w.dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.h.Close() })
	w.srv = httptest.NewServer(api.NewServer(w.h, nil))
	t.Cleanup(w.srv.Close)
	w.c = api.NewClient(w.srv.URL)
	ctx := context.Background()
	res, err := w.bob.Deploy(ctx, w.c, forum(t))
	if err != nil {
		t.Fatal(err)
	}
	w.id = res.Contract
	calls := []struct {
		u      *api.User
		method string
		args   []string
	}{
		{w.bob, "addTopic", []string{`"Hello world"`}},
		{w.bob, "addPost", []string{`1`, `"My name is bob"`}},
		{w.alice, "addPost", []string{`1`, `"hi bob"`}},
		{w.bob, "addTopic", []string{`"second"`}},
		{w.alice, "addPost", []string{`2`, `"alice again"`}},
		{w.bob, "addPost", []string{`2`, `"bob again"`}},
	}
	for _, c := range calls {
		args := make([]json.RawMessage, len(c.args))
		for i, a := range c.args {
			args[i] = json.RawMessage(a)
		}
		res, err := c.u.Call(ctx, w.c, w.id, c.method, args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Failed(); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []*api.User{w.bob, w.alice} {
		if err := u.Flush(ctx, w.c); err != nil {
			t.Fatal(err)
		}
	}
	keyFile, err := os.ReadFile(filepath.Join(w.dir, "host.key"))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := host.ParseKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	bobKey, _ := hyperlog.ParseHash(w.bob.Key())
	w.contract = host.DeriveContractKey(hostKey, bobKey, 0)
	return w
}

func TestForumThroughTheAPI(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for path, want := range map[string]string{"/topics/1/title": "Hello world", "/topics/1/1": "My name is bob", "/topics/2/title": "second"} {
		f, err := w.c.State(ctx, w.id, path)
		if err != nil || f.Content != want {
			t.Fatalf("%s = %q, %v; want %q", path, f.Content, err, want)
		}
	}
	rep, err := audit.Run(ctx, w.c, w.id, audit.Options{})
	if err != nil {
		t.Fatalf("the honest host fails its audit: %v", err)
	}
	if rep.Entries != 7 || rep.Users != 2 || rep.Acks != 7 || rep.Pending != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// liar serves a host's logs after a lie has been applied to them, re-signed
// with the keys the liar holds.
type liar struct {
	t     *testing.T
	id    string
	calls [][]byte
	key   ed25519.PrivateKey
	users map[string]*api.Entries
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc := json.NewEncoder(w)
	switch {
	case r.URL.Path == "/v1/contracts/"+l.id+"/log":
		id := hyperlog.NewIdentity(hyperlog.ModeManifest, l.key.Public().(ed25519.PublicKey))
		roots := hyperlog.RootsOf(l.calls)
		head := id.SignHead(l.key, hyperlog.TreeHash(roots), uint64(len(l.calls)), 0)
		out := api.Entries{Head: head}
		for i, e := range l.calls {
			out.Entries = append(out.Entries, api.Entry{Index: uint64(i), Data: string(e)})
		}
		enc.Encode(out)
	case strings.HasPrefix(r.URL.Path, "/v1/users/") && strings.HasSuffix(r.URL.Path, "/entries"):
		user := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/users/"), "/entries")
		enc.Encode(l.users[user])
	default:
		http.NotFound(w, r)
	}
}

func newLiar(t *testing.T, w *world) *liar {
	ctx := context.Background()
	es, err := w.c.CallLog(ctx, w.id, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{t: t, id: w.id, key: w.contract, users: map[string]*api.Entries{}}
	for _, e := range es.Entries {
		l.calls = append(l.calls, []byte(e.Data))
	}
	for _, u := range []*api.User{w.bob, w.alice} {
		ue, err := w.c.UserEntries(ctx, u.Key(), 0, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		l.users[u.Key()] = ue
	}
	return l
}

func (l *liar) edit(i int, f func(r *host.Record)) {
	var r host.Record
	if err := json.Unmarshal(l.calls[i], &r); err != nil {
		l.t.Fatal(err)
	}
	f(&r)
	l.calls[i], _ = json.Marshal(&r)
}

func (l *liar) renumber() {
	for i := range l.calls {
		l.edit(i, func(r *host.Record) { r.Seq = uint64(i) })
	}
}

func auditLiar(t *testing.T, w *world, l *liar) *audit.Finding {
	t.Helper()
	srv := httptest.NewServer(l)
	defer srv.Close()
	_, err := audit.Run(context.Background(), api.NewClient(srv.URL), w.id, audit.Options{})
	var f *audit.Finding
	if !errors.As(err, &f) {
		t.Fatalf("audit of a lying host: got %v, want a finding", err)
	}
	return f
}

func TestAuditCatchesLyingHost(t *testing.T) {
	w := newWorld(t)
	// The fake server itself is faithful: unmodified data passes.
	srv := httptest.NewServer(newLiar(t, w))
	if _, err := audit.Run(context.Background(), api.NewClient(srv.URL), w.id, audit.Options{}); err != nil {
		t.Fatalf("the faithful copy fails: %v", err)
	}
	srv.Close()

	cases := []struct {
		name  string
		lie   func(l *liar)
		check string
		entry int64
		msg   string
	}{
		{"altered result", func(l *liar) {
			l.edit(3, func(r *host.Record) { r.Result = json.RawMessage("42") })
		}, "replay", 3, "result"},
		{"altered state", func(l *liar) {
			l.edit(2, func(r *host.Record) {
				r.Writes[0] = json.RawMessage(`{"op":"writeFile","path":"/topics/1/1","data":"My name is mallory"}`)
				r.StateRoot = strings.Repeat("0", 64)
			})
		}, "replay", 2, "state root"},
		{"dropped user call", func(l *liar) {
			l.calls = append(l.calls[:2:2], l.calls[3:]...) // bob's addPost
			l.renumber()
		}, "order", 3, "never served"},
		{"reordered user calls", func(l *liar) {
			l.calls[1], l.calls[2] = l.calls[2], l.calls[1] // bob's addTopic and addPost
			l.renumber()
		}, "order", 1, "entry"},
		{"forged user signature", func(l *liar) {
			// The host adds a call alice never made to her log and signs
			// the head with a key of its own.
			ue := l.users[w.alice.Key()]
			forged, _ := json.Marshal(host.UserEntry{Type: host.TypeCall, Contract: w.id, Method: "addPost", Args: json.RawMessage(`[1,"alice loves mallory"]`)})
			entries := [][]byte{}
			for _, e := range ue.Entries {
				entries = append(entries, []byte(e.Data))
			}
			entries = append(entries, forged)
			_, fake, _ := ed25519.GenerateKey(nil)
			alicePub, _ := hyperlog.ParseHash(w.alice.Key())
			head := host.UserIdentity(alicePub).SignHead(fake, hyperlog.TreeHash(hyperlog.RootsOf(entries)), uint64(len(entries)), 0)
			ue.Head = head
			ue.Entries = append(ue.Entries, api.Entry{Index: uint64(len(entries) - 1), Data: string(forged)})
		}, "user log", -2, "not signed by that user"},
		{"rewritten log (rolled back past a signed head)", func(l *liar) {
			l.calls = l.calls[:len(l.calls)-1]
		}, "ack", -2, "rewrote its log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLiar(t, w)
			c.lie(l)
			f := auditLiar(t, w, l)
			if f.Check != c.check || (c.entry != -2 && f.Entry != c.entry) || !strings.Contains(f.Msg, c.msg) {
				t.Fatalf("finding %q (check %s, entry %d); want check %s entry %d mentioning %q", f, f.Check, f.Entry, c.check, c.entry, c.msg)
			}
			t.Logf("caught: %v", f)
		})
	}
}

// TestMigration moves the forum to a second host by the protocol: the
// creator seals the log on the old host for the new host's key, the new
// host imports the sealed log and continues the contract under its own
// key, answering to the old id too; the old host refuses calls, naming the
// new host; both audits pass and the new one covers the link.
func TestMigration(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	dirB := t.TempDir()
	hb, err := host.Open(host.Config{Dir: dirB})
	if err != nil {
		t.Fatal(err)
	}
	srvB := httptest.NewServer(api.NewServer(hb, nil))
	defer srvB.Close()
	cb := api.NewClient(srvB.URL)
	hi, err := cb.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// An import of the log as it stands (not sealed) is refused.
	early, err := w.c.Copy(ctx, w.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Import(ctx, early); !api.IsStatus(err, 403) || !strings.Contains(err.Error(), "does not end in a moved record") {
		t.Fatalf("import of an unsealed log: %v", err)
	}
	// Only the creator may seal the log.
	to := host.MovedTo{Host: hi.PublicKey, URL: srvB.URL}
	if _, err := w.alice.Move(ctx, w.c, w.id, to); !api.IsStatus(err, 403) || !strings.Contains(err.Error(), "creator") {
		t.Fatalf("alice moving bob's contract: %v", err)
	}
	res, err := w.bob.Move(ctx, w.c, w.id, to)
	if err != nil || res.Failed() != nil {
		t.Fatalf("bob's move: %v %v", err, res)
	}
	if res.Record.Type != host.TypeMoved || res.Record.To.Host != hi.PublicKey {
		t.Fatalf("the seal record: %+v", res.Record)
	}
	if err := w.bob.Flush(ctx, w.c); err != nil {
		t.Fatal(err)
	}
	// The old host refuses calls now, and says where the contract went.
	_, err = w.alice.Call(ctx, w.c, w.id, "addPost", json.RawMessage("1"), json.RawMessage(`"too late"`))
	if !api.IsStatus(err, 410) || !strings.Contains(err.Error(), hi.PublicKey) || !strings.Contains(err.Error(), srvB.URL) {
		t.Fatalf("a call to the old host after the move: %v", err)
	}
	rep, err := audit.Run(ctx, w.c, w.id, audit.Options{})
	if err != nil || rep.MovedTo != hi.PublicKey {
		t.Fatalf("audit of the sealed log: %v %+v", err, rep)
	}

	cp, err := w.c.Copy(ctx, w.id)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := cb.Import(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	newID := ans.Contract
	if newID == w.id {
		t.Fatal("the moved contract must have the new host's key")
	}
	// The state carried over: the next post in topic 1 is number 5; the
	// old id reaches the contract too.
	res, err = w.bob.Call(ctx, cb, w.id, "addPost", json.RawMessage("1"), json.RawMessage(`"on the new host"`))
	if err != nil || res.Failed() != nil {
		t.Fatalf("call on the new host: %v %v", err, res)
	}
	if string(res.Record.Result) != "5" || res.Contract != newID {
		t.Fatalf("addPost on the new host returned %s from %s, want 5 from %s (the counters carried over)", res.Record.Result, res.Contract, newID)
	}
	if _, err := w.alice.Call(ctx, cb, newID, "addPost", json.RawMessage("2"), json.RawMessage(`"alice moved too"`)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{w.id, newID} {
		if f, err := cb.State(ctx, id, "/topics/1/1"); err != nil || f.Content != "My name is bob" {
			t.Fatalf("old state on the new host under %s: %q %v", id, f.Content, err)
		}
		if info, err := cb.Contract(ctx, id); err != nil || info.Creator != w.bob.Key() {
			t.Fatalf("info on the new host under %s: %+v %v", id, info, err)
		}
	}
	for _, u := range []*api.User{w.bob, w.alice} {
		if err := u.Flush(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = audit.Run(ctx, cb, newID, audit.Options{})
	if err != nil {
		t.Fatalf("audit of the moved contract: %v", err)
	}
	if rep.Entries != 3 || rep.From != w.id || rep.Pending != 0 {
		t.Fatalf("report %+v", rep)
	}
	// A restart rebuilds the moved contract from its logs.
	srvB.Close()
	hb.Close()
	hb, err = host.Open(host.Config{Dir: dirB})
	if err != nil {
		t.Fatalf("reopening the new host: %v", err)
	}
	defer hb.Close()
	srvB2 := httptest.NewServer(api.NewServer(hb, nil))
	defer srvB2.Close()
	if _, err := audit.Run(ctx, api.NewClient(srvB2.URL), newID, audit.Options{}); err != nil {
		t.Fatalf("audit after restart: %v", err)
	}
	// Importing the same sealed log again answers with the same contract.
	if again, err := api.NewClient(srvB2.URL).Import(ctx, cp); err != nil || again.Contract != newID {
		t.Fatalf("second import: %v %v", again, err)
	}
}

// TestAuditCatchesForkAtSameLength: the host answers bob's call, then
// shows a history of the same length in which that slot holds another
// user's call, consistent in every other respect (signed, linked,
// replayable). Bob's ack of the head he was given exposes the fork.
func TestAuditCatchesForkAtSameLength(t *testing.T) {
	ctx := context.Background()
	dirA := t.TempDir()
	hA, err := host.Open(host.Config{Dir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	srvA := httptest.NewServer(api.NewServer(hA, nil))
	cA := api.NewClient(srvA.URL)
	bob, alice := newUser(t), newUser(t)
	res, err := bob.Deploy(ctx, cA, forum(t))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Contract
	if _, err := alice.Call(ctx, cA, id, "addTopic", json.RawMessage(`"t"`)); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*api.User{bob, alice} {
		if err := u.Flush(ctx, cA); err != nil {
			t.Fatal(err)
		}
	}
	srvA.Close()
	hA.Close()
	dirB := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dirB, os.DirFS(dirA)); err != nil {
		t.Fatal(err)
	}

	// History A: bob's call is answered and acknowledged.
	if hA, err = host.Open(host.Config{Dir: dirA}); err != nil {
		t.Fatal(err)
	}
	defer hA.Close()
	srvA = httptest.NewServer(api.NewServer(hA, nil))
	defer srvA.Close()
	cA = api.NewClient(srvA.URL)
	if _, err := bob.Call(ctx, cA, id, "addPost", json.RawMessage("1"), json.RawMessage(`"bob's post"`)); err != nil {
		t.Fatal(err)
	}
	if err := bob.Flush(ctx, cA); err != nil {
		t.Fatal(err)
	}

	// History B, from the same host key: the same slot serves alice.
	hB, err := host.Open(host.Config{Dir: dirB})
	if err != nil {
		t.Fatal(err)
	}
	defer hB.Close()
	srvB := httptest.NewServer(api.NewServer(hB, nil))
	defer srvB.Close()
	cB := api.NewClient(srvB.URL)
	alice2 := api.NewUser(alice.PrivateKey())
	if _, err := alice2.Call(ctx, cB, id, "addPost", json.RawMessage("1"), json.RawMessage(`"alice's post"`)); err != nil {
		t.Fatal(err)
	}
	logA, _ := cA.CallLog(ctx, id, 0, 0, false)
	logB, _ := cB.CallLog(ctx, id, 0, 0, false)
	if logA.Head.Length != logB.Head.Length || logA.Head.TreeHash == logB.Head.TreeHash {
		t.Fatalf("the two histories should have the same length and differ: %d/%d", logA.Head.Length, logB.Head.Length)
	}
	// History B passes every check on its own...
	if _, err := audit.Run(ctx, cB, id, audit.Options{}); err != nil {
		t.Fatalf("history B on its own: %v", err)
	}
	// ...but not with bob's log, which acknowledges history A's head.
	l := &liar{t: t, id: id, users: map[string]*api.Entries{}}
	for _, e := range logB.Entries {
		l.calls = append(l.calls, []byte(e.Data))
	}
	keyFile, _ := os.ReadFile(filepath.Join(dirA, "host.key"))
	hostKey, _ := host.ParseKey(keyFile)
	bobKey, _ := hyperlog.ParseHash(bob.Key())
	l.key = host.DeriveContractKey(hostKey, bobKey, 0)
	if l.users[bob.Key()], err = cA.UserEntries(ctx, bob.Key(), 0, 0, false); err != nil {
		t.Fatal(err)
	}
	if l.users[alice.Key()], err = cB.UserEntries(ctx, alice.Key(), 0, 0, false); err != nil {
		t.Fatal(err)
	}
	f := auditLiar(t, &world{id: id}, l)
	if f.Check != "ack" || !strings.Contains(f.Msg, "forked its signed history") {
		t.Fatalf("finding %v; want the ack check to find a fork", f)
	}
	t.Logf("caught: %v", f)
}

// TestBadContractsThroughTheHost: calls that loop, allocate without bound,
// throw, or return what cannot be serialized fail with a recorded error;
// the host keeps serving, and the audit replays the failures exactly.
func TestBadContractsThroughTheHost(t *testing.T) {
	ctx := context.Background()
	h, err := host.Open(host.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(api.NewServer(h, nil))
	defer srv.Close()
	c := api.NewClient(srv.URL)
	u := newUser(t)
	code := `
exports.n = 0
exports.spin = async () => { for (;;) {} }
exports.grow = async () => { const a = []; for (;;) a.push('xxxxxxxxxxxxxxxx') }
exports.boom = async () => { exports.n = 99; throw new Error('boom') }
exports.weird = async () => new Map()
exports.inc = async () => ++exports.n
`
	res, err := u.Deploy(ctx, c, []byte(code))
	if err != nil || res.Failed() != nil {
		t.Fatalf("deploy: %v %v", err, res)
	}
	id := res.Contract
	for _, tc := range []struct{ method, code string }{
		{"spin", "OutOfGas"}, {"grow", "OutOfGas"}, {"boom", "Threw"}, {"weird", "BadReturn"},
	} {
		r, err := u.Call(ctx, c, id, tc.method)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		if r.Record.Error == nil || r.Record.Error.Code != tc.code {
			t.Fatalf("%s: recorded %+v, want error %s", tc.method, r.Record.Error, tc.code)
		}
	}
	// Failed calls changed nothing: the counter is still at 0.
	r, err := u.Call(ctx, c, id, "inc")
	if err != nil || r.Failed() != nil || string(r.Record.Result) != "1" {
		t.Fatalf("inc after the failures: %v %v %s", err, r.Failed(), r.Record.Result)
	}
	if err := u.Flush(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Run(ctx, c, id, audit.Options{}); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// swappedSnapshot serves another contract's snapshot in place of the one
// asked for: a host trying to pass off a state the record does not commit
// to.
type swappedSnapshot struct {
	*api.Client
	other string
}

func (s swappedSnapshot) AuditSnapshot(ctx context.Context, _ string) (*snapshot.File, error) {
	return s.Client.AuditSnapshot(ctx, s.other)
}

// TestAdoptSnapshot: an auditor adopts the host's snapshot of the
// contract's state against the state commitment of the newest signed
// record, replaying nothing before it, and still checks every signature,
// link and order; the calls made after the snapshot are replayed on top of
// it. A snapshot of another state is refused.
func TestAdoptSnapshot(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, err := audit.Run(ctx, w.c, w.id, audit.Options{Adopt: true})
	if err != nil {
		t.Fatalf("adopting the honest host's snapshot: %v", err)
	}
	if rep.Adopted != 7 || rep.Entries != 0 || rep.Users != 2 || rep.Acks != 7 {
		t.Fatalf("report %+v", rep)
	}
	// A snapshot taken now, then two more calls: they are replayed on it.
	ev, err := audit.Fetch(ctx, w.c, w.id)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Snapshot, err = w.c.AuditSnapshot(ctx, w.id); err != nil {
		t.Fatal(err)
	}
	defer ev.Snapshot.Close()
	for _, title := range []string{"later", "later still"} {
		if _, err := w.bob.Call(ctx, w.c, w.id, "addTopic", mustJSON(title)); err != nil {
			t.Fatal(err)
		}
	}
	later, err := audit.Fetch(ctx, w.c, w.id)
	if err != nil {
		t.Fatal(err)
	}
	later.Snapshot = ev.Snapshot
	rep, err = audit.Verify(later, audit.Options{})
	if err != nil || rep.Adopted != 7 || rep.Entries != 2 {
		t.Fatalf("replaying on the adopted state: %+v %v", rep, err)
	}
	later.Snapshot = nil
	full, err := audit.Verify(later, audit.Options{})
	if err != nil || full.Consensus != rep.Consensus || full.Entries != 9 {
		t.Fatal("the adopted replay ends elsewhere than the full one")
	}
	// Another contract's state is refused.
	res, err := w.bob.Deploy(ctx, w.c, []byte("exports.x = 1\nexports.set = (v) => { exports.x = v }\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = audit.Run(ctx, swappedSnapshot{w.c, res.Contract}, w.id, audit.Options{Adopt: true})
	var f *audit.Finding
	if !errors.As(err, &f) || f.Check != "snapshot" {
		t.Fatalf("another contract's snapshot: %v", err)
	}
	t.Logf("refused: %v", err)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
