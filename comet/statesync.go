package comet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
)

// State sync. A snapshot App offers (format SnapshotFormat) is a vchain
// snapshot file (package snapshot) of the engine's store at a committed
// height, the senders' nonces travelling with it as driver keys: its
// CometBFT chunks are the file's chunks, its metadata the file's
// manifest, its hash the manifest's SHA-256. The file is the same one
// `vchain snapshot import` reads.
//
// A node that state-syncs is offered snapshots with the AppHash
// CometBFT's light client verified for their height. App refuses a
// manifest that does not name that AppHash's consensus hash and state
// commitment, checks each chunk's hash before using a byte of it (a
// chunk that fails is fetched again from another peer, and its sender
// dropped), streams the keys into its store through engine.Restore
// (which checks that the block records link and that each consensus hash
// is what its ops hash and the earlier ones make), and at the end checks
// the state's LtHash against the trusted state commitment and the
// nonces' against the AppHash's last part. Any failure empties the store
// and refuses the snapshot; a process killed midway restarts empty.

// SnapshotFormat is the format of the snapshots App offers and restores.
const SnapshotFormat = 1

// maxChunkBytes bounds a chunk App offers: CometBFT drops a chunk message
// over 16e6 bytes.
const maxChunkBytes = 15_000_000

// maxOffered is how many snapshots ListSnapshots answers (CometBFT
// considers the 10 newest).
const maxOffered = 10

// snapshotSuffix names a finished snapshot file in the snapshot directory
// (height.snap); files still being written end in .tmp.
const snapshotSuffix = ".snap"

// offered is a snapshot App can serve.
type offered struct {
	path string
	abci *abci.Snapshot
}

