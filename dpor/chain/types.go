// Package chain is the DPoR chain's state machine: accounts with balances
// and nonces in the native coin, signed transactions, the built-in system
// contracts (Campaign, Admission, RPT, Proxy Register, Register, Escrow,
// PDash) as native code, block rewards, fees and penalties, and the
// election of each term's proposers. It is pure: blocks and transactions
// in, state changes (through a kv.Txn) out.
package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Address identifies an account: the first 20 bytes of the SHA-256 of its
// Ed25519 public key.
type Address [20]byte

// AddressOf derives the address of a public key.
func AddressOf(pub ed25519.PublicKey) Address {
	h := sha256.Sum256(pub)
	var a Address
	copy(a[:], h[:20])
	return a
}

// String is the address as 0x-prefixed hex.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// ParseAddress reads a 0x-prefixed (or bare) 40-digit hex address.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("address %q: want 40 hex digits", s)
	}
	copy(a[:], b)
	return a, nil
}

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseAddress(string(b))
	*a = p
	return err
}

// System contract addresses: fixed, readable, and no key can own them.
var (
	CampaignAddress  = Address{0xcc, 1}
	AdmissionAddress = Address{0xcc, 2}
	RPTAddress       = Address{0xcc, 3}
	// ProxyRegisterAddress is the Proxy Register's: it binds proxy
	// addresses to the contracts they stand for.
	ProxyRegisterAddress = Address{0xcc, 4}
	// RegisterAddress is the Register's: it keeps each account's upload
	// history, which RPT's data contribution counts.
	RegisterAddress = Address{0xcc, 5}
	// EscrowAddress is the Escrow's: it holds the coins buyers prepay
	// into named escrows until each escrow's owner pays them out or
	// refunds them.
	EscrowAddress = Address{0xcc, 6}
	// PDashAddress is PDash's, the data market: it holds orders'
	// payments and proxies' deposits.
	PDashAddress = Address{0xcc, 7}
)

// Call invokes a system contract's function. Args are the function's
// arguments, CBOR-encoded as the function documents.
type Call struct {
	_ struct{} `cbor:",toarray"`

	Method string          `cbor:"1,keyasint"`
	Args   cbor.RawMessage `cbor:"2,keyasint,omitempty"`
}

// Tx is a signed transaction. It encodes as a CBOR array (compact and
// fast to decode; the field order is the format).
type Tx struct {
	_ struct{} `cbor:",toarray"`

	// PubKey is the sender's Ed25519 public key; the sender's address is
	// derived from it.
	PubKey []byte  `cbor:"1,keyasint"`
	Nonce  uint64  `cbor:"2,keyasint"`
	To     Address `cbor:"3,keyasint"`
	Amount uint64  `cbor:"4,keyasint"`
	Fee    uint64  `cbor:"5,keyasint"`
	// Call, for a transaction to a system contract.
	Call *Call `cbor:"6,keyasint,omitempty"`
	// Data is an application payload (a virtual chain's op), carried and
	// ignored by the chain.
	Data []byte `cbor:"7,keyasint,omitempty"`
	Sig  []byte `cbor:"8,keyasint,omitempty"`

	hash   [32]byte // cached by Hash, set by DecodeTx
	hashed bool
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		MaxNestedLevels:   16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// Marshal encodes v in deterministic CBOR, the chain's one encoding.
func Marshal(v any) []byte {
	var t *Tx
	switch x := v.(type) {
	case *Tx:
		t = x
	case Tx:
		t = &x
	}
	if t != nil {
		if b, ok := appendTx(make([]byte, 0, txSize(t)), t, true); ok {
			return b
		}
	}
	return marshalReflect(v)
}

// marshalReflect is Marshal through the reflective codec.
func marshalReflect(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding %T: %v", v, err))
	}
	return b
}

// Unmarshal decodes deterministic CBOR, refusing unknown fields and
// duplicate keys.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// Sender is the address that signed the transaction.
func (t *Tx) Sender() Address { return AddressOf(t.PubKey) }

