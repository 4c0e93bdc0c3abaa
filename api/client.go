package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vchain-dev/vchain/contract/host"
)

// Client talks to a host's API.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the host at base (e.g.
// http://127.0.0.1:8645, or 127.0.0.1:8645 or :8645; see ParseBaseURL).
func NewClient(base string) *Client {
	if u, err := ParseBaseURL(base); err == nil {
		base = u
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// ParseBaseURL reads a host's address as a user types it: a URL
// (http://HOST:PORT, https://…), HOST:PORT meaning http://HOST:PORT, or
// :PORT meaning http://127.0.0.1:PORT. It returns the URL without a
// trailing slash, or an error saying what is wrong.
func ParseBaseURL(s string) (string, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty host address; want http://HOST:PORT or HOST:PORT")
	}
	if !strings.Contains(s, "://") {
		if strings.HasPrefix(s, ":") {
			s = "127.0.0.1" + s
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("host address %q: %v; want http://HOST:PORT or HOST:PORT", in, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("host address %q: scheme %q; want http or https", in, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("host address %q names no host; want http://HOST:PORT or HOST:PORT", in)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("host address %q: want just http://HOST:PORT (and a path prefix), no user, query or fragment", in)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("host address %q: port %q is not 1-65535", in, p)
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Base returns the host URL.
func (c *Client) Base() string { return c.base }

// StatusError is an error response from the host.
type StatusError struct {
	Status int
	Msg    string
	// RetryAfter is the wait the host asked for with Retry-After (0 when
	// it did not).
	RetryAfter time.Duration
}

func (e *StatusError) Error() string { return fmt.Sprintf("host: %s (HTTP %d)", e.Msg, e.Status) }

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, method, path, contentType, rd, 256<<20, out)
}

// send makes a request with body (of contentType, when not empty), reads
// at most limit bytes of answer and decodes it into out (when not nil); a
// status other than 200 is a *StatusError with the host's message.
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader, limit int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("host %s unreachable: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		se := &StatusError{Status: resp.StatusCode, Msg: eb.Error}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			se.RetryAfter = time.Duration(min(secs, 60)) * time.Second
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("host %s: malformed response to %s %s: %w", c.base, method, path, err)
		}
	}
	return nil
}

// Host returns the host's description.
func (c *Client) Host(ctx context.Context) (*HostInfo, error) {
	var out HostInfo
	return &out, c.do(ctx, "GET", "/v1/host", nil, &out)
}

// Submit posts signed user entries.
func (c *Client) Submit(ctx context.Context, req *SubmitRequest) (*SubmitResponse, error) {
	var out SubmitResponse
	return &out, c.do(ctx, "POST", "/v1/submit", req, &out)
}

// UserHead returns a user log's head.
func (c *Client) UserHead(ctx context.Context, user string) (*UserLog, error) {
	var out UserLog
	return &out, c.do(ctx, "GET", "/v1/users/"+url.PathEscape(user), nil, &out)
}

// UserEntries returns user log entries [start, end) (end 0: to the head).
func (c *Client) UserEntries(ctx context.Context, user string, start, end uint64, proofs bool) (*Entries, error) {
	var out Entries
	return &out, c.do(ctx, "GET", "/v1/users/"+url.PathEscape(user)+"/entries"+rangeQuery(start, end, proofs), nil, &out)
}

// Contract returns a contract's description.
func (c *Client) Contract(ctx context.Context, id string) (*ContractInfo, error) {
	var out ContractInfo
	return &out, c.do(ctx, "GET", "/v1/contracts/"+url.PathEscape(id), nil, &out)
}

// CallLog returns call log entries [start, end) (end 0: to the head).
func (c *Client) CallLog(ctx context.Context, id string, start, end uint64, proofs bool) (*Entries, error) {
	var out Entries
	return &out, c.do(ctx, "GET", "/v1/contracts/"+url.PathEscape(id)+"/log"+rangeQuery(start, end, proofs), nil, &out)
}

// State returns a file of a contract's state archive.
func (c *Client) State(ctx context.Context, id, path string) (*StateFile, error) {
	var out StateFile
	return &out, c.do(ctx, "GET", "/v1/contracts/"+url.PathEscape(id)+"/state?path="+url.QueryEscape(path), nil, &out)
}

func rangeQuery(start, end uint64, proofs bool) string {
	q := url.Values{}
	if start > 0 {
		q.Set("start", fmt.Sprint(start))
	}
	if end > 0 {
		q.Set("end", fmt.Sprint(end))
	}
	if proofs {
		q.Set("proofs", "1")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Import asks the host to take over a contract: req is the contract's
// call log, sealed for that host, and its users' logs. It is sent as an
// import stream (host.ImportWriter) written as the host reads it.
func (c *Client) Import(ctx context.Context, req *ImportRequest) (*Answer, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeImport(pw, req)) }()
	defer pr.Close()
	var out Answer
	return &out, c.doStream(ctx, "POST", "/v1/import", ImportContentType, pr, &out)
}

// Copy fetches a contract's call log, the older call logs it continues
// when it moved before (back to its create, as the host serves them under
// their ids), and the logs of every user they name: what a new host needs
// to take the contract over.
func (c *Client) Copy(ctx context.Context, id string) (*ImportRequest, error) {
	req := &ImportRequest{From: id, Users: map[string]LogCopy{}}
	for next := id; next != ""; {
		es, err := c.CallLog(ctx, next, 0, 0, false)
		if err != nil {
			return nil, err
		}
		cp := LogCopy{Head: es.Head}
		older := ""
		for _, e := range es.Entries {
			cp.Entries = append(cp.Entries, e.Data)
			var rec struct {
				Type string `json:"type"`
				User string `json:"user"`
				From string `json:"from"`
			}
			if err := json.Unmarshal([]byte(e.Data), &rec); err != nil {
				return nil, fmt.Errorf("contract %s: call log entry %d: %w", next, e.Index, err)
			}
			if e.Index == 0 && rec.Type == host.TypeMigrate {
				older = rec.From
			}
			if _, ok := req.Users[rec.User]; ok || rec.User == "" {
				continue
			}
			ue, err := c.UserEntries(ctx, rec.User, 0, 0, false)
			if err != nil {
				return nil, err
			}
			ul := LogCopy{Head: ue.Head}
			for _, x := range ue.Entries {
				ul.Entries = append(ul.Entries, x.Data)
			}
			req.Users[rec.User] = ul
		}
		if next == id {
			req.CallLog = cp
		} else {
			req.Older = append(req.Older, OlderLog{From: next, LogCopy: cp})
		}
		if older != "" && len(req.Older) >= host.MaxMigrations {
			return nil, fmt.Errorf("contract %s moved more than %d times", id, host.MaxMigrations)
		}
		next = older
	}
	return req, nil
}
