package names_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

func TestInfo(t *testing.T) {
	app := names.New(names.Options{FirstBlock: 7, ValidWindow: 3})
	info := app.Info()
	if info.Name != "names" || string(info.MagicBytes) != "id" || string(info.Opcodes) != "?:+>~&" {
		t.Fatalf("info = %+v", info)
	}
	if info.FirstBlock != 7 || info.ValidWindow != 3 {
		t.Fatalf("info = %+v", info)
	}
	o := app.Options()
	if o.PreorderTTL != names.DefaultPreorderTTL || o.Lifetime != names.DefaultLifetime || o.GracePeriod != 0 {
		t.Fatalf("defaults not filled in: %+v", o)
	}
}

func TestPreorderRegisterLookup(t *testing.T) {
	h := newHarness(t, names.Options{})
	h.accepts(h.preorder(alice, "alice.id", "s"))
	reg := alice.tx(must(names.RegisterPayload("alice.id", salt("s"), value("v"))), alice)
	h.accepts(reg)
	at := h.tip()

	got := h.lookup("alice.id")
	want := names.Record{
		Name:         "alice.id",
		Owner:        alice.addr(),
		OwnerScript:  hex.EncodeToString(alice.script),
		Value:        hex.EncodeToString(value("v")),
		RegisteredAt: at,
		ExpiresAt:    at + names.DefaultLifetime,
		UpdatedAt:    at,
		LastTxID:     h.chain.Blocks()[h.chain.Len()-1].Txs[0].ID.String(),
	}
	if got != want {
		t.Fatalf("lookup:\n got %+v\nwant %+v", got, want)
	}
	// The preorder is used up.
	if _, err := h.state().Get([]byte("p/" + hexHash(names.PreorderHash("alice.id", salt("s"), alice.script)))); err == nil {
		t.Fatal("preorder still stored after register")
	}
	if _, err := names.Lookup(h.state(), "bob.id", h.next()); !errors.Is(err, names.ErrNameNotFound) {
		t.Fatalf("lookup of an unknown name: %v", err)
	}
	if r, _ := names.Lookup(h.state(), "alice.id", at+names.DefaultLifetime); !r.Expired {
		t.Fatal("not expired at ExpiresAt")
	}
}

func hexHash(h [20]byte) string { return hex.EncodeToString(h[:]) }

func TestList(t *testing.T) {
	h := newHarness(t, names.Options{Lifetime: 10})
	h.accepts(h.preorder(carol, "carol.id", "s"), h.preorder(alice, "zed.app", "s"), h.preorder(bob, "bob.id", "s"))
	h.accepts(register(carol, "carol.id", "s"), register(alice, "zed.app", "s"), register(bob, "bob.id", "s"))
	list, err := names.List(h.state(), h.next())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.Name)
		if r.Expired {
			t.Fatalf("%s expired", r.Name)
		}
	}
	if want := "[bob.id carol.id zed.app]"; sprint(got) != want {
		t.Fatalf("list = %v, want %s", got, want)
	}
	list, _ = names.List(h.state(), h.tip()+10)
	for _, r := range list {
		if !r.Expired {
			t.Fatalf("%s not expired 10 blocks later", r.Name)
		}
	}
}

