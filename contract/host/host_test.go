package host_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// counter is the contract most tests deploy.
const counter = `exports.n = 0
exports.add = async (k) => {
  exports.n += k
  await state.writeFile('/last', String(k))
  return exports.n
}
`

// signer is a user that signs entries into its own log and submits them
// straight to a Host.
type signer struct {
	priv   ed25519.PrivateKey
	pub    hyperlog.Hash
	roots  []hyperlog.Node
	length uint64
}

func newSigner(t testing.TB) *signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var h hyperlog.Hash
	copy(h[:], pub)
	return &signer{priv: priv, pub: h}
}

// sign returns the head over the log with entries appended, and advances
// the signer's log.
func (s *signer) sign(entries ...[]byte) hyperlog.SignedHead {
	for _, e := range entries {
		s.roots = hyperlog.AppendLeaf(s.roots, s.length, e)
		s.length++
	}
	return host.UserIdentity(s.pub).SignHead(s.priv, hyperlog.TreeHash(s.roots), s.length, 0)
}

func entry(t testing.TB, e host.UserEntry) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *signer) submit(t testing.TB, h *host.Host, entries ...[]byte) []*host.Answer {
	t.Helper()
	answers, err := h.Submit(context.Background(), s.pub, entries, s.sign(entries...))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return answers
}

func (s *signer) deploy(t testing.TB, h *host.Host, code string) host.ContractID {
	t.Helper()
	a := s.submit(t, h, entry(t, host.UserEntry{Type: host.TypeCreate, Code: code}))
	if a[0].Record.Error != nil {
		t.Fatalf("deploy: %+v", a[0].Record.Error)
	}
	return a[0].Contract
}

func (s *signer) add(t testing.TB, h *host.Host, id host.ContractID, k int) *host.Record {
	t.Helper()
	a := s.submit(t, h, entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage(fmt.Sprint("[", k, "]"))}))
	if a[0].Record.Error != nil {
		t.Fatalf("add: %+v", a[0].Record.Error)
	}
	return a[0].Record
}

func openHost(t testing.TB, cfg host.Config) *host.Host {
	t.Helper()
	h, err := host.Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return h
}

// ramDir is a directory in memory (/dev/shm) where there is one: tests
// that create thousands of logs would otherwise mostly measure fsync.
func ramDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "host-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// openFDs counts the process's open file descriptors (Linux only).
func openFDs(t testing.TB) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors through /proc/self/fd")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd: ", err)
	}
	return len(ents)
}

// safeBuffer collects log output from many goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *safeBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }

