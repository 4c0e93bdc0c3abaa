package node

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// RejectCode says why a transaction was not taken, so callers can branch
// on it (the API maps each to an HTTP status).
type RejectCode int

// Reasons a transaction is not taken.
const (
	// RejectMalformed: it does not decode, or is not canonical.
	RejectMalformed RejectCode = iota + 1
	// RejectSignature: the signature does not verify for this chain.
	RejectSignature
	// RejectKnown: the pool already holds this very transaction.
	RejectKnown
	// RejectStaleNonce: the account's nonce is already past it.
	RejectStaleNonce
	// RejectNonceTaken: the pool holds another transaction of the sender
	// with this nonce.
	RejectNonceTaken
	// RejectNonceGap: the nonce is too far ahead of the account's.
	RejectNonceGap
	// RejectFee: the fee is below the chain's minimum.
	RejectFee
	// RejectFunds: the balance does not cover it with the sender's
	// pending transactions.
	RejectFunds
	// RejectSenderFull: the sender has as many transactions pending as
	// one sender may.
	RejectSenderFull
	// RejectBusy: the pool holds as much as the chain can take soon;
	// try again later.
	RejectBusy
)

var rejectNames = map[RejectCode]string{
	RejectMalformed: "malformed", RejectSignature: "bad-signature", RejectKnown: "known",
	RejectStaleNonce: "stale-nonce", RejectNonceTaken: "nonce-taken", RejectNonceGap: "nonce-gap",
	RejectFee: "fee", RejectFunds: "funds", RejectSenderFull: "sender-full", RejectBusy: "busy",
}

func (c RejectCode) String() string {
	if s, ok := rejectNames[c]; ok {
		return s
	}
	return fmt.Sprintf("reject(%d)", int(c))
}

// RejectError is a transaction the node did not take, and why.
type RejectError struct {
	Code   RejectCode
	Reason string
}

func (e *RejectError) Error() string { return e.Reason }

func reject(code RejectCode, format string, args ...any) error {
	return &RejectError{code, fmt.Sprintf(format, args...)}
}

// Mempool holds transactions waiting for a block: per sender, by nonce.
// It is bounded in total and per sender, and holds only nonces from the
// sender's account nonce up to PerSender ahead of it.
type Mempool struct {
	mu        sync.Mutex
	max       int
	perSender int
	byHash    map[[32]byte]*chain.Tx
	bySender  map[chain.Address]map[uint64]*chain.Tx
	// arrived numbers each transaction in the order it was added: a
	// block takes the senders whose next transaction waited longest
	// first.
	arrived map[[32]byte]uint64
	seq     uint64
}

// NewMempool returns a pool of at most max transactions, at most
// perSender of them from one sender.
func NewMempool(max, perSender int) *Mempool {
	return &Mempool{max: max, perSender: perSender, byHash: map[[32]byte]*chain.Tx{},
		bySender: map[chain.Address]map[uint64]*chain.Tx{}, arrived: map[[32]byte]uint64{}}
}

// Add keeps tx, given the sender's account (its committed state) and the
// chain's minimum fee, unless the pool holds limit transactions (or its
// own bound) already; the error is a *RejectError.
func (m *Mempool) Add(tx *chain.Tx, acct chain.Account, minFee uint64, limit int) error {
	h := tx.Hash()
	from := tx.Sender()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byHash[h]; ok {
		return reject(RejectKnown, "transaction %x is already pending", h[:8])
	}
	q := m.bySender[from]
	switch {
	case tx.Nonce < acct.Nonce:
		return reject(RejectStaleNonce, "nonce %d already used (account %s is at %d)", tx.Nonce, from, acct.Nonce)
	case q[tx.Nonce] != nil:
		other := q[tx.Nonce].Hash()
		return reject(RejectNonceTaken, "nonce %d of %s is taken by pending transaction %x", tx.Nonce, from, other[:8])
	case tx.Nonce >= acct.Nonce+uint64(m.perSender):
		return reject(RejectNonceGap, "nonce %d is too far ahead: account %s is at %d, at most %d may wait", tx.Nonce, from, acct.Nonce, m.perSender)
	case len(q) >= m.perSender:
		return reject(RejectSenderFull, "%s has %d transactions pending, the most one sender may", from, len(q))
	case tx.Fee < minFee:
		return reject(RejectFee, "fee %d below the minimum %d", tx.Fee, minFee)
	}
	need, ok := tx.Cost()
	for n, p := range q {
		if n < acct.Nonce {
			continue // included already; pruned soon
		}
		c, cok := p.Cost()
		if need, cok = addCost(need, c, cok); !cok {
			ok = false
		}
	}
	switch {
	case !ok:
		return reject(RejectFunds, "insufficient funds: %s has %d; this transaction (with its pending ones) needs more than 2^64-1", from, acct.Balance)
	case need > acct.Balance:
		return reject(RejectFunds, "insufficient funds: %s has %d; this transaction (amount plus fee, with its pending ones) needs %d", from, acct.Balance, need)
	}
	if limit = min(limit, m.max); len(m.byHash) >= limit {
		return reject(RejectBusy, "the chain is at capacity (%d transactions pending); retry later", len(m.byHash))
	}
	if q == nil {
		q = map[uint64]*chain.Tx{}
		m.bySender[from] = q
	}
	q[tx.Nonce] = tx
	m.byHash[h] = tx
	m.seq++
	m.arrived[h] = m.seq
	return nil
}

