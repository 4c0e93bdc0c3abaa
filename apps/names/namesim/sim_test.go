package namesim_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/vchash"
)

func blocks(seed uint64, n int) [][]byte {
	s := namesim.NewSim(seed, 5)
	r := rand.New(rand.NewPCG(seed, 0))
	var out [][]byte
	for h := int64(1); h <= int64(n); h++ {
		for _, tx := range s.NextBlock(r, h, vchash.ConsensusHash{byte(h)}) {
			out = append(out, append(tx.ID[:], tx.Payload...))
		}
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, b := blocks(3, 100), blocks(3, 100)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different transactions")
	}
	if reflect.DeepEqual(a, blocks(4, 100)) {
		t.Fatal("different seeds, same transactions")
	}
}

func TestUsers(t *testing.T) {
	users := namesim.NewSim(9, 4).Users()
	if len(users) != 4 {
		t.Fatalf("%d users", len(users))
	}
	for i, u := range users {
		if len(u.Script) != 25 || !bytes.HasPrefix(u.Script, []byte{0x76, 0xa9, 0x14}) || u.Address == "" {
			t.Errorf("user %d: script %x, address %q", i, u.Script, u.Address)
		}
		for _, v := range users[:i] {
			if bytes.Equal(u.Script, v.Script) || u.Address == v.Address {
				t.Errorf("users collide: %+v %+v", u, v)
			}
		}
	}
	if !reflect.DeepEqual(users, namesim.NewSim(9, 4).Users()) {
		t.Fatal("users depend on more than the seed")
	}
}

// TestMix checks that the workload holds every kind of operation, some
// malformed payloads and some transactions for other applications.
func TestMix(t *testing.T) {
	s := namesim.NewSim(1, 6)
	r := rand.New(rand.NewPCG(1, 0))
	kinds := map[string]int{}
	for h := int64(1); h <= 300; h++ {
		for i, tx := range s.NextBlock(r, h, vchash.ConsensusHash{}) {
			if tx.Index != i {
				t.Fatalf("block %d: tx %d has index %d", h, i, tx.Index)
			}
			if len(tx.Payload) > names.MaxPayloadLen {
				t.Fatalf("payload of %d bytes", len(tx.Payload))
			}
			op, err := names.Decode(tx.Payload)
			switch {
			case err == nil:
				kinds[names.OpName(op.Opcode())]++
			case bytes.HasPrefix(tx.Payload, []byte(names.Magic)) && errors.Is(err, names.ErrMalformed):
				kinds["malformed"]++
			default:
				kinds["foreign"]++
			}
		}
	}
	for _, k := range []string{"preorder", "register", "update", "transfer", "revoke", "renew", "malformed", "foreign"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in 300 blocks: %v", k, kinds)
		}
	}
}
