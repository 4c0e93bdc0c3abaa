package chain_test

import (
	"crypto/ed25519"
	"strconv"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
)

func signedTxs(n int) []*chain.Tx {
	txs := make([]*chain.Tx, n)
	for i := range txs {
		tx := &chain.Tx{Nonce: uint64(i), To: addr(1), Amount: 1, Fee: 1}
		tx.Sign("bench", key(30+i%8))
		txs[i] = tx
	}
	return txs
}

// BenchmarkVerifyOne checks transaction signatures one at a time.
//
//	go test -run XXX -bench Verify ./dpor/chain
func BenchmarkVerifyOne(b *testing.B) {
	txs := signedTxs(256)
	for b.Loop() {
		for _, tx := range txs {
			if tx.CheckSignature("bench") != nil {
				b.Fatal("bad signature")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs))/1000, "µs/sig")
}

// BenchmarkVerifyBatch checks the same signatures in one batch on one
// goroutine, as a block's are checked (a fresh chain each time, so
// nothing is cached).
func BenchmarkVerifyBatch(b *testing.B) {
	for _, n := range []int{16, 32, 64, 128, 256, 512, 1024} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			txs := signedTxs(n)
			g := &chain.Genesis{ChainID: "bench"}
			for b.Loop() {
				c := chain.New(g)
				c.VerifyAll(txs, 1)
				if !c.IsVerified(txs[n-1].Hash()) {
					b.Fatal("a good signature was refused")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs))/1000, "µs/sig")
		})
	}
}

// blockOf builds, on a fresh harness, a sealed block of n transfers from
// 64 funded senders (its state untouched), for the per-block benchmarks.
func blockOf(b *testing.B, n int) (*harness, *lbft.Block, []*chain.Tx) {
	g := testGenesis()
	var txs []*chain.Tx
	for i := 0; i < 64; i++ {
		g.Balances[addr(40+i)] = 1 << 40
	}
	h := newHarnessWith(b, g)
	for i := 0; i < n; i++ {
		txs = append(txs, h.tx(40+i%64, addr(1), 1, nil))
	}
	body, included, rejected, err := h.c.Build(h.st, 1, txs)
	if err != nil || len(rejected) != 0 || len(included) != n {
		b.Fatalf("build: %v, %d rejected", err, len(rejected))
	}
	p, _ := h.c.ProposerOf(h.st, 1)
	k := -1
	for i := 0; i < 40; i++ {
		if addr(i) == p {
			k = i
		}
	}
	blk := &lbft.Block{Height: 1, Parent: h.head.Hash(), Time: h.head.Time + 100, Proposer: key(k).Public().(ed25519.PublicKey), Body: body}
	blk.Seal = ed25519.Sign(key(k), chain.SealBytes(blk))
	return h, blk, txs
}

// BenchmarkValidateBlock is a validator's check of a 2,000-transfer
// block it has never seen (no signature cached): decode, batch-verify on
// every core, apply on an overlay.
//
//	go test -run XXX -bench Block ./dpor/chain
func BenchmarkValidateBlock(b *testing.B) {
	h, blk, _ := blockOf(b, 2000)
	for b.Loop() {
		c := chain.New(h.c.G)
		if _, _, err := c.TryProposal(h.st, blk, h.head); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000)/1000, "µs/tx")
}

// BenchmarkApplyFinalBlock is a non-validating node's application of a
// certified 2,000-transfer block.
func BenchmarkApplyFinalBlock(b *testing.B) {
	h, blk, _ := blockOf(b, 2000)
	for b.Loop() {
		o := chain.NewOverlay(h.st)
		if _, err := h.c.ApplyFinal(o, blk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000)/1000, "µs/tx")
}

// BenchmarkBuildBlock is a proposer's building of a 2,000-transfer block
// from transactions whose signatures it checked on admission.
func BenchmarkBuildBlock(b *testing.B) {
	h, _, txs := blockOf(b, 2000)
	h.c.VerifyAll(txs, 1)
	for b.Loop() {
		if _, _, _, err := h.c.Build(h.st, 1, txs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000)/1000, "µs/tx")
}
