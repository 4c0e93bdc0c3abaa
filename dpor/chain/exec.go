package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
)

// Chain executes blocks under a genesis. It is safe for concurrent use:
// its only mutable part is a cache of verified signatures.
type Chain struct {
	G *Genesis

	mu       sync.Mutex
	verified sigCache
	// checked counts the signatures this chain verified (cache misses).
	checked atomic.Uint64
	// keys caches senders' public keys in the expanded form batch
	// verification needs (a point decompression saved per signature).
	keys map[[32]byte]*voi.ExpandedPublicKey
}

// maxKeys bounds the expanded-key cache (about 1.5 KiB a key).
const maxKeys = 1 << 14

// New returns the chain of a genesis.
func New(g *Genesis) *Chain {
	return &Chain{G: g, keys: map[[32]byte]*voi.ExpandedPublicKey{}}
}

// expanded returns pub's expanded form, from the cache when it is there;
// nil for a key that does not decode (its signatures then fail).
func (c *Chain) expanded(pub []byte) *voi.ExpandedPublicKey {
	k := [32]byte(pub)
	c.mu.Lock()
	x, ok := c.keys[k]
	c.mu.Unlock()
	if ok {
		return x
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		x = nil
	}
	c.mu.Lock()
	if len(c.keys) >= maxKeys {
		clear(c.keys)
	}
	c.keys[k] = x
	c.mu.Unlock()
	return x
}

// GenesisBlock is block 0: its hash commits to the whole genesis document.
func (c *Chain) GenesisBlock() *lbft.Block {
	return &lbft.Block{Height: 0, Time: c.G.TimeMS, Body: Marshal(c.G)}
}

// InitState writes the genesis state.
func (c *Chain) InitState(t kv.Txn) error {
	// The empty state's lattice, moved over everything the genesis writes.
	var empty lthash.Hash
	if err := writeLattice(t, &empty); err != nil {
		return err
	}
	h := newHashing(t)
	if err := c.writeGenesis(h); err != nil {
		return err
	}
	return h.finish()
}

func (c *Chain) writeGenesis(t kv.Txn) error {
	s := WriteState(t)
	if err := s.put(keyParams, c.G.Params); err != nil {
		return err
	}
	for a, bal := range c.G.Balances {
		if err := s.SetAccount(a, Account{Balance: bal}); err != nil {
			return err
		}
	}
	defaults := c.G.DefaultProposerAddresses()
	for i, m := range c.G.Proposers {
		pk, _ := m.PubKey()
		if err := s.put(key(prefixPubKey, defaults[i]), []byte(pk)); err != nil {
			return err
		}
	}
	first := make([]Address, c.G.ProposersPerTerm)
	for i := range first {
		first[i] = defaults[i%len(defaults)]
	}
	if err := s.put(key(prefixTerm, uint64(0)), first); err != nil {
		return err
	}
	gb := c.GenesisBlock()
	if err := s.put(key(prefixBlock, uint64(0)), BlockRecord{Hash: gb.Hash()}); err != nil {
		return err
	}
	return s.put(keyHeight, uint64(0))
}

// ProposerOf returns the address whose turn height h is.
func (c *Chain) ProposerOf(r kv.Reader, h uint64) (Address, error) {
	ps, err := ReadState(r).ProposersOf(c.G.TermOf(h))
	if err != nil {
		return Address{}, err
	}
	return ps[c.G.Slot(h)], nil
}

// ImpeachBody is the body of the impeach block after parent: the penalty
// against the proposer whose turn it was. r must be the state at parent:
// the body is a function of the two, and any other state is an error.
func (c *Chain) ImpeachBody(r kv.Reader, parent *lbft.Block) ([]byte, error) {
	st := ReadState(r)
	h, err := st.Height()
	if err != nil {
		return nil, err
	}
	if h != parent.Height {
		return nil, fmt.Errorf("state at height %d, parent at %d", h, parent.Height)
	}
	if rec, ok, err := st.Block(h); err != nil || !ok || rec.Hash != parent.Hash() {
		return nil, fmt.Errorf("state is not at parent %s (block %d)", parent.Hash().Short(), h)
	}
	p, err := c.ProposerOf(r, parent.Height+1)
	if err != nil {
		return nil, err
	}
	pre, err := StateCommitment(r)
	if err != nil {
		return nil, err
	}
	return Marshal(Body{Penalty: &Penalty{Height: parent.Height + 1, Proposer: p}, State: pre[:]}), nil
}

