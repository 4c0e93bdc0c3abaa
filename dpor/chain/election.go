package chain

import (
	"bytes"
	"math/rand/v2"
	"slices"
)

// RPT is a candidate's reputation with its five dimension scores, and
// what they were computed from.
type RPT struct {
	Address Address `json:"address"`
	// AB, TX, BM, DC and PR are the dimension scores (0..100): account
	// balance, transactions, blockchain maintenance, data contribution,
	// proxy reputation.
	AB, TX, BM, DC, PR uint64
	// Raw are the dimensions' raw values, which the scores rank: the
	// balance, the transactions sent, the blocks proposed and the uploads
	// recorded in the window, and the proxy reputation.
	Raw RPTDimensions `json:"raw"`
	// Weights are the parameters each score was multiplied by (Alpha,
	// Beta, Gamma, Psi, Omega).
	Weights RPTDimensions `json:"weights"`
	// Weighted is the weighted sum of the scores, before the impeachment
	// punishment and the floor.
	Weighted uint64 `json:"weighted"`
	// Impeached is how many times it was impeached in the last
	// ImpeachMemory blocks.
	Impeached int `json:"impeached"`
	// Value is the weighted sum after the impeachment punishment and the
	// floor.
	Value uint64 `json:"value"`
}

// RPTDimensions holds one number per RPT dimension, named like RPT's
// scores.
type RPTDimensions struct {
	AB, TX, BM, DC, PR uint64
}

// RPTFloor is the least reputation a candidate has.
const RPTFloor = 1000

