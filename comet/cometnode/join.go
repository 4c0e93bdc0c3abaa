package cometnode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"

	"github.com/vchain-dev/vchain/internal/freeport"
)

// Joiner says how to lay out the home of a node joining a running chain
// (not a validator): from its genesis, its peers, and, for state sync,
// two of its nodes' RPC servers and a block the joiner trusts.
type Joiner struct {
	// Name is the node's moniker and directory name.
	Name string
	// Genesis is the chain's genesis file.
	Genesis string
	// Peers are the chain's nodes to connect to (ID@host:port).
	Peers []string
	// StateSync, when set, has the node restore a recent snapshot
	// instead of replaying the chain: RPC lists at least two of the
	// chain's RPC servers the light client checks headers against.
	StateSync bool
	RPC       []string
	// TrustHeight and TrustHash are the block the node trusts the chain
	// from. Unset, they are asked of RPC[0]: trust in that server, which
	// the operator should check against another source.
	TrustHeight int64
	TrustHash   string
	// Tune, when set, adjusts the configuration before it is written.
	Tune func(*cfg.Config)
}

// LayJoiner writes the home of a joining node under dir (dir/Name, which
// must not exist), with loopback ports picked free now.
func LayJoiner(ctx context.Context, dir string, j Joiner) (Home, error) {
	if j.Name == "" {
		return Home{}, errors.New("the joining node needs a name")
	}
	gen, err := types.GenesisDocFromFile(j.Genesis)
	if err != nil {
		return Home{}, fmt.Errorf("genesis: %w", err)
	}
	if j.StateSync {
		if len(j.RPC) < 2 {
			return Home{}, fmt.Errorf("state sync checks headers against at least two RPC servers; %d given", len(j.RPC))
		}
		if j.TrustHeight == 0 || j.TrustHash == "" {
			if j.TrustHeight, j.TrustHash, err = TrustedBlock(ctx, j.RPC[0]); err != nil {
				return Home{}, err
			}
		}
	}
	home := filepath.Join(dir, j.Name)
	if _, err := os.Stat(home); err == nil {
		return Home{}, fmt.Errorf("%s exists", home)
	}
	ports, err := freeport.Loopback(4)
	if err != nil {
		return Home{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Home{}, err
	}
	// Built beside, then renamed: a failure leaves nothing behind.
	tmp, err := os.MkdirTemp(dir, ".join-")
	if err != nil {
		return Home{}, err
	}
	defer os.RemoveAll(tmp)
	h := Home{Name: j.Name, Dir: home, P2P: ports[0], RPC: ports[1], API: ports[2], ABCI: ports[3]}
	c := cfg.DefaultConfig()
	configure(c, h, j.Peers)
	if j.StateSync {
		c.StateSync.Enable = true
		c.StateSync.RPCServers = j.RPC
		c.StateSync.TrustHeight = j.TrustHeight
		c.StateSync.TrustHash = j.TrustHash
		c.StateSync.DiscoveryTime = 5 * time.Second
	}
	if j.Tune != nil {
		j.Tune(c)
	}
	if err := c.ValidateBasic(); err != nil {
		return Home{}, err
	}
	cfg.EnsureRoot(tmp)
	c.SetRoot(tmp)
	privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()).Save()
	if _, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile()); err != nil {
		return Home{}, err
	}
	if err := gen.SaveAs(c.GenesisFile()); err != nil {
		return Home{}, err
	}
	cfg.WriteConfigFile(filepath.Join(tmp, "config", "config.toml"), c)
	if err := os.WriteFile(filepath.Join(tmp, "vchain-api"), []byte(h.API+"\n"), 0o644); err != nil {
		return Home{}, err
	}
	if err := os.Rename(tmp, home); err != nil {
		return Home{}, err
	}
	return h, nil
}

// TrustedBlock asks the RPC server at url for its newest block's height
// and hash, for a joining node to trust.
func TrustedBlock(ctx context.Context, url string) (int64, string, error) {
	c, err := rpchttp.NewWithTimeout(url, "/websocket", 10)
	if err != nil {
		return 0, "", err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("asking %s for a block to trust: %w", url, err)
	}
	h := st.SyncInfo.LatestBlockHeight
	com, err := c.Commit(ctx, &h)
	if err != nil {
		return 0, "", fmt.Errorf("asking %s for block %d: %w", url, h, err)
	}
	return h, hex.EncodeToString(com.SignedHeader.Hash()), nil
}

// configure sets what every node of vchain's layouts shares: its
// addresses, its peers (persistent, no peer exchange) and the
// transaction index.
func configure(c *cfg.Config, h Home, peers []string) {
	c.Moniker = h.Name
	c.LogLevel = "error"
	c.ProxyApp = "tcp://" + h.ABCI
	c.RPC.ListenAddress = "tcp://" + h.RPC
	c.P2P.ListenAddress = "tcp://" + h.P2P
	c.P2P.PersistentPeers = strings.Join(peers, ",")
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	// Every node is a persistent peer already; without peer exchange no
	// address book is kept (CometBFT writes it on a goroutine its Stop
	// does not wait for, into config/).
	c.P2P.PexReactor = false
	c.TxIndex.Indexer = "kv"
	c.Instrumentation.Prometheus = false
}

// Join lays out a node that joins the localnet by state sync (a recent
// snapshot its validators took, checked by CometBFT's light client
// against two of them) and adds it to the localnet; Start starts it.
func (ln *Localnet) Join(ctx context.Context, name string) (Home, error) {
	for _, n := range ln.Nodes {
		if n.Name == name {
			return Home{}, fmt.Errorf("the localnet has a node %s", name)
		}
	}
	var peers, rpcs []string
	for _, n := range ln.Nodes {
		c := cfg.DefaultConfig()
		c.SetRoot(filepath.Join(ln.Dir, n.Name))
		nk, err := p2p.LoadNodeKey(c.NodeKeyFile())
		if err != nil {
			return Home{}, err
		}
		peers = append(peers, string(nk.ID())+"@"+n.P2P)
		if ln.Running(n.Name) != 0 {
			rpcs = append(rpcs, "http://"+n.RPC)
		}
	}
	h, err := LayJoiner(ctx, ln.Dir, Joiner{Name: name, Genesis: filepath.Join(ln.Dir, ln.Nodes[0].Name, "config", "genesis.json"),
		Peers: peers, StateSync: true, RPC: rpcs, Tune: func(c *cfg.Config) { c.Consensus.TimeoutCommit = 200 * time.Millisecond }})
	if err != nil {
		return Home{}, err
	}
	h.Joined = true
	ln.Nodes = append(ln.Nodes, h)
	b, _ := json.MarshalIndent(ln, "", "  ")
	if err := os.WriteFile(filepath.Join(ln.Dir, localnetFile), b, 0o644); err != nil {
		return Home{}, err
	}
	return h, nil
}
