package host

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/engine"
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
}

type chainOp struct {
	id string
	in *input
}

// Info implements engine.Application.
func (c *ChainApp) Info() engine.Info {
	return engine.Info{Name: "contracts", Version: "1", FirstBlock: 0, MagicBytes: []byte(magic), Opcodes: []byte{opCreate, opCall}}
}

// Parse implements engine.Application.
func (c *ChainApp) Parse(b *engine.BlockContext, tx *tape.Tx, opcode byte, payload []byte) (any, error) {
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
		return &chainOp{id: tx.ID.String(), in: &input{Record: rec, Code: ci.Code}}, nil
	default:
		if ci.Contract == "" || ci.Method == "" {
			return nil, errors.New("call: contract and method are required")
		}
		if len(ci.Args) == 0 {
			ci.Args = json.RawMessage("[]")
		}
		rec.Type, rec.Method, rec.Args = TypeCall, ci.Method, ci.Args
		return &chainOp{id: ci.Contract, in: &input{Record: rec}}, nil
	}
}

// ScanBlock implements engine.Application: cached contract state is
// dropped at each block, so a discarded batch never leaks into the next.
func (c *ChainApp) ScanBlock(b *engine.BlockContext, ops []*engine.Op, st kv.Reader) error {
	for _, a := range c.apps {
		a.hot = nil
	}
	return nil
}

// Commit implements engine.Application: it executes the create or call
// on the contract's own part of the state.
func (c *ChainApp) Commit(b *engine.BlockContext, op *engine.Op, st kv.Txn) error {
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
	op.Data = out
	return nil
}

// Serialize implements engine.Application, as the host's contract engines
// do.
func (c *ChainApp) Serialize(op *engine.Op) ([]byte, error) { return (&app{}).Serialize(op) }

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