// TestRules runs one block per case against a fresh chain and checks which
// transaction, if any, is rejected and why.
func TestRules(t *testing.T) {
	type tc struct {
		name  string
		opts  names.Options
		setup func(h *harness)
		txs   func(h *harness) []tape.Tx
		// reject is the index of the one rejected tx, or -1 when all are
		// accepted; stage and want describe the rejection.
		reject      int
		stage, want string
		check       func(t *testing.T, h *harness)
	}
	claimAlice := func(h *harness) { h.claim(alice, "alice.id") }
	one := func(tx func(h *harness) tape.Tx) func(h *harness) []tape.Tx {
		return func(h *harness) []tape.Tx { return []tape.Tx{tx(h)} }
	}
	var saved vchash.ConsensusHash
	cases := []tc{
		// preorder
		{name: "preorder with unknown consensus hash", reject: 0, stage: "check", want: "is not fresh",
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.PreorderPayload("alice.id", salt("s"), alice.script, vchash.ConsensusHash{1})))
			})},
		{name: "preorder with consensus hash older than the window", opts: names.Options{ValidWindow: 2}, reject: 0, stage: "check", want: "is not fresh",
			setup: func(h *harness) { saved = h.ch(); h.skip(2) },
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.PreorderPayload("alice.id", salt("s"), alice.script, saved)))
			})},
		{name: "preorder with consensus hash at the window's edge", opts: names.Options{ValidWindow: 2}, reject: -1,
			setup: func(h *harness) { saved = h.ch(); h.skip(1) },
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.PreorderPayload("alice.id", salt("s"), alice.script, saved)))
			})},
		{name: "duplicate pending preorder", reject: 0, stage: "check", want: "already pending",
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return h.preorder(alice, "alice.id", "s") })},
		{name: "duplicate preorder in one block", reject: 1, stage: "check", want: "already pending",
			txs: func(h *harness) []tape.Tx {
				return []tape.Tx{h.preorder(alice, "alice.id", "s"), h.preorder(alice, "alice.id", "s")}
			}},
		{name: "same preorder again after it expired", opts: names.Options{PreorderTTL: 3}, reject: -1,
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")); h.skip(3) },
			txs:   one(func(h *harness) tape.Tx { return h.preorder(alice, "alice.id", "s") })},

		// register
		{name: "register without preorder", reject: 0, stage: "check", want: "register alice.id: no matching preorder from this sender",
			txs: one(func(h *harness) tape.Tx { return register(alice, "alice.id", "s") })},
		{name: "register of someone else's preorder", reject: 0, stage: "check", want: "no matching preorder",
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(bob, "alice.id", "s") })},
		{name: "register with the wrong salt", reject: 0, stage: "check", want: "no matching preorder",
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(alice, "alice.id", "t") })},
		{name: "register of another name than preordered", reject: 0, stage: "check", want: "no matching preorder",
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(alice, "alice2.id", "s") })},
		{name: "register in the preorder's block", reject: 1, stage: "check", want: "preorder is in this block",
			txs: func(h *harness) []tape.Tx {
				return []tape.Tx{h.preorder(alice, "alice.id", "s"), register(alice, "alice.id", "s")}
			}},
		{name: "register on the last block of the preorder's TTL", opts: names.Options{PreorderTTL: 3}, reject: -1,
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")); h.skip(2) },
			txs:   one(func(h *harness) tape.Tx { return register(alice, "alice.id", "s") })},
		{name: "register after the preorder's TTL", opts: names.Options{PreorderTTL: 3}, reject: 0, stage: "check", want: "expired at block",
			setup: func(h *harness) { h.accepts(h.preorder(alice, "alice.id", "s")); h.skip(3) },
			txs:   one(func(h *harness) tape.Tx { return register(alice, "alice.id", "s") })},
		{name: "register of a taken name", reject: 0, stage: "check", want: "name is taken until",
			setup: func(h *harness) { claimAlice(h); h.accepts(h.preorder(bob, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(bob, "alice.id", "s") })},
		{name: "register of a revoked name", reject: 0, stage: "check", want: "name is taken until",
			setup: func(h *harness) {
				claimAlice(h)
				h.accepts(alice.tx(must(names.RevokePayload("alice.id"))))
				h.accepts(h.preorder(bob, "alice.id", "s"))
			},
			txs: one(func(h *harness) tape.Tx { return register(bob, "alice.id", "s") })},
		{name: "register for a recipient", reject: -1,
			setup: func(h *harness) { h.accepts(h.preorder(alice, "bob.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(alice, "bob.id", "s", bob) }),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("bob.id"); r.OwnerScript != hex.EncodeToString(bob.script) || r.Owner != bob.addr() {
					t.Fatalf("owner = %s %s, want bob", r.Owner, r.OwnerScript)
				}
			}},

		// update
		{name: "update by owner", reject: -1, setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("v")))) }),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("alice.id"); r.Value != hex.EncodeToString(value("v")) || r.UpdatedAt != h.tip() {
					t.Fatalf("record = %+v", r)
				}
			}},
		{name: "update by someone else", reject: 0, stage: "check", want: "update alice.id: sender does not own the name", setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return bob.tx(must(names.UpdatePayload("alice.id", value("v")))) })},
		{name: "update of an unregistered name", reject: 0, stage: "check", want: "name is not registered",
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("v")))) })},
		{name: "update of an expired name", opts: names.Options{Lifetime: 5}, reject: 0, stage: "check", want: "expired at block",
			setup: func(h *harness) { claimAlice(h); h.skip(4) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("v")))) })},
		{name: "update on the last block before expiry", opts: names.Options{Lifetime: 5}, reject: -1,
			setup: func(h *harness) { claimAlice(h); h.skip(3) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("v")))) })},
		{name: "update of a revoked name", reject: 0, stage: "check", want: "name is revoked",
			setup: func(h *harness) { claimAlice(h); h.accepts(alice.tx(must(names.RevokePayload("alice.id")))) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("v")))) })},

		// transfer
		{name: "transfer keeping the value", reject: -1,
			setup: func(h *harness) {
				claimAlice(h)
				h.accepts(alice.tx(must(names.UpdatePayload("alice.id", value("v")))))
			},
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.TransferPayload("alice.id", h.ch(), true)), bob)
			}),
			check: func(t *testing.T, h *harness) {
				r := h.lookup("alice.id")
				if r.OwnerScript != hex.EncodeToString(bob.script) || r.Owner != bob.addr() || r.Value != hex.EncodeToString(value("v")) {
					t.Fatalf("record = %+v", r)
				}
			}},
		{name: "transfer clearing the value", reject: -1,
			setup: func(h *harness) {
				claimAlice(h)
				h.accepts(alice.tx(must(names.UpdatePayload("alice.id", value("v")))))
			},
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.TransferPayload("alice.id", h.ch(), false)), bob)
			}),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("alice.id"); r.OwnerScript != hex.EncodeToString(bob.script) || r.Value != "" {
					t.Fatalf("record = %+v", r)
				}
			}},
		{name: "transfer with a stale consensus hash", opts: names.Options{ValidWindow: 2}, reject: 0, stage: "check", want: "transfer alice.id: consensus hash",
			setup: func(h *harness) { claimAlice(h); saved = h.ch(); h.skip(2) },
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.TransferPayload("alice.id", saved, false)), bob)
			})},
		{name: "transfer to the owner", reject: 0, stage: "check", want: "recipient already owns the name", setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.TransferPayload("alice.id", h.ch(), false))) })},
		{name: "transfer by someone else", reject: 0, stage: "check", want: "sender does not own the name", setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return bob.tx(must(names.TransferPayload("alice.id", h.ch(), false)), bob) })},
		{name: "transfer of a revoked name", reject: 0, stage: "check", want: "name is revoked",
			setup: func(h *harness) { claimAlice(h); h.accepts(alice.tx(must(names.RevokePayload("alice.id")))) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.TransferPayload("alice.id", h.ch(), false)), bob) })},
		{name: "transferred name obeys its new owner", reject: 0, stage: "check", want: "sender does not own",
			setup: func(h *harness) {
				claimAlice(h)
				h.accepts(alice.tx(must(names.TransferPayload("alice.id", h.ch(), false)), bob))
				h.accepts(bob.tx(must(names.UpdatePayload("alice.id", value("b")))))
			},
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.UpdatePayload("alice.id", value("a")))) })},

		// revoke
		{name: "revoke by owner", reject: -1,
			setup: func(h *harness) {
				claimAlice(h)
				h.accepts(alice.tx(must(names.UpdatePayload("alice.id", value("v")))))
			},
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.RevokePayload("alice.id"))) }),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("alice.id"); !r.Revoked || r.Value != "" || r.Expired {
					t.Fatalf("record = %+v", r)
				}
			}},
		{name: "revoke twice", reject: 0, stage: "check", want: "name is revoked",
			setup: func(h *harness) { claimAlice(h); h.accepts(alice.tx(must(names.RevokePayload("alice.id")))) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.RevokePayload("alice.id"))) })},
		{name: "revoke by someone else", reject: 0, stage: "check", want: "sender does not own", setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return bob.tx(must(names.RevokePayload("alice.id"))) })},

		// renew
		{name: "renew extends from the old expiry", opts: names.Options{Lifetime: 10}, reject: -1, setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return alice.tx(must(names.RenewPayload("alice.id"))) }),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("alice.id"); r.ExpiresAt != r.RegisteredAt+20 {
					t.Fatalf("record = %+v, want expiry %d", r, r.RegisteredAt+20)
				}
			}},
		{name: "renew after expiry without grace period", opts: names.Options{Lifetime: 5}, reject: 0, stage: "check", want: "grace period is over",
			setup: func(h *harness) { claimAlice(h); h.skip(4) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.RenewPayload("alice.id"))) })},
		{name: "renew in the grace period", opts: names.Options{Lifetime: 5, GracePeriod: 3}, reject: -1,
			setup: func(h *harness) { claimAlice(h); h.skip(6) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.RenewPayload("alice.id"))) }),
			check: func(t *testing.T, h *harness) {
				if r := h.lookup("alice.id"); r.ExpiresAt != h.tip()+5 || r.Expired {
					t.Fatalf("record = %+v, want expiry %d", r, h.tip()+5)
				}
			}},
		{name: "renew after the grace period", opts: names.Options{Lifetime: 5, GracePeriod: 3}, reject: 0, stage: "check", want: "grace period is over",
			setup: func(h *harness) { claimAlice(h); h.skip(7) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.RenewPayload("alice.id"))) })},
		{name: "register by someone else in the grace period", opts: names.Options{Lifetime: 5, GracePeriod: 3}, reject: 0, stage: "check", want: "name is taken until",
			setup: func(h *harness) { claimAlice(h); h.skip(4); h.accepts(h.preorder(bob, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(bob, "alice.id", "s") })},
		{name: "register by someone else after the grace period", opts: names.Options{Lifetime: 5, GracePeriod: 3}, reject: -1,
			setup: func(h *harness) { claimAlice(h); h.skip(6); h.accepts(h.preorder(bob, "alice.id", "s")) },
			txs:   one(func(h *harness) tape.Tx { return register(bob, "alice.id", "s") })},
		{name: "renew of a revoked name", reject: 0, stage: "check", want: "name is revoked",
			setup: func(h *harness) { claimAlice(h); h.accepts(alice.tx(must(names.RevokePayload("alice.id")))) },
			txs:   one(func(h *harness) tape.Tx { return alice.tx(must(names.RenewPayload("alice.id"))) })},
		{name: "renew by someone else", reject: 0, stage: "check", want: "sender does not own", setup: claimAlice,
			txs: one(func(h *harness) tape.Tx { return bob.tx(must(names.RenewPayload("alice.id"))) })},
		{name: "renew of an unregistered name", reject: 0, stage: "check", want: "not registered",
			txs: one(func(h *harness) tape.Tx { return bob.tx(must(names.RenewPayload("alice.id"))) })},

		// one operation per name per block
		{name: "second operation on a name in one block", reject: 1, stage: "check", want: "transfer alice.id: name already affected in this block (tx 0)", setup: claimAlice,
			txs: func(h *harness) []tape.Tx {
				return []tape.Tx{
					alice.tx(must(names.UpdatePayload("alice.id", value("v")))),
					alice.tx(must(names.TransferPayload("alice.id", h.ch(), true)), bob),
				}
			}},
		{name: "a rejected operation does not count", reject: 0, stage: "check", want: "sender does not own", setup: claimAlice,
			txs: func(h *harness) []tape.Tx {
				return []tape.Tx{
					bob.tx(must(names.UpdatePayload("alice.id", value("b")))),
					alice.tx(must(names.UpdatePayload("alice.id", value("a")))),
				}
			}},

		// parse
		{name: "no senders", reject: 0, stage: "parse", want: "no senders",
			txs: one(func(h *harness) tape.Tx {
				tx := alice.tx(must(names.RevokePayload("alice.id")))
				tx.Senders = nil
				return tx
			})},
		{name: "sender without script", reject: 0, stage: "parse", want: "sender has an empty script",
			txs: one(func(h *harness) tape.Tx {
				tx := alice.tx(must(names.RevokePayload("alice.id")))
				tx.Senders[0].Script = nil
				return tx
			})},
		{name: "recipient without script", reject: 0, stage: "parse", want: "recipient output has an empty script",
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.TransferPayload("alice.id", h.ch(), false)), user{name: "nobody"})
			})},
		{name: "update ignores output 1", reject: -1, setup: claimAlice,
			txs: one(func(h *harness) tape.Tx {
				return alice.tx(must(names.UpdatePayload("alice.id", value("v"))), user{name: "change"})
			})},
		{name: "malformed payload", reject: 0, stage: "parse", want: "malformed revoke payload",
			txs: one(func(h *harness) tape.Tx { return alice.tx([]byte("id~\x08alice.i")) })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.opts)
			if c.setup != nil {
				c.setup(h)
			}
			txs := c.txs(h)
			if c.reject < 0 {
				h.accepts(txs...)
			} else {
				h.rejects(c.reject, c.stage, c.want, txs...)
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

func TestForeignTransactionsAreNotCandidates(t *testing.T) {
	h := newHarness(t, names.Options{})
	res := h.apply(
		alice.tx(nil),
		alice.tx([]byte("id")),
		alice.tx([]byte("idX\x08alice.id")),
		alice.tx([]byte("xx~\x08alice.id")),
	)
	if res.Record.Candidates != 0 || len(res.Rejected) != 0 {
		t.Fatalf("candidates = %d, rejected: %s", res.Record.Candidates, rejections(res))
	}
}

// TestScanBlockTieBreak checks that when one block registers a name twice,
// the register whose preorder came first wins, wherever it is in the block.
func TestScanBlockTieBreak(t *testing.T) {
	t.Run("earlier block", func(t *testing.T) {
		h := newHarness(t, names.Options{})
		h.accepts(h.preorder(carol, "carol.id", "s"), h.preorder(bob, "alice.id", "b"))
		h.accepts(h.preorder(alice, "alice.id", "a"))
		// alice's register comes first in the block, but bob preordered
		// first.
		h.rejects(0, "scan", "register alice.id: tx 1 registers it too, with an earlier preorder (block 101, tx 1)",
			register(alice, "alice.id", "a"), register(bob, "alice.id", "b"))
		if r := h.lookup("alice.id"); r.OwnerScript != hex.EncodeToString(bob.script) {
			t.Fatalf("owner = %s, want bob", r.Owner)
		}
	})
	t.Run("same block, lower index", func(t *testing.T) {
		h := newHarness(t, names.Options{})
		h.accepts(h.preorder(alice, "alice.id", "a"), h.preorder(bob, "alice.id", "b"))
		h.rejects(0, "scan", "with an earlier preorder (block 101, tx 0)",
			register(bob, "alice.id", "b"), register(alice, "alice.id", "a"), h.preorder(carol, "carol.id", "c"))
		if r := h.lookup("alice.id"); r.OwnerScript != hex.EncodeToString(alice.script) {
			t.Fatalf("owner = %s, want alice", r.Owner)
		}
	})
	t.Run("a register without preorder does not compete", func(t *testing.T) {
		h := newHarness(t, names.Options{})
		h.accepts(h.preorder(bob, "alice.id", "b"))
		// carol's register has no preorder: Check rejects it for that,
		// and bob's is accepted.
		h.rejects(0, "check", "no matching preorder",
			register(carol, "alice.id", "c"), register(bob, "alice.id", "b"))
	})
	t.Run("winner still has to pass Check", func(t *testing.T) {
		h := newHarness(t, names.Options{})
		h.accepts(h.preorder(bob, "alice.id", "b"), h.preorder(alice, "alice.id", "a"))
		h.claim(carol, "alice.id")
		res := h.apply(register(alice, "alice.id", "a"), register(bob, "alice.id", "b"))
		if res.Record.Accepted != 0 || len(res.Rejected) != 2 {
			t.Fatalf("want both rejected, got %s", rejections(res))
		}
		if res.Rejected[0].Stage != "scan" || res.Rejected[1].Stage != "check" {
			t.Fatalf("rejections: %s", rejections(res))
		}
	})
}

// TestExpiryThenReRegistration lets alice's name expire and bob take it.
func TestExpiryThenReRegistration(t *testing.T) {
	h := newHarness(t, names.Options{Lifetime: 10})
	h.claim(alice, "alice.id")
	first := h.lookup("alice.id")
	for h.next() < first.ExpiresAt {
		if h.lookup("alice.id").Expired {
			t.Fatalf("expired at %d, before %d", h.next(), first.ExpiresAt)
		}
		h.apply()
	}
	if r := h.lookup("alice.id"); !r.Expired {
		t.Fatalf("not expired at %d: %+v", h.next(), r)
	}
	h.accepts(h.preorder(bob, "alice.id", "t"))
	h.accepts(bob.tx(must(names.RegisterPayload("alice.id", salt("t"), value("b")))))
	r := h.lookup("alice.id")
	if r.OwnerScript != hex.EncodeToString(bob.script) || r.Expired || r.Revoked || r.RegisteredAt != h.tip() || r.Value != hex.EncodeToString(value("b")) {
		t.Fatalf("after re-registration: %+v", r)
	}
	h.rejects(0, "check", "sender does not own", alice.tx(must(names.UpdatePayload("alice.id", value("a")))))
}

// TestRevokedNameCanBeReRegisteredAfterExpiry checks that revocation lasts
// until expiry only.
func TestRevokedNameCanBeReRegisteredAfterExpiry(t *testing.T) {
	h := newHarness(t, names.Options{Lifetime: 6})
	h.claim(alice, "alice.id")
	h.accepts(alice.tx(must(names.RevokePayload("alice.id"))))
	h.skip(5)
	h.accepts(h.preorder(alice, "alice.id", "again"))
	h.accepts(register(alice, "alice.id", "again"))
	if r := h.lookup("alice.id"); r.Revoked || r.Expired {
		t.Fatalf("after re-registration: %+v", r)
	}
	h.accepts(alice.tx(must(names.UpdatePayload("alice.id", value("v")))))
}

// TestUndo checks that the engine's undo restores the application's state.
func TestUndo(t *testing.T) {
	h := newHarness(t, names.Options{})
	h.accepts(h.preorder(alice, "alice.id", "s"))
	before := dump(t, h)
	h.accepts(register(alice, "alice.id", "s"))
	h.undo()
	if after := dump(t, h); after != before {
		t.Fatalf("state after undo:\n%s\nwant\n%s", after, before)
	}
	if _, err := names.Lookup(h.state(), "alice.id", h.next()); !errors.Is(err, names.ErrNameNotFound) {
		t.Fatalf("lookup after undo: %v", err)
	}
	// The preorder is back, so the register can be replayed.
	h.accepts(register(alice, "alice.id", "s"))
}

func TestContinueStopAt(t *testing.T) {
	app := names.New(names.Options{StopAt: 10})
	if err := app.Continue(9, vchash.ConsensusHash{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Continue(10, vchash.ConsensusHash{}); !errors.Is(err, engine.ErrStop) {
		t.Fatalf("continue at StopAt: %v", err)
	}
	if err := names.New(names.Options{}).Continue(1<<40, vchash.ConsensusHash{}); err != nil {
		t.Fatal(err)
	}
}

// recorder captures what Serialize returns for each accepted op.
type recorder struct {
	*names.App
	out []string
}

func (r *recorder) Serialize(op *engine.Op) ([]byte, error) {
	b, err := r.App.Serialize(op)
	r.out = append(r.out, string(b))
	return b, err
}

// TestSerialize pins the consensus fields of every operation.
func TestSerialize(t *testing.T) {
	rec := &recorder{App: names.New(names.Options{FirstBlock: firstBlock, Lifetime: 1000})}
	h := newHarnessApp(t, rec)
	h.apply()
	ch := h.ch()
	h.accepts(alice.tx(must(names.PreorderPayload("alice.id", salt("s"), alice.script, ch))))
	h.accepts(alice.tx(must(names.RegisterPayload("alice.id", salt("s"), value("v"))), alice))
	h.accepts(alice.tx(must(names.UpdatePayload("alice.id", value("w")))))
	h.accepts(alice.tx(must(names.TransferPayload("alice.id", ch, true)), bob))
	h.accepts(bob.tx(must(names.RenewPayload("alice.id"))))
	h.accepts(bob.tx(must(names.RevokePayload("alice.id"))))

	txid := func(height int64) string { return h.chain.Blocks()[height-firstBlock].Txs[0].ID.String() }
	as, bs := hex.EncodeToString(alice.script), hex.EncodeToString(bob.script)
	ph := names.PreorderHash("alice.id", salt("s"), alice.script)
	want := []string{
		"?:40:" + hex.EncodeToString(ph[:]) + ",32:" + ch.String() + ",50:" + as + ",10:alice-addr,64:" + txid(101) + ",1:0",
		"::8:alice.id,40:" + hex.EncodeToString(ph[:]) + ",50:" + as + ",10:alice-addr,50:" + as + ",10:alice-addr,40:" +
			hex.EncodeToString(value("v")) + ",4:1102,64:" + txid(102) + ",1:0",
		"+:8:alice.id,40:" + hex.EncodeToString(value("w")) + ",50:" + as + ",10:alice-addr,64:" + txid(103) + ",1:0",
		">:8:alice.id,32:" + ch.String() + ",4:True,50:" + as + ",10:alice-addr,50:" + bs + ",8:bob-addr,64:" + txid(104) + ",1:0",
		"&:8:alice.id,50:" + bs + ",8:bob-addr,4:2102,64:" + txid(105) + ",1:0",
		"~:8:alice.id,50:" + bs + ",8:bob-addr,64:" + txid(106) + ",1:0",
	}
	if len(rec.out) != len(want) {
		t.Fatalf("serialized %d ops, want %d: %q", len(rec.out), len(want), rec.out)
	}
	for i := range want {
		if rec.out[i] != want[i] {
			t.Errorf("op %d:\n got %s\nwant %s", i, rec.out[i], want[i])
		}
	}
}
