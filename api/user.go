package api

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/internal/pidlock"
)

// User is a client identity with its own append-only log: every call it
// makes is an entry it signs, and every answer it gets is acknowledged by
// an ack entry it signs, as the gist's design has it. A User remembers its
// log's head per host in a state file beside its key, so a host cannot
// rewrite the user's own log behind its back.
type User struct {
	priv ed25519.PrivateKey
	pub  hyperlog.Hash
	id   hyperlog.Identity

	mu        sync.Mutex
	statePath string
	lockPath  string
	logs      map[string]*userLogState
}

type userLogState struct {
	Length      uint64          `json:"length"`
	Roots       []hyperlog.Node `json:"roots"`
	TreeHash    hyperlog.Hash   `json:"tree_hash"`
	PendingAcks []string        `json:"pending_acks,omitempty"`
}

// NewUser returns a user with key priv that keeps its log state in memory.
func NewUser(priv ed25519.PrivateKey) *User {
	var pub hyperlog.Hash
	copy(pub[:], priv.Public().(ed25519.PublicKey))
	return &User{priv: priv, pub: pub, id: host.UserIdentity(pub), logs: map[string]*userLogState{}}
}

// LoadUser reads the key in keyPath (an Ed25519 seed in hex) and the log
// state kept beside it (keyPath + ".logs.json"). A missing key file is an
// error wrapping os.ErrNotExist, unless create is set: then a new key is
// written there (if several processes race to create it, they all end up
// with the one that got there first).
//
// Calls through users loaded from one key file are serialised, across
// processes too: each holds a lock on keyPath + ".lock" from reading the
// log state to writing the answer back, so two calls never sign heads
// over the same log length.
func LoadUser(keyPath string, create bool) (*User, error) {
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) && create {
		b, err = createKey(keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	priv, err := host.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	u := NewUser(priv)
	u.statePath = keyPath + ".logs.json"
	u.lockPath = keyPath + ".lock"
	if err := u.load(); err != nil {
		return nil, err
	}
	return u, nil
}

// createKey writes a new key to path unless a key is there already, and
// returns the key that is there.
func createKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.new")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(priv.Seed()) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// A link appears whole and fails if the name is taken.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return os.ReadFile(path)
}

// load reads the log state file; a missing one is an empty state.
func (u *User) load() error {
	b, err := os.ReadFile(u.statePath)
	if errors.Is(err, os.ErrNotExist) {
		u.logs = map[string]*userLogState{}
		return nil
	} else if err != nil {
		return err
	}
	logs := map[string]*userLogState{}
	if err := json.Unmarshal(b, &logs); err != nil {
		return fmt.Errorf("%s: %w", u.statePath, err)
	}
	if logs == nil {
		logs = map[string]*userLogState{}
	}
	u.logs = logs
	return nil
}

