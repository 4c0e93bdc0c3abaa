package btcrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func hexCalls(id uint64) bool { return id != 99 }

func TestParseOne(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		fast      bool   // the fast path reads it
		value     string // the value, as a Go string
		wantErr   string // a part of the response's or the parse's error
	}{
		{name: "btcd", msg: `{"jsonrpc":"1.0","result":"00ff","error":null,"id":7}`, fast: true, value: "\x00\xff"},
		{name: "bitcoind", msg: `{"result":"00ff","error":null,"id":7}`, fast: true, value: "\x00\xff"},
		{name: "json-rpc 2.0", msg: `{"jsonrpc":"2.0","result":"00ff","id":7}`, fast: true, value: "\x00\xff"},
		{name: "upper-case hex", msg: `{"result":"00FF","error":null,"id":7}`, fast: true, value: "\x00\xff"},
		{name: "empty result", msg: `{"result":"","error":null,"id":7}`, fast: true, value: ""},
		{name: "trailing newline", msg: "{\"result\":\"00\",\"error\":null,\"id\":7}\n", fast: true, value: "\x00"},
		{name: "escaped hex", msg: `{"result":"\u0030\u0030","error":null,"id":7}`, value: "\x00"},
		{name: "other field order", msg: `{"id":7,"error":null,"result":"00ff"}`, value: "\x00\xff"},
		{name: "spaces", msg: `{ "result": "00ff", "error": null, "id": 7 }`, value: "\x00\xff"},
		{name: "node error", msg: `{"result":null,"error":{"code":-8,"message":"Block number out of range"},"id":7}`, wantErr: "-8: Block number out of range"},
		{name: "not hex", msg: `{"result":"zz","error":null,"id":7}`, wantErr: "not a hex string"},
		{name: "odd hex", msg: `{"result":"abc","error":null,"id":7}`, wantErr: "not a hex string"},
		{name: "number for a hex call", msg: `{"result":12,"error":null,"id":7}`, wantErr: "not a hex string"},
		{name: "raw call", msg: `{"result":{"a":1},"error":null,"id":99}`, value: `{"a":1}`},
		{name: "raw call with a string", msg: `{"result":"00ff","error":null,"id":99}`, fast: true, value: `"00ff"`},
		{name: "no id", msg: `{"result":"00","error":null}`, wantErr: "no numeric id"},
		{name: "error without id", msg: `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`, wantErr: "Parse error"},
		{name: "leading zero id", msg: `{"result":"00","error":null,"id":07}`, wantErr: "malformed"},
		{name: "truncated", msg: `{"result":"00ff","error":nu`, wantErr: "malformed"},
		{name: "not json", msg: `<html>`, wantErr: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, fast := parseFast([]byte(tc.msg))
			if fast != tc.fast {
				t.Errorf("fast path: %v, want %v", fast, tc.fast)
			}
			r, err := parseOne([]byte(tc.msg), hexCalls)
			if err == nil {
				err = r.err
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.id != 7 && r.id != 99 || string(r.value) != tc.value {
				t.Fatalf("id %d value %q, want %q", r.id, r.value, tc.value)
			}
		})
	}
}

func TestParseOneNodeErrorIsAnRPCError(t *testing.T) {
	r, err := parseOne([]byte(`{"result":null,"error":{"code":-5,"message":"No information available about transaction"},"id":3}`), hexCalls)
	var re *RPCError
	if err != nil || !errors.As(r.err, &re) || re.Code != -5 {
		t.Fatalf("%v %v", err, r.err)
	}
}

func TestParseBatch(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // values by position, "!" for an error
		wantErr    string
	}{
		{name: "fast", body: `[{"result":"01","error":null,"id":1},{"result":"02","error":null,"id":2}]`, want: []string{"\x01", "\x02"}},
		{name: "with newline", body: "[{\"result\":\"01\",\"error\":null,\"id\":1}]\n", want: []string{"\x01"}},
		{name: "mixed", body: `[{"result":"01","error":null,"id":1},{"result":null,"error":{"code":-8,"message":"out of range"},"id":2}]`, want: []string{"\x01", "!"}},
		{name: "spaced", body: `[ {"result":"01","error":null,"id":1} , {"result":"02","error":null,"id":2} ]`, want: []string{"\x01", "\x02"}},
		{name: "empty", body: `[]`, want: nil},
		{name: "batch refused", body: `{"result":null,"error":{"code":-32600,"message":"batch not supported"},"id":null}`, wantErr: "batch not supported"},
		{name: "garbage", body: `[{"result":"01"`, wantErr: "malformed batch"},
		{name: "no id", body: `[{"result":"01","error":null}]`, wantErr: "no numeric id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := parseBatch([]byte(tc.body), hexCalls)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(rs) != len(tc.want) {
				t.Fatalf("%d responses, %v; want %d", len(rs), err, len(tc.want))
			}
			for i, w := range tc.want {
				if w == "!" {
					if rs[i].err == nil {
						t.Errorf("%d: no error", i)
					}
				} else if string(rs[i].value) != w || rs[i].err != nil {
					t.Errorf("%d: %q %v, want %q", i, rs[i].value, rs[i].err, w)
				}
			}
		})
	}
}

// slowOne is parseOne without the fast path: encoding/json alone.
func slowOne(msg []byte) (response, error) {
	var w wireResponse
	if err := json.Unmarshal(msg, &w); err != nil {
		return response{}, err
	}
	if w.ID == nil {
		return response{}, errors.New("no id")
	}
	return w.decode(true), nil
}

// FuzzParseOne: no input crashes the parser, and whatever the fast path
// accepts, encoding/json reads the same way.
func FuzzParseOne(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"1.0","result":"00ff","error":null,"id":7}`,
		`{"result":"00ff","error":null,"id":7}`,
		`{"jsonrpc":"2.0","result":"abcd","id":18446744073709551615}`,
		`{"result":"00","error":null,"id":184467440737095516150}`,
		`{"result":"0\"0","error":null,"id":1}`,
		`{"result":"00","error":null,"id":1}{"x":1}`,
		`{"result":null,"error":{"code":-8,"message":"x"},"id":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := parseOne(msg, func(uint64) bool { return true })
		fr, rest, fast := parseFast(msg)
		if !fast || len(bytes.TrimSpace(rest)) != 0 {
			return
		}
		sr, serr := slowOne(msg)
		if serr != nil {
			t.Fatalf("the fast path read %q, encoding/json refuses it: %v", msg, serr)
		}
		if err != nil || r.err != nil || sr.err != nil || sr.id != fr.id || !bytes.Equal(sr.value, fr.value) {
			t.Fatalf("%q: fast (%d, %x), slow (%d, %x, %v)", msg, fr.id, fr.value, sr.id, sr.value, sr.err)
		}
	})
}

// FuzzParseBatch: no batch body crashes the parser, and one it reads has
// an id on every response.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[{"result":"01","error":null,"id":1},{"result":"02","error":null,"id":2}]`))
	f.Add([]byte(`[{"result":"01","error":null,"id":1},{"result":null,"error":{"code":-8,"message":"x"},"id":2}]`))
	f.Add([]byte(`{"result":null,"error":{"code":-32600,"message":"x"},"id":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, err := parseBatch(body, func(id uint64) bool { return id%2 == 0 })
		if err != nil && rs != nil {
			t.Fatalf("both responses and an error for %q", body)
		}
	})
}
