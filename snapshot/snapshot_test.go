package snapshot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
)

var opts = names.Options{FirstBlock: 100, PreorderTTL: 6, Lifetime: 400, ValidWindow: 6}

func app() *names.App { return names.New(opts) }

// chainOf builds a chain of blocks of simulated names users, with the
// engine that followed it (whose consensus hashes the users carry).
func chainOf(t testing.TB, blocks int) (*memtape.Chain, *engine.Engine, *store.DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ref")
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := engine.Open(db, app(), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sim := namesim.NewSim(5, 20)
	sim.PreorderTTL, sim.Lifetime = opts.PreorderTTL, opts.Lifetime
	c := memtape.Generate(memtape.GenConfig{Seed: 5, Base: opts.FirstBlock, Blocks: blocks,
		Txs: func(r *rand.Rand, h int64) []tape.Tx {
			ch, _ := e.Consensus()
			var txs []tape.Tx
			for range 4 {
				txs = append(txs, sim.NextBlock(r, h, ch)...)
			}
			for i := range txs {
				txs[i].Index = i
			}
			return txs
		}}, func(c *memtape.Chain) {
		if err := e.Sync(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	})
	return c, e, db, dir
}

func export(t testing.TB, db *store.DB, height int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	snap := db.Snapshot()
	defer snap.Close()
	if _, err := Export(snap, app().Info(), height, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func trustOf(t *testing.T, e *engine.Engine, h int64) engine.Trust {
	rec, err := e.Record(h)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Trust{Height: h, Consensus: rec.Consensus, State: rec.State}
}

// TestImportThenSyncOn: snapshots at the tip and below it, imported with
// the trusted pair, give engines that go on from there and match, block
// for block (consensus hash and state commitment), the engine that
// replayed from the first block.
func TestImportThenSyncOn(t *testing.T) {
	chunkBytes = 2048 // many chunks
	defer func() { chunkBytes = ChunkBytes }()
	c, ref, refDB, _ := chainOf(t, 60)
	tip := ref.Height()
	for _, h := range []int64{tip, tip - 5} {
		path := export(t, refDB, h)
		sf, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(sf.Manifest.Chunks) < 3 {
			t.Fatalf("only %d chunks", len(sf.Manifest.Chunks))
		}
		sf.Close()
		dir := filepath.Join(t.TempDir(), "imported")
		rec, err := Import(context.Background(), path, dir, ImportOptions{App: app(), Trust: trustOf(t, ref, h)})
		if err != nil {
			t.Fatalf("import at %d: %v", h, err)
		}
		if rec.Height != h {
			t.Fatalf("imported at %d, want %d", rec.Height, h)
		}
		db, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(db, app(), engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if e.Height() != h {
			t.Fatalf("the imported engine starts at %d, want %d", e.Height(), h)
		}
		if full, _ := engine.HashState(db); full.Sum() != rec.State {
			t.Fatal("the imported state does not hash to its commitment")
		}
		if err := e.Sync(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		for k := h - 3; k <= tip; k++ {
			a, _ := ref.Record(k)
			b, err := e.Record(k)
			if err != nil || a != b {
				t.Fatalf("block %d: imported %+v (%v), replayed %+v", k, b, err, a)
			}
		}
		db.Close()
	}
}

// rewrite re-encodes a snapshot after edit changed its entries or its
// manifest; with rehash the chunk hashes and counts are made to fit (a
// snapshot that lies consistently).
func rewrite(t *testing.T, path string, edit func(m *Manifest, chunks [][]engine.KV) [][]engine.KV, rehash bool) string {
	t.Helper()
	sf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var chunks [][]engine.KV
	if err := sf.Chunks(func(_ int, kvs []engine.KV) error {
		var cp []engine.KV
		for _, e := range kvs {
			cp = append(cp, engine.KV{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
		}
		chunks = append(chunks, cp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := *sf.Manifest
	m.Chunks = append([]Chunk(nil), m.Chunks...)
	chunks = edit(&m, chunks)
	var out bytes.Buffer
	out.WriteString(magic)
	m.Bytes, m.Keys = 0, 0
	if rehash {
		m.Chunks = m.Chunks[:0]
	}
	for i, kvs := range chunks {
		var buf []byte
		for _, e := range kvs {
			buf = binary.AppendUvarint(buf, uint64(len(e.Key)))
			buf = append(buf, e.Key...)
			buf = binary.AppendUvarint(buf, uint64(len(e.Value)))
			buf = append(buf, e.Value...)
		}
		if rehash {
			sum := sha256.Sum256(buf)
			m.Chunks = append(m.Chunks, Chunk{Hash: hex.EncodeToString(sum[:]), Keys: len(kvs), Size: len(buf)})
		} else if i < len(m.Chunks) {
			m.Chunks[i].Size = len(buf)
		}
		out.Write(binary.AppendUvarint(nil, uint64(len(buf))))
		out.Write(buf)
		m.Bytes += int64(len(buf))
		m.Keys += int64(len(kvs))
	}
	off := out.Len()
	raw, _ := json.Marshal(&m)
	out.Write(raw)
	out.WriteString("[]")
	out.Write(trailer(int64(off), len(raw), 2))
	p := filepath.Join(t.TempDir(), "tampered")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dumpDir(t *testing.T, dir string) string {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	db.Iterate(nil, func(k, v []byte) error { fmt.Fprintf(&b, "%x=%x\n", k, v); return nil })
	return b.String()
}

// TestTamperingIsRefused: every kind of tampering is refused with a
// message naming it, and the data directory (here holding an earlier
// import) is left exactly as it was.
func TestTamperingIsRefused(t *testing.T) {
	chunkBytes = 4096
	defer func() { chunkBytes = ChunkBytes }()
	_, ref, refDB, _ := chainOf(t, 40)
	tip := ref.Height()
	good := export(t, refDB, tip)
	trust := trustOf(t, ref, tip)
	dir := filepath.Join(t.TempDir(), "data")
	// The directory holds an earlier snapshot's store.
	if _, err := Import(context.Background(), export(t, refDB, tip-2), dir, ImportOptions{App: app(), Trust: trustOf(t, ref, tip-2)}); err != nil {
		t.Fatal(err)
	}
	before := dumpDir(t, dir)
	publisherKey, publisher, _ := ed25519.GenerateKey(nil)
	firstState := func(chunks [][]engine.KV) (int, int) { // a state key's place
		for i, kvs := range chunks {
			for j, e := range kvs {
				if bytes.HasPrefix(e.Key, []byte("a/n")) {
					return i, j
				}
			}
		}
		t.Fatal("no name in the state")
		return 0, 0
	}
	cases := []struct {
		name   string
		path   func() string
		trust  engine.Trust
		expect string
	}{
		{"a changed value", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				i, j := firstState(ch)
				ch[i][j].Value = append(ch[i][j].Value, ' ')
				return ch
			}, true)
		}, trust, "the state hashes to"},
		{"a changed value, chunk hash kept", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				i, j := firstState(ch)
				ch[i][j].Value[0] ^= 1
				return ch
			}, false)
		}, trust, "hash is"},
		{"a dropped key", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				i, j := firstState(ch)
				ch[i] = append(ch[i][:j], ch[i][j+1:]...)
				return ch
			}, true)
		}, trust, "the state hashes to"},
		{"an extra key", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				i, j := firstState(ch)
				extra := engine.KV{Key: append(bytes.Clone(ch[i][j].Key), 'x'), Value: []byte(`{}`)}
				ch[i] = append(ch[i][:j+1], append([]engine.KV{extra}, ch[i][j+1:]...)...)
				return ch
			}, true)
		}, trust, "the state hashes to"},
		{"a key outside a snapshot", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				ch[0] = append([]engine.KV{{Key: []byte("_evil"), Value: []byte("x")}}, ch[0]...)
				return ch
			}, true)
		}, trust, "not part of a snapshot"},
		{"two chunks swapped", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				ch[0], ch[1] = ch[1], ch[0]
				return ch
			}, false)
		}, trust, "chunk 0"},
		{"two chunks swapped, manifest too", func() string {
			return rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
				ch[0], ch[1] = ch[1], ch[0]
				return ch
			}, true)
		}, trust, "must ascend"},
		{"the last block dropped (a wrong height)", func() string {
			return rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV {
				last := ch[len(ch)-1]
				for i := range last {
					if bytes.HasPrefix(last[i].Key, []byte("e/b/")) && i+1 < len(last) && !bytes.HasPrefix(last[i+1].Key, []byte("e/b/")) {
						ch[len(ch)-1] = append(last[:i], last[i+1:]...)
						break
					}
				}
				return ch
			}, true)
		}, trust, "ends at height"},
		{"a manifest that lies about its height", func() string {
			return rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV { m.Height--; return ch }, true)
		}, trust, "height"},
		{"a trusted height the snapshot is not at", func() string { return good }, engine.Trust{Height: tip - 1, Consensus: trust.Consensus, State: trust.State}, "not the trusted"},
		{"a signed manifest that lies about the state", func() string {
			p := rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV {
				var h lthash.Hash
				h.Add([]byte("lie"), nil)
				m.State = h.Sum().String()
				return ch
			}, true)
			if err := Sign(p, publisher); err != nil {
				t.Fatal(err)
			}
			return p
		}, engine.Trust{Height: tip, Consensus: trust.Consensus}, "the state commitment is"},
		{"a manifest that lies about the consensus hash", func() string {
			return rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV {
				m.Consensus = strings.Repeat("00", 16)
				return ch
			}, true)
		}, trust, "its manifest gives consensus hash"},
		{"a broken consensus chain", func() string {
			return rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV {
				for i := range ch {
					for j := range ch[i] {
						if bytes.HasPrefix(ch[i][j].Key, []byte("e/b/")) {
							ch[i][j].Value[64] ^= 1 // the first record's ops hash
							return ch
						}
					}
				}
				return ch
			}, true)
		}, trust, "consensus hash"},
		{"a cut file", func() string {
			raw, _ := os.ReadFile(good)
			p := filepath.Join(t.TempDir(), "cut")
			os.WriteFile(p, raw[:len(raw)/2], 0o644)
			return p
		}, trust, "cut short"},
		{"another application's", func() string {
			return rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV { m.App = "other"; return ch }, true)
		}, trust, "of application"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Import(context.Background(), c.path(), dir, ImportOptions{App: app(), Trust: c.trust, Signers: []ed25519.PublicKey{publisherKey}})
			var se *Error
			var ie *engine.ImportError
			t.Logf("refused: %v", err)
			if err == nil || !(errors.As(err, &se) || errors.As(err, &ie)) || !strings.Contains(err.Error(), c.expect) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, c.expect)
			}
			if after := dumpDir(t, dir); after != before {
				t.Fatal("the data directory changed")
			}
			if _, err := os.Stat(stagingDir(dir)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("the staging directory was left behind")
			}
		})
	}
	// The good one goes in.
	if _, err := Import(context.Background(), good, dir, ImportOptions{App: app(), Trust: trust}); err != nil {
		t.Fatal(err)
	}
	if dumpDir(t, dir) == before {
		t.Fatal("the good snapshot did not replace the store")
	}
}

