package hyperlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The golden vectors come from node hypercore 11.35.1 (see
// ../../shared/specs/hypercore.md §8); testdata holds a copy so the tests run
// on a clean clone.

type vecNode struct {
	Index uint64 `json:"index"`
	Size  uint64 `json:"size"`
	Hash  Hash   `json:"hash"`
}

type vecLength struct {
	Length     uint64    `json:"length"`
	Fork       uint64    `json:"fork"`
	ByteLength uint64    `json:"byteLength"`
	Roots      []vecNode `json:"roots"`
	TreeHash   Hash      `json:"treeHash"`
	Compat     struct {
		Signable  Bytes `json:"signable"`
		Signature Bytes `json:"signature"`
	} `json:"compat"`
	Manifest struct {
		Signable        Bytes `json:"signable"`
		Signature       Bytes `json:"signature"`
		StoredSignature Bytes `json:"storedSignature"`
	} `json:"manifest"`
}

type vecDataset struct {
	LeafHashes      []Hash               `json:"leafHashes"`
	FirstBlocksHex  []Bytes              `json:"firstBlocksHex"`
	ParentsOfFirst8 []vecNode            `json:"parentsOfFirst8"`
	Lengths         map[string]vecLength `json:"lengths"`
}

type vecProofSample struct {
	Note    string `json:"note"`
	Request struct {
		Block *struct {
			Index uint64 `json:"index"`
			Nodes uint64 `json:"nodes"`
		} `json:"block"`
		Upgrade *struct {
			Start  uint64 `json:"start"`
			Length uint64 `json:"length"`
		} `json:"upgrade"`
	} `json:"request"`
	Proof           json.RawMessage `json:"proof"`
	WireDataEncoded Bytes           `json:"wireDataEncoded"`
}

type vectors struct {
	KeyPair struct {
		Seed      Bytes `json:"seed"`
		PublicKey Bytes `json:"publicKey"`
		SecretKey Bytes `json:"secretKey"`
	} `json:"keyPair"`
	Namespaces map[string]json.RawMessage `json:"namespaces"`
	CompatCore struct {
		Key          Hash `json:"key"`
		DiscoveryKey Hash `json:"discoveryKey"`
	} `json:"compatCore"`
	ManifestCore struct {
		Manifest        Manifest `json:"manifest"`
		ManifestEncoded Bytes    `json:"manifestEncoded"`
		ManifestHash    Hash     `json:"manifestHash"`
		Key             Hash     `json:"key"`
		DiscoveryKey    Hash     `json:"discoveryKey"`
	} `json:"manifestCore"`
	Datasets     map[string]vecDataset `json:"datasets"`
	ProofSamples []vecProofSample      `json:"proofSamples"`
}

const vectorsFile = "testdata/hypercore-vectors.json"

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	// When the shared copy is beside the repository, the two must agree.
	if shared, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "hypercore", "hypercore-vectors.json")); err == nil && !bytes.Equal(shared, raw) {
		t.Errorf("%s differs from ../shared/testdata/hypercore/hypercore-vectors.json", vectorsFile)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// datasetBlock returns block i of a vector dataset.
func datasetBlock(name string, i int) []byte {
	switch name {
	case "ascii":
		return []byte("block-" + strconv.Itoa(i))
	case "binary":
		b := make([]byte, (i*7)%50)
		for j := range b {
			b[j] = byte(i + j)
		}
		return b
	}
	panic(name)
}

func datasetBlocks(name string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = datasetBlock(name, i)
	}
	return out
}

func vectorKey(t testing.TB, v *vectors) ed25519.PrivateKey {
	priv := ed25519.NewKeyFromSeed(v.KeyPair.Seed)
	if !bytes.Equal(priv, v.KeyPair.SecretKey) || !bytes.Equal(priv.Public().(ed25519.PublicKey), v.KeyPair.PublicKey) {
		t.Fatal("key pair does not derive from the seed")
	}
	return priv
}

