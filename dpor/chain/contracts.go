package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"slices"

	"golang.org/x/crypto/scrypt"
)

// The built-in system contracts, as native code. Each function is called
// by a signed transaction to the contract's address with a Call; its
// arguments are the CBOR of the Args struct named after it.

// ClaimCampaignArgs are claimCampaign's arguments: how many terms, and the
// admission proofs (CPU and memory proof-of-work over a recent block).
type ClaimCampaignArgs struct {
	Terms    uint64 `cbor:"1,keyasint" json:"terms"`
	CPUNonce uint64 `cbor:"2,keyasint" json:"cpu_nonce"`
	CPUBlock uint64 `cbor:"3,keyasint" json:"cpu_block"`
	MemNonce uint64 `cbor:"4,keyasint" json:"mem_nonce"`
	MemBlock uint64 `cbor:"5,keyasint" json:"mem_block"`
}

// PunishCandidateArgs are punishCandidate's arguments.
type PunishCandidateArgs struct {
	Candidate Address `cbor:"1,keyasint" json:"candidate"`
	Term      uint64  `cbor:"2,keyasint" json:"term"`
}

// UpdateArgs carry the new value of a parameter setter.
type UpdateArgs struct {
	Value uint64 `cbor:"1,keyasint" json:"value"`
}

// Methods lists the callable functions of each system contract.
var Methods = map[Address][]string{
	CampaignAddress:  {"claimCampaign", "quitCampaign", "punishCandidate"},
	AdmissionAddress: {"updateCPUDifficulty", "updateMemoryDifficulty"},
	RPTAddress:       {"updateAlpha", "updateBeta", "updateGamma", "updatePsi", "updateOmega", "updateWindow"},
	// registerProxyContract's arguments are RegisterProxyContractArgs.
	ProxyRegisterAddress: {"registerProxyContract"},
	// claimRegister's arguments are ClaimRegisterArgs.
	RegisterAddress: {"claimRegister"},
	// openEscrow's and prepay's arguments are EscrowArgs, payTo's
	// PayToArgs, refund's RefundArgs.
	EscrowAddress: {"openEscrow", "prepay", "payTo", "refund"},
	// PDash's arguments are named after each function (OrderArgs for
	// those that take only an order); proxyDeposit takes none.
	PDashAddress: {"proxyDeposit", "proxyWithdraw", "placeOrder", "sellerConfirm", "proxyDelivered", "buyerConfirm",
		"buyerDispute", "resolveDispute", "buyerClaimTimeout", "sellerClaimTimeout", "rateProxy", "updateProxyMinDeposit"},
}

// callRule says who may call a system contract's function and whether
// it takes coins.
type callRule struct {
	open    bool // any account may call it; else only the deployer
	payable bool // it takes coins (and checks the amount itself)
}

// callRules holds the functions open to every account or taking coins;
// every other function is the deployer's and takes no coins.
var callRules = map[string]callRule{
	"claimCampaign": {open: true, payable: true},
	"quitCampaign":  {open: true},
	"claimRegister": {open: true},
	"openEscrow":    {open: true},
	"prepay":        {open: true, payable: true},
	"payTo":         {open: true},
	"refund":        {open: true},
	// PDash: resolveDispute and updateProxyMinDeposit are the deployer's.
	"proxyDeposit":       {open: true, payable: true},
	"proxyWithdraw":      {open: true},
	"placeOrder":         {open: true, payable: true},
	"sellerConfirm":      {open: true},
	"proxyDelivered":     {open: true},
	"buyerConfirm":       {open: true},
	"buyerDispute":       {open: true},
	"buyerClaimTimeout":  {open: true},
	"sellerClaimTimeout": {open: true},
	"rateProxy":          {open: true},
}

