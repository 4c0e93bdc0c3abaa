package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/comet/cometnode"
)

type cometStatus struct {
	Name            string `json:"name"`
	Up              bool   `json:"up"`
	PID             int    `json:"pid"`
	Height          int64  `json:"height"`
	ConsensusHash   string `json:"consensus_hash"`
	StateCommitment string `json:"state_commitment"`
	Error           string `json:"error"`
}

func cometLocalnetStatus(t *testing.T, dir string) []cometStatus {
	t.Helper()
	var list []cometStatus
	out := mustRun(t, "comet", "localnet", "status", "--dir", dir)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	return list
}

// noAppHashMismatch fails the test if a node's log shows CometBFT
// refusing the application's state (the failure tendermint#425 is about)
// or the process crashing. (CometBFT's p2p layer turns a peer's bad
// message into a panic it recovers from and logs as a warning, and drops
// the peer: after state sync its block sync gets "unsolicited
// BlockResponse"s that way. Those are not crashes.)
func noAppHashMismatch(t *testing.T, ln *cometnode.Localnet) {
	t.Helper()
	for _, n := range ln.Nodes {
		raw, _ := os.ReadFile(ln.LogFile(n.Name))
		lower := strings.ToLower(string(raw))
		for _, bad := range []string{"wrong block.header.apphash", "apphash mismatch", "app hash mismatch"} {
			if i := strings.Index(lower, bad); i >= 0 {
				t.Fatalf("%s's log shows %q:\n%s", n.Name, bad, string(raw[max(0, i-500):min(len(raw), i+500)]))
			}
		}
		if loc := runtimePanic.FindIndex(raw); loc != nil {
			t.Fatalf("%s crashed:\n%s", n.Name, string(raw[loc[0]:min(len(raw), loc[0]+2000)]))
		}
	}
}

// runtimePanic is how the Go runtime starts a crash report.
var runtimePanic = regexp.MustCompile(`(?m)^(panic: |fatal error: )`)

// sameState checks that every node at height h or above agrees on the
// consensus hash and state commitment of the newest height they all have.
func sameStateAt(t *testing.T, ln *cometnode.Localnet, h int64) {
	t.Helper()
	var recs []string
	for _, n := range ln.Nodes {
		out := mustRun(t, "consensus", "--datadir", cometnode.AppDir(filepath.Join(ln.Dir, n.Name)), "--height", fmt.Sprint(h), "--state")
		recs = append(recs, strings.TrimSpace(out))
	}
	for i := range recs {
		if recs[i] != recs[0] {
			t.Fatalf("block %d: %s says %q, %s says %q", h, ln.Nodes[0].Name, recs[0], ln.Nodes[i].Name, recs[i])
		}
	}
}

