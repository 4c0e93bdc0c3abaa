package hyperlog

import "sync"

// groupCommit gathers concurrent AppendShared calls into shared batches.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupReq
	leading bool // a caller is appending a batch right now
	entries [][]byte
}

type groupReq struct {
	entries       [][]byte
	first, length uint64
	err           error
	wake          chan bool // true: lead the next batch; false: done
}

// AppendShared appends entries like Append, but concurrent callers share
// batches: while one batch is being written and signed, newly arriving calls
// queue, and the next batch takes all of them, in arrival order, under one
// signed head. It returns the index of the first of the caller's entries and
// the length of the head that covers them (which may include other callers'
// entries). This is the group commit for many small concurrent appends, such
// as one per request of a server: throughput approaches that of batched
// Append while each caller still waits only for its own entries.
func (l *Log) AppendShared(entries ...[]byte) (first, length uint64, err error) {
	r := &groupReq{entries: entries, wake: make(chan bool, 1)}
	g := &l.group
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.first, r.length, r.err
		}
		g.mu.Lock() // leadership passed to us; our request is still queued
	} else {
		g.leading = true
	}
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	l.appendGroup(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- true
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return r.first, r.length, r.err
}

// appendGroup appends the entries of batch as one Append and hands every
// request its result. Each request's wake channel gets exactly one false:
// waiters read it, and the leader's own request ignores it.
func (l *Log) appendGroup(batch []*groupReq) {
	g := &l.group
	all := g.entries[:0]
	for _, r := range batch {
		all = append(all, r.entries...)
	}
	newLen, err := l.Append(all...)
	next := newLen - uint64(len(all))
	clear(all)
	g.entries = all[:0]
	for _, r := range batch {
		r.first, r.length, r.err = next, newLen, err
		if err == nil {
			next += uint64(len(r.entries))
		} else {
			r.first = newLen
		}
		r.wake <- false
	}
}
