package p2p_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vchain-dev/vchain/dpor/p2p"
)

func key(i byte) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0] = i
	return ed25519.NewKeyFromSeed(seed)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAuthenticatedExchange: frames arrive tagged with the sender's
// proven key; a node of another network never connects.
func TestAuthenticatedExchange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b, c := freeAddr(t), freeAddr(t), freeAddr(t)
	ta, err := p2p.New(ctx, p2p.Config{Key: key(1), Network: []byte("net"), Listen: a, Peers: []string{b}})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := p2p.New(ctx, p2p.Config{Key: key(2), Network: []byte("net"), Listen: b, Peers: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p2p.New(ctx, p2p.Config{Key: key(3), Network: []byte("other"), Listen: c, Peers: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ta.Connected()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a never connected to b")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ta.Broadcast(p2p.Frame{Kind: 7, Payload: []byte("hello")})
	select {
	case in := <-tb.Inbox():
		if in.Kind != 7 || string(in.Payload) != "hello" || !in.From.Equal(key(1).Public().(ed25519.PublicKey)) {
			t.Fatalf("got %+v", in)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
	}
	time.Sleep(200 * time.Millisecond)
	for len(ta.Inbox()) > 0 {
		if in := <-ta.Inbox(); in.From.Equal(key(3).Public().(ed25519.PublicKey)) {
			t.Fatal("a node of another network got through")
		}
	}
}

func TestFrameLimits(t *testing.T) {
	if _, err := p2p.ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 1})); err == nil {
		t.Fatal("a 4 GiB frame was accepted")
	}
	if _, err := p2p.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0, 1})); err == nil {
		t.Fatal("an empty frame was accepted")
	}
}

// FuzzReadFrame: ReadFrame never panics, never returns more than its
// input held, and ReadFrameLimit never a payload as long as its limit;
// how the bytes arrive changes nothing.
func FuzzReadFrame(f *testing.F) {
	f.Add(uint32(100), []byte{0, 0, 0, 3, 1, 'h', 'i'})
	f.Add(uint32(3), []byte{0, 0, 0, 3, 1, 'h', 'i'})
	f.Add(uint32(0), []byte{0, 0, 0, 1, 0})
	f.Add(uint32(1<<20), []byte{0, 0, 0, 0, 1})
	f.Add(uint32(1<<20), []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add(uint32(1<<20), []byte{0x02, 0x00, 0x00, 0x01, 7, 1, 2, 3})
	f.Add(uint32(1<<17), append([]byte{0, 1, 0, 2, 9}, make([]byte, 1<<16+1)...))
	f.Fuzz(func(t *testing.T, limit uint32, b []byte) {
		fr, err := p2p.ReadFrame(bytes.NewReader(b))
		if err == nil && (len(fr.Payload)+5 > len(b) || len(fr.Payload) >= p2p.MaxFrame) {
			t.Fatal("a frame longer than its input or the limit")
		}
		lim := int(limit % (2 << 20))
		fl, errl := p2p.ReadFrameLimit(iotest.HalfReader(bytes.NewReader(b)), lim)
		if errl == nil && len(fl.Payload) >= lim {
			t.Fatalf("a payload of %d bytes under a limit of %d", len(fl.Payload), lim)
		}
		if err == nil && errl == nil && (fr.Kind != fl.Kind || !bytes.Equal(fr.Payload, fl.Payload)) {
			t.Fatal("the frame depends on how its bytes arrive")
		}
		if err == nil && len(fr.Payload) < lim && errl != nil {
			t.Fatalf("a frame under the limit was refused: %v", errl)
		}
	})
}
