package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/apps"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/events"
)

// `vchain contract ... --rpc URL`: the same commands against a DPoR node,
// where a deploy or a call is a signed chain transaction (its payload the
// contract runtime's create or call) and reads come from the contract
// runtime the node runs on its final blocks.

// chain returns a client of --rpc signing with --key; a missing key file
// is created only when --new-key says so (a new key has no coins).
func (f *clientFlags) chain(cmd *cobra.Command) (*chainClient, error) {
	if _, err := os.Stat(f.key); errors.Is(err, os.ErrNotExist) {
		if !f.newKey {
			return nil, fmt.Errorf("key file %s does not exist: check --key (or VCHAIN_KEY), or add --new-key to make a new identity there (it needs coins to pay fees)", f.key)
		}
		if _, err := api.LoadUser(f.key, true); err != nil {
			return nil, err
		}
	}
	return newChainClient(f.rpc, f.key)
}

// reader returns a client of --rpc for reads (no key).
func (f *clientFlags) reader() (*chainClient, error) { return dialChain(f.rpc) }

// chainSend submits a contract transaction carrying payload, waits until
// it is final, and returns what the contract runtime did with it.
func chainSend(cmd *cobra.Command, cc *chainClient, payload []byte, fee uint64, w waitFlags) (*host.ChainCall, error) {
	if len(payload) > chain.MaxData {
		return nil, fmt.Errorf("the transaction would carry %d bytes of data; a DPoR transaction carries at most %d", len(payload), chain.MaxData)
	}
	self := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
	h, err := cc.send(&chain.Tx{To: self, Fee: fee, Data: payload})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "transaction %s\n", h)
	if _, err := cc.wait(h, w.timeout); err != nil {
		return nil, err
	}
	return chainCallOf(cc, h, w.timeout)
}

// chainCallOf asks the node what the contract runtime did with final
// transaction h, waiting (up to timeout) for the runtime to apply it.
func chainCallOf(cc *chainClient, h string, timeout time.Duration) (*host.ChainCall, error) {
	deadline := time.Now().Add(timeout)
	for {
		var out host.ChainCall
		err := cc.get(fmt.Sprintf("/v1/contract-calls/%s?wait_ms=%d", h, min(timeout, 30*time.Second).Milliseconds()), &out)
		if err == nil {
			return &out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("transaction %s is final, but the node did not tell what the contract runtime did: %w", h, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callFailed turns a contract runtime verdict into the command's error.
func callFailed(cc *host.ChainCall) error {
	if e := cc.Record.Error; e != nil {
		return fmt.Errorf("%s (in block %d): %s: %s", cc.Record.Type, cc.Height, e.Code, e.Message)
	}
	return nil
}

func chainDeploy(cmd *cobra.Command, f *clientFlags, code []byte) error {
	cc, err := f.chain(cmd)
	if err != nil {
		return err
	}
	res, err := chainSend(cmd, cc, host.CreatePayload(string(code)), f.fee, f.wait)
	if err != nil {
		return err
	}
	if err := callFailed(res); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.Contract)
	return nil
}

func chainCall(cmd *cobra.Command, f *clientFlags, id, method string, args []json.RawMessage) error {
	cc, err := f.chain(cmd)
	if err != nil {
		return err
	}
	if args == nil {
		args = []json.RawMessage{}
	}
	raw, _ := json.Marshal(args)
	res, err := chainSend(cmd, cc, host.CallPayload(id, method, raw), f.fee, f.wait)
	if err != nil {
		return err
	}
	if err := callFailed(res); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(res.Record.Result))
	return nil
}

// chainState prints a file of the contract's state archive, or its
// exports without a path.
func chainState(cmd *cobra.Command, f *clientFlags, id, path string) error {
	cc, err := f.reader()
	if err != nil {
		return err
	}
	if path == "" {
		var info apps.ContractInfo
		if err := cc.get("/v1/contracts/"+url.PathEscape(id), &info); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), string(info.Exports))
		return nil
	}
	var sf apps.ContractState
	if err := cc.get("/v1/contracts/"+url.PathEscape(id)+"/state?path="+url.QueryEscape(path), &sf); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), sf.Content)
	return nil
}

// chainLog prints the contract's creates and calls, one JSON object per
// line, oldest first; with follow it goes on printing them as the node's
// contract runtime applies them (woken by its events).
func chainLog(cmd *cobra.Command, f *clientFlags, id string, follow bool) error {
	cc, err := f.reader()
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	// The runtime's event cursor now: what comes after is new.
	var cursor string
	if follow {
		for {
			var page events.Page
			if err := cc.get("/v1/apps/contracts/events?contract="+url.QueryEscape(id)+"&after="+url.QueryEscape(cursor), &page); err != nil {
				return err
			}
			if page.Next == cursor || len(page.Events) == 0 {
				cursor = page.Next
				break
			}
			cursor = page.Next
		}
	}
	for from := 0; ; {
		var page []host.ChainCall
		if err := cc.get(fmt.Sprintf("/v1/contracts/%s/calls?from=%d", url.PathEscape(id), from), &page); err != nil {
			return err
		}
		for i := range page {
			b, _ := json.Marshal(&page[i])
			fmt.Fprintln(w, string(b))
		}
		from += len(page)
		if len(page) > 0 {
			continue
		}
		if !follow {
			return nil
		}
		// Wait for the runtime's next op about the contract.
		for {
			var ev events.Page
			c := *cc.c
			c.Timeout = events.MaxWait + 15*time.Second
			err := localnet.GetJSON(&c, cc.base+"/v1/apps/contracts/events?wait=25s&contract="+url.QueryEscape(id)+"&after="+url.QueryEscape(cursor), &ev)
			if cmd.Context().Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			cursor = ev.Next
			if len(ev.Events) > 0 {
				break
			}
		}
	}
}

// chainWhoami prints the key's chain address: what contracts on DPoR see
// as call.caller.
func chainWhoami(w io.Writer, f *clientFlags) error {
	k, err := localnet.ReadKey(f.key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	fmt.Fprintln(w, chain.AddressOf(k.Public().(ed25519.PublicKey)))
	return nil
}
