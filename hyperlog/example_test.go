package hyperlog_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"

	"github.com/vchain-dev/vchain/hyperlog"
)

// A writer appends, an auditor who only knows the core key checks an entry
// and that a later head extends the one it saw.
func Example() {
	dir, _ := os.MkdirTemp("", "hyperlog-example-")
	defer os.RemoveAll(dir)

	seed := make([]byte, ed25519.SeedSize) // use a real random seed
	log, err := hyperlog.Create(dir, ed25519.NewKeyFromSeed(seed), hyperlog.Options{})
	if err != nil {
		panic(err)
	}
	defer log.Close()

	log.Append([]byte("call 1"), []byte("call 2")) // one batch, one signed head
	seen := log.Head()                             // an auditor keeps this head
	log.Append([]byte("call 3"))

	// Served as JSON; the auditor needs only the 32-byte core key.
	key := log.Key()
	proof, _ := log.ProveInclusion(1, seen.Length)
	wire, _ := json.Marshal(proof)
	var got hyperlog.Proof
	json.Unmarshal(wire, &got)
	fmt.Println("inclusion:", hyperlog.VerifyInclusion(key, seen, 1, []byte("call 2"), &got))

	ext, _ := log.ProveExtension(seen.Length, log.Length())
	fmt.Println("extension:", hyperlog.VerifyExtension(key, seen, log.Head(), ext))
	fmt.Println("length:", log.Length(), "mode:", log.Mode())
	// Output:
	// inclusion: <nil>
	// extension: <nil>
	// length: 3 mode: manifest
}
