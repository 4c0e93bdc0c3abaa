package contract

import "fmt"

// Code classifies a failed call. Codes are part of the consensus data a host
// records, so their names and meanings never change; new codes may be added.
type Code uint8

// The failure codes. Every code except Timeout and MemoryLimit is
// deterministic: the same program, exports, state, call and limits give the
// same code, message and gas on every machine.
const (
	// OK is the zero Code; a Result with a nil Err succeeded.
	OK Code = iota
	// OutOfGas: the call used more than Limits.Gas. The reported gas is the
	// limit. Contract code cannot catch it and no finally block runs.
	OutOfGas
	// StackOverflow: more than Limits.MaxStackDepth nested JS calls, or
	// built-ins nested too deeply. Contract code cannot catch it.
	StackOverflow
	// Threw: the method (or the module top level) threw, or its promise was
	// rejected. The message is the thrown value's, as described on CallError.
	Threw
	// NotSettled: the method returned a promise that was still pending when
	// every queued job had run, for example `await new Promise(() => {})`.
	NotSettled
	// BadReturn: the return value is not canonical JSON data (a Map, NaN, a
	// cycle, a function, a getter, nesting deeper than 64, ...).
	BadReturn
	// BadState: the exports snapshot cannot be restored (not a JSON object),
	// or exports holds something that is not canonical JSON data after the
	// call or after instantiation.
	BadState
	// BadArgs: Call.Args is not a JSON array, is malformed, nested deeper
	// than 64 or larger than Limits.MaxArgsBytes.
	BadArgs
	// NoSuchMethod: exports has no own function property named Call.Method.
	NoSuchMethod
	// LimitExceeded: a deterministic size cap was exceeded: the result,
	// exports snapshot, a file, the call's total write bytes, or a path.
	// Contract code cannot catch it.
	LimitExceeded
	// Timeout: the wall-clock backstop Limits.Timeout fired (or a native
	// regular-expression match ran into its time limit). Not deterministic:
	// another machine might have finished the call. Hosts record the verdict
	// and replays follow the record instead of re-executing the call.
	Timeout
	// MemoryLimit: the heap backstop fired (Limits.MaxHeapBytes). Not
	// deterministic, like Timeout.
	MemoryLimit
	// Internal: a bug in this package (a Go panic was recovered). The
	// runtime is discarded. It should never happen.
	Internal
	// StateQuota: the call would leave the contract's state larger than
	// Limits.MaxStateBytes. Hosts give this verdict (they keep the state's
	// size); it is deterministic, as the size follows from the state.
	StateQuota
)

var codeNames = [...]string{
	OK:            "OK",
	OutOfGas:      "OutOfGas",
	StackOverflow: "StackOverflow",
	Threw:         "Threw",
	NotSettled:    "NotSettled",
	BadReturn:     "BadReturn",
	BadState:      "BadState",
	BadArgs:       "BadArgs",
	NoSuchMethod:  "NoSuchMethod",
	LimitExceeded: "LimitExceeded",
	Timeout:       "Timeout",
	MemoryLimit:   "MemoryLimit",
	Internal:      "Internal",
	StateQuota:    "StateQuota",
}

// String returns the code's name, for example "OutOfGas".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Deterministic reports whether every machine reaches the same verdict for
// the same input. Timeout and MemoryLimit are backstops that depend on the
// machine's speed and load; a host must record them rather than re-execute.
func (c Code) Deterministic() bool {
	return c != Timeout && c != MemoryLimit
}

// CallError is why a call failed. Message is deterministic for deterministic
// codes: it never holds stack traces, source positions or Go addresses. For
// Threw it is the thrown value: an Error object's "name: message" (read from
// data properties only, getters are not called), a primitive's string form,
// or "uncaught <class name>" for other objects; at most 256 bytes.
type CallError struct {
	Code    Code
	Message string
}

// Error implements error as "Code: message".
func (e *CallError) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

func errorf(code Code, format string, args ...any) *CallError {
	return &CallError{Code: code, Message: fmt.Sprintf(format, args...)}
}
