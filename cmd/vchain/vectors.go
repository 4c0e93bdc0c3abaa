package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/vchash"
)

func newVectorsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "vectors FILE...",
		Short: "Check Virtualchain golden-vector files: serialize_op, ops hashes and consensus hashes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, path := range args {
				v, err := vchash.ReadVectorFile(path)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				rep, err := v.Check()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", path, rep)
			}
			return nil
		},
	}
}
