package bitcoin

import (
	"context"
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
	// Parallel is how many requests Blocks keeps in flight, each on its own
	// connection (default 8; one HTTP-POST client serializes its requests).
	Parallel int
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
	workers []*rpcclient.Client
	batch   *rpcclient.Client
	ahead   *rpcclient.Client // fetches the next run in the background
	next    *aheadRun
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
	s.c.Shutdown()
	for _, w := range s.workers {
		w.Shutdown()
	}
	if s.next != nil {
		<-s.next.done
	}
	if s.batch != nil {
		s.batch.Shutdown()
	}
	if s.ahead != nil {
		s.ahead.Shutdown()
	}
}

// Tip implements tape.Source.
func (s *Source) Tip(ctx context.Context) (int64, error) {
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
		if strings.Contains(err.Error(), "out of range") || strings.Contains(err.Error(), "-8") {
			return nil, fmt.Errorf("bitcoin: height %d: %w", h, tape.ErrNotFound)
		}
		return nil, fmt.Errorf("bitcoin: getblockhash %d: %w", h, err)
	}
	return hash, nil
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

// Blocks implements tape.RangeSource. It asks for the run's block hashes
// in one batched JSON-RPC request and for the raw blocks in a second, and
// decodes them locally; spent outputs of the application's transactions
// are looked up in the node's transaction index and cached. When the
// node refuses batches it falls back to Parallel single requests in
// flight. Memory is bounded by the run's length, which the engine caps
// (FetchAhead).
func (s *Source) Blocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	if bs, err := s.batchBlocks(from, to); err == nil {
		return bs, nil
	}
	return s.parallelBlocks(ctx, from, to)
}

// batchBlocks fetches [from, to] with two batched requests.
func (s *Source) batchBlocks(from, to int64) ([]*tape.Block, error) {
	s.mu.Lock()
	for _, p := range []**rpcclient.Client{&s.batch, &s.ahead} {
		if *p == nil {
			c, err := dialBatch(s.cfg)
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			*p = c
		}
	}
	bc := s.batch
	s.mu.Unlock()
	// The run fetched ahead during the previous call, when it is this one.
	var raw []*wire.MsgBlock
	if p := s.next; p != nil {
		<-p.done
		s.next = nil
		if p.err == nil && p.from == from && p.to == to {
			raw = p.raw
		}
	}
	if raw == nil {
		var err error
		if raw, err = fetchRaw(bc, from, to); err != nil {
			return nil, err
		}
	}
	// Fetch the next run while this one is decoded and applied, so the
	// node is never idle waiting for us.
	p := &aheadRun{from: to + 1, to: 2*to - from + 1, done: make(chan struct{})}
	s.next = p
	go func() {
		defer close(p.done)
		p.raw, p.err = fetchRaw(s.ahead, p.from, p.to)
	}()
	if err := s.prefetchPrevs(bc, raw); err != nil {
		return nil, err
	}
	out := make([]*tape.Block, len(raw))
	for i, b := range raw {
		tb, err := s.dec.Block(from+int64(i), b, prevOuts{s, s.c})
		if err != nil {
			return nil, err
		}
		out[i] = tb
	}
	return out, nil
}

// parallelBlocks fetches [from, to] with Parallel requests in flight, each
// worker on its own connection.
func (s *Source) parallelBlocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
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
func (s *Source) prefetchPrevs(bc *rpcclient.Client, blocks []*wire.MsgBlock) error {
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
	if err := bc.Send(); err != nil {
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

// aheadRun is a run of raw blocks being fetched in the background.
type aheadRun struct {
	from, to int64
	done     chan struct{}
	raw      []*wire.MsgBlock
	err      error
}

// fetchRaw fetches the raw blocks [from, to] with two batched requests:
// the hashes, then the blocks.
func fetchRaw(bc *rpcclient.Client, from, to int64) ([]*wire.MsgBlock, error) {
	n := int(to - from + 1)
	hashFs := make([]rpcclient.FutureGetBlockHashResult, n)
	for i := range hashFs {
		hashFs[i] = bc.GetBlockHashAsync(from + int64(i))
	}
	if err := bc.Send(); err != nil {
		return nil, err
	}
	hashes := make([]*chainhash.Hash, n)
	for i, f := range hashFs {
		h, err := f.Receive()
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	blockFs := make([]rpcclient.FutureGetBlockResult, n)
	for i, h := range hashes {
		blockFs[i] = bc.GetBlockAsync(h)
	}
	if err := bc.Send(); err != nil {
		return nil, err
	}
	raw := make([]*wire.MsgBlock, n)
	for i, f := range blockFs {
		b, err := f.Receive()
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return raw, nil
}
