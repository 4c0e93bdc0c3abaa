package bitcoin

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/txscript/v2"
)

// FuzzLastPush: lastPush agrees with txscript.PushedData on every script:
// the same count, the same last push, and an error on the same scripts.
func FuzzLastPush(f *testing.F) {
	for _, s := range [][]byte{
		{txscript.OP_RETURN, 3, 'i', 'd', '?'},
		{txscript.OP_RETURN, txscript.OP_0},
		{txscript.OP_RETURN, txscript.OP_1},
		{txscript.OP_RETURN, txscript.OP_PUSHDATA1, 2, 1, 2},
		{txscript.OP_RETURN, txscript.OP_PUSHDATA1, 5, 1},
		{0x47, 1, 2, 3},
		{},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		pushes, err := txscript.PushedData(script)
		data, n, ok := lastPush(script)
		if ok != (err == nil) {
			t.Fatalf("%x: ok %v, PushedData error %v", script, ok, err)
		}
		if !ok {
			return
		}
		if n != len(pushes) || n > 0 && !bytes.Equal(data, pushes[n-1]) {
			t.Fatalf("%x: %d pushes, last %x; PushedData %x", script, n, data, pushes)
		}
	})
}
