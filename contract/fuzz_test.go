package contract

import (
	"testing"
)

// FuzzCompile: no source makes Compile panic or accept a rewrite that does
// not re-parse (Compile checks that itself); what compiles also runs
// without an Internal error.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		"", "exports.x = 1", string(forumSource(f)),
		`exports.f = () => { for(;;) x++; }`, `do x; while(0)`, `if (a) for(;;) b; else c`,
		`exports.f = async (a, {b = 1} = {}, ...c) => await a`, "x => y => `${x}${y}`",
		`exports.f = (o) => (o.f)(1)`, `class A { static { for (;;) break } #x = () => 1 }`,
		`label: for (const x of []) continue label`, `a = /[/]/g; b = 1 / 2 / 3`,
		`exports.f = () => new Map`, `x = (1, 2) ? (3) : (4)`, "while (0) /* ) */ ;",
		`exports.f = function* () { yield* [1, 2] }`, `x = a?.b?.[c]?.(d) ?? e`,
		`x = \u0061 => \u0061`, `(async () => {})()`, `for (;;) if (x) break; else continue`,
		`x = y => ({})`, `x = () => () => () => 1`, "`${`${`${1}`}`}`", `x = "\"" + '\'' + /"/`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	l := testLimits()
	l.Gas = 20000
	l.Timeout = 0
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Compile(src, l)
		if err != nil {
			if _, ok := err.(*CompileError); !ok {
				t.Fatalf("Compile returned %T %v", err, err)
			}
			return
		}
		exports, methods, err := p.Instantiate(l)
		if err != nil {
			if ce, ok := err.(*CallError); !ok || ce.Code == Internal {
				t.Fatalf("Instantiate: %v\n%s", err, p.Instrumented())
			}
			return
		}
		for _, m := range methods {
			r := p.Call(exports, newMemState(), Call{Method: m, Args: []byte(`[1,"a",{}]`)}, l)
			if r.Err != nil && r.Err.Code == Internal {
				t.Fatalf("%s: %v\n%s", m, r.Err, p.Instrumented())
			}
		}
	})
}

// FuzzCall: arbitrary argument bytes never make a call panic or fail with
// Internal, and pooled and fresh runtimes agree.
func FuzzCall(f *testing.F) {
	for _, s := range []string{`[]`, `[1, "x"]`, `["Hello world"]`, `[1e400]`, `[-0]`, `["\ud800"]`, `[{"__proto__": 1}]`,
		`[[[[[]]]]]`, `{}`, `[`, "[\"\xff\"]", `[1,2,3,4,5,6,7,8,9,10]`, `[null, true, false]`, `["/../x"]`, `[1, "\u0000"]`} {
		f.Add("addPost", []byte(s))
		f.Add("addTopic", []byte(s))
	}
	src := forumSource(f)
	p, err := Compile(src, testLimits())
	if err != nil {
		f.Fatal(err)
	}
	exports, _, err := p.Instantiate(testLimits())
	if err != nil {
		f.Fatal(err)
	}
	pool := NewPool()
	f.Fuzz(func(t *testing.T, method string, args []byte) {
		st := newMemState()
		st.dirs["/topics"] = true
		c := Call{Method: method, Args: args, Caller: "fuzz", Time: 1}
		r := pool.Call(p, exports, st, c, testLimits())
		if r.Err != nil && r.Err.Code == Internal {
			t.Fatalf("Internal: %v", r.Err)
		}
		if fresh := p.Call(exports, st, c, testLimits()); !sameResult(r, fresh) {
			t.Fatalf("pooled %s\nfresh %s", fmtResult(r), fmtResult(fresh))
		}
	})
}
