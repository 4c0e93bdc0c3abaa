package bitcoin_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/bitcoin"
)

// opReturn spends output 0 of prev (paid to the node's key) into an
// OP_RETURN carrying payload and change back to the key.
func opReturn(t *testing.T, n *btcdtest.Node, prev *wire.MsgTx, payload []byte) *wire.MsgTx {
	t.Helper()
	return opReturnFrom(t, n, prev, 0, payload)
}

// opReturnFrom is opReturn spending output index of prev; the change is
// output 1 of the result.
func opReturnFrom(t *testing.T, n *btcdtest.Node, prev *wire.MsgTx, index uint32, payload []byte) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: index}, nil, nil))
	s, err := txscript.NullDataScript(payload)
	if err != nil {
		t.Fatal(err)
	}
	tx.AddTxOut(wire.NewTxOut(0, s))
	tx.AddTxOut(wire.NewTxOut(prev.TxOut[index].Value-10_000, n.Script))
	sig, err := txscript.SignatureScript(tx, 0, n.Script, txscript.SigHashAll, n.Key, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].SignatureScript = sig
	return tx
}

// firstOp mines 101 blocks, then an op spending the first block's coinbase
// in block 102, and returns the op and block 102's hash.
func firstOp(t *testing.T, n *btcdtest.Node, payload []byte) (*wire.MsgTx, []*chainhash.Hash) {
	t.Helper()
	hashes, err := n.Client.Generate(101)
	if err != nil {
		t.Fatal(err)
	}
	first, err := n.Client.GetBlock(hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	tx := opReturn(t, n, first.Transactions[0], payload)
	if _, err := n.Client.SendRawTransaction(tx, false); err != nil {
		t.Fatal(err)
	}
	mined, err := n.Client.Generate(1)
	if err != nil {
		t.Fatal(err)
	}
	return tx, mined
}

// TestSourceAgainstBtcd: blocks from a real btcd come out with the op's
// payload, sender and fee, and an engine following the node rolls back an
// invalidated block and applies the branch that replaces it.
func TestSourceAgainstBtcd(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	tx, mined := firstOp(t, n, []byte("id?hello"))

	src, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}, []byte("id"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	b, err := src.Block(ctx, 102)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Txs) != 1 || string(b.Txs[0].Payload) != "id?hello" || b.Txs[0].ID.String() != tx.TxHash().String() {
		t.Fatalf("block 102: %+v", b.Txs)
	}
	if s := b.Txs[0].Senders; len(s) != 1 || s[0].Address != n.Address.EncodeAddress() || len(s[0].PubKey) != 33 {
		t.Fatalf("senders %+v", s)
	}
	if b.Txs[0].Fee != 10_000 || b.Hash.String() != mined[0].String() {
		t.Fatalf("fee %d, hash %s", b.Txs[0].Fee, b.Hash)
	}

	// An engine (the pass-through app from height 100) follows the node.
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rolled []engine.RollbackEvent
	e, err := engine.Open(db, passthrough.New(100), engine.Config{OnRollback: func(ev engine.RollbackEvent) { rolled = append(rolled, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.Record(102)
	if e.Height() != 102 || rec.Accepted != 1 {
		t.Fatalf("engine at %d, block 102 accepted %d ops", e.Height(), rec.Accepted)
	}
	// Invalidate block 102: its transaction goes back to the mempool and
	// the next two blocks form the new branch.
	if err := c.InvalidateBlock(mined[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(2); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if len(rolled) != 1 || rolled[0].ForkHeight != 101 || e.Height() != 103 {
		t.Fatalf("rollbacks %+v, height %d", rolled, e.Height())
	}
	newHash, _ := e.HashAt(102)
	if newHash.String() == mined[0].String() {
		t.Fatal("block 102 is still the invalidated one")
	}
	rec, _ = e.Record(102)
	if rec.Accepted != 1 {
		t.Fatalf("the replacement block 102 holds %d ops; the transaction should be mined again", rec.Accepted)
	}
}

// TestSubmitter: ops funded from a key get mined and decoded; clear errors
// for a payload too large, a key without coins and a malformed key.
func TestSubmitter(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	if _, err := c.Generate(102); err != nil {
		t.Fatal(err)
	}
	sub, err := bitcoin.NewSubmitterKey(c, btcdtest.Params, n.Key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := bitcoin.NewSubmitterKey(c, btcdtest.Params, mustKey(t, 9))
	h1, err := sub.Submit([]byte("id?first"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := sub.Submit([]byte("id:second"), other.Script())
	if err != nil {
		t.Fatalf("a second op spending the first one's change: %v", err)
	}
	if _, err := c.Generate(1); err != nil {
		t.Fatal(err)
	}
	src, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}, []byte("id"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b, err := src.Block(context.Background(), 103)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tx := range b.Txs {
		got[tx.ID.String()] = string(tx.Payload)
		if tx.Senders[0].Address != sub.Address().EncodeAddress() {
			t.Fatalf("sender %s", tx.Senders[0].Address)
		}
	}
	if got[h1.String()] != "id?first" || got[h2.String()] != "id:second" {
		t.Fatalf("mined ops %v", got)
	}
	for _, tx := range b.Txs {
		if tx.ID.String() == h2.String() && tx.Outputs[1].Address != other.Address().EncodeAddress() {
			t.Fatalf("the recipient output is %s", tx.Outputs[1].Address)
		}
	}
	if _, err := sub.Submit(make([]byte, 81), nil); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("81-byte payload: %v", err)
	}
	if _, err := other.Submit([]byte("id?x"), nil); !errors.Is(err, bitcoin.ErrInsufficientFunds) {
		t.Fatalf("a key without coins: %v", err)
	}
	if _, err := bitcoin.NewSubmitter(c, btcdtest.Params, "not-a-key"); err == nil || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("malformed key: %v", err)
	}
}

func mustKey(t *testing.T, seed byte) *btcec.PrivateKey {
	k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	return k
}

// TestBlocksMatchesBlock: fetching a run of blocks in parallel gives
// exactly the blocks fetched one at a time, in order.
func TestBlocksMatchesBlock(t *testing.T) {
	n := btcdtest.Start(t)
	if _, err := n.Client.Generate(150); err != nil {
		t.Fatal(err)
	}
	sub, _ := bitcoin.NewSubmitterKey(n.Client, btcdtest.Params, n.Key)
	for i := 0; i < 5; i++ {
		if _, err := sub.Submit([]byte("id?"+string(rune('a'+i))), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Client.Generate(3); err != nil {
		t.Fatal(err)
	}
	for _, noWS := range []bool{false, true} {
		name := map[bool]string{false: "websocket", true: "http-batches"}[noWS]
		t.Run(name, func(t *testing.T) { testBlocksMatchesBlock(t, n, noWS) })
	}
}

func testBlocksMatchesBlock(t *testing.T, n *btcdtest.Node, noWS bool) {
	src, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params, Parallel: 4, NoWebsocket: noWS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	// Runs start short and grow: collect prefixes until the range is done.
	var all []*tape.Block
	calls := 0
	for int64(len(all)) < 154 {
		bs, err := src.Blocks(ctx, int64(len(all)), 153)
		if err != nil || len(bs) == 0 {
			t.Fatalf("Blocks from %d: %d blocks, %v", len(all), len(bs), err)
		}
		all = append(all, bs...)
		calls++
	}
	if len(all) != 154 || calls < 2 || calls > 8 {
		t.Fatalf("Blocks: %d blocks in %d calls; want 154 in a few growing runs", len(all), calls)
	}
	ops := 0
	for h, b := range all {
		one, err := src.Block(ctx, int64(h))
		if err != nil {
			t.Fatal(err)
		}
		if b.Height != int64(h) || b.Hash != one.Hash || b.Parent != one.Parent || len(b.Txs) != len(one.Txs) {
			t.Fatalf("block %d differs between Blocks and Block", h)
		}
		ops += len(b.Txs)
	}
	if ops != 5 {
		t.Fatalf("%d OP_RETURN transactions, want 5", ops)
	}
	part, err := src.Blocks(ctx, 150, 160)
	if len(part) != 4 || err != nil {
		t.Fatalf("a run past the tip: %d blocks, %v; want the 4 that exist", len(part), err)
	}
	if _, err := src.Blocks(ctx, 154, 160); !errors.Is(err, tape.ErrNotFound) {
		t.Fatalf("a run above the tip: %v, want tape.ErrNotFound", err)
	}

	// A memory budget smaller than one block: after the first run, which
	// learns the block size, every run is one block.
	tight, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params, FetchBytes: 1, Batches: 1, NoWebsocket: noWS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tight.Close()
	first, err := tight.Blocks(ctx, 0, 153)
	if err != nil || len(first) != 4 {
		t.Fatalf("first run: %d blocks, %v; want 4", len(first), err)
	}
	for h := int64(4); h < 20; h++ {
		bs, err := tight.Blocks(ctx, h, 153)
		if err != nil || len(bs) != 1 || bs[0].Hash != all[h].Hash {
			t.Fatalf("run at %d under a 1-byte budget: %d blocks, %v; want block %d alone", h, len(bs), err, h)
		}
	}
}

// TestSourceSurvivesNodeRestart: a source whose connections to the node
// broke (btcd went down and came back) connects again on its next calls,
// for the tip, headers and runs of blocks alike. (btcd wipes a regtest
// chain when it starts, so the chain after the restart is a new one.)
func TestSourceSurvivesNodeRestart(t *testing.T) {
	n := btcdtest.Start(t)
	if _, err := n.Client.Generate(20); err != nil {
		t.Fatal(err)
	}
	src, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if bs, err := src.Blocks(ctx, 1, 20); err != nil || len(bs) == 0 {
		t.Fatalf("before the restart: %d blocks, %v", len(bs), err)
	}
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Client.Generate(12); err != nil {
		t.Fatal(err)
	}
	var tip int64
	for try := 0; try < 2; try++ { // the first call may meet the broken connection
		if tip, err = src.Tip(ctx); err == nil {
			break
		}
	}
	if err != nil || tip != 12 {
		t.Fatalf("tip after the restart: %d, %v", tip, err)
	}
	want, _ := n.Client.GetBlockHash(5)
	hdr, err := src.Header(ctx, 5)
	if err != nil || hdr.Hash.String() != want.String() {
		t.Fatalf("header 5 after the restart: %s, %v; want %s", hdr.Hash, err, want)
	}
	var got []*tape.Block
	for h := int64(1); h <= 12; {
		bs, err := src.Blocks(ctx, h, 12)
		if err != nil {
			t.Fatalf("blocks from %d after the restart: %v", h, err)
		}
		got = append(got, bs...)
		h += int64(len(bs))
	}
	for i, b := range got {
		want, _ := n.Client.GetBlockHash(int64(i + 1))
		if b.Hash.String() != want.String() {
			t.Fatalf("block %d after the restart: %s, want %s", i+1, b.Hash, want)
		}
	}
}

// TestChainedOpsNeedNoLookup: an op that spends the change of an op the
// source has already read (a register after its preorder) finds the
// spent output in the source's cache, without asking the node.
func TestChainedOpsNeedNoLookup(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	op1, _ := firstOp(t, n, []byte("id?one"))
	src, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}, []byte("id"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	bs, err := src.Blocks(ctx, 102, 102)
	if err != nil || len(bs) != 1 || len(bs[0].Txs) != 1 {
		t.Fatalf("block 102: %v", err)
	}
	if got := src.Lookups(); got != 1 {
		t.Fatalf("%d lookups for the first op, want 1 (the coinbase it spends)", got)
	}
	op2 := opReturnFrom(t, n, op1, 1, []byte("id?two"))
	if _, err := c.SendRawTransaction(op2, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(1); err != nil {
		t.Fatal(err)
	}
	bs, err = src.Blocks(ctx, 103, 103)
	if err != nil || len(bs) != 1 || len(bs[0].Txs) != 1 {
		t.Fatalf("block 103: %v", err)
	}
	tx := bs[0].Txs[0]
	if len(tx.Senders) != 1 || tx.Senders[0].Value != op1.TxOut[1].Value || tx.Fee != 10_000 {
		t.Fatalf("the second op's sender and fee: %+v, fee %d", tx.Senders, tx.Fee)
	}
	if got := src.Lookups(); got != 1 {
		t.Fatalf("%d lookups after the second op, want still 1: it spends the first op's change", got)
	}
}
