package sim

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

var seeds = flag.Int("seeds", 1000, "random schedules to simulate")

// randomConfig draws a run's faults from its seed.
func randomConfig(seed int64) Config {
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
	return cfg
}

func describe(c Config) string {
	return fmt.Sprintf("seed=%d n=%d GST=%d drop=%.2f dup=%.2f crashes=%v partitions=%v byzantine=%v proposers=%v",
		c.Seed, c.Validators, c.GST, c.Drop, c.Dup, c.Crashes, c.Partitions, c.Byzantine, c.Proposer)
}

// TestRandomSchedules runs -seeds random fault schedules (1,000 by
// default) and checks safety after every step and liveness at the end.
// A failure prints the seed and the run's trace; run it again with
// -run 'TestSeed' -seed N.
func TestRandomSchedules(t *testing.T) {
	impeached, maxRound := 0, uint32(0)
	for seed := int64(1); seed <= int64(*seeds); seed++ {
		cfg := randomConfig(seed)
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil {
			tr := s.Trace()
			if len(tr) > 300 {
				tr = tr[len(tr)-300:]
			}
			t.Fatalf("%s\n%v\nlast events:\n%s", describe(cfg), err, strings.Join(tr, "\n"))
		}
		impeached += s.Stats.Impeached
		maxRound = max(maxRound, s.Stats.MaxRound)
	}
	t.Logf("%d schedules: %d impeach blocks, highest round %d", *seeds, impeached, maxRound)
}

var seed = flag.Int64("seed", 0, "one seed to replay with its full trace")

// TestSeed replays one seed (-seed N) and prints its whole trace.
func TestSeed(t *testing.T) {
	if *seed == 0 {
		t.Skip("pass -seed N")
	}
	cfg := randomConfig(*seed)
	s, _ := New(cfg)
	err := s.Run()
	t.Logf("%s\n%s", describe(cfg), strings.Join(s.Trace(), "\n"))
	if err != nil {
		t.Fatal(err)
	}
}
