//go:build !linux

package btcbench

import (
	"errors"
	"time"
)

// Pin is only available on Linux.
func Pin(pid, cpu int) error { return errors.New("pinning to a CPU needs Linux") }

// CPUTime is only available on Linux.
func CPUTime(pid int) (time.Duration, error) { return 0, errors.New("process CPU time needs Linux") }
