package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds of the HTTP side.
const (
	// MaxWait bounds a long poll.
	MaxWait = 30 * time.Second
	// MaxPage bounds the events of one answer.
	MaxPage = 1000
	// MaxStreamLag is how far behind the newest event a stream may fall
	// before it is told it lagged and closed.
	MaxStreamLag = 100_000
	// keepalive is the interval of SSE comment lines on a quiet stream.
	keepalive = 15 * time.Second
	// writeTimeout bounds one write to a stream's client.
	writeTimeout = 15 * time.Second
)

// Page is the answer of a long poll.
type Page struct {
	Events []Event `json:"events"`
	// Next is the cursor to ask after next time.
	Next string `json:"next"`
}

// Handler serves the log at GET /v1/events:
//
//	?after=CURSOR   events after this one (default: from the first; a
//	                Last-Event-ID header wins)
//	&wait=DURATION  long poll: wait up to this long (at most 30 s) for one
//	&kind=K1,K2 &app=A &contract=C &name=N   filters
//	&max=N          at most N events (at most 1000)
//
// With Accept: text/event-stream it streams Server-Sent Events instead:
// each event's id is its cursor, so a browser reconnecting with
// Last-Event-ID resumes after it. A stream that falls more than
// MaxStreamLag events behind gets a "lagged" event naming the cursor to
// resume from, and is closed.
func Handler(l *Log) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		// A browser reconnecting sends the last id it saw: that wins over
		// the ?after the page first asked with.
		cur := q.Get("after")
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			cur = id
		}
		after, err := ParseCursor(cur)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		f := &Filter{App: q.Get("app"), Contract: q.Get("contract"), Name: q.Get("name")}
		if k := q.Get("kind"); k != "" {
			f.Kinds = strings.Split(k, ",")
		}
		max := MaxPage
		if v := q.Get("max"); v != "" {
			if max, err = strconv.Atoi(v); err != nil || max < 1 {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("max=%q: want a positive number", v))
				return
			}
			max = min(max, MaxPage)
		}
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			stream(w, r, l, after, f)
			return
		}
		var wait time.Duration
		if v := q.Get("wait"); v != "" {
			if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("wait=%q: want a duration such as 10s", v))
				return
			}
			wait = min(wait, MaxWait)
		}
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		for {
			tip, more := l.Tip()
			evs, next, err := l.Read(after, max, f)
			if err != nil {
				httpError(w, http.StatusInternalServerError, err.Error())
				return
			}
			if len(evs) > 0 || next >= tip && wait == 0 {
				writeJSON(w, Page{Events: nonNil(evs), Next: strconv.FormatUint(next, 10)})
				return
			}
			after = next
			if next < tip {
				continue // the filter skipped a full scan's worth: read on
			}
			select {
			case <-more:
			case <-deadline.C:
				writeJSON(w, Page{Events: []Event{}, Next: strconv.FormatUint(after, 10)})
				return
			case <-r.Context().Done():
				return
			}
		}
	}
}

func nonNil(evs []Event) []Event {
	if evs == nil {
		return []Event{}
	}
	return evs
}

func stream(w http.ResponseWriter, r *http.Request, l *Log, after uint64, f *Filter) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": events\n\n") {
		return
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		tip, more := l.Tip()
		if tip > after && tip-after > MaxStreamLag {
			lag, _ := json.Marshal(Event{Seq: after, Kind: KindLagged, Data: json.RawMessage(fmt.Sprintf(`{"resume_after":"%d","behind":%d}`, after, tip-after))})
			write(fmt.Sprintf("event: %s\ndata: %s\n\n", KindLagged, lag))
			return
		}
		evs, next, err := l.Read(after, MaxPage, f)
		if err != nil {
			return
		}
		for i := range evs {
			raw := evs[i].raw
			if raw == nil {
				raw, _ = json.Marshal(&evs[i])
			}
			if !write(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", evs[i].Seq, evs[i].Kind, raw)) {
				return
			}
		}
		after = next
		if next < tip {
			continue
		}
		select {
		case <-more:
		case <-tick.C:
			if !write(": keepalive\n\n") {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
