package bitcoin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/tape"
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
	// Batches is how many runs of blocks Blocks keeps in flight (default
	// 3): over one websocket when the node offers one (btcd), else as
	// batched HTTP requests, each on its own connection (bitcoind).
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

	mu      sync.Mutex
	prevs   map[chainhash.Hash]*wire.MsgTx
	workers []*rpcclient.Client // for single requests in flight
	pool    chan *rpcclient.Client
	batches []*rpcclient.Client // every client in pool
	ws      *rpcclient.Client   // the websocket client, when the node has one
	queue   []*chunk            // runs being fetched ahead, in height order
	run     int64               // the next run's length before the budget cut
	avgSize float64             // running average of raw block sizes, in bytes
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
		cfg.Batches = 3
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

func dialBatch(cfg RPCConfig) (*rpcclient.Client, error) {
	c, err := rpcclient.NewBatch(&rpcclient.ConnConfig{
		Host: cfg.Host, User: cfg.User, Pass: cfg.Pass,
		HTTPPostMode: true, DisableTLS: cfg.NoTLS, Certificates: cfg.Certificates,
	})
	if err != nil {
		return nil, fmt.Errorf("bitcoin: %w", err)
	}
	return c, nil
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
	for _, b := range s.batches {
		b.Shutdown()
	}
	if s.ws != nil {
		s.ws.Shutdown()
		s.ws.WaitForShutdown()
	}
}

// Tip implements tape.Source.
//
// Blocks fetched ahead before the call are dropped: a new round of reading
// never sees blocks fetched before it (the chain may have changed since).
func (s *Source) Tip(ctx context.Context) (int64, error) {
	s.dropQueue()
	n, err := s.c.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("bitcoin: getblockcount: %w", err)
	}
	return n, nil
}

func (s *Source) hashAt(h int64) (*chainhash.Hash, error) { return hashAt(s.c, h) }

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
	hash, err := s.hashAt(h)
	if err != nil {
		return tape.Header{}, err
	}
	hdr, err := s.c.GetBlockHeader(hash)
	if err != nil {
		return tape.Header{}, fmt.Errorf("bitcoin: getblockheader %d: %w", h, err)
	}
	return tape.Header{Height: h, Hash: displayHash(*hash), Parent: displayHash(hdr.PrevBlock), Time: hdr.Timestamp.Unix()}, nil
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

// Blocks implements tape.RangeSource. It fetches ahead, up to to, with
// Batches batched JSON-RPC requests in flight on their own connections:
// per run of blocks, one request for the block hashes, one for the raw
// blocks, and one for the transactions whose outputs the application's
// transactions spend (from the node's transaction index; they are cached).
// Each run is decoded locally as soon as it arrives, so decoding overlaps
// with the node serving the next runs. Runs start short and double, so
// the pipeline fills quickly, and are cut so that the blocks held stay
// within FetchBytes at the average block size seen so far.
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
	if err == nil {
		return bs, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return s.parallelBlocks(ctx, from, to)
}

// chunk is a run of blocks fetched and decoded in the background.
type chunk struct {
	from, to int64 // heights asked for; blocks may end earlier, at the tip
	done     chan struct{}
	blocks   []*tape.Block
	err      error
}

