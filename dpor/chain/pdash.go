package chain

import (
	"fmt"
)

// PDash (PDashAddress) is the data market of CPChain's PDash contract,
// simplified: a buyer orders data from a seller through a proxy, which
// fetches and delivers it; the buyer's payment (price and proxy fee) is
// held by the contract until the order ends. Heights stand for times
// (an order's timeout is a number of blocks). What proxies do here is
// what RPT's proxy reputation measures.
//
// An order goes Created (placeOrder) → SellerConfirmed (sellerConfirm)
// → Delivered (proxyDelivered) → Finished (buyerConfirm: the seller gets
// the price, the proxy the fee). From Delivered the buyer may dispute
// instead (Disputed); the deployer ("trent") resolves it, refunding the
// buyer (Refunded, a dispute the proxy lost) or paying as if the buyer
// had confirmed (Finished). An order not delivered by its deadline may
// be refunded to the buyer (TimedOut); a delivered order its buyer
// neither confirms nor disputes for TimeoutBlocks may be finished by its
// seller. The buyer rates the proxy of a finished order once, 1 to 5.
//
// A proxy deposits at least Params.ProxyMinDeposit to be chosen for new
// orders, and withdraws only while no order through it is open.

// OrderState is where an order is in its life.
type OrderState uint8

// The states of an order.
const (
	OrderCreated OrderState = iota + 1
	OrderSellerConfirmed
	OrderDelivered
	OrderFinished
	OrderDisputed
	OrderRefunded
	OrderTimedOut
)

var orderStateNames = map[OrderState]string{
	OrderCreated: "Created", OrderSellerConfirmed: "SellerConfirmed", OrderDelivered: "Delivered",
	OrderFinished: "Finished", OrderDisputed: "Disputed", OrderRefunded: "Refunded", OrderTimedOut: "TimedOut",
}

