package contract

import (
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// Instrumentation inserts a call __gas(n) at the start of every function
// body, arrow body, class static block and loop body, and once at the top of
// the module. n is the site's weight: 1 + the number of AST nodes that run
// each time the site is entered (see weigh). The rewrite splices text at AST
// offsets of the original source, so everything else stays byte for byte.

const (
	gasName = "__gas"
	// maxSiteGas caps one site's weight; __gas charges 1 for anything else.
	maxSiteGas = 1 << 20
	// Node weights beyond 1, calibrated against goja on amd64 so that a
	// million gas takes roughly 50-300 ms whatever the code does (one
	// gas is about one simple VM instruction, ~50 ns):
	// awaitGas per await (a promise and a job, ~7 µs), yieldGas per yield,
	// asyncCallGas per call of an async function (its promise),
	// generatorCallGas per call of a generator function, closureGas per
	// function or arrow created, classGas per class created (~5 µs).
	awaitGas         = 150
	yieldGas         = 20
	asyncCallGas     = 100
	generatorCallGas = 20
	closureGas       = 5
	classGas         = 100

	// freezeName is the global a static module calls at its end.
	freezeName   = "__gas_freeze"
	modulePrefix = "(function (exports, state, call) {"
	moduleSuffix = "\n})"
)

// A splice inserts text at an offset of the original source. At one offset
// closers go before openers; closers of inner sites (which start later) go
// first, openers of outer sites (which end later) go first.
type splice struct {
	off    int
	closer bool
	start  int // start of the site's body, to order nested closers
	end    int // end of the site's body, to order nested openers
	text   string
}

type instrumenter struct {
	src    string
	opaque map[int]int // literal start → end (strings, templates, regexps)
	ends   map[ast.Node]int
	// maxRegExp is Limits.MaxRegExpSize, for regular expression literals.
	maxRegExp int
	sp        []splice
	sites     int
	err       error
}

// CompileError is returned by Compile for source that does not parse, uses
// a forbidden construct or is too large. Its message is deterministic.
type CompileError struct {
	Message string
}

// Error implements error.
func (e *CompileError) Error() string { return "contract: " + e.Message }

func (in *instrumenter) fail(format string, args ...any) {
	if in.err == nil {
		in.err = &CompileError{Message: fmt.Sprintf(format, args...)}
	}
}

// off converts a goja file.Idx (1-based, nil FileSet) to a byte offset.
func off(idx file.Idx) int { return int(idx) - 1 }

// instrument validates the parsed program and returns the wrapped,
// metered module source, the number of __gas sites and whether the module
// is static (see staticModule).
func instrument(src string, prg *ast.Program, maxRegExp int) (string, int, bool, error) {
	in := &instrumenter{src: src, opaque: map[int]int{}, ends: map[ast.Node]int{}, maxRegExp: maxRegExp}
	in.checkParams(prg)
	in.collect(prg)
	if in.err != nil {
		return "", 0, false, in.err
	}
	// The module's own top level.
	w := 1
	for _, s := range prg.Body {
		w += in.count(s)
	}
	in.add(0, 0, len(src), gasCall(w))
	in.visit(prg)
	if in.err != nil {
		return "", 0, false, in.err
	}
	out := modulePrefix + apply(src, in.sp)
	names, static := staticModule(src, prg)
	if static {
		// Deep-freeze the module's top-level values once it has run.
		out += "\n;" + freezeName + "([" + strings.Join(names, ", ") + "]);"
	}
	return out + moduleSuffix, in.sites, static, nil
}

func gasCall(w int) string {
	if w > maxSiteGas {
		w = maxSiteGas
	}
	return gasName + "(" + strconv.Itoa(w) + ");"
}

func (in *instrumenter) add(at, start, end int, text string) {
	in.sp = append(in.sp, splice{off: at, start: start, end: end, text: text})
	in.sites++
}

func (in *instrumenter) addCloser(at, start int, text string) {
	in.sp = append(in.sp, splice{off: at, closer: true, start: start, text: text})
}

// checkParams rejects top-level let, const and class declarations of the
// module function's parameters, which would be a redeclaration.
func (in *instrumenter) checkParams(prg *ast.Program) {
	var names []ast.Node
	for _, st := range prg.Body {
		switch d := st.(type) {
		case *ast.LexicalDeclaration:
			for _, b := range d.List {
				names = append(names, b.Target)
			}
		case *ast.ClassDeclaration:
			if d.Class != nil && d.Class.Name != nil {
				names = append(names, d.Class.Name)
			}
		}
	}
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		if id, ok := n.(*ast.Identifier); ok {
			switch id.Name.String() {
			case "exports", "state", "call":
				in.fail("top-level let, const and class may not redeclare %s (a parameter of the module)", id.Name)
			}
		}
		switch n.(type) {
		case *ast.FunctionLiteral, *ast.ArrowFunctionLiteral, *ast.ClassLiteral:
			return // default values: not declarations
		}
		children(n, walk)
	}
	for _, n := range names {
		walk(n)
	}
}