// call runs tx's Call on the system contract at to: tx.To itself, or
// the contract tx.To is a registered proxy of.
func (c *Chain) call(s *State, p *Params, height uint64, tx *Tx, to Address) error {
	if !isSystem(to) {
		return txErr("a call to %s, which is not a system contract", to)
	}
	m := tx.Call.Method
	if !slices.Contains(Methods[to], m) {
		return txErr("%s has no function %q (it has %v)", systemName(to), m, Methods[to])
	}
	rule := callRules[m]
	if !rule.open && tx.Sender() != c.G.Deployer {
		return txErr("%s.%s: %v", systemName(to), m, errNotDeployer)
	}
	if !rule.payable && tx.Amount != 0 {
		return txErr("%s.%s takes no coins", systemName(to), m)
	}
	switch to {
	case EscrowAddress:
		return c.escrowCall(s, height, tx)
	case PDashAddress:
		return c.pdashCall(s, p, height, tx)
	}
	switch m {
	case "claimCampaign":
		var a ClaimCampaignArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("claimCampaign arguments: %v", err)
		}
		return c.claim(s, p, height, tx, a)
	case "quitCampaign":
		return c.quit(s, p, height, tx.Sender())
	case "punishCandidate":
		var a PunishCandidateArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("punishCandidate arguments: %v", err)
		}
		return c.punishCandidate(s, p, height, a)
	case "registerProxyContract":
		var a RegisterProxyContractArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("registerProxyContract arguments: %v", err)
		}
		return c.registerProxy(s, a)
	case "claimRegister":
		var a ClaimRegisterArgs
		if err := Unmarshal(tx.Call.Args, &a); err != nil {
			return txErr("claimRegister arguments: %v", err)
		}
		return c.claimRegister(s, height, tx.Sender(), a)
	}
	var a UpdateArgs
	if err := Unmarshal(tx.Call.Args, &a); err != nil {
		return txErr("%s arguments: %v", m, err)
	}
	v := a.Value
	switch m {
	case "updateCPUDifficulty", "updateMemoryDifficulty":
		if v > 256 {
			return txErr("%s: %d bits, at most 256", m, v)
		}
		if m == "updateCPUDifficulty" {
			p.CPUDifficulty = v
		} else {
			p.MemoryDifficulty = v
		}
	case "updateWindow":
		if v < 1 || v > 10_000 {
			return txErr("updateWindow: %d blocks, want 1 to 10000", v)
		}
		p.Window = v
	default:
		if v > 100 {
			return txErr("%s: weight %d, at most 100", m, v)
		}
		w := map[string]*uint64{"updateAlpha": &p.Alpha, "updateBeta": &p.Beta, "updateGamma": &p.Gamma, "updatePsi": &p.Psi, "updateOmega": &p.Omega}[m]
		*w = v
	}
	return nil
}

func (c *Chain) claim(s *State, p *Params, height uint64, tx *Tx, a ClaimCampaignArgs) error {
	who := tx.Sender()
	term := c.G.TermOf(height)
	switch {
	case a.Terms < 1 || a.Terms > p.MaxTerms:
		return txErr("claimCampaign: %d terms, want 1 to %d", a.Terms, p.MaxTerms)
	case !mulOK(p.BaseDeposit, a.Terms) || tx.Amount != p.BaseDeposit*a.Terms:
		return txErr("claimCampaign: deposit %d, want %d (%d per term)", tx.Amount, p.BaseDeposit*a.Terms, p.BaseDeposit)
	}
	ci, _, err := s.CandidateInfoOf(who)
	if err != nil {
		return err
	}
	if ci.NumOfCampaign > 0 && ci.StopTerm > term {
		return txErr("claimCampaign: %s's claim runs until term %d", who, ci.StopTerm)
	}
	if err := c.admit(s, p, height, who, a); err != nil {
		return err
	}
	next, err := s.CandidatesOf(term + 1)
	if err != nil {
		return err
	}
	// Only the top MaxCandidates by RPT may claim.
	rank, err := c.rankAmong(s, p, height, who, next)
	if err != nil {
		return err
	}
	if rank >= MaxCandidates {
		return txErr("claimCampaign: %s ranks %d by RPT; only the top %d may claim", who, rank+1, MaxCandidates)
	}
	for t := term + 1; t <= term+a.Terms; t++ {
		list, err := s.CandidatesOf(t)
		if err != nil {
			return err
		}
		if err := s.put(key(prefixCand, t), append(list, who)); err != nil {
			return err
		}
	}
	ci = CandidateInfo{StartTerm: term + 1, StopTerm: term + a.Terms, NumOfCampaign: ci.NumOfCampaign + 1,
		Deposit: ci.Deposit + tx.Amount, PubKey: tx.PubKey}
	return s.put(key(prefixCInfo, who), ci)
}

// quit removes the candidate from the terms to come and refunds their
// deposits.
func (c *Chain) quit(s *State, p *Params, height uint64, who Address) error {
	ci, ok, err := s.CandidateInfoOf(who)
	if err != nil {
		return err
	}
	term := c.G.TermOf(height)
	if !ok || ci.StopTerm <= term {
		return txErr("quitCampaign: %s has no campaign in the terms to come", who)
	}
	refund := uint64(0)
	for t := max(term+1, ci.StartTerm); t <= ci.StopTerm; t++ {
		removed, err := c.removeCandidate(s, t, who)
		if err != nil {
			return err
		}
		if removed {
			refund += p.BaseDeposit // at most the deposit paid
		}
	}
	ci.StopTerm = term
	return c.pay(s, &ci, who, refund)
}