// SigningBytes is what the signature covers: the encoding without Sig.
func (t *Tx) SigningBytes(chainID string) []byte {
	prefix := "vchain-dpor-tx:" + chainID + ":"
	if b, ok := appendTx(append(make([]byte, 0, len(prefix)+txSize(t)), prefix...), t, false); ok {
		return b
	}
	c := *t
	c.Sig = nil
	return append([]byte(prefix), Marshal(&c)...)
}

// Hash identifies the transaction: the SHA-256 of its (canonical)
// encoding, signature included. It is computed once; a transaction must
// not change after it is hashed (Sign starts over).
func (t *Tx) Hash() [32]byte {
	if !t.hashed {
		t.hash, t.hashed = sha256.Sum256(Marshal(t)), true
	}
	return t.hash
}

// Sign fills Sig (and PubKey) with key's signature for chain chainID.
func (t *Tx) Sign(chainID string, key ed25519.PrivateKey) {
	t.PubKey = key.Public().(ed25519.PublicKey)
	t.Sig = ed25519.Sign(key, t.SigningBytes(chainID))
	t.hashed = false
}

// verifyOpts is the signature rule every node applies: ZIP-215, under
// which checking one signature and checking a batch always agree (the
// standard library's rule does not batch), except that the signer's key
// must be canonically encoded and not of small order (anyone can sign as
// such a key; see internal/edkey).
var verifyOpts = &voi.Options{Verify: &voi.VerifyOptions{
	AllowSmallOrderR:   true,
	AllowNonCanonicalR: true,
}}

// Errors a transaction can be rejected with.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrMalformed    = errors.New("malformed transaction")
)

// CheckSignature verifies the transaction's form and signature.
func (t *Tx) CheckSignature(chainID string) error {
	if err := t.checkForm(); err != nil {
		return err
	}
	if !voi.VerifyWithOptions(voi.PublicKey(t.PubKey), t.SigningBytes(chainID), t.Sig, verifyOpts) {
		return ErrBadSignature
	}
	return nil
}

// checkForm is CheckSignature without the signature.
func (t *Tx) checkForm() error {
	switch {
	case len(t.PubKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: public key of %d bytes", ErrMalformed, len(t.PubKey))
	case len(t.Sig) != ed25519.SignatureSize:
		return fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(t.Sig))
	case len(t.Data) > MaxData:
		return fmt.Errorf("%w: %d bytes of data, at most %d", ErrMalformed, len(t.Data), MaxData)
	}
	return nil
}

// MaxData bounds a transaction's application payload.
const MaxData = 4096

// decodeFinal decodes a transaction of a final block, whose encoding the
// validators already found canonical.
func decodeFinal(b []byte) (*Tx, error) {
	if t, ok := decodeTxFast(b); ok {
		t.hash, t.hashed = sha256.Sum256(b), true
		return t, nil
	}
	var t Tx
	if err := Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	t.hash, t.hashed = sha256.Sum256(b), true
	return &t, nil
}

// DecodeTx decodes an encoded transaction, which must be in the canonical
// encoding (so one transaction has one encoding and one hash).
func DecodeTx(b []byte) (*Tx, error) {
	if t, ok := decodeTxFast(b); ok {
		t.hash, t.hashed = sha256.Sum256(b), true
		return t, nil
	}
	var t Tx
	if err := Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(Marshal(&t), b) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	t.hash, t.hashed = sha256.Sum256(b), true
	return &t, nil
}

// Body is what a block carries besides its header: its transactions, in
// order, each encoded.
type Body struct {
	Txs [][]byte `cbor:"1,keyasint"`
	// Penalty, in an impeach block only, names the proposer whose turn it
	// was.
	Penalty *Penalty `cbor:"2,keyasint,omitempty"`
	// State is the commitment of the chain state the parent left
	// (StateCommitment), which the block's certificate thereby covers.
	State []byte `cbor:"3,keyasint,omitempty"`
}

// Penalty is the impeach block's one entry: the proposer it punishes.
type Penalty struct {
	Height   uint64  `cbor:"1,keyasint"`
	Proposer Address `cbor:"2,keyasint"`
}

// DecodeBody decodes a block body.
func DecodeBody(b []byte) (*Body, error) {
	if body, ok := decodeBodyFast(b); ok {
		return body, nil
	}
	var body Body
	if err := Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("block body: %w", err)
	}
	return &body, nil
}
