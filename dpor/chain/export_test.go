package chain

// SetMaxUploads lowers the per-account upload bound for a test and
// returns the function that restores it.
func SetMaxUploads(n uint64) (restore func()) {
	old := maxUploads
	maxUploads = n
	return func() { maxUploads = old }
}
