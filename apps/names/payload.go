package names

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/vchash"
)

// Magic is the prefix of every payload of the application.
const Magic = "id"

// Opcodes: the byte after the magic bytes.
const (
	OpPreorder byte = '?'
	OpRegister byte = ':'
	OpUpdate   byte = '+'
	OpTransfer byte = '>'
	OpRevoke   byte = '~'
	OpRenew    byte = '&'
)

// opcodes lists the opcodes in the order Info declares them.
var opcodes = []byte{OpPreorder, OpRegister, OpUpdate, OpTransfer, OpRevoke, OpRenew}

// OpName returns the name of an opcode ("preorder", "register", …), or a
// quoted form of the byte for an unknown one.
func OpName(opcode byte) string {
	switch opcode {
	case OpPreorder:
		return "preorder"
	case OpRegister:
		return "register"
	case OpUpdate:
		return "update"
	case OpTransfer:
		return "transfer"
	case OpRevoke:
		return "revoke"
	case OpRenew:
		return "renew"
	}
	return fmt.Sprintf("opcode %q", opcode)
}

// ErrMalformed is wrapped by every error Decode and DecodePayload return.
var ErrMalformed = errors.New("malformed")

func malformed(opcode byte, format string, args ...any) error {
	return fmt.Errorf("%w %s payload: %s", ErrMalformed, OpName(opcode), fmt.Sprintf(format, args...))
}

// Operation is a decoded payload: one of *Preorder, *Register, *Update,
// *Transfer, *Revoke and *Renew.
type Operation interface {
	// Opcode returns the operation's opcode.
	Opcode() byte
	// Encode returns the full payload, magic bytes and opcode included, or
	// an error when a field is invalid.
	Encode() ([]byte, error)
}

// Preorder commits to a name without revealing it.
type Preorder struct {
	// Hash is PreorderHash(name, salt, senderScript).
	Hash [PreorderHashLen]byte
	// Consensus is a recent consensus hash of the chain the sender saw.
	Consensus vchash.ConsensusHash
}

// Register claims a preordered name by revealing it and its salt.
type Register struct {
	Name string
	Salt [SaltLen]byte
	// Value is the name's initial value hash: nil, or ValueHashLen bytes.
	Value []byte
}

// Update sets a name's value hash.
type Update struct {
	Name  string
	Value [ValueHashLen]byte
}

// Transfer gives a name to the transaction's recipient.
type Transfer struct {
	Name string
	// Consensus is a recent consensus hash of the chain the sender saw.
	Consensus vchash.ConsensusHash
	// KeepData keeps the value hash; otherwise the transfer clears it.
	KeepData bool
}

// Revoke freezes a name until it expires and clears its value hash.
type Revoke struct {
	Name string
}

// Renew extends a name's lifetime.
type Renew struct {
	Name string
}

// Opcode implements Operation.
func (*Preorder) Opcode() byte { return OpPreorder }

// Opcode implements Operation.
func (*Register) Opcode() byte { return OpRegister }

// Opcode implements Operation.
func (*Update) Opcode() byte { return OpUpdate }

// Opcode implements Operation.
func (*Transfer) Opcode() byte { return OpTransfer }

// Opcode implements Operation.
func (*Revoke) Opcode() byte { return OpRevoke }

// Opcode implements Operation.
func (*Renew) Opcode() byte { return OpRenew }

// nameOf returns the name an operation affects, or "" for a preorder.
func nameOf(op Operation) string {
	switch o := op.(type) {
	case *Register:
		return o.Name
	case *Update:
		return o.Name
	case *Transfer:
		return o.Name
	case *Revoke:
		return o.Name
	case *Renew:
		return o.Name
	}
	return ""
}

// header starts a payload with the magic bytes and opcode.
func header(opcode byte, size int) []byte {
	b := make([]byte, 0, len(Magic)+1+size)
	b = append(b, Magic...)
	return append(b, opcode)
}

// appendName appends a name as a length byte and its bytes.
func appendName(b []byte, opcode byte, name string) ([]byte, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", OpName(opcode), err)
	}
	b = append(b, byte(len(name)))
	return append(b, name...), nil
}

// Encode implements Operation.
func (o *Preorder) Encode() ([]byte, error) {
	b := header(OpPreorder, PreorderHashLen+len(o.Consensus))
	b = append(b, o.Hash[:]...)
	return append(b, o.Consensus[:]...), nil
}

