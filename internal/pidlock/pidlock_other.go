//go:build !unix

package pidlock

import (
	"context"
	"os"
)

// TryLock writes this process's id into f; there is no lock where flock is
// not available, so callers must not open one resource twice.
func TryLock(f *os.File) error { return writePID(f) }

// Lock is TryLock; ctx is unused.
func Lock(_ context.Context, f *os.File) error { return TryLock(f) }

// Unlock does nothing.
func Unlock(*os.File) error { return nil }
