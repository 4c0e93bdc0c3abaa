package cometnode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayJoiner: a joining node's home has the chain's genesis, its
// peers and, for state sync, the trusted block; a bad request leaves no
// directory behind.
func TestLayJoiner(t *testing.T) {
	dir := t.TempDir()
	homes, err := Lay(filepath.Join(dir, "chain"), Layout{Validators: 1})
	if err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(homes[0].Dir, "config", "genesis.json")
	ctx := context.Background()
	trust := strings.Repeat("ab", 32)
	for _, bad := range []Joiner{
		{Name: "j", Genesis: gen, Peers: []string{"x@127.0.0.1:1"}, StateSync: true, RPC: []string{"http://127.0.0.1:1"}, TrustHeight: 5, TrustHash: trust},
		{Name: "j", Genesis: gen, StateSync: true, RPC: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, TrustHeight: 5, TrustHash: "zz"},
		{Name: "j", Genesis: filepath.Join(dir, "none.json")},
		{Genesis: gen},
	} {
		if _, err := LayJoiner(ctx, dir, bad); err == nil {
			t.Errorf("%+v was laid out", bad)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("refused layouts left %v behind", ents)
	}
	h, err := LayJoiner(ctx, dir, Joiner{Name: "j", Genesis: gen, Peers: []string{"x@127.0.0.1:1"}, StateSync: true,
		RPC: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, TrustHeight: 5, TrustHash: trust})
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c.StateSync.Enable || c.StateSync.TrustHeight != 5 || c.StateSync.TrustHash != trust || len(c.StateSync.RPCServers) != 2 ||
		c.P2P.PersistentPeers != "x@127.0.0.1:1" || c.RPC.ListenAddress != "tcp://"+h.RPC || APIOf(h.Dir) != h.API {
		t.Fatalf("the joiner's config: %+v %+v", c.StateSync, c.P2P)
	}
	g1, _ := os.ReadFile(gen)
	g2, _ := os.ReadFile(c.GenesisFile())
	if string(g1) != string(g2) {
		t.Fatal("the joiner's genesis is not the chain's")
	}
	if _, err := LayJoiner(ctx, dir, Joiner{Name: "j", Genesis: gen}); err == nil {
		t.Fatal("a second joiner over the first was laid out")
	}
}