// collect walks the whole tree once: it rejects forbidden constructs and
// records the extent of every literal that may contain parentheses.
func (in *instrumenter) collect(n ast.Node) {
	switch x := n.(type) {
	case *ast.Identifier:
		if strings.HasPrefix(x.Name.String(), gasName) {
			in.fail("identifiers starting with %s are reserved", gasName)
		}
	case *ast.WithStatement:
		in.fail("with statements are not allowed")
	case *ast.ForInStatement:
		in.fail("for-in loops are not supported; use for-of over Object.keys")
	case *ast.NumberLiteral:
		if _, ok := x.Value.(*big.Int); ok {
			in.fail("BigInt is not supported")
		}
	case *ast.StringLiteral:
		in.opaque[off(x.Idx)] = off(x.Idx) + len(x.Literal)
	case *ast.TemplateLiteral:
		in.opaque[off(x.OpenQuote)] = off(x.CloseQuote) + 1
	case *ast.RegExpLiteral:
		in.opaque[off(x.Idx)] = off(x.Idx) + len(x.Literal)
		if _, err := checkRegExp(x.Pattern, x.Flags, in.maxRegExp); err != nil {
			in.fail("regular expression %s: %v", x.Literal, err)
		}
	case *ast.BadExpression, *ast.BadStatement:
		in.fail("syntax error")
	}
	if in.err != nil {
		return
	}
	children(n, in.collect)
}

// visit adds the splices of n and its descendants.
func (in *instrumenter) visit(n ast.Node) {
	if in.err != nil {
		return
	}
	switch x := n.(type) {
	case *ast.FunctionLiteral:
		if x.Body == nil {
			in.fail("function without a body")
			return
		}
		w := 1 + in.count(x.ParameterList) + in.countList(x.Body.List)
		if x.Async {
			w += asyncCallGas
		}
		if x.Generator {
			w += generatorCallGas
		}
		in.blockSite(x.Body, w)
	case *ast.ArrowFunctionLiteral:
		w := 1 + in.count(x.ParameterList)
		if x.Async {
			w += asyncCallGas
		}
		switch body := x.Body.(type) {
		case *ast.BlockStatement:
			in.blockSite(body, w+in.countList(body.List))
		case *ast.ExpressionBody:
			in.arrowExprSite(x, body, w+in.count(body.Expression))
		default:
			in.fail("unexpected arrow function body")
		}
	case *ast.ClassStaticBlock:
		in.blockSite(x.Block, 1+in.countList(x.Block.List))
	case *ast.ForStatement:
		in.loopSite(x.Body, in.headerBodyStart(x.For, 3, x.Body), 1+in.count(x.Test)+in.count(x.Update)+in.count(x.Body))
	case *ast.ForOfStatement:
		in.loopSite(x.Body, in.headerBodyStart(x.For, 3, x.Body), 1+in.count(x.Into)+in.count(x.Body))
	case *ast.WhileStatement:
		in.loopSite(x.Body, in.headerBodyStart(x.While, 5, x.Body), 1+in.count(x.Test)+in.count(x.Body))
	case *ast.DoWhileStatement:
		in.loopSite(x.Body, skipTrivia(in.src, off(x.Do)+2), 1+in.count(x.Test)+in.count(x.Body))
	}
	children(n, in.visit)
}

// blockSite inserts the charge just after a block's '{'.
func (in *instrumenter) blockSite(b *ast.BlockStatement, w int) {
	if b == nil {
		in.fail("missing block")
		return
	}
	at := off(b.LeftBrace)
	if at < 0 || at >= len(in.src) || in.src[at] != '{' {
		in.fail("cannot locate a block")
		return
	}
	in.add(at+1, at+1, off(b.RightBrace), gasCall(w))
}

