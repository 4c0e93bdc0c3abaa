package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/snapshot"
	"io"
)

// Info describes a contract as of its newest call.
type Info struct {
	// ID is the contract's current id: for a contract that moved here, its
	// id on this host, whichever of its ids was asked for.
	ID          ContractID
	Head        hyperlog.SignedHead
	CodeHash    string
	Creator     string
	Methods     []string
	Exports     json.RawMessage
	StateLength uint64
	StateRoot   string
	Consensus   string
}

// Info returns a contract's description.
func (h *Host) Info(id ContractID) (*Info, error) {
	in, err := h.instance(id)
	if err != nil {
		return nil, err
	}
	info := &Info{ID: in.id, Head: in.calls.Head()}
	st := in.eng.State()
	if b, err := st.Get(keyMeta); err == nil {
		var m meta
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		info.CodeHash, info.Creator, info.Methods = m.CodeHash, m.Creator, m.Methods
	}
	if b, err := st.Get(keyExports); err == nil {
		info.Exports = b
	}
	roots, length, err := loadStateRoots(st)
	if err != nil {
		return nil, err
	}
	info.StateLength, info.StateRoot = length, hyperlog.TreeHash(roots).String()
	if ch, ok := in.eng.Consensus(); ok {
		info.Consensus = ch.String()
	}
	return info, nil
}

// ReadFile returns a file of a contract's state archive with the state
// log's length and root it belongs to.
func (h *Host) ReadFile(id ContractID, path string) (data []byte, stateLength uint64, stateRoot string, err error) {
	in, err := h.instance(id)
	if err != nil {
		return nil, 0, "", err
	}
	if len(path) == 0 || path[0] != '/' {
		return nil, 0, "", badRequest("path %q must be absolute", path)
	}
	st := in.eng.State()
	data, err = newArchive(st).ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, "", refuse(ErrNotFound, "%s: no such file in contract %s", path, id)
	}
	if err != nil {
		return nil, 0, "", &Error{Code: ErrInvalid, Msg: err.Error()}
	}
	roots, length, err := loadStateRoots(st)
	if err != nil {
		return nil, 0, "", err
	}
	return data, length, hyperlog.TreeHash(roots).String(), nil
}

// LogEntry is an entry of a log with, when asked, its inclusion proof.
type LogEntry struct {
	Index uint64
	Data  []byte
	Proof *hyperlog.Proof
}

func readLog(l *hyperlog.Log, start, end uint64, proofs bool) (hyperlog.SignedHead, []LogEntry, error) {
	head := l.Head()
	if end == 0 || end > head.Length {
		end = head.Length
	}
	if start > end {
		return head, nil, badRequest("start %d is past the end %d", start, end)
	}
	out := make([]LogEntry, 0, end-start)
	err := l.ReadRange(start, end, func(i uint64, e []byte) error {
		out = append(out, LogEntry{Index: i, Data: append([]byte(nil), e...)})
		return nil
	})
	if err != nil {
		return head, nil, err
	}
	if proofs {
		for i := range out {
			p, err := l.ProveInclusion(out[i].Index, head.Length)
			if err != nil {
				return head, nil, err
			}
			out[i].Proof = p
		}
	}
	return head, out, nil
}

// CallLog returns call log entries [start, end) (end 0 means to the head),
// and the head they are read against.
// A contract that moved here from another host keeps its old call log,
// served under the old id.
func (h *Host) CallLog(id ContractID, start, end uint64, proofs bool) (hyperlog.SignedHead, []LogEntry, error) {
	in, err := h.instance(id)
	if err == nil && in.id != id {
		// A contract that moved here answers to its old id, but the log
		// under an id is the one that id signs: the old log, below.
		err = refuse(ErrNotFound, "no call log %s", id)
	}
	if err == nil {
		head, out, err := readLog(in.calls, start, end, proofs)
		if err != nil && errors.Is(err, hyperlog.ErrCorrupt) {
			err = fmt.Errorf("contract %s: call log: %w; %s", id, err, remedy(in.dir, err))
		}
		return head, out, err
	}
	h.mu.Lock()
	var old *hyperlog.Log
	for _, c := range h.contracts {
		for _, l := range c.chain() {
			if ContractID(l.Key()) == id {
				old = l
			}
		}
	}
	h.mu.Unlock()
	if old == nil {
		return hyperlog.SignedHead{}, nil, err
	}
	return readLog(old, start, end, proofs)
}

// UserHead returns a user log's signed head, with its roots.
func (h *Host) UserHead(user hyperlog.Hash) (hyperlog.SignedHead, error) {
	u, err := h.acquireUser(context.Background(), user, true)
	if err != nil {
		return hyperlog.SignedHead{}, err
	}
	defer h.users.release(u)
	return u.log.Head(), nil
}

// UserLog returns user log entries [start, end).
func (h *Host) UserLog(user hyperlog.Hash, start, end uint64, proofs bool) (hyperlog.SignedHead, []LogEntry, error) {
	u, err := h.acquireUser(context.Background(), user, true)
	if err != nil {
		return hyperlog.SignedHead{}, nil, err
	}
	defer h.users.release(u)
	head, out, err := readLog(u.log, start, end, proofs)
	if err != nil && errors.Is(err, hyperlog.ErrCorrupt) {
		err = h.userFault(user, err)
	}
	return head, out, err
}

// ExportState writes a snapshot (package snapshot) of the contract's state
// engine to w, at the newest call its call log has signed, and returns its
// manifest. An auditor or a new host adopts it against that record's
// state commitment instead of replaying the calls before it.
func (h *Host) ExportState(id ContractID, w io.Writer) (*snapshot.Manifest, error) {
	in, err := h.instance(id)
	if err != nil {
		return nil, err
	}
	if in.id != id {
		return nil, refuse(ErrNotFound, "contract %s moved here as %s: its state is under the new id", id, in.id)
	}
	snap := in.store.Snapshot()
	defer snap.Close()
	tip, ok, err := engine.ReadTip(snap)
	if err != nil {
		return nil, err
	}
	signed := int64(in.calls.Head().Length) - 1
	if !ok || signed < 0 {
		return nil, refuse(ErrNotFound, "contract %s has no call yet", id)
	}
	return snapshot.Export(snap, in.app.Info(), min(tip.Height, signed), w)
}
