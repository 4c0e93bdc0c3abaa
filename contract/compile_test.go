package contract

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name, src, msg string
	}{
		{"syntax", `exports.f = (`, "syntax error"},
		{"gas-ident", `const __gas = () => {}`, "reserved"},
		{"gas-shadow", `exports.f = () => { const __gas = () => {}; for(;;){} }`, "reserved"},
		{"gas-param", `exports.f = (__gas) => 1`, "reserved"},
		{"gas-property", `exports.f = (o) => o.__gas`, "reserved"},
		{"gas-prefix", `let __gasX = 1`, "reserved"},
		{"gas-escaped", `let \u005f_gas = 1`, "reserved"},
		{"gas-shorthand", `const o = {__gas}`, "reserved"},
		{"with", `with (Math) { max(1) }`, ""}, // strict mode forbids it too
		{"for-in", `exports.f = (o) => { for (const k in o) {} }`, "for-in"},
		{"bigint", `exports.x = 10n`, "BigInt"},
		{"backref", `exports.f = (s) => /^(a+)+\1$/.test(s)`, "backtracking"},
		{"named-backref", `exports.f = (s) => /(?<a>x)\k<a>/.test(s)`, "backtracking"},
		{"lookahead", `exports.f = (s) => /a(?=b)/.test(s)`, "backtracking"},
		{"lookbehind", `exports.f = (s) => /(?<=a)b/.test(s)`, "backtracking"},
		{"bad-flags", `exports.f = (s) => /a/gg.test(s)`, "flag"},
		{"astral-regex", "exports.f = (s) => /😀/.test(s)", "Multilingual"},
		{"param-shadow-let", `let state = 1`, "redeclare"},
		{"param-shadow-const", `const exports = {}`, "redeclare"},
		{"param-shadow-destructure", `const {call} = {}`, "redeclare"},
		{"param-shadow-class", `class state {}`, "redeclare"},
		{"top-level-return", `return 1`, "syntax"},
		{"import", `import x from 'y'`, "syntax"},
		{"nul", "exports.x = 1\x00", "NUL"},
		{"not-utf8", "exports.x = '\xff'", "UTF-8"},
		{"deep-brackets", "exports.x = " + strings.Repeat("[", 300) + strings.Repeat("]", 300), "nests deeper"},
		{"deep-arrows", "exports.x = " + strings.Repeat("a => ", 300) + "1", "nests deeper"},
		{"deep-template", "exports.x = " + strings.Repeat("`${", 300) + "1" + strings.Repeat("}`", 300), "nests deeper"},
		{"async-generator", `exports.f = async function* () {}`, "not supported"},
		{"for-await", `exports.f = async (xs) => { for await (const x of xs) {} }`, "syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.src), testLimits())
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) = %v, want a CompileError", tt.src, err)
			}
			if !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("Compile(%q) = %v, want a message containing %q", tt.src, err, tt.msg)
			}
		})
	}
}

func TestCompileSizeLimit(t *testing.T) {
	l := testLimits()
	l.MaxCodeBytes = 100
	if _, err := Compile(bytes.Repeat([]byte(" "), 101), l); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("got %v", err)
	}
	if _, err := Compile(bytes.Repeat([]byte(" "), 100), l); err != nil {
		t.Fatal(err)
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, src := range []string{
		``,
		`// only a comment`,
		`"use strict"; exports.x = 1`,
		`exports.f = (s) => /^(a+)+$/.test(s)`,
		`exports.f = (s) => /[\u{1F600}]/u.test(s)`,
		`exports.f = (s) => s.replace(/(\d+)-(\d+)/g, '$2-$1')`,
		`function helper(x) { return x * 2 } exports.f = (x) => helper(x)`,
		`var v = 1; exports.f = () => v`,
		`var state = 2; exports.f = () => state`,
		`function call() { return 3 } exports.f = () => call()`,
		`class A { #p = 1; get p() { return this.#p } static { this.s = 1 } } exports.f = () => new A().p`,
		`exports.g = function* () { yield 1 }`,
		"exports.t = (x) => `${x}`",
		`exports.s = '__gas'`,
		`exports.o = {'__gas': 1}`,
		`exports.f = () => { const s = "(((("; return s }`,
	} {
		if _, err := Compile([]byte(src), testLimits()); err != nil {
			t.Errorf("Compile(%q): %v", src, err)
		}
	}
}

// TestCompileDeterministic: the same source gives the same instrumented
// module and hash; the hash is the SHA-256 of the source.
func TestCompileDeterministic(t *testing.T) {
	src := forumSource(t)
	a, err := Compile(src, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(src, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	if a.Instrumented() != b.Instrumented() || a.Hash() != b.Hash() || a.Hash() != sha256.Sum256(src) {
		t.Fatal("Compile is not deterministic")
	}
	if a.Source() != string(src) {
		t.Fatal("Source changed")
	}
	// The weights are part of consensus: pin the forum's.
	for _, want := range []string{"__gas(43);", "async () => {__gas(108);", "async (title) => {__gas(434);", "async (id, content) => {__gas(278);"} {
		if !strings.Contains(a.Instrumented(), want) {
			t.Errorf("instrumented forum lacks %q:\n%s", want, a.Instrumented())
		}
	}
}

func TestInstrumentationSites(t *testing.T) {
	src := `function f() {}
const g = () => 1
const h = async () => { await 1 }
class C { m() {} static { } get x() { return 1 } }
for (;;) break
while (false) {}
do ; while (false)
for (const x of []) {}
`
	p, err := Compile([]byte(src), testLimits())
	if err != nil {
		t.Fatal(err)
	}
	// top level, f, g, h, m, static block, getter, 4 loops
	if p.sites != 11 {
		t.Fatalf("%d sites, want 11:\n%s", p.sites, p.Instrumented())
	}
	if !strings.Contains(p.Instrumented(), "(__gas(") || !strings.Contains(p.Instrumented(), "{__gas(") {
		t.Fatalf("unexpected rewrite:\n%s", p.Instrumented())
	}
}
