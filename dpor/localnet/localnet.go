// Package localnet lays out and runs a DPoR chain on one machine: keys, a
// genesis and a directory per node, each node a separate process on
// 127.0.0.1 with a pid file; status, shutdown, and a load generator.
package localnet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/internal/freeport"
	"github.com/vchain-dev/vchain/internal/proc"
)

// Options shape a new localnet.
type Options struct {
	Validators, Proposers int
	PeriodMS, TimeoutMS   int64
	ViewLen               int
	// MaxBlockTxs and MaxPending go to every node's config.json (0: the
	// node's defaults).
	MaxBlockTxs, MaxPending int
	// NoContracts leaves the contract runtime out of every node (a
	// benchmark of the chain alone). Validators never run it.
	NoContracts bool
}

// NodeConfig is DIR/<name>/config.json.
type NodeConfig struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Listen string   `json:"listen"`
	HTTP   string   `json:"http"`
	Peers  []string `json:"peers"`
	// MaxBlockTxs bounds the blocks this node proposes and MaxPending its
	// pool's admission limit (0: the defaults).
	MaxBlockTxs int `json:"max_block_txs,omitempty"`
	MaxPending  int `json:"max_pending,omitempty"`
	// NoContracts: the node does not run the contract runtime on its
	// final blocks (it does by default, serving /v1/contracts/...).
	NoContracts bool `json:"no_contracts,omitempty"`
}

// Layout is a localnet directory.
type Layout struct {
	Dir     string // absolute: a node's process is found again by its --dir
	Genesis *chain.Genesis
	Nodes   []NodeConfig

	children map[string]*proc.Child // the processes Start started, by name
}

// FaucetKey is the funded account's key file, relative to the directory.
const FaucetKey = "faucet.key"

