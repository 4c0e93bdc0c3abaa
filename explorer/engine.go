package explorer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/internal/openapi"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

// EngineNode is what an engine node's explorer reads: the engine's store,
// through snapshots (never the engine itself, which its driver owns), its
// event log, and what the driver reports.
type EngineNode struct {
	Store  *store.DB
	Events *events.Log
	Info   engine.Info
	// Confirmations is K: the engine follows the source's tip minus K.
	Confirmations int64
	// Meter, when set, gives the source's tip and the rates.
	Meter *Meter
	// Lookup, when set, reads the application's record of a name from its
	// state at height (the names application's).
	Lookup func(state kv.Reader, height int64, name string) (any, error)
}

// Engine explorer bounds.
const (
	// MaxBlockOps bounds the ops and rejections a block page lists.
	MaxBlockOps = 1000
	// MaxHistory bounds the events a name's or contract's page lists.
	MaxHistory = 200
	// MaxConsensusScan bounds how far back a consensus hash is looked for.
	MaxConsensusScan = 10_000
)

// EngineRoutes adds an engine node's explorer to mux: GET / (the tip, the
// source's tip, the lag, the rates and the newest blocks), GET /block/{h}
// (a block's ops, accepted or rejected and why, and the earlier consensus
// hashes its own covers), GET /name/{name} and GET /contract/{id} (the
// current record and the history), GET /consensus/{hash} (a consensus
// hash's block and freshness), GET /search?q= and GET /static/.
func EngineRoutes(n *EngineNode, mux *openapi.Mux) {
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		p, err := n.home(time.Now())
		if err != nil {
			failed(w, r, err)
			return
		}
		render(w, r, "engine.html", p)
	})
	mux.HandleFunc("GET /block/{h}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseInt(r.PathValue("h"), 10, 64)
		if err != nil {
			notFound(w, r, errors.New("a block is named by its height"))
			return
		}
		p, err := n.block(h)
		if err != nil {
			respondErr(w, r, err)
			return
		}
		render(w, r, "eblock.html", p)
	})
	subject := func(contract bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p, err := n.subject(r.PathValue("s"), contract)
			if err != nil {
				respondErr(w, r, err)
				return
			}
			render(w, r, "subject.html", p)
		}
	}
	mux.HandleFunc("GET /name/{s}", subject(false))
	mux.HandleFunc("GET /contract/{s}", subject(true))
	mux.HandleFunc("GET /consensus/{hash}", func(w http.ResponseWriter, r *http.Request) {
		p, err := n.freshness(r.PathValue("hash"))
		if err != nil {
			respondErr(w, r, err)
			return
		}
		render(w, r, "consensus.html", p)
	})
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, searchTarget(r.URL.Query().Get("q")), http.StatusSeeOther)
	})
}

var hex32 = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// searchTarget is the page a search box's query names: a height, a
// consensus hash (32 hex digits), or else a name.
func searchTarget(q string) string {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return "/"
	case hex32.MatchString(q):
		return "/consensus/" + strings.ToLower(q)
	}
	if _, err := strconv.ParseUint(q, 10, 63); err == nil {
		return "/block/" + q
	}
	return "/name/" + url.PathEscape(q)
}

// notFoundError is a page that does not exist (404), as opposed to a
// store that failed (500).
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func respondErr(w http.ResponseWriter, r *http.Request, err error) {
	var nf *notFoundError
	if errors.As(err, &nf) {
		notFound(w, r, err)
		return
	}
	failed(w, r, err)
}

func failed(w http.ResponseWriter, r *http.Request, err error) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// EngineHome is an engine node's home page.
type EngineHome struct {
	App        string `json:"app"`
	FirstBlock int64  `json:"first_block"`
	// Height is the engine's tip (FirstBlock-1 before the first block).
	Height    int64  `json:"height"`
	Hash      string `json:"hash,omitempty"`
	Consensus string `json:"consensus_hash,omitempty"`
	State     string `json:"state_commitment,omitempty"`
	Progress
	// Lag is how many blocks the engine is behind the source's tip minus
	// the confirmations (-1: the source's tip is not known yet).
	Lag           int64            `json:"lag"`
	Confirmations int64            `json:"confirmations"`
	ValidWindow   int64            `json:"valid_window"`
	Blocks        []EngineBlockRow `json:"blocks"`
	Events        uint64           `json:"events"`
}

