package contract

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// Built-ins do their work in Go, where __gas cannot see it: one call to
// Array.prototype.indexOf may walk 2^32 holes, 'x'.repeat(2**29) allocates
// half a gigabyte, and goja's native array iteration (spread, new Set(a),
// Promise.all) cannot even be interrupted. So every method of Array.prototype,
// String.prototype and RegExp.prototype, and the static functions of Array,
// String, Object, Reflect and Promise plus Function.prototype.apply, call and
// bind, are replaced by Go wrappers that
//
//   - charge builtinGas per call, plus one gas per elemsPerGas elements of
//     the receiver (arrays and array-likes: length; strings: UTF-16 length),
//     of array and string arguments and of the result;
//   - throw a RangeError when the receiver is longer than Limits.MaxArrayLen
//     or Limits.MaxStringLen, or when repeat, padStart, padEnd, concat, join,
//     replace or replaceAll would build a string longer than MaxStringLen;
//   - count nesting through built-ins (join inside toString inside join ...)
//     and fail the call with StackOverflow beyond maxNativeDepth.
//
// Array.prototype.join is reimplemented in Go so its result is measured
// while it is built. Array iteration (Symbol.iterator, values, keys,
// entries) is wrapped too, so anything that iterates an array natively pays
// for its length first.

const (
	// builtinGas is charged for every call of a wrapped built-in.
	builtinGas = 1
	// elemsPerGas elements (or string units, or bytes) cost one gas.
	elemsPerGas = 16
	// iterGas is charged per element when an array iterator is created:
	// spread, destructuring, Set/Map/Promise.all and Array.from step it
	// natively (about a microsecond per hole of a sparse array), where
	// neither interrupts nor __gas can reach.
	iterGas = 2
	// promiseGas is charged by every built-in that creates a promise
	// (Promise.resolve, reject, all, allSettled, any, race, and then,
	// catch and finally): about 6 µs of goja's work with its job.
	promiseGas = 100
)

type wrapKind uint8

const (
	kindArray  wrapKind = iota // receiver is an array or array-like
	kindString                 // receiver is converted to a string
	kindRegExp                 // RegExp.prototype methods: input measured
	kindStatic                 // arguments measured
)

// special adjusts one wrapped built-in: pre runs after the generic checks
// and may rewrite the call; impl, when set, runs instead of the original
// (which it is given).
type special struct {
	pre  func(in *instance, call *goja.FunctionCall)
	impl func(in *instance, orig goja.Callable, call goja.FunctionCall) goja.Value
}

// taint marks a static module's runtime as not reusable when a call makes
// its exports object non-extensible or gives it a non-configurable
// property: the next call's restore could not undo that, and a fresh
// runtime would not have it.
var taint = special{pre: func(in *instance, call *goja.FunctionCall) {
	if len(call.Arguments) > 0 && in.exportsObj != nil && call.Arguments[0] == in.exportsObj {
		in.tainted = true
	}
}}

// promiseCharge charges promiseGas for a built-in that creates a promise.
var promiseCharge = special{pre: func(in *instance, _ *goja.FunctionCall) { in.chargeJS(promiseGas) }}