// String is the state's name.
func (o OrderState) String() string {
	if n, ok := orderStateNames[o]; ok {
		return n
	}
	return fmt.Sprintf("OrderState(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler: JSON shows the name.
func (o OrderState) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *OrderState) UnmarshalText(b []byte) error {
	for s, n := range orderStateNames {
		if n == string(b) {
			*o = s
			return nil
		}
	}
	return fmt.Errorf("order state %q: unknown", b)
}

// Order is one PDash order.
type Order struct {
	ID uint64 `cbor:"1,keyasint" json:"id"`
	// DescHash is the SHA-256 of the data's description.
	DescHash HexBytes `cbor:"2,keyasint" json:"desc_hash"`
	Buyer    Address  `cbor:"3,keyasint" json:"buyer"`
	Seller   Address  `cbor:"4,keyasint" json:"seller"`
	Proxy    Address  `cbor:"5,keyasint" json:"proxy"`
	Price    uint64   `cbor:"6,keyasint" json:"price"`
	ProxyFee uint64   `cbor:"7,keyasint" json:"proxy_fee"`
	// TimeoutBlocks is how long the seller and the proxy have to deliver
	// after the order is placed, and the buyer to confirm or dispute
	// after delivery.
	TimeoutBlocks uint64 `cbor:"8,keyasint" json:"timeout_blocks"`
	// Placed is the height of the block that placed it; Deadline is
	// Placed + TimeoutBlocks, the last block it may be delivered in.
	Placed   uint64     `cbor:"9,keyasint" json:"placed"`
	Deadline uint64     `cbor:"10,keyasint" json:"deadline"`
	State    OrderState `cbor:"11,keyasint" json:"state"`
	// DeliverHash is the SHA-256 of what the proxy delivered, and
	// Delivered the height it did.
	DeliverHash HexBytes `cbor:"12,keyasint,omitempty" json:"deliver_hash,omitempty"`
	Delivered   uint64   `cbor:"13,keyasint,omitempty" json:"delivered,omitempty"`
	// Closed is the height at which it reached its final state.
	Closed uint64 `cbor:"14,keyasint,omitempty" json:"closed,omitempty"`
	// Rating is the buyer's rating of the proxy (1 to 5); 0 until rated.
	Rating uint64 `cbor:"15,keyasint,omitempty" json:"rating,omitempty"`
}

// ProxyRecord is what PDash keeps about a proxy.
type ProxyRecord struct {
	// Deposit is what it holds in PDash.
	Deposit uint64 `cbor:"1,keyasint" json:"deposit"`
	// OpenOrders are the orders through it not yet ended; Orders all
	// orders placed through it.
	OpenOrders uint64 `cbor:"2,keyasint" json:"open_orders"`
	Orders     uint64 `cbor:"3,keyasint" json:"orders"`
	// Finished counts its orders that finished (the seller paid), and
	// DisputesLost those whose dispute was resolved for the buyer.
	Finished     uint64 `cbor:"4,keyasint" json:"finished"`
	DisputesLost uint64 `cbor:"5,keyasint" json:"disputes_lost"`
	// Ratings counts the ratings buyers gave it, RatingSum adds them up.
	Ratings   uint64 `cbor:"6,keyasint" json:"ratings"`
	RatingSum uint64 `cbor:"7,keyasint" json:"rating_sum"`
}

// ProxyInfo is PDash's proxyOf view: a proxy's record, whether it may
// take new orders, and its proxy reputation (RPT's PR raw value) with
// what it was computed from, at the next block.
type ProxyInfo struct {
	Address Address `json:"address"`
	ProxyRecord
	// Registered: its deposit is at least the minimum.
	Registered bool `json:"registered"`
	// FinishedInWindow and DisputesLostInWindow count what happened in
	// RPT's window.
	FinishedInWindow     uint64 `json:"finished_in_window"`
	DisputesLostInWindow uint64 `json:"disputes_lost_in_window"`
	Reputation           uint64 `json:"reputation"`
}

// PDashParams are PDash's parameters, as its params view shows them.
type PDashParams struct {
	ProxyMinDeposit uint64 `json:"proxy_min_deposit"`
	MaxOrderTimeout uint64 `json:"max_order_timeout"`
}

// PDash's arguments.
type (
	// ProxyWithdrawArgs are proxyWithdraw's: the amount to take back.
	ProxyWithdrawArgs struct {
		Amount uint64 `cbor:"1,keyasint" json:"amount"`
	}
	// PlaceOrderArgs are placeOrder's. The transaction's amount must be
	// Price + ProxyFee.
	PlaceOrderArgs struct {
		DescHash      HexBytes `cbor:"1,keyasint" json:"desc_hash"`
		Seller        Address  `cbor:"2,keyasint" json:"seller"`
		Proxy         Address  `cbor:"3,keyasint" json:"proxy"`
		Price         uint64   `cbor:"4,keyasint" json:"price"`
		ProxyFee      uint64   `cbor:"5,keyasint" json:"proxy_fee"`
		TimeoutBlocks uint64   `cbor:"6,keyasint" json:"timeout_blocks"`
	}
	// OrderArgs name an order: the arguments of sellerConfirm,
	// buyerConfirm, buyerDispute, buyerClaimTimeout and
	// sellerClaimTimeout.
	OrderArgs struct {
		Order uint64 `cbor:"1,keyasint" json:"order"`
	}
	// ProxyDeliveredArgs are proxyDelivered's: the order and the SHA-256
	// of what was delivered.
	ProxyDeliveredArgs struct {
		Order       uint64   `cbor:"1,keyasint" json:"order"`
		DeliverHash HexBytes `cbor:"2,keyasint" json:"deliver_hash"`
	}
	// ResolveDisputeArgs are resolveDispute's: the order, and whether the
	// buyer is refunded (else the seller and the proxy are paid).
	ResolveDisputeArgs struct {
		Order       uint64 `cbor:"1,keyasint" json:"order"`
		RefundBuyer bool   `cbor:"2,keyasint" json:"refund_buyer"`
	}
	// RateProxyArgs are rateProxy's: the order and a rating, 1 to 5.
	RateProxyArgs struct {
		Order  uint64 `cbor:"1,keyasint" json:"order"`
		Rating uint64 `cbor:"2,keyasint" json:"rating"`
	}
)

// PDash's bounds and defaults.
const (
	// DefaultProxyMinDeposit is the least deposit of a proxy when
	// Params.ProxyMinDeposit is 0.
	DefaultProxyMinDeposit = 100
	// MaxOrderTimeout bounds an order's TimeoutBlocks.
	MaxOrderTimeout = 100_000
	// DescHashSize is the size of an order's description hash and
	// delivery hash (a SHA-256).
	DescHashSize = 32
)

// ProxyMinDepositOf is the least deposit a proxy needs under p.
func ProxyMinDepositOf(p *Params) uint64 {
	if p.ProxyMinDeposit == 0 {
		return DefaultProxyMinDeposit
	}
	return p.ProxyMinDeposit
}

// OrderOf returns a PDash order; false when there is none with that id.
func (s *State) OrderOf(id uint64) (Order, bool, error) {
	var o Order
	ok, err := s.get(key(prefixOrder, id), &o)
	return o, ok, err
}

// ProxyOf returns PDash's record of a proxy; false when it never
// deposited.
func (s *State) ProxyOf(a Address) (ProxyRecord, bool, error) {
	var r ProxyRecord
	ok, err := s.get(key(prefixPxRec, a), &r)
	return r, ok, err
}

// ProxyInfoOf is PDash's proxyOf view at the state's next block; false
// when a never deposited.
func (c *Chain) ProxyInfoOf(s *State, a Address) (ProxyInfo, bool, error) {
	r, ok, err := s.ProxyOf(a)
	if err != nil || !ok {
		return ProxyInfo{}, ok, err
	}
	p, err := s.Params()
	if err != nil {
		return ProxyInfo{}, false, err
	}
	h, err := s.Height()
	if err != nil {
		return ProxyInfo{}, false, err
	}
	f, l, pr, err := proxyScore(s, &p, h+1, a)
	if err != nil {
		return ProxyInfo{}, false, err
	}
	return ProxyInfo{Address: a, ProxyRecord: r, Registered: r.Deposit >= ProxyMinDepositOf(&p),
		FinishedInWindow: f, DisputesLostInWindow: l, Reputation: pr}, true, nil
}

// pdashCall runs one of PDash's functions for tx (whose amount the
// contract already holds).
func (c *Chain) pdashCall(s *State, p *Params, height uint64, tx *Tx) error {
	who := tx.Sender()
	m := tx.Call.Method
	fn := "PDash." + m
	decode := func(v any) error {
		if err := Unmarshal(tx.Call.Args, v); err != nil {
			return txErr("%s arguments: %v", m, err)
		}
		return nil
	}
	switch m {
	case "proxyDeposit":
		if a := tx.Call.Args; len(a) != 0 && string(a) != "\xf6" && string(a) != "\xa0" {
			return txErr("%s takes no arguments", fn) // none, null or {}
		}
		return proxyDeposit(s, fn, who, tx.Amount)
	case "proxyWithdraw":
		var a ProxyWithdrawArgs
		if err := decode(&a); err != nil {
			return err
		}
		return proxyWithdraw(s, fn, who, a.Amount)
	case "placeOrder":
		var a PlaceOrderArgs
		if err := decode(&a); err != nil {
			return err
		}
		return placeOrder(s, p, fn, height, who, tx.Amount, a)
	case "proxyDelivered":
		var a ProxyDeliveredArgs
		if err := decode(&a); err != nil {
			return err
		}
		return orderStep(s, fn, height, who, a.Order, func(o *Order) error {
			if err := o.must(fn, who, "proxy", o.Proxy, OrderSellerConfirmed); err != nil {
				return err
			}
			if err := o.inTime(fn, height); err != nil {
				return err
			}
			if len(a.DeliverHash) != DescHashSize {
				return txErr("%s: a deliver hash of %d bytes; want %d", fn, len(a.DeliverHash), DescHashSize)
			}
			o.State, o.DeliverHash, o.Delivered = OrderDelivered, a.DeliverHash, height
			return nil
		})
	case "resolveDispute":
		var a ResolveDisputeArgs
		if err := decode(&a); err != nil {
			return err
		}
		return orderStep(s, fn, height, who, a.Order, func(o *Order) error {
			if o.State != OrderDisputed {
				return txErr("%s: order %d is %s; it must be Disputed", fn, o.ID, o.State)
			}
			if a.RefundBuyer {
				return endOrder(s, height, o, OrderRefunded)
			}
			return endOrder(s, height, o, OrderFinished)
		})
	case "rateProxy":
		var a RateProxyArgs
		if err := decode(&a); err != nil {
			return err
		}
		return orderStep(s, fn, height, who, a.Order, func(o *Order) error {
			if err := o.must(fn, who, "buyer", o.Buyer, OrderFinished); err != nil {
				return err
			}
			switch {
			case o.Rating != 0:
				return txErr("%s: order %d's proxy was already rated (%d)", fn, o.ID, o.Rating)
			case a.Rating < 1 || a.Rating > 5:
				return txErr("%s: a rating of %d; want 1 to 5", fn, a.Rating)
			}
			o.Rating = a.Rating
			r, _, err := s.ProxyOf(o.Proxy)
			if err != nil {
				return err
			}
			r.Ratings++
			r.RatingSum += a.Rating
			return s.put(key(prefixPxRec, o.Proxy), r)
		})
	case "updateProxyMinDeposit":
		var a UpdateArgs
		if err := decode(&a); err != nil {
			return err
		}
		if a.Value < 1 {
			return txErr("%s: 0; a proxy must deposit at least 1", fn)
		}
		p.ProxyMinDeposit = a.Value
		return nil
	}
	// The rest name an order and nothing else.
	var a OrderArgs
	if err := decode(&a); err != nil {
		return err
	}
	return orderStep(s, fn, height, who, a.Order, func(o *Order) error {
		switch m {
		case "sellerConfirm":
			if err := o.must(fn, who, "seller", o.Seller, OrderCreated); err != nil {
				return err
			}
			if err := o.inTime(fn, height); err != nil {
				return err
			}
			o.State = OrderSellerConfirmed
			return nil
		case "buyerConfirm":
			if err := o.must(fn, who, "buyer", o.Buyer, OrderDelivered); err != nil {
				return err
			}
			return endOrder(s, height, o, OrderFinished)
		case "buyerDispute":
			if err := o.must(fn, who, "buyer", o.Buyer, OrderDelivered); err != nil {
				return err
			}
			o.State = OrderDisputed
			return nil
		case "buyerClaimTimeout":
			if who != o.Buyer {
				return txErr("%s: %s is not order %d's buyer", fn, who, o.ID)
			}
			if o.State != OrderCreated && o.State != OrderSellerConfirmed {
				return txErr("%s: order %d is %s; it must be Created or SellerConfirmed", fn, o.ID, o.State)
			}
			if height <= o.Deadline {
				return txErr("%s: order %d may be delivered until block %d", fn, o.ID, o.Deadline)
			}
			return endOrder(s, height, o, OrderTimedOut)
		case "sellerClaimTimeout":
			if err := o.must(fn, who, "seller", o.Seller, OrderDelivered); err != nil {
				return err
			}
			if end := o.Delivered + o.TimeoutBlocks; height <= end {
				return txErr("%s: order %d's buyer may confirm or dispute until block %d", fn, o.ID, end)
			}
			return endOrder(s, height, o, OrderFinished)
		}
		return txErr("PDash has no function %q", m)
	})
}

// must checks the caller's role and the order's state for a step.
func (o *Order) must(fn string, who Address, role string, want Address, state OrderState) error {
	if who != want {
		return txErr("%s: %s is not order %d's %s", fn, who, o.ID, role)
	}
	if o.State != state {
		return txErr("%s: order %d is %s; it must be %s", fn, o.ID, o.State, state)
	}
	return nil
}

// inTime refuses a step toward delivery after the order's deadline.
func (o *Order) inTime(fn string, height uint64) error {
	if height > o.Deadline {
		return txErr("%s: order %d timed out after block %d", fn, o.ID, o.Deadline)
	}
	return nil
}

// orderStep reads an order, applies step to it and stores it.
func orderStep(s *State, fn string, height uint64, who Address, id uint64, step func(*Order) error) error {
	o, ok, err := s.OrderOf(id)
	if err != nil {
		return err
	}
	if !ok {
		return txErr("%s: no order %d", fn, id)
	}
	if err := step(&o); err != nil {
		return err
	}
	return s.put(key(prefixOrder, id), o)
}

// endOrder ends an open order: Finished pays the seller the price and
// the proxy its fee; Refunded and TimedOut return both to the buyer. The
// proxy's record counts a finished order, or a dispute lost (Refunded),
// at this height.
func endOrder(s *State, height uint64, o *Order, state OrderState) error {
	r, _, err := s.ProxyOf(o.Proxy)
	if err != nil {
		return err
	}
	r.OpenOrders -= min(r.OpenOrders, 1)
	switch state {
	case OrderFinished:
		if err := s.put(key(prefixPxFin, o.Proxy, r.Finished), height); err != nil {
			return err
		}
		r.Finished++
		if err := payFrom(s, PDashAddress, o.Seller, o.Price); err != nil {
			return err
		}
		if err := payFrom(s, PDashAddress, o.Proxy, o.ProxyFee); err != nil {
			return err
		}
	case OrderRefunded, OrderTimedOut:
		if state == OrderRefunded {
			if err := s.put(key(prefixPxLost, o.Proxy, r.DisputesLost), height); err != nil {
				return err
			}
			r.DisputesLost++
		}
		if err := payFrom(s, PDashAddress, o.Buyer, o.Price+o.ProxyFee); err != nil {
			return err
		}
	}
	o.State, o.Closed = state, height
	return s.put(key(prefixPxRec, o.Proxy), r)
}

func proxyDeposit(s *State, fn string, who Address, amount uint64) error {
	if amount == 0 {
		return txErr("%s: no coins sent; the transaction's amount is the deposit", fn)
	}
	r, _, err := s.ProxyOf(who)
	if err != nil {
		return err
	}
	// PDash's balance, which holds every deposit, took the amount
	// without overflowing: no one deposit can.
	r.Deposit += amount
	return s.put(key(prefixPxRec, who), r)
}

func proxyWithdraw(s *State, fn string, who Address, amount uint64) error {
	r, ok, err := s.ProxyOf(who)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		return txErr("%s: %s has no deposit", fn, who)
	case amount == 0:
		return txErr("%s: an amount of 0; want at least 1", fn)
	case r.OpenOrders > 0:
		return txErr("%s: %s has %d open orders; it may withdraw once they end", fn, who, r.OpenOrders)
	case amount > r.Deposit:
		return txErr("%s: %s has %d deposited, cannot withdraw %d", fn, who, r.Deposit, amount)
	}
	r.Deposit -= amount
	if err := s.put(key(prefixPxRec, who), r); err != nil {
		return err
	}
	return payFrom(s, PDashAddress, who, amount)
}

