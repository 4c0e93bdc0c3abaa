// Package cometnode runs a vchain application on CometBFT in one process:
// CometBFT v0.38 from a home directory (config/, data/, as `cometbft
// init` lays it out), the application (package comet's App over its own
// engine and Pebble store under HOME/vchain), and vchain's HTTP API for
// the chain, the same routes a DPoR node serves for transactions and the
// contract runtime, so the CLI that talks to a DPoR node talks to this one.
package cometnode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	mempl "github.com/cometbft/cometbft/mempool"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"
	"github.com/spf13/viper"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/comet"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/apps"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/openapi"
	"github.com/vchain-dev/vchain/store"
)

// Applications a node can run.
const (
	AppNames     = "names"
	AppContracts = "contracts"
)

// NewApplication returns the engine application called name, as the DPoR
// chain runs it: the names app or the contract runtime, both from block 0.
func NewApplication(name string) (engine.Application, error) {
	switch name {
	case AppNames:
		return names.New(names.Options{}), nil
	case AppContracts:
		return host.NewChainApp(contract.Limits{}), nil
	}
	return nil, fmt.Errorf("application %q: want %s or %s", name, AppNames, AppContracts)
}

// Snapshots says which snapshots a node takes for others to state-sync
// from: one every Interval blocks (0: none), the newest Keep kept.
type Snapshots struct {
	Interval int64
	Keep     int
}

// SnapshotDir is where the application whose store is in dir keeps its
// snapshots (vchain snapshot files: `vchain snapshot import` reads them).
func SnapshotDir(dir string) string { return filepath.Clean(dir) + "-snapshots" }

// OpenApp opens the application's store in dir and returns the ABCI
// application over it; when done, close the application, then the store.
func OpenApp(dir, name, chainID string, snaps Snapshots, log *slog.Logger) (*comet.App, *store.DB, error) {
	a, err := NewApplication(name)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	eng, err := engine.Open(db, a, engine.Config{Logger: log, Events: true})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	app, err := comet.New(eng, comet.Options{ChainID: chainID, Logger: log, SnapshotInterval: snaps.Interval,
		SnapshotKeep: snaps.Keep, SnapshotDir: SnapshotDir(dir), Store: db})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return app, db, nil
}

// Config configures a node.
type Config struct {
	// Home is the CometBFT home directory.
	Home string
	// App is the application: AppNames or AppContracts.
	App string
	// API is where vchain's HTTP API listens (host:port; port 0 picks
	// one).
	API string
	// Logger receives vchain's and CometBFT's logs; nil discards them.
	Logger *slog.Logger
	// Snapshots are those the node takes for others to state-sync from.
	Snapshots Snapshots
}

// Node is CometBFT with a vchain application and its API, in process.
type Node struct {
	cmt   *nm.Node
	app   *comet.App
	db    *store.DB
	rpc   *local.Local
	cfg   *cfg.Config
	gen   *types.GenesisDoc
	api   *http.Server
	ln    net.Listener
	log   *slog.Logger
	gw    *API
	close sync.Once

	// dbs are CometBFT's databases, closed after it stops (it leaves the
	// transaction index open, so a node started again in the same
	// process could not open it).
	dbMu sync.Mutex
	dbs  []dbm.DB
}

// openDB is CometBFT's default database provider, remembering each
// database it opens.
func (n *Node) openDB(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err == nil {
		n.dbMu.Lock()
		n.dbs = append(n.dbs, db)
		n.dbMu.Unlock()
	}
	return db, err
}

