// Package p2p is the DPoR node's transport: TCP connections between
// peers that authenticate each other by their Ed25519 node keys (each
// signs a challenge the other chose, bound to the chain), carrying framed
// messages of bounded size. Each node dials every peer it knows and sends
// on those connections; it receives on the connections peers dial to it.
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

// MaxFrame bounds a message's size; a peer that sends more is cut off.
const MaxFrame = 32 << 20

// Frame is one message: a kind and a payload.
type Frame struct {
	Kind    byte
	Payload []byte
}

// Inbound is a frame received from an authenticated peer.
type Inbound struct {
	From ed25519.PublicKey
	Frame
}

// Config describes a transport.
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
	// Accept, when set, decides whether an authenticated key may connect.
	Accept func(ed25519.PublicKey) bool
	Logger *slog.Logger
	// QueueLen bounds the frames waiting to be sent to one peer; when it
	// is full the oldest are dropped (consensus repairs losses by
	// resending).
	QueueLen int
}

// Transport runs the connections.
type Transport struct {
	cfg   Config
	ln    net.Listener
	inbox chan Inbound

	mu    sync.Mutex
	peers map[string]*peer // by dial address
}

type peer struct {
	addr  string
	key   ed25519.PublicKey // known once connected
	queue chan Frame
	up    bool
}

// New starts listening (when Listen is set) and dialing the peers.
// Received frames arrive on Inbox until ctx ends.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 4096
	}
	t := &Transport{cfg: cfg, inbox: make(chan Inbound, 1024), peers: map[string]*peer{}}
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

func (t *Transport) writeLoop(ctx context.Context, c net.Conn, p *peer) error {
	w := bufio.NewWriterSize(c, 64<<10)
	// Reading detects a closed connection (peers never write on it).
	dead := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(dead) }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dead:
			return errors.New("closed")
		case f := <-p.queue:
			if err := writeFrame(w, f); err != nil {
				return err
			}
			// Coalesce what is queued into one write.
			for more := true; more; {
				select {
				case f := <-p.queue:
					if err := writeFrame(w, f); err != nil {
						return err
					}
				default:
					more = false
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

func writeFrame(w io.Writer, f Frame) error {
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(f.Payload)+1))
	hdr[4] = f.Kind
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(f.Payload)
	return err
}

// ReadFrame reads one frame, refusing frames over MaxFrame.
func ReadFrame(r io.Reader) (Frame, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > MaxFrame {
		return Frame{}, fmt.Errorf("p2p: frame of %d bytes (limit %d)", n, MaxFrame)
	}
	buf := make([]byte, n-1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Frame{}, err
	}
	return Frame{Kind: hdr[4], Payload: buf}, nil
}

func (t *Transport) accept(ctx context.Context) {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			key, err := t.handshake(c)
			if err != nil {
				t.cfg.Logger.Debug("handshake refused", "remote", c.RemoteAddr(), "err", err)
				return
			}
			go func() { <-ctx.Done(); c.Close() }()
			r := bufio.NewReaderSize(c, 64<<10)
			for {
				f, err := ReadFrame(r)
				if err != nil {
					if !errors.Is(err, io.EOF) && ctx.Err() == nil {
						t.cfg.Logger.Debug("peer dropped", "remote", c.RemoteAddr(), "err", err)
					}
					return
				}
				select {
				case t.inbox <- Inbound{From: key, Frame: f}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// handshake: each side sends its key and a fresh challenge, then signs
// the other's challenge together with the network id.
func (t *Transport) handshake(c net.Conn) (ed25519.PublicKey, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	var mine [32]byte
	rand.Read(mine[:])
	pub := t.cfg.Key.Public().(ed25519.PublicKey)
	if _, err := c.Write(append(append([]byte{}, pub...), mine[:]...)); err != nil {
		return nil, err
	}
	var hello [64]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return nil, err
	}
	theirKey := ed25519.PublicKey(bytes.Clone(hello[:32]))
	sig := ed25519.Sign(t.cfg.Key, challenge(t.cfg.Network, hello[32:], pub))
	if _, err := c.Write(sig); err != nil {
		return nil, err
	}
	var theirSig [64]byte
	if _, err := io.ReadFull(c, theirSig[:]); err != nil {
		return nil, err
	}
	if !ed25519.Verify(theirKey, challenge(t.cfg.Network, mine[:], theirKey), theirSig[:]) {
		return nil, errors.New("p2p: the peer did not prove its key (another chain?)")
	}
	if t.cfg.Accept != nil && !t.cfg.Accept(theirKey) {
		return nil, errors.New("p2p: peer not accepted")
	}
	return theirKey, nil
}

func challenge(network, nonce []byte, signer ed25519.PublicKey) []byte {
	out := append([]byte("vchain-p2p:"), network...)
	out = append(out, nonce...)
	return append(out, signer...)
}