func (in *instance) wrapBuiltins(c *goja.Object) error {
	g := in.vm.GlobalObject()
	ctor := func(name string) *goja.Object { return g.Get(name).(*goja.Object) }
	proto := func(name string) *goja.Object { return ctor(name).Get("prototype").(*goja.Object) }

	arraySpecials := map[any]special{
		"join":     {impl: func(in *instance, _ goja.Callable, call goja.FunctionCall) goja.Value { return in.arrayJoin(call) }},
		"concat":   {pre: (*instance).preArrayConcat},
		"sort":     {pre: (*instance).preSort},
		"toSorted": {pre: (*instance).preSort},
		goja.SymIterator: {pre: func(in *instance, call *goja.FunctionCall) {
			in.chargeJS(uint64(in.lengthOf(call.This)) * iterGas)
		}},
	}
	stringSpecials := map[any]special{
		"repeat":     {pre: (*instance).preRepeat},
		"padStart":   {pre: (*instance).prePad},
		"padEnd":     {pre: (*instance).prePad},
		"concat":     {pre: (*instance).preStringConcat},
		"replace":    {pre: func(in *instance, call *goja.FunctionCall) { in.preReplace(call, 1) }},
		"replaceAll": {pre: func(in *instance, call *goja.FunctionCall) { in.preReplace(call, 1) }},
		"match":      {pre: func(in *instance, call *goja.FunctionCall) { in.prePattern(call, "") }},
		"search":     {pre: func(in *instance, call *goja.FunctionCall) { in.prePattern(call, "") }},
		"matchAll":   {pre: func(in *instance, call *goja.FunctionCall) { in.prePattern(call, "g") }},
	}
	plain := special{pre: (*instance).prePlainRegExp}
	regexpSpecials := map[any]special{
		"exec": {impl: (*instance).regExpExec},
		"test": {impl: (*instance).regExpTest},
		goja.SymReplace: {pre: func(in *instance, call *goja.FunctionCall) {
			in.prePlainRegExp(call)
			in.preReplace(call, 1)
		}},
		goja.SymMatch:    plain,
		goja.SymMatchAll: plain,
		goja.SymSearch:   plain,
		goja.SymSplit:    plain,
	}
	steps := []struct {
		holder   *goja.Object
		kind     wrapKind
		symbols  bool
		specials map[any]special
	}{
		{in.arrayProto, kindArray, true, arraySpecials},
		{proto("String"), kindString, true, stringSpecials},
		{proto("RegExp"), kindRegExp, true, regexpSpecials},
		{c.Get("regexpStringIteratorProto").(*goja.Object), kindRegExp, false, nil},
		{ctor("Array"), kindStatic, false, map[any]special{"from": {pre: func(in *instance, call *goja.FunctionCall) { in.preArrayLike(call, 0) }}}},
		{ctor("String"), kindStatic, false, map[any]special{"raw": {pre: (*instance).preStringRaw}}},
		{ctor("Object"), kindStatic, false, map[any]special{
			"freeze": taint, "seal": taint, "preventExtensions": taint, "defineProperty": taint, "defineProperties": taint,
		}},
		{ctor("Reflect"), kindStatic, false, map[any]special{
			"apply":             {pre: func(in *instance, call *goja.FunctionCall) { in.preArrayLike(call, 2) }},
			"construct":         {pre: func(in *instance, call *goja.FunctionCall) { in.preArrayLike(call, 1) }},
			"defineProperty":    taint,
			"preventExtensions": taint,
		}},
		{ctor("Promise"), kindStatic, false, map[any]special{
			"resolve": promiseCharge, "reject": promiseCharge, "all": promiseCharge,
			"allSettled": promiseCharge, "any": promiseCharge, "race": promiseCharge,
		}},
	}
	for _, s := range steps {
		if err := in.wrapAll(s.holder, s.kind, s.symbols, nil, s.specials); err != nil {
			return err
		}
	}
	// Selected methods only: wrapping Function.prototype[Symbol.hasInstance]
	// or every Promise method would only slow common code down.
	if err := in.wrapAll(proto("Function"), kindStatic, false, []string{"apply", "call", "bind"}, map[any]special{
		"apply": {pre: func(in *instance, call *goja.FunctionCall) { in.preArrayLike(call, 1) }},
		"bind":  {pre: (*instance).preBind},
	}); err != nil {
		return err
	}
	// Promise.prototype.then, catch and finally are wrapped in JS instead
	// (see hardenProgram): goja calls then from Go when a promise resolves
	// to a thenable, outside any JS frame, and a Go wrapper calling the
	// original there would make goja drain the job queue inside it.
	return nil
}

