package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/internal/openapi"
	"github.com/vchain-dev/vchain/kv"
)

// Bounds on what one API request may ask.
const (
	// maxTxBody bounds POST /v1/tx; maxTxsBody and maxBatch bound POST
	// /v1/txs (a batch of transactions with full payloads fits).
	maxTxBody  = 64 << 10
	maxTxsBody = 24 << 20
	maxBatch   = 4096
	// maxErrors bounds the rejections listed in one answer (the rest are
	// counted).
	maxErrors = 64
	// maxBlocksBody bounds the blocks of one GET /v1/blocks answer (at
	// least one block is always sent).
	maxBlocksBody = 16 << 20
	// maxConns bounds the API's open connections.
	maxConns = 512
)

// codeLetters are the one-letter outcomes of Codes.
var codeLetters = map[RejectCode]byte{
	RejectMalformed: 'M', RejectSignature: 'X', RejectKnown: 'K', RejectStaleNonce: 'O',
	RejectNonceTaken: 'N', RejectNonceGap: 'G', RejectFee: 'E', RejectFunds: 'F',
	RejectSenderFull: 'S', RejectBusy: 'B',
}

// Codes is the outcome of each transaction of a batch as one letter, in
// order: '.' taken; 'B' busy (the chain is at capacity: retry), 'S' the
// sender has too much pending, 'K' already pending, 'O' stale nonce, 'N'
// nonce taken, 'G' nonce too far ahead, 'E' fee too low, 'F' funds, 'M'
// malformed, 'X' bad signature, '?' anything else.
func Codes(n int, errs map[int]error) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '.'
		if e := errs[i]; e != nil {
			b[i] = '?'
			var re *RejectError
			if errors.As(e, &re) && codeLetters[re.Code] != 0 {
				b[i] = codeLetters[re.Code]
			}
		}
	}
	return string(b)
}

