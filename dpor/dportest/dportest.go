// Package dportest runs an in-process DPoR chain for tests: validators
// and proposers as nodes in one process, on loopback TCP.
package dportest

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/node"
)

// Key is the deterministic key number i of a test chain.
func Key(i int) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0], seed[1] = byte(i), 0x42
	return ed25519.NewKeyFromSeed(seed)
}

// Address is Key(i)'s address.
func Address(i int) chain.Address { return chain.AddressOf(Key(i).Public().(ed25519.PublicKey)) }

// Funded is the key number of the account the genesis funds.
const Funded = 100

// Cluster is a running test chain.
type Cluster struct {
	t       testing.TB
	Genesis *chain.Genesis
	Nodes   []*node.Node
	cfgs    []node.Config
	cancels []context.CancelFunc
	done    []chan struct{}
}

// DebugNode, when set to a node index, logs that node at debug level.
var DebugNode = -1

// Start runs validators and proposers (nodes 0..v-1 are validators).
func Start(t testing.TB, validators, proposers int) *Cluster {
	return StartWith(t, validators, proposers, nil)
}

// StartWith is Start with a chance to change the genesis first.
func StartWith(t testing.TB, validators, proposers int, edit func(*chain.Genesis)) *Cluster {
	return StartNodes(t, validators, proposers, edit, nil)
}

// StartNodes is StartWith with a chance to change each node's
// configuration too.
func StartNodes(t testing.TB, validators, proposers int, edit func(*chain.Genesis), editNode func(i int, cfg *node.Config)) *Cluster {
	g := &chain.Genesis{ChainID: "t", TimeMS: time.Now().UnixMilli(), PeriodMS: 50, TimeoutMS: 400, ProposersPerTerm: proposers, ViewLen: 2,
		Balances: map[chain.Address]uint64{Address(Funded): 1_000_000}, Params: chain.DefaultParams()}
	total := validators + proposers
	var addrs []string
	var lns []net.Listener
	for i := 0; i < total; i++ {
		m := chain.Member{Key: hex.EncodeToString(Key(i).Public().(ed25519.PublicKey))}
		if i < validators {
			m.Name = fmt.Sprintf("v%d", i)
			g.Validators = append(g.Validators, m)
		} else {
			m.Name = fmt.Sprintf("p%d", i-validators)
			g.Proposers = append(g.Proposers, m)
		}
		// The listeners stay open and go to the nodes, so no other
		// process can take the ports in between.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		lns = append(lns, l)
	}
	if edit != nil {
		edit(g)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, Genesis: g}
	dir := t.TempDir()
	for i := 0; i < total; i++ {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		cfg := node.Config{Name: fmt.Sprint(i), Dir: filepath.Join(dir, fmt.Sprint(i)), Genesis: g, Key: Key(i),
			Listen: addrs[i], Listener: lns[i], Peers: peers, HTTP: "127.0.0.1:0"}
		if editNode != nil {
			editNode(i, &cfg)
		}
		if i == DebugNode {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		c.cfgs = append(c.cfgs, cfg)
		c.Nodes = append(c.Nodes, nil)
		c.cancels = append(c.cancels, nil)
		c.done = append(c.done, nil)
		c.StartNode(i)
	}
	t.Cleanup(func() {
		for i := range c.Nodes {
			c.Stop(i)
		}
	})
	return c
}

// StartNode (re)starts node i.
func (c *Cluster) StartNode(i int) {
	cfg := c.cfgs[i]
	if cfg.Listener == nil {
		// A restart: listen on the node's address again.
		var err error
		for try := 0; ; try++ {
			if cfg.Listener, err = net.Listen("tcp", cfg.Listen); err == nil {
				break
			}
			if try == 50 {
				c.t.Fatalf("node %d cannot listen on %s again: %v", i, cfg.Listen, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.cfgs[i].Listener = nil // the node closes it when it stops
	n, err := node.Open(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			c.t.Error(err)
		}
		n.Close()
	}()
	c.Nodes[i], c.cancels[i], c.done[i] = n, cancel, done
	for n.HTTPAddr() == "" {
		select {
		case <-done:
			c.t.Fatalf("node %d stopped while starting", i)
		case <-time.After(time.Millisecond):
		}
	}
}

// Stop stops node i.
func (c *Cluster) Stop(i int) {
	if c.cancels[i] != nil {
		c.cancels[i]()
		<-c.done[i]
		c.cancels[i] = nil
	}
}

// WaitHeight waits until node i has decided height h.
func (c *Cluster) WaitHeight(i int, h uint64, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for c.Nodes[i].Head().Height < h {
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d at height %d after %v, want %d", i, c.Nodes[i].Head().Height, within, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Config is node i's configuration (its Listener is nil once started).
func (c *Cluster) Config(i int) node.Config { return c.cfgs[i] }

// P2PAddr is node i's p2p address.
func (c *Cluster) P2PAddr(i int) string { return c.cfgs[i].Listen }

// API is node i's HTTP address as a URL.
func (c *Cluster) API(i int) string { return "http://" + c.Nodes[i].HTTPAddr() }
