package hyperlog

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// BenchConfig describes one append benchmark run (see RunBenchmark).
type BenchConfig struct {
	// Entries is the total number of entries appended (default 100,000).
	Entries int `json:"entries"`
	// EntrySize is the size of each entry in bytes (default 100).
	EntrySize int `json:"entrySize"`
	// Batch is the number of entries per Append call, i.e. per signed head
	// (default 1).
	Batch int `json:"batch"`
	// Writers > 1 runs that many goroutines each calling AppendShared with
	// one entry at a time (group commit); Batch is then ignored.
	Writers int `json:"writers,omitempty"`
	// Sync fsyncs every append (Options.Sync).
	Sync bool `json:"sync"`
	// Mode is the signing mode (default ModeManifest).
	Mode Mode `json:"mode"`
}

// BenchResult is the outcome of RunBenchmark.
type BenchResult struct {
	Config BenchConfig `json:"config"`
	// Heads is the number of signed heads written (Append calls, or shared
	// batches with Writers).
	Heads uint64 `json:"heads"`
	// Elapsed is the wall time of the appends, from an open empty log to
	// the last append returning (Close excluded).
	Elapsed time.Duration `json:"elapsedNs"`
	// EntriesPerSec is Entries / Elapsed: appended entries per second.
	EntriesPerSec float64 `json:"entriesPerSec"`
	// DiskBytes is the size of the log's files afterwards.
	DiskBytes int64 `json:"diskBytes"`
}

// String formats the result as one line.
func (r BenchResult) String() string {
	how := fmt.Sprintf("batch %d", r.Config.Batch)
	if r.Config.Writers > 1 {
		how = fmt.Sprintf("%d writers (shared batches)", r.Config.Writers)
	}
	return fmt.Sprintf("hyperlog %s mode, %s, sync=%v: %d entries of %d B in %v = %.0f entries/s (%d signed heads, %.1f MB on disk)",
		r.Config.Mode, how, r.Config.Sync, r.Config.Entries, r.Config.EntrySize, r.Elapsed.Round(time.Millisecond),
		r.EntriesPerSec, r.Heads, float64(r.DiskBytes)/1e6)
}

// StandardBenchmarks returns the runs that compare with bench/hypercore:
// entries entries (100,000 when ≤ 0) of 100 bytes appended one per Append,
// in batches of 100 and of 1000, and one per call from 64 goroutines through
// AppendShared, all with the given Sync.
func StandardBenchmarks(entries int, sync bool) []BenchConfig {
	if entries <= 0 {
		entries = 100_000
	}
	var out []BenchConfig
	for _, batch := range []int{1, 100, 1000} {
		out = append(out, BenchConfig{Entries: entries, EntrySize: 100, Batch: batch, Sync: sync})
	}
	return append(out, BenchConfig{Entries: entries, EntrySize: 100, Batch: 1, Writers: 64, Sync: sync})
}

// RunBenchmark appends cfg.Entries entries of cfg.EntrySize bytes to a new
// log in a temporary directory under dir (removed afterwards) and reports
// the rate. It is what `vchain bench hyperlog` runs; the node comparison is
// bench/hypercore.
func RunBenchmark(dir string, cfg BenchConfig) (BenchResult, error) {
	if cfg.Entries <= 0 {
		cfg.Entries = 100_000
	}
	if cfg.EntrySize <= 0 {
		cfg.EntrySize = 100
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1
	}
	res := BenchResult{Config: cfg}
	tmp, err := os.MkdirTemp(dir, "hyperlog-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "hyperlog benchmark key")
	l, err := Create(filepath.Join(tmp, "log"), ed25519.NewKeyFromSeed(seed), Options{Mode: cfg.Mode, Sync: cfg.Sync})
	if err != nil {
		return res, err
	}
	defer l.Close()

	entries := make([][]byte, cfg.Entries)
	for i := range entries {
		e := make([]byte, cfg.EntrySize)
		for j := range e {
			e[j] = byte(i + j)
		}
		entries[i] = e
	}

	start := time.Now()
	if cfg.Writers > 1 {
		res.Heads, err = benchShared(l, entries, cfg.Writers)
	} else {
		for i := 0; i < len(entries) && err == nil; i += cfg.Batch {
			_, err = l.Append(entries[i:min(i+cfg.Batch, len(entries))]...)
			res.Heads++
		}
	}
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, err
	}
	res.EntriesPerSec = float64(cfg.Entries) / res.Elapsed.Seconds()
	for _, name := range []string{dataFileName, treeFileName, headsFileName} {
		if st, err := os.Stat(filepath.Join(l.Dir(), name)); err == nil {
			res.DiskBytes += st.Size()
		}
	}
	return res, l.Close()
}

// benchShared appends entries from writers goroutines with AppendShared and
// returns the number of signed heads it took.
func benchShared(l *Log, entries [][]byte, writers int) (uint64, error) {
	before := l.headsWritten()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	next := make(chan []byte, writers)
	go func() {
		for _, e := range entries {
			next <- e
		}
		close(next)
	}()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				if _, _, err := l.AppendShared(e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return l.headsWritten() - before, <-errs
}

// headsWritten returns how many head records the heads file holds.
func (l *Log) headsWritten() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return uint64(l.headsEnd / headRecordSize)
}
