package hyperlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func testKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

func mustCreate(t testing.TB, dir string, priv ed25519.PrivateKey, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	l, err := Create(dir, priv, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkLog verifies that l holds exactly want, that its head verifies, and
// that its roots match a from-scratch computation.
func checkLog(t testing.TB, l *Log, want [][]byte) {
	t.Helper()
	if got := l.Length(); got != uint64(len(want)) {
		t.Fatalf("length %d, want %d", got, len(want))
	}
	for i, w := range want {
		got, err := l.Get(uint64(i))
		if err != nil {
			t.Fatalf("Get(%d): %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("Get(%d) = %q, want %q", i, got, w)
		}
	}
	h := l.Head()
	roots := RootsOf(want)
	if TreeHash(roots) != h.TreeHash {
		t.Fatalf("tree hash differs from a recomputation")
	}
	if len(want) > 0 || h.Signature != nil {
		if err := VerifyHead(l.Key(), h); err != nil {
			t.Fatalf("head: %v", err)
		}
	}
	if h.Length != uint64(len(want)) {
		t.Fatalf("head length %d", h.Length)
	}
	if n, _ := h.ByteLength(); n != ByteLength(roots) || l.ByteLength() != n {
		t.Fatalf("byte length %d", n)
	}
}

// TestLogMatchesVectors builds the vector datasets through Append and checks
// the heads against what node hypercore signed, in both modes.
func TestLogMatchesVectors(t *testing.T) {
	v := loadVectors(t)
	priv := vectorKey(t, v)
	for _, mode := range []Mode{ModeManifest, ModeCompat} {
		for name, ds := range v.Datasets {
			t.Run(fmt.Sprintf("%v/%s", mode, name), func(t *testing.T) {
				l := mustCreate(t, t.TempDir(), priv, Options{Mode: mode})
				defer l.Close()
				blocks := datasetBlocks(name, 1000)
				// Appends ending exactly at the vector lengths 1, 2, 3, 7, 100, 1000.
				prev := 0
				for _, n := range []int{1, 2, 3, 7, 100, 1000} {
					if _, err := l.Append(blocks[prev:n]...); err != nil {
						t.Fatal(err)
					}
					prev = n
					want := ds.Lengths[fmt.Sprint(n)]
					h := l.Head()
					wantSig, wantKey := want.Manifest.StoredSignature, v.ManifestCore.Key
					if mode == ModeCompat {
						wantSig, wantKey = want.Compat.Signature, v.CompatCore.Key
					}
					if h.TreeHash != want.TreeHash || !bytes.Equal(h.Signature, wantSig) {
						t.Errorf("length %d: head %s / %x, want %s / %x", n, h.TreeHash, h.Signature, want.TreeHash, wantSig)
					}
					if l.Key() != wantKey {
						t.Errorf("key %s, want %s", l.Key(), wantKey)
					}
					if b, _ := h.ByteLength(); b != want.ByteLength {
						t.Errorf("byte length %d, want %d", b, want.ByteLength)
					}
				}
				// The length-7 head is still there, signed as node signed it.
				h7, err := l.HeadAt(7)
				if err != nil {
					t.Fatal(err)
				}
				if h7.TreeHash != ds.Lengths["7"].TreeHash {
					t.Errorf("HeadAt(7) tree hash %s", h7.TreeHash)
				}
				checkLog(t, l, blocks)
				if name == "ascii" && mode == ModeManifest {
					// A hypercore-style request against the log reproduces proof sample 0.
					p, err := l.Proof(ProofRequest{Block: &BlockRequest{Index: 5}, Upgrade: &UpgradeRequest{Start: 0, Length: 7}})
					if err != nil {
						t.Fatal(err)
					}
					p.Request = 1
					enc, _ := p.MarshalBinary()
					if !bytes.Equal(enc, v.ProofSamples[0].WireDataEncoded) {
						t.Errorf("proof sample 0 from the log:\n%x\nwant\n%x", enc, v.ProofSamples[0].WireDataEncoded)
					}
				}
			})
		}
	}
}

func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	priv := testKey(1)
	l := mustCreate(t, dir, priv, Options{})
	var want [][]byte
	for i := range 50 {
		batch := make([][]byte, i%7)
		for j := range batch {
			batch[j] = []byte(fmt.Sprintf("entry %d.%d", i, j))
		}
		n, err := l.Append(batch...)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, batch...)
		if n != uint64(len(want)) {
			t.Fatalf("Append returned %d, want %d", n, len(want))
		}
	}
	head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}

	tests := []struct {
		name     string
		opts     Options
		writable bool
	}{
		{"replica", Options{}, false},
		{"read-only", Options{ReadOnly: true}, false},
		{"writer", Options{PrivateKey: priv}, true}, // last: it appends
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustOpen(t, dir, tt.opts)
			defer l.Close()
			if r := l.Recovery(); r.Recovered || r.Verified != 0 {
				t.Errorf("clean reopen reported %v", r)
			}
			checkLog(t, l, want)
			if !l.Head().Equal(head) {
				t.Errorf("head changed across reopen")
			}
			if l.Writable() != tt.writable {
				t.Errorf("Writable = %v", l.Writable())
			}
			_, err := l.Append([]byte("more"))
			if tt.writable != (err == nil) {
				t.Errorf("Append: %v", err)
			}
			if tt.writable {
				want := append(want, []byte("more"))
				checkLog(t, l, want)
			}
		})
	}
}

