package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// kvApp is a small key-value application used to test the engine: "vvs"
// sets key=value, "vvd" deletes a key (rejected when absent), "vvx" is
// rejected by ScanBlock when another op in the block touches the same key.
type kvApp struct {
	engine.Base
	first int64
}

func (a *kvApp) Info() engine.Info {
	return engine.Info{Name: "kvtest", FirstBlock: a.first, MagicBytes: []byte("vv"), Opcodes: []byte("sdx")}
}

type kvOp struct {
	key, value string
}

func (a *kvApp) Parse(_ *engine.BlockContext, _ *tape.Tx, opcode byte, payload []byte) (any, error) {
	k, v, ok := strings.Cut(string(payload), "=")
	if k == "" {
		return nil, errors.New("empty key")
	}
	if opcode == 'd' && ok {
		return nil, errors.New("delete takes no value")
	}
	return &kvOp{key: k, value: v}, nil
}

func (a *kvApp) ScanBlock(_ *engine.BlockContext, ops []*engine.Op, _ kv.Reader) error {
	seen := map[string]int{}
	for _, op := range ops {
		seen[op.Data.(*kvOp).key]++
	}
	for _, op := range ops {
		if op.Opcode == 'x' && seen[op.Data.(*kvOp).key] > 1 {
			op.Reject(errors.New("collides with another op on the same key"))
		}
	}
	return nil
}

func (a *kvApp) Check(_ *engine.BlockContext, op *engine.Op, _ []*engine.Op, st kv.Reader) error {
	if op.Opcode != 'd' {
		return nil
	}
	_, err := st.Get([]byte(op.Data.(*kvOp).key))
	if errors.Is(err, kv.ErrNotFound) {
		return engine.Reject("delete %s: no such key", op.Data.(*kvOp).key)
	}
	return err
}

func (a *kvApp) Commit(_ *engine.BlockContext, op *engine.Op, st kv.Txn) error {
	o := op.Data.(*kvOp)
	if op.Opcode == 'd' {
		return st.Delete([]byte(o.key))
	}
	return st.Set([]byte(o.key), []byte(o.value))
}

func (a *kvApp) Serialize(op *engine.Op) ([]byte, error) {
	o := op.Data.(*kvOp)
	return vchash.SerializeValues(op.Opcode, o.key, o.value, op.Tx.ID.String(), op.VTxIndex)
}

// randomTxs makes a block's transactions for kvApp, with some noise that
// is not for the app at all.
func randomTxs(r *rand.Rand, height int64) []tape.Tx {
	n := r.IntN(6)
	txs := make([]tape.Tx, 0, n)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k%d", r.IntN(12))
		var p string
		switch r.IntN(10) {
		case 0, 1, 2, 3:
			p = fmt.Sprintf("vvs%s=%d", key, r.IntN(1000))
		case 4, 5:
			p = "vvd" + key
		case 6:
			p = fmt.Sprintf("vvx%s=%d", key, height)
		case 7:
			p = "vvs" // malformed: no key
		case 8:
			p = "zz" + key // another app's magic
		default:
			p = "vvq" + key // unknown opcode
		}
		txs = append(txs, tape.Tx{Payload: []byte(p)})
	}
	return txs
}

// dump returns every key and value in a store, for exact comparisons.
func dump(r kv.Reader) string {
	var b bytes.Buffer
	r.Iterate(nil, func(k, v []byte) error {
		fmt.Fprintf(&b, "%q=%x\n", k, v)
		return nil
	})
	return b.String()
}
