package names_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/vchash"
)

func TestValidateName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"alice.id", true},
		{"a.b", true},
		{"x_1-y.my-ns_2", true},
		{strings.Repeat("a", 34) + ".id", true}, // 37 bytes
		{strings.Repeat("a", 35) + ".id", false},
		{"", false},
		{"alice", false},
		{".id", false},
		{"alice.", false},
		{"alice.id.x", false},
		{"Alice.id", false},
		{"al ice.id", false},
		{"alice.i+d", false},
		{"alicé.id", false},
		{"alice\x00.id", false},
	} {
		err := names.ValidateName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, names.ErrBadName) {
			t.Errorf("ValidateName(%q) = %v, not ErrBadName", c.name, err)
		}
	}
}

func TestPreorderHash(t *testing.T) {
	script := []byte{0x76, 0xa9, 0x14, 1, 2, 3}
	got := names.PreorderHash("alice.id", salt("s"), script)
	want := vchash.Hash160([]byte("alice.id" + string(salt("s")) + string(script)))
	if got != want {
		t.Fatalf("PreorderHash = %x, want %x", got, want)
	}
	if names.PreorderHash("alice.id", salt("t"), script) == got || names.PreorderHash("alice.id", salt("s"), alice.script) == got {
		t.Fatal("salt or script does not change the hash")
	}
}