// arrowExprSite turns `=> expr` into `=> (__gas(n),expr)`. The opener goes
// at the first token after "=>", before any parentheses around the
// expression, so `=> (o.f)(x)` keeps its this-binding. The closer goes after
// the last token any descendant records; parentheses that the AST does not
// record can only follow it, and `)` followed by more `)` is the same token
// stream wherever the inserted one sits among them.
func (in *instrumenter) arrowExprSite(a *ast.ArrowFunctionLiteral, body *ast.ExpressionBody, w int) {
	// goja's ParameterList positions are not reliable (a list reparsed
	// from a parenthesised expression records the first parameter), so
	// "=>" is searched after the last parameter: only ')' '(' "async" and
	// trivia can come between.
	p := off(a.Start)
	for _, b := range a.ParameterList.List {
		p = max(p, in.maxEnd(b))
	}
	if a.ParameterList.Rest != nil {
		p = max(p, in.maxEnd(a.ParameterList.Rest))
	}
	for {
		p = skipTrivia(in.src, p)
		if p >= len(in.src) || strings.HasPrefix(in.src[p:], "=>") {
			break
		}
		if c := in.src[p]; c == '(' || c == ')' {
			p++
			continue
		}
		if strings.HasPrefix(in.src[p:], "async") {
			p += len("async")
			continue
		}
		break
	}
	if !strings.HasPrefix(in.src[p:], "=>") {
		in.fail("cannot locate an arrow")
		return
	}
	start := skipTrivia(in.src, p+2)
	end := in.maxEnd(body.Expression)
	if start > off(body.Expression.Idx0()) || end <= start {
		in.fail("cannot locate an arrow body")
		return
	}
	in.add(start, start, end, "("+strings.TrimSuffix(gasCall(w), ";")+",")
	in.addCloser(end, start, ")")
}

// headerBodyStart returns where the body of a for/for-of/while statement
// starts: after the ')' that closes the header opened after the keyword.
func (in *instrumenter) headerBodyStart(kw file.Idx, kwLen int, body ast.Statement) int {
	if _, ok := body.(*ast.BlockStatement); ok {
		return -1
	}
	open := skipTrivia(in.src, off(kw)+kwLen)
	closeAt := matchParen(in.src, open, in.opaque)
	if closeAt < 0 {
		in.fail("cannot locate a loop header")
		return -1
	}
	return skipTrivia(in.src, closeAt+1)
}

// loopSite charges at the start of every iteration: inside a block body, or
// by wrapping any other statement in braces.
func (in *instrumenter) loopSite(body ast.Statement, start, w int) {
	if b, ok := body.(*ast.BlockStatement); ok {
		in.blockSite(b, w)
		return
	}
	if in.err != nil {
		return
	}
	if start < 0 || start > off(body.Idx0()) {
		in.fail("cannot locate a loop body")
		return
	}
	end := in.stmtEnd(body, start)
	if in.err != nil {
		return
	}
	in.add(start, start, end, "{"+gasCall(w))
	in.addCloser(end, start, "}")
}

// stmtEnd returns the offset just after statement s (which starts at
// start), including parentheses the AST leaves out and a trailing ';'.
func (in *instrumenter) stmtEnd(s ast.Statement, start int) int {
	p := in.maxEnd(s)
	d := parenDepth(in.src, start, p, in.opaque)
	if d < 0 {
		in.fail("unbalanced parentheses in a loop body")
		return p
	}
	for ; d > 0; d-- {
		p = skipTrivia(in.src, p)
		if p >= len(in.src) || in.src[p] != ')' {
			in.fail("cannot locate the end of a loop body")
			return p
		}
		p++
	}
	if _, empty := s.(*ast.EmptyStatement); !empty {
		if q := skipTrivia(in.src, p); q < len(in.src) && in.src[q] == ';' {
			p = q + 1
		}
	}
	return p
}

// maxEnd returns the largest end offset of n and its descendants. goja's
// Idx1 is not exact for every node (a `new X` without arguments, an
// identifier written with escapes, `x ++`), so the ends of identifiers and
// postfix operators are scanned and every recorded closing token counts.
func (in *instrumenter) maxEnd(n ast.Node) int {
	if m, ok := in.ends[n]; ok {
		return m
	}
	m := in.nodeEnd(n)
	closerEnds(in.src, n, func(e int) {
		if e > m {
			m = e
		}
	})
	children(n, func(c ast.Node) {
		if e := in.maxEnd(c); e > m {
			m = e
		}
	})
	in.ends[n] = m
	return m
}

