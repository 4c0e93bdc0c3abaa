package comet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	tapedpor "github.com/vchain-dev/vchain/tape/dpor"
	"github.com/vchain-dev/vchain/vchash"
)

const testChain = "vchain-comet-test"

// testApp is an App over the names application in dir.
type testApp struct {
	*App
	db *store.DB
}

func openApp(t testing.TB, dir string) *testApp {
	t.Helper()
	return openAppWith(t, dir, nil)
}

// openAppWith is openApp with options tune sets.
func openAppWith(t testing.TB, dir string, tune func(*Options, *store.DB)) *testApp {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(db, names.New(names.Options{}), engine.Config{})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	o := Options{ChainID: testChain}
	if tune != nil {
		tune(&o, db)
	}
	a, err := New(eng, o)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	ta := &testApp{App: a, db: db}
	t.Cleanup(func() { ta.close() })
	info, err := ta.Info(context.Background(), &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight == 0 {
		// As CometBFT does on a chain's first start (and again after a
		// crash before block 1 committed).
		if _, err := ta.InitChain(context.Background(), &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: time.Unix(1_700_000_000, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	return ta
}

func (ta *testApp) close() {
	if ta.db != nil {
		ta.App.Close()
		ta.db.Close()
		ta.db = nil
	}
}

// signer makes a user's signed transactions with consecutive nonces.
type signer struct {
	key   ed25519.PrivateKey
	nonce uint64
}

func newSigner(seed byte) *signer {
	return &signer{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))}
}

func (s *signer) script() []byte {
	a := chain.AddressOf(s.key.Public().(ed25519.PublicKey))
	return a[:]
}

func (s *signer) tx(t testing.TB, payload []byte) []byte {
	t.Helper()
	tx := &chain.Tx{Nonce: s.nonce, To: chain.AddressOf(s.key.Public().(ed25519.PublicKey)), Data: payload}
	tx.Sign(testChain, s.key)
	s.nonce++
	return chain.Marshal(tx)
}

func (ta *testApp) block(t testing.TB, h int64, txs ...[]byte) *abci.ResponseFinalizeBlock {
	t.Helper()
	ctx := context.Background()
	resp, err := ta.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Txs: txs, Time: time.Unix(1_700_000_000+h, 0), Hash: bytes.Repeat([]byte{byte(h)}, 32)})
	if err != nil {
		t.Fatalf("block %d: %v", h, err)
	}
	if _, err := ta.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatalf("commit %d: %v", h, err)
	}
	return resp
}

