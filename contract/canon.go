package contract

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// Canonical JSON is the form of every exports snapshot and return value:
//
//   - values are null, true, false, finite numbers, strings, arrays and
//     plain objects (prototype Object.prototype) only;
//   - object keys are sorted by UTF-16 code units, with no whitespace;
//   - numbers use JavaScript's Number::toString (so -0 is 0, 1e21 is 1e+21);
//   - strings are UTF-8, escaping only '"', '\', control characters (\b \f \n
//     \r \t, others as \u00xx) and lone surrogates (\udxxx, lowercase hex);
//   - nesting is at most maxDepth (64) arrays and objects deep.
//
// As in JSON.stringify, only own enumerable string-keyed properties are
// encoded (non-enumerable and symbol-keyed ones are left out). Encoding
// rejects, with a deterministic message naming the path: undefined (also as
// an array hole or property value), NaN and ±Infinity, symbols, functions,
// getters and setters (their first instruction aborts the call), cycles,
// arrays with extra properties, and objects of any other kind (Map, Set,
// Date, RegExp, Error, boxed primitives, class instances,
// Object.create(null)).

// maxDepth bounds the nesting of canonical and parsed JSON.
const maxDepth = 64

type encodeError struct {
	limit bool // the size cap, not the data, is the problem
	msg   string
}

type encoder struct {
	in    *instance
	buf   []byte
	max   int
	stack []*goja.Object
	path  []string
	err   *encodeError
	// skipFuncs drops function-valued properties of the outermost object.
	skipFuncs bool
}

// encodeCanonical encodes v; root names it in error messages.
func (in *instance) encodeCanonical(v goja.Value, root string, maxBytes int) ([]byte, *encodeError) {
	e := &encoder{in: in, max: maxBytes, path: []string{root}}
	defer in.guard(BadReturn, root)()
	e.value(v, 0)
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		path := strings.Join(e.path, "")
		if len(path) > 128 {
			path = truncate(path, 128)
		}
		e.err = &encodeError{msg: path + ": " + fmt.Sprintf(format, args...)}
	}
}

func (e *encoder) checkSize() bool {
	if len(e.buf) > e.max && e.err == nil {
		e.err = &encodeError{limit: true, msg: fmt.Sprintf("%s: encoding is over the limit of %d bytes", e.path[0], e.max)}
	}
	return e.err == nil
}

var (
	typeInt64   = reflect.TypeFor[int64]()
	typeFloat64 = reflect.TypeFor[float64]()
	typeBool    = reflect.TypeFor[bool]()
)

func (e *encoder) value(v goja.Value, depth int) {
	if e.err != nil {
		return
	}
	switch {
	case v == nil || goja.IsUndefined(v):
		e.fail("undefined is not allowed")
		return
	case goja.IsNull(v):
		e.buf = append(e.buf, "null"...)
		e.checkSize()
		return
	}
	switch x := v.(type) {
	case goja.String:
		e.buf = appendQuoted(e.buf, x)
		e.checkSize()
		return
	case *goja.Symbol:
		e.fail("symbols are not allowed")
		return
	case *goja.Object:
		e.object(x, depth)
		return
	}
	switch v.ExportType() {
	case typeBool:
		e.buf = strconv.AppendBool(e.buf, v.ToBoolean())
	case typeInt64, typeFloat64:
		f := v.ToFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			e.fail("%s is not allowed", v.String())
			return
		}
		e.buf = appendNumber(e.buf, v)
	default:
		e.fail("%s values are not allowed", v.ExportType())
		return
	}
	e.checkSize()
}

