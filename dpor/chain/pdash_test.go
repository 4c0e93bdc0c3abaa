package chain_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// Roles in the PDash tests: buyer 30, seller 31, proxy 32, trent (the
// deployer) 20.
const (
	pdBuyer, pdSeller, pdProxy, pdTrent = 30, 31, 32, 20
)

var descHash = func() []byte { h := sha256.Sum256([]byte("hourly temperatures")); return h[:] }()

func proxyDeposit() *chain.Call { return callOf("proxyDeposit", nil) }

func placeOrder(seller, proxy chain.Address, price, fee, timeout uint64) *chain.Call {
	return callOf("placeOrder", chain.PlaceOrderArgs{DescHash: descHash, Seller: seller, Proxy: proxy, Price: price, ProxyFee: fee, TimeoutBlocks: timeout})
}

func onOrder(method string, id uint64) *chain.Call { return callOf(method, chain.OrderArgs{Order: id}) }

func delivered(id uint64) *chain.Call {
	h := sha256.Sum256([]byte(fmt.Sprint("delivery", id)))
	return callOf("proxyDelivered", chain.ProxyDeliveredArgs{Order: id, DeliverHash: h[:]})
}

func resolve(id uint64, refundBuyer bool) *chain.Call {
	return callOf("resolveDispute", chain.ResolveDisputeArgs{Order: id, RefundBuyer: refundBuyer})
}

func rate(id, rating uint64) *chain.Call {
	return callOf("rateProxy", chain.RateProxyArgs{Order: id, Rating: rating})
}

func (h *harness) order(id uint64) chain.Order {
	h.t.Helper()
	o, ok, err := h.state().OrderOf(id)
	if err != nil || !ok {
		h.t.Fatalf("order %d: %v %v", id, ok, err)
	}
	return o
}

func (h *harness) proxyRecord(a chain.Address) chain.ProxyRecord {
	h.t.Helper()
	r, _, err := h.state().ProxyOf(a)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) proxyInfo(a chain.Address) chain.ProxyInfo {
	h.t.Helper()
	pi, _, err := h.c.ProxyInfoOf(h.state(), a)
	if err != nil {
		h.t.Fatal(err)
	}
	return pi
}

// balances snapshots the balances of the PDash roles and the contract.
func (h *harness) balances() map[chain.Address]uint64 {
	out := map[chain.Address]uint64{}
	for _, a := range []chain.Address{addr(pdBuyer), addr(pdSeller), addr(pdProxy), addr(pdTrent), chain.PDashAddress} {
		out[a] = h.balance(a)
	}
	return out
}

// wantMoved checks each balance moved from before by exactly delta.
func (h *harness) wantMoved(before map[chain.Address]uint64, delta map[chain.Address]int64) {
	h.t.Helper()
	for a, b := range before {
		if got, want := h.balance(a), uint64(int64(b)+delta[a]); got != want {
			h.t.Errorf("%s: balance %d, want %d (moved %d)", a, got, want, delta[a])
		}
	}
}

