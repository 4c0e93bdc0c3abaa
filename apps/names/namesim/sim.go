// Package namesim generates deterministic random workloads for the names
// application: blocks of preorders, registers, updates, transfers, revokes
// and renewals by a fixed set of simulated users, mixed with malformed
// payloads and transactions meant for other applications. Demos, property
// tests and benchmarks use it to drive an engine.
//
// The simulator only remembers what it submitted, not what the engine
// accepted, so some of its operations are rejected (a name someone else
// registered first, a preorder a reorg dropped): that is part of the
// workload.
package namesim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// User is a simulated participant: a P2PKH-shaped scriptPubKey and a fake
// address, both derived from the simulator's seed.
type User struct {
	Script  []byte
	Address string
}

// pending is a preorder the simulator submitted and has not registered yet.
type pending struct {
	user   int
	name   string
	salt   [names.SaltLen]byte
	height int64
}

// holding is a name the simulator believes a user holds.
type holding struct {
	name    string
	user    int
	revoked bool
	expires int64
}

// Sim generates the transactions of successive blocks. Its exported fields
// may be changed before the first call to NextBlock; the zero value is not
// usable, call NewSim.
type Sim struct {
	// MaxTxs is the largest number of transactions in a block.
	MaxTxs int
	// PreorderTTL is how many blocks after a preorder the simulator still
	// tries to register it; match the application's option.
	PreorderTTL int64
	// Lifetime is how long the simulator believes a registration lasts;
	// match the application's option.
	Lifetime int64

	seed     uint64
	users    []User
	txs      uint64
	pending  []pending
	holdings []holding
}

// NewSim returns a simulator of users participants (at least two) whose
// scripts and addresses are derived from seed, with the application's
// default options.
func NewSim(seed uint64, users int) *Sim {
	users = max(users, 2)
	s := &Sim{
		MaxTxs:      8,
		PreorderTTL: names.DefaultPreorderTTL,
		Lifetime:    names.DefaultLifetime,
		seed:        seed,
	}
	for i := range users {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], seed)
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		h := vchash.Hash160(b[:])
		script := append(append([]byte{0x76, 0xa9, 0x14}, h[:]...), 0x88, 0xac)
		s.users = append(s.users, User{
			Script:  script,
			Address: fmt.Sprintf("sim-%02d-%s", i, hex.EncodeToString(h[:4])),
		})
	}
	return s
}

// Users returns the simulated participants.
func (s *Sim) Users() []User { return append([]User(nil), s.users...) }

// labels are the first parts of the names the simulator claims; the small
// set makes collisions and re-registrations common.
var labels = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

func (s *Sim) randomName(r *rand.Rand) string {
	ns := "id"
	if r.IntN(5) == 0 {
		ns = "app"
	}
	l := labels[r.IntN(len(labels))]
	if n := r.IntN(4); n > 0 {
		l = fmt.Sprintf("%s%d", l, n)
	}
	return l + "." + ns
}

// NextBlock returns the transactions of the block at height. fresh is a
// consensus hash the application currently accepts as fresh (normally the
// newest block's); preorders and transfers carry it. The result depends
// only on the simulator's history, r, height and fresh.
func (s *Sim) NextBlock(r *rand.Rand, height int64, fresh vchash.ConsensusHash) []tape.Tx {
	s.forget(height)
	n := r.IntN(s.MaxTxs + 1)
	txs := make([]tape.Tx, 0, n)
	for range n {
		if tx, ok := s.nextTx(r, height, fresh); ok {
			tx.Index = len(txs)
			txs = append(txs, tx)
		}
	}
	return txs
}

// forget drops preorders too old to register and names past their expiry.
func (s *Sim) forget(height int64) {
	p := s.pending[:0]
	for _, x := range s.pending {
		if height <= x.height+s.PreorderTTL {
			p = append(p, x)
		}
	}
	s.pending = p
	h := s.holdings[:0]
	for _, x := range s.holdings {
		if height < x.expires {
			h = append(h, x)
		}
	}
	s.holdings = h
}

func (s *Sim) nextTx(r *rand.Rand, height int64, fresh vchash.ConsensusHash) (tape.Tx, bool) {
	u := r.IntN(len(s.users))
	switch k := r.IntN(100); {
	case k < 30:
		return s.preorder(r, height, u, s.randomName(r), fresh)
	case k < 52:
		if tx, ok := s.register(r, height); ok {
			return tx, true
		}
		return s.preorder(r, height, u, s.randomName(r), fresh)
	case k < 85 && len(s.holdings) > 0:
		return s.manage(r, height, fresh, k)
	case k < 85:
		return s.preorder(r, height, u, s.randomName(r), fresh)
	case k < 88:
		// A preorder or transfer with a consensus hash from nowhere.
		var stale vchash.ConsensusHash
		fill(r, stale[:])
		if len(s.holdings) > 0 && r.IntN(2) == 0 {
			h := s.holdings[r.IntN(len(s.holdings))]
			return s.tx(r, h.user, r.IntN(len(s.users)), mustPayload(names.TransferPayload(h.name, stale, false))), true
		}
		return s.preorder(r, height, u, s.randomName(r), stale)
	case k < 94:
		// Junk after the magic bytes: mostly malformed, occasionally not.
		p := []byte(names.Magic)
		p = append(p, "?:+>~&x"[r.IntN(7)])
		junk := make([]byte, r.IntN(names.MaxPayloadLen-len(p)+1))
		fill(r, junk)
		tx := s.tx(r, u, u, append(p, junk...))
		if r.IntN(4) == 0 {
			tx.Senders = nil
		}
		return tx, true
	default:
		// A transaction for another application, or none at all.
		var p []byte
		if r.IntN(3) > 0 {
			p = make([]byte, 1+r.IntN(40))
			fill(r, p)
			p[0] = 'x'
		}
		return s.tx(r, u, u, p), true
	}
}

