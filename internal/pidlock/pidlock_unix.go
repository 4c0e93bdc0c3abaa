//go:build unix

package pidlock

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// TryLock takes an exclusive lock on f without waiting and writes this
// process's id into it. When another process holds the lock it returns a
// *HeldError naming that process.
func TryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return holder(f.Name())
	}
	if err != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return writePID(f)
}

// Lock waits for the exclusive lock on f until ctx is done, then writes
// this process's id into it. On ctx's end it returns ctx's error joined
// with the *HeldError of the process it waited for.
func Lock(ctx context.Context, f *os.File) error {
	wait := time.Millisecond
	for {
		err := TryLock(f)
		var he *HeldError
		if !errors.As(err, &he) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), he)
		case <-time.After(wait):
		}
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// Unlock releases the lock on f (closing f does too).
func Unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
