package vchash

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// vectorDirs are searched for vector files: the project's copy, the owners'
// shared folder when it sits beside the checkout, and VCHAIN_VECTORS.
func vectorFiles(t *testing.T) []string {
	t.Helper()
	dirs := []string{"testdata", filepath.Join("..", "..", "shared", "testdata", "virtualchain")}
	if d := os.Getenv("VCHAIN_VECTORS"); d != "" {
		dirs = append(dirs, d)
	}
	seen := map[string]bool{}
	var files []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "virtualchain-vectors-*.json"))
		for _, f := range m {
			if !seen[filepath.Base(f)+d] {
				seen[filepath.Base(f)+d] = true
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no vector files found")
	}
	return files
}

func TestBlockVectors(t *testing.T) {
	for _, path := range vectorFiles(t) {
		t.Run(path, func(t *testing.T) {
			v, err := ReadVectorFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := v.Check()
			if err != nil {
				t.Fatal(err)
			}
			if rep.Blocks != len(v.Blocks) || rep.Blocks == 0 {
				t.Fatalf("checked %d of %d blocks", rep.Blocks, len(v.Blocks))
			}
			t.Logf("%s: %s", v.Name, rep)
		})
	}
}

type primitives struct {
	DshaEmpty   string `json:"dsha256_empty_hex"`
	EmptyBlock  string `json:"empty_block_ops_hash"`
	MerkleRoots []struct {
		Leaves []string `json:"leaves_hex"`
		Root   string   `json:"root_hex"`
	} `json:"merkle_roots"`
	OpsHash []struct {
		Ops     []string `json:"serialized_ops"`
		OpsHash string   `json:"ops_hash"`
	} `json:"ops_hash"`
	ConsensusHash []struct {
		OpsHash string   `json:"ops_hash"`
		Prev    []string `json:"prev_consensus_hashes"`
		Ops     []string `json:"serialized_ops"`
		Want    string   `json:"consensus_hash"`
	} `json:"consensus_hash"`
	SerializeFields map[string][]string `json:"serialize_opfields"`
	SerializeOp     []struct {
		Label      string         `json:"label"`
		Type       string         `json:"python2_type"`
		ValueJSON  any            `json:"value_json"`
		ValueRepr  string         `json:"value_repr"`
		Serialized string         `json:"serialized"`
		Opcode     string         `json:"opcode"`
		FieldsJSON map[string]any `json:"fields_json"`
	} `json:"serialize_op"`
}

func loadPrimitives(t *testing.T) primitives {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "virtualchain-primitives.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var p primitives
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrimitiveMerkleRoots(t *testing.T) {
	p := loadPrimitives(t)
	if len(p.MerkleRoots) == 0 {
		t.Fatal("no merkle cases")
	}
	for i, c := range p.MerkleRoots {
		got, err := MerkleRootHex(c.Leaves)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got != c.Root {
			t.Errorf("case %d (%d leaves): root %s, want %s", i, len(c.Leaves), got, c.Root)
		}
	}
	if _, err := MerkleRootHex(nil); err == nil {
		t.Error("empty tree: want an error")
	}
	if _, err := MerkleRootHex([]string{"zz"}); err == nil {
		t.Error("non-hex leaf: want an error")
	}
}

func TestPrimitiveOpsHash(t *testing.T) {
	p := loadPrimitives(t)
	d := DoubleSHA256(nil)
	if hex.EncodeToString(d[:]) != p.DshaEmpty {
		t.Errorf("dsha256(\"\") = %x, want %s", d, p.DshaEmpty)
	}
	if EmptyOpsHash.String() != p.EmptyBlock {
		t.Errorf("empty ops hash %s, want %s", EmptyOpsHash, p.EmptyBlock)
	}
	for i, c := range p.OpsHash {
		ops := make([][]byte, len(c.Ops))
		for j := range c.Ops {
			ops[j] = []byte(c.Ops[j])
		}
		if got := OpsHash(ops).String(); got != c.OpsHash {
			t.Errorf("case %d: ops hash %s, want %s", i, got, c.OpsHash)
		}
	}
}

func TestPrimitiveConsensusHash(t *testing.T) {
	p := loadPrimitives(t)
	for i, c := range p.ConsensusHash {
		oh, err := ParseHash(c.OpsHash)
		if err != nil {
			t.Fatal(err)
		}
		if c.Ops != nil {
			ops := make([][]byte, len(c.Ops))
			for j := range c.Ops {
				ops[j] = []byte(c.Ops[j])
			}
			if got := OpsHash(ops); got != oh {
				t.Errorf("case %d: ops hash %s, want %s", i, got, oh)
			}
		}
		prev := make([]ConsensusHash, len(c.Prev))
		for j, s := range c.Prev {
			if prev[j], err = ParseConsensusHash(s); err != nil {
				t.Fatal(err)
			}
		}
		if got := Consensus(oh, prev).String(); got != c.Want {
			t.Errorf("case %d (%d prior): consensus %s, want %s", i, len(prev), got, c.Want)
		}
	}
}

func TestPrimitiveSerializeOp(t *testing.T) {
	p := loadPrimitives(t)
	if len(p.SerializeOp) == 0 {
		t.Fatal("no serialize_op cases")
	}
	for _, c := range p.SerializeOp {
		t.Run(c.Label, func(t *testing.T) {
			if c.FieldsJSON != nil {
				got, err := SerializeOp(c.Opcode[0], p.SerializeFields[c.Opcode], c.FieldsJSON)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != c.Serialized {
					t.Fatalf("got %q, want %q", got, c.Serialized)
				}
				return
			}
			v := c.ValueJSON
			if c.Type == "float" {
				f, err := strconv.ParseFloat(c.ValueRepr, 64)
				if err != nil {
					t.Fatal(err)
				}
				v = f
			}
			got, err := SerializeOp('z', p.SerializeFields["z"], map[string]any{"v": v})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.Serialized {
				t.Fatalf("%s %s: got %q, want %q", c.Type, c.ValueRepr, got, c.Serialized)
			}
		})
	}
}

func TestSerializeOpMissingField(t *testing.T) {
	_, err := SerializeOp('a', []string{"x", "y"}, map[string]any{"x": 1})
	if err == nil {
		t.Fatal("want an error for a missing field")
	}
	if _, err := SerializeOp('a', []string{"m"}, map[string]any{"m": map[string]any{}}); err == nil {
		t.Fatal("want an error for a dict value")
	}
}

func TestPrevBlocks(t *testing.T) {
	cases := []struct {
		k, first int64
		want     []int64
	}{
		{100, 100, nil},
		{101, 100, []int64{100}},
		{103, 100, []int64{102, 100}},
		{107, 100, []int64{106, 104, 100}},
		{106, 100, []int64{105, 103}},
	}
	for _, c := range cases {
		got := PrevBlocks(c.k, c.first)
		if !equalHeights(got, c.want) || len(got) != NumPrevBlocks(c.k, c.first) {
			t.Errorf("PrevBlocks(%d, %d) = %v, want %v", c.k, c.first, got, c.want)
		}
	}
}
