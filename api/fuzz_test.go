package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

// FuzzRequestBodies: whatever bytes a client posts to /v1/submit or
// /v1/import, the server answers with a 4xx and a JSON error, never a
// panic or a 5xx.
func FuzzRequestBodies(f *testing.F) {
	var identity hyperlog.Hash
	identity[0] = 1
	entry, _ := json.Marshal(host.UserEntry{Type: host.TypeCreate, Code: "exports.f = 1"})
	head := host.UserIdentity(identity).SignHead(make([]byte, 64), hyperlog.TreeHash(nil), 1, 0)
	sub, _ := json.Marshal(api.SubmitRequest{User: identity.String(), Entries: []string{string(entry)}, Head: head})
	imp, _ := json.Marshal(api.ImportRequest{From: strings.Repeat("ab", 32), CallLog: api.LogCopy{Head: head, Entries: []string{string(entry)}},
		Users: map[string]api.LogCopy{identity.String(): {Head: head, Entries: []string{"{}"}}}})
	for _, seed := range [][]byte{nil, []byte("{"), []byte("null"), []byte("[]"), []byte(`{"user":""}`), []byte(`{"user":"00","entries":["x"],"head":{"length":1}}`),
		[]byte(`{"from":"","call_log":{"head":{"length":18446744073709551615}}}`), []byte(`{} {}`), sub, imp} {
		f.Add(seed)
	}
	h, err := host.Open(host.Config{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	srv := api.NewServer(h, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/submit", "/v1/import"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("POST %s %q: HTTP %d %s, want a 4xx", path, body, w.Code, w.Body.String())
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Fatalf("POST %s %q: HTTP %d with body %q, want a JSON error", path, body, w.Code, w.Body.String())
			}
		}
	})
}
