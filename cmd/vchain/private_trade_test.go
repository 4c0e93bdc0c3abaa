package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/store"
)

// TestPrivateTradeExample runs examples/private-trade/run.sh, the eight
// steps of the seed's private trade through the CLI on a 4 + 4 localnet,
// then checks what it must show: the balances moved (B paid the price, A
// received it, the escrow is empty, fees aside); a key that is not a
// participant cannot read the contract; no node holds the item, the order
// or the key in clear, in any file or store; and a participant that
// attests a wrong state root is named by the audit.
func TestPrivateTradeExample(t *testing.T) {
	dir := t.TempDir()
	script := exec.Command("bash", filepath.Join("..", "..", "examples", "private-trade", "run.sh"), dir)
	script.Env = append(os.Environ(), "VCHAIN="+vchainBin, "KEEP=1")
	var out, errb bytes.Buffer
	script.Stdout, script.Stderr = &out, &errb
	err := script.Run()
	net := filepath.Join(dir, "net")
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", net) })
	t.Logf("run.sh:\n%s", out.String())
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, errb.String())
	}
	for _, step := range []string{"== 1.", "== 4.", "== 8.", "B has paid into ce-1", "confirmed", "every participant attested the same state"} {
		if !strings.Contains(out.String(), step) {
			t.Fatalf("run.sh printed no %q", step)
		}
	}
	m := regexp.MustCompile(`CT=(\w+) CID=(\w+) ORDER=(\w+) ITEM_KEY=(\w+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("run.sh did not print CT, CID and ORDER")
	}
	ct := m[1]
	l, err := localnet.Load(net)
	if err != nil {
		t.Fatal(err)
	}
	rpc := "http://" + l.Nodes[4].HTTP
	genesis := filepath.Join(net, "genesis.json")
	key := func(who string) string { return filepath.Join(dir, who+".key") }
	addr := func(who string) string { return strings.TrimSpace(mustRun(t, "key", "address", "--key", key(who))) }
	account := func(who string) node.AccountStatus {
		var a node.AccountStatus
		if err := json.Unmarshal([]byte(mustRun(t, "account", "show", addr(who), "--rpc", rpc)), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Every transaction pays a fee of 1: the nonce counts them.
	a, b := account("A"), account("B")
	if a.Balance != 1000+100-a.Nonce || b.Balance != 1000-100-b.Nonce {
		t.Fatalf("balances: A %d after %d transactions, B %d after %d; want A +100, B -100 (fees aside)", a.Balance, a.Nonce, b.Balance, b.Nonce)
	}
	if esc := mustRun(t, "chain", "call", "--contract", "escrow", "--method", "escrowOf", `"ce-1"`, "--rpc", rpc); !strings.Contains(esc, `"balance":0`) {
		t.Fatalf("the escrow after the trade: %s", esc)
	}

	// An outsider, even with a synced engine, has nothing of CT.
	mustRun(t, "key", "new", "--out", key("O"))
	_, errOut, code := run(t, "", "private", "state", ct, "--rpc", rpc, "--genesis", genesis, "--key", key("O"), "--datadir", filepath.Join(dir, "O.private"))
	if code == 0 || !strings.Contains(errOut, "not in your engine") {
		t.Fatalf("an outsider reads CT: exit %d, %s", code, errOut)
	}

	// A lie: A registers a second item; before B runs, a transaction from
	// B's key attests a wrong root for it. P attests the right one; the
	// audit names B.
	priv := func(who string, args ...string) string {
		return mustRun(t, append(append([]string{"private"}, args...), "--rpc", rpc, "--genesis", genesis, "--key", key(who), "--datadir", filepath.Join(dir, who+".private"))...)
	}
	priv("A", "call", ct, "register", `"Rain data"`, `"`+m[2]+`"`, "50", `"daily rainfall"`)
	var pc host.PrivateContract
	if err := json.Unmarshal([]byte(mustGet(t, rpc+"/v1/private/"+ct)), &pc); err != nil {
		t.Fatal(err)
	}
	last := pc.Calls[len(pc.Calls)-1].Tx
	lie := host.AttestPayload(&host.Attestation{Contract: ct, Tx: last, Root: strings.Repeat("ab", 32), Length: 99})
	mustRun(t, "tx", "send", "--to", addr("B"), "--amount", "0", "--data", hex.EncodeToString(lie), "--key", key("B"), "--rpc", rpc)
	priv("P", "sync", ct)
	pubB := strings.TrimSpace(mustRun(t, "key", "public", "--key", key("B")))
	auditOut, _, code := run(t, "", "private", "audit", ct, "--rpc", rpc)
	if code != 1 || !strings.Contains(auditOut, `"kind":"diverged"`) || !strings.Contains(auditOut, pubB) || !strings.Contains(auditOut, last) {
		t.Fatalf("the audit after B's lie: exit %d\n%s", code, auditOut)
	}

	// No node holds the item, the order or the key in clear: not in any
	// file, nor in any of its stores read back through Pebble. (The scan
	// finds them where they are: in a participant's own store.)
	mustRun(t, "localnet", "down", "--dir", net)
	secrets := []string{"Weather data", "hourly temperatures", "Singapore", "Rain data", `"state":"confirmed"`, m[4]}
	holds := func(dir, secret string) bool {
		db, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		found := false
		db.Iterate(nil, func(k, v []byte) error {
			found = found || bytes.Contains(v, []byte(secret)) || bytes.Contains(k, []byte(secret))
			return nil
		})
		return found
	}
	if !holds(filepath.Join(dir, "A.private"), "Weather data") {
		t.Fatal("the scan does not find the item's name in A's own store")
	}
	for _, nc := range l.Nodes {
		root := filepath.Join(net, nc.Name)
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, _ := os.ReadFile(p)
			for _, s := range secrets {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("%s holds %q in clear", p, s)
				}
			}
			return nil
		})
		for _, sub := range []string{"data", "contracts"} {
			for _, s := range secrets {
				if holds(filepath.Join(root, sub), s) {
					t.Errorf("%s/%s holds %q in clear", nc.Name, sub, s)
				}
			}
		}
	}
}

// mustGet fetches url.
func mustGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, buf.String())
	}
	return buf.String()
}