// checkSig verifies a transaction's signature once per chain.
func (c *Chain) checkSig(t *Tx) error {
	h := t.Hash()
	c.mu.Lock()
	ok := c.verified.has(h)
	c.mu.Unlock()
	if ok {
		return nil
	}
	c.checked.Add(1)
	if err := t.CheckSignature(c.G.ChainID); err != nil {
		return err
	}
	c.mu.Lock()
	c.verified.add(h)
	c.mu.Unlock()
	return nil
}

// sigCache remembers the hashes of transactions whose signatures were
// found good, in two generations of at most sigCacheGen each: when the
// newer fills, the older is dropped and the newer takes its place, so the
// cache stays bounded and what was verified last (the pool's, the next
// blocks') is never forgotten all at once.
type sigCache struct {
	cur, prev map[[32]byte]struct{}
}

// sigCacheGen bounds one generation of the signature cache.
const sigCacheGen = 1 << 18

func (s *sigCache) has(h [32]byte) bool {
	if _, ok := s.cur[h]; ok {
		return true
	}
	_, ok := s.prev[h]
	return ok
}

func (s *sigCache) add(h [32]byte) {
	if s.cur == nil {
		s.cur = map[[32]byte]struct{}{}
	}
	if len(s.cur) >= sigCacheGen {
		s.prev, s.cur = s.cur, make(map[[32]byte]struct{}, sigCacheGen/4)
	}
	s.cur[h] = struct{}{}
}

// SignaturesChecked is how many transaction signatures this chain has
// verified (each at most once while it is remembered).
func (c *Chain) SignaturesChecked() uint64 { return c.checked.Load() }

