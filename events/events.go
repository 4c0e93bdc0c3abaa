// Package events is a durable, numbered log of what a node did: blocks
// committed and reverted, ops accepted and rejected (with the reason),
// contract calls, impeach blocks, elections. Each event is written in the
// same atomic batch as the change it reports, under a sequence number that
// is never reused (a reverted block's events stay, followed by a revert
// event), so a client that remembers the last number it saw resumes
// exactly there after a reconnect or a restart of either side: the
// cursor-log design CometBFT's ADR-075 adopted over fire-and-forget
// subscriptions.
//
// Readers never slow a writer: they read the store at their own pace and
// wait on a broadcast for new events. The HTTP side (Handler) serves long
// polls and Server-Sent Events whose id is the cursor, so a browser's
// Last-Event-ID resumes too.
package events

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/vchain-dev/vchain/kv"
)

// Kinds of events.
const (
	KindBlock    = "block"    // a block committed
	KindRevert   = "revert"   // blocks rolled back to a fork point
	KindOp       = "op"       // an op accepted
	KindRejected = "rejected" // a candidate transaction rejected, with the reason
	KindCall     = "call"     // a contract call recorded
	KindImpeach  = "impeach"  // an impeach block final
	KindElection = "election" // a term's proposers elected
	KindLagged   = "lagged"   // (streams only) the reader fell behind: resume at Seq
)

// Event is one thing that happened.
type Event struct {
	// Seq is the event's cursor: events are numbered from 1 in the order
	// they were committed.
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	// Height is the block the event belongs to, when it belongs to one.
	Height int64 `json:"height,omitempty"`
	// App, Contract and Name are what filters match.
	App      string `json:"app,omitempty"`
	Contract string `json:"contract,omitempty"`
	Name     string `json:"name,omitempty"`
	// Data is the kind's own detail.
	Data json.RawMessage `json:"data,omitempty"`

	// raw is the event's stored JSON, which a stream sends as it is.
	raw []byte
}

// Cursor is an event's Seq as a string.
func (e *Event) Cursor() string { return strconv.FormatUint(e.Seq, 10) }

// ParseCursor reads a cursor ("" is 0: before the first event).
func ParseCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cursor %q: want the seq of the last event seen (a number)", s)
	}
	return n, nil
}

// RangeReader reads keys in order from a start key, as store.DB and
// store.Namespace do.
type RangeReader interface {
	kv.Reader
	// IterateFrom calls fn for every key that starts with prefix and is at
	// least start, in ascending order, until fn returns an error.
	IterateFrom(prefix, start []byte, fn func(key, value []byte) error) error
}

// Log is the event log kept under a prefix of a store. One writer appends
// (Append, then Publish once its batch committed, or Abort); any number of
// readers read and wait.
type Log struct {
	prefix []byte
	r      RangeReader

	mu      sync.Mutex
	tip     uint64 // the last committed event
	pending uint64 // the last event appended to a batch not yet committed
	waiters chan struct{}
}

// Open opens the log under prefix of r, reading its tip.
func Open(r RangeReader, prefix []byte) (*Log, error) {
	l := &Log{prefix: append([]byte(nil), prefix...), r: r, waiters: make(chan struct{})}
	raw, err := r.Get(l.tipKey())
	switch {
	case errors.Is(err, kv.ErrNotFound):
	case err != nil:
		return nil, err
	case len(raw) != 8:
		return nil, fmt.Errorf("events: the tip record is %d bytes, not 8", len(raw))
	default:
		l.tip = binary.BigEndian.Uint64(raw)
	}
	l.pending = l.tip
	return l, nil
}

func (l *Log) tipKey() []byte { return append(append([]byte(nil), l.prefix...), 'n') }

func (l *Log) eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(append([]byte(nil), l.prefix...), 'e'), seq)
}

// Append numbers evs and writes them, with the new tip, to t. They become
// visible to readers when the caller, once t committed, calls Publish.
func (l *Log) Append(t kv.Txn, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.pending
	for i := range evs {
		seq++
		evs[i].Seq = seq
		raw, err := json.Marshal(&evs[i])
		if err != nil {
			return err
		}
		if err := t.Set(l.eventKey(seq), raw); err != nil {
			return err
		}
		if err := l.index(t, evs, i); err != nil {
			return err
		}
	}
	if err := t.Set(l.tipKey(), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return err
	}
	l.pending = seq
	return nil
}

