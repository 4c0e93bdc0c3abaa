package contract

import (
	"strconv"
	"time"

	"github.com/dop251/goja"
)

// RegExp.prototype.exec and test are the only places contracts match: the
// string and symbol methods accept only plain RegExps, whose matches all go
// through exec (see prePlainRegExp). They are reimplemented here around
// goja's own exec so that every match
//
//   - is charged before it runs (see regexp.go): the pattern's size times
//     the length of the input from where the match starts;
//   - runs on Go's linear-time engine, never on regexp2.
//
// goja matches a global or sticky RegExp from lastIndex > 0 on regexp2,
// its backtracking engine, because Go's regexp cannot start a match in the
// middle of its input; a pattern with nested quantifiers can backtrack
// exponentially there, and regexp2's only bound is a wall-clock timeout,
// whose verdict replays would not share. So a match from position i of s
// matches a derived pattern on Go's engine from the start of s[i-1:]:
//
//	global:  ^([^][^]*?)(?:P)   (the leftmost match at or after i)
//	sticky:  ^([^])(?:P)        (a match exactly at i)
//
// The one character before i is kept so that \b, \B and a multiline ^ see
// what precedes the match, while a non-multiline ^ in P (the start of the
// input) cannot match. The lazy skip makes Go's leftmost-first search pick
// the first position from i where P matches and, there, the match P's own
// preferences give, which is what a backtracking engine trying each
// position in turn returns. Group 1 tells where P's match starts; P's
// groups follow it and are renumbered back. In multiline mode the derived
// ^ could also match after a line break, so a match not at the start of
// the slice counts as none. With the u flag, a lastIndex that points into a
// surrogate pair starts the search after the pair.
//
// goja leaves out the groups object of a match with the u flag on a
// non-ASCII input; exec adds it back from the pattern's capture names.

// pattern is what a runtime derives once from a RegExp's flags and source.
type pattern struct {
	flags, source string // flags among i, m, s and u
	size          int64  // regExpSize of the parsed pattern
	// names are the capture groups' names by number ("" for unnamed), nil
	// when no group has a name.
	names []string
	// derived are execFrom's patterns, global then sticky, built on first
	// use.
	derived [2]*goja.Object
}

// maxCachedRegExps bounds a runtime's cache of patterns.
const maxCachedRegExps = 256

// patternOf returns re's pattern, read through RegExp.prototype's original
// getters (own properties cannot fake them). Patterns are cached per
// runtime; the cache changes no charge.
func (in *instance) patternOf(re *goja.Object) *pattern {
	src := in.getter(re, in.reGetters.source).String()
	var flags []byte
	for _, f := range []struct {
		g    goja.Callable
		flag byte
	}{{in.reGetters.ignoreCase, 'i'}, {in.reGetters.multiline, 'm'}, {in.reGetters.dotAll, 's'}, {in.reGetters.unicode, 'u'}} {
		if in.getterFlag(re, f.g) {
			flags = append(flags, f.flag)
		}
	}
	key := string(flags) + "/" + src
	if p, ok := in.patterns[key]; ok {
		return p
	}
	parsed, err := parseRegExp(src, string(flags))
	if err != nil {
		// Every RegExp was checked when it was built.
		in.abort(&CallError{Code: Internal, Message: "regular expression no longer parses: " + err.Error()})
	}
	p := &pattern{flags: string(flags), source: src, size: regExpSize(parsed)}
	for _, name := range parsed.CapNames() {
		if name != "" {
			p.names = parsed.CapNames()
			break
		}
	}
	if len(in.patterns) >= maxCachedRegExps {
		clear(in.patterns)
	}
	in.patterns[key] = p
	return p
}

// match is one call to exec or test, charged and ready to run.
type match struct {
	re     *goja.Object
	p      *pattern
	s      goja.String
	from   int  // > 0: execFrom matches from here; 0: goja's exec
	sticky bool // with from > 0
}

// startMatch converts exec's or test's input, finds where the match starts
// and charges for it. A lastIndex that is not an integer is converted once
// (ToLength) and written back as a number, so goja does not convert it
// again. It returns false when the receiver is not a RegExp (the original
// then throws its TypeError).
func (in *instance) startMatch(call goja.FunctionCall) (m match, ok bool) {
	re, isObj := call.This.(*goja.Object)
	if !isObj || re.ClassName() != "RegExp" {
		return match{}, false
	}
	m.re = re
	m.s = in.str(call.Argument(0))
	n := m.s.Length()
	if n > in.limits.MaxStringLen {
		in.throwRange("string length %d is over the limit of %d for regular expressions", n, in.limits.MaxStringLen)
	}
	m.p = in.patternOf(re)
	m.sticky = in.getterFlag(re, in.reGetters.sticky)
	if m.sticky || in.getterFlag(re, in.reGetters.global) {
		v := re.Get("lastIndex")
		li, isInt := v.Export().(int64)
		if !isInt {
			li = toLength(v)
			if err := re.Set("lastIndex", li); err != nil {
				panic(err)
			}
		}
		if li > 0 && li <= int64(n) {
			m.from = int(li)
		}
	}
	units := uint64(n-m.from) + 1
	if m.p.size > 0 && units > (1<<62)/uint64(m.p.size) {
		in.chargeJS(1 << 62)
	}
	in.chargeJS(uint64(m.p.size) * units / regExpUnitsPerGas)
	return m, true
}

