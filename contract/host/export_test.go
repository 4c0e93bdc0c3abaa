package host

import "github.com/vchain-dev/vchain/hyperlog"

// ImportsRunning reports how many imports hold a slot, for tests that
// must wait until stalled imports have taken theirs.
func ImportsRunning(h *Host) int {
	h.imports.mu.Lock()
	defer h.imports.mu.Unlock()
	return h.imports.running
}

// KeepFDLimit stops Open from raising the soft descriptor limit to the
// hard one, for tests that set a low limit; it returns the undo.
func KeepFDLimit() (undo func()) {
	raiseFDLimit = false
	return func() { raiseFDLimit = true }
}

// QueuedCalls reports how many calls of user are queued at contract id
// (waiting or running).
func QueuedCalls(h *Host, id ContractID, user hyperlog.Hash) int {
	in, err := h.instance(id)
	if err != nil {
		return 0
	}
	return in.queue.queued(user)
}
