package namesim

import (
	"fmt"
	"math/rand/v2"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// BulkName is the i-th name Registrations registers.
func BulkName(i int) string { return fmt.Sprintf("n%08d.id", i) }

// Registrations returns a block maker that registers n names (BulkName 0
// to n-1), perBlock at a time: a block of preorders by the simulator's
// users in turn, then a block of their registers, each with a value hash;
// then empty blocks. It makes an empty block while fresh is zero (before
// the first block). A state of a given size, built the way users build
// it, for benchmarks and snapshot tests.
func (s *Sim) Registrations(n, perBlock int) func(r *rand.Rand, height int64, fresh vchash.ConsensusHash) []tape.Tx {
	next := 0
	var waiting []pending
	return func(r *rand.Rand, height int64, fresh vchash.ConsensusHash) []tape.Tx {
		if fresh.IsZero() {
			return nil // no block yet: preorders need a consensus hash
		}
		var txs []tape.Tx
		if len(waiting) > 0 {
			for _, p := range waiting {
				value := make([]byte, names.ValueHashLen)
				fill(r, value)
				tx := s.tx(r, p.user, p.user, mustPayload(names.RegisterPayload(p.name, p.salt[:], value)))
				tx.Index = len(txs)
				txs = append(txs, tx)
			}
			waiting = waiting[:0]
			return txs
		}
		for ; next < n && len(waiting) < perBlock; next++ {
			p := pending{user: next % len(s.users), name: BulkName(next), height: height}
			fill(r, p.salt[:])
			waiting = append(waiting, p)
			tx := s.tx(r, p.user, p.user, mustPayload(names.PreorderPayload(p.name, p.salt[:], s.users[p.user].Script, fresh)))
			tx.Index = len(txs)
			txs = append(txs, tx)
		}
		return txs
	}
}
