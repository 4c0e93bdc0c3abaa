package contract

import "encoding/binary"

// splitmix64 is Math.random's generator: Sebastiano Vigna's SplitMix64.
// For a call it is seeded with the XOR of Call.Seed's four little-endian
// 64-bit words; each Math.random() advances the state by
// 0x9E3779B97F4A7C15, mixes it, and returns the top 53 bits divided by
// 2^53, a float64 in [0, 1). The sequence depends only on the seed.
type splitmix64 struct{ state uint64 }

func (s *splitmix64) seed(seed [32]byte) {
	s.state = binary.LittleEndian.Uint64(seed[0:8]) ^ binary.LittleEndian.Uint64(seed[8:16]) ^
		binary.LittleEndian.Uint64(seed[16:24]) ^ binary.LittleEndian.Uint64(seed[24:32])
}

func (s *splitmix64) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Float64 returns the next value in [0, 1).
func (s *splitmix64) Float64() float64 {
	return float64(s.next()>>11) / (1 << 53)
}
