package sim

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	seeds    = flag.Int("seeds", 1000, "random real-chain schedules to simulate")
	strSeeds = flag.Int("strseeds", 1000, "random schedules with string bodies and MAC signatures")
	seed     = flag.Int64("seed", 0, "one seed to replay with its full trace (real chain; with -strings, the string mode)")
	strMode  = flag.Bool("strings", false, "with -seed: replay the string mode's schedule")
)

// randomConfig draws a run's faults from its seed. With the real chain it
// also draws the term length and planned restarts: every node at once,
// and single nodes at points of storing a block, mostly at term
// boundaries.
func randomConfig(seed int64, real bool) Config {
	r := seed
	pick := func(n int64) int64 { r = r*6364136223846793005 + 1442695040888963407; return int64(uint64(r)>>33) % n }
	n := 4
	if pick(4) == 0 {
		n = 7
	}
	f := (n - 1) / 3
	cfg := Config{Seed: seed, Validators: n, Proposers: 4, Heights: 6, Period: 100, Timeout: 200, Delta: 20,
		GST: 500 + pick(3000), Drop: float64(pick(40)) / 100, Dup: float64(pick(20)) / 100,
		Crashes: pick(3) == 0, Partitions: pick(4) == 0,
		Byzantine: map[int]Behaviour{}, Proposer: map[int]ProposerBehaviour{}}
	for i := int64(0); i < pick(int64(f)+1); i++ {
		cfg.Byzantine[int(pick(int64(n)))] = Behaviour(1 + pick(5))
	}
	for p := 0; p < cfg.Proposers; p++ {
		if pick(3) == 0 {
			cfg.Proposer[p] = ProposerBehaviour(1 + pick(3))
		}
	}
	if !real {
		return cfg
	}
	cfg.Chain = true
	cfg.CrashAllAnywhere = true
	cfg.Heights = 8
	cfg.ViewLen = int(1 + pick(2))
	term := uint64(cfg.Proposers * cfg.ViewLen)
	var boundaries []uint64 // last and first heights of terms
	for h := uint64(1); h <= cfg.Heights; h++ {
		if h%term == 0 || (h-1)%term == 0 {
			boundaries = append(boundaries, h)
		}
	}
	nodes := int64(n + cfg.Proposers + 1)
	down := func() int64 { return 1 + pick(3*cfg.Timeout) }
	if pick(4) == 0 {
		cfg.Restarts = append(cfg.Restarts, Restart{All: true, At: pick(cfg.GST + 1000), Down: down()})
	}
	points := []CrashPoint{BeforePersist, BeforeStore, BeforeSend, BeforeAdvance}
	if pick(2) == 0 {
		for i := int64(0); i <= pick(3); i++ {
			rs := Restart{Node: int(pick(nodes)), All: pick(4) == 0, Point: points[pick(int64(len(points)))], Down: down()}
			if pick(3) == 0 {
				rs.Height = uint64(1 + pick(int64(cfg.Heights)))
			} else {
				rs.Height = boundaries[pick(int64(len(boundaries)))]
			}
			cfg.Restarts = append(cfg.Restarts, rs)
		}
	}
	return cfg
}

func describe(c Config) string {
	s := fmt.Sprintf("seed=%d n=%d GST=%d drop=%.2f dup=%.2f crashes=%v partitions=%v byzantine=%v proposers=%v",
		c.Seed, c.Validators, c.GST, c.Drop, c.Dup, c.Crashes, c.Partitions, c.Byzantine, c.Proposer)
	if c.Chain {
		s += fmt.Sprintf(" chain: term=%d heights=%d restarts=%v", c.Proposers*c.ViewLen, c.Heights, c.Restarts)
	}
	if c.Break != NoFault {
		s += fmt.Sprintf(" break=%v", c.Break)
	}
	return s
}

// runSeeds runs count random schedules, on as many goroutines as there
// are CPUs (each run is a function of its seed), and fails on the lowest
// seed with a violation, printing the schedule and the end of its trace.
func runSeeds(t *testing.T, count int, real bool) {
	start := time.Now()
	stats := make([]Stats, count+1)
	var (
		mu      sync.Mutex
		next    = int64(1)
		failed  = int64(count + 1) // the lowest failing seed
		failure string
		wg      sync.WaitGroup
	)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				seed := next
				next++
				stop := seed > int64(count) || seed > failed
				mu.Unlock()
				if stop {
					return
				}
				cfg := randomConfig(seed, real)
				s, err := New(cfg)
				if err == nil {
					err = s.Run()
				}
				if err == nil {
					stats[seed] = s.Stats
					continue
				}
				tr := s.Trace()
				if len(tr) > 300 {
					tr = tr[len(tr)-300:]
				}
				replay := fmt.Sprintf("go test -run TestSeed ./dpor/sim -args -seed %d", seed)
				if !real {
					replay += " -strings"
				}
				msg := fmt.Sprintf("%s\n%v\nreplay: %s\nlast events:\n%s", describe(cfg), err, replay, strings.Join(tr, "\n"))
				mu.Lock()
				if seed < failed {
					failed, failure = seed, msg
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failure != "" {
		t.Fatal(failure)
	}
	var total Stats
	for _, st := range stats {
		total.Impeached += st.Impeached
		total.MaxRound = max(total.MaxRound, st.MaxRound)
		total.Restarts += st.Restarts
		total.Txs += st.Txs
		total.Rejected += st.Rejected
		total.Failed += st.Failed
		total.CrashAlls += st.CrashAlls
		total.BoundaryCrashes += st.BoundaryCrashes
		for i, c := range st.PointCrashes {
			total.PointCrashes[i] += c
		}
	}
	t.Logf("%d schedules in %v: %d impeach blocks, highest round %d", count, time.Since(start).Round(time.Millisecond), total.Impeached, total.MaxRound)
	if real {
		var points []string
		for p, c := range total.PointCrashes[1:] {
			points = append(points, fmt.Sprintf("%v %d", CrashPoint(p+1), c))
		}
		t.Logf("%d restarts: every node at once %d times; crashes at a point of storing a block: %s (%d at term boundaries)",
			total.Restarts, total.CrashAlls, strings.Join(points, ", "), total.BoundaryCrashes)
		t.Logf("%d transactions final (%d failed when they ran), %d left out by proposers", total.Txs, total.Failed, total.Rejected)
	}
}

// TestRandomSchedules runs -seeds random fault schedules (1,000 by
// default) on the real chain, with restarts of single nodes and of every
// node, and checks safety after every step and liveness at the end. A
// failure prints the seed and the run's trace; replay it with
// -run TestSeed -args -seed N.
func TestRandomSchedules(t *testing.T) { runSeeds(t, *seeds, true) }

// TestRandomSchedulesStrings runs -strseeds random schedules with string
// bodies and MAC signatures (cheap: more heights of consensus per second).
func TestRandomSchedulesStrings(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	runSeeds(t, *strSeeds, false)
}

// TestSeed replays one seed (-seed N) and prints its whole trace.
func TestSeed(t *testing.T) {
	if *seed == 0 {
		t.Skip("pass -seed N")
	}
	cfg := randomConfig(*seed, !*strMode)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run()
	t.Logf("%s\n%s", describe(cfg), strings.Join(s.Trace(), "\n"))
	if err != nil {
		t.Fatal(err)
	}
}
