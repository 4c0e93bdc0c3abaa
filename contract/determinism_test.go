package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// forumWorkload runs n random forum calls, each on a fresh runtime and twice
// on a pool (env.run fails the test if they disagree), commits successful
// ones, and returns a digest of every result and of the final state.
func forumWorkload(t *testing.T, n int, seed uint64, pooledOnly bool) string {
	e := newEnv(t, string(forumSource(t)))
	e.pooledOnly = pooledOnly
	rng := rand.New(rand.NewPCG(seed, 1))
	h := sha256.New()
	titles := []string{"Hello world", "", "日本語", "emoji 😀", "quote \" and \\", "a/b", strings.Repeat("long ", 100)}
	for i := range n {
		e.call.Caller = fmt.Sprintf("%064x", rng.Uint64()%5)
		e.call.Time = 1700000000000 + int64(i)*1000 + rng.Int64N(1000)
		for j := range e.call.Seed {
			e.call.Seed[j] = byte(rng.Uint32())
		}
		var method, args string
		switch k := rng.IntN(10); {
		case k == 0 || i == 0:
			method, args = "init", "[]"
		case k < 4:
			b, _ := json.Marshal([]string{titles[rng.IntN(len(titles))]})
			method, args = "addTopic", string(b)
		case k < 9:
			b, _ := json.Marshal([]any{rng.IntN(8), titles[rng.IntN(len(titles))] + fmt.Sprint(i)})
			method, args = "addPost", string(b)
		default:
			method, args = "nope", "[]"
		}
		r := e.do(method, args)
		fmt.Fprintf(h, "%s %s %s\n", method, args, fmtResult(r))
	}
	var paths []string
	for p := range e.st.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "%s=%q\n", p, e.st.files[p])
	}
	fmt.Fprintf(h, "exports=%s\n", e.exports)
	return hex.EncodeToString(h.Sum(nil))
}

// TestForumDeterminism: 1000 random calls give identical results on fresh
// and pooled runtimes; a child process with TZ=America/New_York (pooled
// runtimes only) gets the same digest.
func TestForumDeterminism(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	if os.Getenv("CONTRACT_CHILD") == "forum" {
		fmt.Printf("digest=%s\n", forumWorkload(t, n, 7, true))
		fmt.Printf("dates=%s\n", datesDigest(t))
		return
	}
	if time.Local != time.UTC {
		t.Fatal("package init did not set time.Local to UTC")
	}
	want := forumWorkload(t, n, 7, false)
	wantDates := datesDigest(t)
	out := runChild(t, "TestForumDeterminism", "forum", "TZ=America/New_York")
	if !strings.Contains(out, "digest="+want) || !strings.Contains(out, "dates="+wantDates) {
		t.Fatalf("TZ=America/New_York gives other results:\n%s\nwant digest=%s dates=%s", out, want, wantDates)
	}
}

