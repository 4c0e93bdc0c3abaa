package bitcoin_test

import (
	"context"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/internal/btcbench"
	"github.com/vchain-dev/vchain/internal/btcdtest"
)

// BenchmarkSync2000 syncs 2,000 small regtest blocks from a real btcd:
// one request at a time, and through the engine with fetch-ahead. It
// reports blocks/s; compare the two in one run (`vchain bench bitcoin`
// prints the same figures and their ratio).
//
//	go test -run XXX -bench Sync2000 -benchtime 3x ./tape/bitcoin
func BenchmarkSync2000(b *testing.B) {
	n := btcdtest.Start(b)
	if err := btcbench.MineSmall(n, 2000); err != nil {
		b.Fatal(err)
	}
	cfg := btcbench.Config(n)
	ctx := context.Background()
	b.Run("one-request-at-a-time", func(b *testing.B) {
		report(b, 2000, func() (time.Duration, error) { return btcbench.OneAtATime(ctx, cfg, 1, 2000) })
	})
	b.Run("engine-fetch-ahead", func(b *testing.B) {
		report(b, 2000, func() (time.Duration, error) {
			d, _, err := btcbench.EngineSync(ctx, cfg, 1, 2000)
			return d, err
		})
	})
}

// BenchmarkSync200x50 syncs 200 blocks of 50 application transactions
// each (senders looked up through the node's txindex), against a loop
// that only fetches the same raw blocks as fast as the node serves them.
//
//	go test -run XXX -bench Sync200x50 -benchtime 5x ./tape/bitcoin
func BenchmarkSync200x50(b *testing.B) {
	n := btcdtest.Start(b)
	from, to, err := btcbench.BuildBusy(n, 200, 50)
	if err != nil {
		b.Fatal(err)
	}
	cfg := btcbench.Config(n)
	ctx := context.Background()
	b.Run("fetch-only", func(b *testing.B) {
		report(b, 200, func() (time.Duration, error) { return btcbench.FetchOnly(cfg, from, to, 64, 1) })
	})
	b.Run("fetch-only-3-in-flight", func(b *testing.B) {
		report(b, 200, func() (time.Duration, error) { return btcbench.FetchOnly(cfg, from, to, 16, 3) })
	})
	b.Run("fetch-only-btcrpc-websocket", func(b *testing.B) {
		report(b, 200, func() (time.Duration, error) { return btcbench.FetchOnlyLean(ctx, cfg, from, to, 64) })
	})
	b.Run("engine-sync", func(b *testing.B) {
		report(b, 200, func() (time.Duration, error) {
			d, ops, err := btcbench.EngineSync(ctx, cfg, from, to)
			if err == nil && ops != 10_000 {
				b.Fatalf("synced %d ops, want 10000", ops)
			}
			return d, err
		})
	})
}

// report times run b.N times and reports blocks/s over the timed parts.
func report(b *testing.B, blocks int, run func() (time.Duration, error)) {
	var total time.Duration
	for b.Loop() {
		d, err := run()
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(blocks)*float64(b.N)/total.Seconds(), "blocks/s")
}
