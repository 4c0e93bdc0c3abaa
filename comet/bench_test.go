package comet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
)

// BenchmarkFinalizeContracts: blocks of 1,000 signed calls of a counter
// contract through FinalizeBlock and Commit, the per-node work of
// vchain bench dpor's vchain+Comet row. The figure is per call.
func BenchmarkFinalizeContracts(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.Open(db, host.NewChainApp(contract.Limits{}), engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(eng, Options{ChainID: testChain})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1}); err != nil {
		b.Fatal(err)
	}
	deployer := &signer{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))}
	create := &chain.Tx{To: chain.AddressOf(deployer.key.Public().(ed25519.PublicKey)), Data: host.CreatePayload("exports.count = 0\nexports.inc = async () => ++exports.count\n")}
	create.Sign(testChain, deployer.key)
	h := int64(1)
	apply := func(txs [][]byte) {
		resp, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Txs: txs, Time: time.Unix(1_700_000_000+h, 0), Hash: bytes.Repeat([]byte{byte(h)}, 32)})
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range resp.TxResults {
			if r.Code != 0 {
				b.Fatalf("block %d tx %d: %d %s", h, i, r.Code, r.Log)
			}
		}
		if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
			b.Fatal(err)
		}
		h++
	}
	apply([][]byte{chain.Marshal(create)})
	ch := create.Hash()
	call := host.CallPayload(hex.EncodeToString(ch[:]), "inc", json.RawMessage("[]"))
	senders := make([]*signer, 1000)
	for i := range senders {
		senders[i] = &signer{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i), byte(i >> 8), 7}, 11)[:32])}
	}
	sign := func() [][]byte {
		txs := make([][]byte, len(senders))
		for i, s := range senders {
			tx := &chain.Tx{Nonce: s.nonce, To: chain.AddressOf(s.key.Public().(ed25519.PublicKey)), Data: call}
			tx.Sign(testChain, s.key)
			s.nonce++
			txs[i] = chain.Marshal(tx)
		}
		return txs
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += len(senders) {
		b.StopTimer()
		txs := sign()
		b.StartTimer()
		apply(txs)
	}
}

// BenchmarkStateSync: a node catching up with 100 blocks of 100 names
// preorders each, by restoring the snapshot of block 100 (restore:
// OfferSnapshot and every chunk through ApplySnapshotChunk, all checks
// included) or by applying the blocks (replay: FinalizeBlock and Commit,
// signatures checked). The figure is per catch-up.
func BenchmarkStateSync(b *testing.B) {
	const blocks = 100
	src, txs, hashes := snapshotChain(b, blocks, 100, blocks)
	sn := waitSnapshot(b, src.App, blocks)
	chunks := chunksOf(b, src.App, sn)
	var size int
	for _, c := range chunks {
		size += len(c)
	}
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(int64(size))
		for b.Loop() {
			b.StopTimer()
			dst := openApp(b, b.TempDir())
			b.StartTimer()
			if r := offerSnap(b, dst.App, sn, hashes[blocks]); r != abci.ResponseOfferSnapshot_ACCEPT {
				b.Fatal(r)
			}
			if i, resp := applyAll(b, dst.App, chunks); i != len(chunks)-1 || resp.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
				b.Fatal(i, resp)
			}
			b.StopTimer()
			dst.close()
			b.StartTimer()
		}
	})
	b.Run("replay", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dst := openApp(b, b.TempDir())
			b.StartTimer()
			for h := int64(1); h <= blocks; h++ {
				dst.block(b, h, txs[h]...)
			}
			b.StopTimer()
			if info, _ := dst.Info(context.Background(), &abci.RequestInfo{}); !bytes.Equal(info.LastBlockAppHash, hashes[blocks]) {
				b.Fatal("the replay ended elsewhere")
			}
			dst.close()
			b.StartTimer()
		}
	})
}
