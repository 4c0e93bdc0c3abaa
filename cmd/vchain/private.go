package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/contract/private"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/edkey"
	"github.com/vchain-dev/vchain/store"
	tapedpor "github.com/vchain-dev/vchain/tape/dpor"
)

// privateFlags are the flags of the private contract commands.
type privateFlags struct {
	rpc, key, genesis, datadir string
	fee                        uint64
	timeout                    time.Duration
}

func (f *privateFlags) register(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.rpc, "rpc", "", "a DPoR node's API (http://HOST:PORT)")
	p.StringVar(&f.key, "key", "", "your key file: you sign with it and open what is sealed to it")
	p.StringVar(&f.genesis, "genesis", "", "the chain's genesis file: the validators whose certificates make blocks final")
	p.StringVar(&f.datadir, "datadir", "", "where your engine keeps your private contracts' state (yours alone)")
	p.Uint64Var(&f.fee, "fee", 1, "the fee each transaction pays its proposer")
	p.DurationVar(&f.timeout, "wait-timeout", time.Minute, "how long to wait until a transaction is final")
}

func (f *privateFlags) need(what ...string) error {
	vals := map[string]string{"rpc": f.rpc, "key": f.key, "genesis": f.genesis, "datadir": f.datadir}
	var missing []string
	for _, w := range what {
		if vals[w] == "" {
			missing = append(missing, "--"+w)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this command needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// privateEngine is a participant's own engine over the chain's blocks as
// its key sees them.
type privateEngine struct {
	e   *engine.Engine
	db  *store.DB
	key ed25519.PrivateKey
	me  string
}

func (f *privateFlags) open() (*privateEngine, error) {
	if err := f.need("key", "datadir"); err != nil {
		return nil, err
	}
	k, err := localnet.ReadKey(f.key)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	db, err := store.Open(f.datadir, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("--datadir %s: %w", f.datadir, err)
	}
	e, err := engine.Open(db, host.NewChainApp(contract.Limits{}), engine.Config{})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &privateEngine{e: e, db: db, key: k, me: hex.EncodeToString(k.Public().(ed25519.PublicKey))}, nil
}

func (p *privateEngine) Close() error { return errors.Join(p.e.Flush(), p.db.Close()) }

// sync brings the engine to the node's final head, checking every block's
// certificate against the genesis validators.
func (p *privateEngine) sync(ctx context.Context, f *privateFlags) error {
	if err := f.need("rpc", "genesis"); err != nil {
		return err
	}
	g, err := chain.LoadGenesis(f.genesis)
	if err != nil {
		return err
	}
	return p.e.Sync(ctx, private.NewSource(tapedpor.New(f.rpc, g, []byte(host.ChainMagic)), p.key))
}

// record fetches a private contract's public record from the node.
func record(cc *chainClient, id string) (*host.PrivateContract, error) {
	var pc host.PrivateContract
	if err := cc.get("/v1/private/"+url.PathEscape(id), &pc); err != nil {
		return nil, err
	}
	return &pc, nil
}

// attest posts, for every sealed call of contract id this engine has
// passed and has not attested yet, the state after it.
func (p *privateEngine) attest(cmd *cobra.Command, cc *chainClient, id string, f *privateFlags) error {
	pc, err := record(cc, id)
	if err != nil {
		return err
	}
	states, err := private.States(pc, p.e.State())
	if err != nil {
		return err
	}
	self := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
	var sent []string
	for _, call := range pc.Calls {
		s, ok := states[call.Tx]
		if _, done := call.Attested[p.me]; !ok || done {
			continue
		}
		payload := host.AttestPayload(&host.Attestation{Contract: id, Tx: call.Tx, Root: s.Root, Length: s.Length})
		h, err := cc.send(&chain.Tx{To: self, Fee: f.fee, Data: payload})
		if err != nil {
			return fmt.Errorf("attesting the state after %s: %w", call.Tx, err)
		}
		sent = append(sent, h)
		fmt.Fprintf(cmd.ErrOrStderr(), "attesting the state after %s: %s at length %d\n", call.Tx, s.Root, s.Length)
	}
	for _, h := range sent {
		if _, err := cc.wait(h, f.timeout); err != nil {
			return err
		}
	}
	return nil
}

// sendSealed sends a sealed create or call and waits until it is final;
// it returns the transaction's hash.
func sendSealed(cmd *cobra.Command, cc *chainClient, payload []byte, f *privateFlags) (string, error) {
	if len(payload) > chain.MaxData {
		return "", fmt.Errorf("the sealed transaction would carry %d bytes; a DPoR transaction carries at most %d (smaller code or arguments, or fewer participants)", len(payload), chain.MaxData)
	}
	self := chain.AddressOf(cc.key.Public().(ed25519.PublicKey))
	h, err := cc.send(&chain.Tx{To: self, Fee: f.fee, Data: payload})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "transaction %s\n", h)
	if _, err := cc.wait(h, f.timeout); err != nil {
		return "", err
	}
	return h, nil
}

func parseKeys(list []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, s := range list {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("participant %q: want the 64 hex digits of an Ed25519 public key (vchain key public --key FILE)", s)
		}
		if err := edkey.Check(b); err != nil {
			return nil, fmt.Errorf("participant %s: %w", s, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func newPrivateCmd() *cobra.Command {
	var f privateFlags
	cmd := &cobra.Command{
		Use:   "private",
		Short: "Private contracts on a DPoR chain: calls and state only their participants see",
		Long: `A private contract runs like any contract, but its code, calls and state are sealed to its
participants (age, to their Ed25519 keys): the chain orders the sealed calls, and each participant's
own engine (--datadir) opens and runs them. After every call each participant attests the state
root it computed; "private audit" compares them, so a participant whose state diverges is found.`,
	}
	f.register(cmd)
	var with []string
	deploy := &cobra.Command{
		Use:   "deploy FILE --with PUBKEY[,PUBKEY...]",
		Short: "Create a private contract among you and the --with keys; prints its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.need("rpc", "key", "genesis", "datadir"); err != nil {
				return err
			}
			code, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			others, err := parseKeys(with)
			if err != nil {
				return err
			}
			cc, err := newChainClient(f.rpc, f.key)
			if err != nil {
				return err
			}
			parts := append([]ed25519.PublicKey{cc.key.Public().(ed25519.PublicKey)}, others...)
			payload, err := private.Seal(host.CreatePayload(string(code)), "", parts)
			if err != nil {
				return err
			}
			h, err := sendSealed(cmd, cc, payload, &f)
			if err != nil {
				return err
			}
			if err := runAndAttest(cmd, cc, h, h, &f); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	deploy.Flags().StringSliceVar(&with, "with", nil, "the other participants' public keys")

	call := &cobra.Command{
		Use:   "call ID METHOD [ARG...]",
		Short: "Call a private contract's method, sealed to its participants; prints the JSON result your engine computed",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.need("rpc", "key", "genesis", "datadir"); err != nil {
				return err
			}
			var callArgs []json.RawMessage
			for i, a := range args[2:] {
				if !json.Valid([]byte(a)) {
					return fmt.Errorf("argument %d (%s) is not a JSON value; quote strings: '\"text\"'", i+1, a)
				}
				callArgs = append(callArgs, json.RawMessage(a))
			}
			if callArgs == nil {
				callArgs = []json.RawMessage{}
			}
			cc, err := newChainClient(f.rpc, f.key)
			if err != nil {
				return err
			}
			pc, err := record(cc, args[0])
			if err != nil {
				return err
			}
			parts, err := parseKeys(pc.Participants)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(callArgs)
			payload, err := private.Seal(host.CallPayload(args[0], args[1], raw), args[0], parts)
			if err != nil {
				return err
			}
			h, err := sendSealed(cmd, cc, payload, &f)
			if err != nil {
				return err
			}
			return runAndAttest(cmd, cc, args[0], h, &f)
		},
	}

	syncCmd := &cobra.Command{
		Use:   "sync ID...",
		Short: "Bring your engine to the chain's head and attest the state after each call of the contracts you have not attested",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.need("rpc", "key", "genesis", "datadir"); err != nil {
				return err
			}
			cc, err := newChainClient(f.rpc, f.key)
			if err != nil {
				return err
			}
			p, err := f.open()
			if err != nil {
				return err
			}
			defer p.Close()
			if err := p.sync(cmd.Context(), &f); err != nil {
				return err
			}
			for _, id := range args {
				if err := p.attest(cmd, cc, id, &f); err != nil {
					return err
				}
			}
			return nil
		},
	}

	state := &cobra.Command{
		Use:   "state ID [PATH]",
		Short: "Print a file of a private contract's state from your engine (its exports without PATH); with --rpc and --genesis it syncs first",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.open()
			if err != nil {
				return err
			}
			defer p.Close()
			if f.rpc != "" && f.genesis != "" {
				if err := p.sync(cmd.Context(), &f); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				info, err := host.ChainContractInfo(p.e.State(), args[0])
				if err != nil {
					return fmt.Errorf("private contract %s: not in your engine (not yours, or sync first): %w", args[0], err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(info.Exports))
				return nil
			}
			data, err := host.ChainReadFile(p.e.State(), args[0], args[1])
			if err != nil {
				return fmt.Errorf("private contract %s: %s: %w", args[0], args[1], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(data))
			return nil
		},
	}

	audit := &cobra.Command{
		Use:   "audit ID",
		Short: "Check every participant's attestations of a private contract; with --key and --datadir your own engine is the reference. Exit 1 on a finding",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.need("rpc"); err != nil {
				return err
			}
			cc, err := dialChain(f.rpc)
			if err != nil {
				return err
			}
			pc, err := record(cc, args[0])
			if err != nil {
				return err
			}
			var mine map[string]private.State
			if f.key != "" && f.datadir != "" {
				p, err := f.open()
				if err != nil {
					return err
				}
				defer p.Close()
				if f.genesis != "" {
					if err := p.sync(cmd.Context(), &f); err != nil {
						return err
					}
				}
				if mine, err = private.States(pc, p.e.State()); err != nil {
					return err
				}
			}
			findings := private.Audit(pc, mine)
			for _, fd := range findings {
				b, _ := json.Marshal(fd)
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
			}
			if len(findings) > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("private contract %s: %d findings", args[0], len(findings))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private contract %s: %d calls, every participant attested the same state\n", args[0], len(pc.Calls))
			return nil
		},
	}

	var to string
	seal := &cobra.Command{
		Use:   "seal --to PUBKEY",
		Short: "Seal standard input to a public key (age, X25519 with ChaCha20-Poly1305); prints it as base64",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := parseKeys([]string{to})
			if err != nil {
				return err
			}
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), private.MaxSealed+1))
			if err != nil {
				return err
			}
			if len(in) > private.MaxSealed {
				return fmt.Errorf("more than %d bytes to seal", private.MaxSealed)
			}
			sealed, err := private.SealTo(in, keys)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(sealed))
			return nil
		},
	}
	seal.Flags().StringVar(&to, "to", "", "the recipient's public key (hex)")
	open := &cobra.Command{
		Use:   "open --key FILE",
		Short: "Open base64 sealed to your key (from standard input); prints what was sealed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := localnet.ReadKey(f.key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 2*private.MaxSealed))
			if err != nil {
				return err
			}
			sealed, err := base64.StdEncoding.DecodeString(strings.Trim(strings.TrimSpace(string(in)), `"`))
			if err != nil {
				return fmt.Errorf("standard input is not base64: %w", err)
			}
			out, err := private.OpenWith(sealed, k)
			if err != nil {
				return err
			}
			cmd.OutOrStdout().Write(out)
			return nil
		},
	}
	cmd.AddCommand(deploy, call, syncCmd, state, audit, seal, open)
	return cmd
}

// runAndAttest syncs the caller's engine past transaction h, prints what
// the contract did (an error when it failed) and attests the state after
// every call of contract id not yet attested.
func runAndAttest(cmd *cobra.Command, cc *chainClient, id, h string, f *privateFlags) error {
	p, err := f.open()
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.sync(cmd.Context(), f); err != nil {
		return err
	}
	res, ok, err := host.ChainCallOf(p.e.State(), h)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("transaction %s is final, but your engine did not run it (it was not sealed to you, or not to the contract's participants)", h)
	}
	if err := p.attest(cmd, cc, id, f); err != nil {
		return err
	}
	if err := callFailed(res); err != nil {
		return err
	}
	if res.Record.Type == host.TypeCall {
		fmt.Fprintln(cmd.OutOrStdout(), string(res.Record.Result))
	}
	return nil
}