func TestLogOpenErrors(t *testing.T) {
	dir := t.TempDir()
	l := mustCreate(t, dir, testKey(1), Options{})
	if _, err := Create(dir, testKey(1), Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over a log: %v", err)
	}
	if _, err := Open(dir, Options{PrivateKey: testKey(1)}); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer: %v", err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Errorf("read-only beside the writer: %v", err)
	} else {
		ro.Close()
	}
	l.Close()
	if _, err := Open(dir, Options{PrivateKey: testKey(2)}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := Open(t.TempDir(), Options{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Create(t.TempDir(), testKey(1)[:10], Options{}); err == nil {
		t.Errorf("short key accepted")
	}
	// A damaged identity file is an error, not a guess.
	os.WriteFile(filepath.Join(dir, identityFileName), []byte(`{"format":"hyperlog/1","mode":"compat"}`), 0o644)
	if _, err := Open(dir, Options{}); err == nil {
		t.Errorf("bad identity accepted")
	}
}

func TestLogGetErrors(t *testing.T) {
	l := mustCreate(t, t.TempDir(), testKey(1), Options{})
	defer l.Close()
	if _, err := l.Get(0); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Get on empty log: %v", err)
	}
	l.Append([]byte("a"), []byte{}, []byte("c"))
	if e, err := l.Get(1); err != nil || len(e) != 0 {
		t.Errorf("empty entry: %q, %v", e, err)
	}
	if _, err := l.Get(3); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Get(3): %v", err)
	}
	if _, err := l.HeadAt(2); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("HeadAt between heads: %v", err)
	}
	if _, err := l.Append(make([]byte, MaxEntrySize+1)); err == nil {
		t.Errorf("oversized entry accepted")
	}
	var got []string
	err := l.ReadRange(0, 3, func(i uint64, e []byte) error {
		got = append(got, string(e))
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[a  c]" {
		t.Errorf("ReadRange = %q, %v", got, err)
	}
	if err := l.ReadRange(2, 4, nil); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("ReadRange past the end: %v", err)
	}
}

