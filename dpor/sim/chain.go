package sim

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/kv"
)

// The real chain's side of the simulator: a genesis with Ed25519
// validators and proposers and a funded workload, each node's driver
// wired as dpor/node wires its core, and the proposers' blocks.

// Accounts is the number of workload accounts; each starts with
// AccountFunds coins.
const (
	Accounts     = 4
	AccountFunds = 1_000_000
)

// chainID is the simulated chain's id (transactions sign it).
const chainID = "vchain-sim"

// world is the fixed part of a real-chain run.
type world struct {
	g *chain.Genesis
	// chain executes blocks for every node. Its only state is a cache of
	// transaction signatures found good, keyed by the transaction's hash
	// (which covers the signature), so sharing it changes no outcome.
	chain *chain.Chain
	// keys are the nodes' keys: validators, then proposers (the civilian
	// has none).
	keys   []ed25519.PrivateKey
	byAddr map[chain.Address]int // proposer address -> node
	// The workload: accounts, and their transactions, signed on first use.
	accts    []ed25519.PrivateKey
	acctAddr []chain.Address
	txs      map[txKey]*chain.Tx
	seed     uint64
}

// txKey names a workload transaction: account a's transaction with
// nonce n, of a kind (see tx).
type txKey struct {
	a, n int
	kind txKind
}

type txKind int

const (
	txTransfer txKind = iota // valid in turn
	txTwin                   // another transfer with the same nonce: a double spend
	// Included but failing when they run: the nonce and fee are taken.
	txNoFunds  // moves more than the balance
	txToSystem // a transfer to a system contract without a call
	// Invalid ones, which Build leaves out and a block holding one fails.
	txBadSig
	txLowFee
	txFarNonce
	txKinds
)

var keyCache struct {
	sync.Mutex
	m map[string]ed25519.PrivateKey
}

// simKey is a deterministic key (the same in every run, so keys are made
// once per process).
func simKey(role string, i int) ed25519.PrivateKey {
	keyCache.Lock()
	defer keyCache.Unlock()
	name := fmt.Sprint(role, i)
	if k, ok := keyCache.m[name]; ok {
		return k
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "vchain-sim/"+name)
	k := ed25519.NewKeyFromSeed(seed)
	if keyCache.m == nil {
		keyCache.m = map[string]ed25519.PrivateKey{}
	}
	keyCache.m[name] = k
	return k
}

func (s *Sim) setupChain() error {
	cfg := s.cfg
	w := &world{byAddr: map[chain.Address]int{}, txs: map[txKey]*chain.Tx{}, seed: uint64(cfg.Seed)}
	g := &chain.Genesis{ChainID: chainID, TimeMS: 0, PeriodMS: cfg.Period, TimeoutMS: cfg.Timeout,
		ProposersPerTerm: cfg.Proposers, ViewLen: cfg.ViewLen,
		Balances: map[chain.Address]uint64{}, Params: chain.DefaultParams()}
	for i := 0; i < cfg.Validators+cfg.Proposers; i++ {
		var k ed25519.PrivateKey
		m := chain.Member{}
		if i < cfg.Validators {
			k = simKey("validator", i)
			m.Name = fmt.Sprintf("v%d", i)
		} else {
			k = simKey("proposer", i-cfg.Validators)
			m.Name = fmt.Sprintf("p%d", i-cfg.Validators)
		}
		pub := k.Public().(ed25519.PublicKey)
		m.Key = hex.EncodeToString(pub)
		if i < cfg.Validators {
			g.Validators = append(g.Validators, m)
		} else {
			g.Proposers = append(g.Proposers, m)
			w.byAddr[chain.AddressOf(pub)] = i
		}
		w.keys = append(w.keys, k)
	}
	for a := 0; a < Accounts; a++ {
		k := simKey("account", a)
		w.accts = append(w.accts, k)
		addr := chain.AddressOf(k.Public().(ed25519.PublicKey))
		w.acctAddr = append(w.acctAddr, addr)
		g.Balances[addr] = AccountFunds
	}
	g.Deployer = w.acctAddr[0]
	if err := g.Validate(); err != nil {
		return err
	}
	w.g = g
	w.chain = chain.New(g)
	s.w = w
	s.genesis = w.chain.GenesisBlock()
	return nil
}

