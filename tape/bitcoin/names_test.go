package bitcoin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/bitcoin"
)

type namesWorld struct {
	t     *testing.T
	n     *btcdtest.Node
	src   *bitcoin.Source
	e     *engine.Engine
	alice *bitcoin.Submitter
	bob   *bitcoin.Submitter
}

func newNamesWorld(t *testing.T) *namesWorld {
	n := btcdtest.Start(t)
	if _, err := n.Client.Generate(101); err != nil {
		t.Fatal(err)
	}
	w := &namesWorld{t: t, n: n}
	var err error
	w.alice, _ = bitcoin.NewSubmitterKey(n.Client, btcdtest.Params, n.Key)
	bobKey, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{5}, 32))
	w.bob, _ = bitcoin.NewSubmitterKey(n.Client, btcdtest.Params, bobKey)
	// Fund bob from alice's coins.
	if _, err := w.alice.Submit([]byte("fund"), w.bob.Script()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ {
		if _, err := w.alice.Submit([]byte("fund"), w.bob.Script()); err != nil {
			t.Fatal(err)
		}
	}
	w.mine(1)
	w.src, err = bitcoin.NewSource(bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}, []byte(names.Magic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.src.Close)
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if w.e, err = engine.Open(db, names.New(names.Options{FirstBlock: 1}), engine.Config{Events: true}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	return w
}

func (w *namesWorld) mine(k int) []string {
	hs, err := w.n.Client.Generate(uint32(k))
	if err != nil {
		w.t.Fatal(err)
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func (w *namesWorld) sync() {
	w.t.Helper()
	if err := w.e.Sync(context.Background(), w.src); err != nil {
		w.t.Fatal(err)
	}
}

func (w *namesWorld) submit(s *bitcoin.Submitter, p []byte, err error, to []byte) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := s.Submit(p, to); err != nil {
		w.t.Fatal(err)
	}
}

func (w *namesWorld) owner(name string) string {
	w.t.Helper()
	rec, err := names.Lookup(w.e.State(), name, w.e.Height())
	if errors.Is(err, names.ErrNameNotFound) {
		return ""
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return rec.Owner
}

// TestNamesOnBitcoin: names from two keys through preorder, register,
// update and transfer; then a reorg that removes the block holding a
// register removes the name, and the replacement branch, which mines the
// register again, brings it back.
func TestNamesOnBitcoin(t *testing.T) {
	w := newNamesWorld(t)
	salt := []byte("0123456789abcdef")
	ch, _ := w.e.Consensus()
	p, err := names.PreorderPayload("alice.id", salt, w.alice.Script(), ch)
	w.submit(w.alice, p, err, nil)
	p, err = names.PreorderPayload("bob.id", salt, w.bob.Script(), ch)
	w.submit(w.bob, p, err, nil)
	w.mine(1)
	w.sync()
	p, err = names.RegisterPayload("alice.id", salt, nil)
	w.submit(w.alice, p, err, nil)
	p, err = names.RegisterPayload("bob.id", salt, nil)
	w.submit(w.bob, p, err, nil)
	registered := w.mine(1)[0]
	w.sync()
	if w.owner("alice.id") != w.alice.Address().EncodeAddress() || w.owner("bob.id") != w.bob.Address().EncodeAddress() {
		t.Fatalf("owners %q %q", w.owner("alice.id"), w.owner("bob.id"))
	}
	p, err = names.UpdatePayload("alice.id", bytes.Repeat([]byte{0xab}, 20))
	w.submit(w.alice, p, err, nil)
	ch, _ = w.e.Consensus()
	p, err = names.TransferPayload("bob.id", ch, true)
	w.submit(w.bob, p, err, w.alice.Script())
	w.mine(1)
	w.sync()
	rec, _ := names.Lookup(w.e.State(), "alice.id", w.e.Height())
	if rec.Value != "abababababababababababababababababababab" {
		t.Fatalf("alice.id value %q", rec.Value)
	}
	if w.owner("bob.id") != w.alice.Address().EncodeAddress() {
		t.Fatalf("bob.id after transfer: %q", w.owner("bob.id"))
	}

	// Invalidate the block holding both registers: everything after it
	// goes, and the names with it.
	h, _ := chainhash.NewHashFromStr(registered)
	if err := w.n.Client.InvalidateBlock(h); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if w.owner("alice.id") != "" || w.owner("bob.id") != "" {
		t.Fatalf("after the reorg the names must be gone: %q %q", w.owner("alice.id"), w.owner("bob.id"))
	}
	// The replacement branch mines the returned transactions again.
	w.mine(3)
	w.sync()
	if w.owner("alice.id") != w.alice.Address().EncodeAddress() {
		t.Fatalf("alice.id after the replacement branch: %q", w.owner("alice.id"))
	}
	// The event log tells it: the blocks, the register ops naming
	// alice.id, a revert to the block before the registers, and the
	// replacement blocks with the register again.
	evs, _, err := w.e.Events().Read(0, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	regHeight := int64(-1)
	var reverted bool
	registersAfter := 0
	for _, ev := range evs {
		switch {
		case ev.Kind == events.KindBlock && !reverted:
			var d struct{ Hash string }
			json.Unmarshal(ev.Data, &d)
			if d.Hash == registered {
				regHeight = ev.Height
			}
		case ev.Kind == events.KindRevert:
			var d struct{ From, Fork int64 }
			json.Unmarshal(ev.Data, &d)
			if d.Fork != regHeight-1 {
				t.Fatalf("revert to %d, the registers were in block %d", d.Fork, regHeight)
			}
			reverted = true
		case ev.Kind == events.KindOp && reverted && ev.Name == "alice.id":
			registersAfter++
		}
	}
	if regHeight < 0 || !reverted || registersAfter == 0 {
		t.Fatalf("events: register block %d, reverted %v, alice.id ops after it %d", regHeight, reverted, registersAfter)
	}

	// A fresh engine over the final chain agrees at every height.
	db, _ := store.Open("", store.Options{InMemory: true})
	defer db.Close()
	fresh, err := engine.Open(db, names.New(names.Options{FirstBlock: 1}), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Sync(context.Background(), w.src); err != nil {
		t.Fatal(err)
	}
	for hgt := int64(1); hgt <= w.e.Height(); hgt++ {
		a, _ := w.e.ConsensusAt(hgt)
		b, _ := fresh.ConsensusAt(hgt)
		if a != b {
			t.Fatalf("height %d: followed %s, fresh %s", hgt, a, b)
		}
	}
}
