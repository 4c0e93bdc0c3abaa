package hyperlog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

func TestVerifier(t *testing.T) {
	l := mustCreate(t, t.TempDir(), testKey(13), Options{})
	defer l.Close()
	var entries [][]byte
	var heads []SignedHead
	for i := range 6 {
		batch := [][]byte{[]byte(fmt.Sprint("a", i)), []byte(fmt.Sprint("b", i)), {}}
		l.Append(batch...)
		entries = append(entries, batch...)
		heads = append(heads, l.Head())
	}
	key := l.Key()

	tests := []struct {
		name string
		run  func(v *Verifier) error
		want uint64 // accepted length afterwards
	}{
		{"honest, head by head", func(v *Verifier) error {
			for i, h := range heads {
				v.Add(entries[3*i : 3*i+3]...)
				if err := v.Accept(h); err != nil {
					return err
				}
			}
			return nil
		}, 18},
		{"honest, all entries then an intermediate head then the last", func(v *Verifier) error {
			v.Add(entries...)
			if err := v.Accept(heads[2]); err != nil {
				return err
			}
			if v.Pending() != 9 {
				return fmt.Errorf("pending %d", v.Pending())
			}
			return v.Accept(heads[5])
		}, 18},
		{"lying entry", func(v *Verifier) error {
			v.Add(entries[0], []byte("lie"), entries[2])
			if err := v.Accept(heads[0]); !errors.Is(err, ErrInvalidProof) {
				return fmt.Errorf("lie accepted: %v", err)
			}
			if v.Pending() != 0 {
				return fmt.Errorf("lying entries kept")
			}
			v.Add(entries[:3]...)
			return v.Accept(heads[0])
		}, 3},
		{"missing entries", func(v *Verifier) error {
			v.Add(entries[:2]...)
			if err := v.Accept(heads[0]); err == nil {
				return fmt.Errorf("head beyond the entries accepted")
			}
			return nil
		}, 0},
		{"stale head", func(v *Verifier) error {
			v.Add(entries[:6]...)
			if err := v.Accept(heads[1]); err != nil {
				return err
			}
			if err := v.Accept(heads[0]); err == nil {
				return fmt.Errorf("stale head accepted")
			}
			return nil
		}, 6},
		{"tampered signature", func(v *Verifier) error {
			v.Add(entries[:3]...)
			h := heads[0].clone()
			h.Signature[5] ^= 1
			if err := v.Accept(h); !errors.Is(err, ErrBadSignature) {
				return fmt.Errorf("bad signature: %v", err)
			}
			return nil
		}, 0},
		{"catch up by upgrade, then entries", func(v *Verifier) error {
			e, err := l.ProveExtension(0, 9)
			if err != nil {
				return err
			}
			if err := v.Upgrade(e.Proof, heads[2]); err != nil {
				return err
			}
			v.Add(entries[9:12]...)
			return v.Accept(heads[3])
		}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(key)
			if err := tt.run(v); err != nil {
				t.Fatal(err)
			}
			if v.Length() != tt.want {
				t.Fatalf("accepted length %d, want %d", v.Length(), tt.want)
			}
			if h := v.Head(); h.Length > 0 && VerifyHead(key, h) != nil {
				t.Fatalf("verifier head does not verify")
			}
		})
	}

	// Starting from a trusted head with roots.
	v, err := NewVerifierAt(key, heads[3])
	if err != nil {
		t.Fatal(err)
	}
	v.Add(entries[12:15]...)
	if err := v.Accept(heads[4]); err != nil {
		t.Fatal(err)
	}
	noRoots := heads[3].clone()
	noRoots.Roots = nil
	if _, err := NewVerifierAt(key, noRoots); err == nil {
		t.Error("starting head without roots accepted")
	}
	if _, err := NewVerifierAt(Hash{1}, heads[3]); err == nil {
		t.Error("starting head under another key accepted")
	}
}

func TestVerifyLog(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	id := NewIdentity(ModeManifest, priv.Public().(ed25519.PublicKey))
	entries := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	head := id.SignHead(priv, TreeHash(RootsOf(entries)), 3, 0)
	if err := VerifyLog(id.Key(), head, entries); err != nil {
		t.Fatal(err)
	}
	if err := VerifyLog(id.Key(), head, entries[:2]); err == nil {
		t.Fatal("a missing entry must fail")
	}
	swapped := [][]byte{entries[1], entries[0], entries[2]}
	if err := VerifyLog(id.Key(), head, swapped); err == nil {
		t.Fatal("reordered entries must fail")
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err := VerifyLog(id.Key(), id.SignHead(other, head.TreeHash, 3, 0), entries); err == nil {
		t.Fatal("a head signed by another key must fail")
	}
}
