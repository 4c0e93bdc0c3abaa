package vchash

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
)

// VectorFile is a golden-vector file in the schema produced by running the
// reference implementation: a chain of blocks with their serialized ops and
// expected hashes.
type VectorFile struct {
	Name       string              `json:"name"`
	FirstBlock int64               `json:"first_block"`
	MagicBytes string              `json:"magic_bytes"`
	OpFields   map[string][]string `json:"opfields"`
	Blocks     []VectorBlock       `json:"blocks"`
}

// VectorBlock is one block of a VectorFile.
type VectorBlock struct {
	Height                int64          `json:"height"`
	Ops                   []string       `json:"ops"`
	OpRecords             []VectorRecord `json:"op_records"`
	PrevConsensusBlocks   []int64        `json:"prev_consensus_blocks"`
	ExpectedOpsHash       string         `json:"expected_ops_hash"`
	ExpectedConsensusHash string         `json:"expected_consensus_hash"`
}

// VectorRecord is an op as given to serialize_op.
type VectorRecord struct {
	Opcode string         `json:"opcode"`
	Fields map[string]any `json:"fields"`
}

// ReadVectorFile decodes a vector file, keeping numbers exact.
func ReadVectorFile(path string) (*VectorFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeVectorFile(f)
}

// DecodeVectorFile decodes a vector file from r, keeping numbers exact.
func DecodeVectorFile(r io.Reader) (*VectorFile, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v VectorFile
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("vector file: %w", err)
	}
	return &v, nil
}

// VectorReport says how many checks a vector file passed.
type VectorReport struct {
	Blocks, Ops, Records int
}

// Check re-derives every block's serialized ops (from op_records and
// opfields), prior-block list, ops hash and consensus hash, and returns the
// first difference from the expected values.
func (v *VectorFile) Check() (VectorReport, error) {
	var rep VectorReport
	history := make(map[int64]ConsensusHash, len(v.Blocks))
	for i, b := range v.Blocks {
		if want := v.FirstBlock + int64(i); b.Height != want {
			return rep, fmt.Errorf("block %d: height %d, want %d (heights must be contiguous)", i, b.Height, want)
		}
		if len(b.OpRecords) > 0 && len(b.OpRecords) != len(b.Ops) {
			return rep, fmt.Errorf("block %d: %d op records for %d ops", b.Height, len(b.OpRecords), len(b.Ops))
		}
		for j, rec := range b.OpRecords {
			if len(rec.Opcode) != 1 {
				return rep, fmt.Errorf("block %d op %d: opcode %q is not one byte", b.Height, j, rec.Opcode)
			}
			fields, ok := v.OpFields[rec.Opcode]
			if !ok {
				return rep, fmt.Errorf("block %d op %d: opcode %q has no opfields", b.Height, j, rec.Opcode)
			}
			got, err := SerializeOp(rec.Opcode[0], fields, rec.Fields)
			if err != nil {
				return rep, fmt.Errorf("block %d op %d: %w", b.Height, j, err)
			}
			if !bytes.Equal(got, []byte(b.Ops[j])) {
				return rep, fmt.Errorf("block %d op %d: serialize_op gives %q, want %q", b.Height, j, got, b.Ops[j])
			}
			rep.Records++
		}
		prev := PrevBlocks(b.Height, v.FirstBlock)
		if b.PrevConsensusBlocks != nil && !equalHeights(prev, b.PrevConsensusBlocks) {
			return rep, fmt.Errorf("block %d: prior blocks %v, want %v", b.Height, prev, b.PrevConsensusBlocks)
		}
		ops := make([][]byte, len(b.Ops))
		for j := range b.Ops {
			ops[j] = []byte(b.Ops[j])
		}
		opsHash := OpsHash(ops)
		if got := opsHash.String(); got != b.ExpectedOpsHash {
			return rep, fmt.Errorf("block %d: ops hash %s, want %s", b.Height, got, b.ExpectedOpsHash)
		}
		prevHashes := make([]ConsensusHash, len(prev))
		for j, h := range prev {
			prevHashes[j] = history[h]
		}
		ch := Consensus(opsHash, prevHashes)
		if got := ch.String(); got != b.ExpectedConsensusHash {
			return rep, fmt.Errorf("block %d: consensus hash %s, want %s", b.Height, got, b.ExpectedConsensusHash)
		}
		history[b.Height] = ch
		rep.Blocks++
		rep.Ops += len(b.Ops)
	}
	return rep, nil
}

func equalHeights(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	as := append([]int64(nil), a...)
	bs := append([]int64(nil), b...)
	sort.Slice(as, func(i, j int) bool { return as[i] < as[j] })
	sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
	for i := range as {
		if as[i] != bs[i] {
			return false
		}
	}
	return true
}

// String summarizes the report.
func (r VectorReport) String() string {
	return strconv.Itoa(r.Blocks) + " blocks, " + strconv.Itoa(r.Ops) + " ops, " + strconv.Itoa(r.Records) + " records"
}
