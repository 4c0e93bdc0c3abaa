package bitcoin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/bitcoin/btcrpc"
)

// RPCConfig says how to reach a node's JSON-RPC interface.
type RPCConfig struct {
	Host, User, Pass string
	// NoTLS talks plain HTTP (a loopback node).
	NoTLS bool
	// Certificates are the PEM certificates to trust for TLS (a node's
	// self-signed rpc.cert); empty means the system's roots.
	Certificates []byte
	// Params are the node's network parameters.
	Params *chaincfg.Params
	// Batches is how many runs of raw blocks Blocks keeps asked of the node
	// at once (default 4): pipelined on one websocket when the node offers
	// one (btcd), else as batched HTTP requests, each on its own
	// connection (bitcoind). Three times as many runs are fetched ahead.
	Batches int
	// NoWebsocket fetches over batched HTTP requests even from a node that
	// offers a websocket.
	NoWebsocket bool
	// Parallel is how many single requests Blocks keeps in flight when the
	// node refuses batched requests (default 8).
	Parallel int
	// FetchBytes bounds the memory that blocks fetched ahead may hold, in
	// bytes (default 256 MiB). Runs are cut to fit at the average block
	// size seen so far; a single block larger than the budget is still
	// fetched, alone.
	FetchBytes int64
}

// Source is a tape.Source over a bitcoind or btcd node: raw blocks are
// decoded locally, and the outputs a transaction spends are looked up in
// the node's transaction index (txindex must be on) and cached.
type Source struct {
	c   *rpcclient.Client
	cfg RPCConfig
	dec *Decoder

	mu       sync.Mutex
	prevs    map[chainhash.Hash]*wire.MsgTx
	workers  []*rpcclient.Client // for single requests in flight
	pool     chan *btcrpc.Client // the fetching clients, one per run in flight
	fetchers []*btcrpc.Client    // every client in pool, once
	side     *btcrpc.Client      // hashes and spent outputs, off the blocks' queue
	queue    []*chunk            // runs being fetched ahead, in height order
	avgSize  float64             // running average of raw block sizes, in bytes
	lookups  atomic.Int64        // transactions fetched for the outputs they spend
}

// NewSource connects to the node. magic, when not empty, keeps only the
// transactions whose payload starts with it.
func NewSource(cfg RPCConfig, magic []byte) (*Source, error) {
	if cfg.Params == nil {
		return nil, errors.New("bitcoin: no network parameters")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Batches <= 0 {
		cfg.Batches = 4
	}
	if cfg.FetchBytes <= 0 {
		cfg.FetchBytes = 256 << 20
	}
	c, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{c: c, cfg: cfg, dec: &Decoder{Params: cfg.Params, Magic: magic}, prevs: map[chainhash.Hash]*wire.MsgTx{}}, nil
}

func dial(cfg RPCConfig) (*rpcclient.Client, error) {
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: cfg.Host, User: cfg.User, Pass: cfg.Pass,
		HTTPPostMode: true, DisableTLS: cfg.NoTLS, Certificates: cfg.Certificates,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: %w", err)
	}
	return c, nil
}

// Client returns the RPC client, for callers that submit transactions or
// mine (tests).
func (s *Source) Client() *rpcclient.Client { return s.c }

// Close disconnects.
func (s *Source) Close() {
	s.dropQueue()
	s.c.Shutdown()
	for _, w := range s.workers {
		w.Shutdown()
	}
	s.closeFetchers()
}

// closeFetchers closes the fetching clients; the next fetch connects
// again (after the node restarted, say). No run may be in flight.
func (s *Source) closeFetchers() {
	for _, f := range s.fetchers {
		f.Close()
	}
	if s.side != nil {
		s.side.Close()
	}
	s.fetchers, s.side, s.pool = nil, nil, nil
}

// lost tells whether err says a fetching connection has closed, and if so
// closes the fetchers so that the next fetch connects again.
func (s *Source) lost(err error) bool {
	if !errors.Is(err, btcrpc.ErrClosed) {
		return false
	}
	s.dropQueue()
	s.closeFetchers()
	return true
}

