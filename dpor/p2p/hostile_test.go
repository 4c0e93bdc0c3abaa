package p2p_test

// Hostile peers, over real TCP on 127.0.0.1: each test speaks the wire
// protocol by hand (rawPeer) where an honest transport would not misbehave.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vchain-dev/vchain/dpor/p2p"
)

var network = []byte("net")

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// listen starts a transport that only accepts.
func listen(t *testing.T, ctx context.Context, cfg p2p.Config) *p2p.Transport {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = key(200)
	}
	cfg.Network = network
	cfg.Listen = "127.0.0.1:0"
	tr, err := p2p.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// dialer starts a transport that dials addr with key k.
func dialer(t *testing.T, ctx context.Context, k ed25519.PrivateKey, addr string, cfg p2p.Config) *p2p.Transport {
	t.Helper()
	cfg.Key, cfg.Network, cfg.Peers = k, network, []string{addr}
	tr, err := p2p.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// shake is the client side of the handshake, written from the protocol.
func shake(c net.Conn, k ed25519.PrivateKey) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	var nonce [32]byte
	rand.Read(nonce[:])
	if _, err := c.Write(append(bytes.Clone(pub(k)), nonce[:]...)); err != nil {
		return err
	}
	var hello [64]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return err
	}
	msg := append(append(append([]byte("vchain-p2p:"), network...), hello[32:]...), pub(k)...)
	if _, err := c.Write(ed25519.Sign(k, msg)); err != nil {
		return err
	}
	var sig [64]byte
	if _, err := io.ReadFull(c, sig[:]); err != nil {
		return err
	}
	theirs := append(append(append([]byte("vchain-p2p:"), network...), nonce[:]...), hello[:32]...)
	if !ed25519.Verify(hello[:32], theirs, sig[:]) {
		return errors.New("the server did not prove its key")
	}
	return nil
}

// rawPeer connects with key k and completes the handshake.
func rawPeer(t *testing.T, addr string, k ed25519.PrivateKey) net.Conn {
	t.Helper()
	c := dialRaw(t, addr)
	if err := shake(c, k); err != nil {
		t.Fatal(err)
	}
	return c
}

func header(n uint32, kind byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(b, kind)
}

func frame(kind byte, payload []byte) []byte {
	return append(header(uint32(len(payload)+1), kind), payload...)
}

// closedWithin reports whether the other side closes c within d (the
// transport never writes on an accepted connection after the handshake).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if n > 0 || errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// countClosed checks the connections concurrently.
func countClosed(cs []net.Conn, d time.Duration) (closed []bool, n int) {
	closed = make([]bool, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { closed[i] = closedWithin(c, d) })
	}
	wg.Wait()
	for _, x := range closed {
		if x {
			n++
		}
	}
	return closed, n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// recvFrom waits for a frame from k, failing on frames from anyone else.
func recvFrom(t *testing.T, tr *p2p.Transport, k ed25519.PublicKey, d time.Duration) p2p.Inbound {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case in := <-tr.Inbox():
			if in.From.Equal(k) {
				return in
			}
			t.Fatalf("unexpected frame from %x: kind %d, %d bytes", in.From[:4], in.Kind, len(in.Payload))
		case <-timeout:
			t.Fatalf("no frame from %x", k[:4])
		}
	}
}

