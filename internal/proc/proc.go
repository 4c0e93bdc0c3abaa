// Package proc runs the long-lived processes of a localnet: each started
// detached (its own session) with its output in a log file and its pid in
// a pid file, found again by a later command through that file.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Running returns the pid in pidFile if that process is alive, not a
// zombie, and one of its command-line arguments is exactly mark (a pid
// the system reused for another program is not ours; node1 is not
// node10); else 0.
func Running(pidFile, mark string) int {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && !slices.Contains(strings.Split(string(cmd), "\x00"), mark) {
		return 0
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie (killed, not yet reaped by its parent) is not running.
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 {
			if f := strings.Fields(string(st[i+1:])); len(f) > 0 && f[0] == "Z" {
				return 0
			}
		}
	}
	return pid
}

// Start starts exe with args in a session of its own, its output appended
// to logFile, and writes its pid to pidFile.
func Start(exe string, args []string, logFile, pidFile string) error {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return err
	}
	go cmd.Wait() // reap it if this process lives on
	return nil
}

// Named is a process known by name, its pid file and its mark.
type Named struct {
	Name, PidFile, Mark string
}

// StopAll sends SIGTERM to every running process at once (stopping a
// chain's validators one by one would leave it without a quorum for
// longer and longer), waits up to timeout for each to exit, kills what is
// left, removes the pid files, and returns the names of those it stopped.
func StopAll(ps []Named, timeout time.Duration) []string {
	pids := map[string]int{}
	for _, p := range ps {
		if pid := Running(p.PidFile, p.Mark); pid != 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			pids[p.Name] = pid
		} else {
			os.Remove(p.PidFile)
		}
	}
	var stopped []string
	deadline := time.Now().Add(timeout)
	for _, p := range ps {
		pid, ok := pids[p.Name]
		if !ok {
			continue
		}
		for Running(p.PidFile, p.Mark) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if Running(p.PidFile, p.Mark) != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			// Gone before its pid file is: a Start right after must not
			// meet its locks and ports.
			for end := time.Now().Add(5 * time.Second); Running(p.PidFile, p.Mark) != 0 && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
		}
		os.Remove(p.PidFile)
		stopped = append(stopped, p.Name)
	}
	return stopped
}
