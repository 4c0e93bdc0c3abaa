package host_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
)

// FuzzDecodeUserEntry: a user entry comes straight from a client. Any
// bytes either decode to an entry of a known type that satisfies its
// type's rules and survives a round trip unchanged, or are refused with
// an error; never a panic.
func FuzzDecodeUserEntry(f *testing.F) {
	id := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	sig := strings.Repeat("0a", host.AckSignatureHexLen/2)
	for _, s := range []string{
		`{"type":"create","code":"exports.f = () => 1"}`,
		`{"type":"call","contract":"` + id + `","method":"f","args":[1,"x",{"a":null}]}`,
		`{"type":"call","contract":"` + id + `","method":"f"}`,
		`{"type":"ack","contract":"` + id + `","seq":3,"head":{"length":4,"tree_hash":"` + id + `","signature":"` + sig + `"},"record_hash":"` + id + `"}`,
		`{"type":"ack","contract":"` + id + `","seq":3,"head":{"length":4,"tree_hash":"ab","signature":"cd"},"record_hash":"ef"}`,
		`{"type":"ack","contract":"` + id + `","seq":4,"head":{"length":4,"tree_hash":"` + id + `","signature":"` + sig + `"},"record_hash":"` + id + `"}`,
		`{"type":"move","contract":"` + id + `","to":{"host":"` + id + `","url":"http://127.0.0.1:1"}}`,
		`{"type":"call","contract":"zz","method":"f"}`,
		`{"type":"call","contract":"` + id + `","method":"f","args":{}}`,
		`{"type":"create","code":"x"} trailing`,
		`{"type":"nope"}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := host.DecodeUserEntry(b)
		if err != nil {
			if e != nil {
				t.Fatalf("an error (%v) with an entry", err)
			}
			return
		}
		switch e.Type {
		case host.TypeCreate:
			if e.Code == "" {
				t.Fatal("a create without code accepted")
			}
		case host.TypeCall, host.TypeAck, host.TypeMove:
			if _, err := host.ParseContractID(e.Contract); err != nil {
				t.Fatalf("a %s entry naming contract %q accepted", e.Type, e.Contract)
			}
			if e.Type == host.TypeCall {
				var args []json.RawMessage
				if e.Method == "" || json.Unmarshal(e.Args, &args) != nil {
					t.Fatalf("a call with method %q and args %s accepted", e.Method, e.Args)
				}
			}
			if e.Type == host.TypeAck {
				checkAck(t, len(b), e)
			}
		default:
			t.Fatalf("an entry of type %q accepted", e.Type)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("an accepted entry does not encode: %v", err)
		}
		e2, err := host.DecodeUserEntry(again)
		if err != nil {
			t.Fatalf("an accepted entry, encoded again (%s), is refused: %v", again, err)
		}
		if !reflect.DeepEqual(normal(e), normal(e2)) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, e2)
		}
	})
}

// checkAck fails unless an accepted ack of size bytes keeps the rules
// that bound it: at most MaxAckBytes, fixed-size lowercase hex fields, a
// head of length at least 1 covering the record, no other type's fields.
func checkAck(t *testing.T, size int, e *host.UserEntry) {
	t.Helper()
	hex := func(s string, n int) bool {
		return len(s) == n && strings.Trim(s, "0123456789abcdef") == ""
	}
	switch {
	case size > host.MaxAckBytes:
		t.Fatalf("an ack of %d bytes accepted", size)
	case e.Head == nil || e.Head.Length == 0 || e.Seq >= e.Head.Length:
		t.Fatalf("an ack of record %d under head %+v accepted", e.Seq, e.Head)
	case !hex(e.Head.TreeHash, 64) || !hex(e.RecordHash, 64) || !hex(e.Head.Signature, host.AckSignatureHexLen):
		t.Fatalf("an ack with tree hash %q, signature %q, record hash %q accepted", e.Head.TreeHash, e.Head.Signature, e.RecordHash)
	case e.Code != "" || e.Method != "" || len(e.Args) != 0 || e.To != nil:
		t.Fatalf("an ack carrying another type's fields accepted: %+v", e)
	}
}

// normal compacts an entry's raw JSON so that a round trip's whitespace
// does not count as a change.
func normal(e *host.UserEntry) host.UserEntry {
	c := *e
	if len(c.Args) > 0 {
		var v any
		if json.Unmarshal(c.Args, &v) == nil {
			c.Args, _ = json.Marshal(v)
		}
	}
	return c
}