// Encode implements Operation.
func (o *Register) Encode() ([]byte, error) {
	if len(o.Value) != 0 && len(o.Value) != ValueHashLen {
		return nil, fmt.Errorf("register %s: value hash has %d bytes, want none or %d", o.Name, len(o.Value), ValueHashLen)
	}
	b, err := appendName(header(OpRegister, 1+len(o.Name)+SaltLen+len(o.Value)), OpRegister, o.Name)
	if err != nil {
		return nil, err
	}
	b = append(b, o.Salt[:]...)
	return append(b, o.Value...), nil
}

// Encode implements Operation.
func (o *Update) Encode() ([]byte, error) {
	b, err := appendName(header(OpUpdate, 1+len(o.Name)+ValueHashLen), OpUpdate, o.Name)
	if err != nil {
		return nil, err
	}
	return append(b, o.Value[:]...), nil
}

// Encode implements Operation.
func (o *Transfer) Encode() ([]byte, error) {
	b, err := appendName(header(OpTransfer, 1+len(o.Name)+len(o.Consensus)+1), OpTransfer, o.Name)
	if err != nil {
		return nil, err
	}
	b = append(b, o.Consensus[:]...)
	keep := byte(0)
	if o.KeepData {
		keep = 1
	}
	return append(b, keep), nil
}

// Encode implements Operation.
func (o *Revoke) Encode() ([]byte, error) {
	return appendName(header(OpRevoke, 1+len(o.Name)), OpRevoke, o.Name)
}

// Encode implements Operation.
func (o *Renew) Encode() ([]byte, error) {
	return appendName(header(OpRenew, 1+len(o.Name)), OpRenew, o.Name)
}

// Decode decodes a full payload: magic bytes, opcode and the opcode's fields.
func Decode(payload []byte) (Operation, error) {
	if len(payload) < len(Magic)+1 || !bytes.HasPrefix(payload, []byte(Magic)) {
		return nil, fmt.Errorf("%w payload: does not start with %q and an opcode", ErrMalformed, Magic)
	}
	if len(payload) > MaxPayloadLen {
		return nil, fmt.Errorf("%w payload: %d bytes, at most %d allowed", ErrMalformed, len(payload), MaxPayloadLen)
	}
	return DecodePayload(payload[len(Magic)], payload[len(Magic)+1:])
}

// DecodePayload decodes the fields that follow the magic bytes and opcode:
// what the engine hands to Parse. Decoding is strict: every accepted payload
// has exactly one encoding, which Encode reproduces.
func DecodePayload(opcode byte, payload []byte) (Operation, error) {
	if max := MaxPayloadLen - len(Magic) - 1; len(payload) > max {
		return nil, malformed(opcode, "%d bytes after the opcode, at most %d allowed", len(payload), max)
	}
	switch opcode {
	case OpPreorder:
		if len(payload) != PreorderHashLen+16 {
			return nil, malformed(opcode, "%d bytes, want %d (preorder hash and consensus hash)", len(payload), PreorderHashLen+16)
		}
		o := &Preorder{}
		copy(o.Hash[:], payload)
		copy(o.Consensus[:], payload[PreorderHashLen:])
		return o, nil
	case OpRegister:
		name, rest, err := readName(opcode, payload)
		if err != nil {
			return nil, err
		}
		if len(rest) != SaltLen && len(rest) != SaltLen+ValueHashLen {
			return nil, malformed(opcode, "%d bytes after the name, want %d (salt) or %d (salt and value hash)", len(rest), SaltLen, SaltLen+ValueHashLen)
		}
		o := &Register{Name: name}
		copy(o.Salt[:], rest)
		if len(rest) > SaltLen {
			o.Value = bytes.Clone(rest[SaltLen:])
		}
		return o, nil
	case OpUpdate:
		name, rest, err := readName(opcode, payload)
		if err != nil {
			return nil, err
		}
		if len(rest) != ValueHashLen {
			return nil, malformed(opcode, "%d bytes after the name, want %d (value hash)", len(rest), ValueHashLen)
		}
		o := &Update{Name: name}
		copy(o.Value[:], rest)
		return o, nil
	case OpTransfer:
		name, rest, err := readName(opcode, payload)
		if err != nil {
			return nil, err
		}
		if len(rest) != 16+1 {
			return nil, malformed(opcode, "%d bytes after the name, want 17 (consensus hash and keep byte)", len(rest))
		}
		o := &Transfer{Name: name}
		copy(o.Consensus[:], rest)
		switch rest[16] {
		case 0:
		case 1:
			o.KeepData = true
		default:
			return nil, malformed(opcode, "keep byte is %d, want 0 or 1", rest[16])
		}
		return o, nil
	case OpRevoke, OpRenew:
		name, rest, err := readName(opcode, payload)
		if err != nil {
			return nil, err
		}
		if len(rest) != 0 {
			return nil, malformed(opcode, "%d bytes after the name, want none", len(rest))
		}
		if opcode == OpRevoke {
			return &Revoke{Name: name}, nil
		}
		return &Renew{Name: name}, nil
	}
	return nil, fmt.Errorf("%w payload: unknown opcode %q", ErrMalformed, opcode)
}

