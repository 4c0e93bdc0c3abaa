package chain_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/kv"
)

func openEscrow(name string) *chain.Call {
	return callOf("openEscrow", chain.EscrowArgs{Name: name})
}

func prepay(name string) *chain.Call { return callOf("prepay", chain.EscrowArgs{Name: name}) }

func payTo(name string, to chain.Address, amount uint64) *chain.Call {
	return callOf("payTo", chain.PayToArgs{Name: name, To: to, Amount: amount})
}

func refund(name string, payer chain.Address, amount uint64) *chain.Call {
	return callOf("refund", chain.RefundArgs{Name: name, Payer: payer, Amount: amount})
}

func (h *harness) escrow(name string) (chain.EscrowInfo, bool) {
	h.t.Helper()
	e, ok, err := h.state().Escrow(name)
	if err != nil {
		h.t.Fatal(err)
	}
	return e, ok
}

// dumpState is the whole state, key by key, for comparing two chains.
func dumpState(st *kv.Mem) string {
	var b strings.Builder
	st.Iterate(nil, func(k, v []byte) error { fmt.Fprintf(&b, "%x=%x\n", k, v); return nil })
	return b.String()
}

// TestEscrowLifecycle: the private-trade scenario's escrow. Agent P opens
// it, two buyers prepay, P pays the seller and refunds the rest; every
// balance moves by exactly the amounts and fees, and the escrow ends
// empty.
func TestEscrowLifecycle(t *testing.T) {
	h := newHarness(t)
	agent, buyer, buyer2, seller := addr(32), addr(30), addr(31), addr(40)
	a0, b0, c0 := h.balance(agent), h.balance(buyer), h.balance(buyer2)

	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, openEscrow("deal-1.a_b")))
	e, ok := h.escrow("deal-1.a_b")
	if !ok || e.Owner != agent || e.Balance != 0 || e.Opened != 1 || e.Deposits == nil || len(e.Deposits) != 0 {
		t.Fatalf("opened: %+v %v", e, ok)
	}
	h.mustBlock(h.tx(30, chain.EscrowAddress, 500, prepay("deal-1.a_b")), h.tx(31, chain.EscrowAddress, 200, prepay("deal-1.a_b")))
	h.mustBlock(h.tx(30, chain.EscrowAddress, 100, prepay("deal-1.a_b")))
	e, _ = h.escrow("deal-1.a_b")
	want := []chain.EscrowDeposit{{Payer: buyer, Amount: 600}, {Payer: buyer2, Amount: 200}}
	slices.SortFunc(want, func(x, y chain.EscrowDeposit) int { return strings.Compare(x.Payer.String(), y.Payer.String()) })
	if e.Balance != 800 || e.Prepaid != 800 || !slices.Equal(e.Deposits, want) {
		t.Fatalf("after prepaying: %+v", e)
	}
	if h.balance(chain.EscrowAddress) != 800 {
		t.Fatalf("the contract holds %d, want 800", h.balance(chain.EscrowAddress))
	}
	// P pays the seller the price, then returns what is left.
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, payTo("deal-1.a_b", seller, 550)))
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, refund("deal-1.a_b", buyer, 50)))
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, refund("deal-1.a_b", buyer2, 200)))
	e, _ = h.escrow("deal-1.a_b")
	if e.Balance != 0 || e.PaidOut != 550 || e.Refunded != 250 || e.Prepaid != 800 ||
		!slices.Equal(e.Deposits, []chain.EscrowDeposit{{Payer: buyer, Amount: 550}}) {
		t.Fatalf("after paying out: %+v", e)
	}
	for _, c := range []struct {
		who       chain.Address
		got, want uint64
	}{
		{seller, h.balance(seller), 550},
		{buyer, h.balance(buyer), b0 - 600 - 2 + 50},
		{buyer2, h.balance(buyer2), c0 - 200 - 1 + 200},
		{agent, h.balance(agent), a0 - 4},
		{chain.EscrowAddress, h.balance(chain.EscrowAddress), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: balance %d, want %d", c.who, c.got, c.want)
		}
	}
	// The JSON view: deposits sorted by payer, addresses in hex.
	out, _ := json.Marshal(e)
	wantJSON := fmt.Sprintf(`{"name":"deal-1.a_b","owner":"%s","opened":1,"balance":0,"prepaid":800,"paid_out":550,"refunded":250,"deposits":[{"payer":"%s","amount":550}]}`, agent, buyer)
	if string(out) != wantJSON {
		t.Fatalf("JSON\n%s\nwant\n%s", out, wantJSON)
	}
	// Another escrow keeps its own accounts in the same contract balance.
	h.mustBlock(h.tx(31, chain.EscrowAddress, 0, openEscrow("other")), h.tx(30, chain.EscrowAddress, 70, prepay("other")))
	h.failsWith(h.tx(32, chain.EscrowAddress, 0, payTo("deal-1.a_b", seller, 1)), "escrow deal-1.a_b holds 0, cannot pay 1")
	h.mustBlock(h.tx(31, chain.EscrowAddress, 0, payTo("other", seller, 70)))
	if h.balance(seller) != 620 || h.balance(chain.EscrowAddress) != 0 {
		t.Fatalf("seller %d, contract %d", h.balance(seller), h.balance(chain.EscrowAddress))
	}
}