// IsVerified tells whether a transaction's signature was found good.
func (c *Chain) IsVerified(h [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verified.has(h)
}

// Verified records transactions whose signatures a caller checked (in a
// batch), so blocks holding them are not checked again.
func (c *Chain) Verified(hashes [][32]byte) {
	c.mu.Lock()
	for _, h := range hashes {
		c.verified.add(h)
	}
	c.mu.Unlock()
}

// CheckProposal validates a proposer's block on its parent, given the
// state at the parent: the proposer's turn and seal, and every
// transaction.
func (c *Chain) CheckProposal(r kv.Reader, b, parent *lbft.Block) error {
	_, _, err := c.TryProposal(r, b, parent)
	return err
}

// TryProposal is CheckProposal that also returns the state changes the
// block makes, for the caller to commit if the block becomes final. The
// transactions' signatures are checked on every core first.
func (c *Chain) TryProposal(r kv.Reader, b, parent *lbft.Block) (*Overlay, *Receipt, error) {
	return c.TryProposalAs(r, b, parent, SigShare{})
}

// SigShare is a validator's share of the signature checks of proposals:
// of the Validators validators (n = 3f+1, a quorum 2f+1), each
// transaction's signature is checked by n-f of them, chosen by its hash,
// and taken as the quorum's word by the other f. That is as safe as
// every validator checking every signature: any quorum holds at least
// (2f+1)+(n-f)-n = f+1 of a transaction's checkers, so at least one
// honest one, and an honest checker refuses a block with a forged
// signature, so no such block gathers a certificate. The zero SigShare
// checks every signature.
type SigShare struct {
	// Index is the validator's, in the genesis's order; Validators is
	// how many there are (0: no sharing).
	Index, Validators int
}

// Checks tells whether the validator checks the signature of the
// transaction with hash h: all but the f validators from h's first
// eight bytes modulo n on do.
func (s SigShare) Checks(h [32]byte) bool {
	n := s.Validators
	if n <= 0 {
		return true
	}
	f := (n - 1) / 3
	first := int(binary.BigEndian.Uint64(h[:8]) % uint64(n))
	return (s.Index-first+n)%n >= f
}

// TryProposalAs is TryProposal for a validator that checks only its
// share of the signatures (see SigShare).
func (c *Chain) TryProposalAs(r kv.Reader, b, parent *lbft.Block, share SigShare) (*Overlay, *Receipt, error) {
	b = b.WithoutCert()
	if err := c.checkSeal(r, b); err != nil {
		return nil, nil, err
	}
	// Each transaction is decoded once, for the batch check and for the
	// application.
	var decoded []*Tx
	if body, err := DecodeBody(b.Body); err == nil && !b.Impeach {
		decoded = make([]*Tx, len(body.Txs))
		var ok []*Tx
		for i, raw := range body.Txs {
			if tx, err := DecodeTx(raw); err == nil {
				decoded[i] = tx
				if share.Checks(tx.Hash()) {
					ok = append(ok, tx)
				}
			}
		}
		c.VerifyAll(ok, runtime.GOMAXPROCS(0))
	}
	o := NewOverlay(r)
	rec, err := c.applyBlock(o, b, true, decoded, share)
	if err != nil {
		return nil, nil, err
	}
	return o, rec, nil
}

// checkSeal checks that b is sealed by the proposer whose turn it is at
// its height on state r.
func (c *Chain) checkSeal(r kv.Reader, b *lbft.Block) error {
	want, err := c.ProposerOf(r, b.Height)
	if err != nil {
		return err
	}
	if len(b.Proposer) != ed25519.PublicKeySize || AddressOf(b.Proposer) != want {
		return fmt.Errorf("block %d sealed by %x, but it is %s's turn", b.Height, b.Proposer, want)
	}
	if !ed25519.Verify(b.Proposer, SealBytes(b), b.Seal) {
		return fmt.Errorf("block %d: bad seal", b.Height)
	}
	return nil
}

// RunProposal runs a proposer's block on its parent's state as ApplyFinal
// would once it is final, for a node that is not a validator: its turn
// and seal are checked, its transactions' signatures are not (when the
// block becomes final, the validators' quorum vouches for them, and
// ApplyFinal does not check them either). A node that runs a proposal
// while the validators decide on it has the state changes ready when the
// block is final, instead of applying it then; if another block becomes
// final, the result is simply not used.
func (c *Chain) RunProposal(r kv.Reader, b *lbft.Block) (*Overlay, *Receipt, error) {
	b = b.WithoutCert()
	if b.Impeach {
		return nil, nil, fmt.Errorf("block %d: an impeach block is no proposer's", b.Height)
	}
	if err := c.checkSeal(r, b); err != nil {
		return nil, nil, err
	}
	o := NewOverlay(r)
	rec, err := c.applyBlock(o, b, false, nil, SigShare{})
	if err != nil {
		return nil, nil, err
	}
	return o, rec, nil
}

// VerifyAll checks transactions' signatures in batches (about three
// times cheaper per signature than one by one) on the given number of
// goroutines, and remembers the good ones (ApplyBlock then finds them
// checked); bad ones are left for ApplyBlock to report.
func (c *Chain) VerifyAll(txs []*Tx, workers int) {
	var pending []*Tx
	c.mu.Lock()
	for _, tx := range txs {
		if !c.verified.has(tx.Hash()) && tx.checkForm() == nil {
			pending = append(pending, tx)
		}
	}
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	c.checked.Add(uint64(len(pending)))
	// A batch is split over workers only in parts of at least
	// minParallelBatch: a smaller batch costs more per signature (about
	// 15 µs at 64, 13 at 128, 12 at 256, 11 at 1,024 on one core), and on
	// a busy machine the split saves no time, only spends more CPU.
	workers = max(1, min(workers, len(pending)/minParallelBatch))
	var wg sync.WaitGroup
	ok := make([][][32]byte, workers)
	per := (len(pending) + workers - 1) / workers
	for w := 0; w < workers && w*per < len(pending); w++ {
		part := pending[w*per : min(len(pending), (w+1)*per)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := voi.NewBatchVerifierWithCapacity(len(part))
			for _, tx := range part {
				if x := c.expanded(tx.PubKey); x != nil {
					bv.AddExpandedWithOptions(x, tx.SigningBytes(c.G.ChainID), tx.Sig, verifyOpts)
				} else {
					bv.AddWithOptions(voi.PublicKey(tx.PubKey), tx.SigningBytes(c.G.ChainID), tx.Sig, verifyOpts)
				}
			}
			_, valid := bv.Verify(rand.Reader)
			for i, tx := range part {
				if valid[i] {
					ok[w] = append(ok[w], tx.Hash())
				}
			}
		}()
	}
	wg.Wait()
	for _, hs := range ok {
		c.Verified(hs)
	}
}

// minParallelBatch is the least part of a batch VerifyAll gives a worker.
const minParallelBatch = 256

// SealBytes is what a proposer signs.
func SealBytes(b *lbft.Block) []byte {
	h := b.Hash()
	return append([]byte("vchain-dpor-seal:"), h[:]...)
}

// Receipt summarizes an applied block.
type Receipt struct {
	Txs []*Tx
	// Failed holds, for each transaction of Txs that failed when it ran
	// (its nonce and fee were taken, its other effects undone), the
	// reason: a *TxError. Indexes follow Txs; nil means it succeeded.
	Failed  []error
	Fees    uint64
	Elected []Address // the next term's proposers, at a checkpoint
	// Punished is the proposer an impeach block penalised.
	Punished *Address
}

// Status is a transaction's outcome in its block: "" when it succeeded,
// else the reason it failed.
func (r *Receipt) Status(i int) string {
	if i < len(r.Failed) && r.Failed[i] != nil {
		return r.Failed[i].Error()
	}
	return ""
}

// ApplyBlock executes block b on t: its transactions in order (any
// invalid one makes the whole block invalid), the proposer's reward and
// fees, or, for an impeach block, the penalty; at the last block of a
// term, deposit refunds and the election of the next term.
func (c *Chain) ApplyBlock(t kv.Txn, b *lbft.Block) (*Receipt, error) {
	return c.applyBlock(t, b, true, nil, SigShare{})
}

// ApplyFinal applies a block that carries a valid commit certificate
// without checking its transactions' signatures again: 2f+1 validators,
// f+1 of them honest, validated it.
func (c *Chain) ApplyFinal(t kv.Txn, b *lbft.Block) (*Receipt, error) {
	return c.applyBlock(t, b, false, nil, SigShare{})
}

// applyBlock applies b; decoded, when given, holds its transactions
// already decoded (canonically; nil where decoding failed), by index.
func (c *Chain) applyBlock(t kv.Txn, b *lbft.Block, verify bool, decoded []*Tx, share SigShare) (*Receipt, error) {
	return c.applyBody(newHashing(t), b, verify, decoded, share)
}

// applyBody is applyBlock on a txn that tracks the keys the block changes,
// for the state's commitment.
func (c *Chain) applyBody(t *hashing, b *lbft.Block, verify bool, decoded []*Tx, share SigShare) (*Receipt, error) {
	s := WriteState(t)
	p, err := s.Params()
	if err != nil {
		return nil, err
	}
	h, err := s.Height()
	if err != nil {
		return nil, err
	}
	if b.Height != h+1 {
		return nil, fmt.Errorf("block %d on state at height %d", b.Height, h)
	}
	body, err := DecodeBody(b.Body)
	if err != nil {
		return nil, err
	}
	pre, err := StateCommitment(t)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(body.State, pre[:]) {
		return nil, fmt.Errorf("block %d carries state commitment %x, but the state block %d left hashes to %s", b.Height, body.State, h, pre)
	}
	rec := &Receipt{}
	var proposer Address
	if b.Impeach {
		want, err := c.ProposerOf(t, b.Height)
		if err != nil {
			return nil, err
		}
		if len(body.Txs) != 0 || body.Penalty == nil || body.Penalty.Height != b.Height || body.Penalty.Proposer != want {
			return nil, fmt.Errorf("impeach block %d: its only content must be the penalty of %s", b.Height, want)
		}
		if err := c.punish(s, &p, want, b.Height); err != nil {
			return nil, err
		}
		rec.Punished = &want
	} else {
		if body.Penalty != nil {
			return nil, fmt.Errorf("block %d: a penalty in a proposer's block", b.Height)
		}
		proposer = AddressOf(b.Proposer)
		decode := DecodeTx
		if !verify {
			decode = decodeFinal
		}
		for i, raw := range body.Txs {
			var tx *Tx
			var err error
			if i < len(decoded) && decoded[i] != nil {
				tx = decoded[i]
			} else {
				tx, err = decode(raw)
			}
			if err != nil {
				return nil, fmt.Errorf("block %d tx %d: %w", b.Height, i, err)
			}
			failed, err := c.applyTx(s, &p, b.Height, tx, verify && share.Checks(tx.Hash()))
			if err != nil {
				return nil, fmt.Errorf("block %d tx %d: %w", b.Height, i, err)
			}
			rec.Txs = append(rec.Txs, tx)
			rec.Failed = append(rec.Failed, failed)
			rec.Fees += tx.Fee // cannot wrap: each fee came out of a balance
		}
		acct, err := s.Account(proposer)
		if err != nil {
			return nil, err
		}
		var ok bool
		if acct.Balance, ok = add(acct.Balance, p.BlockReward+rec.Fees); !ok {
			return nil, fmt.Errorf("block %d: the proposer's balance would overflow", b.Height)
		}
		if err := s.SetAccount(proposer, acct); err != nil {
			return nil, err
		}
	}
	if err := s.put(key(prefixBlock, b.Height), BlockRecord{Hash: b.Hash(), Proposer: proposer, Impeach: b.Impeach}); err != nil {
		return nil, err
	}
	if b.Height > 256 {
		if err := t.Delete(key(prefixBlock, b.Height-256-p.Window)); err != nil {
			return nil, err
		}
	}
	if c.G.IsCheckpoint(b.Height) {
		term := c.G.TermOf(b.Height)
		if err := c.refund(s, &p, term); err != nil {
			return nil, err
		}
		if rec.Elected, err = c.Elect(s, &p, term+1, b.Height, b.Hash()); err != nil {
			return nil, err
		}
		if err := s.put(key(prefixTerm, term+1), rec.Elected); err != nil {
			return nil, err
		}
	}
	if err := s.put(keyParams, p); err != nil {
		return nil, err
	}
	if err := s.put(keyHeight, b.Height); err != nil {
		return nil, err
	}
	return rec, t.finish()
}

// Build makes the body of the block at height from candidate
// transactions (in the order given), on the state r at the parent: those
// that cannot be included (bad signature, wrong nonce, fee not covered)
// are left out and returned with their errors; those that fail when they
// run are included (their nonce and fee are taken) and their receipts say
// why. It returns the body and the included transactions.
func (c *Chain) Build(r kv.Reader, height uint64, txs []*Tx) (body []byte, included []*Tx, rejected map[[32]byte]error, err error) {
	s := WriteState(NewOverlay(r))
	p, err := s.Params()
	if err != nil {
		return nil, nil, nil, err
	}
	pre, err := StateCommitment(r)
	if err != nil {
		return nil, nil, nil, err
	}
	b := Body{State: pre[:]}
	rejected = map[[32]byte]error{}
	for _, tx := range txs {
		// applyTx writes nothing when it refuses a transaction.
		if _, err := c.applyTx(s, &p, height, tx, true); err != nil {
			var te *TxError
			if !errors.As(err, &te) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
				return nil, nil, nil, err // storage
			}
			rejected[tx.Hash()] = err
			continue
		}
		b.Txs = append(b.Txs, Marshal(tx))
		included = append(included, tx)
	}
	return Marshal(b), included, rejected, nil
}