// sideCall makes one call on the side connection, connecting first when
// needed.
func (s *Source) sideCall(ctx context.Context, call btcrpc.Call) ([]byte, error) {
	if err := s.openBatches(ctx); err != nil {
		return nil, err
	}
	rs, err := s.side.Do(ctx, []btcrpc.Call{call})
	if err != nil {
		s.lost(err)
		return nil, err
	}
	return rs[0].Value, rs[0].Err
}

// Tip implements tape.Source.
//
// Blocks fetched ahead before the call are dropped: a new round of reading
// never sees blocks fetched before it (the chain may have changed since).
func (s *Source) Tip(ctx context.Context) (int64, error) {
	s.dropQueue()
	res, err := s.sideCall(ctx, btcrpc.Call{Method: "getblockcount"})
	if err != nil {
		return 0, fmt.Errorf("bitcoin: getblockcount: %w", err)
	}
	var n int64
	if err := json.Unmarshal(res, &n); err != nil {
		return 0, fmt.Errorf("bitcoin: getblockcount: %w", err)
	}
	return n, nil
}

func hashAt(c *rpcclient.Client, h int64) (*chainhash.Hash, error) {
	hash, err := c.GetBlockHash(h)
	if err != nil {
		if isOutOfRange(err) {
			return nil, fmt.Errorf("bitcoin: height %d: %w", h, tape.ErrNotFound)
		}
		return nil, fmt.Errorf("bitcoin: getblockhash %d: %w", h, err)
	}
	return hash, nil
}

// isOutOfRange tells whether a getblockhash error says the height is above
// the tip.
func isOutOfRange(err error) bool {
	return strings.Contains(err.Error(), "out of range") || strings.Contains(err.Error(), "-8")
}

// Header implements tape.Source.
func (s *Source) Header(ctx context.Context, h int64) (tape.Header, error) {
	if err := s.openBatches(ctx); err != nil {
		return tape.Header{}, err
	}
	hashes, err := blockHashes(s.side, h, h)
	if err != nil {
		s.lost(err)
		return tape.Header{}, err
	}
	raw, err := s.sideCall(ctx, btcrpc.Call{Method: "getblockheader", Params: []any{hashes[0].String(), false}, Hex: true})
	if err != nil {
		return tape.Header{}, fmt.Errorf("bitcoin: getblockheader %d: %w", h, err)
	}
	var hdr wire.BlockHeader
	if err := hdr.Deserialize(bytes.NewReader(raw)); err != nil || hdr.BlockHash() != hashes[0] {
		return tape.Header{}, fmt.Errorf("bitcoin: getblockheader %d: not the header of %s", h, hashes[0])
	}
	return tape.Header{Height: h, Hash: displayHash(hashes[0]), Parent: displayHash(hdr.PrevBlock), Time: hdr.Timestamp.Unix()}, nil
}

// Block implements tape.Source.
func (s *Source) Block(ctx context.Context, h int64) (*tape.Block, error) {
	return s.blockWith(s.c, h)
}

func (s *Source) blockWith(c *rpcclient.Client, h int64) (*tape.Block, error) {
	hash, err := hashAt(c, h)
	if err != nil {
		return nil, err
	}
	b, err := c.GetBlock(hash)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: getblock %d: %w", h, err)
	}
	return s.dec.Block(h, b, prevOuts{s, c})
}

