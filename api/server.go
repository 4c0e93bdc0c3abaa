package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/explorer"
	"github.com/vchain-dev/vchain/hyperlog"
)

// Server serves a host over HTTP.
type Server struct {
	h   *host.Host
	log *slog.Logger
	mux *http.ServeMux
	met *metrics
}

// NewServer returns the API handler for h.
func NewServer(h *host.Host, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, log: logger, mux: http.NewServeMux(), met: newMetrics()}
	handlers := map[string]http.Handler{
		"GET /v1/":                        http.HandlerFunc(s.index),
		"GET /v1/openapi.json":            http.HandlerFunc(s.openAPI),
		"GET /v1/host":                    http.HandlerFunc(s.hostInfo),
		"POST /v1/submit":                 http.HandlerFunc(s.submit),
		"GET /v1/users/{key}":             http.HandlerFunc(s.userHead),
		"GET /v1/users/{key}/entries":     http.HandlerFunc(s.userEntries),
		"GET /v1/contracts/{id}":          http.HandlerFunc(s.contractInfo),
		"GET /v1/contracts/{id}/log":      http.HandlerFunc(s.callLog),
		"GET /v1/contracts/{id}/state":    http.HandlerFunc(s.state),
		"GET /v1/contracts/{id}/snapshot": http.HandlerFunc(s.stateSnapshot),
		"POST /v1/import":                 http.HandlerFunc(s.importContract),
		// Not instrumented: a stream lives long.
		"GET /v1/events": http.Handler(noInstrument{events.Handler(h.Events())}),
		"GET /metrics":   s.met.handler(),
	}
	for _, rt := range Routes {
		pattern := rt.Method + " " + rt.Path
		if rt.Path == "/v1/" {
			pattern += "{$}"
		}
		hd, ok := handlers[rt.Method+" "+rt.Path]
		if !ok {
			panic("api: no handler for route " + pattern)
		}
		if f, ok := hd.(http.HandlerFunc); ok {
			hd = s.met.instrument(pattern, f)
		}
		s.mux.Handle(pattern, hd)
		delete(handlers, rt.Method+" "+rt.Path)
	}
	for p := range handlers {
		panic("api: route " + p + " is not in Routes")
	}
	explorer.Routes(h, s.mux)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return s
}

// noInstrument keeps a handler out of the request metrics.
type noInstrument struct{ http.Handler }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

// statusOf maps the host's refusal codes to HTTP statuses.
var statusOf = map[host.ErrorCode]int{
	host.ErrInvalid:   http.StatusBadRequest,
	host.ErrNotFound:  http.StatusNotFound,
	host.ErrConflict:  http.StatusConflict,
	host.ErrForbidden: http.StatusForbidden,
	host.ErrMoved:     http.StatusGone,
	host.ErrBusy:      http.StatusServiceUnavailable,
	host.ErrTooLarge:  http.StatusRequestEntityTooLarge,
}

// fail maps an error to a response: the host's refusals get the status
// their code maps to, anything else is a 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *host.Error
	if errors.As(err, &he) {
		status, ok := statusOf[he.Code]
		if !ok {
			status = http.StatusBadRequest
		}
		if he.Code == host.ErrBusy {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, status, he.Msg)
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

// decode reads a JSON body with a size cap, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One JSON value and nothing after it.
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			return true
		} else if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxRequestBytes))
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeError(w, http.StatusRequestTimeout, "the request body came too slowly")
	default:
		writeError(w, http.StatusBadRequest, "malformed request body: "+err.Error())
	}
	return false
}

func pathKey(w http.ResponseWriter, r *http.Request) (hyperlog.Hash, bool) {
	k, err := hyperlog.ParseHash(r.PathValue("key"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "user key: "+err.Error())
		return k, false
	}
	return k, true
}

func pathContract(w http.ResponseWriter, r *http.Request) (host.ContractID, bool) {
	id, err := host.ParseContractID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return id, false
	}
	return id, true
}

func queryRange(w http.ResponseWriter, r *http.Request) (start, end uint64, proofs, ok bool) {
	q := r.URL.Query()
	for name, dst := range map[string]*uint64{"start": &start, "end": &end} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s=%q is not a non-negative integer", name, v))
				return 0, 0, false, false
			}
			*dst = n
		}
	}
	return start, end, q.Get("proofs") == "1" || q.Get("proofs") == "true", true
}

func toStrings(b [][]byte) []string {
	out := make([]string, len(b))
	for i := range b {
		out[i] = string(b[i])
	}
	return out
}

