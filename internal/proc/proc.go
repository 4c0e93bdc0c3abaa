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
// zombie, and each mark is exactly one of its command-line arguments (a
// pid the system reused for another program is not ours; node1 is not
// node10; p3 of one localnet is not p3 of another); else 0.
func Running(pidFile string, marks ...string) int {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		args := strings.Split(string(cmd), "\x00")
		for _, m := range marks {
			if !slices.Contains(args, m) {
				return 0
			}
		}
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

// Child is a process this one started. Its exit, when this process is
// still there to see it, is recorded: a caller waiting for a node to come
// up can say how it ended (an exit status, a signal) instead of only that
// it is gone.
type Child struct {
	Pid  int
	done chan struct{}
	err  error
}

// Exited reports whether the child has ended and, if so, how: "exit
// status 1", "signal: killed", or "exited" for status 0.
func (c *Child) Exited() (string, bool) {
	if c == nil {
		return "", false
	}
	select {
	case <-c.done:
		if c.err == nil {
			return "exited", true
		}
		return c.err.Error(), true
	default:
		return "", false
	}
}

// Start starts exe with args in a session of its own, its output appended
// to logFile, and writes its pid to pidFile.
func Start(exe string, args []string, logFile, pidFile string) (*Child, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	c := &Child{Pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { // reap it if this process lives on, and remember how it ended
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Named is a process known by name, its pid file and its mark.
type Named struct {
	Name, PidFile string
	Marks         []string
}

// StopAll sends SIGTERM to every running process at once (stopping a
// chain's validators one by one would leave it without a quorum for
// longer and longer), waits up to timeout for each to exit, kills what is
// left, removes the pid files, and returns the names of those it stopped.
func StopAll(ps []Named, timeout time.Duration) []string {
	pids := map[string]int{}
	for _, p := range ps {
		if pid := Running(p.PidFile, p.Marks...); pid != 0 {
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
		for Running(p.PidFile, p.Marks...) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if Running(p.PidFile, p.Marks...) != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			// Gone before its pid file is: a Start right after must not
			// meet its locks and ports.
			for end := time.Now().Add(5 * time.Second); Running(p.PidFile, p.Marks...) != 0 && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
		}
		os.Remove(p.PidFile)
		stopped = append(stopped, p.Name)
	}
	return stopped
}