// Blocks implements tape.RangeSource. It fetches ahead, up to to, in runs
// of blocks, with vchain's lean JSON-RPC client (package btcrpc). Per run:
// one batch for the block hashes and, after the raw blocks, one for the
// transactions whose outputs the application's transactions spend (from
// the node's transaction index; they are cached), both on a side
// connection so they never wait behind blocks; and one batch for the raw
// blocks, with at most Batches such batches at the node. Each run is
// decoded locally as soon as it arrives, so decoding overlaps with the
// node serving the next runs. The first runs are of 4 blocks, as many as
// the budget allows were every block of the largest size; once the block
// size is known, runs are of up to 64 blocks, cut to 256 KiB of blocks
// and so that the blocks held stay within FetchBytes.
//
// Blocks returns the first run, or the part of it up to to; the rest
// stays queued for the next call, which must start where this one ended
// (other calls, and Tip, drop the queue). When the node refuses batches,
// Blocks falls back to Parallel single requests in flight.
func (s *Source) Blocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	if to < from {
		return nil, nil
	}
	bs, err := s.pipelined(ctx, from, to)
	if err == nil || errors.Is(err, tape.ErrNotFound) {
		return bs, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if s.lost(err) { // connect again, once
		if bs, err = s.pipelined(ctx, from, to); err == nil || errors.Is(err, tape.ErrNotFound) {
			return bs, err
		}
	}
	return s.parallelBlocks(ctx, from, to)
}

// chunk is a run of blocks fetched and decoded in the background.
type chunk struct {
	from, to int64         // heights asked for; blocks may end earlier, at the tip
	prev     *chunk        // the chunk before, while it was queued
	asked    chan struct{} // closed once the chunk's blocks are asked for (or it failed)
	done     chan struct{}
	blocks   []*tape.Block
	err      error
}

// pipelined serves [from, to] from the queue of chunks, keeping ahead() of
// them fetched or in flight.
func (s *Source) pipelined(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	if err := s.openBatches(ctx); err != nil {
		return nil, err
	}
	if len(s.queue) > 0 && s.queue[0].from != from {
		s.dropQueue()
	}
	s.fill(from, to)
	c := s.queue[0]
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil || len(c.blocks) == 0 {
		s.dropQueue()
		if c.err == nil {
			c.err = fmt.Errorf("bitcoin: height %d: %w", from, tape.ErrNotFound)
		}
		return nil, c.err
	}
	n := min(int64(len(c.blocks)), to-from+1)
	out := c.blocks[:n:n]
	if n < int64(len(c.blocks)) {
		c.blocks, c.from = c.blocks[n:], c.from+n
	} else {
		s.queue = s.queue[1:]
		if c.from+n-1 < c.to {
			s.dropQueue() // the chunk ended at the tip: nothing follows it
		}
	}
	s.fill(from+n, to)
	return out, nil
}

// openBatches connects the fetching clients once: a websocket for blocks,
// which pipelines requests on one connection, and another for the side
// requests; or else Batches HTTP clients that send batched requests, and
// one more for the side.
func (s *Source) openBatches(ctx context.Context) error {
	if s.pool != nil {
		return nil
	}
	bc := btcrpc.Config{Host: s.cfg.Host, User: s.cfg.User, Pass: s.cfg.Pass, NoTLS: s.cfg.NoTLS, Certificates: s.cfg.Certificates}
	pool := make(chan *btcrpc.Client, s.cfg.Batches)
	if !s.cfg.NoWebsocket {
		if ws, err := btcrpc.DialWebsocket(ctx, bc); err == nil {
			if s.side, err = btcrpc.DialWebsocket(ctx, bc); err != nil {
				ws.Close()
				return fmt.Errorf("bitcoin: %w", err)
			}
			s.fetchers = []*btcrpc.Client{ws}
			for range s.cfg.Batches {
				pool <- ws
			}
			s.pool = pool
			return nil
		}
	}
	side, err := btcrpc.NewHTTP(bc) // fails only on bad certificates, for all alike
	if err != nil {
		return fmt.Errorf("bitcoin: %w", err)
	}
	s.side = side
	for range s.cfg.Batches {
		c, _ := btcrpc.NewHTTP(bc)
		s.fetchers = append(s.fetchers, c)
		pool <- c
	}
	s.pool = pool
	return nil
}

