package comet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
)

// snapshotChain runs blocks 1..n of names preorders from senders senders
// on an App taking a snapshot every interval blocks (in small chunks when
// interval is 10); it returns the App, each block's transactions and each
// block's AppHash.
func snapshotChain(t testing.TB, n int64, senders, interval int) (*testApp, map[int64][][]byte, map[int64][]byte) {
	t.Helper()
	snaps := filepath.Join(t.TempDir(), "snapshots")
	src := openAppWith(t, t.TempDir(), func(o *Options, db *store.DB) {
		o.SnapshotInterval, o.SnapshotDir, o.Store = int64(interval), snaps, db
		if interval == 10 {
			o.SnapshotChunkBytes = 1024
		}
	})
	users := make([]*signer, senders)
	for i := range users {
		users[i] = &signer{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1), byte(i >> 8), 3}, 11)[:32])}
	}
	txs, hashes := map[int64][][]byte{}, map[int64][]byte{}
	for h := int64(1); h <= n; h++ {
		ch, _ := src.Engine().Consensus()
		for i, u := range users {
			if (int(h)*7+i)%3 == 0 {
				continue
			}
			p, err := names.PreorderPayload(fmt.Sprintf("n%d-%d.test", h, i), bytes.Repeat([]byte{byte(i)}, 16), u.script(), ch)
			if err != nil {
				t.Fatal(err)
			}
			txs[h] = append(txs[h], u.tx(t, p))
		}
		resp := src.block(t, h, txs[h]...)
		for i, r := range resp.TxResults {
			if r.Code != 0 {
				t.Fatalf("block %d tx %d: code %d %s", h, i, r.Code, r.Log)
			}
		}
		hashes[h] = resp.AppHash
		if h%int64(interval) == 0 {
			waitSnapshot(t, src.App, h)
		}
	}
	return src, txs, hashes
}