// snapshots is App's snapshot-taking side.
type snapshots struct {
	dir      string
	interval int64
	keep     int
	chunk    int
	db       *store.DB

	mu      sync.Mutex
	list    []offered // oldest first
	running bool
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// restoring is a snapshot being restored.
type restoring struct {
	r        *engine.Restore
	manifest *snapshot.Manifest
	trust    engine.Trust
	nonces   lthash.Digest // trusted
	appHash  []byte        // trusted
	first    int64         // the application's first block
	lt       lthash.Hash   // over the nonces received so far
	next     int           // the chunk due
	began    time.Time
}

// openSnapshots reads the snapshots a node took before (removing what a
// killed export left).
func openSnapshots(o Options) (*snapshots, error) {
	if o.SnapshotInterval > 0 && (o.SnapshotDir == "" || o.Store == nil) {
		return nil, errors.New("comet: taking snapshots needs Options.SnapshotDir and Options.Store")
	}
	s := &snapshots{dir: o.SnapshotDir, interval: o.SnapshotInterval, keep: o.SnapshotKeep, db: o.Store}
	if s.keep <= 0 {
		s.keep = 2
	}
	switch s.chunk = o.SnapshotChunkBytes; {
	case s.chunk == 0:
		s.chunk = snapshot.ChunkBytes
	case s.chunk < 1024 || s.chunk > maxChunkBytes/2:
		return nil, fmt.Errorf("comet: snapshot chunks of %d bytes: want 1 KiB to %d bytes", s.chunk, maxChunkBytes/2)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		if _, err := strconv.ParseUint(strings.TrimSuffix(name, snapshotSuffix), 10, 63); err != nil || !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		o, err := offer(filepath.Join(s.dir, name))
		if err != nil {
			return nil, fmt.Errorf("comet: snapshot %s: %w", name, err)
		}
		s.list = append(s.list, o)
	}
	slices.SortFunc(s.list, func(a, b offered) int { return int(a.abci.Height) - int(b.abci.Height) })
	return s, nil
}

// offer describes the snapshot file at path as CometBFT sees it.
func offer(path string) (offered, error) {
	sf, err := snapshot.Open(path)
	if err != nil {
		return offered{}, err
	}
	defer sf.Close()
	m := sf.Manifest
	for i, c := range m.Chunks {
		if c.Size > maxChunkBytes {
			return offered{}, fmt.Errorf("chunk %d is %d bytes, more than CometBFT sends (%d)", i, c.Size, maxChunkBytes)
		}
	}
	raw := sf.ManifestBytes()
	sum := sha256.Sum256(raw)
	return offered{path: path, abci: &abci.Snapshot{Height: uint64(m.Height), Format: SnapshotFormat,
		Chunks: uint32(len(m.Chunks)), Hash: sum[:], Metadata: bytes.Clone(raw)}}, nil
}

// maybeSnapshot starts taking a snapshot of block h when one is due and
// none is being taken; the caller holds a.mu, right after committing h.
func (a *App) maybeSnapshot(h int64) {
	s := a.snaps
	if s.interval <= 0 || h%s.interval != 0 {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.running {
		s.mu.Unlock()
		a.log.Warn("skipping a snapshot: the previous one is still being written", "height", h)
		return
	}
	s.running = true
	s.wg.Add(1) // under mu: Close waits for it
	s.mu.Unlock()
	view := s.db.Snapshot() // this block, whatever commits next
	go func() {
		defer s.wg.Done()
		defer view.Close()
		err := a.writeSnapshot(view, h)
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		if err != nil && s.ctx.Err() == nil {
			a.log.Error("taking a snapshot", "height", h, "err", err)
		}
	}()
}

// writeSnapshot writes the snapshot of block h from view, offers it, and
// removes the oldest beyond the number kept.
func (a *App) writeSnapshot(view *store.Snapshot, h int64) error {
	s := a.snaps
	start := time.Now()
	path := filepath.Join(s.dir, strconv.FormatInt(h, 10)+snapshotSuffix)
	f, err := os.CreateTemp(s.dir, "*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	m, err := snapshot.ExportChunks(cancellable{view, s.ctx}, a.eng.Info(), h, f, s.chunk)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	o, err := offer(path)
	if err != nil {
		os.Remove(path)
		return err
	}
	s.mu.Lock()
	s.list = append(s.list, o)
	var drop []offered
	if n := len(s.list) - s.keep; n > 0 {
		drop = slices.Clone(s.list[:n])
		s.list = slices.Delete(s.list, 0, n)
	}
	s.mu.Unlock()
	for _, d := range drop {
		os.Remove(d.path)
	}
	a.log.Info("took a snapshot", "height", h, "keys", m.Keys, "bytes", m.Bytes, "chunks", len(m.Chunks), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// cancellable is a store view whose iterations stop once ctx ends.
type cancellable struct {
	*store.Snapshot
	ctx context.Context
}

func (c cancellable) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	n := 0
	return c.Snapshot.Iterate(prefix, func(k, v []byte) error {
		if n++; n%1024 == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		return fn(k, v)
	})
}

// Close stops a snapshot being written and waits for it to end (call it
// before closing the store).
func (a *App) Close() {
	s := a.snaps
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// ListSnapshots offers the newest snapshots this node took.
func (a *App) ListSnapshots(context.Context, *abci.RequestListSnapshots) (*abci.ResponseListSnapshots, error) {
	s := a.snaps
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &abci.ResponseListSnapshots{}
	for i := len(s.list) - 1; i >= 0 && len(resp.Snapshots) < maxOffered; i-- {
		resp.Snapshots = append(resp.Snapshots, s.list[i].abci)
	}
	return resp, nil
}

// LoadSnapshotChunk reads a chunk of a snapshot this node offers (an
// empty chunk when it has no such snapshot any more).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.RequestLoadSnapshotChunk) (*abci.ResponseLoadSnapshotChunk, error) {
	s := a.snaps
	s.mu.Lock()
	var path string
	for _, o := range s.list {
		if o.abci.Height == req.Height && o.abci.Format == req.Format {
			path = o.path
		}
	}
	s.mu.Unlock()
	if path == "" {
		return &abci.ResponseLoadSnapshotChunk{}, nil
	}
	sf, err := snapshot.Open(path)
	if err != nil {
		return &abci.ResponseLoadSnapshotChunk{}, nil // removed since
	}
	defer sf.Close()
	b, err := sf.Chunk(int(req.Chunk))
	if err != nil {
		a.log.Warn("a peer asked for a chunk we cannot read", "height", req.Height, "chunk", req.Chunk, "err", err)
		return &abci.ResponseLoadSnapshotChunk{}, nil
	}
	return &abci.ResponseLoadSnapshotChunk{Chunk: b}, nil
}

// OfferSnapshot takes a snapshot for restoring when its manifest names
// the consensus hash and state commitment of the AppHash CometBFT
// verified for its height; it then empties the store for it.
func (a *App) OfferSnapshot(_ context.Context, req *abci.RequestOfferSnapshot) (*abci.ResponseOfferSnapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := func(r abci.ResponseOfferSnapshot_Result, why string, args ...any) (*abci.ResponseOfferSnapshot, error) {
		if r != abci.ResponseOfferSnapshot_ACCEPT {
			a.log.Warn("refusing a snapshot: "+fmt.Sprintf(why, args...), "height", req.GetSnapshot().GetHeight())
		}
		return &abci.ResponseOfferSnapshot{Result: r}, nil
	}
	if a.restore != nil {
		a.restore.r.Abort()
		a.restore = nil
	}
	sn := req.Snapshot
	switch {
	case sn == nil:
		return res(abci.ResponseOfferSnapshot_REJECT, "no snapshot")
	case sn.Format != SnapshotFormat:
		return res(abci.ResponseOfferSnapshot_REJECT_FORMAT, "format %d, this application restores %d", sn.Format, SnapshotFormat)
	}
	if c := a.last.Load(); c != nil && c.began {
		// CometBFT state-syncs only when it has recorded no block: these
		// are from a restore (or a chain) whose end it never recorded.
		a.log.Warn("state sync over blocks CometBFT has not recorded: replacing them", "height", c.height)
	}
	ch, state, nonces, err := SplitAppHash(req.AppHash)
	if err != nil {
		return res(abci.ResponseOfferSnapshot_REJECT, "the trusted %v", err)
	}
	sum := sha256.Sum256(sn.Metadata)
	if !bytes.Equal(sum[:], sn.Hash) {
		return res(abci.ResponseOfferSnapshot_REJECT_SENDER, "its hash is not its manifest's")
	}
	m, err := snapshot.ParseManifest(sn.Metadata)
	if err != nil {
		return res(abci.ResponseOfferSnapshot_REJECT_SENDER, "%v", err)
	}
	info := a.eng.Info()
	switch {
	case m.App != info.Name || m.FirstBlock != info.FirstBlock:
		return res(abci.ResponseOfferSnapshot_REJECT, "it is of application %q with first block %d, not %q with first block %d", m.App, m.FirstBlock, info.Name, info.FirstBlock)
	case m.Height != int64(sn.Height) || uint64(len(m.Chunks)) != uint64(sn.Chunks) || len(m.Chunks) == 0:
		return res(abci.ResponseOfferSnapshot_REJECT_SENDER, "its manifest (height %d, %d chunks) does not describe it (height %d, %d chunks)", m.Height, len(m.Chunks), sn.Height, sn.Chunks)
	case m.Consensus != ch.String() || m.State != state.String():
		return res(abci.ResponseOfferSnapshot_REJECT_SENDER, "its manifest gives consensus hash %s and state commitment %s at height %d; the chain's AppHash says %s and %s", m.Consensus, m.State, m.Height, ch, state)
	}
	for i, c := range m.Chunks {
		if c.Size > maxChunkBytes {
			return res(abci.ResponseOfferSnapshot_REJECT_SENDER, "chunk %d is %d bytes, more than CometBFT sends", i, c.Size)
		}
	}
	rs := &restoring{manifest: m, trust: engine.Trust{Height: m.Height, Consensus: ch, State: state}, nonces: nonces,
		appHash: bytes.Clone(req.AppHash), first: info.FirstBlock, began: time.Now()}
	r, err := a.eng.BeginRestore(engine.RestoreOptions{Height: m.Height, OnDriver: rs.driverKey})
	if err != nil {
		return nil, fmt.Errorf("comet: starting a restore: %w", err)
	}
	rs.r = r
	a.restore = rs
	a.log.Info("restoring a snapshot", "height", m.Height, "chunks", len(m.Chunks), "bytes", m.Bytes, "keys", m.Keys)
	return res(abci.ResponseOfferSnapshot_ACCEPT, "")
}

// driverKey checks a driver key the snapshot carries and adds each
// sender's nonce to the nonces' LtHash.
func (rs *restoring) driverKey(key, value []byte) error {
	switch {
	case bytes.HasPrefix(key, []byte("n/")):
		var from chain.Address
		if len(key) != 2+len(from) || len(value) != 8 || binary.BigEndian.Uint64(value) == 0 {
			return &engine.ImportError{Msg: fmt.Sprintf("driver key %x = %x is no sender's nonce", key, value)}
		}
		copy(from[:], key[2:])
		nonceElement(&rs.lt, from, binary.BigEndian.Uint64(value), true)
	case bytes.Equal(key, keyNonceLattice):
		// Rebuilt from the nonces.
	case bytes.Equal(key, keyInitial):
		// Below it, blocks are InitChain's and Info reports none: it must
		// be past the first block and at most the snapshot's height.
		if len(value) != 8 {
			return &engine.ImportError{Msg: fmt.Sprintf("the initial height in %d bytes", len(value))}
		}
		if h := binary.BigEndian.Uint64(value); h <= uint64(rs.first) || h > uint64(rs.trust.Height) {
			return &engine.ImportError{Msg: fmt.Sprintf("an initial height of %d for a snapshot of block %d of an application starting at %d", h, rs.trust.Height, rs.first)}
		}
	default:
		return &engine.ImportError{Msg: fmt.Sprintf("driver key %q is not one of this application's", key)}
	}
	return nil
}

// ApplySnapshotChunk checks a chunk against the manifest and restores
// its keys; after the last, the whole against the trusted AppHash.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.RequestApplySnapshotChunk) (*abci.ResponseApplySnapshotChunk, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rs := a.restore
	if rs == nil {
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
	}
	reject := func(err error) (*abci.ResponseApplySnapshotChunk, error) {
		a.restore = nil
		if e := rs.r.Abort(); e != nil {
			err = errors.Join(err, e)
		}
		var ie *engine.ImportError
		var se *snapshot.Error
		if !errors.As(err, &ie) && !errors.As(err, &se) {
			// Not the snapshot's fault (a disk full, say): no peer is
			// to blame, and state sync cannot go on.
			a.log.Error("giving state sync up", "height", rs.trust.Height, "chunk", req.Index, "err", err)
			return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
		}
		a.log.Warn("refusing a snapshot", "height", rs.trust.Height, "chunk", req.Index, "sender", req.Sender, "err", err)
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT, RejectSenders: []string{req.Sender}}, nil
	}
	if int(req.Index) != rs.next {
		return reject(&engine.ImportError{Msg: fmt.Sprintf("chunk %d where %d was due", req.Index, rs.next)})
	}
	err := rs.manifest.CheckChunk(int(req.Index), req.Chunk, rs.r.Put)
	var he *snapshot.ChunkHashError
	if errors.As(err, &he) {
		// Changed on the way: fetch it again from someone else.
		a.log.Warn("a snapshot chunk whose hash is wrong: fetching it again", "chunk", req.Index, "sender", req.Sender)
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	}
	if err != nil {
		return reject(err)
	}
	rs.next++
	if rs.next < len(rs.manifest.Chunks) {
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
	}
	if got := rs.lt.Sum(); got != rs.nonces {
		return reject(&engine.ImportError{Msg: fmt.Sprintf("the senders' nonces hash to %s, the chain's AppHash says %s", got, rs.nonces)})
	}
	if rs.r.Keys() != rs.manifest.Keys {
		return reject(&engine.ImportError{Msg: fmt.Sprintf("it holds %d keys, its manifest says %d", rs.r.Keys(), rs.manifest.Keys)})
	}
	rec, err := rs.r.Finish(rs.trust, []engine.KV{{Key: keyNonceLattice, Value: rs.lt.AppendBinary(nil)}})
	if err != nil {
		return reject(err)
	}
	a.restore = nil
	a.nlt = rs.lt
	if err := a.remember(); err != nil {
		return nil, err
	}
	if c := a.last.Load(); !c.began || c.height != rs.trust.Height || !bytes.Equal(c.appHash, rs.appHash) {
		// Every part was checked against the AppHash: this is a bug.
		return nil, fmt.Errorf("comet: restored block %d, but Info would say block %d with app hash %x, not the trusted %x", rs.trust.Height, c.height, c.appHash, rs.appHash)
	}
	a.checkMu.Lock()
	clear(a.pending)
	a.checkMu.Unlock()
	a.wake(nil)
	a.log.Info("restored a snapshot", "height", rec.Height, "consensus", rec.Consensus.String(), "state", rec.State.String(),
		"keys", rs.manifest.Keys, "took", time.Since(rs.began).Round(time.Millisecond))
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
}
