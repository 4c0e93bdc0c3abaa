package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/internal/btcbench"
	"github.com/vchain-dev/vchain/internal/btcdtest"
)

func newBenchBitcoinCmd() *cobra.Command {
	var btcd string
	var rounds, small, busyBlocks, busyTxs int
	cmd := &cobra.Command{
		Use:   "bitcoin",
		Short: "Sync speed from a real btcd in regtest: fetch-ahead against one request at a time, and against a fetch-only loop",
		Long: `bitcoin starts btcd in regtest in a temporary directory (--btcd, else $VCHAIN_BTCD,
.tools/bin/btcd, $GOPATH/bin or $PATH; ./scripts/test installs it) and measures, in the same run
and alternating, for --rounds rounds (the best of each is kept):

  1. --small blocks holding only their coinbase: fetched and decoded one request at a time,
     against the engine syncing them with fetch-ahead;
  2. --busy-blocks blocks of --busy-txs application transactions each (every one spends its own
     coin, so senders come from the node's transaction index): two loops that only fetch the
     raw blocks as fast as the node serves them (one batch of 64 at a time; three batches of 16
     in flight), nothing decoded beyond the RPC client, against the engine syncing them (fetch,
     sender lookup, decode, apply, commit).

btcd runs on the same machine, so it and vchain share the CPU.`,
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
			ctx := cmd.Context()
			cfg := btcbench.Config(n)
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
			var fetch, fetchPar, fetchWS, sync time.Duration
			var ratios []float64 // per round: sync rate / websocket fetch-only rate
			for r := 0; r < rounds; r++ {
				d, err := btcbench.FetchOnly(cfg, from, to, 64, 1)
				if err != nil {
					return err
				}
				best(&fetch, d)
				if d, err = btcbench.FetchOnly(cfg, from, to, 16, 3); err != nil {
					return err
				}
				best(&fetchPar, d)
				if d, err = btcbench.FetchOnlyWebsocket(cfg, from, to, 64); err != nil {
					return err
				}
				best(&fetchWS, d)
				ws := d
				d, ops, err := btcbench.EngineSync(ctx, cfg, from, to)
				if err != nil {
					return err
				}
				if ops != busyBlocks*busyTxs {
					return fmt.Errorf("the engine accepted %d ops, want %d", ops, busyBlocks*busyTxs)
				}
				best(&sync, d)
				ratios = append(ratios, ws.Seconds()/d.Seconds())
			}
			slices.Sort(ratios)
			fmt.Fprintf(out, "%d x %d blocks, fetch only, 1 batch of 64 at a time: %8.1f blocks/s\n", busyBlocks, busyTxs, rate(busyBlocks, fetch))
			fmt.Fprintf(out, "%d x %d blocks, fetch only, 3 batches of 16 in flight: %8.1f blocks/s\n", busyBlocks, busyTxs, rate(busyBlocks, fetchPar))
			fmt.Fprintf(out, "%d x %d blocks, fetch only, websocket, 64 in flight: %8.1f blocks/s\n", busyBlocks, busyTxs, rate(busyBlocks, fetchWS))
			fmt.Fprintf(out, "%d x %d blocks, engine sync: %8.1f blocks/s, %.0f ops/s (%.1f%%, %.1f%% and %.1f%% of the fetch-only loops)\n", busyBlocks, busyTxs,
				rate(busyBlocks, sync), float64(busyBlocks*busyTxs)/sync.Seconds(),
				100*fetch.Seconds()/sync.Seconds(), 100*fetchPar.Seconds()/sync.Seconds(), 100*fetchWS.Seconds()/sync.Seconds())
			fmt.Fprintf(out, "engine sync / websocket fetch-only, round by round: median %.1f%%, range %.1f%%–%.1f%% over %d rounds\n",
				100*ratios[len(ratios)/2], 100*ratios[0], 100*ratios[len(ratios)-1], len(ratios))
			return nil
		},
	}
	cmd.Flags().StringVar(&btcd, "btcd", "", "the btcd binary (default: found as the tests find it)")
	cmd.Flags().IntVar(&rounds, "rounds", 5, "rounds; the best of each measurement is kept")
	cmd.Flags().IntVar(&small, "small", 2000, "small blocks for the first comparison")
	cmd.Flags().IntVar(&busyBlocks, "busy-blocks", 200, "blocks for the second comparison")
	cmd.Flags().IntVar(&busyTxs, "busy-txs", 50, "application transactions per block for the second comparison")
	return cmd
}
