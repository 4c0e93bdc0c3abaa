package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/replay"
)

// TestCrashRecovery kills a replay with SIGKILL at random instants, restarts
// it each time, and checks that what is committed is always a prefix of an
// uninterrupted run's history and that the final history is identical.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs many processes")
	}
	const wantKills = 25
	tapePath := filepath.Join(t.TempDir(), "tape.jsonl")
	if err := os.WriteFile(tapePath, replay.Synthetic(500, 30000, 8, 42), 0o644); err != nil {
		t.Fatal(err)
	}
	refDir := filepath.Join(t.TempDir(), "ref")
	if _, errOut, code := run(t, "", "replay", "--datadir", refDir, tapePath); code != 0 {
		t.Fatalf("reference run: %s", errOut)
	}
	want, _, _ := run(t, "", "consensus", "--datadir", refDir)
	if strings.Count(want, "\n") != 30000 {
		t.Fatalf("reference run committed %d blocks", strings.Count(want, "\n"))
	}

	dd := filepath.Join(t.TempDir(), "crashy")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills, runs := 0, 0
	for kills < wantKills {
		runs++
		if runs > 200 {
			t.Fatalf("only %d of %d runs were killed mid-way", kills, runs)
		}
		cmd := exec.Command(vchainBin, "replay", "--datadir", dd, tapePath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(20+r.IntN(250)) * time.Millisecond
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d failed by itself: %v", runs, err)
			}
			// Finished before the kill: the history must be complete.
			got, _, _ := run(t, "", "consensus", "--datadir", dd)
			if got != want {
				t.Fatalf("after a complete run the history differs")
			}
			t.Logf("run %d finished before its kill; starting over with a fresh directory", runs)
			os.RemoveAll(dd)
			continue
		case <-time.After(delay):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		got, errOut, code := run(t, "", "consensus", "--datadir", dd)
		if code != 0 {
			t.Fatalf("after kill %d: consensus failed: %s", kills, errOut)
		}
		t.Logf("kill %d after %v: %d blocks committed", kills, delay, strings.Count(got, "\n"))
		if !strings.HasPrefix(want, got) {
			t.Fatalf("after kill %d the committed history (%d blocks) is not a prefix of the reference", kills, strings.Count(got, "\n"))
		}
	}
	if _, errOut, code := run(t, "", "replay", "--datadir", dd, tapePath); code != 0 {
		t.Fatalf("final run: %s", errOut)
	}
	got, _, _ := run(t, "", "consensus", "--datadir", dd)
	if got != want {
		t.Fatal("after the crashes the consensus history differs from the uninterrupted run")
	}
	t.Logf("%d kills in %d runs; final history of %d blocks identical", kills, runs, strings.Count(got, "\n"))
}