// TestPDashHappyPath: deposit, order, confirm, delivery, confirmation,
// rating and withdrawal; every balance moves by exactly the amounts and
// the fees.
func TestPDashHappyPath(t *testing.T) {
	h := newHarness(t)
	buyer, seller, proxy := addr(pdBuyer), addr(pdSeller), addr(pdProxy)
	before := h.balances()
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 100, proxyDeposit()))
	if pi := h.proxyInfo(proxy); !pi.Registered || pi.Deposit != 100 || pi.Reputation != chain.ProxyRegisteredPoints {
		t.Fatalf("after the deposit: %+v", pi)
	}
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 1050, placeOrder(seller, proxy, 1000, 50, 20)))
	o := h.order(1)
	if o.State != chain.OrderCreated || o.Buyer != buyer || o.Placed != 2 || o.Deadline != 22 || o.Price != 1000 || o.ProxyFee != 50 {
		t.Fatalf("placed: %+v", o)
	}
	if r := h.proxyRecord(proxy); r.OpenOrders != 1 || r.Orders != 1 {
		t.Fatalf("proxy after the order: %+v", r)
	}
	h.mustBlock(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 1)))
	if h.order(1).State != chain.OrderSellerConfirmed {
		t.Fatalf("after sellerConfirm: %s", h.order(1).State)
	}
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 0, delivered(1)))
	if o := h.order(1); o.State != chain.OrderDelivered || o.Delivered != 4 || len(o.DeliverHash) != 32 {
		t.Fatalf("after delivery: %+v", o)
	}
	if h.balance(chain.PDashAddress) != 1150 {
		t.Fatalf("PDash holds %d, want 1150", h.balance(chain.PDashAddress))
	}
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerConfirm", 1)))
	if o := h.order(1); o.State != chain.OrderFinished || o.Closed != 5 {
		t.Fatalf("after buyerConfirm: %+v", o)
	}
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 0, rate(1, 4)))
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, rate(1, 5)), "order 1's proxy was already rated (4)")
	pi := h.proxyInfo(proxy)
	if pi.Finished != 1 || pi.OpenOrders != 0 || pi.Ratings != 1 || pi.RatingSum != 4 || pi.FinishedInWindow != 1 ||
		pi.Reputation != chain.ProxyRegisteredPoints+40 {
		t.Fatalf("proxy after the order: %+v", pi)
	}
	h.wantMoved(before, map[chain.Address]int64{
		buyer: -1050 - 4, seller: 1000 - 1, proxy: -100 + 50 - 2, chain.PDashAddress: 100, // the buyer: order, confirm, rating, refused rating
	})
	// The proxy takes its deposit back; it is no longer registered.
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 100})))
	if pi := h.proxyInfo(proxy); pi.Registered || pi.Deposit != 0 || pi.Reputation != 40 {
		t.Fatalf("after withdrawing: %+v", pi)
	}
	h.wantMoved(before, map[chain.Address]int64{buyer: -1050 - 4, seller: 1000 - 1, proxy: 50 - 3})
	// The JSON view names the state.
	b, _ := json.Marshal(h.order(1))
	if !strings.Contains(string(b), `"state":"Finished"`) || !strings.Contains(string(b), `"rating":4`) {
		t.Fatalf("order JSON %s", b)
	}
	var back chain.Order
	if err := json.Unmarshal(b, &back); err != nil || back.State != chain.OrderFinished {
		t.Fatalf("order JSON round trip: %+v, %v", back, err)
	}
}