// httpStatus maps a rejection to its HTTP status: 409 for a conflict
// with what the chain or the pool holds, 429 (with Retry-After) when the
// chain is at capacity or the sender has too much pending, 400 else.
func httpStatus(err error) int {
	var re *RejectError
	if !errors.As(err, &re) {
		return http.StatusInternalServerError
	}
	switch re.Code {
	case RejectKnown, RejectStaleNonce, RejectNonceTaken:
		return http.StatusConflict
	case RejectBusy, RejectSenderFull:
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// Status is what GET /v1/status answers.
type Status struct {
	ChainID string `json:"chain_id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Address string `json:"address"`
	Height  uint64 `json:"height"`
	Head    string `json:"head"`
	// TimeMS is the head block's timestamp.
	TimeMS int64 `json:"time_ms"`
	// Impeached is how many impeach blocks the chain holds.
	Impeached uint64 `json:"impeached"`
	// NextProposer is the name (or address) of the proposer whose turn
	// comes next.
	NextProposer string `json:"next_proposer"`
	Mempool      int    `json:"mempool"`
	Peers        int    `json:"peers"`
}

// Status reports the node's view of the chain.
func (n *Node) Status() Status {
	head := n.Head()
	n.mu.RLock()
	imp := n.impeached
	n.mu.RUnlock()
	st := Status{ChainID: n.cfg.Genesis.ChainID, Name: n.cfg.Name, Role: n.Role(), Address: n.addr.String(), Height: head.Height,
		Head: head.Hash().String(), TimeMS: head.Time, Impeached: imp, Mempool: n.pool.Len()}
	if n.tr != nil {
		st.Peers = len(n.tr.Connected())
	}
	if p, err := n.chain.ProposerOf(n.state, head.Height+1); err == nil {
		st.NextProposer = n.NameOf(p)
	}
	return st
}

// NameOf names an address from the genesis (a default proposer or a
// validator), or gives it in hex.
func (n *Node) NameOf(a chain.Address) string {
	for _, list := range [][]chain.Member{n.cfg.Genesis.Proposers, n.cfg.Genesis.Validators} {
		for _, m := range list {
			if k, err := m.PubKey(); err == nil && chain.AddressOf(k) == a {
				return m.Name
			}
		}
	}
	return a.String()
}

// Submit checks transactions and adds them to the mempool: the form and
// signature, the nonce (not below the account's, not taken, not too far
// ahead), the fee, and the funds with the sender's pending transactions.
// Each error is a *RejectError. Accepted ones are gossiped to the
// proposers. When the pool already holds as much as the chain can take
// soon (MaxPending), new transactions are refused with RejectBusy: the
// excess is turned away at the edge instead of queueing without bound.
func (n *Node) Submit(raws [][]byte) (accepted int, errs map[int]error) {
	errs = map[int]error{}
	var fwd [][]byte
	for i, err := range n.admit(raws, true) {
		if err != nil {
			errs[i] = err
			var re *RejectError
			code := "other"
			if errors.As(err, &re) {
				code = re.Code.String()
			}
			n.met.submits.WithLabelValues(code).Inc()
			continue
		}
		n.met.submits.WithLabelValues("accepted").Inc()
		fwd = append(fwd, raws[i])
		accepted++
	}
	if len(fwd) > 0 {
		select {
		case n.txIn <- fwd:
		default: // the loop is busy: peers get them from blocks
		}
	}
	return accepted, errs
}

// admit decodes, verifies (in batches) and pools transactions, returning
// one error (or nil) per transaction. fromClient applies the edge's
// admission limit; gossip from peers fills the pool up to its bound.
func (n *Node) admit(raws [][]byte, fromClient bool) []error {
	errs := make([]error, len(raws))
	txs := make([]*chain.Tx, len(raws))
	var decoded []*chain.Tx
	// At capacity, a client's transactions are refused before any
	// signature is checked: the excess costs the node next to nothing.
	limit := 2 * n.cfg.MaxPending // gossip: what other proposers admitted
	if fromClient {
		limit = n.cfg.MaxPending
	}
	room := limit - n.pool.Len()
	full := fromClient && room <= 0
	if full && len(raws) > 1 {
		// A batch at capacity is turned away whole, undecoded: refusing
		// the excess must cost next to nothing, or the excess would eat
		// the capacity it is refused for. (A single transaction is still
		// told when it conflicts with what the pool holds.)
		busy := reject(RejectBusy, "the chain is at capacity (%d transactions pending); retry later", n.pool.Len())
		for i := range errs {
			errs[i] = busy
		}
		return errs
	}
	for i, raw := range raws {
		tx, err := chain.DecodeTx(raw)
		switch {
		case err != nil:
			errs[i] = &RejectError{RejectMalformed, err.Error()}
			continue
		case full || len(decoded) >= room:
			// Only what the pool has room for has its signature checked:
			// the rest would be refused after the check, and offered
			// again (here or elsewhere) to be checked once more.
			if errs[i] = n.pool.Conflict(tx); errs[i] == nil {
				errs[i] = reject(RejectBusy, "the chain is at capacity (%d transactions pending); retry later", n.pool.Len())
			}
			continue
		}
		if h := tx.Hash(); n.pool.Has(h) {
			// Submitted again, resent or forwarded twice: the pool holds
			// this very transaction, signature and all; no check for it.
			errs[i] = reject(RejectKnown, "transaction %x is already pending", h[:8])
			continue
		}
		txs[i] = tx
		decoded = append(decoded, tx)
	}
	n.chain.VerifyAll(decoded, runtime.GOMAXPROCS(0))
	st := chain.ReadState(n.state)
	p, _ := st.Params()
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		if !n.chain.IsVerified(tx.Hash()) {
			err := tx.CheckSignature(n.cfg.Genesis.ChainID)
			if err == nil {
				err = chain.ErrBadSignature
			}
			errs[i] = &RejectError{RejectSignature, err.Error()}
			continue
		}
		acct, err := st.Account(tx.Sender())
		if err != nil {
			errs[i] = err
			continue
		}
		errs[i] = n.pool.Add(tx, acct, p.MinFee, limit)
	}
	return errs
}

// TxStatus is what GET /v1/tx/{hash} answers.
type TxStatus struct {
	Hash string `json:"hash"`
	// Status is pending (in this node's pool), final (in a final block,
	// succeeded), failed (in a final block, failed when it ran: its nonce
	// and fee were taken) or unknown.
	Status string `json:"status"`
	Height uint64 `json:"height,omitempty"`
	Index  int    `json:"index,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Tx tells what became of a transaction.
func (n *Node) Tx(h [32]byte) (TxStatus, error) {
	st := TxStatus{Hash: hex.EncodeToString(h[:]), Status: "unknown"}
	raw, err := n.db.Get(txKey(h))
	switch {
	case err == nil:
		var r txRecord
		if err := chain.Unmarshal(raw, &r); err != nil {
			return st, fmt.Errorf("transaction record %x: %w", h[:8], err)
		}
		st.Status, st.Height, st.Index, st.Error = "final", r.Height, r.Index, r.Err
		if r.Err != "" {
			st.Status = "failed"
		}
	case !errors.Is(err, kv.ErrNotFound):
		return st, err
	case n.pool.Has(h):
		st.Status = "pending"
	}
	return st, nil
}

// AccountStatus is what GET /v1/account/{addr} answers.
type AccountStatus struct {
	Address chain.Address `json:"address"`
	Balance uint64        `json:"balance"`
	// Nonce is the committed nonce; PendingNonce also counts the
	// sender's consecutive transactions waiting in this node's pool: the
	// nonce to give the next one.
	Nonce        uint64 `json:"nonce"`
	PendingNonce uint64 `json:"pending_nonce"`
}

// Account returns an account's state and its pending nonce.
func (n *Node) Account(a chain.Address) (AccountStatus, error) {
	acct, err := chain.ReadState(n.state).Account(a)
	if err != nil {
		return AccountStatus{}, err
	}
	return AccountStatus{Address: a, Balance: acct.Balance, Nonce: acct.Nonce, PendingNonce: n.pool.PendingNonce(a, acct.Nonce)}, nil
}

// Mux is the node API's router: it records every pattern registered on
// it (the node's own routes and those Config.Routes adds) for the route
// index at GET /v1/ and the OpenAPI description at GET /v1/openapi.json.
type Mux = openapi.Mux

func (n *Node) serveHTTP(ctx context.Context) error {
	mux := openapi.NewMux()
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, err error) { js(w, code, map[string]string{"error": err.Error()}) }
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { js(w, 200, n.Status()) })
	mux.Handle("GET /v1/events", events.Handler(n.events))
	if n.cfg.Routes != nil {
		n.cfg.Routes(mux)
	}
	mux.Index("vchain DPoR node API")
	retry := func(w http.ResponseWriter, code int) {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
	}
	mux.HandleFunc("POST /v1/tx", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Tx string `json:"tx"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTxBody))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		raw, herr := hex.DecodeString(req.Tx)
		if err != nil || herr != nil {
			fail(w, 400, fmt.Errorf(`want {"tx": "<hex of the encoded transaction>"} of at most %d bytes`, maxTxBody))
			return
		}
		if _, errs := n.Submit([][]byte{raw}); errs[0] != nil {
			code := httpStatus(errs[0])
			retry(w, code)
			var re *RejectError
			out := map[string]string{"error": errs[0].Error()}
			if errors.As(errs[0], &re) {
				out["code"] = re.Code.String()
			}
			js(w, code, out)
			return
		}
		tx, _ := chain.DecodeTx(raw)
		h := tx.Hash()
		js(w, 200, map[string]string{"hash": hex.EncodeToString(h[:])})
	})
	mux.HandleFunc("POST /v1/txs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTxsBody))
		if err != nil {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("a batch of at most %d bytes", maxTxsBody))
			return
		}
		var raws [][]byte
		if err := chain.Unmarshal(body, &raws); err != nil {
			fail(w, 400, fmt.Errorf("want a CBOR array of encoded transactions: %v", err))
			return
		}
		if len(raws) > maxBatch {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%d transactions in one batch, at most %d", len(raws), maxBatch))
			return
		}
		acc, errs := n.Submit(raws)
		out := map[string]any{"accepted": acc, "codes": Codes(len(raws), errs)}
		status := 200
		if len(errs) > 0 {
			// The first rejections, in order, and a count per reason: the
			// answer stays small whatever the batch holds.
			rej := map[string]string{}
			counts := map[string]int{}
			busy := false
			for i := range raws {
				e := errs[i]
				if e == nil {
					continue
				}
				code := "other"
				var re *RejectError
				if errors.As(e, &re) {
					code = re.Code.String()
					busy = busy || re.Code == RejectBusy
				}
				counts[code]++
				if len(rej) < maxErrors {
					rej[strconv.Itoa(i)] = e.Error()
				}
			}
			out["rejected"] = rej
			out["rejected_count"] = len(errs)
			out["rejected_by_reason"] = counts
			if busy {
				w.Header().Set("Retry-After", "1")
				if acc == 0 && counts[RejectBusy.String()] == len(errs) {
					status = http.StatusTooManyRequests // nothing taken: at capacity
				}
			}
		}
		js(w, status, out)
	})
	mux.HandleFunc("GET /v1/tx/{hash}", func(w http.ResponseWriter, r *http.Request) {
		raw, err := hex.DecodeString(strings.TrimPrefix(r.PathValue("hash"), "0x"))
		if err != nil || len(raw) != 32 {
			fail(w, 400, errors.New("want a transaction hash: 64 hex digits"))
			return
		}
		st, err := n.Tx([32]byte(raw))
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, st)
	})
	mux.HandleFunc("GET /v1/account/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			fail(w, 400, err)
			return
		}
		st, err := n.Account(a)
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, st)
	})
	mux.HandleFunc("GET /v1/blocks", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		maxN, err2 := strconv.Atoi(r.URL.Query().Get("max"))
		if err1 != nil || err2 != nil || maxN < 1 {
			fail(w, 400, errors.New("want ?from=HEIGHT&max=N"))
			return
		}
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait_ms"))
		maxN = min(maxN, 256)
		if from > n.Head().Height && wait > 0 {
			select {
			case <-n.waitHead():
			case <-time.After(time.Duration(min(wait, 30_000)) * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		out := n.blocksFrom(from, maxN, maxBlocksBody)
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(chain.Marshal(out))
	})
	mux.HandleFunc("GET /v1/block/{h}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseUint(r.PathValue("h"), 10, 64)
		if err != nil {
			fail(w, 400, err)
			return
		}
		b, err := n.Block(h)
		if err != nil {
			fail(w, 404, fmt.Errorf("no block %d (head %d)", h, n.Head().Height))
			return
		}
		body, _ := chain.DecodeBody(b.Body)
		txs := 0
		if body != nil {
			txs = len(body.Txs)
		}
		proposer := ""
		if len(b.Proposer) == ed25519.PublicKeySize {
			proposer = chain.AddressOf(b.Proposer).String()
		}
		js(w, 200, map[string]any{"height": b.Height, "hash": b.Hash().String(), "parent": b.Parent.String(), "time_ms": b.Time,
			"proposer": proposer, "impeach": b.Impeach, "round": b.Round, "commits": len(b.Commits), "txs": txs})
	})
	mux.HandleFunc("GET /v1/params", func(w http.ResponseWriter, r *http.Request) {
		p, err := chain.ReadState(n.state).Params()
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, p)
	})
	mux.HandleFunc("GET /v1/candidate/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			fail(w, 400, err)
			return
		}
		ci, ok, err := chain.ReadState(n.state).CandidateInfoOf(a)
		if err != nil {
			fail(w, 500, err)
			return
		}
		if !ok {
			fail(w, 404, fmt.Errorf("%s has never claimed a campaign", a))
			return
		}
		js(w, 200, ci)
	})
	mux.HandleFunc("GET /v1/candidates/{term}", func(w http.ResponseWriter, r *http.Request) {
		t, err := strconv.ParseUint(r.PathValue("term"), 10, 64)
		if err != nil {
			fail(w, 400, err)
			return
		}
		list, err := chain.ReadState(n.state).CandidatesOf(t)
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, list)
	})
	mux.HandleFunc("GET /v1/proposers/{term}", func(w http.ResponseWriter, r *http.Request) {
		t, err := strconv.ParseUint(r.PathValue("term"), 10, 64)
		if err != nil {
			fail(w, 400, err)
			return
		}
		list, err := chain.ReadState(n.state).ProposersOf(t)
		if err != nil {
			fail(w, 404, err)
			return
		}
		js(w, 200, list)
	})
	mux.HandleFunc("GET /v1/rpt/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			fail(w, 400, err)
			return
		}
		rpt, err := n.chain.GetRPT(chain.ReadState(n.state), a)
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, rpt)
	})
	mux.HandleFunc("GET /v1/views", func(w http.ResponseWriter, r *http.Request) { js(w, 200, chain.Views()) })
	mux.HandleFunc("GET /v1/call/{contract}/{method}", func(w http.ResponseWriter, r *http.Request) {
		// A read-only view of a system contract on the committed state:
		// ?args= its arguments as a JSON array (in order) or object (by
		// name).
		contract, err := chain.ContractByName(r.PathValue("contract"))
		if err != nil {
			js(w, 404, map[string]any{"error": err.Error(), "views": chain.Views()})
			return
		}
		args := r.URL.Query().Get("args")
		if len(args) > chain.MaxViewArgs {
			fail(w, 400, fmt.Errorf("%d bytes of arguments, at most %d", len(args), chain.MaxViewArgs))
			return
		}
		out, err := n.chain.View(chain.ReadState(n.state), contract, r.PathValue("method"), json.RawMessage(args))
		var ve *chain.ViewError
		switch {
		case errors.As(err, &ve) && ve.NotFound:
			views := chain.ViewsOf(contract)
			if len(views) == 0 {
				views = chain.Views()
			}
			js(w, 404, map[string]any{"error": err.Error(), "views": views})
		case errors.As(err, &ve):
			fail(w, 400, err)
		case err != nil:
			fail(w, 500, err)
		default:
			js(w, 200, out)
		}
	})
	mux.Handle("GET /metrics", n.met.handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", n.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("node: http %s: %w", n.cfg.HTTP, err)
	}
	n.mu.Lock()
	n.httpAddr = ln.Addr().String()
	n.mu.Unlock()
	// Every request is bounded in time: a slow body is cut off, and a
	// long poll (wait_ms, at most 30 s) fits in the write timeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: n.cfg.HTTPReadTimeout,
		WriteTimeout: 45 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 32 << 10}
	ln = limitListener(ln, maxConns)
	go func() { <-ctx.Done(); srv.Close() }()
	go srv.Serve(ln)
	return nil
}

// HTTPAddr is where the API listens.
func (n *Node) HTTPAddr() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.httpAddr
}

// limitListener accepts at most n connections at once; more wait in the
// kernel's backlog until one closes.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, n)}
}

type limitedListener struct {
	net.Listener
	slots chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