// regExpExec is the contracts' RegExp.prototype.exec.
func (in *instance) regExpExec(orig goja.Callable, call goja.FunctionCall) goja.Value {
	m, ok := in.startMatch(call)
	if !ok {
		return in.nativeMatch(orig, call.This, call.Arguments)
	}
	var v goja.Value
	if m.from > 0 {
		v = in.execFrom(m)
	} else {
		v = in.nativeMatch(orig, m.re, []goja.Value{m.s})
	}
	if arr, ok := v.(*goja.Object); ok && m.p.names != nil && goja.IsUndefined(arr.Get("groups")) {
		groups := in.vm.NewObject()
		if err := groups.SetPrototype(nil); err != nil {
			panic(err)
		}
		for i, name := range m.p.names {
			if name != "" {
				if err := groups.Set(name, arr.Get(strconv.Itoa(i))); err != nil {
					panic(err)
				}
			}
		}
		if err := arr.Set("groups", groups); err != nil {
			panic(err)
		}
	}
	return v
}

// regExpTest is the contracts' RegExp.prototype.test.
func (in *instance) regExpTest(orig goja.Callable, call goja.FunctionCall) goja.Value {
	m, ok := in.startMatch(call)
	if !ok {
		return in.nativeMatch(orig, call.This, call.Arguments)
	}
	if m.from > 0 {
		return in.vm.ToValue(!goja.IsNull(in.execFrom(m)))
	}
	return in.nativeMatch(orig, m.re, []goja.Value{m.s})
}

// execFrom matches m.re on m.s from m.from > 0 (see the comment at the top
// of this file) and returns exec's result, updating lastIndex.
func (in *instance) execFrom(m match) goja.Value {
	d := in.derivedRegExp(m.p, m.sticky)
	r := in.nativeMatch(in.reExec, d, []goja.Value{m.s.Substring(m.from-1, m.s.Length())})
	ro, matched := r.(*goja.Object)
	if matched && toLength(ro.Get("index")) != 0 {
		matched = false
	}
	if !matched {
		if err := m.re.Set("lastIndex", 0); err != nil {
			panic(err)
		}
		return goja.Null()
	}
	prefix := in.str(ro.Get("1")).Length()
	whole := in.str(ro.Get("0")).Length()
	start, end := m.from-1+prefix, m.from-1+whole
	n := toLength(ro.Get("length"))
	vals := make([]any, 0, max(n-1, 1))
	vals = append(vals, m.s.Substring(start, end))
	for i := int64(2); i < n; i++ {
		vals = append(vals, ro.Get(strconv.FormatInt(i, 10)))
	}
	arr := in.vm.NewArray(vals...)
	for _, kv := range []struct {
		name string
		v    any
	}{{"input", m.s}, {"index", start}, {"groups", ro.Get("groups")}} {
		if err := arr.Set(kv.name, kv.v); err != nil {
			panic(err)
		}
	}
	if err := m.re.Set("lastIndex", end); err != nil {
		panic(err)
	}
	return arr
}

// derivedRegExp returns the non-global, non-sticky RegExp execFrom matches
// for p, built with the original constructor: the derived pattern's size
// is p's plus a constant, so it is not checked against the size limit
// again, only for running on Go's engine.
func (in *instance) derivedRegExp(p *pattern, sticky bool) *goja.Object {
	i, prefix := 0, `^([^][^]*?)(?:`
	if sticky {
		i, prefix = 1, `^([^])(?:`
	}
	if d := p.derived[i]; d != nil {
		return d
	}
	// [^] is any character; [\s\S] would send goja to regexp2.
	src := prefix + p.source + ")"
	if _, err := parseRegExp(src, p.flags); err != nil {
		in.abort(&CallError{Code: Internal, Message: "derived regular expression would not run on Go's engine: " + err.Error()})
	}
	d, err := in.vm.New(in.regexpCtor, in.vm.ToValue(src), in.vm.ToValue(p.flags))
	if err != nil {
		in.abort(&CallError{Code: Internal, Message: "derived regular expression does not compile: " + err.Error()})
	}
	p.derived[i] = d
	return d
}

// getter calls one of RegExp.prototype's original getters on re.
func (in *instance) getter(re *goja.Object, g goja.Callable) goja.Value {
	v, err := g(re)
	if err != nil {
		panic(err)
	}
	return v
}

// getterFlag reads a flag of re through RegExp.prototype's original getter.
func (in *instance) getterFlag(re *goja.Object, g goja.Callable) bool {
	return in.getter(re, g).ToBoolean()
}

// nativeMatch calls goja's own exec or test. It should always run on Go's
// engine; should goja ever fall back to regexp2, whose timeout makes a
// match report "no match", a match that ran for regexpBackstop fails the
// call with the non-deterministic code Timeout instead of returning a
// result replays might not share.
func (in *instance) nativeMatch(fn goja.Callable, this goja.Value, args []goja.Value) goja.Value {
	start := time.Now()
	v, err := fn(this, args...)
	if time.Since(start) >= regexpBackstop {
		in.abort(&CallError{Code: Timeout, Message: "regular expression backstop reached"})
	}
	if err != nil {
		panic(err)
	}
	return v
}
