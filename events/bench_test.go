package events_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/events"
)

// BenchmarkAppendWithStalledReaders measures a writer committing blocks
// of 100 events, alone and with 16 Server-Sent Events clients that stopped
// reading (100,000 events were sent to them first, so their sockets are
// full): stalled readers cost the writer nothing, as it neither waits for
// nor buffers for them.
//
//	go test ./events -bench AppendWithStalledReaders -benchtime 2000x
func BenchmarkAppendWithStalledReaders(b *testing.B) {
	for _, readers := range []int{0, 16} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			db, l := openLog(b, b.TempDir())
			defer db.Close()
			srv := httptest.NewServer(events.Handler(l))
			defer srv.Close()
			for i := 0; i < readers; i++ {
				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				c.(*net.TCPConn).SetReadBuffer(4096)
				// A stream request whose answer is never read.
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
			}
			batch := make([]events.Event, 100)
			for i := range batch {
				batch[i] = events.Event{Kind: "op", Data: []byte(`{"tx":"0000000000000000000000000000000000000000000000000000000000000000","op":"a typical serialized op of some length"}`)}
			}
			// Enough events that every reader's socket fills: from then
			// on they are stalled.
			for i := 0; i < 1000; i++ {
				commit(b, db, l, batch...)
			}
			time.Sleep(time.Second)
			b.ResetTimer()
			for b.Loop() {
				commit(b, db, l, batch...)
			}
		})
	}
	_ = http.MethodGet
}