// TestCLICometLocalnet: a 4-validator CometBFT localnet of vchain nodes
// running the contract runtime. The forum is deployed and called with the
// same vchain contract commands as on the DPoR chain and reads the same on
// every node; a validator killed with SIGKILL under load restarts and
// catches up without an AppHash mismatch; all four killed at once and
// restarted, the chain goes on, and every node's consensus hash and state
// commitment agree block for block.
func TestCLICometLocalnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "comet", "localnet", "up", "--validators", "4", "--dir", dir, "--app", "contracts")
	t.Cleanup(func() { run(t, "", "comet", "localnet", "down", "--dir", dir) })
	ln, err := cometnode.LoadLocalnet(dir)
	if err != nil {
		t.Fatal(err)
	}
	api := func(i int) string { return "http://" + ln.Nodes[i].API }
	key := filepath.Join(t.TempDir(), "bob.key")
	contract := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(mustRun(t, append([]string{"contract"}, args...)...))
	}
	forum := filepath.Join("..", "..", "examples", "forum.js")
	id := contract("deploy", forum, "--rpc", api(0), "--key", key, "--new-key")
	if len(id) != 64 {
		t.Fatalf("deploy printed %q", id)
	}
	if got := contract("call", id, "addTopic", `"on comet"`, "--rpc", api(1), "--key", key); got != "1" {
		t.Fatalf("addTopic: %s", got)
	}
	if _, errOut, code := run(t, "", "contract", "call", id, "nope", "--rpc", api(2), "--key", key); code == 0 || !strings.Contains(errOut, "NoSuchMethod") {
		t.Fatalf("a call of a missing method: exit %d, %s", code, errOut)
	}
	for i := range ln.Nodes {
		if got := contract("state", id, "/topics/1/title", "--rpc", api(i)); got != "on comet" {
			t.Fatalf("state on %s: %q", ln.Nodes[i].Name, got)
		}
	}

	// Load: posts from another key, through node 0, while node 3 is
	// killed and restarted.
	var posted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		amy := filepath.Join(t.TempDir(), "amy.key")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, code := run(t, "", "contract", "call", id, "addPost", "1", fmt.Sprintf(`"post %d"`, i), "--rpc", api(0), "--key", amy, "--new-key"); code == 0 {
				posted.Add(1)
			}
		}
	}()
	waitPosts := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for posted.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d posts went through", posted.Load())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitPosts(2)
	if err := ln.Kill("node3", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitPosts(posted.Load() + 3) // the other three go on
	mustRun(t, "comet", "localnet", "up", "--dir", dir)
	var top int64
	for _, st := range cometLocalnetStatus(t, dir) {
		top = max(top, st.Height)
	}
	if err := ln.WaitHeight(top, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	noAppHashMismatch(t, ln)

	// Every node killed at once, then started again.
	for _, n := range ln.Nodes {
		if err := ln.Kill(n.Name, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range ln.Nodes {
		for ln.Running(n.Name) != 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	mustRun(t, "comet", "localnet", "up", "--dir", dir)
	post := contract("call", id, "addPost", "1", `"after the crash"`, "--rpc", api(2), "--key", key)
	if post == "" {
		t.Fatal("no post id after the restart")
	}
	for _, st := range cometLocalnetStatus(t, dir) {
		top = max(top, st.Height)
	}
	if err := ln.WaitHeight(top, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	noAppHashMismatch(t, ln)
	for i := range ln.Nodes {
		if got := contract("state", id, "/topics/1/"+post, "--rpc", api(i)); got != "after the crash" {
			t.Fatalf("post %s on %s: %q", post, ln.Nodes[i].Name, got)
		}
	}
	mustRun(t, "comet", "localnet", "down", "--dir", dir)
	for h := int64(1); h <= top; h += max(1, top/10) {
		sameStateAt(t, ln, h)
	}
}

// TestCLICometStateSync: a node joins a running 4-validator localnet by
// state sync (vchain comet localnet join): it restores the newest
// snapshot the validators took instead of replaying the chain, serves the
// forum's state as the validators do, takes calls, survives a SIGKILL,
// and agrees with them on every block's consensus hash and state
// commitment.
func TestCLICometStateSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "comet", "localnet", "up", "--validators", "4", "--dir", dir, "--app", "contracts", "--snapshot-interval", "10")
	t.Cleanup(func() { run(t, "", "comet", "localnet", "down", "--dir", dir) })
	ln, err := cometnode.LoadLocalnet(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "bob.key")
	contract := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(mustRun(t, append([]string{"contract"}, args...)...))
	}
	api0 := "http://" + ln.Nodes[0].API
	id := contract("deploy", filepath.Join("..", "..", "examples", "forum.js"), "--rpc", api0, "--key", key, "--new-key")
	contract("call", id, "addTopic", `"state sync"`, "--rpc", api0, "--key", key)
	var posts []string
	for i := range 5 {
		posts = append(posts, contract("call", id, "addPost", "1", fmt.Sprintf(`"post %d"`, i), "--rpc", api0, "--key", key))
	}
	var top int64
	for _, st := range cometLocalnetStatus(t, dir) {
		top = max(top, st.Height)
	}
	if err := ln.WaitHeight(max(top, 25), 60*time.Second); err != nil {
		t.Fatal(err)
	}

	var joined struct{ Name, Home, API string }
	if err := json.Unmarshal([]byte(mustRun(t, "comet", "localnet", "join", "--dir", dir)), &joined); err != nil {
		t.Fatal(err)
	}
	if ln, err = cometnode.LoadLocalnet(dir); err != nil {
		t.Fatal(err)
	}
	if joined.Name != "node4" || len(ln.Nodes) != 5 || !ln.Nodes[4].Joined {
		t.Fatalf("joined %+v; the localnet now has %d nodes", joined, len(ln.Nodes))
	}
	logOf := func() string { b, _ := os.ReadFile(ln.LogFile("node4")); return string(b) }
	if !strings.Contains(logOf(), "restored a snapshot") {
		t.Fatalf("node4 did not restore a snapshot:\n%s", logOf())
	}
	for i, p := range posts {
		if got := contract("state", id, "/topics/1/"+p, "--rpc", joined.API); got != fmt.Sprintf("post %d", i) {
			t.Fatalf("post %s on the joined node: %q", p, got)
		}
	}
	after := contract("call", id, "addPost", "1", `"through the new node"`, "--rpc", joined.API, "--key", key)

	// Killed, and started again: it goes on from its store.
	if err := ln.Kill("node4", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for ln.Running("node4") != 0 {
		time.Sleep(20 * time.Millisecond)
	}
	// The localnet still has 4 validators (and a joined node).
	mustRun(t, "comet", "localnet", "up", "--dir", dir, "--validators", "4")
	for _, st := range cometLocalnetStatus(t, dir) {
		top = max(top, st.Height)
	}
	if err := ln.WaitHeight(top+2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := contract("state", id, "/topics/1/"+after, "--rpc", "http://"+ln.Nodes[2].API); got != "through the new node" {
		t.Fatalf("the post made through the joined node, on node2: %q", got)
	}
	if n := strings.Count(logOf(), "restored a snapshot"); n != 1 {
		t.Fatalf("node4 restored %d snapshots; the restart should have gone on from its store", n)
	}
	noAppHashMismatch(t, ln)
	mustRun(t, "comet", "localnet", "down", "--dir", dir)
	for h := int64(1); h <= top; h += max(1, top/8) {
		sameStateAt(t, ln, h)
	}
}