func TestVectorNamespaces(t *testing.T) {
	v := loadVectors(t)
	got := map[string]Hash{
		"TREE": NamespaceTree, "REPLICATE_INITIATOR": NamespaceReplicateInitiator,
		"REPLICATE_RESPONDER": NamespaceReplicateResponder, "MANIFEST": NamespaceManifest,
		"DEFAULT_NAMESPACE": DefaultNamespace, "DEFAULT_ENCRYPTION": NamespaceDefaultEncryption,
	}
	for name, h := range got {
		var want Hash
		if err := json.Unmarshal(v.Namespaces[name], &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h != want {
			t.Errorf("%s = %s, want %s", name, h, want)
		}
	}
}

func TestVectorKeys(t *testing.T) {
	v := loadVectors(t)
	priv := vectorKey(t, v)
	pub := priv.Public().(ed25519.PublicKey)
	tests := []struct {
		mode      Mode
		key, disc Hash
	}{
		{ModeCompat, v.CompatCore.Key, v.CompatCore.DiscoveryKey},
		{ModeManifest, v.ManifestCore.Key, v.ManifestCore.DiscoveryKey},
	}
	for _, tt := range tests {
		id := NewIdentity(tt.mode, pub)
		if got := id.Key(); got != tt.key {
			t.Errorf("%v key = %s, want %s", tt.mode, got, tt.key)
		}
		if got := id.DiscoveryKey(); got != tt.disc {
			t.Errorf("%v discovery key = %s, want %s", tt.mode, got, tt.disc)
		}
	}

	m := DefaultManifest(pub)
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, v.ManifestCore.ManifestEncoded) || len(enc) != 70 {
		t.Errorf("manifest encoding = %x, want %x", enc, v.ManifestCore.ManifestEncoded)
	}
	if h, _ := m.Hash(); h != v.ManifestCore.ManifestHash {
		t.Errorf("manifest hash = %s, want %s", h, v.ManifestCore.ManifestHash)
	}
	dec, err := DecodeManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := dec.Encode(); !bytes.Equal(again, enc) {
		t.Errorf("manifest does not round-trip")
	}
	// The vectors' JSON manifest decodes to the same manifest.
	if again, _ := v.ManifestCore.Manifest.Encode(); !bytes.Equal(again, enc) {
		t.Errorf("vector JSON manifest encodes to %x", again)
	}
}

func TestVectorTree(t *testing.T) {
	v := loadVectors(t)
	for name, ds := range v.Datasets {
		t.Run(name, func(t *testing.T) {
			blocks := datasetBlocks(name, len(ds.LeafHashes))
			for i, want := range ds.LeafHashes {
				if got := LeafHash(blocks[i]); got != want {
					t.Fatalf("leaf %d = %s, want %s", i, got, want)
				}
			}
			for i, want := range ds.FirstBlocksHex {
				if !bytes.Equal(blocks[i], want) {
					t.Errorf("block %d = %x, want %x", i, blocks[i], want)
				}
			}
			tree := buildMemTree(blocks[:8])
			for _, p := range ds.ParentsOfFirst8 {
				if got := tree[p.Index]; got != Node(p) {
					t.Errorf("parent %d = %v, want %v", p.Index, got, p)
				}
			}
			for key, l := range ds.Lengths {
				checkVectorLength(t, name+"/"+key, blocks[:l.Length], l)
			}
		})
	}
}

func checkVectorLength(t *testing.T, name string, blocks [][]byte, l vecLength) {
	roots := RootsOf(blocks)
	if len(roots) != len(l.Roots) {
		t.Fatalf("%s: %d roots, want %d", name, len(roots), len(l.Roots))
	}
	for i, r := range l.Roots {
		if roots[i] != Node(r) {
			t.Errorf("%s: root %d = %v, want %v", name, i, roots[i], r)
		}
	}
	idx := FullRoots(l.Length)
	for i := range idx {
		if idx[i] != l.Roots[i].Index {
			t.Errorf("%s: FullRoots[%d] = %d, want %d", name, i, idx[i], l.Roots[i].Index)
		}
	}
	if got := ByteLength(roots); got != l.ByteLength {
		t.Errorf("%s: byteLength = %d, want %d", name, got, l.ByteLength)
	}
	th := TreeHash(roots)
	if th != l.TreeHash {
		t.Errorf("%s: tree hash = %s, want %s", name, th, l.TreeHash)
	}
}

func TestVectorSignatures(t *testing.T) {
	v := loadVectors(t)
	priv := vectorKey(t, v)
	pub := priv.Public().(ed25519.PublicKey)
	for name, ds := range v.Datasets {
		for key, l := range ds.Lengths {
			t.Run(name+"/"+key, func(t *testing.T) {
				// compat
				cid := NewIdentity(ModeCompat, pub)
				if s := CompatSignable(l.TreeHash, l.Length, l.Fork); !bytes.Equal(s, l.Compat.Signable) || len(s) != CompatSignableSize {
					t.Errorf("compat signable = %x, want %x", s, l.Compat.Signable)
				}
				if s := cid.Signable(l.TreeHash, l.Length, l.Fork); !bytes.Equal(s, l.Compat.Signable) {
					t.Errorf("identity compat signable differs")
				}
				ch := cid.SignHead(priv, l.TreeHash, l.Length, l.Fork)
				if !bytes.Equal(ch.Signature, l.Compat.Signature) {
					t.Errorf("compat signature = %x, want %x", ch.Signature, l.Compat.Signature)
				}
				if err := VerifyHead(v.CompatCore.Key, ch); err != nil {
					t.Errorf("compat head: %v", err)
				}
				// manifest
				mid := NewIdentity(ModeManifest, pub)
				if s := ManifestSignable(v.ManifestCore.Key, l.TreeHash, l.Length, l.Fork); !bytes.Equal(s, l.Manifest.Signable) || len(s) != ManifestSignableSize {
					t.Errorf("manifest signable = %x, want %x", s, l.Manifest.Signable)
				}
				mh := mid.SignHead(priv, l.TreeHash, l.Length, l.Fork)
				if !bytes.Equal(mh.Signature, l.Manifest.StoredSignature) || len(mh.Signature) != MultiSigSize {
					t.Errorf("stored signature = %x, want %x", mh.Signature, l.Manifest.StoredSignature)
				}
				raw, err := mh.RawSignature()
				if err != nil || !bytes.Equal(raw, l.Manifest.Signature) {
					t.Errorf("raw signature = %x (%v), want %x", raw, err, l.Manifest.Signature)
				}
				if !bytes.Equal(mh.Manifest, v.ManifestCore.ManifestEncoded) {
					t.Errorf("head manifest = %x", mh.Manifest)
				}
				if err := VerifyHead(v.ManifestCore.Key, mh); err != nil {
					t.Errorf("manifest head: %v", err)
				}
				// Heads from the vectors' own bytes verify; each fails under the other key.
				mh.Roots = nil
				if err := VerifyHead(v.CompatCore.Key, mh); err == nil {
					t.Errorf("manifest head verified under the compat key")
				}
				if err := VerifyHead(v.ManifestCore.Key, ch); err == nil {
					t.Errorf("compat head verified under the manifest key")
				}
			})
		}
	}
}