func placeOrder(s *State, p *Params, fn string, height uint64, who Address, amount uint64, a PlaceOrderArgs) error {
	total, ok := add(a.Price, a.ProxyFee)
	switch {
	case !ok:
		return txErr("%s: price %d plus proxy fee %d overflows", fn, a.Price, a.ProxyFee)
	case a.Price == 0:
		return txErr("%s: a price of 0; want at least 1", fn)
	case amount != total:
		return txErr("%s: sent %d; the order needs price + proxy fee = %d", fn, amount, total)
	case len(a.DescHash) != DescHashSize:
		return txErr("%s: a description hash of %d bytes; want %d", fn, len(a.DescHash), DescHashSize)
	case a.Seller == Address{} || a.Proxy == Address{}:
		return txErr("%s: the zero address can be neither seller nor proxy", fn)
	case isSystem(a.Seller) || isSystem(a.Proxy):
		return txErr("%s: a system contract can be neither seller nor proxy", fn)
	case a.Seller == who:
		return txErr("%s: %s cannot buy from itself", fn, who)
	case a.Proxy == who || a.Proxy == a.Seller:
		return txErr("%s: the proxy must be neither the buyer nor the seller", fn)
	case a.TimeoutBlocks < 1 || a.TimeoutBlocks > MaxOrderTimeout:
		return txErr("%s: a timeout of %d blocks; want 1 to %d", fn, a.TimeoutBlocks, MaxOrderTimeout)
	}
	r, _, err := s.ProxyOf(a.Proxy)
	if err != nil {
		return err
	}
	if need := ProxyMinDepositOf(p); r.Deposit < need {
		return txErr("%s: %s has deposited %d as a proxy; a proxy needs %d", fn, a.Proxy, r.Deposit, need)
	}
	var id uint64
	if _, err := s.get(keyPDashNext, &id); err != nil {
		return err
	}
	id++
	o := Order{ID: id, DescHash: a.DescHash, Buyer: who, Seller: a.Seller, Proxy: a.Proxy, Price: a.Price, ProxyFee: a.ProxyFee,
		TimeoutBlocks: a.TimeoutBlocks, Placed: height, Deadline: height + a.TimeoutBlocks, State: OrderCreated}
	r.OpenOrders++
	r.Orders++
	for _, w := range []struct {
		k []byte
		v any
	}{{keyPDashNext, id}, {key(prefixOrder, id), o}, {key(prefixPxRec, a.Proxy), r}} {
		if err := s.put(w.k, w.v); err != nil {
			return err
		}
	}
	return nil
}

