package snapshot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
		need := opts.Threshold
		if need <= 0 || need > len(opts.Signers) {
			need = len(opts.Signers)
		}
		if got := sf.Signed(opts.Signers); len(got) < need {
			return engine.BlockRecord{}, fail("%d of the %d trusted publishers signed it; %d must", len(got), len(opts.Signers), need)
		}
	}
	if err := CheckTarget(dir, func(db *store.DB) error {
		name, first, ok, err := engine.StoredIdentity(db)
		if err == nil && ok && (name != info.Name || first != info.FirstBlock) {
			err = fmt.Errorf("data directory %s holds application %q with first block %d: import into an empty directory", dir, name, first)
		}
		return err
	}); err != nil {
		return engine.BlockRecord{}, err
	}
	var rec engine.BlockRecord
	err = Install(dir, func(db *store.DB) error {
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
func Install(dir string, build func(db *store.DB) error) error {
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
	if err != nil {
		os.RemoveAll(staging)
		return err
	}
	if err := swap(staging, dir); err != nil {
		return fmt.Errorf("snapshot: installing the checked store: %w", err)
	}
	return nil
}

// CheckTarget refuses a data directory in use, or one whose store check
// refuses (another application's); an absent or empty one passes.
func CheckTarget(dir string, check func(db *store.DB) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	db, err := store.Open(dir, store.Options{CacheBytes: 1 << 20})
	if err != nil {
		return fmt.Errorf("data directory %s (is a node running on it?): %w", dir, err)
	}
	defer db.Close()
	return check(db)
}

// NewBatchWriter returns a writer through Pebble batches of a few MiB
// (Commit writes the last one).
func NewBatchWriter(db *store.DB) *BatchWriter { return &BatchWriter{db: db} }

// BatchWriter writes through Pebble batches of about batchBytes.
type BatchWriter = batchWriter

// batchWriter writes through Pebble batches of about batchBytes.
type batchWriter struct {
	db   *store.DB
	txn  *store.Txn
	size int
}

func (w *batchWriter) Set(key, value []byte) error {
	if w.txn == nil {
		w.txn = w.db.NewWriteTxn()
	}
	if err := w.txn.Set(key, value); err != nil {
		return err
	}
	if w.size += len(key) + len(value); w.size >= batchBytes {
		return w.commit(false)
	}
	return nil
}

// Commit writes the last batch, fsyncing it when sync is set.
func (w *batchWriter) Commit(sync bool) error { return w.commit(sync) }

func (w *batchWriter) commit(sync bool) error {
	if w.txn == nil {
		return nil
	}
	err := w.txn.Commit(sync)
	w.txn, w.size = nil, 0
	return err
}

func build(ctx context.Context, sf *File, db *store.DB, opts ImportOptions) (engine.BlockRecord, error) {
	w := &batchWriter{db: db}
	rec, err := load(ctx, sf, opts.App, w, opts.Trust, opts.Progress)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	return rec, w.commit(true)
}

// Load checks the snapshot's chunks, consensus hashes and state against
// trust as Import does, writing its keys to db (an empty store, in memory
// say) instead of a data directory. The caller discards db when it fails.
func Load(ctx context.Context, sf *File, app engine.Application, db *store.DB, trust engine.Trust) (engine.BlockRecord, error) {
	w := &batchWriter{db: db}
	rec, err := load(ctx, sf, app, w, trust, nil)
	if err != nil {
		return engine.BlockRecord{}, err
	}
	return rec, w.commit(false)
}

func load(ctx context.Context, sf *File, app engine.Application, w *batchWriter, trust engine.Trust, progress func(done, total int64)) (engine.BlockRecord, error) {
	im := engine.NewImporter(app, w)
	var done int64
	err := sf.Chunks(func(i int, kvs []engine.KV) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := im.Put(kvs); err != nil {
			return err
		}
		done += int64(sf.Manifest.Chunks[i].Size)
		if progress != nil {
			progress(done, sf.Manifest.Bytes)
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
	case rec.Hash.String() != m.BlockHash:
		return engine.BlockRecord{}, fail("block %d's hash is %s, the manifest says %s", rec.Height, rec.Hash, m.BlockHash)
	case rec.State.String() != m.State:
		return engine.BlockRecord{}, fail("the state commitment is %s, the manifest says %s", rec.State, m.State)
	case im.Keys() != m.Keys:
		return engine.BlockRecord{}, fail("it holds %d keys, the manifest says %d", im.Keys(), m.Keys)
	}
	return rec, nil
}
