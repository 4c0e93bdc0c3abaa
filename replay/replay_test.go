package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/replay"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/file"
	"github.com/vchain-dev/vchain/vchash"
)

// vectorTape turns a golden-vector file into a replay tape and the lines
// replay must print for it.
func vectorTape(t *testing.T, path string) (tapeText, want string) {
	t.Helper()
	v, err := vchash.ReadVectorFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in, out strings.Builder
	for _, b := range v.Blocks {
		line, _ := json.Marshal(map[string]any{"height": b.Height, "ops": b.Ops})
		in.Write(line)
		in.WriteByte('\n')
		fmt.Fprintf(&out, "%d %s %s\n", b.Height, b.ExpectedOpsHash, b.ExpectedConsensusHash)
	}
	return in.String(), out.String()
}

func memDB(t *testing.T) *store.DB {
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestReplayVectors(t *testing.T) {
	files, _ := filepath.Glob("../vchash/testdata/virtualchain-vectors-*.json")
	if len(files) == 0 {
		t.Fatal("no vectors")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, want := vectorTape(t, path)
			var out bytes.Buffer
			if _, err := replay.Run(context.Background(), memDB(t), strings.NewReader(in), replay.Options{Out: &out}); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("replay output differs from the reference:\n%s", firstDiff(out.String(), want))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range w {
		if i >= len(g) || g[i] != w[i] {
			gl := "<missing>"
			if i < len(g) {
				gl = g[i]
			}
			return fmt.Sprintf("line %d: got %q, want %q", i+1, gl, w[i])
		}
	}
	return "got extra lines"
}

func TestReplayResumes(t *testing.T) {
	in, want := vectorTape(t, "../vchash/testdata/virtualchain-vectors-200.json")
	lines := strings.SplitAfter(in, "\n")
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out1, out2 bytes.Buffer
	if _, err := replay.Run(context.Background(), db, strings.NewReader(strings.Join(lines[:70], "")), replay.Options{Out: &out1}); err != nil {
		t.Fatal(err)
	}
	// The second run is given the whole file: it skips what is committed
	// and prints only the new blocks.
	st, err := replay.Run(context.Background(), db, strings.NewReader(in), replay.Options{Out: &out2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 70 || st.Blocks != 130 {
		t.Fatalf("skipped %d, committed %d; want 70 and 130", st.Skipped, st.Blocks)
	}
	if out1.String()+out2.String() != want {
		t.Fatal("resumed output differs from the reference")
	}
	// A third run over a file that starts later also works.
	more := `{"height": 1200, "ops": ["c:1:x"]}` + "\n"
	var out3 bytes.Buffer
	if _, err := replay.Run(context.Background(), db, strings.NewReader(more), replay.Options{Out: &out3}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out3.String(), "1200 ") {
		t.Fatalf("third run printed %q", out3.String())
	}
}

func TestReplayRefusesChangedInput(t *testing.T) {
	in, _ := vectorTape(t, "../vchash/testdata/virtualchain-vectors-tiny.json")
	db := memDB(t)
	if _, err := replay.Run(context.Background(), db, strings.NewReader(in), replay.Options{}); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(in, "alice.id", "alice.ie", 1)
	_, err := replay.Run(context.Background(), db, strings.NewReader(changed), replay.Options{})
	if err == nil || !strings.Contains(err.Error(), "line 1:") || !strings.Contains(err.Error(), "input changed") {
		t.Fatalf("got %v, want an error naming line 1 and the changed input", err)
	}
}

// TestReplayMalformedLine: a bad line stops the replay with an error naming
// it; every block before it is committed, nothing after.
func TestReplayMalformedLine(t *testing.T) {
	in, want := vectorTape(t, "../vchash/testdata/virtualchain-vectors-200.json")
	lines := strings.SplitAfter(in, "\n")
	bad := strings.Join(lines[:42], "") + `{"height": 1042, "ops": ["ok", 7]}` + "\n" + strings.Join(lines[43:], "")
	db := memDB(t)
	var out bytes.Buffer
	_, err := replay.Run(context.Background(), db, strings.NewReader(bad), replay.Options{Out: &out})
	var le *file.LineError
	if !errors.As(err, &le) || le.Line != 43 {
		t.Fatalf("got %v, want an error on line 43", err)
	}
	wantLines := strings.SplitAfter(want, "\n")
	if out.String() != strings.Join(wantLines[:42], "") {
		t.Fatal("output should hold exactly the 42 blocks before the bad line")
	}
	n := 0
	if err := engine.ReadRecords(db, func(r engine.BlockRecord) error { n++; return nil }); err != nil || n != 42 {
		t.Fatalf("%d blocks committed, want 42 (%v)", n, err)
	}
}

func TestReplayFirstBlock(t *testing.T) {
	in := `{"height": 5, "ops": ["a"]}` + "\n" + `{"height": 6, "ops": ["b"]}` + "\n" + `{"height": 7, "ops": []}` + "\n"
	var out bytes.Buffer
	_, err := replay.Run(context.Background(), memDB(t), strings.NewReader(in), replay.Options{Out: &out, FirstBlock: 6, FirstBlockSet: true})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, "6 ") || strings.Count(got, "\n") != 2 {
		t.Fatalf("with --first-block 6 the replay starts at 6: %q", got)
	}
	// Block 6 is the first block: its consensus hash mixes nothing earlier.
	oh := vchash.OpsHash([][]byte{[]byte("b")})
	if !strings.HasPrefix(got, fmt.Sprintf("6 %s %s\n", oh, vchash.Consensus(oh, nil))) {
		t.Fatalf("first block's hashes wrong: %q", got)
	}
	// A first block after the file's start leaves a gap: an error.
	_, err = replay.Run(context.Background(), memDB(t), strings.NewReader(in), replay.Options{FirstBlock: 3, FirstBlockSet: true})
	if err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("first block 3 with a file from 5: %v", err)
	}
}

func BenchmarkReplay(b *testing.B) {
	stream := replay.Synthetic(1000, 2000, 100, 1)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		db, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := replay.Run(context.Background(), db, bytes.NewReader(stream), replay.Options{}); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(2000*100*b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkHashOnly(b *testing.B) {
	stream := replay.Synthetic(1000, 2000, 100, 1)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		if _, _, err := replay.HashOnly(context.Background(), bytes.NewReader(stream)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2000*100*b.N)/b.Elapsed().Seconds(), "ops/s")
}
