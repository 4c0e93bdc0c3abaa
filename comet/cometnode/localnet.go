package cometnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/internal/proc"
)

// Localnet is a CometBFT chain on this machine: one process per
// validator, each `vchain node --source comet` on its own home.
type Localnet struct {
	Dir     string `json:"-"`
	App     string `json:"app"`
	ChainID string `json:"chain_id"`
	// SnapshotInterval is how often the nodes take a snapshot for state
	// sync (0: never).
	SnapshotInterval int64  `json:"snapshot_interval,omitempty"`
	Nodes            []Home `json:"nodes"`
}

// DefaultLocalnetSnapshots is how often a localnet's nodes take a snapshot
// unless told otherwise.
const DefaultLocalnetSnapshots = 100

// localnetFile describes a localnet in its directory.
const localnetFile = "localnet.json"

// CreateLocalnet lays out a new localnet in dir (empty or absent).
func CreateLocalnet(dir string, validators int, app string) (*Localnet, error) {
	return CreateLocalnetWith(dir, Layout{Validators: validators}, app, DefaultLocalnetSnapshots)
}

// CreateLocalnetWith is CreateLocalnet with a layout's every option and
// the nodes taking a snapshot every snapshotInterval blocks (0: never).
func CreateLocalnetWith(dir string, l Layout, app string, snapshotInterval int64) (*Localnet, error) {
	dir, err := filepath.Abs(dir) // processes are found again by their --home
	if err != nil {
		return nil, err
	}
	if _, err := NewApplication(app); err != nil {
		return nil, err
	}
	homes, err := Lay(dir, l)
	if err != nil {
		return nil, err
	}
	ln := &Localnet{Dir: dir, App: app, ChainID: firstNonEmpty(l.ChainID, "vchain-comet"), Nodes: homes, SnapshotInterval: snapshotInterval}
	b, _ := json.MarshalIndent(ln, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, localnetFile), b, 0o644); err != nil {
		return nil, err
	}
	return ln, nil
}

// LoadLocalnet reads the localnet in dir.
func LoadLocalnet(dir string) (*Localnet, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, localnetFile))
	if err != nil {
		return nil, fmt.Errorf("no CometBFT localnet in %s: %w", dir, err)
	}
	ln := &Localnet{Dir: dir}
	if err := json.Unmarshal(b, ln); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, localnetFile), err)
	}
	return ln, nil
}

// Validators is how many of the localnet's nodes are validators (the
// others joined later).
func (ln *Localnet) Validators() int {
	n := 0
	for _, h := range ln.Nodes {
		if !h.Joined {
			n++
		}
	}
	return n
}

// Exists reports whether dir holds a localnet.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, localnetFile))
	return err == nil
}

func (ln *Localnet) pidFile(name string) string { return filepath.Join(ln.Dir, name, "pid") }

// LogFile is where a node's process writes its log.
func (ln *Localnet) LogFile(name string) string { return filepath.Join(ln.Dir, name, "node.log") }

// Running returns the pid of a node's live process, or 0.
func (ln *Localnet) Running(name string) int {
	return proc.Running(ln.pidFile(name), filepath.Join(ln.Dir, name))
}

// Start starts, as processes of exe (the vchain binary), the nodes that
// are not running, and returns the names started.
func (ln *Localnet) Start(exe string, extra ...string) ([]string, error) {
	var started []string
	for _, h := range ln.Nodes {
		if ln.Running(h.Name) != 0 {
			continue
		}
		args := append([]string{"node", "--source", "comet", "--app", ln.App, "--home", filepath.Join(ln.Dir, h.Name),
			"--api", h.API, "--log-format", "json", "--snapshot-interval", strconv.FormatInt(ln.SnapshotInterval, 10)}, extra...)
		if _, err := proc.Start(exe, args, ln.LogFile(h.Name), ln.pidFile(h.Name)); err != nil {
			return started, fmt.Errorf("starting %s: %w", h.Name, err)
		}
		started = append(started, h.Name)
	}
	return started, nil
}

// Kill sends sig to a node's process (SIGKILL: a crash).
func (ln *Localnet) Kill(name string, sig syscall.Signal) error {
	pid := ln.Running(name)
	if pid == 0 {
		return fmt.Errorf("%s is not running", name)
	}
	return syscall.Kill(pid, sig)
}

// Stop stops every running node at once (SIGTERM, then SIGKILL after
// timeout) and returns the names stopped.
func (ln *Localnet) Stop(timeout time.Duration) []string {
	ps := make([]proc.Named, len(ln.Nodes))
	for i, h := range ln.Nodes {
		ps[i] = proc.Named{Name: h.Name, PidFile: ln.pidFile(h.Name), Marks: []string{filepath.Join(ln.Dir, h.Name)}}
	}
	return proc.StopAll(ps, timeout)
}

// NodeStatus is one line of `vchain comet localnet status`.
type NodeStatus struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
	PID  int    `json:"pid,omitempty"`
	API  string `json:"api"`
	Status
	Error string `json:"error,omitempty"`
}

// Status asks every node for its status.
func (ln *Localnet) Status() []NodeStatus {
	c := &http.Client{Timeout: 2 * time.Second}
	out := make([]NodeStatus, 0, len(ln.Nodes))
	for _, h := range ln.Nodes {
		ns := NodeStatus{Name: h.Name, PID: ln.Running(h.Name), API: "http://" + h.API}
		if err := localnet.GetJSON(c, "http://"+h.API+"/v1/status", &ns.Status); err != nil {
			if ns.PID != 0 {
				ns.Error = err.Error()
			}
		} else {
			ns.Up = true
		}
		out = append(out, ns)
	}
	return out
}

// WaitHeight waits until every node in names (all when empty) has
// committed height h, or fails after timeout naming the ones behind and
// the end of their logs.
func (ln *Localnet) WaitHeight(h int64, timeout time.Duration, names ...string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		var behind []string
		for _, st := range ln.Status() {
			if len(want) > 0 && !want[st.Name] {
				continue
			}
			if !st.Up || st.Height < h {
				behind = append(behind, fmt.Sprintf("%s (height %d, %s)", st.Name, st.Height, firstNonEmpty(st.Error, "up")))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("not at height %d after %v: %s", h, timeout, strings.Join(behind, ", "))
			for _, n := range ln.Nodes {
				if len(want) == 0 || want[n.Name] {
					msg += "\n--- " + n.Name + " log:\n" + tail(ln.LogFile(n.Name), 15)
				}
			}
			return errors.New(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		f.Seek(st.Size()-64<<10, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
