package node_test

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"strconv"
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
	sameBlockEverywhere(t, c, c.Nodes[0].Head().Height)
}

// sameBlockEverywhere waits until every node has height h and checks
// they all hold node 0's block there.
func sameBlockEverywhere(t *testing.T, c *dportest.Cluster, h uint64) {
	t.Helper()
	want, err := c.Nodes[0].Block(h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Nodes {
		c.WaitHeight(i, h, 10*time.Second)
		b, err := c.Nodes[i].Block(h)
		if err != nil {
			t.Fatal(err)
		}
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

// metricValue reads one unlabelled series from a node's /metrics.
func metricValue(t *testing.T, api, name string) float64 {
	t.Helper()
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", name)
	return 0
}

// TestNextProposerRunsAhead: with two proposers taking turns, each runs
// the other's proposals while the validators decide, and inserts them
// from that when they are final; every node still holds the same blocks.
func TestNextProposerRunsAhead(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 2, 10*time.Second)
	to := dportest.Address(102)
	submitTransfers(t, c, to, 30, func(i uint64) int { return 4 + int(i%2) }, 25*time.Millisecond)
	waitBalance(t, c, 0, to, 30, 10*time.Second)
	h := c.Nodes[0].Head().Height
	for i := 4; i < 6; i++ {
		c.WaitHeight(i, h, 10*time.Second)
		if n := metricValue(t, c.API(i), "vchain_dpor_blocks_ready_total"); n == 0 {
			t.Errorf("proposer %d ran no proposal ahead in %d blocks", i, h)
		}
	}
	sameBlockEverywhere(t, c, h)
}

// TestValidatorsPreverifyGossip: a transaction a proposer admits reaches
// the validators; the three whose share of the checks holds it (see
// chain.SigShare) check its signature before any block holds it (here
// none can: its nonce waits for an earlier one), the fourth does not, and
// none pools it.
func TestValidatorsPreverifyGossip(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	tx := &chain.Tx{Nonce: 3, To: dportest.Address(103), Amount: 1, Fee: 1} // nonces 0-2 never come
	tx.Sign("t", dportest.Key(dportest.Funded))
	if acc, errs := c.Nodes[4].Submit([][]byte{chain.Marshal(tx)}); acc != 1 {
		t.Fatalf("submit: %v", errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	checkers := 0
	for v := 0; v < 4; v++ {
		if !(chain.SigShare{Index: v, Validators: 4}).Checks(tx.Hash()) {
			continue
		}
		checkers++
		for !c.Nodes[v].Chain().IsVerified(tx.Hash()) {
			if time.Now().After(deadline) {
				t.Fatalf("validator %d has not checked the gossiped transaction", v)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if checkers != 3 {
		t.Fatalf("%d validators' shares hold the transaction, want 3", checkers)
	}
	time.Sleep(100 * time.Millisecond) // longer than a receiver gathers
	for v := 0; v < 4; v++ {
		if checks := (chain.SigShare{Index: v, Validators: 4}).Checks(tx.Hash()); !checks && c.Nodes[v].Chain().IsVerified(tx.Hash()) {
			t.Errorf("validator %d checked a signature outside its share", v)
		}
		if n := c.Nodes[v].Status().Mempool; n != 0 {
			t.Fatalf("validator %d pooled %d transactions", v, n)
		}
	}
}

// waitBalance waits until node i's state shows want at addr.
func waitBalance(t *testing.T, c *dportest.Cluster, i int, addr chain.Address, want uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		acct, _ := chain.ReadState(c.Nodes[i].State()).Account(addr)
		if acct.Balance == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance of %s is %d after %v, want %d", addr, acct.Balance, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestValidatorSubmitsLandAcrossTerms: transactions submitted to a
// validator, at every point of short terms (two blocks each), all land.
// A validator forwards them to the coming proposers; near a term's end
// the next term's are not elected yet, and a forward that went to no
// proposer left the transaction pending for good.
func TestValidatorSubmitsLandAcrossTerms(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	to := dportest.Address(104)
	// A quarter of a block period apart, through the four validators.
	submitTransfers(t, c, to, 40, func(i uint64) int { return int(i % 4) }, 13*time.Millisecond)
	waitBalance(t, c, 0, to, 40, 10*time.Second)
}

// submitTransfers submits n transfers of 1 from the funded key to to,
// nonces 0 to n-1, transfer i through node via(i), gap apart.
func submitTransfers(t *testing.T, c *dportest.Cluster, to chain.Address, n uint64, via func(uint64) int, gap time.Duration) {
	t.Helper()
	for i := uint64(0); i < n; i++ {
		tx := &chain.Tx{Nonce: i, To: to, Amount: 1, Fee: 1}
		tx.Sign("t", dportest.Key(dportest.Funded))
		if acc, errs := c.Nodes[via(i)].Submit([][]byte{chain.Marshal(tx)}); acc != 1 {
			t.Fatalf("submit %d: %v", i, errs)
		}
		time.Sleep(gap)
	}
}

// TestPooledTransactionsResent: a transaction a validator took while no
// proposer could hear it lands once the proposer is back: the validator
// resends what it pools.
func TestPooledTransactionsResent(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	c.Stop(4)
	to := dportest.Address(105)
	tx := &chain.Tx{Nonce: 0, To: to, Amount: 7, Fee: 1}
	tx.Sign("t", dportest.Key(dportest.Funded))
	if acc, errs := c.Nodes[0].Submit([][]byte{chain.Marshal(tx)}); acc != 1 {
		t.Fatalf("submit: %v", errs)
	}
	time.Sleep(300 * time.Millisecond) // the first forward finds no proposer
	c.StartNode(4)
	waitBalance(t, c, 0, to, 7, 15*time.Second)
	if n := metricValue(t, c.API(0), "vchain_dpor_transactions_resent_total"); n == 0 {
		t.Fatal("the transaction landed, but no resend is counted")
	}
}

// TestValidatorPoolPruned: a validator prunes what became final from its
// pool, as proposers do: a sender submitting through a validator's API is
// not refused once it has sent more than a sender may have pending, and
// the pool is empty once everything is final.
func TestValidatorPoolPruned(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	payer := dportest.Key(dportest.Funded)
	to := dportest.Address(106)
	per := c.Config(0).MaxPerSender
	if per <= 0 {
		per = 64 // the node's default
	}
	total := uint64(0)
	for round := 0; round < 3; round++ {
		var raws [][]byte
		for i := 0; i < per/2; i++ {
			tx := &chain.Tx{Nonce: total, To: to, Amount: 1, Fee: 1}
			tx.Sign("t", payer)
			raws = append(raws, chain.Marshal(tx))
			total++
		}
		if acc, errs := c.Nodes[0].Submit(raws); acc != len(raws) {
			t.Fatalf("round %d: %d of %d accepted: %v", round, acc, len(raws), errs)
		}
		waitBalance(t, c, 0, to, total, 10*time.Second)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Nodes[0].Status().Mempool != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the validator still pools %d final transactions", c.Nodes[0].Status().Mempool)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
