// Package p2p is the DPoR node's transport: TCP connections between
// peers that authenticate each other by their Ed25519 node keys (each
// signs a challenge the other chose, bound to the chain), carrying framed
// messages of bounded size. Each node dials every peer it knows and sends
// on those connections; it receives on the connections peers dial to it.
//
// The receiving side assumes its peers may be hostile:
//
//   - a frame's payload is read as it arrives, 64 KiB at a time, so a
//     frame that is announced but not sent costs no memory;
//   - an accepted connection is closed when it stays silent for longer
//     than Config.IdleTimeout, when a frame falls behind Config.MinRate
//     (after a grace of Config.FrameTimeout), or when its handshake takes
//     longer than Config.HandshakeTimeout;
//   - accepted connections are capped in total (Config.MaxConns, counting
//     those still in their handshake), per key (Config.MaxConnsPerKey: a
//     key's oldest connection makes way for its newest) and for strangers
//     (Config.MaxStrangers);
//   - every inbound frame says whether its sender is a member
//     (Config.Member), so the node can ignore what strangers may not send.
//
// The sending side writes a keepalive frame (KindKeepAlive) when it has
// had nothing to send for Config.KeepAlive, so quiet honest peers are not
// taken for dead ones; keepalives never reach the Inbox.
package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// MaxFrame bounds a message's size (its kind byte and payload); a peer
// that announces more is cut off.
const MaxFrame = 32 << 20

// KindKeepAlive is the frame kind reserved for keepalives: a transport
// writes one (with an empty payload) on a connection that has had nothing
// to send for Config.KeepAlive, and drops every frame of this kind it
// receives, whatever its payload, instead of delivering it to the Inbox.
// Applications must use other kinds.
const KindKeepAlive byte = 0

// chunk is how much of a payload is read (and allocated) at a time.
const chunk = 64 << 10

// hdrLen is a frame header's size: a 4-byte big-endian length (kind byte
// plus payload) and the kind.
const hdrLen = 5

// Frame is one message: a kind and a payload.
type Frame struct {
	Kind    byte
	Payload []byte
}

// Inbound is a frame received from an authenticated peer.
type Inbound struct {
	// From is the key the sender proved in the handshake.
	From ed25519.PublicKey
	// Member reports whether Config.Member accepted From (always true
	// when Config.Member is nil). A node should act on a stranger's
	// frames only where strangers are allowed (e.g. sync requests).
	Member bool
	Frame
}

// Defaults for the Config fields left zero.
const (
	DefaultIdleTimeout      = 15 * time.Second // Config.IdleTimeout (KeepAlive defaults to a third of it)
	DefaultFrameTimeout     = 10 * time.Second // Config.FrameTimeout
	DefaultMinRate          = 32 << 10         // Config.MinRate, bytes per second
	DefaultHandshakeTimeout = 5 * time.Second  // Config.HandshakeTimeout
	DefaultMaxConns         = 256              // Config.MaxConns
	DefaultMaxConnsPerKey   = 2                // Config.MaxConnsPerKey
	DefaultMaxStrangers     = 32               // Config.MaxStrangers
	DefaultQueueLen         = 4096             // Config.QueueLen
)

// Config describes a transport. Zero fields take their defaults.
type Config struct {
	// Key is this node's identity.
	Key ed25519.PrivateKey
	// Network binds handshakes to one chain (its id and genesis hash), so
	// nodes of different chains never talk.
	Network []byte
	// Listen is the address to accept peers on ("" accepts none).
	Listen string
	// Listener, when set, is used instead of listening on Listen.
	Listener net.Listener
	// Peers are the addresses to dial.
	Peers []string
	// Accept, when set, decides whether an authenticated key may connect
	// (checked on both accepted and dialed connections).
	Accept func(ed25519.PublicKey) bool
	// Member, when set, tells members (e.g. the keys the genesis names)
	// from strangers. Strangers may connect, but at most MaxStrangers
	// connections at a time, and their frames arrive with Inbound.Member
	// false. When nil every key is a member.
	Member func(ed25519.PublicKey) bool
	// Logger receives debug records of connections coming and going
	// (default: discarded).
	Logger *slog.Logger
	// QueueLen bounds the frames waiting to be sent to one peer; when it
	// is full the oldest are dropped (consensus repairs losses by
	// resending). Default DefaultQueueLen.
	QueueLen int

	// IdleTimeout is how long an accepted connection may stay silent
	// between frames before it is closed (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// KeepAlive is how long a dialed connection may have nothing to send
	// before a keepalive frame is written (default IdleTimeout/3; it must
	// stay well below the peers' IdleTimeout).
	KeepAlive time.Duration
	// FrameTimeout and MinRate bound a frame's transfer, read or written:
	// once its first byte has arrived, the first n bytes of a frame must
	// have arrived within FrameTimeout + n/MinRate (checked every 64 KiB),
	// so a peer that announces a frame and stalls, or drips it, is cut
	// off. Writes get the same bound. Default DefaultFrameTimeout.
	FrameTimeout time.Duration
	// MinRate is the slowest a frame may move, in bytes per second, once
	// FrameTimeout has passed (default DefaultMinRate).
	MinRate int
	// HandshakeTimeout bounds the handshake (default
	// DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxConns caps the accepted connections, including those still in
	// their handshake; the connections beyond it are closed as soon as
	// they are accepted (default DefaultMaxConns).
	MaxConns int
	// MaxConnsPerKey caps the authenticated connections of one key; a new
	// one beyond it closes that key's oldest, since a restarted peer's
	// new connection may overlap its old one (default
	// DefaultMaxConnsPerKey).
	MaxConnsPerKey int
	// MaxStrangers caps the authenticated connections of keys that are
	// not members; those beyond it are closed (default
	// DefaultMaxStrangers).
	MaxStrangers int
}

