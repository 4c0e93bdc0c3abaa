package names

import (
	"errors"
	"fmt"
	"strings"
)

// Sizes of the wire format.
const (
	// MaxNameLen is the longest fully-qualified name, in bytes.
	MaxNameLen = 37
	// SaltLen is the size of a preorder's salt.
	SaltLen = 16
	// ValueHashLen is the size of a name's value hash (a hash160 of, say, a
	// zone file).
	ValueHashLen = 20
	// PreorderHashLen is the size of a preorder hash.
	PreorderHashLen = 20
	// MaxPayloadLen is the largest payload, magic bytes and opcode included:
	// what fits in a Bitcoin OP_RETURN output.
	MaxPayloadLen = 80
)

// ErrBadName is wrapped by the errors ValidateName returns.
var ErrBadName = errors.New("invalid name")

// ValidateName reports whether name is a well-formed fully-qualified name:
// "label.namespace" with exactly one dot, both parts non-empty, only the
// characters a-z, 0-9, '_' and '-', and at most MaxNameLen bytes.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: %d bytes, at most %d allowed", ErrBadName, name, len(name), MaxNameLen)
	}
	label, ns, ok := strings.Cut(name, ".")
	if !ok {
		return fmt.Errorf("%w %q: want label.namespace", ErrBadName, name)
	}
	if strings.Contains(ns, ".") {
		return fmt.Errorf("%w %q: more than one dot", ErrBadName, name)
	}
	if label == "" || ns == "" {
		return fmt.Errorf("%w %q: empty label or namespace", ErrBadName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '.' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%w %q: character %q not allowed (use a-z, 0-9, '_', '-')", ErrBadName, name, c)
	}
	return nil
}