// TestStalledHugeFrames: fifty peers announce 32 MiB frames and send
// nothing more. They cost the transport almost nothing, are cut off once
// the frame bound passes, and an honest peer's frames keep arriving all
// along.
func TestStalledHugeFrames(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const stalled, frameTimeout = 50, 500 * time.Millisecond
	srv := listen(t, ctx, p2p.Config{FrameTimeout: frameTimeout, MinRate: 1 << 20, IdleTimeout: 10 * time.Second})
	addr := srv.Addr().String()
	honest := key(100)
	hd := dialer(t, ctx, honest, addr, p2p.Config{})
	waitFor(t, 5*time.Second, "the honest peer", func() bool { return len(hd.Connected()) == 1 })

	// The honest peer sends a frame every 20 ms; count what arrives.
	var got atomic.Int64
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				hd.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("honest")})
			}
		}
	})
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case in := <-srv.Inbox():
				if !in.From.Equal(pub(honest)) {
					t.Errorf("a frame from a stalled peer arrived")
				}
				got.Add(1)
			}
		}
	})
	defer func() { close(stop); bg.Wait() }()

	// Handshakes first, so their allocations are not counted.
	conns := make([]net.Conn, stalled)
	for i := range conns {
		conns[i] = rawPeer(t, addr, key(byte(10+i)))
	}
	waitFor(t, 5*time.Second, "the stalled peers to be admitted", func() bool {
		_, pending, _, accepted := srv.Counts()
		return pending == 0 && accepted == stalled+1
	})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range conns {
		if _, err := c.Write(header(p2p.MaxFrame, 7)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(frameTimeout / 2) // the transport has read every header by now
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d stalled 32 MiB frames: %d KiB allocated in all, %d KiB a connection (heap in use %+d KiB)",
		stalled, alloc>>10, alloc/stalled>>10, (int64(after.HeapInuse)-int64(before.HeapInuse))>>10)
	if alloc > 20<<20 {
		t.Fatalf("%d stalled frames allocated %d MiB", stalled, alloc>>20)
	}
	if open, _, _, _ := srv.Counts(); open != stalled+1 {
		t.Fatalf("%d connections open before the frame bound, want %d", open, stalled+1)
	}
	mid := got.Load()

	closed, n := countClosed(conns, 5*time.Second)
	if n != stalled {
		t.Fatalf("%d of %d stalled connections were cut off (%v)", n, stalled, closed)
	}
	waitFor(t, 5*time.Second, "the stalled connections to be gone", func() bool {
		open, _, _, _ := srv.Counts()
		return open == 1
	})
	if mid == 0 || got.Load() == mid {
		t.Fatalf("the honest peer's frames stopped: %d before the cut, %d in all", mid, got.Load())
	}
	after2 := got.Load()
	waitFor(t, 5*time.Second, "more honest frames", func() bool { return got.Load() > after2 })
}

// TestDripFeed: a peer that sends a 100-byte frame a byte at a time is
// cut off by the frame bound although it is never idle for long, and its
// frame is never delivered.
func TestDripFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := listen(t, ctx, p2p.Config{FrameTimeout: 300 * time.Millisecond, MinRate: 1 << 20, IdleTimeout: 10 * time.Second})
	for _, announced := range []uint32{101, p2p.MaxFrame} {
		c := rawPeer(t, srv.Addr().String(), key(5))
		start := time.Now()
		if _, err := c.Write(header(announced, 7)); err != nil {
			t.Fatal(err)
		}
		// Drip for at most 3 s (the whole 100 bytes of the small frame).
		cut := make(chan time.Duration, 1)
		go func() {
			for i := 0; i < 100; i++ {
				time.Sleep(30 * time.Millisecond)
				if _, err := c.Write([]byte{'x'}); err != nil {
					cut <- time.Since(start)
					return
				}
			}
			cut <- 0
		}()
		if !closedWithin(c, 5*time.Second) {
			t.Fatalf("frame of %d: a dripping peer was not cut off", announced)
		}
		took := time.Since(start)
		<-cut
		if took > 4*time.Second {
			t.Fatalf("frame of %d: cut off only after %v", announced, took)
		}
		select {
		case in := <-srv.Inbox():
			t.Fatalf("frame of %d: a dripped frame arrived: %+v", announced, in)
		default:
		}
		c.Close()
	}
}

