package host

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
)

// The host's event log: one "call" event per call log record (creates,
// calls, moves and migrations), in the order the records were logged
// across contracts. The call logs are the truth: a record is logged
// first, then its event, and the host keeps per contract how many of its
// records have events, so a start after a crash between the two writes
// the missing events (no record is left without one, none gets two).

// hostEvents writes the host's event log.
type hostEvents struct {
	ns  *store.Namespace
	log *events.Log
	mu  sync.Mutex // Append, Commit and Publish as one, across contracts
}

var (
	prefixHostEvents = []byte("ev/")
	prefixEventLog   = []byte("l/") // the log, inside prefixHostEvents
	prefixEvented    = []byte("c/") // contract id -> records with events
)

func openHostEvents(db *store.DB) (*hostEvents, error) {
	ns := db.Namespace(prefixHostEvents)
	l, err := events.Open(ns, prefixEventLog)
	if err != nil {
		return nil, err
	}
	return &hostEvents{ns: ns, log: l}, nil
}

// Events is the host's event log.
func (h *Host) Events() *events.Log { return h.events.log }

// callEvent is the event of record rec of contract id.
func callEvent(id ContractID, rec *Record) events.Event {
	d := map[string]any{"seq": rec.Seq, "type": rec.Type, "user": rec.User, "method": rec.Method,
		"gas": rec.Gas, "state_length": rec.StateLength, "state_root": rec.StateRoot, "consensus": rec.Consensus}
	if rec.Error != nil {
		d["error"] = rec.Error
	} else if rec.Result != nil {
		d["result"] = rec.Result
	}
	raw, _ := json.Marshal(d)
	return events.Event{Kind: events.KindCall, Height: int64(rec.Seq), App: "contracts", Contract: id.String(), Data: raw}
}

// emit logs the events of records [from, from+len(recs)) of contract id.
func (he *hostEvents) emit(id ContractID, from uint64, recs []*Record) error {
	he.mu.Lock()
	defer he.mu.Unlock()
	done, err := he.evented(id)
	if err != nil {
		return err
	}
	if done < from || done >= from+uint64(len(recs)) {
		if done >= from+uint64(len(recs)) {
			return nil // already there
		}
		return fmt.Errorf("events of contract %s: %d records have events, these start at %d", id, done, from)
	}
	evs := make([]events.Event, 0, len(recs))
	for _, r := range recs[done-from:] {
		evs = append(evs, callEvent(id, r))
	}
	b := he.ns.Begin()
	if err := he.log.Append(b, evs...); err != nil {
		b.Discard()
		he.log.Abort()
		return err
	}
	if err := b.Set(append(append([]byte(nil), prefixEvented...), id[:]...), binary.BigEndian.AppendUint64(nil, from+uint64(len(recs)))); err != nil {
		b.Discard()
		he.log.Abort()
		return err
	}
	if err := b.Commit(false); err != nil {
		he.log.Abort()
		return err
	}
	he.log.Publish()
	return nil
}

// evented is how many of contract id's records have events.
func (he *hostEvents) evented(id ContractID) (uint64, error) {
	raw, err := he.ns.Get(append(append([]byte(nil), prefixEvented...), id[:]...))
	if errors.Is(err, kv.ErrNotFound) {
		return 0, nil
	}
	if err != nil || len(raw) != 8 {
		return 0, fmt.Errorf("events of contract %s: %v", id, err)
	}
	return binary.BigEndian.Uint64(raw), nil
}

// catchUpEvents writes the events of the records a crash left without
// them (logged after the last event written).
func (in *instance) catchUpEvents() error {
	he := in.h.events
	done, err := he.evented(in.id)
	if err != nil {
		return err
	}
	n := in.calls.Length()
	for done < n {
		end := min(n, done+256)
		var recs []*Record
		err := in.calls.ReadRange(done, end, func(i uint64, raw []byte) error {
			var r Record
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("call log entry %d: %w", i, err)
			}
			recs = append(recs, &r)
			return nil
		})
		if err != nil {
			return err
		}
		if err := he.emit(in.id, done, recs); err != nil {
			return err
		}
		done = end
	}
	return nil
}