// fill launches chunks after the last queued one (or at from) until
// ahead() are queued or to is reached.
func (s *Source) fill(from, to int64) {
	for len(s.queue) < s.ahead() {
		s.mu.Lock()
		unknown := s.avgSize == 0
		s.mu.Unlock()
		if unknown && len(s.queue) >= s.blindRuns() {
			return // the first run learns the block size the others are cut to
		}
		next := from
		if len(s.queue) > 0 {
			next = s.queue[len(s.queue)-1].to + 1
		}
		if next > to {
			return
		}
		c := &chunk{from: next, to: min(to, next+s.runLen()-1), asked: make(chan struct{}), done: make(chan struct{})}
		if len(s.queue) > 0 {
			c.prev = s.queue[len(s.queue)-1]
		}
		s.queue = append(s.queue, c)
		go s.fetchChunk(c)
	}
}

// fetchChunk fetches, resolves and decodes one chunk on a pooled
// connection.
func (s *Source) fetchChunk(c *chunk) {
	defer close(c.done)
	asked := sync.OnceFunc(func() { close(c.asked) })
	defer asked()
	hashes, err := blockHashes(s.side, c.from, c.to)
	if err != nil {
		c.err = err
		return
	}
	// Blocks are asked for in height order, so the node serves first the
	// run the engine needs first; the pool bounds the batches at the node.
	if c.prev != nil {
		<-c.prev.asked
		c.prev = nil
	}
	bc := <-s.pool
	asked()
	raw, err := rawBlocks(bc, c.from, hashes)
	s.pool <- bc
	if err != nil {
		c.err = err
		return
	}
	s.sawBlocks(raw)
	for i := range raw {
		raw[i].kept = s.dec.selectTxs(raw[i].MsgBlock) // once, for the lookups and the decoding
	}
	if err := s.prefetchPrevs(s.side, raw); err != nil {
		c.err = err
		return
	}
	c.blocks = make([]*tape.Block, len(raw))
	for i, b := range raw {
		if c.blocks[i], c.err = s.dec.block(c.from+int64(i), b, prevOuts{s, s.c}); c.err != nil {
			c.blocks = c.blocks[:i]
			return
		}
		s.remember(c.blocks[i], b)
	}
}

// remember caches the transactions the application kept: a later op often
// spends an earlier op's change (a register after its preorder), and then
// needs no lookup. A transaction's outputs never change under its id, so
// the cache stays right across reorgs.
func (s *Source) remember(tb *tape.Block, b rawParsed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tb.Txs {
		id := chainhash.Hash(t.ID)
		slices.Reverse(id[:]) // tape ids are shown reversed, as Bitcoin shows them
		s.cachePrev(id, b.Transactions[t.Index])
	}
}

// cachePrev keeps tx for the lookups of the outputs it has; s.mu is held.
func (s *Source) cachePrev(id chainhash.Hash, tx *wire.MsgTx) {
	if len(s.prevs) >= maxCachedPrevs {
		clear(s.prevs)
	}
	s.prevs[id] = tx
}

// maxCachedPrevs bounds the cache of transactions whose outputs are spent.
const maxCachedPrevs = 100_000

// Lookups is how many transactions the source has fetched from the node's
// transaction index for the outputs they spend (cache misses).
func (s *Source) Lookups() int64 { return s.lookups.Load() }

// dropQueue waits for the chunks in flight and forgets them.
func (s *Source) dropQueue() {
	for _, c := range s.queue {
		<-c.done
	}
	s.queue = nil
}

// ahead is how many runs are fetched ahead: the runs in flight at the
// node, and as many again decoded or being decoded, so that one slow run
// does not leave the node idle.
func (s *Source) ahead() int { return 3 * s.cfg.Batches }

// runLen is how many blocks the next run fetches: blindRunLen until the
// block size is known, then up to 64, within runBytes at the average block
// size seen so far (short runs of big blocks keep many requests in flight
// without holding much), and within the memory budget.
func (s *Source) runLen() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.avgSize == 0 {
		return blindRunLen
	}
	// A raw block is held as hex in the response, then decoded: count
	// three times its size, for every run ahead and one more.
	size := int64(s.avgSize)
	return min(64, max(1, runBytes/size), max(1, s.cfg.FetchBytes/int64(s.ahead()+1)/(3*size)))
}

