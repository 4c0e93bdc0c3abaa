package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
	"github.com/vchain-dev/vchain/dpor/localnet"
)

type nodeStatus struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	Up           bool   `json:"up"`
	PID          int    `json:"pid"`
	Height       uint64 `json:"height"`
	Head         string `json:"head"`
	Impeached    uint64 `json:"impeached"`
	NextProposer string `json:"next_proposer"`
}

func localnetStatus(t *testing.T, dir string) map[string]nodeStatus {
	t.Helper()
	out := mustRun(t, "localnet", "status", "--dir", dir)
	var list []nodeStatus
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("status is not a JSON array: %v\n%s", err, out)
	}
	m := map[string]nodeStatus{}
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

// waitLocalnet polls the status until ok holds, failing after within with
// the end of the log of every node that is down.
func waitLocalnet(t *testing.T, dir, what string, within time.Duration, ok func(map[string]nodeStatus) bool) map[string]nodeStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := localnetStatus(t, dir)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			for name, s := range st {
				if !s.Up { // why: the end of its log
					raw, _ := os.ReadFile(filepath.Join(dir, name, "node.log"))
					lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
					t.Logf("%s is down; its log ends:\n%s", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
				}
			}
			t.Fatalf("%s: not within %v; status %+v", what, within, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allAt tells whether every node is up at height h or above.
func allAt(h uint64) func(map[string]nodeStatus) bool {
	return func(m map[string]nodeStatus) bool {
		for _, s := range m {
			if !s.Up || s.Height < h {
				return false
			}
		}
		return true
	}
}

// sameBlock checks that every node of l holds the same block at height h.
func sameBlock(t *testing.T, l *localnet.Layout, h uint64) {
	t.Helper()
	heads := map[string]bool{}
	for _, nc := range l.Nodes {
		var b struct {
			Hash string `json:"hash"`
		}
		if err := localnet.GetJSON(httpClient(), "http://"+nc.HTTP+"/v1/block/"+strconv.FormatUint(h, 10), &b); err != nil {
			t.Fatalf("%s: %v", nc.Name, err)
		}
		heads[b.Hash] = true
	}
	if len(heads) != 1 {
		t.Fatalf("nodes disagree on block %d: %v", h, heads)
	}
}

func pidOf(t *testing.T, dir, name string) int {
	raw, err := os.ReadFile(filepath.Join(dir, name, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// TestCLILocalnet is the walk-through a new user would do: localnet up
// with 4 validators; blocks become final; kill -9 one validator: blocks
// keep becoming final; kill the proposer whose turn it is: an impeach
// block appears within period + timeout; restart the killed nodes: they
// catch up to the same head.
func TestCLILocalnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	const period, timeout = 100, 1000
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "4", "--dir", dir,
		"--period", strconv.Itoa(period), "--timeout", strconv.Itoa(timeout))
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", dir) })
	l, err := localnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, within time.Duration, ok func(map[string]nodeStatus) bool) map[string]nodeStatus {
		t.Helper()
		return waitLocalnet(t, dir, what, within, ok)
	}
	st := waitFor("blocks final on every node", 20*time.Second, func(m map[string]nodeStatus) bool {
		for _, s := range m {
			if !s.Up || s.Height < 3 {
				return false
			}
		}
		return true
	})
	if st["v0"].Role != "validator" || st["p0"].Role != "proposer" || st["v0"].NextProposer == "" {
		t.Fatalf("status fields: %+v", st["v0"])
	}

	// kill -9 a validator: the other three keep deciding.
	syscall.Kill(pidOf(t, dir, "v3"), syscall.SIGKILL)
	h := st["v0"].Height
	waitFor("blocks final without v3", 20*time.Second, func(m map[string]nodeStatus) bool { return m["v0"].Height >= h+5 && !m["v3"].Up })

	// kill -9 the proposer whose turn comes next: its height ends with an
	// impeach block within period + timeout.
	var victim string
	var before nodeStatus
	for {
		before = localnetStatus(t, dir)["v0"]
		victim = before.NextProposer
		if strings.HasPrefix(victim, "p") {
			break
		}
	}
	syscall.Kill(pidOf(t, dir, victim), syscall.SIGKILL)
	killed := time.Now()
	waitFor("an impeach block", 10*time.Second, func(m map[string]nodeStatus) bool { return m["v0"].Impeached > before.Impeached })
	// Period + timeout from the parent's time; the slack covers status
	// polling and two cores shared by the whole test run. The simulator
	// checks the bound exactly.
	if took := time.Since(killed); took > time.Duration(period+timeout)*time.Millisecond+2*time.Second {
		t.Fatalf("impeach block after %v; period + timeout is %d ms", took, period+timeout)
	}
	t.Logf("impeach block %v after killing the proposer (period + timeout = %d ms)", time.Since(killed).Round(time.Millisecond), period+timeout)
	// The operator sees it at info, with its cause.
	logDeadline := time.Now().Add(5 * time.Second)
	for {
		raw, _ := os.ReadFile(filepath.Join(dir, "v0", "node.log"))
		if strings.Contains(string(raw), `"msg":"impeach block"`) && strings.Contains(string(raw), `"proposer":"`+victim+`"`) && strings.Contains(string(raw), "no valid proposal") {
			break
		}
		if time.Now().After(logDeadline) {
			t.Fatalf("v0's log has no impeach line naming %s and its cause", victim)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Restart: localnet up starts what is down; they catch up.
	out := mustRun(t, "localnet", "up", "--dir", dir)
	if !strings.Contains(out, "v3") || !strings.Contains(out, victim) {
		t.Fatalf("up restarted %s; want v3 and %s", out, victim)
	}
	target := localnetStatus(t, dir)["v0"].Height + 3
	waitFor("the restarted nodes catch up", 30*time.Second, func(m map[string]nodeStatus) bool {
		for _, s := range m { // every node, so each can serve the block compared below
			if s.Height < target {
				return false
			}
		}
		return true
	})
	sameBlock(t, l, target)
	// The names application syncs from the chain, final blocks only.
	out = mustRun(t, "sync", "--source", "dpor", "--app", "names", "--rpc", "http://"+l.Nodes[0].HTTP,
		"--genesis", filepath.Join(dir, "genesis.json"), "--datadir", filepath.Join(t.TempDir(), "names"))
	if !strings.Contains(out, "synced to height") {
		t.Fatalf("sync from the chain: %s", out)
	}
	mustRun(t, "localnet", "down", "--dir", dir)
	for _, s := range localnetStatus(t, dir) {
		if s.Up {
			t.Fatalf("%s still up after down", s.Name)
		}
	}
}

// TestCLICampaignAndParameters: through the CLI against a running chain,
// an account claims a campaign (admission proofs solved, deposit paid)
// and is listed for the next term; only the deployer may change a
// parameter.
func TestCLICampaignAndParameters(t *testing.T) {
	// Proofs must name one of the last AcceptableBlocks blocks; with 50 ms
	// blocks and a loaded machine, give the prover room.
	c := dportest.StartWith(t, 4, 1, func(g *chain.Genesis) { g.Params.AcceptableBlocks = 1000 })
	c.WaitHeight(0, 2, 10*time.Second)
	dir := t.TempDir()
	writeKey := func(name string, k ed25519.PrivateKey) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(hex.EncodeToString(k.Seed())), 0o600)
		return p
	}
	rich := writeKey("rich.key", dportest.Key(dportest.Funded))
	cand := dportest.Key(55)
	candFile := writeKey("cand.key", cand)
	api := c.API(0)
	mustRun(t, "tx", "send", "--to", chain.AddressOf(cand.Public().(ed25519.PublicKey)).String(), "--amount", "100000", "--key", rich, "--rpc", api)
	waitBalance := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			acct, _ := chain.ReadState(c.Nodes[0].State()).Account(chain.AddressOf(cand.Public().(ed25519.PublicKey)))
			if acct.Balance > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the candidate was never funded")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBalance()
	mustRun(t, "tx", "claim", "--terms", "2", "--key", candFile, "--rpc", api)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := chain.ReadState(c.Nodes[0].State())
		h, _ := st.Height()
		list, _ := st.CandidatesOf(c.Genesis.TermOf(h+1) + 1)
		if len(list) == 1 && list[0] == chain.AddressOf(cand.Public().(ed25519.PublicKey)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the claim never listed the candidate (candidates %v)", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The genesis has no deployer set (the zero address): nobody may tune.
	_, errOut, code := run(t, "", "tx", "call", "--contract", "rpt", "--method", "updateAlpha", "--value", "5", "--key", candFile, "--rpc", api)
	if code == 0 {
		// Accepted into the mempool; it fails when built. Either way the
		// parameter must not change.
		time.Sleep(500 * time.Millisecond)
	}
	p, _ := chain.ReadState(c.Nodes[0].State()).Params()
	if p.Alpha == 5 {
		t.Fatalf("a non-deployer changed alpha (%s)", errOut)
	}
}

// TestCLILocalnetRestarts: the whole localnet stopped and started again,
// twice, then its four validators killed with SIGKILL and started: after
// each, every node finalises 30 more blocks within a minute and all hold
// the same blocks (a restart used to wedge every node at a term's first
// block).
func TestCLILocalnetRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "localnet", "up", "--validators", "4", "--proposers", "4", "--dir", dir)
	t.Cleanup(func() { run(t, "", "localnet", "down", "--dir", dir) })
	l, err := localnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitLocalnet(t, dir, "first blocks", 20*time.Second, allAt(3))
	high := func() uint64 {
		var h uint64
		for _, s := range localnetStatus(t, dir) {
			h = max(h, s.Height)
		}
		return h
	}
	for _, step := range []string{"down/up", "down/up again", "kill -9 the validators"} {
		if step == "kill -9 the validators" {
			for _, v := range []string{"v0", "v1", "v2", "v3"} {
				syscall.Kill(pidOf(t, dir, v), syscall.SIGKILL)
			}
		} else {
			mustRun(t, "localnet", "down", "--dir", dir)
		}
		target := high() + 30
		mustRun(t, "localnet", "up", "--dir", dir)
		waitLocalnet(t, dir, step+": 30 more blocks", time.Minute, allAt(target))
		sameBlock(t, l, target)
		t.Logf("%s: every node reached %d", step, target)
	}
}

// TestCLITxLifecycle: the transaction lifecycle as a user sees it: a new
// key, 20 back-to-back sends without waiting (each takes the next pending
// nonce; all land), account show, tx show; a send that waits; a call that
// must fail exits non-zero with its reason and tx show says failed; a
// replayed transaction is refused with 409.
func TestCLITxLifecycle(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 2, 10*time.Second)
	dir := t.TempDir()
	rich := filepath.Join(dir, "rich.key")
	os.WriteFile(rich, []byte(hex.EncodeToString(dportest.Key(dportest.Funded).Seed())), 0o600)
	api := c.API(4) // the proposer's API

	newKey := filepath.Join(dir, "new.key")
	addr := strings.TrimSpace(mustRun(t, "key", "new", "--out", newKey))
	if !strings.HasPrefix(addr, "0x") || len(addr) != 42 {
		t.Fatalf("key new printed %q, want an address", addr)
	}
	if _, errOut, code := run(t, "", "key", "new", "--out", newKey); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("key new over an existing key: exit %d, %s", code, errOut)
	}
	var hashes []string
	want := uint64(0)
	for i := 1; i <= 20; i++ {
		out := mustRun(t, "tx", "send", "--no-wait", "--to", addr, "--amount", strconv.Itoa(i), "--key", rich, "--rpc", api)
		hashes = append(hashes, strings.TrimSpace(out))
		want += uint64(i)
	}
	var acct struct {
		Balance      uint64 `json:"balance"`
		Nonce        uint64 `json:"nonce"`
		PendingNonce uint64 `json:"pending_nonce"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := json.Unmarshal([]byte(mustRun(t, "account", "show", addr, "--rpc", api)), &acct); err != nil {
			t.Fatal(err)
		}
		if acct.Balance == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance %d after 20 sends, want %d", acct.Balance, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var show struct {
		Hash, Status, Error string
		Height              uint64
	}
	json.Unmarshal([]byte(mustRun(t, "tx", "show", hashes[19], "--rpc", api)), &show)
	if show.Status != "final" || show.Height == 0 || show.Hash != hashes[19] {
		t.Fatalf("tx show of the last send: %+v", show)
	}
	var faucet struct {
		Nonce        uint64 `json:"nonce"`
		PendingNonce uint64 `json:"pending_nonce"`
	}
	json.Unmarshal([]byte(mustRun(t, "account", "show", dportest.Address(dportest.Funded).String(), "--rpc", api)), &faucet)
	if faucet.Nonce != 20 || faucet.PendingNonce != 20 {
		t.Fatalf("the faucet after 20 sends: %+v", faucet)
	}

	// A send that waits returns once final.
	out := mustRun(t, "tx", "send", "--to", addr, "--amount", "1000", "--key", rich, "--rpc", api)
	json.Unmarshal([]byte(mustRun(t, "tx", "show", strings.TrimSpace(out), "--rpc", api)), &show)
	if show.Status != "final" {
		t.Fatalf("tx send returned before the transaction was final: %+v", show)
	}

	// A call that must fail: the new key is not the deployer.
	out, errOut, code := run(t, "", "tx", "call", "--contract", "rpt", "--method", "updateAlpha", "--value", "5", "--key", newKey, "--rpc", api)
	if code == 0 || !strings.Contains(errOut, "deployer") {
		t.Fatalf("a non-deployer's updateAlpha: exit %d, stderr %q", code, errOut)
	}
	json.Unmarshal([]byte(mustRun(t, "tx", "show", strings.TrimSpace(out), "--rpc", api)), &show)
	if show.Status != "failed" || !strings.Contains(show.Error, "deployer") {
		t.Fatalf("tx show of the failed call: %+v", show)
	}
	_, errOut, code = run(t, "", "tx", "call", "--contract", "rpt", "--method", "noSuchMethod", "--key", newKey, "--rpc", api)
	if code == 0 || !strings.Contains(errOut, "no function") {
		t.Fatalf("an unknown method: exit %d, stderr %q", code, errOut)
	}
	if out, _, code := run(t, "", "tx", "show", strings.Repeat("ab", 32), "--rpc", api); code != 0 || !strings.Contains(out, `"unknown"`) {
		t.Fatalf("tx show of an unknown hash: exit %d, %s", code, out)
	}

	// The same signed transaction twice: 409 with the reason.
	tx := &chain.Tx{Nonce: 0, To: dportest.Address(7), Amount: 1, Fee: 1}
	tx.Sign(c.Genesis.ChainID, dportest.Key(dportest.Funded))
	body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
	resp, err := httpClient().Post(api+"/v1/tx", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Fatalf("a used nonce: HTTP %d, want 409", resp.StatusCode)
	}
}

// TestCLILocalnetRefusesBadDirectories: up on a directory whose genesis
// is invalid names the field; flags that differ from the existing
// localnet are refused, naming the flag; a load whose warmup outlasts it
// is refused.
func TestCLILocalnetRefusesBadDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := localnet.Create(dir, localnet.Options{Validators: 4, Proposers: 2, PeriodMS: 100, TimeoutMS: 1000, ViewLen: 3}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "localnet", "up", "--dir", dir, "--validators", "7")
	if code == 0 || !strings.Contains(errOut, "--validators 7") || !strings.Contains(errOut, "created with 4") {
		t.Fatalf("up with another validator count: exit %d, %s", code, errOut)
	}
	_, errOut, code = run(t, "", "localnet", "up", "--dir", dir, "--period", "50")
	if code == 0 || !strings.Contains(errOut, "--period 50") {
		t.Fatalf("up with another period: exit %d, %s", code, errOut)
	}
	_, errOut, code = run(t, "", "localnet", "load", "--dir", dir, "--duration", "10s", "--warmup", "30s")
	if code == 0 || !strings.Contains(errOut, "--warmup 30s must be shorter than --duration 10s") {
		t.Fatalf("load with a warmup longer than the run: exit %d, %s", code, errOut)
	}
	path := filepath.Join(dir, "genesis.json")
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(raw), `"timeout_ms": 1000`, `"timeout_ms": -5`, 1)), 0o644)
	_, errOut, code = run(t, "", "localnet", "up", "--dir", dir)
	if code == 0 || !strings.Contains(errOut, "timeout_ms") {
		t.Fatalf("up on an invalid genesis: exit %d, %s", code, errOut)
	}
	if pids, _ := filepath.Glob(filepath.Join(dir, "*", "pid")); len(pids) != 0 {
		t.Fatalf("nodes started from a refused directory: %v", pids)
	}
}
