package contract

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

func init() {
	// goja's local-time Date methods (getHours, toString, new Date(y, m, d),
	// Date.parse without a zone, ...) use time.Local. Contracts must see the
	// same zone everywhere, so the whole process runs in UTC.
	time.Local = time.UTC
}

// instance is one goja runtime prepared for a program: hardened built-ins,
// the metering function and the compiled module function. It is used by one
// goroutine at a time and thrown away after a call that was interrupted or
// left exports in a state restore cannot undo (see run).
type instance struct {
	prog   *Program
	vm     *goja.Runtime
	module goja.Callable
	noop   goja.Callable

	// Intrinsics captured before contract code can run.
	objectProto *goja.Object
	arrayProto  *goja.Object
	gopd        goja.Callable // Object.getOwnPropertyDescriptor
	ownKeys     goja.Callable // Reflect.ownKeys
	freeze      goja.Callable
	errorCtor   *goja.Object
	rangeError  *goja.Object
	typeError   *goja.Object
	syntaxError *goja.Object
	boolValueOf goja.Callable
	stateObj    *goja.Object
	errorProtos map[*goja.Object]bool
	regexpProto *goja.Object
	// reGetters are RegExp.prototype's original getters.
	reGetters struct{ source, global, sticky, ignoreCase, multiline, dotAll, unicode goja.Callable }
	// regexpCtor and reExec are the original RegExp constructor and
	// RegExp.prototype.exec.
	regexpCtor *goja.Object
	reExec     goja.Callable
	// patterns caches what regexpexec.go derives from a pattern, by flags
	// and source.
	patterns map[string]*pattern

	// Per call.
	limits      Limits
	metering    bool
	used        uint64
	failure     atomic.Pointer[CallError]
	nativeDepth int
	rng         splitmix64
	now         time.Time
	st          *overlay // nil outside a method (module top level, Instantiate)
	// guarded, while Go reads values out of the VM (encoding, restoring),
	// makes any JS or built-in call (a getter) abort the call with it.
	guarded  *CallError
	call     Call
	callObj  *goja.Object
	ownNames []string // exports' own keys after restore

	// Static modules (see staticModule): evaluated once per runtime.
	freezeDeep goja.Callable
	evaluating bool         // the static module's top level is running
	exportsObj *goja.Object // its exports object, reused by every call
	methods    []method     // its functions on exports, in order
	tainted    bool         // a call made exportsObj non-extensible or a property non-configurable
}

type method struct {
	name string
	fn   goja.Value
}

// errAbort is panicked when an abort could not be turned into goja's
// uncatchable interrupt; it never reaches contract code.
var errAbort = errors.New("contract: call aborted")

// maxNativeDepth bounds nesting through wrapped built-ins (join inside
// toString inside join ...), which goja does not count as JS frames.
const maxNativeDepth = 256