// lock serialises this user's calls: in the process, and when the user
// has a key file, across processes, rereading the state another process
// may have changed. The returned function undoes it.
func (u *User) lock(ctx context.Context) (func(), error) {
	u.mu.Lock()
	if u.lockPath == "" {
		return u.mu.Unlock, nil
	}
	f, err := os.OpenFile(u.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		u.mu.Unlock()
		return nil, err
	}
	unlock := func() { f.Close(); u.mu.Unlock() }
	if err := pidlock.Lock(ctx, f); err != nil {
		unlock()
		return nil, fmt.Errorf("waiting for another call with this key: %w", err)
	}
	if err := u.load(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Key returns the user's public key in hex: its user log's id on a host.
func (u *User) Key() string { return u.pub.String() }

// PrivateKey returns the user's signing key.
func (u *User) PrivateKey() ed25519.PrivateKey { return u.priv }

func (u *User) save() error {
	if u.statePath == "" {
		return nil
	}
	b, err := json.MarshalIndent(u.logs, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(u.statePath), filepath.Base(u.statePath)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), u.statePath)
}

// CallResult is a served call as the user sees it.
type CallResult struct {
	Contract string
	Record   host.Record
	Head     hyperlog.SignedHead
}

// Failed returns the call's recorded error, or nil.
func (r *CallResult) Failed() error {
	if r.Record.Error == nil {
		return nil
	}
	return fmt.Errorf("call failed: %s: %s", r.Record.Error.Code, r.Record.Error.Message)
}

// Deploy creates a contract instance from code on c's host.
func (u *User) Deploy(ctx context.Context, c *Client, code []byte) (*CallResult, error) {
	e, _ := json.Marshal(host.UserEntry{Type: host.TypeCreate, Code: string(code)})
	res, err := u.submit(ctx, c, [][]byte{e})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// CallSpec names one call: a contract, a method and its arguments (each a
// JSON value).
type CallSpec struct {
	Contract string
	Method   string
	Args     []json.RawMessage
}

func (cs CallSpec) entry() ([]byte, error) {
	args := cs.Args
	if args == nil {
		args = []json.RawMessage{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return json.Marshal(host.UserEntry{Type: host.TypeCall, Contract: cs.Contract, Method: cs.Method, Args: a})
}

// Call calls method of contract id with args (each a JSON value).
func (u *User) Call(ctx context.Context, c *Client, id, method string, args ...json.RawMessage) (*CallResult, error) {
	res, err := u.CallMany(ctx, c, []CallSpec{{Contract: id, Method: method, Args: args}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// CallMany makes several calls in one request: they enter the user's log
// together under one signature and are served in order.
func (u *User) CallMany(ctx context.Context, c *Client, calls []CallSpec) ([]*CallResult, error) {
	entries := make([][]byte, len(calls))
	for i, cs := range calls {
		e, err := cs.entry()
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	return u.submit(ctx, c, entries)
}

// state returns the log state for c's host, fetching and checking the
// host's copy of the head when the user has none.
func (u *User) state(ctx context.Context, c *Client, refresh bool) (*userLogState, error) {
	st, ok := u.logs[c.Base()]
	if ok && !refresh {
		return st, nil
	}
	remote, err := c.UserHead(ctx, u.Key())
	if IsStatus(err, http.StatusNotFound) {
		if ok && st.Length > 0 {
			return nil, fmt.Errorf("host %s lost your log (you have %d entries there)", c.Base(), st.Length)
		}
		st = &userLogState{TreeHash: hyperlog.TreeHash(nil)}
		u.logs[c.Base()] = st
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	h := remote.Head
	if h.Length > 0 {
		// Only a head this user signed can be right.
		if err := hyperlog.VerifyHead(u.id.Key(), h); err != nil {
			return nil, fmt.Errorf("host %s shows your log with a head you did not sign: %w", c.Base(), err)
		}
	}
	if ok && (h.Length < st.Length || h.Length == st.Length && h.TreeHash != st.TreeHash) {
		return nil, fmt.Errorf("host %s shows your log at length %d, but you signed length %d: the host rolled it back", c.Base(), h.Length, st.Length)
	}
	st = &userLogState{Length: h.Length, Roots: h.Roots, TreeHash: h.TreeHash}
	u.logs[c.Base()] = st
	return st, nil
}

func (u *User) sign(st *userLogState, entries [][]byte) (hyperlog.SignedHead, []hyperlog.Node) {
	roots := append([]hyperlog.Node(nil), st.Roots...)
	n := st.Length
	for _, e := range entries {
		roots = hyperlog.AppendLeaf(roots, n, e)
		n++
	}
	return u.id.SignHead(u.priv, hyperlog.TreeHash(roots), n, 0), roots
}

// maxBusyRetries bounds how often a submission refused as busy (HTTP 503)
// is tried again.
const maxBusyRetries = 60

func (u *User) submit(ctx context.Context, c *Client, calls [][]byte) ([]*CallResult, error) {
	unlock, err := u.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refreshed, busy := false, 0
	for refresh := false; ; {
		st, err := u.state(ctx, c, refresh)
		if err != nil {
			return nil, err
		}
		refresh = false
		entries := append(toBytes(st.PendingAcks), calls...)
		head, roots := u.sign(st, entries)
		resp, err := c.Submit(ctx, &SubmitRequest{User: u.Key(), Entries: toStrings(entries), Head: head})
		if IsStatus(err, http.StatusConflict) && !refreshed {
			refreshed, refresh = true, true
			continue // our view of the log is stale: refresh once
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusServiceUnavailable && busy < maxBusyRetries {
			// The host wrote nothing and asks us to come back: its queue
			// for this contract is full, or we have calls waiting there.
			busy++
			wait := se.RetryAfter
			if wait == 0 {
				wait = time.Second
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (gave up waiting: %v)", err, ctx.Err())
			}
		}
		if err != nil {
			return nil, err
		}
		st.Length, st.Roots, st.TreeHash, st.PendingAcks = head.Length, roots, head.TreeHash, nil
		if len(resp.Answers) != len(calls) {
			return nil, fmt.Errorf("answer: %d answers for %d calls", len(resp.Answers), len(calls))
		}
		results := make([]*CallResult, len(calls))
		verified := map[hyperlog.Hash]bool{}
		for i := range resp.Answers {
			a := &resp.Answers[i]
			if results[i], err = u.checkAnswer(a, calls[i], verified); err != nil {
				return nil, err
			}
			ack, _ := json.Marshal(host.UserEntry{Type: host.TypeAck, Contract: a.Contract, Seq: a.Seq,
				Head:       &host.Head{Length: a.Head.Length, TreeHash: a.Head.TreeHash.String(), Signature: a.Head.Signature.String()},
				RecordHash: a.RecordHash})
			st.PendingAcks = append(st.PendingAcks, string(ack))
		}
		return results, u.save()
	}
}

// checkAnswer verifies that the host's answer is signed by the contract's
// key and serves this entry. Heads already verified in this response are
// not verified again.
func (u *User) checkAnswer(a *Answer, entry []byte, verified map[hyperlog.Hash]bool) (*CallResult, error) {
	key, err := hyperlog.ParseHash(a.Contract)
	if err != nil {
		return nil, fmt.Errorf("answer: contract id: %w", err)
	}
	if !verified[a.Head.TreeHash] {
		if err := hyperlog.VerifyHead(key, a.Head); err != nil {
			return nil, fmt.Errorf("answer: the call log head is not signed by the contract's key: %w", err)
		}
		verified[a.Head.TreeHash] = true
	}
	if host.EntryHash(a.Record) != a.RecordHash {
		return nil, errors.New("answer: record hash does not match the record")
	}
	var rec host.Record
	if err := json.Unmarshal(a.Record, &rec); err != nil {
		return nil, fmt.Errorf("answer: record: %w", err)
	}
	if rec.UserEntry != host.EntryHash(entry) || rec.User != u.Key() {
		return nil, errors.New("answer: the record serves another entry")
	}
	if rec.Seq >= a.Head.Length {
		return nil, fmt.Errorf("answer: record %d is not covered by head of length %d", rec.Seq, a.Head.Length)
	}
	return &CallResult{Contract: a.Contract, Record: rec, Head: a.Head}, nil
}

// Flush appends the pending ack to the user's log on c's host, so the log
// acknowledges every answer the user got.
func (u *User) Flush(ctx context.Context, c *Client) error {
	unlock, err := u.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, ok := u.logs[c.Base()]
	if !ok || len(st.PendingAcks) == 0 {
		return nil
	}
	entries := toBytes(st.PendingAcks)
	head, roots := u.sign(st, entries)
	if _, err := c.Submit(ctx, &SubmitRequest{User: u.Key(), Entries: st.PendingAcks, Head: head}); err != nil {
		return err
	}
	st.Length, st.Roots, st.TreeHash, st.PendingAcks = head.Length, roots, head.TreeHash, nil
	return u.save()
}
