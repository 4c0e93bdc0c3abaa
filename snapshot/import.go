package snapshot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
)

// ImportOptions say what an import trusts and reports.
type ImportOptions struct {
	// App is the application the data directory is for.
	App engine.Application
	// Trust is the height and consensus hash (and, when known, the state
	// commitment) the snapshot must end at.
	Trust engine.Trust
	// Signers are the publishers' keys; Threshold how many of them must
	// have signed (0: all of them). Without Trust.State, the state
	// commitment is only as good as these signatures: the consensus hash
	// covers the ops, not the state, so an import needs one or the other.
	Signers   []ed25519.PublicKey
	Threshold int
	// Progress, when set, is called after each chunk with the bytes
	// imported so far and the total.
	Progress func(done, total int64)
}

// batchBytes is how much an import writes per Pebble batch.
const batchBytes = 16 << 20

// stagingDir is where an import builds the new store, beside dir.
func stagingDir(dir string) string { return filepath.Clean(dir) + ".importing" }

// Import checks the snapshot at path against opts and makes it the store
// in dir, which must be free (no node running on it) and empty or hold
// the same application's store. The new store is built beside dir and
// swapped in with one rename once every check passed: an import that
// fails, or is killed, leaves dir as it was. It returns the record of the
// snapshot's block, where a node goes on from.
func Import(ctx context.Context, path, dir string, opts ImportOptions) (engine.BlockRecord, error) {
	sf, err := Open(path)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	defer sf.Close()
	m := sf.Manifest
	info := opts.App.Info()
	switch {
	case m.App != info.Name || m.FirstBlock != info.FirstBlock:
		return engine.BlockRecord{}, fail("it is of application %q with first block %d, not %q with first block %d", m.App, m.FirstBlock, info.Name, info.FirstBlock)
	case m.Height != opts.Trust.Height:
		return engine.BlockRecord{}, fail("it is at height %d, not the trusted %d", m.Height, opts.Trust.Height)
	case m.Consensus != opts.Trust.Consensus.String():
		return engine.BlockRecord{}, fail("its manifest gives consensus hash %s at height %d, not the trusted %s", m.Consensus, m.Height, opts.Trust.Consensus)
	case !opts.Trust.State.IsZero() && m.State != opts.Trust.State.String():
		return engine.BlockRecord{}, fail("its manifest gives state commitment %s, not the trusted %s", m.State, opts.Trust.State)
	}
	if opts.Trust.State.IsZero() {
		if len(opts.Signers) == 0 {
			return engine.BlockRecord{}, fail("nothing vouches for the state: a consensus hash covers the ops, not the state they make; give the state commitment too (--trust H:CONSENSUS_HASH:STATE_COMMITMENT) or the keys of publishers who signed the snapshot (--signer)")
		}
		unique := map[string]bool{}
		for _, k := range opts.Signers {
			unique[string(k)] = true
		}
		need := opts.Threshold
		switch {
		case need == 0:
			need = len(unique)
		case need < 0 || need > len(unique):
			return engine.BlockRecord{}, fmt.Errorf("snapshot: %d signatures required of %d distinct publishers", need, len(unique))
		}
		if got := sf.Signed(opts.Signers); len(got) < need {
			return engine.BlockRecord{}, fail("%d of the %d trusted publishers signed it; %d must", len(got), len(unique), need)
		}
	}
	var rec engine.BlockRecord
	err = Install(dir, func(db *store.DB) error {
		name, first, ok, err := engine.StoredIdentity(db)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("data directory %s holds a store that is no engine's: import into an empty directory", dir)
		case name != info.Name || first != info.FirstBlock:
			return fmt.Errorf("data directory %s holds application %q with first block %d: import into an empty directory", dir, name, first)
		}
		return nil
	}, func(db *store.DB) error {
		var err error
		rec, err = build(ctx, sf, db, opts)
		return err
	})
	return rec, err
}

