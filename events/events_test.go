package events_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/events"
	"github.com/vchain-dev/vchain/store"
)

func openLog(t testing.TB, dir string) (*store.DB, *events.Log) {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := events.Open(db, []byte("v/"))
	if err != nil {
		t.Fatal(err)
	}
	return db, l
}

// commit appends evs in one batch and publishes them.
func commit(t testing.TB, db *store.DB, l *events.Log, evs ...events.Event) {
	t.Helper()
	txn := db.NewTxn()
	if err := l.Append(txn, evs...); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(false); err != nil {
		t.Fatal(err)
	}
	l.Publish()
}

// TestLogNumbersAndResumes: events are numbered from 1 across batches and
// restarts; an aborted batch leaves no gap and no event; a reader resumes
// after any cursor with nothing lost or repeated; filters skip.
func TestLogNumbersAndResumes(t *testing.T) {
	dir := t.TempDir()
	db, l := openLog(t, dir)
	commit(t, db, l, events.Event{Kind: "block", Height: 1}, events.Event{Kind: "op", Height: 1, Name: "a"})
	txn := db.NewTxn()
	l.Append(txn, events.Event{Kind: "block", Height: 2})
	txn.Discard()
	l.Abort()
	commit(t, db, l, events.Event{Kind: "block", Height: 2}, events.Event{Kind: "op", Height: 2, Name: "b"})
	db.Close()
	db, l = openLog(t, dir)
	defer db.Close()
	commit(t, db, l, events.Event{Kind: "revert", Height: 1})
	all, next, err := l.Read(0, 100, nil)
	if err != nil || len(all) != 5 || next != 5 {
		t.Fatalf("read all: %d events, next %d, %v", len(all), next, err)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if all[2].Height != 2 || all[4].Kind != "revert" {
		t.Fatalf("events: %+v", all)
	}
	for after := uint64(0); after <= 5; after++ {
		var got []uint64
		for cur := after; ; {
			evs, next, err := l.Read(cur, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				got = append(got, e.Seq)
			}
			cur = next
		}
		if len(got) != int(5-after) || len(got) > 0 && got[0] != after+1 {
			t.Fatalf("after %d: %v", after, got)
		}
	}
	ops, next, _ := l.Read(0, 100, &events.Filter{Kinds: []string{"op"}, Name: "b"})
	if len(ops) != 1 || ops[0].Seq != 4 || next != 5 {
		t.Fatalf("filtered: %+v next %d", ops, next)
	}
}

// TestLongPollAndStream: a long poll waits for the next event; a stream
// sends each event with its cursor as id and resumes after Last-Event-ID;
// a stream too far behind is told where to resume and closed.
func TestLongPollAndStream(t *testing.T) {
	db, l := openLog(t, t.TempDir())
	defer db.Close()
	srv := httptest.NewServer(events.Handler(l))
	defer srv.Close()
	commit(t, db, l, events.Event{Kind: "block", Height: 1})

	got := make(chan events.Page, 1)
	go func() {
		resp, err := http.Get(srv.URL + "?after=1&wait=10s")
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var p events.Page
		json.NewDecoder(resp.Body).Decode(&p)
		got <- p
	}()
	time.Sleep(100 * time.Millisecond)
	commit(t, db, l, events.Event{Kind: "block", Height: 2})
	select {
	case p := <-got:
		if len(p.Events) != 1 || p.Events[0].Seq != 2 || p.Next != "2" {
			t.Fatalf("long poll: %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return the new event")
	}
	resp, _ := http.Get(srv.URL + "?after=x")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad cursor: %s", resp.Status)
	}

	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := func() (id, data string) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && data != "":
				return id, data
			}
		}
		t.Fatal("the stream ended")
		return
	}
	if id, _ := next(); id != "2" {
		t.Fatalf("resumed at %s, want 2", id)
	}
	commit(t, db, l, events.Event{Kind: "block", Height: 3})
	if id, data := next(); id != "3" || !strings.Contains(data, `"height":3`) {
		t.Fatalf("live: %s %s", id, data)
	}

	// Far behind: lagged, then closed.
	many := make([]events.Event, events.MaxStreamLag+10)
	for i := range many {
		many[i] = events.Event{Kind: "op"}
	}
	commit(t, db, l, many...)
	req.Header.Set("Last-Event-ID", "3")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	sc = bufio.NewScanner(resp2.Body)
	_, data := next()
	if !strings.Contains(data, `"kind":"lagged"`) || !strings.Contains(data, `"resume_after":"3"`) {
		t.Fatalf("far behind: %s", data)
	}
	for sc.Scan() { // the stream ends
		if strings.HasPrefix(sc.Text(), "data:") {
			t.Fatalf("the stream went on after lagged: %q", sc.Text())
		}
	}
}