// index writes the lookups Block and Subject read for evs[i], whose Seq
// is set: a block event records where its block's events start and how
// many there are (itself and the events after it in evs with its height,
// up to the next block event); an event naming a name or a contract is
// listed under it.
func (l *Log) index(t kv.Txn, evs []Event, i int) error {
	e := &evs[i]
	if e.Kind == KindBlock {
		n := uint32(1)
		for j := i + 1; j < len(evs) && evs[j].Kind != KindBlock && evs[j].Height == e.Height; j++ {
			n++
		}
		v := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, e.Seq), n)
		if err := t.Set(l.heightKey(e.Height), v); err != nil {
			return err
		}
	}
	for _, s := range [...]struct {
		tag     byte
		subject string
	}{{subjectName, e.Name}, {subjectContract, e.Contract}} {
		if s.subject == "" || len(s.subject) > MaxSubject {
			continue
		}
		if err := t.Set(binary.BigEndian.AppendUint64(l.subjectPrefix(s.tag, s.subject), e.Seq), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// MaxSubject is the longest name or contract the log lists events under
// (longer ones are still logged and matched by filters).
const MaxSubject = 255

// Subject kinds in the index.
const (
	subjectName     = 'n'
	subjectContract = 'c'
)

func (l *Log) heightKey(h int64) []byte {
	return binary.BigEndian.AppendUint64(append(append([]byte(nil), l.prefix...), 'h'), uint64(h))
}

func (l *Log) subjectPrefix(tag byte, subject string) []byte {
	k := append(append([]byte(nil), l.prefix...), 'x', tag, byte(len(subject)))
	return append(k, subject...)
}

// BlockEvents returns up to max events of the block last committed at
// height h: its block event first, then the events written with it (ops
// accepted and rejected), and how many there are in all. A block that was
// reverted and replaced answers with the replacement's events; total is 0
// when no block event was ever logged at h (the caller checks h against
// its tip: a reverted block above it keeps its entry until a new block
// takes the height).
func (l *Log) BlockEvents(h int64, max int) (evs []Event, total int, err error) {
	raw, err := l.r.Get(l.heightKey(h))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if len(raw) != 12 {
		return nil, 0, fmt.Errorf("events: the index of height %d is %d bytes, not 12", h, len(raw))
	}
	first, n := binary.BigEndian.Uint64(raw), int(binary.BigEndian.Uint32(raw[8:]))
	evs, _, err = l.Read(first-1, min(n, max), nil)
	if err != nil {
		return nil, 0, err
	}
	if len(evs) == 0 || evs[0].Seq != first || evs[0].Kind != KindBlock || evs[0].Height != h {
		return nil, 0, fmt.Errorf("events: the index of height %d names event %d, which is not its block event", h, first)
	}
	return evs, n, nil
}

// Current reports whether e, an event of a block (Height set), belongs to
// the block last committed at its height rather than to one a reorg took
// back. The caller still checks that height against its tip.
func (l *Log) Current(e *Event) (bool, error) {
	raw, err := l.r.Get(l.heightKey(e.Height))
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil || len(raw) != 12 {
		return false, err
	}
	first, n := binary.BigEndian.Uint64(raw), uint64(binary.BigEndian.Uint32(raw[8:]))
	return e.Seq >= first && e.Seq < first+n, nil
}

// maxSubjectScan bounds how many index entries Subject looks at.
const maxSubjectScan = 1 << 20

// Subject returns the newest max visible events that name name (or, with
// contract set, that name the contract), newest first, and whether older
// ones were left out.
func (l *Log) Subject(name string, contract bool, max int) (evs []Event, more bool, err error) {
	tag := byte(subjectName)
	if contract {
		tag = subjectContract
	}
	if name == "" || len(name) > MaxSubject || max <= 0 {
		return nil, false, nil
	}
	tip, _ := l.Tip()
	prefix := l.subjectPrefix(tag, name)
	ring := make([]uint64, 0, max)
	total, scanned := 0, 0
	errStop := errors.New("stop")
	err = l.r.IterateFrom(prefix, prefix, func(k, _ []byte) error {
		if len(k) != len(prefix)+8 {
			return nil
		}
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		if seq > tip {
			return errStop
		}
		if scanned++; scanned > maxSubjectScan {
			return errStop
		}
		if len(ring) < max {
			ring = append(ring, seq)
		} else {
			ring[total%max] = seq
		}
		total++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, false, err
	}
	// The newest first: the ring's last write, backwards.
	for i := 0; i < len(ring); i++ {
		seq := ring[((total-1-i)%max+max)%max]
		got, _, err := l.Read(seq-1, 1, nil)
		if err != nil {
			return nil, false, err
		}
		if len(got) == 1 && got[0].Seq == seq {
			evs = append(evs, got[0])
		}
	}
	return evs, total > len(ring), nil
}

// Publish makes every event appended so far visible and wakes readers:
// call it once the batch they were appended to committed.
func (l *Log) Publish() {
	l.mu.Lock()
	if l.pending == l.tip {
		l.mu.Unlock()
		return
	}
	l.tip = l.pending
	close(l.waiters)
	l.waiters = make(chan struct{})
	l.mu.Unlock()
}

// Abort forgets what was appended since the last Publish: the batch was
// discarded.
func (l *Log) Abort() {
	l.mu.Lock()
	l.pending = l.tip
	l.mu.Unlock()
}

// Tip returns the last visible event's seq (0: none) and a channel closed
// when there are newer ones.
func (l *Log) Tip() (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tip, l.waiters
}

// Filter selects events; empty fields match everything.
type Filter struct {
	Kinds    []string
	App      string
	Contract string
	Name     string
}

// Match reports whether e passes f.
func (f *Filter) Match(e *Event) bool {
	if len(f.Kinds) > 0 {
		ok := false
		for _, k := range f.Kinds {
			ok = ok || k == e.Kind
		}
		if !ok {
			return false
		}
	}
	return (f.App == "" || f.App == e.App) && (f.Contract == "" || f.Contract == e.Contract) && (f.Name == "" || f.Name == e.Name)
}

// Read returns up to max visible events after the cursor that pass f, and
// the cursor to read from next (past every event looked at, matching or
// not, so a filter does not make a reader look at the same events again).
// It reads at most scan events.
func (l *Log) Read(after uint64, max int, f *Filter) (evs []Event, next uint64, err error) {
	tip, _ := l.Tip()
	next = after
	if after >= tip {
		return nil, after, nil
	}
	const scan = 10_000
	looked := 0
	errStop := errors.New("stop")
	err = l.r.IterateFrom(append(append([]byte(nil), l.prefix...), 'e'), l.eventKey(after+1), func(k, v []byte) error {
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		if seq > tip {
			return errStop
		}
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("events: event %d: %w", seq, err)
		}
		e.raw = bytes.Clone(v)
		next = seq
		looked++
		if f == nil || f.Match(&e) {
			evs = append(evs, e)
		}
		if len(evs) >= max || looked >= scan {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return evs, next, err
}