func addCost(a, b uint64, ok bool) (uint64, bool) {
	s := a + b
	return s, ok && s >= a
}

// Conflict says whether the pool holds tx already, or another
// transaction of its sender with its nonce (a cheap check, done before
// any signature is).
func (m *Mempool) Conflict(tx *chain.Tx) error {
	h := tx.Hash()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byHash[h]; ok {
		return reject(RejectKnown, "transaction %x is already pending", h[:8])
	}
	if other := m.bySender[tx.Sender()][tx.Nonce]; other != nil {
		oh := other.Hash()
		return reject(RejectNonceTaken, "nonce %d of %s is taken by pending transaction %x", tx.Nonce, tx.Sender(), oh[:8])
	}
	return nil
}

// Seq numbers the transaction the pool took last: every later one has a
// greater number (see AddedBetween).
func (m *Mempool) Seq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// AddedBetween returns up to max of the transactions the pool still
// holds that it took after its Seq was after and by the time it was
// upTo, in the order it took them, and the arrival number of the last one
// returned (after when there is none).
func (m *Mempool) AddedBetween(after, upTo uint64, max int) ([]*chain.Tx, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type entry struct {
		seq uint64
		tx  *chain.Tx
	}
	var found []entry
	for h, tx := range m.byHash {
		if s := m.arrived[h]; s > after && s <= upTo {
			found = append(found, entry{s, tx})
		}
	}
	slices.SortFunc(found, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	found = found[:min(len(found), max)]
	out := make([]*chain.Tx, 0, len(found))
	last := after
	for _, e := range found {
		out = append(out, e.tx)
		last = e.seq
	}
	return out, last
}

// Len is how many transactions wait.
func (m *Mempool) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

// Has tells whether the pool holds the transaction.
func (m *Mempool) Has(h [32]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.byHash[h]
	return ok
}

// PendingNonce is the nonce the sender's next transaction should carry:
// its account's nonce plus its consecutive pending transactions.
func (m *Mempool) PendingNonce(a chain.Address, accountNonce uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.bySender[a]
	n := accountNonce
	for q[n] != nil {
		n++
	}
	return n
}

// Select returns up to max transactions that can go in the next block:
// for each sender, consecutive nonces from its account's nonce (nonceOf).
// Senders are taken round-robin, so one busy sender does not starve
// others. Transactions below their sender's nonce are dropped.
func (m *Mempool) Select(max int, nonceOf func(chain.Address) uint64) []*chain.Tx {
	m.mu.Lock()
	defer m.mu.Unlock()
	senders := make([]chain.Address, 0, len(m.bySender))
	for a := range m.bySender {
		senders = append(senders, a)
	}
	runs := make([][]*chain.Tx, 0, len(senders))
	for _, a := range senders {
		q := m.bySender[a]
		n := nonceOf(a)
		m.pruneLocked(a, q, n)
		var run []*chain.Tx
		for tx := q[n]; tx != nil && len(run) < max; tx = q[n] {
			run = append(run, tx)
			n++
		}
		if len(run) > 0 {
			runs = append(runs, run)
		}
	}
	// Oldest first: a block that cannot take every sender takes those
	// whose next transaction has waited longest (in the order of their
	// addresses, the same senders would lose every time).
	slices.SortFunc(runs, func(a, b []*chain.Tx) int {
		return cmp.Compare(m.arrived[a[0].Hash()], m.arrived[b[0].Hash()])
	})
	var out []*chain.Tx
	for i := 0; len(out) < max; i++ {
		progress := false
		for _, r := range runs {
			if i < len(r) && len(out) < max {
				out = append(out, r[i])
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	return out
}

// pruneLocked drops a sender's transactions below its account's nonce:
// they can never run.
func (m *Mempool) pruneLocked(a chain.Address, q map[uint64]*chain.Tx, nonce uint64) {
	for n, tx := range q {
		if n < nonce {
			delete(q, n)
			delete(m.byHash, tx.Hash())
			delete(m.arrived, tx.Hash())
		}
	}
	if len(q) == 0 {
		delete(m.bySender, a)
	}
}

// Prune drops the transactions of the given senders that their accounts'
// nonces (nonceOf) have passed: a block made them stale, whether it
// included them or others with the same nonces.
func (m *Mempool) Prune(senders []chain.Address, nonceOf func(chain.Address) uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range senders {
		if q := m.bySender[a]; q != nil {
			m.pruneLocked(a, q, nonceOf(a))
		}
	}
}

// RemoveHashes drops transactions by hash (a proposer found them
// impossible to include).
func (m *Mempool) RemoveHashes(hs [][32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range hs {
		tx, ok := m.byHash[h]
		if !ok {
			continue
		}
		delete(m.byHash, h)
		delete(m.arrived, h)
		from := tx.Sender()
		if q := m.bySender[from]; q != nil {
			delete(q, tx.Nonce)
			if len(q) == 0 {
				delete(m.bySender, from)
			}
		}
	}
}
