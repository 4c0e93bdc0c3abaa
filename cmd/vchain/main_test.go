package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/vchash"
)

// vchainBin is the binary under test, built once by TestMain.
var vchainBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vchain-cli-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vchainBin = filepath.Join(dir, "vchain")
	build := exec.Command("go", "build", "-o", vchainBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vchain:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs vchain with args and stdin, returning stdout, stderr and the exit
// code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(vchainBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// vectorTape writes a replay tape for a vector file and returns its path
// and the expected output.
func vectorTape(t *testing.T, name string) (string, string) {
	t.Helper()
	v, err := vchash.ReadVectorFile(filepath.Join("..", "..", "vchash", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var in, want strings.Builder
	for _, b := range v.Blocks {
		line, _ := json.Marshal(map[string]any{"height": b.Height, "ops": b.Ops})
		in.Write(line)
		in.WriteByte('\n')
		fmt.Fprintf(&want, "%d %s %s\n", b.Height, b.ExpectedOpsHash, b.ExpectedConsensusHash)
	}
	path := filepath.Join(t.TempDir(), "tape.jsonl")
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, want.String()
}

func TestCLIReplayMatchesReference(t *testing.T) {
	for _, name := range []string{"virtualchain-vectors-tiny.json", "virtualchain-vectors-200.json", "virtualchain-vectors-first0.json"} {
		path, want := vectorTape(t, name)
		out, errOut, code := run(t, "", "replay", path)
		if code != 0 || out != want {
			t.Fatalf("%s: exit %d, stderr %s, output matches=%v", name, code, errOut, out == want)
		}
	}
}

func TestCLIReplayStdinResumeConsensus(t *testing.T) {
	path, want := vectorTape(t, "virtualchain-vectors-200.json")
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	dd := filepath.Join(t.TempDir(), "data")

	out1, errOut, code := run(t, strings.Join(lines[:120], ""), "replay", "--datadir", dd, "-")
	if code != 0 {
		t.Fatalf("first run: exit %d: %s", code, errOut)
	}
	out2, errOut, code := run(t, "", "replay", "--datadir", dd, path)
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, errOut)
	}
	if out1+out2 != want || strings.Count(out2, "\n") != 80 {
		t.Fatal("the resumed run must print only the 80 new blocks, and both runs together the reference")
	}
	cons, errOut, code := run(t, "", "consensus", "--datadir", dd)
	if code != 0 || cons != want {
		t.Fatalf("consensus: exit %d %s; matches=%v", code, errOut, cons == want)
	}
}

func TestCLIReplayMalformed(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "data")
	in := `{"height": 10, "ops": ["a:1:x"]}
{"height": 11, "ops": []}
{"height": 12, "ops": ["b", {"x": 1}]}
{"height": 13, "ops": []}
`
	out, errOut, code := run(t, in, "replay", "--datadir", dd, "-")
	if code == 0 {
		t.Fatal("malformed input must exit non-zero")
	}
	if !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "ops") {
		t.Fatalf("the error must name line 3 and the field: %q", errOut)
	}
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("the two good blocks are printed: %q", out)
	}
	cons, _, _ := run(t, "", "consensus", "--datadir", dd)
	if cons != out {
		t.Fatalf("committed %q, printed %q", cons, out)
	}
	if _, errOut, code := run(t, "", "replay", filepath.Join(t.TempDir(), "missing.jsonl")); code == 0 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "consensus", "--datadir", filepath.Join(t.TempDir(), "nope")); code == 0 || !strings.Contains(errOut, "nope") {
		t.Fatalf("missing datadir: exit %d, %q", code, errOut)
	}
}

func TestCLIVectors(t *testing.T) {
	out, errOut, code := run(t, "", "vectors", filepath.Join("..", "..", "vchash", "testdata", "virtualchain-vectors-200.json"))
	if code != 0 || !strings.Contains(out, "ok (200 blocks") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
}

func TestCLICheckpointsAndFreshness(t *testing.T) {
	path, want := vectorTape(t, "virtualchain-vectors-200.json")
	lines := strings.Split(want, "\n")
	f50 := strings.Fields(lines[50]) // height 1050
	dd := filepath.Join(t.TempDir(), "data")
	if out, errOut, code := run(t, "", "replay", "--datadir", dd, "--checkpoint", "1050:"+f50[2], path); code != 0 || out != want {
		t.Fatalf("a matching checkpoint must pass: exit %d %s", code, errOut)
	}
	bad := strings.Replace(f50[2], f50[2][:1], "x", 1)
	if _, errOut, _ := run(t, "", "replay", "--checkpoint", "1050:"+bad, path); !strings.Contains(errOut, "not valid") && !strings.Contains(errOut, "invalid") {
		t.Fatalf("a malformed checkpoint hash must be refused: %q", errOut)
	}
	wrong := strings.Fields(lines[51])[2]
	out, errOut, code := run(t, "", "replay", "--checkpoint", "1050:"+wrong, path)
	if code == 0 || !strings.Contains(errOut, "1050") || !strings.Contains(errOut, wrong) || !strings.Contains(errOut, f50[2]) {
		t.Fatalf("a mismatch must stop naming height and both hashes: exit %d %q", code, errOut)
	}
	if strings.Count(out, "\n") != 50 {
		t.Fatalf("blocks before the checkpoint are committed: %d lines", strings.Count(out, "\n"))
	}

	if out, _, code := run(t, "", "consensus", "--datadir", dd, "--height", "1050"); code != 0 || out != lines[50]+"\n" {
		t.Fatalf("--height 1050: %q", out)
	}
	recent := strings.Fields(lines[190])[2] // block 1190 is among the last 24 of 1199
	if out, _, code := run(t, "", "consensus", "--datadir", dd, "--fresh", recent); code != 0 || out != "fresh 1190\n" {
		t.Fatalf("--fresh recent: exit %d %q", code, out)
	}
	if out, _, code := run(t, "", "consensus", "--datadir", dd, "--fresh", f50[2]); code != 1 || out != "stale\n" {
		t.Fatalf("--fresh old: exit %d %q", code, out)
	}
}

func TestCLIDemo(t *testing.T) {
	out, errOut, code := run(t, "", "demo")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"-- fork: the chain replaced blocks", "names at height 139:", ".id ", "a fresh replay of the final chain agrees at all 40 heights"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	again, _, _ := run(t, "", "demo")
	if again != out {
		t.Error("demo output is not deterministic")
	}
	other, _, _ := run(t, "", "demo", "--seed", "2")
	if other == out {
		t.Error("another seed gives the same chain")
	}
	if _, errOut, code := run(t, "", "demo", "--fork-depth", "50"); code == 0 || !strings.Contains(errOut, "fork-depth") {
		t.Errorf("bad flags: exit %d %q", code, errOut)
	}
}
