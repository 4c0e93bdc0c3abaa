package memtape

import (
	"context"
	"errors"
	"testing"

	"github.com/vchain-dev/vchain/tape"
)

func TestChainLinksAndRewinds(t *testing.T) {
	ctx := context.Background()
	c := New(10)
	if tip, _ := c.Tip(ctx); tip != 9 {
		t.Fatalf("empty chain tip %d, want 9", tip)
	}
	a := c.Append([]tape.Tx{{Payload: []byte("x")}})
	b := c.Append(nil)
	if b.Parent != a.Hash || b.Height != 11 {
		t.Fatal("blocks must link and count up from the base")
	}
	c.Rewind(1)
	b2 := c.Append(nil)
	if b2.Hash == b.Hash || b2.Parent != a.Hash {
		t.Fatal("a block appended after a rewind must be a new branch from the same parent")
	}
	if _, err := c.Block(ctx, 12); !errors.Is(err, tape.ErrNotFound) {
		t.Fatalf("above tip: %v", err)
	}
	if _, err := c.Header(ctx, 9); !errors.Is(err, tape.ErrUnknown) {
		t.Fatalf("below base: %v", err)
	}
}

func TestGenerateIsDeterministicAndBoundsForks(t *testing.T) {
	cfg := GenConfig{Seed: 7, Blocks: 200, ForkProb: 0.4, MaxForkDepth: 4}
	highest, minAfter := 0, 1<<30
	c1 := Generate(cfg, func(c *Chain) {
		if c.Len() > highest {
			highest = c.Len()
		}
		minAfter = min(minAfter, c.Len()-(highest-cfg.MaxForkDepth))
	})
	c2 := Generate(cfg, nil)
	if c1.Len() != 200 || c2.Len() != 200 {
		t.Fatal("wrong length")
	}
	for i, b := range c1.Blocks() {
		if c2.Blocks()[i].Hash != b.Hash {
			t.Fatal("same config, different chains")
		}
	}
	if minAfter < 0 {
		t.Fatalf("a fork went %d blocks deeper than MaxForkDepth below the highest block", -minAfter)
	}
}
