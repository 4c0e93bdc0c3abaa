package api_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
)

// TestRouteIndexAndOpenAPI: GET /v1/ lists every route, the OpenAPI
// description has each one (with its path and query parameters), every
// listed route is served (none falls through to "no route"), and a path
// that is not listed does fall through.
func TestRouteIndexAndOpenAPI(t *testing.T) {
	srv := newHostServer(t)
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	var index struct{ Routes []api.Route }
	_, body := get("GET", "/v1/")
	if json.Unmarshal([]byte(body), &index) != nil || len(index.Routes) != len(api.Routes) {
		t.Fatalf("the index: %s", body)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Parameters []struct{ Name, In string }
		}
	}
	_, body = get("GET", "/v1/openapi.json")
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %v %s", err, body[:min(len(body), 200)])
	}
	for _, rt := range api.Routes {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("OpenAPI lacks %s %s", rt.Method, rt.Path)
			continue
		}
		want := strings.Count(rt.Path, "{") + len(rt.Query)
		if len(op.Parameters) != want {
			t.Errorf("%s %s: %d parameters in OpenAPI, want %d", rt.Method, rt.Path, len(op.Parameters), want)
		}
		path := strings.NewReplacer("{key}", strings.Repeat("ab", 32), "{id}", strings.Repeat("cd", 32)).Replace(rt.Path)
		if rt.Path == "/v1/events" {
			path += "?wait=0s"
		}
		if _, body := get(rt.Method, path); strings.Contains(body, "no route") {
			t.Errorf("%s %s is listed but not served: %s", rt.Method, rt.Path, body)
		}
	}
	if code, body := get("GET", "/v1/nope"); code != http.StatusNotFound || !strings.Contains(body, "no route") {
		t.Fatalf("an unlisted path: %d %s", code, body)
	}
}

// TestEventStreamThroughTheServer: the host's Server-Sent Events reach a
// client through the API's handler chain (nothing in it hides Flush), and
// a reconnect's Last-Event-ID wins over the page's ?after.
func TestEventStreamThroughTheServer(t *testing.T) {
	srv := newHostServer(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	u := api.NewUser(priv)
	c := api.NewClient(srv.URL)
	if _, err := u.Deploy(context.Background(), c, []byte("exports.n = 0\n")); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/events?after=5", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "id: 1" {
			return
		}
	}
	t.Fatal("the stream ended without event 1")
}

// newHostServer serves a new host's API on a test server.
func newHostServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := host.Open(host.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := httptest.NewServer(api.NewServer(h, nil))
	t.Cleanup(srv.Close)
	return srv
}
