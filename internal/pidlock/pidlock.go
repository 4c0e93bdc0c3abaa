// Package pidlock takes exclusive locks on files that say who holds them:
// the holder writes its process id into the file, so a second process
// that finds the lock taken can name the first ("in use by process 4242
// (vchain)") instead of "resource temporarily unavailable".
//
// Locks are flock(2) locks on unix: the kernel drops them when the file is
// closed or the process dies, so a stale pid in the file never blocks
// anyone. Elsewhere the calls are no-ops.
package pidlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrHeld means another process holds the lock; TryLock's error wraps it
// in a *HeldError.
var ErrHeld = errors.New("locked by another process")

// HeldError names the lock file and the process holding it.
type HeldError struct {
	Path string
	// PID is the holder's process id, 0 when the file does not say (a
	// holder that has not written it yet, or an older program).
	PID int
	// Command is the holder's program name where the system tells it.
	Command string
}

func (e *HeldError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("%s is locked by another process", e.Path)
	case e.Command == "":
		return fmt.Sprintf("%s is locked by process %d", e.Path, e.PID)
	}
	return fmt.Sprintf("%s is locked by process %d (%s)", e.Path, e.PID, e.Command)
}

// Unwrap returns ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }

// holder reads who holds the lock file at path.
func holder(path string) *HeldError {
	e := &HeldError{Path: path}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 64 {
		return e
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return e
	}
	e.PID = pid
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		e.Command = strings.TrimSpace(string(comm))
	}
	return e
}

// writePID records this process as the holder of f.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}