func (cfg *Config) defaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = cfg.IdleTimeout / 3
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerKey <= 0 {
		cfg.MaxConnsPerKey = DefaultMaxConnsPerKey
	}
	if cfg.MaxStrangers <= 0 {
		cfg.MaxStrangers = DefaultMaxStrangers
	}
}

// Transport runs the connections.
type Transport struct {
	cfg   Config
	ln    net.Listener
	inbox chan Inbound

	mu    sync.Mutex
	peers map[string]*peer // by dial address

	// Accepted connections (under mu).
	open      int                  // accepted and not yet closed, handshaking or not
	pending   int                  // of which still in their handshake
	byKey     map[string][]*inConn // authenticated, oldest first
	strangers int                  // authenticated connections of non-members
	accepted  int                  // authenticated connections ever registered
}

type peer struct {
	addr  string
	key   ed25519.PublicKey // known once connected
	queue chan Frame
	up    bool
}

// inConn is an accepted, authenticated connection.
type inConn struct {
	c      net.Conn
	key    ed25519.PublicKey
	member bool
}

// New starts listening (when Listen is set) and dialing the peers.
// Received frames arrive on Inbox until ctx ends.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	cfg.defaults()
	t := &Transport{cfg: cfg, inbox: make(chan Inbound, 1024), peers: map[string]*peer{}, byKey: map[string][]*inConn{}}
	if cfg.Listener != nil || cfg.Listen != "" {
		ln := cfg.Listener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
				return nil, fmt.Errorf("p2p: listen %s: %w", cfg.Listen, err)
			}
		}
		t.ln = ln
		go t.accept(ctx)
		go func() { <-ctx.Done(); ln.Close() }()
	}
	for _, a := range cfg.Peers {
		p := &peer{addr: a, queue: make(chan Frame, cfg.QueueLen)}
		t.peers[a] = p
		go t.dial(ctx, p)
	}
	return t, nil
}

// Addr is the address the transport listens on.
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Inbox delivers received frames.
func (t *Transport) Inbox() <-chan Inbound { return t.inbox }

// Broadcast queues f for every peer.
func (t *Transport) Broadcast(f Frame) { t.SendIf(f, func(ed25519.PublicKey) bool { return true }) }

// SendIf queues f for every connected peer whose key satisfies pick.
func (t *Transport) SendIf(f Frame, pick func(ed25519.PublicKey) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		if p.up && pick(p.key) {
			enqueue(p, f)
		}
	}
}

// Send queues f for the peer with key k; false when it is not connected.
func (t *Transport) Send(k ed25519.PublicKey, f Frame) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		if p.up && p.key.Equal(k) {
			enqueue(p, f)
			return true
		}
	}
	return false
}

// Connected lists the keys of the peers this node is connected to.
func (t *Transport) Connected() []ed25519.PublicKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ed25519.PublicKey
	for _, p := range t.peers {
		if p.up {
			out = append(out, p.key)
		}
	}
	return out
}

func enqueue(p *peer, f Frame) {
	select {
	case p.queue <- f:
	default:
		select { // full: drop the oldest
		case <-p.queue:
		default:
		}
		select {
		case p.queue <- f:
		default:
		}
	}
}

