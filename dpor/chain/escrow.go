package chain

import (
	"bytes"
	"slices"
)

// The Escrow (EscrowAddress) is the public escrow contract CE of the
// private-trade scenario: an agent opens a named escrow, buyers prepay
// into it, and the agent, its owner, pays the seller out of it (or
// refunds a buyer). The coins stay in the Escrow contract's balance;
// each escrow accounts for its share and for each payer's deposit.
//
// Functions (any account may call them; only prepay takes coins):
//
//   - openEscrow(name): opens an escrow owned by the sender;
//   - prepay(name): the transaction's amount goes into the escrow;
//   - payTo(name, to, amount): the owner pays amount out to to;
//   - refund(name, payer, amount): the owner returns amount to a payer,
//     at most what that payer deposited and has not been refunded.

// EscrowArgs are openEscrow's and prepay's arguments: the escrow's name.
type EscrowArgs struct {
	Name string `cbor:"1,keyasint" json:"name"`
}

// PayToArgs are payTo's arguments: the escrow, the receiver and the
// amount.
type PayToArgs struct {
	Name   string  `cbor:"1,keyasint" json:"name"`
	To     Address `cbor:"2,keyasint" json:"to"`
	Amount uint64  `cbor:"3,keyasint" json:"amount"`
}

// RefundArgs are refund's arguments: the escrow, the payer to refund and
// the amount.
type RefundArgs struct {
	Name   string  `cbor:"1,keyasint" json:"name"`
	Payer  Address `cbor:"2,keyasint" json:"payer"`
	Amount uint64  `cbor:"3,keyasint" json:"amount"`
}

// EscrowInfo is what the Escrow keeps about one escrow. Balance is
// always Prepaid − PaidOut − Refunded (the totals saturate at 2^64−1,
// which no supply of coins reaches in practice).
type EscrowInfo struct {
	Name  string  `cbor:"1,keyasint" json:"name"`
	Owner Address `cbor:"2,keyasint" json:"owner"`
	// Opened is the height of the block that opened it.
	Opened  uint64 `cbor:"3,keyasint" json:"opened"`
	Balance uint64 `cbor:"4,keyasint" json:"balance"`
	// Prepaid, PaidOut and Refunded are the totals ever prepaid, paid
	// out by payTo and returned by refund.
	Prepaid  uint64 `cbor:"5,keyasint" json:"prepaid"`
	PaidOut  uint64 `cbor:"6,keyasint" json:"paid_out"`
	Refunded uint64 `cbor:"7,keyasint" json:"refunded"`
	// Deposits are the payers' deposits (what each prepaid, less what
	// was refunded to it), sorted by payer address; a payer refunded in
	// full is left out.
	Deposits []EscrowDeposit `cbor:"8,keyasint" json:"deposits"`
}

// EscrowDeposit is one payer's deposit in an escrow.
type EscrowDeposit struct {
	Payer  Address `cbor:"1,keyasint" json:"payer"`
	Amount uint64  `cbor:"2,keyasint" json:"amount"`
}

// Escrow's bounds.
const (
	// MaxEscrowName bounds an escrow's name, in bytes.
	MaxEscrowName = 64
	// MaxEscrowPayers bounds the payers with a deposit in one escrow: a
	// prepay by another payer beyond it fails.
	MaxEscrowPayers = 256
)

// maxEscrowPayers is the bound prepay applies: MaxEscrowPayers, which
// only tests lower.
var maxEscrowPayers uint64 = MaxEscrowPayers

// Escrow returns the escrow of that name; false when none was opened.
func (s *State) Escrow(name string) (EscrowInfo, bool, error) {
	if !validEscrowName(name) {
		return EscrowInfo{}, false, nil // never opened: and not a key
	}
	var e EscrowInfo
	ok, err := s.get(key(prefixEscrow, name), &e)
	if ok && e.Deposits == nil {
		e.Deposits = []EscrowDeposit{} // JSON shows [] rather than null
	}
	return e, ok, err
}

// validEscrowName tells whether name is 1 to MaxEscrowName bytes of
// a-z, 0-9, '-', '_' and '.'.
func validEscrowName(name string) bool {
	if len(name) == 0 || len(name) > MaxEscrowName {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-', b == '_', b == '.':
		default:
			return false
		}
	}
	return true
}

// escrowOf reads the escrow a function names, refusing a bad or unknown
// name.
func escrowOf(s *State, fn, name string) (EscrowInfo, error) {
	if !validEscrowName(name) {
		return EscrowInfo{}, txErr("%s: bad escrow name %q: want 1 to %d bytes of a-z, 0-9, '-', '_', '.'", fn, name, MaxEscrowName)
	}
	e, ok, err := s.Escrow(name)
	if err != nil {
		return e, err
	}
	if !ok {
		return e, txErr("%s: no escrow named %s", fn, name)
	}
	return e, nil
}

// escrowCall runs one of the Escrow's functions for tx (whose amount
// the contract already holds).
func (c *Chain) escrowCall(s *State, height uint64, tx *Tx) error {
	who := tx.Sender()
	switch m := tx.Call.Method; m {
	case "openEscrow", "prepay":
		var a EscrowArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("%s arguments: %v", m, err)
		}
		if m == "openEscrow" {
			return openEscrow(s, height, who, a.Name)
		}
		return prepay(s, who, a.Name, tx.Amount)
	case "payTo":
		var a PayToArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("payTo arguments: %v", err)
		}
		return payTo(s, who, a)
	case "refund":
		var a RefundArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("refund arguments: %v", err)
		}
		return refundEscrow(s, who, a)
	}
	return txErr("Escrow has no function %q", tx.Call.Method)
}

