package host_test

import (
	"encoding/json"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/events"
)

// TestHostEvents: every call log record gets one "call" event with its
// outcome, gas, state root and consensus hash, in logging order; a reader
// resumes after the host restarts; a crash between a record and its event
// is repaired at the next start: the full history has each record once.
func TestHostEvents(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, host.Config{Dir: dir})
	u := newSigner(t)
	id := u.deploy(t, h, counter)
	for k := 1; k <= 3; k++ {
		u.add(t, h, id, k)
	}
	evs, cursor, err := h.Events().Read(0, 100, nil)
	if err != nil || len(evs) != 4 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	var last struct {
		Seq       uint64
		Result    json.RawMessage
		Gas       uint64
		StateRoot string `json:"state_root"`
		Consensus string
	}
	json.Unmarshal(evs[3].Data, &last)
	if evs[3].Kind != events.KindCall || evs[3].Contract != id.String() || last.Seq != 3 || string(last.Result) != "6" || last.Gas == 0 || last.StateRoot == "" || last.Consensus == "" {
		t.Fatalf("the last event: %+v %s", evs[3], evs[3].Data)
	}
	h.Close()

	// The last two records lose their events, as in a crash between the
	// two writes; the next start writes them again.
	if err := host.ForgetLastEvents(dir, id, 2); err != nil {
		t.Fatal(err)
	}
	h = openHost(t, host.Config{Dir: dir})
	defer h.Close()
	u.add(t, h, id, 4)
	rest, _, err := h.Events().Read(cursor-2, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := h.Events().Read(0, 100, nil)
	if len(all) != 5 {
		t.Fatalf("the history has %d events, want one per record (5)", len(all))
	}
	for i, e := range all {
		var d struct{ Seq uint64 }
		json.Unmarshal(e.Data, &d)
		if e.Seq != uint64(i+1) || d.Seq != uint64(i) {
			t.Fatalf("event %d: seq %d for record %d", i, e.Seq, d.Seq)
		}
	}
	if len(rest) != 3 || rest[0].Seq != cursor-1 {
		t.Fatalf("a reader resuming at %d read %+v", cursor-2, rest)
	}
}