func toBytes(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}

func (s *Server) hostInfo(w http.ResponseWriter, r *http.Request) {
	info := HostInfo{PublicKey: fmt.Sprintf("%x", s.h.PublicKey()), Contracts: []string{}}
	for _, id := range s.h.Contracts() {
		info.Contracts = append(info.Contracts, id.String())
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req SubmitRequest
	if !decode(w, r, &req) {
		return
	}
	user, err := hyperlog.ParseHash(req.User)
	if err != nil {
		writeError(w, http.StatusBadRequest, "user: "+err.Error())
		return
	}
	if err := hyperlog.CheckPublicKey(user[:]); err != nil {
		// Nothing is created for a key anyone could sign as.
		writeError(w, http.StatusBadRequest, "user: "+err.Error())
		return
	}
	answers, err := s.h.Submit(r.Context(), user, toBytes(req.Entries), req.Head)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := SubmitResponse{Answers: make([]Answer, len(answers))}
	for i, a := range answers {
		outcome := "ok"
		if a.Record.Error != nil {
			outcome = a.Record.Error.Code
		}
		s.met.calls.WithLabelValues(outcome).Inc()
		resp.Answers[i] = Answer{
			Contract:   a.Contract.String(),
			Seq:        a.Record.Seq,
			Record:     a.Raw,
			RecordHash: host.EntryHash(a.Raw),
			Head:       a.Head,
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) userHead(w http.ResponseWriter, r *http.Request) {
	k, ok := pathKey(w, r)
	if !ok {
		return
	}
	head, err := s.h.UserHead(k)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, UserLog{User: k.String(), Head: head})
}

func (s *Server) userEntries(w http.ResponseWriter, r *http.Request) {
	k, ok := pathKey(w, r)
	if !ok {
		return
	}
	start, end, proofs, ok := queryRange(w, r)
	if !ok {
		return
	}
	head, es, err := s.h.UserLog(k, start, end, proofs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entries(head, start, es))
}

func entries(head hyperlog.SignedHead, start uint64, es []host.LogEntry) Entries {
	out := Entries{Head: head, Start: start, Entries: make([]Entry, len(es))}
	for i, e := range es {
		out.Entries[i] = Entry{Index: e.Index, Data: string(e.Data), Proof: e.Proof}
	}
	return out
}

func (s *Server) contractInfo(w http.ResponseWriter, r *http.Request) {
	id, ok := pathContract(w, r)
	if !ok {
		return
	}
	info, err := s.h.Info(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ContractInfo{
		ID: info.ID.String(), Head: info.Head, CodeHash: info.CodeHash, Creator: info.Creator, Methods: info.Methods,
		Exports: info.Exports, StateLength: info.StateLength, StateRoot: info.StateRoot, Consensus: info.Consensus,
	})
}

func (s *Server) callLog(w http.ResponseWriter, r *http.Request) {
	id, ok := pathContract(w, r)
	if !ok {
		return
	}
	start, end, proofs, ok := queryRange(w, r)
	if !ok {
		return
	}
	head, es, err := s.h.CallLog(id, start, end, proofs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entries(head, start, es))
}

// stateSnapshot exports the contract's state to a temporary file first,
// so that a failure is an error status rather than a cut stream, and the
// answer has a length.
func (s *Server) stateSnapshot(w http.ResponseWriter, r *http.Request) {
	id, ok := pathContract(w, r)
	if !ok {
		return
	}
	f, err := os.CreateTemp("", "vchain-contract-snapshot-")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	m, err := s.h.ExportState(id, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Vchain-Height", strconv.FormatInt(m.Height, 10))
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	id, ok := pathContract(w, r)
	if !ok {
		return
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		writeError(w, http.StatusBadRequest, "missing ?path=")
		return
	}
	data, n, root, err := s.h.ReadFile(id, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, StateFile{Path: p, Content: string(data), StateLength: n, StateRoot: root})
}

func (s *Server) importContract(w http.ResponseWriter, r *http.Request) {
	// The stream is read as it arrives (the host holds about one entry of
	// it in memory); its size is bounded here and by the host.
	r.Body = http.MaxBytesReader(w, r.Body, host.MaxImportBytes)
	a, err := s.h.Import(r.Context(), r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("import stream exceeds %d bytes", host.MaxImportBytes))
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, Answer{Contract: a.Contract.String(), Seq: a.Record.Seq, Record: a.Raw, RecordHash: host.EntryHash(a.Raw), Head: a.Head})
	}
}
