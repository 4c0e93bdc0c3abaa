package host_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

var manyUsers = flag.Int("host.users", 2000, "users TestManyUsersStart writes into the data directory (the report's figure is for 20000)")

// listTree lists every path under dir.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// fdWatch samples the descriptor count until stopped, keeping the peak.
type fdWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchFDs(t testing.TB) *fdWatch {
	t.Helper()
	w := &fdWatch{stop: make(chan struct{}), done: make(chan struct{})}
	w.peak.Store(int64(openFDs(t)))
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
				if n := int64(len(ents)); n > w.peak.Load() {
					w.peak.Store(n)
				}
			}
		}
	}()
	return w
}

func (w *fdWatch) Stop() int {
	close(w.stop)
	<-w.done
	return int(w.peak.Load())
}

// TestBadSignaturesTouchNothing: 5,000 submits from fresh keys with heads
// that do not verify (signed by another key, a signature of garbage, a
// valid signature over other entries) are all refused with a typed error,
// create nothing under the data directory, open no descriptor that stays,
// and the host restarts cleanly.
func TestBadSignaturesTouchNothing(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir})
	owner := newSigner(t)
	id := owner.deploy(t, h, counter)
	before := listTree(t, dir)
	fds := watchFDs(t)
	const n = 5000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				u := newSigner(t)
				var entries [][]byte
				if i%2 == 0 {
					entries = [][]byte{entry(t, host.UserEntry{Type: host.TypeCreate, Code: counter})}
				} else {
					entries = [][]byte{entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[1]")})}
				}
				head := u.sign(entries...)
				switch i % 3 {
				case 0: // signed by someone else
					other := newSigner(t)
					other.roots = u.roots
					other.length = u.length
					forged := host.UserIdentity(other.pub).SignHead(other.priv, head.TreeHash, head.Length, 0)
					head.Signature = forged.Signature
				case 1: // garbage signature
					head.Signature = append(hyperlog.Bytes(nil), head.Signature...)
					head.Signature[len(head.Signature)-1] ^= 1
				case 2: // a valid signature over other entries
					entries = [][]byte{entry(t, host.UserEntry{Type: host.TypeCreate, Code: counter + "//x"})}
				}
				_, err := h.Submit(context.Background(), u.pub, entries, head)
				if c := codeOf(err); c != host.ErrForbidden && c != host.ErrInvalid {
					errs <- fmt.Errorf("submit %d: %v (code %v), want ErrForbidden or ErrInvalid", i, err, c)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if peak := fds.Stop(); peak >= 200 {
		t.Fatalf("%d descriptors open at the peak, want under 200", peak)
	}
	if after := listTree(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refused submits changed the data directory: %d paths before, %d after", len(before), len(after))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h = openHost(t, host.Config{Dir: dir})
	defer h.Close()
	if r := owner.add(t, h, id, 2); string(r.Result) != "2" {
		t.Fatalf("after the flood and a restart the counter gives %s, want 2", r.Result)
	}
}

// writeUsers writes n user logs straight into dir/users, each with one call
// to id, and a pending marker for each, as a host that stopped before
// serving them would leave them. It works on all cores.
func writeUsers(t testing.TB, dir string, n int, id host.ContractID) []*signer {
	t.Helper()
	users := make([]*signer, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for range max(2, 2*runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				u := newSigner(t)
				e := entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[1]")})
				head := u.sign(e)
				err := func() error {
					l, err := hyperlog.CreateReplica(filepath.Join(dir, "users", u.pub.String()), host.UserIdentity(u.pub), hyperlog.Options{})
					if err != nil {
						return err
					}
					if err := l.AppendSigned(head, e); err != nil {
						return err
					}
					if err := l.Close(); err != nil {
						return err
					}
					return os.WriteFile(filepath.Join(dir, "pending", fmt.Sprintf("%s-0", u.pub)), nil, 0o644)
				}()
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				users[i] = u
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	return users
}

// TestManyUsersStart: a host whose directory holds thousands of user logs
// (-host.users, 2,000 by default) serves the calls they hold at start,
// restarts without reading them all at once, serves new and old users, and
// keeps its descriptors bounded throughout.
func TestManyUsersStart(t *testing.T) {
	n := *manyUsers
	dir := ramDir(t)
	var logged safeBuffer
	cfg := host.Config{Dir: dir, MaxOpenUserLogs: 16, Logger: logged.logger()}
	defer func() {
		if t.Failed() {
			t.Log(logged.String())
		}
	}()
	h := openHost(t, cfg)
	owner := newSigner(t)
	id := owner.deploy(t, h, counter)
	h.Close()

	t0 := time.Now()
	users := writeUsers(t, dir, n, id)
	t.Logf("wrote %d user logs in %v", n, time.Since(t0).Round(time.Millisecond))

	const bound = 200
	check := func(what string, fds *fdWatch) {
		t.Helper()
		if peak := fds.Stop(); peak >= bound {
			t.Fatalf("%s: %d descriptors open at the peak, want under %d", what, peak, bound)
		} else {
			t.Logf("%s: peak %d descriptors", what, peak)
		}
	}
	// The first start serves every call the user logs hold.
	fds := watchFDs(t)
	t0 = time.Now()
	h = openHost(t, cfg)
	t.Logf("start serving %d logged calls: %v", n, time.Since(t0).Round(time.Millisecond))
	check("first start", fds)
	info, err := h.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Head.Length != uint64(n)+1 {
		t.Fatalf("call log has %d entries after the start, want %d", info.Head.Length, n+1)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "pending")); len(ents) != 0 {
		t.Fatalf("%d pending markers left after serving them", len(ents))
	}
	h.Close()

	// A restart only checks the served users' lengths, a few at a time.
	fds = watchFDs(t)
	t0 = time.Now()
	h = openHost(t, cfg)
	t.Logf("restart with %d users: %v", n, time.Since(t0).Round(time.Millisecond))
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "host recovered") {
			t.Log(line)
		}
	}
	defer h.Close()
	fds2 := watchFDs(t)
	check("restart", fds)
	if r := owner.add(t, h, id, 5); string(r.Result) != fmt.Sprint(n+5) {
		t.Fatalf("counter = %s, want %d", r.Result, n+5)
	}
	// Old users, more than MaxOpenUserLogs of them, each call again.
	for _, u := range users[:64] {
		r := u.add(t, h, id, 1)
		if r.UserIndex != 1 {
			t.Fatalf("a user's second call has index %d", r.UserIndex)
		}
	}
	newcomer := newSigner(t)
	newcomer.add(t, h, id, 1)
	check("serving", fds2)
}

// TestUserLogCache: more users than MaxOpenUserLogs, calling concurrently,
// are all served and read back, and the open logs never exceed the bound
// by more than the requests in flight.
func TestUserLogCache(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir, MaxOpenUserLogs: 4})
	defer h.Close()
	owner := newSigner(t)
	id := owner.deploy(t, h, counter)
	users := make([]*signer, 40)
	for i := range users {
		users[i] = newSigner(t)
	}
	var wg sync.WaitGroup
	for round := range 3 {
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := u.add(t, h, id, 1)
				if r.UserIndex != uint64(round) {
					t.Errorf("user call %d has index %d", round, r.UserIndex)
				}
			}()
		}
		wg.Wait()
	}
	for _, u := range users {
		head, entries, err := h.UserLog(u.pub, 0, 0, false)
		if err != nil || head.Length != 3 || len(entries) != 3 {
			t.Fatalf("user log: %v, length %d, %d entries", err, head.Length, len(entries))
		}
	}
	if _, err := h.UserHead(newSigner(t).pub); codeOf(err) != host.ErrNotFound {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
	info, _ := h.Info(id)
	if info.Head.Length != 1+3*40 {
		t.Fatalf("call log length %d", info.Head.Length)
	}
}