// TestKeepAlive: an honest peer with nothing to say stays connected
// (its transport writes keepalives), and the keepalives never reach the
// Inbox; a silent raw peer is dropped after the idle limit.
func TestKeepAlive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const idle = 300 * time.Millisecond
	srv := listen(t, ctx, p2p.Config{IdleTimeout: idle})
	addr := srv.Addr().String()
	a := key(1)
	d := dialer(t, ctx, a, addr, p2p.Config{IdleTimeout: idle}) // keepalives every idle/3
	waitFor(t, 5*time.Second, "the connection", func() bool { return len(d.Connected()) == 1 })
	d.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("first")})
	if in := recvFrom(t, srv, pub(a), 5*time.Second); string(in.Payload) != "first" {
		t.Fatalf("got %q", in.Payload)
	}

	silent := rawPeer(t, addr, key(2))
	start := time.Now()
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("a silent peer was not dropped")
	}
	if took := time.Since(start); took < idle*9/10 || took > 4*time.Second {
		t.Fatalf("a silent peer was dropped after %v (idle limit %v)", took, idle)
	}

	time.Sleep(5 * idle)
	if _, _, _, accepted := srv.Counts(); accepted != 2 {
		t.Fatalf("%d connections admitted, want 2: the quiet honest peer was dropped and came back", accepted)
	}
	if srv.ConnsOf(pub(a)) != 1 {
		t.Fatal("the quiet honest peer is not connected")
	}
	if n := len(srv.Inbox()); n != 0 {
		in := <-srv.Inbox()
		t.Fatalf("%d frames in the Inbox while the peer was quiet (kind %d)", n, in.Kind)
	}
	d.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("second")})
	if in := recvFrom(t, srv, pub(a), 5*time.Second); string(in.Payload) != "second" {
		t.Fatalf("got %q", in.Payload)
	}
	// A keepalive sent by hand with a payload is dropped too.
	c := rawPeer(t, addr, key(3))
	c.Write(frame(p2p.KindKeepAlive, []byte("ignored")))
	c.Write(frame(9, []byte("after")))
	if in := recvFrom(t, srv, pub(key(3)), 5*time.Second); in.Kind != 9 || string(in.Payload) != "after" {
		t.Fatalf("got kind %d %q", in.Kind, in.Payload)
	}
}

// TestConnectionFlood: connections beyond MaxConns are closed before
// their handshake, handshakes that stall end at HandshakeTimeout,
// strangers beyond MaxStrangers are closed after theirs, and a member
// still gets in and is heard.
func TestConnectionFlood(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const maxConns, maxStrangers, hsTimeout = 20, 4, time.Second
	member := key(1)
	srv := listen(t, ctx, p2p.Config{
		MaxConns: maxConns, MaxStrangers: maxStrangers, HandshakeTimeout: hsTimeout, IdleTimeout: 10 * time.Second,
		Member: func(k ed25519.PublicKey) bool { return k.Equal(pub(member)) },
	})
	addr := srv.Addr().String()

	// 1. Connections that never handshake: only MaxConns get the
	// transport's hello, the rest are closed at once.
	flood := make([]net.Conn, maxConns+10)
	for i := range flood {
		flood[i] = dialRaw(t, addr)
	}
	admitted := 0
	var held []net.Conn
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(hsTimeout / 2))
		var hello [64]byte
		n, err := io.ReadFull(c, hello[:])
		switch {
		case n == 64:
			admitted++
			held = append(held, c)
		case n == 0 && (errors.Is(err, io.EOF) || isReset(err)):
		default:
			t.Fatalf("a flooding connection read %d bytes: %v", n, err)
		}
	}
	if admitted != maxConns {
		t.Fatalf("%d of %d flooding connections admitted, want %d", admitted, len(flood), maxConns)
	}
	if _, n := countClosed(held, 3*hsTimeout); n != len(held) {
		t.Fatalf("%d of %d stalled handshakes ended", n, len(held))
	}
	waitFor(t, 5*time.Second, "the stalled handshakes to be gone", func() bool {
		open, _, _, _ := srv.Counts()
		return open == 0
	})

	// 2. Strangers that complete the handshake: MaxStrangers stay.
	strangers := make([]net.Conn, maxStrangers+6)
	for i := range strangers {
		strangers[i] = rawPeer(t, addr, key(byte(50+i)))
	}
	closed, n := countClosed(strangers, 500*time.Millisecond)
	if n != len(strangers)-maxStrangers {
		t.Fatalf("%d of %d strangers closed, want %d", n, len(strangers), len(strangers)-maxStrangers)
	}
	if _, _, s, _ := srv.Counts(); s != maxStrangers {
		t.Fatalf("%d strangers connected, want %d", s, maxStrangers)
	}

	// 3. Fill every other slot with stalled handshakes: the member is
	// refused until they time out, then gets in and is heard, while the
	// strangers stay.
	for range maxConns - maxStrangers {
		dialRaw(t, addr)
	}
	waitFor(t, 5*time.Second, "the slots to fill", func() bool {
		open, _, _, _ := srv.Counts()
		return open == maxConns
	})
	extra := dialRaw(t, addr)
	if !closedWithin(extra, time.Second) {
		t.Fatal("a connection beyond MaxConns was not closed")
	}
	d := dialer(t, ctx, member, addr, p2p.Config{})
	waitFor(t, 3*hsTimeout+5*time.Second, "the member to connect", func() bool { return len(d.Connected()) == 1 })
	d.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("member")})
	if in := recvFrom(t, srv, pub(member), 5*time.Second); !in.Member || string(in.Payload) != "member" {
		t.Fatalf("got %+v", in)
	}
	for i, c := range strangers {
		if !closed[i] {
			if _, err := c.Write(frame(8, []byte("stranger"))); err != nil {
				t.Fatalf("an admitted stranger was cut off: %v", err)
			}
			if in := recvFrom(t, srv, pub(key(byte(50+i))), 5*time.Second); in.Member || in.Kind != 8 {
				t.Fatalf("got %+v", in)
			}
		}
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// TestPerKeyCap: one key connecting again and again keeps at most
// MaxConnsPerKey connections, its newest; they still deliver frames.
func TestPerKeyCap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := listen(t, ctx, p2p.Config{MaxConnsPerKey: 2, IdleTimeout: 10 * time.Second})
	k := key(7)
	conns := make([]net.Conn, 6)
	for i := range conns {
		conns[i] = rawPeer(t, srv.Addr().String(), k)
		waitFor(t, 5*time.Second, "the connection to be admitted", func() bool {
			_, _, _, accepted := srv.Counts()
			return accepted == i+1
		})
		if n := srv.ConnsOf(pub(k)); n > 2 {
			t.Fatalf("%d connections of one key", n)
		}
	}
	closed, n := countClosed(conns, 500*time.Millisecond)
	if n != len(conns)-2 || !closed[0] || closed[len(conns)-1] || closed[len(conns)-2] {
		t.Fatalf("closed: %v; want all but the newest two", closed)
	}
	if n := srv.ConnsOf(pub(k)); n != 2 {
		t.Fatalf("%d connections of the key, want 2", n)
	}
	for i, c := range conns[len(conns)-2:] {
		c.Write(frame(7, []byte{byte(i)}))
		if in := recvFrom(t, srv, pub(k), 5*time.Second); in.Payload[0] != byte(i) {
			t.Fatalf("got %+v", in)
		}
	}
}