// RPTs computes the reputations of a set of addresses at height (the
// block being applied), each dimension scored by rank within the set:
// floor((1 − idx/len) × 100), idx being the first position of its value
// in descending order.
func (c *Chain) RPTs(s *State, p *Params, height uint64, who []Address) ([]RPT, error) {
	n := len(who)
	raw := make([][5]uint64, n)
	window := max(p.Window, 1)
	proposed := map[Address]uint64{}
	for h := height - min(height, window); h < height; h++ {
		b, ok, err := s.Block(h)
		if err != nil {
			return nil, err
		}
		if ok && !b.Impeach && h > 0 {
			proposed[b.Proposer]++
		}
	}
	epoch := height / window
	for i, a := range who {
		acct, err := s.Account(a)
		if err != nil {
			return nil, err
		}
		base := acct.Nonce
		switch acct.Epoch {
		case epoch:
			base = acct.PrevNonce
		case epoch - 1:
			base = acct.EpochNonce
		}
		dc, err := dataContribution(s, p, height, a)
		if err != nil {
			return nil, err
		}
		pr, err := proxyReputation(s, p, height, a)
		if err != nil {
			return nil, err
		}
		raw[i] = [5]uint64{acct.Balance, acct.Nonce - base, proposed[a], dc, pr}
	}
	out := make([]RPT, n)
	for d := 0; d < 5; d++ {
		vals := make([]uint64, n)
		for i := range raw {
			vals[i] = raw[i][d]
		}
		sorted := slices.Clone(vals)
		slices.SortFunc(sorted, func(a, b uint64) int { return -cmpU(a, b) })
		for i, v := range vals {
			idx := slices.Index(sorted, v)
			score := uint64(100 * (n - idx) / n)
			switch d {
			case 0:
				out[i].AB = score
			case 1:
				out[i].TX = score
			case 2:
				out[i].BM = score
			case 3:
				out[i].DC = score
			case 4:
				out[i].PR = score
			}
		}
	}
	weights := RPTDimensions{AB: p.Alpha, TX: p.Beta, BM: p.Gamma, DC: p.Psi, PR: p.Omega}
	for i, a := range who {
		r := &out[i]
		r.Address = a
		d := raw[i]
		r.Raw = RPTDimensions{AB: d[0], TX: d[1], BM: d[2], DC: d[3], PR: d[4]}
		r.Weights = weights
		v := p.Alpha*r.AB + p.Beta*r.TX + p.Gamma*r.BM + p.Psi*r.DC + p.Omega*r.PR
		r.Weighted = v
		hs, err := s.Impeachments(a)
		if err != nil {
			return nil, err
		}
		for _, x := range hs {
			if x+ImpeachMemory > height {
				r.Impeached++
			}
		}
		if r.Impeached > 9 {
			v = 0
		} else {
			v = v * uint64(9-r.Impeached) / 9
		}
		r.Value = max(v, RPTFloor)
	}
	return out, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// GetRPT is the RPT contract's getRpt: the reputation of an address among
// the next term's candidates (and itself) at the state's height.
func (c *Chain) GetRPT(s *State, a Address) (RPT, error) {
	p, err := s.Params()
	if err != nil {
		return RPT{}, err
	}
	h, err := s.Height()
	if err != nil {
		return RPT{}, err
	}
	set, err := s.CandidatesOf(c.G.TermOf(h+1) + 1)
	if err != nil {
		return RPT{}, err
	}
	if !slices.Contains(set, a) {
		set = append(set, a)
	}
	rs, err := c.RPTs(s, &p, h+1, set)
	if err != nil {
		return RPT{}, err
	}
	return rs[slices.Index(set, a)], nil
}

// byRPT sorts descending by RPT, then ascending by address.
func byRPT(a, b RPT) int {
	if a.Value != b.Value {
		return -cmpU(a.Value, b.Value)
	}
	return bytes.Compare(a.Address[:], b.Address[:])
}

// rankAmong is who's position (0 = best) by RPT among set ∪ {who}.
func (c *Chain) rankAmong(s *State, p *Params, height uint64, who Address, set []Address) (int, error) {
	all := slices.Clone(set)
	if !slices.Contains(all, who) {
		all = append(all, who)
	}
	rs, err := c.RPTs(s, p, height, all)
	if err != nil {
		return 0, err
	}
	slices.SortFunc(rs, byRPT)
	return slices.IndexFunc(rs, func(r RPT) bool { return r.Address == who }), nil
}

// Elect chooses a term's proposers at the last block of the term before
// it, from that term's candidates:
//   - the eligible are the top MaxCandidates by RPT;
//   - LowRPTPercent of them, by ascending RPT, form the low partition,
//     which fills LowRPTSeats seats; the rest fill the others, up to
//     ProposersPerTerm in all, by RPT-weighted sampling without
//     replacement;
//   - default proposers fill the seats left;
//   - the draws use ChaCha8 (math/rand/v2) seeded with the hash of the
//     block that ends the previous term, so every node draws the same.
func (c *Chain) Elect(s *State, p *Params, term, height uint64, seed [32]byte) ([]Address, error) {
	cands, err := s.CandidatesOf(term)
	if err != nil {
		return nil, err
	}
	seats := c.G.ProposersPerTerm
	rng := rand.New(rand.NewChaCha8(seed))
	var elected []Address
	if len(cands) > 0 {
		rs, err := c.RPTs(s, p, height, cands)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(rs, byRPT)
		rs = rs[:min(len(rs), MaxCandidates)]
		// Ascending for the partitions.
		slices.Reverse(rs)
		lowCount := len(rs) * int(p.LowRPTPercent) / 100
		total := min(seats, len(rs))
		lowSeats := min(int(p.LowRPTSeats), total)
		elected = append(elected, sample(rng, rs[:lowCount], lowSeats)...)
		elected = append(elected, sample(rng, rs[lowCount:], total-len(elected))...)
	}
	defaults := c.G.DefaultProposerAddresses()
	var pool []Address
	for _, d := range defaults {
		if !slices.Contains(elected, d) {
			pool = append(pool, d)
		}
	}
	for len(elected) < seats {
		if len(pool) == 0 {
			pool = slices.Clone(defaults)
		}
		i := rng.IntN(len(pool))
		elected = append(elected, pool[i])
		pool = slices.Delete(pool, i, i+1)
	}
	return elected, nil
}

// sample draws up to k of rs, weighted by RPT, without replacement.
func sample(rng *rand.Rand, rs []RPT, k int) []Address {
	if k <= 0 {
		return nil
	}
	if len(rs) <= k {
		out := make([]Address, len(rs))
		for i, r := range rs {
			out[i] = r.Address
		}
		return out
	}
	left := slices.Clone(rs)
	var out []Address
	for len(out) < k {
		var total uint64
		for _, r := range left {
			total += r.Value
		}
		x := rng.Uint64N(total)
		for i, r := range left {
			if x < r.Value {
				out = append(out, r.Address)
				left = slices.Delete(left, i, i+1)
				break
			}
			x -= r.Value
		}
	}
	return out
}
