// Package btcrpc is a lean JSON-RPC client for the calls that carry a
// Bitcoin node's blocks: pipelined over btcd's websocket, or batched over
// HTTP (bitcoind). A result that is a hex string (a raw block, a raw
// transaction, a block hash) is decoded straight from the message when the
// message has the shape both nodes write for a successful call; anything
// else goes through encoding/json. A block's hex is then read once instead
// of being scanned twice by a general JSON decoder and copied into a
// string, which is most of what a client spends on fetching blocks.
//
// Everything else a node offers is better served by btcd's rpcclient.
package btcrpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Config says how to reach the node.
type Config struct {
	Host, User, Pass string
	// NoTLS talks plain HTTP or WS (a loopback node).
	NoTLS bool
	// Certificates are the PEM certificates to trust for TLS; empty means
	// the system's roots.
	Certificates []byte
	// Timeout bounds each Do (default 2 minutes). On a websocket, a Do
	// that times out closes the connection, which may be dead without
	// the operating system knowing; calls on it then fail with ErrClosed.
	Timeout time.Duration
}

// maxMessage bounds an answer: a block is at most 4 MB, 8 MB as hex.
const maxMessage = 64 << 20

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 2 * time.Minute
}

// Call is one request.
type Call struct {
	Method string
	Params []any
	// Hex asks for the result, which must be a hex string, as its bytes.
	Hex bool
}

// Result is one call's answer.
type Result struct {
	// Value is the decoded bytes for a Hex call, else the result's JSON.
	Value []byte
	// Err is the node's error (an *RPCError) or why the answer is unusable.
	Err error
}

// ErrClosed is returned for calls on a closed client, or in flight when
// the connection closed.
var ErrClosed = errors.New("btcrpc: connection closed")

// Client sends calls to one node. It is safe for concurrent use.
type Client struct {
	cfg    Config
	nextID atomic.Uint64

	// HTTP
	http *http.Client
	url  string

	// websocket
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time
	mu      sync.Mutex
	pending map[uint64]*pending
	err     error         // why the connection ended
	done    chan struct{} // closed when the reader stops
}

type pending struct {
	hex bool
	ch  chan response
}

func (c *Config) tls() (*tls.Config, error) {
	if len(c.Certificates) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.Certificates) {
		return nil, errors.New("btcrpc: no PEM certificate in Certificates")
	}
	return &tls.Config{RootCAs: pool}, nil
}

func (c *Config) authHeader() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.User+":"+c.Pass)))
	return h
}

// NewHTTP returns a client that sends each Do as one batched HTTP request
// (bitcoind's and btcd's POST interface) on its own keep-alive connection.
func NewHTTP(cfg Config) (*Client, error) {
	tc, err := cfg.tls()
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if cfg.NoTLS {
		scheme = "http"
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.timeout()}, url: scheme + "://" + cfg.Host}, nil
}