// TxError is a transaction's rejection, or the reason it failed when it
// ran: a rule of the chain, the same on every node (storage errors are
// never TxErrors).
type TxError struct{ Reason string }

func (e *TxError) Error() string { return e.Reason }

func txErr(format string, args ...any) error { return &TxError{fmt.Sprintf(format, args...)} }

// CheckTx runs a transaction against state without applying it: the
// error says why it cannot be included; failed, why it would fail when
// it runs.
func (c *Chain) CheckTx(r kv.Reader, tx *Tx) (failed error, err error) {
	s := ReadState(r)
	h, err := s.Height()
	if err != nil {
		return nil, err
	}
	p, err := s.Params()
	if err != nil {
		return nil, err
	}
	return c.applyTx(WriteState(NewOverlay(r)), &p, h+1, tx, true)
}

// applyTx applies one transaction. err means it cannot be in a block at
// all (signature, nonce, fee, or a storage error); failed means it is
// included but failed when it ran: its nonce and fee are taken and its
// other effects undone.
func (c *Chain) applyTx(s *State, p *Params, height uint64, tx *Tx, verify bool) (failed error, err error) {
	if verify {
		if err := c.checkSig(tx); err != nil {
			return nil, err
		}
	}
	from := tx.Sender()
	acct, err := s.Account(from)
	if err != nil {
		return nil, err
	}
	switch {
	case tx.Nonce != acct.Nonce:
		return nil, txErr("nonce %d, account %s is at %d", tx.Nonce, from, acct.Nonce)
	case tx.Fee < p.MinFee:
		return nil, txErr("fee %d below the minimum %d", tx.Fee, p.MinFee)
	case acct.Balance < tx.Fee:
		return nil, txErr("insufficient funds for the fee: %s has %d, the fee is %d", from, acct.Balance, tx.Fee)
	}
	window := max(p.Window, 1)
	if e := height / window; acct.Epoch != e {
		if acct.Epoch+1 == e {
			acct.PrevNonce = acct.EpochNonce
		} else {
			acct.PrevNonce = acct.Nonce
		}
		acct.EpochNonce, acct.Epoch = acct.Nonce, e
	}
	acct.Nonce++
	acct.Balance -= tx.Fee
	// A transaction to a registered proxy goes to the contract the proxy
	// stands for at this block.
	to, err := s.resolve(tx.To)
	if err != nil {
		return nil, err
	}
	if tx.Call == nil && !isSystem(to) {
		// A plain transfer: it fails, if at all, before writing.
		if acct.Balance < tx.Amount {
			if err := s.SetAccount(from, acct); err != nil {
				return nil, err
			}
			return txErr("insufficient funds: %s has %d after the fee, the transaction moves %d", from, acct.Balance, tx.Amount), nil
		}
		if to == from {
			return nil, s.SetAccount(from, acct) // to itself: only the fee goes
		}
		toAcct, err := s.Account(to)
		if err != nil {
			return nil, err
		}
		sum, ok := add(toAcct.Balance, tx.Amount)
		if !ok {
			if err := s.SetAccount(from, acct); err != nil {
				return nil, err
			}
			return txErr("%s's balance would overflow", to), nil
		}
		acct.Balance -= tx.Amount
		toAcct.Balance = sum
		if err := s.SetAccount(from, acct); err != nil {
			return nil, err
		}
		return nil, s.SetAccount(to, toAcct)
	}
	if err := s.SetAccount(from, acct); err != nil {
		return nil, err
	}
	// A call runs on an overlay, kept only when it succeeds.
	o := NewOverlay(s.w)
	q := *p
	failed = c.executeTo(WriteState(o), &q, height, tx, to)
	var te *TxError
	switch {
	case failed == nil:
		*p = q
		return nil, o.WriteTo(s.w)
	case errors.As(failed, &te):
		return failed, nil
	}
	return nil, failed // storage: not the transaction's fault
}