// runBytes is the size of raw blocks a run aims at.
const runBytes = 256 << 10

// Before the first run has told the block size, runs are of blindRunLen
// blocks, and as many are launched as fit in the memory budget were every
// block as large as Bitcoin allows (4 MB serialized, held three times).
const (
	blindRunLen   = 4
	maxBlockBytes = 4_000_000
)

// blindRuns is how many runs may be fetched before the block size is known.
func (s *Source) blindRuns() int {
	return int(max(1, min(int64(s.ahead()), s.cfg.FetchBytes/(3*blindRunLen*maxBlockBytes))))
}

// sawBlocks updates the running average block size.
func (s *Source) sawBlocks(raw []rawParsed) {
	if len(raw) == 0 {
		return
	}
	total := 0
	for _, b := range raw {
		total += len(b.raw)
	}
	avg := float64(total) / float64(len(raw))
	s.mu.Lock()
	if s.avgSize == 0 {
		s.avgSize = avg
	} else {
		s.avgSize = 0.5*s.avgSize + 0.5*avg
	}
	s.mu.Unlock()
}

// parallelBlocks fetches a prefix of [from, to] (a run within the memory
// budget) with Parallel requests in flight, each worker on its own
// connection.
func (s *Source) parallelBlocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	to = min(to, from+max(s.runLen(), int64(s.cfg.Parallel))-1)
	s.mu.Lock()
	for len(s.workers) < s.cfg.Parallel {
		c, err := dial(s.cfg)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.workers = append(s.workers, c)
	}
	workers := s.workers
	s.mu.Unlock()
	n := int(to - from + 1)
	if n <= 0 {
		return nil, nil
	}
	out := make([]*tape.Block, n)
	errs := make([]error, n)
	var next atomic.Int64
	next.Store(from)
	var wg sync.WaitGroup
	for _, c := range workers[:min(len(workers), n)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				h := next.Add(1) - 1
				if h > to || ctx.Err() != nil {
					return
				}
				out[h-from], errs[h-from] = s.blockWith(c, h)
			}
		}()
	}
	wg.Wait()
	for i := range out {
		if errs[i] != nil {
			return out[:i], errs[i]
		}
		if out[i] == nil {
			return out[:i], ctx.Err()
		}
	}
	return out, nil
}

// prevOuts looks spent outputs up through one connection.
type prevOuts struct {
	s *Source
	c *rpcclient.Client
}

func (p prevOuts) PrevOut(op wire.OutPoint) (*wire.TxOut, error) { return p.s.prevOut(p.c, op) }

// PrevOut implements PrevOuts through the node's transaction index.
func (s *Source) PrevOut(op wire.OutPoint) (*wire.TxOut, error) { return s.prevOut(s.c, op) }

func (s *Source) prevOut(c *rpcclient.Client, op wire.OutPoint) (*wire.TxOut, error) {
	s.mu.Lock()
	tx, ok := s.prevs[op.Hash]
	s.mu.Unlock()
	if !ok {
		s.lookups.Add(1)
		t, err := c.GetRawTransaction(&op.Hash)
		if err != nil {
			return nil, fmt.Errorf("getrawtransaction %s (is txindex on?): %w", op.Hash, err)
		}
		tx = t.MsgTx()
		s.mu.Lock()
		s.cachePrev(op.Hash, tx)
		s.mu.Unlock()
	}
	if int(op.Index) >= len(tx.TxOut) {
		return nil, fmt.Errorf("%v: transaction has %d outputs", op, len(tx.TxOut))
	}
	return tx.TxOut[op.Index], nil
}

