//go:build !linux

package snapshot

import (
	"errors"
	"os"
)

// swap makes the directory staging the directory dir. Without an atomic
// exchange of two names, the old store is renamed aside first: a crash
// between the two renames leaves it at dir+".old".
func swap(staging, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return os.Rename(staging, dir)
	}
	old := dir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(staging, dir); err != nil {
		return err
	}
	return os.Rename(old, staging) // for the caller to delete, as on Linux
}
