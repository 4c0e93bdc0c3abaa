// Package passthrough is the application `vchain replay` runs: every
// transaction is an op, every op is accepted, and an op serializes to its
// payload unchanged. It keeps no state, so a replay's consensus hashes
// depend only on the serialized ops it is given: exactly what Virtualchain
// would compute for an application that committed those ops.
package passthrough

import (
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
)

// Name is the application name replay data directories carry.
const Name = "replay"

// App is the pass-through application.
type App struct {
	engine.Base
	first int64
}

// New returns a pass-through application whose first block is first.
func New(first int64) *App { return &App{first: first} }

// Info implements engine.Application.
func (a *App) Info() engine.Info {
	return engine.Info{Name: Name, Version: "1", FirstBlock: a.first, AllTransactions: true}
}

// Parse implements engine.Application: the op is the payload.
func (a *App) Parse(_ *engine.BlockContext, _ *tape.Tx, _ byte, payload []byte) (any, error) {
	return payload, nil
}

// Commit implements engine.Application; the pass-through app keeps no state.
func (a *App) Commit(*engine.BlockContext, *engine.Op, kv.Txn) error { return nil }

// Serialize implements engine.Application: the payload as given.
func (a *App) Serialize(op *engine.Op) ([]byte, error) { return op.Data.([]byte), nil }
