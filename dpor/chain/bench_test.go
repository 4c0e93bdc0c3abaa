package chain_test

import (
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
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
	txs := signedTxs(256)
	g := &chain.Genesis{ChainID: "bench"}
	for b.Loop() {
		c := chain.New(g)
		c.VerifyAll(txs, 1)
		if !c.IsVerified(txs[255].Hash()) {
			b.Fatal("a good signature was refused")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs))/1000, "µs/sig")
}