// newInstance builds a hardened runtime and evaluates p's module function.
func newInstance(p *Program) (in *instance, err error) {
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("contract: runtime setup: %v", r)
		}
	}()
	in = &instance{prog: p, vm: goja.New(), limits: DefaultLimits()}
	vm := in.vm
	vm.SetRandSource(in.rng.Float64)
	vm.SetTimeSource(func() time.Time { return in.now })
	if err := in.setup(); err != nil {
		return nil, err
	}
	v, err := vm.RunProgram(p.prg)
	if err != nil {
		return nil, fmt.Errorf("contract: module evaluation: %w", err)
	}
	fn, ok := goja.AssertFunction(v)
	if !ok {
		return nil, errors.New("contract: module is not a function")
	}
	in.module = fn
	if p.static {
		if err := in.evalStatic(); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// evalStatic runs a static module's top level once: it runs no contract
// code, so it is not metered. Its functions on exports are frozen.
func (in *instance) evalStatic() error {
	in.exportsObj = in.vm.NewObject()
	in.evaluating = true
	_, err := in.module(in.exportsObj, in.exportsObj, in.stateObj, in.callObj)
	in.evaluating = false
	if err != nil {
		return in.classify(err)
	}
	var fns []any
	for _, k := range in.exportsObj.GetOwnPropertyNames() {
		v := in.exportsObj.Get(k)
		if _, ok := goja.AssertFunction(v); ok {
			in.methods = append(in.methods, method{k, v})
			fns = append(fns, v)
		}
	}
	_, err = in.freezeDeep(goja.Undefined(), in.vm.NewArray(fns...), in.exportsObj)
	return err
}

// setup captures intrinsics, installs the gas meter, the state API and the
// wrapped built-ins, removes dynamic code and unbounded built-ins, and
// freezes every built-in object and the global object.
func (in *instance) setup() error {
	vm := in.vm
	capV, err := vm.RunProgram(captureProgram)
	if err != nil {
		return err
	}
	c := capV.(*goja.Object)
	obj := func(name string) *goja.Object { return c.Get(name).(*goja.Object) }
	fn := func(name string) goja.Callable {
		f, ok := goja.AssertFunction(c.Get(name))
		if !ok {
			panic("capture: " + name + " is not a function")
		}
		return f
	}
	in.objectProto = obj("objectProto")
	in.arrayProto = obj("arrayProto")
	in.gopd = fn("gopd")
	in.ownKeys = fn("ownKeys")
	in.freeze = fn("freeze")
	in.errorCtor = obj("Error")
	in.rangeError = obj("RangeError")
	in.typeError = obj("TypeError")
	in.syntaxError = obj("SyntaxError")
	in.boolValueOf = fn("boolValueOf")
	in.noop = fn("noop")
	in.regexpProto = obj("regexpProto")
	in.reGetters.source = fn("reSource")
	in.reGetters.global = fn("reGlobal")
	in.reGetters.sticky = fn("reSticky")
	in.reGetters.ignoreCase = fn("reIgnoreCase")
	in.reGetters.multiline = fn("reMultiline")
	in.reGetters.dotAll = fn("reDotAll")
	in.reGetters.unicode = fn("reUnicode")
	in.regexpCtor = obj("RegExp")
	in.reExec = fn("reExec")
	in.patterns = map[string]*pattern{}
	in.errorProtos = map[*goja.Object]bool{}
	protos := obj("errorProtos")
	for i := range toLength(protos.Get("length")) {
		in.errorProtos[protos.Get(fmt.Sprint(i)).(*goja.Object)] = true
	}

	g := vm.GlobalObject()
	if err := g.DefineDataProperty(gasName, vm.ToValue(in.gas), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	// A static module calls __gas_freeze once at its end; any other call
	// (by computed name, later) does nothing.
	freezeFn := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		if in.evaluating {
			if _, err := in.freezeDeep(goja.Undefined(), call.Argument(0), in.exportsObj); err != nil {
				panic(err)
			}
		}
		return goja.Undefined()
	})
	if err := g.DefineDataProperty(freezeName, freezeFn, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	for _, name := range removedGlobals {
		if err := g.Delete(name); err != nil {
			return err
		}
	}
	in.installJSON()
	in.stateObj = in.newStateObject()
	in.callObj = in.newCallObject()
	if err := in.wrapBuiltins(c); err != nil {
		return err
	}
	hardenV, err := vm.RunProgram(hardenProgram)
	if err != nil {
		return err
	}
	harden, _ := goja.AssertFunction(hardenV)
	checkRe := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		in.checkRegExpArgs(call.Argument(0), call.Argument(1))
		return goja.Undefined()
	})
	chargePromise := vm.ToValue(func(goja.FunctionCall) goja.Value {
		in.chargeJS(builtinGas + promiseGas)
		return goja.Undefined()
	})
	fd, err := harden(goja.Undefined(), c, checkRe, chargePromise, in.stateObj, in.callObj)
	if err != nil {
		return err
	}
	in.freezeDeep, _ = goja.AssertFunction(fd)
	return nil
}

