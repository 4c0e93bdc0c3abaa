package host

import (
	"testing"

	"github.com/vchain-dev/vchain/hyperlog"
	"pgregory.net/rapid"
)

// TestFairQueue checks fairQueue against a model, one FIFO per user:
// every call comes out once, each user's calls in their order; a take
// serves users in turn, so no user gets more than one call more than
// another user who still has calls waiting; and calls requeued go back in
// front of their users' calls.
func TestFairQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		q := newFairQueue()
		model := map[hyperlog.Hash][]*request{}
		total := 0
		nUsers := rapid.IntRange(1, 5).Draw(t, "users")
		userOf := func(i int) hyperlog.Hash { return hyperlog.Hash{byte(i)} }
		next := uint64(0)
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) {
				u := userOf(rapid.IntRange(0, nUsers-1).Draw(t, "user"))
				r := &request{user: u, index: next}
				next++
				q.push(r)
				model[u] = append(model[u], r)
				total++
			},
			"take": func(t *rapid.T) {
				max := rapid.IntRange(1, 8).Draw(t, "max")
				got := q.take(max)
				if want := min(max, total); len(got) != want {
					t.Fatalf("took %d of %d waiting with max %d", len(got), total, max)
				}
				served := map[hyperlog.Hash]int{}
				for _, r := range got {
					if len(model[r.user]) == 0 || model[r.user][0] != r {
						t.Fatalf("call %d of user %x out of order", r.index, r.user[0])
					}
					model[r.user] = model[r.user][1:]
					served[r.user]++
					total--
				}
				for v, left := range model {
					if len(left) == 0 {
						continue
					}
					for u, n := range served {
						if n > served[v]+1 {
							t.Fatalf("user %x got %d calls while user %x, still waiting, got %d", u[0], n, v[0], served[v])
						}
					}
				}
				// Put a suffix back, as a batch that ran out of gas does.
				k := rapid.IntRange(0, len(got)).Draw(t, "runs")
				rest := got[k:]
				q.requeue(rest)
				q.done(got[:k])
				for i := len(rest) - 1; i >= 0; i-- {
					r := rest[i]
					model[r.user] = append([]*request{r}, model[r.user]...)
					total++
				}
			},
		})
		if q.len() != total {
			t.Fatalf("len %d, model %d", q.len(), total)
		}
		for u, rs := range model {
			if q.queued(u) != len(rs) {
				t.Fatalf("user %x: %d queued, model %d", u[0], q.queued(u), len(rs))
			}
		}
		held := q.take(total + 1)
		if q.len() != total {
			t.Fatalf("calls taken and not done must count: len %d, want %d", q.len(), total)
		}
		q.done(held)
		if q.len() != 0 {
			t.Fatalf("len %d after everything is done", q.len())
		}
		for _, r := range held {
			if model[r.user][0] != r {
				t.Fatalf("draining: call %d of user %x out of order", r.index, r.user[0])
			}
			model[r.user] = model[r.user][1:]
		}
	})
}