// runChild re-runs the test binary for one test with CONTRACT_CHILD=mode and
// extra environment, and returns its output.
func runChild(t *testing.T, test, mode string, env ...string) string {
	t.Helper()
	args := []string{"-test.run=^" + test + "$", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CONTRACT_CHILD="+mode), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	return string(out)
}

const datesSrc = `
exports.f = () => [
  Date.now(), new Date().getTime(), new Date().toString(), new Date().toISOString(), new Date().getHours(),
  new Date().getTimezoneOffset(), Date.parse('2020-01-01T00:00:00'), Date.parse('2020-01-01'),
  new Date(2020, 0, 1).getTime(), new Date(2020, 0, 1, 12).toString(), new Date().toLocaleString(),
  new Date().toLocaleDateString(), new Date().toLocaleTimeString(), new Date(0).toUTCString(),
  new Date(1e15).getFullYear(), Date.UTC(2000, 1, 29),
]`

func datesDigest(t *testing.T) string {
	e := newEnv(t, datesSrc)
	e.call.Time = 1700000000123
	return e.ok("f", "[]")
}

// TestDatesPinned: Date reads the call's time, and local time is UTC.
func TestDatesPinned(t *testing.T) {
	want := `[1700000000123,1700000000123,"Tue Nov 14 2023 22:13:20 GMT+0000 (UTC)","2023-11-14T22:13:20.123Z",22,` +
		`0,1577836800000,1577836800000,1577836800000,"Wed Jan 01 2020 12:00:00 GMT+0000 (UTC)","11/14/2023, 22:13:20",` +
		`"11/14/2023","22:13:20","Thu, 01 Jan 1970 00:00:00 GMT",33658,951782400000]`
	if got := datesDigest(t); got != want {
		t.Fatalf("dates:\n got %s\nwant %s", got, want)
	}
}

// TestGlobalsAbsent guards against a goja upgrade adding host or
// non-deterministic globals unnoticed, and checks what this package removes.
func TestGlobalsAbsent(t *testing.T) {
	names := []string{"Intl", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics", "setTimeout",
		"setInterval", "setImmediate", "queueMicrotask", "require", "module", "process", "console", "print",
		"WebAssembly", "structuredClone", "fetch", "performance", "eval", "BigInt", "Proxy", "ArrayBuffer",
		"DataView", "Uint8Array", "Int32Array", "Float64Array", "BigInt64Array", "Iterator", "AsyncIterator"}
	var checks []string
	for _, n := range names {
		checks = append(checks, fmt.Sprintf("typeof %s", n))
	}
	e := newEnv(t, "exports.f = () => ["+strings.Join(checks, ", ")+"]")
	got := e.ok("f", "[]")
	if want := "[" + strings.TrimSuffix(strings.Repeat(`"undefined",`, len(names)), ",") + "]"; got != want {
		t.Fatalf("globals: %s", got)
	}
	e = newEnv(t, `exports.f = () => Object.getOwnPropertyNames(globalThis).sort()`)
	if got := e.ok("f", "[]"); got != `["AggregateError","Array","Boolean","Date","Error","EvalError","Function","Infinity","JSON","Map","Math","NaN","Number","Object","Promise","RangeError","ReferenceError","Reflect","RegExp","Set","String","Symbol","SyntaxError","TypeError","URIError","WeakMap","WeakSet","__gas","__gas_freeze","decodeURI","decodeURIComponent","encodeURI","encodeURIComponent","escape","globalThis","isFinite","isNaN","parseFloat","parseInt","undefined","unescape"]` {
		t.Fatalf("global object: %s", got)
	}
}

// TestMathGolden pins Math functions and number formatting; run it on
// every architecture nodes use.
func TestMathGolden(t *testing.T) {
	e := newEnv(t, `exports.f = () => [
  Math.sin(1e10), Math.cos(1), Math.tan(0.5), Math.exp(1), Math.log(10), Math.pow(2, 0.5), Math.sqrt(2),
  Math.atan2(1, 2), Math.cbrt(27.5), Math.tanh(0.3), Math.log1p(1e-10), Math.expm1(1e-10), Math.hypot(3, 4, 5),
  Math.fround(1.1), 0.1 + 0.2, 1 / 3, 2 ** 53 + 1, 123.456e300 * 10, 5e-324, -1e-7, 1e21, 123456789012345680000,
  (0.1).toFixed(20), (1.005).toFixed(2), (123.456).toExponential(2), (0.000001234).toPrecision(2), (255).toString(16),
  (0.5).toString(2), (1e21).toLocaleString(), (-0).toString(), String(-1e-7), parseFloat('1e-400'), Number('0x1f'),
  Math.max(), Math.min(), Math.round(-0.5), Math.round(2.5), Math.sign(-3), Math.trunc(-4.7), Math.clz32(1),
  Math.imul(3, 4), Math.asinh(1), Math.acosh(2), Math.atanh(0.5), Math.log2(8), Math.log10(1000),
].map(String)`)
	want := `["-0.48750602508751073","0.5403023058681398","0.5463024898437905","2.718281828459045","2.302585092994046","1.4142135623730951","1.4142135623730951","0.4636476090008061","3.018405368398843","0.2913126124515909","9.999999999500001e-11","1.00000000005e-10","7.0710678118654755","1.100000023841858","0.30000000000000004","0.3333333333333333","9007199254740992","1.2345600000000001e+303","5e-324","-1e-7","1e+21","123456789012345680000","0.10000000000000000555","1.00","1.23e+2","0.0000012","ff","0.1","1e+21","0","-1e-7","0","31","-Infinity","Infinity","0","3","-1","-4","31","12","0.881373587019543","1.3169578969248166","0.5493061443340548","3","3"]`
	if got := e.ok("f", "[]"); got != want {
		t.Fatalf("golden Math:\n got %s\nwant %s", got, want)
	}
}

// TestKeyOrderAfterRestore: restoring a snapshot gives the same key order
// on cold and warm runtimes (env.run compares them).
func TestKeyOrderAfterRestore(t *testing.T) {
	e := newEnv(t, `
exports.obj = {}
exports.z = 0
exports.add = (k) => { exports.obj[k] = 1; exports[k] = 2 }
exports.keys = () => [Object.keys(exports), Object.keys(exports.obj), JSON.stringify(exports.obj)]
`)
	for _, k := range []string{"b", "a", "2", "1", "é", "A"} {
		e.ok("add", `["`+k+`"]`)
		_ = e.ok("keys", "[]")
	}
	// Integer keys first (JS order), then the methods where the module put
	// them, then the snapshot's data keys in sorted order.
	if got := e.ok("keys", "[]"); got != `[["1","2","add","keys","A","a","b","obj","z","é"],["1","2","A","a","b","é"],"{\"1\":1,\"2\":1,\"A\":1,\"a\":1,\"b\":1,\"é\":1}"]` {
		t.Fatalf("keys %s", got)
	}
}

// TestPooledIsolation: nothing a call does outside exports and state can
// reach a later call, so warm and cold runtimes agree.
func TestPooledIsolation(t *testing.T) {
	e := newEnv(t, `
let counter = 0
const cache = {}
function helper() { helper.calls = (helper.calls || 0) + 1; return helper.calls }
exports.inc = () => [++counter, (cache.n = (cache.n || 0) + 1), helper()]
const attempt = (f) => { try { f(); return 'allowed' } catch (e) { return e.name } }
exports.tamper = () => [
  attempt(() => { globalThis.leak = 1 }),
  attempt(() => { Array.prototype.leak = 1 }),
  attempt(() => { Object.prototype.toString = () => 'x' }),
  attempt(() => { Math.random = () => 0 }),
  attempt(() => { JSON.stringify = () => 'x' }),
  attempt(() => { state.readFile = () => 'x' }),
  attempt(() => { call.caller = 'x' }),
  attempt(() => { Promise.prototype.then = null }),
  attempt(() => { Object.getPrototypeOf([][Symbol.iterator]()).next = null }),
  attempt(() => { Object.defineProperty(Error.prototype, 'x', { value: 1 }) }),
]
exports.override = () => {
  class MyError extends Error { constructor() { super('m'); this.name = 'MyError' } }
  const o = {}; o.toString = () => 'custom'; o.constructor = 1
  return [new MyError().name, String(o), o.constructor, Error.prototype.name]
}
`)
	for range 3 {
		if got := e.ok("inc", "[]"); got != `[1,1,1]` {
			t.Fatalf("module state leaked between calls: %s", got)
		}
	}
	if got := e.ok("tamper", "[]"); strings.Contains(got, "allowed") {
		t.Fatalf("tampering allowed: %s", got)
	}
	if got := e.ok("override", "[]"); got != `["MyError","custom",1,"Error"]` {
		t.Fatalf("override: %s", got)
	}
}

func TestStaticModules(t *testing.T) {
	for src, want := range map[string]bool{
		string(forumSource(t)):         true,
		``:                             true,
		`"use strict"; exports.x = 1;`: true,
		`const A = 1, B = 'x' + 2, C = -Infinity, D = ` + "`a${1 + 2}`":                 true,
		`const o = { a: [1, { b: null }], f() {}, g: () => 1 }`:                         true,
		`function f() {} class K extends Object { static s = 1; m() {} x = new Map() }`: true,
		`exports['x'] = f; function f() {}`:                                             true,
		`exports.x = exports.y`:                                                         false,
		`let n = 0`:                                                                     false,
		`var n = 0`:                                                                     false,
		`const m = new Map()`:                                                           false,
		`const f = make()`:                                                              false,
		`const r = /a/`:                                                                 false,
		`const o = { get x() { return 1 } }`:                                            false,
		`const o = { [k]: 1 }`:                                                          false,
		`const s = 'a' + x`:                                                             false,
		"const t = tag`a`":                                                              false,
		`class K { static { } }`:                                                        false,
		`class K extends make() {}`:                                                     false,
		`if (1) {}`:                                                                     false,
		`exports.x = 1, exports.y = 2`:                                                  false,
		`x = 1`:                                                                         false,
	} {
		p, err := Compile([]byte(src), testLimits())
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if p.Static() != want {
			t.Errorf("Static(%q) = %v, want %v", src, p.Static(), want)
		}
	}
}

// TestStaticModuleSemantics: module-level values of a static module are
// deep-frozen; a call that freezes exports makes its runtime unusable, so
// the next call still matches a fresh runtime.
func TestStaticModuleSemantics(t *testing.T) {
	e := newEnv(t, `
const config = { limits: { max: 3 }, list: [1, 2] }
function helper() { return config.limits.max }
class K { static n = 1; m() { return 2 } }
const attempt = (f) => { try { f(); return 'allowed' } catch (e) { return e.name } }
exports.n = 0
exports.mutate = () => [
  attempt(() => { config.limits.max = 4 }), attempt(() => { config.list.push(3) }), attempt(() => { helper.x = 1 }),
  attempt(() => { K.n = 2 }), attempt(() => { K.prototype.m = null }), attempt(() => { exports.mutate.x = 1 }),
  helper(), new K().m(),
]
exports.freezeExports = () => { exports.n++; Object.freeze(exports) }
exports.sealExports = () => { exports.n++; Object.defineProperty(exports, 'n', { configurable: false }) }
exports.inc = () => ++exports.n
exports.replace = () => { exports.inc = () => 100 }
`)
	if !e.p.Static() {
		t.Fatal("not static")
	}
	if got := e.ok("mutate", "[]"); got != `["TypeError","TypeError","TypeError","TypeError","TypeError","TypeError",3,2]` {
		t.Fatalf("mutate: %s", got)
	}
	e.ok("freezeExports", "[]")
	if got := e.ok("inc", "[]"); got != "2" {
		t.Fatalf("inc after freeze: %s", got)
	}
	e.ok("sealExports", "[]")
	if got := e.ok("inc", "[]"); got != "4" {
		t.Fatalf("inc after seal: %s", got)
	}
	e.ok("replace", "[]")
	if got := e.ok("inc", "[]"); got != "5" {
		t.Fatalf("inc after replace: %s", got)
	}
}
