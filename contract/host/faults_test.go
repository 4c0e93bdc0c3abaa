package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
)

// sizes returns the sizes of a log directory's files.
func sizes(t *testing.T, dir string) string {
	t.Helper()
	out := ""
	for _, n := range []string{"data", "tree", "heads"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%s=%d ", n, st.Size())
	}
	return out
}

// refused opens a host in dir, which must fail with an error holding every
// one of want; the files must be left as they were.
func refused(t *testing.T, dir string, logDir string, want ...string) error {
	t.Helper()
	before := sizes(t, logDir)
	h, err := host.Open(host.Config{Dir: dir})
	if err == nil {
		h.Close()
		t.Fatal("the host started on a damaged log")
	}
	if !contains(err.Error(), want...) {
		t.Fatalf("start refused with\n  %v\nwhich does not name all of %q", err, want)
	}
	if after := sizes(t, logDir); after != before {
		t.Fatalf("a refused start changed %s: %s, then %s", logDir, before, after)
	}
	return err
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestEmptiedCallLogData: an emptied calls/data must not make the start cut
// the tree and heads files (the signed heads): it refuses, naming the file,
// the contract and the remedies; with Repair it cuts, keeping the damaged
// files aside, and serves the calls again from the users' logs, which hold
// every one of them.
func TestEmptiedCallLogData(t *testing.T) {
	w := newWorld(t, host.Config{})
	before, err := w.h.Info(host.ContractID(mustHash(t, w.id)))
	if err != nil {
		t.Fatal(err)
	}
	w.stop()
	calls := filepath.Join(w.dir, "contracts", w.id, "calls")
	full := sizes(t, calls)
	if err := os.Truncate(filepath.Join(calls, "data"), 0); err != nil {
		t.Fatal(err)
	}
	refused(t, w.dir, calls, filepath.Join(calls, "data"), "contract "+w.id, "restore", "--repair")

	h := openHost(t, host.Config{Dir: w.dir, Repair: true})
	defer h.Close()
	// The copy holds the files as they were found: data emptied, tree and
	// heads whole.
	want := "data=0 " + full[strings.Index(full, "tree="):]
	if kept := sizes(t, filepath.Join(calls, "damaged-1")); kept != want {
		t.Fatalf("the repair kept %s, want %s", kept, want)
	}
	info, err := h.Info(host.ContractID(mustHash(t, w.id)))
	if err != nil || info.Head.Length != before.Head.Length {
		t.Fatalf("after the repair the call log has %d entries (%v), want the %d calls served again", info.Head.Length, err, before.Head.Length)
	}
	// (The order of calls from different users, and their times, are what
	// the lost log recorded: the state may differ from before.)
}

// TestTruncatedUserLog: a user log that lost entries a call log served
// stops the start with both lengths, the user, the contract and the
// remedy, whether the data file alone was cut or the whole log was put
// back to an older copy.
func TestTruncatedUserLog(t *testing.T) {
	w := newWorld(t, host.Config{})
	ctx := context.Background()
	amy := filepath.Join(w.dir, "users", w.amy.Key())
	old := t.TempDir()
	head, _ := w.h.UserHead(mustHash(t, w.amy.Key()))
	for _, n := range []string{"identity.json", "data", "tree", "heads"} {
		copyFile(t, filepath.Join(amy, n), filepath.Join(old, n))
	}
	if _, err := w.amy.Call(ctx, w.c, w.id, "add", json.RawMessage("1")); err != nil {
		t.Fatal(err)
	}
	served, _ := w.h.UserHead(mustHash(t, w.amy.Key()))
	w.stop()

	// The data file alone is cut: the log's signed heads no longer hold.
	bob := filepath.Join(w.dir, "users", w.bob.Key())
	data, err := os.ReadFile(filepath.Join(bob, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(bob, "data"), int64(len(data))-10); err != nil {
		t.Fatal(err)
	}
	refused(t, w.dir, bob, filepath.Join(bob, "data"), "user log "+w.bob.Key(), "contract "+w.id, "restore", "--repair")
	if err := os.WriteFile(filepath.Join(bob, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Bob's bytes are back (the refused start changed nothing): it starts.
	h := openHost(t, host.Config{Dir: w.dir})
	h.Close()

	// Amy's whole log goes back to an older, consistent copy, shorter than
	// what the call log served.
	for _, n := range []string{"data", "tree", "heads"} {
		copyFile(t, filepath.Join(old, n), filepath.Join(amy, n))
	}
	refused(t, w.dir, amy, "user log "+w.amy.Key(), fmt.Sprintf("holds %d entries", head.Length),
		"contract "+w.id, fmt.Sprintf("served its entry %d", served.Length-1), "restore "+amy)
}

// TestBitFlipMidCallLog: a flipped bit in the middle of a call log stops
// the start with the file, the entry, the contract and the remedy, instead
// of surfacing later as a failed read or audit.
func TestBitFlipMidCallLog(t *testing.T) {
	w := newWorld(t, host.Config{})
	w.stop()
	calls := filepath.Join(w.dir, "contracts", w.id, "calls")
	st, _ := os.Stat(filepath.Join(calls, "data"))
	flipByte(t, filepath.Join(calls, "data"), st.Size()/2)
	refused(t, w.dir, calls, filepath.Join(calls, "data"), "checksum", "contract "+w.id, "restore", "--repair")
}

// TestBitFlipMidUserLog: a flipped bit in a user log a call log served
// stops the start the same way.
func TestBitFlipMidUserLog(t *testing.T) {
	w := newWorld(t, host.Config{})
	w.stop()
	bob := filepath.Join(w.dir, "users", w.bob.Key())
	st, _ := os.Stat(filepath.Join(bob, "data"))
	flipByte(t, filepath.Join(bob, "data"), st.Size()/2)
	refused(t, w.dir, bob, filepath.Join(bob, "data"), "user log "+w.bob.Key(), "contract "+w.id, "restore")
}

// TestTornTailRecovers: what a crash mid-append leaves (bytes after the
// last entry, half a head record) is cut at start, and every acknowledged
// call is intact: the audit passes.
func TestTornTailRecovers(t *testing.T) {
	w := newWorld(t, host.Config{})
	before := w.audit(t)
	w.stop()
	calls := filepath.Join(w.dir, "contracts", w.id, "calls")
	for _, f := range []struct {
		name  string
		bytes int
	}{{"data", 300}, {"tree", 40}, {"heads", 50}} {
		fh, err := os.OpenFile(filepath.Join(calls, f.name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(make([]byte, f.bytes))
		fh.Close()
	}
	w.start(t, host.Config{})
	defer w.stop()
	after := w.audit(t)
	if after.Entries != before.Entries || after.Acks != before.Acks || after.Consensus != before.Consensus {
		t.Fatalf("audit after a torn tail: %+v, before %+v", after, before)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanCloseManifest: after a clean close a restart checks the served
// user logs by their files' stamps instead of opening them; the manifest
// is gone while the host runs (a crash leaves none to trust); and a user
// log changed while the host was stopped, even in place with its
// modification time put back, is still opened and its damage found.
func TestCleanCloseManifest(t *testing.T) {
	w := newWorld(t, host.Config{})
	w.stop()
	manifest := filepath.Join(w.dir, "users-at-close")
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("no manifest after a clean close: %v", err)
	}
	var logged safeBuffer
	h := openHost(t, host.Config{Dir: w.dir, Logger: logged.logger()})
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the manifest is still there while the host runs: %v", err)
	}
	if !strings.Contains(logged.String(), "usersChecked=2 usersUnchanged=2") {
		t.Fatalf("the restart did not find both users unchanged:\n%s", logged.String())
	}
	h.Close()

	// Bob's data flipped in place, its modification time put back.
	bob := filepath.Join(w.dir, "users", w.bob.Key())
	data := filepath.Join(bob, "data")
	st, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, data, st.Size()/2)
	if err := os.Chtimes(data, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	refused(t, w.dir, bob, data, "user log "+w.bob.Key(), "contract "+w.id, "restore")
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused start left the manifest behind")
	}

	// A corrupt manifest is ignored: the start checks every log in full.
	flipByte(t, data, st.Size()/2)
	h = openHost(t, host.Config{Dir: w.dir})
	h.Close()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var logged2 safeBuffer
	h = openHost(t, host.Config{Dir: w.dir, Logger: logged2.logger()})
	h.Close()
	if !strings.Contains(logged2.String(), "ignoring the clean-close manifest") || !strings.Contains(logged2.String(), "usersUnchanged=0") {
		t.Fatalf("a corrupt manifest was trusted:\n%s", logged2.String())
	}
}

// TestMissingHostKey: a data directory with contracts but no host.key is
// refused, naming the file and the remedy; a new key would be generated
// otherwise, and could sign none of the contracts' call logs.
func TestMissingHostKey(t *testing.T) {
	w := newWorld(t, host.Config{})
	w.stop()
	key := filepath.Join(w.dir, "host.key")
	if err := os.Rename(key, key+".bak"); err != nil {
		t.Fatal(err)
	}
	refused(t, w.dir, filepath.Join(w.dir, "contracts", w.id, "calls"), "host.key", "is missing", "restore")
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused start made a new host.key (%v)", err)
	}
	if err := os.Rename(key+".bak", key); err != nil {
		t.Fatal(err)
	}
	openHost(t, host.Config{Dir: w.dir}).Close()
}

// TestRepairDeeperThanUndo: a repair that cuts a call log by more calls
// than the engine can undo (MaxBatch 1: an undo depth of 4, and 7 calls
// cut) rebuilds the contract's state from the call log instead of refusing
// to start, and the calls are served again from the users' logs. (An audit
// with the users' acks of the lost log fails, rightly: the host lost what
// it signed.)
func TestRepairDeeperThanUndo(t *testing.T) {
	w := newWorld(t, host.Config{MaxBatch: 1})
	before, err := w.h.Info(host.ContractID(mustHash(t, w.id)))
	if err != nil {
		t.Fatal(err)
	}
	w.stop()
	calls := filepath.Join(w.dir, "contracts", w.id, "calls")
	if err := os.Truncate(filepath.Join(calls, "data"), 0); err != nil {
		t.Fatal(err)
	}
	var logs safeBuffer
	w.start(t, host.Config{MaxBatch: 1, Repair: true, Logger: logs.logger()})
	defer w.stop()
	if !logs.contains("rebuilding it from the call log") {
		t.Fatalf("no rebuild was logged:\n%s", logs.String())
	}
	info, err := w.h.Info(host.ContractID(mustHash(t, w.id)))
	if err != nil || info.Head.Length != before.Head.Length {
		t.Fatalf("after the repair the call log has %d entries (%v), want the %d calls served again", info.Head.Length, err, before.Head.Length)
	}
	// The rebuilt state holds every call served again: the counter's sum
	// does not depend on their order.
	res, err := w.bob.Call(context.Background(), w.c, w.id, "add", json.RawMessage("0"))
	if err != nil || res.Failed() != nil || string(res.Record.Result) != "21" {
		t.Fatalf("a call after the rebuild: %+v, %v", res, err)
	}
}
