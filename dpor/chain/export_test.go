package chain

// SetMaxUploads lowers the per-account upload bound for a test and
// returns the function that restores it.
func SetMaxUploads(n uint64) (restore func()) {
	old := maxUploads
	maxUploads = n
	return func() { maxUploads = old }
}

// SetMaxEscrowPayers lowers the per-escrow payer bound for a test and
// returns the function that restores it.
func SetMaxEscrowPayers(n uint64) (restore func()) {
	old := maxEscrowPayers
	maxEscrowPayers = n
	return func() { maxEscrowPayers = old }
}
