package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
)

// TestCLINamesOnDPoR: the names commands submit their ops on a DPoR chain
// (--source dpor --rpc URL --key FILE): preorder, register, update and
// transfer, each read back through `vchain sync --source dpor --app names`
// and `names show`; a register without a preorder is refused before
// anything is sent.
func TestCLINamesOnDPoR(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	dir := t.TempDir()
	key := filepath.Join(dir, "rich.key")
	os.WriteFile(key, []byte(hex.EncodeToString(dportest.Key(dportest.Funded).Seed())), 0o600)
	g, _ := json.Marshal(c.Genesis)
	genesis := filepath.Join(dir, "genesis.json")
	os.WriteFile(genesis, g, 0o644)
	api, data := c.API(0), filepath.Join(dir, "names")
	sync := func() {
		t.Helper()
		mustRun(t, "sync", "--source", "dpor", "--app", "names", "--rpc", api, "--genesis", genesis, "--datadir", data)
	}
	op := func(args ...string) {
		t.Helper()
		mustRun(t, append(append([]string{"names"}, args...), "--source", "dpor", "--rpc", api, "--key", key, "--datadir", data)...)
	}
	show := func(name string) map[string]any {
		t.Helper()
		var rec map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "names", "show", name, "--datadir", data)), &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	sync()
	if _, errOut, code := run(t, "", "names", "register", "alice.id", "--source", "dpor", "--rpc", api, "--key", key, "--datadir", data); code == 0 || !strings.Contains(errOut, "preorder it first") {
		t.Fatalf("register without a preorder: exit %d, %s", code, errOut)
	}
	op("preorder", "alice.id")
	sync()
	op("register", "alice.id")
	sync()
	owner := chain.AddressOf(dportest.Key(dportest.Funded).Public().(ed25519.PublicKey)).String()
	if rec := show("alice.id"); rec["owner"] != owner {
		t.Fatalf("after register: %v, want owner %s", rec, owner)
	}
	op("update", "alice.id", "hello")
	bob := chain.AddressOf(dportest.Key(77).Public().(ed25519.PublicKey)).String()
	sync()
	op("transfer", "alice.id", bob)
	sync()
	if rec := show("alice.id"); rec["owner"] != bob {
		t.Fatalf("after transfer: %v, want owner %s", rec, bob)
	}
}
