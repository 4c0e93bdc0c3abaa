//go:build linux

package host

import (
	"fmt"
	"os"
	"syscall"
)

// sysStamp is what a file's stamp adds beyond size and modification time:
// its device, inode and change time, which no write can keep as they were.
func sysStamp(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d.%d", st.Dev, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
}
