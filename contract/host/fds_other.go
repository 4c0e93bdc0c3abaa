//go:build !unix

package host

// raiseFDLimit has no effect where the limit is not read.
var raiseFDLimit = true

// fdLimit reports no limit where RLIMIT_NOFILE does not exist: the
// descriptor budget is not checked.
func fdLimit() (int, bool) { return 0, false }

// openFDCount cannot tell here.
func openFDCount() int { return -1 }

// outOfFDs is never true where descriptors are not limited this way.
func outOfFDs(error) bool { return false }
