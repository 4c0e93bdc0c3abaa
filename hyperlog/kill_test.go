package hyperlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// killEntry is entry i of the log the killed child writes: its content is a
// function of its index, so the parent can check every entry.
func killEntry(i uint64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("entry %d;", i)), 1+int(i%9))
}

// TestKillHelper is the child process of TestKill: it appends batches to
// the log in $HYPERLOG_KILL_DIR until it is killed, printing the new length
// after every Append returns.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv("HYPERLOG_KILL_DIR")
	if dir == "" {
		t.Skip("helper process for TestKill")
	}
	opts := Options{PrivateKey: testKey(10), Sync: os.Getenv("HYPERLOG_KILL_SYNC") == "1", Logger: quietLogger}
	l, err := Open(dir, opts)
	if errors.Is(err, ErrNotFound) {
		l, err = Create(dir, testKey(10), opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for {
		n := l.Length()
		batch := make([][]byte, 1+rng.IntN(6))
		for j := range batch {
			batch[j] = killEntry(n + uint64(j))
		}
		length, err := l.Append(batch...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.WriteString(strconv.FormatUint(length, 10) + "\n")
	}
}

// TestKill runs the helper in a child process, kills it with SIGKILL in the
// middle of its appends, and checks that every append it reported as
// returned survived, over several rounds of kill and reopen.
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	rounds := []bool{false, false, false, true, false}
	var acked uint64
	for round, sync := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
		cmd.Env = append(os.Environ(), "HYPERLOG_KILL_DIR="+dir, "HYPERLOG_KILL_SYNC="+map[bool]string{true: "1"}[sync])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		deadline := time.Now().Add(time.Duration(50+round*30) * time.Millisecond)
		killed := false
		for lines.Scan() {
			n, err := strconv.ParseUint(lines.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", lines.Text())
			}
			acked = max(acked, n)
			if !killed && time.Now().After(deadline) {
				cmd.Process.Kill() // SIGKILL: no deferred code, no Close
				killed = true
			}
		}
		// Lines written before the kill are still read above, to EOF.
		err = cmd.Wait()
		if !killed {
			t.Fatalf("child exited by itself: %v\n%s", err, stderr.String())
		}

		l := mustOpen(t, dir, Options{ReadOnly: true})
		length := l.Length()
		if length < acked {
			t.Fatalf("round %d: reopened at %d entries, but %d were acknowledged", round, length, acked)
		}
		for i := uint64(0); i < length; i++ {
			e, err := l.Get(i)
			if err != nil || !bytes.Equal(e, killEntry(i)) {
				t.Fatalf("round %d: entry %d = %q, %v", round, i, e, err)
			}
		}
		if err := VerifyHead(l.Key(), l.Head()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d (sync=%v): %d acknowledged, %d recovered; %v", round, sync, acked, length, l.Recovery())
		l.Close()
		acked = length
	}
}
