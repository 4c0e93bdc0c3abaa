package snapshot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
)

// FuzzOpenAndLoad: whatever a snapshot file holds, opening it, reading its
// chunks and loading them through the importer ends in an error or a
// store, never a panic or an unbounded allocation.
func FuzzOpenAndLoad(f *testing.F) {
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\x05hello{}[]" + string(trailer(16, 2, 2))))
	dir := f.TempDir()
	chunkBytes = 1024
	_, _, db, _ := chainOf(f, 8)
	good, err := os.ReadFile(export(f, db, 107))
	chunkBytes = ChunkBytes
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f.snap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sf, err := Open(path)
		if err != nil {
			return
		}
		defer sf.Close()
		db, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		Load(t.Context(), sf, app(), db, engine.Trust{Height: sf.Manifest.Height})
	})
}
