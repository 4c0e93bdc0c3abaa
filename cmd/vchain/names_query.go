package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/internal/openapi"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

// A running `vchain node` holds its data directory (Pebble locks it), so
// the commands that read names state ask the node instead: it serves the
// queries over HTTP on loopback and writes where in DATADIR/node.json.

// nodeFile is where a running node says how to reach it.
func nodeFile(datadir string) string { return filepath.Join(datadir, "node.json") }

// nodeInfo is the content of node.json.
type nodeInfo struct {
	HTTP string `json:"http"`
	PID  int    `json:"pid"`
}

// namesStatus is what GET /v1/status answers.
type namesStatus struct {
	Height    int64  `json:"height"`
	Hash      string `json:"hash,omitempty"`
	Consensus string `json:"consensus_hash,omitempty"`
	// State is the state commitment after the block (engine.BlockRecord).
	State string `json:"state_commitment,omitempty"`
}

// namesReader answers queries on the names state: from the data directory
// when it is free, else from the node that holds it.
type namesReader interface {
	status() (namesStatus, error)
	lookup(name string) (names.Record, int64, error)
	Close() error
}

// openNames opens datadir for queries, or reaches the node holding it.
func openNames(datadir string) (namesReader, error) {
	if datadir == "" {
		return nil, errors.New("--datadir is required")
	}
	db, err := store.Open(datadir, store.Options{CacheBytes: 8 << 20})
	if err == nil {
		return localNames{db}, nil
	}
	raw, ferr := os.ReadFile(nodeFile(datadir))
	if ferr != nil {
		return nil, fmt.Errorf("data directory %s: %w", datadir, err)
	}
	var info nodeInfo
	if jerr := json.Unmarshal(raw, &info); jerr != nil || info.HTTP == "" {
		return nil, fmt.Errorf("data directory %s is in use and %s is unreadable", datadir, nodeFile(datadir))
	}
	return remoteNames{base: "http://" + info.HTTP, c: &http.Client{Timeout: 10 * time.Second}}, nil
}

// readNames answers from a consistent view of a store.
func readNamesStatus(snap *store.Snapshot) (namesStatus, error) {
	rec, ok, err := engine.ReadTip(snap)
	if err != nil || !ok {
		return namesStatus{Height: -1}, err
	}
	return namesStatus{Height: rec.Height, Hash: rec.Hash.String(), Consensus: rec.Consensus.String(), State: rec.State.String()}, nil
}

func readName(snap *store.Snapshot, name string) (names.Record, int64, error) {
	st, err := readNamesStatus(snap)
	if err != nil {
		return names.Record{}, 0, err
	}
	rec, err := names.Lookup(engine.AppState(snap), name, st.Height)
	return rec, st.Height, err
}

type localNames struct{ db *store.DB }

func (l localNames) status() (namesStatus, error) {
	snap := l.db.Snapshot()
	defer snap.Close()
	return readNamesStatus(snap)
}

func (l localNames) lookup(name string) (names.Record, int64, error) {
	snap := l.db.Snapshot()
	defer snap.Close()
	return readName(snap, name)
}

func (l localNames) Close() error { return l.db.Close() }

type remoteNames struct {
	base string
	c    *http.Client
}

func (r remoteNames) get(path string, v any) (int, error) {
	resp, err := r.c.Get(r.base + path)
	if err != nil {
		return 0, fmt.Errorf("the node holding the data directory does not answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error  string `json:"error"`
			Height int64  `json:"height"`
		}
		json.Unmarshal(body, &e)
		if resp.StatusCode == http.StatusNotFound {
			if m, ok := v.(*nameAnswer); ok {
				m.Height = e.Height
			}
		}
		return resp.StatusCode, fmt.Errorf("node: %s", e.Error)
	}
	return resp.StatusCode, json.Unmarshal(body, v)
}

// nameAnswer is what GET /v1/names/NAME answers.
type nameAnswer struct {
	names.Record
	Height int64 `json:"height"`
}

func (r remoteNames) status() (namesStatus, error) {
	var st namesStatus
	_, err := r.get("/v1/status", &st)
	return st, err
}

func (r remoteNames) lookup(name string) (names.Record, int64, error) {
	var a nameAnswer
	code, err := r.get("/v1/names/"+name, &a)
	if code == http.StatusNotFound {
		return names.Record{}, a.Height, fmt.Errorf("%s: %w", name, names.ErrNameNotFound)
	}
	return a.Record, a.Height, err
}

func (r remoteNames) Close() error { return nil }

// consensusOf returns the consensus hash at the tip of the names state.
func consensusOf(nr namesReader) (vchash.ConsensusHash, error) {
	st, err := nr.status()
	if err != nil {
		return vchash.ConsensusHash{}, err
	}
	if st.Consensus == "" {
		return vchash.ConsensusHash{}, errors.New("the data directory has no consensus hash yet: run vchain sync first")
	}
	return vchash.ParseConsensusHash(st.Consensus)
}

// serveNames serves the names queries, the event stream and the explorer
// of n on addr until ctx ends, and writes node.json in datadir while it
// does.
func serveNames(ctx context.Context, n *explorer.EngineNode, datadir, addr string) error {
	db := n.Store
	mux := openapi.NewMux()
	mux.Handle("GET /v1/events", events.Handler(n.Events))
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		l := localNames{db}
		st, err := l.status()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/names/{name}", func(w http.ResponseWriter, r *http.Request) {
		rec, h, err := localNames{db}.lookup(r.PathValue("name"))
		switch {
		case errors.Is(err, names.ErrNameNotFound):
			writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error(), "height": h})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, nameAnswer{Record: rec, Height: h})
		}
	})
	explorer.EngineRoutes(n, mux)
	mux.Index("vchain engine node API")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", addr, err)
	}
	info, _ := json.Marshal(nodeInfo{HTTP: ln.Addr().String(), PID: os.Getpid()})
	if err := os.WriteFile(nodeFile(datadir), info, 0o644); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		os.Remove(nodeFile(datadir))
		srv.Close()
	}()
	go srv.Serve(ln)
	return nil
}
