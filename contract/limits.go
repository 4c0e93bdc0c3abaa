package contract

import "time"

// Limits bounds what one call (or one instantiation) may do. Every field but
// Timeout and MaxHeapBytes is consensus-relevant: all nodes running a
// contract must use the same values, so a host should record them next to
// the contract (a zero field means "use the default", see DefaultLimits).
type Limits struct {
	// Gas is the call's budget: instrumented code, built-ins, host calls and
	// (de)serialization all charge it (see the package documentation).
	Gas uint64
	// MaxStackDepth bounds nested JS calls.
	MaxStackDepth int
	// MaxCodeBytes bounds a contract's source (Compile).
	MaxCodeBytes int
	// MaxArgsBytes bounds Call.Args.
	MaxArgsBytes int
	// MaxResultBytes bounds the canonical JSON of a return value.
	MaxResultBytes int
	// MaxExportsBytes bounds the canonical JSON of the exports snapshot.
	MaxExportsBytes int
	// MaxFileBytes bounds one file written with state.writeFile.
	MaxFileBytes int
	// MaxWriteBytes bounds the sum of the data a call writes.
	MaxWriteBytes int
	// MaxPathBytes bounds a state path.
	MaxPathBytes int
	// MaxStringLen bounds, in UTF-16 code units, the strings that wrapped
	// built-ins accept as their receiver or produce ('x'.repeat(n), join,
	// padEnd, replace, ...).
	MaxStringLen int
	// MaxArrayLen bounds the arrays (and array-likes) that wrapped built-ins
	// walk or create (fill, Array.from, iteration, apply, ...).
	MaxArrayLen int
	// MaxRegExpSize bounds the size of a regular expression's program, as
	// counted by the package's own rule (about one unit per instruction
	// after repetitions are expanded; see regexp.go). Larger patterns are
	// refused where they are built: by Compile for literals, with a
	// SyntaxError at run time.
	MaxRegExpSize int
	// MaxStateBytes bounds a contract's whole state: the sum, over the
	// files and directories of its state archive, of the path's length and
	// the file's size, plus the exports snapshot's length. Hosts enforce it
	// (the running total is theirs to keep): a call that would leave more
	// fails with StateQuota and changes nothing.
	MaxStateBytes int64
	// Timeout is the wall-clock backstop. Reaching it fails the call with the
	// non-deterministic code Timeout. Zero means the default; negative
	// disables it.
	Timeout time.Duration
	// MaxHeapBytes is the heap backstop: when the process heap grows by more
	// than this during a call, the call fails with the non-deterministic code
	// MemoryLimit. Zero means the default; negative disables it.
	MaxHeapBytes int64
}

// DefaultLimits returns the limits used for zero fields: 1,000,000 gas,
// 1000 frames, 256 KiB of code, 64 KiB of arguments and of result, 256 KiB of
// exports, 256 KiB per file, 1 MiB of writes per call, 1024-byte paths, 1 Mi
// string units and array elements in built-ins, regular expressions of
// 10,000 units, 64 MiB of state per contract, a 2 s timeout and 512 MiB of
// heap growth.
func DefaultLimits() Limits {
	return Limits{
		Gas:             1_000_000,
		MaxStackDepth:   1000,
		MaxCodeBytes:    256 << 10,
		MaxArgsBytes:    64 << 10,
		MaxResultBytes:  64 << 10,
		MaxExportsBytes: 256 << 10,
		MaxFileBytes:    256 << 10,
		MaxWriteBytes:   1 << 20,
		MaxPathBytes:    1024,
		MaxStringLen:    1 << 20,
		MaxArrayLen:     1 << 20,
		MaxRegExpSize:   10_000,
		MaxStateBytes:   64 << 20,
		Timeout:         2 * time.Second,
		MaxHeapBytes:    512 << 20,
	}
}

// WithDefaults returns l with its zero fields filled from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.Gas == 0 {
		l.Gas = d.Gas
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&l.MaxStackDepth, d.MaxStackDepth)
	setInt(&l.MaxCodeBytes, d.MaxCodeBytes)
	setInt(&l.MaxArgsBytes, d.MaxArgsBytes)
	setInt(&l.MaxResultBytes, d.MaxResultBytes)
	setInt(&l.MaxExportsBytes, d.MaxExportsBytes)
	setInt(&l.MaxFileBytes, d.MaxFileBytes)
	setInt(&l.MaxWriteBytes, d.MaxWriteBytes)
	setInt(&l.MaxPathBytes, d.MaxPathBytes)
	setInt(&l.MaxStringLen, d.MaxStringLen)
	setInt(&l.MaxArrayLen, d.MaxArrayLen)
	setInt(&l.MaxRegExpSize, d.MaxRegExpSize)
	if l.MaxStateBytes <= 0 {
		l.MaxStateBytes = d.MaxStateBytes
	}
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxHeapBytes == 0 {
		l.MaxHeapBytes = d.MaxHeapBytes
	}
	return l
}
