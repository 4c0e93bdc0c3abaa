package private_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/contract/private"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
)

type party struct {
	key ed25519.PrivateKey
	pub ed25519.PublicKey
	hex string
}

func newParty(t *testing.T) party {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return party{key, pub, hex.EncodeToString(pub)}
}

// tx is a chain transaction of payload sent by p.
func (p party) tx(payload []byte) tape.Tx {
	return tape.Tx{Payload: payload, Senders: []tape.Sender{{Address: p.hex[:16], PubKey: p.pub}}}
}

func TestSealOpens(t *testing.T) {
	a, b, c := newParty(t), newParty(t), newParty(t)
	sealed, err := private.SealTo([]byte("the item key"), []ed25519.PublicKey{a.pub, b.pub})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []party{a, b} {
		if got, err := private.OpenWith(sealed, p.key); err != nil || string(got) != "the item key" {
			t.Fatalf("a recipient opens %q, %v", got, err)
		}
	}
	if _, err := private.OpenWith(sealed, c.key); !errors.Is(err, private.ErrNotForMe) {
		t.Fatalf("another key: %v, want ErrNotForMe", err)
	}
	sealed[len(sealed)-3] ^= 1
	if _, err := private.OpenWith(sealed, a.key); err == nil {
		t.Fatal("altered ciphertext opened")
	}
}

