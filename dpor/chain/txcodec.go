package chain

import (
	"encoding/binary"
)

// A transaction without a system-contract call (a transfer, or one
// carrying an application's payload) is nearly every transaction the
// chain sees, and each node decodes and re-encodes every one of them
// (the canonical check, the signed bytes). These encode and decode that
// shape without reflection; anything else goes through the reflective
// CBOR codec. Both are checked to agree byte for byte
// (TestTxCodecAgrees, FuzzDecodeTxFast).
//
// The shape, in deterministic CBOR: an array of 8 (0x88), the public key
// (a byte string, or null when nil), the nonce, the recipient (a byte
// string of 20), the amount and the fee (unsigned integers in their
// shortest form), the call (null), the data and the signature (byte
// strings, or null when nil).

const (
	cborNull    = 0xf6
	cborArray8  = 0x88
	majorUint   = 0
	majorBytes  = 2
	txArrayLen  = 8
	maxHeadSize = 9
)

// appendHead appends a CBOR head of major type m and value v in its
// shortest form.
func appendHead(b []byte, m byte, v uint64) []byte {
	m <<= 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= 0xffff_ffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, cborNull)
	}
	return append(appendHead(b, majorBytes, uint64(len(v))), v...)
}

// appendTx appends t's encoding (with its signature when sig is set, as
// if it were nil otherwise); ok is false when t has a call.
func appendTx(b []byte, t *Tx, sig bool) ([]byte, bool) {
	if t.Call != nil {
		return b, false
	}
	b = append(b, cborArray8)
	b = appendBytes(b, t.PubKey)
	b = appendHead(b, majorUint, t.Nonce)
	b = appendBytes(b, t.To[:])
	b = appendHead(b, majorUint, t.Amount)
	b = appendHead(b, majorUint, t.Fee)
	b = append(b, cborNull)
	b = appendBytes(b, t.Data)
	if sig {
		return appendBytes(b, t.Sig), true
	}
	return append(b, cborNull), true
}

// txSize bounds the length of t's encoding.
func txSize(t *Tx) int {
	return 1 + 3*maxHeadSize + len(t.PubKey) + maxHeadSize + len(t.To) + 2*maxHeadSize + 1 + len(t.Data) + len(t.Sig) + 3*maxHeadSize
}

// cborReader reads the shortest-form heads the fast path accepts.
type cborReader struct {
	b  []byte
	i  int
	ok bool
}

// head reads a head of major type m; anything else (another type, an
// indefinite length, a longer form than needed) clears ok.
func (r *cborReader) head(m byte) uint64 {
	if !r.ok || r.i >= len(r.b) || r.b[r.i]>>5 != m {
		r.ok = false
		return 0
	}
	info := r.b[r.i] & 31
	r.i++
	var n int
	var min uint64
	switch {
	case info < 24:
		return uint64(info)
	case info == 24:
		n, min = 1, 24
	case info == 25:
		n, min = 2, 1<<8
	case info == 26:
		n, min = 4, 1<<16
	case info == 27:
		n, min = 8, 1<<32
	default:
		r.ok = false
		return 0
	}
	if len(r.b)-r.i < n {
		r.ok = false
		return 0
	}
	var v uint64
	for _, c := range r.b[r.i : r.i+n] {
		v = v<<8 | uint64(c)
	}
	r.i += n
	if v < min {
		r.ok = false
	}
	return v
}

// bytes reads a byte string (copied) or, when null is set, a null (nil).
func (r *cborReader) bytes(null bool) []byte {
	if null && r.ok && r.i < len(r.b) && r.b[r.i] == cborNull {
		r.i++
		return nil
	}
	n := r.head(majorBytes)
	if !r.ok || n > uint64(len(r.b)-r.i) {
		r.ok = false
		return nil
	}
	v := make([]byte, n)
	copy(v, r.b[r.i:])
	r.i += int(n)
	return v
}

// decodeTxFast decodes b when it is a transaction of the common shape in
// its canonical encoding; ok is false for anything else, which the
// reflective decoder then judges (so the fast path never refuses what
// DecodeTx accepts).
func decodeTxFast(b []byte) (*Tx, bool) {
	if len(b) == 0 || b[0] != cborArray8 {
		return nil, false
	}
	r := &cborReader{b: b, i: 1, ok: true}
	t := &Tx{}
	t.PubKey = r.bytes(true)
	t.Nonce = r.head(majorUint)
	if to := r.bytes(false); r.ok && len(to) == len(t.To) {
		copy(t.To[:], to)
	} else {
		return nil, false
	}
	t.Amount = r.head(majorUint)
	t.Fee = r.head(majorUint)
	if !r.ok || r.i >= len(b) || b[r.i] != cborNull {
		return nil, false
	}
	r.i++
	t.Data = r.bytes(true)
	t.Sig = r.bytes(true)
	if !r.ok || r.i != len(b) {
		return nil, false
	}
	return t, true
}

// maxFastElements is the reflective decoder's bound on an array's
// elements (DecOptions.MaxArrayElements): longer arrays go to it.
const maxFastElements = 1 << 20

// byteStrings reads an array of byte strings in shortest form, copied
// into one allocation.
func (r *cborReader) byteStrings() [][]byte {
	n := r.head(4) // major type 4: array
	if !r.ok || n > maxFastElements || n > uint64(len(r.b)-r.i) {
		r.ok = false
		return nil
	}
	// First pass: the lengths; then one buffer for every element.
	start, total := r.i, 0
	for range n {
		l := r.head(majorBytes)
		if !r.ok || l > uint64(len(r.b)-r.i) {
			r.ok = false
			return nil
		}
		r.i += int(l)
		total += int(l)
	}
	r.i = start
	buf := make([]byte, 0, total)
	out := make([][]byte, n)
	for k := range out {
		l := int(r.head(majorBytes))
		buf = append(buf, r.b[r.i:r.i+l]...)
		out[k] = buf[len(buf)-l : len(buf) : len(buf)]
		r.i += l
	}
	return out
}

// decodeByteStringsFast decodes an array of byte strings in shortest
// form; ok is false for anything else.
func decodeByteStringsFast(b []byte) ([][]byte, bool) {
	r := &cborReader{b: b, ok: true}
	v := r.byteStrings()
	return v, r.ok && r.i == len(b)
}

// decodeBodyFast decodes a body without a penalty in shortest form, its
// keys in order: {1: [transactions], 3: state}, the state optional; ok
// is false for anything else.
func decodeBodyFast(b []byte) (*Body, bool) {
	r := &cborReader{b: b, ok: true}
	pairs := r.head(5) // major type 5: map
	if !r.ok || pairs < 1 || pairs > 2 || r.head(majorUint) != 1 {
		return nil, false
	}
	body := &Body{Txs: r.byteStrings()}
	if pairs == 2 {
		if r.head(majorUint) != 3 {
			return nil, false
		}
		body.State = r.bytes(false)
	}
	return body, r.ok && r.i == len(b)
}

// DecodeByteStrings decodes an array of byte strings (transactions as a
// peer gossips them).
func DecodeByteStrings(b []byte) ([][]byte, error) {
	if v, ok := decodeByteStringsFast(b); ok {
		return v, nil
	}
	var v [][]byte
	if err := Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
