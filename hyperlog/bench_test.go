package hyperlog

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// BenchmarkAppend measures Append of 100-byte entries: one entry per call
// (one signed head per entry) and batches of 100 and 1000 entries per call,
// each with and without Sync. One benchmark iteration is one entry (so
// ns/op is per entry and -benchtime 100000x appends 100,000 entries, as
// bench/hypercore does for node); the entries/s metric is the figure to
// compare.
//
//	go test -run XXX -bench Append -benchtime 100000x ./hyperlog
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("batch=%d/sync=%v", batch, sync), func(b *testing.B) {
				benchAppend(b, batch, sync, ModeManifest)
			})
		}
	}
}

// BenchmarkAppendCompat is the single-append case in compat mode (an 80-byte
// signable instead of 112).
func BenchmarkAppendCompat(b *testing.B) {
	benchAppend(b, 1, false, ModeCompat)
}

func benchAppend(b *testing.B, batch int, sync bool, mode Mode) {
	l, err := Create(b.TempDir(), ed25519.NewKeyFromSeed(make([]byte, 32)), Options{Mode: mode, Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	entries := make([][]byte, batch)
	for i := range entries {
		entries[i] = make([]byte, 100)
		entries[i][0] = byte(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if _, err := l.Append(entries[:min(batch, b.N-i)]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppendShared measures 64 goroutines appending one entry each
// through AppendShared (group commit).
func BenchmarkAppendShared(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			res, err := RunBenchmark(b.TempDir(), BenchConfig{Entries: max(b.N, 1000), Writers: 64, Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EntriesPerSec, "entries/s")
			b.ReportMetric(float64(res.Config.Entries)/float64(res.Heads), "entries/head")
		})
	}
}

// BenchmarkGet reads entries of a 100,000-entry log at random.
func BenchmarkGet(b *testing.B) {
	l, err := Create(b.TempDir(), ed25519.NewKeyFromSeed(make([]byte, 32)), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = make([]byte, 100)
	}
	for range 100 {
		if _, err := l.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Get(uint64(i*7919) % 100_000); err != nil {
			b.Fatal(err)
		}
	}
}
