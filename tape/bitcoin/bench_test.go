package bitcoin_test

import (
	"context"
	"testing"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/bitcoin"
)

// BenchmarkSync2000 syncs 2,000 small regtest blocks from a real btcd:
// one request at a time, and through the engine with fetch-ahead (parallel
// connections). It reports blocks/s; compare the two in one run.
//
//	go test -run XXX -bench Sync2000 -benchtime 3x ./tape/bitcoin
func BenchmarkSync2000(b *testing.B) {
	n := btcdtest.Start(b)
	if _, err := n.Client.Generate(2000); err != nil {
		b.Fatal(err)
	}
	cfg := bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}
	ctx := context.Background()
	b.Run("one-request-at-a-time", func(b *testing.B) {
		src, err := bitcoin.NewSource(cfg, []byte("id"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		for b.Loop() {
			for h := int64(1); h <= 2000; h++ {
				if _, err := src.Block(ctx, h); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run("engine-fetch-ahead", func(b *testing.B) {
		src, err := bitcoin.NewSource(cfg, []byte("id"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		for b.Loop() {
			db, err := store.Open("", store.Options{InMemory: true})
			if err != nil {
				b.Fatal(err)
			}
			e, err := engine.Open(db, passthrough.New(1), engine.Config{FetchAhead: 256})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Sync(ctx, src); err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
		b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
}