// countAfter is how many of who's n entries under prefix (heights,
// appended in order) are above block: a binary search.
func countAfter(s *State, prefix []byte, who Address, n, block uint64) (uint64, error) {
	at := func(i uint64) (uint64, error) {
		var h uint64
		ok, err := s.get(key(prefix, who, i), &h)
		if err == nil && !ok {
			err = fmt.Errorf("chain: entry %d of %s under %q is missing", i, who, prefix)
		}
		return h, err
	}
	if n == 0 {
		return 0, nil
	}
	if last, err := at(n - 1); err != nil || last <= block {
		return 0, err
	}
	lo, hi := uint64(0), n-1 // the first entry above block is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		h, err := at(mid)
		if err != nil {
			return 0, err
		}
		if h > block {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return n - lo, nil
}

// Proxy reputation's constants (see proxyScore).
const (
	// ProxyRegisteredPoints is what a registered proxy scores before any
	// order.
	ProxyRegisteredPoints = 10
	// ProxyUnratedRating is the rating (×10) of a proxy no buyer rated.
	ProxyUnratedRating = 30
	// ProxyDisputePenalty is what each dispute lost in the window costs.
	ProxyDisputePenalty = 50
)

// proxyScore computes RPT's proxy reputation (PR raw value) of who at
// height, over RPT's window (height−Window, height]:
//
//	PR = base + f × r − ProxyDisputePenalty × l, at least 0, where
//	  base = ProxyRegisteredPoints (10) if who's PDash deposit is at
//	         least ProxyMinDeposit now, else 0;
//	  f    = orders through who that finished in the window;
//	  l    = disputes about orders through who resolved for the buyer
//	         in the window;
//	  r    = 10 × who's average rating over every rated order (10 to 50,
//	         integer division), or ProxyUnratedRating (30) when none was
//	         rated.
//
// So registering as a proxy earns points over an account that never
// did, each finished order earns 10 to 50 by how buyers rate the proxy,
// and a lost dispute takes back what the best-rated order earns. It
// also returns f and l.
func proxyScore(s *State, p *Params, height uint64, who Address) (f, l, pr uint64, err error) {
	r, ok, err := s.ProxyOf(who)
	if err != nil || !ok {
		return 0, 0, 0, err
	}
	since := height - min(height, max(p.Window, 1))
	if f, err = countAfter(s, prefixPxFin, who, r.Finished, since); err != nil {
		return 0, 0, 0, err
	}
	if l, err = countAfter(s, prefixPxLost, who, r.DisputesLost, since); err != nil {
		return 0, 0, 0, err
	}
	var base uint64
	if r.Deposit >= ProxyMinDepositOf(p) {
		base = ProxyRegisteredPoints
	}
	rating := uint64(ProxyUnratedRating)
	if r.Ratings > 0 {
		rating = r.RatingSum * 10 / r.Ratings
	}
	// f is at most the orders ever placed, which fees bound: no overflow
	// in practice, but saturate rather than wrap.
	gain, ok := mul(f, rating)
	if !ok {
		gain = ^uint64(0)
	}
	gain = satAdd(gain, base)
	loss, ok := mul(l, ProxyDisputePenalty)
	if !ok || loss >= gain {
		return f, l, 0, nil
	}
	return f, l, gain - loss, nil
}

// proxyReputation is RPT's PR raw value: proxyScore's PR.
func proxyReputation(s *State, p *Params, height uint64, who Address) (uint64, error) {
	_, _, pr, err := proxyScore(s, p, height, who)
	return pr, err
}