// initNode gives a node its key and its store: the genesis state.
func (s *Sim) initNode(n *node) {
	if n.id < s.civilian() {
		n.key = s.w.keys[n.id]
		n.addr = chain.AddressOf(n.key.Public().(ed25519.PublicKey))
	}
	n.state = kv.NewMem()
	if err := s.w.chain.InitState(n.state); err != nil {
		panic(err)
	}
}

// nodeConfig is the core configuration dpor/node's load builds: Ed25519
// votes with the validator's key, proposals tried on the node's state
// (and the state changes kept for insert), impeach bodies built on it.
func (s *Sim) nodeConfig(n *node) lbft.Config {
	w := s.w
	g := w.g
	cfg := lbft.Config{Self: -1, N: len(g.Validators), Period: g.PeriodMS, Timeout: g.TimeoutMS,
		Verify: func(i int, d lbft.Hash, sig []byte) bool {
			k, err := g.Validators[i].PubKey()
			return err == nil && ed25519.Verify(k, d[:], sig)
		},
		CheckProposal: func(b, parent *lbft.Block) error {
			// Each validator checks its share of the signatures, as
			// dpor/node's do (the checker re-executes every final block
			// checking them all).
			o, _, err := w.chain.TryProposalAs(n.state, b, parent, chain.SigShare{Index: n.id, Validators: len(g.Validators)})
			if s.cfg.Break == SkipSignatures {
				o, _, err = w.chain.RunProposal(n.state, b) // turn and seal checked, no signature
			}
			if err == nil {
				if len(n.tried) > 16 {
					clear(n.tried)
				}
				n.tried[b.Hash()] = o
			}
			return err
		},
		ImpeachBody: func(parent *lbft.Block) []byte {
			body, err := w.chain.ImpeachBody(n.state, parent)
			if err != nil {
				s.fail("HALT: node %d cannot build the impeach block %d: %v", n.id, parent.Height+1, err)
			}
			return body
		},
	}
	if s.cfg.Break == StaleImpeach {
		// The impeach body as it was built before the Advance contract:
		// from whatever state the node has committed.
		cfg.ImpeachBody = func(parent *lbft.Block) []byte {
			p, err := w.chain.ProposerOf(n.state, parent.Height+1)
			pre, _ := chain.StateCommitment(n.state)
			if err != nil {
				return chain.Marshal(chain.Body{State: pre[:]})
			}
			return chain.Marshal(chain.Body{Penalty: &chain.Penalty{Height: parent.Height + 1, Proposer: p}, State: pre[:]})
		}
	}
	if n.id < s.cfg.Validators {
		cfg.Self = n.id
		key := n.key
		cfg.Sign = func(d lbft.Hash) []byte { return ed25519.Sign(key, d[:]) }
	}
	return cfg
}

// apply stores final block b in n's state as dpor/node's insert does:
// the state changes of the validated proposal when the node tried it,
// else ApplyFinal; all in one batch, committed only when it applies.
func (s *Sim) apply(n *node, b *lbft.Block) error {
	batch := chain.NewOverlay(n.state)
	if o, ok := n.tried[b.Hash()]; ok {
		if err := o.WriteTo(batch); err != nil {
			return err
		}
	} else if _, err := s.w.chain.ApplyFinal(batch, b); err != nil {
		return err
	}
	clear(n.tried)
	if s.cfg.Break == DivergeState && n.id == 0 && b.Height == 2 {
		st := chain.WriteState(batch)
		a, _ := st.Account(s.w.acctAddr[1])
		a.Balance++
		st.SetAccount(s.w.acctAddr[1], a)
	}
	return batch.WriteTo(n.state)
}

