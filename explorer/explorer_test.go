package explorer_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/hyperlog"
)

// TestPages: the host, a contract and a user render as HTML with links
// where they say, and as JSON with Accept: application/json; unknown ids
// are 404 in both.
func TestPages(t *testing.T) {
	h, err := host.Open(host.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pub, priv, _ := ed25519.GenerateKey(nil)
	var user hyperlog.Hash
	copy(user[:], pub)
	entry, _ := json.Marshal(host.UserEntry{Type: host.TypeCreate, Code: "exports.n = 0\nexports.inc = () => ++exports.n\n"})
	head := host.UserIdentity(user).SignHead(priv, hyperlog.TreeHash(hyperlog.AppendLeaf(nil, 0, entry)), 1, 0)
	answers, err := h.Submit(context.Background(), user, [][]byte{entry}, head)
	if err != nil {
		t.Fatal(err)
	}
	id := answers[0].Contract.String()
	mux := http.NewServeMux()
	explorer.Routes(h, mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, accept string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ path, want string }{
		{"/", `href="/contract/` + id + `"`},
		{"/contract/" + id, `href="/user/` + user.String() + `"`},
		{"/user/" + user.String(), "Entries, newest first"},
		{"/static/live.js", "EventSource"},
	} {
		code, body := get(c.path, "")
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d, no %q", c.path, code, c.want)
		}
	}
	code, body := get("/contract/"+id, "application/json")
	var p explorer.Contract
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Info.ID != id || len(p.Calls) != 1 || p.Calls[0].Type != host.TypeCreate {
		t.Fatalf("contract JSON: %d %s", code, body)
	}
	var v explorer.Verification
	if code, body := get("/contract/"+id+"/verify", "application/json"); code != 200 || json.Unmarshal([]byte(body), &v) != nil || !v.OK || len(v.Calls) != 1 || v.Calls[0] != "verified" || v.Report.Entries != 1 {
		t.Fatalf("verify JSON: %d %s", code, body)
	}
	if code, body := get("/contract/"+id+"/verify", ""); code != 200 || !strings.Contains(body, "All 1 records verify") {
		t.Fatalf("verify page: %d %s", code, body)
	}
	var home explorer.Home
	if code, body := get("/", "application/json"); code != 200 || json.Unmarshal([]byte(body), &home) != nil || len(home.Contracts) != 1 || home.Events != 1 {
		t.Fatalf("home JSON: %d %s", code, body)
	}
	for _, path := range []string{"/contract/" + strings.Repeat("ab", 32), "/contract/zz", "/user/00"} {
		if code, _ := get(path, ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
		if code, body := get(path, "application/json"); code != 404 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s as JSON: %d %s", path, code, body)
		}
	}
}