// TestEscrowRefusals: each refusal names its reason, and a refused call
// changes nothing but the sender's nonce and fee.
func TestEscrowRefusals(t *testing.T) {
	h := newHarness(t)
	agent, buyer, seller := addr(32), addr(30), addr(40)
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, openEscrow("deal")))
	h.mustBlock(h.tx(30, chain.EscrowAddress, 5, prepay("deal")))
	before := dumpEscrow(h, "deal")
	bal := map[chain.Address]uint64{}
	for _, a := range []chain.Address{agent, buyer, addr(31), seller, chain.EscrowAddress} {
		bal[a] = h.balance(a)
	}
	fees := map[chain.Address]uint64{}
	for _, tc := range []struct {
		name   string
		from   int
		amount uint64
		call   *chain.Call
		want   string
	}{
		{"open: empty name", 31, 0, openEscrow(""), `bad escrow name ""`},
		{"open: long name", 31, 0, openEscrow(strings.Repeat("a", 65)), "want 1 to 64 bytes"},
		{"open: capitals", 31, 0, openEscrow("Deal"), `bad escrow name "Deal"`},
		{"open: space", 31, 0, openEscrow("a b"), `bad escrow name "a b"`},
		{"open: slash", 31, 0, openEscrow("a/b"), `bad escrow name "a/b"`},
		{"open: taken", 31, 0, openEscrow("deal"), "the name deal is taken (escrow owned by " + agent.String()},
		{"open: coins", 31, 3, openEscrow("new"), "Escrow.openEscrow takes no coins"},
		{"prepay: unknown", 30, 3, prepay("nope"), "no escrow named nope"},
		{"prepay: bad name", 30, 3, prepay("NOPE"), `bad escrow name "NOPE"`},
		{"prepay: nothing", 30, 0, prepay("deal"), "no coins sent"},
		{"pay: not the owner", 30, 0, payTo("deal", seller, 1), "is not the escrow's owner"},
		{"pay: too much", 32, 0, payTo("deal", seller, 7), "escrow deal holds 5, cannot pay 7"},
		{"pay: nothing", 32, 0, payTo("deal", seller, 0), "an amount of 0"},
		{"pay: zero address", 32, 0, payTo("deal", chain.Address{}, 1), "cannot pay the zero address"},
		{"pay: a system contract", 32, 0, payTo("deal", chain.EscrowAddress, 1), "cannot pay the Escrow contract"},
		{"pay: unknown", 32, 0, payTo("nope", seller, 1), "no escrow named nope"},
		{"pay: coins", 32, 1, payTo("deal", seller, 1), "Escrow.payTo takes no coins"},
		{"refund: not the owner", 30, 0, refund("deal", buyer, 1), "is not the escrow's owner"},
		{"refund: no deposit", 32, 0, refund("deal", addr(31), 1), "has no deposit in escrow deal"},
		{"refund: too much", 32, 0, refund("deal", buyer, 6), "has 5 deposited in escrow deal, cannot refund 6"},
		{"refund: nothing", 32, 0, refund("deal", buyer, 0), "an amount of 0"},
		{"refund: unknown", 32, 0, refund("x", buyer, 1), "no escrow named x"},
		{"arguments not a map", 32, 0, callOf("payTo", chain.Marshal("x")), "payTo arguments"},
		{"unknown argument", 32, 0, callOf("openEscrow", map[int]any{1: "y", 2: 1}), "openEscrow arguments"},
		{"unknown function", 32, 0, callOf("escrowOf", nil), `Escrow has no function "escrowOf"`},
		{"a transfer", 30, 4, nil, "a transfer to the Escrow contract needs a call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.failsWith(h.tx(tc.from, chain.EscrowAddress, tc.amount, tc.call), tc.want)
			fees[addr(tc.from)]++
		})
	}
	h.t = t
	if after := dumpEscrow(h, "deal"); after != before {
		t.Fatalf("refused calls changed the escrow:\n%s\n%s", before, after)
	}
	for a, b := range bal {
		if got := h.balance(a); got != b-fees[a] {
			t.Errorf("%s: balance %d, want %d (only fees taken)", a, got, b-fees[a])
		}
	}
	for _, n := range []string{"new", "nope", "Deal", ""} {
		if _, ok := h.escrow(n); ok {
			t.Errorf("escrow %q exists", n)
		}
	}

	// refund is bounded by the balance too: after P paid out, a payer's
	// deposit is more than the escrow holds.
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, payTo("deal", seller, 4)))
	h.failsWith(h.tx(32, chain.EscrowAddress, 0, refund("deal", buyer, 2)), "escrow deal holds 1, cannot refund 2")
	h.mustBlock(h.tx(32, chain.EscrowAddress, 0, refund("deal", buyer, 1)))
	if e, _ := h.escrow("deal"); e.Balance != 0 || len(e.Deposits) != 1 || e.Deposits[0].Amount != 4 {
		t.Fatalf("after paying 4 and refunding 1: %+v", e)
	}
}

