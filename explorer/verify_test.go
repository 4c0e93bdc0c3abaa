package explorer

import (
	"slices"
	"testing"
)

func TestVerdicts(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		f    *Finding
		want []string
	}{
		{3, nil, []string{"verified", "verified", "verified"}},
		{3, &Finding{Check: "replay", Entry: 1}, []string{"verified", "failed", "unchecked"}},
		{2, &Finding{Check: "call log", Entry: -1}, []string{"unchecked", "unchecked"}},
		{2, &Finding{Check: "order", Entry: 0}, []string{"failed", "unchecked"}},
		{0, nil, []string{}},
	} {
		if got := verdicts(c.n, c.f); !slices.Equal(got, c.want) {
			t.Errorf("verdicts(%d, %+v) = %v, want %v", c.n, c.f, got, c.want)
		}
	}
}