func (c *Chain) punishCandidate(s *State, p *Params, height uint64, a PunishCandidateArgs) error {
	if a.Term < c.G.TermOf(height) {
		return txErr("punishCandidate: term %d is over", a.Term)
	}
	removed, err := c.removeCandidate(s, a.Term, a.Candidate)
	if err != nil {
		return err
	}
	if !removed {
		return txErr("punishCandidate: %s is not a candidate of term %d", a.Candidate, a.Term)
	}
	ci, _, err := s.CandidateInfoOf(a.Candidate)
	if err != nil {
		return err
	}
	// The term's deposit is detained: Campaign keeps it.
	ci.Deposit -= min(ci.Deposit, p.BaseDeposit)
	return s.put(key(prefixCInfo, a.Candidate), ci)
}

func (c *Chain) removeCandidate(s *State, term uint64, who Address) (bool, error) {
	list, err := s.CandidatesOf(term)
	if err != nil {
		return false, err
	}
	i := slices.Index(list, who)
	if i < 0 {
		return false, nil
	}
	return true, s.put(key(prefixCand, term), slices.Delete(list, i, i+1))
}

// pay returns deposit from Campaign to a candidate.
func (c *Chain) pay(s *State, ci *CandidateInfo, who Address, amount uint64) error {
	amount = min(amount, ci.Deposit)
	ci.Deposit -= amount
	if err := s.put(key(prefixCInfo, who), *ci); err != nil {
		return err
	}
	camp, err := s.Account(CampaignAddress)
	if err != nil {
		return err
	}
	amount = min(amount, camp.Balance)
	camp.Balance -= amount
	if err := s.SetAccount(CampaignAddress, camp); err != nil {
		return err
	}
	acct, err := s.Account(who)
	if err != nil {
		return err
	}
	acct.Balance += amount
	return s.SetAccount(who, acct)
}

// refund returns, at the end of a term, each of its candidates' deposit
// for that term.
func (c *Chain) refund(s *State, p *Params, term uint64) error {
	list, err := s.CandidatesOf(term)
	if err != nil {
		return err
	}
	for _, who := range list {
		ci, _, err := s.CandidateInfoOf(who)
		if err != nil {
			return err
		}
		if err := c.pay(s, &ci, who, p.BaseDeposit); err != nil {
			return err
		}
	}
	return nil
}

// admit is the Admission contract's verify: a CPU proof (SHA-256) and a
// memory proof (scrypt) over a recent block, both under their targets.
func (c *Chain) admit(s *State, p *Params, height uint64, who Address, a ClaimCampaignArgs) error {
	for _, proof := range []struct {
		name       string
		block      uint64
		nonce, bit uint64
		memory     bool
	}{{"CPU", a.CPUBlock, a.CPUNonce, p.CPUDifficulty, false}, {"memory", a.MemBlock, a.MemNonce, p.MemoryDifficulty, true}} {
		if proof.block >= height || height-proof.block > p.AcceptableBlocks {
			return txErr("admission: the %s proof names block %d; it must be one of the last %d before %d", proof.name, proof.block, p.AcceptableBlocks, height)
		}
		b, ok, err := s.Block(proof.block)
		if err != nil {
			return err
		}
		if !ok {
			return txErr("admission: block %d is unknown", proof.block)
		}
		if !ProofOK(who, b.Hash, proof.nonce, proof.bit, proof.memory) {
			return txErr("admission: the %s proof does not meet difficulty %d", proof.name, proof.bit)
		}
	}
	return nil
}

// ProofOK checks an admission proof-of-work: the hash of sender ‖ block
// hash ‖ nonce (8 bytes, little-endian) is at most 2^(256−difficulty).
// The CPU proof hashes with SHA-256, the memory proof with scrypt
// (N=4096, r=8, p=1, salt = the data's first 8 bytes).
func ProofOK(who Address, blockHash [32]byte, nonce, difficulty uint64, memory bool) bool {
	data := make([]byte, 0, 60)
	data = append(data, who[:]...)
	data = append(data, blockHash[:]...)
	data = binary.LittleEndian.AppendUint64(data, nonce)
	var sum []byte
	if memory {
		var err error
		if sum, err = scrypt.Key(data, data[:8], 4096, 8, 1, 32); err != nil {
			return false
		}
	} else {
		h := sha256.Sum256(data)
		sum = h[:]
	}
	target := new(big.Int).Lsh(big.NewInt(1), uint(256-min(difficulty, 256)))
	return new(big.Int).SetBytes(sum).Cmp(target) <= 0
}

// SolveProof finds a nonce meeting an admission difficulty (what a
// campaigning node's prover does).
func SolveProof(who Address, blockHash [32]byte, difficulty uint64, memory bool) uint64 {
	for n := uint64(0); ; n++ {
		if ProofOK(who, blockHash, n, difficulty, memory) {
			return n
		}
	}
}