// proposeReal has a proposer propose when its turn comes, as dpor/node's
// maybePropose: its state says whose turn the height is; it builds the
// block from its pool on that state, and seals it.
func (s *Sim) proposeReal(n *node) {
	if n.id < s.cfg.Validators || n.id >= s.civilian() || n.down || n.core.Settled() {
		return
	}
	head := n.core.Head()
	h := head.Height + 1
	if n.proposedAt >= h {
		return
	}
	p, err := s.w.chain.ProposerOf(n.state, h)
	if err != nil || p != n.addr {
		return
	}
	at := head.Time + s.cfg.Period
	if s.now < at {
		s.push(event{at: at, kind: evWake, node: n.id})
		return
	}
	n.proposedAt = h
	behave := s.cfg.Proposer[n.id-s.cfg.Validators]
	if behave == SilentProposer {
		return
	}
	txs := s.pool(n, h)
	b := s.build(n, head, txs)
	if b == nil {
		return
	}
	switch behave {
	case InvalidBlock:
		if s.rng.IntN(2) == 0 {
			b.Seal = make([]byte, ed25519.SignatureSize)
			b.Seal[0] = 1
			s.logf("proposer %d proposes %s at height %d with a forged seal", n.id, b.Hash().Short(), h)
		} else {
			// A transaction Build would leave out, under a good seal.
			bad := s.badTx(n)
			body, err := chain.DecodeBody(b.Body)
			if err != nil {
				panic(err)
			}
			if s.cfg.ForgedTxs {
				bad = s.forgedAfter(n, body)
			}
			body.Txs = append(body.Txs, chain.Marshal(bad))
			b.Body = chain.Marshal(body)
			b.Seal = ed25519.Sign(n.key, chain.SealBytes(b))
			s.logf("proposer %d proposes %s at height %d with an invalid transaction", n.id, b.Hash().Short(), h)
		}
	case TwoBlocks:
		// Another valid block: the pool in reverse order, one ms apart.
		for i, j := 0, len(txs)-1; i < j; i, j = i+1, j-1 {
			txs[i], txs[j] = txs[j], txs[i]
		}
		b2 := s.build(n, head, txs)
		if b2 == nil {
			return
		}
		if b2.Time < at+s.cfg.Timeout {
			b2.Time++
		} else {
			b2.Time--
		}
		b2.Seal = ed25519.Sign(n.key, chain.SealBytes(b2))
		for v := 0; v < s.cfg.Validators; v++ {
			blk := b
			if v%2 == 1 {
				blk = b2
			}
			s.deliverTo(n.id, v, lbft.Message{Type: lbft.MsgPreprepare, From: -1, To: v, Height: h, Value: blk.Hash(), Block: blk})
		}
		s.logf("proposer %d sends two blocks at height %d: %s and %s", n.id, h, b.Hash().Short(), b2.Hash().Short())
		return
	default:
		s.logf("proposer %d proposes %s at height %d", n.id, b.Hash().Short(), h)
	}
	n.core.Propose(s.now, b)
	rd := n.core.Ready()
	for _, m := range rd.Messages {
		m.From = -1
		s.route(n.id, m)
	}
}

// build makes and seals n's block on head from candidate transactions,
// as dpor/node's maybePropose: Build on the node's state, the timestamp
// within the window.
func (s *Sim) build(n *node, head *lbft.Block, txs []*chain.Tx) *lbft.Block {
	h := head.Height + 1
	s.w.chain.VerifyAll(txs, runtime.GOMAXPROCS(0))
	body, included, rejected, err := s.w.chain.Build(n.state, h, txs)
	if err != nil {
		s.fail("proposer %d cannot build block %d: %v", n.id, h, err)
		return nil
	}
	s.Stats.Rejected += len(rejected)
	at := head.Time + s.cfg.Period
	b := &lbft.Block{Height: h, Parent: head.Hash(), Time: min(max(at, s.now), at+s.cfg.Timeout),
		Proposer: n.key.Public().(ed25519.PublicKey), Body: body}
	b.Seal = ed25519.Sign(n.key, chain.SealBytes(b))
	s.logf("proposer %d builds block %d: %d transactions in, %d left out", n.id, h, len(included), len(rejected))
	return b
}