// TestMemberFlag: frames say whether their sender is a member (the keys
// Config.Member names); without Config.Member everyone is.
func TestMemberFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	genesis := map[string]bool{string(pub(key(1))): true, string(pub(key(2))): true}
	srv := listen(t, ctx, p2p.Config{Member: func(k ed25519.PublicKey) bool { return genesis[string(k)] }})
	open := listen(t, ctx, p2p.Config{})
	for _, tc := range []struct {
		srv    *p2p.Transport
		k      byte
		member bool
	}{{srv, 1, true}, {srv, 2, true}, {srv, 3, false}, {open, 3, true}} {
		// One through a real transport, one by hand.
		d := dialer(t, ctx, key(tc.k), tc.srv.Addr().String(), p2p.Config{})
		waitFor(t, 5*time.Second, "the connection", func() bool { return len(d.Connected()) == 1 })
		d.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("x")})
		if in := recvFrom(t, tc.srv, pub(key(tc.k)), 5*time.Second); in.Member != tc.member {
			t.Fatalf("key %d: Member %v, want %v", tc.k, in.Member, tc.member)
		}
		c := rawPeer(t, tc.srv.Addr().String(), key(tc.k))
		c.Write(frame(7, []byte("y")))
		if in := recvFrom(t, tc.srv, pub(key(tc.k)), 5*time.Second); in.Member != tc.member {
			t.Fatalf("key %d by hand: Member %v, want %v", tc.k, in.Member, tc.member)
		}
	}
}

