package node_test

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
)

func TestClusterFinalizesAndTransfers(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 3, 10*time.Second)
	// A transfer through a proposer's API.
	payer := dportest.Key(dportest.Funded)
	to := chain.AddressOf(dportest.Key(101).Public().(ed25519.PublicKey))
	tx := &chain.Tx{Nonce: 0, To: to, Amount: 777, Fee: 1}
	tx.Sign("t", payer)
	acc, errs := c.Nodes[4].Submit([][]byte{chain.Marshal(tx)})
	if acc != 1 {
		t.Fatalf("submit: %v", errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		acct, _ := chain.ReadState(c.Nodes[1].State()).Account(to)
		if acct.Balance == 777 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer did not become final on validator 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Everyone agrees on the blocks so far.
	h := c.Nodes[0].Head().Height
	for i := range c.Nodes {
		c.WaitHeight(i, h, 10*time.Second)
		b, err := c.Nodes[i].Block(h)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := c.Nodes[0].Block(h)
		if b.Hash() != want.Hash() {
			t.Fatalf("node %d has another block at %d", i, h)
		}
	}
}

func TestClusterSurvivesValidatorAndProposerLoss(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 2, 10*time.Second)
	c.Stop(3) // one validator down: 3 of 4 still decide
	h := c.Nodes[0].Head().Height
	c.WaitHeight(0, h+4, 10*time.Second)
	c.Stop(5) // one proposer down: its turns end in impeach blocks
	h = c.Nodes[0].Head().Height
	c.WaitHeight(0, h+6, 20*time.Second)
	if c.Nodes[0].Status().Impeached == 0 {
		t.Fatal("no impeach block with a proposer down")
	}
	// Restart both; the validator catches up to the same head.
	c.StartNode(3)
	c.StartNode(5)
	target := c.Nodes[0].Head().Height + 2
	c.WaitHeight(3, target, 20*time.Second)
	c.WaitHeight(0, target, 20*time.Second) // v3 may insert a block before v0 does
	b3, err3 := c.Nodes[3].Block(target)
	b0, err0 := c.Nodes[0].Block(target)
	if err3 != nil || err0 != nil {
		t.Fatal(err3, err0)
	}
	if b3.Hash() != b0.Hash() {
		t.Fatal("the restarted validator is on another chain")
	}
}

// TestMetrics: the API serves Prometheus series that follow the chain.
func TestMetrics(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 3, 10*time.Second)
	resp, err := http.Get(c.API(0) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"vchain_dpor_height ", `vchain_dpor_blocks_total{kind="normal"}`, "vchain_dpor_peers 4", "vchain_dpor_block_interval_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