func (t *Transport) dial(ctx context.Context, p *peer) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err == nil {
			var key ed25519.PublicKey
			if key, err = t.handshake(c); err == nil {
				backoff = 50 * time.Millisecond
				t.mu.Lock()
				p.key, p.up = key, true
				t.mu.Unlock()
				t.cfg.Logger.Debug("peer connected", "addr", p.addr)
				if werr := t.writeLoop(ctx, c, p); ctx.Err() == nil {
					t.cfg.Logger.Debug("peer lost", "addr", p.addr, "err", werr)
				}
				t.mu.Lock()
				p.up = false
				t.mu.Unlock()
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// frameTime is how long a transfer of n bytes may take.
func (t *Transport) frameTime(n int) time.Duration {
	return t.cfg.FrameTimeout + time.Duration(int64(n)*int64(time.Second)/int64(t.cfg.MinRate))
}

func (t *Transport) writeLoop(ctx context.Context, c net.Conn, p *peer) error {
	w := bufio.NewWriterSize(c, 64<<10)
	// Reading detects a closed connection (peers never write on it).
	dead := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(dead) }()
	write := func(f Frame) error {
		c.SetWriteDeadline(time.Now().Add(t.frameTime(w.Buffered() + hdrLen + len(f.Payload))))
		return writeFrame(w, f)
	}
	flush := func() error {
		c.SetWriteDeadline(time.Now().Add(t.frameTime(w.Buffered())))
		return w.Flush()
	}
	idle := time.NewTimer(t.cfg.KeepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dead:
			return errors.New("closed")
		case <-idle.C:
			if err := write(Frame{Kind: KindKeepAlive}); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		case f := <-p.queue:
			if err := write(f); err != nil {
				return err
			}
			// Coalesce what is queued into one write.
			for more := true; more; {
				select {
				case f := <-p.queue:
					if err := write(f); err != nil {
						return err
					}
				default:
					more = false
				}
			}
			if err := flush(); err != nil {
				return err
			}
		}
		idle.Reset(t.cfg.KeepAlive)
	}
}

func writeFrame(w io.Writer, f Frame) error {
	var hdr [hdrLen]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(f.Payload)+1))
	hdr[4] = f.Kind
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(f.Payload)
	return err
}

// ReadFrame reads one frame, refusing frames over MaxFrame. The payload is
// read (and its buffer grown) as it arrives, 64 KiB at a time, so what a
// frame costs is what its sender actually sent.
func ReadFrame(r io.Reader) (Frame, error) { return readFrame(r, MaxFrame, nil) }

// MaxStrangerFrame bounds the frames of a peer that is not a member:
// strangers may only send small requests, so the memory they can hold
// is a small multiple of MaxStrangers.
const MaxStrangerFrame = 64 << 10

// ReadFrameLimit is ReadFrame with another limit than MaxFrame: limit
// counts the kind byte and the payload, so a frame's payload is always
// shorter than limit. A limit over MaxFrame is taken as MaxFrame.
func ReadFrameLimit(r io.Reader, limit int) (Frame, error) {
	return readFrame(r, min(max(limit, 0), MaxFrame), nil)
}

