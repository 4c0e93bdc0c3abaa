package api

import (
	"encoding/json"
	"net/http"

	"github.com/vchain-dev/vchain/internal/openapi"
)

// Route describes one route of the host's API, for the index at GET /v1/
// and the OpenAPI description at GET /v1/openapi.json. NewServer registers
// the API's routes from Routes, so the two cannot drift apart.
type Route = openapi.Route

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
	{Method: "GET", Path: "/v1/contracts/{id}/snapshot", Summary: "a snapshot of the contract's state engine at the newest signed call (package snapshot's format), to adopt against that record's state commitment", Answers: "application/octet-stream"},
	{Method: "POST", Path: "/v1/import", Summary: "take in a contract moved here (a streamed, bounded import)", Body: "application/json stream: ImportRequest", Answers: "application/json: Answer"},
	{Method: "GET", Path: "/v1/events", Summary: "the host's events: long poll, or Server-Sent Events with Accept: text/event-stream", Query: []string{"after", "wait", "kind", "app", "contract", "name", "max"}, Answers: "application/json: {events, next}, or text/event-stream"},
	{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Answers: "text/plain"},
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"routes": Routes, "explorer": "/"})
}

// OpenAPI returns the OpenAPI 3.1 description of Routes.
func OpenAPI() map[string]any { return openapi.Describe("vchain contract host API", Routes) }

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(OpenAPI())
}