// prefetchPrevs loads, in one batched request, the transactions whose
// outputs the application's transactions in blocks spend (blocks' kept
// transactions, selected), so decoding them needs no further round trips.
func (s *Source) prefetchPrevs(bc *btcrpc.Client, blocks []rawParsed) error {
	want := map[chainhash.Hash]bool{}
	s.mu.Lock()
	for _, b := range blocks {
		for _, k := range b.kept {
			tx := b.Transactions[k.index]
			if isCoinbase(tx) {
				continue
			}
			for _, in := range tx.TxIn {
				if _, ok := s.prevs[in.PreviousOutPoint.Hash]; !ok {
					want[in.PreviousOutPoint.Hash] = true
				}
			}
		}
	}
	s.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	hashes := make([]chainhash.Hash, 0, len(want))
	calls := make([]btcrpc.Call, 0, len(want))
	for h := range want {
		hashes = append(hashes, h)
		calls = append(calls, btcrpc.Call{Method: "getrawtransaction", Params: []any{h.String(), 0}, Hex: true})
	}
	s.lookups.Add(int64(len(calls)))
	rs, err := bc.Do(context.Background(), calls)
	if err != nil {
		return fmt.Errorf("bitcoin: getrawtransaction: %w", err)
	}
	for i, r := range rs {
		if r.Err != nil {
			continue // leave it to the one-by-one lookup, which names the problem
		}
		tx := new(wire.MsgTx)
		if tx.Deserialize(bytes.NewReader(r.Value)) != nil || tx.TxHash() != hashes[i] {
			continue
		}
		s.mu.Lock()
		s.cachePrev(hashes[i], tx)
		s.mu.Unlock()
	}
	return nil
}

// blockHashes asks for the hashes of the blocks [from, to] in one batch.
// When the tip is below to, it returns the hashes up to the tip.
func blockHashes(c *btcrpc.Client, from, to int64) ([]chainhash.Hash, error) {
	ctx := context.Background()
	n := int(to - from + 1)
	calls := make([]btcrpc.Call, n)
	for i := range calls {
		calls[i] = btcrpc.Call{Method: "getblockhash", Params: []any{from + int64(i)}, Hex: true}
	}
	rs, err := c.Do(ctx, calls)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: getblockhash: %w", err)
	}
	hashes := make([]chainhash.Hash, 0, n)
	for i, r := range rs {
		if r.Err != nil {
			if i > 0 && isOutOfRange(r.Err) {
				break // the tip: return what there is
			}
			if isOutOfRange(r.Err) {
				return nil, fmt.Errorf("bitcoin: height %d: %w", from, tape.ErrNotFound)
			}
			return nil, fmt.Errorf("bitcoin: getblockhash %d: %w", from+int64(i), r.Err)
		}
		if len(r.Value) != chainhash.HashSize {
			return nil, fmt.Errorf("bitcoin: getblockhash %d: %d bytes, not a hash", from+int64(i), len(r.Value))
		}
		h := chainhash.Hash(r.Value) // shown reversed, as hashes are
		slices.Reverse(h[:])
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// rawBlocks fetches the raw blocks with the given hashes, from height
// from on, in one batch.
func rawBlocks(bc *btcrpc.Client, from int64, hashes []chainhash.Hash) ([]rawParsed, error) {
	ctx := context.Background()
	n := len(hashes)
	calls := make([]btcrpc.Call, n)
	// getblock at verbosity 0: the hex is decoded once, as it is read, and
	// the ids of the transactions the application keeps are hashed from
	// the bytes, when decoded.
	for i := range hashes {
		calls[i] = btcrpc.Call{Method: "getblock", Params: []any{hashes[i].String(), 0}, Hex: true}
	}
	rs, err := bc.Do(ctx, calls)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: getblock: %w", err)
	}
	out := make([]rawParsed, n)
	for i, r := range rs {
		if r.Err != nil {
			return nil, fmt.Errorf("bitcoin: getblock %d: %w", from+int64(i), r.Err)
		}
		b, err := parseRaw(r.Value)
		if err != nil {
			return nil, fmt.Errorf("bitcoin: getblock %d: %w", from+int64(i), err)
		}
		if b.BlockHash() != hashes[i] {
			return nil, fmt.Errorf("bitcoin: getblock %d: the node sent block %s for %s", from+int64(i), b.BlockHash(), hashes[i])
		}
		out[i] = b
	}
	return out, nil
}