// execute moves the amount and runs the call: the part of a transaction
// that may fail once it is included.
func (c *Chain) execute(s *State, p *Params, height uint64, tx *Tx) error {
	to, err := s.resolve(tx.To)
	if err != nil {
		return err
	}
	return c.executeTo(s, p, height, tx, to)
}

// executeTo is execute with tx.To already resolved: to is tx.To, or the
// real contract when tx.To is a registered proxy.
func (c *Chain) executeTo(s *State, p *Params, height uint64, tx *Tx, to Address) error {
	from := tx.Sender()
	acct, err := s.Account(from)
	if err != nil {
		return err
	}
	if acct.Balance < tx.Amount {
		return txErr("insufficient funds: %s has %d after the fee, the transaction moves %d", from, acct.Balance, tx.Amount)
	}
	acct.Balance -= tx.Amount
	if err := s.SetAccount(from, acct); err != nil {
		return err
	}
	toAcct, err := s.Account(to)
	if err != nil {
		return err
	}
	var ok bool
	if toAcct.Balance, ok = add(toAcct.Balance, tx.Amount); !ok {
		return txErr("%s's balance would overflow", to)
	}
	if err := s.SetAccount(to, toAcct); err != nil {
		return err
	}
	if tx.Call != nil {
		return c.call(s, p, height, tx, to)
	}
	if isSystem(to) {
		return txErr("a transfer to the %s contract needs a call", systemName(to))
	}
	return nil
}

