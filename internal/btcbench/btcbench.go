// Package btcbench measures syncing from a real btcd in regtest: the
// workloads (2,000 small blocks; 200 blocks of 50 application
// transactions) and the loops that time them, shared by the Go benchmarks
// and `vchain bench bitcoin`.
package btcbench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/apps/passthrough"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/bitcoin"
	"github.com/vchain-dev/vchain/tape/bitcoin/btcrpc"
)

// Magic is the application prefix the workloads' payloads start with.
var Magic = []byte("id")

// Config is how to reach n's RPC.
func Config(n *btcdtest.Node) bitcoin.RPCConfig {
	return bitcoin.RPCConfig{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true, Params: btcdtest.Params}
}

// MineSmall mines count blocks holding only their coinbase.
func MineSmall(n *btcdtest.Node, count int) error {
	for count > 0 {
		k := min(count, 500)
		if _, err := n.Client.Generate(uint32(k)); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		count -= k
	}
	return nil
}

// BuildBusy mines blocks blocks of perBlock application transactions each
// (a 40-byte payload starting with Magic, each spending its own coin of a
// split coinbase, so senders are looked up through the txindex), and
// returns the heights of the first and last of them. It splits the
// coinbases of the chain's first blocks (mining them first on a short
// chain), whose subsidy is whole.
func BuildBusy(n *btcdtest.Node, blocks, perBlock int) (from, to int64, err error) {
	c := n.Client
	need := blocks * perBlock
	splits := (need + 99) / 100
	if splits > 100 {
		return 0, 0, fmt.Errorf("at most 10,000 transactions (%d asked)", need)
	}
	tip, err := c.GetBlockCount()
	if err != nil {
		return 0, 0, err
	}
	if tip < int64(splits)+100 {
		if _, err := c.Generate(uint32(int64(splits) + 100 - tip)); err != nil {
			return 0, 0, err
		}
	}
	type coin struct {
		op    wire.OutPoint
		value int64
	}
	var coins []coin
	for h := int64(1); h <= int64(splits); h++ {
		hash, err := c.GetBlockHash(h)
		if err != nil {
			return 0, 0, err
		}
		blk, err := c.GetBlock(hash)
		if err != nil {
			return 0, 0, err
		}
		cb := blk.Transactions[0]
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: cb.TxHash(), Index: 0}, nil, nil))
		each := (cb.TxOut[0].Value - 100_000) / 100
		for k := 0; k < 100; k++ {
			tx.AddTxOut(wire.NewTxOut(each, n.Script))
		}
		if err := sign(n, tx); err != nil {
			return 0, 0, err
		}
		if _, err := c.SendRawTransaction(tx, false); err != nil {
			return 0, 0, fmt.Errorf("split coinbase %d: %w", h, err)
		}
		for k := 0; k < 100; k++ {
			coins = append(coins, coin{wire.OutPoint{Hash: tx.TxHash(), Index: uint32(k)}, each})
		}
	}
	if _, err := c.Generate(1); err != nil {
		return 0, 0, err
	}
	start, err := c.GetBlockCount()
	if err != nil {
		return 0, 0, err
	}
	payload := append(append([]byte{}, Magic...), '?')
	payload = append(payload, bytes.Repeat([]byte{'x'}, 40-len(payload))...)
	nullData, err := txscript.NullDataScript(payload)
	if err != nil {
		return 0, 0, err
	}
	for blk := 0; blk < blocks; blk++ {
		for k := 0; k < perBlock; k++ {
			cn := coins[blk*perBlock+k]
			tx := wire.NewMsgTx(2)
			tx.AddTxIn(wire.NewTxIn(&cn.op, nil, nil))
			tx.AddTxOut(wire.NewTxOut(0, nullData))
			tx.AddTxOut(wire.NewTxOut(cn.value-10_000, n.Script))
			if err := sign(n, tx); err != nil {
				return 0, 0, err
			}
			if _, err := c.SendRawTransaction(tx, false); err != nil {
				return 0, 0, err
			}
		}
		if _, err := c.Generate(1); err != nil {
			return 0, 0, err
		}
	}
	return start + 1, start + int64(blocks), nil
}