// TestSameConsensusHashesAsDPoR: a stream of names ops, carried as the
// same signed transactions in blocks of the same heights, gives the same
// consensus hash and state commitment per block through the ABCI
// application as through the DPoR chain's tape (the blocks' hashes and
// everything else about the two chains differ).
func TestSameConsensusHashesAsDPoR(t *testing.T) {
	ca := openApp(t, t.TempDir())
	ddb, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ddb.Close()
	dpor, err := engine.Open(ddb, names.New(names.Options{}), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Block 0 is the DPoR chain's genesis; InitChain gave the CometBFT
	// side an empty block 0 too.
	g, err := tapedpor.DecodeBlock(&lbft.Block{Height: 0, Time: 1_700_000_000_000}, []byte(names.Magic))
	if err != nil {
		t.Fatal(err)
	}
	if err := dpor.ApplyBlock(g, -1); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	users := []*signer{newSigner(1), newSigner(2), newSigner(3)}
	type pendingReg struct {
		u    *signer
		name string
		salt []byte
	}
	var regs []pendingReg
	ops := 0
	for h := int64(1); h <= 40; h++ {
		var txs [][]byte
		for _, r := range regs { // registers for last block's preorders
			p, err := names.RegisterPayload(r.name, r.salt, nil)
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, r.u.tx(t, p))
		}
		regs = nil
		ch, _ := dpor.Consensus()
		for i := 0; i < rng.IntN(4); i++ {
			u := users[rng.IntN(len(users))]
			name := fmt.Sprintf("n%d-%d.test", h, i)
			salt := []byte{byte(h), byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
			p, err := names.PreorderPayload(name, salt, u.script(), ch)
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, u.tx(t, p))
			regs = append(regs, pendingReg{u, name, salt})
		}
		ops += len(txs)
		// The DPoR path: a final block's body, decoded as the runner does.
		body := chain.Marshal(&chain.Body{Txs: txs})
		tb, err := tapedpor.DecodeBlock(&lbft.Block{Height: uint64(h), Parent: lbft.Hash{byte(h - 1), 9}, Time: (1_700_000_000 + h) * 1000, Body: body}, []byte(names.Magic))
		if err != nil {
			t.Fatal(err)
		}
		tb.Parent = vchash.Hash{}
		if err := dpor.ApplyBlock(tb, -1); err != nil {
			t.Fatal(err)
		}
		// The CometBFT path.
		resp := ca.block(t, h, txs...)
		for i, r := range resp.TxResults {
			if r.Code != 0 {
				t.Fatalf("block %d tx %d: code %d %s", h, i, r.Code, r.Log)
			}
		}
		want, _ := dpor.Record(h)
		wch, wst, _, err := SplitAppHash(resp.AppHash)
		if err != nil {
			t.Fatal(err)
		}
		if wch != want.Consensus || wst != want.State {
			t.Fatalf("block %d: on CometBFT consensus %s state %s, on DPoR %s %s", h, wch, wst, want.Consensus, want.State)
		}
	}
	if ops < 40 {
		t.Fatalf("only %d ops in the stream", ops)
	}
	accepted := 0
	for h := int64(1); h <= 40; h++ {
		r, _ := dpor.Record(h)
		accepted += int(r.Accepted)
	}
	if accepted < ops/2 {
		t.Fatalf("only %d of %d ops accepted: the stream tests little", accepted, ops)
	}
}

