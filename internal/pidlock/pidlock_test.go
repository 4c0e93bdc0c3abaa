//go:build unix

package pidlock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// flock locks belong to an open file, so two opens in one process contend
// as two processes would.
func TestSecondHolderNamesTheFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	a := open(t, path)
	if err := TryLock(a); err != nil {
		t.Fatal(err)
	}
	b := open(t, path)
	err := TryLock(b)
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryLock = %v, want a *HeldError", err)
	}
	if he.PID != os.Getpid() || he.Path != path {
		t.Fatalf("HeldError %+v, want pid %d and path %s", he, os.Getpid(), path)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("message %q does not name the process", err)
	}
	// Released when the holder closes the file: the stale pid in it does
	// not block the next one.
	a.Close()
	if err := TryLock(b); err != nil {
		t.Fatalf("TryLock after the holder closed: %v", err)
	}
}

func TestLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	a := open(t, path)
	if err := TryLock(a); err != nil {
		t.Fatal(err)
	}
	b := open(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := Lock(ctx, b); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrHeld) {
		t.Fatalf("Lock while held = %v, want the deadline and the holder", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		Unlock(a)
	}()
	start := time.Now()
	if err := Lock(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 15*time.Millisecond {
		t.Fatal("Lock returned before the holder let go")
	}
}

func TestUnreadableHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	if err := os.WriteFile(path, []byte("not a pid"), 0o644); err != nil {
		t.Fatal(err)
	}
	if he := holder(path); he.PID != 0 || !strings.Contains(he.Error(), "another process") {
		t.Fatalf("holder of a garbled file: %+v %q", he, he.Error())
	}
}
