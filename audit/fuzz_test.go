package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/hyperlog"
)

func cloneLog(l audit.Log) audit.Log {
	out := audit.Log{Head: l.Head}
	out.Head.Signature = append(hyperlog.Bytes(nil), l.Head.Signature...)
	out.Head.Manifest = append(hyperlog.Bytes(nil), l.Head.Manifest...)
	out.Head.Roots = append([]hyperlog.Node(nil), l.Head.Roots...)
	if l.Head.Roots == nil {
		out.Head.Roots = nil
	}
	for _, e := range l.Entries {
		out.Entries = append(out.Entries, append([]byte(nil), e...))
	}
	return out
}

// FuzzVerify plays a hostile host: its answers (call log entries re-signed
// with the contract's key, flipped bytes in any entry or head of any log)
// must never make Verify panic, and must never pass unless they are the
// genuine logs. Every call in the world is acknowledged, so the genuine
// logs are the only ones that can pass.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	ev, err := audit.Fetch(context.Background(), w.c, w.id)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := audit.Verify(ev, audit.Options{}); err != nil {
		f.Fatalf("the genuine evidence fails: %v", err)
	}
	users := []string{w.bob.Key(), w.alice.Key()}
	genuine := bytes.Join(ev.CallLog.Entries, []byte("\n"))
	f.Add(uint8(0), uint32(0), byte(0), genuine)
	f.Add(uint8(0), uint32(0), byte(0), genuine[:len(genuine)-1])
	f.Add(uint8(0), uint32(0), byte(0), []byte(`{"type":"create","seq":0}`))
	f.Add(uint8(1), uint32(1234), byte(1), []byte(nil))
	f.Add(uint8(5), uint32(99), byte(0x80), []byte(nil))
	f.Add(uint8(2), uint32(7), byte(3), []byte(nil))
	f.Add(uint8(6), uint32(70), byte(1), []byte(nil))
	f.Add(uint8(3), uint32(0), byte(0), []byte(`{"type":"call"}`))
	f.Fuzz(func(t *testing.T, sel uint8, pos uint32, x byte, data []byte) {
		e := &audit.Evidence{Contract: ev.Contract, CallLog: cloneLog(ev.CallLog), Users: map[string]audit.Log{}}
		for k, l := range ev.Users {
			e.Users[k] = cloneLog(l)
		}
		// which log: the call log or a user's
		pick := func() (*audit.Log, string) {
			i := int(sel>>2) % (1 + len(users))
			if i == 0 {
				return &e.CallLog, ""
			}
			l := e.Users[users[i-1]]
			return &l, users[i-1]
		}
		put := func(l *audit.Log, user string) {
			if user != "" {
				e.Users[user] = *l
			}
		}
		changed := false
		switch sel % 4 {
		case 0: // another call log, signed with the contract's key
			var entries [][]byte
			if len(data) > 0 {
				entries = bytes.Split(data, []byte("\n"))
			}
			e.CallLog.Entries = entries
			id := hyperlog.NewIdentity(hyperlog.ModeManifest, w.contract.Public().(ed25519.PublicKey))
			e.CallLog.Head = id.SignHead(w.contract, hyperlog.TreeHash(hyperlog.RootsOf(entries)), uint64(len(entries)), 0)
			changed = !bytes.Equal(data, genuine)
		case 1: // a flipped byte in an entry
			l, user := pick()
			if len(l.Entries) == 0 || x == 0 {
				return
			}
			ent := l.Entries[int(pos)%len(l.Entries)]
			if len(ent) == 0 {
				return
			}
			ent[int(pos/uint32(len(l.Entries)))%len(ent)] ^= x
			put(l, user)
			changed = true
		case 2: // a changed head
			l, user := pick()
			switch pos % 4 {
			case 0:
				if len(l.Head.Signature) == 0 || x == 0 {
					return
				}
				orig, _ := l.Head.RawSignature()
				at := bytes.Index(l.Head.Signature, orig)
				i := int(pos/4) % len(l.Head.Signature)
				l.Head.Signature[i] ^= x
				if i < at || i >= at+len(orig) {
					// Outside the Ed25519 signature itself, the multisig
					// encoding may have other forms of the same signature
					// (hyperlog accepts a patch count with no patch): the
					// signed content is unchanged, so passing is fine.
					put(l, user)
					_, _ = audit.Verify(e, audit.Options{})
					return
				}
			case 1:
				if x == 0 {
					return
				}
				l.Head.TreeHash[int(pos/4)%len(l.Head.TreeHash)] ^= x
			case 2:
				if x == 0 {
					return
				}
				l.Head.Length += uint64(x)
			case 3:
				if len(l.Head.Manifest) == 0 || x == 0 {
					return
				}
				l.Head.Manifest[int(pos/4)%len(l.Head.Manifest)] ^= x
			}
			put(l, user)
			changed = true
		case 3: // arbitrary entries under a user's genuine head
			l, user := pick()
			if user == "" {
				return
			}
			var entries [][]byte
			if len(data) > 0 {
				entries = bytes.Split(data, []byte("\n"))
			}
			changed = len(entries) != len(l.Entries)
			for i := range entries {
				changed = changed || !bytes.Equal(entries[i], l.Entries[i])
			}
			l.Entries = entries
			put(l, user)
		}
		_, err := audit.Verify(e, audit.Options{})
		if changed && err == nil {
			t.Fatalf("forged evidence passed (mode %d)", sel%4)
		}
		if !changed && err != nil {
			t.Fatalf("genuine evidence fails: %v", err)
		}
	})
}
