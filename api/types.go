// Package api is the contract host's JSON HTTP API: the server over a
// host.Host, and the client the CLI, the benchmark and the auditor use.
//
// Routes (JSON, except the import stream; errors are {"error": "..."} with
// a 4xx or 5xx status):
//
//	GET  /v1/host                          the host's key and contracts
//	POST /v1/submit                        append signed user entries; serve every create and call among them
//	GET  /v1/users/{key}                   a user log's signed head (with roots)
//	GET  /v1/users/{key}/entries           user log entries (?start=&end=)
//	GET  /v1/contracts/{id}                a contract: head, methods, exports, state root
//	GET  /v1/contracts/{id}/log            call log entries (?start=&end=&proofs=1)
//	GET  /v1/contracts/{id}/state?path=P   a file of the state archive
//	POST /v1/import                        take over a contract sealed for this host (an import
//	                                       stream, ImportContentType, written by host.ImportWriter)
package api

import (
	"encoding/json"

	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/snapshot"
)

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 4 << 20

// SubmitRequest appends entries to a user's log and serves every create
// and call among them, in order.
type SubmitRequest struct {
	// User is the user's public key (hex).
	User string `json:"user"`
	// Entries are the new user log entries, each the exact JSON text that
	// was signed.
	Entries []string `json:"entries"`
	// Head is the user's signed head covering them.
	Head hyperlog.SignedHead `json:"head"`
}

// SubmitResponse answers a SubmitRequest: one answer per create or call,
// in order.
type SubmitResponse struct {
	Answers []Answer `json:"answers"`
}

// Answer is the host's answer to one served call.
type Answer struct {
	Contract string `json:"contract"`
	Seq      uint64 `json:"seq"`
	// Record is the call log entry as logged; RecordHash its BLAKE2b-256.
	Record     json.RawMessage     `json:"record"`
	RecordHash string              `json:"record_hash"`
	Head       hyperlog.SignedHead `json:"head"`
}

// UserLog is a user log's head.
type UserLog struct {
	User string              `json:"user"`
	Head hyperlog.SignedHead `json:"head"`
}

// Entries is a range of log entries with the head they belong to.
type Entries struct {
	Head    hyperlog.SignedHead `json:"head"`
	Start   uint64              `json:"start"`
	Entries []Entry             `json:"entries"`
}

// Entry is one log entry, with an inclusion proof against Head when asked.
type Entry struct {
	Index uint64          `json:"index"`
	Data  string          `json:"data"`
	Proof *hyperlog.Proof `json:"proof,omitempty"`
}

// HostInfo describes the host.
type HostInfo struct {
	PublicKey string   `json:"public_key"`
	Contracts []string `json:"contracts"`
}

// ContractInfo describes a contract.
type ContractInfo struct {
	// ID is the contract's current id: a contract that moved to this host
	// answers to its old ids too, with the id it has here.
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

// StateFile is a file of a contract's state archive.
type StateFile struct {
	Path        string `json:"path"`
	Content     string `json:"content"`
	StateLength uint64 `json:"state_length"`
	StateRoot   string `json:"state_root"`
}

// ImportRequest is a contract's logs as the client holds them on the way
// to a new host (Client.Copy fetches them, Client.Import streams them):
// the old contract's call log, sealed for the new host, and the logs of
// its users, each with its signed head. It is not a request body: the
// import travels as a stream, verified as it arrives.
type ImportRequest struct {
	From    string  `json:"from"`
	CallLog LogCopy `json:"call_log"`
	// Older are the call logs CallLog continues when the contract moved
	// before: the one its migrate record names first, back to the one
	// that starts with the create.
	Older []OlderLog         `json:"older,omitempty"`
	Users map[string]LogCopy `json:"users"`
	// Snapshot, when set, is the old host's snapshot of the contract's
	// state at the sealed record (Client.AuditSnapshot): the new host
	// adopts it, if it hashes to that record's state commitment, instead
	// of replaying every old call. It travels at the end of the stream.
	Snapshot *snapshot.File `json:"-"`
}

// LogCopy is a log's entries with its signed head.
type LogCopy struct {
	Head    hyperlog.SignedHead `json:"head"`
	Entries []string            `json:"entries"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}