// Install builds a store with build in a new directory beside dir and,
// when build succeeds, makes it the directory dir in one rename: a build
// that fails, or a process killed before the rename, leaves dir as it
// was (what a killed one left beside it is removed by the next Install).
// dir must be absent, empty, or hold a store that check accepts; that
// store stays open (locked against a node starting on it) until the swap.
func Install(dir string, check func(db *store.DB) error, build func(db *store.DB) error) error {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // replace what the link points at, not the link
	}
	old, err := openTarget(dir)
	if err != nil {
		return err
	}
	if old != nil {
		defer old.Close() // closed early once swapped; a second Close is harmless
		if err := check(old); err != nil {
			return err
		}
	}
	staging := stagingDir(dir)
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	db, err := store.Open(staging, store.Options{})
	if err != nil {
		return err
	}
	err = build(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = swap(staging, dir)
	}
	if err != nil {
		os.RemoveAll(staging) // the new store
		return err
	}
	if old != nil {
		old.Close()
	}
	// The old store, now beside dir: a failure to delete it does not undo
	// the import (the next one deletes it).
	os.RemoveAll(staging)
	return nil
}

// openTarget opens the store in dir, or returns nil when dir is absent or
// empty. A directory that holds anything but a store is refused: it is
// not a data directory, and importing would delete what is in it.
func openTarget(dir string) (*store.DB, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	isStore := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "MANIFEST-") || strings.HasPrefix(e.Name(), "marker.manifest") {
			isStore = true
		}
	}
	if !isStore {
		return nil, fmt.Errorf("%s is not empty and holds no store: import into an empty directory or a data directory", dir)
	}
	db, err := store.Open(dir, store.Options{CacheBytes: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("data directory %s (is a node running on it?): %w", dir, err)
	}
	return db, nil
}

// NewBatchWriter returns a writer through Pebble batches of a few MiB
// (Commit writes the last one).
func NewBatchWriter(db *store.DB) *BatchWriter { return store.NewBatchWriter(db, batchBytes) }

// BatchWriter writes through Pebble batches of about batchBytes.
type BatchWriter = store.BatchWriter

func build(ctx context.Context, sf *File, db *store.DB, opts ImportOptions) (engine.BlockRecord, error) {
	w := NewBatchWriter(db)
	rec, err := load(ctx, sf, opts.App, w, opts.Trust, opts.Progress)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	return rec, w.Commit(true)
}

// Load checks the snapshot's chunks, consensus hashes and state against
// trust as Import does, writing its keys to db (an empty store, in memory
// say) instead of a data directory. The caller discards db when it fails.
func Load(ctx context.Context, sf *File, app engine.Application, db *store.DB, trust engine.Trust) (engine.BlockRecord, error) {
	w := NewBatchWriter(db)
	rec, err := load(ctx, sf, app, w, trust, nil)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	return rec, w.Commit(false)
}

func load(ctx context.Context, sf *File, app engine.Application, w *BatchWriter, trust engine.Trust, progress func(done, total int64)) (engine.BlockRecord, error) {
	im := engine.NewImporter(app, w)
	var done int64
	last := -1
	err := sf.Chunks(func(i int, kvs []engine.KV) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := im.Put(kvs); err != nil {
			return err
		}
		if i != last { // a chunk comes in several calls: count it once
			last = i
			done += int64(sf.Manifest.Chunks[i].Size)
			if progress != nil {
				progress(done, sf.Manifest.Bytes)
			}
		}
		return nil
	})
	if err != nil {
		im.Finish(trust) // let the hashing goroutines end
		return engine.BlockRecord{}, err
	}
	rec, err := im.Finish(trust)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	m := sf.Manifest
	switch {
	case rec.Height != m.Height:
		return engine.BlockRecord{}, fail("its newest block is %d, the manifest says %d", rec.Height, m.Height)
	case rec.Hash.String() != m.BlockHash:
		return engine.BlockRecord{}, fail("block %d's hash is %s, the manifest says %s", rec.Height, rec.Hash, m.BlockHash)
	case rec.State.String() != m.State:
		return engine.BlockRecord{}, fail("the state commitment is %s, the manifest says %s", rec.State, m.State)
	case im.Keys() != m.Keys:
		return engine.BlockRecord{}, fail("it holds %d keys, the manifest says %d", im.Keys(), m.Keys)
	}
	return rec, nil
}