func (in *instrumenter) nodeEnd(n ast.Node) (end int) {
	switch x := n.(type) {
	case *ast.Identifier:
		return identEnd(in.src, off(x.Idx))
	case *ast.PrivateIdentifier:
		return identEnd(in.src, off(x.Idx))
	case *ast.UnaryExpression:
		if x.Postfix {
			p := in.maxEnd(x.Operand)
			for {
				p = skipTrivia(in.src, p)
				if p < len(in.src) && in.src[p] == ')' {
					p++
					continue
				}
				break
			}
			if strings.HasPrefix(in.src[p:], "++") || strings.HasPrefix(in.src[p:], "--") {
				return p + 2
			}
			in.fail("cannot locate a postfix operator")
			return p
		}
	case *ast.CaseStatement, *ast.Program, *ast.ExpressionBody:
		return 0 // their children decide
	}
	defer func() {
		if recover() != nil {
			end = 0
		}
	}()
	return off(n.Idx1())
}

// count returns the weight of n's subtree that runs when the enclosing site
// runs: 1 per node plus the extra weights above. Nested functions count
// closureGas and are not entered; a loop counts its once-only parts (init,
// iterated source) but not its test, update and body, which belong to the
// loop's own site.
func (in *instrumenter) count(n ast.Node) int {
	if n == nil || isNilNode(n) {
		return 0
	}
	c := 1
	switch x := n.(type) {
	case *ast.FunctionLiteral, *ast.ArrowFunctionLiteral:
		return closureGas
	case *ast.ClassStaticBlock:
		return 1
	case *ast.ClassLiteral:
		c += classGas
	case *ast.ForStatement:
		if x.Initializer != nil {
			c += in.count(x.Initializer)
		}
		return c
	case *ast.ForOfStatement:
		return c + in.count(x.Source)
	case *ast.WhileStatement, *ast.DoWhileStatement:
		return c
	case *ast.AwaitExpression:
		c += awaitGas
	case *ast.YieldExpression:
		c += yieldGas
	}
	children(n, func(ch ast.Node) { c += in.count(ch) })
	if c > maxSiteGas {
		c = maxSiteGas
	}
	return c
}

func (in *instrumenter) countList(list []ast.Statement) int {
	c := 0
	for _, s := range list {
		c += in.count(s)
	}
	return c
}

// isNilNode reports a typed nil pointer inside an interface.
func isNilNode(n ast.Node) bool {
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// apply inserts the splices into src.
func apply(src string, sp []splice) string {
	sort.SliceStable(sp, func(i, j int) bool {
		a, b := sp[i], sp[j]
		if a.off != b.off {
			return a.off < b.off
		}
		if a.closer != b.closer {
			return a.closer
		}
		if a.closer {
			return a.start > b.start
		}
		return a.end > b.end
	})
	var sb strings.Builder
	size := len(src)
	for _, s := range sp {
		size += len(s.text)
	}
	sb.Grow(size)
	last := 0
	for _, s := range sp {
		sb.WriteString(src[last:s.off])
		sb.WriteString(s.text)
		last = s.off
	}
	sb.WriteString(src[last:])
	return sb.String()
}

// verify re-parses the instrumented module and checks its shape: one
// expression statement holding the module function, with exactly the
// expected number of __gas calls.
func verify(out string, sites int) (*ast.Program, error) {
	prg, err := parser.ParseFile(nil, "contract.js", out, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, &CompileError{Message: "instrumented source does not parse: " + err.Error()}
	}
	if len(prg.Body) != 1 {
		return nil, &CompileError{Message: "instrumented module has an unexpected shape"}
	}
	es, ok := prg.Body[0].(*ast.ExpressionStatement)
	if !ok {
		return nil, &CompileError{Message: "instrumented module has an unexpected shape"}
	}
	if _, ok := es.Expression.(*ast.FunctionLiteral); !ok {
		return nil, &CompileError{Message: "instrumented module has an unexpected shape"}
	}
	got := 0
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		if c, ok := n.(*ast.CallExpression); ok {
			if id, ok := c.Callee.(*ast.Identifier); ok && string(id.Name) == gasName {
				got++
			}
		}
		children(n, walk)
	}
	walk(prg)
	if got != sites {
		return nil, &CompileError{Message: fmt.Sprintf("instrumentation check failed: %d gas sites, want %d", got, sites)}
	}
	return prg, nil
}
