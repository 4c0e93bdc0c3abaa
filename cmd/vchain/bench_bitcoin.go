package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/internal/btcbench"
	"github.com/vchain-dev/vchain/internal/btcdtest"
)

func newBenchBitcoinCmd() *cobra.Command {
	var btcd string
	var pin bool
	var batches int
	var rounds, small, busyBlocks, busyTxs int
	cmd := &cobra.Command{
		Use:   "bitcoin",
		Short: "Sync speed from a real btcd in regtest: fetch-ahead against one request at a time, and against a fetch-only loop",
		Long: `bitcoin starts btcd in regtest in a temporary directory (--btcd, else $VCHAIN_BTCD,
.tools/bin/btcd, $GOPATH/bin or $PATH; ./scripts/test installs it) and measures, in the same run
and alternating, for --rounds rounds:

  1. --small blocks holding only their coinbase: fetched and decoded one request at a time,
     against the engine syncing them with fetch-ahead;
  2. --busy-blocks blocks of --busy-txs application transactions each (every one spends its own
     coin, so senders come from the node's transaction index): loops that only fetch the raw
     blocks as fast as the node serves them (btcd's rpcclient: one HTTP batch of 64 at a time,
     three batches of 16 in flight, a websocket with 64 requests in flight; vchain's own
     client, btcrpc, on a websocket with 64 in flight, and the same fetching the spent
     transactions too), nothing decoded beyond the RPC client; vchain's source without an
     engine (parsing only; decoding the ops); the engine syncing them (fetch, sender lookup,
     decode, apply, commit); and vchain's own work with the blocks preloaded. Figures are
     medians over the rounds, with the CPU vchain and btcd spend per run; the sync's share of
     each loop is taken round by round.

btcd runs on the same machine, so it and vchain share the CPU; with --pin each has a CPU of
its own, which shows whether vchain's own work (decoding, indexing) slows the sync.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			tuneGC(2 << 30) // as sync and node do
			if btcd == "" {
				var err error
				if btcd, err = btcdtest.FindBinary(); err != nil {
					return err
				}
			}
			dir, err := os.MkdirTemp("", "vchain-bench-btcd-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			n, err := btcdtest.Launch(btcd, dir)
			if err != nil {
				return err
			}
			defer n.Stop()
			if pin {
				if runtime.NumCPU() < 2 {
					return errors.New("--pin needs two CPUs")
				}
				if err := btcbench.Pin(n.PID(), 0); err != nil {
					return err
				}
				if err := btcbench.Pin(0, 1); err != nil {
					return err
				}
				fmt.Fprintln(out, "btcd pinned to CPU 0, vchain to CPU 1")
			}
			ctx := cmd.Context()
			cfg := btcbench.Config(n)
			cfg.Batches = batches
			best := func(cur *time.Duration, d time.Duration) {
				if *cur == 0 || d < *cur {
					*cur = d
				}
			}
			rate := func(blocks int, d time.Duration) float64 { return float64(blocks) / d.Seconds() }

			fmt.Fprintf(out, "btcd %s, regtest; mining %d small blocks\n", btcd, small)
			if err := btcbench.MineSmall(n, small); err != nil {
				return err
			}
			var one, ahead time.Duration
			for r := 0; r < rounds; r++ {
				d, err := btcbench.OneAtATime(ctx, cfg, 1, int64(small))
				if err != nil {
					return err
				}
				best(&one, d)
				d, _, err = btcbench.EngineSync(ctx, cfg, 1, int64(small))
				if err != nil {
					return err
				}
				best(&ahead, d)
			}
			fmt.Fprintf(out, "%d small blocks, one request at a time: %8.0f blocks/s\n", small, rate(small, one))
			fmt.Fprintf(out, "%d small blocks, engine + fetch-ahead:  %8.0f blocks/s  (%.1fx)\n", small, rate(small, ahead), one.Seconds()/ahead.Seconds())

			fmt.Fprintf(out, "building %d blocks of %d application transactions\n", busyBlocks, busyTxs)
			from, to, err := btcbench.BuildBusy(n, busyBlocks, busyTxs)
			if err != nil {
				return err
			}
			spent, err := btcbench.SpentBy(cfg, from, to)
			if err != nil {
				return err
			}
			// Each round times every fetch-only loop and the engine sync;
			// the figures are per-round ratios (the machine's noise hits
			// both sides of a round alike) and their median.
			loops := []struct {
				name string
				run  func() (time.Duration, error)
			}{
				{"rpcclient, 1 batch of 64 at a time", func() (time.Duration, error) { return btcbench.FetchOnly(cfg, from, to, 64, 1) }},
				{"rpcclient, 3 batches of 16 in flight", func() (time.Duration, error) { return btcbench.FetchOnly(cfg, from, to, 16, 3) }},
				{"rpcclient, websocket, 64 in flight", func() (time.Duration, error) { return btcbench.FetchOnlyWebsocket(cfg, from, to, 64) }},
				{"btcrpc, websocket, 64 in flight", func() (time.Duration, error) { return btcbench.FetchOnlyLean(ctx, cfg, from, to, 64) }},
				// Everything the sync asks of the node, decoding nothing:
				// the difference to the sync is vchain's decoding and indexing.
				{"btcrpc, as above + the spent transactions", func() (time.Duration, error) {
					return btcbench.FetchOnlyLeanWith(ctx, cfg, from, to, 64, spent)
				}},
			}
			// vchain's source without the engine: with a magic no
			// transaction carries (its pipeline and parsing only), then
			// with the application's (sender lookups and decoding too).
			parts := []struct {
				name string
				run  func() (time.Duration, error)
			}{
				{"the source, parsing only", func() (time.Duration, error) { return btcbench.SourceOnly(ctx, cfg, []byte{0xff, 0xfe}, from, to) }},
				{"the source, decoding ops", func() (time.Duration, error) { return btcbench.SourceOnly(ctx, cfg, btcbench.Magic, from, to) }},
			}
			syncIdx := len(loops) + len(parts)
			times := make([][]time.Duration, syncIdx+1) // per loop, part, then the sync; one entry per round
			// CPU time over all rounds, per loop then the sync: vchain's
			// (this process, the client side of every loop) and btcd's.
			selfCPU := make([]time.Duration, syncIdx+1)
			nodeCPU := make([]time.Duration, syncIdx+1)
			cpuKnown := true
			timed := func(i int, run func() (time.Duration, error)) error {
				s0 := processCPU()
				n0, err := btcbench.CPUTime(n.PID())
				cpuKnown = cpuKnown && err == nil
				d, err := run()
				if err != nil {
					return err
				}
				n1, _ := btcbench.CPUTime(n.PID())
				selfCPU[i] += processCPU() - s0
				nodeCPU[i] += n1 - n0
				times[i] = append(times[i], d)
				return nil
			}
			for r := 0; r < rounds; r++ {
				for i, l := range loops {
					if err := timed(i, l.run); err != nil {
						return fmt.Errorf("%s: %w", l.name, err)
					}
				}
				for i, p := range parts {
					if err := timed(len(loops)+i, p.run); err != nil {
						return fmt.Errorf("%s: %w", p.name, err)
					}
				}
				err := timed(syncIdx, func() (time.Duration, error) {
					d, ops, err := btcbench.EngineSync(ctx, cfg, from, to)
					if err == nil && ops != busyBlocks*busyTxs {
						err = fmt.Errorf("the engine accepted %d ops, want %d", ops, busyBlocks*busyTxs)
					}
					return d, err
				})
				if err != nil {
					return err
				}
			}
			median := func(xs []float64) float64 {
				xs = slices.Clone(xs)
				slices.Sort(xs)
				return xs[len(xs)/2]
			}
			rates := func(ds []time.Duration) []float64 {
				out := make([]float64, len(ds))
				for i, d := range ds {
					out[i] = rate(busyBlocks, d)
				}
				return out
			}
			syncRates := rates(times[syncIdx])
			// cpuNote is loop i's mean CPU per run, vchain's and btcd's.
			cpuNote := func(i int) string {
				if !cpuKnown {
					return ""
				}
				per := func(d time.Duration) int64 { return (d / time.Duration(rounds)).Milliseconds() }
				return fmt.Sprintf("   (CPU per run: vchain %d ms, btcd %d ms)", per(selfCPU[i]), per(nodeCPU[i]))
			}
			fmt.Fprintf(out, "%d x %d blocks, median of %d rounds (blocks/s; the sync's rate as a share of each loop's, round by round):\n", busyBlocks, busyTxs, rounds)
			fastest := make([]float64, rounds) // the fastest fetch-only loop in each round
			for i, l := range loops {
				rs := rates(times[i])
				share := make([]float64, rounds)
				for r := range rs {
					share[r] = syncRates[r] / rs[r]
					fastest[r] = max(fastest[r], rs[r])
				}
				fmt.Fprintf(out, "  fetch only, %-43s %8.1f   sync at %5.1f%%%s\n", l.name+":", median(rs), 100*median(share), cpuNote(i))
			}
			share := make([]float64, rounds)
			for r := range share {
				share[r] = syncRates[r] / fastest[r]
			}
			for i, p := range parts {
				fmt.Fprintf(out, "  %-50s %8.1f%s\n", p.name+":", median(rates(times[len(loops)+i])), cpuNote(len(loops)+i))
			}
			fmt.Fprintf(out, "  engine sync (fetch, sender lookup, decode, apply, commit): %8.1f, %.0f ops/s%s\n", median(syncRates), float64(busyBlocks*busyTxs)*median(syncRates)/float64(busyBlocks), cpuNote(syncIdx))
			fmt.Fprintf(out, "  the sync against the fastest fetch-only loop of each round: median %.1f%%, range %.1f%%-%.1f%%\n",
				100*median(share), 100*slices.Min(share), 100*slices.Max(share))
			// vchain's own work with the node out of the way: can decoding
			// and indexing keep up with the node serving blocks?
			var alone []float64
			for r := 0; r < rounds; r++ {
				d, ops, err := btcbench.ProcessOnly(ctx, cfg, from, to)
				if err != nil {
					return err
				}
				if ops != busyBlocks*busyTxs {
					return fmt.Errorf("processing alone: the engine accepted %d ops, want %d", ops, busyBlocks*busyTxs)
				}
				alone = append(alone, rate(busyBlocks, d))
			}
			fmt.Fprintf(out, "  vchain's work alone (raw blocks preloaded, the node idle): %8.1f, %.1fx the fastest fetch-only loop (medians)\n",
				median(alone), median(alone)/median(fastest))
			return nil
		},
	}
	cmd.Flags().StringVar(&btcd, "btcd", "", "the btcd binary (default: found as the tests find it)")
	cmd.Flags().IntVar(&batches, "fetch-batches", 4, "runs of blocks the engine's source asks of the node at once")
	cmd.Flags().BoolVar(&pin, "pin", false, "run btcd on CPU 0 and vchain on CPU 1 (Linux), so that the node serves at the same pace in every loop, as on its own machine")
	cmd.Flags().IntVar(&rounds, "rounds", 9, "rounds (small blocks: the best is kept; busy blocks: medians)")
	cmd.Flags().IntVar(&small, "small", 2000, "small blocks for the first comparison")
	cmd.Flags().IntVar(&busyBlocks, "busy-blocks", 200, "blocks for the second comparison")
	cmd.Flags().IntVar(&busyTxs, "busy-txs", 50, "application transactions per block for the second comparison")
	return cmd
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