func sign(n *btcdtest.Node, tx *wire.MsgTx) error {
	sig, err := txscript.SignatureScript(tx, 0, n.Script, txscript.SigHashAll, n.Key, true)
	if err != nil {
		return err
	}
	tx.TxIn[0].SignatureScript = sig
	return nil
}

// OneAtATime fetches and decodes blocks from..to with one request at a
// time, and returns how long it took.
func OneAtATime(ctx context.Context, cfg bitcoin.RPCConfig, from, to int64) (time.Duration, error) {
	src, err := bitcoin.NewSource(cfg, Magic)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	start := time.Now()
	for h := from; h <= to; h++ {
		if _, err := src.Block(ctx, h); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// FetchOnly fetches the raw blocks from..to as fast as the node serves
// them, in runs of run blocks (two batched requests per run: the hashes,
// then the blocks), with inflight runs in flight on their own connections,
// decoding nothing beyond what the RPC client does.
func FetchOnly(cfg bitcoin.RPCConfig, from, to int64, run, inflight int) (time.Duration, error) {
	clients := make([]*rpcclient.Client, inflight)
	for i := range clients {
		bc, err := rpcclient.NewBatch(&rpcclient.ConnConfig{Host: cfg.Host, User: cfg.User, Pass: cfg.Pass, HTTPPostMode: true, DisableTLS: cfg.NoTLS})
		if err != nil {
			return 0, err
		}
		defer bc.Shutdown()
		clients[i] = bc
	}
	var next atomic.Int64
	next.Store(from)
	errs := make(chan error, inflight)
	start := time.Now()
	for _, bc := range clients {
		go func() {
			for {
				h := next.Add(int64(run)) - int64(run)
				if h > to {
					errs <- nil
					return
				}
				if err := fetchRun(bc, h, min(to, h+int64(run)-1)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for range clients {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return time.Since(start), err
}

// FetchOnlyWebsocket fetches the raw blocks from..to over one websocket
// with window requests in flight (the fastest way btcd serves blocks):
// every hash first, then the blocks through a sliding window.
func FetchOnlyWebsocket(cfg bitcoin.RPCConfig, from, to int64, window int) (time.Duration, error) {
	ws, err := rpcclient.New(&rpcclient.ConnConfig{Host: cfg.Host, Endpoint: "ws", User: cfg.User, Pass: cfg.Pass, DisableTLS: cfg.NoTLS, DisableAutoReconnect: true}, nil)
	if err != nil {
		return 0, err
	}
	defer func() { ws.Shutdown(); ws.WaitForShutdown() }()
	start := time.Now()
	hf := make([]rpcclient.FutureGetBlockHashResult, 0, to-from+1)
	for h := from; h <= to; h++ {
		hf = append(hf, ws.GetBlockHashAsync(h))
	}
	var inflight []rpcclient.FutureGetBlockResult
	for _, f := range hf {
		hh, err := f.Receive()
		if err != nil {
			return 0, err
		}
		if len(inflight) == window {
			if _, err := inflight[0].Receive(); err != nil {
				return 0, err
			}
			inflight = inflight[1:]
		}
		inflight = append(inflight, ws.GetBlockAsync(hh))
	}
	for _, f := range inflight {
		if _, err := f.Receive(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// FetchOnlyLean fetches the raw blocks from..to over one websocket with
// vchain's own JSON-RPC client (the one the source fetches with), with
// window requests in flight: every hash first, then the blocks in windows.
// The blocks' bytes are hex-decoded, nothing more.
func FetchOnlyLean(ctx context.Context, cfg bitcoin.RPCConfig, from, to int64, window int) (time.Duration, error) {
	return FetchOnlyLeanWith(ctx, cfg, from, to, window, nil)
}

// FetchOnlyLeanWith is FetchOnlyLean that also fetches the transactions
// spent, given by id (SpentBy lists those of the application's
// transactions), on a second websocket, 16 at a time, while the blocks
// come: everything the sync asks of the node, with nothing decoded.
func FetchOnlyLeanWith(ctx context.Context, cfg bitcoin.RPCConfig, from, to int64, window int, spent []string) (time.Duration, error) {
	bc := btcrpc.Config{Host: cfg.Host, User: cfg.User, Pass: cfg.Pass, NoTLS: cfg.NoTLS, Certificates: cfg.Certificates}
	c, err := btcrpc.DialWebsocket(ctx, bc)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	side, err := btcrpc.DialWebsocket(ctx, bc)
	if err != nil {
		return 0, err
	}
	defer side.Close()
	start := time.Now()
	sideErr := make(chan error, 1)
	go func() {
		for len(spent) > 0 {
			var calls []btcrpc.Call
			for _, id := range spent[:min(16, len(spent))] {
				calls = append(calls, btcrpc.Call{Method: "getrawtransaction", Params: []any{id, 0}, Hex: true})
			}
			spent = spent[len(calls):]
			rs, err := side.Do(ctx, calls)
			if err == nil {
				for _, r := range rs {
					if err = r.Err; err != nil {
						break
					}
				}
			}
			if err != nil {
				sideErr <- err
				return
			}
		}
		sideErr <- nil
	}()
	var calls []btcrpc.Call
	for h := from; h <= to; h++ {
		calls = append(calls, btcrpc.Call{Method: "getblockhash", Params: []any{h}})
	}
	hashes, err := c.Do(ctx, calls)
	if err != nil {
		return 0, err
	}
	for len(hashes) > 0 {
		calls = calls[:0]
		for _, h := range hashes[:min(window, len(hashes))] {
			if h.Err != nil {
				return 0, h.Err
			}
			calls = append(calls, btcrpc.Call{Method: "getblock", Params: []any{json.RawMessage(h.Value), 0}, Hex: true})
		}
		hashes = hashes[len(calls):]
		rs, err := c.Do(ctx, calls)
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.Err != nil {
				return 0, r.Err
			}
		}
	}
	if err := <-sideErr; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// SpentBy lists, once each, the ids of the transactions whose outputs the
// application's transactions in from..to spend (through btcd's rpcclient,
// outside any timing).
func SpentBy(cfg bitcoin.RPCConfig, from, to int64) ([]string, error) {
	src, err := bitcoin.NewSource(cfg, Magic)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	c := src.Client()
	seen := map[string]bool{}
	var out []string
	for h := from; h <= to; h++ {
		hash, err := c.GetBlockHash(h)
		if err != nil {
			return nil, err
		}
		b, err := c.GetBlock(hash)
		if err != nil {
			return nil, err
		}
		for _, tx := range b.Transactions[1:] {
			if p, ok := bitcoin.Payload(tx); !ok || !bytes.HasPrefix(p, Magic) {
				continue
			}
			for _, in := range tx.TxIn {
				if id := in.PreviousOutPoint.Hash.String(); !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
	}
	return out, nil
}

func fetchRun(bc *rpcclient.Client, from, to int64) error {
	var hf []rpcclient.FutureGetBlockHashResult
	for x := from; x <= to; x++ {
		hf = append(hf, bc.GetBlockHashAsync(x))
	}
	if err := bc.Send(); err != nil {
		return err
	}
	var bf []rpcclient.FutureGetBlockResult
	for _, f := range hf {
		hh, err := f.Receive()
		if err != nil {
			return err
		}
		bf = append(bf, bc.GetBlockAsync(hh))
	}
	if err := bc.Send(); err != nil {
		return err
	}
	for _, f := range bf {
		if _, err := f.Receive(); err != nil {
			return err
		}
	}
	return nil
}

// EngineSync runs a fresh engine (the passthrough application from block
// from, an in-memory store) over a fresh source up to the node's tip, and
// returns how long it took and how many ops it accepted in from..to.
func EngineSync(ctx context.Context, cfg bitcoin.RPCConfig, from, to int64) (time.Duration, int, error) {
	src, err := bitcoin.NewSource(cfg, Magic)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	return timedSync(ctx, src, from, to)
}

// ProcessOnly measures vchain's own work on the blocks from..to without
// the node: it first fetches the raw blocks and the transactions their
// application transactions spend (not timed), then times a fresh engine
// syncing from them, every block parsed and decoded as the source does
// (txids, payloads, senders) and applied through the passthrough
// application with in-memory commits. Set against a fetch-only loop, it
// tells whether decoding and indexing could keep up with the node.
func ProcessOnly(ctx context.Context, cfg bitcoin.RPCConfig, from, to int64) (time.Duration, int, error) {
	src, err := bitcoin.NewSource(cfg, Magic)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	pre := &preloaded{from: from, dec: &bitcoin.Decoder{Params: cfg.Params, Magic: Magic}, prevs: map[chainhash.Hash]*wire.MsgTx{}}
	c := src.Client()
	for h := from; h <= to; h++ {
		hash, err := c.GetBlockHash(h)
		if err != nil {
			return 0, 0, err
		}
		res, err := c.RawRequest("getblock", []json.RawMessage{json.RawMessage(`"` + hash.String() + `"`), json.RawMessage("0")})
		if err != nil {
			return 0, 0, err
		}
		var hexBlock string
		if err := json.Unmarshal(res, &hexBlock); err != nil {
			return 0, 0, err
		}
		raw, err := hex.DecodeString(hexBlock)
		if err != nil {
			return 0, 0, err
		}
		pre.raw = append(pre.raw, raw)
	}
	// The spent transactions, fetched now so that the timed part looks
	// them up in memory, as the source's cache does.
	spent, err := SpentBy(cfg, from, to)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range spent {
		h, err := chainhash.NewHashFromStr(id)
		if err != nil {
			return 0, 0, err
		}
		t, err := c.GetRawTransaction(h)
		if err != nil {
			return 0, 0, err
		}
		pre.prevs[*h] = t.MsgTx()
	}
	return timedSync(ctx, pre, from, to)
}

// timedSync runs a fresh engine (the passthrough application from block
// from, an in-memory store) over src up to its tip, and returns how long
// the sync took and how many ops it accepted in from..to.
func timedSync(ctx context.Context, src tape.Source, from, to int64) (time.Duration, int, error) {
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	e, err := engine.Open(db, passthrough.New(from), engine.Config{})
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := e.Sync(ctx, src); err != nil {
		return 0, 0, err
	}
	el := time.Since(start)
	ops := 0
	for h := from; h <= to; h++ {
		r, err := e.Record(h)
		if err != nil {
			return 0, 0, fmt.Errorf("block %d: %w", h, err)
		}
		ops += int(r.Accepted)
	}
	return el, ops, nil
}

// preloaded is a tape.Source over raw blocks held in memory, decoded when
// asked for.
type preloaded struct {
	from  int64
	raw   [][]byte
	dec   *bitcoin.Decoder
	prevs map[chainhash.Hash]*wire.MsgTx
}

func (p *preloaded) Tip(context.Context) (int64, error) { return p.from + int64(len(p.raw)) - 1, nil }

func (p *preloaded) Header(ctx context.Context, h int64) (tape.Header, error) {
	b, err := p.Block(ctx, h)
	if err != nil {
		return tape.Header{}, err
	}
	return b.Header, nil
}

func (p *preloaded) Block(_ context.Context, h int64) (*tape.Block, error) {
	if h < p.from {
		return nil, tape.ErrUnknown
	}
	if h-p.from >= int64(len(p.raw)) {
		return nil, tape.ErrNotFound
	}
	return p.dec.RawBlock(h, p.raw[h-p.from], p)
}

func (p *preloaded) PrevOut(op wire.OutPoint) (*wire.TxOut, error) {
	tx, ok := p.prevs[op.Hash]
	if !ok || int(op.Index) >= len(tx.TxOut) {
		return nil, fmt.Errorf("%v: not preloaded", op)
	}
	return tx.TxOut[op.Index], nil
}

// SourceOnly reads the blocks from..to through vchain's Bitcoin source
// (its pipeline, transport and decoding, and the sender lookups of the
// transactions carrying magic), without an engine, and returns how long
// it took. With a magic no transaction carries, it fetches and parses
// the blocks and nothing more.
func SourceOnly(ctx context.Context, cfg bitcoin.RPCConfig, magic []byte, from, to int64) (time.Duration, error) {
	src, err := bitcoin.NewSource(cfg, magic)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	start := time.Now()
	if _, err := src.Tip(ctx); err != nil {
		return 0, err
	}
	for h := from; h <= to; {
		bs, err := src.Blocks(ctx, h, to)
		if err != nil {
			return 0, err
		}
		h += int64(len(bs))
	}
	return time.Since(start), nil
}