// TestPDashDisputes: a dispute resolved for the buyer refunds it and
// counts against the proxy; one resolved against the buyer pays the
// seller and the proxy as a confirmation would.
func TestPDashDisputes(t *testing.T) {
	h := newHarness(t)
	buyer, seller, proxy := addr(pdBuyer), addr(pdSeller), addr(pdProxy)
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 150, proxyDeposit()))
	before := h.balances()
	// Two orders, each to delivery, in one block.
	h.mustBlock(
		h.tx(pdBuyer, chain.PDashAddress, 330, placeOrder(seller, proxy, 300, 30, 10)),
		h.tx(pdBuyer, chain.PDashAddress, 220, placeOrder(seller, proxy, 200, 20, 10)),
		h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 1)),
		h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 2)),
		h.tx(pdProxy, chain.PDashAddress, 0, delivered(1)),
		h.tx(pdProxy, chain.PDashAddress, 0, delivered(2)))
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerDispute", 1)), h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerDispute", 2)))
	for _, id := range []uint64{1, 2} {
		if s := h.order(id).State; s != chain.OrderDisputed {
			t.Fatalf("order %d is %s, want Disputed", id, s)
		}
	}
	// A disputed order can be neither confirmed nor withdrawn from.
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerConfirm", 1)), "order 1 is Disputed; it must be Delivered")
	h.failsWith(h.tx(pdProxy, chain.PDashAddress, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 1})), "has 2 open orders")
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, resolve(1, true)), "PDash.resolveDispute: only the deployer may call this")
	h.mustBlock(h.tx(pdTrent, chain.PDashAddress, 0, resolve(1, true)))
	h.mustBlock(h.tx(pdTrent, chain.PDashAddress, 0, resolve(2, false)))
	if o := h.order(1); o.State != chain.OrderRefunded {
		t.Fatalf("order 1 after the refund: %+v", o)
	}
	if o := h.order(2); o.State != chain.OrderFinished {
		t.Fatalf("order 2 resolved for the seller: %+v", o)
	}
	h.failsWith(h.tx(pdTrent, chain.PDashAddress, 0, resolve(2, true)), "order 2 is Finished; it must be Disputed")
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, rate(1, 1)), "order 1 is Refunded; it must be Finished")
	r := h.proxyRecord(proxy)
	if r.Finished != 1 || r.DisputesLost != 1 || r.OpenOrders != 0 || r.Orders != 2 {
		t.Fatalf("proxy record %+v", r)
	}
	// 10 + 1 × 30 (no rating yet) − 50: saturates at 0.
	if pi := h.proxyInfo(proxy); pi.Reputation != 0 || pi.DisputesLostInWindow != 1 {
		t.Fatalf("proxy info %+v", pi)
	}
	h.wantMoved(before, map[chain.Address]int64{
		buyer:  -330 - 220 + 330 - 7, // two orders, two disputes; a confirm, a resolution and a rating refused
		seller: 200 - 2, proxy: 20 - 3, chain.PDashAddress: 0, addr(pdTrent): -3,
	})
}

// TestPDashTimeouts: an order not delivered by its deadline is refunded
// to its buyer; a delivered order its buyer leaves alone is finished by
// its seller.
func TestPDashTimeouts(t *testing.T) {
	h := newHarness(t)
	buyer, seller, proxy := addr(pdBuyer), addr(pdSeller), addr(pdProxy)
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 100, proxyDeposit()))
	before := h.balances()
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 110, placeOrder(seller, proxy, 100, 10, 3)), // order 1: never confirmed
		h.tx(pdBuyer, chain.PDashAddress, 110, placeOrder(seller, proxy, 100, 10, 3)),  // order 2: confirmed, never delivered
		h.tx(pdBuyer, chain.PDashAddress, 110, placeOrder(seller, proxy, 100, 10, 10))) // order 3: delivered, never confirmed
	placed := h.head.Height
	h.mustBlock(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 2)), h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 3)))
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 0, delivered(3)))
	deliveredAt := h.head.Height
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 1)), fmt.Sprintf("order 1 may be delivered until block %d", placed+3))
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 3)), "order 3 is Delivered; it must be Created or SellerConfirmed")
	for h.head.Height < placed+3 {
		h.mustBlock()
	}
	// Past the deadline: no confirmation or delivery, and the buyer may
	// take its coins back.
	h.failsWith(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 1)), fmt.Sprintf("order 1 timed out after block %d", placed+3))
	h.failsWith(h.tx(pdProxy, chain.PDashAddress, 0, delivered(2)), fmt.Sprintf("order 2 timed out after block %d", placed+3))
	h.failsWith(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 1)), "is not order 1's buyer")
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 1)), h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 2)))
	for _, id := range []uint64{1, 2} {
		if o := h.order(id); o.State != chain.OrderTimedOut || o.Closed != h.head.Height {
			t.Fatalf("order %d: %+v", id, o)
		}
	}
	// Order 3: the buyer has TimeoutBlocks after delivery.
	for h.head.Height < deliveredAt+9 {
		h.mustBlock()
	}
	h.failsWith(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerClaimTimeout", 3)), fmt.Sprintf("order 3's buyer may confirm or dispute until block %d", deliveredAt+10))
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("sellerClaimTimeout", 3)), "is not order 3's seller")
	h.mustBlock(h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerClaimTimeout", 3)))
	if o := h.order(3); o.State != chain.OrderFinished {
		t.Fatalf("order 3: %+v", o)
	}
	if r := h.proxyRecord(proxy); r.OpenOrders != 0 || r.Finished != 1 || r.DisputesLost != 0 {
		t.Fatalf("proxy record %+v", r)
	}
	h.wantMoved(before, map[chain.Address]int64{
		buyer:  -330 + 220 - 3 - 2 - 2 - 1, // 3 orders, 2 refused claims, 2 claims, 1 refused seller claim
		seller: 100 - 2 - 2 - 1 - 1,        // 2 confirms, 1 refused confirm, 1 refused buyer claim, 1 refused early claim, 1 claim
		proxy:  10 - 1 - 1,                 // 1 delivery, 1 refused
	})
}

