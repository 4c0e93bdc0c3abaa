package host

import (
	"sync"

	"github.com/vchain-dev/vchain/hyperlog"
)

// fairQueue holds a contract's calls waiting for its sequencer: one FIFO
// per user, served round-robin across users, so a user who queues many
// calls delays another user's call by at most one call per waiting user,
// not by everything queued before it. A user's own calls keep their order
// (the order of the user's log). Push never blocks: admission (see
// Host.admitQueued) keeps each user's share bounded before anything is
// written.
type fairQueue struct {
	mu     sync.Mutex
	byUser map[hyperlog.Hash]*userCalls
	turn   []hyperlog.Hash // users with waiting calls, next to serve first
	n      int             // calls waiting
	// held counts calls taken and not yet done, by user: admission counts
	// them with the waiting ones.
	held      map[hyperlog.Hash]int
	heldTotal int
	// ready holds a token while the queue may be non-empty; the sequencer
	// waits on it.
	ready chan struct{}
}

// userCalls are one user's waiting calls, oldest first.
type userCalls struct {
	reqs []*request
}

func newFairQueue() *fairQueue {
	return &fairQueue{byUser: map[hyperlog.Hash]*userCalls{}, held: map[hyperlog.Hash]int{}, ready: make(chan struct{}, 1)}
}

// push appends r to its user's calls.
func (q *fairQueue) push(r *request) {
	q.mu.Lock()
	u := q.byUser[r.user]
	if u == nil {
		u = &userCalls{}
		q.byUser[r.user] = u
		q.turn = append(q.turn, r.user)
	}
	u.reqs = append(u.reqs, r)
	q.n++
	q.mu.Unlock()
	q.signal()
}

// requeue puts calls taken but not run back in front of their users'
// waiting calls, in their order, and gives those users the next turns.
func (q *fairQueue) requeue(rs []*request) {
	if len(rs) == 0 {
		return
	}
	q.mu.Lock()
	front := map[hyperlog.Hash][]*request{}
	var order []hyperlog.Hash
	for _, r := range rs {
		if _, ok := front[r.user]; !ok {
			order = append(order, r.user)
		}
		front[r.user] = append(front[r.user], r)
	}
	var rest []hyperlog.Hash
	for _, user := range q.turn {
		if _, ok := front[user]; !ok {
			rest = append(rest, user)
		}
	}
	for _, user := range order {
		u := q.byUser[user]
		if u == nil {
			u = &userCalls{}
			q.byUser[user] = u
		}
		u.reqs = append(front[user], u.reqs...)
	}
	q.turn = append(order, rest...)
	q.n += len(rs)
	q.release(rs)
	q.mu.Unlock()
	q.signal()
}

// take removes up to max calls, one per user in turn: the first waiting
// call of the user whose turn it is, then the next user's, around again
// while calls and room remain. A user served goes to the back of the turn.
func (q *fairQueue) take(max int) []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*request
	for len(out) < max && len(q.turn) > 0 {
		user := q.turn[0]
		q.turn = q.turn[1:]
		u := q.byUser[user]
		out = append(out, u.reqs[0])
		u.reqs[0] = nil
		u.reqs = u.reqs[1:]
		q.n--
		q.held[user]++
		q.heldTotal++
		if len(u.reqs) > 0 {
			q.turn = append(q.turn, user)
		} else {
			delete(q.byUser, user)
		}
	}
	if q.n > 0 {
		q.signal()
	}
	return out
}

// done marks calls taken as finished: they no longer count as queued.
func (q *fairQueue) done(rs []*request) {
	q.mu.Lock()
	q.release(rs)
	q.mu.Unlock()
}

func (q *fairQueue) release(rs []*request) {
	for _, r := range rs {
		if q.held[r.user]--; q.held[r.user] <= 0 {
			delete(q.held, r.user)
		}
		q.heldTotal--
	}
}

// queued returns how many calls of user wait in the queue or were taken
// and are not done.
func (q *fairQueue) queued(user hyperlog.Hash) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.held[user]
	if u := q.byUser[user]; u != nil {
		n += len(u.reqs)
	}
	return n
}

// len returns how many calls wait in the queue or were taken and are not
// done.
func (q *fairQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n + q.heldTotal
}

func (q *fairQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