// TestBlockAndSubjectIndexes: a height finds its block's events, the
// replacement's after a reorg; events that name a name or a contract are
// listed under it, newest first, and the reverted ones are told apart.
func TestBlockAndSubjectIndexes(t *testing.T) {
	db, l := openLog(t, t.TempDir())
	defer db.Close()
	block := func(h int64, names ...string) {
		evs := []events.Event{{Kind: events.KindBlock, Height: h}}
		for _, n := range names {
			evs = append(evs, events.Event{Kind: events.KindOp, Height: h, Name: n})
		}
		evs = append(evs, events.Event{Kind: events.KindRejected, Height: h})
		commit(t, db, l, evs...)
	}
	block(1, "alice", "bob")
	block(2, "alice")
	block(3, "carol", "alice")
	commit(t, db, l, events.Event{Kind: events.KindRevert, Height: 1})
	block(2, "bob") // the replacement of 2; 3 is gone for now

	evs, total, err := l.BlockEvents(2, 100)
	if err != nil || total != 3 || len(evs) != 3 || evs[0].Kind != events.KindBlock || evs[1].Name != "bob" || evs[2].Kind != events.KindRejected {
		t.Fatalf("block 2: %d events of %d, %+v, %v", len(evs), total, evs, err)
	}
	if evs, total, _ := l.BlockEvents(1, 2); total != 4 || len(evs) != 2 {
		t.Fatalf("block 1 capped at 2: %d of %d", len(evs), total)
	}
	if _, total, err := l.BlockEvents(9, 10); total != 0 || err != nil {
		t.Fatalf("height 9: %d, %v", total, err)
	}

	hist, more, err := l.Subject("alice", false, 10)
	if err != nil || more || len(hist) != 3 {
		t.Fatalf("alice: %+v more=%v %v", hist, more, err)
	}
	// The op at 3 still counts as current: no block took height 3 since
	// the revert, and the caller's tip (2) is what says it is gone.
	wantHeights, wantCurrent := []int64{3, 2, 1}, []bool{true, false, true}
	for i, e := range hist {
		cur, err := l.Current(&e)
		if err != nil || e.Height != wantHeights[i] || cur != wantCurrent[i] {
			t.Errorf("alice's event %d: height %d current %v (%v), want %d %v", i, e.Height, cur, err, wantHeights[i], wantCurrent[i])
		}
	}
	block(3) // a new block 3 replaces the old one's entry

	if cur, _ := l.Current(&hist[0]); cur {
		t.Error("the reverted op at 3 counts as current after a new block 3")
	}
	if hist, more, _ := l.Subject("alice", false, 2); len(hist) != 2 || !more || hist[0].Height != 3 || hist[1].Height != 2 {
		t.Fatalf("alice, newest 2: %+v more=%v", hist, more)
	}
	if hist, _, _ := l.Subject("ali", false, 10); len(hist) != 0 {
		t.Fatalf("a prefix of a name matched: %+v", hist)
	}
	// The indexes survive a restart.
	l2, err := events.Open(db, []byte("v/"))
	if err != nil {
		t.Fatal(err)
	}
	if hist, _, _ := l2.Subject("bob", false, 10); len(hist) != 2 || hist[0].Height != 2 {
		t.Fatalf("bob after reopening: %+v", hist)
	}
}
