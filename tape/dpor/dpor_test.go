package dpor_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/dpor"
)

// TestNamesOnDPoR: the names application runs replicated on the DPoR
// chain: a preorder and a register sent as chain transactions become a
// name owned by the sender's address, on an engine that syncs with no
// confirmations (blocks are final).
func TestNamesOnDPoR(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 2, 10*time.Second)
	ctx := context.Background()
	src := dpor.New(c.API(0), c.Genesis, []byte(names.Magic))
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := engine.Open(db, names.New(names.Options{FirstBlock: 1}), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		if err := e.Sync(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	owner := dportest.Key(dportest.Funded)
	addr := dportest.Address(dportest.Funded)
	nonce := uint64(0)
	send := func(payload []byte) {
		t.Helper()
		tx := &chain.Tx{Nonce: nonce, To: addr, Fee: 1, Data: payload}
		tx.Sign(c.Genesis.ChainID, owner)
		nonce++
		if _, errs := c.Nodes[4].Submit([][]byte{chain.Marshal(tx)}); len(errs) > 0 {
			t.Fatal(errs)
		}
		// Wait until it is final and synced.
		h := c.Nodes[0].Head().Height
		c.WaitHeight(0, h+3, 10*time.Second)
		sync()
	}
	ch, _ := e.Consensus()
	salt := bytes.Repeat([]byte{7}, names.SaltLen)
	pre, err := names.PreorderPayload("alice.id", salt, addr[:], ch)
	if err != nil {
		t.Fatal(err)
	}
	send(pre)
	reg, _ := names.RegisterPayload("alice.id", salt, nil)
	send(reg)
	rec, err := names.Lookup(e.State(), "alice.id", e.Height())
	if err != nil {
		t.Fatalf("alice.id after register: %v (engine at %d)", err, e.Height())
	}
	if rec.Owner != addr.String() {
		t.Fatalf("owner %s, want the sender %s", rec.Owner, addr)
	}
	// A second engine over another node ends with the same consensus hash.
	db2, _ := store.Open("", store.Options{InMemory: true})
	defer db2.Close()
	e2, _ := engine.Open(db2, names.New(names.Options{FirstBlock: 1}), engine.Config{})
	if err := e2.Sync(ctx, dpor.New(c.API(2), c.Genesis, []byte(names.Magic))); err != nil {
		t.Fatal(err)
	}
	h := min(e.Height(), e2.Height())
	a, _ := e.ConsensusAt(h)
	b, _ := e2.ConsensusAt(h)
	if a != b {
		t.Fatal("two replicas of the names state disagree")
	}
}

// TestForgedBlockRejected: a node that alters a final block (its body, so
// its hash no longer matches the certificate) is caught by the source.
func TestForgedBlockRejected(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 3, 10*time.Second)
	real := c.API(0)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(real + r.URL.String())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if strings.HasPrefix(r.URL.Path, "/v1/blocks") {
			var bs []*lbft.Block
			chain.Unmarshal(raw, &bs)
			for _, b := range bs {
				if b.Height == 2 {
					b.Time++
				}
			}
			raw = chain.Marshal(bs)
		}
		w.Write(raw)
	}))
	defer liar.Close()
	src := dpor.New(liar.URL, c.Genesis, nil)
	if _, err := src.Block(context.Background(), 1); err != nil {
		t.Fatalf("an untouched block: %v", err)
	}
	_, err := src.Block(context.Background(), 2)
	if err == nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("a forged block: %v", err)
	}
	if _, err := src.Block(context.Background(), 1_000_000); !errors.Is(err, tape.ErrNotFound) {
		t.Fatalf("above the tip: %v", err)
	}
}

// TestContractsOnDPoR: the contract runtime runs replicated on the chain:
// a contract created and called through chain transactions has the same
// exports and consensus hashes on two engines fed by different nodes.
func TestContractsOnDPoR(t *testing.T) {
	c := dportest.Start(t, 4, 2)
	c.WaitHeight(0, 2, 10*time.Second)
	key := dportest.Key(dportest.Funded)
	addr := dportest.Address(dportest.Funded)
	nonce := uint64(0)
	send := func(payload []byte) [32]byte {
		t.Helper()
		tx := &chain.Tx{Nonce: nonce, To: addr, Fee: 1, Data: payload}
		tx.Sign(c.Genesis.ChainID, key)
		nonce++
		if _, errs := c.Nodes[4].Submit([][]byte{chain.Marshal(tx)}); len(errs) > 0 {
			t.Fatal(errs)
		}
		return tx.Hash()
	}
	code := `exports.count = 0; exports.add = function (n) { exports.count += n; return exports.count }`
	id := send(host.CreatePayload(code))
	idHex := hex.EncodeToString(id[:])
	for i := 1; i <= 3; i++ {
		send(host.CallPayload(idHex, "add", json.RawMessage(fmt.Sprintf("[%d]", i))))
	}
	target := c.Nodes[0].Head().Height + 6
	c.WaitHeight(0, target, 15*time.Second)
	c.WaitHeight(2, target, 15*time.Second)
	sync := func(api string) *engine.Engine {
		db, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e, err := engine.Open(db, host.NewChainApp(contract.Limits{}), engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Sync(context.Background(), dpor.New(api, c.Genesis, []byte(host.ChainMagic))); err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := sync(c.API(0)), sync(c.API(2))
	ex, methods, err := host.ChainContract(a.State(), idHex)
	if err != nil {
		t.Fatal(err)
	}
	if string(ex) != `{"count":6}` || len(methods) != 1 {
		t.Fatalf("exports %s, methods %v", ex, methods)
	}
	h := min(a.Height(), b.Height())
	ca, _ := a.ConsensusAt(h)
	cb, _ := b.ConsensusAt(h)
	if ca != cb {
		t.Fatal("two replicas of the contracts disagree")
	}
}
