package btcrpc_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/vchain-dev/vchain/tape/bitcoin/btcrpc"
)

// Fetch a block's hash and then the raw block over btcd's websocket. The
// block's hex is decoded as the answer is read; each call may fail on its
// own (Result.Err) while the exchange succeeds.
func Example() {
	ctx := context.Background()
	c, err := btcrpc.DialWebsocket(ctx, btcrpc.Config{Host: "127.0.0.1:18334", User: "u", Pass: "p", NoTLS: true})
	if err != nil {
		log.Fatal(err) // no node there: the error names the address
	}
	defer c.Close()
	rs, err := c.Do(ctx, []btcrpc.Call{{Method: "getblockhash", Params: []any{1}}})
	if err != nil || rs[0].Err != nil {
		log.Fatal(err, rs[0].Err)
	}
	hash := rs[0].Value // the JSON string, quotes included, as the call is not Hex
	rs, err = c.Do(ctx, []btcrpc.Call{{Method: "getblock", Params: []any{unquote(hash), 0}, Hex: true}})
	if err != nil || rs[0].Err != nil {
		log.Fatal(err, rs[0].Err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(rs[0].Value)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.BlockHash(), len(b.Transactions))
}

// unquote strips the quotes of a JSON string without escapes.
func unquote(s []byte) string { return string(s[1 : len(s)-1]) }
