package contract

import (
	"errors"
	"fmt"
	"regexp/syntax"
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
// goja would still use regexp2 for such a pattern when a global or sticky
// RegExp matches from lastIndex > 0; contracts' exec and test match there
// on Go's engine too (see regexpexec.go), so no contract match runs on
// regexp2. As a backstop should one ever do, regexp2's DefaultMatchTimeout
// is set by this package's init to regexpBackstop, and a native match that
// ran that long fails the call with the non-deterministic code Timeout
// rather than report regexp2's "no match".

// regexpBackstop is the longest one native match may run.
const regexpBackstop = 250 * time.Millisecond

func init() {
	regexp2.DefaultMatchTimeout = regexpBackstop
}

var errBacktracking = errors.New("backreferences, lookaround and other features that need a backtracking engine are not supported")

// Regular expressions on Go's engine take time proportional to the size of
// the pattern's program times the length of the input, and that work cannot
// be interrupted: /(?:[ab]?){1000}c/ on a million characters runs for tens of
// seconds. So the cost is bounded deterministically, before any matching:
//
//   - a pattern's size is counted on its parsed form (see regExpSize), and a
//     pattern larger than Limits.MaxRegExpSize is refused when it is built
//     (Compile for literals, RegExp, match, matchAll and search at run time),
//     which charges one gas per regExpCompileUnits units of size;
//   - every native match (RegExp.prototype.exec and test, which the string
//     and symbol methods call for every match) charges, before it runs, one
//     gas per regExpUnitsPerGas units of size × input length (UTF-16 units
//     from where the match starts: lastIndex for a global or sticky RegExp,
//     else 0; plus one). Go's engine was measured at up to about 25 ns per
//     unit on adversarial patterns, so a gas limit of 1,000,000 spent on
//     matching is at most about a tenth of a second;
//   - the string and symbol methods (match, matchAll, replace, search,
//     split) accept only plain regular expressions: a RegExp whose only own
//     property is lastIndex and whose prototype is RegExp.prototype, so every
//     match they make goes through the metered exec.
//
// These weights are consensus-relevant.
const (
	regExpUnitsPerGas  = 4
	regExpCompileUnits = 4
)

// checkRegExp reports whether goja would run pattern with flags on Go's
// linear-time regexp package and whether its size is at most maxSize; it
// returns the pattern's size.
func checkRegExp(pattern, flags string, maxSize int) (int64, error) {
	re, err := parseRegExp(pattern, flags)
	if err != nil {
		return 0, err
	}
	size := regExpSize(re)
	if size > int64(maxSize) {
		return size, fmt.Errorf("pattern too large: its program has about %d instructions, over the limit of %d", size, maxSize)
	}
	return size, nil
}

// parseRegExp translates a JavaScript pattern to Go's syntax the way goja
// does and parses it. Patterns goja would run on its backtracking engine
// are refused with errBacktracking.
func parseRegExp(pattern, flags string) (*syntax.Regexp, error) {
	var dotAll, ignoreCase, multiline, unicode bool
	seen := map[rune]bool{}
	for _, f := range flags {
		if seen[f] {
			return nil, fmt.Errorf("repeated flag %q", f)
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
			return nil, fmt.Errorf("invalid flag %q", f)
		}
	}
	for _, r := range pattern {
		if r > 0xffff {
			return nil, errors.New("characters outside the Basic Multilingual Plane must be written as escapes")
		}
	}
	re2, err := parser.TransformRegExp(pattern, dotAll, unicode)
	if err != nil {
		var incompat parser.RegexpErrorIncompatible
		if errors.As(err, &incompat) {
			return nil, errBacktracking
		}
		return nil, errors.New("invalid pattern")
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
	// regexp.Compile parses the same way; the compiled program is not
	// needed here.
	re, err := syntax.Parse(re2, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			switch se.Code {
			case syntax.ErrLarge, syntax.ErrNestingDepth, syntax.ErrInvalidRepeatSize:
				return nil, fmt.Errorf("pattern too large: %v", se.Code)
			}
		}
		return nil, errBacktracking
	}
	return re, nil
}

// maxRegExpSize saturates regExpSize.
const maxRegExpSize = 1 << 40

// regExpSize counts a parsed pattern's size: about the number of
// instructions Go's compiler makes of it once repetitions are expanded
// (x{n,m} is m copies of x), one per character, class, assertion or empty
// match, plus one per alternative, quantifier and repeated copy and two per
// capture group. It is this package's own rule, so the gas it sets does not
// change with the Go release.
func regExpSize(re *syntax.Regexp) int64 {
	sat := func(n int64) int64 { return min(n, maxRegExpSize) }
	switch re.Op {
	case syntax.OpLiteral:
		return max(int64(len(re.Rune)), 1)
	case syntax.OpCapture:
		return sat(2 + regExpSize(re.Sub[0]))
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return sat(1 + regExpSize(re.Sub[0]))
	case syntax.OpRepeat:
		n := int64(max(re.Max, re.Min, 1))
		sub := regExpSize(re.Sub[0]) + 1
		if sub > maxRegExpSize/n {
			return maxRegExpSize
		}
		return n * sub
	case syntax.OpConcat, syntax.OpAlternate:
		var n int64
		if re.Op == syntax.OpAlternate {
			n = int64(len(re.Sub) - 1)
		}
		for _, s := range re.Sub {
			n = sat(n + regExpSize(s))
		}
		return max(n, 1)
	}
	return 1
}