func isSystem(a Address) bool {
	return a == CampaignAddress || a == AdmissionAddress || a == RPTAddress ||
		a == ProxyRegisterAddress || a == RegisterAddress || a == EscrowAddress || a == PDashAddress
}

func systemName(a Address) string {
	switch a {
	case CampaignAddress:
		return "Campaign"
	case AdmissionAddress:
		return "Admission"
	case RPTAddress:
		return "RPT"
	case ProxyRegisterAddress:
		return "ProxyRegister"
	case RegisterAddress:
		return "Register"
	case EscrowAddress:
		return "Escrow"
	case PDashAddress:
		return "PDash"
	}
	return a.String()
}

// punish applies an impeachment: the penalty comes out of the
// proposer's balance (as far as it goes) and the impeachment counts
// against its RPT.
func (c *Chain) punish(s *State, p *Params, who Address, height uint64) error {
	acct, err := s.Account(who)
	if err != nil {
		return err
	}
	acct.Balance -= min(acct.Balance, p.Penalty)
	if err := s.SetAccount(who, acct); err != nil {
		return err
	}
	hs, err := s.Impeachments(who)
	if err != nil {
		return err
	}
	var keep []uint64
	for _, x := range hs {
		if x+ImpeachMemory > height {
			keep = append(keep, x)
		}
	}
	return s.put(key(prefixImpch, who), append(keep, height))
}

