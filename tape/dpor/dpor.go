// Package dpor is the DPoR chain as a tape: final blocks read from a
// node's API, each block's commit certificate checked against the
// genesis validators, so the node need not be trusted. Blocks are final:
// there are no reorgs and no confirmations to wait for. Every transaction
// that carries a payload (Data) is a tape transaction: its sender (the
// signer's address and key), and two outputs, the payload's carrier and
// the recipient, as a Bitcoin op transaction has.
package dpor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// Source reads a DPoR node's final blocks.
type Source struct {
	base  string
	c     *http.Client
	lcfg  lbft.Config
	magic []byte
}

// New returns a source over the node API at url (http://HOST:PORT) of the
// chain g. magic, when not empty, keeps only payloads starting with it.
func New(url string, g *chain.Genesis, magic []byte) *Source {
	base := strings.TrimSuffix(url, "/")
	if !strings.HasPrefix(base, "http") {
		base = "http://" + base
	}
	keys := make([]ed25519.PublicKey, len(g.Validators))
	for i, v := range g.Validators {
		keys[i], _ = v.PubKey()
	}
	return &Source{base: base, c: &http.Client{Timeout: 30 * time.Second}, magic: magic,
		lcfg: lbft.Config{N: len(g.Validators), Verify: func(i int, d lbft.Hash, sig []byte) bool {
			return ed25519.Verify(keys[i], d[:], sig)
		}}}
}

// Tip implements tape.Source.
func (s *Source) Tip(ctx context.Context) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/status", nil)
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("dpor: %w", err)
	}
	defer resp.Body.Close()
	var st struct{ Height int64 }
	if err := jsonDecode(resp.Body, &st); err != nil {
		return 0, fmt.Errorf("dpor: status: %w", err)
	}
	return st.Height, nil
}

// Header implements tape.Source.
func (s *Source) Header(ctx context.Context, h int64) (tape.Header, error) {
	b, err := s.Block(ctx, h)
	if err != nil {
		return tape.Header{}, err
	}
	return b.Header, nil
}

// Block implements tape.Source.
func (s *Source) Block(ctx context.Context, h int64) (*tape.Block, error) {
	bs, err := s.Blocks(ctx, h, h)
	if err != nil {
		return nil, err
	}
	return bs[0], nil
}

// Blocks implements tape.RangeSource: up to 256 blocks per request.
func (s *Source) Blocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	if from < 0 {
		return nil, fmt.Errorf("dpor: height %d: %w", from, tape.ErrUnknown)
	}
	n := min(to-from+1, 256)
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/blocks?from=%d&max=%d", s.base, from, n), nil)
	resp, err := s.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dpor: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("dpor: %w", err)
	}
	var lbs []*lbft.Block
	if err := chain.Unmarshal(raw, &lbs); err != nil {
		return nil, fmt.Errorf("dpor: blocks from %d: %w", from, err)
	}
	if len(lbs) == 0 {
		return nil, fmt.Errorf("dpor: height %d: %w", from, tape.ErrNotFound)
	}
	out := make([]*tape.Block, 0, len(lbs))
	for i, b := range lbs {
		if b.Height != uint64(from)+uint64(i) {
			return out, fmt.Errorf("dpor: asked for block %d, got %d", from+int64(i), b.Height)
		}
		tb, err := s.decode(b)
		if err != nil {
			return out, err
		}
		out = append(out, tb)
	}
	return out, nil
}

// decode checks a final block's certificate and turns it into a tape
// block.
func (s *Source) decode(b *lbft.Block) (*tape.Block, error) {
	if b.Height > 0 {
		if err := lbft.CheckFinal(&s.lcfg, b); err != nil {
			return nil, fmt.Errorf("dpor: %w", err)
		}
	}
	return DecodeBlock(b, s.magic)
}

// DecodeBlock turns a final block, whose certificate the caller has
// checked (a node reading its own store), into a tape block: one tape
// transaction for each chain transaction with a payload starting with
// magic (any payload when magic is empty).
func DecodeBlock(b *lbft.Block, magic []byte) (*tape.Block, error) {
	tb := &tape.Block{Header: tape.Header{Height: int64(b.Height), Hash: vchash.Hash(b.Hash()), Time: b.Time / 1000}}
	if b.Height > 0 {
		tb.Parent = vchash.Hash(b.Parent)
	}
	if b.Height == 0 || b.Impeach {
		return tb, nil
	}
	body, err := chain.DecodeBody(b.Body)
	if err != nil {
		return nil, fmt.Errorf("dpor: block %d: %w", b.Height, err)
	}
	for i, raw := range body.Txs {
		if len(magic) > 0 && !bytes.Contains(raw, magic) {
			// No payload with the magic can be in it: skip decoding (most
			// of a busy chain's transactions are plain transfers).
			continue
		}
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			return nil, fmt.Errorf("dpor: block %d tx %d: %w", b.Height, i, err)
		}
		if len(tx.Data) == 0 || len(magic) > 0 && !hasPrefix(tx.Data, magic) {
			continue
		}
		tb.Txs = append(tb.Txs, TapeTx(tx, i))
	}
	return tb, nil
}

// TapeTx is the tape transaction of chain transaction tx, the i-th of its
// block: its sender (the signer's address and key), and two outputs, the
// payload's carrier and the recipient, as a Bitcoin op transaction has.
// Any chain carrying DPoR transactions (CometBFT's, package comet) maps
// them the same way, so an op reads the same on each.
func TapeTx(tx *chain.Tx, i int) tape.Tx {
	from := tx.Sender()
	return tape.Tx{ID: vchash.Hash(tx.Hash()), Index: i, Payload: tx.Data, Fee: int64(tx.Fee),
		Senders: []tape.Sender{{Script: from[:], Address: from.String(), PubKey: tx.PubKey}},
		Outputs: []tape.Output{{}, {Script: tx.To[:], Address: tx.To.String(), Value: int64(tx.Amount)}}}
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }

func jsonDecode(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v)
}
