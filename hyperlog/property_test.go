package hyperlog

import (
	"bytes"
	"os"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyLog appends random batch sequences and checks, for every
// signed head: the tree hash equals a from-scratch recomputation, inclusion
// proofs verify, extension proofs between random heads verify, a verifier
// fed the entries accepts the heads, and flipping any byte of a proof that
// is covered by what it proves makes verification fail.
func TestPropertyLog(t *testing.T) {
	base := ramDir(t)
	rapid.Check(t, func(t *rapid.T) {
		mode := Mode(rapid.IntRange(0, 1).Draw(t, "mode"))
		dir, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l, err := Create(dir, testKey(12), Options{Mode: mode, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		key := l.Key()
		var entries [][]byte
		lengths := []uint64{}
		ver := NewVerifier(key)
		for range rapid.IntRange(1, 12).Draw(t, "batches") {
			batch := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 40), 0, 20).Draw(t, "batch")
			n, err := l.Append(batch...)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, batch...)
			if n != uint64(len(entries)) {
				t.Fatalf("Append returned %d, want %d", n, len(entries))
			}
			if len(batch) > 0 {
				lengths = append(lengths, n)
			}
			head := l.Head()
			if head.TreeHash != TreeHash(RootsOf(entries)) {
				t.Fatalf("tree hash at %d differs from a recomputation", n)
			}
			ver.Add(batch...)
			if n > 0 {
				if err := ver.Accept(head); err != nil {
					t.Fatalf("verifier rejected head %d: %v", n, err)
				}
			}
		}
		if len(lengths) == 0 {
			return
		}
		heads := map[uint64]SignedHead{}
		for _, n := range lengths {
			h, err := l.HeadAt(n)
			if err != nil {
				t.Fatal(err)
			}
			if h.TreeHash != TreeHash(RootsOf(entries[:n])) {
				t.Fatalf("HeadAt(%d) tree hash differs", n)
			}
			heads[n] = h
		}

		// Inclusion: every entry against the last head, a random one against each head.
		last := lengths[len(lengths)-1]
		for i := range last {
			p, err := l.ProveInclusion(i, last)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(key, heads[last], i, entries[i], p); err != nil {
				t.Fatalf("inclusion %d@%d: %v", i, last, err)
			}
		}
		for _, n := range lengths {
			i := rapid.Uint64Range(0, n-1).Draw(t, "index")
			p, err := l.ProveInclusion(i, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(key, heads[n], i, entries[i], p); err != nil {
				t.Fatalf("inclusion %d@%d: %v", i, n, err)
			}
		}
		// Tampering with an inclusion proof against a random head.
		n := rapid.SampledFrom(lengths).Draw(t, "tampered head")
		i := rapid.Uint64Range(0, n-1).Draw(t, "tampered index")
		p, err := l.ProveInclusion(i, n)
		if err != nil {
			t.Fatal(err)
		}
		wire, _ := p.MarshalBinary()
		tamper(t, wire, 1, func(b []byte) error {
			q, err := DecodeProof(b)
			if err != nil {
				return err
			}
			return VerifyInclusion(key, heads[n], i, entries[i], q)
		})

		// Extension between two random heads.
		a := rapid.SampledFrom(lengths).Draw(t, "from")
		b := rapid.SampledFrom(lengths).Draw(t, "to")
		if a > b {
			a, b = b, a
		}
		e, err := l.ProveExtension(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyExtension(key, heads[a], heads[b], e); err != nil {
			t.Fatalf("extension %d->%d: %v", a, b, err)
		}
		if a < b {
			if err := VerifyExtension(key, heads[b], heads[a], e); err == nil {
				t.Fatalf("extension %d->%d verified backwards", b, a)
			}
			wire, _ := e.MarshalBinary()
			// The request id of the embedded proof message is the only byte
			// not covered: it names a request, it proves nothing.
			skip := len(appendNodes(nil, e.OldRoots)) + 1
			tamper(t, wire, skip, func(w []byte) error {
				var q ExtensionProof
				if err := q.UnmarshalBinary(w); err != nil {
					return err
				}
				return VerifyExtension(key, heads[a], heads[b], &q)
			})
		}
	})
}

// tamper flips each byte of wire (except position skip, the request id)
// and checks that check fails on every result.
func tamper(t *rapid.T, wire []byte, skip int, check func([]byte) error) {
	for pos := range wire {
		if pos == skip {
			continue
		}
		b := bytes.Clone(wire)
		b[pos] ^= byte(1 + pos%255)
		if check(b) == nil {
			t.Fatalf("proof with byte %d of %d flipped still verifies", pos, len(wire))
		}
	}
}
