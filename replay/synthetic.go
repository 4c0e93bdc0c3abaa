package replay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// Synthetic returns a JSON Lines tape of blocks blocks of opsPerBlock
// serialized ops each, starting at height first, shaped like a naming
// application's ops (about 100 bytes each). The same arguments always give
// the same bytes.
func Synthetic(first int64, blocks, opsPerBlock int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var buf bytes.Buffer
	buf.Grow(blocks * opsPerBlock * 110)
	ops := make([]string, opsPerBlock)
	var raw [32]byte
	for b := 0; b < blocks; b++ {
		for i := range ops {
			for j := range raw {
				raw[j] = byte(r.Uint32())
			}
			name := fmt.Sprintf("name%07d.id", r.IntN(10_000_000))
			ops[i] = fmt.Sprintf("a:%d:%s,64:%s,1:%d", len(name), name, hex.EncodeToString(raw[:]), i%10)
		}
		line, _ := json.Marshal(struct {
			Height int64    `json:"height"`
			Ops    []string `json:"ops"`
		}{first + int64(b), ops})
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