// removedGlobals are deleted from every runtime: dynamic code (eval), and
// built-ins whose work or memory gas cannot see, or that contracts do not
// need (BigInt arithmetic, binary buffers, proxies).
var removedGlobals = []string{
	"eval", "BigInt", "Proxy",
	"ArrayBuffer", "SharedArrayBuffer", "DataView",
	"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
	"Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
	"WeakRef", "FinalizationRegistry", "GoError",
}

var captureProgram = goja.MustCompile("capture.js", `(function () {
	'use strict';
	return {
		objectProto: Object.prototype,
		arrayProto: Array.prototype,
		gopd: Object.getOwnPropertyDescriptor,
		gopds: Object.getOwnPropertyDescriptors,
		ownKeys: Reflect.ownKeys,
		getProto: Object.getPrototypeOf,
		defineProperty: Object.defineProperty,
		apply: Reflect.apply,
		construct: Reflect.construct,
		freeze: Object.freeze,
		Error: Error, RangeError: RangeError, TypeError: TypeError, SyntaxError: SyntaxError,
		boolValueOf: Boolean.prototype.valueOf,
		noop: function () {},
		regexpStringIteratorProto: Object.getPrototypeOf(/a/g[Symbol.matchAll]('')),
		regexpProto: RegExp.prototype,
		RegExp: RegExp,
		reExec: RegExp.prototype.exec,
		reSource: Object.getOwnPropertyDescriptor(RegExp.prototype, 'source').get,
		reGlobal: Object.getOwnPropertyDescriptor(RegExp.prototype, 'global').get,
		reSticky: Object.getOwnPropertyDescriptor(RegExp.prototype, 'sticky').get,
		reIgnoreCase: Object.getOwnPropertyDescriptor(RegExp.prototype, 'ignoreCase').get,
		reMultiline: Object.getOwnPropertyDescriptor(RegExp.prototype, 'multiline').get,
		reDotAll: Object.getOwnPropertyDescriptor(RegExp.prototype, 'dotAll').get,
		reUnicode: Object.getOwnPropertyDescriptor(RegExp.prototype, 'unicode').get,
		errorProtos: [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map(E => E.prototype),
	};
})()`, true)

