package host

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
)

// ChainApp runs contracts replicated on an ordered chain of transactions
// (the DPoR chain) instead of one host's call logs: every node that syncs
// the chain computes the same contract states and consensus hashes.
//
// A transaction whose payload is "vc" 'c' {"code": SOURCE} creates a
// contract, whose id is the transaction's id; "vc" 'x' {"contract": ID,
// "method": NAME, "args": [...]} calls one. The caller is the sender's
// address, the call's time the block's, and each contract's state lives
// under its own prefix, run by the same code as the host's contract
// engines (state archive, state log roots, exports).
type ChainApp struct {
	engine.Base
	programs *programCache
	pool     *contract.Pool
	limits   contract.Limits
	apps     map[string]*app
}

// NewChainApp returns the application, with the given per-call limits.
func NewChainApp(limits contract.Limits) *ChainApp {
	return &ChainApp{programs: newProgramCache(), pool: contract.NewPool(), limits: limits, apps: map[string]*app{}}
}

// ChainMagic is the payload prefix of contract transactions.
const ChainMagic = magic

// CreatePayload is the payload that creates a contract.
func CreatePayload(code string) []byte {
	b, _ := json.Marshal(chainInput{Code: code})
	return append([]byte{magic[0], magic[1], opCreate}, b...)
}

// CallPayload is the payload that calls a contract's method with a JSON
// array of arguments.
func CallPayload(id, method string, args json.RawMessage) []byte {
	b, _ := json.Marshal(chainInput{Contract: id, Method: method, Args: args})
	return append([]byte{magic[0], magic[1], opCall}, b...)
}