// EngineBlockRow is a block in a list.
type EngineBlockRow struct {
	Height     int64  `json:"height"`
	Hash       string `json:"hash"`
	Consensus  string `json:"consensus_hash"`
	Time       int64  `json:"time"`
	Accepted   uint32 `json:"accepted"`
	Candidates uint32 `json:"candidates"`
}

func rowOfRecord(r engine.BlockRecord) EngineBlockRow {
	return EngineBlockRow{Height: r.Height, Hash: r.Hash.String(), Consensus: r.Consensus.String(), Time: r.Time,
		Accepted: r.Accepted, Candidates: r.Candidates}
}

func (n *EngineNode) window() int64 {
	if n.Info.ValidWindow > 0 {
		return n.Info.ValidWindow
	}
	return engine.DefaultValidWindow
}

func (n *EngineNode) home(now time.Time) (*EngineHome, error) {
	snap := n.Store.Snapshot()
	defer snap.Close()
	p := &EngineHome{App: n.Info.Name, FirstBlock: n.Info.FirstBlock, Height: n.Info.FirstBlock - 1, Lag: -1,
		Confirmations: n.Confirmations, ValidWindow: n.window(), Blocks: []EngineBlockRow{}, Progress: Progress{SourceTip: -1}}
	p.Events, _ = n.Events.Tip()
	tip, ok, err := engine.ReadTip(snap)
	if err != nil {
		return nil, err
	}
	if ok {
		p.Height, p.Hash, p.Consensus, p.State = tip.Height, tip.Hash.String(), tip.Consensus.String(), tip.State.String()
	}
	if n.Meter != nil {
		p.Progress = n.Meter.Progress(now)
		if p.SourceTip >= 0 {
			p.Lag = max(0, p.SourceTip-n.Confirmations-p.Height)
		}
	}
	for h := p.Height; h >= n.Info.FirstBlock && len(p.Blocks) < 20; h-- {
		rec, err := engine.ReadRecord(snap, h)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		p.Blocks = append(p.Blocks, rowOfRecord(rec))
	}
	return p, nil
}

// EngineBlock is a block's page.
type EngineBlock struct {
	EngineBlockRow
	Parent  string `json:"parent"`
	OpsHash string `json:"ops_hash"`
	// State is the state commitment after the block.
	State string `json:"state_commitment"`
	// Ops are the accepted ops in order; Rejected the candidates refused,
	// with the stage and the reason. Truncated says the lists stop at
	// MaxBlockOps.
	Ops       []OpRow       `json:"ops"`
	Rejected  []RejectedRow `json:"rejected"`
	Truncated bool          `json:"truncated,omitempty"`
	// NoEvents says the event log has nothing for this block (the node
	// kept no events when it processed it).
	NoEvents bool `json:"no_events,omitempty"`
	// Covered are the earlier blocks whose consensus hashes this block's
	// consensus hash covers (k-1, k-3, k-7, …).
	Covered []CoveredRow `json:"covered"`
	Prev    *int64       `json:"prev,omitempty"`
	Next    *int64       `json:"next,omitempty"`
}

// OpRow is an accepted op.
type OpRow struct {
	Tx       string `json:"tx"`
	TxIndex  int    `json:"tx_index"`
	Opcode   string `json:"opcode"`
	Op       string `json:"op"`
	Name     string `json:"name,omitempty"`
	Contract string `json:"contract,omitempty"`
}

// RejectedRow is a rejected candidate.
type RejectedRow struct {
	Tx      string `json:"tx"`
	TxIndex int    `json:"tx_index"`
	Stage   string `json:"stage"`
	Reason  string `json:"reason"`
}

// CoveredRow is an earlier block a consensus hash covers.
type CoveredRow struct {
	Height    int64  `json:"height"`
	Consensus string `json:"consensus_hash"`
}

