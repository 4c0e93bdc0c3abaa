package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
)

func newConsensusCmd() *cobra.Command {
	var datadir string
	cmd := &cobra.Command{
		Use:   "consensus --datadir DIR",
		Short: "Print every committed block's height, ops hash and consensus hash, oldest first",
		Args:  cobra.NoArgs,
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
			return engine.ReadRecords(db, func(r engine.BlockRecord) error {
				_, err := fmt.Fprintf(w, "%d %s %s\n", r.Height, r.OpsHash, r.Consensus)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", "", "the data directory to read")
	return cmd
}