// TestSignatures: without the state commitment an import needs k of the
// n trusted publishers' signatures; a signature by anyone else, or of
// another manifest, does not count.
func TestSignatures(t *testing.T) {
	_, ref, refDB, _ := chainOf(t, 20)
	tip := ref.Height()
	path := export(t, refDB, tip)
	trust := trustOf(t, ref, tip)
	trust.State = lthash.Digest{}
	var pubs []ed25519.PublicKey
	var keys []ed25519.PrivateKey
	for range 3 {
		pub, k, _ := ed25519.GenerateKey(nil)
		pubs, keys = append(pubs, pub), append(keys, k)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	for _, k := range []ed25519.PrivateKey{keys[0], keys[1], stranger} {
		if err := Sign(path, k); err != nil {
			t.Fatal(err)
		}
	}
	try := func(signers []ed25519.PublicKey, k int) error {
		_, err := Import(context.Background(), path, filepath.Join(t.TempDir(), "d"), ImportOptions{App: app(), Trust: trust, Signers: signers, Threshold: k})
		return err
	}
	if err := try(nil, 0); err == nil || !strings.Contains(err.Error(), "nothing vouches for the state") {
		t.Fatalf("no signers, no state: %v", err)
	}
	if err := try(pubs, 2); err != nil {
		t.Fatalf("2 of 3: %v", err)
	}
	if err := try(pubs, 3); err == nil || !strings.Contains(err.Error(), "2 of the 3") {
		t.Fatalf("3 of 3 wanted, 2 signed: %v", err)
	}
	if err := try(pubs[2:], 1); err == nil {
		t.Fatal("a publisher who did not sign counted")
	}
	// A signature moved onto another manifest does not verify.
	lying := rewrite(t, path, func(m *Manifest, ch [][]engine.KV) [][]engine.KV { m.Final = false; return ch }, false)
	sf, _ := Open(path)
	sigs, _ := json.Marshal(sf.Signatures)
	sf.Close()
	lraw, _ := os.ReadFile(lying)
	lf, _ := Open(lying)
	off := lf.off + int64(len(lf.raw))
	lf.Close()
	out := append(append(lraw[:off:off], sigs...), trailer(lf.off, len(lf.raw), len(sigs))...)
	os.WriteFile(lying, out, 0o644)
	if _, err := Import(context.Background(), lying, filepath.Join(t.TempDir(), "d"), ImportOptions{App: app(), Trust: trust, Signers: pubs, Threshold: 1}); err == nil || !strings.Contains(err.Error(), "0 of the 3") {
		t.Fatalf("signatures of another manifest: %v", err)
	}
}

// TestInterruptedImportChangesNothing: an import stopped after its first
// chunk leaves the data directory as it was.
func TestInterruptedImportChangesNothing(t *testing.T) {
	chunkBytes = 2048
	defer func() { chunkBytes = ChunkBytes }()
	_, ref, refDB, _ := chainOf(t, 30)
	tip := ref.Height()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Import(context.Background(), export(t, refDB, tip-1), dir, ImportOptions{App: app(), Trust: trustOf(t, ref, tip-1)}); err != nil {
		t.Fatal(err)
	}
	before := dumpDir(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Import(ctx, export(t, refDB, tip), dir, ImportOptions{App: app(), Trust: trustOf(t, ref, tip),
		Progress: func(done, total int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if dumpDir(t, dir) != before {
		t.Fatal("an interrupted import changed the data directory")
	}
}

// TestHostileTargetsAndFiles: the findings of a hostile review, each
// refused now: a non-empty directory that is no data directory is left
// alone; a symlinked data directory stays a link; a repeated signer counts
// once and an impossible threshold is an error; a record whose parent
// hash was zeroed in a linked tape, a manifest with a case-variant
// duplicate key, and a chunk with more entries than its manifest says are
// refused.
func TestHostileTargetsAndFiles(t *testing.T) {
	_, ref, refDB, _ := chainOf(t, 20)
	tip := ref.Height()
	good := export(t, refDB, tip)
	trust := trustOf(t, ref, tip)
	imp := func(path, dir string, o ImportOptions) error {
		o.App = app()
		if o.Trust.Height == 0 {
			o.Trust = trust
		}
		_, err := Import(context.Background(), path, dir, o)
		return err
	}

	docs := filepath.Join(t.TempDir(), "docs")
	os.MkdirAll(docs, 0o755)
	os.WriteFile(filepath.Join(docs, "thesis.txt"), []byte("precious"), 0o644)
	if err := imp(good, docs, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "holds no store") {
		t.Fatalf("a folder of documents: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(docs, "thesis.txt")); err != nil || string(b) != "precious" {
		t.Fatal("the import touched a folder that is no data directory")
	}

	target := filepath.Join(t.TempDir(), "real")
	link := filepath.Join(t.TempDir(), "link")
	if err := imp(good, target, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Symlink(target, link)
	if err := imp(good, link, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlinked data directory was replaced by a folder")
	}

	a, akey, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	Sign(good, akey)
	noState := engine.Trust{Height: tip, Consensus: trust.Consensus}
	if err := imp(good, filepath.Join(t.TempDir(), "d"), ImportOptions{Trust: noState, Signers: []ed25519.PublicKey{a, a, b}, Threshold: 2}); err == nil {
		t.Fatal("a repeated signer counted twice")
	}
	if err := imp(good, filepath.Join(t.TempDir(), "d"), ImportOptions{Trust: noState, Signers: []ed25519.PublicKey{a}, Threshold: 3}); err == nil || !strings.Contains(err.Error(), "distinct") {
		t.Fatalf("3 signatures of 1 publisher: %v", err)
	}

	unlinked := rewrite(t, good, func(_ *Manifest, ch [][]engine.KV) [][]engine.KV {
		n := 0
		for i := range ch {
			for j := range ch[i] {
				if bytes.HasPrefix(ch[i][j].Key, []byte("e/b/")) {
					if n++; n == 5 {
						copy(ch[i][j].Value[32:64], make([]byte, 32))
					}
				}
			}
		}
		return ch
	}, true)
	if err := imp(unlinked, filepath.Join(t.TempDir(), "d"), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "parent") {
		t.Fatalf("a zeroed parent in a linked tape: %v", err)
	}

	raw, _ := os.ReadFile(good)
	sf, _ := Open(good)
	man := bytes.Clone(sf.raw)
	sf.Close()
	dup := append(bytes.Clone(bytes.TrimSuffix(man, []byte("}"))), []byte(`,"HEIGHT":1}`)...)
	i := bytes.Index(raw, man)
	forged := append(append(bytes.Clone(raw[:i]), dup...), []byte("[]")...)
	forged = append(forged, trailer(int64(i), len(dup), 2)...)
	dupPath := filepath.Join(t.TempDir(), "dup.snap")
	os.WriteFile(dupPath, forged, 0o644)
	if _, err := Open(dupPath); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("a case-variant duplicate key: %v", err)
	}

	bomb := rewrite(t, good, func(m *Manifest, ch [][]engine.KV) [][]engine.KV {
		for range 10_000 {
			ch[0] = append(ch[0], engine.KV{})
		}
		return ch
	}, false)
	if err := imp(bomb, filepath.Join(t.TempDir(), "d"), ImportOptions{}); err == nil {
		t.Fatal("a chunk with more entries than its manifest says")
	}
}

// TestImportedStoreOnAnotherChain: a store imported at H that then meets a
// source whose chain differs at H stops, saying the snapshot is not of
// that chain, and keeps its state.
func TestImportedStoreOnAnotherChain(t *testing.T) {
	c, ref, refDB, _ := chainOf(t, 20)
	tip := ref.Height()
	dir := filepath.Join(t.TempDir(), "d")
	if _, err := Import(context.Background(), export(t, refDB, tip), dir, ImportOptions{App: app(), Trust: trustOf(t, ref, tip)}); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := engine.Open(db, app(), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c.Rewind(2)
	c.Append(nil)
	c.Append(nil)
	c.Append(nil)
	err = e.Sync(context.Background(), c)
	var deep *engine.ReorgTooDeepError
	if !errors.As(err, &deep) || !deep.Imported || !strings.Contains(err.Error(), "snapshot") || e.Height() != tip {
		t.Fatalf("got %v at %d", err, e.Height())
	}
}

// TestChunksOneByOne: a snapshot sent chunk by chunk (state sync) checks
// each chunk on its own against the manifest parsed from its bytes, and
// names a chunk changed on the way.
func TestChunksOneByOne(t *testing.T) {
	chunkBytes = 1024
	defer func() { chunkBytes = ChunkBytes }()
	_, _, db, _ := chainOf(t, 8)
	sf, err := Open(export(t, db, 107))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	m, err := ParseManifest(sf.ManifestBytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Chunks) < 3 {
		t.Fatalf("%d chunks; the test wants several", len(m.Chunks))
	}
	var keys int64
	for i := range m.Chunks {
		b, err := sf.Chunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.CheckChunk(i, b, func(kvs []engine.KV) error { keys += int64(len(kvs)); return nil }); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		b[len(b)/2] ^= 1
		var he *ChunkHashError
		if err := m.CheckChunk(i, b, func([]engine.KV) error { t.Fatal("entries of a changed chunk were used"); return nil }); !errors.As(err, &he) || he.Index != i {
			t.Fatalf("chunk %d changed: %v, want a ChunkHashError", i, err)
		}
	}
	if keys != m.Keys {
		t.Fatalf("the chunks hold %d keys, the manifest says %d", keys, m.Keys)
	}
	if _, err := sf.Chunk(len(m.Chunks)); err == nil {
		t.Fatal("a chunk past the last was read")
	}
	for _, bad := range []string{`{"version":1,"chunks":[],"Version":1}`, `{"version":2}`, `{"version":1} {}`, `{"version":1,"bytes":5,"chunks":[{"sha256":"00","keys":1,"bytes":4}]}`} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("manifest %s was accepted", bad)
		}
	}
}
