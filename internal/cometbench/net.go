package cometbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vchain-dev/vchain/internal/freeport"
)

// Options shape a CometBFT testnet.
type Options struct {
	// Validators is the number of validators, each a cometbft process
	// (default 4).
	Validators int
	// TimeoutCommit is consensus.timeout_commit: how long a node waits
	// after committing a block before the next height starts, the
	// counterpart of the DPoR chain's block period (default 100 ms).
	TimeoutCommit time.Duration
	// NoEmptyBlocks sets consensus.create_empty_blocks = false. By
	// default CometBFT makes a block every round, empty or not, as the
	// DPoR chain makes one every period.
	NoEmptyBlocks bool
	// MempoolSize is mempool.size, the transactions a node holds before
	// CheckTx answers "mempool is full" (default 20,000, above a second's
	// worth at the highest default step; cache_size is twice it).
	MempoolSize int
	// LogLevel is the nodes' log_level (default "error").
	LogLevel string
	// StockGossip keeps CometBFT's default p2p.flush_throttle_timeout
	// and consensus.peer_gossip_sleep_duration (100 ms each) instead of
	// LoopbackGossip. With the defaults a connection holds small messages
	// up to 100 ms before writing them, and the vote and block-part
	// gossip routines sleep 100 ms when they have nothing to send, so
	// every step of a height waits on them.
	StockGossip bool
}

// LoopbackGossip is what Create sets p2p.flush_throttle_timeout and
// consensus.peer_gossip_sleep_duration to unless Options.StockGossip:
// 10 ms, the flush throttle of CometBFT's own test configuration, for
// nodes that talk over loopback.
const LoopbackGossip = 10 * time.Millisecond

// Node is one validator of a testnet.
type Node struct {
	// Name is the node's directory under the testnet's (node0, node1...).
	Name string
	// Home is its --home directory.
	Home string
	// ID is its p2p node ID.
	ID string
	// P2P and RPC are the 127.0.0.1:port addresses it listens on.
	P2P, RPC string

	cmd    *exec.Cmd
	exited chan struct{}
}

// Net is a CometBFT testnet on this machine.
type Net struct {
	// Bin is the cometbft binary; Dir holds a home directory per node.
	Bin, Dir string
	Nodes    []*Node
	Options  Options
}

func (o *Options) defaults() {
	if o.Validators <= 0 {
		o.Validators = 4
	}
	if o.TimeoutCommit <= 0 {
		o.TimeoutCommit = 100 * time.Millisecond
	}
	if o.MempoolSize <= 0 {
		o.MempoolSize = 20000
	}
	if o.LogLevel == "" {
		o.LogLevel = "error"
	}
}

// Settings are what Create writes into a node's config.toml: its name
// and ports, the peers (every other node, as persistent peers on
// 127.0.0.1), the kvstore application, the block timing and the mempool.
// Beyond the Options: transaction indexing off (the load follows blocks,
// it never looks a transaction up), JSON-RPC batches without a size cap
// and bodies up to 16 MiB (the load posts one batch per 10 ms), p2p send
// and receive rates of 64 MB/s (the defaults, 5 MB/s, are for wide area
// links; every byte here stays on loopback), and, unless
// Options.StockGossip, LoopbackGossip.
func Settings(o Options, name, p2p, rpc, peers string) []Setting {
	o.defaults()
	set := []Setting{
		{"", "proxy_app", Quote("kvstore")},
		{"", "moniker", Quote(name)},
		{"", "log_level", Quote(o.LogLevel)},
		{"rpc", "laddr", Quote("tcp://" + rpc)},
		{"rpc", "max_request_batch_size", "0"},
		{"rpc", "max_body_bytes", strconv.Itoa(16 << 20)},
		{"p2p", "laddr", Quote("tcp://" + p2p)},
		{"p2p", "persistent_peers", Quote(peers)},
		{"p2p", "addr_book_strict", "false"},
		{"p2p", "allow_duplicate_ip", "true"},
		{"p2p", "send_rate", strconv.Itoa(64_000_000)},
		{"p2p", "recv_rate", strconv.Itoa(64_000_000)},
		{"mempool", "size", strconv.Itoa(o.MempoolSize)},
		{"mempool", "cache_size", strconv.Itoa(2 * o.MempoolSize)},
		{"consensus", "timeout_commit", Quote(o.TimeoutCommit.String())},
		{"consensus", "create_empty_blocks", strconv.FormatBool(!o.NoEmptyBlocks)},
		{"tx_index", "indexer", Quote("null")},
	}
	if !o.StockGossip {
		set = append(set,
			Setting{"p2p", "flush_throttle_timeout", Quote(LoopbackGossip.String())},
			Setting{"consensus", "peer_gossip_sleep_duration", Quote(LoopbackGossip.String())})
	}
	return set
}

