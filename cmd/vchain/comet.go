package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	abciserver "github.com/cometbft/cometbft/abci/server"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/comet/cometnode"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/kv"
)

// `vchain node --source comet`, `vchain abci` and `vchain comet`: the same
// applications on CometBFT (package comet).

// runCometNode runs CometBFT in process with the application until the
// command's context ends or the chain halts.
func runCometNode(cmd *cobra.Command, app, home, apiAddr, httpAddr string, snaps cometnode.Snapshots) error {
	if home == "" {
		return errors.New("--source comet needs --home DIR (a CometBFT home: vchain comet init --home DIR makes one)")
	}
	if apiAddr == "" {
		if apiAddr = cometnode.APIOf(home); apiAddr == "" {
			apiAddr = "127.0.0.1:0"
		}
	}
	log, err := logger()
	if err != nil {
		return err
	}
	n, err := cometnode.Start(cometnode.Config{Home: home, App: app, API: apiAddr, Logger: log, Snapshots: snaps})
	if err != nil {
		return err
	}
	defer n.Stop()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	if app == cometnode.AppNames {
		// The names queries on the application's data directory, as a
		// node of any other source serves them (names show --datadir).
		eng := n.App().Engine()
		en := &explorer.EngineNode{Store: n.Store(), Events: eng.Events(), Info: eng.Info(),
			Lookup: func(state kv.Reader, height int64, name string) (any, error) {
				return names.Lookup(state, name, height)
			}}
		if err := serveNames(ctx, en, cometnode.AppDir(home), httpAddr); err != nil {
			return err
		}
		defer os.Remove(nodeFile(cometnode.AppDir(home)))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "vchain %s on CometBFT chain %s: API http://%s\n", app, n.ChainID(), n.API())
	return n.Wait(ctx)
}

// snapshotFlags registers the flags of the snapshots a node on CometBFT
// takes for others to state-sync from.
func snapshotFlags(cmd *cobra.Command, s *cometnode.Snapshots, prefix string) {
	cmd.Flags().Int64Var(&s.Interval, "snapshot-interval", 1000, prefix+"take a snapshot every N blocks for nodes that join by state sync (0: none); they are kept beside the application's store, in DIR-snapshots")
	cmd.Flags().IntVar(&s.Keep, "snapshot-keep", 2, prefix+"how many snapshots to keep")
}

