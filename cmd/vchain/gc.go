package main

import (
	"os"
	"runtime/debug"
)

// tuneGC trades memory for CPU in long-running servers: a host allocates
// briefly for every call, and the default GOGC=100 spends a large share of
// the CPU collecting. Unless the user set GOGC or GOMEMLIMIT, collect at
// 400% growth but never let the heap grow past limit bytes unchecked.
func tuneGC(limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
