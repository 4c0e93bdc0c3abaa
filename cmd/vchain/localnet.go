package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/dpor/apps"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/explorer"
)

func newLocalnetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "localnet", Short: "Run a DPoR chain on this machine: validators and proposers as separate processes"}
	var dir string
	var o localnet.Options
	up := &cobra.Command{
		Use:   "up --validators 4 --proposers 4 --dir DIR",
		Short: "Create the localnet (when DIR has none) and start its nodes that are down; returns once a block is final",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var l *localnet.Layout
			var err error
			if _, serr := os.Stat(filepath.Join(dir, "genesis.json")); serr == nil {
				// An existing localnet: started as it is; flags given that
				// differ from it are an error, not silently ignored.
				if l, err = localnet.Load(dir); err != nil {
					return err
				}
				if err := l.Differs(o, func(name string) bool { return cmd.Flags().Changed(name) }); err != nil {
					return err
				}
			} else if l, err = localnet.Create(dir, o); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			started, err := l.Start(exe, "--log-level", global.logLevel)
			if err != nil {
				return err
			}
			// Every node started answers, and a block is final, before this returns.
			if err := l.WaitUp(started, 30*time.Second); err != nil {
				return err
			}
			if err := l.WaitHeight(1, 60*time.Second); err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"dir": dir, "started": started, "chain_id": l.Genesis.ChainID})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	up.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	up.Flags().IntVar(&o.Validators, "validators", 4, "validators (3f+1)")
	up.Flags().IntVar(&o.Proposers, "proposers", 4, "default proposers (one term's worth)")
	up.Flags().Int64Var(&o.PeriodMS, "period", 100, "block period in ms")
	up.Flags().Int64Var(&o.TimeoutMS, "timeout", 1000, "impeach timeout in ms")
	up.Flags().IntVar(&o.ViewLen, "view-len", 3, "turns each proposer takes per term")
	up.Flags().IntVar(&o.MaxBlockTxs, "max-block-txs", 0, "transactions a proposer puts in one block (0: the node's default, 2,000)")
	up.Flags().IntVar(&o.MaxPending, "max-pending", 0, "transactions a node's pool admits from clients before answering 429 (0: 2 blocks' worth)")
	up.Flags().BoolVar(&o.NoContracts, "no-contracts", false, "nodes do not run the contract runtime on their blocks (no /v1/contracts, less work per block)")
	up.MarkFlagRequired("dir")

	status := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Print a JSON array: each node's name, role, height, head, impeached count and next proposer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := localnet.Load(dir)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(l.Status(), "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	status.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	status.MarkFlagRequired("dir")

	down := &cobra.Command{
		Use:   "down --dir DIR",
		Short: "Stop every node of the localnet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := localnet.Load(dir)
			if err != nil {
				return err
			}
			stopped := l.Stop(10 * time.Second)
			fmt.Fprintf(cmd.OutOrStdout(), "stopped %s\n", strings.Join(stopped, " "))
			return nil
		},
	}
	down.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	down.MarkFlagRequired("dir")

	var name string
	nodeCmd := &cobra.Command{
		Use:    "node --dir DIR --name NAME",
		Short:  "Run one node of a localnet in this process (localnet up starts these)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			l, err := localnet.Load(dir)
			if err != nil {
				return err
			}
			cfg, err := l.NodeOptions(name)
			if err != nil {
				return err
			}
			cfg.Logger = log.With("node", name)
			tuneGC(1 << 30)
			var n *node.Node
			var contracts *apps.Runner
			blobs, err := apps.OpenBlobs(filepath.Join(dir, name, "blobs"))
			if err != nil {
				return err
			}
			cfg.Routes = func(mux *node.Mux) {
				explorer.ChainRoutes(n, mux)
				apps.BlobRoutes(blobs)(mux)
				if contracts != nil {
					apps.ContractRoutes(n, contracts)(mux)
				} else {
					apps.NoContractRoutes(name)(mux)
				}
			}
			if n, err = node.Open(cfg); err != nil {
				return err
			}
			defer n.Close()
			if dir := l.ContractsDir(name); dir != "" {
				if contracts, err = apps.OpenContracts(n, dir, contract.Limits{}, cfg.Logger.With("app", "contracts")); err != nil {
					return err
				}
				ctx, cancel := context.WithCancel(cmd.Context())
				done := make(chan struct{})
				go func() { defer close(done); contracts.Run(ctx) }()
				defer func() { cancel(); <-done; contracts.Close() }()
			}
			return n.Run(cmd.Context())
		},
	}
	nodeCmd.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	nodeCmd.Flags().StringVar(&name, "name", "", "the node's name")

	var lo localnet.LoadOptions
	load := &cobra.Command{
		Use:   "load --dir DIR",
		Short: "Offer a sustained transfer load through the proposers and print tx/s and finality latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := localnet.Load(dir)
			if err != nil {
				return err
			}
			lo.Progress = cmd.ErrOrStderr()
			res, err := l.Load(cmd.Context(), lo)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	load.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	load.Flags().IntVar(&lo.Rate, "rate", 6000, "offered transactions per second")
	load.Flags().DurationVar(&lo.Duration, "duration", 20*time.Second, "how long to offer load")
	load.Flags().DurationVar(&lo.Warmup, "warmup", 3*time.Second, "left out of the figures")
	load.Flags().IntVar(&lo.Accounts, "accounts", 1000, "sending accounts (each has one request in flight)")
	cmd.AddCommand(up, status, down, nodeCmd, load)
	return cmd
}

func newTxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Transactions on the DPoR chain"}
	var to, keyFile, rpc, data string
	var amount, fee uint64
	var wf waitFlags
	send := &cobra.Command{
		Use:   "send --to ADDR --amount N --key FILE --rpc URL",
		Short: "Move coins: prints the transaction's hash, waits until it is final, and fails with the reason if it failed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dest, err := chain.ParseAddress(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			tx := &chain.Tx{To: dest, Amount: amount, Fee: fee}
			if data != "" {
				if tx.Data, err = hex.DecodeString(data); err != nil {
					return fmt.Errorf("--data: want hex")
				}
			}
			cc, err := newChainClient(rpc, keyFile)
			if err != nil {
				return err
			}
			return cc.submit(cmd, tx, wf)
		},
	}
	send.Flags().StringVar(&to, "to", "", "the receiving address (0x + 40 hex digits)")
	send.Flags().Uint64Var(&amount, "amount", 0, "coins to move")
	send.Flags().Uint64Var(&fee, "fee", 1, "fee paid to the proposer")
	send.Flags().StringVar(&keyFile, "key", "", "the sender's key file (hex Ed25519 seed)")
	send.Flags().StringVar(&rpc, "rpc", "", "a node's API, e.g. http://127.0.0.1:PORT")
	send.Flags().StringVar(&data, "data", "", "an application payload, hex")
	wf.register(send)
	for _, f := range []string{"to", "key", "rpc"} {
		send.MarkFlagRequired(f)
	}
	var showRPC string
	show := &cobra.Command{
		Use:   "show HASH --rpc URL",
		Short: "What became of a transaction: JSON with hash, status (pending, final, failed, unknown), height and error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := hex.DecodeString(strings.TrimPrefix(args[0], "0x"))
			if err != nil || len(raw) != 32 {
				return fmt.Errorf("%q: want a transaction hash (64 hex digits)", args[0])
			}
			cc, err := dialChain(showRPC)
			if err != nil {
				return err
			}
			var st node.TxStatus
			if err := cc.get("/v1/tx/"+hex.EncodeToString(raw), &st); err != nil {
				return err
			}
			return printJSON(cmd, st)
		},
	}
	show.Flags().StringVar(&showRPC, "rpc", "", "a node's API URL")
	show.MarkFlagRequired("rpc")
	cmd.AddCommand(send, show, newTxCallCmd(), newTxClaimCmd())
	return cmd
}

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Keys for the DPoR chain"}
	var out string
	var force bool
	newCmd := &cobra.Command{
		Use:   "new --out FILE",
		Short: "Write a new Ed25519 key (hex seed, mode 0600) and print its address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if err != nil {
				if os.IsExist(err) {
					return fmt.Errorf("%s exists: a key is not overwritten without --force", out)
				}
				return err
			}
			pub, k, err := ed25519.GenerateKey(nil)
			if err != nil {
				f.Close()
				return err
			}
			if _, err := fmt.Fprintln(f, hex.EncodeToString(k.Seed())); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), chain.AddressOf(pub))
			return nil
		},
	}
	newCmd.Flags().StringVar(&out, "out", "", "the key file to write")
	newCmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	newCmd.MarkFlagRequired("out")
	var keyFile string
	addr := &cobra.Command{
		Use:   "address --key FILE",
		Short: "Print a key file's address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := localnet.ReadKey(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), chain.AddressOf(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	addr.Flags().StringVar(&keyFile, "key", "", "the key file")
	addr.MarkFlagRequired("key")
	public := &cobra.Command{
		Use:   "public --key FILE",
		Short: "Print a key file's Ed25519 public key (hex): what others seal private data to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := localnet.ReadKey(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	public.Flags().StringVar(&keyFile, "key", "", "the key file")
	public.MarkFlagRequired("key")
	cmd.AddCommand(newCmd, addr, public)
	return cmd
}

func newAccountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Accounts on the DPoR chain"}
	var rpc string
	show := &cobra.Command{
		Use:   "show ADDR --rpc URL",
		Short: "An account as JSON: address, balance, nonce and pending_nonce (the nonce its next transaction takes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := chain.ParseAddress(args[0])
			if err != nil {
				return err
			}
			cc, err := dialChain(rpc)
			if err != nil {
				return err
			}
			var st node.AccountStatus
			if err := cc.get("/v1/account/"+a.String(), &st); err != nil {
				return err
			}
			return printJSON(cmd, st)
		},
	}
	show.Flags().StringVar(&rpc, "rpc", "", "a node's API URL")
	show.MarkFlagRequired("rpc")
	cmd.AddCommand(show)
	return cmd
}

func printJSON(cmd *cobra.Command, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