func (n *EngineNode) block(h int64) (*EngineBlock, error) {
	snap := n.Store.Snapshot()
	defer snap.Close()
	rec, err := engine.ReadRecord(snap, h)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, &notFoundError{fmt.Sprintf("no block %d on this node", h)}
	}
	if err != nil {
		return nil, err
	}
	p := &EngineBlock{EngineBlockRow: rowOfRecord(rec), Parent: rec.Parent.String(), OpsHash: rec.OpsHash.String(), State: rec.State.String(),
		Ops: []OpRow{}, Rejected: []RejectedRow{}, Covered: []CoveredRow{}}
	for _, k := range vchash.PrevBlocks(h, n.Info.FirstBlock) {
		prev, err := engine.ReadRecord(snap, k)
		if err != nil {
			return nil, fmt.Errorf("block %d, which block %d covers: %w", k, h, err)
		}
		p.Covered = append(p.Covered, CoveredRow{Height: k, Consensus: prev.Consensus.String()})
	}
	if h > n.Info.FirstBlock {
		prev := h - 1
		p.Prev = &prev
	}
	if tip, ok, _ := engine.ReadTip(snap); ok && h < tip.Height {
		next := h + 1
		p.Next = &next
	}
	evs, total, err := n.Events.BlockEvents(h, MaxBlockOps+1)
	if err != nil {
		return nil, err
	}
	p.Truncated = total > len(evs)
	if total == 0 {
		p.NoEvents = true
		return p, nil
	}
	var head struct {
		Hash string `json:"hash"`
	}
	if json.Unmarshal(evs[0].Data, &head) != nil || head.Hash != rec.Hash.String() {
		// The event log and the store disagree: say so rather than show
		// another block's ops.
		return nil, fmt.Errorf("block %d: the event log has block %s, the store %s", h, head.Hash, rec.Hash)
	}
	for _, e := range evs[1:] {
		switch e.Kind {
		case events.KindOp:
			var o OpRow
			if json.Unmarshal(e.Data, &o) == nil {
				o.Name, o.Contract = e.Name, e.Contract
				p.Ops = append(p.Ops, o)
			}
		case events.KindRejected:
			var rj RejectedRow
			if json.Unmarshal(e.Data, &rj) == nil {
				p.Rejected = append(p.Rejected, rj)
			}
		}
	}
	return p, nil
}

// Subject is a name's or a contract's page: its current record (when the
// application offers one) and its history.
type Subject struct {
	Name     string `json:"name"`
	Contract bool   `json:"contract,omitempty"`
	Height   int64  `json:"height"`
	// Record is the application's record at Height; RecordError why there
	// is none.
	Record      any    `json:"record,omitempty"`
	RecordError string `json:"record_error,omitempty"`
	// History is the newest MaxHistory events naming it, newest first;
	// More says older ones were left out.
	History []HistoryRow `json:"history"`
	More    bool         `json:"more,omitempty"`
	// Events is the event log's tip when the page was made: live updates
	// start after it.
	Events uint64 `json:"events"`
}

// HistoryRow is an event in a history. Reverted marks an op of a block a
// reorg took back.
type HistoryRow struct {
	Seq      uint64          `json:"seq"`
	Kind     string          `json:"kind"`
	Height   int64           `json:"height"`
	Data     json.RawMessage `json:"data"`
	Op       string          `json:"op,omitempty"`
	Reverted bool            `json:"reverted,omitempty"`
}

func (n *EngineNode) subject(s string, contract bool) (*Subject, error) {
	if s == "" || len(s) > events.MaxSubject {
		return nil, &notFoundError{fmt.Sprintf("a name is 1 to %d bytes", events.MaxSubject)}
	}
	snap := n.Store.Snapshot()
	defer snap.Close()
	p := &Subject{Name: s, Contract: contract, Height: n.Info.FirstBlock - 1, History: []HistoryRow{}}
	p.Events, _ = n.Events.Tip()
	tip, ok, err := engine.ReadTip(snap)
	if err != nil {
		return nil, err
	}
	if ok {
		p.Height = tip.Height
	}
	if n.Lookup != nil && !contract {
		rec, err := n.Lookup(engine.AppState(snap), p.Height, s)
		if err != nil {
			p.RecordError = err.Error()
		} else {
			p.Record = rec
		}
	}
	evs, more, err := n.Events.Subject(s, contract, MaxHistory)
	if err != nil {
		return nil, err
	}
	p.More = more
	for _, e := range evs {
		row := HistoryRow{Seq: e.Seq, Kind: e.Kind, Height: e.Height, Data: e.Data}
		var d struct {
			Op string `json:"op"`
		}
		if json.Unmarshal(e.Data, &d) == nil {
			row.Op = d.Op
		}
		cur, err := n.Events.Current(&e)
		if err != nil {
			return nil, err
		}
		row.Reverted = !cur || e.Height > p.Height
		p.History = append(p.History, row)
	}
	if p.Record == nil && len(p.History) == 0 {
		return nil, &notFoundError{fmt.Sprintf("nothing on this node names %q", s)}
	}
	return p, nil
}

