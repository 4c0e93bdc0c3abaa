package node_test

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

func key(i int) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0], seed[1] = byte(i), 0x42
	return ed25519.NewKeyFromSeed(seed)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type cluster struct {
	t       *testing.T
	g       *chain.Genesis
	nodes   []*node.Node
	cancels []context.CancelFunc
	cfgs    []node.Config
	done    []chan struct{}
}

// startCluster runs validators and proposers in-process over loopback TCP.
func startCluster(t *testing.T, validators, proposers int) *cluster {
	g := &chain.Genesis{ChainID: "t", TimeMS: time.Now().UnixMilli(), PeriodMS: 50, TimeoutMS: 400, ProposersPerTerm: proposers, ViewLen: 2,
		Balances: map[chain.Address]uint64{chain.AddressOf(key(100).Public().(ed25519.PublicKey)): 1_000_000}, Params: chain.DefaultParams()}
	total := validators + proposers
	var addrs []string
	for i := 0; i < total; i++ {
		m := chain.Member{Name: fmt.Sprintf("n%d", i), Key: hex.EncodeToString(key(i).Public().(ed25519.PublicKey))}
		if i < validators {
			m.Name = fmt.Sprintf("v%d", i)
			g.Validators = append(g.Validators, m)
		} else {
			m.Name = fmt.Sprintf("p%d", i-validators)
			g.Proposers = append(g.Proposers, m)
		}
		addrs = append(addrs, freeAddr(t))
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, g: g}
	dir := t.TempDir()
	for i := 0; i < total; i++ {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		name := g.Validators
		_ = name
		cfg := node.Config{Logger: testLogger(i), Name: fmt.Sprint(i), Dir: filepath.Join(dir, fmt.Sprint(i)), Genesis: g, Key: key(i), Listen: addrs[i], Peers: peers, HTTP: "127.0.0.1:0"}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, nil)
		c.cancels = append(c.cancels, nil)
		c.done = append(c.done, nil)
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) start(i int) {
	n, err := node.Open(c.cfgs[i])
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
	c.nodes[i], c.cancels[i], c.done[i] = n, cancel, done
}

func (c *cluster) stop(i int) {
	if c.cancels[i] != nil {
		c.cancels[i]()
		<-c.done[i]
		c.cancels[i] = nil
	}
}

func (c *cluster) waitHeight(i int, h uint64, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for c.nodes[i].Head().Height < h {
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d at height %d after %v, want %d", i, c.nodes[i].Head().Height, within, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterFinalizesAndTransfers(t *testing.T) {
	c := startCluster(t, 4, 2)
	c.waitHeight(0, 3, 10*time.Second)
	// A transfer through a proposer's API.
	payer := key(100)
	to := chain.AddressOf(key(101).Public().(ed25519.PublicKey))
	tx := &chain.Tx{Nonce: 0, To: to, Amount: 777, Fee: 1}
	tx.Sign("t", payer)
	acc, errs := c.nodes[4].Submit([][]byte{chain.Marshal(tx)})
	if acc != 1 {
		t.Fatalf("submit: %v", errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		acct, _ := chain.ReadState(c.nodes[1].State()).Account(to)
		if acct.Balance == 777 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer did not become final on validator 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Everyone agrees on the blocks so far.
	h := c.nodes[0].Head().Height
	for i := range c.nodes {
		c.waitHeight(i, h, 10*time.Second)
		b, err := c.nodes[i].Block(h)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := c.nodes[0].Block(h)
		if b.Hash() != want.Hash() {
			t.Fatalf("node %d has another block at %d", i, h)
		}
	}
}

func TestClusterSurvivesValidatorAndProposerLoss(t *testing.T) {
	c := startCluster(t, 4, 2)
	c.waitHeight(0, 2, 10*time.Second)
	c.stop(3) // one validator down: 3 of 4 still decide
	h := c.nodes[0].Head().Height
	c.waitHeight(0, h+4, 10*time.Second)
	c.stop(5) // one proposer down: its turns end in impeach blocks
	h = c.nodes[0].Head().Height
	c.waitHeight(0, h+6, 20*time.Second)
	if c.nodes[0].Status().Impeached == 0 {
		t.Fatal("no impeach block with a proposer down")
	}
	// Restart both; the validator catches up to the same head.
	c.start(3)
	c.start(5)
	target := c.nodes[0].Head().Height + 2
	c.waitHeight(3, target, 20*time.Second)
	b3, _ := c.nodes[3].Block(target)
	b0, _ := c.nodes[0].Block(target)
	if b3.Hash() != b0.Hash() {
		t.Fatal("the restarted validator is on another chain")
	}
}

var debugNode = -1

func testLogger(i int) *slog.Logger {
	if i != debugNode {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
