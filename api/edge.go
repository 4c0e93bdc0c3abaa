package api

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Edge is how an API server meets the network: where it listens, whom it
// answers and how long it waits. Every client may be hostile, and a server
// on a developer's loopback may be driven by any web page the developer
// opens, so the edge
//
//   - listens on loopback unless Public says otherwise;
//   - answers only requests whose Host header names this server (a
//     loopback name, the address it is bound to, or one of AllowHosts):
//     a page that rebinds its own DNS name to 127.0.0.1 is refused;
//   - takes POST bodies only as application/json, which a page cannot
//     send cross-origin without the browser asking first;
//   - bounds the time to read a request, to write an answer and to keep an
//     idle connection, and the number of open connections.
type Edge struct {
	// Addr is the TCP address to listen on (host:port).
	Addr string
	// Public allows a listen address beyond loopback.
	Public bool
	// AllowHosts are further Host header values to accept: a name (any
	// port) or name:port. "*" accepts any.
	AllowHosts []string
	// ReadHeaderTimeout bounds reading a request's header, ReadTimeout
	// reading the whole request, WriteTimeout the time from the end of
	// the header to the end of the answer, IdleTimeout a kept-alive
	// connection between requests.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConns bounds the connections open at once; further ones wait to
	// be accepted.
	MaxConns int
	// MaxConnsPerIP bounds the connections one remote address may hold
	// open at once, so a single client holding connections open (slowly
	// sending headers, say) cannot take all of MaxConns; a connection
	// beyond it is closed as soon as it is accepted. Loopback clients are
	// not bounded: they share one address and already own the machine.
	MaxConnsPerIP int
}

// Defaults of an Edge's bounds.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 20 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConns          = 512
	DefaultMaxConnsPerIP     = 32
)

// withDefaults fills the zero bounds.
func (e Edge) withDefaults() Edge {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&e.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&e.ReadTimeout, DefaultReadTimeout)
	set(&e.WriteTimeout, DefaultWriteTimeout)
	set(&e.IdleTimeout, DefaultIdleTimeout)
	if e.MaxConns <= 0 {
		e.MaxConns = DefaultMaxConns
	}
	if e.MaxConnsPerIP <= 0 {
		e.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	return e
}

// ErrNotLoopback refuses a listen address other machines can reach when
// Edge.Public is not set.
var ErrNotLoopback = errors.New("the address is reachable from other machines")

// Open listens on e.Addr and returns a server for h with e's bounds and
// checks, not yet serving, and its listener (which holds at most
// MaxConns connections); call srv.Serve(ln). It refuses an address other
// machines can reach unless e.Public is set.
func (e Edge) Open(h http.Handler) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", e.Addr)
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().(*net.TCPAddr)
	if !e.Public && !addr.IP.IsLoopback() {
		ln.Close()
		return nil, nil, fmt.Errorf("%s: %w (bound to %s)", e.Addr, ErrNotLoopback, addr)
	}
	return e.Server(h, addr), e.limit(ln), nil
}

// Server returns an http.Server with e's timeouts whose handler is h
// behind e's checks, for a listener bound to addr.
func (e Edge) Server(h http.Handler, addr *net.TCPAddr) *http.Server {
	e = e.withDefaults()
	return &http.Server{
		Handler:           e.Guard(h, addr),
		ReadHeaderTimeout: e.ReadHeaderTimeout,
		ReadTimeout:       e.ReadTimeout,
		WriteTimeout:      e.WriteTimeout,
		IdleTimeout:       e.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// Guard wraps h with the Host and content-type checks for a server bound
// to addr: a foreign Host gets 421 Misdirected Request, a POST that is
// not application/json gets 415 Unsupported Media Type.
func (e Edge) Guard(h http.Handler, addr *net.TCPAddr) http.Handler {
	allowed := e.hostAllowed(addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"Host %q is not this server (listening on %s); a loopback name or the address is accepted, others only when allowed with --allow-host", r.Host, addr))
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			ct := r.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err != nil || !bodyTypes[mt] {
				writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want application/json", ct))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// bodyTypes are the media types a request body may have: JSON, and the
// import stream of a contract migration (ImportContentType). Neither is
// one a page can post to another origin without the browser asking the
// server first (only text/plain and the two form types can be).
var bodyTypes = map[string]bool{"application/json": true, "application/x-vchain-import": true}

// hostAllowed returns the Host header check for a server bound to addr.
func (e Edge) hostAllowed(addr *net.TCPAddr) func(string) bool {
	names := map[string]bool{}     // any port
	hostPorts := map[string]bool{} // exact
	anyHost := false
	for _, a := range e.AllowHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*":
			anyHost = true
		case a == "":
		default:
			if h, p, err := net.SplitHostPort(a); err == nil && p != "" {
				hostPorts[net.JoinHostPort(strings.Trim(h, "[]"), p)] = true
			} else {
				names[strings.Trim(a, "[]")] = true
			}
		}
	}
	unspecified := addr == nil || addr.IP.IsUnspecified()
	return func(hostHeader string) bool {
		if anyHost {
			return true
		}
		if hostHeader == "" {
			return false
		}
		hh := strings.ToLower(hostHeader)
		name, port := hh, ""
		if h, p, err := net.SplitHostPort(hh); err == nil {
			name, port = h, p
		}
		name = strings.Trim(name, "[]")
		if names[name] || port != "" && hostPorts[net.JoinHostPort(name, port)] {
			return true
		}
		if name == "localhost" {
			return true
		}
		ip := net.ParseIP(name)
		if ip == nil {
			// A name: only a rebinding attacker's page sends one we
			// were not told about.
			return false
		}
		// An address: a page can only send it by talking to that
		// address, which is then its own origin.
		return ip.IsLoopback() || unspecified || addr.IP.Equal(ip)
	}
}

// limit bounds the connections ln hands out at once to e's MaxConns, and
// per remote address to MaxConnsPerIP.
func (e Edge) limit(ln net.Listener) net.Listener {
	e = e.withDefaults()
	return &limitListener{Listener: ln, sem: make(chan struct{}, e.MaxConns), done: make(chan struct{}),
		maxPerIP: e.MaxConnsPerIP, perIP: map[string]int{}}
}

// limitListener accepts a connection only while fewer than cap(sem) are
// open (what golang.org/x/net/netutil.LimitListener does), and closes at
// once a connection from a non-loopback address that already holds
// maxPerIP.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	maxPerIP int
	mu       sync.Mutex
	perIP    map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		release := func() { <-l.sem }
		if ip := remoteIP(c); ip != nil && !ip.IsLoopback() {
			key := ip.String()
			l.mu.Lock()
			if l.perIP[key] >= l.maxPerIP {
				l.mu.Unlock()
				c.Close()
				<-l.sem
				continue
			}
			l.perIP[key]++
			l.mu.Unlock()
			release = func() {
				l.mu.Lock()
				if l.perIP[key]--; l.perIP[key] <= 0 {
					delete(l.perIP, key)
				}
				l.mu.Unlock()
				<-l.sem
			}
		}
		return &limitConn{Conn: c, release: release}, nil
	}
}

// remoteIP is c's remote IP address, nil when it has none.
func remoteIP(c net.Conn) net.IP {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.IP
	case *net.UDPAddr:
		return a.IP
	}
	return nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