// pool is what a proposer's mempool offers for height h: up to three
// accounts' next transactions in nonce order (sometimes a conflicting
// twin or one that will fail when it runs, sometimes two in a row), and
// now and then an invalid transaction.
func (s *Sim) pool(n *node, h uint64) []*chain.Tx {
	st := chain.ReadState(n.state)
	var out []*chain.Tx
	first := s.rng.IntN(Accounts)
	for i := 0; i < 1+s.rng.IntN(3); i++ {
		a := (first + i) % Accounts
		acct, err := st.Account(s.w.acctAddr[a])
		if err != nil {
			panic(err)
		}
		nonce := int(acct.Nonce)
		kind := txTransfer
		switch s.rng.IntN(10) {
		case 0, 1:
			kind = txTwin
		case 2:
			kind = txNoFunds
		case 3:
			kind = txToSystem
		}
		out = append(out, s.tx(a, nonce, kind))
		if s.rng.IntN(3) == 0 {
			out = append(out, s.tx(a, nonce+1, txTransfer))
		}
	}
	if s.rng.IntN(3) == 0 {
		bad := s.badTx(n)
		out = slices.Insert(out, s.rng.IntN(len(out)+1), bad)
	}
	return out
}

// badTx is an invalid transaction of a random kind from a random
// account, at the account's nonce in n's state (so the check it fails is
// the one its kind names).
func (s *Sim) badTx(n *node) *chain.Tx {
	a := s.rng.IntN(Accounts)
	acct, err := chain.ReadState(n.state).Account(s.w.acctAddr[a])
	if err != nil {
		panic(err)
	}
	return s.tx(a, int(acct.Nonce), txKind(int(txBadSig)+s.rng.IntN(int(txKinds-txBadSig))))
}

// forgedAfter is a transaction with a forged signature from a random
// account, at the nonce that account has after body's transactions (so
// the signature is the only thing wrong with it there).
func (s *Sim) forgedAfter(n *node, body *chain.Body) *chain.Tx {
	a := s.rng.IntN(Accounts)
	acct, err := chain.ReadState(n.state).Account(s.w.acctAddr[a])
	if err != nil {
		panic(err)
	}
	nonce := int(acct.Nonce)
	for _, raw := range body.Txs {
		if tx, err := chain.DecodeTx(raw); err == nil && tx.Sender() == s.w.acctAddr[a] {
			nonce++
		}
	}
	return s.tx(a, nonce, txBadSig)
}

// tx is the workload's transaction (account a, nonce, kind), the same
// whenever it is asked for.
func (s *Sim) tx(a, nonce int, kind txKind) *chain.Tx {
	k := txKey{a, nonce, kind}
	if t, ok := s.w.txs[k]; ok {
		return t
	}
	var sd [32]byte
	binary.BigEndian.PutUint64(sd[:], s.w.seed)
	binary.BigEndian.PutUint64(sd[8:], uint64(a))
	binary.BigEndian.PutUint64(sd[16:], uint64(nonce))
	binary.BigEndian.PutUint64(sd[24:], uint64(kind))
	r := rand.New(rand.NewChaCha8(sd))
	to := (a + 1 + r.IntN(Accounts-1)) % Accounts
	t := &chain.Tx{Nonce: uint64(nonce), To: s.w.acctAddr[to], Amount: 1 + r.Uint64N(1000), Fee: 1 + r.Uint64N(3)}
	if kind == txTwin {
		t.Amount += 1000
	}
	switch kind {
	case txNoFunds:
		t.Amount = 10 * AccountFunds
	case txLowFee:
		t.Fee = 0
	case txFarNonce:
		t.Nonce += 1000
	case txToSystem:
		t.To = chain.CampaignAddress
	}
	t.Sign(chainID, s.w.accts[a])
	if kind == txBadSig {
		t.Amount++ // after signing
	}
	s.w.txs[k] = t
	return t
}
