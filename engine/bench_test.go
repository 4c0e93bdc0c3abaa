package engine_test

import (
	"fmt"
	"testing"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// BenchmarkApplyBlock measures the engine alone (no decoding): blocks of 100
// pass-through ops applied and committed to Pebble on disk with the default
// sync policy.
func BenchmarkApplyBlock(b *testing.B) {
	for _, sync := range []int{0, 1} {
		name := "grouped-fsync"
		if sync == 1 {
			name = "fsync-every-block"
		}
		b.Run(name, func(b *testing.B) {
			db, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			e, err := engine.Open(db, passthrough.New(0), engine.Config{SyncBlocks: sync})
			if err != nil {
				b.Fatal(err)
			}
			// Payloads are made up front so that only the engine is timed.
			const ring = 64
			var blocks [ring][]tape.Tx
			for i := range blocks {
				blocks[i] = make([]tape.Tx, 100)
				for j := range blocks[i] {
					blocks[i][j] = tape.Tx{Index: j, Payload: fmt.Appendf(nil, "a:12:name%07d.id,64:%064d,1:%d", i*100+j, i, j%10)}
				}
			}
			var parent vchash.Hash
			for i := 0; b.Loop(); i++ {
				blk := &tape.Block{Header: tape.Header{Height: int64(i), Parent: parent}, Txs: blocks[i%ring]}
				blk.Hash = vchash.DoubleSHA256(fmt.Appendf(nil, "%d", i))
				if err := e.ApplyBlock(blk, -1); err != nil {
					b.Fatal(err)
				}
				parent = blk.Hash
			}
			if err := e.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