type chainInput struct {
	Code     string          `json:"code,omitempty"`
	Contract string          `json:"contract,omitempty"`
	Method   string          `json:"method,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	// Participants is set by package private on what it opened: who the
	// envelope was sealed to.
	Participants []string `json:"participants,omitempty"`
}

// WithParticipants returns a create or call payload with the participants
// of the envelope it came in, for a participant's engine to check.
func WithParticipants(payload []byte, participants []string) ([]byte, error) {
	if len(payload) < 3 || string(payload[:2]) != magic {
		return nil, errors.New("not a contract payload")
	}
	var ci chainInput
	if err := json.Unmarshal(payload[3:], &ci); err != nil {
		return nil, err
	}
	ci.Participants = participants
	b, _ := json.Marshal(ci)
	return append(append([]byte(nil), payload[:3]...), b...), nil
}

type chainOp struct {
	id string
	in *input
}

// Info implements engine.Application.
func (c *ChainApp) Info() engine.Info {
	return engine.Info{Name: "contracts", Version: "1", FirstBlock: 0, MagicBytes: []byte(magic), Opcodes: []byte{opCreate, opCall, OpSealed, OpAttest}}
}

// Parse implements engine.Application.
func (c *ChainApp) Parse(b *engine.BlockContext, tx *tape.Tx, opcode byte, payload []byte) (any, error) {
	if opcode == OpSealed || opcode == OpAttest {
		return c.parsePrivate(tx, opcode, payload)
	}
	var ci chainInput
	if err := json.Unmarshal(payload, &ci); err != nil {
		return nil, fmt.Errorf("contract transaction: %w", err)
	}
	if len(tx.Senders) == 0 {
		return nil, errors.New("contract transaction without a sender")
	}
	rec := Record{User: tx.Senders[0].Address, UserEntry: tx.ID.String(), Time: b.Time * 1000}
	switch opcode {
	case opCreate:
		if ci.Code == "" {
			return nil, errors.New("create: no code")
		}
		rec.Type = TypeCreate
		return &chainOp{id: tx.ID.String(), in: &input{Record: rec, Code: ci.Code, participants: ci.Participants}}, nil
	default:
		if ci.Contract == "" || ci.Method == "" {
			return nil, errors.New("call: contract and method are required")
		}
		if len(ci.Args) == 0 {
			ci.Args = json.RawMessage("[]")
		}
		rec.Type, rec.Method, rec.Args = TypeCall, ci.Method, ci.Args
		return &chainOp{id: ci.Contract, in: &input{Record: rec, participants: ci.Participants}}, nil
	}
}

// ScanBlock implements engine.Application: cached contract state is
// dropped at each block, so a discarded batch never leaks into the next.
func (c *ChainApp) ScanBlock(b *engine.BlockContext, ops []*engine.Op, st kv.Reader) error {
	if len(c.apps) > maxChainApps {
		// Calls may name any id: the map holds only caches, so it is
		// bounded by dropping it.
		clear(c.apps)
	}
	for _, a := range c.apps {
		a.hot = nil
	}
	return nil
}

// maxChainApps bounds ChainApp's per-contract caches.
const maxChainApps = 1024

// Commit implements engine.Application: it executes the create or call
// on the contract's own part of the state.
func (c *ChainApp) Commit(b *engine.BlockContext, op *engine.Op, st kv.Txn) error {
	if po, ok := op.Data.(*privateOp); ok {
		return c.commitPrivate(b, op, po, st)
	}
	co := op.Data.(*chainOp)
	a := c.apps[co.id]
	if a == nil {
		a = &app{programs: c.programs, pool: c.pool, limits: c.limits}
		c.apps[co.id] = a
	}
	pst := kv.PrefixedTxn(st, []byte("c/"+co.id+"/"))
	var out *outcome
	var err error
	if co.in.Type == TypeCreate {
		out, err = a.create(co.in, pst)
	} else {
		out, err = a.call(co.in, pst)
	}
	if err != nil {
		return err
	}
	a.outcomes = nil
	out.contract = co.id
	op.Data = out
	return c.remember(b, op, co, out, st)
}

// ChainCall is what a contract transaction did, as a node following the
// chain keeps it: the call's record (outcome, gas, state log root) with
// where the transaction is.
type ChainCall struct {
	Tx       string `json:"tx"`
	Contract string `json:"contract"`
	Height   int64  `json:"height"`
	Index    int    `json:"index"`
	Record
}

// Keys of ChainApp's own records, beside the contracts' "c/<id>/" parts.
const (
	chainTxPrefix    = "t/" // t/<tx id> -> ChainCall JSON
	chainCallsPrefix = "h/" // h/<contract id>/<height><index> -> tx id
)

// remember stores what a contract transaction did, under its id and in
// its contract's call history.
func (c *ChainApp) remember(b *engine.BlockContext, op *engine.Op, co *chainOp, out *outcome, st kv.Txn) error {
	cc := ChainCall{Tx: op.Tx.ID.String(), Contract: co.id, Height: b.Height, Index: op.Tx.Index, Record: out.rec}
	raw, err := json.Marshal(&cc)
	if err != nil {
		return err
	}
	if err := st.Set([]byte(chainTxPrefix+cc.Tx), raw); err != nil {
		return err
	}
	if out.rec.Type == TypeCreate && out.rec.Error == nil || out.rec.Type == TypeCall && !(out.rec.Error != nil && out.rec.Error.Code == "NoContract") {
		return st.Set(chainCallKey(co.id, b.Height, op.Tx.Index), []byte(cc.Tx))
	}
	return nil
}

func chainCallKey(id string, height int64, index int) []byte {
	k := append([]byte(chainCallsPrefix+id+"/"), binary.BigEndian.AppendUint64(nil, uint64(height))...)
	return binary.BigEndian.AppendUint32(k, uint32(index))
}

// ChainCallOf returns what the contract transaction tx did, from a
// ChainApp's state; ok is false when no contract operation of tx was
// applied (not yet, or the transaction carried none).
func ChainCallOf(st kv.Reader, tx string) (cc *ChainCall, ok bool, err error) {
	raw, err := st.Get([]byte(chainTxPrefix + tx))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	cc = new(ChainCall)
	if err := json.Unmarshal(raw, cc); err != nil {
		return nil, false, fmt.Errorf("contract transaction %s: %w", tx, err)
	}
	return cc, true, nil
}

// ChainCalls returns up to max of a contract's creates and calls from the
// (from+1)-th on, oldest first, from a ChainApp's state.
func ChainCalls(st kv.Reader, id string, from, max int) ([]*ChainCall, error) {
	var txs []string
	i := 0
	errEnough := errors.New("enough")
	err := st.Iterate([]byte(chainCallsPrefix+id+"/"), func(_, v []byte) error {
		if i++; i <= from {
			return nil
		}
		txs = append(txs, string(v))
		if len(txs) >= max {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	out := make([]*ChainCall, 0, len(txs))
	for _, tx := range txs {
		cc, ok, err := ChainCallOf(st, tx)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cc)
		}
	}
	return out, nil
}

// ChainInfo describes a contract on the chain.
type ChainInfo struct {
	ID          string          `json:"id"`
	Creator     string          `json:"creator"`
	CodeHash    string          `json:"code_hash"`
	Methods     []string        `json:"methods"`
	Exports     json.RawMessage `json:"exports"`
	StateLength uint64          `json:"state_length"`
	StateRoot   string          `json:"state_root"`
}

// ChainContractInfo describes contract id from a ChainApp's state;
// kv.ErrNotFound when there is no such contract.
func ChainContractInfo(st kv.Reader, id string) (*ChainInfo, error) {
	p := kv.Prefixed(st, []byte("c/"+id+"/"))
	raw, err := p.Get(keyMeta)
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("contract %s: %w", id, err)
	}
	info := &ChainInfo{ID: id, Creator: m.Creator, CodeHash: m.CodeHash, Methods: m.Methods}
	if info.Exports, err = p.Get(keyExports); err != nil {
		return nil, err
	}
	roots, length, err := loadStateRoots(p)
	if err != nil {
		return nil, err
	}
	info.StateLength, info.StateRoot = length, hyperlog.TreeHash(roots).String()
	return info, nil
}

// ChainReadFile reads a file of contract id's state archive from a
// ChainApp's state: fs.ErrNotExist when there is none.
func ChainReadFile(st kv.Reader, id, path string) ([]byte, error) {
	if len(path) == 0 || path[0] != '/' {
		return nil, fmt.Errorf("path %q must be absolute", path)
	}
	return newArchive(kv.Prefixed(st, []byte("c/"+id+"/"))).ReadFile(path)
}

// Serialize implements engine.Application, as the host's contract engines
// do.
func (c *ChainApp) Serialize(op *engine.Op) ([]byte, error) {
	if po, ok := op.Data.(*privateOp); ok {
		return serializePrivate(op.Opcode, po)
	}
	return (&app{}).Serialize(op)
}

// ChainContract reads a contract's exports and description from a
// ChainApp's state.
func ChainContract(st kv.Reader, id string) (exports json.RawMessage, methods []string, err error) {
	p := kv.Prefixed(st, []byte("c/"+id+"/"))
	raw, err := p.Get(keyMeta)
	if err != nil {
		return nil, nil, fmt.Errorf("contract %s: %w", id, err)
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	ex, err := p.Get(keyExports)
	return ex, m.Methods, err
}

// OpSubject implements engine.EventNamer: a contract op's events name its
// contract.
func (c *ChainApp) OpSubject(op *engine.Op) (contract, name string) {
	switch d := op.Data.(type) {
	case *outcome:
		return d.contract, ""
	case *privateOp:
		return d.contract, ""
	}
	return "", ""
}
