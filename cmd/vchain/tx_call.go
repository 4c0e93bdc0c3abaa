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

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
)

// chainClient talks to a DPoR node's API as one key.
type chainClient struct {
	base    string
	c       *http.Client
	key     ed25519.PrivateKey
	chainID string
}

func newChainClient(rpc, keyFile string) (*chainClient, error) {
	k, err := localnet.ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	base := strings.TrimSuffix(rpc, "/")
	if !strings.HasPrefix(base, "http") {
		base = "http://" + base
	}
	cc := &chainClient{base: base, c: httpClient(), key: k}
	var st struct {
		ChainID string `json:"chain_id"`
	}
	if err := localnet.GetJSON(cc.c, base+"/v1/status", &st); err != nil {
		return nil, fmt.Errorf("node unreachable at %s: %w", rpc, err)
	}
	cc.chainID = st.ChainID
	return cc, nil
}

func (cc *chainClient) get(path string, v any) error { return localnet.GetJSON(cc.c, cc.base+path, v) }

// send signs tx with the next nonce and submits it; it returns the hash.
func (cc *chainClient) send(tx *chain.Tx) (string, error) {
	from := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
	var acct struct{ Nonce uint64 }
	if err := cc.get("/v1/account/"+from.String(), &acct); err != nil {
		return "", err
	}
	tx.Nonce = acct.Nonce
	tx.Sign(cc.chainID, cc.key)
	body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
	resp, err := cc.c.Post(cc.base+"/v1/tx", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var r struct{ Hash, Error string }
	json.Unmarshal(out, &r)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("rejected: %s", r.Error)
	}
	return r.Hash, nil
}

var systemContracts = map[string]chain.Address{
	"campaign": chain.CampaignAddress, "admission": chain.AdmissionAddress, "rpt": chain.RPTAddress,
}

func newTxCallCmd() *cobra.Command {
	var keyFile, rpc, contract, method, candidate string
	var value, term, fee uint64
	cmd := &cobra.Command{
		Use:   "call --contract campaign|admission|rpt --method NAME --key FILE --rpc URL",
		Short: "Call a system contract: quitCampaign, punishCandidate (--candidate --term), updateCPUDifficulty, updateMemoryDifficulty, updateAlpha…updateOmega, updateWindow (--value)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			to, ok := systemContracts[contract]
			if !ok {
				return fmt.Errorf("--contract %q: want campaign, admission or rpt", contract)
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
			}
			h, err := cc.send(&chain.Tx{To: to, Fee: fee, Call: call})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	cmd.Flags().StringVar(&contract, "contract", "", "campaign, admission or rpt")
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

func newTxClaimCmd() *cobra.Command {
	var keyFile, rpc string
	var terms, fee uint64
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
			h, err := cc.send(&chain.Tx{To: chain.CampaignAddress, Amount: p.BaseDeposit * terms, Fee: fee,
				Call: &chain.Call{Method: "claimCampaign", Args: chain.Marshal(a)}})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&terms, "terms", 1, "terms to campaign for")
	cmd.Flags().Uint64Var(&fee, "fee", 1, "fee")
	cmd.Flags().StringVar(&keyFile, "key", "", "the candidate's key file (it signs its blocks with this key)")
	cmd.Flags().StringVar(&rpc, "rpc", "", "a node's API URL")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("rpc")
	return cmd
}
