package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vchain-dev/vchain/comet/cometnode"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/progress"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/bitcoin"
	"github.com/vchain-dev/vchain/tape/dpor"
	"github.com/vchain-dev/vchain/vchash"
)

// rpcFlags are the flags every Bitcoin command shares.
type rpcFlags struct {
	rpc, user, pass, network, cert string
	noTLS                          bool
	fetchMiB, fetchBatches         int // sync and node only; 0 is the source's default
}

// registerFetch adds the fetch-ahead flags of the commands that read blocks.
func (f *rpcFlags) registerFetch(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.fetchMiB, "fetch-mem", 256, "with --source bitcoin: MiB that blocks fetched ahead may hold")
	cmd.Flags().IntVar(&f.fetchBatches, "fetch-batches", 4, "with --source bitcoin: runs of blocks asked of the node at once")
}

func (f *rpcFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.rpc, "rpc", "127.0.0.1:18334", "the node's JSON-RPC address HOST:PORT (btcd regtest default)")
	cmd.Flags().StringVar(&f.user, "rpc-user", "", "JSON-RPC user")
	cmd.Flags().StringVar(&f.pass, "rpc-pass", "", "JSON-RPC password")
	cmd.Flags().StringVar(&f.network, "network", "regtest", "regtest, testnet or mainnet")
	cmd.Flags().BoolVar(&f.noTLS, "rpc-notls", false, "plain HTTP (a node on loopback)")
	cmd.Flags().StringVar(&f.cert, "rpc-cert", "", "PEM certificate to trust for the node's TLS (e.g. btcd's rpc.cert)")
}

func (f *rpcFlags) params() (*chaincfg.Params, error) {
	switch f.network {
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "testnet":
		return &chaincfg.TestNet3Params, nil
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	}
	return nil, fmt.Errorf("--network %q: want regtest, testnet or mainnet", f.network)
}

func (f *rpcFlags) source(magic []byte) (*bitcoin.Source, *chaincfg.Params, error) {
	p, err := f.params()
	if err != nil {
		return nil, nil, err
	}
	var certs []byte
	if f.cert != "" && !f.noTLS {
		if certs, err = os.ReadFile(f.cert); err != nil {
			return nil, nil, fmt.Errorf("--rpc-cert: %w", err)
		}
	}
	if f.fetchMiB < 0 || f.fetchBatches < 0 {
		return nil, nil, fmt.Errorf("--fetch-mem %d, --fetch-batches %d: want positive numbers", f.fetchMiB, f.fetchBatches)
	}
	s, err := bitcoin.NewSource(bitcoin.RPCConfig{Host: f.rpc, User: f.user, Pass: f.pass, NoTLS: f.noTLS, Certificates: certs, Params: p,
		FetchBytes: int64(f.fetchMiB) << 20, Batches: f.fetchBatches}, magic)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.Tip(context.Background()); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("node unreachable at %s: %w", f.rpc, err)
	}
	return s, p, nil
}

// namesEngine opens the names application's engine in datadir.
func namesEngine(datadir string, first int64, cfg engine.Config) (*engine.Engine, *store.DB, error) {
	if datadir == "" {
		return nil, nil, errors.New("--datadir is required")
	}
	db, err := store.Open(datadir, store.Options{})
	// A query (names show) may hold the directory for a moment: wait
	// for it rather than fail.
	for wait := 0; err != nil && (errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held")) && wait < 100; wait++ {
		time.Sleep(50 * time.Millisecond)
		db, err = store.Open(datadir, store.Options{})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("data directory %s: %w", datadir, err)
	}
	e, err := engine.Open(db, names.New(names.Options{FirstBlock: first}), cfg)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return e, db, nil
}

// contractsEngine opens the contract application's engine in datadir.
func contractsEngine(datadir string, first int64, cfg engine.Config) (*engine.Engine, *store.DB, error) {
	if datadir == "" {
		return nil, nil, errors.New("--datadir is required")
	}
	db, err := store.Open(datadir, store.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("data directory %s: %w", datadir, err)
	}
	e, err := engine.Open(db, host.NewChainApp(contract.Limits{}), cfg)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return e, db, nil
}

