// Package contract runs JavaScript contracts deterministically on goja, the
// pure-Go ECMAScript engine: the same contract, exports snapshot, state
// archive, call and limits give the same Result on every machine, whether
// the call runs on a fresh runtime or a pooled one.
//
//	p, err := contract.Compile(code, limits)              // once per deploy or load
//	exports, methods, err := p.Instantiate(limits)       // the initial snapshot
//	pool := contract.NewPool()
//	r := pool.Call(p, exports, state, contract.Call{Method: "addPost", Args: []byte(`[1,"hi"]`),
//		Caller: pubkeyHex, Time: unixMillis, Seed: seed}, limits)
//	if r.Err == nil { apply(r.Writes); exports = r.Exports }
//
// # Contracts
//
// A contract is a script in the CommonJS style of examples/forum.js: it
// assigns methods and data to exports. Compile wraps it in a module function
// with three parameters:
//
//   - exports: the object whose own function properties are the callable
//     methods and whose other own properties are the persisted data;
//   - state: the contract's file archive (below);
//   - call: a frozen object describing the current call: call.method,
//     call.caller (Call.Caller, the caller's key as given by the host) and
//     call.time (Call.Time, Unix milliseconds).
//
// Because they are parameters, the module must not redeclare them with a
// top-level let, const or class (var and function may shadow them). Methods
// may be async; `this` is exports. Everything runs in strict mode.
//
// Before every call the module's top level runs again on a new exports
// object, so nothing survives from one call to the next except the
// exports snapshot and the state archive; then the snapshot's data is put
// on exports, replacing what the top level assigned, in the snapshot's
// (sorted) key order after the methods. A "static" module, whose top level
// only declares functions, classes and constants and assigns them to
// exports (the forum is one; see staticModule and Program.Static), runs its
// top level once per runtime instead and has its module-level values
// deep-frozen, so assigning to a property of a module-level constant throws.
//
// # Results
//
// A call succeeds completely or changes nothing. On success Result.Value is
// the canonical JSON of the return value (an async method's promise is
// settled first; undefined becomes null), Result.Exports the canonical JSON
// of exports' own enumerable non-function properties, Result.Writes the
// state changes in order, and Result.Gas the gas used. On failure Err says
// why (see Code), Exports is the input snapshot, and there are no writes.
//
// Canonical JSON allows only null, booleans, finite numbers (-0 is 0),
// strings, dense arrays and plain objects; keys are sorted by UTF-16 code
// units; nesting is at most 64 deep. Anything else (undefined, NaN,
// Infinity, Map, Set, Date, class instances, functions in data, getters,
// cycles) fails the call with BadReturn or BadState and a message naming
// the path (see canon.go).
//
// # State
//
// The state global is a file tree over the host's StateReader. Every
// method is synchronous: it returns a plain value (so `await state.x()`
// works too) and throws a catchable Error with a Node-style code on misuse.
//
//	state.exists(path)          → boolean
//	state.readFile(path)        → string (UTF-8; invalid bytes become U+FFFD)
//	state.readdir(path)         → sorted array of entry names (byte order)
//	state.mkdir(path)           → undefined; EEXIST if path exists
//	state.writeFile(path, data) → undefined; data must be a string, stored as UTF-8
//	state.unlink(path)          → undefined; removes a file
//	state.rmdir(path)           → undefined; removes an empty directory
//
// Paths are absolute and normalized: "/" or "/a/b", no empty, "." or ".."
// segments, no control characters, segments of at most 255 bytes and at most
// Limits.MaxPathBytes in all (EINVAL, ENAMETOOLONG). mkdir and writeFile
// create missing parent directories, and the Writes list those as Mkdir
// entries before the operation, so a host applies Writes literally in order
// (each Mkdir's and WriteFile's parent exists). Reading a missing path is
// ENOENT, a directory where a file is wanted EISDIR, a file where a
// directory is wanted ENOTDIR; unlink of a directory is EISDIR; rmdir of a
// non-empty directory is ENOTEMPTY, of "/" EBUSY. Reads see the call's own
// earlier writes. State is only available inside methods, not at the module
// top level. A file over Limits.MaxFileBytes, or more than
// Limits.MaxWriteBytes written by one call, ends the call with
// LimitExceeded (not catchable).
//
// # Gas
//
// Compile inserts __gas(n) at the start of the module, of every function,
// method, getter, arrow (also expression-bodied: `x => (__gas(n), e)`),
// class static block and loop body. A site's weight n is 1 plus the weight
// of the AST nodes that run each time it is entered: 1 per node, nested
// functions 5 each (closureGas) and not entered, loop tests and bodies
// counted by the loop's own site; plus 150 per await, 20 per yield, 100 per
// class created, 100 on entry to an async function and 20 to a generator.
// These weights are consensus-relevant; changing them needs a version
// switch. Besides the sites:
//
//   - every wrapped built-in: 1 gas per call, plus 1 per 16 elements of its
//     receiver, of array and string arguments and of its result; creating an
//     array iterator (spread, for-of, destructuring) 2 per element; sorts
//     n·log2(n)/16 more; functions that create a promise (Promise.resolve,
//     then, ...) 100 more;
//   - the state API: 10 per call and per implicit parent directory, plus 1
//     per byte written and 1 per 8 bytes read;
//   - JSON.parse, JSON.stringify, decoding Args and the snapshot, encoding
//     the result and the snapshot: 1 per 16 bytes.
//
// Running out ends the call at once with OutOfGas (Result.Gas is the limit);
// contract code cannot catch it and no finally block runs. Calling __gas by
// hand (through a computed name: the identifier is reserved) only burns gas.
//
// # Determinism
//
// Date.now() and new Date() return Call.Time. Local time is UTC: this
// package's init sets time.Local = time.UTC for the whole process (goja's
// local-time methods read it). Math.random is SplitMix64 seeded with the XOR
// of Call.Seed's four little-endian 64-bit words, returning the top 53 bits
// of each output over 2^53. eval is removed and every Function constructor
// (also reached through the constructor of function, async function and
// generator prototypes) throws. BigInt (literals are rejected by Compile),
// Proxy, typed arrays, ArrayBuffer, DataView, WeakRef, FinalizationRegistry
// and goja's GoError are removed; Intl, timers, require and console do not
// exist. After setup every built-in object and the global object are frozen;
// the properties code commonly assigns on instances (constructor, toString,
// valueOf, ... on Object.prototype; name, message, constructor, toString on
// the error prototypes) are accessors whose setter defines an own property,
// so `this.name = 'MyError'` still works. JSON is reimplemented in Go
// (depth 64, no reviver or replacer, result capped). Regular expressions
// must run on Go's linear-time engine: literals needing backtracking are
// rejected by Compile, patterns built at run time by RegExp, match, matchAll
// and search throw a SyntaxError. A match on that engine cannot be
// interrupted and takes time proportional to the pattern's size times the
// input's length, so both are bounded deterministically (see regexp.go): a
// pattern larger than Limits.MaxRegExpSize units (about one per instruction
// once repetitions are expanded) is refused where it is built, building
// one costs a gas per 4 units, every exec or test charges one gas per 4
// units of size × input length before it matches, and match, matchAll,
// replace, search and split accept only plain RegExp objects (no subclass,
// no own property but lastIndex), whose every match goes through exec.
//
// Built-ins whose native work gas cannot see are wrapped (see builtins.go):
// they charge by size and throw a RangeError beyond Limits.MaxStringLen or
// Limits.MaxArrayLen, and nesting through them (join inside toString inside
// join) fails with StackOverflow beyond 256 levels. JS recursion deeper
// than Limits.MaxStackDepth fails with StackOverflow, not catchable either.
//
// Two verdicts are not deterministic: Timeout (Limits.Timeout of wall clock;
// every regular expression match runs on Go's linear-time engine, from
// lastIndex > 0 too, so no match reaches it) and MemoryLimit
// (the process heap grew by Limits.MaxHeapBytes during the call). They are
// backstops for what deterministic limits cannot bound, such as s += s
// doubling a string: a host records them in its log and replays follow the
// record instead of re-executing. Internal means a host StateReader failed
// or this package has a bug; it is not a verdict on the contract.
//
// # Performance
//
// A pooled forum addPost call takes about 19 µs on one core (about 52,000
// calls/s; goja's async machinery is about half of it), and two goroutines
// on two cores make about 75,000 calls/s (BenchmarkForumAddPost). Building
// a hardened runtime takes about 6 ms and half a megabyte: Program.Call pays
// it on every call, a Pool only on a miss or after a call that was
// interrupted (an exception keeps the runtime). Compile takes about 0.2 ms
// for the forum.
//
// # Known limits
//
// goja has no string-length limit: + and template literals can build
// strings of any size, which only the MemoryLimit and Timeout backstops
// stop, one doubling late. Native recursion that is not through wrapped
// built-ins (long prototype chains, deeply nested arrays given to flat)
// grows with what a call can build, about one level per 8 gas; keep
// Limits.Gas at or below about 10,000,000 so that stays far from the Go
// stack limit. A wrapped built-in passed directly as a promise handler
// (p.then(Object.keys)) makes goja run the queued promise jobs inside it,
// which reorders them (deterministically).
package contract
