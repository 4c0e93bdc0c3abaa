package hyperlog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// The fuzz targets feed the decoders hostile bytes: they must never panic,
// and what they accept must survive a round trip. Plain `go test` runs the
// seeds; `go test -fuzz FuzzDecodeProof ./hyperlog` explores further.

// fuzzLog returns a small signed log's key and head, and proofs from it.
func fuzzLog(f *testing.F) (Hash, SignedHead, *Log) {
	l := mustCreate(f, f.TempDir(), testKey(11), Options{})
	f.Cleanup(func() { l.Close() })
	for i := range 9 {
		l.Append([]byte{byte(i)}, bytes.Repeat([]byte{byte(i)}, i))
	}
	return l.Key(), l.Head(), l
}

func FuzzDecodeProof(f *testing.F) {
	v := loadVectors(f)
	key, head, l := fuzzLog(f)
	f.Add([]byte(v.ProofSamples[0].WireDataEncoded))
	for i := uint64(0); i < l.Length(); i += 5 {
		p, _ := l.ProveInclusion(i, l.Length())
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	e, _ := l.ProveExtension(4, l.Length())
	b, _ := e.Proof.MarshalBinary()
	f.Add(b)
	m := DefaultManifest(l.PublicKey())
	b, _ = (&Proof{Request: 7, Hash: &HashProof{Index: 3}, Seek: &SeekProof{Bytes: 9}, Manifest: &m}).MarshalBinary()
	f.Add(b)
	f.Add([]byte{0x1f, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProof(data)
		if err != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, err := DecodeProof(again)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		pj, _ := json.Marshal(p)
		qj, _ := json.Marshal(q)
		if !bytes.Equal(pj, qj) {
			t.Fatalf("round trip changed the proof:\n%s\n%s", pj, qj)
		}
		// Verification of arbitrary proofs fails cleanly.
		if p.Block != nil {
			_ = VerifyInclusion(key, head, p.Block.Index, p.Block.Value, p)
		}
		_ = NewVerifier(key).Upgrade(p, head)
		_ = VerifyExtension(key, head, head, &ExtensionProof{OldRoots: head.Roots, Proof: p})
	})
}

func FuzzDecodeExtensionProof(f *testing.F) {
	key, head, l := fuzzLog(f)
	for _, from := range []uint64{1, 3, 10, l.Length()} {
		e, _ := l.ProveExtension(from, l.Length())
		b, _ := e.MarshalBinary()
		f.Add(b, from)
	}
	f.Fuzz(func(t *testing.T, data []byte, from uint64) {
		var e ExtensionProof
		if err := e.UnmarshalBinary(data); err != nil {
			return
		}
		old, err := l.HeadAt(from)
		if err != nil {
			old = head
		}
		_ = VerifyExtension(key, old, head, &e)
	})
}

func FuzzDecodeManifest(f *testing.F) {
	v := loadVectors(f)
	f.Add([]byte(v.ManifestCore.ManifestEncoded))
	rich := Manifest{Version: 2, AllowPatch: true, Quorum: 2,
		Signers:  []ManifestSigner{{DefaultNamespace, Hash{1}}, {NamespaceTree, Hash{2}}},
		Prologue: &Prologue{TreeHash: Hash{3}, Length: 70000}, Linked: []Hash{{4}}, UserData: []byte("u")}
	b, _ := rich.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, m2)
		}
		j, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var m3 Manifest
		if err := json.Unmarshal(j, &m3); err != nil {
			t.Fatal(err)
		}
		if enc3, _ := m3.Encode(); !bytes.Equal(enc3, enc) {
			t.Fatalf("JSON round trip changed the manifest: %s", j)
		}
		_ = m.verify(Hash{}, Hash{}, 1, 0, data)
	})
}

func FuzzDecodeMultiSig(f *testing.F) {
	v := loadVectors(f)
	f.Add([]byte(v.Datasets["ascii"].Lengths["7"].Manifest.StoredSignature))
	f.Add(MultiSig{Proofs: []SignerProof{{Signer: 1, Patch: 3}, {Signer: 300}}, Patch: []Node{{Index: 9}}}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeMultiSig(data)
		if err != nil {
			return
		}
		s2, err := DecodeMultiSig(s.Encode())
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzSignedHeadJSON(f *testing.F) {
	key, head, _ := fuzzLog(f)
	j, _ := json.Marshal(head)
	f.Add(j)
	f.Add([]byte(`{"length":0,"treeHash":"00","roots":[{"index":7}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h SignedHead
		if err := json.Unmarshal(data, &h); err != nil {
			return
		}
		err := VerifyHead(key, h)
		if err == nil && (h.Length != head.Length || h.TreeHash != head.TreeHash) {
			t.Fatalf("a different head verified: %s", data)
		}
		_, _ = h.RawSignature()
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, []byte("hello")))
	f.Add(appendRecord(nil, nil))
	f.Add(appendRecord(appendRecord(nil, []byte("a")), []byte("bc")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entry, size, err := DecodeRecord(data)
		if err != nil {
			return
		}
		if again := appendRecord(nil, entry); !bytes.Equal(again, data[:size]) {
			t.Fatalf("record does not re-encode to itself")
		}
	})
}

func FuzzDecodeHeadRecord(f *testing.F) {
	var b [headRecordSize]byte
	(&headRecord{length: 5, synced: 3, treeHash: Hash{1}}).put(b[:])
	f.Add(b[:])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeHeadRecord(data)
		if err != nil {
			return
		}
		var again [headRecordSize]byte
		r.put(again[:])
		if !bytes.Equal(again[:], data) {
			t.Fatalf("head record does not re-encode to itself")
		}
	})
}