// Create lays out a new localnet in dir (which must not hold one).
func Create(dir string, o Options) (*Layout, error) {
	dir, err := filepath.Abs(dir) // its nodes are found again by their --dir
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "genesis.json")); err == nil {
		return nil, fmt.Errorf("%s already holds a localnet", dir)
	}
	if o.Validators < 4 || (o.Validators-1)%3 != 0 {
		return nil, fmt.Errorf("--validators %d: want 3f+1 (4, 7, 10, ...)", o.Validators)
	}
	if o.Proposers < 1 {
		return nil, fmt.Errorf("--proposers %d: want at least 1", o.Proposers)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	faucet, err := newKey(filepath.Join(dir, FaucetKey))
	if err != nil {
		return nil, err
	}
	fa := chain.AddressOf(faucet.Public().(ed25519.PublicKey))
	g := &chain.Genesis{ChainID: "localnet-" + hex.EncodeToString(fa[:4]), TimeMS: time.Now().UnixMilli(),
		PeriodMS: o.PeriodMS, TimeoutMS: o.TimeoutMS, ProposersPerTerm: o.Proposers, ViewLen: max(o.ViewLen, 1),
		Deployer: fa, Balances: map[chain.Address]uint64{fa: 1 << 50}, Params: chain.DefaultParams()}
	l := &Layout{Dir: dir, Genesis: g}
	total := o.Validators + o.Proposers
	ports, err := freeport.Loopback(2 * total)
	if err != nil {
		return nil, err
	}
	var p2ps []string
	for i := 0; i < total; i++ {
		name, role := fmt.Sprintf("v%d", i), "validator"
		if i >= o.Validators {
			name, role = fmt.Sprintf("p%d", i-o.Validators), "proposer"
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		k, err := newKey(filepath.Join(dir, name, "node.key"))
		if err != nil {
			return nil, err
		}
		m := chain.Member{Name: name, Key: hex.EncodeToString(k.Public().(ed25519.PublicKey))}
		if role == "validator" {
			g.Validators = append(g.Validators, m)
		} else {
			g.Proposers = append(g.Proposers, m)
		}
		p2p, api := ports[2*i], ports[2*i+1]
		p2ps = append(p2ps, p2p)
		l.Nodes = append(l.Nodes, NodeConfig{Name: name, Role: role, Listen: p2p, HTTP: api, MaxBlockTxs: o.MaxBlockTxs, MaxPending: o.MaxPending,
			// Validators keep their CPU for consensus: the proposers, whose
			// APIs clients use, run the contract runtime.
			NoContracts: o.NoContracts || role == "validator"})
	}
	for i := range l.Nodes {
		for j, a := range p2ps {
			if j != i {
				l.Nodes[i].Peers = append(l.Nodes[i].Peers, a)
			}
		}
		if err := writeJSON(filepath.Join(dir, l.Nodes[i].Name, "config.json"), l.Nodes[i]); err != nil {
			return nil, err
		}
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return l, writeJSON(filepath.Join(dir, "genesis.json"), g)
}

// Differs tells, as an error naming the flag, whether options given on
// the command line (given reports which) differ from this localnet's.
func (l *Layout) Differs(o Options, given func(flag string) bool) error {
	g := l.Genesis
	for _, c := range []struct {
		flag      string
		want, has int64
	}{
		{"validators", int64(o.Validators), int64(len(g.Validators))},
		{"proposers", int64(o.Proposers), int64(g.ProposersPerTerm)},
		{"period", o.PeriodMS, g.PeriodMS},
		{"timeout", o.TimeoutMS, g.TimeoutMS},
		{"view-len", int64(o.ViewLen), int64(g.ViewLen)},
		{"max-block-txs", int64(o.MaxBlockTxs), int64(l.Nodes[0].MaxBlockTxs)},
		{"max-pending", int64(o.MaxPending), int64(l.Nodes[0].MaxPending)},
		{"no-contracts", b2i(o.NoContracts), b2i(l.Nodes[len(l.Nodes)-1].NoContracts)},
	} {
		if given(c.flag) && c.want != c.has {
			return fmt.Errorf("--%s %d: the localnet in %s was created with %d; start it without the flag, or remove the directory to create another", c.flag, c.want, l.Dir, c.has)
		}
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Load reads a localnet directory.
func Load(dir string) (*Layout, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	g, err := chain.LoadGenesis(filepath.Join(dir, "genesis.json"))
	if err != nil {
		return nil, err
	}
	l := &Layout{Dir: dir, Genesis: g}
	for _, m := range append(append([]chain.Member{}, g.Validators...), g.Proposers...) {
		path := filepath.Join(dir, m.Name, "config.json")
		nc, err := readNodeConfig(path)
		if err != nil {
			return nil, err
		}
		if nc.Name != m.Name {
			return nil, fmt.Errorf("%s: name: %q, but the genesis calls this node %q", path, nc.Name, m.Name)
		}
		l.Nodes = append(l.Nodes, nc)
	}
	return l, nil
}

// readNodeConfig reads a node's config.json; errors name the field.
func readNodeConfig(path string) (NodeConfig, error) {
	var nc NodeConfig
	raw, err := os.ReadFile(path)
	if err != nil {
		return nc, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nc); err != nil {
		return nc, fmt.Errorf("%s: %w", path, err)
	}
	check := func(field, addr string) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %s: %q is not HOST:PORT", path, field, addr)
		}
		return nil
	}
	if err := check("listen", nc.Listen); err != nil {
		return nc, err
	}
	if err := check("http", nc.HTTP); err != nil {
		return nc, err
	}
	for i, p := range nc.Peers {
		if err := check(fmt.Sprintf("peers[%d]", i), p); err != nil {
			return nc, err
		}
	}
	if nc.Role != "validator" && nc.Role != "proposer" {
		return nc, fmt.Errorf("%s: role: %q, want validator or proposer", path, nc.Role)
	}
	return nc, nil
}

// ContractsDir is where node name keeps the contract runtime's state, or
// "" when the node does not run it.
func (l *Layout) ContractsDir(name string) string {
	for _, nc := range l.Nodes {
		if nc.Name == name && !nc.NoContracts {
			return filepath.Join(l.Dir, name, "contracts")
		}
	}
	return ""
}

// NodeOptions are how `vchain localnet node` opens one node of a layout.
func (l *Layout) NodeOptions(name string) (node.Config, error) {
	for _, nc := range l.Nodes {
		if nc.Name != name {
			continue
		}
		k, err := ReadKey(filepath.Join(l.Dir, name, "node.key"))
		if err != nil {
			return node.Config{}, err
		}
		return node.Config{Name: name, Dir: filepath.Join(l.Dir, name, "data"), Genesis: l.Genesis, Key: k,
			Listen: nc.Listen, Peers: nc.Peers, HTTP: nc.HTTP, MaxBlockTxs: nc.MaxBlockTxs, MaxPending: nc.MaxPending}, nil
	}
	return node.Config{}, fmt.Errorf("no node %q in %s", name, l.Dir)
}

func newKey(path string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return k, os.WriteFile(path, []byte(hex.EncodeToString(k.Seed())+"\n"), 0o600)
}

// ReadKey reads a key file: the hex of a 32-byte Ed25519 seed.
func ReadKey(path string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: want the hex of a 32-byte Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// pidFile is where a node's process id is kept.
func (l *Layout) pidFile(name string) string { return filepath.Join(l.Dir, name, "pid") }

// Running returns the pid of a node's live process, or 0.
func (l *Layout) Running(name string) int { return proc.Running(l.pidFile(name), name, l.Dir) }

// Start starts, as separate processes of exe, the nodes that are not
// running, and returns the names started.
func (l *Layout) Start(exe string, extra ...string) ([]string, error) {
	var started []string
	for _, nc := range l.Nodes {
		if l.Running(nc.Name) != 0 {
			continue
		}
		args := append([]string{"localnet", "node", "--dir", l.Dir, "--name", nc.Name, "--log-format", "json"}, extra...)
		c, err := proc.Start(exe, args, l.logFile(nc.Name), l.pidFile(nc.Name))
		if err != nil {
			return started, fmt.Errorf("starting %s: %w", nc.Name, err)
		}
		if l.children == nil {
			l.children = map[string]*proc.Child{}
		}
		l.children[nc.Name] = c
		started = append(started, nc.Name)
	}
	return started, nil
}

// Stop stops every running node (SIGTERM, then SIGKILL after timeout).
func (l *Layout) Stop(timeout time.Duration) []string {
	ps := make([]proc.Named, len(l.Nodes))
	for i, nc := range l.Nodes {
		ps[i] = proc.Named{Name: nc.Name, PidFile: l.pidFile(nc.Name), Marks: []string{nc.Name, l.Dir}}
	}
	return proc.StopAll(ps, timeout)
}

// NodeStatus is one line of `localnet status`.
type NodeStatus struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	Up           bool   `json:"up"`
	PID          int    `json:"pid,omitempty"`
	Height       uint64 `json:"height"`
	Head         string `json:"head"`
	Impeached    uint64 `json:"impeached"`
	NextProposer string `json:"next_proposer"`
	Peers        int    `json:"peers"`
	API          string `json:"api"`
	Error        string `json:"error,omitempty"`
}

// Status asks every node for its status.
func (l *Layout) Status() []NodeStatus {
	c := &http.Client{Timeout: 2 * time.Second}
	var out []NodeStatus
	for _, nc := range l.Nodes {
		ns := NodeStatus{Name: nc.Name, Role: nc.Role, PID: l.Running(nc.Name), API: "http://" + nc.HTTP}
		var st node.Status
		if err := GetJSON(c, "http://"+nc.HTTP+"/v1/status", &st); err != nil {
			if ns.PID != 0 {
				ns.Error = err.Error()
			}
		} else {
			ns.Up, ns.Height, ns.Head, ns.Impeached, ns.NextProposer, ns.Peers = true, st.Height, st.Head, st.Impeached, st.NextProposer, st.Peers
		}
		out = append(out, ns)
	}
	return out
}

// GetJSON fetches url and decodes its JSON into v; a status other than
// 200 is an error.
func GetJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		// The node's answer says what is wrong: {"error": "..."}.
		var e struct{ Error string }
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) == nil && e.Error != "" {
			return &HTTPError{Status: resp.StatusCode, Msg: e.Error}
		}
		return &HTTPError{Status: resp.StatusCode, Msg: fmt.Sprintf("%s: %s", url, resp.Status)}
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

// HTTPError is a node's answer other than 200 OK.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("node: %s (HTTP %d)", e.Msg, e.Status) }

// WaitUp waits until every named node answers on its API. A node whose
// process has exited is an error that quotes the end of its log.
func (l *Layout) WaitUp(names []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		up := map[string]bool{}
		for _, s := range l.Status() {
			up[s.Name] = s.Up
		}
		var waiting []string
		for _, n := range names {
			if up[n] {
				continue
			}
			if l.Running(n) == 0 {
				how := "exited"
				if h, ok := l.children[n].Exited(); ok {
					how = "exited (" + h + ")"
				}
				return fmt.Errorf("node %s %s; the end of %s:\n%s", n, how, l.logFile(n), tail(l.logFile(n), 10))
			}
			waiting = append(waiting, n)
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes %s did not answer within %v (see DIR/<node>/node.log)", strings.Join(waiting, ", "), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logFile is where a node started by Start writes its log.
func (l *Layout) logFile(name string) string { return filepath.Join(l.Dir, name, "node.log") }

// tail returns the last n lines of a file, or a note that it cannot be read.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// WaitHeight waits until some running node reports height ≥ h.
func (l *Layout) WaitHeight(h uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, s := range l.Status() {
			if s.Up && s.Height >= h {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no node reached height " + strconv.FormatUint(h, 10) + " in " + timeout.String() + " (see DIR/<node>/node.log)")
}
