package host

// ImportsRunning reports how many imports hold a slot, for tests that
// must wait until stalled imports have taken theirs.
func ImportsRunning(h *Host) int {
	h.imports.mu.Lock()
	defer h.imports.mu.Unlock()
	return h.imports.running
}
