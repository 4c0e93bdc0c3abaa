package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

var systemContracts = map[string]chain.Address{
	"campaign": chain.CampaignAddress, "admission": chain.AdmissionAddress, "rpt": chain.RPTAddress,
	"proxyRegister": chain.ProxyRegisterAddress, "register": chain.RegisterAddress,
}

func newTxCallCmd() *cobra.Command {
	var keyFile, rpc, contract, method, candidate, jsonArgs string
	var value, term, fee uint64
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "call --contract campaign|admission|rpt|proxyRegister|register|ADDRESS --method NAME --key FILE --rpc URL",
		Short: "Call a system contract: quitCampaign, punishCandidate (--candidate --term), updateCPUDifficulty, updateMemoryDifficulty, updateAlpha…updateOmega, updateWindow (--value), registerProxyContract (--args '{\"proxy\":ADDR,\"real\":ADDR}'), claimRegister (--args '{\"file_name\":…,\"file_hash\":HEX,\"file_size\":N}')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			to, ok := systemContracts[contract]
			if !ok {
				// A proxy's address reaches the contract it stands for.
				a, err := chain.ParseAddress(contract)
				if err != nil {
					return fmt.Errorf("--contract %q: want campaign, admission, rpt, proxyRegister, register or an address", contract)
				}
				to = a
			}
			cc, err := newChainClient(rpc, keyFile)
			if err != nil {
				return err
			}
			call := &chain.Call{Method: method}
			switch {
			case method == "punishCandidate":
				a, err := chain.ParseAddress(candidate)
				if err != nil {
					return fmt.Errorf("--candidate: %w", err)
				}
				call.Args = chain.Marshal(chain.PunishCandidateArgs{Candidate: a, Term: term})
			case strings.HasPrefix(method, "update"):
				call.Args = chain.Marshal(chain.UpdateArgs{Value: value})
			case method == "registerProxyContract":
				var a chain.RegisterProxyContractArgs
				if err := decodeJSONArgs(jsonArgs, &a); err != nil {
					return err
				}
				call.Args = chain.Marshal(a)
			case method == "claimRegister":
				var a chain.ClaimRegisterArgs
				if err := decodeJSONArgs(jsonArgs, &a); err != nil {
					return err
				}
				call.Args = chain.Marshal(a)
			}
			return cc.submit(cmd, &chain.Tx{To: to, Fee: fee, Call: call}, wf)
		},
	}
	wf.register(cmd)
	cmd.Flags().StringVar(&contract, "contract", "", "campaign, admission, rpt, proxyRegister, register, or the address of a proxy")
	cmd.Flags().StringVar(&jsonArgs, "args", "", "registerProxyContract, claimRegister: the arguments as a JSON object")
	cmd.Flags().StringVar(&method, "method", "", "the function")
	cmd.Flags().Uint64Var(&value, "value", 0, "the new value (update* functions)")
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

// decodeJSONArgs reads a function's arguments from a JSON object into v,
// refusing fields v does not have.
func decodeJSONArgs(s string, v any) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("--args: this function takes its arguments as a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("--args: %w", err)
	}
	return nil
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
