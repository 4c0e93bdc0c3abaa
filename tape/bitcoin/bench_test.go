package bitcoin_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/bitcoin"
)

// BenchmarkSync2000 syncs 2,000 small regtest blocks from a real btcd:
// one request at a time, and through the engine with fetch-ahead (parallel
// connections). It reports blocks/s; compare the two in one run.
//
//	go test -run XXX -bench Sync2000 -benchtime 3x ./tape/bitcoin
func BenchmarkSync2000(b *testing.B) {
	n := btcdtest.Start(b)
	if _, err := n.Client.Generate(2000); err != nil {
		b.Fatal(err)
	}
	cfg := bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}
	ctx := context.Background()
	b.Run("one-request-at-a-time", func(b *testing.B) {
		src, err := bitcoin.NewSource(cfg, []byte("id"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		for b.Loop() {
			for h := int64(1); h <= 2000; h++ {
				if _, err := src.Block(ctx, h); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run("engine-fetch-ahead", func(b *testing.B) {
		src, err := bitcoin.NewSource(cfg, []byte("id"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		for b.Loop() {
			db, err := store.Open("", store.Options{InMemory: true})
			if err != nil {
				b.Fatal(err)
			}
			e, err := engine.Open(db, passthrough.New(1), engine.Config{FetchAhead: 256})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Sync(ctx, src); err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
		b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
}

// BenchmarkSync200x50 syncs 200 blocks of 50 application transactions
// each (senders looked up through the node's txindex), against a loop
// that only fetches the same raw blocks as fast as the node serves them
// (the same two batched requests per run, no decoding). The sync should
// run at 90% or more of the fetch-only rate.
//
//	go test -run XXX -bench Sync200x50 -benchtime 5x ./tape/bitcoin
func BenchmarkSync200x50(b *testing.B) {
	n := btcdtest.Start(b)
	c := n.Client
	hashes, err := c.Generate(300)
	if err != nil {
		b.Fatal(err)
	}
	// Split 100 coinbases into 100 outputs each: 10,000 coins.
	var coins []wire.OutPoint
	for i := 0; i < 100; i++ {
		blk, err := c.GetBlock(hashes[i])
		if err != nil {
			b.Fatal(err)
		}
		cb := blk.Transactions[0]
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: cb.TxHash(), Index: 0}, nil, nil))
		each := (cb.TxOut[0].Value - 100_000) / 100
		for k := 0; k < 100; k++ {
			tx.AddTxOut(wire.NewTxOut(each, n.Script))
		}
		signInput(b, n, tx, 0)
		if _, err := c.SendRawTransaction(tx, false); err != nil {
			b.Fatal(err)
		}
		for k := 0; k < 100; k++ {
			coins = append(coins, wire.OutPoint{Hash: tx.TxHash(), Index: uint32(k)})
		}
	}
	if _, err := c.Generate(1); err != nil {
		b.Fatal(err)
	}
	start, _ := c.GetBlockCount()
	payload := append([]byte("id?"), bytes.Repeat([]byte{'x'}, 37)...)
	nullData, _ := txscript.NullDataScript(payload)
	for blk := 0; blk < 200; blk++ {
		for k := 0; k < 50; k++ {
			op := coins[blk*50+k]
			tx := wire.NewMsgTx(2)
			tx.AddTxIn(wire.NewTxIn(&op, nil, nil))
			tx.AddTxOut(wire.NewTxOut(0, nullData))
			tx.AddTxOut(wire.NewTxOut(1_000_000, n.Script))
			signInput(b, n, tx, 0)
			if _, err := c.SendRawTransaction(tx, false); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := c.Generate(1); err != nil {
			b.Fatal(err)
		}
	}
	from, to := start+1, start+200
	cfg := bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}
	ctx := context.Background()
	b.Run("fetch-only", func(b *testing.B) {
		bc, err := rpcclient.NewBatch(&rpcclient.ConnConfig{Host: n.RPC, User: n.User, Pass: n.Pass, HTTPPostMode: true, DisableTLS: true})
		if err != nil {
			b.Fatal(err)
		}
		defer bc.Shutdown()
		for b.Loop() {
			for h := from; h <= to; h += 64 {
				end := min(to, h+63)
				var hf []rpcclient.FutureGetBlockHashResult
				for x := h; x <= end; x++ {
					hf = append(hf, bc.GetBlockHashAsync(x))
				}
				if err := bc.Send(); err != nil {
					b.Fatal(err)
				}
				var bf []rpcclient.FutureGetBlockResult
				for _, f := range hf {
					hh, err := f.Receive()
					if err != nil {
						b.Fatal(err)
					}
					bf = append(bf, bc.GetBlockAsync(hh))
				}
				if err := bc.Send(); err != nil {
					b.Fatal(err)
				}
				for _, f := range bf {
					if _, err := f.Receive(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(200*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run("engine-sync", func(b *testing.B) {
		ops := 0
		for b.Loop() {
			src, err := bitcoin.NewSource(cfg, []byte("id"))
			if err != nil {
				b.Fatal(err)
			}
			db, _ := store.Open("", store.Options{InMemory: true})
			e, err := engine.Open(db, passthrough.New(from), engine.Config{FetchAhead: 64})
			if err != nil {
				b.Fatal(err)
			}
			ops = 0
			if err := e.Sync(ctx, src); err != nil {
				b.Fatal(err)
			}
			for h := from; h <= to; h++ {
				r, _ := e.Record(h)
				ops += int(r.Accepted)
			}
			db.Close()
			src.Close()
		}
		if ops != 10_000 {
			b.Fatalf("synced %d ops, want 10000", ops)
		}
		b.ReportMetric(200*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
}

func signInput(b *testing.B, n *btcdtest.Node, tx *wire.MsgTx, i int) {
	sig, err := txscript.SignatureScript(tx, i, n.Script, txscript.SigHashAll, n.Key, true)
	if err != nil {
		b.Fatal(err)
	}
	tx.TxIn[i].SignatureScript = sig
}