// LoadConfig reads home's config/config.toml over CometBFT's defaults,
// as the cometbft binary does.
func LoadConfig(home string) (*cfg.Config, error) {
	c := cfg.DefaultConfig()
	path := filepath.Join(home, "config", "config.toml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("CometBFT home %s: %w (make one with vchain comet init or cometbft init)", home, err)
	}
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// AppDir is where a node keeps its application's store under home.
func AppDir(home string) string { return filepath.Join(home, "vchain") }

// Start starts CometBFT and the API. The application catches up with
// CometBFT's blocks first (CometBFT replays what it has not committed).
func Start(c Config) (*Node, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conf, err := LoadConfig(c.Home)
	if err != nil {
		return nil, err
	}
	gen, err := types.GenesisDocFromFile(conf.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	app, db, err := OpenApp(AppDir(c.Home), c.App, gen.ChainID, c.Snapshots, log.With("app", c.App))
	if err != nil {
		return nil, err
	}
	n := &Node{app: app, db: db, cfg: conf, gen: gen, log: log}
	fail := func(err error) (*Node, error) {
		n.Stop()
		return nil, err
	}
	nodeKey, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		return fail(fmt.Errorf("node key: %w", err))
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	// One lock per ABCI connection, not one for all: a block being
	// executed does not hold up CheckTx or Query.
	n.cmt, err = nm.NewNode(conf, pv, nodeKey, proxy.NewConnSyncLocalClientCreator(app),
		func() (*types.GenesisDoc, error) { return gen, nil }, n.openDB,
		nm.DefaultMetricsProvider(conf.Instrumentation), slogAdapter{log.With("part", "cometbft")})
	if err != nil {
		return fail(fmt.Errorf("cometbft: %w", err))
	}
	if err := n.cmt.Start(); err != nil {
		return fail(fmt.Errorf("cometbft: %w", err))
	}
	n.rpc = local.New(n.cmt)
	if n.ln, err = net.Listen("tcp", c.API); err != nil {
		return fail(fmt.Errorf("API: %w", err))
	}
	n.api = &http.Server{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	n.gw = NewAPI(app, n.rpc, gen.ChainID)
	n.api.Handler = n.gw.Handler()
	go n.api.Serve(n.ln)
	log.Info("vchain on CometBFT", "app", c.App, "chain", gen.ChainID, "api", n.ln.Addr().String(),
		"p2p", conf.P2P.ListenAddress, "rpc", conf.RPC.ListenAddress, "height", app.Height())
	return n, nil
}

// API is the address vchain's API listens on.
func (n *Node) API() string { return n.ln.Addr().String() }

// App is the ABCI application.
func (n *Node) App() *comet.App { return n.app }

// Store is the application's store.
func (n *Node) Store() *store.DB { return n.db }

// ChainID is the chain's id.
func (n *Node) ChainID() string { return n.gen.ChainID }

// Wait blocks until CometBFT stops, the application halts on a block it
// could not apply (CometBFT then stops its consensus, not its process:
// Wait returns the reason, and the caller's Stop ends the rest), or ctx
// ends.
func (n *Node) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-n.app.Halted():
		return fmt.Errorf("stopped: %w", n.app.Err())
	case <-n.cmt.Quit():
		if err := n.app.Err(); err != nil {
			return err
		}
		return errors.New("cometbft stopped")
	}
}

// Stop stops the API, CometBFT and the application, in that order.
func (n *Node) Stop() error {
	var err error
	n.close.Do(func() {
		if n.api != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.api.Shutdown(ctx)
			cancel()
		}
		if n.cmt != nil && n.cmt.IsRunning() {
			if e := n.cmt.Stop(); e != nil {
				err = e
			}
			n.cmt.Wait()
			n.cmt.ProxyApp().Stop() // the node leaves its ABCI connections running
		}
		n.dbMu.Lock()
		for _, db := range n.dbs {
			db.Close() // most are closed already: the error says so
		}
		n.dbs = nil
		n.dbMu.Unlock()
		if n.app != nil {
			n.app.Close()
		}
		if n.db != nil {
			if e := n.db.Close(); e != nil && err == nil {
				err = e
			}
		}
	})
	return err
}