func TestVectorProofSamples(t *testing.T) {
	v := loadVectors(t)
	blocks := datasetBlocks("ascii", 1000)
	tree := buildMemTree(blocks)
	l1000 := v.Datasets["ascii"].Lengths["1000"]
	head := SignedHead{Length: 1000, TreeHash: l1000.TreeHash, Signature: l1000.Manifest.StoredSignature,
		Manifest: v.ManifestCore.ManifestEncoded}
	value := func(i uint64) ([]byte, error) { return blocks[i], nil }
	for i, s := range v.ProofSamples {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var want Proof
			if err := json.Unmarshal(s.Proof, &want); err != nil {
				t.Fatal(err)
			}
			// Reproduce the proof from the tree, as hypercore built it.
			var req ProofRequest
			if b := s.Request.Block; b != nil {
				req.Block = &BlockRequest{Index: b.Index, Nodes: b.Nodes}
			}
			if u := s.Request.Upgrade; u != nil {
				req.Upgrade = &UpgradeRequest{Start: u.Start, Length: u.Length}
			}
			got, err := generateProof(tree, 1000, 0, req, l1000.Manifest.StoredSignature, value)
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(&want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("generated proof\n%s\nwant\n%s", gj, wj)
			}
			// Wire encoding.
			if s.WireDataEncoded != nil {
				want.Request = 1
				enc, err := want.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc, s.WireDataEncoded) {
					t.Errorf("wire encoding\n%x\nwant\n%x", enc, s.WireDataEncoded)
				}
				dec, err := DecodeProof(s.WireDataEncoded)
				if err != nil {
					t.Fatal(err)
				}
				dj, _ := json.Marshal(dec)
				if wj, _ := json.Marshal(&want); !bytes.Equal(dj, wj) {
					t.Errorf("decoded wire proof\n%s\nwant\n%s", dj, wj)
				}
			}
			// Verify.
			switch i {
			case 0: // block 5 and an upgrade from nothing to the length-1000 head
				if err := VerifyInclusion(v.ManifestCore.Key, head, 5, blocks[5], &want); err != nil {
					t.Errorf("VerifyInclusion: %v", err)
				}
				ver := NewVerifier(v.ManifestCore.Key)
				up := want
				up.Block = nil
				if err := ver.Upgrade(&up, head); err == nil {
					t.Errorf("upgrade without the block's path verified")
				}
			case 1: // block 500 with no nodes: the leaf itself must be trusted
				root, err := verifyTree(&want)
				if err != nil {
					t.Fatal(err)
				}
				if root.Index != 1000 || root.Hash != v.Datasets["ascii"].LeafHashes[500] {
					t.Errorf("block 500 leaf = %v", root)
				}
			case 2: // upgrade 100 -> 1000
				l100 := v.Datasets["ascii"].Lengths["100"]
				old := SignedHead{Length: 100, TreeHash: l100.TreeHash, Signature: l100.Manifest.StoredSignature,
					Manifest: v.ManifestCore.ManifestEncoded}
				var roots []Node
				for _, r := range l100.Roots {
					roots = append(roots, Node(r))
				}
				if err := VerifyExtension(v.ManifestCore.Key, old, head, &ExtensionProof{OldRoots: roots, Proof: &want}); err != nil {
					t.Errorf("VerifyExtension: %v", err)
				}
				old.Roots = roots
				ver, err := NewVerifierAt(v.ManifestCore.Key, old)
				if err != nil {
					t.Fatal(err)
				}
				if err := ver.Upgrade(&want, head); err != nil {
					t.Errorf("Verifier.Upgrade: %v", err)
				}
				if ver.Length() != 1000 {
					t.Errorf("verifier length %d", ver.Length())
				}
			}
		})
	}
}

func TestVectorHexRoundTrip(t *testing.T) {
	h, err := ParseHash(hex.EncodeToString(make([]byte, 32)))
	if err != nil || !h.IsZero() {
		t.Fatal(h, err)
	}
	if _, err := ParseHash("00"); err == nil {
		t.Error("short hash parsed")
	}
}
