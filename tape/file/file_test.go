package file

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string) ([]string, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in))
	var got []string
	for {
		b, err := r.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		var parts []string
		for _, tx := range b.Txs {
			parts = append(parts, string(tx.Payload))
		}
		got = append(got, strings.Join(parts, "|"))
	}
}

func TestReaderValid(t *testing.T) {
	in := `{"height": 5, "ops": ["a:1:x", "b:0:"]}

{"height": 6, "ops": []}
{"height": 7, "ops_hex": ["6162"], "extra": true}
{"height": 8, "ops": ["z"], "ops_hex": ["00"]}`
	got, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a:1:x|b:0:", "", "ab", "z|\x00"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestReaderLinksBlocks(t *testing.T) {
	r := NewReader(strings.NewReader("{\"height\":1,\"ops\":[\"a\"]}\n{\"height\":2,\"ops\":[\"a\"]}\n"))
	b1, _ := r.Next()
	b2, _ := r.Next()
	if b2.Parent != b1.Hash || b1.Hash == b2.Hash {
		t.Fatal("second block must link to the first and differ from it")
	}
	if b1.Parent != ([32]byte{}) {
		t.Fatal("the first line's parent is unknown")
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		in, line, msg string
	}{
		{`{"height": 1, "ops": ["a"]}` + "\n" + `{"height": 3, "ops": []}`, "line 2", "does not follow height 1"},
		{`{"ops": []}`, "line 1", `missing "height"`},
		{`{"height": -1, "ops": []}`, "line 1", "non-negative integer"},
		{`{"height": 1.5, "ops": []}`, "line 1", "non-negative integer"},
		{`{"height": 1}`, "line 1", `missing "ops"`},
		{`{"height": 1, "ops": [1]}`, "line 1", "want a string"},
		{`{"height": 1, "ops": "abc"}`, "line 1", "list of strings"},
		{`{"height": 1, "ops": [null]}`, "line 1", "null"},
		{`{"height": 1, "ops_hex": ["zz"]}`, "line 1", "ops_hex"},
		{`{"height": 1, "ops": []`, "line 1", "not a JSON object"},
		{`[1,2]`, "line 1", "not a JSON object"},
		{`{"height": 1, "ops": [], "hash": "12"}`, "line 1", `"hash"`},
		{"{\"height\": 1, \"ops\": []}\n\n{\"height\": 2, \"ops\": [], \"parent\": \"" + strings.Repeat("00", 32) + "\"}", "line 3", "not the hash of the line before"},
	}
	for _, c := range cases {
		_, err := readAll(t, c.in)
		var le *LineError
		if !errors.As(err, &le) {
			t.Errorf("%q: got %v, want a LineError", c.in, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.line+":") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q, want %q mentioning %q", c.in, err, c.line, c.msg)
		}
	}
}

func TestReaderLongLine(t *testing.T) {
	op := strings.Repeat("x", 3<<20)
	in, _ := json.Marshal(map[string]any{"height": 1, "ops": []string{op}})
	got, err := readAll(t, string(in))
	if err != nil || len(got) != 1 || got[0] != op {
		t.Fatalf("a 3 MB line did not round-trip: %v", err)
	}
}

// FuzzReader feeds arbitrary input to the replay decoder: it must never
// panic, every failure must name a line, and every block it accepts must
// carry exactly the payloads the line gave.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"height": 100, "ops": ["a:8:alice.id,0:", "b:3:bob"]}` + "\n" + `{"height": 101, "ops": []}`))
	f.Add([]byte(`{"height": 0, "ops_hex": ["00ff", ""]}`))
	f.Add([]byte(`{"height": 1, "ops": ["\u00e9\n"], "hash": "` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"height": 18446744073709551616, "ops": []}`))
	f.Add([]byte("{\"height\": 1, \"ops\": [\"a\"]}\r\n\r\n{\"height\": 2, \"ops\": [\"b\"]}"))
	f.Add([]byte(`{"height": 1, "ops": [1]}`))
	f.Add([]byte{0xff, '{', '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 10000; i++ {
			b, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || le.Line < 1 {
					t.Fatalf("error without a line: %v", err)
				}
				return
			}
			if b.Height < 0 {
				t.Fatalf("negative height %d accepted", b.Height)
			}
			// The payloads must be what the line says.
			var l struct {
				Ops    []string `json:"ops"`
				OpsHex []string `json:"ops_hex"`
			}
			lines := bytes.Split(data, []byte("\n"))
			if err := json.Unmarshal(lines[r.Line()-1], &l); err != nil {
				t.Fatalf("accepted line %d that encoding/json rejects: %v", r.Line(), err)
			}
			want := append([]string(nil), l.Ops...)
			for _, h := range l.OpsHex {
				p, _ := hex.DecodeString(h)
				want = append(want, string(p))
			}
			if len(want) != len(b.Txs) {
				t.Fatalf("line %d: %d payloads, want %d", r.Line(), len(b.Txs), len(want))
			}
			for j := range want {
				if string(b.Txs[j].Payload) != want[j] || b.Txs[j].Index != j {
					t.Fatalf("line %d payload %d: %q, want %q", r.Line(), j, b.Txs[j].Payload, want[j])
				}
			}
		}
	})
}
