//go:build unix

package host

import (
	"errors"
	"os"
	"syscall"
)

// raiseFDLimit lets fdLimit raise the soft limit to the hard one; tests
// that set a low limit of their own turn it off.
var raiseFDLimit = true

// fdLimit returns how many descriptors the process may hold open
// (RLIMIT_NOFILE), first raising the soft limit to the hard one: Go does
// that at start on Linux already, so this only makes it explicit. ok is
// false when the limit cannot be read or is unlimited.
func fdLimit() (limit int, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	if raiseFDLimit && rl.Cur < rl.Max {
		up := rl
		up.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			rl = up
		}
	}
	if uint64(rl.Cur) >= 1<<31 { // unlimited, or as good as
		return 0, false
	}
	return int(rl.Cur), true
}

// openFDCount counts the descriptors the process holds now, or returns -1
// where it cannot tell.
func openFDCount() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			return len(ents)
		}
	}
	return -1
}

// outOfFDs reports whether err is the process or the system running out
// of file descriptors: no damage to anything on disk.
func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
