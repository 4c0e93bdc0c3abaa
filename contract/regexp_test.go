package contract

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRegExpBlowUpIsRefused runs the pattern that made Go's engine run for
// 28 s, (?:[ab]?){1000} k times then c, on a million characters: every k
// ends with a deterministic error long before the wall-clock limit, and a
// second call through the same pool is answered right after it.
func TestRegExpBlowUpIsRefused(t *testing.T) {
	limits := DefaultLimits() // the real 2 s backstop
	e := newEnvLimits(t, `
exports.bomb = (k) => new RegExp('(?:[ab]?){1000}'.repeat(k) + 'c').test('a'.repeat(1e6))
exports.ping = () => 'pong'
`, limits)
	for k := 1; k <= 4; k++ {
		start := time.Now()
		r := e.run("bomb", fmt.Sprintf("[%d]", k)) // fresh, pooled, pooled: the same verdict
		d := time.Since(start)
		if r.Err == nil || !r.Err.Code.Deterministic() {
			t.Fatalf("k=%d: %s, want a deterministic error", k, fmtResult(r))
		}
		switch {
		case r.Err.Code == OutOfGas:
		case r.Err.Code == Threw && strings.Contains(r.Err.Message, "pattern too large"):
		default:
			t.Fatalf("k=%d: %v, want OutOfGas or a pattern-too-large SyntaxError", k, r.Err)
		}
		if d > 1500*time.Millisecond {
			t.Fatalf("k=%d: three runs took %v", k, d)
		}
		t.Logf("k=%d: %v in %v for three runs", k, r.Err, d)
		start = time.Now()
		if got := e.ok("ping", "[]"); got != `"pong"` {
			t.Fatalf("ping: %s", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("k=%d: the next call waited %v", k, d)
		}
	}
	// Two callers at once on the same pool: the bomb does not hold up the
	// other caller.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.pool.Call(e.p, e.exports, e.st, Call{Method: "bomb", Args: []byte("[1]")}, limits)
	}()
	start := time.Now()
	if r := e.pool.Call(e.p, e.exports, e.st, Call{Method: "ping", Args: []byte("[]")}, limits); r.Err != nil {
		t.Fatal(r.Err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a concurrent call took %v", d)
	}
	wg.Wait()
}

// TestRegExpGas checks the charge for a match: size × input length, before
// matching, so a bigger input or a bigger pattern costs more and the same
// call costs the same everywhere.
func TestRegExpGas(t *testing.T) {
	e := newEnv(t, `
exports.gas = (p, n) => new RegExp(p).test('a'.repeat(n))
exports.quadratic = (n) => 'a'.repeat(n).replace(/a*b|a/g, '').length
exports.typical = (s) => /^[a-z0-9_]{3,16}$/.test(s) && 'x, y,z'.split(/\s*,\s*/).join('|')
`)
	gas := func(p string, n int) uint64 {
		t.Helper()
		r := e.run("gas", fmt.Sprintf("[%q,%d]", p, n))
		if r.Err != nil {
			t.Fatalf("%s on %d: %v", p, n, r.Err)
		}
		return r.Gas
	}
	small, long := gas("a*c", 1000), gas("a*c", 10000)
	bigger := gas("(?:a*c){10}", 10000)
	if long-small < 9000*2/regExpUnitsPerGas || bigger-long < 9*10000*2/regExpUnitsPerGas {
		t.Fatalf("gas does not grow with size × length: %d, %d, %d", small, long, bigger)
	}
	// A global replace matches once per character: quadratic work, charged.
	if r := e.run("quadratic", "[300]"); r.Err != nil || string(r.Value) != "0" {
		t.Fatalf("quadratic(300): %s", fmtResult(r))
	}
	e.fails("quadratic", "[30000]", OutOfGas, "gas limit")
	// Everyday patterns stay cheap.
	r := e.run("typical", `["alice_01"]`)
	if r.Err != nil || string(r.Value) != `"x|y|z"` || r.Gas > 2000 {
		t.Fatalf("typical: %s", fmtResult(r))
	}
}

// TestRegExpSizeLimit: a pattern over Limits.MaxRegExpSize is refused where
// it is built, as a literal by Compile and at run time with a SyntaxError
// the contract can catch.
func TestRegExpSizeLimit(t *testing.T) {
	if _, err := Compile([]byte(`exports.f = () => /(?:[ab]?){1000}(?:[ab]?){1000}(?:[ab]?){1000}(?:[ab]?){1000}c/.test('')`), testLimits()); err == nil ||
		!strings.Contains(err.Error(), "pattern too large") {
		t.Fatalf("Compile: %v", err)
	}
	if _, err := Compile([]byte(`exports.f = () => /[0-9a-f]{64}/.test('')`), testLimits()); err != nil {
		t.Fatalf("Compile of a modest repetition: %v", err)
	}
	e := newEnv(t, `
exports.f = (p) => { try { new RegExp(p); return 'built' } catch (err) { return err.name + ': ' + err.message } }
`)
	if got := e.ok("f", `["(?:x{1000}){1000}"]`); !strings.Contains(got, "SyntaxError") || !strings.Contains(got, "too large") {
		t.Fatalf("nested repetition: %s", got)
	}
	if got := e.ok("f", `["x{1000}"]`); got != `"built"` {
		t.Fatalf("x{1000}: %s", got)
	}
	limits := testLimits()
	limits.MaxRegExpSize = 100
	small := newEnvLimits(t, `exports.f = (p) => { try { new RegExp(p); return 'built' } catch (err) { return err.message } }`, limits)
	if got := small.ok("f", `["x{1000}"]`); !strings.Contains(got, "over the limit of 100") {
		t.Fatalf("MaxRegExpSize 100: %s", got)
	}
}

// TestRegExpNotPlain: match, replace, split, search and matchAll refuse a
// RegExp whose exec could be bypassed (goja falls back to an unmetered
// native match when exec is not a function) or replaced.
func TestRegExpNotPlain(t *testing.T) {
	e := newEnv(t, `
exports.nullExec = () => { const r = /a*b|a/g; Object.defineProperty(r, 'exec', { value: null }); return 'a'.repeat(30000).replace(r, '') }
exports.ownProp = () => { const r = /a/; Object.defineProperty(r, 'exec', { value: 1 }); return 'a'.match(r) }
exports.subclass = () => { class R extends RegExp {}; return 'a,b'.split(new R(',')) }
exports.plainAfterUse = () => { const r = /b/g; r.lastIndex = 0; return ['abcb'.replace(r, 'x'), r.exec('b') !== null] }
`)
	e.fails("nullExec", "[]", Threw, "TypeError: RegExp objects with own properties")
	e.fails("ownProp", "[]", Threw, "TypeError: RegExp objects with own properties")
	e.fails("subclass", "[]", Threw, "TypeError: RegExp objects with another prototype")
	if got := e.ok("plainAfterUse", "[]"); got != `["axcx",true]` {
		t.Fatalf("plainAfterUse: %s", got)
	}
}
