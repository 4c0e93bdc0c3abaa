package contract

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja/parser"
)

// Regular expressions. goja runs a pattern on Go's linear-time regexp when
// it can translate it, and otherwise on regexp2, a backtracking engine with
// no time limit that vm.Interrupt cannot stop (/^(a+)+\1$/ on 26 characters
// takes seconds). Contracts may only use patterns of the first kind: regex
// literals are checked by Compile, and RegExp, String.prototype.match,
// matchAll and search check patterns built at run time the same way.
//
// goja still falls back to regexp2 for a translatable pattern in two cases:
// matching from lastIndex > 0 (exec/test with the g or y flag) and some
// global matches on non-ASCII strings. The pattern then has no
// backreferences or lookaround, but regexp2 may still backtrack badly on
// nested quantifiers. regexp2's DefaultMatchTimeout (set by this package's
// init to regexpBackstop) bounds such a match; goja treats a timed-out
// match as "no match", so every wrapped built-in that can match measures its
// own duration and fails the call with the non-deterministic code Timeout if
// it reached regexpBackstop. A result computed from a timed-out match is
// therefore never reported as a success.

// regexpBackstop is the longest one native regexp2 match may run.
const regexpBackstop = 250 * time.Millisecond

func init() {
	regexp2.DefaultMatchTimeout = regexpBackstop
}

var errBacktracking = errors.New("backreferences, lookaround and other features that need a backtracking engine are not supported")

// checkRegExp reports whether goja would run pattern with flags on Go's
// linear-time regexp package.
func checkRegExp(pattern, flags string) error {
	var dotAll, ignoreCase, multiline, unicode bool
	seen := map[rune]bool{}
	for _, f := range flags {
		if seen[f] {
			return fmt.Errorf("repeated flag %q", f)
		}
		seen[f] = true
		switch f {
		case 'g', 'y':
		case 'i':
			ignoreCase = true
		case 'm':
			multiline = true
		case 's':
			dotAll = true
		case 'u':
			unicode = true
		default:
			return fmt.Errorf("invalid flag %q", f)
		}
	}
	for _, r := range pattern {
		if r > 0xffff {
			return errors.New("characters outside the Basic Multilingual Plane must be written as escapes")
		}
	}
	re2, err := parser.TransformRegExp(pattern, dotAll, unicode)
	if err != nil {
		var incompat parser.RegexpErrorIncompatible
		if errors.As(err, &incompat) {
			return errBacktracking
		}
		return errors.New("invalid pattern")
	}
	var fl strings.Builder
	if multiline {
		fl.WriteByte('m')
	}
	if dotAll {
		fl.WriteByte('s')
	}
	if ignoreCase {
		fl.WriteByte('i')
	}
	if fl.Len() > 0 {
		re2 = "(?" + fl.String() + ":" + re2 + ")"
	}
	if _, err := regexp.Compile(re2); err != nil {
		return errBacktracking
	}
	return nil
}