// hardenProgram runs once per runtime after the Go wrappers are installed.
// It takes the Go pattern check, the promise charge and the state and call
// objects.
var hardenProgram = goja.MustCompile("harden.js", `(function (c, checkRegExp, chargePromise, stateObj, callObj) {
	'use strict';
	// The originals, captured before the Go wrappers were installed.
	const defineProperty = c.defineProperty, getProto = c.getProto, gopd = c.gopd, ownKeys = c.ownKeys,
		freeze = c.freeze, construct = c.construct, apply = c.apply;

	// Dynamic code is never instrumented: every way to reach a Function
	// constructor throws.
	const noDynamic = function Function() { throw new TypeError('dynamic code is not allowed'); };
	noDynamic.prototype = Function.prototype;
	for (const proto of [Function.prototype, getProto(async function () {}), getProto(function* () {})]) {
		defineProperty(proto, 'constructor', { value: noDynamic, writable: false, enumerable: false, configurable: false });
	}
	defineProperty(globalThis, 'Function', { value: noDynamic, writable: false, enumerable: false, configurable: false });

	// RegExp checks patterns built at run time like Compile checks literals.
	const OrigRegExp = RegExp;
	delete OrigRegExp.prototype.compile;
	const SafeRegExp = function RegExp(pattern, flags) {
		let p = pattern, f = flags;
		if (p !== null && typeof p === 'object' && Object.prototype.toString.call(p) === '[object RegExp]') {
			if (f === undefined) f = p.flags;
			p = p.source;
		}
		p = p === undefined ? '' : String(p);
		f = f === undefined ? '' : String(f);
		checkRegExp(p, f);
		return construct(OrigRegExp, [p, f], new.target || SafeRegExp);
	};
	defineProperty(SafeRegExp, 'prototype', { value: OrigRegExp.prototype, writable: false, enumerable: false, configurable: false });
	defineProperty(OrigRegExp.prototype, 'constructor', { value: SafeRegExp, writable: true, enumerable: false, configurable: true });
	defineProperty(SafeRegExp, Symbol.species, { get() { return this; }, enumerable: false, configurable: true });
	defineProperty(globalThis, 'RegExp', { value: SafeRegExp, writable: true, enumerable: false, configurable: true });

	// then, catch and finally charge for the promise they create. They are
	// JS functions so that goja, calling then from Go for a thenable, calls
	// the original from a JS frame.
	for (const name of ['then', 'catch', 'finally']) {
		const orig = Promise.prototype[name];
		const w = { [name](a, b) { chargePromise(); return apply(orig, this, arguments); } }[name];
		defineProperty(w, 'length', { value: orig.length, writable: false, enumerable: false, configurable: true });
		defineProperty(Promise.prototype, name, { value: w, writable: true, enumerable: false, configurable: true });
	}

	// Freezing prototypes makes plain assignment of an inherited name throw
	// (obj.toString = f, this.name = 'MyError'). For the names code commonly
	// assigns, an accessor keeps the built-in value and lets assignment
	// create an own property instead.
	const tame = (obj, key) => {
		const d = gopd(obj, key);
		if (!d || !('value' in d)) return;
		const value = d.value;
		defineProperty(obj, key, {
			get() { return value; },
			set(v) {
				if (this === obj) throw new TypeError('Cannot assign to read only property ' + String(key));
				defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
			},
			enumerable: d.enumerable, configurable: false,
		});
	};
	for (const k of ['constructor', 'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable']) {
		tame(Object.prototype, k);
	}
	for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
		for (const k of ['name', 'message', 'constructor', 'toString']) tame(E.prototype, k);
	}

	// Freeze everything reachable from the global object and the
	// intrinsics only reachable from instances.
	const roots = [globalThis, stateObj, callObj,
		getProto([][Symbol.iterator]()), getProto(''[Symbol.iterator]()),
		getProto(new Map().entries()), getProto(new Set().values()),
		getProto(/a/g[Symbol.matchAll]('')),
		getProto(function* () {}), getProto(async function () {}), getProto(async () => {})];
	// Array methods are wrapped by now: index the array directly.
	const seen = new WeakSet();
	const freezeAll = (roots, skip) => {
		let n = roots.length;
		while (n > 0) {
			const o = roots[--n];
			if (o === null || o === undefined || (typeof o !== 'object' && typeof o !== 'function') || o === skip || seen.has(o)) continue;
			seen.add(o);
			freeze(o);
			roots[n++] = getProto(o);
			if (typeof o === 'function') {
				// Built-in functions only own name, length and maybe prototype.
				const d = gopd(o, 'prototype');
				if (d !== undefined) roots[n++] = d.value;
				const keys = ownKeys(o);
				let plain = true;
				for (let i = 0; i < keys.length; i++) {
					const k = keys[i];
					if (k !== 'name' && k !== 'length' && k !== 'prototype') { plain = false; break; }
				}
				if (plain) continue;
			}
			const ds = c.gopds(o);
			const keys = ownKeys(ds);
			for (let i = 0; i < keys.length; i++) {
				const d = ds[keys[i]];
				if ('value' in d) {
					const v = d.value;
					if (v !== null && (typeof v === 'object' || typeof v === 'function')) roots[n++] = v;
				} else {
					roots[n++] = d.get;
					roots[n++] = d.set;
				}
			}
		}
	};
	freezeAll(roots, undefined);
	// Static modules freeze their values with it (skipping exports).
	return (values, skip) => {
		const roots = [];
		for (let i = 0; i < values.length; i++) roots[i] = values[i];
		freezeAll(roots, skip);
	};
})`, true)