// TestOversizedFrame: a frame over MaxFrame is refused with an error
// that names its size, before anything is read or allocated for it, and
// a peer that sends one is cut off.
func TestOversizedFrame(t *testing.T) {
	var r countingReader
	r.Reader = io.MultiReader(bytes.NewReader(header(p2p.MaxFrame+1, 7)), infinite{})
	_, err := p2p.ReadFrame(&r)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(p2p.MaxFrame+1)) || !strings.Contains(err.Error(), fmt.Sprint(p2p.MaxFrame)) {
		t.Fatalf("got %v, want an error naming the size and the limit", err)
	}
	if r.n != 5 {
		t.Fatalf("read %d bytes of a refused frame", r.n)
	}
	if _, err := p2p.ReadFrameLimit(bytes.NewReader(frame(1, make([]byte, 100))), 100); err == nil || !strings.Contains(err.Error(), "101") {
		t.Fatalf("ReadFrameLimit: got %v", err)
	}
	if f, err := p2p.ReadFrameLimit(bytes.NewReader(frame(1, make([]byte, 99))), 100); err != nil || len(f.Payload) != 99 {
		t.Fatalf("ReadFrameLimit at the limit: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := listen(t, ctx, p2p.Config{})
	c := rawPeer(t, srv.Addr().String(), key(4))
	c.Write(header(0xffffffff, 7))
	c.Write(make([]byte, 1000))
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a peer announcing a 4 GiB frame was not cut off")
	}
	if len(srv.Inbox()) != 0 {
		t.Fatal("an oversized frame arrived")
	}
}

type countingReader struct {
	io.Reader
	n int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	r.n += n
	return n, err
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) { return len(p), nil }

// TestChunkedReads: payloads around and across the chunk size read
// back intact however the bytes arrive; truncated ones fail.
func TestChunkedReads(t *testing.T) {
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<20 + 7} {
		payload := make([]byte, size)
		rand.Read(payload)
		wire := frame(9, payload)
		readers := map[string]func() io.Reader{
			"whole": func() io.Reader { return bytes.NewReader(wire) },
			"half":  func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) },
			"eof":   func() io.Reader { return iotest.DataErrReader(bytes.NewReader(wire)) },
		}
		if size < 1<<20 {
			readers["byte"] = func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) }
		}
		for name, r := range readers {
			f, err := p2p.ReadFrame(r())
			if err != nil || f.Kind != 9 || !bytes.Equal(f.Payload, payload) || f.Payload == nil {
				t.Fatalf("%d bytes, %s reader: kind %d, %d bytes, %v", size, name, f.Kind, len(f.Payload), err)
			}
		}
		if size > 0 {
			if _, err := p2p.ReadFrame(bytes.NewReader(wire[:len(wire)-1])); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d bytes, truncated: %v", size, err)
			}
		}
	}
}

// TestLargeFrame: a frame of several chunks crosses the transport
// intact.
func TestLargeFrame(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := listen(t, ctx, p2p.Config{})
	d := dialer(t, ctx, key(1), srv.Addr().String(), p2p.Config{})
	waitFor(t, 5*time.Second, "the connection", func() bool { return len(d.Connected()) == 1 })
	payload := make([]byte, 5<<20+3)
	rand.Read(payload)
	d.Broadcast(p2p.Frame{Kind: 7, Payload: payload})
	if in := recvFrom(t, srv, pub(key(1)), 10*time.Second); !bytes.Equal(in.Payload, payload) {
		t.Fatal("the payload changed")
	}
}

// TestStrangerFrameLimit: a stranger announcing a frame above
// MaxStrangerFrame is cut off at once, while a member may send it.
func TestStrangerFrameLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	member := key(1)
	srv := listen(t, ctx, p2p.Config{Member: func(k ed25519.PublicKey) bool { return k.Equal(pub(member)) }})
	addr := srv.Addr().String()
	big := make([]byte, p2p.MaxStrangerFrame+10)
	stranger := rawPeer(t, addr, key(2))
	if _, err := stranger.Write(header(uint32(len(big)+1), 7)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(stranger, 5*time.Second) {
		t.Fatal("a stranger's oversized frame was not refused")
	}
	d := dialer(t, ctx, member, addr, p2p.Config{})
	waitFor(t, 5*time.Second, "the member's connection", func() bool { return len(d.Connected()) == 1 })
	d.Broadcast(p2p.Frame{Kind: 7, Payload: big})
	if in := recvFrom(t, srv, pub(member), 5*time.Second); len(in.Payload) != len(big) {
		t.Fatalf("the member's frame: %d bytes", len(in.Payload))
	}
}
