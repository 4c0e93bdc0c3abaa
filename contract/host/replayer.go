package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
)

// Replayer re-executes a contract's call log in memory with the same engine
// and runtime the host uses, checking every recorded outcome: what an
// auditor (or a new host taking a contract over) runs.
type Replayer struct {
	db  *store.DB
	eng *engine.Engine
	app *app
}

// NewReplayer returns an empty replayer.
func NewReplayer(limits contract.Limits) (*Replayer, error) {
	if limits == (contract.Limits{}) {
		limits = contract.DefaultLimits()
	}
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return nil, err
	}
	r := &Replayer{db: db, app: &app{programs: newProgramCache(), pool: contract.NewPool(), limits: limits, verify: true}}
	if r.eng, err = engine.Open(db, r.app, engine.Config{}); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// Close releases the replayer's memory.
func (r *Replayer) Close() error { return r.db.Close() }

// Apply replays the next record: code is the contract's source for a
// create or a migrate, history the old call log for a migrate and older,
// when the contract moved more than once, the logs history continues
// (newest first, back to the one that starts with the create). It returns
// a *Divergence when the record's outcome, state root or consensus hash is
// not what the call produces.
func (r *Replayer) Apply(rec *Record, code string, history [][]byte, older ...[][]byte) error {
	if want := uint64(r.eng.Height() + 1); rec.Seq != want {
		return fmt.Errorf("call log entry %d: expected seq %d next", rec.Seq, want)
	}
	r.app.outcomes = r.app.outcomes[:0]
	in := &input{Record: *rec, Code: code}
	for _, h := range history {
		in.History = append(in.History, h)
	}
	for _, o := range older {
		l := make([]json.RawMessage, len(o))
		for i, h := range o {
			l[i] = h
		}
		in.Older = append(in.Older, l)
	}
	err := r.eng.ApplyBlock(block(in), -1)
	if err != nil {
		return err
	}
	got, _ := r.eng.Consensus()
	if got.String() != rec.Consensus {
		return &Divergence{Seq: rec.Seq, Field: "consensus hash", Recorded: rec.Consensus, Computed: got.String()}
	}
	if rec.State != "" {
		br, err := r.eng.Record(r.eng.Height())
		if err != nil {
			return err
		}
		if br.State.String() != rec.State {
			return &Divergence{Seq: rec.Seq, Field: "state commitment", Recorded: rec.State, Computed: br.State.String()}
		}
	}
	return nil
}

// NewReplayerFrom returns a replayer that starts from a snapshot of a
// contract's state engine instead of the contract's first record: the
// snapshot's chunks, consensus hashes and state are checked against
// trust, which the caller takes from a signed call log record (its seq,
// consensus hash and state commitment). The next record it applies is
// trust.Height+1.
func NewReplayerFrom(ctx context.Context, limits contract.Limits, sf *snapshot.File, trust engine.Trust) (*Replayer, error) {
	if limits == (contract.Limits{}) {
		limits = contract.DefaultLimits()
	}
	if trust.State.IsZero() {
		return nil, errors.New("a contract snapshot is adopted against a record's state commitment, and none was given")
	}
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return nil, err
	}
	r := &Replayer{db: db, app: &app{programs: newProgramCache(), pool: contract.NewPool(), limits: limits, verify: true}}
	if _, err := snapshot.Load(ctx, sf, r.app, db, trust); err != nil {
		db.Close()
		return nil, err
	}
	if r.eng, err = engine.Open(db, r.app, engine.Config{}); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// Consensus returns the consensus hash of the newest replayed record.
func (r *Replayer) Consensus() string {
	ch, _ := r.eng.Consensus()
	return ch.String()
}