// gas is the __gas function the instrumentation calls. It charges its
// argument when it is an integer in [1, 2^20] and 1 otherwise, so calling it
// by hand can only burn gas, never refund it.
func (in *instance) gas(call goja.FunctionCall) goja.Value {
	if in.guarded != nil {
		in.abort(in.guarded)
	}
	n := call.Argument(0).ToInteger()
	if n < 1 || n > maxSiteGas {
		n = 1
	}
	in.chargeJS(uint64(n))
	return goja.Undefined()
}

// chargeJS charges n gas from inside a JS call; over the limit it aborts the
// call with OutOfGas at once.
func (in *instance) chargeJS(n uint64) {
	if !in.metering {
		return
	}
	in.used += n
	if in.used > in.limits.Gas {
		in.abort(&CallError{Code: OutOfGas, Message: fmt.Sprintf("gas limit %d exceeded", in.limits.Gas)})
	}
}

// chargeGo charges n gas outside JS execution and reports whether the
// budget still holds; over it, it records OutOfGas.
func (in *instance) chargeGo(n uint64) bool {
	if !in.metering {
		return true
	}
	in.used += n
	if in.used > in.limits.Gas {
		in.failure.CompareAndSwap(nil, &CallError{Code: OutOfGas, Message: fmt.Sprintf("gas limit %d exceeded", in.limits.Gas)})
		return false
	}
	return true
}

// abort ends the running call with e, uncatchably. It records e as the
// call's failure (the first failure wins), interrupts the VM and runs one
// instruction so goja raises its InterruptedError here, then panics with it:
// the error unwinds through native code and no JS catch or finally runs.
func (in *instance) abort(e *CallError) {
	in.failure.CompareAndSwap(nil, e)
	in.vm.Interrupt(e)
	_, err := in.noop(goja.Undefined())
	if err == nil {
		err = errAbort
	}
	panic(err)
}

// interruptFrom is called by the watchdog goroutine: it records e and
// interrupts the VM, which stops at its next instruction.
func (in *instance) interruptFrom(e *CallError) {
	if in.failure.CompareAndSwap(nil, e) {
		in.vm.Interrupt(e)
	}
}

// throw raises a catchable JS error built with ctor (Error, TypeError, ...).
func (in *instance) throw(ctor *goja.Object, msg string) {
	obj, err := in.vm.New(ctor, in.vm.ToValue(msg))
	if err != nil {
		panic(err)
	}
	panic(obj)
}

func (in *instance) throwRange(format string, args ...any) {
	in.throw(in.rangeError, fmt.Sprintf(format, args...))
}

func (in *instance) throwType(format string, args ...any) {
	in.throw(in.typeError, fmt.Sprintf(format, args...))
}

// enterNative counts nesting through wrapped built-ins.
func (in *instance) enterNative() {
	if in.guarded != nil {
		in.abort(in.guarded)
	}
	in.nativeDepth++
	if in.nativeDepth > maxNativeDepth {
		in.abort(&CallError{Code: StackOverflow, Message: fmt.Sprintf("built-in calls nested deeper than %d", maxNativeDepth)})
	}
}

func (in *instance) leaveNative() { in.nativeDepth-- }

// guard makes JS calls fail with code while Go reads data named what; call
// the returned function to lift it. Reading a getter runs JS: the getter's
// first __gas call (or wrapped built-in) aborts.
func (in *instance) guard(code Code, what string) func() {
	switch {
	case code == BadState && what == "exports":
		in.guarded = errExportsGetter
	case code == BadReturn && what == "result":
		in.guarded = errResultGetter
	default:
		in.guarded = &CallError{Code: code, Message: what + ": getters and setters are not allowed"}
	}
	return in.unguard
}

func (in *instance) unguard() { in.guarded = nil }

var (
	errExportsGetter = &CallError{Code: BadState, Message: "exports: getters and setters are not allowed"}
	errResultGetter  = &CallError{Code: BadReturn, Message: "result: getters and setters are not allowed"}
)
