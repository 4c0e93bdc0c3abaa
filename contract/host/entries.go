package host

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"

	"github.com/vchain-dev/vchain/hyperlog"
)

// ContractID identifies a contract instance: its call log's key.
type ContractID [32]byte

// String returns the id in hex.
func (c ContractID) String() string { return hex.EncodeToString(c[:]) }

// ParseContractID decodes a hex contract id.
func ParseContractID(s string) (ContractID, error) {
	var id ContractID
	if len(s) != 64 {
		return id, fmt.Errorf("contract id %q: want 64 hex characters", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("contract id %q: %w", s, err)
	}
	return id, nil
}

// Entry types, in user logs and call logs.
const (
	TypeCreate  = "create"
	TypeCall    = "call"
	TypeAck     = "ack"
	TypeMigrate = "migrate"
	// TypeMove is the user entry in which a contract's creator asks its
	// host to seal the contract's call log for another host.
	TypeMove = "move"
	// TypeMoved is the call log record that seals a contract's log: the
	// last record the host will ever append, naming the host the contract
	// moved to.
	TypeMoved = "moved"
)

// UserEntry is one entry of a user log, signed by the user as part of the
// log's head. The host keeps a replica of each user's log.
type UserEntry struct {
	Type string `json:"type"`
	// Contract is the contract's id (call, ack).
	Contract string `json:"contract,omitempty"`
	// Code is the contract's source (create).
	Code string `json:"code,omitempty"`
	// Method and Args name the call (call); Args is a JSON array.
	Method string          `json:"method,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	// Seq, Head and ResultHash acknowledge the host's answer (ack): the
	// call log index that served the call, the call log head the host
	// returned, and the BLAKE2b-256 of the call log entry.
	Seq        uint64 `json:"seq,omitempty"`
	Head       *Head  `json:"head,omitempty"`
	RecordHash string `json:"record_hash,omitempty"`
	// To is the host a contract moves to (move): its public key (hex) and,
	// when known, its URL.
	To *MovedTo `json:"to,omitempty"`
}

// MovedTo names the host a contract moved to.
type MovedTo struct {
	// Host is the new host's public key (GET /v1/host), in hex.
	Host string `json:"host"`
	// URL is where the new host serves, when the creator gave it.
	URL string `json:"url,omitempty"`
}

// MaxURLBytes bounds a MovedTo's URL.
const MaxURLBytes = 512

func (m *MovedTo) check() error {
	if m == nil {
		return errors.New("no destination host")
	}
	if k, err := hex.DecodeString(m.Host); err != nil || len(k) != 32 {
		return fmt.Errorf("destination host key %q: want 64 hex characters", m.Host)
	}
	if len(m.URL) > MaxURLBytes {
		return fmt.Errorf("destination URL of %d bytes exceeds %d", len(m.URL), MaxURLBytes)
	}
	return nil
}

// Head is a signed log head as the API carries it.
type Head struct {
	Length    uint64 `json:"length"`
	TreeHash  string `json:"tree_hash"`
	Signature string `json:"signature"`
}

// MaxEntryBytes bounds one log entry.
const MaxEntryBytes = 1 << 20

// DecodeUserEntry parses and checks a user log entry.
func DecodeUserEntry(b []byte) (*UserEntry, error) {
	if len(b) > MaxEntryBytes {
		return nil, fmt.Errorf("user entry of %d bytes exceeds %d", len(b), MaxEntryBytes)
	}
	var e UserEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("user entry: %w", err)
	}
	if dec.More() {
		return nil, errors.New("user entry: trailing data after the JSON object")
	}
	switch e.Type {
	case TypeCreate:
		if e.Code == "" {
			return nil, errors.New("create entry: no code")
		}
	case TypeCall:
		if _, err := ParseContractID(e.Contract); err != nil {
			return nil, fmt.Errorf("call entry: %w", err)
		}
		if e.Method == "" {
			return nil, errors.New("call entry: no method")
		}
		if len(e.Args) == 0 {
			e.Args = json.RawMessage("[]")
		}
		var args []json.RawMessage
		if err := json.Unmarshal(e.Args, &args); err != nil {
			return nil, fmt.Errorf("call entry: args must be a JSON array: %w", err)
		}
	case TypeAck:
		if err := e.checkAck(len(b)); err != nil {
			return nil, fmt.Errorf("ack entry: %w", err)
		}
	case TypeMove:
		if _, err := ParseContractID(e.Contract); err != nil {
			return nil, fmt.Errorf("move entry: %w", err)
		}
		if err := e.To.check(); err != nil {
			return nil, fmt.Errorf("move entry: %w", err)
		}
	case "":
		return nil, errors.New(`user entry: missing "type"`)
	default:
		return nil, fmt.Errorf("user entry: unknown type %q", e.Type)
	}
	return &e, nil
}

// MaxAckBytes bounds an ack entry. Every field of an ack has a fixed size
// (hashes, a signature, two numbers), so a well-formed ack is about 450
// bytes; the bound leaves room for whitespace and nothing else, so acks
// cannot be used to fill a host's disk.
const MaxAckBytes = 1 << 10

// AckSignatureHexLen is the length of an ack's head signature in hex: a
// contract's call log signs in manifest mode, whose stored signature is a
// single-signer multisig of hyperlog.MultiSigSize bytes.
const AckSignatureHexLen = 2 * hyperlog.MultiSigSize

// checkAck checks an ack entry of size bytes: it names a contract id, a
// head (length at least 1, a 64-character tree hash and a signature of
// AckSignatureHexLen characters, all lowercase hex) covering the
// acknowledged record seq, and the record's hash (64 lowercase hex
// characters), and carries no field of another entry type.
func (e *UserEntry) checkAck(size int) error {
	if size > MaxAckBytes {
		return fmt.Errorf("%d bytes exceeds %d", size, MaxAckBytes)
	}
	if _, err := ParseContractID(e.Contract); err != nil {
		return err
	}
	if e.Code != "" || e.Method != "" || len(e.Args) != 0 || e.To != nil {
		return errors.New("an ack carries only contract, seq, head and record_hash")
	}
	if e.Head == nil {
		return errors.New("no head")
	}
	if e.Head.Length == 0 {
		return errors.New("head of length 0 covers no record")
	}
	if e.Seq >= e.Head.Length {
		return fmt.Errorf("record %d is not covered by a head of length %d", e.Seq, e.Head.Length)
	}
	if !isHex(e.Head.TreeHash, 2*hyperlog.HashSize) {
		return fmt.Errorf("head tree_hash: want %d lowercase hex characters", 2*hyperlog.HashSize)
	}
	if !isHex(e.Head.Signature, AckSignatureHexLen) {
		return fmt.Errorf("head signature: want %d lowercase hex characters", AckSignatureHexLen)
	}
	if !isHex(e.RecordHash, 2*hyperlog.HashSize) {
		return fmt.Errorf("record_hash: want %d lowercase hex characters", 2*hyperlog.HashSize)
	}
	return nil
}

// isHex reports whether s is n lowercase hex characters.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Record is one entry of a contract's call log, written by the host: which
// user entry it serves, the inputs, and the outcome.
type Record struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	// User, UserIndex and UserEntry name the user log entry served: the
	// user's public key, the entry's index, and the BLAKE2b-256 of its bytes.
	User      string `json:"user"`
	UserIndex uint64 `json:"user_index"`
	UserEntry string `json:"user_entry"`
	// CodeHash is the SHA-256 of the contract's source (create).
	CodeHash string `json:"code_hash,omitempty"`
	// Method and Args repeat the call (call).
	Method string          `json:"method,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	// Time is the call's time in Unix milliseconds, as the host assigns it;
	// the contract sees it as the current time.
	Time int64 `json:"time"`
	// Outcome.
	Result json.RawMessage `json:"result,omitempty"`
	Error  *RecordError    `json:"error,omitempty"`
	Gas    uint64          `json:"gas"`
	// Writes are the state log entries the call appended: its changes to
	// the state archive and, when they changed, the new exports.
	Writes []json.RawMessage `json:"writes,omitempty"`
	// StateLength and StateRoot are the state log's length and tree hash
	// after the call.
	StateLength uint64 `json:"state_length"`
	StateRoot   string `json:"state_root"`
	// From and FromHead link a migrated contract to where it came from
	// (migrate): the old contract's id and the signed head of its call log
	// that this contract continues.
	From     string `json:"from,omitempty"`
	FromHead *Head  `json:"from_head,omitempty"`
	// HostKey and HostSig bind a migrated contract to the host that took
	// it over (migrate): the host's public key, which the old log's moved
	// record names, and its signature over MigrationLink.
	HostKey string `json:"host_key,omitempty"`
	HostSig string `json:"host_sig,omitempty"`
	// To is where the contract went (moved).
	To *MovedTo `json:"to,omitempty"`
	// Consensus is the state engine's consensus hash for this call.
	Consensus string `json:"consensus"`
	// State is the state engine's state commitment after this call (the
	// digest of an LtHash over the contract's stored keys and values): a
	// snapshot of the contract's state that hashes to it can be adopted
	// instead of replaying the calls before it. Records written before
	// hosts kept one have none.
	State string `json:"state,omitempty"`
}

// RecordError is a failed call's outcome.
type RecordError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EntryHash is the hash the logs use to refer to an entry: BLAKE2b-256 of
// its bytes, in hex.
func EntryHash(b []byte) string {
	h := blake2b.Sum256(b)
	return hex.EncodeToString(h[:])
}