// wrapAll replaces the function-valued data properties of holder (all of
// them, or only those in only) by wrappers.
func (in *instance) wrapAll(holder *goja.Object, kind wrapKind, symbols bool, only []string, specials map[any]special) error {
	var keys []goja.Value
	if only != nil {
		for _, name := range only {
			keys = append(keys, in.vm.ToValue(name))
		}
	} else {
		// goja's Object.Symbols misses the symbols of built-in prototypes,
		// so ask Reflect.ownKeys.
		kv, err := in.ownKeys(goja.Undefined(), holder)
		if err != nil {
			return err
		}
		ko := kv.(*goja.Object)
		for i := range toLength(ko.Get("length")) {
			keys = append(keys, ko.Get(strconv.FormatInt(i, 10)))
		}
	}
	for _, key := range keys {
		sym, isSym := key.(*goja.Symbol)
		if isSym && !symbols || !isSym && key.String() == "constructor" {
			continue
		}

		orig := in.dataFunction(holder, key)
		if orig == nil {
			continue
		}
		var err error
		if isSym {
			err = holder.DefineDataPropertySymbol(sym, in.makeWrapper(orig, kind, specials[sym]), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		} else {
			name := key.String()
			err = holder.DefineDataProperty(name, in.makeWrapper(orig, kind, specials[name]), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dataFunction returns holder[key] when it is a data property holding a
// function, without calling getters.
func (in *instance) dataFunction(holder *goja.Object, key goja.Value) *goja.Object {
	dv, err := in.gopd(goja.Undefined(), holder, key)
	if err != nil {
		return nil
	}
	d, ok := dv.(*goja.Object)
	if !ok {
		return nil
	}
	v := d.Get("value")
	if v == nil {
		return nil
	}
	if _, ok := goja.AssertFunction(v); !ok {
		return nil
	}
	return v.(*goja.Object)
}

func (in *instance) makeWrapper(origObj *goja.Object, kind wrapKind, sp special) goja.Value {
	orig, _ := goja.AssertFunction(origObj)
	f := func(call goja.FunctionCall) goja.Value {
		in.enterNative()
		defer in.leaveNative()
		in.chargeJS(builtinGas)
		switch kind {
		case kindArray:
			n := in.lengthOf(call.This)
			if n > int64(in.limits.MaxArrayLen) {
				in.throwRange("array length %d is over the limit of %d for built-in methods", n, in.limits.MaxArrayLen)
			}
			in.chargeJS(uint64(n) / elemsPerGas)
		case kindString:
			var s goja.String
			switch t := call.This.(type) {
			case goja.String:
				s = t
			case *goja.Object:
				s = in.str(t)
				call.This = s
			}
			if s != nil {
				n := s.Length()
				if n > in.limits.MaxStringLen {
					in.throwRange("string length %d is over the limit of %d for built-in methods", n, in.limits.MaxStringLen)
				}
				in.chargeJS(uint64(n) / elemsPerGas)
			}
		case kindRegExp:
			if len(call.Arguments) > 0 {
				if s, ok := call.Arguments[0].(goja.String); ok {
					n := s.Length()
					if n > in.limits.MaxStringLen {
						in.throwRange("string length %d is over the limit of %d for regular expressions", n, in.limits.MaxStringLen)
					}
					in.chargeJS(uint64(n) / elemsPerGas)
				}
			}
		case kindStatic:
			for _, a := range call.Arguments {
				in.chargeJS(in.sizeOf(a) / elemsPerGas)
			}
		}
		if sp.pre != nil {
			sp.pre(in, &call)
		}
		var v goja.Value
		if sp.impl != nil {
			v = sp.impl(in, orig, call)
		} else {
			var err error
			v, err = orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
		}
		in.chargeJS(in.sizeOf(v) / elemsPerGas)
		return v
	}
	w := in.vm.ToValue(f).(*goja.Object)
	_ = w.DefineDataProperty("name", origObj.Get("name"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = w.DefineDataProperty("length", origObj.Get("length"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return w
}

// str is JavaScript's ToString, keeping strings exact (lone surrogates
// included).
func (in *instance) str(v goja.Value) goja.String {
	switch x := v.(type) {
	case goja.String:
		return x
	case *goja.Object:
		if s, ok := x.ToString().(goja.String); ok {
			return s
		}
	case *goja.Symbol:
		in.throwType("Cannot convert a Symbol value to a string")
	}
	return in.vm.ToValue(v.String()).(goja.String)
}

// sizeOf returns the length of a string or an Array, 0 for anything else.
func (in *instance) sizeOf(v goja.Value) uint64 {
	switch t := v.(type) {
	case goja.String:
		return uint64(t.Length())
	case *goja.Object:
		if t.ClassName() == "Array" {
			return uint64(toLength(t.Get("length")))
		}
	}
	return 0
}

// lengthOf is ToLength(v.length) for objects and the length of strings.
func (in *instance) lengthOf(v goja.Value) int64 {
	switch t := v.(type) {
	case *goja.Object:
		return toLength(t.Get("length"))
	case goja.String:
		return int64(t.Length())
	}
	return 0
}

func toLength(v goja.Value) int64 {
	if v == nil {
		return 0
	}
	f := v.ToFloat()
	switch {
	case f != f || f <= 0:
		return 0
	case f >= 1<<53-1:
		return 1<<53 - 1
	}
	return int64(f)
}

// preArrayLike measures the array-like argument i (apply's argument list,
// Array.from's source).
func (in *instance) preArrayLike(call *goja.FunctionCall, i int) {
	if i >= len(call.Arguments) {
		return
	}
	o, ok := call.Arguments[i].(*goja.Object)
	if !ok || o.ClassName() == "Array" { // arrays are measured already
		return
	}
	n := in.lengthOf(o)
	if n > int64(in.limits.MaxArrayLen) {
		in.throwRange("array-like length %d is over the limit of %d", n, in.limits.MaxArrayLen)
	}
	in.chargeJS(uint64(n) / elemsPerGas)
}

// maxBindName bounds the name of a function being bound. goja names a bound
// function "bound " + the target's name, so chains of binds grow their
// names quadratically in memory (and calls through them recurse natively);
// this stops a chain at about 300 links.
const maxBindName = 2048

func (in *instance) preBind(call *goja.FunctionCall) {
	if o, ok := call.This.(*goja.Object); ok {
		if name, ok := o.Get("name").(goja.String); ok && name.Length() > maxBindName {
			in.throwRange("bind: chain of bound functions too long")
		}
	}
}

func (in *instance) preStringRaw(call *goja.FunctionCall) {
	if len(call.Arguments) == 0 {
		return
	}
	if o, ok := call.Arguments[0].(*goja.Object); ok {
		if raw, ok := o.Get("raw").(*goja.Object); ok {
			n := in.lengthOf(raw)
			if n > int64(in.limits.MaxArrayLen) {
				in.throwRange("String.raw: length %d is over the limit of %d", n, in.limits.MaxArrayLen)
			}
			in.chargeJS(uint64(n) / elemsPerGas)
		}
	}
}

func (in *instance) preArrayConcat(call *goja.FunctionCall) {
	total := in.lengthOf(call.This)
	for _, a := range call.Arguments {
		if o, ok := a.(*goja.Object); ok && o.ClassName() == "Array" {
			total += in.lengthOf(o)
		} else {
			total++
		}
	}
	if total > int64(in.limits.MaxArrayLen) {
		in.throwRange("concat: result length %d is over the limit of %d", total, in.limits.MaxArrayLen)
	}
}

// preSort charges the n·log2(n) comparisons of a sort beyond the length.
func (in *instance) preSort(call *goja.FunctionCall) {
	n := uint64(in.lengthOf(call.This))
	in.chargeJS(n * uint64(bits.Len64(n)) / elemsPerGas)
}

func (in *instance) thisLen(call *goja.FunctionCall) int {
	if s, ok := call.This.(goja.String); ok {
		return s.Length()
	}
	return 0
}

func (in *instance) checkResultLen(what string, n float64) {
	if n > float64(in.limits.MaxStringLen) {
		in.throwRange("%s: result length %s is over the limit of %d", what, strconv.FormatFloat(n, 'g', -1, 64), in.limits.MaxStringLen)
	}
	if n > 0 {
		in.chargeJS(uint64(n) / elemsPerGas)
	}
}

func (in *instance) preRepeat(call *goja.FunctionCall) {
	count := call.Argument(0).ToFloat()
	if count != count || count < 0 || math.IsInf(count, 0) {
		return // the original throws a RangeError
	}
	in.checkResultLen("repeat", float64(in.thisLen(call))*math.Trunc(count))
}

func (in *instance) prePad(call *goja.FunctionCall) {
	n := call.Argument(0).ToFloat()
	if n != n {
		return
	}
	in.checkResultLen("pad", math.Trunc(n))
}

func (in *instance) preStringConcat(call *goja.FunctionCall) {
	total := float64(in.thisLen(call))
	args := make([]goja.Value, len(call.Arguments))
	for i, a := range call.Arguments {
		s := in.str(a)
		args[i] = s
		total += float64(s.Length())
		in.checkResultLen("concat", total)
	}
	call.Arguments = args
}

// prePattern checks a pattern that String.prototype.match, matchAll or
// search would turn into a RegExp; the argument becomes a string so it is
// converted only once.
func (in *instance) prePattern(call *goja.FunctionCall, flags string) {
	if len(call.Arguments) == 0 {
		return
	}
	a := call.Arguments[0]
	if goja.IsUndefined(a) || goja.IsNull(a) {
		return
	}
	if o, ok := a.(*goja.Object); ok && o.ClassName() == "RegExp" {
		return
	}
	s := in.str(a)
	call.Arguments = append([]goja.Value{s}, call.Arguments[1:]...)
	in.checkRegExpArgs(s, in.vm.ToValue(flags))
}

// checkRegExpArgs applies checkRegExp to a pattern and flags built at run
// time and throws a SyntaxError for a rejected pattern.
func (in *instance) checkRegExpArgs(pattern, flags goja.Value) {
	p := in.str(pattern)
	if p.Length() > in.limits.MaxStringLen {
		in.throwRange("regular expression pattern is too long")
	}
	in.chargeJS(builtinGas + uint64(p.Length())/elemsPerGas)
	f := ""
	if !goja.IsUndefined(flags) {
		f = flags.String()
	}
	size, err := checkRegExp(p.String(), f, in.limits.MaxRegExpSize)
	if err != nil {
		in.throw(in.syntaxError, fmt.Sprintf("Invalid regular expression: /%s/%s: %v", truncate(p.String(), 64), truncate(f, 16), err))
	}
	in.chargeJS(uint64(size) / regExpCompileUnits)
}

// prePlainRegExp lets the string and symbol methods (match, matchAll,
// replace, search, split) run only on a plain regular expression: one whose
// prototype is RegExp.prototype and whose only own property is lastIndex.
// goja makes every match of those methods through the exec property, and
// falls back to an unmetered native match when exec is not a function; a
// plain RegExp's exec is the metered one.
func (in *instance) prePlainRegExp(call *goja.FunctionCall) {
	re, ok := call.This.(*goja.Object)
	if !ok || re.ClassName() != "RegExp" {
		in.throwType("RegExp methods need a RegExp receiver")
	}
	if re.Prototype() != in.regexpProto {
		in.throwType("RegExp objects with another prototype (subclasses) are not supported by match, matchAll, replace, search and split")
	}
	keys, err := in.ownKeys(goja.Undefined(), re)
	if err != nil {
		panic(err)
	}
	ko := keys.(*goja.Object)
	if toLength(ko.Get("length")) != 1 || ko.Get("0").String() != "lastIndex" {
		in.throwType("RegExp objects with own properties besides lastIndex are not supported by match, matchAll, replace, search and split")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// preReplace turns the replacement argument i of replace, replaceAll or
// RegExp.prototype[Symbol.replace] into a Go function that measures every
// replacement, so the result can never grow past MaxStringLen unnoticed.
// A string replacement is expanded here with the GetSubstitution rules
// ($$, $&, $`, $', $n, $nn, $<name>).
func (in *instance) preReplace(call *goja.FunctionCall, i int) {
	for len(call.Arguments) <= i {
		call.Arguments = append(call.Arguments, goja.Undefined())
	}
	inputLen := in.thisLen(call)
	if i == 1 && len(call.Arguments) > 0 {
		if s, ok := call.Arguments[0].(goja.String); ok && call.This != nil {
			if _, isString := call.This.(goja.String); !isString {
				inputLen = s.Length() // RegExp.prototype[Symbol.replace](string, replacement)
			}
		}
	}
	budget := in.limits.MaxStringLen - inputLen
	used := 0
	account := func(s goja.String) {
		used += s.Length()
		in.chargeJS(uint64(s.Length()) / elemsPerGas)
		if used > budget {
			in.throwRange("replace: result is over the limit of %d", in.limits.MaxStringLen)
		}
	}
	rv := call.Arguments[i]
	if fn, ok := goja.AssertFunction(rv); ok {
		call.Arguments[i] = in.vm.ToValue(func(c goja.FunctionCall) goja.Value {
			r, err := fn(goja.Undefined(), c.Arguments...)
			if err != nil {
				panic(err)
			}
			s := in.str(r)
			account(s)
			return s
		})
		return
	}
	tmpl := in.str(rv)
	if !strings.Contains(tmpl.String(), "$") {
		call.Arguments[i] = in.vm.ToValue(func(goja.FunctionCall) goja.Value {
			account(tmpl)
			return tmpl
		})
		return
	}
	units := utf16Of(tmpl)
	call.Arguments[i] = in.vm.ToValue(func(c goja.FunctionCall) goja.Value {
		s := in.substitute(units, c.Arguments)
		account(s)
		return s
	})
}

func utf16Of(s goja.String) []uint16 {
	u := make([]uint16, s.Length())
	for i := range u {
		u[i] = s.CharAt(i)
	}
	return u
}

// substitute implements GetSubstitution for a replacer called with
// (matched, captures..., position, string[, groups]).
func (in *instance) substitute(tmpl []uint16, args []goja.Value) goja.String {
	var groups *goja.Object
	if n := len(args); n > 0 {
		if o, ok := args[n-1].(*goja.Object); ok {
			groups = o
			args = args[:n-1]
		}
	}
	if len(args) < 3 {
		return goja.StringFromUTF16(tmpl)
	}
	matched := utf16Of(in.str(args[0]))
	str := utf16Of(in.str(args[len(args)-1]))
	pos := int(args[len(args)-2].ToInteger())
	pos = max(0, min(pos, len(str)))
	captures := args[1 : len(args)-2]
	var out []uint16
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '$' || i+1 >= len(tmpl) {
			out = append(out, c)
			continue
		}
		n := tmpl[i+1]
		switch {
		case n == '$':
			out = append(out, '$')
			i++
		case n == '&':
			out = append(out, matched...)
			i++
		case n == '`':
			out = append(out, str[:pos]...)
			i++
		case n == '\'':
			if tail := pos + len(matched); tail < len(str) {
				out = append(out, str[tail:]...)
			}
			i++
		case '0' <= n && n <= '9':
			idx, width := int(n-'0'), 1
			if i+2 < len(tmpl) && '0' <= tmpl[i+2] && tmpl[i+2] <= '9' {
				if two := idx*10 + int(tmpl[i+2]-'0'); two >= 1 && two <= len(captures) {
					idx, width = two, 2
				}
			}
			if idx < 1 || idx > len(captures) {
				out = append(out, c)
				continue
			}
			if v := captures[idx-1]; !goja.IsUndefined(v) {
				out = append(out, utf16Of(in.str(v))...)
			}
			i += width
		case n == '<' && groups != nil:
			end := -1
			for j := i + 2; j < len(tmpl); j++ {
				if tmpl[j] == '>' {
					end = j
					break
				}
			}
			if end < 0 {
				out = append(out, c)
				continue
			}
			name := goja.StringFromUTF16(tmpl[i+2 : end]).String()
			if v := groups.Get(name); v != nil && !goja.IsUndefined(v) {
				out = append(out, utf16Of(in.str(v))...)
			}
			i = end
		default:
			out = append(out, c)
		}
		if len(out) > in.limits.MaxStringLen {
			in.throwRange("replace: result is over the limit of %d", in.limits.MaxStringLen)
		}
	}
	return goja.StringFromUTF16(out)
}

// arrayJoin is Array.prototype.join, built in Go so that the result's
// length is checked while it grows.
func (in *instance) arrayJoin(call goja.FunctionCall) goja.Value {
	if goja.IsUndefined(call.This) || goja.IsNull(call.This) {
		in.throwType("Array.prototype.join called on null or undefined")
	}
	obj := call.This.ToObject(in.vm)
	n := in.lengthOf(obj)
	sep := goja.String(nil)
	if a := call.Argument(0); !goja.IsUndefined(a) {
		sep = in.str(a)
	} else {
		sep = in.str(in.vm.ToValue(","))
	}
	sepStr, sepLen := sep.String(), sep.Length()
	ascii := len(sepStr) == sepLen
	parts := make([]goja.String, 0, n)
	total := 0
	for i := int64(0); i < n; i++ {
		if i > 0 {
			total += sepLen
		}
		el := obj.Get(strconv.FormatInt(i, 10))
		if el == nil || goja.IsUndefined(el) || goja.IsNull(el) {
			parts = append(parts, nil)
			continue
		}
		s := in.str(el)
		total += s.Length()
		if total > in.limits.MaxStringLen {
			in.throwRange("join: result is over the limit of %d", in.limits.MaxStringLen)
		}
		if ascii && len(s.String()) != s.Length() {
			ascii = false
		}
		parts = append(parts, s)
	}
	in.chargeJS(uint64(total) / elemsPerGas)
	if ascii {
		var sb strings.Builder
		sb.Grow(total)
		for i, p := range parts {
			if i > 0 {
				sb.WriteString(sepStr)
			}
			if p != nil {
				sb.WriteString(p.String())
			}
		}
		return in.vm.ToValue(sb.String())
	}
	out := make([]uint16, 0, total)
	sepUnits := utf16Of(sep)
	for i, p := range parts {
		if i > 0 {
			out = append(out, sepUnits...)
		}
		if p != nil {
			for j := 0; j < p.Length(); j++ {
				out = append(out, p.CharAt(j))
			}
		}
	}
	return goja.StringFromUTF16(out)
}
