package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/store"
)

// TestHaltsOnBlockItCannotApply: a validator whose stored state was
// damaged (its chain state says another height than its head) cannot
// go on: it stops with a HaltedError naming the block and the state it
// found, and never moves its head past it, while the others go on.
func TestHaltsOnBlockItCannotApply(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 3, 10*time.Second)
	c.Stop(3)
	cfg := c.Config(3)
	db, err := store.Open(cfg.Dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	txn := db.NewTxn()
	txn.Set([]byte("s/c/height"), chain.Marshal(uint64(1)))
	if err := txn.Commit(true); err != nil {
		t.Fatal(err)
	}
	db.Close()

	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	head := n.Head().Height
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = n.Run(ctx)
	var he *node.HaltedError
	if !errors.As(err, &he) {
		t.Fatalf("Run returned %v, want a HaltedError", err)
	}
	// Whichever comes first, applying the next final block or building the
	// impeach block on the damaged state, the error names the block and
	// the state it found.
	if !strings.Contains(err.Error(), fmt.Sprintf("block %d", head+1)) || !strings.Contains(err.Error(), "state at height 1") {
		t.Fatalf("the error does not say which block and why: %v", err)
	}
	if n.Head().Height != head {
		t.Fatalf("the head moved from %d to %d past a block the node could not apply", head, n.Head().Height)
	}
	h := c.Nodes[0].Head().Height
	c.WaitHeight(0, h+3, 10*time.Second) // the other three go on
}
