// Package durable holds the file-system steps that make writes survive a
// power cut.
package durable

import "os"

// SyncDir fsyncs a directory so entries created, renamed or removed in it
// are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
