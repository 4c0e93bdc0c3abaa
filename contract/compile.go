package contract

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// Program is a compiled contract: the validated source, its instrumented
// module and goja's compiled form. It is immutable and safe for concurrent
// use by many runtimes.
type Program struct {
	hash   [32]byte
	source string
	module string // instrumented and wrapped source
	sites  int
	static bool // see staticModule
	prg    *goja.Program
}

// Compile parses, validates, instruments and compiles a contract.
//
// The source is a script in the style of a CommonJS module: it assigns
// methods and data to exports. Compile rejects source that is not valid
// UTF-8, larger than limits.MaxCodeBytes, does not parse, or uses a
// forbidden construct: identifiers starting with __gas, with statements,
// for-in loops, BigInt literals, regular-expression literals that need a
// backtracking engine (backreferences, lookaround, ...), and top-level
// let/const/class declarations of the module's parameters exports, state and
// call. It then inserts a gas charge at the top of the module and of every
// function body, arrow body (including expression bodies), class static
// block and loop body, re-parses the result to check it, and compiles it in
// strict mode.
//
// Compile is deterministic: the same code gives the same Program, and the
// same gas for every call, on every machine with the same goja version. Its
// errors are *CompileError values with deterministic messages.
func Compile(code []byte, limits Limits) (p *Program, err error) {
	limits = limits.WithDefaults()
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, &CompileError{Message: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	if len(code) > limits.MaxCodeBytes {
		return nil, &CompileError{Message: fmt.Sprintf("source is %d bytes, more than the limit of %d", len(code), limits.MaxCodeBytes)}
	}
	if !utf8.Valid(code) {
		return nil, &CompileError{Message: "source is not valid UTF-8"}
	}
	src := string(code)
	if strings.IndexByte(src, 0) >= 0 {
		return nil, &CompileError{Message: "source contains a NUL byte"}
	}
	if err := checkNesting(src); err != nil {
		return nil, err
	}
	ast, err := parser.ParseFile(nil, "contract.js", src, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, &CompileError{Message: "syntax error: " + err.Error()}
	}
	module, sites, static, err := instrument(src, ast, limits.MaxRegExpSize)
	if err != nil {
		return nil, err
	}
	wrapped, err := verify(module, sites)
	if err != nil {
		return nil, err
	}
	prg, err := goja.CompileAST(wrapped, true)
	if err != nil {
		return nil, &CompileError{Message: "compile error: " + err.Error()}
	}
	return &Program{
		hash:   sha256.Sum256(code),
		source: src,
		module: module,
		sites:  sites,
		static: static,
		prg:    prg,
	}, nil
}

// Hash returns the SHA-256 of the contract's source, its identity.
func (p *Program) Hash() [32]byte { return p.hash }

// Source returns the contract's source as given to Compile.
func (p *Program) Source() string { return p.source }

// Static reports whether the module is static: evaluated once per runtime,
// its module-level values deep-frozen (see the package documentation).
func (p *Program) Static() bool { return p.static }

// Instrumented returns the metered module goja runs: the source with its
// __gas calls, wrapped in the module function.
func (p *Program) Instrumented() string { return p.module }

// maxNesting bounds how deeply brackets and arrow functions nest in a
// contract. goja's parser and compiler recurse on nesting and get slow
// (seconds at a few thousand levels), so Compile refuses deep nesting
// before parsing.
const maxNesting = 256

// checkNesting rejects source whose brackets and arrow chains (a => b => c)
// nest deeper than maxNesting. It tokenizes just enough to skip strings,
// templates, comments and regular-expression literals.
func checkNesting(src string) error {
	type level struct {
		close  byte // ')', ']', '}' or '`' for a template's ${
		arrows int
	}
	stack := []level{{}}
	depth := func() int {
		d := len(stack)
		for _, l := range stack {
			d += l.arrows
		}
		return d
	}
	tooDeep := &CompileError{Message: fmt.Sprintf("code nests deeper than %d levels", maxNesting)}
	regexOK := true // whether a '/' here starts a regular expression
	i := 0
	// template scans a template literal's text from i (after '`' or after
	// the '}' closing a substitution) up to its end or next "${".
	template := func() {
		for i < len(src) {
			switch src[i] {
			case '\\':
				i += 2
				continue
			case '`':
				i++
				regexOK = false
				return
			case '$':
				if i+1 < len(src) && src[i+1] == '{' {
					i += 2
					stack = append(stack, level{close: '`'})
					regexOK = true
					return
				}
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			i++
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := indexFrom(src, i+2, "*/")
			if end < 0 {
				return nil
			}
			i = end + 2
			continue
		case c == '/' && regexOK:
			inClass := false
			for i++; i < len(src) && src[i] != '\n'; i++ {
				if src[i] == '\\' {
					i++
				} else if src[i] == '[' {
					inClass = true
				} else if src[i] == ']' {
					inClass = false
				} else if src[i] == '/' && !inClass {
					break
				}
			}
			i++
			regexOK = false
			continue
		case c == '"' || c == '\'':
			for i++; i < len(src) && src[i] != c && src[i] != '\n'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			i++
			regexOK = false
			continue
		case c == '`':
			i++
			template()
			if depth() > maxNesting {
				return tooDeep
			}
			continue
		case c == '(' || c == '[' || c == '{':
			cl := map[byte]byte{'(': ')', '[': ']', '{': '}'}[c]
			stack = append(stack, level{close: cl})
			if depth() > maxNesting {
				return tooDeep
			}
			regexOK = true
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 1 {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if top.close == '`' {
					i++
					template()
					continue
				}
			}
			regexOK = c == '}'
		case c == '=' && i+1 < len(src) && src[i+1] == '>':
			stack[len(stack)-1].arrows++
			if depth() > maxNesting {
				return tooDeep
			}
			i += 2
			regexOK = true
			continue
		case c == ',' || c == ';':
			stack[len(stack)-1].arrows = 0
			regexOK = true
		case isWordByte(c):
			start := i
			for i < len(src) && isWordByte(src[i]) {
				i++
			}
			regexOK = regexKeywords[src[start:i]]
			continue
		default:
			regexOK = true
		}
		i++
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// regexKeywords are the words after which '/' starts a regular expression.
var regexKeywords = map[string]bool{
	"return": true, "typeof": true, "case": true, "do": true, "else": true, "in": true, "of": true,
	"instanceof": true, "new": true, "delete": true, "void": true, "throw": true, "yield": true, "await": true,
}
