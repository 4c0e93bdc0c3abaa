// Package bitcoin turns Bitcoin blocks into the engine's tape: for every
// transaction that carries an OP_RETURN payload (optionally only those
// starting with an application's magic bytes), the payload, the senders
// (the outputs its inputs spend: script, address, public key, value), the
// outputs, and the fee.
//
// This file holds the decoding, which is pure: blocks come in as
// wire.MsgBlock, spent outputs through a PrevOuts lookup. The RPC source
// that feeds it from a node builds on it.
package bitcoin

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// PrevOuts finds the output an input spends.
type PrevOuts interface {
	PrevOut(op wire.OutPoint) (*wire.TxOut, error)
}

// Decoder turns blocks into tape blocks.
type Decoder struct {
	// Params are the network's parameters (address encoding).
	Params *chaincfg.Params
	// Magic, when not empty, keeps only transactions whose payload starts
	// with it; others are not even looked at (their inputs are not
	// resolved).
	Magic []byte

	mu    sync.Mutex
	addrs map[string]string // script -> address, for scripts seen recently
}

// addrCacheSize bounds the address cache; it is emptied when full.
const addrCacheSize = 1 << 16

// displayHash converts a chainhash (internal byte order) to the display
// order vchash.Hash uses everywhere.
func displayHash(h chainhash.Hash) vchash.Hash {
	var out vchash.Hash
	copy(out[:], h[:])
	slices.Reverse(out[:])
	return out
}

// Payload returns the data a transaction carries: the push of its last
// output of the form OP_RETURN <push>, as Virtualchain reads it.
func Payload(tx *wire.MsgTx) ([]byte, bool) {
	var payload []byte
	found := false
	for _, out := range tx.TxOut {
		if len(out.PkScript) == 0 || out.PkScript[0] != txscript.OP_RETURN || !txscript.IsNullData(out.PkScript) {
			continue
		}
		if data, n, ok := lastPush(out.PkScript); ok && n == 1 {
			payload, found = data, true
		}
	}
	return payload, found
}

// lastPush returns the last data push of a script and how many it has,
// counting as txscript.PushedData does (every push, OP_0 as an empty one),
// without allocating; ok is false for a malformed script.
func lastPush(script []byte) (data []byte, n int, ok bool) {
	tok := txscript.MakeScriptTokenizer(0, script)
	for tok.Next() {
		if d := tok.Data(); d != nil || tok.Opcode() == txscript.OP_0 {
			data, n = d, n+1
		}
	}
	return data, n, tok.Err() == nil
}

// Block decodes a block at height.
func (d *Decoder) Block(height int64, b *wire.MsgBlock, prev PrevOuts) (*tape.Block, error) {
	return d.block(height, rawParsed{MsgBlock: b}, prev)
}

// RawBlock decodes a block at height from its serialization (what
// getblock returns at verbosity 0). Transaction ids are hashed straight
// from the bytes, without serializing the transactions again.
func (d *Decoder) RawBlock(height int64, raw []byte, prev PrevOuts) (*tape.Block, error) {
	b, err := parseRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", height, err)
	}
	return d.block(height, b, prev)
}

// rawParsed is a block deserialized from raw, with where each transaction
// lies in raw, so that a transaction's id can be hashed from its bytes.
type rawParsed struct {
	*wire.MsgBlock
	raw  []byte
	locs []wire.TxLoc
	kept []keptTx // once selected (see Decoder.selectTxs); nil before
}

// keptTx is a transaction the application keeps: where it is in its block
// and its payload.
type keptTx struct {
	index   int
	payload []byte
}

// selectTxs lists the transactions of b whose payload carries the magic.
func (d *Decoder) selectTxs(b *wire.MsgBlock) []keptTx {
	kept := []keptTx{}
	for i, tx := range b.Transactions {
		if payload, ok := Payload(tx); ok && (len(d.Magic) == 0 || hasPrefix(payload, d.Magic)) {
			kept = append(kept, keptTx{i, payload})
		}
	}
	return kept
}

// parseRaw deserializes a block, keeping its bytes.
func parseRaw(raw []byte) (rawParsed, error) {
	var b wire.MsgBlock
	locs, err := b.DeserializeTxLoc(bytes.NewBuffer(raw))
	if err != nil {
		return rawParsed{}, err
	}
	return rawParsed{MsgBlock: &b, raw: raw, locs: locs}, nil
}

