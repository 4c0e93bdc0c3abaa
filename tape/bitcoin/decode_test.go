package bitcoin

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

type prevMap map[wire.OutPoint]*wire.TxOut

func (m prevMap) PrevOut(op wire.OutPoint) (*wire.TxOut, error) {
	o, ok := m[op]
	if !ok {
		return nil, errors.New("unknown output")
	}
	return o, nil
}

type key struct {
	priv   *btcec.PrivateKey
	addr   address.Address
	script []byte
}

func newKey(t *testing.T, seed byte) key {
	t.Helper()
	priv, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	a, err := address.NewAddressPubKeyHash(address.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	return key{priv: priv, addr: a, script: s}
}

// spend builds a signed transaction spending prev:0 (paying from) with the
// given OP_RETURN payloads and one output to recipient.
func spend(t *testing.T, from key, prev *wire.MsgTx, to key, payloads ...[]byte) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil))
	for _, p := range payloads {
		s, err := txscript.NullDataScript(p)
		if err != nil {
			t.Fatal(err)
		}
		tx.AddTxOut(wire.NewTxOut(0, s))
	}
	tx.AddTxOut(wire.NewTxOut(40_000, to.script))
	sig, err := txscript.SignatureScript(tx, 0, from.script, txscript.SigHashAll, from.priv, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].SignatureScript = sig
	return tx
}

func TestDecodeBlock(t *testing.T) {
	alice, bob := newKey(t, 1), newKey(t, 2)
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, []byte{1, 2}, nil))
	fund.AddTxOut(wire.NewTxOut(50_000, alice.script))
	prev := prevMap{{Hash: fund.TxHash(), Index: 0}: fund.TxOut[0]}

	op := spend(t, alice, fund, bob, []byte("ignored"), []byte("id?payload"))
	other := spend(t, alice, fund, bob, []byte("xx?not ours"))
	plain := spend(t, alice, fund, bob)
	blk := wire.NewMsgBlock(wire.NewBlockHeader(1, &chainhash.Hash{9}, &chainhash.Hash{}, 0, 0))
	blk.Header.Timestamp = time.Unix(1_700_000_000, 0)
	for _, tx := range []*wire.MsgTx{fund, plain, other, op} {
		blk.AddTransaction(tx)
	}

	d := &Decoder{Params: &chaincfg.RegressionNetParams, Magic: []byte("id")}
	b, err := d.Block(7, blk, prev)
	if err != nil {
		t.Fatal(err)
	}
	if b.Height != 7 || b.Hash.String() != blk.BlockHash().String() || b.Parent.String() != (chainhash.Hash{9}).String() || b.Time != 1_700_000_000 {
		t.Fatalf("header %+v", b.Header)
	}
	if len(b.Txs) != 1 {
		t.Fatalf("%d transactions kept, want only the one with magic id", len(b.Txs))
	}
	tx := b.Txs[0]
	if tx.Index != 3 || tx.ID.String() != op.TxHash().String() {
		t.Fatalf("tx index %d id %s", tx.Index, tx.ID)
	}
	if string(tx.Payload) != "id?payload" {
		t.Fatalf("payload %q: the last OP_RETURN counts", tx.Payload)
	}
	if len(tx.Senders) != 1 || tx.Senders[0].Address != alice.addr.EncodeAddress() || !bytes.Equal(tx.Senders[0].Script, alice.script) || tx.Senders[0].Value != 50_000 {
		t.Fatalf("senders %+v", tx.Senders)
	}
	if !bytes.Equal(tx.Senders[0].PubKey, alice.priv.PubKey().SerializeCompressed()) {
		t.Fatal("the sender's public key comes from the signature script")
	}
	if len(tx.Outputs) != 3 || tx.Outputs[2].Address != bob.addr.EncodeAddress() || tx.Outputs[0].Address != "" {
		t.Fatalf("outputs %+v", tx.Outputs)
	}
	if tx.Fee != 10_000 {
		t.Fatalf("fee %d, want 10000", tx.Fee)
	}

	// Without magic every OP_RETURN transaction is kept.
	all, err := (&Decoder{Params: &chaincfg.RegressionNetParams}).Block(7, blk, prev)
	if err != nil || len(all.Txs) != 2 {
		t.Fatalf("no magic: %d txs, %v", len(all.Txs), err)
	}
	// An unknown spent output is an error naming the transaction.
	if _, err := d.Block(7, blk, prevMap{}); err == nil {
		t.Fatal("a spent output that cannot be found must fail")
	}
}

// TestRawBlockMatchesBlock: decoding from the serialized bytes gives what
// decoding the parsed block gives, ids included, for a transaction with
// witness data too (its id excludes the witness).
func TestRawBlockMatchesBlock(t *testing.T) {
	alice, bob := newKey(t, 1), newKey(t, 2)
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, []byte{1, 2}, nil))
	fund.AddTxOut(wire.NewTxOut(50_000, alice.script))
	prev := prevMap{{Hash: fund.TxHash(), Index: 0}: fund.TxOut[0]}
	op := spend(t, alice, fund, bob, []byte("id?one"))
	witnessed := spend(t, alice, fund, bob, []byte("id?two"))
	witnessed.TxIn[0].Witness = wire.TxWitness{[]byte{1}, alice.priv.PubKey().SerializeCompressed()}
	blk := wire.NewMsgBlock(wire.NewBlockHeader(1, &chainhash.Hash{9}, &chainhash.Hash{}, 0, 0))
	for _, tx := range []*wire.MsgTx{fund, op, witnessed} {
		blk.AddTransaction(tx)
	}
	var buf bytes.Buffer
	if err := blk.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	d := &Decoder{Params: &chaincfg.RegressionNetParams, Magic: []byte("id")}
	want, err := d.Block(3, blk, prev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.RawBlock(3, buf.Bytes(), prev)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RawBlock differs from Block:\n%+v\n%+v", got, want)
	}
	if got.Txs[1].ID.String() != witnessed.TxHash().String() {
		t.Fatal("a witness transaction's id must exclude the witness")
	}
	if _, err := d.RawBlock(3, buf.Bytes()[:buf.Len()-3], prev); err == nil {
		t.Fatal("a truncated block must fail")
	}
}

// FuzzRawBlock: any bytes either fail to parse with an error or decode
// to transactions whose ids are the parsed transactions' ids; nothing
// panics.
func FuzzRawBlock(f *testing.F) {
	blk := wire.NewMsgBlock(wire.NewBlockHeader(1, &chainhash.Hash{9}, &chainhash.Hash{}, 0, 0))
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, []byte{1, 2}, nil))
	null, _ := txscript.NullDataScript([]byte("id?x"))
	cb.AddTxOut(wire.NewTxOut(0, null))
	blk.AddTransaction(cb)
	var buf bytes.Buffer
	blk.Serialize(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add(make([]byte, 81))
	d := &Decoder{Params: &chaincfg.RegressionNetParams}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseRaw(raw)
		if err != nil {
			return
		}
		for i, tx := range b.Transactions {
			if id := b.txID(i); id != tx.TxHash() {
				t.Fatalf("tx %d: id from bytes %s, from the parsed transaction %s", i, id, tx.TxHash())
			}
		}
		d.RawBlock(1, raw, prevMap{})
	})
}