// pipelined serves [from, to] from the queue of chunks, keeping Batches of
// them in flight.
func (s *Source) pipelined(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	if err := s.openBatches(); err != nil {
		return nil, err
	}
	if len(s.queue) > 0 && s.queue[0].from != from {
		s.dropQueue()
	}
	if len(s.queue) == 0 {
		s.mu.Lock()
		s.run = 0 // a new round: start short again
		s.mu.Unlock()
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

// openBatches connects the fetching clients once: a websocket, which
// pipelines requests on one connection, or else Batches HTTP clients that
// send batched requests.
func (s *Source) openBatches() error {
	if s.pool != nil {
		return nil
	}
	pool := make(chan *rpcclient.Client, s.cfg.Batches)
	if !s.cfg.NoWebsocket {
		ws, err := rpcclient.New(&rpcclient.ConnConfig{
			Host: s.cfg.Host, Endpoint: "ws", User: s.cfg.User, Pass: s.cfg.Pass,
			DisableTLS: s.cfg.NoTLS, Certificates: s.cfg.Certificates, DisableAutoReconnect: true,
		}, nil)
		if err == nil {
			s.ws = ws
			for range s.cfg.Batches {
				pool <- ws
			}
			s.pool = pool
			return nil
		}
	}
	for range s.cfg.Batches {
		c, err := dialBatch(s.cfg)
		if err != nil {
			for _, b := range s.batches {
				b.Shutdown()
			}
			s.batches = nil
			return err
		}
		s.batches = append(s.batches, c)
		pool <- c
	}
	s.pool = pool
	return nil
}

// fill launches chunks after the last queued one (or at from) until
// Batches are queued or to is reached.
func (s *Source) fill(from, to int64) {
	for len(s.queue) < s.cfg.Batches {
		next := from
		if len(s.queue) > 0 {
			next = s.queue[len(s.queue)-1].to + 1
		}
		if next > to {
			return
		}
		c := &chunk{from: next, to: min(to, next+s.runLen()-1), done: make(chan struct{})}
		s.queue = append(s.queue, c)
		go s.fetchChunk(c)
	}
}

// fetchChunk fetches, resolves and decodes one chunk on a pooled
// connection.
func (s *Source) fetchChunk(c *chunk) {
	defer close(c.done)
	bc := <-s.pool
	defer func() { s.pool <- bc }()
	raw, err := fetchRaw(bc, bc != s.ws, c.from, c.to)
	if err != nil {
		c.err = err
		return
	}
	s.sawBlocks(raw)
	if err := s.prefetchPrevs(bc, bc != s.ws, raw); err != nil {
		c.err = err
		return
	}
	c.blocks = make([]*tape.Block, len(raw))
	for i, b := range raw {
		if c.blocks[i], c.err = s.dec.block(c.from+int64(i), b.MsgBlock, b.ids, prevOuts{s, s.c}); c.err != nil {
			c.blocks = c.blocks[:i]
			return
		}
	}
}

// dropQueue waits for the chunks in flight and forgets them.
func (s *Source) dropQueue() {
	for _, c := range s.queue {
		<-c.done
	}
	s.queue = nil
}

// runLen is how many blocks the next run fetches: it doubles from 4 up to
// 64, and to what the memory budget allows at the average block size
// seen so far.
func (s *Source) runLen() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(s.run, 4)
	s.run = min(2*n, 64)
	if s.avgSize > 0 {
		// A raw block is held as hex in the response, then decoded: count
		// three times its size, for every run in flight and one more.
		n = min(n, max(1, s.cfg.FetchBytes/int64(s.cfg.Batches+1)/(3*int64(s.avgSize))))
	}
	return n
}

// sawBlocks updates the running average block size.
func (s *Source) sawBlocks(raw []rawBlock) {
	if len(raw) == 0 {
		return
	}
	total := 0
	for _, b := range raw {
		total += b.size
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
		t, err := c.GetRawTransaction(&op.Hash)
		if err != nil {
			return nil, fmt.Errorf("getrawtransaction %s (is txindex on?): %w", op.Hash, err)
		}
		tx = t.MsgTx()
		s.mu.Lock()
		if len(s.prevs) > 100_000 {
			clear(s.prevs)
		}
		s.prevs[op.Hash] = tx
		s.mu.Unlock()
	}
	if int(op.Index) >= len(tx.TxOut) {
		return nil, fmt.Errorf("%v: transaction has %d outputs", op, len(tx.TxOut))
	}
	return tx.TxOut[op.Index], nil
}

// prefetchPrevs loads, in one batched request, the transactions whose
// outputs the application's transactions in blocks spend, so decoding
// them needs no further round trips.
func (s *Source) prefetchPrevs(bc *rpcclient.Client, batch bool, blocks []rawBlock) error {
	want := map[chainhash.Hash]bool{}
	s.mu.Lock()
	for _, b := range blocks {
		for _, tx := range b.Transactions {
			p, ok := Payload(tx)
			if !ok || len(s.dec.Magic) > 0 && !hasPrefix(p, s.dec.Magic) || isCoinbase(tx) {
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
	futures := make([]rpcclient.FutureGetRawTransactionResult, 0, len(want))
	for h := range want {
		hashes = append(hashes, h)
		futures = append(futures, bc.GetRawTransactionAsync(&h))
	}
	if err := send(bc, batch); err != nil {
		return err
	}
	for i, f := range futures {
		tx, err := f.Receive()
		if err != nil {
			// Leave it to the one-by-one lookup, which names the problem.
			continue
		}
		s.mu.Lock()
		s.prevs[hashes[i]] = tx.MsgTx()
		s.mu.Unlock()
	}
	return nil
}

// send sends a batch client's queued requests; a websocket client has
// sent them already.
func send(c *rpcclient.Client, batch bool) error {
	if !batch {
		return nil
	}
	return c.Send()
}

// fetchRaw fetches the raw blocks [from, to] with two rounds of requests
// (batched, or pipelined on a websocket): the hashes, then the blocks. When the tip is below to, it returns the
// blocks up to the tip.
func fetchRaw(bc *rpcclient.Client, batch bool, from, to int64) ([]rawBlock, error) {
	n := int(to - from + 1)
	hashFs := make([]rpcclient.FutureGetBlockHashResult, n)
	for i := range hashFs {
		hashFs[i] = bc.GetBlockHashAsync(from + int64(i))
	}
	if err := send(bc, batch); err != nil {
		return nil, err
	}
	hashes := make([]*chainhash.Hash, 0, n)
	for i, f := range hashFs {
		h, err := f.Receive()
		if err != nil {
			if i > 0 && isOutOfRange(err) {
				break // the tip: return what there is
			}
			return nil, err
		}
		hashes = append(hashes, h)
	}
	n = len(hashes)
	// getblock at verbosity 0, asked raw: the hex is decoded here once,
	// and transaction ids are hashed from the bytes.
	blockFs := make([]rpcclient.FutureRawResult, n)
	for i, h := range hashes {
		blockFs[i] = bc.RawRequestAsync("getblock", []json.RawMessage{json.RawMessage(`"` + h.String() + `"`), json.RawMessage("0")})
	}
	if err := send(bc, batch); err != nil {
		return nil, err
	}
	out := make([]rawBlock, n)
	for i, f := range blockFs {
		res, err := f.Receive()
		if err != nil {
			return nil, fmt.Errorf("getblock %d: %w", from+int64(i), err)
		}
		if len(res) < 2 || res[0] != '"' || res[len(res)-1] != '"' {
			return nil, fmt.Errorf("getblock %d: the node did not answer a hex string", from+int64(i))
		}
		raw := make([]byte, hex.DecodedLen(len(res)-2))
		if _, err := hex.Decode(raw, res[1:len(res)-1]); err != nil {
			return nil, fmt.Errorf("getblock %d: %w", from+int64(i), err)
		}
		b, ids, err := parseRaw(raw)
		if err != nil {
			return nil, fmt.Errorf("getblock %d: %w", from+int64(i), err)
		}
		if b.BlockHash() != *hashes[i] {
			return nil, fmt.Errorf("getblock %d: the node sent block %s for %s", from+int64(i), b.BlockHash(), hashes[i])
		}
		out[i] = rawBlock{b, ids, len(raw)}
	}
	return out, nil
}

// rawBlock is a fetched block with its transactions' ids.
type rawBlock struct {
	*wire.MsgBlock
	ids  []chainhash.Hash
	size int
}
