package names_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
)

// Example runs the names application on an in-memory chain: alice
// preorders alice.id, registers it a block later, and bob's attempt to
// register it without a preorder is rejected.
func Example() {
	ctx := context.Background()
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	app := names.New(names.Options{FirstBlock: 100})
	e, err := engine.Open(db, app, engine.Config{
		OnBlock: func(ev engine.BlockEvent) {
			for _, r := range ev.Rejected {
				fmt.Printf("block %d: rejected: %v\n", ev.Record.Height, r.Reason)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The tape: an in-memory chain starting at the application's first
	// block. Each call to mine adds a block and lets the engine catch up.
	chain := memtape.New(100)
	mine := func(txs ...tape.Tx) {
		chain.Append(txs)
		if err := e.Sync(ctx, chain); err != nil {
			log.Fatal(err)
		}
	}
	alice := tape.Sender{Script: []byte("\x76\xa9\x14alice-pubkey-hash...\x88\xac"), Address: "alice"}
	bob := tape.Sender{Script: []byte("\x76\xa9\x14bob-pubkey-hash.....\x88\xac"), Address: "bob"}
	tx := func(s tape.Sender, payload []byte, err error) tape.Tx {
		if err != nil {
			log.Fatal(err)
		}
		return tape.Tx{Payload: payload, Senders: []tape.Sender{s}}
	}

	// A first block gives the chain a consensus hash to preorder against.
	mine()
	ch, _ := e.Consensus()

	// Preorder: commit to hash160(name, salt, alice's script) without
	// revealing the name.
	salt := []byte("0123456789abcdef")
	p, err := names.PreorderPayload("alice.id", salt, alice.Script, ch)
	mine(tx(alice, p, err))

	// Register: reveal the name and salt in a later block. Bob, who saw
	// nothing to preorder, fails.
	p, err = names.RegisterPayload("alice.id", []byte("bob's salt......"), nil)
	bobs := tx(bob, p, err)
	p, err = names.RegisterPayload("alice.id", salt, nil)
	mine(bobs, tx(alice, p, err))

	rec, err := names.Lookup(e.State(), "alice.id", e.Height())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: owner %s, registered at %d, expires at %d\n", rec.Name, rec.Owner, rec.RegisteredAt, rec.ExpiresAt)
	// Output:
	// block 102: rejected: register alice.id: no matching preorder from this sender
	// alice.id: owner alice, registered at 102, expires at 52697
}