// TestTransactionsAreChecked: CheckTx keeps out what decodes badly, is
// signed badly or for another chain, carries another application's payload
// or a nonce out of turn; a block that carries them anyway (a hostile
// proposer) gives them a failing result and no op, and a replayed
// transaction does not run twice.
func TestTransactionsAreChecked(t *testing.T) {
	ctx := context.Background()
	ta := openApp(t, t.TempDir())
	u := newSigner(7)
	ch, _ := ta.eng.Consensus() // block 0's: fresh
	p, err := names.PreorderPayload("a.test", make([]byte, 16), u.script(), ch)
	if err != nil {
		t.Fatal(err)
	}
	good := u.tx(t, p)
	next := u.tx(t, p)
	gap := (&signer{key: u.key, nonce: 5}).tx(t, p)
	forged := bytes.Clone(good)
	forged[len(forged)-1] ^= 1
	other := &chain.Tx{To: chain.Address{1}, Data: p}
	other.Sign("another-chain", u.key)
	foreign := newSigner(8).tx(t, []byte("not a names payload"))
	cases := []struct {
		name string
		tx   []byte
		code uint32
	}{
		{"garbage", []byte{0xff, 0x00}, CodeMalformed},
		{"a forged signature", forged, CodeMalformed},
		{"signed for another chain", chain.Marshal(other), CodeMalformed},
		{"another application's payload", foreign, CodeNotForApp},
		{"a nonce gap", gap, CodeNonce},
		{"too large", make([]byte, MaxTxBytes+1), CodeMalformed},
		{"the next nonce", good, 0},
		{"the one after, pending", next, 0},
		{"the same again", good, CodeNonce},
	}
	for _, c := range cases {
		resp, err := ta.CheckTx(ctx, &abci.RequestCheckTx{Tx: c.tx})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.Code != c.code {
			t.Fatalf("%s: code %d (%s), want %d", c.name, resp.Code, resp.Log, c.code)
		}
	}
	// A hostile proposer's block carries everything; a register of a name
	// nobody preordered is included, its nonce used, and refused by the
	// application.
	rp, err := names.RegisterPayload("never.test", make([]byte, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := u.tx(t, rp)
	resp := ta.block(t, 1, []byte{0xff}, forged, good, good, gap, foreign, next, reg)
	// The second preorder of the same hash and the register are refused
	// by the application: each result is on its own transaction.
	codes := []uint32{CodeMalformed, CodeMalformed, 0, CodeNonce, CodeNonce, CodeNotForApp, CodeRejected, CodeRejected}
	for i, r := range resp.TxResults {
		if r.Code != codes[i] {
			t.Fatalf("block 1 tx %d: code %d (%s), want %d", i, r.Code, r.Log, codes[i])
		}
	}
	if l := resp.TxResults[6].Log; !strings.Contains(l, "already pending") {
		t.Fatalf("the second preorder's reason: %q", l)
	}
	if l := resp.TxResults[7].Log; !strings.Contains(l, "never.test") && !strings.Contains(l, "preorder") {
		t.Fatalf("the register's reason: %q", l)
	}
	if rec, _ := ta.eng.Record(1); rec.Candidates != 3 {
		t.Fatalf("block 1: %d candidate ops, want the three with good nonces", rec.Candidates)
	}
	// Used nonces are refused at the mempool's door.
	if resp, _ := ta.CheckTx(ctx, &abci.RequestCheckTx{Tx: good}); resp.Code != CodeNonce {
		t.Fatalf("a used nonce: CheckTx code %d", resp.Code)
	}
	// Replayed in a later block: refused by nonce, no op.
	resp = ta.block(t, 2, good, next, reg)
	for i, r := range resp.TxResults {
		if r.Code != CodeNonce {
			t.Fatalf("replay, tx %d: code %d, want %d", i, r.Code, CodeNonce)
		}
	}
	if rec, _ := ta.eng.Record(2); rec.Candidates != 0 {
		t.Fatalf("replayed transactions made %d candidate ops", rec.Candidates)
	}
}

// TestCrashBetweenFinalizeAndCommit: a block finalized but not committed
// when the process dies is not there after a restart: Info reports the
// block before, with its AppHash, and the block applied again gives the
// same AppHash. A block committed is there with its AppHash.
func TestCrashBetweenFinalizeAndCommit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "app")
	ta := openApp(t, dir)
	u := newSigner(3)
	var txs [][]byte
	for i := 0; i < 3; i++ {
		p, _ := names.PreorderPayload(fmt.Sprintf("c%d.test", i), make([]byte, 16), u.script(), vchash.ConsensusHash{})
		txs = append(txs, u.tx(t, p))
	}
	first := ta.block(t, 1, txs[0])
	req := &abci.RequestFinalizeBlock{Height: 2, Txs: txs[1:], Time: time.Unix(1_700_000_002, 0), Hash: bytes.Repeat([]byte{2}, 32)}
	staged, err := ta.FinalizeBlock(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ta.close() // the process dies before Commit

	ta = openApp(t, dir)
	info, err := ta.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight != 1 || !bytes.Equal(info.LastBlockAppHash, first.AppHash) {
		t.Fatalf("after the crash Info says height %d app hash %x; want 1, %x", info.LastBlockHeight, info.LastBlockAppHash, first.AppHash)
	}
	again, err := ta.FinalizeBlock(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.AppHash, staged.AppHash) {
		t.Fatalf("block 2 applied again: app hash %x, first time %x", again.AppHash, staged.AppHash)
	}
	if _, err := ta.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	ta.close()
	ta = openApp(t, dir)
	if info, _ := ta.Info(ctx, &abci.RequestInfo{}); info.LastBlockHeight != 2 || !bytes.Equal(info.LastBlockAppHash, staged.AppHash) {
		t.Fatalf("after commit and restart: height %d app hash %x", info.LastBlockHeight, info.LastBlockAppHash)
	}
	// A block that does not follow is an error, not a skip.
	if _, err := ta.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 4}); err == nil {
		t.Fatal("block 4 after block 2 was accepted")
	}
}

