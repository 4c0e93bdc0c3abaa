package names_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// history is the engine.History of a test: the records of applied blocks.
type history map[int64]engine.BlockRecord

func (h history) ConsensusAt(height int64) (vchash.ConsensusHash, bool) {
	r, ok := h[height]
	return r.Consensus, ok
}

// harness runs the application through a real engine.Processor over a
// kv.Mem, one block at a time.
type harness struct {
	t     testing.TB
	app   engine.Application
	proc  *engine.Processor
	store *kv.Mem
	hist  history
	chain *memtape.Chain
}

const firstBlock = 100

// newHarness returns a harness for the application with opts, with one
// empty block applied.
func newHarness(t testing.TB, opts names.Options) *harness {
	t.Helper()
	opts.FirstBlock = firstBlock
	h := newHarnessApp(t, names.New(opts))
	h.apply() // an empty first block, whose consensus hash the first ops carry
	return h
}

func newHarnessApp(t testing.TB, app engine.Application) *harness {
	t.Helper()
	h := &harness{t: t, app: app, store: kv.NewMem(), hist: history{}, chain: memtape.New(app.Info().FirstBlock)}
	p, err := engine.NewProcessor(app, h.hist, engine.ProcessorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h.proc = p
	return h
}

// next returns the height of the next block.
func (h *harness) next() int64 { return h.chain.Base() + int64(h.chain.Len()) }

// tip returns the height of the newest block.
func (h *harness) tip() int64 { return h.next() - 1 }

// ch returns the consensus hash of the newest block.
func (h *harness) ch() vchash.ConsensusHash {
	h.t.Helper()
	r, ok := h.hist[h.tip()]
	if !ok {
		h.t.Fatalf("no block applied yet")
	}
	return r.Consensus
}

// apply appends a block of txs and runs it through the processor.
func (h *harness) apply(txs ...tape.Tx) *engine.Result {
	h.t.Helper()
	b := h.chain.Append(txs)
	res, err := h.proc.Apply(b, h.store)
	if err != nil {
		h.t.Fatalf("apply block %d: %v", b.Height, err)
	}
	h.hist[b.Height] = res.Record
	if err := h.app.Continue(b.Height, res.Record.Consensus); err != nil {
		h.t.Fatalf("continue %d: %v", b.Height, err)
	}
	return res
}

// skip applies n empty blocks.
func (h *harness) skip(n int) {
	h.t.Helper()
	for range n {
		h.apply()
	}
}

// undo rolls back the newest block.
func (h *harness) undo() {
	h.t.Helper()
	blocks := h.chain.Blocks()
	b := blocks[len(blocks)-1]
	if err := h.proc.Undo(b.Height, b.Parent, h.store); err != nil {
		h.t.Fatalf("undo %d: %v", b.Height, err)
	}
	delete(h.hist, b.Height)
	h.chain.Rewind(1)
}

func (h *harness) state() kv.Reader { return engine.AppState(h.store) }

// lookup returns a name's record as of the next block.
func (h *harness) lookup(name string) names.Record {
	h.t.Helper()
	r, err := names.Lookup(h.state(), name, h.next())
	if err != nil {
		h.t.Fatalf("lookup %s: %v", name, err)
	}
	return r
}

// accepts applies a block and fails unless every transaction in it is
// accepted.
func (h *harness) accepts(txs ...tape.Tx) {
	h.t.Helper()
	res := h.apply(txs...)
	if len(res.Rejected) > 0 || int(res.Record.Accepted) != len(txs) {
		h.t.Fatalf("block %d: want all %d txs accepted, got %d; rejected: %s", res.Record.Height, len(txs), res.Record.Accepted, rejections(res))
	}
}

// rejects applies a block and fails unless the tx at index is rejected
// at stage with a reason containing want, and every other tx is accepted.
func (h *harness) rejects(index int, stage, want string, txs ...tape.Tx) {
	h.t.Helper()
	res := h.apply(txs...)
	if len(res.Rejected) != 1 || int(res.Record.Accepted) != len(txs)-1 {
		h.t.Fatalf("block %d: want only tx %d rejected, got %d accepted; rejected: %s", res.Record.Height, index, res.Record.Accepted, rejections(res))
	}
	r := res.Rejected[0]
	if r.TxIndex != index || r.Stage != stage || !strings.Contains(r.Reason.Error(), want) {
		h.t.Fatalf("block %d: want tx %d rejected at %s with %q, got %s", res.Record.Height, index, stage, want, rejections(res))
	}
}

func rejections(res *engine.Result) string {
	var b strings.Builder
	for _, r := range res.Rejected {
		fmt.Fprintf(&b, "[tx %d %s: %v] ", r.TxIndex, r.Stage, r.Reason)
	}
	return b.String()
}

// user is a test participant.
type user struct {
	name   string
	script []byte
}

func newUser(name string) user {
	h := vchash.Hash160([]byte(name))
	return user{name: name, script: append(append([]byte{0x76, 0xa9, 0x14}, h[:]...), 0x88, 0xac)}
}

var (
	alice = newUser("alice")
	bob   = newUser("bob")
	carol = newUser("carol")
)

func (u user) addr() string { return u.name + "-addr" }

// tx returns a transaction from u carrying payload; its output 1 goes to
// the recipient, when there is one.
func (u user) tx(payload []byte, to ...user) tape.Tx {
	tx := tape.Tx{
		Payload: payload,
		Senders: []tape.Sender{{Script: u.script, Address: u.addr()}},
		Outputs: []tape.Output{{Script: append([]byte{0x6a, byte(len(payload))}, payload...)}},
	}
	for _, r := range to {
		tx.Outputs = append(tx.Outputs, tape.Output{Script: r.script, Address: r.addr()})
	}
	return tx
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func salt(s string) []byte { return bytes.Repeat([]byte(s), names.SaltLen)[:names.SaltLen] }

func value(s string) []byte {
	return bytes.Repeat([]byte(s), names.ValueHashLen)[:names.ValueHashLen]
}

// preorder returns u's preorder of name with salt s against the newest
// consensus hash.
func (h *harness) preorder(u user, name, s string) tape.Tx {
	return u.tx(must(names.PreorderPayload(name, salt(s), u.script, h.ch())))
}

// register returns u's register of name with salt s, for the recipients.
func register(u user, name, s string, to ...user) tape.Tx {
	return u.tx(must(names.RegisterPayload(name, salt(s), nil)), to...)
}

// claim preorders and registers name for u in two blocks.
func (h *harness) claim(u user, name string) {
	h.t.Helper()
	h.accepts(h.preorder(u, name, "s"))
	h.accepts(register(u, name, "s"))
}

// dump renders the application's state, one key=value line per key.
func dump(t testing.TB, h *harness) string {
	t.Helper()
	var b strings.Builder
	err := h.state().Iterate(nil, func(k, v []byte) error {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sprint(v any) string { return fmt.Sprint(v) }
