package host_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
)

// migHost is a host behind its HTTP API.
type migHost struct {
	dir string
	h   *host.Host
	srv *httptest.Server
	c   *api.Client
	key string
}

func startMigHost(t testing.TB, dir string) *migHost {
	t.Helper()
	h, err := host.Open(host.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := &migHost{dir: dir, h: h, srv: httptest.NewServer(api.NewServer(h, nil))}
	m.c = api.NewClient(m.srv.URL)
	m.key = fmt.Sprintf("%x", h.PublicKey())
	t.Cleanup(m.stop)
	return m
}

func (m *migHost) stop() {
	m.srv.Close()
	m.h.Close()
}

func migUser(t testing.TB) *api.User {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewUser(priv)
}

func forumCode(t testing.TB) []byte {
	code, err := os.ReadFile(filepath.Join("..", "..", "examples", "forum.js"))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// sealedForum deploys the forum on a as bob, makes posts of postBytes
// each (16 calls a request), seals it for b, and returns its id and the
// import request for b.
func sealedForum(t testing.TB, a, b *migHost, bob *api.User, posts, postBytes int) (string, *api.ImportRequest) {
	id, cp, _ := sealedForumEarly(t, a, b, bob, posts, postBytes)
	return id, cp
}

// sealedForumEarly is sealedForum that also returns a copy of the logs
// taken just before the seal.
func sealedForumEarly(t testing.TB, a, b *migHost, bob *api.User, posts, postBytes int) (string, *api.ImportRequest, *api.ImportRequest) {
	t.Helper()
	ctx := context.Background()
	res, err := bob.Deploy(ctx, a.c, forumCode(t))
	if err != nil || res.Failed() != nil {
		t.Fatalf("deploy: %v %v", err, res)
	}
	id := res.Contract
	if _, err := bob.Call(ctx, a.c, id, "addTopic", json.RawMessage(`"t"`)); err != nil {
		t.Fatal(err)
	}
	post, _ := json.Marshal(strings.Repeat("x", postBytes))
	for n := 0; n < posts; {
		var calls []api.CallSpec
		for ; n < posts && len(calls) < 16; n++ {
			calls = append(calls, api.CallSpec{Contract: id, Method: "addPost", Args: []json.RawMessage{json.RawMessage("1"), post}})
		}
		if _, err := bob.CallMany(ctx, a.c, calls); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Flush(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	early, err := a.c.Copy(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := bob.Move(ctx, a.c, id, host.MovedTo{Host: b.key, URL: b.srv.URL}); err != nil || res.Failed() != nil {
		t.Fatalf("move: %v %v", err, res)
	}
	if err := bob.Flush(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	cp, err := a.c.Copy(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, cp, early
}

func importStream(t testing.TB, cp *api.ImportRequest) []byte {
	t.Helper()
	var buf bytes.Buffer
	iw, err := host.NewImportWriter(&buf, cp.From, cp.CallLog.Head)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cp.CallLog.Entries {
		iw.Entry([]byte(e))
	}
	for _, o := range cp.Older {
		iw.Older(o.From, o.Head)
		for _, e := range o.Entries {
			iw.Entry([]byte(e))
		}
	}
	for k, u := range cp.Users {
		iw.User(k, u.Head)
		for _, e := range u.Entries {
			iw.Entry([]byte(e))
		}
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func isCode(err error, code host.ErrorCode) bool {
	var he *host.Error
	return errors.As(err, &he) && he.Code == code
}

// TestImportRefusals: an import that is not a sealed log for this host is
// refused with a typed error before anything is created; at most
// MaxConcurrentImports run at once.
func TestImportRefusals(t *testing.T) {
	a := startMigHost(t, t.TempDir())
	b := startMigHost(t, t.TempDir())
	c := startMigHost(t, t.TempDir())
	bob := migUser(t)
	_, cp, early := sealedForumEarly(t, a, b, bob, 3, 10)
	ctx := context.Background()
	stream := importStream(t, cp)

	// Sealed for b, not for c.
	if _, err := c.h.Import(ctx, bytes.NewReader(stream)); !isCode(err, host.ErrForbidden) || !strings.Contains(err.Error(), "not this host") {
		t.Fatalf("import into the wrong host: %v", err)
	}
	// The log at an older head, before the seal: every signature holds,
	// but it does not end in the moved record.
	if _, err := b.h.Import(ctx, bytes.NewReader(importStream(t, early))); !isCode(err, host.ErrForbidden) || !strings.Contains(err.Error(), "does not end in a moved record") {
		t.Fatalf("an import at the head before the seal: %v", err)
	}
	// The sealed log cut short of the seal: its head no longer matches.
	older := *cp
	older.CallLog.Entries = cp.CallLog.Entries[:len(cp.CallLog.Entries)-1]
	if _, err := b.h.Import(ctx, bytes.NewReader(importStream(t, &older))); err == nil {
		t.Fatal("an import missing the seal passed")
	}
	// A flipped byte anywhere in an entry breaks the tree.
	bad := append([]byte(nil), stream...)
	i := bytes.Index(bad, []byte(`"method":"addPost"`))
	bad[i+11] ^= 1
	if _, err := b.h.Import(ctx, bytes.NewReader(bad)); !isCode(err, host.ErrForbidden) && !isCode(err, host.ErrInvalid) {
		t.Fatalf("a tampered import: %v", err)
	}
	// Garbage and truncations are refused as malformed.
	for _, in := range [][]byte{nil, []byte("hello"), stream[:len(stream)/2], append(append([]byte(nil), stream...), 'x')} {
		if _, err := b.h.Import(ctx, bytes.NewReader(in)); !isCode(err, host.ErrInvalid) && !isCode(err, host.ErrForbidden) {
			t.Fatalf("a malformed import (%d bytes): %v", len(in), err)
		}
	}
	if got := b.h.Contracts(); len(got) != 0 {
		t.Fatalf("refused imports left contracts: %v", got)
	}

	// Two imports that stall hold both slots; a third is told to retry.
	var stalls []*io.PipeWriter
	errs := make(chan error, host.MaxConcurrentImports)
	for range host.MaxConcurrentImports {
		pr, pw := io.Pipe()
		stalls = append(stalls, pw)
		go func() {
			_, err := b.h.Import(ctx, pr)
			errs <- err
		}()
	}
	// Wait until both hold their slots (probing with imports of our own
	// would take a slot from a stall that had not started yet).
	for deadline := time.Now().Add(10 * time.Second); host.ImportsRunning(b.h) < host.MaxConcurrentImports; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stalled imports hold %d slots after 10 s", host.ImportsRunning(b.h))
		}
	}
	if _, err3 := b.h.Import(ctx, bytes.NewReader(nil)); !isCode(err3, host.ErrBusy) {
		t.Fatalf("a third concurrent import: %v", err3)
	}
	// Over HTTP that is a 503 with Retry-After.
	if _, err := b.c.Import(ctx, cp); !api.IsStatus(err, 503) {
		t.Fatalf("a third concurrent import over HTTP: %v", err)
	}
	for _, pw := range stalls {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	for range stalls {
		<-errs
	}
	ans, err := b.h.Import(ctx, bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("the import once the slots are free: %v", err)
	}
	if _, err := b.c.Contract(ctx, cp.From); err != nil {
		t.Fatalf("the moved contract under its old id: %v", err)
	}
	if _, err := b.c.Contract(ctx, ans.Contract.String()); err != nil {
		t.Fatalf("the moved contract under its new id: %v", err)
	}
}

// TestImportMemory: six concurrent imports of a 16 MiB sealed log (two
// admitted, streaming; four told to retry) grow the new host's heap by
// less than importHeapBound, though the streams total ~100 MB: an import
// holds about one entry, not its body.
func TestImportMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 16 MiB log")
	}
	const importHeapBound = 64 << 20
	a := startMigHost(t, t.TempDir())
	b := startMigHost(t, t.TempDir())
	bob := migUser(t)
	_, cp := sealedForum(t, a, b, bob, 128, 64<<10-64) // posts just within the args limit
	size := 0
	for _, e := range cp.CallLog.Entries {
		size += len(e)
	}
	for _, u := range cp.Users {
		for _, e := range u.Entries {
			size += len(e)
		}
	}
	a.stop()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	var ok, busy, other atomic.Int32
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.c.Import(context.Background(), cp)
			switch {
			case err == nil:
				ok.Add(1)
			case api.IsStatus(err, 503):
				busy.Add(1)
			default:
				other.Add(1)
				t.Logf("import: %v", err)
			}
		}()
	}
	wg.Wait()
	close(done)
	growth := int64(peak.Load()) - int64(base)
	t.Logf("6 imports of a %.1f MiB stream: %d answered, %d busy, %d other; heap in use grew by %.1f MiB at peak (bound %d MiB)",
		float64(size)/(1<<20), ok.Load(), busy.Load(), other.Load(), float64(growth)/(1<<20), importHeapBound>>20)
	if ok.Load() < 1 || busy.Load() < 1 {
		t.Fatalf("want at least one import done and one told to retry")
	}
	if growth > importHeapBound {
		t.Fatalf("heap grew by %d MiB during the imports; the bound is %d MiB", growth>>20, importHeapBound>>20)
	}
}

// TestRestartAfterImport: a host that imported a contract has, in the
// imported user logs, entries for contracts it does not hold (another
// contract the user created on the old host, calls to it); after a
// restart, with or without pending markers, it serves none of them.
func TestRestartAfterImport(t *testing.T) {
	a := startMigHost(t, t.TempDir())
	dirB := t.TempDir()
	b := startMigHost(t, dirB)
	bob := migUser(t)
	ctx := context.Background()
	// Another contract of bob's, on a only, called after the one that moves.
	other, err := bob.Deploy(ctx, a.c, forumCode(t))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := sealedForum(t, a, b, bob, 2, 10)
	if _, err := bob.Call(ctx, a.c, other.Contract, "addTopic", json.RawMessage(`"elsewhere"`)); err != nil {
		t.Fatal(err)
	}
	if err := bob.Flush(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	cp, err := a.c.Copy(ctx, id) // bob's log now holds the later call too
	if err != nil {
		t.Fatal(err)
	}
	ans, err := b.c.Import(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ans.Contract}
	for round, dropMarkers := range []bool{false, true} {
		b.stop()
		if dropMarkers {
			// A directory from before pending markers: start-up reads
			// every user log whole.
			os.RemoveAll(filepath.Join(dirB, "pending"))
		}
		b = startMigHost(t, dirB)
		var got []string
		for _, c := range b.h.Contracts() {
			got = append(got, c.String())
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("restart %d: the host runs %v; want only the imported %v", round, got, want)
		}
		if _, err := b.c.Contract(ctx, other.Contract); !api.IsStatus(err, 404) {
			t.Fatalf("restart %d: the other contract on the new host: %v", round, err)
		}
		rep, err := audit.Run(ctx, b.c, ans.Contract, audit.Options{})
		if err != nil {
			t.Fatalf("restart %d: audit: %v", round, err)
		}
		if rep.From != id {
			t.Fatalf("restart %d: report %+v", round, rep)
		}
	}
	// Calls to the moved contract by its old id still work after restarts.
	res, err := bob.Call(ctx, b.c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"after restarts"`))
	if err != nil || res.Failed() != nil || res.Contract != ans.Contract {
		t.Fatalf("call by the old id: %v %v", err, res)
	}
}

// TestMigrateTwice: a contract moves A → B → C. C takes B's sealed log
// only with the chain of sealed logs back to the create (an import that
// leaves a log out, carries a different one or a forged link is refused);
// the audit on C checks every link; the id the users know (A's) works on
// C for info, state and calls, before and after a restart; B's id too.
func TestMigrateTwice(t *testing.T) {
	a := startMigHost(t, t.TempDir())
	b := startMigHost(t, t.TempDir())
	dirC := t.TempDir()
	c := startMigHost(t, dirC)
	bob, amy := migUser(t), migUser(t)
	ctx := context.Background()
	id, cp, early := sealedForumEarly(t, a, b, bob, 3, 10)
	ansB, err := b.c.Import(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	idB := ansB.Contract
	// Amy, new to the contract, calls it on B by the id she knows.
	if res, err := amy.Call(ctx, b.c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"on b"`)); err != nil || res.Failed() != nil {
		t.Fatalf("call on b: %v %v", err, res)
	}
	if err := amy.Flush(ctx, b.c); err != nil {
		t.Fatal(err)
	}
	// Bob moves it on by the original id: B seals its log for C.
	if res, err := bob.Move(ctx, b.c, id, host.MovedTo{Host: c.key, URL: c.srv.URL}); err != nil || res.Failed() != nil {
		t.Fatalf("move on b: %v %v", err, res)
	}
	if err := bob.Flush(ctx, b.c); err != nil {
		t.Fatal(err)
	}
	if _, err := amy.Call(ctx, b.c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"late"`)); !api.IsStatus(err, 410) {
		t.Fatalf("a call on b after the second move: %v, want 410", err)
	}
	cp2, err := b.c.Copy(ctx, idB)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp2.Older) != 1 || cp2.Older[0].From != id {
		t.Fatalf("b's copy carries %d older logs, want a's", len(cp2.Older))
	}

	// Imports that break the chain are refused, and leave nothing.
	broken := func(what string, code host.ErrorCode, edit func(*api.ImportRequest)) {
		t.Helper()
		x := *cp2
		x.Older = append([]api.OlderLog(nil), cp2.Older...)
		edit(&x)
		_, err := c.h.Import(ctx, bytes.NewReader(importStream(t, &x)))
		if !isCode(err, code) {
			t.Fatalf("%s: %v, want %v", what, err, code)
		}
		t.Logf("%s: refused: %v", what, err)
		if n := len(c.h.Contracts()); n != 0 {
			t.Fatalf("%s: the refused import left %d contracts", what, n)
		}
	}
	broken("without a's log", host.ErrInvalid, func(x *api.ImportRequest) { x.Older = nil })
	broken("a's log before its seal", host.ErrForbidden, func(x *api.ImportRequest) {
		x.Older[0] = api.OlderLog{From: id, LogCopy: early.CallLog}
	})
	broken("a's log with an entry changed", host.ErrForbidden, func(x *api.ImportRequest) {
		o := x.Older[0]
		o.Entries = append([]string(nil), o.Entries...)
		o.Entries[1] = strings.Replace(o.Entries[1], `"t"`, `"u"`, 1)
		x.Older[0] = o
	})
	broken("another contract's log", host.ErrForbidden, func(x *api.ImportRequest) {
		x.Older[0] = api.OlderLog{From: idB, LogCopy: cp2.CallLog}
	})
	broken("a's log twice", host.ErrInvalid, func(x *api.ImportRequest) { x.Older = append(x.Older, x.Older[0]) })

	ansC, err := c.c.Import(ctx, cp2)
	if err != nil {
		t.Fatal(err)
	}
	idC := ansC.Contract
	for round := 0; round < 2; round++ {
		rep, err := audit.Run(ctx, c.c, idC, audit.Options{})
		if err != nil {
			t.Fatalf("round %d: audit on c: %v", round, err)
		}
		if rep.From != idB {
			t.Fatalf("round %d: the audit on c continues %q, want b's %s", round, rep.From, idB)
		}
		for _, known := range []string{id, idB, idC} {
			info, err := c.c.Contract(ctx, known)
			if err != nil || info.ID != idC {
				t.Fatalf("round %d: info by %s on c: %v %+v", round, known, err, info)
			}
			// Post 4 is amy's, served by b.
			if f, err := c.c.State(ctx, known, "/topics/1/4"); err != nil || f.Content != "on b" {
				t.Fatalf("round %d: state by %s on c: %v %+v", round, known, err, f)
			}
		}
		res, err := amy.Call(ctx, c.c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"on c"`))
		if err != nil || res.Failed() != nil || res.Contract != idC {
			t.Fatalf("round %d: call by a's id on c: %v %v", round, err, res)
		}
		// 3 posts on a, one on b, then one a round on c.
		if want := fmt.Sprint(3 + 1 + round + 1); string(res.Record.Result) != want {
			t.Fatalf("round %d: post id %s, want %s", round, res.Record.Result, want)
		}
		if err := amy.Flush(ctx, c.c); err != nil {
			t.Fatal(err)
		}
		c.stop()
		c = startMigHost(t, dirC)
	}
	// The audit checks every link of the chain: evidence without a's log,
	// or with a's log before its seal, does not pass.
	ev, err := audit.Fetch(ctx, c.c, idC)
	if err != nil || ev.From == nil || len(ev.Older) != 1 {
		t.Fatalf("evidence from c: %v", err)
	}
	if _, err := audit.Verify(ev, audit.Options{}); err != nil {
		t.Fatal(err)
	}
	for what, older := range map[string][]audit.Log{
		"without a's log":         nil,
		"a's log before its seal": {{Head: early.CallLog.Head, Entries: rawEntries(early.CallLog.Entries)}},
	} {
		bad := *ev
		bad.Older = older
		var f *audit.Finding
		if _, err := audit.Verify(&bad, audit.Options{}); !errors.As(err, &f) {
			t.Fatalf("audit of evidence %s: %v, want a finding", what, err)
		}
	}
	// The old logs, served by their ids on c, are the sealed ones.
	for known, l := range map[string]api.LogCopy{id: cp.CallLog, idB: cp2.CallLog} {
		es, err := c.c.CallLog(ctx, known, 0, 0, false)
		if err != nil || es.Head.Length != l.Head.Length || es.Head.TreeHash != l.Head.TreeHash {
			t.Fatalf("c serves %s's log at %v (%v), want the sealed head %d", known, es, err, l.Head.Length)
		}
	}
}

func rawEntries(es []string) [][]byte {
	out := make([][]byte, len(es))
	for i, e := range es {
		out[i] = []byte(e)
	}
	return out
}

// FuzzImport: whatever an importer sends, the host answers with a typed
// refusal or (only for the one genuine sealed log) takes the contract
// over; it never panics.
func FuzzImport(f *testing.F) {
	a := startMigHost(f, f.TempDir())
	b := startMigHost(f, f.TempDir())
	bob := migUser(f)
	_, cp := sealedForum(f, a, b, bob, 2, 10)
	valid := importStream(f, cp)
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte("vchain-import/1\nH\x05{}"))
	f.Add([]byte("vchain-import/1\nE\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ans, err := b.h.Import(context.Background(), bytes.NewReader(data))
		if err == nil {
			if !bytes.Equal(data, valid) && ans.Record.From != cp.From {
				t.Fatalf("an import of %d made-up bytes passed", len(data))
			}
			return
		}
		var he *host.Error
		if !errors.As(err, &he) {
			t.Fatalf("an untyped refusal: %v", err)
		}
	})
}
