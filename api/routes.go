package api

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Route describes one route of the host's API, for the index at GET /v1/
// and the OpenAPI description at GET /v1/openapi.json. NewServer registers
// the API's routes from Routes, so the two cannot drift apart.
type Route struct {
	Method, Path string
	Summary      string
	// Query names the query parameters.
	Query []string
	// Body says what a POST takes.
	Body string
	// Answers says what a 200 carries.
	Answers string
}

// Routes are the API's routes (the explorer's pages aside, which are HTML
// and JSON at the same paths: /, /contract/{id}, /user/{key}).
var Routes = []Route{
	{Method: "GET", Path: "/v1/", Summary: "this index", Answers: "application/json: the routes"},
	{Method: "GET", Path: "/v1/openapi.json", Summary: "the OpenAPI 3.1 description of these routes", Answers: "application/json"},
	{Method: "GET", Path: "/v1/host", Summary: "the host's public key and limits", Answers: "application/json: HostInfo"},
	{Method: "POST", Path: "/v1/submit", Summary: "append signed entries to a user's log; serves the calls among them", Body: "application/json: SubmitRequest", Answers: "application/json: SubmitResponse"},
	{Method: "GET", Path: "/v1/users/{key}", Summary: "a user log's signed head", Answers: "application/json: UserLog"},
	{Method: "GET", Path: "/v1/users/{key}/entries", Summary: "a user log's entries, with inclusion proofs when asked", Query: []string{"start", "end", "proofs"}, Answers: "application/json: Entries"},
	{Method: "GET", Path: "/v1/contracts/{id}", Summary: "a contract's description: code hash, creator, methods, exports, state root", Answers: "application/json: ContractInfo"},
	{Method: "GET", Path: "/v1/contracts/{id}/log", Summary: "a contract's call log, with inclusion proofs when asked", Query: []string{"start", "end", "proofs"}, Answers: "application/json: Entries"},
	{Method: "GET", Path: "/v1/contracts/{id}/state", Summary: "a file of a contract's state archive", Query: []string{"path"}, Answers: "application/json: StateFile"},
	{Method: "POST", Path: "/v1/import", Summary: "take in a contract moved here (a streamed, bounded import)", Body: "application/json stream: ImportRequest", Answers: "application/json: Answer"},
	{Method: "GET", Path: "/v1/events", Summary: "the host's events: long poll, or Server-Sent Events with Accept: text/event-stream", Query: []string{"after", "wait", "kind", "app", "contract", "name", "max"}, Answers: "application/json: {events, next}, or text/event-stream"},
	{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Answers: "text/plain"},
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"routes": Routes, "explorer": "/"})
}

// OpenAPI returns the OpenAPI 3.1 description of Routes.
func OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range Routes {
		op := map[string]any{"summary": rt.Summary, "responses": map[string]any{
			"200": map[string]any{"description": rt.Answers},
			"4XX": map[string]any{"description": `application/json: {"error": "what is wrong"}`},
		}}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != "" {
			op["requestBody"] = map[string]any{"description": rt.Body, "required": true,
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		}
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "vchain contract host API", "version": "1"},
		"paths":   paths,
	}
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(OpenAPI())
}