func dumpEscrow(h *harness, name string) string {
	e, ok := h.escrow(name)
	return fmt.Sprintf("%v %+v", ok, e)
}

func TestEscrowPayersAreBounded(t *testing.T) {
	defer chain.SetMaxEscrowPayers(2)()
	h := newHarness(t)
	h.mustBlock(h.tx(20, chain.EscrowAddress, 0, openEscrow("e")))
	h.mustBlock(h.tx(30, chain.EscrowAddress, 1, prepay("e")), h.tx(31, chain.EscrowAddress, 1, prepay("e")))
	h.failsWith(h.tx(32, chain.EscrowAddress, 1, prepay("e")), "escrow e has deposits of 2 payers, the most one escrow may")
	// A payer already in may add to its deposit; one refunded in full
	// frees its place.
	h.mustBlock(h.tx(30, chain.EscrowAddress, 1, prepay("e")))
	h.mustBlock(h.tx(20, chain.EscrowAddress, 0, refund("e", addr(31), 1)))
	h.mustBlock(h.tx(32, chain.EscrowAddress, 1, prepay("e")))
	if e, _ := h.escrow("e"); len(e.Deposits) != 2 || e.Balance != 3 {
		t.Fatalf("%+v", e)
	}
}

// TestEscrowThroughAProxy: a proxy registered for the Escrow runs it;
// the coins land in the Escrow's balance.
func TestEscrowThroughAProxy(t *testing.T) {
	h := newHarness(t)
	p := addr(50)
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.EscrowAddress)))
	h.mustBlock(h.tx(32, p, 0, openEscrow("via")))
	h.mustBlock(h.tx(30, p, 9, prepay("via")))
	if e, _ := h.escrow("via"); e.Balance != 9 || e.Owner != addr(32) || h.balance(chain.EscrowAddress) != 9 || h.balance(p) != 0 {
		t.Fatalf("%+v; contract %d, proxy %d", e, h.balance(chain.EscrowAddress), h.balance(p))
	}
}

// TestEscrowIsDeterministic: a second chain applying the same blocks
// (successes and failures) reaches byte-identical state.
func TestEscrowIsDeterministic(t *testing.T) {
	h := newHarness(t)
	other := newHarness(t)
	steps := [][]*chain.Tx{
		{h.tx(32, chain.EscrowAddress, 0, openEscrow("d")), h.tx(31, chain.EscrowAddress, 0, openEscrow("e"))},
		{h.tx(30, chain.EscrowAddress, 10, prepay("d")), h.tx(31, chain.EscrowAddress, 20, prepay("d")), h.tx(20, chain.EscrowAddress, 5, prepay("d"))},
		{h.tx(32, chain.EscrowAddress, 0, payTo("d", addr(41), 12)), h.tx(30, chain.EscrowAddress, 0, payTo("d", addr(41), 1))},
		{h.tx(32, chain.EscrowAddress, 0, refund("d", addr(31), 8)), h.tx(32, chain.EscrowAddress, 0, refund("d", addr(30), 11))},
		{h.tx(30, chain.EscrowAddress, 3, prepay("e"))},
		{}, {},
	}
	for _, txs := range steps {
		h.block(txs...)
		if _, err := other.c.ApplyFinal(other.st, h.head); err != nil {
			t.Fatal(err)
		}
		other.head = h.head
	}
	if a, b := dumpState(h.st), dumpState(other.st); a != b {
		t.Fatalf("the two chains' states differ:\n%s\n---\n%s", a, b)
	}
	e, _ := h.escrow("d")
	if e.Balance != 35-12-8 || len(e.Deposits) != 3 {
		t.Fatalf("%+v", e)
	}
	if !slices.IsSortedFunc(e.Deposits, func(x, y chain.EscrowDeposit) int { return strings.Compare(x.Payer.String(), y.Payer.String()) }) {
		t.Fatalf("deposits not sorted: %+v", e.Deposits)
	}
}

// TestQuitCampaignTakesNoCoins: coins sent with quitCampaign were kept
// by Campaign, which accounts for deposits only; they are refused.
func TestQuitCampaignTakesNoCoins(t *testing.T) {
	h := newHarness(t)
	if err := h.claim(30, 2); err != nil {
		t.Fatal(err)
	}
	h.failsWith(h.tx(30, chain.CampaignAddress, 7, callOf("quitCampaign", nil)), "Campaign.quitCampaign takes no coins")
	h.mustBlock(h.tx(30, chain.CampaignAddress, 0, callOf("quitCampaign", nil)))
}