func newSyncCmd(follow bool) *cobra.Command {
	var f rpcFlags
	var datadir, source, app, httpAddr, genesisFile, home, apiAddr string
	var checkpoints, stateCheckpoints []string
	var confirmations, first int64
	var poll time.Duration
	var snaps cometnode.Snapshots
	use, short := "sync", "Catch up with the node (to its tip minus --confirmations) and exit"
	if follow {
		use, short = "node", "Keep following the node, applying blocks as they are confirmed"
	}
	cmd := &cobra.Command{
		Use:   use + " --source bitcoin --app names --datadir DIR",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if source == "comet" {
				if !follow {
					return errors.New("--source comet: run vchain node --source comet (the application commits with each CometBFT block; there is nothing to sync from outside)")
				}
				if app != "names" && app != "contracts" {
					return fmt.Errorf("--app %q: names or contracts", app)
				}
				return runCometNode(cmd, app, home, apiAddr, httpAddr, snaps)
			}
			if app != "names" && !(app == "contracts" && source == "dpor") {
				return fmt.Errorf("--app %q: names (any source) or contracts (--source dpor or comet)", app)
			}
			magic := []byte(names.Magic)
			if app == "contracts" {
				magic = []byte(host.ChainMagic)
			}
			log, err := logger()
			if err != nil {
				return err
			}
			tuneGC(2 << 30)
			var src tape.Source
			switch source {
			case "bitcoin":
				bsrc, _, err := f.source(magic)
				if err != nil {
					return err
				}
				defer bsrc.Close()
				src = bsrc
			case "dpor":
				if genesisFile == "" || !cmd.Flags().Changed("rpc") {
					return errors.New("--source dpor needs --genesis FILE and --rpc URL (a node's API)")
				}
				g, err := chain.LoadGenesis(genesisFile)
				if err != nil {
					return err
				}
				dsrc := dpor.New(f.rpc, g, magic)
				if _, err := dsrc.Tip(cmd.Context()); err != nil {
					return fmt.Errorf("node unreachable at %s: %w", f.rpc, err)
				}
				src = dsrc
				if !cmd.Flags().Changed("confirmations") {
					confirmations = 0 // blocks are final
				}
			default:
				return fmt.Errorf("--source %q: want bitcoin or dpor", source)
			}
			bar := progress.New(use, os.Stderr, log)
			start := int64(-1)
			open := namesEngine
			if app == "contracts" {
				open = contractsEngine
			}
			cfg := engine.Config{Confirmations: confirmations, Logger: log, Events: true}
			if err := checkpointFlags(&cfg, checkpoints, stateCheckpoints); err != nil {
				return err
			}
			meter := explorer.NewMeter()
			cfg.OnTip = meter.SourceTip
			cfg.OnBlock = func(ev engine.BlockEvent) {
				meter.Observe(time.Now(), int64(ev.Record.Accepted))
				if start < 0 {
					start = ev.Record.Height
				}
				frac := -1.0
				if ev.Target > start {
					frac = float64(ev.Record.Height-start+1) / float64(ev.Target-start+1)
				}
				bar.Add(ev.Record.Height, int64(ev.Record.Accepted), frac)
			}
			e, db, err := open(datadir, first, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			defer bar.Done()
			if follow {
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				n := &explorer.EngineNode{Store: db, Events: e.Events(), Info: e.Info(), Confirmations: confirmations, Meter: meter}
				if app == "names" {
					n.Lookup = func(state kv.Reader, height int64, name string) (any, error) {
						return names.Lookup(state, name, height)
					}
				}
				if err := serveNames(ctx, n, datadir, httpAddr); err != nil {
					return err
				}
				defer os.Remove(nodeFile(datadir))
				return e.Follow(ctx, src, poll)
			}
			if err := e.Sync(cmd.Context(), src); err != nil {
				return err
			}
			ch, _ := e.Consensus()
			var state lthash.Digest
			if rec, err := e.Record(e.Height()); err == nil {
				state = rec.State
			}
			fmt.Fprintf(cmd.OutOrStdout(), "synced to height %d, consensus hash %s, state commitment %s\n", e.Height(), ch, state)
			return nil
		},
	}
	f.register(cmd)
	f.registerFetch(cmd)
	cmd.Flags().StringVar(&datadir, "datadir", "", "the engine's data directory")
	cmd.Flags().StringVar(&source, "source", "bitcoin", "the input tape: bitcoin, dpor (the built-in chain), or with node, comet (CometBFT in process)")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "with --source dpor: the chain's genesis file (certificates are checked against its validators)")
	cmd.Flags().StringVar(&app, "app", "names", "the application: names, or contracts (JavaScript contracts replicated on the DPoR chain)")
	cmd.Flags().Int64Var(&confirmations, "confirmations", 6, "blocks a block must have on top of it before it is processed")
	cmd.Flags().Int64Var(&first, "first-block", 0, "the application's first block")
	cmd.Flags().StringArrayVar(&checkpoints, "checkpoint", nil, "HEIGHT:CONSENSUS_HASH that block HEIGHT must produce (repeatable); a mismatch stops before the block commits")
	cmd.Flags().StringArrayVar(&stateCheckpoints, "state-checkpoint", nil, "HEIGHT:STATE_COMMITMENT the state after block HEIGHT must hash to (repeatable)")
	if follow {
		cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:0", "where to serve queries and events (names show asks here while the node holds the data directory; GET /v1/events)")
		cmd.Flags().DurationVar(&poll, "poll", time.Second, "how often to ask the node for new blocks")
		cmd.Flags().StringVar(&home, "home", "", "with --source comet: the CometBFT home (vchain comet init makes one); the application's store is HOME/vchain")
		cmd.Flags().StringVar(&apiAddr, "api", "", "with --source comet: where to serve vchain's chain API (vchain contract --rpc, names --source comet); default: the address vchain comet init chose, else a free port")
		snapshotFlags(cmd, &snaps, "with --source comet: ")
	}
	return cmd
}

func newNamesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "names", Short: "The names application on Bitcoin: submit ops, show names"}
	var datadir string
	show := &cobra.Command{
		Use:   "show NAME --datadir DIR",
		Short: "Print a name's record as JSON (exit 1 when there is none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nr, err := openNames(datadir)
			if err != nil {
				return err
			}
			defer nr.Close()
			rec, height, err := nr.lookup(args[0])
			if errors.Is(err, names.ErrNameNotFound) {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: no such name (synced to height %d)", args[0], height)}
			}
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(rec, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	show.Flags().StringVar(&datadir, "datadir", "", "the engine's data directory")
	cmd.AddCommand(show)
	for _, op := range []string{"preorder", "register", "update", "transfer", "revoke", "renew"} {
		cmd.AddCommand(newNamesOpCmd(op))
	}
	return cmd
}

// saltPath is where preorder keeps a name's salt for register to find.
func saltPath(datadir, name, addr string) string {
	return filepath.Join(datadir, "salts", name+"-"+addr+".hex")
}

func newNamesOpCmd(op string) *cobra.Command {
	var f rpcFlags
	var wif, datadir string
	args := map[string]cobra.PositionalArgs{"update": cobra.ExactArgs(2), "transfer": cobra.ExactArgs(2)}[op]
	if args == nil {
		args = cobra.ExactArgs(1)
	}
	use := map[string]string{"update": "update NAME VALUE", "transfer": "transfer NAME ADDRESS"}[op]
	if use == "" {
		use = op + " NAME"
	}
	var source string
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   use + " --key WIF | --source dpor --rpc URL --key FILE",
		Short: "Submit a " + op + " of a name (on Bitcoin, or with --source dpor on a DPoR chain); prints the transaction id",
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sub namesSubmitter
			var decodeAddr func(string) ([]byte, error)
			switch source {
			case "bitcoin":
				src, params, err := f.source(nil)
				if err != nil {
					return err
				}
				defer src.Close()
				bsub, err := bitcoin.NewSubmitter(src.Client(), params, wif)
				if err != nil {
					return err
				}
				sub = btcNamesSubmitter{bsub}
				decodeAddr = func(s string) ([]byte, error) {
					a, err := address.DecodeAddress(s, params)
					if err != nil {
						return nil, err
					}
					return txscript.PayToAddrScript(a)
				}
			case "dpor", "comet":
				if !cmd.Flags().Changed("rpc") {
					return fmt.Errorf("--source %s needs --rpc URL (a node's API)", source)
				}
				cc, err := newChainClient(f.rpc, wif)
				if err != nil {
					return err
				}
				sub = &dporNamesSubmitter{cc: cc, cmd: cmd, wait: wf}
				decodeAddr = func(s string) ([]byte, error) {
					a, err := chain.ParseAddress(s)
					return a[:], err
				}
			default:
				return fmt.Errorf("--source %q: want bitcoin, dpor or comet", source)
			}
			name := args[0]
			addr := sub.Address()
			var err error
			fresh := func() (vchash.ConsensusHash, error) {
				nr, err := openNames(datadir)
				if err != nil {
					return vchash.ConsensusHash{}, err
				}
				defer nr.Close()
				return consensusOf(nr)
			}
			var payload, to []byte
			switch op {
			case "preorder":
				ch, err := fresh()
				if err != nil {
					return err
				}
				salt := make([]byte, names.SaltLen)
				rand.Read(salt)
				if payload, err = names.PreorderPayload(name, salt, sub.Script(), ch); err != nil {
					return err
				}
				p := saltPath(datadir, name, addr)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(p, []byte(hex.EncodeToString(salt)), 0o600); err != nil {
					return err
				}
			case "register":
				s, err := os.ReadFile(saltPath(datadir, name, addr))
				if err != nil {
					return fmt.Errorf("no preorder of %s by %s in %s: preorder it first", name, addr, datadir)
				}
				salt, err := hex.DecodeString(string(s))
				if err != nil {
					return err
				}
				if payload, err = names.RegisterPayload(name, salt, nil); err != nil {
					return err
				}
			case "update":
				value, err := hex.DecodeString(args[1])
				if err != nil || len(value) != names.ValueHashLen {
					h := vchash.Hash160([]byte(args[1]))
					value = h[:]
				}
				if payload, err = names.UpdatePayload(name, value); err != nil {
					return err
				}
			case "transfer":
				ch, err := fresh()
				if err != nil {
					return err
				}
				if to, err = decodeAddr(args[1]); err != nil {
					return fmt.Errorf("address %q: %w", args[1], err)
				}
				if payload, err = names.TransferPayload(name, ch, true); err != nil {
					return err
				}
			case "revoke":
				if payload, err = names.RevokePayload(name); err != nil {
					return err
				}
			case "renew":
				if payload, err = names.RenewPayload(name); err != nil {
					return err
				}
			}
			h, err := sub.Submit(payload, to)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&source, "source", "bitcoin", "where the names app's ops go: bitcoin, dpor or comet (a chain node's API at --rpc)")
	cmd.Flags().StringVar(&wif, "key", "", "the key that sends and pays: a WIF private key (bitcoin) or a key file (dpor)")
	cmd.Flags().StringVar(&datadir, "datadir", "", "the engine's data directory (for the consensus hash and preorder salts)")
	cmd.Flags().DurationVar(&wf.timeout, "wait-timeout", time.Minute, "with --source dpor: how long to wait until the transaction is final")
	return cmd
}

