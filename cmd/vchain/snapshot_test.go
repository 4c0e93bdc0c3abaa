package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/vchain-dev/vchain/internal/btcdtest"
)

// TestCLISnapshotOnBtcd: a names index synced from btcd is exported,
// signed, and imported elsewhere with the trusted consensus hash (and the
// publisher's signature, or the state commitment), then both sync on
// through more names ops: every block's consensus hash and state
// commitment on the imported node equal those of the node that synced
// from the first block, and so do the names. A tampered snapshot and a
// wrong trust are refused, leaving the data directory as it was.
func TestCLISnapshotOnBtcd(t *testing.T) {
	n := btcdtest.Start(t)
	c := n.Client
	if _, err := c.Generate(101); err != nil {
		t.Fatal(err)
	}
	wif, _ := btcutil.NewWIF(n.Key, btcdtest.Params, true)
	_, bobPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{42}, 32))
	bob, _ := address.NewAddressPubKeyHash(address.Hash160(bobPub.SerializeCompressed()), btcdtest.Params)
	dir := t.TempDir()
	full, imported := filepath.Join(dir, "full"), filepath.Join(dir, "imported")
	rpc := []string{"--rpc", n.RPC, "--rpc-user", n.User, "--rpc-pass", n.Pass, "--rpc-notls", "--network", "regtest"}
	cli := func(args ...string) string { t.Helper(); return mustRun(t, append(args, rpc...)...) }
	sync := func(dd string) {
		t.Helper()
		cli("sync", "--source", "bitcoin", "--app", "names", "--datadir", dd, "--confirmations", "0")
	}
	mine := func() {
		if _, err := c.Generate(1); err != nil {
			t.Fatal(err)
		}
	}
	sync(full)
	for _, name := range []string{"alice.id", "carol.id"} {
		cli("names", "preorder", name, "--key", wif.String(), "--datadir", full)
		mine()
		sync(full)
		cli("names", "register", name, "--key", wif.String(), "--datadir", full)
		mine()
		sync(full)
	}

	snap := filepath.Join(dir, "names.snap")
	out := mustRun(t, "snapshot", "export", "--datadir", full, "--out", snap)
	m := regexp.MustCompile(`--trust (\d+):([0-9a-f]{32}):([0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("export printed %q", out)
	}
	pair := m[1] + ":" + m[2]
	key := filepath.Join(dir, "publisher.key")
	mustRun(t, "key", "new", "--out", key)
	pub := strings.TrimSpace(mustRun(t, "key", "public", "--key", key))
	if signer := strings.TrimSpace(mustRun(t, "snapshot", "sign", snap, "--key", key)); signer != pub {
		t.Fatalf("sign printed %q, want %q", signer, pub)
	}
	if show := mustRun(t, "snapshot", "show", snap); !strings.Contains(show, pub) || !strings.Contains(show, `"height": `+m[1]) {
		t.Fatalf("show: %s", show)
	}

	otherKey := filepath.Join(dir, "other.key")
	mustRun(t, "key", "new", "--out", otherKey)
	other := strings.TrimSpace(mustRun(t, "key", "public", "--key", otherKey))

	// Refusals first: each leaves the directory untouched (absent here).
	raw, _ := os.ReadFile(snap)
	tampered := filepath.Join(dir, "tampered.snap")
	i := bytes.Index(raw, []byte("alice.id"))
	bad := bytes.Clone(raw)
	bad[i] = 'A'
	os.WriteFile(tampered, bad, 0o644)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"snapshot", "import", tampered, "--datadir", imported, "--trust", m[0][len("--trust "):]}, "hash is"},
		{[]string{"snapshot", "import", snap, "--datadir", imported, "--trust", pair}, "nothing vouches for the state"},
		{[]string{"snapshot", "import", snap, "--datadir", imported, "--trust", "5:" + m[2], "--signer", pub}, "not the trusted 5"},
		{[]string{"snapshot", "import", snap, "--datadir", imported, "--trust", pair, "--signer", other}, "0 of the 1"},
		{[]string{"snapshot", "import", snap, "--datadir", imported, "--trust", pair, "--signer", strings.Repeat("ab", 32)}, "not a point"},
		{[]string{"snapshot", "import", snap, "--datadir", imported, "--trust", "x"}, "--trust"},
	} {
		_, errOut, code := run(t, "", tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args[len(tc.args)-2:], code, errOut, tc.msg)
		}
		if _, err := os.Stat(imported); !os.IsNotExist(err) {
			t.Fatalf("a refused import left %s", imported)
		}
	}
	// The consensus hash and the publisher's signature.
	mustRun(t, "snapshot", "import", snap, "--datadir", imported, "--trust", pair, "--signer", pub)

	// Both go on: a transfer, a third name.
	cli("names", "transfer", "alice.id", bob.EncodeAddress(), "--key", wif.String(), "--datadir", full)
	mine()
	sync(full)
	cli("names", "preorder", "dave.id", "--key", wif.String(), "--datadir", full)
	mine()
	sync(full)
	sync(imported)
	cli("names", "register", "dave.id", "--key", wif.String(), "--datadir", full)
	mine()
	mine()
	sync(full)
	sync(imported)
	want := mustRun(t, "consensus", "--datadir", full, "--state")
	got := mustRun(t, "consensus", "--datadir", imported, "--state")
	if got != want || strings.Count(want, "\n") < 108 {
		t.Fatalf("the imported node's blocks differ from the full node's:\n%s\nwant\n%s", got, want)
	}
	for _, name := range []string{"alice.id", "carol.id", "dave.id"} {
		a := mustRun(t, "names", "show", name, "--datadir", full)
		b := mustRun(t, "names", "show", name, "--datadir", imported)
		if a != b {
			t.Fatalf("%s: %s on the full node, %s on the imported one", name, a, b)
		}
	}
	if !strings.Contains(mustRun(t, "names", "show", "alice.id", "--datadir", imported), bob.EncodeAddress()) {
		t.Fatal("the transfer after the snapshot did not reach the imported node")
	}
	// Importing again over the synced directory, with the state commitment
	// as the trust: the store goes back to the snapshot's height.
	mustRun(t, "snapshot", "import", snap, "--datadir", imported, "--trust", m[0][len("--trust "):])
	if h := strings.Fields(mustRun(t, "consensus", "--datadir", imported, "--height", m[1]))[0]; h != m[1] {
		t.Fatalf("after a second import: %s", h)
	}
}

// TestCLINodeSnapshotOnLocalnet: a localnet's validator v3 is killed, its
// data directory replaced by proposer p0's snapshot (exported after p0 was
// killed too), and `localnet up` restarts both: v3 starts at the
// snapshot's head, without the blocks below it, and keeps pace with the
// others; a snapshot of another chain is refused.
func TestCLINodeSnapshotOnLocalnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "1", "--dir", dir, "--no-contracts")
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", dir) })
	waitLocalnet(t, dir, "first blocks", 20*time.Second, allAt(5))
	for _, name := range []string{"v3", "p0"} {
		syscall.Kill(pidOf(t, dir, name), syscall.SIGKILL)
	}
	for _, name := range []string{"v3", "p0"} {
		for deadline := time.Now().Add(10 * time.Second); pidAlive(t, dir, name); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not die", name)
			}
		}
	}
	genesis := filepath.Join(dir, "genesis.json")
	snap := filepath.Join(t.TempDir(), "p0.snap")
	out := mustRun(t, "snapshot", "export", "--datadir", filepath.Join(dir, "p0", "data"), "--genesis", genesis, "--out", snap)
	if !strings.Contains(out, "node at height") {
		t.Fatalf("export: %s", out)
	}
	other := filepath.Join(t.TempDir(), "other")
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "1", "--dir", other, "--no-contracts")
	mustRun(t, "localnet", "down", "--dir", other)
	if _, errOut, code := run(t, "", "snapshot", "import", snap, "--datadir", filepath.Join(dir, "v3", "data"), "--genesis", filepath.Join(other, "genesis.json")); code == 0 || !strings.Contains(errOut, "not of this chain") {
		t.Fatalf("another chain's genesis: exit %d, %s", code, errOut)
	}
	out = mustRun(t, "snapshot", "import", snap, "--datadir", filepath.Join(dir, "v3", "data"), "--genesis", genesis)
	if !strings.Contains(out, "imported the node's state at height") {
		t.Fatalf("import: %s", out)
	}
	mustRun(t, "localnet", "up", "--dir", dir)
	var high uint64
	for _, s := range localnetStatus(t, dir) {
		high = max(high, s.Height)
	}
	waitLocalnet(t, dir, "v3 back from the snapshot", time.Minute, allAt(high+10))
}

func pidAlive(t *testing.T, dir, name string) bool {
	return syscall.Kill(pidOf(t, dir, name), 0) == nil
}
