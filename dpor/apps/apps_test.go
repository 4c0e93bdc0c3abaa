package apps_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"github.com/vchain-dev/vchain/internal/openapi"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/apps"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	tapedpor "github.com/vchain-dev/vchain/tape/dpor"
)

// TestRunnerFollowsTheNode: a node's contract runtime applies its final
// blocks as they come, serves what each contract transaction did, and,
// stopped while the chain goes on (a crash between the node's commit and
// the runtime's), catches up when it runs again, to the same consensus
// hash as an engine that synced the chain from another node's API.
func TestRunnerFollowsTheNode(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 2, 10*time.Second)
	n := c.Nodes[5]
	key, addr := dportest.Key(dportest.Funded), dportest.Address(dportest.Funded)
	nonce := uint64(0)
	send := func(payload []byte) string {
		t.Helper()
		tx := &chain.Tx{Nonce: nonce, To: addr, Fee: 1, Data: payload}
		tx.Sign(c.Genesis.ChainID, key)
		nonce++
		if _, errs := n.Submit([][]byte{chain.Marshal(tx)}); len(errs) > 0 {
			t.Fatal(errs)
		}
		h := tx.Hash()
		return hex.EncodeToString(h[:])
	}
	dir := filepath.Join(t.TempDir(), "contracts")
	open := func() (*apps.Runner, func()) {
		r, err := apps.OpenContracts(n, dir, contract.Limits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		return r, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			if err := r.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	r, stop := open()
	srv := httptest.NewServer(func() http.Handler {
		mux := openapi.NewMux()
		apps.ContractRoutes(n, r)(mux)
		return mux
	}())
	defer srv.Close()
	get := func(path string, v any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}

	id := send(host.CreatePayload(`exports.count = 0; exports.add = (n) => { exports.count += n; return exports.count }`))
	add := send(host.CallPayload(id, "add", json.RawMessage("[5]")))
	bad := send(host.CallPayload(id, "nope", json.RawMessage("[]")))
	var cc host.ChainCall
	for _, tx := range []string{id, add, bad} {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if code := get("/v1/contract-calls/"+tx+"?wait_ms=1000", &cc); code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no outcome for %s", tx)
			}
		}
	}
	if cc.Record.Error == nil || cc.Record.Error.Code != "NoSuchMethod" || cc.Contract != id {
		t.Fatalf("a call of a missing method: %+v", cc)
	}
	get("/v1/contract-calls/"+add, &cc)
	if string(cc.Record.Result) != "5" || cc.Record.User != addr.String() {
		t.Fatalf("add: %+v", cc)
	}
	var info apps.ContractInfo
	if code := get("/v1/contracts/"+id, &info); code != 200 || string(info.Exports) != `{"count":5}` {
		t.Fatalf("contract info: %d %+v", code, info)
	}
	var page struct {
		Events []struct {
			Kind, Contract string
		}
	}
	get("/v1/apps/contracts/events?kind=op&contract="+id, &page)
	if len(page.Events) != 3 {
		t.Fatalf("the runtime's op events about the contract: %+v", page.Events)
	}
	var calls []host.ChainCall
	if get("/v1/contracts/"+id+"/calls", &calls); len(calls) != 3 || calls[0].Record.Type != "create" {
		t.Fatalf("calls: %+v", calls)
	}
	var e map[string]string
	if code := get("/v1/contracts/zz", &e); code != http.StatusBadRequest || e["error"] == "" {
		t.Fatalf("a bad id: %d %v", code, e)
	}
	if code := get("/v1/contract-calls/"+hex.EncodeToString(make([]byte, 32)), &e); code != http.StatusNotFound {
		t.Fatalf("an unknown transaction: %d %v", code, e)
	}

	// Stopped while the chain goes on: it catches up.
	stop()
	for i := 0; i < 3; i++ {
		send(host.CallPayload(id, "add", json.RawMessage("[1]")))
	}
	target := n.Head().Height + 4
	c.WaitHeight(5, target, 15*time.Second)
	r, stop = open()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.WaitHeight(ctx, int64(target)); err != nil {
		t.Fatal(err)
	}
	ex, _, err := host.ChainContract(r.Engine().State(), id)
	if err != nil || string(ex) != `{"count":8}` {
		t.Fatalf("after catching up: %s, %v", ex, err)
	}
	stop() // the engine's history is read below
	// The same as an engine that synced from another node's API, up to
	// the same height.
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := engine.Open(db, host.NewChainApp(contract.Limits{}), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Sync(context.Background(), tapedpor.New(c.API(1), c.Genesis, []byte(host.ChainMagic))); err != nil {
		t.Fatal(err)
	}
	h := min(other.Height(), r.Height())
	a, _ := r.Engine().ConsensusAt(h)
	b, _ := other.ConsensusAt(h)
	if a != b {
		t.Fatalf("consensus at %d: %s here, %s synced from another node", h, a, b)
	}
}