// DialWebsocket connects to btcd's websocket endpoint (/ws), on which calls
// are pipelined: Do sends every call before waiting for any answer.
func DialWebsocket(ctx context.Context, cfg Config) (*Client, error) {
	tc, err := cfg.tls()
	if err != nil {
		return nil, err
	}
	scheme := "wss"
	if cfg.NoTLS {
		scheme = "ws"
	}
	d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10}
	conn, resp, err := d.DialContext(ctx, scheme+"://"+cfg.Host+"/ws", cfg.authHeader())
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("btcrpc: websocket %s: %s", cfg.Host, resp.Status)
		}
		return nil, fmt.Errorf("btcrpc: websocket %s: %w", cfg.Host, err)
	}
	conn.SetReadLimit(maxMessage)
	c := &Client{cfg: cfg, ws: conn, pending: map[uint64]*pending{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// Close closes the connection; calls in flight end with ErrClosed.
func (c *Client) Close() error {
	if c.ws == nil {
		c.http.CloseIdleConnections()
		return nil
	}
	err := c.ws.Close()
	<-c.done
	return err
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

func (c *Client) request(call Call) request {
	params := call.Params
	if params == nil {
		params = []any{}
	}
	return request{JSONRPC: "1.0", ID: c.nextID.Add(1), Method: call.Method, Params: params}
}

// Do sends calls and returns their results in the same order. The error is
// for the exchange as a whole (the node unreachable, the connection lost,
// ctx done); each call's own error is in its Result.
func (c *Client) Do(ctx context.Context, calls []Call) ([]Result, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		// Nothing is sent for a context already done (an answer could
		// otherwise win the race against it).
		return nil, fmt.Errorf("btcrpc: %w", err)
	}
	if c.ws != nil {
		return c.doWebsocket(ctx, calls)
	}
	return c.doHTTP(ctx, calls)
}

func (c *Client) doHTTP(ctx context.Context, calls []Call) ([]Result, error) {
	reqs := make([]request, len(calls))
	index := make(map[uint64]int, len(calls))
	for i, call := range calls {
		reqs[i] = c.request(call)
		index[reqs[i].ID] = i
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, fmt.Errorf("btcrpc: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("btcrpc: %w", err)
	}
	hr.Header = c.cfg.authHeader()
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("btcrpc: %w", err)
	}
	defer resp.Body.Close()
	limit := maxMessage * int64(len(calls))
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(min(resp.ContentLength, limit)))
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit)); err != nil {
		return nil, fmt.Errorf("btcrpc: reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("btcrpc: %s: %s (check the RPC user and password)", c.cfg.Host, resp.Status)
	}
	rs, err := parseBatch(buf.Bytes(), func(id uint64) bool {
		i, ok := index[id]
		return ok && calls[i].Hex
	})
	if err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("btcrpc: %s: %s: %w", c.cfg.Host, resp.Status, err)
		}
		return nil, fmt.Errorf("btcrpc: %w", err)
	}
	out := make([]Result, len(calls))
	got := 0
	for _, r := range rs {
		i, ok := index[r.id]
		if !ok {
			continue
		}
		out[i] = Result{Value: r.value, Err: r.err}
		delete(index, r.id)
		got++
	}
	if got != len(calls) {
		return nil, fmt.Errorf("btcrpc: the node answered %d of %d calls", got, len(calls))
	}
	return out, nil
}

func (c *Client) doWebsocket(ctx context.Context, calls []Call) ([]Result, error) {
	ps := make([]*pending, len(calls))
	ids := make([]uint64, len(calls))
	forget := func() {
		c.mu.Lock()
		for _, id := range ids {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}
	for i, call := range calls {
		req := c.request(call)
		msg, err := json.Marshal(req)
		if err != nil {
			forget()
			return nil, fmt.Errorf("btcrpc: %w", err)
		}
		p := &pending{hex: call.Hex, ch: make(chan response, 1)}
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			forget()
			return nil, err
		}
		c.pending[req.ID] = p
		c.mu.Unlock()
		ps[i], ids[i] = p, req.ID
		c.wmu.Lock()
		err = c.ws.WriteMessage(websocket.TextMessage, msg)
		c.wmu.Unlock()
		if err != nil {
			forget()
			return nil, fmt.Errorf("btcrpc: %w", err)
		}
	}
	out := make([]Result, len(calls))
	timer := time.NewTimer(c.cfg.timeout())
	defer timer.Stop()
	for i, p := range ps {
		select {
		case r := <-p.ch:
			out[i] = Result{Value: r.value, Err: r.err}
		case <-c.done:
			forget()
			return nil, c.closedErr()
		case <-ctx.Done():
			forget()
			return nil, ctx.Err()
		case <-timer.C:
			forget()
			c.ws.Close() // the reader then fails every call in flight
			<-c.done
			return nil, fmt.Errorf("%w: no answer in %v", ErrClosed, c.cfg.timeout())
		}
	}
	return out, nil
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// read hands each answer to its caller until the connection ends.
func (c *Client) read() {
	defer close(c.done)
	var buf bytes.Buffer
	isHex := func(id uint64) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		p := c.pending[id]
		return p != nil && p.hex
	}
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("%w: %v", ErrClosed, err)
			c.mu.Unlock()
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(rd); err != nil {
			continue // the next NextReader reports the broken connection
		}
		r, err := parseOne(buf.Bytes(), isHex)
		if err != nil {
			continue // a notification, or an answer no call can claim
		}
		c.mu.Lock()
		p := c.pending[r.id]
		delete(c.pending, r.id)
		c.mu.Unlock()
		if p != nil {
			p.ch <- r
		}
	}
}