// ImpeachMemory is how many blocks an impeachment weighs on RPT.
const ImpeachMemory = 10_000

var errNotDeployer = errors.New("only the deployer may call this")

// VerifySignatures checks the form and signature of each transaction for
// chain chainID, in batches on up to workers goroutines, and returns one
// result per transaction: nil, or why it is refused (CheckSignature's
// errors). The results are those of CheckSignature one by one.
func VerifySignatures(chainID string, txs []*Tx, workers int) []error {
	errs := make([]error, len(txs))
	var idx []int
	for i, tx := range txs {
		if err := tx.checkForm(); err != nil {
			errs[i] = err
		} else {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return errs
	}
	workers = max(1, min(workers, len(idx)/64))
	per := (len(idx) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(idx); lo += per {
		part := idx[lo:min(len(idx), lo+per)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := voi.NewBatchVerifierWithCapacity(len(part))
			for _, i := range part {
				tx := txs[i]
				bv.AddWithOptions(voi.PublicKey(tx.PubKey), tx.SigningBytes(chainID), tx.Sig, verifyOpts)
			}
			_, valid := bv.Verify(rand.Reader)
			for j, i := range part {
				if !valid[j] {
					errs[i] = ErrBadSignature
				}
			}
		}()
	}
	wg.Wait()
	return errs
}
