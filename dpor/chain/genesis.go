package chain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/vchain-dev/vchain/internal/edkey"
)

// Genesis is the chain's first state and its fixed parameters, read from a
// JSON file.
type Genesis struct {
	ChainID string `json:"chain_id"`
	// TimeMS is the genesis block's timestamp (ms).
	TimeMS int64 `json:"time_ms"`
	// PeriodMS is the minimum block interval and TimeoutMS the impeach
	// timeout.
	PeriodMS  int64 `json:"period_ms"`
	TimeoutMS int64 `json:"timeout_ms"`
	// ProposersPerTerm is P, the proposers of a term (default 12);
	// ViewLen how many times each takes its turn in a term (default 3).
	ProposersPerTerm int `json:"proposers_per_term"`
	ViewLen          int `json:"view_len"`
	// Validators are the 3f+1 validators, in order (their index is their
	// slot in certificates).
	Validators []Member `json:"validators"`
	// Proposers are the default proposers: the first term's, and the
	// fill when too few candidates are elected.
	Proposers []Member `json:"proposers"`
	// Deployer may punish candidates and change the system contracts'
	// parameters.
	Deployer Address            `json:"deployer"`
	Balances map[Address]uint64 `json:"balances"`
	Params   Params             `json:"params"`
}

// Member is a validator or default proposer: a name and an Ed25519 public
// key (hex).
type Member struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// PubKey decodes the member's key.
func (m Member) PubKey() (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(m.Key)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: want 64 hex digits (an Ed25519 public key)", m.Key)
	}
	if err := edkey.Check(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Params are the system contracts' parameters, kept in state and
// changeable by the deployer.
type Params struct {
	BlockReward uint64 `json:"block_reward" cbor:"1,keyasint"`
	MinFee      uint64 `json:"min_fee" cbor:"2,keyasint"`
	// BaseDeposit is the deposit per term a campaign claims; MaxTerms the
	// most terms one claim covers.
	BaseDeposit uint64 `json:"base_deposit" cbor:"3,keyasint"`
	MaxTerms    uint64 `json:"max_terms" cbor:"4,keyasint"`
	// Penalty is taken from an impeached proposer's deposit.
	Penalty uint64 `json:"penalty" cbor:"5,keyasint"`
	// Admission: proof-of-work difficulties in bits, and how recent the
	// block a proof names must be.
	CPUDifficulty    uint64 `json:"cpu_difficulty" cbor:"6,keyasint"`
	MemoryDifficulty uint64 `json:"memory_difficulty" cbor:"7,keyasint"`
	AcceptableBlocks uint64 `json:"acceptable_blocks" cbor:"8,keyasint"`
	// RPT weights (account balance, transactions, blockchain maintenance,
	// data contribution, proxy reputation) and window in blocks.
	Alpha  uint64 `json:"alpha" cbor:"9,keyasint"`
	Beta   uint64 `json:"beta" cbor:"10,keyasint"`
	Gamma  uint64 `json:"gamma" cbor:"11,keyasint"`
	Psi    uint64 `json:"psi" cbor:"12,keyasint"`
	Omega  uint64 `json:"omega" cbor:"13,keyasint"`
	Window uint64 `json:"window" cbor:"14,keyasint"`
	// LowRPTPercent of the eligible candidates form the low-RPT
	// partition, which fills LowRPTSeats of the term's seats.
	LowRPTPercent uint64 `json:"low_rpt_percent" cbor:"15,keyasint"`
	LowRPTSeats   uint64 `json:"low_rpt_seats" cbor:"16,keyasint"`
	// ProxyMinDeposit is the least deposit a PDash proxy holds to take
	// orders; 0 stands for DefaultProxyMinDeposit (so genesis documents
	// written before PDash keep their encoding and hash).
	ProxyMinDeposit uint64 `json:"proxy_min_deposit,omitempty" cbor:"17,keyasint,omitempty"`
}

// DefaultParams are CPChain's defaults where it has them.
func DefaultParams() Params {
	return Params{BlockReward: 10, MinFee: 1, BaseDeposit: 1000, MaxTerms: 3, Penalty: 500,
		CPUDifficulty: 12, MemoryDifficulty: 6, AcceptableBlocks: 10,
		Alpha: 50, Beta: 15, Gamma: 10, Psi: 15, Omega: 10, Window: 100,
		LowRPTPercent: 50, LowRPTSeats: 2}
}

// MaxCandidates is how many candidates, by RPT, may claim a campaign.
const MaxCandidates = 21

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := ParseGenesis(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// ParseGenesis decodes and validates a genesis document. Unknown fields
// are errors, and every error names the field.
func ParseGenesis(raw []byte) (*Genesis, error) {
	g := &Genesis{Params: DefaultParams(), ProposersPerTerm: 12, ViewLen: 3}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(g); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// FieldError names the genesis field that is wrong.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("genesis: %s: %s", e.Field, e.Problem) }

// Validate checks the genesis document.
func (g *Genesis) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.TrimSpace(g.ChainID) == "":
		return bad("chain_id", "empty")
	case g.PeriodMS <= 0:
		return bad("period_ms", "%d; want a positive number of milliseconds", g.PeriodMS)
	case g.TimeoutMS <= 0:
		return bad("timeout_ms", "%d; want a positive number of milliseconds", g.TimeoutMS)
	case g.ProposersPerTerm <= 0:
		return bad("proposers_per_term", "%d; want at least 1", g.ProposersPerTerm)
	case g.ViewLen <= 0:
		return bad("view_len", "%d; want at least 1", g.ViewLen)
	case len(g.Validators) < 4 || (len(g.Validators)-1)%3 != 0:
		return bad("validators", "%d; want 3f+1 (4, 7, 10, ...)", len(g.Validators))
	case len(g.Proposers) == 0:
		return bad("proposers", "none; the first term needs default proposers")
	case g.Params.Window < 1:
		return bad("params.window", "0; want at least 1 block")
	case g.Params.LowRPTPercent > 100:
		return bad("params.low_rpt_percent", "%d; want at most 100", g.Params.LowRPTPercent)
	case g.Params.CPUDifficulty > 256 || g.Params.MemoryDifficulty > 256:
		return bad("params.cpu_difficulty", "at most 256 bits")
	case g.Params.MaxTerms < 1:
		return bad("params.max_terms", "0; want at least 1")
	}
	seen := map[string]string{}
	for _, list := range []struct {
		field string
		ms    []Member
	}{{"validators", g.Validators}, {"proposers", g.Proposers}} {
		for i, m := range list.ms {
			f := fmt.Sprintf("%s[%d]", list.field, i)
			if m.Name == "" {
				return bad(f+".name", "empty")
			}
			if _, err := m.PubKey(); err != nil {
				return bad(f+".key", "%v", err)
			}
			if prev, dup := seen[m.Key]; dup {
				return bad(f+".key", "the same key as %s", prev)
			}
			seen[m.Key] = f
		}
	}
	return nil
}

// F is the number of faulty validators tolerated.
func (g *Genesis) F() int { return (len(g.Validators) - 1) / 3 }

// TermLen is the number of blocks in a term.
func (g *Genesis) TermLen() uint64 { return uint64(g.ProposersPerTerm * g.ViewLen) }

// TermOf is the term block h belongs to (block 0 is in term 0).
func (g *Genesis) TermOf(h uint64) uint64 {
	if h == 0 {
		return 0
	}
	return (h - 1) / g.TermLen()
}

// IsCheckpoint tells whether h is the last block of its term.
func (g *Genesis) IsCheckpoint(h uint64) bool { return h > 0 && h%g.TermLen() == 0 }

// Slot is the index, in its term's proposer list, of the proposer of h.
func (g *Genesis) Slot(h uint64) int { return int((h - 1) % g.TermLen() % uint64(g.ProposersPerTerm)) }

// DefaultProposerAddresses are the default proposers' addresses.
func (g *Genesis) DefaultProposerAddresses() []Address {
	var out []Address
	for _, m := range g.Proposers {
		k, _ := m.PubKey()
		out = append(out, AddressOf(k))
	}
	return out
}
