package explorer_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/internal/openapi"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// engineOnForks follows a forking chain of simulated names users with the
// real engine, keeping events, and serves its explorer.
func engineOnForks(t *testing.T) (*engine.Engine, *httptest.Server) {
	t.Helper()
	const first = 100
	opts := names.Options{FirstBlock: first, PreorderTTL: 6, Lifetime: 40, GracePeriod: 2, ValidWindow: 6}
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := engine.Open(db, names.New(opts), engine.Config{UndoDepth: 8, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	sim := namesim.NewSim(3, 6)
	sim.PreorderTTL, sim.Lifetime = opts.PreorderTTL, opts.Lifetime
	rollbacks := 0
	memtape.Generate(memtape.GenConfig{
		Seed: 3, Base: first, Blocks: 150, ForkProb: 0.15, MaxForkDepth: 5,
		Txs: func(r *rand.Rand, height int64) []tape.Tx {
			ch, _ := e.Consensus()
			return sim.NextBlock(r, height, ch)
		},
	}, func(c *memtape.Chain) {
		before := e.Height()
		if err := e.Sync(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if e.Height() < before {
			rollbacks++
		}
	})
	if rollbacks == 0 {
		t.Fatal("the chain never forked")
	}
	meter := explorer.NewMeter()
	meter.SourceTip(e.Height() + 3)
	meter.Observe(time.Now(), 5)
	n := &explorer.EngineNode{Store: db, Events: e.Events(), Info: e.Info(), Confirmations: 1, Meter: meter,
		Lookup: func(state kv.Reader, height int64, name string) (any, error) {
			return names.Lookup(state, name, height)
		}}
	mux := openapi.NewMux()
	mux.Handle("GET /v1/events", events.Handler(e.Events()))
	explorer.EngineRoutes(n, mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return e, srv
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// TestEnginePages checks the engine node's explorer against the engine
// after a run with reorgs: the tip and the lag; every block's ops and
// rejections against its record's counts, and the consensus hashes it
// covers against the engine's own; a name's record and history, whose
// entries not marked reverted are each in their block's ops; consensus
// hashes fresh and stale; search; and 404s.
func TestEnginePages(t *testing.T) {
	e, srv := engineOnForks(t)
	tip := e.Height()
	tipCH, _ := e.Consensus()

	var home explorer.EngineHome
	if getJSON(t, srv.URL+"/", &home) != 200 || home.Height != tip || home.Consensus != tipCH.String() || len(home.Blocks) != 20 ||
		home.Blocks[0].Height != tip || home.SourceTip != tip+3 || home.Lag != 2 || home.OpsPerSec <= 0 {
		t.Fatalf("home: %+v", home)
	}

	seen := map[string]bool{}
	rejections := 0
	for h := e.Info().FirstBlock; h <= tip; h++ {
		var b explorer.EngineBlock
		if code := getJSON(t, srv.URL+"/block/"+itoa(h), &b); code != 200 {
			t.Fatalf("block %d: %d", h, code)
		}
		rec, _ := e.Record(h)
		if b.Hash != rec.Hash.String() || len(b.Ops) != int(rec.Accepted) || len(b.Ops)+len(b.Rejected) > int(rec.Candidates) {
			t.Fatalf("block %d: %d ops, %d rejected; the record says %d of %d", h, len(b.Ops), len(b.Rejected), rec.Accepted, rec.Candidates)
		}
		for _, rj := range b.Rejected {
			if rj.Reason == "" || rj.Stage == "" {
				t.Fatalf("block %d: a rejection without its reason: %+v", h, rj)
			}
		}
		rejections += len(b.Rejected)
		wantCovered := vchash.PrevBlocks(h, e.Info().FirstBlock)
		if len(b.Covered) != len(wantCovered) {
			t.Fatalf("block %d covers %d blocks, want %d", h, len(b.Covered), len(wantCovered))
		}
		for i, c := range b.Covered {
			ch, _ := e.ConsensusAt(wantCovered[i])
			if c.Height != wantCovered[i] || c.Consensus != ch.String() {
				t.Fatalf("block %d: covered %+v, want %d %s", h, c, wantCovered[i], ch)
			}
		}
		for _, o := range b.Ops {
			if o.Name != "" {
				seen[o.Name] = true
			}
		}
	}
	if rejections == 0 || len(seen) == 0 {
		t.Fatalf("the run had %d rejections and %d names", rejections, len(seen))
	}

	// Every name's history: entries not reverted are in their block.
	reverted := 0
	for name := range seen {
		var s explorer.Subject
		if code := getJSON(t, srv.URL+"/name/"+name, &s); code != 200 || len(s.History) == 0 {
			t.Fatalf("name %s: %d %+v", name, code, s)
		}
		for _, row := range s.History {
			if row.Reverted {
				reverted++
				continue
			}
			var b explorer.EngineBlock
			getJSON(t, srv.URL+"/block/"+itoa(row.Height), &b)
			var d struct {
				Tx string `json:"tx"`
			}
			json.Unmarshal(row.Data, &d)
			if !slices.ContainsFunc(b.Ops, func(o explorer.OpRow) bool { return o.Tx == d.Tx && o.Name == name }) {
				t.Fatalf("name %s: history says %s at %d, the block does not have it", name, d.Tx, row.Height)
			}
		}
		if rec, ok := s.Record.(map[string]any); ok {
			newest := slices.IndexFunc(s.History, func(r explorer.HistoryRow) bool { return !r.Reverted })
			if newest < 0 || int64(rec["updated_at"].(float64)) != s.History[newest].Height {
				t.Fatalf("name %s: updated at %v, newest op in the history at %+v", name, rec["updated_at"], s.History)
			}
		}
	}
	if reverted == 0 {
		t.Fatal("no history entry was marked reverted, after reorgs")
	}

	var f explorer.Freshness
	if getJSON(t, srv.URL+"/consensus/"+tipCH.String(), &f) != 200 || !f.Found || !f.Fresh || f.Height != tip || f.FreshThrough != tip+6 {
		t.Fatalf("the tip's consensus hash: %+v", f)
	}
	old, _ := e.ConsensusAt(tip - 6)
	if getJSON(t, srv.URL+"/consensus/"+old.String(), &f) != 200 || !f.Found || f.Fresh || f.Height != tip-6 {
		t.Fatalf("a consensus hash 6 blocks old (window 6): %+v", f)
	}
	edge, _ := e.ConsensusAt(tip - 5)
	if getJSON(t, srv.URL+"/consensus/"+edge.String(), &f) != 200 || !f.Fresh {
		t.Fatalf("a consensus hash 5 blocks old (window 6): %+v", f)
	}
	if getJSON(t, srv.URL+"/consensus/"+strings.Repeat("ab", 16), &f) != 200 || f.Found || f.Fresh {
		t.Fatalf("an unknown consensus hash: %+v", f)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for q, want := range map[string]string{"120": "/block/120", tipCH.String(): "/consensus/" + tipCH.String(), "alice.id": "/name/alice.id", "": "/"} {
		resp, err := noRedirect.Get(srv.URL + "/search?q=" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("search %q: %d to %q, want %q", q, resp.StatusCode, loc, want)
		}
	}
	for _, path := range []string{"/block/99", "/block/" + itoa(tip+1), "/block/x", "/name/nobody.here", "/consensus/zz"} {
		var v any
		if code := getJSON(t, srv.URL+path, &v); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	// The pages render as HTML too.
	for _, path := range []string{"/", "/block/" + itoa(tip), "/consensus/" + tipCH.String()} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>") {
			t.Errorf("GET %s as HTML: %d", path, resp.StatusCode)
		}
	}
}

func itoa(h int64) string { return strconv.FormatInt(h, 10) }
