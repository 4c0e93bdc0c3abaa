package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// tally is a minimal application: payloads "tx+<name>" add one vote for
// name. It shows every hook an Application has.
type tally struct{}

func (tally) Info() engine.Info {
	return engine.Info{Name: "tally", Version: "1", FirstBlock: 0, MagicBytes: []byte("tx"), Opcodes: []byte("+")}
}

// Parse decodes a candidate's payload (after magic and opcode).
func (tally) Parse(_ *engine.BlockContext, _ *tape.Tx, _ byte, payload []byte) (any, error) {
	if len(payload) == 0 {
		return nil, errors.New("no name")
	}
	return string(payload), nil
}

// ScanBlock sees the whole block first: here, a block may vote for a name
// only once; later votes are rejected.
func (tally) ScanBlock(_ *engine.BlockContext, ops []*engine.Op, _ kv.Reader) error {
	seen := map[string]bool{}
	for _, op := range ops {
		if name := op.Data.(string); seen[name] {
			op.Reject(fmt.Errorf("second vote for %s in one block", name))
		} else {
			seen[name] = true
		}
	}
	return nil
}

// Check votes to commit: names longer than 8 bytes are refused.
func (tally) Check(_ *engine.BlockContext, op *engine.Op, _ []*engine.Op, _ kv.Reader) error {
	if len(op.Data.(string)) > 8 {
		return engine.Reject("name %q too long", op.Data)
	}
	return nil
}

// Commit is the state transition, through the engine's transactional view.
func (tally) Commit(_ *engine.BlockContext, op *engine.Op, st kv.Txn) error {
	key := []byte(op.Data.(string))
	n := 0
	if v, err := st.Get(key); err == nil {
		n, _ = strconv.Atoi(string(v))
	} else if !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return st.Set(key, []byte(strconv.Itoa(n+1)))
}

// Serialize gives the op's canonical bytes for the ops hash, as
// Virtualchain's serialize_op would.
func (tally) Serialize(op *engine.Op) ([]byte, error) {
	return vchash.SerializeValues(op.Opcode, op.Data, op.VTxIndex)
}

// Continue runs after each block is saved.
func (tally) Continue(int64, vchash.ConsensusHash) error { return nil }

// Example runs an application over an in-memory chain that forks, and reads
// its state and consensus hashes.
func Example() {
	chain := memtape.New(0)
	vote := func(names ...string) []tape.Tx {
		var txs []tape.Tx
		for _, n := range names {
			txs = append(txs, tape.Tx{Payload: []byte("tx+" + n)})
		}
		return txs
	}
	chain.Append(vote("alice", "bob", "alice")) // the second alice vote is rejected
	chain.Append(vote("bob", "mallory-the-great"))

	db, _ := store.Open("", store.Options{InMemory: true})
	defer db.Close()
	eng, err := engine.Open(db, tally{}, engine.Config{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := eng.Sync(ctx, chain); err != nil {
		panic(err)
	}
	show := func() {
		for _, name := range []string{"alice", "bob"} {
			v, _ := eng.State().Get([]byte(name))
			fmt.Printf("%s=%s ", name, v)
		}
		ch, _ := eng.Consensus()
		fmt.Printf("height=%d consensus=%s\n", eng.Height(), ch)
	}
	show()

	// The chain reorganizes: block 1 is replaced by a branch of two blocks.
	chain.Rewind(1)
	chain.Append(vote("alice"))
	chain.Append(vote("carol"))
	if err := eng.Sync(ctx, chain); err != nil {
		panic(err)
	}
	show()
	// Output:
	// alice=1 bob=2 height=1 consensus=c36e0d4fc7866466876369693443fbf1
	// alice=2 bob=1 height=2 consensus=8417975a2ecce2ba8e07b76ae38f6f6b
}
