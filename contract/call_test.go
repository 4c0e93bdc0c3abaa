package contract

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSettling(t *testing.T) {
	e := newEnv(t, `
exports.pending = async () => { await state.writeFile('/a', 'x'); await new Promise(() => {}) }
exports.rejects = async () => { await state.writeFile('/a', 'x'); throw new RangeError('no way') }
exports.throws = () => { state.writeFile('/a', 'x'); throw new TypeError('bad input') }
exports.throwString = () => { throw 'plain string' }
exports.throwNumber = () => { throw 42 }
exports.throwObject = () => { throw { message: 'not an error' } }
exports.throwUndefined = () => { throw undefined }
exports.customError = () => { class MyError extends Error { constructor(m) { super(m); this.name = 'MyError' } }; throw new MyError('custom') }
exports.getterError = () => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;) {} } }); throw e }
exports.longError = () => { throw new Error('x'.repeat(1000)) }
exports.runtimeError = () => { const o = undefined; return o.x }
exports.returnsPromise = () => Promise.resolve(7)
exports.resolvedLater = async () => { let v = 0; await Promise.resolve().then(() => { v = 5 }); return v }
exports.unhandled = async () => { Promise.reject(new Error('ignored')); return 1 }
`)
	e.fails("pending", "[]", NotSettled, "did not settle")
	e.fails("rejects", "[]", Threw, "RangeError: no way")
	e.fails("throws", "[]", Threw, "TypeError: bad input")
	e.fails("throwString", "[]", Threw, "plain string")
	e.fails("throwNumber", "[]", Threw, "42")
	e.fails("throwObject", "[]", Threw, "uncaught Object")
	e.fails("throwUndefined", "[]", Threw, "undefined")
	e.fails("customError", "[]", Threw, "MyError: custom")
	r := e.fails("getterError", "[]", Threw, "Error")
	if r.Gas >= e.limits.Gas {
		t.Fatalf("the message getter ran: %s", fmtResult(r))
	}
	r = e.fails("longError", "[]", Threw, "Error: xxx")
	if len(r.Err.Message) > maxMessageBytes+len("…") {
		t.Fatalf("message not truncated: %d bytes", len(r.Err.Message))
	}
	e.fails("runtimeError", "[]", Threw, "TypeError")
	if got := e.ok("returnsPromise", "[]"); got != "7" {
		t.Fatalf("returnsPromise %s", got)
	}
	if got := e.ok("resolvedLater", "[]"); got != "5" {
		t.Fatalf("resolvedLater %s", got)
	}
	if got := e.ok("unhandled", "[]"); got != "1" {
		t.Fatalf("unhandled %s", got)
	}
}

