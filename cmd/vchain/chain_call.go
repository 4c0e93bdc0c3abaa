package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// newChainCmd is "vchain chain": read-only queries of the DPoR chain's
// system contracts.
func newChainCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "chain", Short: "Read the DPoR chain's system contracts: chain call runs a view, chain views lists them"}
	cmd.AddCommand(newChainCallCmd(), newChainViewsCmd())
	return cmd
}

func newChainCallCmd() *cobra.Command {
	var rpc, contract, method string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "call --contract NAME --method M [ARG...] --rpc URL",
		Short: "Run a read-only view of a system contract on a node's committed state and print its result as JSON",
		Long: `Run a read-only view of a system contract on a node's committed state and print
its result as JSON on one line (--pretty indents it); null when the record
looked up does not exist.

--contract is campaign, admission, rpt, proxyRegister, register, escrow, pdash, or the
0x address of a system contract or of a proxy registered for one. Each ARG is
a JSON value, given to the view's parameters in order; an ARG that is not JSON
is taken as a string (so addresses and names need no quotes). Put -- before a
negative number. 'vchain chain views' lists the views and their parameters.

Examples:
  vchain chain call --contract campaign --method candidatesOf 3 --rpc URL
  vchain chain call --contract rpt --method getRpt 0xADDRESS --rpc URL
  vchain chain call --contract register --method uploads 0xADDRESS 0 10 --rpc URL
  vchain chain call --contract escrow --method escrowOf deal-1 --rpc URL
  vchain chain call --contract pdash --method orderOf 1 --rpc URL
  vchain chain call --contract pdash --method proxyOf 0xADDRESS --rpc URL`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := chain.ContractByName(contract); err != nil {
				return fmt.Errorf("--contract: %w", err)
			}
			vals := make([]json.RawMessage, len(args))
			for i, a := range args {
				if json.Valid([]byte(a)) {
					vals[i] = json.RawMessage(a)
				} else {
					vals[i], _ = json.Marshal(a)
				}
			}
			body, _ := json.Marshal(vals)
			if len(body) > chain.MaxViewArgs {
				return fmt.Errorf("%d bytes of arguments, at most %d", len(body), chain.MaxViewArgs)
			}
			cc, err := dialChain(rpc)
			if err != nil {
				return err
			}
			var out json.RawMessage
			path := "/v1/call/" + url.PathEscape(contract) + "/" + url.PathEscape(method) + "?args=" + url.QueryEscape(string(body))
			if err := cc.get(path, &out); err != nil {
				return err
			}
			var b bytes.Buffer
			if pretty {
				err = json.Indent(&b, out, "", "  ")
			} else {
				err = json.Compact(&b, out)
			}
			if err != nil {
				return fmt.Errorf("the node answered %q: %w", out, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), b.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&contract, "contract", "", "campaign, admission, rpt, proxyRegister, register, escrow, pdash, or an address")
	cmd.Flags().StringVar(&method, "method", "", "the view, e.g. candidatesOf, getRpt, escrowOf, orderOf")
	cmd.Flags().StringVar(&rpc, "rpc", "", "a node's API URL")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "indent the JSON")
	for _, f := range []string{"contract", "method", "rpc"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newChainViewsCmd() *cobra.Command {
	var rpc string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "views [--rpc URL] [--json]",
		Short: "List the system contracts' views and their parameters (a node's, with --rpc; else this binary's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			views := chain.Views()
			if rpc != "" {
				cc, err := dialChain(rpc)
				if err != nil {
					return err
				}
				if err := cc.get("/v1/views", &views); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd, views)
			}
			var b strings.Builder
			for _, v := range views {
				fmt.Fprintf(&b, "%s %s\n", v.Contract, v)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), b.String())
			return err
		},
	}
	cmd.Flags().StringVar(&rpc, "rpc", "", "a node's API URL (default: the views this binary knows)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}
