package vchash

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// SerializeOp renders an operation as Virtualchain's serialize_op does: the
// opcode, a colon, then each named field of record as <len>:<text>, joined by
// commas, where text is Python 2's str() of the value (see PyStr). A field
// that is present with a nil value renders as empty text; a field missing
// from record is an error, as in the reference. Keys of record that fields
// does not name are ignored.
func SerializeOp(opcode byte, fields []string, record map[string]any) ([]byte, error) {
	values := make([]any, len(fields))
	var missing []string
	for i, f := range fields {
		v, ok := record[f]
		if !ok {
			missing = append(missing, f)
			continue
		}
		values[i] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("serialize op %q: missing fields %s", opcode, strings.Join(missing, ", "))
	}
	return SerializeValues(opcode, values...)
}

// SerializeValues is SerializeOp for values already in field order: the form
// a Go application uses from its Serialize hook.
func SerializeValues(opcode byte, values ...any) ([]byte, error) {
	buf := make([]byte, 0, 16*len(values)+2)
	buf = append(buf, opcode, ':')
	for i, v := range values {
		if i > 0 {
			buf = append(buf, ',')
		}
		text, err := PyStr(v)
		if err != nil {
			return nil, fmt.Errorf("serialize op %q: field %d: %w", opcode, i, err)
		}
		buf = strconv.AppendInt(buf, int64(len(text)), 10)
		buf = append(buf, ':')
		buf = append(buf, text...)
	}
	return buf, nil
}

// PyFloat marks a float64 that the application means as a Python float.
// Plain float64 values are rendered the same way; the type exists for
// records decoded from JSON, where a number's text decides.
type PyFloat float64

// PyStr returns Python 2's str(v) for the value kinds serialize_op meets:
//
//   - string, []byte: as is;
//   - signed and unsigned integers, *big.Int: decimal, without Python's L;
//   - bool: True or False;
//   - nil: empty text (serialize_op turns None into "");
//   - float32, float64, PyFloat: 12 significant digits (%.12g) with ".0"
//     added to integral values, inf and nan as Python prints them;
//   - json.Number: an integer when its text is one, else a float, as
//     Python's json module decides;
//   - []any, []string: Python's list repr (fragile; avoid in new apps).
//
// Other kinds (maps, structs) are an error: Python 2 renders dicts in hash
// order, which nothing can reproduce.
func PyStr(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case *big.Int:
		if x == nil {
			return "", nil
		}
		return x.String(), nil
	case float32:
		return pyFloatStr(float64(x)), nil
	case float64:
		return pyFloatStr(x), nil
	case PyFloat:
		return pyFloatStr(float64(x)), nil
	case json.Number:
		return pyJSONNumberStr(x)
	case []string:
		items := make([]any, len(x))
		for i := range x {
			items[i] = x[i]
		}
		return pyRepr(items)
	case []any:
		return pyRepr(x)
	default:
		return "", fmt.Errorf("cannot render %T as Python 2 str()", v)
	}
}

func pyJSONNumberStr(n json.Number) (string, error) {
	s := string(n)
	if s == "" {
		return "", errors.New("empty JSON number")
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "", fmt.Errorf("JSON number %q: %w", s, err)
		}
		return pyFloatStr(f), nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return "", fmt.Errorf("JSON number %q is not an integer", s)
	}
	return b.String(), nil
}

// pyFloatStr is Python 2.7's float.__str__: format 'g' with 12 significant
// digits, adding ".0" when the text would read as an integer.
func pyFloatStr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', 12, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// pyFloatRepr is Python 2.7's float.__repr__: the shortest text that reads
// back to the same float, with ".0" for integral values, exponent form from
// 1e16 up and below 1e-4.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	abs := math.Abs(f)
	var s string
	if abs != 0 && (abs >= 1e16 || abs < 1e-4) {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+16 and e-05 as Python does: at least two exponent digits.
	} else {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// pyRepr renders a list as Python 2's repr.
func pyRepr(items []any) (string, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		switch x := it.(type) {
		case string:
			b.WriteString(pyStrRepr(x))
		case []byte:
			b.WriteString(pyStrRepr(string(x)))
		case float32:
			b.WriteString(pyFloatRepr(float64(x)))
		case float64:
			b.WriteString(pyFloatRepr(x))
		case PyFloat:
			b.WriteString(pyFloatRepr(float64(x)))
		case nil:
			b.WriteString("None")
		case json.Number:
			if strings.ContainsAny(string(x), ".eE") {
				f, err := strconv.ParseFloat(string(x), 64)
				if err != nil {
					return "", fmt.Errorf("JSON number %q: %w", x, err)
				}
				b.WriteString(pyFloatRepr(f))
				continue
			}
			s, err := pyJSONNumberStr(x)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		default:
			s, err := PyStr(it)
			if err != nil {
				return "", fmt.Errorf("list item %d: %w", i, err)
			}
			b.WriteString(s)
		}
	}
	b.WriteByte(']')
	return b.String(), nil
}

// pyStrRepr is Python 2's repr of a byte string: single quotes unless the
// text holds a single quote and no double quote, with \\, \n, \r, \t and
// non-printable bytes escaped.
func pyStrRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
