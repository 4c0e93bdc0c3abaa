package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/dportest"
)

// TestRouteIndexAndOpenAPI: a node lists its routes at GET /v1/, each
// one is in its OpenAPI description, and each GET route is served (none
// answers the mux's bare "404 page not found").
func TestRouteIndexAndOpenAPI(t *testing.T) {
	c := dportest.Start(t, 4, 1)
	c.WaitHeight(0, 1, 10*time.Second)
	api := c.API(0)
	get := func(path string) (int, string) {
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	var index struct {
		Routes []struct{ Method, Path string }
	}
	if _, body := get("/v1/"); json.Unmarshal([]byte(body), &index) != nil || len(index.Routes) < 15 {
		t.Fatalf("the index: %s", body)
	}
	var doc struct {
		Paths map[string]map[string]any
	}
	_, body := get("/v1/openapi.json")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range index.Routes {
		if _, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("OpenAPI lacks %s %s", rt.Method, rt.Path)
		}
		if rt.Method != "GET" || strings.Contains(rt.Path, "pprof") {
			continue
		}
		path := strings.NewReplacer("{hash}", strings.Repeat("ab", 32), "{addr}", "0x"+strings.Repeat("cd", 20),
			"{h}", "1", "{term}", "0", "{contract}", "rpt", "{method}", "params").Replace(rt.Path)
		if path == "/v1/events" {
			path += "?wait=0s"
		}
		if path == "/v1/blocks" {
			path += "?from=1&max=1"
		}
		if code, body := get(path); code == http.StatusNotFound && strings.Contains(body, "404 page not found") {
			t.Errorf("%s %s is listed but not served", rt.Method, rt.Path)
		}
	}
}
