package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestStartRunningStop: a started process is found through its pid file
// only with its mark, and StopAll ends it and removes the file; a pid file
// naming a dead process or another program means not running.
func TestStartRunningStop(t *testing.T) {
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	child, err := Start("/bin/sh", []string{"-c", "echo started; exec sleep 60", "marker-xyz"}, logFile, pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if how, ok := child.Exited(); ok {
		t.Fatalf("exited at once: %s", how)
	}
	deadline := time.Now().Add(10 * time.Second)
	for Running(pidFile, "sleep") == 0 { // once the shell has exec'd sleep (its argument is then exactly "sleep")
		if time.Now().After(deadline) {
			t.Fatal("the process is not running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if Running(pidFile, "not-its-command-line") != 0 || Running(pidFile, "slee") != 0 || Running(pidFile, "sleep", "61") != 0 {
		t.Fatal("found under another program's mark, or a prefix of its own")
	}
	stopped := StopAll([]Named{{Name: "a", PidFile: pidFile, Marks: []string{"sleep"}}, {Name: "b", PidFile: filepath.Join(dir, "none"), Marks: []string{"x"}}}, 5*time.Second)
	if len(stopped) != 1 || stopped[0] != "a" {
		t.Fatalf("stopped %v", stopped)
	}
	select {
	case <-child.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the child's exit was not recorded")
	}
	if how, ok := child.Exited(); !ok || how != "signal: terminated" {
		t.Fatalf("Exited() = %q, %v; want the signal that ended it", how, ok)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatal("the pid file is left")
	}
	os.WriteFile(pidFile, []byte(strconv.Itoa(1<<22)+"\n"), 0o644)
	if Running(pidFile, "") != 0 {
		t.Fatal("a dead pid is running")
	}
	if out, _ := os.ReadFile(logFile); string(out) != "started\n" {
		t.Fatalf("log %q", out)
	}
}
