package snapshot

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// swap makes the directory staging the directory dir in one step: a plain
// rename when dir does not exist, else an exchange of the two names
// (renameat2 RENAME_EXCHANGE), after which the old store is at staging,
// for the caller to delete.
func swap(staging, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(staging, dir); err != nil {
			return err
		}
		return syncDir(filepath.Dir(dir))
	}
	if err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
