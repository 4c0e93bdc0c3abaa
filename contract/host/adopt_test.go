package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/snapshot"
)

// lockedBuffer is a log sink safe for the host's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLoggedHost is startMigHost with the host's logs kept in logs.
func startLoggedHost(t testing.TB, dir string, logs *lockedBuffer) *migHost {
	t.Helper()
	h, err := host.Open(host.Config{Dir: dir, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m := &migHost{dir: dir, h: h, srv: httptest.NewServer(api.NewServer(h, nil))}
	m.c = api.NewClient(m.srv.URL)
	m.key = fmt.Sprintf("%x", h.PublicKey())
	t.Cleanup(m.stop)
	return m
}

// rewriteSnapshot writes sf's keys, each passed through edit (nil drops
// it), under a copy of its manifest that keeps the state commitment it
// claims: a snapshot that lies about its contents.
func rewriteSnapshot(t *testing.T, sf *snapshot.File, edit func(k, v []byte) []byte, height int64) *snapshot.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "forged")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m := *sf.Manifest
	m.Height = height
	err = snapshot.Write(f, &m, func(put func(k, v []byte) error) error {
		return sf.Chunks(func(_ int, kvs []engine.KV) error {
			for _, kv := range kvs {
				if v := edit(kv.Key, kv.Value); v != nil {
					if err := put(kv.Key, v); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	m.State = sf.Manifest.State
	f.Close()
	out, err := snapshot.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// TestImportAdoptsSnapshot: a new host that is sent the old host's
// snapshot of the contract's state with the sealed logs adopts it (the
// snapshot hashes to the sealed record's state commitment) instead of
// replaying the calls, and ends in the state a replay reaches: the migrate
// record's state commitment equals that of a host that replayed, and an
// audit of the new contract still replays everything from the create. A
// snapshot that lies (a changed value, a dropped key, a wrong height) is
// refused and leaves nothing behind.
func TestImportAdoptsSnapshot(t *testing.T) {
	ctx := context.Background()
	a := startMigHost(t, t.TempDir())
	var logs lockedBuffer
	b := startLoggedHost(t, t.TempDir(), &logs)
	bob := migUser(t)
	id, cp := sealedForum(t, a, b, bob, 40, 64)

	sf, err := a.c.AuditSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()

	changed := rewriteSnapshot(t, sf, func(k, v []byte) []byte {
		if bytes.Contains(v, []byte("xxxxxxxx")) {
			return bytes.Replace(v, []byte("xxxxxxxx"), []byte("yyyyyyyy"), 1)
		}
		return v
	}, sf.Manifest.Height)
	dropped := 0
	droppedKey := rewriteSnapshot(t, sf, func(k, v []byte) []byte {
		if dropped == 0 && bytes.Contains(v, []byte("xxxxxxxx")) {
			dropped++
			return nil
		}
		return v
	}, sf.Manifest.Height)
	same := func(k, v []byte) []byte { return v }
	lower := rewriteSnapshot(t, sf, same, sf.Manifest.Height-1)
	for name, forged := range map[string]*snapshot.File{"a changed value": changed, "a dropped key": droppedKey, "a wrong height": lower} {
		bad := *cp
		bad.Snapshot = forged
		if _, err := b.c.Import(ctx, &bad); !api.IsStatus(err, 403) || !strings.Contains(err.Error(), "snapshot") {
			t.Fatalf("%s: import: %v; want 403 naming the snapshot", name, err)
		}
		if n := len(b.h.Contracts()); n != 0 {
			t.Fatalf("%s: the host runs %d contracts after a refused import", name, n)
		}
	}

	// A copy of b taken before the import replays the same sealed logs:
	// the migrate records' state commitments must agree.
	b.stop()
	dirB2 := t.TempDir()
	if err := os.CopyFS(dirB2, os.DirFS(b.dir)); err != nil {
		t.Fatal(err)
	}
	b = startLoggedHost(t, b.dir, &logs)
	b2 := startMigHost(t, dirB2)
	replayed, err := b2.c.Import(ctx, cp)
	if err != nil {
		t.Fatalf("import by replay: %v", err)
	}

	good := *cp
	good.Snapshot = sf
	ans, err := b.c.Import(ctx, &good)
	if err != nil {
		t.Fatalf("import with the snapshot: %v", err)
	}
	if !strings.Contains(logs.String(), `"adopted":true`) {
		t.Fatalf("the new host did not adopt the snapshot; its logs:\n%s", logs.String())
	}
	var adoptedRec, replayedRec host.Record
	if err := json.Unmarshal(ans.Record, &adoptedRec); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(replayed.Record, &replayedRec); err != nil {
		t.Fatal(err)
	}
	// (Their consensus hashes differ: each record carries the time its
	// host served it.)
	if adoptedRec.State == "" || adoptedRec.State != replayedRec.State {
		t.Fatalf("migrate record's state commitment after adoption %s, after a replay %s", adoptedRec.State, replayedRec.State)
	}

	// The audit of the adopted contract replays from the create.
	rep, err := audit.Run(ctx, b.c, ans.Contract, audit.Options{})
	if err != nil {
		t.Fatalf("audit of the adopted contract: %v", err)
	}
	if rep.From != id {
		t.Fatalf("audit report %+v", rep)
	}
	// The imported contract serves a snapshot of its own (it panicked
	// before a restart: the instance had no store).
	if rep, err := audit.Run(ctx, b.c, ans.Contract, audit.Options{Adopt: true}); err != nil || rep.Adopted == 0 {
		t.Fatalf("audit adopting the imported contract's snapshot: %v %+v", err, rep)
	}
	for _, path := range []string{"/topics/1/1", "/topics/1/40"} {
		want, err := a.c.State(ctx, id, path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.c.State(ctx, ans.Contract, path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != want.Content {
			t.Fatalf("%s after adoption %q, on the old host %q", path, got.Content, want.Content)
		}
	}
	// Calls go on from the adopted state.
	res, err := bob.Call(ctx, b.c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"after adoption"`))
	if err != nil || res.Failed() != nil {
		t.Fatalf("call after adoption: %v %v", err, res)
	}
	if f, err := b.c.State(ctx, ans.Contract, "/topics/1/41"); err != nil || f.Content != "after adoption" {
		t.Fatalf("the new post: %v %+v", err, f)
	}
}

// BenchmarkImport compares the two ways a new host takes in a moved
// forum of 2,000 posts: replaying every old call, and adopting the old
// host's snapshot of its state (the logs travel either way).
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	a := startMigHost(b, b.TempDir())
	to := startMigHost(b, b.TempDir())
	id, cp := sealedForum(b, a, to, migUser(b), 2000, 64)
	sf, err := a.c.AuditSnapshot(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	defer sf.Close()
	to.stop()
	for _, mode := range []string{"replay", "adopt"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				if err := os.CopyFS(dir, os.DirFS(to.dir)); err != nil {
					b.Fatal(err)
				}
				h := startMigHost(b, dir)
				req := *cp
				if mode == "adopt" {
					req.Snapshot = sf
				}
				b.StartTimer()
				if _, err := h.c.Import(ctx, &req); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				h.stop()
				b.StartTimer()
			}
		})
	}
}
