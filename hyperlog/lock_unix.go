//go:build unix

package hyperlog

import (
	"errors"
	"fmt"
	"os"

	"github.com/vchain-dev/vchain/internal/pidlock"
)

// lockExclusive takes a non-blocking exclusive flock on f, so that two
// writers can never append to one log (which would fork it), and writes
// this process's id into f so that a refused writer can name the holder.
func lockExclusive(f *os.File) error {
	err := pidlock.TryLock(f)
	var he *pidlock.HeldError
	if errors.As(err, &he) {
		return fmt.Errorf("%w: %v", ErrLocked, he)
	}
	return err
}
