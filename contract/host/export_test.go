package host

import (
	"encoding/binary"
	"path/filepath"

	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/store"
)

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

// ForgetLastEvents rewrites the closed host in dir as if a crash came
// after the last n records of contract id were logged and before their
// events were: those events, the log's tip and the contract's count go
// back by n.
func ForgetLastEvents(dir string, id ContractID, n int) error {
	db, err := store.Open(filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	ns := db.Namespace(prefixHostEvents)
	he, err := openHostEvents(db)
	if err != nil {
		return err
	}
	tip, _ := he.log.Tip()
	done, err := he.evented(id)
	if err != nil {
		return err
	}
	b := ns.Begin()
	for i := 0; i < n; i++ {
		b.Delete(binary.BigEndian.AppendUint64(append(append([]byte(nil), prefixEventLog...), 'e'), tip-uint64(i)))
	}
	b.Set(append(append([]byte(nil), prefixEventLog...), 'n'), binary.BigEndian.AppendUint64(nil, tip-uint64(n)))
	b.Set(append(append([]byte(nil), prefixEvented...), id[:]...), binary.BigEndian.AppendUint64(nil, done-uint64(n)))
	return b.Commit(true)
}