func (s *safeBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(s, nil)) }

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func mustHash(t testing.TB, s string) hyperlog.Hash {
	t.Helper()
	h, err := hyperlog.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// codeOf returns the code of a host error, 0 for another error.
func codeOf(err error) host.ErrorCode {
	var he *host.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return 0
}

// TestChainAppOnMem drives the contract Application on a kv.Mem, as the
// engine would: a create, calls that succeed and fail, and the same ops on
// a second store give the same state byte for byte.
func TestChainAppOnMem(t *testing.T) {
	run := func() (*kv.Mem, []string) {
		app := host.NewChainApp(contract.DefaultLimits())
		st := kv.NewMem()
		var outcomes []string
		txs := []tape.Tx{
			{ID: vchash.Hash{1}, Payload: host.CreatePayload(counter)},
			{ID: vchash.Hash{2}, Payload: host.CallPayload(vchash.Hash{1}.String(), "add", json.RawMessage(`[5]`))},
			{ID: vchash.Hash{3}, Payload: host.CallPayload(vchash.Hash{1}.String(), "add", json.RawMessage(`[7]`))},
			{ID: vchash.Hash{4}, Payload: host.CallPayload(vchash.Hash{1}.String(), "nope", json.RawMessage(`[]`))},
		}
		for i := range txs {
			tx := &txs[i]
			tx.Senders = []tape.Sender{{Address: "alice"}}
			b := &engine.BlockContext{Header: tape.Header{Height: int64(i), Time: 1700000000 + int64(i)}}
			data, err := app.Parse(b, tx, tx.Payload[2], tx.Payload[3:])
			if err != nil {
				t.Fatalf("parse %d: %v", i, err)
			}
			op := &engine.Op{Opcode: tx.Payload[2], Tx: tx, Data: data}
			if err := app.Commit(b, op, st); err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
			ser, err := app.Serialize(op)
			if err != nil {
				t.Fatal(err)
			}
			outcomes = append(outcomes, string(ser))
		}
		return st, outcomes
	}
	st, outcomes := run()
	exports, methods, err := host.ChainContract(st, vchash.Hash{1}.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(exports), `"n":12`) || len(methods) != 1 || methods[0] != "add" {
		t.Fatalf("exports %s, methods %v; want n=12 and [add]", exports, methods)
	}
	if outcomes[3] == outcomes[2] || !strings.Contains(outcomes[3], "nope") && !strings.Contains(outcomes[3], "NoMethod") {
		t.Fatalf("a call to a missing method serialises as %q", outcomes[3])
	}
	st2, outcomes2 := run()
	if fmt.Sprint(outcomes) != fmt.Sprint(outcomes2) {
		t.Fatalf("two runs serialise differently:\n%v\n%v", outcomes, outcomes2)
	}
	dump := func(m *kv.Mem) string {
		var b strings.Builder
		m.Iterate(nil, func(k, v []byte) error { fmt.Fprintf(&b, "%q=%q\n", k, v); return nil })
		return b.String()
	}
	if dump(st) != dump(st2) {
		t.Fatal("two runs of the same ops leave different states")
	}
}

// world is a host behind its HTTP API with a counter two api.Users called
// (acknowledging every answer), so that package audit can check it.
type world struct {
	dir      string
	h        *host.Host
	srv      *httptest.Server
	c        *api.Client
	id       string
	bob, amy *api.User
}

func newWorld(t *testing.T, cfg host.Config) *world {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	w := &world{dir: cfg.Dir}
	for _, u := range []**api.User{&w.bob, &w.amy} {
		_, priv, _ := ed25519.GenerateKey(nil)
		*u = api.NewUser(priv)
	}
	w.start(t, cfg)
	ctx := context.Background()
	res, err := w.bob.Deploy(ctx, w.c, []byte(counter))
	if err != nil {
		t.Fatal(err)
	}
	w.id = res.Contract
	for i := 1; i <= 6; i++ {
		u := w.bob
		if i%2 == 0 {
			u = w.amy
		}
		res, err := u.Call(ctx, w.c, w.id, "add", json.RawMessage(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Failed(); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []*api.User{w.bob, w.amy} {
		if err := u.Flush(ctx, w.c); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// start opens the host in w.dir behind a new API server.
func (w *world) start(t *testing.T, cfg host.Config) {
	t.Helper()
	cfg.Dir = w.dir
	w.h = openHost(t, cfg)
	w.srv = httptest.NewServer(api.NewServer(w.h, nil))
	w.c = api.NewClient(w.srv.URL)
}

func (w *world) stop() {
	w.srv.Close()
	w.h.Close()
}

// audit runs the auditor against the host.
func (w *world) audit(t *testing.T) *audit.Report {
	t.Helper()
	rep, err := audit.Run(context.Background(), w.c, w.id, audit.Options{})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return rep
}

// TestRestartKeepsEverything: a host reopened serves the same logs and
// state, its audit passes, and it goes on serving.
func TestRestartKeepsEverything(t *testing.T) {
	w := newWorld(t, host.Config{})
	defer func() { w.stop() }()
	before := w.audit(t)
	w.stop()
	w.start(t, host.Config{})
	after := w.audit(t)
	if after.Entries != before.Entries || after.Consensus != before.Consensus || after.Entries != 7 {
		t.Fatalf("after a restart the audit reports %+v, before %+v", after, before)
	}
	res, err := w.bob.Call(context.Background(), w.c, w.id, "add", json.RawMessage("100"))
	if err != nil || res.Failed() != nil {
		t.Fatalf("call after restart: %v %v", err, res.Failed())
	}
	if string(res.Record.Result) != "121" {
		t.Fatalf("counter after restart = %s, want 121", res.Record.Result)
	}
}