// namesSubmitter sends names ops: as Bitcoin transactions, or as DPoR
// transactions whose payload is the op.
type namesSubmitter interface {
	// Address is the sender's address as the chain writes it.
	Address() string
	// Script is what the names app sees as the sender's script.
	Script() []byte
	// Submit sends payload (to the owner script to, for a transfer) and
	// returns the transaction's id.
	Submit(payload, to []byte) (string, error)
}

type btcNamesSubmitter struct{ *bitcoin.Submitter }

func (b btcNamesSubmitter) Address() string { return b.Submitter.Address().EncodeAddress() }

func (b btcNamesSubmitter) Submit(payload, to []byte) (string, error) {
	h, err := b.Submitter.Submit(payload, to)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// dporNamesSubmitter sends names ops as DPoR transactions: the sender's
// script is its 20-byte address, and a transfer goes to the new owner's
// address. It waits until the transaction is final.
type dporNamesSubmitter struct {
	cc   *chainClient
	cmd  *cobra.Command
	wait waitFlags
}

func (d *dporNamesSubmitter) self() chain.Address {
	return chain.AddressOf(d.cc.key.Public().(ed25519.PublicKey))
}

func (d *dporNamesSubmitter) Address() string { return d.self().String() }

func (d *dporNamesSubmitter) Script() []byte { a := d.self(); return a[:] }

func (d *dporNamesSubmitter) Submit(payload, to []byte) (string, error) {
	dest := d.self()
	if to != nil {
		if len(to) != len(dest) {
			return "", fmt.Errorf("a DPoR address is %d bytes, not %d", len(dest), len(to))
		}
		copy(dest[:], to)
	}
	h, err := d.cc.send(&chain.Tx{To: dest, Fee: 1, Data: payload})
	if err != nil {
		return "", err
	}
	if _, err := d.cc.wait(h, d.wait.timeout); err != nil {
		return "", err
	}
	return h, nil
}
