// Package freeport picks loopback ports for servers that start later, in
// another process, away from the ports the kernel hands out on its own.
package freeport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Loopback picks n distinct free 127.0.0.1 addresses for servers that
// will listen on them later. They come from below the kernel's ephemeral range when
// it leaves room: a port from that range can be taken, between now and the
// server's start, by any program's outgoing connection or by a listener on
// port 0, and the server would then fail to bind.
func Loopback(n int) ([]string, error) {
	lo, hi := 10000, EphemeralLow()-1
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var out []string
	for tries := 0; len(out) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi-lo >= 1000 && tries < 50*n {
			addr = "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo+1))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, err
			}
			continue // taken; try another
		}
		held = append(held, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// EphemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func EphemeralLow() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(raw))
	if len(f) < 1 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return v
}