// TestLogProofs checks inclusion and extension proofs between every pair
// of signed heads of a small log, in both modes, and their encodings.
func TestLogProofs(t *testing.T) {
	for _, mode := range []Mode{ModeManifest, ModeCompat} {
		t.Run(mode.String(), func(t *testing.T) {
			l := mustCreate(t, t.TempDir(), testKey(3), Options{Mode: mode})
			defer l.Close()
			var entries [][]byte
			lengths := []uint64{0}
			for i := 1; i <= 12; i++ {
				batch := make([][]byte, i)
				for j := range batch {
					batch[j] = []byte(fmt.Sprintf("%d/%d", i, j))
				}
				n, err := l.Append(batch...)
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, batch...)
				lengths = append(lengths, n)
			}
			key := l.Key()
			for _, n := range lengths {
				head, err := l.HeadAt(n)
				if err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					if err := VerifyHead(key, head); err != nil {
						t.Fatalf("head %d: %v", n, err)
					}
				}
				for i := uint64(0); i < n; i += 1 + n/9 {
					p, err := l.ProveInclusion(i, n)
					if err != nil {
						t.Fatal(err)
					}
					p = roundTripProof(t, p)
					if err := VerifyInclusion(key, head, i, entries[i], p); err != nil {
						t.Fatalf("inclusion %d@%d: %v", i, n, err)
					}
					if err := VerifyInclusion(key, head, i, []byte("forged"), p); err == nil {
						t.Fatalf("forged entry %d@%d verified", i, n)
					}
				}
				for _, m := range lengths {
					if m < n {
						continue
					}
					newHead, _ := l.HeadAt(m)
					e, err := l.ProveExtension(n, m)
					if err != nil {
						t.Fatal(err)
					}
					var e2 ExtensionProof
					b, _ := e.MarshalBinary()
					if err := e2.UnmarshalBinary(b); err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						continue // the empty head of a signed log is checked above
					}
					if err := VerifyExtension(key, head, newHead, &e2); err != nil {
						t.Fatalf("extension %d->%d: %v", n, m, err)
					}
				}
			}
		})
	}
}