// Status is GET /v1/status.
type Status struct {
	ChainID string `json:"chain_id"`
	// Height is the newest block the application committed.
	Height          int64  `json:"height"`
	App             string `json:"app"`
	ConsensusHash   string `json:"consensus_hash,omitempty"`
	StateCommitment string `json:"state_commitment,omitempty"`
	// CatchingUp says CometBFT is still syncing blocks from its peers.
	CatchingUp bool `json:"catching_up"`
	// CometHeight is the newest block CometBFT stored (the application
	// applies it right after).
	CometHeight int64  `json:"comet_height"`
	Source      string `json:"source"`
	// Restoring says the node is restoring a snapshot (state sync).
	Restoring bool `json:"restoring,omitempty"`
}

// Limits of the API.
const (
	maxBody = 64 << 10
)

// ChainRPC is what the API asks CometBFT: in process (rpc/client/local)
// or over its RPC (rpc/client/http) when a stock cometbft binary runs the
// chain (vchain abci).
type ChainRPC interface {
	Status(ctx context.Context) (*ctypes.ResultStatus, error)
	BroadcastTxSync(ctx context.Context, tx types.Tx) (*ctypes.ResultBroadcastTx, error)
	Tx(ctx context.Context, hash []byte, prove bool) (*ctypes.ResultTx, error)
}

// API is vchain's HTTP API for an application on CometBFT: the routes a
// DPoR node serves for transactions (status, account nonces, submit,
// transaction status) and the contract runtime's reads.
type API struct {
	app     *comet.App
	rpc     ChainRPC
	chainID string
	sent    *recent
}

// NewAPI returns the API of app, submitting through rpc.
func NewAPI(app *comet.App, rpc ChainRPC, chainID string) *API {
	return &API{app: app, rpc: rpc, chainID: chainID, sent: newRecent(1 << 16)}
}

