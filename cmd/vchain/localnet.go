package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
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
			l, err := localnet.Load(dir)
			if err != nil {
				if l, err = localnet.Create(dir, o); err != nil {
					return err
				}
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
			n, err := node.Open(cfg)
			if err != nil {
				return err
			}
			defer n.Close()
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
	load.Flags().IntVar(&lo.Accounts, "accounts", 500, "sending accounts")
	cmd.AddCommand(up, status, down, nodeCmd, load)
	return cmd
}

func newTxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Transactions on the DPoR chain"}
	var to, keyFile, rpc, data string
	var amount, fee uint64
	send := &cobra.Command{
		Use:   "send --to ADDR --amount N --key FILE --rpc URL",
		Short: "Move coins; prints the transaction's hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dest, err := chain.ParseAddress(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			k, err := localnet.ReadKey(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			base := strings.TrimSuffix(rpc, "/")
			if !strings.HasPrefix(base, "http") {
				base = "http://" + base
			}
			c := &http.Client{Timeout: 10 * time.Second}
			var st struct {
				ChainID string `json:"chain_id"`
			}
			if err := localnet.GetJSON(c, base+"/v1/status", &st); err != nil {
				return fmt.Errorf("node unreachable at %s: %w", rpc, err)
			}
			from := chain.AddressOf(k.Public().(ed25519.PublicKey))
			var acct struct{ Nonce uint64 }
			if err := localnet.GetJSON(c, base+"/v1/account/"+from.String(), &acct); err != nil {
				return err
			}
			tx := &chain.Tx{Nonce: acct.Nonce, To: dest, Amount: amount, Fee: fee}
			if data != "" {
				if tx.Data, err = hex.DecodeString(data); err != nil {
					return fmt.Errorf("--data: want hex")
				}
			}
			tx.Sign(st.ChainID, k)
			body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
			resp, err := c.Post(base+"/v1/tx", "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			var r struct{ Hash, Error string }
			json.Unmarshal(out, &r)
			if resp.StatusCode != 200 {
				return fmt.Errorf("rejected: %s", r.Error)
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.Hash)
			return nil
		},
	}
	send.Flags().StringVar(&to, "to", "", "the receiving address (0x + 40 hex digits)")
	send.Flags().Uint64Var(&amount, "amount", 0, "coins to move")
	send.Flags().Uint64Var(&fee, "fee", 1, "fee paid to the proposer")
	send.Flags().StringVar(&keyFile, "key", "", "the sender's key file (hex Ed25519 seed)")
	send.Flags().StringVar(&rpc, "rpc", "", "a node's API, e.g. http://127.0.0.1:PORT")
	send.Flags().StringVar(&data, "data", "", "an application payload, hex")
	for _, f := range []string{"to", "key", "rpc"} {
		send.MarkFlagRequired(f)
	}
	cmd.AddCommand(send, newTxCallCmd(), newTxClaimCmd())
	return cmd
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
