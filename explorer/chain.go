package explorer

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/node"
)

// ChainRoutes adds a DPoR node's explorer to mux: GET / (the chain's
// head and newest blocks), GET /block/{h} (a block with its commit
// certificate and transactions), GET /term/{t} (a term's proposers) and
// GET /rpt/{addr} (a candidate's reputation), and GET /static/.
func ChainRoutes(n *node.Node, mux *node.Mux) {
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { render(w, r, "chain.html", chainHomeOf(n)) })
	mux.HandleFunc("GET /block/{h}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseUint(r.PathValue("h"), 10, 64)
		if err != nil {
			notFound(w, r, errors.New("a block is named by its height"))
			return
		}
		p, err := blockOf(n, h)
		if err != nil {
			notFound(w, r, err)
			return
		}
		render(w, r, "block.html", p)
	})
	mux.HandleFunc("GET /term/{t}", func(w http.ResponseWriter, r *http.Request) {
		t, err := strconv.ParseUint(r.PathValue("t"), 10, 64)
		if err != nil {
			notFound(w, r, errors.New("a term is a number"))
			return
		}
		st := chain.ReadState(n.State())
		list, err := st.ProposersOf(t)
		if err != nil {
			notFound(w, r, err)
			return
		}
		p := &Term{Term: t}
		for _, a := range list {
			p.Proposers = append(p.Proposers, Named{Address: a.String(), Name: n.NameOf(a)})
		}
		render(w, r, "term.html", p)
	})
	mux.HandleFunc("GET /rpt/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := chain.ParseAddress(r.PathValue("addr"))
		if err != nil {
			notFound(w, r, err)
			return
		}
		rpt, err := n.Chain().GetRPT(chain.ReadState(n.State()), a)
		if err != nil {
			notFound(w, r, err)
			return
		}
		render(w, r, "rpt.html", rpt)
	})
}

// Named is an address with the name the genesis gives it, if any.
type Named struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

// ChainHome is a DPoR node's home page.
type ChainHome struct {
	Status node.Status `json:"status"`
	Term   uint64      `json:"term"`
	Blocks []BlockRow  `json:"blocks"`
	Events uint64      `json:"events"`
}

// BlockRow is a block in a list.
type BlockRow struct {
	Height   uint64 `json:"height"`
	Hash     string `json:"hash"`
	Time     int64  `json:"time"`
	Proposer string `json:"proposer,omitempty"`
	Impeach  bool   `json:"impeach"`
	Txs      int    `json:"txs"`
}

func rowOf(n *node.Node, h uint64) (BlockRow, bool) {
	b, err := n.Block(h)
	if err != nil {
		return BlockRow{}, false
	}
	x := b.Hash()
	r := BlockRow{Height: b.Height, Hash: hex.EncodeToString(x[:]), Time: b.Time, Impeach: b.Impeach}
	if !b.Impeach && len(b.Proposer) > 0 {
		r.Proposer = n.NameOf(chain.AddressOf(b.Proposer))
	}
	if body, err := chain.DecodeBody(b.Body); err == nil && body != nil {
		r.Txs = len(body.Txs)
	}
	return r, true
}

func chainHomeOf(n *node.Node) *ChainHome {
	p := &ChainHome{Status: n.Status(), Blocks: []BlockRow{}}
	p.Term = n.Chain().G.TermOf(p.Status.Height)
	p.Events, _ = n.Events().Tip()
	for h := p.Status.Height; len(p.Blocks) < 20; h-- {
		if r, ok := rowOf(n, h); ok {
			p.Blocks = append(p.Blocks, r)
		}
		if h == 0 {
			break
		}
	}
	return p
}

// Block is a block's page.
type Block struct {
	BlockRow
	Parent string `json:"parent"`
	Round  uint32 `json:"round"`
	// Signers are the validators whose commit votes the certificate
	// holds; Quorum how many it needs.
	Signers []string `json:"signers"`
	Quorum  int      `json:"quorum"`
	Term    uint64   `json:"term"`
	TxList  []TxRow  `json:"transactions"`
	// State is the commitment of the chain state the parent left, which
	// the block carries (and its certificate covers).
	State string  `json:"state_commitment,omitempty"`
	Next  uint64  `json:"next,omitempty"`
	Prev  *uint64 `json:"prev,omitempty"`
}

// TxRow is a transaction in a block.
type TxRow struct {
	Hash   string `json:"hash"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount uint64 `json:"amount"`
	Fee    uint64 `json:"fee"`
	Call   string `json:"call,omitempty"`
	Data   int    `json:"data_bytes,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func blockOf(n *node.Node, h uint64) (*Block, error) {
	b, err := n.Block(h)
	if err != nil {
		return nil, errors.New("no such block on this node")
	}
	row, _ := rowOf(n, h)
	p := &Block{BlockRow: row, Parent: hex.EncodeToString(b.Parent[:]), Round: b.Round, Term: n.Chain().G.TermOf(h), TxList: []TxRow{}}
	vals := n.Chain().G.Validators
	f := (len(vals) - 1) / 3
	p.Quorum = 2*f + 1
	if b.Impeach {
		p.Quorum = f + 1
	}
	for _, v := range b.Commits {
		if v.Signer >= 0 && v.Signer < len(vals) {
			p.Signers = append(p.Signers, vals[v.Signer].Name)
		}
	}
	if h > 0 {
		prev := h - 1
		p.Prev = &prev
	}
	if h < n.Head().Height {
		p.Next = h + 1
	}
	body, err := chain.DecodeBody(b.Body)
	if err == nil && body != nil {
		p.State = hex.EncodeToString(body.State)
		for _, raw := range body.Txs {
			tx, err := chain.DecodeTx(raw)
			if err != nil {
				continue
			}
			x := tx.Hash()
			r := TxRow{Hash: hex.EncodeToString(x[:]), From: tx.Sender().String(), To: tx.To.String(), Amount: tx.Amount, Fee: tx.Fee, Data: len(tx.Data)}
			if tx.Call != nil {
				r.Call = tx.Call.Method
			}
			if st, err := n.Tx(x); err == nil {
				r.Status, r.Error = st.Status, st.Error
			}
			p.TxList = append(p.TxList, r)
		}
	}
	return p, nil
}

// Term is a term's page.
type Term struct {
	Term      uint64  `json:"term"`
	Proposers []Named `json:"proposers"`
}