// TestBuilders checks the exact layouts and that Decode reads them back.
func TestBuilders(t *testing.T) {
	ch := vchash.ConsensusHash{0xc0, 0xc1, 15: 0xcf}
	ph := names.PreorderHash("alice.id", salt("s"), alice.script)
	cat := func(parts ...string) []byte { return []byte(strings.Join(parts, "")) }
	for _, c := range []struct {
		name    string
		payload []byte
		want    []byte
		op      names.Operation
	}{
		{"preorder", must(names.PreorderPayload("alice.id", salt("s"), alice.script, ch)),
			cat("id?", string(ph[:]), string(ch[:])),
			&names.Preorder{Hash: ph, Consensus: ch}},
		{"register", must(names.RegisterPayload("alice.id", salt("s"), nil)),
			cat("id:\x08alice.id", string(salt("s"))),
			&names.Register{Name: "alice.id", Salt: [16]byte(salt("s"))}},
		{"register with value", must(names.RegisterPayload("alice.id", salt("s"), value("v"))),
			cat("id:\x08alice.id", string(salt("s")), string(value("v"))),
			&names.Register{Name: "alice.id", Salt: [16]byte(salt("s")), Value: value("v")}},
		{"update", must(names.UpdatePayload("alice.id", value("v"))),
			cat("id+\x08alice.id", string(value("v"))),
			&names.Update{Name: "alice.id", Value: [20]byte(value("v"))}},
		{"transfer", must(names.TransferPayload("alice.id", ch, false)),
			cat("id>\x08alice.id", string(ch[:]), "\x00"),
			&names.Transfer{Name: "alice.id", Consensus: ch}},
		{"transfer keeping data", must(names.TransferPayload("alice.id", ch, true)),
			cat("id>\x08alice.id", string(ch[:]), "\x01"),
			&names.Transfer{Name: "alice.id", Consensus: ch, KeepData: true}},
		{"revoke", must(names.RevokePayload("alice.id")), cat("id~\x08alice.id"), &names.Revoke{Name: "alice.id"}},
		{"renew", must(names.RenewPayload("alice.id")), cat("id&\x08alice.id"), &names.Renew{Name: "alice.id"}},
	} {
		if !bytes.Equal(c.payload, c.want) {
			t.Errorf("%s: payload %q, want %q", c.name, c.payload, c.want)
		}
		op, err := names.Decode(c.payload)
		if err != nil {
			t.Errorf("%s: decode: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(op, c.op) {
			t.Errorf("%s: decoded %#v, want %#v", c.name, op, c.op)
		}
		if op.Opcode() != c.payload[2] {
			t.Errorf("%s: opcode %q, want %q", c.name, op.Opcode(), c.payload[2])
		}
	}
}

func TestLongestPayloadsFit(t *testing.T) {
	long := strings.Repeat("n", names.MaxNameLen-3) + ".id"
	for _, p := range [][]byte{
		must(names.RegisterPayload(long, salt("s"), value("v"))),
		must(names.UpdatePayload(long, value("v"))),
		must(names.TransferPayload(long, vchash.ConsensusHash{}, true)),
		must(names.RenewPayload(long)),
	} {
		if len(p) > names.MaxPayloadLen {
			t.Errorf("%q: %d bytes", p[:3], len(p))
		}
		if _, err := names.Decode(p); err != nil {
			t.Error(err)
		}
	}
	if p := must(names.RegisterPayload(long, salt("s"), value("v"))); len(p) != 77 {
		t.Errorf("longest register: %d bytes, want 77", len(p))
	}
}

func TestBuilderErrors(t *testing.T) {
	var ch vchash.ConsensusHash
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"preorder bad name", second(names.PreorderPayload("alice", salt("s"), alice.script, ch)), "invalid name"},
		{"preorder short salt", second(names.PreorderPayload("alice.id", []byte("s"), alice.script, ch)), "salt has 1 bytes"},
		{"preorder no script", second(names.PreorderPayload("alice.id", salt("s"), nil, ch)), "empty sender script"},
		{"register too long", second(names.RegisterPayload(strings.Repeat("a", 40)+".id", salt("s"), nil)), "at most 37 allowed"},
		{"register bad value", second(names.RegisterPayload("alice.id", salt("s"), []byte{1})), "value hash has 1 bytes"},
		{"register long salt", second(names.RegisterPayload("alice.id", make([]byte, 17), nil)), "salt has 17 bytes"},
		{"update no value", second(names.UpdatePayload("alice.id", nil)), "value hash has 0 bytes"},
		{"transfer bad name", second(names.TransferPayload("ALICE.id", ch, true)), "not allowed"},
		{"revoke bad name", second(names.RevokePayload("a..id")), "more than one dot"},
		{"renew empty", second(names.RenewPayload("")), "empty"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
}

func second(_ []byte, err error) error { return err }

func TestDecodeErrors(t *testing.T) {
	long := strings.Repeat("n", 34) + ".id"
	for _, c := range []struct {
		name    string
		payload string
		want    string
	}{
		{"no magic", "xx?", "does not start with"},
		{"magic only", "id", "does not start with"},
		{"unknown opcode", "id!abc", "unknown opcode"},
		{"too long", "id~" + strings.Repeat("a", 78), "at most 80 allowed"},
		{"preorder short", "id?" + strings.Repeat("a", 35), "35 bytes, want 36"},
		{"preorder long", "id?" + strings.Repeat("a", 37), "37 bytes, want 36"},
		{"register empty", "id:", "empty, want a name"},
		{"register name overruns", "id:\x09alice.id", "name length 9, but only 8 bytes follow"},
		{"register zero-length name", "id:\x00" + string(salt("s")), "empty"},
		{"register bad name", "id:\x08Alice.id" + string(salt("s")), "not allowed"},
		{"register no salt", "id:\x08alice.id", "0 bytes after the name"},
		{"register odd tail", "id:\x08alice.id" + string(salt("s")) + "x", "17 bytes after the name"},
		{"register name too long", "id:\x26" + long + "n" + string(salt("s")), "at most 37 allowed"},
		{"update short value", "id+\x08alice.id" + strings.Repeat("v", 19), "19 bytes after the name"},
		{"transfer bad keep byte", "id>\x08alice.id" + strings.Repeat("c", 16) + "\x02", "keep byte is 2"},
		{"transfer no keep byte", "id>\x08alice.id" + strings.Repeat("c", 16), "16 bytes after the name"},
		{"revoke trailing", "id~\x08alice.idx", "1 bytes after the name, want none"},
		{"renew trailing", "id&\x08alice.id\x00", "1 bytes after the name, want none"},
	} {
		_, err := names.Decode([]byte(c.payload))
		if err == nil || !errors.Is(err, names.ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrMalformed with %q", c.name, err, c.want)
		}
	}
}

func TestOpName(t *testing.T) {
	for op, want := range map[byte]string{'?': "preorder", ':': "register", '+': "update", '>': "transfer", '~': "revoke", '&': "renew", '!': `opcode '!'`} {
		if got := names.OpName(op); got != want {
			t.Errorf("OpName(%q) = %q, want %q", op, got, want)
		}
	}
}
