package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

func newServer(t *testing.T) (*httptest.Server, *api.Client) {
	t.Helper()
	h, err := host.Open(host.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := httptest.NewServer(api.NewServer(h, nil))
	t.Cleanup(srv.Close)
	return srv, api.NewClient(srv.URL)
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Error
}

// TestBadRequests: malformed, oversized, forged and out-of-order requests
// get a 4xx with a message, and the host keeps serving.
func TestBadRequests(t *testing.T) {
	srv, c := newServer(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	u := api.NewUser(priv)
	code, err := os.ReadFile(filepath.Join("..", "examples", "forum.js"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := u.Deploy(context.Background(), c, code)
	if err != nil {
		t.Fatal(err)
	}
	call, _ := json.Marshal(host.UserEntry{Type: host.TypeCall, Contract: res.Contract, Method: "addTopic", Args: json.RawMessage(`["x"]`)})
	_, stranger, _ := ed25519.GenerateKey(nil)
	userKey, _ := hyperlog.ParseHash(u.Key())
	uh, err := c.UserHead(context.Background(), u.Key())
	if err != nil {
		t.Fatal(err)
	}
	roots := hyperlog.AppendLeaf(uh.Head.Roots, uh.Head.Length, call)
	forgedHead := host.UserIdentity(userKey).SignHead(stranger, hyperlog.TreeHash(roots), uh.Head.Length+1, 0)
	forged, _ := json.Marshal(api.SubmitRequest{User: u.Key(), Entries: []string{string(call)}, Head: forgedHead})
	newcomer := api.NewUser(stranger)
	nk, _ := hyperlog.ParseHash(newcomer.Key())
	wrongLen := host.UserIdentity(nk).SignHead(stranger, hyperlog.TreeHash(hyperlog.RootsOf([][]byte{call})), 5, 0)
	skipping, _ := json.Marshal(api.SubmitRequest{User: newcomer.Key(), Entries: []string{string(call)}, Head: wrongLen})
	badEntry, _ := json.Marshal(api.SubmitRequest{User: newcomer.Key(), Entries: []string{`{"type":"call","contract":"nope"}`}, Head: wrongLen})

	cases := []struct {
		name   string
		path   string
		body   []byte
		status int
		msg    string
	}{
		{"not JSON", "/v1/submit", []byte("{"), 400, "malformed request body"},
		{"unknown field", "/v1/submit", []byte(`{"user":"00","bogus":1}`), 400, "unknown field"},
		{"bad user key", "/v1/submit", []byte(`{"user":"zz","entries":[]}`), 400, "user"},
		{"oversized", "/v1/submit", bytes.Repeat([]byte(" "), api.MaxRequestBytes+10), 413, "exceeds"},
		{"forged signature", "/v1/submit", forged, 403, "signature"},
		{"entries that skip ahead", "/v1/submit", skipping, 409, "cannot cover"},
		{"malformed entry", "/v1/submit", badEntry, 400, "contract id"},
		{"unknown route", "/v1/nothing", []byte("{}"), 404, "no route"},
	}
	for _, tc := range cases {
		status, msg := post(t, srv.URL+tc.path, tc.body)
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: HTTP %d %q; want %d mentioning %q", tc.name, status, msg, tc.status, tc.msg)
		}
	}
	for path, want := range map[string]int{
		"/v1/contracts/" + res.Contract + "/log?start=x": 400,
		"/v1/contracts/" + strings.Repeat("0", 64):       404,
		"/v1/contracts/" + res.Contract + "/state":       400,
		"/v1/users/" + strings.Repeat("ab", 32):          404,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
	// The host still serves.
	if r, err := u.Call(context.Background(), c, res.Contract, "addTopic", json.RawMessage(`"still here"`)); err != nil || r.Failed() != nil {
		t.Fatalf("after bad requests: %v %v", err, r.Failed())
	}
}

// TestMetrics: /metrics counts requests by route and calls by outcome.
func TestMetrics(t *testing.T) {
	srv, c := newServer(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	u := api.NewUser(priv)
	ctx := context.Background()
	res, err := u.Deploy(ctx, c, []byte(`exports.n = 0; exports.inc = function () { exports.n++; return exports.n }`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Call(ctx, c, res.Contract, "inc"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Call(ctx, c, res.Contract, "nope"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`vchain_host_calls_total{outcome="ok"} 2`, `vchain_host_requests_total{code="2xx",route="POST /v1/submit"} 3`, "vchain_host_request_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(string(body), "vchain_host"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
