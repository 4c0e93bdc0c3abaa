package host_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

const spinCode = `
exports.spin = () => { for (;;) {} }
exports.ping = () => 'pong'
`

// cheapLimits make a call that spins to its gas limit take a few
// milliseconds, not a tenth of a second.
func cheapLimits() contract.Limits {
	l := contract.DefaultLimits()
	l.Gas = 200_000
	return l
}

// calls returns n call entries of method on id.
func calls(t testing.TB, id host.ContractID, method string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = entry(t, host.UserEntry{Type: host.TypeCall, Contract: id.String(), Method: method, Args: json.RawMessage("[]")})
	}
	return out
}

// TestQueueIsFairAcrossUsers: four users queue 64 expensive calls each at
// one contract; a fifth user's call, submitted after them, runs after at
// most a few of theirs (a FIFO queue would run all 256 first) and is
// answered without waiting for them.
func TestQueueIsFairAcrossUsers(t *testing.T) {
	h := openHost(t, host.Config{Dir: t.TempDir(), Limits: cheapLimits()})
	defer h.Close()
	owner := newSigner(t)
	id := owner.deploy(t, h, spinCode)

	var wg sync.WaitGroup
	hammers := make([]*signer, 4)
	for i := range hammers {
		hammers[i] = newSigner(t)
		wg.Add(1)
		go func(s *signer) {
			defer wg.Done()
			s.submit(t, h, calls(t, id, "spin", host.DefaultMaxQueuedPerUser)...)
		}(hammers[i])
	}
	// Wait until the hammers' calls are queued.
	for deadline := time.Now().Add(30 * time.Second); ; {
		queued := 0
		for _, s := range hammers {
			queued += host.QueuedCalls(h, id, s.pub)
		}
		if queued >= 3*host.DefaultMaxQueuedPerUser {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls queued", queued)
		}
		time.Sleep(time.Millisecond)
	}
	info, err := h.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	before := info.Head.Length
	start := time.Now()
	victim := newSigner(t)
	a := victim.submit(t, h, calls(t, id, "ping", 1)...)
	latency := time.Since(start)
	ran := a[0].Record.Seq - before
	t.Logf("the victim's call ran after %d others, answered in %v", ran, latency)
	// Executing batch (2 calls of BatchGas), one being logged, then one
	// call per hammer ahead in turn: a dozen at most, not 256.
	if ran > 16 {
		t.Fatalf("the victim's call ran after %d calls queued by others", ran)
	}
	wg.Wait()
}

// TestQueueAdmission: a user with calls waiting cannot queue more than
// MaxQueuedPerUser at one contract, nor anyone beyond MaxQueued: the host
// answers ErrBusy (HTTP 503) and writes nothing, and the same request
// succeeds once the queue has drained. A request with more calls than a
// user may ever queue is ErrTooLarge.
func TestQueueAdmission(t *testing.T) {
	h := openHost(t, host.Config{Dir: t.TempDir(), MaxQueuedPerUser: 64, MaxQueued: 100})
	defer h.Close()
	owner := newSigner(t)
	id := owner.deploy(t, h, spinCode)

	if _, err := owner.trySubmit(h, calls(t, id, "ping", 65)...); codeOf(err) != host.ErrTooLarge {
		t.Fatalf("65 calls in one request: %v, want ErrTooLarge", err)
	}
	a, b := newSigner(t), newSigner(t)
	// The goroutine advances a when its calls are taken; until it is done,
	// this one uses a copy of a as it was (the race detector saw the two
	// touch a without an order between them).
	before := *a
	before.roots = append([]hyperlog.Node(nil), a.roots...)
	done := make(chan error, 1)
	go func() {
		_, err := a.trySubmit(h, calls(t, id, "spin", 64)...)
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); host.QueuedCalls(h, id, before.pub) < 56; {
		select {
		case err := <-done:
			t.Fatalf("a's 64 calls: %v before they were seen queued", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("a's calls were not queued")
		}
		time.Sleep(time.Millisecond)
	}
	// a has 56 or more of 64 waiting (each takes a call's full gas, two
	// per batch): 16 more are over its share, and b's 50 over the total.
	lengthA := userLength(t, h, before.pub)
	if _, err := before.trySubmit(h, calls(t, id, "ping", 16)...); codeOf(err) != host.ErrBusy || !contains(err.Error(), "calls waiting at contract") {
		t.Fatalf("a's 16 more calls: %v, want ErrBusy naming the calls waiting", err)
	}
	if _, err := b.trySubmit(h, calls(t, id, "ping", 50)...); codeOf(err) != host.ErrBusy || !contains(err.Error(), "calls waiting (at most 100)") {
		t.Fatalf("b's 50 calls: %v, want ErrBusy naming the contract's queue", err)
	}
	if after := userLength(t, h, before.pub); after != lengthA {
		t.Fatalf("a refused request changed a's log: %d entries, then %d", lengthA, after)
	}
	if n := userLength(t, h, b.pub); n != 0 {
		t.Fatalf("a refused request from a new user created its log (%d entries)", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := a.trySubmit(h, calls(t, id, "ping", 16)...); err != nil {
		t.Fatalf("a's 16 calls once the queue drained: %v", err)
	}
	if _, err := b.trySubmit(h, calls(t, id, "ping", 50)...); err != nil {
		t.Fatalf("b's 50 calls once the queue drained: %v", err)
	}
}