// TestNewUserRace: two submits creating the same user's log at once: one
// wins, the other is refused with a conflict, and the log holds one copy.
func TestNewUserRace(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir})
	defer h.Close()
	owner := newSigner(t)
	id := owner.deploy(t, h, counter)
	for range 20 {
		u := newSigner(t)
		e := entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: "add", Args: json.RawMessage("[1]")})
		head := u.sign(e)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.Submit(context.Background(), u.pub, [][]byte{e}, head)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if codeOf(err) != host.ErrConflict {
				t.Fatalf("the losing submit: %v, want ErrConflict", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of two identical submits succeeded, want 1", ok)
		}
		if head, err := h.UserHead(u.pub); err != nil || head.Length != 1 {
			t.Fatalf("user head %d, %v", head.Length, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "users"))
	for _, e := range ents {
		if _, err := hyperlog.ParseHash(e.Name()); err != nil {
			t.Fatalf("left behind in users/: %s", e.Name())
		}
	}
}

// TestHalfCreatedStateIsCleaned: what a crash or an older host leaves in
// users/ (a log being built aside, a directory without identity, an empty
// replica a refused request created) is removed at start and logged, and a
// user log with entries but no identity stops the start.
func TestHalfCreatedStateIsCleaned(t *testing.T) {
	dir := ramDir(t)
	h := openHost(t, host.Config{Dir: dir})
	owner := newSigner(t)
	id := owner.deploy(t, h, counter)
	owner.add(t, h, id, 1)
	h.Close()
	users := filepath.Join(dir, "users")
	aside := filepath.Join(users, ".new-"+newSigner(t).pub.String()+"-123")
	noIdentity := filepath.Join(users, newSigner(t).pub.String())
	empty := newSigner(t)
	for _, d := range []string{aside, noIdentity} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "data"), nil, 0o644)
	}
	l, err := hyperlog.CreateReplica(filepath.Join(users, empty.pub.String()), host.UserIdentity(empty.pub), hyperlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// An older host's directory: no pending markers, so every user log is
	// read once (which finds the empty replica).
	os.RemoveAll(filepath.Join(dir, "pending"))
	var logged safeBuffer
	h = openHost(t, host.Config{Dir: dir, Logger: logged.logger()})
	for _, d := range []string{aside, noIdentity, filepath.Join(users, empty.pub.String())} {
		if _, err := os.Stat(d); err == nil {
			t.Fatalf("%s was not removed", d)
		}
		if !logged.contains(d) {
			t.Fatalf("removing %s was not logged:\n%s", d, logged.String())
		}
	}
	if r := owner.add(t, h, id, 1); string(r.Result) != "2" {
		t.Fatalf("counter %s", r.Result)
	}
	h.Close()
	// Entries but no identity: that is not half-created; the start stops.
	if err := os.Remove(filepath.Join(users, owner.pub.String(), "identity.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Open(host.Config{Dir: dir}); err == nil || !contains(err.Error(), owner.pub.String(), "identity.json", "restore") {
		t.Fatalf("open with a user log without identity: %v", err)
	}
}

// TestMaxContracts: each contract holds its call log's descriptors, so the
// host runs at most MaxContracts and refuses further creates with ErrBusy,
// before they enter the user's log.
func TestMaxContracts(t *testing.T) {
	h := openHost(t, host.Config{Dir: ramDir(t), MaxContracts: 2})
	defer h.Close()
	u := newSigner(t)
	u.deploy(t, h, counter)
	u.deploy(t, h, counter)
	e := entry(t, host.UserEntry{Type: host.TypeCreate, Code: counter})
	head := host.UserIdentity(u.pub).SignHead(u.priv, hyperlog.TreeHash(hyperlog.AppendLeaf(append([]hyperlog.Node(nil), u.roots...), u.length, e)), u.length+1, 0)
	if _, err := h.Submit(context.Background(), u.pub, [][]byte{e}, head); codeOf(err) != host.ErrBusy {
		t.Fatalf("a third create: %v, want ErrBusy", err)
	}
	if got, _ := h.UserHead(u.pub); got.Length != 2 || len(h.Contracts()) != 2 {
		t.Fatalf("the refused create changed the user log (length %d) or the contracts (%d)", got.Length, len(h.Contracts()))
	}
}

// TestMaxContractsPerUser: one user cannot take all of a host's contracts:
// a create beyond MaxContractsPerUser is refused with ErrForbidden, naming
// the count and the bound, and writes nothing; another user still creates,
// and the count holds after a restart.
func TestMaxContractsPerUser(t *testing.T) {
	dir := ramDir(t)
	cfg := host.Config{Dir: dir, MaxContractsPerUser: 2}
	h := openHost(t, cfg)
	u := newSigner(t)
	u.deploy(t, h, counter)
	u.deploy(t, h, counter)
	create := entry(t, host.UserEntry{Type: host.TypeCreate, Code: counter})
	if _, err := u.trySubmit(h, create); codeOf(err) != host.ErrForbidden || !contains(err.Error(), "has created 2 contracts", "at most 2") {
		t.Fatalf("a third create: %v, want ErrForbidden naming 2 of at most 2", err)
	}
	if n := userLength(t, h, u.pub); n != 2 || len(h.Contracts()) != 2 {
		t.Fatalf("the refused create changed the user log (length %d) or the contracts (%d)", n, len(h.Contracts()))
	}
	newSigner(t).deploy(t, h, counter)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h = openHost(t, cfg)
	defer h.Close()
	if _, err := u.trySubmit(h, create); codeOf(err) != host.ErrForbidden {
		t.Fatalf("a third create after a restart: %v, want ErrForbidden", err)
	}
}
