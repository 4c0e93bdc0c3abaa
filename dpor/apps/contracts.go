package apps

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/kv"
)

// OpenContracts opens the contract runtime as an application of node n,
// its state in dir.
func OpenContracts(n *node.Node, dir string, limits contract.Limits, log *slog.Logger) (*Runner, error) {
	return Open(n, dir, host.NewChainApp(limits), log)
}

// TxStatuser tells what became of a chain transaction: a DPoR node, or a
// CometBFT node's transaction index (package comet).
type TxStatuser interface {
	Tx(hash [32]byte) (node.TxStatus, error)
}

// Applied is an application applying a chain's final blocks, as the
// contract routes read it: a Runner, or package comet's App.
type Applied interface {
	Name() string
	// Height is the newest block applied.
	Height() int64
	// Err is why the application stopped, or nil.
	Err() error
	Engine() *engine.Engine
	// WaitHeight waits until block h is applied, ctx ends or the
	// application stops (ErrStopped).
	WaitHeight(ctx context.Context, h int64) error
}

// ContractInfo is GET /v1/contracts/{id}: a contract's description, as of
// the application's height.
type ContractInfo struct {
	host.ChainInfo
	Height int64 `json:"height"`
}

// ContractState is GET /v1/contracts/{id}/state?path=P: a file of the
// contract's state archive.
type ContractState struct {
	Path        string `json:"path"`
	Content     string `json:"content"`
	StateLength uint64 `json:"state_length"`
	StateRoot   string `json:"state_root"`
	Height      int64  `json:"height"`
}

// AppStatus is one entry of GET /v1/apps.
type AppStatus struct {
	Name   string `json:"name"`
	Height int64  `json:"height"`
	Error  string `json:"error,omitempty"`
}

// Limits of the contract routes.
const (
	maxCallsPage = 256
	maxWait      = 30 * time.Second
)

