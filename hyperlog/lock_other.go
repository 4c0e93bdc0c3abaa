//go:build !unix

package hyperlog

import "os"

// lockExclusive is a no-op where flock is not available; callers must not
// open one log twice for writing.
func lockExclusive(*os.File) error { return nil }
