package contract

import (
	"unicode"
	"unicode/utf8"
)

// A few lexical helpers for the instrumenter. They never need to tokenize
// the whole language: string, template and regular-expression literals are
// known from the AST (the opaque map, start offset → end offset), so only
// whitespace, comments, parentheses and identifiers are scanned here.

// isJSSpace reports whether r is JavaScript whitespace or a line terminator.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', ' ', '\n', '\r', 0xa0, 0xfeff, 0x2028, 0x2029:
		return true
	}
	return r > 0x7f && unicode.Is(unicode.Zs, r)
}

func isLineTerminator(r rune) bool {
	return r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029
}

// skipTrivia returns the first offset at or after p that is not whitespace
// or inside a comment.
func skipTrivia(src string, p int) int {
	for p < len(src) {
		r, size := utf8.DecodeRuneInString(src[p:])
		switch {
		case isJSSpace(r):
			p += size
		case r == '/' && p+1 < len(src) && src[p+1] == '/':
			p += 2
			for p < len(src) {
				r, size := utf8.DecodeRuneInString(src[p:])
				if isLineTerminator(r) {
					break
				}
				p += size
			}
		case r == '/' && p+1 < len(src) && src[p+1] == '*':
			end := indexFrom(src, p+2, "*/")
			if end < 0 {
				return len(src)
			}
			p = end + 2
		default:
			return p
		}
	}
	return p
}

func indexFrom(s string, from int, sub string) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// isIdentPart reports whether r may continue an identifier.
func isIdentPart(r rune) bool {
	switch {
	case r == '$' || r == '_' || r == '\\' || r == 0x200c || r == 0x200d:
		return true
	case r < 0x80:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.In(r, unicode.L, unicode.Nl, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc, unicode.Other_ID_Start, unicode.Other_ID_Continue)
}

// identEnd returns the offset just after the identifier (or #private name)
// that starts at p. Unicode escapes (\u0061, \u{61}) are part of it.
func identEnd(src string, p int) int {
	if p < len(src) && src[p] == '#' {
		p++
	}
	for p < len(src) {
		r, size := utf8.DecodeRuneInString(src[p:])
		if !isIdentPart(r) {
			break
		}
		if r == '\\' {
			// \uXXXX or \u{X...}
			p += size
			if p < len(src) && src[p] == 'u' {
				p++
				if p < len(src) && src[p] == '{' {
					for p < len(src) && src[p] != '}' {
						p++
					}
					p++
				} else {
					p += 4
				}
			}
			continue
		}
		p += size
	}
	if p > len(src) {
		p = len(src)
	}
	return p
}

// parenDepth returns how many '(' in src[from:to] are left unclosed (a
// negative count means more ')' than '('), skipping comments and the
// literals in opaque.
func parenDepth(src string, from, to int, opaque map[int]int) int {
	d := 0
	p := from
	for p < to {
		if end, ok := opaque[p]; ok && end > p {
			p = end
			continue
		}
		if q := skipTrivia(src, p); q != p {
			p = q
			continue
		}
		switch src[p] {
		case '(':
			d++
		case ')':
			d--
		}
		p++
	}
	return d
}

// matchParen returns the offset of the ')' matching the '(' at open, or -1.
func matchParen(src string, open int, opaque map[int]int) int {
	if open < 0 || open >= len(src) || src[open] != '(' {
		return -1
	}
	d := 0
	p := open
	for p < len(src) {
		if end, ok := opaque[p]; ok && end > p {
			p = end
			continue
		}
		if q := skipTrivia(src, p); q != p {
			p = q
			continue
		}
		switch src[p] {
		case '(':
			d++
		case ')':
			d--
			if d == 0 {
				return p
			}
		}
		p++
	}
	return -1
}
