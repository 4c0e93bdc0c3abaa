package btcrpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// RPCError is an error the node answered with.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error gives the node's code and message, as "-8: Block number out of range".
func (e *RPCError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// response is one decoded JSON-RPC response.
type response struct {
	id    uint64
	value []byte // hex-decoded, or the raw JSON result
	err   error  // the node's error, or why the result is unusable
}

// wireResponse is a response as encoding/json reads it.
type wireResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
	ID     *uint64         `json:"id"`
}

// decode turns a result into a response's value: hex-decoded when
// isHex, else a copy of the raw JSON.
func (w *wireResponse) decode(isHex bool) response {
	r := response{id: *w.ID}
	switch {
	case w.Error != nil:
		r.err = w.Error
	case isHex:
		var s string
		if err := json.Unmarshal(w.Result, &s); err != nil {
			r.err = fmt.Errorf("the result is not a hex string: %.40s", w.Result)
			break
		}
		v, err := hex.DecodeString(s)
		if err != nil {
			r.err = fmt.Errorf("the result is not a hex string: %w", err)
			break
		}
		r.value = v
	default:
		r.value = bytes.Clone(w.Result)
	}
	return r
}

// The shapes the fast path reads, which btcd and bitcoind write for a
// successful call: an optional version, the result (a string), a null
// error (absent in JSON-RPC 2.0), a numeric id.
var (
	fastHeads = [][]byte{[]byte(`{"result":"`), []byte(`{"jsonrpc":"1.0","result":"`), []byte(`{"jsonrpc":"2.0","result":"`)}
	fastMids  = [][]byte{[]byte(`","error":null,"id":`), []byte(`","id":`)}
)

// cutAny cuts the first of prefixes that b starts with.
func cutAny(b []byte, prefixes [][]byte) ([]byte, bool) {
	for _, p := range prefixes {
		if after, ok := bytes.CutPrefix(b, p); ok {
			return after, true
		}
	}
	return b, false
}

// parseFast reads a response of exactly the shape
//
//	{["jsonrpc":"1.0",]"result":"<hex>"[,"error":null],"id":<digits>}
//
// at the start of b, hex-decoding the result without a general JSON pass
// (which would scan a large block's hex twice). It returns the response
// and the bytes after it, or ok false when b does not start with such a
// shape (the caller then parses it with encoding/json).
func parseFast(b []byte) (r response, rest []byte, ok bool) {
	body, ok := cutAny(b, fastHeads)
	if !ok {
		return r, b, false
	}
	end := bytes.IndexByte(body, '"')
	if end < 0 || end%2 != 0 {
		return r, b, false
	}
	tail, ok := cutAny(body[end:], fastMids)
	if !ok {
		return r, b, false
	}
	digits := 0
	for digits < len(tail) && tail[digits] >= '0' && tail[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits == len(tail) || tail[digits] != '}' || digits > 1 && tail[0] == '0' {
		return r, b, false
	}
	id, err := strconv.ParseUint(string(tail[:digits]), 10, 64)
	if err != nil {
		return r, b, false
	}
	v := make([]byte, end/2)
	if _, err := hex.Decode(v, body[:end]); err != nil {
		return r, b, false // escapes or stray bytes: leave it to encoding/json
	}
	return response{id: id, value: v}, tail[digits+1:], true
}

// parseOne decodes a single response message; isHex tells, by id, which
// calls want their result hex-decoded.
func parseOne(msg []byte, isHex func(id uint64) bool) (response, error) {
	if r, rest, ok := parseFast(msg); ok && len(bytes.TrimSpace(rest)) == 0 && isHex(r.id) {
		return r, nil
	}
	var w wireResponse
	if err := json.Unmarshal(msg, &w); err != nil {
		return response{}, fmt.Errorf("malformed response: %w", err)
	}
	if w.ID == nil {
		if w.Error != nil { // the node could not read the request
			return response{}, w.Error
		}
		return response{}, errors.New("malformed response: no numeric id")
	}
	return w.decode(isHex(*w.ID)), nil
}

// parseBatch decodes a batch's response array.
func parseBatch(body []byte, isHex func(id uint64) bool) ([]response, error) {
	b := bytes.TrimSpace(body)
	if len(b) >= 2 && b[0] == '[' {
		var out []response
		rest := b[1:]
		for {
			r, after, ok := parseFast(rest)
			if !ok || !isHex(r.id) {
				break
			}
			out = append(out, r)
			switch {
			case len(after) == 1 && after[0] == ']':
				return out, nil
			case len(after) > 0 && after[0] == ',':
				rest = after[1:]
				continue
			}
			break
		}
	}
	var ws []wireResponse
	if err := json.Unmarshal(body, &ws); err != nil {
		// A node that refuses batches answers one error object.
		var one wireResponse
		if json.Unmarshal(body, &one) == nil && one.Error != nil {
			return nil, one.Error
		}
		return nil, fmt.Errorf("malformed batch response: %w", err)
	}
	out := make([]response, 0, len(ws))
	for i := range ws {
		if ws[i].ID == nil {
			return nil, errors.New("malformed batch response: an element has no numeric id")
		}
		out = append(out, ws[i].decode(isHex(*ws[i].ID)))
	}
	return out, nil
}
