package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/replay"
	"github.com/vchain-dev/vchain/store"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Whole-system benchmarks that print their figures",
	}
	cmd.AddCommand(newBenchEngineCmd(), newBenchHyperlogCmd(), newBenchHostCmd(), newBenchBitcoinCmd(), newBenchDporCmd(), newBenchSnapshotCmd())
	return cmd
}

func newBenchEngineCmd() *cobra.Command {
	var blocks, opsPerBlock, rounds int
	var dir string
	var syncEvery int
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Replay a synthetic stream with durable atomic commits, against a hash-only pass over the same stream",
		Long: `engine generates a JSON Lines stream (default 20,000 blocks of 100 ops) and measures, in the
same run and alternating, (a) a hash-only pass: JSON decode, double SHA-256 of every op, Merkle
trees, consensus hashes, no storage; and (b) a full replay: the same plus the engine pipeline
and one atomic Pebble batch per block in a data directory on disk, fsynced every --sync-blocks
blocks or 200ms. It prints ops/s for both, and their ratio, for the best of --rounds rounds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			stream := replay.Synthetic(1000, blocks, opsPerBlock, 1)
			total := int64(blocks * opsPerBlock)
			fmt.Fprintf(out, "stream: %d blocks x %d ops = %d ops, %.1f MB of JSON Lines\n", blocks, opsPerBlock, total, float64(len(stream))/1e6)
			var bestHash, bestFull time.Duration
			var hashCH, fullCH string
			for r := 0; r < rounds; r++ {
				start := time.Now()
				st, ch, err := replay.HashOnly(cmd.Context(), bytes.NewReader(stream))
				if err != nil {
					return err
				}
				if el := time.Since(start); bestHash == 0 || el < bestHash {
					bestHash = el
				}
				if st.Ops != total {
					return fmt.Errorf("hash-only pass saw %d ops, want %d", st.Ops, total)
				}
				hashCH = ch.String()

				d, err := os.MkdirTemp(dir, "vchain-bench-*")
				if err != nil {
					return err
				}
				db, err := store.Open(d, store.Options{})
				if err != nil {
					return err
				}
				start = time.Now()
				fst, err := replay.Run(cmd.Context(), db, bytes.NewReader(stream), replay.Options{
					Engine: engine.Config{SyncBlocks: syncEvery},
				})
				el := time.Since(start)
				if err == nil {
					err = db.Close()
				} else {
					db.Close()
				}
				os.RemoveAll(d)
				if err != nil {
					return err
				}
				if fst.Ops != total {
					return fmt.Errorf("replay committed %d ops, want %d", fst.Ops, total)
				}
				if bestFull == 0 || el < bestFull {
					bestFull = el
				}
				fmt.Fprintf(out, "round %d: hash-only %v, replay %v\n", r+1, bestHash.Round(time.Millisecond), el.Round(time.Millisecond))
			}
			// Re-derive the final consensus hash from the replay for a
			// sanity check against the hash-only pass.
			db, err := store.Open("", store.Options{InMemory: true})
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := replay.Run(cmd.Context(), db, bytes.NewReader(stream), replay.Options{}); err != nil {
				return err
			}
			var last engine.BlockRecord
			if err := engine.ReadRecords(db, func(r engine.BlockRecord) error { last = r; return nil }); err != nil {
				return err
			}
			fullCH = last.Consensus.String()
			if fullCH != hashCH {
				return fmt.Errorf("replay's final consensus hash %s differs from the hash-only pass's %s", fullCH, hashCH)
			}
			hashRate := float64(total) / bestHash.Seconds()
			fullRate := float64(total) / bestFull.Seconds()
			fmt.Fprintf(out, "hash-only pass:  %10.0f ops/s  (%v)\n", hashRate, bestHash.Round(time.Millisecond))
			fmt.Fprintf(out, "durable replay:  %10.0f ops/s  (%v, %.0f blocks/s)\n", fullRate, bestFull.Round(time.Millisecond), float64(blocks)/bestFull.Seconds())
			fmt.Fprintf(out, "replay / hash-only: %.2f\n", fullRate/hashRate)
			fmt.Fprintf(out, "final consensus hash (both): %s\n", fullCH)
			return nil
		},
	}
	cmd.Flags().IntVar(&blocks, "blocks", 20000, "blocks in the stream")
	cmd.Flags().IntVar(&opsPerBlock, "ops", 100, "ops per block")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "rounds; the best of each is reported")
	cmd.Flags().StringVar(&dir, "dir", "", "where to create the benchmark's data directories (default: the system temp dir)")
	cmd.Flags().IntVar(&syncEvery, "sync-blocks", 1000, "fsync at least every N blocks (1 = every block)")
	return cmd
}
