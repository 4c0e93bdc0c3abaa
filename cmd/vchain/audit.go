package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
)

func newAuditCmd() *cobra.Command {
	var hostURL, id string
	var adopt bool
	cmd := &cobra.Command{
		Use:   "audit --host URL --contract ID [--adopt-snapshot]",
		Short: "Verify a contract host: signatures, proofs, links, and a replay of every call",
		Long: `audit fetches a contract's call log and every user log it names from the host and checks
them: every signed head, each record's link to the signed user entry it serves, the order of
each user's calls, the acks, and a replay of every call that must give the recorded result,
gas, state root, consensus hash and state commitment.

With --adopt-snapshot it downloads the host's snapshot of the contract's state instead of
replaying from the create: the snapshot is adopted only if it hashes to the state commitment of
the record at its height (which the call log's signature covers), and only the calls after it
are replayed. Signatures, links, order and acks are checked over the whole log either way; run
without the flag to replay everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if id == "" {
				return fmt.Errorf("--contract is required")
			}
			base, err := api.ParseBaseURL(hostURL)
			if err != nil {
				return fmt.Errorf("--host: %w", err)
			}
			out := cmd.OutOrStdout()
			rep, err := audit.Run(cmd.Context(), api.NewClient(base), id, audit.Options{Progress: out, Adopt: adopt})
			if err != nil {
				return fmt.Errorf("audit FAILED: %w", err)
			}
			if rep.Adopted > 0 {
				fmt.Fprintf(out, "adopted the state after record %d from the host's snapshot\n", rep.Adopted-1)
			}
			fmt.Fprintf(out, "audit OK: contract %s, %d calls replayed, %d user logs (%d entries), %d acks, %d signed heads; consensus %s\n",
				rep.Contract, rep.Entries, rep.Users, rep.UserEntry, rep.Acks, rep.Signatures, rep.Consensus)
			return nil
		},
	}
	cmd.Flags().StringVar(&hostURL, "host", "http://"+DefaultListen, "the contract host: http://HOST:PORT, HOST:PORT or :PORT")
	cmd.Flags().StringVar(&id, "contract", "", "the contract to audit")
	cmd.Flags().BoolVar(&adopt, "adopt-snapshot", false, "adopt the host's snapshot of the contract's state (checked against a signed record's state commitment) and replay only the calls after it")
	return cmd
}