// ContractRoutes serves the contract runtime's reads on a node's API:
//
//	GET /v1/apps                           the applications and their heights
//	GET /v1/apps/contracts/events          the runtime's events (each contract op, with its subject)
//	GET /v1/contracts/{id}                 a contract's description and exports
//	GET /v1/contracts/{id}/state?path=P    a file of its state archive
//	GET /v1/contracts/{id}/calls?from=&max= its creates and calls, oldest first
//	GET /v1/contract-calls/{tx}?wait_ms=   what a contract transaction did
//	GET /v1/private/{id}                   a private contract's public record
//
// The last waits (up to wait_ms, at most 30 s) for a transaction that is
// final but not yet applied by the runtime, so a client can ask right
// after its transaction is final.
func ContractRoutes(n TxStatuser, r Applied) func(mux *node.Mux) {
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, format string, a ...any) {
		js(w, code, map[string]string{"error": fmt.Sprintf(format, a...)})
	}
	// readFailed answers a failed read: 404 for what does not exist, 500
	// (naming the application's state) otherwise.
	readFailed := func(w http.ResponseWriter, what string, err error) {
		if errors.Is(err, kv.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			fail(w, http.StatusNotFound, "%s: not found (contracts applied to height %d)", what, r.Height())
			return
		}
		fail(w, http.StatusInternalServerError, "%s: reading the contract runtime's state: %v", what, err)
	}
	validID := func(w http.ResponseWriter, id string) bool {
		if b, err := hex.DecodeString(id); err != nil || len(b) != 32 {
			fail(w, http.StatusBadRequest, "contract id %q: want the 64 hex digits of the transaction that created it", id)
			return false
		}
		return true
	}
	return func(mux *node.Mux) {
		mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, _ *http.Request) {
			st := AppStatus{Name: r.Name(), Height: r.Height()}
			if err := r.Err(); err != nil {
				st.Error = err.Error()
			}
			js(w, http.StatusOK, []AppStatus{st})
		})
		mux.Handle("GET /v1/apps/contracts/events", events.Handler(r.Engine().Events()))
		mux.HandleFunc("GET /v1/contracts/{id}", func(w http.ResponseWriter, req *http.Request) {
			id := req.PathValue("id")
			if !validID(w, id) {
				return
			}
			h := r.Height()
			info, err := host.ChainContractInfo(r.Engine().State(), id)
			if err != nil {
				readFailed(w, "contract "+id, err)
				return
			}
			js(w, http.StatusOK, ContractInfo{ChainInfo: *info, Height: h})
		})
		mux.HandleFunc("GET /v1/contracts/{id}/state", func(w http.ResponseWriter, req *http.Request) {
			id, path := req.PathValue("id"), req.URL.Query().Get("path")
			if !validID(w, id) {
				return
			}
			if path == "" || path[0] != '/' || len(path) > 4096 {
				fail(w, http.StatusBadRequest, "want ?path=/ABSOLUTE/PATH (at most 4096 bytes)")
				return
			}
			h := r.Height()
			st := r.Engine().State()
			info, err := host.ChainContractInfo(st, id)
			if err != nil {
				readFailed(w, "contract "+id, err)
				return
			}
			data, err := host.ChainReadFile(st, id, path)
			if err != nil {
				readFailed(w, fmt.Sprintf("contract %s: %s", id, path), err)
				return
			}
			js(w, http.StatusOK, ContractState{Path: path, Content: string(data), StateLength: info.StateLength, StateRoot: info.StateRoot, Height: h})
		})
		mux.HandleFunc("GET /v1/contracts/{id}/calls", func(w http.ResponseWriter, req *http.Request) {
			id := req.PathValue("id")
			if !validID(w, id) {
				return
			}
			from, max, err := page(req)
			if err != nil {
				fail(w, http.StatusBadRequest, "%v", err)
				return
			}
			calls, err := host.ChainCalls(r.Engine().State(), id, from, max)
			if err != nil {
				readFailed(w, "contract "+id, err)
				return
			}
			js(w, http.StatusOK, calls)
		})
		mux.HandleFunc("GET /v1/private/{id}", func(w http.ResponseWriter, req *http.Request) {
			id := req.PathValue("id")
			if !validID(w, id) {
				return
			}
			pc, err := host.ChainPrivateContract(r.Engine().State(), id)
			if err != nil {
				readFailed(w, "private contract "+id, err)
				return
			}
			js(w, http.StatusOK, pc)
		})
		mux.HandleFunc("GET /v1/contract-calls/{tx}", func(w http.ResponseWriter, req *http.Request) {
			tx := req.PathValue("tx")
			raw, err := hex.DecodeString(tx)
			if err != nil || len(raw) != 32 {
				fail(w, http.StatusBadRequest, "transaction hash %q: want 64 hex digits", tx)
				return
			}
			wait, _ := strconv.Atoi(req.URL.Query().Get("wait_ms"))
			ctx, cancel := context.WithTimeout(req.Context(), min(time.Duration(max(wait, 0))*time.Millisecond, maxWait))
			defer cancel()
			status, err := n.Tx([32]byte(raw))
			if err != nil {
				fail(w, http.StatusInternalServerError, "transaction %s: %v", tx, err)
				return
			}
			if status.Status != "final" {
				fail(w, http.StatusNotFound, "transaction %s is %s: no contract call ran", tx, status.Status)
				return
			}
			if err := r.WaitHeight(ctx, int64(status.Height)); err != nil && errors.Is(err, ErrStopped) {
				fail(w, http.StatusServiceUnavailable, "%v", err)
				return
			}
			cc, ok, err := host.ChainCallOf(r.Engine().State(), tx)
			switch {
			case err != nil:
				readFailed(w, "transaction "+tx, err)
			case ok:
				js(w, http.StatusOK, cc)
			case r.Height() < int64(status.Height):
				w.Header().Set("Retry-After", "1")
				fail(w, http.StatusServiceUnavailable, "transaction %s is final at height %d; the contract runtime has applied %d", tx, status.Height, r.Height())
			default:
				fail(w, http.StatusNotFound, "transaction %s (final at height %d) carried no contract operation the runtime could read", tx, status.Height)
			}
		})
	}
}

// page reads ?from=N&max=M (defaults 0 and maxCallsPage).
func page(req *http.Request) (from, max int, err error) {
	q := req.URL.Query()
	max = maxCallsPage
	if v := q.Get("from"); v != "" {
		if from, err = strconv.Atoi(v); err != nil || from < 0 {
			return 0, 0, fmt.Errorf("from=%q: want a count of calls to skip", v)
		}
	}
	if v := q.Get("max"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 1 {
			return 0, 0, fmt.Errorf("max=%q: want a positive number", v)
		}
		max = min(max, maxCallsPage)
	}
	return from, max, nil
}

// NoContractRoutes answers the contract routes on a node that does not run
// the contract runtime (a validator keeps its CPU for consensus), saying
// so instead of a bare 404.
func NoContractRoutes(name string) func(mux *node.Mux) {
	return func(mux *node.Mux) {
		for _, p := range []string{"GET /v1/apps", "GET /v1/contracts/", "GET /v1/contract-calls/", "GET /v1/private/"} {
			mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("node %s does not run the contract runtime (validators keep to consensus): ask a proposer's API", name)})
			})
		}
	}
}
