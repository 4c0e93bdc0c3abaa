package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
	"github.com/vchain-dev/vchain/vchash"
)

// bulkApp sets a key to a value per op ("bks" key "=" value): a big state
// quickly, for the kill test.
type bulkApp struct{ engine.Base }

func (bulkApp) Info() engine.Info {
	return engine.Info{Name: "bulk", MagicBytes: []byte("bk"), Opcodes: []byte("s")}
}

func (bulkApp) Parse(_ *engine.BlockContext, _ *tape.Tx, _ byte, p []byte) (any, error) {
	k, v, _ := bytes.Cut(p, []byte("="))
	return [2][]byte{k, v}, nil
}

func (bulkApp) Commit(_ *engine.BlockContext, op *engine.Op, st kv.Txn) error {
	kv := op.Data.([2][]byte)
	return st.Set(kv[0], kv[1])
}

func (bulkApp) Serialize(op *engine.Op) ([]byte, error) {
	return vchash.SerializeValues('s', string(op.Data.([2][]byte)[0]))
}

// bulkSnapshot writes a snapshot of blocks×perBlock keys with values of
// valueBytes at height blocks-1 and returns its path and trust.
func bulkSnapshot(t *testing.T, blocks, perBlock, valueBytes int) (string, engine.Trust) {
	t.Helper()
	c := memtape.New(0)
	value := bytes.Repeat([]byte("v"), valueBytes)
	for b := range blocks {
		txs := make([]tape.Tx, perBlock)
		for i := range txs {
			txs[i] = tape.Tx{Index: i, Payload: fmt.Appendf(nil, "bks%06d-%06d=%s", b, i, value)}
		}
		c.Append(txs)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "src"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := engine.Open(db, bulkApp{}, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.Record(e.Height())
	path := filepath.Join(t.TempDir(), "bulk.snap")
	f, _ := os.Create(path)
	snap := db.Snapshot()
	defer snap.Close()
	if _, err := Export(snap, bulkApp{}.Info(), rec.Height, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path, engine.Trust{Height: rec.Height, Consensus: rec.Consensus, State: rec.State}
}

// TestKilledImportLeavesStoreUntouched: a process importing a snapshot,
// killed with SIGKILL while it writes the new store, leaves the data
// directory exactly as it was; the next import cleans up what it left and
// goes through.
func TestKilledImportLeavesStoreUntouched(t *testing.T) {
	if os.Getenv("VCHAIN_SNAPSHOT_CHILD") != "" {
		childImport(t)
		return
	}
	small, smallTrust := bulkSnapshot(t, 2, 10, 10)
	big, bigTrust := bulkSnapshot(t, 40, 2000, 1000) // 80 MB of state
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Import(context.Background(), small, dir, ImportOptions{App: bulkApp{}, Trust: smallTrust}); err != nil {
		t.Fatal(err)
	}
	before := dumpDir(t, dir)
	child := exec.Command(os.Args[0], "-test.run", "^TestKilledImportLeavesStoreUntouched$")
	child.Env = append(os.Environ(), "VCHAIN_SNAPSHOT_CHILD=1", "SNAP="+big, "DIR="+dir,
		fmt.Sprintf("TRUST=%d:%s:%s", bigTrust.Height, bigTrust.Consensus, bigTrust.State))
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the new store has some data in it.
	staging := stagingDir(dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if size(staging) > 8<<20 {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatalf("the import never got going:\n%s", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	if err := child.Wait(); err == nil {
		t.Fatalf("the import finished before it was killed:\n%s", out.String())
	}
	if _, err := os.Stat(staging); err != nil {
		t.Fatal("the kill came after the swap")
	}
	if dumpDir(t, dir) != before {
		t.Fatal("a killed import changed the data directory")
	}
	rec, err := Import(context.Background(), big, dir, ImportOptions{App: bulkApp{}, Trust: bigTrust})
	if err != nil || rec.Height != bigTrust.Height {
		t.Fatalf("the import after the kill: %v", err)
	}
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatal("the killed import's leftovers stayed")
	}
}

func childImport(t *testing.T) {
	var tr engine.Trust
	var ch, st string
	fmt.Sscanf(os.Getenv("TRUST"), "%d", &tr.Height)
	parts := bytes.Split([]byte(os.Getenv("TRUST")), []byte(":"))
	ch, st = string(parts[1]), string(parts[2])
	var err error
	if tr.Consensus, err = vchash.ParseConsensusHash(ch); err != nil {
		t.Fatal(err)
	}
	if tr.State, err = lthash.ParseDigest(st); err != nil {
		t.Fatal(err)
	}
	_, err = Import(context.Background(), os.Getenv("SNAP"), os.Getenv("DIR"), ImportOptions{App: bulkApp{}, Trust: tr})
	if err != nil {
		t.Fatal(err)
	}
}

func size(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
