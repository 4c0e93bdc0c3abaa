package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
)

func newAuditCmd() *cobra.Command {
	var hostURL, id string
	cmd := &cobra.Command{
		Use:   "audit --host URL --contract ID",
		Short: "Verify a contract host: signatures, proofs, links, and a replay of every call",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if id == "" {
				return fmt.Errorf("--contract is required")
			}
			base, err := api.ParseBaseURL(hostURL)
			if err != nil {
				return fmt.Errorf("--host: %w", err)
			}
			out := cmd.OutOrStdout()
			rep, err := audit.Run(cmd.Context(), api.NewClient(base), id, audit.Options{Progress: out})
			if err != nil {
				return fmt.Errorf("audit FAILED: %w", err)
			}
			fmt.Fprintf(out, "audit OK: contract %s, %d calls replayed, %d user logs (%d entries), %d acks, %d signed heads; consensus %s\n",
				rep.Contract, rep.Entries, rep.Users, rep.UserEntry, rep.Acks, rep.Signatures, rep.Consensus)
			return nil
		},
	}
	cmd.Flags().StringVar(&hostURL, "host", "http://"+DefaultListen, "the contract host: http://HOST:PORT, HOST:PORT or :PORT")
	cmd.Flags().StringVar(&id, "contract", "", "the contract to audit")
	return cmd
}
