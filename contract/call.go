package contract

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// Call is one invocation of an exported method.
type Call struct {
	// Method names an own function property of exports.
	Method string
	// Args is a JSON array of the arguments. Any valid JSON is accepted (the
	// host canonicalizes it); nesting deeper than 64 or more than
	// Limits.MaxArgsBytes is BadArgs.
	Args []byte
	// Caller is the caller's identity (a public key in hex), visible to the
	// contract as call.caller.
	Caller string
	// Time is the call's timestamp in Unix milliseconds, as recorded in its
	// log entry: Date.now() and new Date() return it, and call.time holds it.
	Time int64
	// Seed seeds Math.random (see the package documentation).
	Seed [32]byte
}

// Result is the outcome of a call. A call either succeeds completely or
// changes nothing: on failure Exports is the input snapshot, Writes is
// empty and Value is nil.
type Result struct {
	// Value is the canonical JSON of the return value (after settling a
	// returned promise); undefined becomes null.
	Value []byte
	// Exports is the canonical JSON snapshot of exports after the call: its
	// own non-function properties, as an object.
	Exports []byte
	// Writes are the call's state changes, in order.
	Writes []Write
	// Gas is the gas used; Limits.Gas when the call ran out of gas.
	Gas uint64
	// Err is nil on success.
	Err *CallError
}

// Instantiate runs the module's top level once in a fresh runtime, with an
// empty call (no method or caller, time 0, zero seed) and no state access,
// and returns the initial exports snapshot and the names of the exported
// methods (own function-valued properties of exports), sorted. A module that
// throws, runs out of gas, or leaves exports holding data that is not
// canonical JSON fails with a *CallError.
func (p *Program) Instantiate(limits Limits) (exports []byte, methods []string, err error) {
	in, ierr := newInstance(p)
	if ierr != nil {
		return nil, nil, setupError(ierr)
	}
	defer func() {
		if r := recover(); r != nil {
			exports, methods = nil, nil
			err = in.recovered(r)
		}
	}()
	in.begin(limits, Call{})
	exportsObj := in.exportsObj
	if !p.static {
		wd.add(in)
		exportsObj = in.vm.NewObject()
		_, rerr := in.module(exportsObj, exportsObj, in.stateObj, in.callObj)
		wd.remove(in)
		if rerr != nil {
			return nil, nil, in.classify(rerr)
		}
	}
	snap, cerr := in.snapshot(exportsObj)
	if cerr != nil {
		return nil, nil, cerr
	}
	if f := in.failure.Load(); f != nil {
		return nil, nil, f
	}
	return snap, in.methodNames(exportsObj), nil
}

// Call runs one call in a fresh runtime, which is then discarded. It gives
// exactly the Result Pool.Call gives, only slower.
func (p *Program) Call(exports []byte, st StateReader, c Call, limits Limits) Result {
	in, err := newInstance(p)
	if err != nil {
		return Result{Exports: exports, Err: setupError(err)}
	}
	res, _ := in.run(exports, st, c, limits)
	return res
}

// setupError is the CallError for a runtime that could not be built: the
// static module's failure, or Internal.
func setupError(err error) *CallError {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce
	}
	return &CallError{Code: Internal, Message: err.Error()}
}

// Pool keeps prepared runtimes for reuse, keyed by program hash. Each call
// takes an idle runtime for its program (or builds one) and restores
// exports from the snapshot it is given; afterwards the runtime goes back to
// the pool unless the call was interrupted (OutOfGas, StackOverflow,
// LimitExceeded, Timeout, MemoryLimit, Internal, a getter while encoding) or
// ended with BadState. A Pool is safe for concurrent use; each concurrent
// call uses its own runtime, so results never depend on which runtime ran
// a call.
type Pool struct {
	mu      sync.Mutex
	idle    map[[32]byte][]*instance
	total   int
	perProg int
	maxIdle int
}

// NewPool returns an empty pool keeping at most 2×GOMAXPROCS idle runtimes
// per program and 256 in all (a runtime holds about half a megabyte).
func NewPool() *Pool {
	return &Pool{idle: map[[32]byte][]*instance{}, perProg: 2 * runtime.GOMAXPROCS(0), maxIdle: 256}
}

// Call runs c on a pooled runtime for p. See Result for what it returns.
func (pool *Pool) Call(p *Program, exports []byte, st StateReader, c Call, limits Limits) Result {
	in := pool.get(p)
	if in == nil {
		var err error
		if in, err = newInstance(p); err != nil {
			return Result{Exports: exports, Err: setupError(err)}
		}
	}
	res, reusable := in.run(exports, st, c, limits)
	if reusable {
		pool.put(in)
	}
	return res
}

