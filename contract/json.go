package contract

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// The JSON global is replaced by Go implementations. goja's own recurse
// natively without limit (JSON.stringify of a 100,000-deep object takes
// seconds; deeper ones can overflow the Go stack) and charge no gas. These
// follow the standard semantics (toJSON, boxed primitives, getters are
// called, undefined and functions dropped, NaN becomes null, the space
// argument) with these differences: nesting deeper than 64 is a RangeError,
// results longer than Limits.MaxStringLen are a RangeError, and the
// reviver of parse and the replacer of stringify are not supported (a
// TypeError). Both charge builtinGas plus one gas per elemsPerGas bytes.

func (in *instance) installJSON() {
	vm := in.vm
	j := vm.NewObject()
	def := func(name string, length int, f func(goja.FunctionCall) goja.Value) {
		fo := vm.ToValue(f).(*goja.Object)
		_ = fo.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = fo.DefineDataProperty("length", vm.ToValue(length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = j.DefineDataProperty(name, fo, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	def("parse", 2, in.jsonParse)
	def("stringify", 3, in.jsonStringify)
	_ = j.DefineDataPropertySymbol(goja.SymToStringTag, vm.ToValue("JSON"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = vm.GlobalObject().DefineDataProperty("JSON", j, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

func (in *instance) jsonParse(call goja.FunctionCall) goja.Value {
	in.enterNative()
	defer in.leaveNative()
	if _, ok := goja.AssertFunction(call.Argument(1)); ok {
		in.throwType("JSON.parse: a reviver is not supported")
	}
	text := in.str(call.Argument(0))
	n := text.Length()
	if n > in.limits.MaxStringLen {
		in.throwRange("JSON.parse: text length %d is over the limit of %d", n, in.limits.MaxStringLen)
	}
	in.chargeJS(builtinGas + uint64(n)/elemsPerGas)
	v, err := decodeJSON(in.vm, text.String())
	if err != nil {
		in.throw(in.syntaxError, "JSON.parse: "+err.Error())
	}
	return v
}

type stringifier struct {
	in     *instance
	buf    []byte
	indent string
	gap    string
	stack  []*goja.Object
}

func (in *instance) jsonStringify(call goja.FunctionCall) goja.Value {
	in.enterNative()
	defer in.leaveNative()
	in.chargeJS(builtinGas)
	if r := call.Argument(1); !goja.IsUndefined(r) && !goja.IsNull(r) {
		if _, ok := goja.AssertFunction(r); ok {
			in.throwType("JSON.stringify: a replacer function is not supported")
		}
		if o, ok := r.(*goja.Object); ok && o.ClassName() == "Array" {
			in.throwType("JSON.stringify: a replacer array is not supported")
		}
	}
	s := &stringifier{in: in, indent: jsonIndent(call.Argument(2))}
	holder := in.vm.NewObject()
	ok := s.value(holder, "", call.Argument(0))
	in.chargeJS(uint64(len(s.buf)) / elemsPerGas)
	if !ok {
		return goja.Undefined()
	}
	return in.vm.ToValue(string(s.buf))
}

// jsonIndent interprets stringify's space argument.
func jsonIndent(space goja.Value) string {
	if o, ok := space.(*goja.Object); ok {
		switch o.ClassName() {
		case "Number":
			space = o.ToNumber()
		case "String":
			space = o.ToString()
		}
	}
	if s, ok := space.(goja.String); ok {
		str := s.String()
		if s.Length() > 10 {
			str = s.Substring(0, 10).String()
		}
		return str
	}
	if space.ExportType() == typeInt64 || space.ExportType() == typeFloat64 {
		n := math.Min(10, math.Trunc(space.ToFloat()))
		if n >= 1 {
			return strings.Repeat(" ", int(n))
		}
	}
	return ""
}

func (s *stringifier) grow() {
	if len(s.buf) > s.in.limits.MaxStringLen {
		s.in.throwRange("JSON.stringify: result is over the limit of %d", s.in.limits.MaxStringLen)
	}
}

// value appends the serialization of v (the property key of holder) and
// reports false when v serializes to undefined.
func (s *stringifier) value(holder *goja.Object, key string, v goja.Value) bool {
	in := s.in
	if o, ok := v.(*goja.Object); ok {
		if f, ok := goja.AssertFunction(o.Get("toJSON")); ok {
			r, err := f(o, in.vm.ToValue(key))
			if err != nil {
				panic(err)
			}
			v = r
		}
	}
	if o, ok := v.(*goja.Object); ok {
		switch o.ClassName() {
		case "Number":
			v = o.ToNumber()
		case "String":
			v = o.ToString()
		case "Boolean":
			r, err := in.boolValueOf(o)
			if err != nil {
				panic(err)
			}
			v = r
		}
	}
	switch {
	case v == nil || goja.IsUndefined(v):
		return false
	case goja.IsNull(v):
		s.buf = append(s.buf, "null"...)
		return true
	}
	switch x := v.(type) {
	case goja.String:
		s.buf = appendQuoted(s.buf, x)
		s.grow()
		return true
	case *goja.Symbol:
		return false
	case *goja.Object:
		if _, ok := goja.AssertFunction(x); ok {
			return false
		}
		s.object(x)
		return true
	}
	switch v.ExportType() {
	case typeBool:
		s.buf = strconv.AppendBool(s.buf, v.ToBoolean())
	case typeInt64, typeFloat64:
		if f := v.ToFloat(); math.IsNaN(f) || math.IsInf(f, 0) {
			s.buf = append(s.buf, "null"...)
		} else {
			s.buf = appendNumber(s.buf, v)
		}
	default:
		in.throwType("JSON.stringify: cannot serialize a %s", v.ExportType())
	}
	s.grow()
	return true
}

func (s *stringifier) object(o *goja.Object) {
	in := s.in
	if slices.Contains(s.stack, o) {
		in.throwType("JSON.stringify: cyclic structure")
	}
	if len(s.stack) >= maxDepth {
		in.throwRange("JSON.stringify: nesting deeper than %d", maxDepth)
	}
	s.stack = append(s.stack, o)
	defer func() { s.stack = s.stack[:len(s.stack)-1] }()
	outer := s.gap
	s.gap += s.indent
	defer func() { s.gap = outer }()
	newline := func() {
		if s.indent != "" {
			s.buf = append(s.buf, '\n')
			s.buf = append(s.buf, s.gap...)
		}
	}
	if o.ClassName() == "Array" {
		n := in.lengthOf(o)
		if n > int64(in.limits.MaxArrayLen) {
			in.throwRange("JSON.stringify: array length %d is over the limit of %d", n, in.limits.MaxArrayLen)
		}
		s.buf = append(s.buf, '[')
		for i := range n {
			if i > 0 {
				s.buf = append(s.buf, ',')
			}
			newline()
			k := strconv.FormatInt(i, 10)
			if !s.value(o, k, o.Get(k)) {
				s.buf = append(s.buf, "null"...)
			}
			s.grow()
		}
		if n > 0 && s.indent != "" {
			s.buf = append(s.buf, '\n')
			s.buf = append(s.buf, outer...)
		}
		s.buf = append(s.buf, ']')
		return
	}
	s.buf = append(s.buf, '{')
	wrote := false
	for _, k := range o.Keys() {
		mark := len(s.buf)
		if wrote {
			s.buf = append(s.buf, ',')
		}
		newline()
		s.buf = appendQuotedGo(s.buf, k)
		s.buf = append(s.buf, ':')
		if s.indent != "" {
			s.buf = append(s.buf, ' ')
		}
		if !s.value(o, k, o.Get(k)) {
			s.buf = s.buf[:mark]
			continue
		}
		wrote = true
		s.grow()
	}
	if wrote && s.indent != "" {
		s.buf = append(s.buf, '\n')
		s.buf = append(s.buf, outer...)
	}
	s.buf = append(s.buf, '}')
}
