package cometnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	cmttime "github.com/cometbft/cometbft/types/time"

	"github.com/vchain-dev/vchain/internal/freeport"
)

// Layout says how to lay out a chain's homes.
type Layout struct {
	// Validators is how many validators (and homes) the chain has.
	Validators int
	// ChainID names the chain (default vchain-comet).
	ChainID string
	// TimeoutCommit is CometBFT's pause after a commit (default 200 ms;
	// CometBFT's own default is 1 s).
	TimeoutCommit time.Duration
	// Names are the homes' directory names (default node0, node1, ...).
	Names []string
	// Tune, when set, adjusts each node's configuration before it is
	// written (a benchmark's mempool size and gossip timing, say).
	Tune func(*cfg.Config)
}

// Home is one laid out node.
type Home struct {
	Name, Dir string
	// P2P and RPC are CometBFT's listen addresses (host:port); API is
	// where the node serves vchain's API; ABCI is where a stock cometbft
	// binary finds the application (vchain abci) in that mode.
	P2P, RPC, API, ABCI string
	// Joined says the node joined the chain later, as a full node (not a
	// validator).
	Joined bool `json:"joined,omitempty"`
}

// Lay writes the homes of a new chain under dir, which must be empty or
// absent: each with its validator key, node key, config.toml (loopback
// ports picked free now, every other node as a persistent peer, the kv
// transaction index on) and the shared genesis.
func Lay(dir string, l Layout) ([]Home, error) {
	if l.Validators < 1 {
		return nil, fmt.Errorf("want at least 1 validator, got %d", l.Validators)
	}
	if l.ChainID == "" {
		l.ChainID = "vchain-comet"
	}
	if l.TimeoutCommit == 0 {
		l.TimeoutCommit = 200 * time.Millisecond
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty", dir)
	}
	ports, err := freeport.Loopback(4 * l.Validators)
	if err != nil {
		return nil, err
	}
	homes := make([]Home, l.Validators)
	gen := types.GenesisDoc{ChainID: l.ChainID, GenesisTime: cmttime.Now(), InitialHeight: 1, ConsensusParams: types.DefaultConsensusParams()}
	ids := make([]string, l.Validators)
	for i := range homes {
		name := fmt.Sprintf("node%d", i)
		if i < len(l.Names) {
			name = l.Names[i]
		}
		h := Home{Name: name, Dir: filepath.Join(dir, name), P2P: ports[4*i], RPC: ports[4*i+1], API: ports[4*i+2], ABCI: ports[4*i+3]}
		cfg.EnsureRoot(h.Dir)
		c := cfg.DefaultConfig()
		c.SetRoot(h.Dir)
		pv := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
		pv.Save()
		nk, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
		if err != nil {
			return nil, err
		}
		ids[i] = string(nk.ID())
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, err
		}
		gen.Validators = append(gen.Validators, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: name})
		homes[i] = h
	}
	for i, h := range homes {
		if err := gen.SaveAs(filepath.Join(h.Dir, "config", "genesis.json")); err != nil {
			return nil, err
		}
		var peers []string
		for j, o := range homes {
			if j != i {
				peers = append(peers, ids[j]+"@"+o.P2P)
			}
		}
		c := cfg.DefaultConfig()
		c.SetRoot(h.Dir)
		configure(c, h, peers)
		c.Consensus.TimeoutCommit = l.TimeoutCommit
		if l.Tune != nil {
			l.Tune(c)
		}
		cfg.WriteConfigFile(filepath.Join(h.Dir, "config", "config.toml"), c)
		if err := os.WriteFile(filepath.Join(h.Dir, "vchain-api"), []byte(h.API+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return homes, nil
}

// APIOf returns the API address Lay chose for home, or "" when it has none.
func APIOf(home string) string {
	b, err := os.ReadFile(filepath.Join(home, "vchain-api"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
