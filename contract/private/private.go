// Package private runs private contracts on a chain: JavaScript contracts
// whose code, calls and state only their participants see.
//
// A private contract's create and calls travel as sealed envelopes
// (host.Envelope, payload "vc" 's'): the inner payload, the same create or
// call a public contract would get, encrypted with age to each
// participant's Ed25519 key (age's ssh-ed25519 recipients: X25519 with
// ChaCha20-Poly1305). The chain orders them like any transaction; every
// node records who sent each envelope and to whom it was sealed, and
// nothing else.
//
// Each participant runs its own engine over the chain's final blocks
// through Source, which opens the envelopes sealed to it and hands their
// inner payloads to the same contract runtime (host.ChainApp) that runs
// public contracts. Its private state never leaves its data directory.
// After every call it posts an attestation ("vc" 'a'): the contract's
// state root and length. Audit compares the attestations of all
// participants, so a participant whose state diverged, or who reports a
// wrong root, stands out; anyone can run it from the chain's public
// record.
package private

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/tape"
)

// MaxSealed bounds what Open decrypts.
const MaxSealed = 64 << 10

// recipient is the age recipient of an Ed25519 public key.
func recipient(pub ed25519.PublicKey) (age.Recipient, error) {
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return agessh.NewEd25519Recipient(sp)
}

// SealTo encrypts data to the holders of the given Ed25519 keys.
func SealTo(data []byte, to []ed25519.PublicKey) ([]byte, error) {
	if len(to) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	rs := make([]age.Recipient, len(to))
	for i, k := range to {
		r, err := recipient(k)
		if err != nil {
			return nil, fmt.Errorf("seal: recipient %d: %w", i, err)
		}
		rs[i] = r
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ErrNotForMe is returned by OpenWith when the data was not sealed to the
// key.
var ErrNotForMe = errors.New("not sealed to this key")

// OpenWith decrypts data sealed to key by SealTo.
func OpenWith(sealed []byte, key ed25519.PrivateKey) ([]byte, error) {
	id, err := agessh.NewEd25519Identity(key)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrNotForMe
		}
		return nil, fmt.Errorf("open: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxSealed+1))
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if len(out) > MaxSealed {
		return nil, fmt.Errorf("open: more than %d bytes", MaxSealed)
	}
	return out, nil
}

// Seal builds the chain payload of a private create (contract "") or
// call: inner is host.CreatePayload or host.CallPayload, sealed to the
// participants.
func Seal(inner []byte, contract string, participants []ed25519.PublicKey) ([]byte, error) {
	sealed, err := SealTo(inner, participants)
	if err != nil {
		return nil, err
	}
	e := &host.Envelope{Contract: contract, Sealed: sealed}
	for _, p := range participants {
		e.Participants = append(e.Participants, hex.EncodeToString(p))
	}
	return host.SealedPayload(e), nil
}

// Source is a chain's final blocks as one participant sees its private
// contracts: every envelope sealed to the participant's key becomes the
// inner create or call it carries (same transaction id and sender);
// everything else is left out. An engine running host.ChainApp over it
// computes the participant's private contracts.
type Source struct {
	inner tape.Source
	key   ed25519.PrivateKey
	me    string
}

// NewSource returns the view of src (a source of the chain's blocks with
// every "vc" payload, such as tape/dpor.New(url, g, []byte(host.ChainMagic)))
// for the holder of key.
func NewSource(src tape.Source, key ed25519.PrivateKey) *Source {
	return &Source{inner: src, key: key, me: hex.EncodeToString(key.Public().(ed25519.PublicKey))}
}

// Tip implements tape.Source.
func (s *Source) Tip(ctx context.Context) (int64, error) { return s.inner.Tip(ctx) }

// Header implements tape.Source.
func (s *Source) Header(ctx context.Context, h int64) (tape.Header, error) {
	return s.inner.Header(ctx, h)
}

// Block implements tape.Source.
func (s *Source) Block(ctx context.Context, h int64) (*tape.Block, error) {
	b, err := s.inner.Block(ctx, h)
	if err != nil {
		return nil, err
	}
	return s.open(b), nil
}

// Blocks implements tape.RangeSource when the inner source does.
func (s *Source) Blocks(ctx context.Context, from, to int64) ([]*tape.Block, error) {
	rs, ok := s.inner.(tape.RangeSource)
	if !ok {
		b, err := s.Block(ctx, from)
		if err != nil {
			return nil, err
		}
		return []*tape.Block{b}, nil
	}
	bs, err := rs.Blocks(ctx, from, to)
	for i, b := range bs {
		bs[i] = s.open(b)
	}
	return bs, err
}

// open replaces the block's transactions by the inner payloads of the
// envelopes sealed to s's key. An envelope that does not open, or whose
// inner payload is not the create or call it claims to be, is left out:
// every participant sees the same bytes and makes the same choice.
func (s *Source) open(b *tape.Block) *tape.Block {
	out := *b
	out.Txs = nil
	prefix := []byte{host.ChainMagic[0], host.ChainMagic[1], host.OpSealed}
	for _, tx := range b.Txs {
		if !bytes.HasPrefix(tx.Payload, prefix) {
			continue
		}
		e, err := host.ParseEnvelope(tx.Payload[len(prefix):])
		if err != nil || !slices.Contains(e.Participants, s.me) {
			continue
		}
		if len(tx.Senders) == 0 || !slices.Contains(e.Participants, hex.EncodeToString(tx.Senders[0].PubKey)) {
			continue // only participants call a private contract
		}
		inner, err := OpenWith(e.Sealed, s.key)
		if err != nil || !consistent(e, inner) {
			continue
		}
		// The runtime checks that a call was sealed to the contract's
		// participants, and refuses it otherwise.
		if inner, err = host.WithParticipants(inner, e.Participants); err != nil {
			continue
		}
		tx.Payload = inner
		out.Txs = append(out.Txs, tx)
	}
	return &out
}

// consistent reports whether inner is the kind of payload e says: a
// create for a create, a call to e's contract for a call.
func consistent(e *host.Envelope, inner []byte) bool {
	if len(inner) < 3 || string(inner[:2]) != host.ChainMagic {
		return false
	}
	if e.Contract == "" {
		return inner[2] == host.OpCreate
	}
	return inner[2] == host.OpCall && host.CallTarget(inner) == e.Contract
}
