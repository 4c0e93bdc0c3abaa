package contract

import (
	"strings"
	"testing"
	"time"
)

// Metering: loops of every kind end with OutOfGas at exactly the limit, the
// same on fresh and pooled runtimes (env.run checks that), and fast.
func TestOutOfGas(t *testing.T) {
	tests := map[string]string{
		"for":            `for (;;) {}`,
		"for-bare":       `for (;;);`,
		"while":          `while (true) {}`,
		"while-bare":     `let i = 0; while (true) i++`,
		"do-while":       `do {} while (1)`,
		"do-bare":        `let i = 0; do i++; while (1)`,
		"generator":      `function* g() { for (;;) yield 1 } for (const x of g()) {}`,
		"generator-bare": `function* g() { let i = 0; while (true) yield i++ } for (const x of g());`,
		"continue-outer": `outer: for (;;) { for (;;) { continue outer } }`,
		"labelled-while": `a: while (true) { b: while (true) { continue a } }`,
		"exp-arrow":      `const f = n => n && f(n - 1) + f(n - 1); f(40)`,
		"sort":           `const a = []; for (let i = 0; i < 1000; i++) a.push(1000 - i); for (;;) a.slice().sort((x, y) => x - y)`,
		"map-callback":   `const a = [1, 2, 3]; for (;;) a.map(x => x * 2)`,
		"class-static":   `for (;;) { class A { static { } } }`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "exports.f = () => {\n"+body+"\n}")
			start := time.Now()
			r := e.fails("f", "[]", OutOfGas, "gas limit")
			if r.Gas != e.limits.Gas {
				t.Fatalf("gas %d, want the limit %d", r.Gas, e.limits.Gas)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("three runs took %v", d)
			}
		})
	}
}

// A spin inside try/catch/finally still runs out of gas: the interrupt is not
// catchable, and no catch or finally block runs (its state write would show).
func TestOutOfGasUncatchable(t *testing.T) {
	e := newEnv(t, `
exports.f = async () => {
  for (;;) {
    try { while (true) {} } catch (e) { await state.writeFile('/catch', 'x') } finally { state.writeFile('/finally', 'x'); continue }
  }
}
exports.g = async () => {
  try { for (;;) {} } finally { await state.writeFile('/finally', 'x') }
}`)
	for _, m := range []string{"f", "g"} {
		r := e.fails(m, "[]", OutOfGas, "")
		if r.Gas != e.limits.Gas || len(r.Writes) != 0 {
			t.Fatalf("%s: %s", m, fmtResult(r))
		}
	}
}

func TestAsyncOutOfGas(t *testing.T) {
	tests := map[string]string{
		"await-null":       `exports.f = async () => { for (;;) await null }`,
		"then-chain":       `exports.f = () => { const f = () => Promise.resolve().then(f); f() }`,
		"then-chain-async": `exports.f = async () => { const f = () => Promise.resolve().then(f); f(); await new Promise(() => {}) }`,
		"spin-after-host":  `exports.f = async () => { await state.exists('/'); for (;;) {} }`,
		"async-recursion":  `const f = async (n) => { await null; return f(n + 1) }; exports.f = () => f(0)`,
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, src)
			start := time.Now()
			r := e.fails("f", "[]", OutOfGas, "")
			if r.Gas != e.limits.Gas {
				t.Fatalf("gas %d", r.Gas)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Fatalf("three runs took %v", d)
			}
		})
	}
}

// Deep recursion ends with StackOverflow, also inside try/catch, with the
// same gas on every run.
func TestStackOverflow(t *testing.T) {
	for name, src := range map[string]string{
		"arrow":     `exports.f = () => { const f = n => f(n + 1); f(0) }`,
		"try-catch": `exports.f = () => { const f = n => { try { return f(n + 1) } catch (e) { return -1 } }; return f(0) }`,
		"finally":   `exports.f = async () => { const f = n => { try { return f(n + 1) } finally { state.writeFile('/x', 'y') } }; return f(0) }`,
		"method":    `const o = { m(n) { return this.m(n + 1) } }; exports.f = () => o.m(0)`,
		"via-map":   `const f = () => [1].map(f); exports.f = () => f()`,
		"getter":    `const o = { get x() { return this.x } }; exports.f = () => o.x`,
		"toString":  `const o = { toString() { return String(this) } }; exports.f = () => String(o)`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, src)
			r := e.fails("f", "[]", StackOverflow, "")
			if r.Gas == 0 || r.Gas >= e.limits.Gas {
				t.Fatalf("gas %d", r.Gas)
			}
		})
	}
}

func TestGasTampering(t *testing.T) {
	e := newEnv(t, `
const attempt = (f) => { try { f(); return 'allowed' } catch (e) { return e.name } }
exports.assign = () => attempt(() => { globalThis['__g' + 'as'] = () => {} })
exports.define = () => attempt(() => Object.defineProperty(globalThis, '__g' + 'as', { value: () => {} }))
exports.del = () => attempt(() => { delete globalThis['__g' + 'as'] })
exports.refund = (x) => { const g = globalThis['__g' + 'as']; g(x); return 1 }
exports.plain = () => 1
`)
	for _, m := range []string{"assign", "define", "del"} {
		if got := e.ok(m, "[]"); got != `"TypeError"` {
			t.Errorf("%s: %s", m, got)
		}
	}
	base := e.run("plain", "[]").Gas
	for _, arg := range []string{`-1e9`, `0`, `"NaN"`, `1e300`, `null`, `-1`} {
		r := e.run("refund", "["+arg+"]")
		if r.Err != nil || r.Gas <= base {
			t.Errorf("__gas(%s): gas %d, plain %d, err %v", arg, r.Gas, base, r.Err)
		}
	}
	// A direct call charges what it is asked, so it only burns gas.
	r := e.run("refund", `[500000]`)
	if r.Err != nil || r.Gas < 500000 {
		t.Errorf("__gas(500000): %s", fmtResult(r))
	}
}

func TestDynamicCodeBlocked(t *testing.T) {
	e := newEnv(t, `
const attempt = (f) => { try { return 'allowed: ' + f() } catch (e) { return e.name + ': ' + e.message } }
exports.f = () => [
  attempt(() => eval('1')),
  attempt(() => globalThis.eval('1')),
  attempt(() => Function('return 1')()),
  attempt(() => new Function('return 1')()),
  attempt(() => (function () {}).constructor('return 1')()),
  attempt(() => (async function () {}).constructor('return 1')),
  attempt(() => (async () => {}).constructor('return 1')),
  attempt(() => (function* () {}).constructor('yield 1')),
  attempt(() => Object.getPrototypeOf(function* () {}).constructor('yield 1')),
  attempt(() => Reflect.construct(Function, ['return 1'])),
  attempt(() => typeof Function === 'function' && (() => {}) instanceof Function),
]`)
	got := e.ok("f", "[]")
	if strings.Count(got, `"allowed: `) != 1 || !strings.Contains(got, `"allowed: true"`) {
		t.Fatalf("dynamic code reachable: %s", got)
	}
}