// Handler serves the API.
func (n *API) Handler() http.Handler {
	mux := openapi.NewMux()
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, errCode, format string, a ...any) {
		body := map[string]string{"error": fmt.Sprintf(format, a...)}
		if errCode != "" {
			body["code"] = errCode
		}
		js(w, code, body)
	}
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := Status{ChainID: n.chainID, Height: n.app.Height(), App: n.app.Name(), Source: "comet", Restoring: n.app.Engine().Restoring()}
		if st.Height >= 1 && !st.Restoring {
			if rec, err := n.app.Engine().Record(st.Height); err == nil {
				st.ConsensusHash, st.StateCommitment = rec.Consensus.String(), rec.State.String()
			}
		}
		if cs, err := n.rpc.Status(r.Context()); err == nil {
			st.CatchingUp, st.CometHeight = cs.SyncInfo.CatchingUp, cs.SyncInfo.LatestBlockHeight
		}
		js(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/account/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			fail(w, http.StatusBadRequest, "", "address %q: %v", r.PathValue("addr"), err)
			return
		}
		committed, pending, err := n.app.PendingNonce(a)
		if err != nil {
			fail(w, http.StatusInternalServerError, "", "%v", err)
			return
		}
		js(w, http.StatusOK, node.AccountStatus{Address: a, Nonce: committed, PendingNonce: pending})
	})
	mux.HandleFunc("POST /v1/tx", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Tx string `json:"tx"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "", "want {\"tx\": HEX} of at most %d bytes: %v", maxBody, err)
			return
		}
		raw, err := hex.DecodeString(body.Tx)
		if err != nil || len(raw) == 0 || len(raw) > comet.MaxTxBytes {
			fail(w, http.StatusBadRequest, "", "tx: want the hex of an encoded transaction of at most %d bytes", comet.MaxTxBytes)
			return
		}
		res, err := n.rpc.BroadcastTxSync(r.Context(), raw)
		hash := strings.ToLower(hex.EncodeToString(types.Tx(raw).Hash()))
		var full mempl.ErrMempoolIsFull
		switch {
		case errors.Is(err, mempl.ErrTxInCache) || err != nil && strings.Contains(err.Error(), mempl.ErrTxInCache.Error()):
			js(w, http.StatusOK, map[string]string{"hash": hash})
		case errors.As(err, &full):
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusTooManyRequests, "mempool-full", "%v", err)
		case err != nil:
			fail(w, http.StatusServiceUnavailable, "", "%v", err)
		case res.Code == comet.CodeNonce:
			fail(w, http.StatusConflict, "stale-nonce", "%s", res.Log)
		case res.Code != 0:
			fail(w, http.StatusBadRequest, "", "%s", res.Log)
		default:
			n.sent.add(hash)
			js(w, http.StatusOK, map[string]string{"hash": hash})
		}
	})
	mux.HandleFunc("GET /v1/tx/{hash}", func(w http.ResponseWriter, r *http.Request) {
		raw, err := hex.DecodeString(r.PathValue("hash"))
		if err != nil || len(raw) != 32 {
			fail(w, http.StatusBadRequest, "", "transaction hash %q: want 64 hex digits", r.PathValue("hash"))
			return
		}
		st, err := n.TxContext(r.Context(), [32]byte(raw))
		if err != nil {
			fail(w, http.StatusInternalServerError, "", "%v", err)
			return
		}
		js(w, http.StatusOK, st)
	})
	if n.app.Name() == host.NewChainApp(contract.Limits{}).Info().Name {
		apps.ContractRoutes(n, applied{n.app})(mux)
	} else {
		apps.NoContractRoutes(n.app.Name())(mux)
	}
	mux.Index("vchain on CometBFT")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// While a snapshot is restored the store holds keys nothing has
		// checked yet: only the status is served.
		if n.app.Engine().Restoring() && r.URL.Path != "/v1/status" {
			w.Header().Set("Retry-After", "5")
			fail(w, http.StatusServiceUnavailable, "restoring", "the node is restoring a snapshot (state sync); try again once it has")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Tx tells what became of a transaction: final (in a committed block, its
// op applied), failed (in a committed block, refused: the log says why),
// pending (accepted by this node's mempool) or unknown.
func (n *API) Tx(h [32]byte) (node.TxStatus, error) { return n.TxContext(context.Background(), h) }

// TxContext is Tx within ctx.
func (n *API) TxContext(ctx context.Context, h [32]byte) (node.TxStatus, error) {
	st := node.TxStatus{Hash: hex.EncodeToString(h[:]), Status: "unknown"}
	res, err := n.rpc.Tx(ctx, h[:], false)
	if err != nil {
		if n.sent.has(st.Hash) {
			st.Status = "pending"
		}
		return st, nil
	}
	st.Height, st.Index = uint64(res.Height), int(res.Index)
	if int64(st.Height) > n.app.Height() {
		st.Status = "pending" // CometBFT indexed it; the application commits next
		return st, nil
	}
	st.Status = "final"
	if res.TxResult.Code != 0 {
		st.Status, st.Error = "failed", res.TxResult.Log
	}
	return st, nil
}

// applied maps the App's halt onto the contract routes' ErrStopped.
type applied struct{ *comet.App }

func (a applied) WaitHeight(ctx context.Context, h int64) error {
	err := a.App.WaitHeight(ctx, h)
	if errors.Is(err, comet.ErrHalted) {
		return fmt.Errorf("%w: %v", apps.ErrStopped, err)
	}
	return err
}

// recent is a bounded set of transaction hashes this node accepted.
type recent struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string
	max   int
}

func newRecent(max int) *recent { return &recent{set: map[string]struct{}{}, max: max} }

func (r *recent) add(h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[h]; ok {
		return
	}
	if len(r.order) >= r.max {
		delete(r.set, r.order[0])
		r.order = r.order[1:]
	}
	r.set[h] = struct{}{}
	r.order = append(r.order, h)
}

func (r *recent) has(h string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[h]
	return ok
}

// slogAdapter is CometBFT's logger over slog. CometBFT's info lines are
// debug here: a busy chain writes several per block.
type slogAdapter struct{ l *slog.Logger }

func (s slogAdapter) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s slogAdapter) Info(msg string, kv ...any)  { s.l.Debug(msg, kv...) }
func (s slogAdapter) Error(msg string, kv ...any) { s.l.Warn(msg, kv...) }
func (s slogAdapter) With(kv ...any) cmtlog.Logger {
	return slogAdapter{s.l.With(kv...)}
}
