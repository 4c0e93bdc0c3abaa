package cometbench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/config.toml and node_key.json are what `cometbft testnet`
// (v0.38.26) wrote for node0 of a 4-node testnet; its `show-node-id` gave
// the ID below.
const node0ID = "68a95597618d7cd1d2495ea6f8f3c6240d578a08"

func TestNodeID(t *testing.T) {
	raw, err := os.ReadFile("testdata/node_key.json")
	if err != nil {
		t.Fatal(err)
	}
	id, err := NodeID(raw)
	if err != nil {
		t.Fatal(err)
	}
	if id != node0ID {
		t.Fatalf("NodeID = %s, want %s", id, node0ID)
	}
	if _, err := NodeID([]byte(`{"priv_key":{"type":"tendermint/PrivKeySecp256k1","value":"AA=="}}`)); err == nil {
		t.Fatal("a secp256k1 node key was taken")
	}
}

// Every setting Create writes is found once in a real config.toml, lands
// in its own table, and nothing else changes.
func TestSettingsRewriteRealConfig(t *testing.T) {
	orig, err := os.ReadFile("testdata/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{TimeoutCommit: 100 * time.Millisecond, MempoolSize: 12345}
	set := Settings(o, "node0", "127.0.0.1:20001", "127.0.0.1:20002", "a@127.0.0.1:20003,b@127.0.0.1:20005")
	out, err := RewriteConfig(orig, set)
	if err != nil {
		t.Fatal(err)
	}
	got := sections(t, out)
	for _, want := range []struct{ section, line string }{
		{"", `proxy_app = "kvstore"`},
		{"", `log_level = "error"`},
		{"rpc", `laddr = "tcp://127.0.0.1:20002"`},
		{"rpc", `max_request_batch_size = 0`},
		{"p2p", `laddr = "tcp://127.0.0.1:20001"`},
		{"p2p", `persistent_peers = "a@127.0.0.1:20003,b@127.0.0.1:20005"`},
		{"p2p", `allow_duplicate_ip = true`},
		{"mempool", `size = 12345`},
		{"mempool", `cache_size = 24690`},
		{"consensus", `timeout_commit = "100ms"`},
		{"consensus", `create_empty_blocks = true`},
		{"tx_index", `indexer = "null"`},
		{"p2p", `flush_throttle_timeout = "10ms"`},
		{"consensus", `peer_gossip_sleep_duration = "10ms"`},
	} {
		if !slicesContains(got[want.section], want.line) {
			t.Errorf("[%s] lacks %s", want.section, want.line)
		}
	}
	// Lines not set are as they were.
	ol, nl := strings.Split(strings.TrimSuffix(string(orig), "\n"), "\n"), strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(ol) != len(nl) {
		t.Fatalf("%d lines became %d", len(ol), len(nl))
	}
	changed := 0
	for i := range ol {
		if ol[i] != nl[i] {
			changed++
		}
	}
	if changed > len(set) {
		t.Fatalf("%d lines changed for %d settings", changed, len(set))
	}
	// No setting of an empty-block testnet is missing either.
	if _, err := RewriteConfig(orig, Settings(Options{NoEmptyBlocks: true, StockGossip: true}, "n", "a:1", "b:2", "")); err != nil {
		t.Fatal(err)
	}
}

func TestRewriteConfigErrors(t *testing.T) {
	cfg := []byte("moniker = \"x\"\n[rpc]\nladdr = \"tcp://0.0.0.0:1\"\n[p2p] # peers\nladdr = \"tcp://0.0.0.0:2\"\nseeds = \"\"\n")
	out, err := RewriteConfig(cfg, []Setting{{"p2p", "laddr", Quote("tcp://127.0.0.1:9")}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("[rpc]\nladdr = \"tcp://0.0.0.0:1\"\n")) || !bytes.Contains(out, []byte("laddr = \"tcp://127.0.0.1:9\"\nseeds")) {
		t.Fatalf("the wrong laddr changed:\n%s", out)
	}
	if _, err := RewriteConfig(cfg, []Setting{{"consensus", "timeout_commit", `"1s"`}}); err == nil {
		t.Fatal("a key that is not there was taken")
	}
	if _, err := RewriteConfig(cfg, []Setting{{"", "laddr", `"x"`}}); err == nil {
		t.Fatal("a key of another table was taken for a top-level one")
	}
	if _, err := RewriteConfig(append(cfg, "seeds = \"y\"\n"...), []Setting{{"p2p", "seeds", `"z"`}}); err == nil {
		t.Fatal("a key assigned twice was taken")
	}
}

// sections maps each table of a TOML file to its lines.
func sections(t *testing.T, toml []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sec := ""
	for _, line := range strings.Split(string(toml), "\n") {
		if m := tableLine.FindStringSubmatch(line); m != nil {
			sec = m[1]
			continue
		}
		out[sec] = append(out[sec], line)
	}
	return out
}

func slicesContains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// kvstoreValid is the v0.38 kvstore's CheckTx rule for a plain
// transaction; the generator's transactions must pass it unchanged (no
// ':', which PrepareProposal would rewrite to '=').
func kvstoreValid(tx []byte) bool {
	return bytes.Count(tx, []byte("=")) == 1 && bytes.Count(tx, []byte(":")) == 0 &&
		tx[0] != '=' && tx[len(tx)-1] != '=' && !bytes.HasPrefix(tx, []byte("val="))
}

func TestTxGen(t *testing.T) {
	size := TransferTxSize()
	if size < 100 || size > 200 {
		t.Fatalf("a signed transfer encodes to %d bytes?", size)
	}
	seen := map[string]bool{}
	for _, prefix := range []string{"r1a", "r1b", ""} {
		g, err := NewTxGen(prefix, size)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20000; i++ {
			tx := g.Next()
			if len(tx) != size {
				t.Fatalf("tx %q: %d bytes, want %d", tx, len(tx), size)
			}
			if !kvstoreValid(tx) {
				t.Fatalf("tx %q would be refused or rewritten by the kvstore", tx)
			}
			key := string(tx[:bytes.IndexByte(tx, '=')])
			if seen[key] {
				t.Fatalf("key %q repeats", key)
			}
			seen[key] = true
		}
	}
	if g, err := NewTxGen("12345678", minTxSize); err != nil || len(g.Next()) != minTxSize {
		t.Fatalf("the smallest size: %v", err)
	}
	// Prefixes that extend one another still make distinct keys.
	a, _ := NewTxGen("s1", size)
	b, _ := NewTxGen("s10", size)
	ka := map[string]bool{}
	for i := 0; i < 300; i++ {
		ka[string(a.Next())] = true
	}
	for i := 0; i < 300; i++ {
		tx := b.Next()
		if ka[string(tx)] || a.Ours(tx) || !b.Ours(tx) {
			t.Fatalf("%q: made by s10, taken for s1's", tx)
		}
	}
	for _, bad := range []struct {
		prefix string
		size   int
	}{{"a:b", 100}, {"a=b", 100}, {"a-b", 100}, {"123456789", 100}, {"ok", minTxSize - 1}} {
		if _, err := NewTxGen(bad.prefix, bad.size); err == nil {
			t.Errorf("NewTxGen(%q, %d) was taken", bad.prefix, bad.size)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		code uint32
		err  *rpcError
		want outcome
	}{
		{0, nil, outAccepted},
		{1, nil, outRejected},
		{0, &rpcError{-32603, "Internal error", "mempool is full: number of txs 5000 (max: 5000), total txs bytes 665000 (max: 1073741824)"}, outRefused},
		{0, &rpcError{-32603, "Internal error", "mempool is still rechecking after a new committed block, so it is considered as full"}, outRefused},
		{0, &rpcError{-32603, "Internal error", "tx already exists in cache"}, outAccepted},
		{0, &rpcError{-32603, "Internal error", "tx too large"}, outRejected},
	} {
		if got := classify(c.code, c.err); got != c.want {
			t.Errorf("classify(%d, %v) = %d, want %d", c.code, c.err, got, c.want)
		}
	}
}

// TestEndToEnd runs a 4-validator testnet under a small load, when
// $VCHAIN_COMET_BIN names a cometbft v0.38.26 binary (nothing here
// installs one).
func TestEndToEnd(t *testing.T) {
	if os.Getenv(BinEnv) == "" {
		t.Skipf("$%s is not set: no cometbft binary to run", BinEnv)
	}
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, installed, err := Install(ctx, t.TempDir(), nil)
	if err != nil || installed {
		t.Fatalf("Install with $%s: %s, installed %v, %v", BinEnv, bin, installed, err)
	}
	n, err := Create(ctx, bin, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Stop(5 * time.Second)
		t.Fatal(err)
	}
	defer n.Stop(10 * time.Second)
	if err := n.WaitHeight(ctx, 2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := n.Load(ctx, LoadOptions{Rate: 300, Duration: 3 * time.Second, Warmup: time.Second, Prefix: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Offered != res.Accepted+res.Refused+res.Rejected+res.Failed || res.Accepted != res.Final+res.Unfinished {
		t.Fatalf("counts do not add up: %v", res)
	}
	if res.Rejected != 0 || res.Final < 800 || res.TPS < 200 || res.P50 <= 0 || res.Blocks == 0 {
		t.Fatalf("a light load on a healthy testnet: %v", res)
	}
	if left, err := n.WaitDrained(ctx, 10*time.Second); err != nil || left != 0 {
		t.Fatalf("mempools hold %d after the load: %v", left, err)
	}
	n.Stop(10 * time.Second)
	for _, nd := range n.Nodes {
		if nd.Running() {
			t.Fatalf("%s still runs after Stop", nd.Name)
		}
	}
}