func (pool *Pool) get(p *Program) *instance {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	list := pool.idle[p.hash]
	if len(list) == 0 {
		return nil
	}
	in := list[len(list)-1]
	pool.idle[p.hash] = list[:len(list)-1]
	pool.total--
	return in
}

func (pool *Pool) put(in *instance) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	h := in.prog.hash
	if len(pool.idle[h]) >= pool.perProg || pool.total >= pool.maxIdle {
		return
	}
	pool.idle[h] = append(pool.idle[h], in)
	pool.total++
}

// begin resets the per-call state.
func (in *instance) begin(limits Limits, c Call) {
	in.limits = limits.WithDefaults()
	in.used = 0
	in.failure.Store(nil)
	in.nativeDepth = 0
	in.tainted = false
	in.call = c
	in.rng.seed(c.Seed)
	in.now = time.UnixMilli(c.Time)
	in.st = nil
	in.vm.ClearInterrupt()
	in.vm.SetMaxCallStackSize(in.limits.MaxStackDepth)
	in.metering = true
}

// run performs one call and reports whether the runtime may be reused.
func (in *instance) run(exports []byte, st StateReader, c Call, limits Limits) (res Result, reusable bool) {
	in.begin(limits, c)
	fail := func(e *CallError) Result {
		gas := min(in.used, in.limits.Gas)
		if e.Code == OutOfGas {
			gas = in.limits.Gas
		}
		return Result{Exports: exports, Gas: gas, Err: e}
	}
	defer func() {
		if r := recover(); r != nil {
			res, reusable = fail(in.recovered(r)), false
		}
	}()
	// soft fails the call and keeps the runtime when nothing interrupted
	// it: an exception, an unsettled promise, bad arguments or a bad return
	// value leave nothing behind that the next call's restore does not
	// replace. Interrupts (gas, stack, limits, backstops, getters while
	// encoding) and BadState drop it.
	soft := func(e *CallError) (Result, bool) {
		keep := in.failure.Load() == nil && !in.tainted
		switch e.Code {
		case Threw, NotSettled, BadReturn, BadArgs, NoSuchMethod:
		default:
			keep = false
		}
		return fail(e), keep
	}
	vm := in.vm

	// Arguments.
	if len(c.Args) > in.limits.MaxArgsBytes {
		return soft(errorf(BadArgs, "arguments are %d bytes, over the limit of %d", len(c.Args), in.limits.MaxArgsBytes))
	}
	if !in.chargeGo(builtinGas + uint64(len(c.Args))/elemsPerGas) {
		return soft(in.failure.Load())
	}
	if !utf8.Valid(c.Args) {
		return soft(errorf(BadArgs, "arguments are not valid UTF-8"))
	}
	args, err := decodeArgs(vm, string(c.Args))
	if err != nil {
		return soft(errorf(BadArgs, "%v", err))
	}

	wd.add(in)
	defer wd.remove(in)

	// The module's top level (static modules ran it already), then the
	// snapshot on top.
	exportsObj := in.exportsObj
	if !in.prog.static {
		exportsObj = vm.NewObject()
		if _, err := in.module(exportsObj, exportsObj, in.stateObj, in.callObj); err != nil {
			return soft(in.classify(err))
		}
	}
	if e := in.restore(exportsObj, exports); e != nil {
		return soft(e)
	}

	// The method.
	fn := in.method(exportsObj, c.Method)
	if fn == nil {
		return soft(errorf(NoSuchMethod, "exports has no method %q", truncate(c.Method, 64)))
	}
	in.st = newOverlay(st)
	ret, err := fn(exportsObj, args...)
	writes := in.st.writes
	in.st = nil
	if err != nil {
		return soft(in.classify(err))
	}
	if f := in.failure.Load(); f != nil {
		return soft(f)
	}
	if o, ok := ret.(*goja.Object); ok && o.ExportType() == typePromise {
		p := o.Export().(*goja.Promise)
		switch p.State() {
		case goja.PromiseStateFulfilled:
			ret = p.Result()
		case goja.PromiseStateRejected:
			return soft(&CallError{Code: Threw, Message: in.thrownMessage(p.Result())})
		default:
			return soft(errorf(NotSettled, "the returned promise did not settle"))
		}
	}
	if goja.IsUndefined(ret) {
		ret = goja.Null()
	}
	value, eerr := in.encodeCanonical(ret, "result", in.limits.MaxResultBytes)
	if eerr != nil {
		code := BadReturn
		if eerr.limit {
			code = LimitExceeded
		}
		return soft(&CallError{Code: code, Message: eerr.msg})
	}
	in.chargeGo(uint64(len(value)) / elemsPerGas)
	snap, cerr := in.snapshot(exportsObj)
	if cerr != nil {
		return soft(cerr)
	}
	if f := in.failure.Load(); f != nil {
		return soft(f)
	}
	return Result{Value: value, Exports: snap, Writes: writes, Gas: in.used}, !in.tainted
}