// TestPDashRefusals: every function refuses wrong callers, states and
// arguments with its reason, changing nothing but fees and nonces.
func TestPDashRefusals(t *testing.T) {
	h := newHarness(t)
	buyer, seller, proxy := addr(pdBuyer), addr(pdSeller), addr(pdProxy)
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 100, proxyDeposit()))
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(seller, proxy, 10, 1, 50))) // order 1: Created
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(seller, proxy, 10, 1, 50)), // order 2: Delivered
		h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 2)), h.tx(pdProxy, chain.PDashAddress, 0, delivered(2)))
	h.mustBlock(h.tx(pdSeller, chain.PDashAddress, 60, proxyDeposit())) // the seller deposits, below the minimum
	bad := sha256.Sum256(nil)
	before := h.balances()
	fees := map[chain.Address]int64{}
	for _, tc := range []struct {
		name   string
		from   int
		amount uint64
		call   *chain.Call
		want   string
	}{
		{"deposit: nothing", pdProxy, 0, proxyDeposit(), "no coins sent; the transaction's amount is the deposit"},
		{"deposit: arguments", pdProxy, 5, callOf("proxyDeposit", chain.OrderArgs{Order: 1}), "PDash.proxyDeposit takes no arguments"},
		{"withdraw: no deposit", pdBuyer, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 1}), "has no deposit"},
		{"withdraw: nothing", pdProxy, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 0}), "an amount of 0"},
		{"withdraw: open orders", pdProxy, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 1}), "has 2 open orders; it may withdraw once they end"},
		{"withdraw: too much", pdSeller, 0, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 61}), "has 60 deposited, cannot withdraw 61"},
		{"withdraw: coins", pdSeller, 1, callOf("proxyWithdraw", chain.ProxyWithdrawArgs{Amount: 1}), "PDash.proxyWithdraw takes no coins"},
		{"place: amount", pdBuyer, 10, placeOrder(seller, proxy, 10, 1, 5), "sent 10; the order needs price + proxy fee = 11"},
		{"place: free", pdBuyer, 1, placeOrder(seller, proxy, 0, 1, 5), "a price of 0"},
		{"place: overflow", pdBuyer, 1, placeOrder(seller, proxy, ^uint64(0), 1, 5), "overflows"},
		{"place: desc hash", pdBuyer, 11, callOf("placeOrder", chain.PlaceOrderArgs{DescHash: bad[:31], Seller: seller, Proxy: proxy, Price: 10, ProxyFee: 1, TimeoutBlocks: 5}), "a description hash of 31 bytes; want 32"},
		{"place: zero seller", pdBuyer, 11, placeOrder(chain.Address{}, proxy, 10, 1, 5), "the zero address can be neither seller nor proxy"},
		{"place: system proxy", pdBuyer, 11, placeOrder(seller, chain.PDashAddress, 10, 1, 5), "a system contract can be neither seller nor proxy"},
		{"place: own seller", pdBuyer, 11, placeOrder(buyer, proxy, 10, 1, 5), "cannot buy from itself"},
		{"place: own proxy", pdBuyer, 11, placeOrder(seller, buyer, 10, 1, 5), "the proxy must be neither the buyer nor the seller"},
		{"place: seller as proxy", pdBuyer, 11, placeOrder(seller, seller, 10, 1, 5), "the proxy must be neither the buyer nor the seller"},
		{"place: no timeout", pdBuyer, 11, placeOrder(seller, proxy, 10, 1, 0), "a timeout of 0 blocks; want 1 to 100000"},
		{"place: long timeout", pdBuyer, 11, placeOrder(seller, proxy, 10, 1, chain.MaxOrderTimeout+1), "a timeout of 100001 blocks"},
		{"place: unregistered proxy", pdBuyer, 11, placeOrder(addr(40), seller, 10, 1, 5), "has deposited 60 as a proxy; a proxy needs 100"},
		{"place: never a proxy", pdBuyer, 11, placeOrder(seller, addr(41), 10, 1, 5), "has deposited 0 as a proxy; a proxy needs 100"},
		{"place: bad arguments", pdBuyer, 11, callOf("placeOrder", chain.Marshal([]int{1})), "placeOrder arguments"},
		{"confirm: no order", pdSeller, 0, onOrder("sellerConfirm", 9), "PDash.sellerConfirm: no order 9"},
		{"confirm: not the seller", pdBuyer, 0, onOrder("sellerConfirm", 1), "is not order 1's seller"},
		{"confirm: wrong state", pdSeller, 0, onOrder("sellerConfirm", 2), "order 2 is Delivered; it must be Created"},
		{"confirm: coins", pdSeller, 1, onOrder("sellerConfirm", 1), "PDash.sellerConfirm takes no coins"},
		{"deliver: not the proxy", pdSeller, 0, delivered(1), "is not order 1's proxy"},
		{"deliver: wrong state", pdProxy, 0, delivered(1), "order 1 is Created; it must be SellerConfirmed"},
		{"deliver: bad hash", pdProxy, 0, callOf("proxyDelivered", chain.ProxyDeliveredArgs{Order: 2, DeliverHash: []byte{1}}), "order 2 is Delivered"},
		{"buyer confirm: not the buyer", pdSeller, 0, onOrder("buyerConfirm", 2), "is not order 2's buyer"},
		{"buyer confirm: wrong state", pdBuyer, 0, onOrder("buyerConfirm", 1), "order 1 is Created; it must be Delivered"},
		{"dispute: not the buyer", pdProxy, 0, onOrder("buyerDispute", 2), "is not order 2's buyer"},
		{"dispute: wrong state", pdBuyer, 0, onOrder("buyerDispute", 1), "order 1 is Created; it must be Delivered"},
		{"resolve: not trent", pdSeller, 0, resolve(2, false), "only the deployer may call this"},
		{"resolve: not disputed", pdTrent, 0, resolve(2, false), "order 2 is Delivered; it must be Disputed"},
		{"resolve: no order", pdTrent, 0, resolve(0, false), "no order 0"},
		{"claim: wrong state", pdBuyer, 0, onOrder("buyerClaimTimeout", 2), "order 2 is Delivered; it must be Created or SellerConfirmed"},
		{"seller claim: wrong state", pdSeller, 0, onOrder("sellerClaimTimeout", 1), "order 1 is Created; it must be Delivered"},
		{"rate: not finished", pdBuyer, 0, rate(2, 3), "order 2 is Delivered; it must be Finished"},
		{"rate: not the buyer", pdProxy, 0, rate(2, 5), "is not order 2's buyer"},
		{"min deposit: not trent", pdBuyer, 0, callOf("updateProxyMinDeposit", chain.UpdateArgs{Value: 5}), "PDash.updateProxyMinDeposit: only the deployer may call this"},
		{"min deposit: zero", pdTrent, 0, callOf("updateProxyMinDeposit", chain.UpdateArgs{Value: 0}), "a proxy must deposit at least 1"},
		{"unknown function", pdBuyer, 0, callOf("orderOf", chain.OrderArgs{Order: 1}), `PDash has no function "orderOf"`},
		{"a transfer", pdBuyer, 5, nil, "a transfer to the PDash contract needs a call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.failsWith(h.tx(tc.from, chain.PDashAddress, tc.amount, tc.call), tc.want)
			fees[addr(tc.from)]--
		})
	}
	h.t = t
	h.wantMoved(before, fees)
	for _, id := range []uint64{1, 2} {
		if o := h.order(id); o.State != map[uint64]chain.OrderState{1: chain.OrderCreated, 2: chain.OrderDelivered}[id] {
			t.Errorf("order %d is %s after refused calls", id, o.State)
		}
	}
	if _, ok, _ := h.state().OrderOf(3); ok {
		t.Fatal("a refused placeOrder made an order")
	}
	if r := h.proxyRecord(proxy); r.OpenOrders != 2 || r.Deposit != 100 {
		t.Fatalf("proxy record %+v", r)
	}
	// Rating bounds, on a finished order.
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerConfirm", 2)))
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, rate(2, 0)), "a rating of 0; want 1 to 5")
	h.failsWith(h.tx(pdBuyer, chain.PDashAddress, 0, rate(2, 6)), "a rating of 6; want 1 to 5")
	// The deployer lowers the minimum: the 60 deposited now registers.
	h.mustBlock(h.tx(pdTrent, chain.PDashAddress, 0, callOf("updateProxyMinDeposit", chain.UpdateArgs{Value: 50})))
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(addr(40), seller, 10, 1, 5)))
	if p, _ := h.state().Params(); chain.ProxyMinDepositOf(&p) != 50 {
		t.Fatalf("min deposit %d", chain.ProxyMinDepositOf(&p))
	}
}

