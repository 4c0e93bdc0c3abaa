// Package openapi describes HTTP routes as an OpenAPI 3.1 document, for
// the route indexes the host and the nodes serve at GET /v1/.
package openapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Route describes one route.
type Route struct {
	Method, Path string
	Summary      string `json:",omitempty"`
	// Query names the query parameters.
	Query []string `json:",omitempty"`
	// Body says what a POST takes.
	Body string `json:",omitempty"`
	// Answers says what a 200 carries.
	Answers string `json:",omitempty"`
}

// FromPattern makes a Route of a net/http pattern ("GET /v1/x/{id}"); a
// pattern without a method is a GET.
func FromPattern(pattern string) Route {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	return Route{Method: method, Path: strings.TrimSuffix(path, "{$}")}
}

// Describe returns the OpenAPI 3.1 document of routes.
func Describe(title string, routes []Route) map[string]any {
	paths := map[string]any{}
	for _, rt := range routes {
		answers := rt.Answers
		if answers == "" {
			answers = "the answer"
		}
		op := map[string]any{"summary": rt.Summary, "responses": map[string]any{
			"200": map[string]any{"description": answers},
			"4XX": map[string]any{"description": `application/json: {"error": "what is wrong"}`},
		}}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}."), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
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
	return map[string]any{"openapi": "3.1.0", "info": map[string]any{"title": title, "version": "1"}, "paths": paths}
}

// Mux is an http.ServeMux that records every pattern registered on it,
// for its route index (Index).
type Mux struct {
	*http.ServeMux
	patterns []string
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern and records the pattern.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern and records the pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Routes are the routes registered so far.
func (m *Mux) Routes() []Route {
	out := make([]Route, 0, len(m.patterns))
	for _, p := range m.patterns {
		out = append(out, FromPattern(p))
	}
	return out
}

// Index registers the route index, GET /v1/ (the routes as JSON), and GET
// /v1/openapi.json (their OpenAPI description, titled title): call it
// after the other routes.
func (m *Mux) Index(title string) {
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	m.HandleFunc("GET /v1/{$}", func(w http.ResponseWriter, _ *http.Request) { answer(w, map[string]any{"routes": m.Routes()}) })
	m.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) { answer(w, Describe(title, m.Routes())) })
}
