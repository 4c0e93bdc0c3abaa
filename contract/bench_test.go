package contract

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func forumProgram(tb testing.TB) *Program {
	tb.Helper()
	p, err := Compile(forumSource(tb), Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkForumAddPost measures pooled forum addPost calls (restore the
// snapshot, call, settle the promise, one state write, encode result and
// snapshot) from 1 and 2 goroutines sharing one Pool, and reports calls/s.
//
//	go test ./contract/ -run '^$' -bench ForumAddPost -cpu 1,2
func BenchmarkForumAddPost(b *testing.B) {
	p := forumProgram(b)
	st := newMemState()
	st.dirs["/topics"] = true
	st.dirs["/topics/1"] = true
	exports := []byte(`{"postCounter":41,"topicCounter":1}`)
	args := []byte(`[1,"hello world"]`)
	for _, par := range []int{1, 2} {
		b.Run("goroutines="+strconv.Itoa(par), func(b *testing.B) {
			pool := NewPool()
			var failed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for g := range par {
				n := b.N / par
				if g == 0 {
					n += b.N % par
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := Call{Method: "addPost", Args: args, Caller: "bob", Time: 1700000000000}
					for range n {
						if r := pool.Call(p, exports, st, c, Limits{}); r.Err != nil {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d calls failed", failed.Load())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
		})
	}
}

// BenchmarkFreshRuntime measures building a hardened runtime for the forum
// (what Program.Call and a Pool miss pay).
func BenchmarkFreshRuntime(b *testing.B) {
	p := forumProgram(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newInstance(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileForum measures Compile of the forum contract.
func BenchmarkCompileForum(b *testing.B) {
	src := forumSource(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
