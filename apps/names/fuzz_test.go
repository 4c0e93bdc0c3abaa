package names_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// FuzzParse feeds arbitrary payloads through the Parse hook and the
// decoder: they must never panic, must agree, must fail only with
// ErrMalformed, and every payload they accept must be the canonical
// encoding of what they decoded.
func FuzzParse(f *testing.F) {
	ch := vchash.ConsensusHash{1, 2, 3}
	for _, p := range [][]byte{
		must(names.PreorderPayload("alice.id", salt("s"), alice.script, ch)),
		must(names.RegisterPayload("alice.id", salt("s"), nil)),
		must(names.RegisterPayload("bob_2-x.app", salt("t"), value("v"))),
		must(names.UpdatePayload("alice.id", value("v"))),
		must(names.TransferPayload("alice.id", ch, true)),
		must(names.TransferPayload("alice.id", ch, false)),
		must(names.RevokePayload("alice.id")),
		must(names.RenewPayload("a.b")),
		[]byte("id:\xffalice.id"),
		[]byte("id>\x08alice.id0123456789abcdef\x07"),
		[]byte("id~\x00"),
		[]byte("id?"),
		[]byte("idQ"),
	} {
		f.Add(p[2], p[3:])
	}
	app := names.New(names.Options{})
	f.Fuzz(func(t *testing.T, opcode byte, payload []byte) {
		op, err := names.DecodePayload(opcode, payload)
		full := append([]byte(names.Magic+string(opcode)), payload...)
		tx := &tape.Tx{Payload: full, Senders: []tape.Sender{{Script: alice.script}}}
		_, perr := app.Parse(nil, tx, opcode, payload)
		if (err == nil) != (perr == nil) {
			t.Fatalf("DecodePayload: %v, Parse: %v", err, perr)
		}
		if err != nil {
			if !errors.Is(err, names.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if op.Opcode() != opcode {
			t.Fatalf("opcode %q, want %q", op.Opcode(), opcode)
		}
		enc, err := op.Encode()
		if err != nil {
			t.Fatalf("encode %#v: %v", op, err)
		}
		if !bytes.Equal(enc, full) {
			t.Fatalf("re-encoded %q, want %q", enc, full)
		}
		again, err := names.Decode(enc)
		if err != nil || !reflect.DeepEqual(again, op) {
			t.Fatalf("round trip: %#v, %v; want %#v", again, err, op)
		}
	})
}
