// Package file reads a tape from JSON Lines, one block per line:
//
//	{"height": 100, "ops": ["a:8:alice.id", "b:3:bob"]}
//	{"height": 101, "ops": [], "ops_hex": ["00ff"]}
//
// Each string of "ops" is one transaction payload given as text (its UTF-8
// bytes); each string of "ops_hex" is one given as hex, for binary payloads.
// A line may also carry "hash" and "parent" (64 hex characters each); without
// them a block's hash is derived from its height and payloads, and its parent
// is the previous line's hash. Heights must increase by one from line to
// line. Blank lines are skipped and unknown fields ignored.
package file

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// MaxLineBytes bounds one line (one block).
const MaxLineBytes = 256 << 20

// LineError says which line of the input is wrong and how.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Reader decodes blocks from JSON Lines.
type Reader struct {
	r        *bufio.Reader
	line     int
	prev     *tape.Header
	lastLine int
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 1<<20)}
}

// Line returns the line number of the block Next returned last.
func (r *Reader) Line() int { return r.lastLine }

type lineJSON struct {
	Height *json.Number `json:"height"`
	Ops    *[]*string   `json:"ops"`
	OpsHex *[]*string   `json:"ops_hex"`
	Hash   string       `json:"hash"`
	Parent string       `json:"parent"`
}

// Next returns the next block, io.EOF at the end, or a *LineError.
func (r *Reader) Next() (*tape.Block, error) {
	for {
		raw, err := r.readLine()
		if err != nil {
			return nil, err
		}
		r.line++
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		b, err := r.decode(raw)
		if err != nil {
			return nil, &LineError{Line: r.line, Err: err}
		}
		r.lastLine = r.line
		return b, nil
	}
}

func (r *Reader) readLine() ([]byte, error) {
	var long []byte
	for {
		frag, err := r.r.ReadSlice('\n')
		if err == nil || (err == io.EOF && len(frag)+len(long) > 0) {
			if long != nil {
				return append(long, frag...), nil
			}
			return frag, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, frag...)
			if len(long) > MaxLineBytes {
				return nil, &LineError{Line: r.line + 1, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
			}
			continue
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("line %d: read: %w", r.line+1, err)
	}
}

func (r *Reader) decode(raw []byte) (*tape.Block, error) {
	var l lineJSON
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("not a JSON object of a block: %w", jsonErr(err))
	}
	if l.Height == nil {
		return nil, errors.New(`missing "height"`)
	}
	height, err := l.Height.Int64()
	if err != nil || height < 0 {
		return nil, fmt.Errorf(`"height" must be a non-negative integer, got %s`, *l.Height)
	}
	if r.prev != nil && height != r.prev.Height+1 {
		return nil, fmt.Errorf("height %d does not follow height %d on the line before", height, r.prev.Height)
	}
	if l.Ops == nil && l.OpsHex == nil {
		return nil, errors.New(`missing "ops" (a list of serialized ops; [] for an empty block)`)
	}
	b := &tape.Block{Header: tape.Header{Height: height}}
	if l.Ops != nil {
		for i, s := range *l.Ops {
			if s == nil {
				return nil, fmt.Errorf(`"ops"[%d] is null, want a string`, i)
			}
			b.Txs = append(b.Txs, tape.Tx{Index: len(b.Txs), Payload: []byte(*s)})
		}
	}
	if l.OpsHex != nil {
		for i, s := range *l.OpsHex {
			if s == nil {
				return nil, fmt.Errorf(`"ops_hex"[%d] is null, want a hex string`, i)
			}
			p, err := hex.DecodeString(*s)
			if err != nil {
				return nil, fmt.Errorf(`"ops_hex"[%d]: %v`, i, err)
			}
			b.Txs = append(b.Txs, tape.Tx{Index: len(b.Txs), Payload: p})
		}
	}
	if l.Hash != "" {
		if b.Hash, err = vchash.ParseHash(l.Hash); err != nil {
			return nil, fmt.Errorf(`"hash": %v`, err)
		}
	} else {
		b.Hash = BlockHash(height, b.Txs)
	}
	if l.Parent != "" {
		if b.Parent, err = vchash.ParseHash(l.Parent); err != nil {
			return nil, fmt.Errorf(`"parent": %v`, err)
		}
		if r.prev != nil && b.Parent != r.prev.Hash {
			return nil, fmt.Errorf(`"parent" %s is not the hash of the line before (%s)`, b.Parent, r.prev.Hash)
		}
	} else if r.prev != nil {
		b.Parent = r.prev.Hash
	}
	for i := range b.Txs {
		b.Txs[i].ID = vchash.DoubleSHA256(b.Txs[i].Payload)
	}
	r.prev = &b.Header
	return b, nil
}

// jsonErr shortens encoding/json's type errors into something a user reads.
func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q has a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.String()))
	}
	return err
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "[]*string":
		return "a list of strings"
	case "json.Number":
		return "a number"
	}
	return goType
}

// BlockHash is the hash given to a line without "hash": SHA-256 over the
// height and the length-prefixed payloads, so that a changed line changes
// the hash and a resumed replay notices.
func BlockHash(height int64, txs []tape.Tx) vchash.Hash {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(height))
	h.Write(buf[:8])
	for i := range txs {
		n := binary.PutUvarint(buf[:], uint64(len(txs[i].Payload)))
		h.Write(buf[:n])
		h.Write(txs[i].Payload)
	}
	var out vchash.Hash
	copy(out[:], h.Sum(nil))
	return out
}