// TestQueryDoesNotWaitForABlock: Query answers from committed state while
// the consensus connection holds its lock (a block being executed).
func TestQueryDoesNotWaitForABlock(t *testing.T) {
	ctx := context.Background()
	ta := openApp(t, t.TempDir())
	u := newSigner(4)
	p, _ := names.PreorderPayload("q.test", make([]byte, 16), u.script(), vchash.ConsensusHash{})
	ta.block(t, 1, u.tx(t, p))
	ta.mu.Lock()
	done := make(chan *abci.ResponseQuery, 1)
	go func() {
		resp, _ := ta.Query(ctx, &abci.RequestQuery{Path: QueryStatus})
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp.Code != 0 || resp.Height != 1 || !bytes.Contains(resp.Value, []byte(`"height":1`)) {
			t.Fatalf("status: %+v %s", resp, resp.Value)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Query waited for the consensus connection's lock")
	}
	ta.mu.Unlock()
	addr := chain.AddressOf(u.key.Public().(ed25519.PublicKey))
	resp, _ := ta.Query(ctx, &abci.RequestQuery{Path: QueryNonce, Data: []byte(fmt.Sprintf("%x", addr[:]))})
	if string(resp.Value) != "1" {
		t.Fatalf("nonce query: %+v", resp)
	}
	if resp, _ := ta.Query(ctx, &abci.RequestQuery{Path: "/nope"}); resp.Code == 0 {
		t.Fatal("an unknown path answered OK")
	}
}

// TestPrepareProposalOrdersNonces: the proposer's block takes each
// sender's transactions in nonce order from its committed nonce, without
// gaps or repeats, senders in the order of their first transaction; what
// is out of turn stays out.
func TestPrepareProposalOrdersNonces(t *testing.T) {
	ctx := context.Background()
	ta := openApp(t, t.TempDir())
	u, v := newSigner(1), newSigner(2)
	p, _ := names.PreorderPayload("o.test", make([]byte, 16), u.script(), vchash.ConsensusHash{})
	u0, u1, u2 := u.tx(t, p), u.tx(t, p), u.tx(t, p)
	u.nonce = 5
	u5 := u.tx(t, p)
	v0 := v.tx(t, p)
	v0dup := (&signer{key: v.key}).tx(t, append(bytes.Clone(p), 0)) // nonce 0 again, other bytes
	resp, err := ta.PrepareProposal(ctx, &abci.RequestPrepareProposal{Txs: [][]byte{u2, v0, u0, []byte{0xff}, u1, u5, v0dup}, MaxTxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{u0, u1, u2, v0}
	if len(resp.Txs) != len(want) {
		t.Fatalf("proposal of %d transactions, want %d", len(resp.Txs), len(want))
	}
	for i := range want {
		if !bytes.Equal(resp.Txs[i], want[i]) {
			t.Fatalf("proposal transaction %d is not the expected one", i)
		}
	}
	// Applied, every one of them is an op of the block.
	fin := ta.block(t, 1, resp.Txs...)
	for i, r := range fin.TxResults {
		if r.Code != 0 && r.Code != CodeRejected {
			t.Fatalf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	// The byte limit holds.
	v1 := v.tx(t, p)
	resp, _ = ta.PrepareProposal(ctx, &abci.RequestPrepareProposal{Txs: [][]byte{v1}, MaxTxBytes: int64(len(v1))})
	if len(resp.Txs) != 1 {
		t.Fatal("v's next transaction is not proposed")
	}
	resp, _ = ta.PrepareProposal(ctx, &abci.RequestPrepareProposal{Txs: [][]byte{v1}, MaxTxBytes: int64(len(v1) - 1)})
	if len(resp.Txs) != 0 {
		t.Fatal("a proposal past MaxTxBytes")
	}
}

// TestNonceCommitment: the AppHash's third part is the LtHash of every
// sender's next nonce, as this test computes it from scratch, after each
// block and after a restart.
func TestNonceCommitment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ta := openApp(t, dir)
	users := []*signer{newSigner(1), newSigner(2), newSigner(3)}
	p, _ := names.PreorderPayload("x.test", make([]byte, 16), users[0].script(), vchash.ConsensusHash{})
	next := map[chain.Address]uint64{}
	fromScratch := func() lthash.Digest {
		var lt lthash.Hash
		for a, n := range next {
			v := binary.BigEndian.AppendUint64(nil, n)
			lt.Add(append([]byte("n/"), a[:]...), v)
		}
		return lt.Sum()
	}
	var last []byte
	for h := int64(1); h <= 6; h++ {
		var txs [][]byte
		for i, u := range users {
			if (int(h)+i)%2 == 0 {
				continue
			}
			txs = append(txs, u.tx(t, p))
			next[chain.AddressOf(u.key.Public().(ed25519.PublicKey))] = u.nonce
		}
		resp := ta.block(t, h, txs...)
		_, _, nd, err := SplitAppHash(resp.AppHash)
		if err != nil {
			t.Fatal(err)
		}
		if nd != fromScratch() {
			t.Fatalf("block %d: nonce commitment %s, from scratch %s", h, nd, fromScratch())
		}
		last = resp.AppHash
	}
	ta.close()
	ta = openApp(t, dir)
	info, err := ta.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.LastBlockAppHash, last) {
		t.Fatalf("after a restart Info's app hash %x, before %x", info.LastBlockAppHash, last)
	}
}

// TestPendingNoncesAcrossBlocks: after each block the mempool's view of
// pending nonces is rebuilt by CometBFT's recheck, in mempool order, by
// the rule new transactions meet: what a block used goes, and so does
// what lost its predecessor: a hostile proposer that takes a sender's
// later transaction without the earlier one (CometBFT drops it from every
// mempool though it fails) cannot lock the sender out.
func TestPendingNoncesAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	ta := openApp(t, t.TempDir())
	u := newSigner(4)
	p, _ := names.PreorderPayload("r.test", make([]byte, 16), u.script(), vchash.ConsensusHash{})
	u0, u1, u2 := u.tx(t, p), u.tx(t, p), u.tx(t, p)
	check := func(tx []byte, recheck bool) uint32 {
		t.Helper()
		req := &abci.RequestCheckTx{Tx: tx}
		if recheck {
			req.Type = abci.CheckTxType_Recheck
		}
		resp, err := ta.CheckTx(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Code
	}
	for i, tx := range [][]byte{u0, u1, u2} {
		if c := check(tx, false); c != 0 {
			t.Fatalf("u%d: code %d", i, c)
		}
	}
	// A hostile block takes u1 alone: it fails on its nonce, and
	// CometBFT drops it from the mempool.
	if r := ta.block(t, 1, u1); r.TxResults[0].Code != CodeNonce {
		t.Fatalf("u1 without u0: code %d", r.TxResults[0].Code)
	}
	// The recheck of what is left: u0 stays, u2 lost its predecessor.
	if c := check(u0, true); c != 0 {
		t.Fatalf("u0 rechecked: code %d", c)
	}
	if c := check(u2, true); c != CodeNonce {
		t.Fatalf("u2 rechecked without u1 in the mempool: code %d", c)
	}
	// The sender sends u1 and u2 again, and they go through.
	if c := check(u1, false); c != 0 {
		t.Fatalf("u1 again: code %d", c)
	}
	if c := check(u2, false); c != 0 {
		t.Fatalf("u2 again: code %d", c)
	}
	from := chain.AddressOf(u.key.Public().(ed25519.PublicKey))
	if _, pending, _ := ta.PendingNonce(from); pending != 3 {
		t.Fatalf("pending nonce %d, want 3", pending)
	}
	r := ta.block(t, 2, u0, u1, u2)
	for i, res := range r.TxResults {
		if res.Code != 0 && res.Code != CodeRejected {
			t.Fatalf("block 2 tx %d: code %d %s", i, res.Code, res.Log)
		}
	}
	if c := check(u2, true); c != CodeNonce {
		t.Fatalf("u2 rechecked after a block used it: code %d", c)
	}
}
