package main

import (
	"strings"
	"testing"
	"time"
)

// TestSummarizeRounds: over several rounds, each round's 4 + 4 / CometBFT
// saturation ratio and p50 ratio at 4 + 4's saturation step, their
// medians, and the impeach blocks at twice the saturation rate.
func TestSummarizeRounds(t *testing.T) {
	step := func(system string, rate int, tps float64, p50 time.Duration, impeach int) dporStep {
		return dporStep{system: system, rate: rate, tps: tps, p50: p50, impeach: impeach, lateRounds: -1}
	}
	round := func(v, c float64, vp, cp time.Duration, imp int) *dporRound {
		v44 := []dporStep{step("vchain 4+4", 2000, 2000, 80*time.Millisecond, 0), step("vchain 4+4", 8000, v, vp, 0), step("vchain 4+4", 16000, v-1, vp, imp)}
		comet := []dporStep{step("CometBFT", 2000, 2000, 150*time.Millisecond, -1), step("CometBFT", 8000, c, cp, -1)}
		return &dporRound{v44: v44, comet: comet, twice: &v44[2], twiceFrom: v}
	}
	var b strings.Builder
	summarizeRounds(&b, []*dporRound{
		round(6000, 5000, 200*time.Millisecond, 2*time.Second, 0), // 1.20, 0.10
		round(4000, 5000, 300*time.Millisecond, 1*time.Second, 1), // 0.80, 0.30
		round(7000, 7000, 500*time.Millisecond, 1*time.Second, 0), // 1.00, 0.50
	})
	out := b.String()
	for _, want := range []string{
		"over 3 rounds:",
		"saturation, each round: 1.20, 0.80, 1.00; median 1.00",
		"saturation step, each round: 0.10, 0.30, 0.50; median 0.30",
		"twice its saturation rate, each round: [0 1 0]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of an even count: %v, want 2.5", m)
	}
}