func TestReturnValues(t *testing.T) {
	e := newEnv(t, `
exports.r = (k) => ({
  undef: undefined, nul: null, t: true, f: false, zero: 0, negzero: -0, int: 42, big: 1e21, small: 1e-7,
  frac: 0.1 + 0.2, neg: -1.5, max: Number.MAX_SAFE_INTEGER, str: 'a"b\\c\n\u0001\u2028é😀',
  lone: '\ud800', arr: [1, [2, [3]]], obj: { b: 1, a: 2, 10: 3, 2: 4, 'é': 5, 'z': 6, '😀': 7, '\uffff': 8 },
  empty: {}, emptyArr: [], proto: { __proto__: null }.__proto__,
  map: new Map(), set: new Set(), date: new Date(0), nan: NaN, inf: Infinity, ninf: -Infinity,
  fn: () => 1, sym: Symbol('s'), regexp: /a/, err: new Error('e'), boxed: new Number(1),
  cls: new (class A {})(), nullProto: Object.create(null), hole: [1, , 3], extra: Object.assign([1], { x: 2 }),
  getter: { get x() { return 1 } }, cycle: (() => { const o = {}; o.o = o; return o })(),
  deep: (() => { let o = 1; for (let i = 0; i < 65; i++) o = [o]; return o })(),
  deep64: (() => { let o = 1; for (let i = 0; i < 63; i++) o = [o]; return o })(),
  nonEnum: Object.defineProperty({ a: 1 }, 'hidden', { value: 2 }),
  symKey: { a: 1, [Symbol('k')]: 2 },
}[k])`)
	good := map[string]string{
		"undef":    `null`,
		"nul":      `null`,
		"t":        `true`,
		"f":        `false`,
		"zero":     `0`,
		"negzero":  `0`,
		"int":      `42`,
		"big":      `1e+21`,
		"small":    `1e-7`,
		"frac":     `0.30000000000000004`,
		"neg":      `-1.5`,
		"max":      `9007199254740991`,
		"str":      `"a\"b\\c\n\u0001` + "\u2028é😀" + `"`,
		"lone":     `"\ud800"`,
		"arr":      `[1,[2,[3]]]`,
		"obj":      `{"10":3,"2":4,"a":2,"b":1,"z":6,"é":5,"😀":7,"` + "\uffff" + `":8}`,
		"empty":    `{}`,
		"emptyArr": `[]`,
		"proto":    `null`,
		"deep64":   strings.Repeat("[", 63) + "1" + strings.Repeat("]", 63),
		"nonEnum":  `{"a":1}`,
		"symKey":   `{"a":1}`,
	}
	for k, want := range good {
		if got := e.ok("r", `["`+k+`"]`); got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
	bad := map[string]string{
		"map":       "Map objects",
		"set":       "Set objects",
		"date":      "Date objects",
		"nan":       "NaN",
		"inf":       "Infinity",
		"ninf":      "-Infinity",
		"fn":        "functions",
		"sym":       "symbols",
		"regexp":    "RegExp objects",
		"err":       "Error objects",
		"boxed":     "Number objects",
		"cls":       "instances of A",
		"nullProto": "null-prototype",
		"hole":      "dense",
		"extra":     "dense",
		"getter":    "getters",
		"cycle":     "cycle",
		"deep":      "deeper than 64",
	}
	for k, msg := range bad {
		e.fails("r", `["`+k+`"]`, BadReturn, msg)
	}
}

func TestExportsState(t *testing.T) {
	e := newEnv(t, `
exports.n = 1
exports.set = (k) => {
  const values = {
    map: new Map(), date: new Date(0), nan: NaN, fn: { f: () => 1 }, cycle: (() => { const o = {}; o.o = o; return o })(),
    getter: { get x() { return 1 } }, sym: Symbol('s'), undef: undefined, big: 'x'.repeat(300000),
  }
  exports.value = values[k]
  exports.n++
}
exports.topGetter = () => { Object.defineProperty(exports, 'g', { get() { return 1 }, enumerable: true, configurable: true }) }
exports.frozen = () => { Object.defineProperty(exports, 'f', { value: 1, enumerable: true }) }
exports.proto = () => { Object.setPrototypeOf(exports, null) }
exports.addMethod = () => { exports.extra = () => 1; exports.n = 5 }
exports.replaceMethod = () => { exports.set = 7 }
exports.read = () => [exports.n, typeof exports.set, typeof exports.extra]
`)
	if string(e.exports) != `{"n":1}` {
		t.Fatalf("initial %s", e.exports)
	}
	for k, msg := range map[string]string{
		"map": "Map objects", "date": "Date objects", "nan": "NaN", "fn": "functions", "cycle": "cycle",
		"getter": "getters", "sym": "symbols", "undef": "undefined",
	} {
		e.fails("set", `["`+k+`"]`, BadState, msg)
	}
	e.fails("set", `["big"]`, LimitExceeded, "limit")
	e.fails("topGetter", `[]`, BadState, "getters")
	e.fails("proto", `[]`, BadState, "null-prototype")
	// A non-configurable property is saved, then cannot be restored over
	// the module's data: the next call reports it.
	r := e.do("frozen", `[]`)
	if r.Err != nil || string(r.Exports) != `{"f":1,"n":1}` {
		t.Fatalf("frozen: %s", fmtResult(r))
	}
	// Functions added to exports are not saved; methods come back from the
	// module on every call; a data value saved under a method's name wins.
	e.ok("addMethod", `[]`)
	if string(e.exports) != `{"f":1,"n":5}` {
		t.Fatalf("after addMethod %s", e.exports)
	}
	if got := e.ok("read", `[]`); got != `[5,"function","undefined"]` {
		t.Fatalf("read %s", got)
	}
	e.ok("replaceMethod", `[]`)
	if string(e.exports) != `{"f":1,"n":5,"set":7}` {
		t.Fatalf("after replaceMethod %s", e.exports)
	}
	e.fails("set", `["map"]`, NoSuchMethod, "set")
	if got := e.ok("read", `[]`); got != `[5,"number","undefined"]` {
		t.Fatalf("read %s", got)
	}
}

func TestBadInputs(t *testing.T) {
	e := newEnv(t, `exports.f = (...a) => a.length; exports.x = 1`)
	for _, args := range []string{``, `{}`, `1`, `"a"`, `[`, `[1,]`, `[01]`, `[1] 2`, `[NaN]`, `['a']`, "[\"\xff\"]",
		strings.Repeat("[", 70) + strings.Repeat("]", 70)} {
		e.fails("f", args, BadArgs, "")
	}
	if got := e.ok("f", ` [ 1 , {"a" : [true, null]} , "\ud800" ] `); got != "3" {
		t.Fatalf("f %s", got)
	}
	e.fails("missing", `[]`, NoSuchMethod, `"missing"`)
	e.fails("x", `[]`, NoSuchMethod, "")
	e.fails("toString", `[]`, NoSuchMethod, "")
	e.fails("constructor", `[]`, NoSuchMethod, "")
	l := e.limits
	l.MaxArgsBytes = 10
	r := e.p.Call(e.exports, e.st, Call{Method: "f", Args: []byte(`[1,2,3,4,5,6]`)}, l)
	if r.Err == nil || r.Err.Code != BadArgs {
		t.Fatalf("large args: %s", fmtResult(r))
	}
	for _, snap := range []string{``, `[]`, `1`, `{"a":`, `{"a":1}x`} {
		r := e.p.Call([]byte(snap), e.st, Call{Method: "f", Args: []byte(`[]`)}, e.limits)
		if r.Err == nil || r.Err.Code != BadState || string(r.Exports) != snap {
			t.Errorf("snapshot %q: %s", snap, fmtResult(r))
		}
	}
}

func TestCallContext(t *testing.T) {
	e := newEnv(t, `
const top = [typeof call, typeof state]
exports.f = () => [call.method, call.caller, call.time, Date.now(), new Date().getTime(), top, Object.isFrozen(call)]
exports.mutate = () => { call.caller = 'me' }
exports.rand = () => [Math.random(), Math.random(), Math.random()]
exports.topState = () => 1
`)
	e.call.Caller = "02abcdef"
	e.call.Time = 1700000000123
	if got := e.ok("f", "[]"); got != `["f","02abcdef",1700000000123,1700000000123,1700000000123,["object","object"],true]` {
		t.Fatalf("f %s", got)
	}
	e.fails("mutate", "[]", Threw, "TypeError")
	a := e.ok("rand", "[]")
	if b := e.ok("rand", "[]"); a != b {
		t.Fatalf("same seed, different randoms: %s %s", a, b)
	}
	e.call.Seed[0] = 1
	if c := e.ok("rand", "[]"); c == a {
		t.Fatalf("different seed, same randoms: %s", c)
	}
	// The sequence is the documented splitmix64.
	e.call.Seed = [32]byte{}
	var want []string
	state := uint64(0)
	for range 3 {
		state += 0x9E3779B97F4A7C15
		z := state
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		want = append(want, strconv.FormatFloat(float64(z>>11)/(1<<53), 'g', -1, 64))
	}
	if a != "["+strings.Join(want, ",")+"]" || !strings.HasPrefix(a, "[0.8833108082136426,") {
		t.Errorf("Math.random sequence for seed 0: %s, want %v", a, want)
	}
	// State is not available at the module top level.
	e2 := newEnv(t, `exports.x = 1`)
	_ = e2
	p, err := Compile([]byte(`state.exists('/')`), testLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Instantiate(testLimits()); err == nil || !strings.Contains(err.Error(), "only available inside exported methods") {
		t.Fatalf("top-level state: %v", err)
	}
}

func TestStateAPI(t *testing.T) {
	e := newEnv(t, `
const attempt = (f) => { try { return f() ?? null } catch (e) { return e.code || e.name + ': ' + e.message } }
exports.t = (op, ...args) => attempt(() => state[op](...args))
exports.seq = () => {
  state.writeFile('/a/b/c', 'deep')
  const r = [state.readFile('/a/b/c'), state.readdir('/a'), state.readdir('/a/b'), state.exists('/a/b')]
  state.unlink('/a/b/c')
  r.push(state.exists('/a/b/c'), state.readdir('/a/b'))
  state.rmdir('/a/b')
  r.push(state.readdir('/a'))
  state.mkdir('/a/b')
  state.writeFile('/a/b/d', 'again')
  r.push(state.readdir('/a/b'))
  return r
}
exports.writeAndThrow = () => { state.writeFile('/x', 'y'); throw new Error('boom') }
exports.writeAndCatch = () => { try { state.mkdir('/existing') } catch (e) { return e.message } }
exports.sizes = (n) => { state.writeFile('/big', 'x'.repeat(n)) }
exports.many = (n) => { for (let i = 0; i < n; i++) state.writeFile('/f' + i, 'x'.repeat(100)) }
`)
	e.st.dirs["/existing"] = true
	e.st.dirs["/existing/sub"] = true
	e.st.files["/existing/file"] = []byte("base")
	e.st.files["/existing/bin"] = []byte{0xff, 'a'}

	tests := []struct{ args, want string }{
		{`["exists", "/"]`, `true`},
		{`["exists", "/existing"]`, `true`},
		{`["exists", "/existing/file"]`, `true`},
		{`["exists", "/nope"]`, `false`},
		{`["readdir", "/"]`, `["existing"]`},
		{`["readdir", "/existing"]`, `["bin","file","sub"]`},
		{`["readdir", "/existing/file"]`, `"ENOTDIR"`},
		{`["readdir", "/nope"]`, `"ENOENT"`},
		{`["readFile", "/existing/file"]`, `"base"`},
		{`["readFile", "/existing/bin"]`, "\"\ufffda\""},
		{`["readFile", "/existing"]`, `"EISDIR"`},
		{`["readFile", "/nope"]`, `"ENOENT"`},
		{`["mkdir", "/existing"]`, `"EEXIST"`},
		{`["mkdir", "/existing/file"]`, `"EEXIST"`},
		{`["mkdir", "/existing/file/x"]`, `"ENOTDIR"`},
		{`["writeFile", "/existing", "x"]`, `"EISDIR"`},
		{`["writeFile", "/", "x"]`, `"EISDIR"`},
		{`["writeFile", "/existing/file/x", "x"]`, `"ENOTDIR"`},
		{`["writeFile", "/x", 5]`, `"TypeError: state.writeFile: data must be a string"`},
		{`["unlink", "/existing"]`, `"EISDIR"`},
		{`["unlink", "/nope"]`, `"ENOENT"`},
		{`["rmdir", "/existing"]`, `"ENOTEMPTY"`},
		{`["rmdir", "/existing/file"]`, `"ENOTDIR"`},
		{`["rmdir", "/"]`, `"EBUSY"`},
		{`["rmdir", "/nope"]`, `"ENOENT"`},
		{`["exists", "relative"]`, `"EINVAL"`},
		{`["exists", "/a/"]`, `"EINVAL"`},
		{`["exists", "/a//b"]`, `"EINVAL"`},
		{`["exists", "/a/../b"]`, `"EINVAL"`},
		{`["exists", "/a/./b"]`, `"EINVAL"`},
		{`["exists", "/a\nb"]`, `"EINVAL"`},
		{`["exists", "/\ud800"]`, `"EINVAL"`},
		{`["exists", "/` + strings.Repeat("x", 256) + `"]`, `"ENAMETOOLONG"`},
		{`["exists", "/` + strings.Repeat("x/", 600) + `x"]`, `"ENAMETOOLONG"`},
		{`["exists", 5]`, `"TypeError: state: path must be a string"`},
		{`["exists", "/é/日本"]`, `false`},
	}
	for _, tt := range tests {
		r := e.run("t", tt.args)
		if r.Err != nil || string(r.Value) != tt.want {
			t.Errorf("t(%s) = %s, want %s", tt.args, fmtResult(r), tt.want)
		}
	}
	// Writes: explicit parents first, reads see earlier writes.
	r := e.run("t", `["writeFile", "/n/m/f", "data"]`)
	if len(r.Writes) != 3 || !isMkdir(r.Writes[0], "/n") || !isMkdir(r.Writes[1], "/n/m") ||
		r.Writes[2].Op != WriteFile || r.Writes[2].Path != "/n/m/f" || string(r.Writes[2].Data) != "data" {
		t.Fatalf("writeFile parents: %s", fmtResult(r))
	}
	r = e.do("seq", `[]`)
	if r.Err != nil || string(r.Value) != `["deep",["b"],["c"],true,false,[],[],["d"]]` {
		t.Fatalf("seq: %s", fmtResult(r))
	}
	if _, ok := e.st.files["/a/b/d"]; !ok || e.st.dirs["/a/b"] != true {
		t.Fatalf("seq state: %v %v", e.st.files, e.st.dirs)
	}
	// A failed call writes nothing; a caught state error is an ordinary
	// exception.
	e.fails("writeAndThrow", `[]`, Threw, "boom")
	if got := e.ok("writeAndCatch", `[]`); got != `"EEXIST: file already exists, /existing"` {
		t.Fatalf("writeAndCatch %s", got)
	}
	// Size caps are uncatchable.
	l := e.limits
	e.limits.MaxFileBytes = 1000
	e.fails("sizes", `[1001]`, LimitExceeded, "file")
	e.ok("sizes", `[1000]`)
	e.limits.MaxWriteBytes = 1000
	e.fails("many", `[11]`, LimitExceeded, "per call")
	e.ok("many", `[10]`)
	e.limits = l
	// Gas: a write costs more than a read, and bytes cost.
	small := e.run("sizes", `[10]`).Gas
	large := e.run("sizes", `[10000]`).Gas
	if large-small < 9990/writeBytesGas {
		t.Fatalf("write gas %d vs %d", small, large)
	}
}

// failingState returns an I/O error: the call ends with Internal.
type failingState struct{ memState }

func (f *failingState) IsDir(string) (bool, error) { return false, errors.New("disk on fire") }

func TestStateReaderError(t *testing.T) {
	e := newEnv(t, `exports.f = () => { try { state.exists('/x') } catch (e) { return 'caught' } }`)
	r := e.p.Call(e.exports, &failingState{*newMemState()}, Call{Method: "f", Args: []byte("[]")}, e.limits)
	if r.Err == nil || r.Err.Code != Internal || !strings.Contains(r.Err.Message, "disk on fire") {
		t.Fatalf("%s", fmtResult(r))
	}
	if _, err := newMemState().ReadFile("/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// sleepyState sleeps in ReadFile: the wall-clock backstop ends the call.
type sleepyState struct{ memState }

func (s *sleepyState) ReadFile(p string) ([]byte, error) {
	time.Sleep(300 * time.Millisecond)
	return s.memState.ReadFile(p)
}

func TestTimeoutBackstop(t *testing.T) {
	e := newEnv(t, `exports.f = () => { for (let i = 0; i < 3; i++) state.readFile('/x'); return 1 }`)
	st := &sleepyState{*newMemState()}
	st.files["/x"] = []byte("x")
	l := e.limits
	l.Timeout = 100 * time.Millisecond
	start := time.Now()
	r := e.p.Call(e.exports, st, Call{Method: "f", Args: []byte("[]")}, l)
	if r.Err == nil || r.Err.Code != Timeout || r.Err.Code.Deterministic() {
		t.Fatalf("%s", fmtResult(r))
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("took %v", d)
	}
	// The same call with room to spare succeeds.
	l.Timeout = 10 * time.Second
	if r := e.p.Call(e.exports, st, Call{Method: "f", Args: []byte("[]")}, l); r.Err != nil {
		t.Fatalf("%s", fmtResult(r))
	}
}

func TestCodes(t *testing.T) {
	for c := OK; c <= Internal; c++ {
		if strings.HasPrefix(c.String(), "Code(") {
			t.Errorf("code %d has no name", c)
		}
		if c.Deterministic() != (c != Timeout && c != MemoryLimit) {
			t.Errorf("%v.Deterministic() = %v", c, c.Deterministic())
		}
	}
	if Code(200).String() != "Code(200)" {
		t.Error(Code(200).String())
	}
	if (&CallError{Code: Threw, Message: "x"}).Error() != "Threw: x" || (&CallError{Code: OutOfGas}).Error() != "OutOfGas" {
		t.Error("CallError.Error")
	}
}

func TestInstantiateErrors(t *testing.T) {
	tests := []struct {
		src  string
		code Code
		msg  string
	}{
		{`throw new Error('bad module')`, Threw, "Error: bad module"},
		{`exports.x = missing`, Threw, "ReferenceError"},
		{`exports.x = missing; let y = 1`, Threw, "ReferenceError"},
		{`exports.m = new Map()`, BadState, "Map objects"},
		{`exports.f = NaN`, BadState, "NaN"},
		{`for (;;) {}`, OutOfGas, ""},
		{`const f = () => f(); f()`, StackOverflow, ""},
		{`Object.defineProperty(exports, 'g', { get() { return 1 }, enumerable: true })`, BadState, "getters"},
	}
	for _, tt := range tests {
		p, err := Compile([]byte(tt.src), testLimits())
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		_, _, err = p.Instantiate(testLimits())
		var ce *CallError
		if !errors.As(err, &ce) || ce.Code != tt.code || !strings.Contains(ce.Message, tt.msg) {
			t.Errorf("Instantiate(%q) = %v, want %v containing %q", tt.src, err, tt.code, tt.msg)
		}
		// Calling a module that cannot instantiate fails the same way.
		r := p.Call([]byte(`{}`), newMemState(), Call{Method: "f", Args: []byte(`[]`)}, testLimits())
		if r.Err == nil || tt.code != BadState && r.Err.Code != tt.code {
			t.Errorf("Call on %q: %s", tt.src, fmtResult(r))
		}
	}
}

// TestConcurrentPool: one Pool serves concurrent callers (run with -race).
func TestConcurrentPool(t *testing.T) {
	p := forumProgram(t)
	pool := NewPool()
	st := newMemState()
	st.dirs["/topics"] = true
	exports := []byte(`{"postCounter":0,"topicCounter":0}`)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				r := pool.Call(p, exports, st, Call{Method: "addPost", Args: []byte(`[1,"x"]`), Time: int64(g*1000 + i)}, testLimits())
				if r.Err != nil || string(r.Value) != "1" {
					t.Errorf("%s", fmtResult(r))
					return
				}
			}
		}()
	}
	wg.Wait()
}