// TestProxyReputation: RPT's PR follows the documented formula: 10 for
// a registered proxy, plus each finished order in the window times the
// average rating (×10, 30 unrated), minus 50 a dispute lost in the
// window; the window forgets old orders.
func TestProxyReputation(t *testing.T) {
	h := newHarness(t) // Window 8
	seller, proxy, other := addr(pdSeller), addr(pdProxy), addr(pdTrent)
	full := func(n uint64) []*chain.Tx { // one order, placed to finished, in one block
		return []*chain.Tx{h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(seller, proxy, 10, 1, 5)),
			h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", n)), h.tx(pdProxy, chain.PDashAddress, 0, delivered(n)),
			h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerConfirm", n))}
	}
	pr := func() (uint64, uint64) {
		t.Helper()
		p, _ := h.state().Params()
		rs, err := h.c.RPTs(h.state(), &p, h.head.Height+1, []chain.Address{proxy, other})
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Raw.PR, rs[1].Raw.PR
	}
	if a, b := pr(); a != 0 || b != 0 {
		t.Fatalf("before any deposit: %d, %d", a, b)
	}
	h.mustBlock(h.tx(pdProxy, chain.PDashAddress, 100, proxyDeposit()), h.tx(pdTrent, chain.PDashAddress, 99, proxyDeposit()))
	if a, b := pr(); a != 10 || b != 0 {
		t.Fatalf("registered vs under the minimum: %d, %d; want 10, 0", a, b)
	}
	h.mustBlock(full(1)...)
	first := h.head.Height
	if a, _ := pr(); a != 10+30 {
		t.Fatalf("one unrated order: %d, want 40", a)
	}
	h.mustBlock(append(full(2), h.tx(pdBuyer, chain.PDashAddress, 0, rate(1, 5)), h.tx(pdBuyer, chain.PDashAddress, 0, rate(2, 2)))...)
	if a, _ := pr(); a != 10+2*35 {
		t.Fatalf("two orders rated 5 and 2: %d, want 80", a)
	}
	// A dispute lost: −50.
	h.mustBlock(h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(seller, proxy, 10, 1, 5)),
		h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 3)), h.tx(pdProxy, chain.PDashAddress, 0, delivered(3)),
		h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerDispute", 3)), h.tx(pdTrent, chain.PDashAddress, 0, resolve(3, true)))
	lost := h.head.Height
	if a, _ := pr(); a != 80-50 {
		t.Fatalf("after a dispute lost: %d, want 30", a)
	}
	// The window (height−8, height] moves on: order 1 counts until
	// height first+7, order 2 and the dispute later; the ratings stay.
	for h.head.Height+1 < first+7 {
		h.mustBlock()
	}
	if a, _ := pr(); a != 30 {
		t.Fatalf("order 1 at the window's edge: %d, want 30", a)
	}
	h.mustBlock()
	if a, _ := pr(); a != 0 {
		t.Fatalf("order 1 out of the window: %d, want 10 + 35 − 50, at least 0", a)
	}
	for h.head.Height+1 < lost+8 {
		h.mustBlock()
	}
	if a, _ := pr(); a != 10 {
		t.Fatalf("all out of the window: %d, want 10", a)
	}
	pi := h.proxyInfo(proxy)
	if pi.Reputation != 10 || pi.FinishedInWindow != 0 || pi.Finished != 2 || pi.DisputesLost != 1 {
		t.Fatalf("proxy info %+v", pi)
	}
}

