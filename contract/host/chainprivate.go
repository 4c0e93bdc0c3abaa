package host

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/edkey"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// Private contracts on a chain. A private contract's creates and calls
// travel sealed: the transaction's payload is "vc" 's' and an Envelope,
// whose Sealed bytes only the participants can open (package
// contract/private seals and opens them, and runs the contract in each
// participant's own engine). What a ChainApp, which every node runs, keeps
// of them is what everyone may audit:
//
//   - the order of the sealed calls, each with its sender and the
//     participants it was sealed to;
//   - attestations ("vc" 'a'): after each call, every participant posts
//     the contract's state root and length as its own engine computed
//     them. Participants whose engines agree post the same root; one whose
//     private state diverged, or who lies, stands out (private.Audit).
//
// The sealed bytes themselves are not stored by the ChainApp (the chain's
// blocks hold them, as ciphertext).

// Opcodes of the private contract payloads.
const (
	OpSealed = 's'
	OpAttest = 'a'
)

// MaxParticipants bounds a private contract's participants.
const MaxParticipants = 16

// Envelope is a sealed create or call of a private contract.
type Envelope struct {
	// Contract is the private contract called; empty for a create (the
	// contract's id is then the creating transaction's id).
	Contract string `json:"contract,omitempty"`
	// Participants are the Ed25519 public keys (hex) the payload is
	// sealed to: a private contract's participants.
	Participants []string `json:"participants"`
	// Sealed is the inner payload (CreatePayload or CallPayload),
	// encrypted to the participants.
	Sealed []byte `json:"sealed"`
}

// Attestation is a participant's account of a private contract's state
// after one of its calls.
type Attestation struct {
	Contract string `json:"contract"`
	// Tx is the sealed create or call after which the state is reported.
	Tx     string `json:"tx"`
	Root   string `json:"root"`
	Length uint64 `json:"length"`
}

// SealedPayload is the chain payload of an envelope.
func SealedPayload(e *Envelope) []byte {
	b, _ := json.Marshal(e)
	return append([]byte{magic[0], magic[1], OpSealed}, b...)
}

// AttestPayload is the chain payload of an attestation.
func AttestPayload(a *Attestation) []byte {
	b, _ := json.Marshal(a)
	return append([]byte{magic[0], magic[1], OpAttest}, b...)
}

// ParseEnvelope decodes and checks an envelope (without the payload
// prefix): participants are 1 to MaxParticipants distinct, valid Ed25519
// keys, the contract (when set) is an id, and there is something sealed.
func ParseEnvelope(payload []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("sealed payload: %w", err)
	}
	if n := len(e.Participants); n == 0 || n > MaxParticipants {
		return nil, fmt.Errorf("sealed payload: %d participants, want 1 to %d", n, MaxParticipants)
	}
	for i, p := range e.Participants {
		k, err := hex.DecodeString(p)
		if err != nil || len(k) != 32 || p != hex.EncodeToString(k) {
			return nil, fmt.Errorf("sealed payload: participant %d: want 64 lowercase hex digits of an Ed25519 public key", i)
		}
		if err := edkey.Check(k); err != nil {
			return nil, fmt.Errorf("sealed payload: participant %d: %w", i, err)
		}
		if slices.Contains(e.Participants[:i], p) {
			return nil, fmt.Errorf("sealed payload: participant %s is listed twice", p)
		}
	}
	if e.Contract != "" && !validID(e.Contract) {
		return nil, fmt.Errorf("sealed payload: contract %q is not an id", e.Contract)
	}
	if len(e.Sealed) == 0 {
		return nil, errors.New("sealed payload: nothing sealed")
	}
	return &e, nil
}

func validID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && s == hex.EncodeToString(b)
}

// privateOp is a parsed sealed call or attestation.
type privateOp struct {
	env    *Envelope
	att    *Attestation
	sender string // the sender's public key, hex
	// Filled by Commit.
	contract string
	note     string // why a participant's op was not counted, if it was not
}

func (c *ChainApp) parsePrivate(tx *tape.Tx, opcode byte, payload []byte) (any, error) {
	if len(tx.Senders) == 0 || len(tx.Senders[0].PubKey) != 32 {
		return nil, errors.New("private contract transaction without a sender's public key")
	}
	op := &privateOp{sender: hex.EncodeToString(tx.Senders[0].PubKey)}
	if opcode == OpSealed {
		e, err := ParseEnvelope(payload)
		if err != nil {
			return nil, err
		}
		op.env = e
		return op, nil
	}
	var a Attestation
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	if !validID(a.Contract) || !validID(a.Tx) || !validID(a.Root) {
		return nil, errors.New("attestation: contract, tx and root must be 64 lowercase hex digits")
	}
	op.att = &a
	return op, nil
}

// PrivateContract is what the chain shows of a private contract.
type PrivateContract struct {
	ID           string        `json:"id"`
	Creator      string        `json:"creator"`
	Participants []string      `json:"participants"`
	Calls        []PrivateCall `json:"calls"`
}

// PrivateCall is one sealed create or call of a private contract, with the
// attestations posted after it, by participant.
type PrivateCall struct {
	Tx           string                   `json:"tx"`
	Height       int64                    `json:"height"`
	Index        int                      `json:"index"`
	Sender       string                   `json:"sender"`
	Participants []string                 `json:"participants"`
	Attested     map[string]AttestedState `json:"attested,omitempty"`
	// Notes say what is wrong with the call as the chain sees it (a
	// sender who is not a participant, other participants).
	Notes []string `json:"notes,omitempty"`
}

