package cometnode

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cfg "github.com/cometbft/cometbft/config"

	"github.com/vchain-dev/vchain/comet"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/node"
)

type client struct {
	t    *testing.T
	base string
	key  ed25519.PrivateKey
	id   string
}

func (c *client) get(path string, v any) int {
	c.t.Helper()
	resp, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// send signs payload with the sender's pending nonce, submits it and
// waits until it is final; it returns the transaction's hash.
func (c *client) send(payload []byte) string {
	c.t.Helper()
	from := chain.AddressOf(c.key.Public().(ed25519.PublicKey))
	var acct node.AccountStatus
	if code := c.get("/v1/account/"+from.String(), &acct); code != 200 {
		c.t.Fatalf("account: %d", code)
	}
	tx := &chain.Tx{Nonce: acct.PendingNonce, To: from, Data: payload}
	tx.Sign(c.id, c.key)
	body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
	resp, err := http.Post(c.base+"/v1/tx", "application/json", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	var out struct{ Hash, Error string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("submit: %d %s", resp.StatusCode, out.Error)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st node.TxStatus
		c.get("/v1/tx/"+out.Hash, &st)
		if st.Status == "final" {
			return out.Hash
		}
		if st.Status == "failed" || time.Now().After(deadline) {
			c.t.Fatalf("transaction %s: %+v", out.Hash, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNodeRunsContracts: one CometBFT validator in process with the
// contract runtime: the forum deployed and called through vchain's API,
// read back; a replayed transaction is refused; stopped and started again,
// the node goes on from its committed height with the same state.
func TestNodeRunsContracts(t *testing.T) {
	dir := t.TempDir()
	homes, err := Lay(dir, Layout{Validators: 1, TimeoutCommit: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *Node {
		n, err := Start(Config{Home: homes[0].Dir, App: AppContracts, API: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start()
	c := &client{t: t, base: "http://" + n.API(), key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)), id: n.ChainID()}
	code, err := os.ReadFile(filepath.Join("..", "..", "examples", "forum.js"))
	if err != nil {
		t.Fatal(err)
	}
	create := c.send(host.CreatePayload(string(code)))
	var cc host.ChainCall
	if st := c.get("/v1/contract-calls/"+create+"?wait_ms=5000", &cc); st != 200 || cc.Contract == "" {
		t.Fatalf("the create: %d %+v", st, cc)
	}
	id := cc.Contract
	c.send(host.CallPayload(id, "addTopic", json.RawMessage(`["on comet"]`)))
	call := c.send(host.CallPayload(id, "addPost", json.RawMessage(`[1, "hello"]`)))
	if st := c.get("/v1/contract-calls/"+call+"?wait_ms=5000", &cc); st != 200 || string(cc.Result) != "1" {
		t.Fatalf("addPost: %d %+v result %s", st, cc, cc.Result)
	}
	var file struct{ Content string }
	if st := c.get(fmt.Sprintf("/v1/contracts/%s/state?path=/topics/1/title", id), &file); st != 200 || file.Content != "on comet" {
		t.Fatalf("state: %d %+v", st, file)
	}
	// Hostile and mistaken submissions get a status and a reason.
	post := func(body string) (int, string) {
		resp, err := http.Post(c.base+"/v1/tx", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Error, Code string }
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Error + " " + out.Code
	}
	other := &chain.Tx{To: chain.Address{1}, Data: host.CallPayload(id, "addPost", json.RawMessage(`[1, "x"]`))}
	other.Sign("another-chain", c.key)
	from := chain.AddressOf(c.key.Public().(ed25519.PublicKey))
	var acct node.AccountStatus
	c.get("/v1/account/"+from.String(), &acct)
	used := &chain.Tx{Nonce: acct.Nonce - 1, To: from, Data: host.CallPayload(id, "addPost", json.RawMessage(`[1, "again"]`))}
	used.Sign(c.id, c.key)
	for _, tc := range []struct {
		body string
		code int
		says string
	}{
		{`{"tx": "zz"}`, 400, "hex"},
		{`{"tx": "` + strings.Repeat("ab", comet.MaxTxBytes+1) + `"}`, 400, "at most"},
		{`{"tx": "00", "extra": 1}`, 400, "unknown field"},
		{`[`, 400, "want"},
		{`{"tx": "` + hex.EncodeToString(chain.Marshal(other)) + `"}`, 400, "signature"},
		{`{"tx": "` + hex.EncodeToString(chain.Marshal(used)) + `"}`, 409, "stale-nonce"},
	} {
		if code, says := post(tc.body); code != tc.code || !strings.Contains(says, tc.says) {
			t.Fatalf("POST /v1/tx %.40s: %d %q, want %d naming %q", tc.body, code, says, tc.code, tc.says)
		}
	}
	if st := c.get("/v1/tx/nothex", nil); st != 400 {
		t.Fatalf("GET /v1/tx/nothex: %d", st)
	}
	var unknown node.TxStatus
	if c.get("/v1/tx/"+strings.Repeat("00", 32), &unknown); unknown.Status != "unknown" {
		t.Fatalf("an unknown transaction: %+v", unknown)
	}

	var before Status
	c.get("/v1/status", &before)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	n = start()
	defer n.Stop()
	c.base = "http://" + n.API()
	var after Status
	c.get("/v1/status", &after)
	if after.Height < before.Height {
		t.Fatalf("after a restart at height %d, before %d", after.Height, before.Height)
	}
	if st := c.get(fmt.Sprintf("/v1/contracts/%s/state?path=/topics/1/1", id), &file); st != 200 || file.Content != "hello" {
		t.Fatalf("state after restart: %d %+v", st, file)
	}
	c.send(host.CallPayload(id, "addPost", json.RawMessage(`[1, "after the restart"]`)))
	if st := c.get(fmt.Sprintf("/v1/contracts/%s/state?path=/topics/1/2", id), &file); st != 200 || file.Content != "after the restart" {
		t.Fatalf("state after a call after the restart: %d %+v", st, file)
	}
}

// TestFullMempoolAnswers429: a flood that fills CometBFT's mempool gets
// 429 with Retry-After, not an error or a silent drop, and the node goes
// on serving.
func TestFullMempoolAnswers429(t *testing.T) {
	dir := t.TempDir()
	homes, err := Lay(dir, Layout{Validators: 1, TimeoutCommit: 3 * time.Second, Tune: func(c *cfg.Config) {
		c.Mempool.Size = 4
	}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Config{Home: homes[0].Dir, App: AppContracts, API: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	base := "http://" + n.API()
	full := 0
	for i := 0; i < 40; i++ {
		k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		tx := &chain.Tx{To: chain.Address{1}, Data: host.CreatePayload("exports.x = 1")}
		tx.Sign(n.ChainID(), k)
		body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(chain.Marshal(tx))})
		resp, err := http.Post(base+"/v1/tx", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
		case 429:
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			full++
		default:
			t.Fatalf("submission %d: %s", i, resp.Status)
		}
	}
	if full == 0 {
		t.Fatal("40 transactions into a mempool of 4 between blocks 3 s apart: none refused")
	}
	resp, err := http.Get(base + "/v1/status")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status after the flood: %v %v", err, resp)
	}
	resp.Body.Close()
}
