package contract

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// env is a compiled contract with its exports snapshot and state, for tests.
type env struct {
	t       testing.TB
	p       *Program
	exports []byte
	st      *memState
	pool    *Pool
	limits  Limits
	call    Call // template: Time, Caller, Seed
	// pooledOnly skips the fresh runtime (and the comparison) in run.
	pooledOnly bool
}

// testLimits are DefaultLimits with a generous backstop, so that a loaded
// test machine never turns a deterministic verdict into a Timeout.
func testLimits() Limits {
	l := DefaultLimits()
	l.Timeout = 30 * time.Second
	return l
}

func newEnv(t testing.TB, src string) *env {
	return newEnvLimits(t, src, testLimits())
}

func newEnvLimits(t testing.TB, src string, limits Limits) *env {
	t.Helper()
	p, err := Compile([]byte(src), limits)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	exports, _, err := p.Instantiate(limits)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	return &env{t: t, p: p, exports: exports, st: newMemState(), pool: NewPool(), limits: limits,
		call: Call{Caller: "ab12", Time: 1700000000123}}
}

// run calls method three times: on a fresh runtime, then twice on the pool
// (a fresh runtime, then a warm one when the first call succeeded), checks
// that the three Results are identical, and returns it. State and exports
// are not committed.
func (e *env) run(method, args string) Result {
	e.t.Helper()
	c := e.call
	c.Method, c.Args = method, []byte(args)
	if e.pooledOnly {
		return e.pool.Call(e.p, e.exports, e.st, c, e.limits)
	}
	fresh := e.p.Call(e.exports, e.st, c, e.limits)
	pooled1 := e.pool.Call(e.p, e.exports, e.st, c, e.limits)
	pooled2 := e.pool.Call(e.p, e.exports, e.st, c, e.limits)
	if !sameResult(fresh, pooled1) || !sameResult(fresh, pooled2) {
		e.t.Fatalf("%s(%s): fresh and pooled runtimes disagree:\nfresh   %s\npooled1 %s\npooled2 %s", method, args, fmtResult(fresh), fmtResult(pooled1), fmtResult(pooled2))
	}
	return fresh
}

// do runs and commits a successful call's writes and exports.
func (e *env) do(method, args string) Result {
	e.t.Helper()
	r := e.run(method, args)
	if r.Err == nil {
		e.st.apply(r.Writes)
		e.exports = r.Exports
	}
	return r
}

// ok runs a call that must succeed and returns its value.
func (e *env) ok(method, args string) string {
	e.t.Helper()
	r := e.do(method, args)
	if r.Err != nil {
		e.t.Fatalf("%s(%s): %v", method, args, r.Err)
	}
	return string(r.Value)
}

// fails runs a call that must fail with code and a message containing msg.
func (e *env) fails(method, args string, code Code, msg string) Result {
	e.t.Helper()
	r := e.run(method, args)
	if r.Err == nil {
		e.t.Fatalf("%s(%s) = %s, want %v", method, args, r.Value, code)
	}
	if r.Err.Code != code || !strings.Contains(r.Err.Message, msg) {
		e.t.Fatalf("%s(%s): got %v, want %v containing %q", method, args, r.Err, code, msg)
	}
	if r.Value != nil || len(r.Writes) != 0 || !bytes.Equal(r.Exports, e.exports) {
		e.t.Fatalf("%s(%s): a failed call changed something: %s", method, args, fmtResult(r))
	}
	return r
}

func sameResult(a, b Result) bool {
	if (a.Err == nil) != (b.Err == nil) || a.Err != nil && *a.Err != *b.Err {
		return false
	}
	if len(a.Writes) != len(b.Writes) {
		return false
	}
	for i := range a.Writes {
		if a.Writes[i].Op != b.Writes[i].Op || a.Writes[i].Path != b.Writes[i].Path || !bytes.Equal(a.Writes[i].Data, b.Writes[i].Data) {
			return false
		}
	}
	return bytes.Equal(a.Value, b.Value) && bytes.Equal(a.Exports, b.Exports) && a.Gas == b.Gas
}

func fmtResult(r Result) string {
	var ws []string
	for _, w := range r.Writes {
		ws = append(ws, fmt.Sprintf("%v %s %q", w.Op, w.Path, w.Data))
	}
	return fmt.Sprintf("value=%s exports=%s writes=[%s] gas=%d err=%v", r.Value, r.Exports, strings.Join(ws, "; "), r.Gas, r.Err)
}
