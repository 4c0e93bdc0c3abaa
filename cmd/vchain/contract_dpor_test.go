package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/localnet"
)

// TestCLIContractsOnLocalnet: the forum contract deployed and called on a
// 4 + 4 localnet through `vchain contract ... --rpc`, like on a host; its
// exports, a file of its state and its call history read back from two
// other nodes are identical (proposers run the runtime; validators keep
// to consensus and answer 404); a failed call exits non-zero with the
// runtime's verdict; bad input is refused with a clear message; and after
// the whole localnet restarts, the state is there and calls go on.
func TestCLIContractsOnLocalnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "4", "--dir", dir, "--period", "100", "--timeout", "1000")
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", dir) })
	l, err := localnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	api := map[string]string{}
	for _, nc := range l.Nodes {
		api[nc.Name] = "http://" + nc.HTTP
	}
	key := filepath.Join(dir, localnet.FaucetKey)
	forum := filepath.Join("..", "..", "examples", "forum.js")
	contract := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(mustRun(t, append([]string{"contract"}, args...)...))
	}

	id := contract("deploy", forum, "--rpc", api["p0"], "--key", key)
	if len(id) != 64 {
		t.Fatalf("deploy printed %q, want a contract id", id)
	}
	if got := contract("call", id, "addTopic", `"hello"`, "--rpc", api["p1"], "--key", key); got != "1" {
		t.Fatalf("addTopic: %s", got)
	}
	if got := contract("call", id, "addPost", "1", `"first post"`, "--rpc", api["p2"], "--key", key); got != "1" {
		t.Fatalf("addPost: %s", got)
	}
	// A call the runtime refuses: the command fails with its verdict.
	_, errOut, code := run(t, "", "contract", "call", id, "nope", "--rpc", api["p0"], "--key", key)
	if code == 0 || !strings.Contains(errOut, "NoSuchMethod") {
		t.Fatalf("a call of a missing method: exit %d, %s", code, errOut)
	}
	// init ran at deploy: calling it again is refused.
	if _, errOut, code := run(t, "", "contract", "call", id, "init", "--rpc", api["p0"], "--key", key); code == 0 || !strings.Contains(errOut, "InitOnce") {
		t.Fatalf("init after deploy: exit %d, %s", code, errOut)
	}

	// Two other nodes hold the same state. Reads follow the node's final
	// blocks, so the last call may still be on its way to one of them.
	read := func(node string) (exports, title, post, log string) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			exports = contract("state", id, "--rpc", api[node])
			log = contract("log", id, "--rpc", api[node])
			if strings.Count(log, "\n") >= 4 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return exports, contract("state", id, "/topics/1/title", "--rpc", api[node]), contract("state", id, "/topics/1/1", "--rpc", api[node]), log
	}
	e1, t1, p1, l1 := read("p1")
	e2, t2, p2, l2 := read("p3")
	if e1 != `{"postCounter":1,"topicCounter":1}` || t1 != "hello" || p1 != "first post" {
		t.Fatalf("p1 holds exports %s, title %q, post %q", e1, t1, p1)
	}
	if e1 != e2 || t1 != t2 || p1 != p2 || l1 != l2 {
		t.Fatalf("p1 and p3 differ:\n%s %s %s\n%s\n--\n%s %s %s\n%s", e1, t1, p1, l1, e2, t2, p2, l2)
	}
	lines := strings.Split(l1, "\n")
	var first struct {
		Type, Contract string
		Height         int64
		User           string `json:"user"`
	}
	if len(lines) != 5 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Type != "create" || first.Contract != id {
		t.Fatalf("the call history: %s", l1)
	}
	if who := contract("whoami", "--rpc", api["p0"], "--key", key); first.User != who {
		t.Fatalf("the creator is %s, whoami says %s", first.User, who)
	}

	// Bad input: a clear message, a non-zero exit.
	big := filepath.Join(t.TempDir(), "big.js")
	os.WriteFile(big, []byte("exports.x = '"+strings.Repeat("x", 5000)+"'\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", big, "--rpc", api["p0"], "--key", key}, "at most 4096"},
		{[]string{"state", "00", "--rpc", api["p0"]}, "64 hex digits"},
		{[]string{"state", strings.Repeat("ab", 32), "--rpc", api["p0"]}, "not found"},
		{[]string{"state", id, "/nope", "--rpc", api["p0"]}, "not found"},
		{[]string{"call", id, "addTopic", "--rpc", api["p0"], "--key", filepath.Join(dir, "nokey")}, "does not exist"},
		{[]string{"call", id, "addTopic", "--rpc", api["p0"], "--host", "127.0.0.1:1", "--key", key}, "give one"},
		{[]string{"migrate", id, "--to", "x", "--rpc", api["p0"], "--key", key}, "stay on it"},
	} {
		if _, errOut, code := run(t, "", append([]string{"contract"}, c.args...)...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("contract %v: exit %d, %q, want %q", c.args, code, errOut, c.want)
		}
	}

	// contract log --follow prints a call applied after it started.
	follow := exec.Command(vchainBin, "contract", "log", id, "--follow", "--rpc", api["p3"])
	fout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	followed := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(fout)
		for sc.Scan() {
			followed <- sc.Text()
		}
	}()
	for i := 0; i < 5; i++ { // the history so far
		select {
		case <-followed:
		case <-time.After(10 * time.Second):
			t.Fatal("contract log --follow printed no history")
		}
	}
	contract("call", id, "addTopic", `"followed"`, "--rpc", api["p0"], "--key", key)
	select {
	case line := <-followed:
		if !strings.Contains(line, `"method":"addTopic"`) || !strings.Contains(line, "followed") {
			t.Fatalf("followed: %s", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("contract log --follow did not print the new call")
	}
	follow.Process.Kill()
	follow.Wait()

	// Stop everything and start again: the contract is there, and goes on.
	mustRun(t, "localnet", "down", "--dir", dir)
	mustRun(t, "localnet", "up", "--dir", dir)
	if _, errOut, code := run(t, "", "contract", "state", id, "--rpc", api["v1"]); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("a validator's API: exit %d, %s", code, errOut)
	}
	if got := contract("call", id, "addPost", "1", `"after a restart"`, "--rpc", api["p1"], "--key", key); got != "2" {
		t.Fatalf("addPost after a restart: %s", got)
	}
	// p0 may not have the block of that call yet.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, _, _ := run(t, "", "contract", "state", id, "/topics/1/2", "--rpc", api["p0"])
		if strings.TrimSpace(got) == "after a restart" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart p0 holds %q", got)
		}
	}
}
