package api

import (
	"net"
	"testing"
	"time"
)

// addrConn is one end of a pipe that claims a remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// fakeListener hands out the connections sent on its channel.
type fakeListener struct {
	conns chan net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestLimitPerIP: a remote address holding MaxConnsPerIP connections gets
// its next one closed at once while another address is still served; once
// one of its connections closes it is served again. Loopback is not
// bounded.
func TestLimitPerIP(t *testing.T) {
	fl := &fakeListener{conns: make(chan net.Conn, 16)}
	ln := Edge{MaxConns: 10, MaxConnsPerIP: 2}.limit(fl)
	from := func(ip string) (mine, theirs net.Conn) {
		a, b := net.Pipe()
		return addrConn{Conn: a, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}, b
	}
	accept := func() net.Conn {
		t.Helper()
		got := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			got <- c
		}()
		select {
		case c := <-got:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("Accept did not return")
			return nil
		}
	}
	var held []net.Conn
	for range 2 {
		c, _ := from("10.0.0.1")
		fl.conns <- c
		held = append(held, accept())
	}
	over, overPeer := from("10.0.0.1")
	fl.conns <- over
	other, _ := from("10.0.0.2")
	fl.conns <- other
	if c := accept(); c.RemoteAddr().String() != "10.0.0.2:1234" {
		t.Fatalf("accepted %s, want the other address's connection", c.RemoteAddr())
	}
	// The third connection from 10.0.0.1 was closed: its peer reads EOF.
	overPeer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := overPeer.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection over the per-address bound is open")
	}
	held[0].Close()
	again, _ := from("10.0.0.1")
	fl.conns <- again
	if c := accept(); c.RemoteAddr().String() != "10.0.0.1:1234" {
		t.Fatalf("accepted %s after one closed", c.RemoteAddr())
	}
	for range 3 {
		c, _ := from("127.0.0.1")
		fl.conns <- c
		if c := accept(); c.RemoteAddr().String() != "127.0.0.1:1234" {
			t.Fatalf("loopback: accepted %s", c.RemoteAddr())
		}
	}
}
