package bitcoin

import (
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// MaxPayload is the most an OP_RETURN output carries under standard relay
// policy.
const MaxPayload = 80

// DustValue is what an output to a recipient carries.
const DustValue = 5_460

// ErrInsufficientFunds is returned when the key's confirmed coins cannot
// pay for a transaction.
var ErrInsufficientFunds = errors.New("insufficient funds")

// Submitter builds, signs and broadcasts transactions that carry ops,
// funded from one key's coins (P2PKH, compressed). Finding the key's coins
// needs a node with an address index (btcd --addrindex).
type Submitter struct {
	c      *rpcclient.Client
	params *chaincfg.Params
	key    *btcec.PrivateKey
	addr   address.Address
	script []byte
	// FeeRate is in satoshis per byte (default 10).
	FeeRate int64
	// spent and change remember what this Submitter's own unconfirmed
	// transactions spent and returned, which the node's index may not
	// show yet.
	spent  map[wire.OutPoint]bool
	change []utxo
}

// NewSubmitter decodes a WIF key for the network.
func NewSubmitter(c *rpcclient.Client, params *chaincfg.Params, wif string) (*Submitter, error) {
	w, err := btcutil.DecodeWIF(wif)
	if err != nil {
		return nil, fmt.Errorf("bad key: not a WIF private key: %w", err)
	}
	if !w.IsForNet(params) {
		return nil, fmt.Errorf("bad key: the WIF key is not for %s", params.Name)
	}
	return NewSubmitterKey(c, params, w.PrivKey)
}

// NewSubmitterKey uses a private key directly.
func NewSubmitterKey(c *rpcclient.Client, params *chaincfg.Params, key *btcec.PrivateKey) (*Submitter, error) {
	addr, err := address.NewAddressPubKeyHash(address.Hash160(key.PubKey().SerializeCompressed()), params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return &Submitter{c: c, params: params, key: key, addr: addr, script: script, FeeRate: 10, spent: map[wire.OutPoint]bool{}}, nil
}

// Address returns the key's address.
func (s *Submitter) Address() address.Address { return s.addr }

// Script returns the key's output script.
func (s *Submitter) Script() []byte { return s.script }

type utxo struct {
	op    wire.OutPoint
	value int64
}

// coins lists the key's spendable outputs: confirmed (coinbases mature),
// not spent even in the mempool.
func (s *Submitter) coins() ([]utxo, error) {
	txs, err := s.c.SearchRawTransactions(s.addr, 0, 100_000, false, nil)
	if err != nil {
		return nil, fmt.Errorf("listing the key's coins (the node needs an address index): %w", err)
	}
	var out []utxo
	seen := map[wire.OutPoint]bool{}
	for _, tx := range txs {
		h := tx.TxHash()
		for i, o := range tx.TxOut {
			op := wire.OutPoint{Hash: h, Index: uint32(i)}
			if seen[op] || s.spent[op] || string(o.PkScript) != string(s.script) {
				continue
			}
			seen[op] = true
			res, err := s.c.GetTxOut(&h, uint32(i), true)
			if err != nil {
				return nil, err
			}
			if res == nil || (res.Coinbase && res.Confirmations < 100) {
				continue
			}
			out = append(out, utxo{op: op, value: o.Value})
		}
	}
	for _, c := range s.change {
		if !seen[c.op] && !s.spent[c.op] {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b utxo) int { return int(b.value - a.value) })
	return out, nil
}

// Submit sends a transaction whose first output is OP_RETURN payload and
// whose second, when to is not nil, pays DustValue to the script to (a
// recipient, as naming ops want); change returns to the key. It returns
// the transaction id.
func (s *Submitter) Submit(payload, to []byte) (*chainhash.Hash, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes is too large: OP_RETURN carries at most %d", len(payload), MaxPayload)
	}
	nullData, err := txscript.NullDataScript(payload)
	if err != nil {
		return nil, err
	}
	coins, err := s.coins()
	if err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxOut(wire.NewTxOut(0, nullData))
	need := int64(0)
	if to != nil {
		tx.AddTxOut(wire.NewTxOut(DustValue, to))
		need += DustValue
	}
	var have int64
	for _, c := range coins {
		tx.AddTxIn(wire.NewTxIn(&c.op, nil, nil))
		have += c.value
		fee := s.fee(len(tx.TxIn), len(tx.TxOut)+1)
		if have >= need+fee+DustValue {
			break
		}
	}
	fee := s.fee(len(tx.TxIn), len(tx.TxOut)+1)
	if have < need+fee+DustValue {
		return nil, fmt.Errorf("%w: %s has %d spendable satoshis, the transaction needs %d", ErrInsufficientFunds, s.addr, have, need+fee+DustValue)
	}
	tx.AddTxOut(wire.NewTxOut(have-need-fee, s.script))
	for i := range tx.TxIn {
		sig, err := txscript.SignatureScript(tx, i, s.script, txscript.SigHashAll, s.key, true)
		if err != nil {
			return nil, err
		}
		tx.TxIn[i].SignatureScript = sig
	}
	h, err := s.c.SendRawTransaction(tx, false)
	if err != nil {
		return nil, fmt.Errorf("broadcasting: %w", err)
	}
	for _, in := range tx.TxIn {
		s.spent[in.PreviousOutPoint] = true
	}
	last := len(tx.TxOut) - 1
	s.change = append(s.change, utxo{op: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(last)}, value: tx.TxOut[last].Value})
	return h, nil
}

// fee estimates a P2PKH transaction's fee: about 148 bytes an input, 34 an
// output, 10 of overhead, plus the OP_RETURN.
func (s *Submitter) fee(ins, outs int) int64 {
	size := int64(10 + 148*ins + 34*outs + 90)
	return max(size*s.FeeRate, 1_000)
}