func (s *Sim) preorder(r *rand.Rand, height int64, u int, name string, ch vchash.ConsensusHash) (tape.Tx, bool) {
	var salt [names.SaltLen]byte
	fill(r, salt[:])
	s.pending = append(s.pending, pending{user: u, name: name, salt: salt, height: height})
	return s.tx(r, u, u, mustPayload(names.PreorderPayload(name, salt[:], s.users[u].Script, ch))), true
}

// register claims one of the pending preorders made before height, for the
// preorderer or, now and then, for someone else.
func (s *Sim) register(r *rand.Rand, height int64) (tape.Tx, bool) {
	var ready []int
	for i, p := range s.pending {
		if p.height < height {
			ready = append(ready, i)
		}
	}
	if len(ready) == 0 {
		return tape.Tx{}, false
	}
	i := ready[r.IntN(len(ready))]
	p := s.pending[i]
	s.pending = append(s.pending[:i], s.pending[i+1:]...)
	to := p.user
	if r.IntN(5) == 0 {
		to = r.IntN(len(s.users))
	}
	var value []byte
	if r.IntN(2) == 0 {
		value = make([]byte, names.ValueHashLen)
		fill(r, value)
	}
	s.hold(holding{name: p.name, user: to, expires: height + s.Lifetime})
	return s.tx(r, p.user, to, mustPayload(names.RegisterPayload(p.name, p.salt[:], value))), true
}

// manage makes an operation on a held name: mostly by its owner, sometimes
// by someone else (which the application rejects).
func (s *Sim) manage(r *rand.Rand, height int64, fresh vchash.ConsensusHash, k int) (tape.Tx, bool) {
	i := r.IntN(len(s.holdings))
	h := &s.holdings[i]
	from := h.user
	if r.IntN(10) == 0 {
		from = r.IntN(len(s.users))
	}
	owner := from == h.user && !h.revoked
	switch {
	case k < 65:
		value := make([]byte, names.ValueHashLen)
		fill(r, value)
		return s.tx(r, from, from, mustPayload(names.UpdatePayload(h.name, value))), true
	case k < 74:
		to := r.IntN(len(s.users))
		if owner && to != from {
			h.user = to
		}
		return s.tx(r, from, to, mustPayload(names.TransferPayload(h.name, fresh, r.IntN(2) == 0))), true
	case k < 78:
		if owner {
			h.revoked = true
		}
		return s.tx(r, from, from, mustPayload(names.RevokePayload(h.name))), true
	default:
		if owner {
			h.expires = max(height, h.expires) + s.Lifetime
		}
		return s.tx(r, from, from, mustPayload(names.RenewPayload(h.name))), true
	}
}

// hold records that a user holds a name, replacing what was believed.
func (s *Sim) hold(h holding) {
	for i := range s.holdings {
		if s.holdings[i].name == h.name {
			s.holdings[i] = h
			return
		}
	}
	s.holdings = append(s.holdings, h)
}

// tx wraps a payload in a transaction from user from, whose output 1 goes to
// user to, as BNS lays transactions out.
func (s *Sim) tx(r *rand.Rand, from, to int, payload []byte) tape.Tx {
	s.txs++
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.seed)
	binary.BigEndian.PutUint64(b[8:], s.txs)
	id := sha256.Sum256(append([]byte("namesim-tx"), b[:]...))
	f, t := s.users[from], s.users[to]
	return tape.Tx{
		ID:      id,
		Payload: payload,
		Senders: []tape.Sender{{Script: f.Script, Address: f.Address, Value: 100_000}},
		Outputs: []tape.Output{
			{Script: nullData(payload)},
			{Script: t.Script, Address: t.Address, Value: 5_500},
		},
		Fee: 1_000 + r.Int64N(9_000),
	}
}

// nullData returns the scriptPubKey of an OP_RETURN output carrying payload.
func nullData(payload []byte) []byte {
	if len(payload) <= 75 {
		return append([]byte{0x6a, byte(len(payload))}, payload...)
	}
	return append([]byte{0x6a, 0x4c, byte(len(payload))}, payload...)
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// mustPayload panics on a builder error: the simulator only builds payloads
// from valid names, so an error is a bug in the simulator.
func mustPayload(p []byte, err error) []byte {
	if err != nil {
		panic("namesim: " + err.Error())
	}
	return p
}