// readName reads a length-prefixed name and returns it with the bytes that
// follow.
func readName(opcode byte, b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", nil, malformed(opcode, "empty, want a name")
	}
	n := int(b[0])
	if n > len(b)-1 {
		return "", nil, malformed(opcode, "name length %d, but only %d bytes follow", n, len(b)-1)
	}
	name := string(b[1 : 1+n])
	if err := ValidateName(name); err != nil {
		return "", nil, malformed(opcode, "%v", err)
	}
	return name, b[1+n:], nil
}

// PreorderHash returns the hash a preorder commits to: hash160 of the name's
// bytes, the salt and the sender's scriptPubKey, concatenated.
func PreorderHash(name string, salt []byte, senderScript []byte) [PreorderHashLen]byte {
	buf := make([]byte, 0, len(name)+len(salt)+len(senderScript))
	buf = append(buf, name...)
	buf = append(buf, salt...)
	buf = append(buf, senderScript...)
	return vchash.Hash160(buf)
}

// PreorderPayload returns the payload of a preorder of name by the owner of
// senderScript, with a SaltLen-byte salt and a recent consensus hash ch.
func PreorderPayload(name string, salt, senderScript []byte, ch vchash.ConsensusHash) ([]byte, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("preorder: %w", err)
	}
	if len(salt) != SaltLen {
		return nil, fmt.Errorf("preorder %s: salt has %d bytes, want %d", name, len(salt), SaltLen)
	}
	if len(senderScript) == 0 {
		return nil, fmt.Errorf("preorder %s: empty sender script", name)
	}
	return (&Preorder{Hash: PreorderHash(name, salt, senderScript), Consensus: ch}).Encode()
}

// RegisterPayload returns the payload of a register of name, revealing the
// salt of its preorder. valueHash is nil or ValueHashLen bytes.
func RegisterPayload(name string, salt, valueHash []byte) ([]byte, error) {
	if len(salt) != SaltLen {
		return nil, fmt.Errorf("register %s: salt has %d bytes, want %d", name, len(salt), SaltLen)
	}
	o := &Register{Name: name, Value: valueHash}
	copy(o.Salt[:], salt)
	return o.Encode()
}

// UpdatePayload returns the payload of an update of name's value hash, which
// must have ValueHashLen bytes.
func UpdatePayload(name string, valueHash []byte) ([]byte, error) {
	if len(valueHash) != ValueHashLen {
		return nil, fmt.Errorf("update %s: value hash has %d bytes, want %d", name, len(valueHash), ValueHashLen)
	}
	o := &Update{Name: name}
	copy(o.Value[:], valueHash)
	return o.Encode()
}

// TransferPayload returns the payload of a transfer of name to the
// transaction's recipient, with a recent consensus hash ch; keepData keeps
// the value hash.
func TransferPayload(name string, ch vchash.ConsensusHash, keepData bool) ([]byte, error) {
	return (&Transfer{Name: name, Consensus: ch, KeepData: keepData}).Encode()
}

// RevokePayload returns the payload of a revoke of name.
func RevokePayload(name string) ([]byte, error) {
	return (&Revoke{Name: name}).Encode()
}

// RenewPayload returns the payload of a renewal of name.
func RenewPayload(name string) ([]byte, error) {
	return (&Renew{Name: name}).Encode()
}