// Freshness is a consensus hash's page: the block it is the consensus hash
// of, and whether an op that carries it (a preorder, a transfer) is fresh
// in the next block.
type Freshness struct {
	Hash string `json:"consensus_hash"`
	// Found says whether the hash is among the newest MaxConsensusScan
	// blocks' (or the application's initial snapshots).
	Found  bool  `json:"found"`
	Height int64 `json:"height,omitempty"`
	Tip    int64 `json:"tip"`
	Window int64 `json:"valid_window"`
	// Fresh: an op carrying the hash is accepted in block Tip+1.
	// FreshThrough is the last block that accepts it.
	Fresh        bool  `json:"fresh"`
	FreshThrough int64 `json:"fresh_through,omitempty"`
	// Initial says the hash is one of the application's initial
	// snapshots, fresh whatever the height.
	Initial bool `json:"initial,omitempty"`
}

func (n *EngineNode) freshness(s string) (*Freshness, error) {
	ch, err := vchash.ParseConsensusHash(s)
	if err != nil {
		return nil, &notFoundError{"a consensus hash is 32 hex digits"}
	}
	snap := n.Store.Snapshot()
	defer snap.Close()
	p := &Freshness{Hash: ch.String(), Tip: n.Info.FirstBlock - 1, Window: n.window()}
	tip, ok, err := engine.ReadTip(snap)
	if err != nil {
		return nil, err
	}
	if ok {
		p.Tip = tip.Height
	}
	for h, c := range n.Info.InitialSnapshots {
		if c == ch {
			p.Found, p.Initial, p.Height, p.Fresh = true, true, h, true
			return p, nil
		}
	}
	for h := p.Tip; h >= n.Info.FirstBlock && h > p.Tip-MaxConsensusScan; h-- {
		rec, err := engine.ReadRecord(snap, h)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		if rec.Consensus == ch {
			p.Found, p.Height = true, h
			p.FreshThrough = h + p.Window
			p.Fresh = p.Tip+1 <= p.FreshThrough
			break
		}
	}
	return p, nil
}

// Progress is what the driver reports: the source's tip as last seen (-1:
// not yet) and the rates over the last minute.
type Progress struct {
	SourceTip    int64   `json:"source_tip"`
	BlocksPerSec float64 `json:"blocks_per_sec"`
	OpsPerSec    float64 `json:"ops_per_sec"`
}

// Meter follows an engine's progress for its explorer: the driver calls
// Observe after each block (engine.Config.OnBlock) and SourceTip after
// each look at the source (engine.Config.OnTip); pages call Progress. It
// keeps a bucket per second of the last minute.
type Meter struct {
	mu        sync.Mutex
	sourceTip int64
	buckets   []bucket // oldest first
}

type bucket struct {
	sec         int64 // Unix second
	blocks, ops int64
}

// rateWindow is the span, in seconds, rates are measured over.
const rateWindow = 60

// NewMeter returns a meter that knows no source tip yet.
func NewMeter() *Meter { return &Meter{sourceTip: -1} }

// Observe records a block committed at now with ops accepted.
func (m *Meter) Observe(now time.Time, ops int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := now.Unix()
	if n := len(m.buckets); n > 0 && m.buckets[n-1].sec == sec {
		m.buckets[n-1].blocks++
		m.buckets[n-1].ops += ops
	} else {
		m.buckets = append(m.buckets, bucket{sec, 1, ops})
	}
	m.trim(sec)
}

// SourceTip records the source's tip as last seen.
func (m *Meter) SourceTip(tip int64) {
	m.mu.Lock()
	m.sourceTip = tip
	m.mu.Unlock()
}

func (m *Meter) trim(sec int64) {
	i := 0
	for i < len(m.buckets) && sec-m.buckets[i].sec >= rateWindow {
		i++
	}
	if i > 0 {
		m.buckets = append(m.buckets[:0], m.buckets[i:]...)
	}
}

// Progress returns the source's tip and the rates over the last minute
// (or since the meter's first block, when that is more recent).
func (m *Meter) Progress(now time.Time) Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := now.Unix()
	m.trim(sec)
	p := Progress{SourceTip: m.sourceTip}
	if len(m.buckets) == 0 {
		return p
	}
	span := float64(sec - m.buckets[0].sec + 1)
	var blocks, ops int64
	for _, b := range m.buckets {
		blocks += b.blocks
		ops += b.ops
	}
	p.BlocksPerSec = float64(blocks) / span
	p.OpsPerSec = float64(ops) / span
	return p
}