func newABCICmd() *cobra.Command {
	var app, datadir, listen, chainID, apiAddr, cometRPC string
	var snaps cometnode.Snapshots
	cmd := &cobra.Command{
		Use:   "abci --app names|contracts --datadir DIR --chain-id ID [--listen ADDR] [--api ADDR --comet-rpc URL]",
		Short: "Serve a vchain application to a stock cometbft binary over ABCI's socket protocol",
		Long: `abci serves the application (the names app or the contract runtime) on --listen for a cometbft
binary started with proxy_app set to that address (CometBFT v0.38; vchain comet init writes such
a home). The application's store is --datadir. With --api it also serves vchain's chain API
(the routes vchain contract --rpc and vchain names --source comet use), submitting through the
cometbft node's RPC at --comet-rpc.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if datadir == "" || chainID == "" {
				return errors.New("--datadir and --chain-id are required")
			}
			log, err := logger()
			if err != nil {
				return err
			}
			a, db, err := cometnode.OpenApp(datadir, app, chainID, snaps, log.With("app", app))
			if err != nil {
				return err
			}
			defer db.Close()
			defer a.Close() // before the store closes
			srv, err := abciserver.NewServer(listen, "socket", a)
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return fmt.Errorf("abci on %s: %w", listen, err)
			}
			defer srv.Stop()
			if apiAddr != "" {
				rpc, err := rpchttp.New(cometRPC, "/websocket")
				if err != nil {
					return fmt.Errorf("--comet-rpc: %w", err)
				}
				ln, err := net.Listen("tcp", apiAddr)
				if err != nil {
					return err
				}
				hs := &http.Server{Handler: cometnode.NewAPI(a, rpc, chainID).Handler(), ReadHeaderTimeout: 10 * time.Second,
					ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
				go hs.Serve(ln)
				defer hs.Close()
				fmt.Fprintf(cmd.ErrOrStderr(), "vchain API on http://%s\n", ln.Addr())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "vchain %s serving ABCI on %s\n", app, listen)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&app, "app", cometnode.AppContracts, "the application: names or contracts")
	cmd.Flags().StringVar(&datadir, "datadir", "", "the application's data directory")
	cmd.Flags().StringVar(&listen, "listen", "tcp://127.0.0.1:26658", "where cometbft connects (its proxy_app)")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "the CometBFT chain id transactions are signed for (the genesis chain_id)")
	cmd.Flags().StringVar(&apiAddr, "api", "", "also serve vchain's chain API here (host:port)")
	cmd.Flags().StringVar(&cometRPC, "comet-rpc", "http://127.0.0.1:26657", "with --api: the cometbft node's RPC")
	snapshotFlags(cmd, &snaps, "")
	return cmd
}

func newCometCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "comet", Short: "CometBFT chains running vchain applications: one-node homes and localnets"}
	var home, chainID string
	initCmd := &cobra.Command{
		Use:   "init --home DIR [--chain-id ID]",
		Short: "Lay out a one-validator CometBFT home for vchain node --source comet (or a cometbft binary with vchain abci)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return errors.New("--home is required")
			}
			parent, name := filepath.Dir(filepath.Clean(home)), filepath.Base(filepath.Clean(home))
			if ents, err := os.ReadDir(home); err == nil && len(ents) > 0 {
				return fmt.Errorf("%s is not empty", home)
			}
			os.Remove(home)
			tmp, err := os.MkdirTemp(parent, ".init-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			hs, err := cometnode.Lay(tmp, cometnode.Layout{Validators: 1, ChainID: chainID, Names: []string{name}})
			if err != nil {
				return err
			}
			if err := os.Rename(hs[0].Dir, home); err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]string{"home": home, "chain_id": firstOr(chainID, "vchain-comet"), "api": hs[0].API, "abci": "tcp://" + hs[0].ABCI, "rpc": "http://" + hs[0].RPC})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	initCmd.Flags().StringVar(&home, "home", "", "the home directory to create")
	initCmd.Flags().StringVar(&chainID, "chain-id", "vchain-comet", "the chain id")
	cmd.AddCommand(initCmd, newCometJoinCmd(), newCometLocalnetCmd())
	return cmd
}

func newCometJoinCmd() *cobra.Command {
	var home, genesis, trustHash string
	var peers, rpcs []string
	var trustHeight int64
	cmd := &cobra.Command{
		Use:   "join --home DIR --genesis FILE --peers ID@HOST:PORT,... [--rpc URL,URL [--trust-height H --trust-hash HASH]]",
		Short: "Lay out the home of a full node joining a running CometBFT chain, by state sync with --rpc",
		Long: `join writes a CometBFT home for a node that is not a validator: the chain's genesis, its peers, fresh
keys and loopback ports. With --rpc (two or more of the chain's RPC servers) the node state-syncs: it
restores the newest snapshot its peers offer, which CometBFT's light client checks against those
servers from the block it trusts, and vchain checks against that block's AppHash; without --rpc it
replays the chain from its genesis. The trusted block is --trust-height and --trust-hash, or, when
they are not given, the newest block of the first --rpc server: check that hash against another
source you trust. Then run vchain node --source comet --home DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" || genesis == "" || len(peers) == 0 {
				return errors.New("--home, --genesis and --peers are required")
			}
			if (trustHeight == 0) != (trustHash == "") {
				return errors.New("--trust-height and --trust-hash go together")
			}
			if trustHeight != 0 && len(rpcs) == 0 {
				return errors.New("--trust-height is for state sync: give --rpc too")
			}
			h, err := cometnode.LayJoiner(cmd.Context(), filepath.Dir(filepath.Clean(home)), cometnode.Joiner{
				Name: filepath.Base(filepath.Clean(home)), Genesis: genesis, Peers: peers,
				StateSync: len(rpcs) > 0, RPC: rpcs, TrustHeight: trustHeight, TrustHash: trustHash})
			if err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"home": h.Dir, "api": h.API, "rpc": "http://" + h.RPC, "p2p": h.P2P, "state_sync": len(rpcs) > 0})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the home directory to create")
	cmd.Flags().StringVar(&genesis, "genesis", "", "the chain's genesis.json")
	cmd.Flags().StringSliceVar(&peers, "peers", nil, "the chain's nodes to connect to (ID@HOST:PORT, comma-separated)")
	cmd.Flags().StringSliceVar(&rpcs, "rpc", nil, "state sync: two or more of the chain's RPC servers (comma-separated URLs)")
	cmd.Flags().Int64Var(&trustHeight, "trust-height", 0, "state sync: the height of a block you trust")
	cmd.Flags().StringVar(&trustHash, "trust-hash", "", "state sync: that block's hash (hex)")
	return cmd
}

func firstOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newCometLocalnetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "localnet", Short: "A CometBFT chain of vchain nodes on this machine, one process per validator"}
	var dir, app, name string
	var validators int
	var interval int64
	up := &cobra.Command{
		Use:   "up --validators 4 --dir DIR [--app contracts|names]",
		Short: "Create the localnet (when DIR has none) and start its nodes that are down; returns once every node committed a block",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ln *cometnode.Localnet
			var err error
			if cometnode.Exists(dir) {
				if ln, err = cometnode.LoadLocalnet(dir); err != nil {
					return err
				}
				if cmd.Flags().Changed("validators") && validators != ln.Validators() || cmd.Flags().Changed("app") && app != ln.App ||
					cmd.Flags().Changed("snapshot-interval") && interval != ln.SnapshotInterval {
					return fmt.Errorf("%s holds a localnet of %d validators running %s with a snapshot every %d blocks; remove it to lay out another", dir, ln.Validators(), ln.App, ln.SnapshotInterval)
				}
			} else if ln, err = cometnode.CreateLocalnetWith(dir, cometnode.Layout{Validators: validators}, app, interval); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			started, err := ln.Start(exe, "--log-level", global.logLevel)
			if err != nil {
				return err
			}
			var h int64 = 1
			for _, st := range ln.Status() {
				h = max(h, st.Height+1)
			}
			if err := ln.WaitHeight(h, 90*time.Second); err != nil {
				return err
			}
			var apis []string
			for _, n := range ln.Nodes {
				apis = append(apis, "http://"+n.API)
			}
			b, _ := json.Marshal(map[string]any{"dir": dir, "started": started, "chain_id": ln.ChainID, "app": ln.App, "api": apis})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	up.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	up.Flags().IntVar(&validators, "validators", 4, "validators")
	up.Flags().StringVar(&app, "app", cometnode.AppContracts, "the application: contracts or names")
	up.Flags().Int64Var(&interval, "snapshot-interval", cometnode.DefaultLocalnetSnapshots, "every node takes a snapshot every N blocks, for nodes that join by state sync (0: none)")
	up.MarkFlagRequired("dir")

	join := &cobra.Command{
		Use:   "join --dir DIR [--name NAME]",
		Short: "Add a full node that joins the running localnet by state sync, start it, and return once it has caught up",
		Long: `join lays out a node that is not a validator, with the localnet's genesis and its nodes as peers, set to
state-sync: it restores the newest snapshot the validators took (checked by CometBFT's light client
against two of them, and by the application against the AppHash of that block), then follows the
chain. The validators must have taken a snapshot (localnet up --snapshot-interval).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ln, err := cometnode.LoadLocalnet(dir)
			if err != nil {
				return err
			}
			if name == "" {
				name = fmt.Sprintf("node%d", len(ln.Nodes))
			}
			h, err := ln.Join(cmd.Context(), name)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if _, err := ln.Start(exe, "--log-level", global.logLevel); err != nil {
				return err
			}
			// Restored first (it waits for a snapshot the validators
			// take), then caught up with where they are by then.
			if err := ln.WaitHeight(1, 3*time.Minute, name); err != nil {
				return err
			}
			var top int64
			for _, st := range ln.Status() {
				top = max(top, st.Height)
			}
			if err := ln.WaitHeight(top, 2*time.Minute, name); err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"name": name, "home": h.Dir, "api": "http://" + h.API, "rpc": "http://" + h.RPC})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	join.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	join.Flags().StringVar(&name, "name", "", "the new node's name (default nodeN)")
	join.MarkFlagRequired("dir")

	status := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Print a JSON array: each node's name, process, height, consensus hash and state commitment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ln, err := cometnode.LoadLocalnet(dir)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(ln.Status(), "", "  ")
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
			ln, err := cometnode.LoadLocalnet(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stopped %s\n", strings.Join(ln.Stop(15*time.Second), " "))
			return nil
		},
	}
	down.Flags().StringVar(&dir, "dir", "", "the localnet's directory")
	down.MarkFlagRequired("dir")
	cmd.AddCommand(up, join, status, down)
	return cmd
}
