package node

import (
	"context"
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
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
)

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

// Submit checks transactions and adds them to the mempool: the
// signature, the nonce (not below the account's) and the funds. Accepted
// ones are gossiped to the proposers.
func (n *Node) Submit(raws [][]byte) (accepted int, errs map[int]error) {
	errs = map[int]error{}
	st := chain.ReadState(n.state)
	p, _ := st.Params()
	txs := make([]*chain.Tx, len(raws))
	var decoded []*chain.Tx
	for i, raw := range raws {
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			errs[i] = err
			continue
		}
		txs[i] = tx
		decoded = append(decoded, tx)
	}
	n.chain.VerifyAll(decoded, runtime.GOMAXPROCS(0))
	var fwd [][]byte
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		var err error
		if !n.chain.IsVerified(tx.Hash()) {
			if err = tx.CheckSignature(n.cfg.Genesis.ChainID); err == nil {
				err = chain.ErrBadSignature
			}
		}
		if err == nil {
			acct, _ := st.Account(tx.Sender())
			switch {
			case tx.Nonce < acct.Nonce:
				err = fmt.Errorf("nonce %d already used (account at %d)", tx.Nonce, acct.Nonce)
			case tx.Fee < p.MinFee:
				err = fmt.Errorf("fee %d below the minimum %d", tx.Fee, p.MinFee)
			case acct.Balance < tx.Amount+tx.Fee:
				err = fmt.Errorf("insufficient funds: %s has %d, the transaction needs %d", tx.Sender(), acct.Balance, tx.Amount+tx.Fee)
			}
		}
		if err == nil {
			var added bool
			if added, err = n.pool.Add(tx, tx.Hash()); added {
				fwd = append(fwd, raws[i])
			}
		}
		if err != nil {
			errs[i] = err
			n.met.submits.WithLabelValues("rejected").Inc()
			continue
		}
		n.met.submits.WithLabelValues("accepted").Inc()
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

func (n *Node) serveHTTP(ctx context.Context) error {
	mux := http.NewServeMux()
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, err error) { js(w, code, map[string]string{"error": err.Error()}) }
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { js(w, 200, n.Status()) })
	mux.HandleFunc("POST /v1/tx", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Tx string `json:"tx"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		raw, herr := hex.DecodeString(req.Tx)
		if err != nil || herr != nil {
			fail(w, 400, errors.New(`want {"tx": "<hex of the encoded transaction>"}`))
			return
		}
		if _, errs := n.Submit([][]byte{raw}); errs[0] != nil {
			fail(w, 400, errs[0])
			return
		}
		tx, _ := chain.DecodeTx(raw)
		h := tx.Hash()
		js(w, 200, map[string]string{"hash": hex.EncodeToString(h[:])})
	})
	mux.HandleFunc("POST /v1/txs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		var raws [][]byte
		if err == nil {
			err = chain.Unmarshal(body, &raws)
		}
		if err != nil {
			fail(w, 400, fmt.Errorf("want a CBOR array of encoded transactions: %v", err))
			return
		}
		acc, errs := n.Submit(raws)
		out := map[string]any{"accepted": acc}
		if len(errs) > 0 {
			rej := map[string]string{}
			for i, e := range errs {
				rej[strconv.Itoa(i)] = e.Error()
			}
			out["rejected"] = rej
		}
		js(w, 200, out)
	})
	mux.HandleFunc("GET /v1/account/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			fail(w, 400, err)
			return
		}
		acct, err := chain.ReadState(n.state).Account(a)
		if err != nil {
			fail(w, 500, err)
			return
		}
		js(w, 200, map[string]any{"address": a, "balance": acct.Balance, "nonce": acct.Nonce})
	})
	mux.HandleFunc("GET /v1/blocks", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		maxN, err2 := strconv.Atoi(r.URL.Query().Get("max"))
		if err1 != nil || err2 != nil || maxN < 1 {
			fail(w, 400, errors.New("want ?from=HEIGHT&max=N"))
			return
		}
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait_ms"))
		if from > n.Head().Height && wait > 0 {
			select {
			case <-n.waitHead():
			case <-time.After(time.Duration(min(wait, 30_000)) * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		var out []*lbft.Block
		for h := from; len(out) < min(maxN, 256); h++ {
			b, err := n.Block(h)
			if err != nil {
				break
			}
			out = append(out, b)
		}
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
		js(w, 200, map[string]any{"height": b.Height, "hash": b.Hash().String(), "parent": b.Parent.String(), "time_ms": b.Time,
			"impeach": b.Impeach, "round": b.Round, "commits": len(b.Commits), "txs": txs})
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
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
