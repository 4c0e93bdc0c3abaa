package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
)

// startDev runs `vchain dev` on a free port and returns its URL and process.
func startDev(t *testing.T, datadir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(vchainBin, "dev", "--datadir", datadir, "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("vchain dev's log:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("vchain dev printed nothing")
	}
	line := sc.Text()
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("vchain dev's first line has no URL: %q", line)
	}
	url := strings.Fields(line[i:])[0]
	go func() {
		for sc.Scan() {
		}
	}()
	return url, cmd
}

func TestCLIForumAndAudit(t *testing.T) {
	dir := t.TempDir()
	url, _ := startDev(t, filepath.Join(dir, "host"))
	key := filepath.Join(dir, "bob.key")
	forum := filepath.Join("..", "..", "examples", "forum.js")
	cli := func(args ...string) string {
		t.Helper()
		args = append(args[:1:1], append([]string{"--host", url, "--key", key, "--new-key"}, args[1:]...)...)
		out, errOut, code := run(t, "", append([]string{"contract"}, args...)...)
		if code != 0 {
			t.Fatalf("vchain contract %v: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	id := cli("deploy", forum)
	if _, err := host.ParseContractID(id); err != nil {
		t.Fatalf("deploy printed %q, not an id", id)
	}
	if got := cli("call", id, "addTopic", `"Hello world"`); got != "1" {
		t.Fatalf("addTopic returned %s", got)
	}
	if got := cli("call", id, "addPost", "1", `"My name is bob"`); got != "1" {
		t.Fatalf("addPost returned %s", got)
	}
	if got := cli("state", id, "/topics/1/title"); got != "Hello world" {
		t.Fatalf("/topics/1/title = %q", got)
	}
	if got := cli("state", id, "/topics/1/1"); got != "My name is bob" {
		t.Fatalf("/topics/1/1 = %q", got)
	}
	if log := cli("log", id); strings.Count(log, "\n")+1 != 3 || !strings.Contains(log, `"method":"addPost"`) {
		t.Fatalf("call log:\n%s", log)
	}
	out, errOut, code := run(t, "", "audit", "--host", url, "--contract", id)
	if code != 0 || !strings.Contains(out, "audit OK") || !strings.Contains(out, "3 calls replayed") {
		t.Fatalf("audit: exit %d\n%s%s", code, out, errOut)
	}

	// Bad input gets a clear error and a non-zero exit.
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"call", id, "addPost", "1", "not-json"}, "not a JSON value"},
		{[]string{"call", id, "nosuch"}, "NoSuchMethod"},
		{[]string{"call", strings.Repeat("0", 64), "addPost"}, "no contract"},
		{[]string{"state", id, "/nope"}, "no such file"},
	} {
		args := append(c.args[:1:1], append([]string{"--host", url, "--key", key}, c.args[1:]...)...)
		_, errOut, code := run(t, "", append([]string{"contract"}, args...)...)
		if code == 0 || !strings.Contains(errOut, c.msg) {
			t.Errorf("vchain contract %v: exit %d, stderr %q; want an error mentioning %q", c.args, code, errOut, c.msg)
		}
	}
	bad := filepath.Join(dir, "bad.js")
	os.WriteFile(bad, []byte("exports.f = ("), 0o644)
	if _, errOut, code := run(t, "", "contract", "deploy", "--host", url, "--key", key, bad); code == 0 || !strings.Contains(errOut, "BadCode") {
		t.Errorf("deploying broken code: exit %d, %q", code, errOut)
	}

	// Migration to a second host (last: the old host then refuses calls):
	// the contract continues there under a new id, with its state, and its
	// audit covers the old log. TestCLIMigrate tests the protocol.
	urlB, _ := startDev(t, filepath.Join(dir, "hostB"))
	out, errOut, code = run(t, "", "contract", "migrate", "--host", url, "--key", key, "--to", urlB, id)
	newID := strings.TrimSpace(out)
	if code != 0 || newID == id {
		t.Fatalf("migrate: exit %d, %q %s", code, out, errOut)
	}
	if got := strings.TrimSpace(mustRun(t, "contract", "call", "--host", urlB, "--key", key, newID, "addPost", "1", `"moved"`)); got != "2" {
		t.Fatalf("addPost on the new host returned %s, want 2", got)
	}
	if out := mustRun(t, "audit", "--host", urlB, "--contract", newID); !strings.Contains(out, "auditing the old call log first") || !strings.Contains(out, "audit OK") {
		t.Fatalf("audit of the moved contract:\n%s", out)
	}
}

// TestHostSurvivesKill: every call a client got an answer for is still in
// the call log after the host is killed with SIGKILL and restarted, and the
// audit passes.
func TestHostSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	dir := filepath.Join(t.TempDir(), "host")
	url, cmd := startDev(t, dir)
	ctx := context.Background()
	users := make([]*api.User, 4)
	for i := range users {
		_, priv, _ := ed25519.GenerateKey(nil)
		users[i] = api.NewUser(priv)
	}
	code, _ := os.ReadFile(filepath.Join("..", "..", "examples", "forum.js"))
	res, err := users[0].Deploy(ctx, api.NewClient(url), code)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Contract
	if _, err := users[0].Call(ctx, api.NewClient(url), id, "addTopic", json.RawMessage(`"t"`)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	answered := map[uint64]string{} // seq -> record hash
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	const rounds = 6
	for round := 0; round < rounds; round++ {
		c := api.NewClient(url)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					res, err := u.Call(ctx, c, id, "addPost", json.RawMessage("1"), json.RawMessage(fmt.Sprintf(`"u%d r%d n%d"`, i, round, n)))
					if err != nil {
						time.Sleep(5 * time.Millisecond) // the host is down
						continue
					}
					mu.Lock()
					answered[res.Record.Seq] = res.Record.UserEntry
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(50+r.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		time.Sleep(20 * time.Millisecond)
		url, cmd = startDev(t, dir)
		close(stop)
		wg.Wait()
		// Every answered call is in the restarted host's call log.
		es, err := api.NewClient(url).CallLog(ctx, id, 0, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		for seq, ue := range answered {
			if seq >= uint64(len(es.Entries)) {
				t.Fatalf("round %d: answered call %d is gone (log has %d entries)", round, seq, len(es.Entries))
			}
			var rec host.Record
			json.Unmarshal([]byte(es.Entries[seq].Data), &rec)
			if rec.UserEntry != ue {
				t.Fatalf("round %d: call log entry %d is not the answered call", round, seq)
			}
		}
		t.Logf("round %d: %d answered calls all present; log has %d entries", round, len(answered), len(es.Entries))
		mu.Unlock()
	}
	c := api.NewClient(url)
	for _, u := range users {
		if err := u.Flush(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.Run(ctx, c, id, audit.Options{})
	if err != nil {
		t.Fatalf("audit after %d kills: %v", rounds, err)
	}
	t.Logf("audit OK after %d kills: %d calls replayed, %d pending", rounds, rep.Entries, rep.Pending)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("vchain %v: exit %d: %s", args, code, errOut)
	}
	return out
}
