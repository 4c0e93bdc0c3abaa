//go:build !linux

package btcbench

import "errors"

// Pin is only available on Linux.
func Pin(pid, cpu int) error { return errors.New("pinning to a CPU needs Linux") }
