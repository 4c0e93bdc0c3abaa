package localnet

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/internal/freeport"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, Options{Validators: 4, Proposers: 1, PeriodMS: 100, TimeoutMS: 1000, ViewLen: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v1", "config.json")
	good, _ := os.ReadFile(path)
	for _, tc := range []struct{ from, to, want string }{
		{`"listen": "127.0.0.1:`, `"listen": "nowhere`, "listen"},
		{`"role": "validator"`, `"role": "king"`, "role"},
		{`"name": "v1"`, `"name": "v9"`, "name"},
		{`"http"`, `"htttp"`, "htttp"},
	} {
		os.WriteFile(path, []byte(strings.Replace(string(good), tc.from, tc.to, 1)), 0o644)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
	os.WriteFile(path, good, 0o644)
	if _, err := Create(dir, Options{Validators: 4, Proposers: 1}); err == nil {
		t.Fatal("created a second localnet over the first")
	}
	if _, err := Create(t.TempDir(), Options{Validators: 5, Proposers: 1}); err == nil || !strings.Contains(err.Error(), "3f+1") {
		t.Fatalf("5 validators: %v", err)
	}
}

// TestPortsAvoidTheEphemeralRange: the nodes' addresses are distinct and
// below the range the kernel hands to outgoing connections and to port 0,
// so nothing else running takes them before the nodes start.
func TestPortsAvoidTheEphemeralRange(t *testing.T) {
	l, err := Create(t.TempDir(), Options{Validators: 7, Proposers: 5, PeriodMS: 100, TimeoutMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	low := freeport.EphemeralLow()
	for _, nc := range l.Nodes {
		for _, a := range []string{nc.Listen, nc.HTTP} {
			if seen[a] {
				t.Fatalf("%s given twice", a)
			}
			seen[a] = true
			_, p, _ := net.SplitHostPort(a)
			if port, _ := strconv.Atoi(p); low > 11000 && port >= low {
				t.Errorf("%s: %s is in the ephemeral range (from %d)", nc.Name, a, low)
			}
		}
	}
}

// TestWaitUpReportsANodeThatExited: a node process that dies at start is
// an error quoting its log, not a silent wait.
func TestWaitUpReportsANodeThatExited(t *testing.T) {
	l, err := Create(t.TempDir(), Options{Validators: 4, Proposers: 1, PeriodMS: 100, TimeoutMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in for vchain that fails the way a node does on a taken port.
	exe := filepath.Join(t.TempDir(), "fake-vchain")
	os.WriteFile(exe, []byte("#!/bin/sh\necho 'listen tcp 127.0.0.1:1: bind: address already in use' >&2\nexit 1\n"), 0o755)
	started, err := l.Start(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 5 {
		t.Fatalf("started %v", started)
	}
	err = l.WaitUp(started, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("WaitUp: %v", err)
	}
}
