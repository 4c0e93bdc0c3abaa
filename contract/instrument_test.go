package contract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// arrowBodies are expression bodies that are easy to rewrite wrongly: goja's
// end positions are not exact for all of them (the spec's table of 18, plus
// a few more). Each must evaluate the same with and without instrumentation.
var arrowBodies = []string{
	`() => new Map()`,
	`() => new Date`,
	`() => new Map`,
	`(x) => (x) ? 1 : (2)`,
	`(x) => x ? (1) : 2`,
	`(a) => a?.b?.(a) ?? 4`,
	"(x) => `t${x}t${`in${x}`}`",
	"(x) => String.raw`a${x}b`",
	`() => (y) => (z) => y + z`,
	`(x) => (x, x + 1, x + 2)`,
	`(x) => x++ + ++x`,
	`(x) => x ++`,
	`(x) => (x) ++`,
	`() => class { static m() { return 5 } }`,
	`(x) => /a(b)c/.exec(x + 'abc')`,
	`(x) => x / 2 / 1`,
	`async (x) => await x`,
	`() => ({a: 1})`,
	`() => ({a: 1}).a`,
	`(o) => (o.f)(1)`,
	`(o) => (o.f)`,
	`(o) => ((o.f))()`,
	`(x) => (x)`,
	`(x) => ((x))`,
	`(x) => [x, [x]]`,
	`x => x + 1 /* c ) */`,
	`x => x // comment`,
	`x=>x`,
	`(x) => x in {a: 1}`,
	`(x) => typeof x`,
	`(x) => void x`,
	`(x) => -x`,
	`(x) => x = 3`,
	`(x) => \u0078`,
	`(ẋ) => ẋ`,
	`(x) => function () { return x }()`,
	`(x) => "a)b" + 'c)d' + x`,
}

// evalPlain runs an arrow's body in an unmodified goja runtime.
func evalPlain(t *testing.T, arrow string) string {
	t.Helper()
	vm := goja.New()
	v, err := vm.RunString(`'use strict'; const o = {f() { return this === o }}; const describe = ` + describeJS + `; describe((` + arrow + "\n)(o))")
	if err != nil {
		return "error: " + err.Error()
	}
	return v.String()
}

// describeJS turns a value into a comparable string, awaiting nothing.
const describeJS = `(v) => {
	if (v instanceof Map) return 'Map';
	if (v instanceof Date) return 'Date';
	if (typeof v === 'function') return 'function/' + (typeof v.m === 'function' ? v.m() : v.length);
	if (v instanceof Promise) return 'Promise';
	if (Array.isArray(v)) return JSON.stringify(v);
	if (v && typeof v === 'object') return JSON.stringify(v);
	return typeof v + ':' + String(v);
}`

func TestArrowBodyEquivalence(t *testing.T) {
	for _, arrow := range arrowBodies {
		t.Run(arrow, func(t *testing.T) {
			src := `const o = {f() { return this === o }}; const describe = ` + describeJS + `;
exports.f = () => describe((` + arrow + "\n)(o))"
			p, err := Compile([]byte(src), testLimits())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if !strings.Contains(p.Instrumented(), "__gas") {
				t.Fatal("no gas sites")
			}
			want := evalPlain(t, arrow)
			e := newEnv(t, src)
			r := e.run("f", "[]")
			if r.Err != nil {
				t.Fatalf("call: %v\n%s", r.Err, p.Instrumented())
			}
			var got string
			if err := json.Unmarshal(r.Value, &got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("instrumented %s, plain %s\n%s", got, want, p.Instrumented())
			}
		})
	}
}

// TestRewrittenFormsParse covers statement forms whose rewrite once produced
// syntax errors: non-block loop bodies, do-while with a bare statement, an
// if/else around a loop, comments before the ';', new without arguments.
func TestRewrittenFormsParse(t *testing.T) {
	bodies := map[string]string{
		"for-bare":         `let n = 0; for (let i = 0; i < 3; i++) n++; return n`,
		"while-bare":       `let n = 0; while (n < 4) n++; return n`,
		"do-bare":          `let n = 0; do n++; while (n < 5) return n`,
		"do-bare-semi":     `let n = 0; do n++; while (n < 5); return n`,
		"if-for-else":      `let n = 0; if (n === 0) for (;n < 6;) n++; else n = -1; return n`,
		"comment-semi":     `let n = 0; while (n < 7) n++ /* c */ ; return n`,
		"comment-line":     "let n = 0; while (n < 8) n++ // c\n; return n",
		"nested-bare":      `let n = 0; for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) n++; return n`,
		"for-of-bare":      `let n = 0; for (const x of [1, 2, 3]) n += x; return n`,
		"paren-body":       `let n = 0; while (n < 2) (n++); return n`,
		"paren-header":     `let n = 0; while ((n < 3)) n++; return n`,
		"labelled":         `let n = 0; outer: for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) { if (j === 1) continue outer; n++ } return n`,
		"new-no-parens":    `const d = new Date; return d.getTime()`,
		"empty-body":       `let n = 0; for (; n < 3; n++); return n`,
		"asi-body":         "let n = 0\nwhile (n < 9) n++\nreturn n",
		"regex-in-header":  `let n = 0; while (/\)/.test(n < 3 ? ')' : 'x')) n++; return n`,
		"string-in-header": `let n = 0; while (')' && n < 3) n++; return n`,
		"template-body":    "let s = ''; for (const x of [1, 2]) s += `(${x})`; return s",
		"class-static":     `class A { static x = 1; static { A.x = 2 } } return A.x`,
		"generator":        `function* g() { yield 1; yield 2 } let n = 0; for (const x of g()) n += x; return n`,
		"getter":           `const o = { get x() { return 3 } }; return o.x`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			src := "exports.f = () => {\n" + body + "\n}"
			p, err := Compile([]byte(src), testLimits())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			want := evalPlainBody(t, body)
			e := newEnv(t, src)
			r := e.run("f", "[]")
			if r.Err != nil {
				t.Fatalf("call: %v\n%s", r.Err, p.Instrumented())
			}
			if string(r.Value) != want {
				t.Fatalf("instrumented %s, plain %s\n%s", r.Value, want, p.Instrumented())
			}
		})
	}
}

func evalPlainBody(t *testing.T, body string) string {
	t.Helper()
	vm := goja.New()
	vm.SetTimeSource(func() time.Time { return time.UnixMilli(1700000000123) })
	v, err := vm.RunString("'use strict'; JSON.stringify((() => {\n" + body + "\n})())")
	if err != nil {
		return fmt.Sprint("error: ", err)
	}
	return v.String()
}