var typePromise = reflect.TypeFor[*goja.Promise]()

// newCallObject builds the frozen call object the module receives. Its
// properties are getters that read the current call, so one object serves
// every call of a runtime.
func (in *instance) newCallObject() *goja.Object {
	vm := in.vm
	o := vm.NewObject()
	def := func(name string, get func() goja.Value) {
		g := vm.ToValue(func(goja.FunctionCall) goja.Value {
			if in.guarded != nil {
				in.abort(in.guarded)
			}
			return get()
		})
		_ = o.DefineAccessorProperty(name, g, nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	def("method", func() goja.Value { return vm.ToValue(in.call.Method) })
	def("caller", func() goja.Value { return vm.ToValue(in.call.Caller) })
	def("time", func() goja.Value { return vm.ToValue(in.call.Time) })
	return o
}

// restore replaces the data the module's top level put on exports with the
// snapshot's, in the snapshot's (sorted) key order; functions stay.
func (in *instance) restore(exportsObj *goja.Object, snapshot []byte) *CallError {
	in.ownNames = in.ownNames[:0]
	if len(snapshot) > in.limits.MaxExportsBytes {
		return errorf(BadState, "exports snapshot is %d bytes, over the limit of %d", len(snapshot), in.limits.MaxExportsBytes)
	}
	if !in.chargeGo(uint64(len(snapshot)) / elemsPerGas) {
		return in.failure.Load()
	}
	if !utf8.Valid(snapshot) {
		return errorf(BadState, "exports snapshot is not valid UTF-8")
	}
	if in.prog.static {
		// The methods in module order, then the snapshot. Usually the
		// methods are still in place and only the data goes.
		names := exportsObj.GetOwnPropertyNames()
		keep := len(in.methods) <= len(names)
		for i := 0; keep && i < len(in.methods); i++ {
			m := in.methods[i]
			keep = names[i] == m.name && exportsObj.Get(m.name) == m.fn
		}
		if keep {
			names = names[len(in.methods):]
		}
		for _, k := range names {
			if err := exportsObj.Delete(k); err != nil {
				return errorf(BadState, "exports%s cannot be restored: it is not configurable", pathKey(k))
			}
		}
		for _, m := range in.methods {
			if !keep {
				if err := exportsObj.DefineDataProperty(m.name, m.fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
					return errorf(BadState, "exports%s cannot be restored", pathKey(m.name))
				}
			}
			in.ownNames = append(in.ownNames, m.name)
		}
	} else {
		// Drop the data the module's top level defined, keep its functions.
		lift := in.guard(BadState, "exports")
		for _, k := range exportsObj.GetOwnPropertyNames() {
			if _, isFn := goja.AssertFunction(exportsObj.Get(k)); isFn {
				in.ownNames = append(in.ownNames, k)
				continue
			}
			if err := exportsObj.Delete(k); err != nil {
				lift()
				return errorf(BadState, "exports%s cannot be restored: it is not configurable", pathKey(k))
			}
		}
		lift()
	}
	for _, sym := range exportsObj.Symbols() {
		if err := exportsObj.DeleteSymbol(sym); err != nil {
			return errorf(BadState, "exports has a symbol-keyed property that cannot be removed")
		}
	}
	n := len(in.ownNames)
	if _, err := decodeIntoKeys(in.vm, string(snapshot), exportsObj, func(k string) {
		// A snapshot key may replace a method of the same name.
		if !slices.Contains(in.ownNames[:n], k) {
			in.ownNames = append(in.ownNames, k)
		}
	}); err != nil {
		return errorf(BadState, "exports snapshot: %v", err)
	}
	return nil
}

// getter there fails the call with BadState.
func (in *instance) method(exportsObj *goja.Object, name string) goja.Callable {
	found := false
	for _, k := range in.ownNames {
		if k == name {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	defer in.guard(BadState, "exports")()
	fn, _ := goja.AssertFunction(exportsObj.Get(name))
	return fn
}

// methodNames lists exports' own function-valued data properties, sorted.
func (in *instance) methodNames(exportsObj *goja.Object) []string {
	var names []string
	in.ownNames = exportsObj.GetOwnPropertyNames()
	for _, k := range in.ownNames {
		if in.method(exportsObj, k) != nil {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// snapshot encodes exports' own data properties, skipping functions.
func (in *instance) snapshot(exportsObj *goja.Object) ([]byte, *CallError) {
	buf, eerr := in.encodeExports(exportsObj, in.limits.MaxExportsBytes)
	if eerr != nil {
		code := BadState
		if eerr.limit {
			code = LimitExceeded
		}
		return nil, &CallError{Code: code, Message: eerr.msg}
	}
	if !in.chargeGo(uint64(len(buf)) / elemsPerGas) {
		return nil, in.failure.Load()
	}
	return buf, nil
}

// classify turns an error from goja into a CallError. A failure recorded by
// an abort or the watchdog takes precedence.
func (in *instance) classify(err error) *CallError {
	if f := in.failure.Load(); f != nil {
		return f
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return errorf(StackOverflow, "call stack deeper than %d frames", in.limits.MaxStackDepth)
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return &CallError{Code: Threw, Message: in.thrownMessage(ex.Value())}
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		return &CallError{Code: Internal, Message: "interrupted without a recorded reason"}
	}
	return &CallError{Code: Internal, Message: err.Error()}
}

// recovered turns a Go panic that reached run or Instantiate into the
// call's failure.
func (in *instance) recovered(r any) *CallError {
	if f := in.failure.Load(); f != nil {
		return f
	}
	if err, ok := r.(error); ok {
		var so *goja.StackOverflowError
		if errors.As(err, &so) {
			return errorf(StackOverflow, "call stack deeper than %d frames", in.limits.MaxStackDepth)
		}
	}
	return &CallError{Code: Internal, Message: fmt.Sprintf("panic: %v", r)}
}

// describeKind names an object's kind for messages, without running
// contract code: "Map objects", "instances of A", "null-prototype objects".
func (in *instance) describeKind(o *goja.Object) string {
	proto := o.Prototype()
	if proto == nil {
		return "null-prototype objects"
	}
	if c, ok := in.dataProp(proto, "constructor").(*goja.Object); ok {
		if name, ok := in.dataProp(c, "name").(goja.String); ok && name.Length() > 0 {
			if c.Get("prototype") == proto && in.builtinCtor(c) {
				return truncate(name.String(), 64) + " objects"
			}
			return "instances of " + truncate(name.String(), 64)
		}
	}
	if o.ClassName() != "Object" {
		return o.ClassName() + " objects"
	}
	return "class instances"
}

// builtinCtor reports whether c is a global built-in constructor.
func (in *instance) builtinCtor(c *goja.Object) bool {
	name, _ := in.dataProp(c, "name").(goja.String)
	if name == nil {
		return false
	}
	g, ok := in.vm.GlobalObject().Get(name.String()).(*goja.Object)
	return ok && g == c
}

const maxMessageBytes = 256

// thrownMessage describes a thrown value without running contract code.
func (in *instance) thrownMessage(v goja.Value) string {
	var msg string
	switch x := v.(type) {
	case nil:
		msg = "undefined"
	case *goja.Object:
		if x.ClassName() != "Error" {
			msg = "uncaught " + x.ClassName()
			break
		}
		name, _ := in.dataProp(x, "name").(goja.String)
		text, _ := in.dataProp(x, "message").(goja.String)
		switch {
		case name != nil && text != nil && text.Length() > 0:
			msg = name.String() + ": " + text.String()
		case name != nil:
			msg = name.String()
		case text != nil:
			msg = "Error: " + text.String()
		default:
			msg = "Error"
		}
	default:
		msg = v.String()
	}
	return truncate(msg, maxMessageBytes)
}

// dataProp finds key along o's prototype chain and returns its value if it
// is a data property. Accessors are only followed on the built-in error
// prototypes, whose (tamed) getters are this package's own code.
func (in *instance) dataProp(o *goja.Object, key string) goja.Value {
	k := in.vm.ToValue(key)
	for p := o; p != nil; p = p.Prototype() {
		dv, err := in.gopd(goja.Undefined(), p, k)
		if err != nil {
			return nil
		}
		d, ok := dv.(*goja.Object)
		if !ok {
			continue
		}
		if v := d.Get("value"); v != nil {
			return v
		}
		if in.errorProtos[p] {
			return p.Get(key)
		}
		return nil
	}
	return nil
}
