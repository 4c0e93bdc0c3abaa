package hyperlog

import (
	"encoding/binary"
	"fmt"
)

// The compact-encoding primitives hypercore's wire messages and manifests use:
// an unsigned varint (1, 3, 5 or 9 bytes), length-prefixed buffers, arrays
// with a varint count, and raw fixed-size fields.

// appendUint appends x as a compact-encoding uint.
func appendUint(b []byte, x uint64) []byte {
	switch {
	case x < 0xfd:
		return append(b, byte(x))
	case x <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(x))
	case x <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(x))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), x)
	}
}

// appendBuffer appends a varint length and then p.
func appendBuffer(b, p []byte) []byte {
	return append(appendUint(b, uint64(len(p))), p...)
}

// appendNode appends a wire node: varint index ‖ varint size ‖ hash.
func appendNode(b []byte, n Node) []byte {
	b = appendUint(b, n.Index)
	b = appendUint(b, n.Size)
	return append(b, n.Hash[:]...)
}

// appendNodes appends a node array.
func appendNodes(b []byte, nodes []Node) []byte {
	b = appendUint(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = appendNode(b, n)
	}
	return b
}

// decoder reads compact-encoded values from a byte slice. The first error
// sticks: later reads return zero values, and err reports it.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

// uint reads a compact-encoding uint. Non-minimal encodings are accepted, as
// compact-encoding does.
func (d *decoder) uint() uint64 {
	if len(d.b) < 1 {
		d.fail("truncated uint")
		return 0
	}
	switch first := d.b[0]; first {
	case 0xfd:
		if len(d.b) < 3 {
			d.fail("truncated uint16")
			return 0
		}
		x := binary.LittleEndian.Uint16(d.b[1:])
		d.b = d.b[3:]
		return uint64(x)
	case 0xfe:
		if len(d.b) < 5 {
			d.fail("truncated uint32")
			return 0
		}
		x := binary.LittleEndian.Uint32(d.b[1:])
		d.b = d.b[5:]
		return uint64(x)
	case 0xff:
		if len(d.b) < 9 {
			d.fail("truncated uint64")
			return 0
		}
		x := binary.LittleEndian.Uint64(d.b[1:])
		d.b = d.b[9:]
		return x
	default:
		d.b = d.b[1:]
		return uint64(first)
	}
}

// raw reads n bytes (a copy).
func (d *decoder) raw(n int, what string) []byte {
	if n < 0 || len(d.b) < n {
		d.fail("truncated " + what)
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

// fixed32 reads a raw 32-byte value.
func (d *decoder) fixed32() Hash {
	var h Hash
	if len(d.b) < HashSize {
		d.fail("truncated 32-byte field")
		return h
	}
	copy(h[:], d.b)
	d.b = d.b[HashSize:]
	return h
}

// buffer reads a varint-length-prefixed byte string; a zero length gives nil.
func (d *decoder) buffer(what string) []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " longer than the input")
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.raw(int(n), what)
}

// count reads an array length and checks that at least min bytes per item
// remain, so a hostile count cannot make the caller allocate.
func (d *decoder) count(min int, what string) int {
	n := d.uint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/min) {
		d.fail(what + " count larger than the input")
		return 0
	}
	return int(n)
}

// node reads a wire node.
func (d *decoder) node() Node {
	idx := d.uint()
	size := d.uint()
	return Node{Index: idx, Size: size, Hash: d.fixed32()}
}

// nodes reads a node array (nil when empty).
func (d *decoder) nodes() []Node {
	n := d.count(2+HashSize, "node array")
	if n == 0 {
		return nil
	}
	out := make([]Node, n)
	for i := range out {
		out[i] = d.node()
	}
	if d.err != nil {
		return nil
	}
	return out
}

// done fails unless all input was consumed.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes after %s", len(d.b), what))
	}
	return d.err
}