func roundTripProof(t testing.TB, p *Proof) *Proof {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeProof(b)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	var r Proof
	if err := json.Unmarshal(j, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestForkedLogFailsExtension builds two logs with the same key that share
// a prefix and then differ: heads of one never extend heads of the other.
func TestForkedLogFailsExtension(t *testing.T) {
	priv := testKey(4)
	a := mustCreate(t, t.TempDir(), priv, Options{})
	b := mustCreate(t, t.TempDir(), priv, Options{})
	defer a.Close()
	defer b.Close()
	for i := range 10 {
		e := []byte(fmt.Sprint("shared ", i))
		a.Append(e)
		b.Append(e)
	}
	a.Append([]byte("a1"), []byte("a2"))
	b.Append([]byte("b1"))
	b.Append([]byte("b2"), []byte("b3"))
	oldA, _ := a.HeadAt(12)
	for _, tt := range []struct{ from, to uint64 }{{12, 13}, {11, 13}, {10, 13}, {5, 13}} {
		oldB, err := b.HeadAt(tt.from)
		if err != nil {
			continue
		}
		e, _ := b.ProveExtension(tt.from, tt.to)
		newB := b.Head()
		if err := VerifyExtension(b.Key(), oldB, newB, e); err != nil {
			t.Errorf("honest extension %d->%d: %v", tt.from, tt.to, err)
		}
	}
	// A's head at 12 is not extended by B's head at 13, whatever proof B gives.
	for from := uint64(0); from <= 12; from++ {
		e, err := b.ProveExtension(from, 13)
		if err != nil {
			t.Fatal(err)
		}
		e.OldRoots, _ = a.rootsAtLocked(12) // even with A's real roots
		if err := VerifyExtension(b.Key(), oldA, b.Head(), e); err == nil {
			t.Fatalf("forked head verified as an extension (from %d)", from)
		}
	}
	// Shared prefix heads are extended by both.
	old, _ := a.HeadAt(10)
	for _, l := range []*Log{a, b} {
		e, _ := l.ProveExtension(10, l.Length())
		if err := VerifyExtension(l.Key(), old, l.Head(), e); err != nil {
			t.Errorf("shared prefix: %v", err)
		}
	}
}

func TestReplica(t *testing.T) {
	priv := testKey(5)
	for _, mode := range []Mode{ModeManifest, ModeCompat} {
		t.Run(mode.String(), func(t *testing.T) {
			w := mustCreate(t, t.TempDir(), priv, Options{Mode: mode})
			defer w.Close()
			dir := t.TempDir()
			r, err := CreateReplica(dir, w.Identity(), Options{Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			if r.Key() != w.Key() || r.DiscoveryKey() != w.DiscoveryKey() {
				t.Fatal("replica key differs")
			}
			if _, err := r.Append([]byte("x")); !errors.Is(err, ErrReadOnly) {
				t.Errorf("replica Append: %v", err)
			}
			var all [][]byte
			for i := 1; i <= 5; i++ {
				batch := [][]byte{[]byte(fmt.Sprint(i)), []byte(fmt.Sprint(i * i))}
				w.Append(batch...)
				all = append(all, batch...)
				if err := r.AppendSigned(w.Head(), []byte("wrong"), batch[1]); err == nil {
					t.Fatal("replica took entries that do not match the head")
				}
				if err := r.AppendSigned(w.Head(), batch...); err != nil {
					t.Fatal(err)
				}
			}
			checkLog(t, r, all)
			if !r.Head().Equal(w.Head()) {
				t.Error("replica head differs")
			}
			other := mustCreate(t, t.TempDir(), testKey(6), Options{Mode: mode})
			defer other.Close()
			other.Append([]byte("z"))
			if err := r.AppendSigned(other.Head(), []byte("z")); err == nil {
				t.Error("replica took a head signed by another key")
			}
			r.Close()
			r = mustOpen(t, dir, Options{})
			defer r.Close()
			checkLog(t, r, all)
		})
	}
}

func TestSyncOption(t *testing.T) {
	dir := t.TempDir()
	l := mustCreate(t, dir, testKey(7), Options{Sync: true})
	for i := range 20 {
		l.Append([]byte(fmt.Sprint(i)))
	}
	// Without Close: the last head record already marks the durable point.
	l2 := mustOpen(t, dir, Options{ReadOnly: true})
	if r := l2.Recovery(); r.Recovered || r.Verified != 0 || r.Length != 20 {
		t.Errorf("recovery after synced appends: %+v", r)
	}
	l2.Close()
	l.Close()
}

func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := mustCreate(t, dir, testKey(8), Options{CheckpointBytes: 1000})
	for i := range 100 {
		l.Append(make([]byte, 50+i))
	}
	// No Close: at most ~1000 bytes' worth of entries are re-verified.
	l2 := mustOpen(t, dir, Options{ReadOnly: true})
	defer l2.Close()
	r := l2.Recovery()
	if r.Length != 100 || r.Verified > 10 || r.Recovered {
		t.Errorf("recovery: %+v", r)
	}
	l.Close()
}

func TestAppendWriteFailure(t *testing.T) {
	dir := t.TempDir()
	l := mustCreate(t, dir, testKey(16), Options{})
	l.Append([]byte("kept"))
	l.data.Close() // the next write fails
	if _, err := l.Append([]byte("lost")); err == nil {
		t.Fatal("append with a failing file succeeded")
	}
	if _, err := l.Append([]byte("refused")); err == nil {
		t.Fatal("log kept appending after a failed write")
	}
	if l.Length() != 1 {
		t.Fatalf("length %d after a failed append", l.Length())
	}
	l.Close()
	l = mustOpen(t, dir, Options{PrivateKey: testKey(16)})
	defer l.Close()
	checkLog(t, l, [][]byte{[]byte("kept")})
}

func TestHeadJSON(t *testing.T) {
	for _, mode := range []Mode{ModeManifest, ModeCompat} {
		l := mustCreate(t, t.TempDir(), testKey(17), Options{Mode: mode})
		l.Append([]byte("a"), []byte("b"), []byte("c"))
		h := l.Head()
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back SignedHead
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !back.Equal(h) || len(back.Roots) != 2 || VerifyHead(l.Key(), back) != nil {
			t.Errorf("%v: head did not survive JSON: %s", mode, b)
		}
		if back.Mode() != mode {
			t.Errorf("mode %v, want %v", back.Mode(), mode)
		}
		back.Roots[0].Size++
		if VerifyHead(l.Key(), back) == nil {
			t.Errorf("%v: head with a wrong root verified", mode)
		}
		var id Identity
		if b, _ := json.Marshal(l.Identity()); json.Unmarshal(b, &id) != nil || id != l.Identity() {
			t.Errorf("identity JSON: %s", b)
		}
		l.Close()
	}
}

func TestRunBenchmark(t *testing.T) {
	for _, cfg := range StandardBenchmarks(600, false) {
		res, err := RunBenchmark(t.TempDir(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.EntriesPerSec <= 0 || res.Heads == 0 || res.DiskBytes == 0 {
			t.Errorf("%+v", res)
		}
		t.Log(res)
	}
}
