//go:build linux

package host_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
)

// setFDLimit sets the process's soft RLIMIT_NOFILE for the rest of the
// test (Open is kept from raising it again).
func setFDLimit(t *testing.T, n int) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip("getrlimit: ", err)
	}
	if rl.Max < uint64(n) {
		t.Skipf("hard descriptor limit %d is below %d", rl.Max, n)
	}
	orig := rl
	rl.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip("setrlimit: ", err)
	}
	undo := host.KeepFDLimit()
	t.Cleanup(func() {
		undo()
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring the descriptor limit: %v", err)
		}
	})
}

// TestDescriptorBudget: a host started under a low descriptor limit runs
// fewer contracts instead of running out of descriptors: creates from
// fresh keys get ErrBusy (never EMFILE or a 500), the contracts it runs
// stay callable, it restarts, and it refuses to start, naming the remedy,
// under a limit its contracts do not fit. Running out anyway (the limit
// lowered under a running host) is ErrBusy, not damage.
func TestDescriptorBudget(t *testing.T) {
	base := openFDs(t)
	limit := base + 190
	setFDLimit(t, limit)
	dir := ramDir(t)
	var logs safeBuffer
	h := openHost(t, host.Config{Dir: dir, Logger: logs.logger()})
	if !logs.contains("RLIMIT_NOFILE") || !logs.contains("ulimit -n") {
		t.Fatalf("no warning about the lowered limits; log:\n%s", logs.String())
	}
	create := entry(t, host.UserEntry{Type: host.TypeCreate, Code: counter})
	var ids []host.ContractID
	var users []*signer
	for len(ids) < 200 {
		s := newSigner(t)
		a, err := s.trySubmit(h, create)
		if err != nil {
			if codeOf(err) != host.ErrBusy || !strings.Contains(err.Error(), "maximum") {
				t.Fatalf("create %d: want ErrBusy at the host's maximum, got %v", len(ids)+1, err)
			}
			break
		}
		ids, users = append(ids, a[0].Contract), append(users, s)
	}
	if len(ids) < 4 || len(ids) >= 200 {
		t.Fatalf("%d contracts under a limit of %d descriptors: want a handful, then ErrBusy", len(ids), limit)
	}
	t.Logf("limit %d (held %d at start): %d contracts, then ErrBusy", limit, base, len(ids))
	// Every contract stays callable, by its creator and by new users
	// (whose logs open and close through the cache).
	for i, id := range ids {
		if r := users[i].add(t, h, id, 1); string(r.Result) != "1" {
			t.Fatalf("contract %d answered %s, want 1", i, r.Result)
		}
		if r := newSigner(t).add(t, h, id, 1); string(r.Result) != "2" {
			t.Fatalf("contract %d answered %s, want 2", i, r.Result)
		}
	}
	if n := openFDs(t); n > limit-16 {
		t.Fatalf("%d descriptors open under a limit of %d", n, limit)
	}

	// The limit falls under the running host: a request that cannot open
	// its files is busy, and says why; it succeeds once descriptors free up.
	s := newSigner(t)
	call := entry(t, host.UserEntry{Type: host.TypeCall, Contract: ids[0].String(), Method: "add", Args: json.RawMessage("[1]")})
	setFDLimit(t, openFDs(t)+2)
	_, err := s.trySubmit(h, call)
	setFDLimit(t, limit)
	if codeOf(err) != host.ErrBusy || !strings.Contains(err.Error(), "file descriptors") || strings.Contains(err.Error(), "restore") {
		t.Fatalf("out of descriptors: want ErrBusy saying so (not damage), got %v", err)
	}
	if a, err := s.trySubmit(h, call); err != nil || string(a[0].Record.Result) != "3" {
		t.Fatalf("the same call once descriptors freed: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	// Too few descriptors for the contracts on disk: a clear refusal that
	// changes nothing.
	setFDLimit(t, base+100)
	_, err = host.Open(host.Config{Dir: dir})
	if err == nil || !contains(err.Error(), "RLIMIT_NOFILE", "ulimit -n", "contracts") || strings.Contains(err.Error(), "restore") {
		t.Fatalf("open under too low a limit: want a refusal naming the limit and the remedy, got %v", err)
	}
	setFDLimit(t, limit)
	h = openHost(t, host.Config{Dir: dir})
	defer h.Close()
	if got := len(h.Contracts()); got != len(ids) {
		t.Fatalf("restart: %d contracts, want %d", got, len(ids))
	}
	for i, id := range ids {
		want := "3"
		if i == 0 {
			want = "4"
		}
		if r := users[i].add(t, h, id, 1); string(r.Result) != want {
			t.Fatalf("after restart contract %d answered %s, want %s", i, r.Result, want)
		}
	}
	if _, err := newSigner(t).trySubmit(h, create); codeOf(err) != host.ErrBusy {
		t.Fatalf("create after restart at the maximum: want ErrBusy, got %v", err)
	}
}
