//go:build race

package engine_test

import "flag"

// Under the race detector the property tests run fewer cases: the race
// pass is there for the driver's goroutines, and hashing every state in
// instrumented code would take it past its timeout.
func init() { flag.Set("rapid.checks", "10") }
