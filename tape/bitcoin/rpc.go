package bitcoin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

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
	// Params are the node's network parameters.
	Params *chaincfg.Params
}

// Source is a tape.Source over a bitcoind or btcd node: raw blocks are
// decoded locally, and the outputs a transaction spends are looked up in
// the node's transaction index (txindex must be on) and cached.
type Source struct {
	c   *rpcclient.Client
	dec *Decoder

	mu    sync.Mutex
	prevs map[chainhash.Hash]*wire.MsgTx
}

// NewSource connects to the node. magic, when not empty, keeps only the
// transactions whose payload starts with it.
func NewSource(cfg RPCConfig, magic []byte) (*Source, error) {
	if cfg.Params == nil {
		return nil, errors.New("bitcoin: no network parameters")
	}
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: cfg.Host, User: cfg.User, Pass: cfg.Pass,
		HTTPPostMode: true, DisableTLS: cfg.NoTLS,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: %w", err)
	}
	return &Source{c: c, dec: &Decoder{Params: cfg.Params, Magic: magic}, prevs: map[chainhash.Hash]*wire.MsgTx{}}, nil
}

// Client returns the RPC client, for callers that submit transactions or
// mine (tests).
func (s *Source) Client() *rpcclient.Client { return s.c }

// Close disconnects.
func (s *Source) Close() { s.c.Shutdown() }

// Tip implements tape.Source.
func (s *Source) Tip(ctx context.Context) (int64, error) {
	n, err := s.c.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("bitcoin: getblockcount: %w", err)
	}
	return n, nil
}

func (s *Source) hashAt(h int64) (*chainhash.Hash, error) {
	hash, err := s.c.GetBlockHash(h)
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
	hash, err := s.hashAt(h)
	if err != nil {
		return nil, err
	}
	b, err := s.c.GetBlock(hash)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: getblock %d: %w", h, err)
	}
	return s.dec.Block(h, b, s)
}

// PrevOut implements PrevOuts through the node's transaction index.
func (s *Source) PrevOut(op wire.OutPoint) (*wire.TxOut, error) {
	s.mu.Lock()
	tx, ok := s.prevs[op.Hash]
	s.mu.Unlock()
	if !ok {
		t, err := s.c.GetRawTransaction(&op.Hash)
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
