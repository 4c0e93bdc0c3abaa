package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	host   string
	key    string
	newKey bool
	// rpc, when set, is a DPoR node's API: the commands then work on the
	// chain's contracts (fee and wait apply to its transactions).
	rpc  string
	fee  uint64
	wait waitFlags
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.host, "host", "http://"+DefaultListen, "the contract host: http://HOST:PORT, HOST:PORT or :PORT")
	cmd.PersistentFlags().StringVar(&f.rpc, "rpc", "", "work on the contracts of a DPoR chain through this node's API (http://HOST:PORT) instead of a host")
	cmd.PersistentFlags().StringVar(&f.key, "key", defaultKeyPath(), "your key file (the default one is created on first use)")
	cmd.PersistentFlags().BoolVar(&f.newKey, "new-key", false, "create the --key file with a new identity if it does not exist")
}

// client returns the client for --host.
func (f *clientFlags) client() (*api.Client, error) {
	base, err := api.ParseBaseURL(f.host)
	if err != nil {
		return nil, fmt.Errorf("--host: %w", err)
	}
	return api.NewClient(base), nil
}

// user loads the identity in --key. Only the default key file is created
// unasked: a --key (or VCHAIN_KEY) that names no file is a mistake unless
// --new-key says otherwise.
func (f *clientFlags) user(cmd *cobra.Command) (*api.User, error) {
	explicit := cmd.Flags().Changed("key") || os.Getenv("VCHAIN_KEY") != ""
	u, err := api.LoadUser(f.key, f.newKey || !explicit)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("key file %s does not exist: check --key (or VCHAIN_KEY), or add --new-key to make a new identity there", f.key)
	}
	return u, err
}

func defaultKeyPath() string {
	if p := os.Getenv("VCHAIN_KEY"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".vchain-key"
	}
	return filepath.Join(home, ".vchain", "key")
}

func newContractCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Deploy and call contracts on a host (--host) or a DPoR chain (--rpc), read their state and logs",
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f.rpc != "" && cmd.Flags().Changed("host") {
				return errors.New("--host and --rpc name two different places for contracts: give one")
			}
			if f.rpc == "" && (cmd.Flags().Changed("fee") || cmd.Flags().Changed("wait-timeout")) {
				return errors.New("--fee and --wait-timeout apply to chain transactions: add --rpc URL")
			}
			if f.rpc != "" && cmd.Name() == "migrate" {
				return errors.New("migrate moves a contract between hosts (--host, --to); contracts on a chain stay on it")
			}
			return nil
		},
	}
	f.register(cmd)
	chainFlags := func(c *cobra.Command) {
		c.Flags().Uint64Var(&f.fee, "fee", 1, "with --rpc: the fee the transaction pays its proposer")
		c.Flags().DurationVar(&f.wait.timeout, "wait-timeout", time.Minute, "with --rpc: how long to wait until the transaction is final")
	}

	deploy := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Create a contract instance from a JavaScript file; prints its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if f.rpc != "" {
				return chainDeploy(cmd, &f, code)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			u, err := f.user(cmd)
			if err != nil {
				return err
			}
			res, err := u.Deploy(cmd.Context(), c, code)
			if err != nil {
				return err
			}
			if err := u.Flush(cmd.Context(), c); err != nil {
				return err
			}
			if err := res.Failed(); err != nil {
				return fmt.Errorf("deploy: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Contract)
			return nil
		},
	}

	call := &cobra.Command{
		Use:   "call ID METHOD [ARG...]",
		Short: "Call a contract's method; each ARG is a JSON value; prints the JSON result",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var callArgs []json.RawMessage
			for i, a := range args[2:] {
				if !json.Valid([]byte(a)) {
					return fmt.Errorf("argument %d (%s) is not a JSON value; quote strings: '\"text\"'", i+1, a)
				}
				callArgs = append(callArgs, json.RawMessage(a))
			}
			if f.rpc != "" {
				return chainCall(cmd, &f, args[0], args[1], callArgs)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			u, err := f.user(cmd)
			if err != nil {
				return err
			}
			res, err := u.Call(cmd.Context(), c, args[0], args[1], callArgs...)
			if err != nil {
				return err
			}
			if err := u.Flush(cmd.Context(), c); err != nil {
				return err
			}
			if err := res.Failed(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(res.Record.Result))
			return nil
		},
	}

	state := &cobra.Command{
		Use:   "state ID [PATH]",
		Short: "Print a file of a contract's state archive, or without PATH its exports",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 2 {
				path = args[1]
			}
			if f.rpc != "" {
				return chainState(cmd, &f, args[0], path)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if path == "" {
				info, err := c.Contract(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(info.Exports))
				return nil
			}
			sf, err := c.State(cmd.Context(), args[0], path)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sf.Content)
			return nil
		},
	}

	whoami := &cobra.Command{
		Use:   "whoami",
		Short: "Print your public key (what contracts on a host see as call.caller), or with --rpc your chain address; never the private key file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.rpc != "" {
				return chainWhoami(cmd.OutOrStdout(), &f)
			}
			u, err := f.user(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.Key())
			return nil
		},
	}

	var follow bool
	logCmd := &cobra.Command{
		Use:   "log ID",
		Short: "Print a contract's call log (with --rpc: its creates and calls on the chain), one JSON entry per line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.rpc != "" {
				return chainLog(cmd, &f, args[0], follow)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var cursor uint64
			if follow {
				// Where the host's events are now: what comes after is new.
				if cursor, err = eventsTip(f.host, args[0]); err != nil {
					return err
				}
			}
			var n uint64
			for {
				es, err := c.CallLog(cmd.Context(), args[0], n, 0, false)
				if err != nil {
					return err
				}
				for _, e := range es.Entries {
					fmt.Fprintln(cmd.OutOrStdout(), e.Data)
				}
				n += uint64(len(es.Entries))
				if !follow {
					return nil
				}
				if cursor, err = waitEvents(cmd, f.host, args[0], cursor); err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
			}
		},
	}
	logCmd.Flags().BoolVar(&follow, "follow", false, "keep printing the contract's records (with --rpc: its creates and calls) as they come")
	var to string
	var adoptSnapshot bool
	migrate := &cobra.Command{
		Use:   "migrate ID --to URL",
		Short: "Move a contract from --host to the host at --to; prints its new id",
		Long: `migrate moves a contract you created (--key must be the key that deployed it) from --host
to the host at --to:

  1. it audits the contract on --host, asks the host at --to for its public key, and checks that
     host could take the contract in (a user who used both hosts with one key has a different log
     on each, which the new host cannot merge: the move is refused before anything is sealed);
  2. it appends a move entry naming that key to your log on --host, which seals the contract's
     call log with a last, "moved" record: from then on --host refuses calls to the contract
     (HTTP 410) and names the new host;
  3. it streams the sealed call log and its users' logs to --to, which checks every signature,
     replays every call, and continues the contract under a key of its own.

With --adopt-snapshot it also sends the old host's snapshot of the contract's state after the
seal: the new host adopts it if it hashes to the state commitment of the sealed record (which the
old call log's signed head covers) instead of replaying every call, and refuses the import if
not. The old logs still travel and are kept, so an audit of the new contract replays from the
create.

The new call log's first entry names the old log's sealed head, so an audit of the new contract
covers the old one too. Prints the new contract's id; the new host answers to the old id as well.
Running it again after a failure resumes where it stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return fmt.Errorf("--to is required")
			}
			ctx, id := cmd.Context(), args[0]
			from, err := f.client()
			if err != nil {
				return err
			}
			toURL, err := api.ParseBaseURL(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			dest := api.NewClient(toURL)
			// A contract that moved to --host before answers there to its
			// old ids too: move it under the id it has there.
			info, err := from.Contract(ctx, id)
			if err != nil {
				return err
			}
			id = info.ID
			if _, err := audit.Run(ctx, from, id, audit.Options{}); err != nil {
				return fmt.Errorf("the contract does not pass its audit on %s, refusing to move it: %w", f.host, err)
			}
			hi, err := dest.Host(ctx)
			if err != nil {
				return fmt.Errorf("the new host: %w", err)
			}
			u, err := f.user(cmd)
			if err != nil {
				return err
			}
			cp, err := from.Copy(ctx, id)
			if err != nil {
				return err
			}
			if !sealedFor(cp, hi.PublicKey) {
				// A seal cannot be undone: first make sure the new host can
				// take the contract.
				if err := dest.CheckImportable(ctx, cp); err != nil {
					return fmt.Errorf("refusing to move the contract: %w", err)
				}
				res, err := u.Move(ctx, from, id, host.MovedTo{Host: hi.PublicKey, URL: toURL})
				if err != nil {
					return fmt.Errorf("sealing the contract's log on %s: %w", f.host, err)
				}
				if err := res.Failed(); err != nil {
					return fmt.Errorf("sealing the contract's log on %s: %w", f.host, err)
				}
			}
			// The acknowledgement of the seal goes into the copy too.
			if err := u.Flush(ctx, from); err != nil {
				return err
			}
			if cp, err = from.Copy(ctx, id); err != nil {
				return err
			}
			if adoptSnapshot {
				sf, err := from.AuditSnapshot(ctx, id)
				if err != nil {
					return fmt.Errorf("the contract's snapshot on %s: %w", f.host, err)
				}
				defer sf.Close()
				cp.Snapshot = sf
			}
			ans, err := dest.Import(ctx, cp)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ans.Contract)
			return nil
		},
	}
	migrate.Flags().StringVar(&to, "to", "", "the host to move the contract to")
	migrate.Flags().BoolVar(&adoptSnapshot, "adopt-snapshot", false, "send the old host's snapshot of the contract's state, which the new host adopts (checked against the sealed record's state commitment) instead of replaying every call")
	chainFlags(deploy)
	chainFlags(call)
	cmd.AddCommand(deploy, call, state, logCmd, whoami, migrate)
	return cmd
}

// sealedFor reports whether a copied call log already ends in a moved
// record for the host with public key hostKey.
func sealedFor(cp *api.ImportRequest, hostKey string) bool {
	n := len(cp.CallLog.Entries)
	if n == 0 {
		return false
	}
	var rec host.Record
	if json.Unmarshal([]byte(cp.CallLog.Entries[n-1]), &rec) != nil {
		return false
	}
	return rec.Type == host.TypeMoved && rec.Error == nil && rec.To != nil && rec.To.Host == hostKey
}
