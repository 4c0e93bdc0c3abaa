package node

import (
	"errors"
	"slices"
	"sync"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// Mempool holds transactions waiting for a block: per sender, by nonce.
type Mempool struct {
	mu       sync.Mutex
	max      int
	byHash   map[[32]byte]*chain.Tx
	bySender map[chain.Address]map[uint64]*chain.Tx
}

// ErrMempoolFull is returned when the pool holds its maximum.
var ErrMempoolFull = errors.New("mempool full")

// NewMempool returns a pool of at most max transactions.
func NewMempool(max int) *Mempool {
	return &Mempool{max: max, byHash: map[[32]byte]*chain.Tx{}, bySender: map[chain.Address]map[uint64]*chain.Tx{}}
}

// Add keeps tx; false when it was already there (or another with the
// same sender and nonce is).
func (m *Mempool) Add(tx *chain.Tx, h [32]byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byHash[h]; ok {
		return false, nil
	}
	if len(m.byHash) >= m.max {
		return false, ErrMempoolFull
	}
	from := tx.Sender()
	q := m.bySender[from]
	if q == nil {
		q = map[uint64]*chain.Tx{}
		m.bySender[from] = q
	}
	if _, ok := q[tx.Nonce]; ok {
		return false, nil
	}
	q[tx.Nonce] = tx
	m.byHash[h] = tx
	return true, nil
}

// Len is how many transactions wait.
func (m *Mempool) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

// Select returns up to max transactions that can go in the next block:
// for each sender, consecutive nonces from its account's nonce (nonceOf).
// Senders are taken round-robin, so one busy sender does not starve
// others. Transactions below their sender's nonce are dropped.
func (m *Mempool) Select(max int, nonceOf func(chain.Address) uint64) []*chain.Tx {
	m.mu.Lock()
	defer m.mu.Unlock()
	type run struct {
		txs []*chain.Tx
	}
	senders := make([]chain.Address, 0, len(m.bySender))
	for a := range m.bySender {
		senders = append(senders, a)
	}
	slices.SortFunc(senders, func(a, b chain.Address) int { return slices.Compare(a[:], b[:]) })
	runs := make([]run, 0, len(senders))
	for _, a := range senders {
		q := m.bySender[a]
		n := nonceOf(a)
		for nonce, tx := range q {
			if nonce < n {
				delete(q, nonce)
				delete(m.byHash, tx.Hash())
			}
		}
		var r run
		for tx, ok := q[n]; ok && len(r.txs) < max; tx, ok = q[n] {
			r.txs = append(r.txs, tx)
			n++
		}
		if len(q) == 0 {
			delete(m.bySender, a)
		}
		if len(r.txs) > 0 {
			runs = append(runs, r)
		}
	}
	var out []*chain.Tx
	for i := 0; len(out) < max; i++ {
		progress := false
		for _, r := range runs {
			if i < len(r.txs) && len(out) < max {
				out = append(out, r.txs[i])
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	return out
}

// Remove drops transactions (included in a block, or rejected).
func (m *Mempool) Remove(txs []*chain.Tx) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tx := range txs {
		h := tx.Hash()
		if _, ok := m.byHash[h]; !ok {
			continue
		}
		delete(m.byHash, h)
		from := tx.Sender()
		if q := m.bySender[from]; q != nil {
			delete(q, tx.Nonce)
			if len(q) == 0 {
				delete(m.bySender, from)
			}
		}
	}
}

// RemoveHashes drops transactions by hash.
func (m *Mempool) RemoveHashes(hs [][32]byte) {
	m.mu.Lock()
	var txs []*chain.Tx
	for _, h := range hs {
		if tx, ok := m.byHash[h]; ok {
			txs = append(txs, tx)
		}
	}
	m.mu.Unlock()
	m.Remove(txs)
}