// txID is the id of transaction i: hashed straight from the raw bytes when
// there are some and the transaction has no witness (whose serialization
// the id leaves out), else from a serialization without the witness.
func (b rawParsed) txID(i int) chainhash.Hash {
	tx := b.Transactions[i]
	if b.raw == nil || tx.HasWitness() {
		return tx.TxHash()
	}
	return chainhash.DoubleHashH(b.raw[b.locs[i].TxStart : b.locs[i].TxStart+b.locs[i].TxLen])
}

// block decodes b; only the transactions carrying the magic are hashed.
func (d *Decoder) block(height int64, b rawParsed, prev PrevOuts) (*tape.Block, error) {
	out := &tape.Block{Header: tape.Header{
		Height: height,
		Hash:   displayHash(b.BlockHash()),
		Parent: displayHash(b.Header.PrevBlock),
		Time:   b.Header.Timestamp.Unix(),
	}}
	if b.kept == nil {
		b.kept = d.selectTxs(b.MsgBlock)
	}
	for _, k := range b.kept {
		id := b.txID(k.index)
		t, err := d.tx(k.index, b.Transactions[k.index], id, k.payload, prev)
		if err != nil {
			return nil, fmt.Errorf("block %d tx %d (%s): %w", height, k.index, id, err)
		}
		out.Txs = append(out.Txs, *t)
	}
	return out, nil
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }

// Tx decodes one transaction at index i of its block.
func (d *Decoder) Tx(i int, tx *wire.MsgTx, payload []byte, prev PrevOuts) (*tape.Tx, error) {
	return d.tx(i, tx, tx.TxHash(), payload, prev)
}

func (d *Decoder) tx(i int, tx *wire.MsgTx, id chainhash.Hash, payload []byte, prev PrevOuts) (*tape.Tx, error) {
	t := &tape.Tx{ID: displayHash(id), Index: i, Payload: payload, Outputs: make([]tape.Output, 0, len(tx.TxOut))}
	var in, outSum int64
	for _, o := range tx.TxOut {
		t.Outputs = append(t.Outputs, tape.Output{Script: o.PkScript, Address: d.address(o.PkScript), Value: o.Value})
		outSum += o.Value
	}
	if isCoinbase(tx) {
		return t, nil
	}
	for k, txIn := range tx.TxIn {
		if prev == nil {
			return nil, errors.New("no way to look up spent outputs")
		}
		po, err := prev.PrevOut(txIn.PreviousOutPoint)
		if err != nil {
			return nil, fmt.Errorf("input %d spends %v: %w", k, txIn.PreviousOutPoint, err)
		}
		t.Senders = append(t.Senders, tape.Sender{
			Script:  po.PkScript,
			Address: d.address(po.PkScript),
			PubKey:  pubKey(txIn),
			Value:   po.Value,
		})
		in += po.Value
	}
	t.Fee = in - outSum
	return t, nil
}

func isCoinbase(tx *wire.MsgTx) bool {
	return len(tx.TxIn) == 1 && tx.TxIn[0].PreviousOutPoint.Index == wire.MaxPrevOutIndex &&
		tx.TxIn[0].PreviousOutPoint.Hash == (chainhash.Hash{})
}

// address encodes a script's single address on the network, or "" when it
// has none (OP_RETURN, bare multisig, non-standard).
//
// Encoding an address (base58 or bech32) costs more than the rest of a
// transaction's decoding, and the same scripts recur (a sender's change
// usually goes back to the script it spent), so recent results are kept.
func (d *Decoder) address(script []byte) string {
	d.mu.Lock()
	a, ok := d.addrs[string(script)]
	d.mu.Unlock()
	if ok {
		return a
	}
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, d.Params)
	if err == nil && len(addrs) == 1 {
		a = addrs[0].EncodeAddress()
	}
	d.mu.Lock()
	if d.addrs == nil || len(d.addrs) >= addrCacheSize {
		d.addrs = make(map[string]string)
	}
	d.addrs[string(script)] = a
	d.mu.Unlock()
	return a
}

// pubKey finds the public key that signed an input: the second witness
// item (P2WPKH) or the last push of the signature script (P2PKH).
func pubKey(in *wire.TxIn) []byte {
	if len(in.Witness) == 2 && isPubKey(in.Witness[1]) {
		return in.Witness[1]
	}
	if last, n, ok := lastPush(in.SignatureScript); ok && n > 0 && isPubKey(last) {
		return last
	}
	return nil
}

func isPubKey(b []byte) bool {
	return len(b) == 33 && (b[0] == 2 || b[0] == 3) || len(b) == 65 && b[0] == 4
}