// readFrame reads one frame of at most limit bytes (kind and payload).
// When pace is set it is called before the frame's bytes up to offset
// end (header included) are read: once for the header, then before each
// chunk of the payload.
func readFrame(r io.Reader, limit int, pace func(end int) error) (Frame, error) {
	if pace != nil {
		if err := pace(hdrLen); err != nil {
			return Frame{}, err
		}
	}
	var hdr [hdrLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || uint64(n) > uint64(limit) {
		return Frame{}, fmt.Errorf("p2p: frame of %d bytes (limit %d)", n, limit)
	}
	size := int(n) - 1
	var buf []byte
	for len(buf) < size {
		step := min(size-len(buf), chunk)
		if pace != nil {
			if err := pace(hdrLen + len(buf) + step); err != nil {
				return Frame{}, err
			}
		}
		if cap(buf)-len(buf) < step {
			// Double (never beyond the frame), so the copies stay linear
			// and the buffer at most twice what has arrived.
			grown := make([]byte, len(buf), min(size, max(2*cap(buf), len(buf)+step)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
	if buf == nil {
		buf = []byte{}
	}
	return Frame{Kind: hdr[4], Payload: buf}, nil
}

func (t *Transport) accept(ctx context.Context) {
	var wait time.Duration // after a failed Accept (e.g. out of file descriptors)
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			t.cfg.Logger.Debug("accept failed", "err", err, "retry", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		wait = 0
		t.mu.Lock()
		full := t.open >= t.cfg.MaxConns
		if !full {
			t.open++
			t.pending++
		}
		t.mu.Unlock()
		if full {
			t.cfg.Logger.Debug("connection refused: too many", "remote", c.RemoteAddr(), "max", t.cfg.MaxConns)
			c.Close()
			continue
		}
		go t.serve(ctx, c)
	}
}

// serve runs an accepted connection, counted in open and pending.
func (t *Transport) serve(ctx context.Context, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer func() {
		c.Close()
		t.mu.Lock()
		t.open--
		t.mu.Unlock()
	}()
	key, err := t.handshake(c)
	t.mu.Lock()
	t.pending--
	t.mu.Unlock()
	if err != nil {
		t.cfg.Logger.Debug("handshake refused", "remote", c.RemoteAddr(), "err", err)
		return
	}
	ic := &inConn{c: c, key: key, member: t.cfg.Member == nil || t.cfg.Member(key)}
	if err := t.register(ic); err != nil {
		t.cfg.Logger.Debug("peer refused", "remote", c.RemoteAddr(), "err", err)
		return
	}
	defer t.unregister(ic)

	r := bufio.NewReaderSize(c, 64<<10)
	for {
		// Wait for a frame's first byte for at most IdleTimeout, then let
		// the frame take no longer than its size allows.
		c.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		if _, err := r.Peek(1); err != nil {
			t.dropped(ctx, c, err)
			return
		}
		start := time.Now()
		limit := MaxFrame
		if !ic.member {
			limit = MaxStrangerFrame // strangers may only ask for things
		}
		f, err := readFrame(r, limit, func(end int) error {
			return c.SetReadDeadline(start.Add(t.frameTime(end)))
		})
		if err != nil {
			t.dropped(ctx, c, err)
			return
		}
		if f.Kind == KindKeepAlive {
			continue
		}
		select {
		case t.inbox <- Inbound{From: key, Member: ic.member, Frame: f}:
		case <-ctx.Done():
			return
		}
	}
}

func (t *Transport) dropped(ctx context.Context, c net.Conn, err error) {
	if !errors.Is(err, io.EOF) && ctx.Err() == nil {
		t.cfg.Logger.Debug("peer dropped", "remote", c.RemoteAddr(), "err", err)
	}
}

// register admits an authenticated connection under the per-key and
// stranger caps; it closes the key's oldest connection when the key is
// at its cap.
func (t *Transport) register(ic *inConn) error {
	k := string(ic.key)
	t.mu.Lock()
	var evict *inConn
	if list := t.byKey[k]; len(list) >= t.cfg.MaxConnsPerKey {
		evict = list[0]
		t.unregisterLocked(evict)
	} else if !ic.member && t.strangers >= t.cfg.MaxStrangers {
		t.mu.Unlock()
		return fmt.Errorf("p2p: too many strangers (%d)", t.cfg.MaxStrangers)
	}
	t.byKey[k] = append(t.byKey[k], ic)
	if !ic.member {
		t.strangers++
	}
	t.accepted++
	t.mu.Unlock()
	if evict != nil {
		t.cfg.Logger.Debug("connection replaced by a newer one of its key", "remote", evict.c.RemoteAddr())
		evict.c.Close()
	}
	return nil
}

func (t *Transport) unregister(ic *inConn) {
	t.mu.Lock()
	t.unregisterLocked(ic)
	t.mu.Unlock()
}

func (t *Transport) unregisterLocked(ic *inConn) {
	k := string(ic.key)
	list := t.byKey[k]
	for i, x := range list {
		if x == ic {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(t.byKey, k)
			} else {
				t.byKey[k] = list
			}
			if !ic.member {
				t.strangers--
			}
			return
		}
	}
}

// handshake: each side sends its key and a fresh challenge, then signs
// the other's challenge together with the network id.
func (t *Transport) handshake(c net.Conn) (ed25519.PublicKey, error) {
	theirKey, err := Handshake(c, t.cfg.Key, t.cfg.Network, t.cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	if t.cfg.Accept != nil && !t.cfg.Accept(theirKey) {
		return nil, errors.New("p2p: peer not accepted")
	}
	return theirKey, nil
}

// Handshake runs the protocol's handshake on c, either side: it proves
// key to the peer and checks the peer's proof, both bound to network,
// within timeout, and returns the peer's key. The transport runs it on
// every connection; tools (and tests) that speak the protocol on a
// connection of their own use it too.
func Handshake(c net.Conn, key ed25519.PrivateKey, network []byte, timeout time.Duration) (ed25519.PublicKey, error) {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	var mine [32]byte
	rand.Read(mine[:])
	pub := key.Public().(ed25519.PublicKey)
	if _, err := c.Write(append(append([]byte{}, pub...), mine[:]...)); err != nil {
		return nil, err
	}
	var hello [64]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return nil, err
	}
	theirKey := ed25519.PublicKey(bytes.Clone(hello[:32]))
	sig := ed25519.Sign(key, challenge(network, hello[32:], pub))
	if _, err := c.Write(sig); err != nil {
		return nil, err
	}
	var theirSig [64]byte
	if _, err := io.ReadFull(c, theirSig[:]); err != nil {
		return nil, err
	}
	if !ed25519.Verify(theirKey, challenge(network, mine[:], theirKey), theirSig[:]) {
		return nil, errors.New("p2p: the peer did not prove its key (another chain?)")
	}
	return theirKey, nil
}

func challenge(network, nonce []byte, signer ed25519.PublicKey) []byte {
	out := append([]byte("vchain-p2p:"), network...)
	out = append(out, nonce...)
	return append(out, signer...)
}
