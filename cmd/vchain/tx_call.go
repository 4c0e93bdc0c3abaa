package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
)

// chainClient talks to a DPoR node's API as one key.
type chainClient struct {
	base    string
	c       *http.Client
	key     ed25519.PrivateKey
	chainID string
}

// dialChain checks that a node answers at rpc and learns its chain id.
func dialChain(rpc string) (*chainClient, error) {
	base := strings.TrimSuffix(rpc, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	cc := &chainClient{base: base, c: httpClient()}
	var st struct {
		ChainID string `json:"chain_id"`
	}
	if err := localnet.GetJSON(cc.c, base+"/v1/status", &st); err != nil {
		return nil, fmt.Errorf("node unreachable at %s: %w", rpc, err)
	}
	cc.chainID = st.ChainID
	return cc, nil
}

func newChainClient(rpc, keyFile string) (*chainClient, error) {
	k, err := localnet.ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	cc, err := dialChain(rpc)
	if err != nil {
		return nil, err
	}
	cc.key = k
	return cc, nil
}

func (cc *chainClient) get(path string, v any) error { return localnet.GetJSON(cc.c, cc.base+path, v) }

// send signs tx with the sender's pending nonce (its committed nonce plus
// what it has waiting) and submits it; it returns the hash. When another
// client of the same key took that nonce first, it signs again with the
// next one.
func (cc *chainClient) send(tx *chain.Tx) (string, error) {
	from := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
	for attempt := 0; ; attempt++ {
		var acct node.AccountStatus
		if err := cc.get("/v1/account/"+from.String(), &acct); err != nil {
			return "", err
		}
		tx.Nonce = acct.PendingNonce
		tx.Sign(cc.chainID, cc.key)
		body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
		resp, err := cc.c.Post(cc.base+"/v1/tx", "application/json", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var r struct{ Hash, Error, Code string }
		json.Unmarshal(out, &r)
		switch {
		case resp.StatusCode == 200:
			return r.Hash, nil
		case resp.StatusCode == http.StatusConflict && (r.Code == "nonce-taken" || r.Code == "stale-nonce") && attempt < 5:
			continue // raced with another sender of this key
		case resp.StatusCode == http.StatusTooManyRequests && attempt < 30:
			time.Sleep(time.Second) // the chain is at capacity: as Retry-After says
			continue
		case r.Error == "":
			return "", fmt.Errorf("rejected: %s", resp.Status)
		}
		return "", fmt.Errorf("rejected: %s", r.Error)
	}
}

// wait polls the transaction until it is final or failed, or timeout
// passes; a failed transaction is an error naming the reason.
func (cc *chainClient) wait(hash string, timeout time.Duration) (node.TxStatus, error) {
	deadline := time.Now().Add(timeout)
	for {
		var st node.TxStatus
		err := cc.get("/v1/tx/"+hash, &st)
		switch {
		case err != nil:
		case st.Status == "final":
			return st, nil
		case st.Status == "failed":
			return st, fmt.Errorf("transaction %s failed in block %d: %s", hash, st.Height, st.Error)
		}
		if time.Now().After(deadline) {
			if err != nil {
				return st, err
			}
			return st, fmt.Errorf("transaction %s not final after %v (status %s)", hash, timeout, st.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// submit sends tx, prints its hash, and unless noWait waits until it is
// final (an error when it failed).
func (cc *chainClient) submit(cmd *cobra.Command, tx *chain.Tx, w waitFlags) error {
	h, err := cc.send(tx)
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), h)
	if w.noWait {
		return nil
	}
	_, err = cc.wait(h, w.timeout)
	return err
}

// waitFlags are --no-wait and --wait-timeout.
type waitFlags struct {
	noWait  bool
	timeout time.Duration
}

func (w *waitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.noWait, "no-wait", false, "return once the node accepted the transaction, without waiting until it is final")
	cmd.Flags().DurationVar(&w.timeout, "wait-timeout", time.Minute, "how long to wait until the transaction is final")
}

func newTxCallCmd() *cobra.Command {
	var keyFile, rpc, contract, method, candidate, jsonArgs string
	var value, term, fee, amount uint64
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "call --contract NAME --method NAME [--args JSON] [--amount N] --key FILE --rpc URL",
		Short: "Call a function of a system contract (campaign, admission, rpt, proxyRegister, register, escrow, pdash) with its arguments as JSON",
		Long: `Call a function of a system contract: prints the transaction's hash, waits until
it is final, and fails with the contract's reason if the call failed.

--contract is campaign, admission, rpt, proxyRegister, register, escrow, pdash, or the
0x address of a system contract or of a proxy registered for one. --args holds
the function's arguments as a JSON object; --amount the coins sent with it
(claimCampaign's deposit, prepay's payment, proxyDeposit's deposit,
placeOrder's price + proxy fee; other functions take none).
update* functions also take --value N, punishCandidate --candidate ADDR --term N.

Functions and their --args:
` + callHelp() + `
Examples:
  vchain tx call --contract escrow --method openEscrow --args '{"name":"deal-1"}' --key agent.key --rpc URL
  vchain tx call --contract escrow --method prepay --args '{"name":"deal-1"}' --amount 500 --key buyer.key --rpc URL
  vchain tx call --contract escrow --method payTo --args '{"name":"deal-1","to":"0xSELLER","amount":450}' --key agent.key --rpc URL
  vchain tx call --contract escrow --method refund --args '{"name":"deal-1","payer":"0xBUYER","amount":50}' --key agent.key --rpc URL
  vchain tx call --contract pdash --method proxyDeposit --amount 100 --key proxy.key --rpc URL
  vchain tx call --contract pdash --method placeOrder --args '{"desc_hash":"HEX32","seller":"0xSELLER","proxy":"0xPROXY","price":100,"proxy_fee":5,"timeout_blocks":50}' --amount 105 --key buyer.key --rpc URL
  vchain tx call --contract pdash --method sellerConfirm --args '{"order":1}' --key seller.key --rpc URL
  vchain tx call --contract pdash --method proxyDelivered --args '{"order":1,"deliver_hash":"HEX32"}' --key proxy.key --rpc URL
  vchain tx call --contract pdash --method buyerConfirm --args '{"order":1}' --key buyer.key --rpc URL
  vchain tx call --contract pdash --method rateProxy --args '{"order":1,"rating":5}' --key buyer.key --rpc URL
  vchain tx call --contract rpt --method updateAlpha --args '{"value":40}' --key deployer.key --rpc URL
  vchain tx call --contract campaign --method quitCampaign --key candidate.key --rpc URL`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := chain.ContractByName(contract)
			if err != nil {
				return fmt.Errorf("--contract: %w", err)
			}
			if ms, ok := chain.Methods[to]; ok && !slices.Contains(ms, method) {
				return fmt.Errorf("%s has no function %q; its functions: %s", contract, method, strings.Join(ms, ", "))
			}
			var call *chain.Call
			switch {
			case jsonArgs == "" && method == "punishCandidate":
				a, err := chain.ParseAddress(candidate)
				if err != nil {
					return fmt.Errorf("--candidate: %w (or give --args)", err)
				}
				call = &chain.Call{Method: method, Args: chain.Marshal(chain.PunishCandidateArgs{Candidate: a, Term: term})}
			case jsonArgs == "" && strings.HasPrefix(method, "update") && cmd.Flags().Changed("value"):
				call = &chain.Call{Method: method, Args: chain.Marshal(chain.UpdateArgs{Value: value})}
			default:
				if call, err = chain.CallFromJSON(method, []byte(jsonArgs)); err != nil {
					return fmt.Errorf("--args: %w", err)
				}
			}
			cc, err := newChainClient(rpc, keyFile)
			if err != nil {
				return err
			}
			return cc.submit(cmd, &chain.Tx{To: to, Amount: amount, Fee: fee, Call: call}, wf)
		},
	}
	wf.register(cmd)
	cmd.Flags().StringVar(&contract, "contract", "", "campaign, admission, rpt, proxyRegister, register, escrow, pdash, or an address (a proxy's reaches its contract)")
	cmd.Flags().StringVar(&jsonArgs, "args", "", "the function's arguments as a JSON object (see the list above)")
	cmd.Flags().StringVar(&method, "method", "", "the function")
	cmd.Flags().Uint64Var(&amount, "amount", 0, "coins sent with the call (claimCampaign, prepay, proxyDeposit, placeOrder)")
	cmd.Flags().Uint64Var(&value, "value", 0, "the new value (update* functions; same as --args '{\"value\":N}')")
	cmd.Flags().StringVar(&candidate, "candidate", "", "punishCandidate: the candidate's address")
	cmd.Flags().Uint64Var(&term, "term", 0, "punishCandidate: the term")
	cmd.Flags().Uint64Var(&fee, "fee", 1, "fee")
	cmd.Flags().StringVar(&keyFile, "key", "", "the caller's key file")
	cmd.Flags().StringVar(&rpc, "rpc", "", "a node's API URL")
	for _, f := range []string{"contract", "method", "key", "rpc"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// callHelp lists each system contract's functions with their JSON
// arguments, one a line.
func callHelp() string {
	var b strings.Builder
	for _, name := range chain.ContractNames() {
		a, _ := chain.ContractByName(name)
		for _, m := range chain.Methods[a] {
			args := chain.ArgsTemplate(m)
			if args == "" {
				args = "(no arguments)"
			}
			fmt.Fprintf(&b, "  %s %s %s\n", name, m, args)
		}
	}
	return b.String()
}

func newTxClaimCmd() *cobra.Command {
	var keyFile, rpc string
	var terms, fee uint64
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "claim --terms N --key FILE --rpc URL",
		Short: "Claim a campaign: solves the admission proofs (CPU and memory proof-of-work) over the newest block and pays the deposit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := newChainClient(rpc, keyFile)
			if err != nil {
				return err
			}
			var p chain.Params
			if err := cc.get("/v1/params", &p); err != nil {
				return err
			}
			who := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
			var a chain.ClaimCampaignArgs
			// The proofs must name one of the last AcceptableBlocks blocks
			// when the claim lands: solve again if the chain moved too far
			// while solving.
			for attempt := 0; ; attempt++ {
				var st struct{ Height uint64 }
				if err := cc.get("/v1/status", &st); err != nil {
					return err
				}
				var blk struct{ Hash string }
				if err := cc.get("/v1/block/"+strconv.FormatUint(st.Height, 10), &blk); err != nil {
					return err
				}
				raw, err := hex.DecodeString(blk.Hash)
				if err != nil || len(raw) != 32 {
					return fmt.Errorf("block %d: bad hash %q", st.Height, blk.Hash)
				}
				var bh [32]byte
				copy(bh[:], raw)
				a = chain.ClaimCampaignArgs{Terms: terms, CPUBlock: st.Height, MemBlock: st.Height,
					CPUNonce: chain.SolveProof(who, bh, p.CPUDifficulty, false),
					MemNonce: chain.SolveProof(who, bh, p.MemoryDifficulty, true)}
				var now struct{ Height uint64 }
				if err := cc.get("/v1/status", &now); err != nil {
					return err
				}
				if now.Height+2 <= st.Height+p.AcceptableBlocks {
					break
				}
				if attempt == 4 {
					return fmt.Errorf("the chain moves more than %d blocks while the admission proofs are solved; try again", p.AcceptableBlocks)
				}
			}
			return cc.submit(cmd, &chain.Tx{To: chain.CampaignAddress, Amount: p.BaseDeposit * terms, Fee: fee,
				Call: &chain.Call{Method: "claimCampaign", Args: chain.Marshal(a)}}, wf)
		},
	}
	wf.register(cmd)
	cmd.Flags().Uint64Var(&terms, "terms", 1, "terms to campaign for")
	cmd.Flags().Uint64Var(&fee, "fee", 1, "fee")
	cmd.Flags().StringVar(&keyFile, "key", "", "the candidate's key file (it signs its blocks with this key)")
	cmd.Flags().StringVar(&rpc, "rpc", "", "a node's API URL")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("rpc")
	return cmd
}
