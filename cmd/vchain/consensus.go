package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

func newConsensusCmd() *cobra.Command {
	var datadir, fresh string
	var height int64
	var withState bool
	var window int64
	cmd := &cobra.Command{
		Use:   "consensus --datadir DIR [--height H | --fresh HASH] [--state]",
		Short: "Print every committed block's height, ops hash and consensus hash, oldest first",
		Long: `consensus prints "<height> <ops_hash> <consensus_hash>" for every committed block, oldest
first; with --height only that block's line; with --state a fourth column, the state
commitment (the digest of an LtHash over the application's keys and values after the block). With --fresh HASH it says whether an op carrying
that consensus hash would be fresh in the next block (it names one of the last --window
blocks), printing "fresh <height>" or "stale" and exiting 1 when stale.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if datadir == "" {
				return fmt.Errorf("--datadir is required")
			}
			if _, err := os.Stat(datadir); err != nil {
				return fmt.Errorf("data directory %s: %w", datadir, err)
			}
			db, err := store.Open(datadir, store.Options{})
			if err != nil {
				return fmt.Errorf("data directory %s: %w", datadir, err)
			}
			defer db.Close()
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			if fresh != "" {
				return checkFresh(w, db, fresh, window)
			}
			found := false
			err = engine.ReadRecords(db, func(r engine.BlockRecord) error {
				if cmd.Flags().Changed("height") && r.Height != height {
					return nil
				}
				found = true
				if withState {
					_, err := fmt.Fprintf(w, "%d %s %s %s\n", r.Height, r.OpsHash, r.Consensus, r.State)
					return err
				}
				_, err := fmt.Fprintf(w, "%d %s %s\n", r.Height, r.OpsHash, r.Consensus)
				return err
			})
			if err == nil && !found && cmd.Flags().Changed("height") {
				return fmt.Errorf("no committed block at height %d", height)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", "", "the data directory to read")
	cmd.Flags().Int64Var(&height, "height", 0, "print only the block at this height")
	cmd.Flags().StringVar(&fresh, "fresh", "", "check whether this consensus hash is fresh")
	cmd.Flags().BoolVar(&withState, "state", false, "add each block's state commitment as a fourth column")
	cmd.Flags().Int64Var(&window, "window", engine.DefaultValidWindow, "freshness window in blocks, for --fresh")
	return cmd
}

func checkFresh(w *bufio.Writer, db *store.DB, hash string, window int64) error {
	ch, err := vchash.ParseConsensusHash(hash)
	if err != nil {
		return fmt.Errorf("--fresh: %w", err)
	}
	var recent []engine.BlockRecord
	err = engine.ReadRecords(db, func(r engine.BlockRecord) error {
		recent = append(recent, r)
		if int64(len(recent)) > window {
			recent = recent[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(recent) - 1; i >= 0; i-- {
		if recent[i].Consensus == ch {
			fmt.Fprintf(w, "fresh %d\n", recent[i].Height)
			return nil
		}
	}
	fmt.Fprintln(w, "stale")
	w.Flush()
	return &exitError{code: 1}
}
