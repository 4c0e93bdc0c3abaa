// Package explorer serves a contract host's explorer from the host itself:
// server-rendered pages (html/template, embedded with embed.FS, no build
// step) for the host, each contract with its call log, and each user log
// with its signed head. Every page is also JSON when the request asks for
// application/json, and pages update live from the host's event stream
// (a small embedded script on EventSource, which resumes with
// Last-Event-ID after a reconnect).
package explorer

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/hyperlog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:8] + "…" + s[len(s)-6:]
		}
		return s
	},
	"json": func(v any) string { b, _ := json.Marshal(v); return string(b) },
}).ParseFS(templateFS, "templates/*.html"))

// MaxCalls bounds the call log rows a contract page shows (the newest).
const MaxCalls = 200

// Routes adds the explorer's pages to mux: GET / (the host), GET
// /contract/{id}, GET /contract/{id}/verify (an audit of its logs, per
// record), GET /user/{key} and GET /static/.
func Routes(h *host.Host, mux *http.ServeMux) {
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { render(w, r, "home.html", homeOf(h)) })
	mux.HandleFunc("GET /contract/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, err := contractOf(h, r.PathValue("id"))
		if err != nil {
			notFound(w, r, err)
			return
		}
		render(w, r, "contract.html", p)
	})
	v := &verifier{h: h, done: map[host.ContractID]*Verification{}}
	mux.HandleFunc("GET /contract/{id}/verify", func(w http.ResponseWriter, r *http.Request) {
		p, err := v.verify(r.Context(), r.PathValue("id"))
		if err != nil {
			notFound(w, r, err)
			return
		}
		render(w, r, "verify.html", p)
	})
	mux.HandleFunc("GET /user/{key}", func(w http.ResponseWriter, r *http.Request) {
		p, err := userOf(h, r.PathValue("key"))
		if err != nil {
			notFound(w, r, err)
			return
		}
		render(w, r, "user.html", p)
	})
}

// Home is the host's page.
type Home struct {
	Host      string         `json:"host"`
	Contracts []ContractRow  `json:"contracts"`
	Events    uint64         `json:"events"`
	Recent    []events.Event `json:"recent"`
}

// ContractRow is a contract in the host's list.
type ContractRow struct {
	ID      string `json:"id"`
	Creator string `json:"creator"`
	Calls   uint64 `json:"calls"`
}

func homeOf(h *host.Host) *Home {
	p := &Home{Host: hex.EncodeToString(h.PublicKey()), Contracts: []ContractRow{}, Recent: []events.Event{}}
	for _, id := range h.Contracts() {
		if info, err := h.Info(id); err == nil {
			p.Contracts = append(p.Contracts, ContractRow{ID: id.String(), Creator: info.Creator, Calls: info.Head.Length})
		}
	}
	tip, _ := h.Events().Tip()
	p.Events = tip
	from := uint64(0)
	if tip > 20 {
		from = tip - 20
	}
	if evs, _, err := h.Events().Read(from, 20, nil); err == nil {
		for i := len(evs) - 1; i >= 0; i-- {
			p.Recent = append(p.Recent, evs[i])
		}
	}
	return p
}

// Info describes a contract on its page.
type Info struct {
	ID          string              `json:"id"`
	Head        hyperlog.SignedHead `json:"head"`
	CodeHash    string              `json:"code_hash"`
	Creator     string              `json:"creator"`
	Methods     []string            `json:"methods"`
	Exports     json.RawMessage     `json:"exports"`
	StateLength uint64              `json:"state_length"`
	StateRoot   string              `json:"state_root"`
	Consensus   string              `json:"consensus"`
}

// Contract is a contract's page.
type Contract struct {
	Info  *Info         `json:"info"`
	Calls []host.Record `json:"calls"`
	// From is the seq of the first call shown (the newest MaxCalls).
	From uint64 `json:"from"`
	// Events is the host's event tip when the page was made: live
	// updates start after it.
	Events uint64 `json:"events"`
}

func contractOf(h *host.Host, idHex string) (*Contract, error) {
	hash, err := hyperlog.ParseHash(idHex)
	if err != nil {
		return nil, errors.New("a contract id is 64 hex digits")
	}
	id := host.ContractID(hash)
	info, err := h.Info(id)
	if err != nil {
		return nil, err
	}
	p := &Contract{Calls: []host.Record{}, Info: &Info{ID: info.ID.String(), Head: info.Head, CodeHash: info.CodeHash, Creator: info.Creator,
		Methods: info.Methods, Exports: info.Exports, StateLength: info.StateLength, StateRoot: info.StateRoot, Consensus: info.Consensus}}
	p.Events, _ = h.Events().Tip()
	n := info.Head.Length
	if n > MaxCalls {
		p.From = n - MaxCalls
	}
	_, entries, err := h.CallLog(info.ID, p.From, n, false)
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		var rec host.Record
		if json.Unmarshal(entries[i].Data, &rec) == nil {
			p.Calls = append(p.Calls, rec)
		}
	}
	return p, nil
}

// User is a user log's page.
type User struct {
	Key     string              `json:"key"`
	Head    hyperlog.SignedHead `json:"head"`
	Entries []json.RawMessage   `json:"entries"`
}

func userOf(h *host.Host, key string) (*User, error) {
	hash, err := hyperlog.ParseHash(key)
	if err != nil {
		return nil, errors.New("a user key is 64 hex digits")
	}
	head, entries, err := h.UserLog(hash, 0, 0, false)
	if err != nil {
		return nil, err
	}
	p := &User{Key: key, Head: head, Entries: []json.RawMessage{}}
	for i := len(entries) - 1; i >= 0 && len(p.Entries) < MaxCalls; i-- {
		p.Entries = append(p.Entries, entries[i].Data)
	}
	return p, nil
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func render(w http.ResponseWriter, r *http.Request, page string, data any) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(data)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, page, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func notFound(w http.ResponseWriter, r *http.Request, err error) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	pages.ExecuteTemplate(w, "notfound.html", err.Error())
}
