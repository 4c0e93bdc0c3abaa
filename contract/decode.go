package contract

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// decoder parses RFC 8259 JSON straight into goja values: plain objects
// (properties defined as own data properties, so "__proto__" is an ordinary
// key; a repeated key keeps its first position and last value, as in
// JSON.parse), arrays, strings (exact UTF-16, lone-surrogate escapes
// included), numbers, booleans and null. Nesting deeper than maxDepth is an
// error. It is used for Call.Args, exports snapshots and JSON.parse.
type decoder struct {
	vm     *goja.Runtime
	target *goja.Object
	topKey func(string)
	s      string
	p      int
	err    error
}

func decodeJSON(vm *goja.Runtime, s string) (goja.Value, error) {
	return decodeInto(vm, s, nil)
}

// decodeInto parses s; with a non-nil target, s must hold an object whose
// properties are defined on target (in their order) instead of a new one.
func decodeInto(vm *goja.Runtime, s string, target *goja.Object) (goja.Value, error) {
	return decodeIntoKeys(vm, s, target, nil)
}

// decodeIntoKeys is decodeInto that also calls key for each top-level key.
func decodeIntoKeys(vm *goja.Runtime, s string, target *goja.Object, key func(string)) (goja.Value, error) {
	d := &decoder{vm: vm, s: s, target: target, topKey: key}
	d.space()
	if target != nil && (d.p >= len(d.s) || d.s[d.p] != '{') {
		return nil, fmt.Errorf("JSON at position %d: expected an object", d.p)
	}
	v := d.value(0)
	if d.err == nil {
		d.space()
		if d.p < len(d.s) {
			d.fail("unexpected data after the value")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return v, nil
}

// decodeArgs parses a JSON array into its elements.
func decodeArgs(vm *goja.Runtime, s string) ([]goja.Value, error) {
	d := &decoder{vm: vm, s: s}
	d.space()
	if d.p >= len(d.s) || d.s[d.p] != '[' {
		return nil, fmt.Errorf("arguments must be a JSON array")
	}
	d.p++
	var items []goja.Value
	d.space()
	if d.p < len(d.s) && d.s[d.p] == ']' {
		d.p++
	} else {
		for d.err == nil {
			d.space()
			v := d.value(1)
			if d.err != nil {
				break
			}
			items = append(items, v)
			d.space()
			if d.p < len(d.s) && d.s[d.p] == ',' {
				d.p++
				continue
			}
			if d.p < len(d.s) && d.s[d.p] == ']' {
				d.p++
				break
			}
			d.fail("expected ',' or ']'")
		}
	}
	if d.err == nil {
		d.space()
		if d.p < len(d.s) {
			d.fail("unexpected data after the value")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return items, nil
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("JSON at position %d: %s", d.p, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) space() {
	for d.p < len(d.s) {
		switch d.s[d.p] {
		case ' ', '\t', '\n', '\r':
			d.p++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) goja.Value {
	if d.p >= len(d.s) {
		d.fail("unexpected end of input")
		return nil
	}
	switch c := d.s[d.p]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.str()
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case d.word("true"):
		return d.vm.ToValue(true)
	case d.word("false"):
		return d.vm.ToValue(false)
	case d.word("null"):
		return goja.Null()
	}
	d.fail("unexpected character %q", d.s[d.p])
	return nil
}

func (d *decoder) word(w string) bool {
	if len(d.s)-d.p >= len(w) && d.s[d.p:d.p+len(w)] == w {
		d.p += len(w)
		return true
	}
	return false
}

func (d *decoder) object(depth int) goja.Value {
	if depth >= maxDepth {
		d.fail("nested deeper than %d", maxDepth)
		return nil
	}
	d.p++ // {
	o := d.target
	d.target = nil
	if o == nil {
		o = d.vm.NewObject()
	}
	d.space()
	if d.p < len(d.s) && d.s[d.p] == '}' {
		d.p++
		return o
	}
	for d.err == nil {
		d.space()
		if d.p >= len(d.s) || d.s[d.p] != '"' {
			d.fail("expected a string key")
			return nil
		}
		k := d.str()
		d.space()
		if d.p >= len(d.s) || d.s[d.p] != ':' {
			d.fail("expected ':'")
			return nil
		}
		d.p++
		d.space()
		v := d.value(depth + 1)
		if d.err != nil {
			return nil
		}
		ks := k.String()
		if err := o.DefineDataProperty(ks, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
			d.fail("cannot define property")
			return nil
		}
		if depth == 0 && d.topKey != nil {
			d.topKey(ks)
		}
		d.space()
		if d.p < len(d.s) && d.s[d.p] == ',' {
			d.p++
			continue
		}
		if d.p < len(d.s) && d.s[d.p] == '}' {
			d.p++
			return o
		}
		d.fail("expected ',' or '}'")
	}
	return nil
}

func (d *decoder) array(depth int) goja.Value {
	if depth >= maxDepth {
		d.fail("nested deeper than %d", maxDepth)
		return nil
	}
	d.p++ // [
	var items []any
	d.space()
	if d.p < len(d.s) && d.s[d.p] == ']' {
		d.p++
		return d.vm.NewArray()
	}
	for d.err == nil {
		d.space()
		v := d.value(depth + 1)
		if d.err != nil {
			return nil
		}
		items = append(items, v)
		d.space()
		if d.p < len(d.s) && d.s[d.p] == ',' {
			d.p++
			continue
		}
		if d.p < len(d.s) && d.s[d.p] == ']' {
			d.p++
			return d.vm.NewArray(items...)
		}
		d.fail("expected ',' or ']'")
	}
	return nil
}

func (d *decoder) number() goja.Value {
	start := d.p
	if d.s[d.p] == '-' {
		d.p++
	}
	digits := func() int {
		n := 0
		for d.p < len(d.s) && '0' <= d.s[d.p] && d.s[d.p] <= '9' {
			d.p++
			n++
		}
		return n
	}
	switch {
	case d.p < len(d.s) && d.s[d.p] == '0':
		d.p++
	case digits() == 0:
		d.fail("invalid number")
		return nil
	}
	if d.p < len(d.s) && d.s[d.p] == '.' {
		d.p++
		if digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	if d.p < len(d.s) && (d.s[d.p] == 'e' || d.s[d.p] == 'E') {
		d.p++
		if d.p < len(d.s) && (d.s[d.p] == '+' || d.s[d.p] == '-') {
			d.p++
		}
		if digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	// The grammar is checked above; overflow gives ±Inf, as in JSON.parse.
	f, _ := strconv.ParseFloat(d.s[start:d.p], 64)
	return d.vm.ToValue(f)
}

// str parses a string literal into a goja string.
func (d *decoder) str() goja.String {
	d.p++ // "
	start := d.p
	// Fast path: no escapes.
	for d.p < len(d.s) {
		c := d.s[d.p]
		if c == '"' {
			s := d.s[start:d.p]
			d.p++
			return d.vm.ToValue(s).(goja.String)
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.p++
	}
	units := utf16.Encode([]rune(d.s[start:d.p]))
	for d.p < len(d.s) {
		c := d.s[d.p]
		switch {
		case c == '"':
			d.p++
			return goja.StringFromUTF16(units)
		case c < 0x20:
			d.fail("control character in string")
			return nil
		case c == '\\':
			if d.p+1 >= len(d.s) {
				d.fail("unterminated escape")
				return nil
			}
			e := d.s[d.p+1]
			d.p += 2
			switch e {
			case '"', '\\', '/':
				units = append(units, uint16(e))
			case 'b':
				units = append(units, '\b')
			case 'f':
				units = append(units, '\f')
			case 'n':
				units = append(units, '\n')
			case 'r':
				units = append(units, '\r')
			case 't':
				units = append(units, '\t')
			case 'u':
				if d.p+4 > len(d.s) {
					d.fail("short \\u escape")
					return nil
				}
				u, err := strconv.ParseUint(d.s[d.p:d.p+4], 16, 16)
				if err != nil {
					d.fail("invalid \\u escape")
					return nil
				}
				units = append(units, uint16(u))
				d.p += 4
			default:
				d.fail("invalid escape")
				return nil
			}
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.p:])
			units = utf16.AppendRune(units, r)
			d.p += size
		}
	}
	d.fail("unterminated string")
	return nil
}