func waitSnapshot(t testing.TB, a *App, h int64) *abci.Snapshot {
	t.Helper()
	for range 1000 {
		resp, err := a.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.Snapshots {
			if int64(s.Height) == h {
				return s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no snapshot of block %d was taken", h)
	return nil
}

// chunksOf loads every chunk of sn from a.
func chunksOf(t testing.TB, a *App, sn *abci.Snapshot) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range sn.Chunks {
		resp, err := a.LoadSnapshotChunk(context.Background(), &abci.RequestLoadSnapshotChunk{Height: sn.Height, Format: sn.Format, Chunk: i})
		if err != nil || len(resp.Chunk) == 0 {
			t.Fatalf("chunk %d: %v (%d bytes)", i, err, len(resp.Chunk))
		}
		out = append(out, resp.Chunk)
	}
	return out
}

func offerSnap(t testing.TB, a *App, sn *abci.Snapshot, appHash []byte) abci.ResponseOfferSnapshot_Result {
	t.Helper()
	resp, err := a.OfferSnapshot(context.Background(), &abci.RequestOfferSnapshot{Snapshot: sn, AppHash: appHash})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Result
}

// applyAll applies chunks in order and returns the last result.
func applyAll(t testing.TB, a *App, chunks [][]byte) (int, *abci.ResponseApplySnapshotChunk) {
	t.Helper()
	for i, c := range chunks {
		resp, err := a.ApplySnapshotChunk(context.Background(), &abci.RequestApplySnapshotChunk{Index: uint32(i), Chunk: c, Sender: "peer"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Result != abci.ResponseApplySnapshotChunk_ACCEPT || i == len(chunks)-1 {
			return i, resp
		}
	}
	return -1, nil
}

// empty says a has committed no block of the chain and holds no state.
func empty(t *testing.T, a *App) {
	t.Helper()
	info, err := a.Info(context.Background(), &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	a.Engine().State().Iterate(nil, func(k, v []byte) error { n++; return nil })
	if info.LastBlockHeight != 0 || n != 0 || a.Engine().Height() > 0 {
		t.Fatalf("after a refused snapshot: Info at %d, %d state keys, engine at %d; want an empty application", info.LastBlockHeight, n, a.Engine().Height())
	}
}

// forge rewrites the snapshot file at path with change applied to its
// entries, its manifest claiming what the original's does (the chunk
// hashes are the forged chunks'), and returns it as CometBFT offers it.
func forge(t *testing.T, path string, change func(k, v []byte) []byte) (*abci.Snapshot, [][]byte) {
	t.Helper()
	sf, err := snapshot.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var kvs []engine.KV
	if err := sf.Chunks(func(_ int, part []engine.KV) error {
		for _, e := range part {
			kvs = append(kvs, engine.KV{Key: bytes.Clone(e.Key), Value: change(e.Key, bytes.Clone(e.Value))})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	orig := *sf.Manifest
	m := &snapshot.Manifest{App: orig.App, FirstBlock: orig.FirstBlock, Height: orig.Height, BlockHash: orig.BlockHash,
		Consensus: orig.Consensus, State: orig.State, Final: true}
	out := filepath.Join(t.TempDir(), "forged.snap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Write(f, m, func(put func(k, v []byte) error) error {
		for _, e := range kvs {
			if err := put(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	o, err := offer(out)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := snapshot.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	var chunks [][]byte
	for i := range fs.Manifest.Chunks {
		b, err := fs.Chunk(i)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b)
	}
	return o.abci, chunks
}

// TestStateSync: a new node restores the snapshot another took, checked
// against the AppHash CometBFT trusts, and then applies the next blocks
// to the same AppHashes; forged or damaged snapshots are refused and
// leave it empty; a node killed during a restore starts empty again.
func TestStateSync(t *testing.T) {
	ctx := context.Background()
	src, txs, hashes := snapshotChain(t, 26, 5, 10)
	list, err := src.ListSnapshots(ctx, &abci.RequestListSnapshots{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Snapshots) != 2 || list.Snapshots[0].Height != 20 || list.Snapshots[1].Height != 10 {
		t.Fatalf("snapshots offered: %v, want blocks 20 and 10 (two kept, newest first)", list.Snapshots)
	}
	sn := list.Snapshots[0]
	keys := 0
	src.Engine().State().Iterate(nil, func(k, v []byte) error { keys++; return nil })
	if keys < 50 {
		t.Fatalf("the source holds %d state keys; the test wants more", keys)
	}
	if sn.Chunks < 3 {
		t.Fatalf("the snapshot has %d chunks; the test wants several", sn.Chunks)
	}
	chunks := chunksOf(t, src.App, sn)
	trusted := hashes[20]
	// A peer asking for what is not there gets nothing.
	for _, req := range []*abci.RequestLoadSnapshotChunk{
		{Height: sn.Height, Format: sn.Format, Chunk: sn.Chunks},
		{Height: sn.Height, Format: sn.Format, Chunk: 1 << 31},
		{Height: 15, Format: sn.Format},
		{Height: sn.Height, Format: 7},
	} {
		if resp, err := src.LoadSnapshotChunk(ctx, req); err != nil || len(resp.Chunk) != 0 {
			t.Fatalf("chunk request %+v: %d bytes, %v", req, len(resp.GetChunk()), err)
		}
	}

	dir := t.TempDir()
	dst := openApp(t, dir)

	// Refused at the offer.
	other := *sn
	other.Format = 2
	if r := offerSnap(t, dst.App, &other, trusted); r != abci.ResponseOfferSnapshot_REJECT_FORMAT {
		t.Errorf("format 2: %v", r)
	}
	other = *sn
	other.Hash = bytes.Repeat([]byte{1}, 32)
	if r := offerSnap(t, dst.App, &other, trusted); r != abci.ResponseOfferSnapshot_REJECT_SENDER {
		t.Errorf("a hash that is not the manifest's: %v", r)
	}
	if r := offerSnap(t, dst.App, sn, hashes[19]); r != abci.ResponseOfferSnapshot_REJECT_SENDER {
		t.Errorf("a manifest naming other hashes than the trusted AppHash: %v", r)
	}
	other = *sn
	other.Metadata = bytes.Replace(sn.Metadata, []byte(`"height":20`), []byte(`"height":21`), 1)
	sum := sha256.Sum256(other.Metadata)
	other.Hash = sum[:]
	if r := offerSnap(t, dst.App, &other, trusted); r != abci.ResponseOfferSnapshot_REJECT_SENDER {
		t.Errorf("a manifest of another height: %v", r)
	}
	empty(t, dst.App)

	// The right snapshot against an AppHash whose nonces differ: every
	// chunk goes in, then the whole is refused.
	wrong := bytes.Clone(trusted)
	wrong[len(wrong)-1] ^= 1
	if r := offerSnap(t, dst.App, sn, wrong); r != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	if i, resp := applyAll(t, dst.App, chunks); i != len(chunks)-1 || resp.Result != abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT {
		t.Fatalf("against the wrong nonces: chunk %d: %v, want the last refused", i, resp)
	}
	empty(t, dst.App)

	// Forged snapshots whose manifests claim the trusted hashes: a state
	// value changed, a sender's nonce changed.
	for _, c := range []struct {
		name   string
		change func(k, v []byte) []byte
	}{
		{"a changed state value", func(k, v []byte) []byte {
			if bytes.HasPrefix(k, []byte("a/")) && len(v) > 0 {
				v[len(v)-1] ^= 1
			}
			return v
		}},
		{"a changed nonce", func(k, v []byte) []byte {
			if bytes.HasPrefix(k, []byte("e/x/n/")) {
				binary.BigEndian.PutUint64(v, binary.BigEndian.Uint64(v)+1)
			}
			return v
		}},
		// Not covered by the AppHash, but Info reports no block below it.
		{"an initial height past the snapshot", func(k, v []byte) []byte {
			if bytes.Equal(k, []byte("e/x/initial")) {
				binary.BigEndian.PutUint64(v, 1<<40)
			}
			return v
		}},
	} {
		fsn, fchunks := forge(t, src.snaps.list[len(src.snaps.list)-1].path, c.change)
		if r := offerSnap(t, dst.App, fsn, trusted); r != abci.ResponseOfferSnapshot_ACCEPT {
			t.Fatalf("%s: offer: %v", c.name, r)
		}
		if _, resp := applyAll(t, dst.App, fchunks); resp.Result != abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT {
			t.Fatalf("%s: %v, want the snapshot refused", c.name, resp)
		}
		empty(t, dst.App)
	}

	// Killed midway: restarts empty. Meanwhile nothing is served.
	if r := offerSnap(t, dst.App, sn, trusted); r != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	if _, resp := applyAll(t, dst.App, chunks[:2]); resp.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
		t.Fatal(resp)
	}
	for _, path := range []string{QueryState, QueryNonce, QueryStatus} {
		if q, err := dst.Query(ctx, &abci.RequestQuery{Path: path, Data: []byte("x")}); err != nil || q.Code != CodeRestoring {
			t.Fatalf("query %s during a restore: %+v %v, want code %d", path, q, err, CodeRestoring)
		}
	}
	dst.close()
	dst = openApp(t, dir)
	empty(t, dst.App)

	// The good one, with a chunk damaged on the way: fetched again.
	if r := offerSnap(t, dst.App, sn, trusted); r != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	for i, c := range chunks {
		if i == 1 {
			bad := bytes.Clone(c)
			bad[len(bad)/2] ^= 1
			resp, err := dst.ApplySnapshotChunk(ctx, &abci.RequestApplySnapshotChunk{Index: 1, Chunk: bad, Sender: "liar"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Result != abci.ResponseApplySnapshotChunk_RETRY || len(resp.RefetchChunks) != 1 || resp.RefetchChunks[0] != 1 || len(resp.RejectSenders) != 1 || resp.RejectSenders[0] != "liar" {
				t.Fatalf("a damaged chunk: %v, want it fetched again from someone else", resp)
			}
		}
		resp, err := dst.ApplySnapshotChunk(ctx, &abci.RequestApplySnapshotChunk{Index: uint32(i), Chunk: c, Sender: "peer"})
		if err != nil || resp.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
			t.Fatalf("chunk %d: %v %v", i, resp, err)
		}
	}
	checkInfo := func() {
		t.Helper()
		info, err := dst.Info(ctx, &abci.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if info.LastBlockHeight != 20 || !bytes.Equal(info.LastBlockAppHash, trusted) {
			t.Fatalf("after the restore Info says block %d app hash %x; want 20 %x", info.LastBlockHeight, info.LastBlockAppHash, trusted)
		}
	}
	checkInfo()
	// Killed after the restore, before CometBFT recorded its end: CometBFT
	// state-syncs again, over the restored blocks.
	dst.close()
	dst = openApp(t, dir)
	checkInfo()
	if r := offerSnap(t, dst.App, sn, trusted); r != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer over a restored store: %v", r)
	}
	if _, resp := applyAll(t, dst.App, chunks); resp.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
		t.Fatal(resp)
	}
	checkInfo()
	sent := map[chain.Address]int{} // by block 20
	for h := int64(1); h <= 20; h++ {
		for _, raw := range txs[h] {
			tx, _ := chain.DecodeTx(raw)
			sent[tx.Sender()]++
		}
	}
	if len(sent) != 5 {
		t.Fatalf("%d senders; want 5", len(sent))
	}
	for a, want := range sent {
		got, _ := dst.Query(ctx, &abci.RequestQuery{Path: QueryNonce, Data: []byte(hex.EncodeToString(a[:]))})
		if n, _ := strconv.Atoi(string(got.Value)); got.Code != 0 || n != want {
			t.Fatalf("sender %s's next nonce after the restore: %q (%s), want %d", a, got.Value, got.Log, want)
		}
	}
	// It goes on as the source did, across a restart.
	for h := int64(21); h <= 26; h++ {
		if h == 23 {
			dst.close()
			dst = openApp(t, dir)
		}
		if got := dst.block(t, h, txs[h]...).AppHash; !bytes.Equal(got, hashes[h]) {
			t.Fatalf("block %d after the restore: app hash %x, the source's %x", h, got, hashes[h])
		}
	}
}

// TestImportRefusesCometSnapshots: the nonces a CometBFT node's snapshot
// carries are checked by its state sync (against the AppHash); vchain
// snapshot import, which cannot check them, refuses the file.
func TestImportRefusesCometSnapshots(t *testing.T) {
	src, _, hashes := snapshotChain(t, 10, 3, 10)
	ch, state, _, err := SplitAppHash(hashes[10])
	if err != nil {
		t.Fatal(err)
	}
	_, err = snapshot.Import(context.Background(), src.snaps.list[0].path, filepath.Join(t.TempDir(), "data"),
		snapshot.ImportOptions{App: names.New(names.Options{}), Trust: engine.Trust{Height: 10, Consensus: ch, State: state}})
	var ie *engine.ImportError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "state sync") {
		t.Fatalf("importing a CometBFT node's snapshot: %v", err)
	}
}