func openEscrow(s *State, height uint64, who Address, name string) error {
	const fn = "Escrow.openEscrow"
	if !validEscrowName(name) {
		return txErr("%s: bad escrow name %q: want 1 to %d bytes of a-z, 0-9, '-', '_', '.'", fn, name, MaxEscrowName)
	}
	e, ok, err := s.Escrow(name)
	if err != nil {
		return err
	}
	if ok {
		return txErr("%s: the name %s is taken (escrow owned by %s)", fn, name, e.Owner)
	}
	return s.put(key(prefixEscrow, name), EscrowInfo{Name: name, Owner: who, Opened: height})
}

func prepay(s *State, who Address, name string, amount uint64) error {
	const fn = "Escrow.prepay"
	e, err := escrowOf(s, fn, name)
	if err != nil {
		return err
	}
	if amount == 0 {
		return txErr("%s: no coins sent; the transaction's amount is what goes into the escrow", fn)
	}
	i, found := slices.BinarySearchFunc(e.Deposits, who, func(d EscrowDeposit, a Address) int { return bytes.Compare(d.Payer[:], a[:]) })
	if !found {
		if uint64(len(e.Deposits)) >= maxEscrowPayers {
			return txErr("%s: escrow %s has deposits of %d payers, the most one escrow may", fn, name, len(e.Deposits))
		}
		e.Deposits = slices.Insert(e.Deposits, i, EscrowDeposit{Payer: who})
	}
	// The contract's balance, which holds every escrow's, took the
	// amount without overflowing: no part of it can overflow.
	e.Deposits[i].Amount += amount
	e.Balance += amount
	e.Prepaid = satAdd(e.Prepaid, amount)
	return s.put(key(prefixEscrow, name), e)
}

func payTo(s *State, who Address, a PayToArgs) error {
	const fn = "Escrow.payTo"
	e, err := escrowOf(s, fn, a.Name)
	if err != nil {
		return err
	}
	switch {
	case who != e.Owner:
		return txErr("%s: %s is not the escrow's owner (%s is)", fn, who, e.Owner)
	case a.Amount == 0:
		return txErr("%s: an amount of 0; want at least 1", fn)
	case a.To == Address{}:
		return txErr("%s: cannot pay the zero address", fn)
	case isSystem(a.To):
		return txErr("%s: cannot pay the %s contract", fn, systemName(a.To))
	case a.Amount > e.Balance:
		return txErr("%s: escrow %s holds %d, cannot pay %d", fn, a.Name, e.Balance, a.Amount)
	}
	e.Balance -= a.Amount
	e.PaidOut = satAdd(e.PaidOut, a.Amount)
	if err := s.put(key(prefixEscrow, a.Name), e); err != nil {
		return err
	}
	return payFrom(s, EscrowAddress, a.To, a.Amount)
}

func refundEscrow(s *State, who Address, a RefundArgs) error {
	const fn = "Escrow.refund"
	e, err := escrowOf(s, fn, a.Name)
	if err != nil {
		return err
	}
	if who != e.Owner {
		return txErr("%s: %s is not the escrow's owner (%s is)", fn, who, e.Owner)
	}
	if a.Amount == 0 {
		return txErr("%s: an amount of 0; want at least 1", fn)
	}
	i, found := slices.BinarySearchFunc(e.Deposits, a.Payer, func(d EscrowDeposit, p Address) int { return bytes.Compare(d.Payer[:], p[:]) })
	switch {
	case !found:
		return txErr("%s: %s has no deposit in escrow %s", fn, a.Payer, a.Name)
	case a.Amount > e.Deposits[i].Amount:
		return txErr("%s: %s has %d deposited in escrow %s, cannot refund %d", fn, a.Payer, e.Deposits[i].Amount, a.Name, a.Amount)
	case a.Amount > e.Balance:
		return txErr("%s: escrow %s holds %d, cannot refund %d", fn, a.Name, e.Balance, a.Amount)
	}
	e.Deposits[i].Amount -= a.Amount
	if e.Deposits[i].Amount == 0 {
		e.Deposits = slices.Delete(e.Deposits, i, i+1)
	}
	e.Balance -= a.Amount
	e.Refunded = satAdd(e.Refunded, a.Amount)
	if err := s.put(key(prefixEscrow, a.Name), e); err != nil {
		return err
	}
	return payFrom(s, EscrowAddress, a.Payer, a.Amount)
}

// payFrom moves amount from a system contract's balance to an account.
// The contract's own accounting says it holds the amount; a contract
// balance short of it is a broken state, and refused like any other
// failure rather than minting coins.
func payFrom(s *State, contract, to Address, amount uint64) error {
	ca, err := s.Account(contract)
	if err != nil {
		return err
	}
	if ca.Balance < amount {
		return txErr("%s holds %d, cannot pay %d", systemName(contract), ca.Balance, amount)
	}
	ta, err := s.Account(to)
	if err != nil {
		return err
	}
	var ok bool
	if ta.Balance, ok = add(ta.Balance, amount); !ok {
		return txErr("%s's balance would overflow", to)
	}
	ca.Balance -= amount
	if err := s.SetAccount(contract, ca); err != nil {
		return err
	}
	return s.SetAccount(to, ta)
}
