package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

// TestConcurrentCallsOneKeyFile: ten users loaded from one key file (as
// ten `vchain contract call`s would) call at once; every call succeeds,
// each gets its own topic, and the audit passes.
func TestConcurrentCallsOneKeyFile(t *testing.T) {
	_, c := newServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key")
	owner, err := api.LoadUser(keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(filepath.Join("..", "examples", "forum.js"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := owner.Deploy(ctx, c, code)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	topics := make([]string, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := api.LoadUser(keyPath, false)
			if err != nil {
				errs[i] = err
				return
			}
			r, err := u.Call(ctx, api.NewClient(c.Base()), res.Contract, "addTopic", json.RawMessage(`"topic"`))
			if err == nil {
				err = r.Failed()
			}
			if err == nil {
				err = u.Flush(ctx, api.NewClient(c.Base()))
				topics[i] = string(r.Record.Result)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	sort.Slice(topics, func(i, j int) bool { return atoi(topics[i]) < atoi(topics[j]) })
	if got := strings.Join(topics, ","); got != "1,2,3,4,5,6,7,8,9,10" {
		t.Fatalf("topics %s, want 1..10 once each", got)
	}
	rep, err := audit.Run(ctx, c, res.Contract, audit.Options{})
	if err != nil {
		t.Fatalf("audit after concurrent calls: %v", err)
	}
	if rep.Entries != n+1 {
		t.Fatalf("audit replayed %d calls, want %d", rep.Entries, n+1)
	}
	// Only the key, its state and its lock are left: no temporary files.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "key key.lock key.logs.json" {
		t.Fatalf("key directory holds %s", got)
	}
}

func TestLoadUserMissingKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo", "key")
	if _, err := api.LoadUser(path, false); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadUser(missing) = %v, want a not-exist error naming %s", err, path)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused LoadUser created the key's directory")
	}
	a, err := api.LoadUser(path, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := api.LoadUser(path, true)
	if err != nil || a.Key() != b.Key() {
		t.Fatalf("a second LoadUser with create made another identity (%v)", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// TestIdentityKeyUserRefused: a submit from the identity point's key,
// whose "signature" R = identity, s = 0 verifies under any head, is
// refused and leaves no user log behind.
func TestIdentityKeyUserRefused(t *testing.T) {
	srv, c := newServer(t)
	var identity hyperlog.Hash
	identity[0] = 1
	entry, _ := json.Marshal(host.UserEntry{Type: host.TypeCreate, Code: "exports.f = function () { return 1 }"})
	roots := hyperlog.AppendLeaf(nil, 0, entry)
	id := host.UserIdentity(identity)
	raw := append(append([]byte(nil), identity[:]...), make([]byte, 32)...)
	if !ed25519.Verify(identity[:], id.Signable(hyperlog.TreeHash(roots), 1, 0), raw) {
		t.Fatal("the forgery does not verify under crypto/ed25519; the test tests nothing")
	}
	head := hyperlog.SignedHead{Length: 1, TreeHash: hyperlog.TreeHash(roots), Roots: roots,
		Signature: hyperlog.MultiSig{Proofs: []hyperlog.SignerProof{{Signature: [64]byte(raw)}}}.Encode()}
	head.Manifest, _ = id.Manifest().Encode()
	body, _ := json.Marshal(api.SubmitRequest{User: identity.String(), Entries: []string{string(entry)}, Head: head})
	status, msg := post(t, srv.URL+"/v1/submit", body)
	if status != 400 || !strings.Contains(msg, "small order") {
		t.Fatalf("submit as the identity key: HTTP %d %q, want 400 naming a small-order key", status, msg)
	}
	if _, err := c.UserHead(context.Background(), identity.String()); !api.IsStatus(err, 404) {
		t.Fatalf("the identity key's user log: %v, want 404", err)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
