package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
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
	parse := func(out string) []events.Event {
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