// AttestedState is a participant's report of the state after a call.
type AttestedState struct {
	Root   string `json:"root"`
	Length uint64 `json:"length"`
	Height int64  `json:"height"`
}

// Keys of the private records: p/<id>/m (the contract), p/<id>/c/<height
// index> (a call), p/<id>/a/<tx>/<participant> (an attestation).
func privMetaKey(id string) []byte { return []byte("p/" + id + "/m") }
func privCallKey(id string, h int64, i int) []byte {
	k := binary.BigEndian.AppendUint64([]byte("p/"+id+"/c/"), uint64(h))
	return binary.BigEndian.AppendUint32(k, uint32(i))
}
func privAttKey(id, tx, who string) []byte { return []byte("p/" + id + "/a/" + tx + "/" + who) }

func (c *ChainApp) commitPrivate(b *engine.BlockContext, op *engine.Op, po *privateOp, st kv.Txn) error {
	txid := op.Tx.ID.String()
	if po.env != nil {
		id := po.env.Contract
		if id == "" {
			id = txid
			meta, _ := json.Marshal(PrivateContract{ID: id, Creator: po.sender, Participants: po.env.Participants})
			if err := st.Set(privMetaKey(id), meta); err != nil {
				return err
			}
		}
		po.contract = id
		pc, err := readPrivateMeta(st, id)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			po.note = "no such private contract"
			return nil
		case err != nil:
			return err
		}
		call := PrivateCall{Tx: txid, Height: b.Height, Index: op.Tx.Index, Sender: po.sender, Participants: po.env.Participants}
		if !slices.Contains(pc.Participants, po.sender) {
			call.Notes = append(call.Notes, "the sender is not a participant")
		}
		if !slices.Equal(sorted(pc.Participants), sorted(po.env.Participants)) {
			call.Notes = append(call.Notes, "sealed to other participants than the contract's")
		}
		raw, _ := json.Marshal(call)
		return st.Set(privCallKey(id, b.Height, op.Tx.Index), raw)
	}
	a := po.att
	po.contract = a.Contract
	pc, err := readPrivateMeta(st, a.Contract)
	if errors.Is(err, kv.ErrNotFound) {
		po.note = "no such private contract"
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(pc.Participants, po.sender) {
		po.note = "not a participant"
		return nil
	}
	if _, err := st.Get(privAttKey(a.Contract, a.Tx, po.sender)); err == nil {
		po.note = "already attested"
		return nil // the first attestation of a call stands
	}
	raw, _ := json.Marshal(AttestedState{Root: a.Root, Length: a.Length, Height: b.Height})
	return st.Set(privAttKey(a.Contract, a.Tx, po.sender), raw)
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func readPrivateMeta(r kv.Reader, id string) (*PrivateContract, error) {
	raw, err := r.Get(privMetaKey(id))
	if err != nil {
		return nil, err
	}
	var pc PrivateContract
	if err := json.Unmarshal(raw, &pc); err != nil {
		return nil, fmt.Errorf("private contract %s: %w", id, err)
	}
	return &pc, nil
}

func serializePrivate(opcode byte, po *privateOp) ([]byte, error) {
	if po.env != nil {
		return vchash.SerializeValues(opcode, po.contract, po.sender, fmt.Sprint(po.env.Participants), len(po.env.Sealed), po.note)
	}
	a := po.att
	return vchash.SerializeValues(opcode, a.Contract, a.Tx, a.Root, a.Length, po.sender, po.note)
}

// ChainPrivateContract reads what the chain shows of private contract id
// from a ChainApp's state: its participants and every sealed call with
// the attestations after it. kv.ErrNotFound when there is none.
func ChainPrivateContract(st kv.Reader, id string) (*PrivateContract, error) {
	pc, err := readPrivateMeta(st, id)
	if err != nil {
		return nil, err
	}
	pc.Calls = []PrivateCall{}
	err = st.Iterate([]byte("p/"+id+"/c/"), func(_, v []byte) error {
		var call PrivateCall
		if err := json.Unmarshal(v, &call); err != nil {
			return err
		}
		pc.Calls = append(pc.Calls, call)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range pc.Calls {
		call := &pc.Calls[i]
		prefix := "p/" + id + "/a/" + call.Tx + "/"
		err := st.Iterate([]byte(prefix), func(k, v []byte) error {
			var a AttestedState
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if call.Attested == nil {
				call.Attested = map[string]AttestedState{}
			}
			call.Attested[string(k[len(prefix):])] = a
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return pc, nil
}

// OpCreate and OpCall are the opcodes of CreatePayload and CallPayload.
const (
	OpCreate = opCreate
	OpCall   = opCall
)

// CallTarget returns the contract a CallPayload names, or "" when payload
// is not a call.
func CallTarget(payload []byte) string {
	if len(payload) < 3 || string(payload[:2]) != magic || payload[2] != opCall {
		return ""
	}
	var ci chainInput
	if json.Unmarshal(payload[3:], &ci) != nil {
		return ""
	}
	return ci.Contract
}