// encodeExports encodes the exports object like any plain object, except
// that its own function-valued data properties (the methods) are skipped.
func (in *instance) encodeExports(o *goja.Object, maxBytes int) ([]byte, *encodeError) {
	e := &encoder{in: in, max: maxBytes, path: []string{"exports"}, skipFuncs: true}
	defer in.guard(BadState, "exports")()
	e.value(o, 0)
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

func (e *encoder) object(o *goja.Object, depth int) {
	if depth >= maxDepth {
		e.fail("nested deeper than %d", maxDepth)
		return
	}
	if slices.Contains(e.stack, o) {
		e.fail("cycle")
		return
	}
	if _, ok := goja.AssertFunction(o); ok {
		e.fail("functions are not allowed")
		return
	}
	isArray := false
	switch class, proto := o.ClassName(), o.Prototype(); {
	case class == "Array" && proto == e.in.arrayProto:
		isArray = true
	case class == "Object" && proto == e.in.objectProto:
	default:
		e.fail("%s are not allowed", e.in.describeKind(o))
		return
	}
	// Like JSON.stringify, only own enumerable string-keyed properties
	// count; getters among them are caught while reading values (see
	// instance.guard).
	keys := o.Keys()
	e.stack = append(e.stack, o)
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	if isArray {
		n := toLength(o.Get("length"))
		if int64(len(keys)) != n {
			e.fail("arrays must be dense and have no extra properties")
			return
		}
		e.buf = append(e.buf, '[')
		for i, k := range keys {
			if k != strconv.Itoa(i) {
				e.fail("arrays must be dense and have no extra properties")
				return
			}
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.path = append(e.path, "["+k+"]")
			e.value(o.Get(k), depth+1)
			e.path = e.path[:len(e.path)-1]
			if e.err != nil || !e.checkSize() {
				return
			}
		}
		e.buf = append(e.buf, ']')
		e.checkSize()
		return
	}
	slices.SortFunc(keys, compareUTF16)
	skip := e.skipFuncs && depth == 0
	e.buf = append(e.buf, '{')
	first := true
	for _, k := range keys {
		v := o.Get(k)
		if skip {
			if _, isFn := goja.AssertFunction(v); isFn {
				continue
			}
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = appendQuotedGo(e.buf, k)
		e.buf = append(e.buf, ':')
		e.path = append(e.path, pathKey(k))
		e.value(v, depth+1)
		e.path = e.path[:len(e.path)-1]
		if e.err != nil || !e.checkSize() {
			return
		}
	}
	e.buf = append(e.buf, '}')
	e.checkSize()
}

func pathKey(k string) string {
	if k != "" && isPlainIdent(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

func isPlainIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// compareUTF16 orders strings by their UTF-16 code units, as JavaScript
// compares strings.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return cmpUnits(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func cmpUnits(ra, rb rune) int {
	ua, ub := firstUnit(ra), firstUnit(rb)
	if ua != ub {
		return int(ua) - int(ub)
	}
	// Same high surrogate: compare the low ones.
	_, la := utf16.EncodeRune(ra)
	_, lb := utf16.EncodeRune(rb)
	return int(la) - int(lb)
}

func firstUnit(r rune) uint16 {
	if r >= 0x10000 {
		h, _ := utf16.EncodeRune(r)
		return uint16(h)
	}
	return uint16(r)
}

// appendNumber appends a finite number in JavaScript's Number::toString
// form, which goja implements for its number values.
func appendNumber(buf []byte, v goja.Value) []byte {
	if v.ExportType() == typeInt64 {
		return strconv.AppendInt(buf, v.ToInteger(), 10)
	}
	f := v.ToFloat()
	if f == 0 {
		return append(buf, '0') // -0 too
	}
	return append(buf, v.String()...)
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string: UTF-8, escaping '"', '\',
// control characters and lone surrogates.
func appendQuoted(buf []byte, s goja.String) []byte {
	buf = append(buf, '"')
	str := s.String()
	if len(str) == s.Length() { // ASCII
		for i := 0; i < len(str); i++ {
			buf = appendEscaped(buf, rune(str[i]))
		}
		return append(buf, '"')
	}
	n := s.Length()
	for i := 0; i < n; i++ {
		c := s.CharAt(i)
		switch {
		case utf16.IsSurrogate(rune(c)):
			if c < 0xdc00 && i+1 < n {
				if d := s.CharAt(i + 1); d >= 0xdc00 && d <= 0xdfff {
					buf = utf8.AppendRune(buf, utf16.DecodeRune(rune(c), rune(d)))
					i++
					continue
				}
			}
			buf = append(buf, '\\', 'u', hexDigits[c>>12], hexDigits[c>>8&0xf], hexDigits[c>>4&0xf], hexDigits[c&0xf])
		default:
			buf = appendEscaped(buf, rune(c))
		}
	}
	return append(buf, '"')
}

// appendQuotedGo is appendQuoted for a Go (UTF-8) string.
func appendQuotedGo(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			buf = appendEscaped(buf, rune(c))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		buf = appendEscaped(buf, r)
		i += size
	}
	return append(buf, '"')
}

func appendEscaped(buf []byte, r rune) []byte {
	switch r {
	case '"':
		return append(buf, '\\', '"')
	case '\\':
		return append(buf, '\\', '\\')
	case '\b':
		return append(buf, '\\', 'b')
	case '\f':
		return append(buf, '\\', 'f')
	case '\n':
		return append(buf, '\\', 'n')
	case '\r':
		return append(buf, '\\', 'r')
	case '\t':
		return append(buf, '\\', 't')
	}
	if r < 0x20 {
		return append(buf, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
	}
	if r < utf8.RuneSelf {
		return append(buf, byte(r))
	}
	return utf8.AppendRune(buf, r)
}