// TestPDashIsDeterministic: a second chain applying the same blocks
// (lifecycles, failures, a checkpoint's election that reads PR) reaches
// byte-identical state.
func TestPDashIsDeterministic(t *testing.T) {
	h := newHarness(t)
	other := newHarness(t)
	seller, proxy := addr(pdSeller), addr(pdProxy)
	steps := [][]*chain.Tx{
		{h.tx(pdProxy, chain.PDashAddress, 100, proxyDeposit())},
		{h.tx(pdBuyer, chain.PDashAddress, 11, placeOrder(seller, proxy, 10, 1, 3)), h.tx(pdBuyer, chain.PDashAddress, 22, placeOrder(seller, proxy, 20, 2, 3))},
		{h.tx(pdSeller, chain.PDashAddress, 0, onOrder("sellerConfirm", 1)), h.tx(pdProxy, chain.PDashAddress, 0, delivered(1)), h.tx(pdProxy, chain.PDashAddress, 0, delivered(2))},
		{h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerConfirm", 1)), h.tx(pdBuyer, chain.PDashAddress, 0, rate(1, 3))},
		{}, {},
		{h.tx(pdBuyer, chain.PDashAddress, 0, onOrder("buyerClaimTimeout", 2))},
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
	if h.order(2).State != chain.OrderTimedOut || h.order(1).Rating != 3 {
		t.Fatalf("orders %+v %+v", h.order(1), h.order(2))
	}
}

// claimTx is a claimCampaign transaction of who for terms, with its
// admission proofs over the head block.
func (h *harness) claimTx(who int, terms uint64) *chain.Tx {
	st := h.state()
	p, _ := st.Params()
	rec, _, _ := st.Block(h.head.Height)
	a := chain.ClaimCampaignArgs{Terms: terms, CPUBlock: h.head.Height, MemBlock: h.head.Height,
		CPUNonce: chain.SolveProof(addr(who), rec.Hash, p.CPUDifficulty, false),
		MemNonce: chain.SolveProof(addr(who), rec.Hash, p.MemoryDifficulty, true)}
	return h.tx(who, chain.CampaignAddress, p.BaseDeposit*terms, callOf("claimCampaign", a))
}

// TestRPTRewardsUploadsAndProxyService: over eight terms, three
// candidates campaign; one of them (active) records an upload and serves
// a PDash order as its proxy every term, the other two do neither. At
// every checkpoint active has the higher DC and PR scores and the
// higher reputation, and it is elected at least as often as each of the
// others.
//
// The deployer first sets the weights of account balance and
// transactions to 0: the candidates' balances and transaction counts
// differ by the very activity under test (deposits, fees, proxy fees),
// and the ranking is to show what data contribution and proxy service
// earn. The election draws by RPT from all the eligible (no low-RPT
// partition), so being elected follows the reputation.
func TestRPTRewardsUploadsAndProxyService(t *testing.T) {
	g := testGenesis()
	g.Params.LowRPTPercent, g.Params.LowRPTSeats = 0, 0
	buyer, seller := 33, 34
	g.Balances[addr(buyer)], g.Balances[addr(seller)] = 100_000, 100_000
	h := newHarnessWith(t, g)
	active, idle1, idle2 := 30, 31, 32
	cands := []chain.Address{addr(active), addr(idle1), addr(idle2)}
	termLen := h.c.G.TermLen()
	h.mustBlock(h.tx(pdTrent, chain.RPTAddress, 0, callOf("updateAlpha", chain.UpdateArgs{Value: 0})),
		h.tx(pdTrent, chain.RPTAddress, 0, callOf("updateBeta", chain.UpdateArgs{Value: 0})),
		h.tx(active, chain.PDashAddress, 100, proxyDeposit()))
	elected := map[chain.Address]int{}
	var order uint64
	const terms = 8
	for term := uint64(0); term < terms; term++ {
		// Every third term (a claim covers at most MaxTerms = 3), the
		// three claim the next three.
		if term%3 == 0 {
			h.mustBlock(h.claimTx(active, 3), h.claimTx(idle1, 3), h.claimTx(idle2, 3))
		}
		// active uploads and serves an order, rated 4 or 5.
		order++
		h.mustBlock(h.tx(active, chain.RegisterAddress, 0, claimUpload(fmt.Sprint("data-", term), 1000)),
			h.tx(buyer, chain.PDashAddress, 105, placeOrder(addr(seller), addr(active), 100, 5, 10)),
			h.tx(seller, chain.PDashAddress, 0, onOrder("sellerConfirm", order)),
			h.tx(active, chain.PDashAddress, 0, delivered(order)),
			h.tx(buyer, chain.PDashAddress, 0, onOrder("buyerConfirm", order)),
			h.tx(buyer, chain.PDashAddress, 0, rate(order, 4+order%2)))
		for h.head.Height < (term+1)*termLen {
			h.mustBlock()
		}
		// The checkpoint elected term+1 from these RPTs.
		p, _ := h.state().Params()
		rs, err := h.c.RPTs(h.state(), &p, h.head.Height, cands)
		if err != nil {
			t.Fatal(err)
		}
		a, i1, i2 := rs[0], rs[1], rs[2]
		if a.Raw.DC < 1 || a.Raw.PR <= chain.ProxyRegisteredPoints || i1.Raw.DC != 0 || i1.Raw.PR != 0 {
			t.Fatalf("term %d: raw active %+v, idle %+v", term, a.Raw, i1.Raw)
		}
		for _, i := range []chain.RPT{i1, i2} {
			if a.DC <= i.DC || a.PR <= i.PR || a.Value <= i.Value {
				t.Fatalf("term %d: active DC %d PR %d RPT %d; idle DC %d PR %d RPT %d", term, a.DC, a.PR, a.Value, i.DC, i.PR, i.Value)
			}
		}
		ps, err := h.state().ProposersOf(term + 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ps {
			elected[x]++
		}
		t.Logf("term %d: RPT active %d, idle %d and %d; term %d's proposers %v", term, a.Value, i1.Value, i2.Value, term+1, ps)
	}
	na, n1, n2 := elected[addr(active)], elected[addr(idle1)], elected[addr(idle2)]
	t.Logf("elected in %d terms: active %d, idle %d and %d", terms, na, n1, n2)
	if na < n1 || na < n2 || na == 0 {
		t.Fatalf("elected in %d terms: active %d, idle %d and %d", terms, na, n1, n2)
	}
	if pi := h.proxyInfo(addr(active)); pi.Finished != terms || pi.Ratings != terms {
		t.Fatalf("active as a proxy: %+v", pi)
	}
}
