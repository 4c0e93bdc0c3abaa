package api_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
)

// serveEdge serves a host's API behind edge e on a loopback port and
// returns its address.
func serveEdge(t *testing.T, e api.Edge) string {
	t.Helper()
	h, err := host.Open(host.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if e.Addr == "" {
		e.Addr = "127.0.0.1:0"
	}
	srv, ln, err := e.Open(api.NewServer(h, nil))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawRequest sends req as written and returns the status code.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEdgeRefusesForeignHostsAndNonJSON: a page that rebinds its DNS name
// to the loopback sends its own name as Host and is refused; a form post
// (text/plain, which a browser sends cross-origin without asking) is
// refused; loopback names and the bound address are served.
func TestEdgeRefusesForeignHostsAndNonJSON(t *testing.T) {
	addr := serveEdge(t, api.Edge{AllowHosts: []string{"vchain.internal", "box.lan:9999"}})
	_, port, _ := net.SplitHostPort(addr)
	get := func(hostHeader string) int {
		code, _ := rawRequest(t, addr, "GET /v1/host HTTP/1.1\r\nHost: "+hostHeader+"\r\nConnection: close\r\n\r\n")
		return code
	}
	for _, h := range []string{addr, "localhost:" + port, "LOCALHOST", "[::1]:" + port, "127.0.0.2:" + port, "vchain.internal:1234", "box.lan:9999"} {
		if code := get(h); code != http.StatusOK {
			t.Errorf("Host %q: %d, want 200", h, code)
		}
	}
	for _, h := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "box.lan:" + port, "10.1.2.3:" + port} {
		if code := get(h); code != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d, want 421", h, code)
		}
	}
	// HTTP/1.0 without a Host.
	if code, _ := rawRequest(t, addr, "GET /v1/host HTTP/1.0\r\n\r\n"); code != http.StatusMisdirectedRequest {
		t.Errorf("no Host: %d, want 421", code)
	}

	body := `{"user":"00","entries":[],"head":{}}`
	for ct, want := range map[string]int{
		"text/plain":                        http.StatusUnsupportedMediaType,
		"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType,
		"multipart/form-data; boundary=x":   http.StatusUnsupportedMediaType,
		"":                                  http.StatusUnsupportedMediaType,
		"application/json":                  http.StatusBadRequest, // past the edge; the body is wrong
		"application/json; charset=utf-8":   http.StatusBadRequest,
	} {
		hdr := ""
		if ct != "" {
			hdr = "Content-Type: " + ct + "\r\n"
		}
		code, msg := rawRequest(t, addr, fmt.Sprintf("POST /v1/submit HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", addr, hdr, len(body), body))
		if code != want {
			t.Errorf("POST with Content-Type %q: %d %s, want %d", ct, code, msg, want)
		}
	}
	// The client the CLI uses passes the edge.
	if _, err := api.NewClient("http://" + addr).Host(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestEdgeRefusesPublicListenUnlessAsked(t *testing.T) {
	_, _, err := api.Edge{Addr: "0.0.0.0:0"}.Open(http.NotFoundHandler())
	if !errors.Is(err, api.ErrNotLoopback) {
		t.Fatalf("listening on 0.0.0.0 without Public: %v, want ErrNotLoopback", err)
	}
	srv, ln, err := api.Edge{Addr: "0.0.0.0:0", Public: true}.Open(http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	ln.Close()
}

// TestEdgeClosesSlowConnections: 200 connections that drip a header or a
// body a byte at a time are all closed by the edge's timeouts, and the
// server answers others meanwhile.
func TestEdgeClosesSlowConnections(t *testing.T) {
	const n = 200
	const readTimeout = 800 * time.Millisecond
	addr := serveEdge(t, api.Edge{ReadHeaderTimeout: 400 * time.Millisecond, ReadTimeout: readTimeout, WriteTimeout: 2 * time.Second, MaxConns: n + 20})
	start := time.Now()
	var wg sync.WaitGroup
	closedAfter := make([]time.Duration, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var msg string
		if i%2 == 0 { // a body that never ends
			msg = fmt.Sprintf("POST /v1/submit HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"user\":", addr)
		} else { // a header that never ends
			msg = fmt.Sprintf("GET /v1/host HTTP/1.1\r\nHost: %s\r\n", addr)
		}
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		done := make(chan struct{})
		go func() { // drip
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		go func() { // wait for the server to close
			defer wg.Done()
			defer close(done)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			closedAfter[i] = time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("connection %d still open after 10 s", i)
			}
		}()
	}
	// Meanwhile a normal request is answered.
	if code, _ := rawRequest(t, addr, "GET /v1/host HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); code != http.StatusOK {
		t.Errorf("a normal request beside the slow ones: %d", code)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var last time.Duration
	for _, d := range closedAfter {
		last = max(last, d)
	}
	t.Logf("%d slow connections all closed within %v (read timeout %v)", n, last, readTimeout)
	if last > readTimeout+3*time.Second {
		t.Errorf("the last slow connection closed after %v, want about the read timeout %v", last, readTimeout)
	}
}

// TestEdgeBoundsConnections: with MaxConns open, another connection is
// not served until one closes.
func TestEdgeBoundsConnections(t *testing.T) {
	const maxConns = 4
	addr := serveEdge(t, api.Edge{MaxConns: maxConns, ReadHeaderTimeout: 5 * time.Second})
	var hold []net.Conn
	for i := 0; i < maxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /v1/host HTTP/1.1\r\nHost: "+addr+"\r\n") // an unfinished header
		hold = append(hold, c)
	}
	time.Sleep(100 * time.Millisecond)
	answered := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			answered <- -1
			return
		}
		defer c.Close()
		io.WriteString(c, "GET /v1/host HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("connection %d was served (%d) while %d were open", maxConns+1, code, maxConns)
	case <-time.After(300 * time.Millisecond):
	}
	hold[0].Close()
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Fatalf("the waiting connection got %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not served after one closed")
	}
	for _, c := range hold[1:] {
		c.Close()
	}

}
