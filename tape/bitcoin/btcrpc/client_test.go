package btcrpc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/gorilla/websocket"

	"github.com/vchain-dev/vchain/internal/btcdtest"
	"github.com/vchain-dev/vchain/tape/bitcoin/btcrpc"
)

// TestAgainstBtcd: over the websocket and over batched HTTP, the client
// returns what btcd's rpcclient returns, reports btcd's errors per call,
// and fails clearly on a bad password or a closed connection.
func TestAgainstBtcd(t *testing.T) {
	n := btcdtest.Start(t)
	if _, err := n.Client.Generate(5); err != nil {
		t.Fatal(err)
	}
	cfg := btcrpc.Config{Host: n.RPC, User: n.User, Pass: n.Pass, NoTLS: true}
	ctx := context.Background()
	ws, err := btcrpc.DialWebsocket(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hc, err := btcrpc.NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	for name, c := range map[string]*btcrpc.Client{"websocket": ws, "http": hc} {
		t.Run(name, func(t *testing.T) {
			var calls []btcrpc.Call
			for h := int64(0); h <= 6; h++ { // 6 is above the tip
				calls = append(calls, btcrpc.Call{Method: "getblockhash", Params: []any{h}, Hex: true})
			}
			calls = append(calls, btcrpc.Call{Method: "getblockcount"})
			rs, err := c.Do(ctx, calls)
			if err != nil {
				t.Fatal(err)
			}
			for h := int64(0); h <= 5; h++ {
				want, err := n.Client.GetBlockHash(h)
				if err != nil {
					t.Fatal(err)
				}
				if rs[h].Err != nil || hex.EncodeToString(rs[h].Value) != want.String() {
					t.Fatalf("getblockhash %d: %x %v, want %s", h, rs[h].Value, rs[h].Err, want)
				}
			}
			var re *btcrpc.RPCError
			if !errors.As(rs[6].Err, &re) || !strings.Contains(re.Message, "out of range") {
				t.Fatalf("getblockhash above the tip: %v", rs[6].Err)
			}
			if rs[7].Err != nil || string(rs[7].Value) != "5" {
				t.Fatalf("getblockcount: %s %v", rs[7].Value, rs[7].Err)
			}
			// Raw blocks decode to what rpcclient decodes.
			hash, _ := n.Client.GetBlockHash(3)
			want, err := n.Client.GetBlock(hash)
			if err != nil {
				t.Fatal(err)
			}
			rs, err = c.Do(ctx, []btcrpc.Call{{Method: "getblock", Params: []any{hash.String(), 0}, Hex: true}})
			if err != nil || rs[0].Err != nil {
				t.Fatal(err, rs[0].Err)
			}
			var got wire.MsgBlock
			if err := got.Deserialize(bytes.NewReader(rs[0].Value)); err != nil {
				t.Fatal(err)
			}
			if got.BlockHash() != want.BlockHash() || got.Transactions[0].TxHash() != want.Transactions[0].TxHash() {
				t.Fatal("getblock: a different block than rpcclient's")
			}
			// A transaction unknown to the index is the node's error, for that call only.
			rs, err = c.Do(ctx, []btcrpc.Call{
				{Method: "getrawtransaction", Params: []any{chainhash.Hash{1}.String(), 0}, Hex: true},
				{Method: "getrawtransaction", Params: []any{want.Transactions[0].TxHash().String(), 0}, Hex: true},
			})
			if err != nil || !errors.As(rs[0].Err, &re) || rs[1].Err != nil {
				t.Fatalf("getrawtransaction: %v, %v, %v", err, rs[0].Err, rs[1].Err)
			}
		})
	}

	bad := cfg
	bad.Pass = "wrong"
	if _, err := btcrpc.DialWebsocket(ctx, bad); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("websocket with a wrong password: %v", err)
	}
	hb, _ := btcrpc.NewHTTP(bad)
	if _, err := hb.Do(ctx, []btcrpc.Call{{Method: "getblockcount"}}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("http with a wrong password: %v", err)
	}

	// A cancelled context ends the wait; a closed connection ends calls.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ws.Do(cctx, []btcrpc.Call{{Method: "getblockcount"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	ws.Close()
	if _, err := ws.Do(ctx, []btcrpc.Call{{Method: "getblockcount"}}); !errors.Is(err, btcrpc.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestUnreachable: a node that is not there is an error naming it.
func TestUnreachable(t *testing.T) {
	cfg := btcrpc.Config{Host: "127.0.0.1:1", User: "u", Pass: "p", NoTLS: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := btcrpc.DialWebsocket(ctx, cfg); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("websocket: %v", err)
	}
	hc, _ := btcrpc.NewHTTP(cfg)
	if _, err := hc.Do(ctx, []btcrpc.Call{{Method: "getblockcount"}}); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("http: %v", err)
	}
}

// TestSilentNodeTimesOut: a websocket whose node never answers fails the
// call after Timeout and is closed, so its user connects again instead
// of waiting for ever; a node that sends more than a block's worth in one
// message is cut off.
func TestSilentNodeTimesOut(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if bytes.Contains(msg, []byte("flood")) {
				c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("0"), 65<<20))
			}
		}
	}))
	defer srv.Close()
	cfg := btcrpc.Config{Host: strings.TrimPrefix(srv.URL, "http://"), NoTLS: true, Timeout: 200 * time.Millisecond}
	ctx := context.Background()
	c, err := btcrpc.DialWebsocket(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Do(ctx, []btcrpc.Call{{Method: "getblockcount"}}); !errors.Is(err, btcrpc.ErrClosed) || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("a silent node: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	if _, err := c.Do(ctx, []btcrpc.Call{{Method: "getblockcount"}}); !errors.Is(err, btcrpc.ErrClosed) {
		t.Fatalf("after the timeout: %v", err)
	}
	c.Close()

	cfg.Timeout = 20 * time.Second
	c, err = btcrpc.DialWebsocket(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(ctx, []btcrpc.Call{{Method: "flood"}}); !errors.Is(err, btcrpc.ErrClosed) {
		t.Fatalf("an answer over the limit: %v", err)
	}
}