// engineOver runs a contract runtime over src.
func engineOver(t *testing.T, src tape.Source) *engine.Engine {
	t.Helper()
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := engine.Open(db, host.NewChainApp(contract.Limits{}), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return e
}

const trade = `exports.items = 0
exports.add = async (name) => { exports.items++; await state.writeFile('/items/' + exports.items, name); return exports.items }
exports.init = async () => { await state.mkdir('/items') }
`

// TestPrivateContractEndToEnd: a private contract among a and b. Both
// participants' engines compute the same private state; an outsider's
// engine, and the public runtime every node runs, hold none of it; the
// public record shows the calls, who took part and the attestations, and
// Audit finds a participant who attests a wrong root, and only that one.
func TestPrivateContractEndToEnd(t *testing.T) {
	a, b, out := newParty(t), newParty(t), newParty(t)
	both := []ed25519.PublicKey{a.pub, b.pub}
	chain := memtape.New(0)
	chain.Append(nil)
	create, err := private.Seal(host.CreatePayload(trade), "", both)
	if err != nil {
		t.Fatal(err)
	}
	blk := chain.Append([]tape.Tx{a.tx(create)})
	id := blk.Txs[0].ID.String()
	var calls []string
	for i, who := range []party{a, b, a} {
		p, err := private.Seal(host.CallPayload(id, "add", json.RawMessage(`["secret `+string(rune('A'+i))+`"]`)), id, both)
		if err != nil {
			t.Fatal(err)
		}
		blk := chain.Append([]tape.Tx{who.tx(p)})
		calls = append(calls, blk.Txs[0].ID.String())
	}
	// Junk: a call sealed by an outsider, a call whose inner payload names
	// another contract, and an envelope sealed to a and the outsider only.
	junk1, _ := private.Seal(host.CallPayload(id, "add", json.RawMessage(`["x"]`)), id, both)
	junk2, _ := private.Seal(host.CallPayload(calls[0], "add", json.RawMessage(`["y"]`)), id, both)
	junk3, _ := private.Seal(host.CallPayload(id, "add", json.RawMessage(`["z"]`)), id, []ed25519.PublicKey{a.pub, out.pub})
	chain.Append([]tape.Tx{out.tx(junk1), a.tx(junk2), out.tx(junk3)})

	ea, eb, eo := engineOver(t, private.NewSource(chain, a.key)), engineOver(t, private.NewSource(chain, b.key)), engineOver(t, private.NewSource(chain, out.key))
	xa, _, err := host.ChainContract(ea.State(), id)
	if err != nil || string(xa) != `{"items":3}` {
		t.Fatalf("a's private state: %s, %v", xa, err)
	}
	ia, _ := host.ChainContractInfo(ea.State(), id)
	ib, _ := host.ChainContractInfo(eb.State(), id)
	if ia == nil || ib == nil || string(ia.Exports) != string(ib.Exports) || ia.StateRoot != ib.StateRoot || ia.StateLength != ib.StateLength {
		t.Fatalf("a and b differ: %+v, %+v", ia, ib)
	}
	// The envelope sealed to a and the outsider reached a's runtime, which
	// refused it: it is not sealed to the contract's participants.
	if cc, ok, _ := host.ChainCallOf(ea.State(), junkTx(chain, 2)); !ok || cc.Record.Error == nil || cc.Record.Error.Code != "NotParticipants" {
		t.Fatalf("a call sealed to other participants: %+v", cc)
	}
	if f, err := host.ChainReadFile(eb.State(), id, "/items/2"); err != nil || string(f) != "secret B" {
		t.Fatalf("b reads %q, %v", f, err)
	}
	if _, _, err := host.ChainContract(eo.State(), id); err == nil {
		t.Fatal("the outsider's engine holds the private contract")
	}

	// Every participant attests the state after each envelope of the
	// contract (the public record lists them); b lies once.
	record := host.PrivateContract{ID: id, Participants: []string{a.hex, b.hex}}
	for _, tx := range append([]string{id}, append(calls, junkTx(chain, 1))...) {
		record.Calls = append(record.Calls, host.PrivateCall{Tx: tx})
	}
	sa, err := private.States(&record, ea.State())
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := private.States(&record, eb.State())
	var atts []tape.Tx
	for _, c := range record.Calls {
		if sa[c.Tx] != sb[c.Tx] {
			t.Fatalf("a and b computed different states after %s", c.Tx)
		}
		bs := sb[c.Tx]
		if c.Tx == calls[1] {
			bs.Root = hex.EncodeToString(make([]byte, 32))
		}
		atts = append(atts,
			a.tx(host.AttestPayload(&host.Attestation{Contract: id, Tx: c.Tx, Root: sa[c.Tx].Root, Length: sa[c.Tx].Length})),
			b.tx(host.AttestPayload(&host.Attestation{Contract: id, Tx: c.Tx, Root: bs.Root, Length: bs.Length})))
	}
	atts = append(atts, out.tx(host.AttestPayload(&host.Attestation{Contract: id, Tx: calls[0], Root: hex.EncodeToString(make([]byte, 32))})))
	chain.Append(atts)

	pub := engineOver(t, chain) // the public runtime every node runs
	if _, _, err := host.ChainContract(pub.State(), id); err == nil {
		t.Fatal("the public runtime holds the private contract")
	}
	pc, err := host.ChainPrivateContract(pub.State(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Participants) != 2 || len(pc.Calls) != 7 || pc.Creator != a.hex {
		// create, 3 calls, 3 junk envelopes
		t.Fatalf("public record: %d participants, %d calls, creator %s", len(pc.Participants), len(pc.Calls), pc.Creator)
	}
	// An outsider: three notes on the junk envelopes (an outsider's
	// sender, twice, and other participants), and with two participants
	// b's lie has no majority: that call is split.
	kinds := func(fs []private.Finding) map[string]int {
		m := map[string]int{}
		for _, f := range fs {
			m[f.Kind]++
			if f.Kind == "split" && f.Tx != calls[1] || f.Kind == "diverged" && (f.Tx != calls[1] || f.Participant != b.hex) {
				t.Errorf("finding %+v", f)
			}
		}
		return m
	}
	if k := kinds(private.Audit(pc, nil)); k["call"] != 3 || k["split"] != 1 || len(k) != 2 {
		t.Fatalf("an outsider's audit: %v", k)
	}
	mine, err := private.States(pc, ea.State())
	if err != nil {
		t.Fatal(err)
	}
	// a's own engine settles it: b diverged.
	if k := kinds(private.Audit(pc, mine)); k["call"] != 3 || k["diverged"] != 1 || len(k) != 2 {
		t.Fatalf("a's audit: %v", k)
	}
}

// junkTx is the id of transaction i of the chain's newest block.
func junkTx(c *memtape.Chain, i int) string {
	bs := c.Blocks()
	return bs[len(bs)-1].Txs[i].ID.String()
}