// Create lays out a testnet in dir (which must be empty or absent) with
// `cometbft testnet`, then rewrites each node's config.toml (Settings) so
// that every node listens on its own free 127.0.0.1 ports.
func Create(ctx context.Context, bin, dir string, o Options) (*Net, error) {
	o.defaults()
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty", dir)
	}
	out, err := exec.CommandContext(ctx, bin, "testnet", "--v", strconv.Itoa(o.Validators), "--o", dir,
		"--starting-ip-address", "127.0.0.1", "--populate-persistent-peers").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("cometbft testnet: %w\n%s", err, lastLines(string(out), 10))
	}
	ports, err := freeport.Loopback(2 * o.Validators)
	if err != nil {
		return nil, err
	}
	n := &Net{Bin: bin, Dir: dir, Options: o}
	for i := 0; i < o.Validators; i++ {
		name := fmt.Sprintf("node%d", i)
		home := filepath.Join(dir, name)
		raw, err := os.ReadFile(filepath.Join(home, "config", "node_key.json"))
		if err != nil {
			return nil, err
		}
		id, err := NodeID(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		n.Nodes = append(n.Nodes, &Node{Name: name, Home: home, ID: id, P2P: ports[2*i], RPC: ports[2*i+1]})
	}
	for _, nd := range n.Nodes {
		var peers []string
		for _, p := range n.Nodes {
			if p != nd {
				peers = append(peers, p.ID+"@"+p.P2P)
			}
		}
		path := filepath.Join(nd.Home, "config", "config.toml")
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		// The IDs computed here must be the ones testnet wrote.
		if !strings.Contains(string(raw), nd.ID+"@") {
			return nil, fmt.Errorf("%s: node ID %s is not among the persistent peers cometbft testnet wrote", path, nd.ID)
		}
		rewritten, err := RewriteConfig(raw, Settings(o, nd.Name, nd.P2P, nd.RPC, strings.Join(peers, ",")))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, rewritten, 0o644); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// LogFile is where a started node writes its output.
func (nd *Node) LogFile() string { return filepath.Join(nd.Home, "node.log") }

// Start starts every node as `cometbft start --home HOME`, in a session of
// its own (a Ctrl-C at the terminal reaches this process, which stops
// them).
func (n *Net) Start() error {
	for _, nd := range n.Nodes {
		logf, err := os.OpenFile(nd.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		c := exec.Command(n.Bin, "start", "--home", nd.Home)
		c.Stdout, c.Stderr = logf, logf
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = c.Start()
		logf.Close()
		if err != nil {
			return fmt.Errorf("starting %s: %w", nd.Name, err)
		}
		nd.cmd, nd.exited = c, make(chan struct{})
		go func(nd *Node) { nd.cmd.Wait(); close(nd.exited) }(nd)
	}
	return nil
}

// Running tells whether a node's process is alive.
func (nd *Node) Running() bool {
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// Stop stops every node this Net started: SIGTERM to all at once, then
// SIGKILL to those still running after timeout.
func (n *Net) Stop(timeout time.Duration) {
	for _, nd := range n.Nodes {
		if nd.Running() {
			nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(timeout)
	for _, nd := range n.Nodes {
		if nd.cmd == nil {
			continue
		}
		select {
		case <-nd.exited:
		case <-deadline:
			nd.cmd.Process.Kill()
			<-nd.exited
		}
	}
}

// rpcClient is for status calls; the load has its own.
var rpcClient = &http.Client{Timeout: 5 * time.Second}

// call does a JSON-RPC call over GET (uri style) and decodes its result.
func call(ctx context.Context, c *http.Client, rpc, path string, result any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+rpc+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("%s%s: %s: %w", rpc, path, resp.Status, err)
	}
	if out.Error != nil {
		return out.Error
	}
	return json.Unmarshal(out.Result, result)
}

// rpcError is a JSON-RPC error as CometBFT answers it.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Message, e.Code, e.Data) }

// Height asks a node for its latest block height.
func (nd *Node) Height(ctx context.Context) (int64, error) {
	var st struct {
		SyncInfo struct {
			LatestBlockHeight string `json:"latest_block_height"`
		} `json:"sync_info"`
	}
	if err := call(ctx, rpcClient, nd.RPC, "/status", &st); err != nil {
		return 0, err
	}
	return strconv.ParseInt(st.SyncInfo.LatestBlockHeight, 10, 64)
}

// Pending asks a node how many transactions its mempool holds.
func (nd *Node) Pending(ctx context.Context) (int, error) {
	var r struct {
		Total string `json:"total"`
	}
	if err := call(ctx, rpcClient, nd.RPC, "/num_unconfirmed_txs?limit=1", &r); err != nil {
		return 0, err
	}
	return strconv.Atoi(r.Total)
}

// WaitHeight waits until every node answers and reports height ≥ h. A
// node whose process has exited is an error quoting the end of its log.
func (n *Net) WaitHeight(ctx context.Context, h int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var waiting []string
		for _, nd := range n.Nodes {
			if !nd.Running() {
				return fmt.Errorf("cometbft %s exited; the end of %s:\n%s", nd.Name, nd.LogFile(), tailFile(nd.LogFile(), 10))
			}
			if got, err := nd.Height(ctx); err != nil || got < h {
				waiting = append(waiting, nd.Name)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cometbft nodes %s did not reach height %d within %v (see %s/<node>/node.log)", strings.Join(waiting, ", "), h, timeout, n.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitDrained waits until every node's mempool is empty, or timeout; it
// returns the transactions still pending then.
func (n *Net) WaitDrained(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		total := 0
		for _, nd := range n.Nodes {
			p, err := nd.Pending(ctx)
			if err != nil {
				return 0, err
			}
			total += p
		}
		if total == 0 || time.Now().After(deadline) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return lastLines(string(raw), n)
}
