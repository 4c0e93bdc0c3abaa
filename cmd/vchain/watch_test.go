package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/events"
)

// TestCLIWatchResumes: vchain watch follows a DPoR node's events; a watch
// killed mid-stream resumes with --after its last cursor, across a restart
// of the node too, and what the pieces printed is the node's full history
// exactly: nothing lost, nothing repeated.
func TestCLIWatchResumes(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	const watched = 4 // the proposer's node
	c.WaitHeight(watched, 3, 10*time.Second)
	parse := func(out string) []events.Event { return parseEvents(t, out) }
	// A follower, killed after a few events.
	cmd := exec.Command(vchainBin, "watch", "--rpc", c.API(watched))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var first []events.Event
	for len(first) < 5 && sc.Scan() {
		first = append(first, parse(sc.Text())...)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(first) < 5 || first[0].Seq != 1 || first[0].Kind != events.KindBlock {
		t.Fatalf("the follower printed %+v", first)
	}
	cursor := first[len(first)-1].Seq
	// The node restarts while the follower is away.
	c.Stop(watched)
	c.WaitHeight(0, c.Nodes[0].Head().Height+3, 10*time.Second)
	c.StartNode(watched)
	c.WaitHeight(watched, c.Nodes[0].Head().Height, 10*time.Second)
	rest := parse(mustRun(t, "watch", "--rpc", c.API(watched), "--after", strconv.FormatUint(cursor, 10), "--once"))
	all := parse(mustRun(t, "watch", "--rpc", c.API(watched), "--once"))
	got := append(first, rest...) // read before all: a prefix of it
	if len(all) < len(first)+3 {
		t.Fatalf("the full history has %d events", len(all))
	}
	for i := range got {
		if got[i].Seq != all[i].Seq || string(got[i].Data) != string(all[i].Data) {
			t.Fatalf("event %d: pieces %+v, history %+v", i, got[i], all[i])
		}
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("the history's event %d has seq %d", i, e.Seq)
		}
	}
	// Filters and refusals.
	for _, e := range parse(mustRun(t, "watch", "--rpc", c.API(watched), "--once", "--kind", "impeach")) {
		if e.Kind != events.KindImpeach {
			t.Fatalf("--kind impeach printed %+v", e)
		}
	}
	if _, errOut, code := run(t, "", "watch", "--rpc", c.API(watched), "--after", "x", "--once"); code == 0 || !strings.Contains(errOut, "cursor") {
		t.Fatalf("a bad cursor: exit %d, %s", code, errOut)
	}
}

// TestCLIHostEvents: vchain watch --host prints a call event per record,
// and vchain contract log --follow prints a call logged after it started,
// without a reload.
func TestCLIHostEvents(t *testing.T) {
	url, id, contract := forumOnDev(t)
	evs := parseEvents(t, mustRun(t, "watch", "--host", url, "--once", "--contract", id))
	if len(evs) != 2 || evs[0].Kind != events.KindCall || evs[1].Contract != id || !strings.Contains(string(evs[1].Data), `"result":1`) {
		t.Fatalf("watch --host: %+v", evs)
	}
	follow := exec.Command(vchainBin, "contract", "log", id, "--follow", "--host", url)
	out, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for i := 0; i < 2; i++ { // the create and the first call
		select {
		case <-lines:
		case <-time.After(10 * time.Second):
			t.Fatal("contract log --follow printed no history")
		}
	}
	contract("call", id, "addPost", "1", `"later"`)
	select {
	case l := <-lines:
		if !strings.Contains(l, `"method":"addPost"`) {
			t.Fatalf("followed: %s", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("contract log --follow did not print the new call")
	}
}

func parseEvents(t *testing.T, out string) []events.Event {
	t.Helper()
	var evs []events.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e events.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("a line that is not an event: %q", line)
		}
		evs = append(evs, e)
	}
	return evs
}

// forumOnDev starts vchain dev, deploys the forum and calls addTopic
// "hello"; it returns the host's URL, the contract's id and a runner of
// `vchain contract` commands against the host as that user.
func forumOnDev(t *testing.T) (url, id string, contract func(args ...string) string) {
	t.Helper()
	dir := t.TempDir()
	url, _ = startDev(t, filepath.Join(dir, "host"))
	key := filepath.Join(dir, "bob.key")
	contract = func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(mustRun(t, append([]string{"contract"}, append(args, "--host", url, "--key", key, "--new-key")...)...))
	}
	id = contract("deploy", filepath.Join("..", "..", "examples", "forum.js"))
	contract("call", id, "addTopic", `"hello"`)
	return url, id, contract
}
