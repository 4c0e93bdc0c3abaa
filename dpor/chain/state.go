package chain

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
)

// Account is an account's state (a CBOR array).
type Account struct {
	_ struct{} `cbor:",toarray"`

	Balance uint64 `cbor:"1,keyasint"`
	Nonce   uint64 `cbor:"2,keyasint"`
	// Epoch, EpochNonce and PrevNonce let RPT count recent transactions
	// in O(1): the nonce at the start of the account's last active
	// window-aligned epoch and of the one before.
	Epoch      uint64 `cbor:"3,keyasint"`
	EpochNonce uint64 `cbor:"4,keyasint"`
	PrevNonce  uint64 `cbor:"5,keyasint"`
}

// CandidateInfo is what Campaign keeps about a candidate.
type CandidateInfo struct {
	// StartTerm..StopTerm (inclusive) are the terms of its current claim.
	StartTerm uint64 `cbor:"1,keyasint" json:"start_term"`
	StopTerm  uint64 `cbor:"2,keyasint" json:"stop_term"`
	// NumOfCampaign counts its claims.
	NumOfCampaign uint64 `cbor:"3,keyasint" json:"num_of_campaign"`
	// Deposit is what Campaign holds for it.
	Deposit uint64 `cbor:"4,keyasint" json:"deposit"`
	// PubKey is the key it signs blocks with.
	PubKey []byte `cbor:"5,keyasint" json:"pub_key"`
}

// BlockRecord is what the chain keeps about each block, for RPT and
// admission proofs.
type BlockRecord struct {
	Hash     [32]byte `cbor:"1,keyasint"`
	Proposer Address  `cbor:"2,keyasint"`
	Impeach  bool     `cbor:"3,keyasint"`
}

// Key layout.
var (
	keyParams    = []byte("c/params")
	keyHeight    = []byte("c/height")
	prefixAcct   = []byte("c/acct/")
	prefixCand   = []byte("c/cand/")  // term -> []Address
	prefixCInfo  = []byte("c/cinfo/") // address -> CandidateInfo
	prefixBlock  = []byte("c/blk/")   // height -> BlockRecord
	prefixTerm   = []byte("c/term/")  // term -> proposers []Address
	prefixImpch  = []byte("c/imp/")   // address -> impeach heights []uint64
	prefixPubKey = []byte("c/pk/")    // address -> public key, for default proposers

	prefixProxyReal = []byte("c/pxr/") // proxy -> real Address
	prefixProxyOf   = []byte("c/pxp/") // real -> proxy Address
	prefixProxyVer  = []byte("c/pxv/") // proxy -> version uint64
	prefixProxyOld  = []byte("c/pxo/") // proxy, version -> real Address
	prefixUpCount   = []byte("c/upn/") // user -> number of uploads uint64
	prefixUpload    = []byte("c/up/")  // user, index -> Upload
	prefixEscrow    = []byte("c/esc/") // name -> EscrowInfo
	keyPDashNext    = []byte("c/pdn")  // the last order id uint64
	prefixOrder     = []byte("c/pdo/") // id -> Order
	prefixPxRec     = []byte("c/pdp/") // proxy -> ProxyRecord
	prefixPxFin     = []byte("c/pdf/") // proxy, index -> height of a finished order
	prefixPxLost    = []byte("c/pdl/") // proxy, index -> height of a dispute lost
)

// key is prefix followed by each part: a uint64 (8 bytes, big-endian),
// an Address, or a string (its bytes: only as the last part, so keys
// stay unambiguous). It allocates once (keys are made for every
// transaction), and the parts do not escape.
func key(prefix []byte, parts ...any) []byte {
	n := len(prefix)
	for _, p := range parts {
		switch v := p.(type) {
		case uint64:
			n += 8
		case Address:
			n += len(Address{})
		case string:
			n += len(v)
		default:
			panic("chain: a key part that is not a uint64, an Address or a string")
		}
	}
	k := append(make([]byte, 0, n), prefix...)
	for _, p := range parts {
		switch v := p.(type) {
		case uint64:
			k = binary.BigEndian.AppendUint64(k, v)
		case Address:
			k = append(k, v[:]...)
		case string:
			k = append(k, v...)
		}
	}
	return k
}

// State reads and writes the chain's state through a kv transaction.
type State struct {
	r kv.Reader
	w kv.Txn // nil for read-only
}

// ReadState reads state from r.
func ReadState(r kv.Reader) *State { return &State{r: r} }

// WriteState reads and writes state through t.
func WriteState(t kv.Txn) *State { return &State{r: t, w: t} }

func (s *State) get(k []byte, v any) (bool, error) {
	raw, err := s.r.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("state %q: %w", k, err)
	}
	return true, nil
}

func (s *State) put(k []byte, v any) error {
	if s.w == nil {
		return errors.New("chain: read-only state")
	}
	return s.w.Set(k, Marshal(v))
}

func (s *State) del(k []byte) error {
	if s.w == nil {
		return errors.New("chain: read-only state")
	}
	return s.w.Delete(k)
}

// Account returns an account (zero when it has never been used).
func (s *State) Account(a Address) (Account, error) {
	k := key(prefixAcct, a)
	raw, err := s.r.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return Account{}, nil
	}
	if err != nil {
		return Account{}, err
	}
	if acct, ok := decodeAccount(raw); ok {
		return acct, nil
	}
	var acct Account
	if err := Unmarshal(raw, &acct); err != nil {
		return Account{}, fmt.Errorf("state %q: %w", k, err)
	}
	return acct, nil
}

// SetAccount stores an account.
func (s *State) SetAccount(a Address, acct Account) error {
	if s.w == nil {
		return errors.New("chain: read-only state")
	}
	return s.w.Set(key(prefixAcct, a), encodeAccount(acct))
}

// encodeAccount is Marshal(acct) without reflection: accounts are read
// and written for every transaction. The bytes are the same: a CBOR
// array of five unsigned integers, each in its shortest form.
func encodeAccount(a Account) []byte {
	b := make([]byte, 1, 1+5*9)
	b[0] = 0x85
	for _, v := range [5]uint64{a.Balance, a.Nonce, a.Epoch, a.EpochNonce, a.PrevNonce} {
		b = appendCBORUint(b, v)
	}
	return b
}

func appendCBORUint(b []byte, v uint64) []byte {
	switch {
	case v < 24:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0x18, byte(v))
	case v <= 0xffff:
		return append(b, 0x19, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, 0x1a, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, 0x1b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// decodeAccount reads what encodeAccount writes; ok is false for any
// other bytes (the caller then decodes them the general way, which names
// what is wrong).
func decodeAccount(b []byte) (a Account, ok bool) {
	if len(b) == 0 || b[0] != 0x85 {
		return a, false
	}
	b = b[1:]
	var vs [5]uint64
	for i := range vs {
		if len(b) == 0 {
			return a, false
		}
		head, n := b[0], 0
		switch {
		case head < 24:
			vs[i], b = uint64(head), b[1:]
			continue
		case head == 0x18:
			n = 1
		case head == 0x19:
			n = 2
		case head == 0x1a:
			n = 4
		case head == 0x1b:
			n = 8
		default:
			return a, false
		}
		if len(b) < 1+n {
			return a, false
		}
		var v uint64
		for _, c := range b[1 : 1+n] {
			v = v<<8 | uint64(c)
		}
		// Only the shortest form, as the canonical encoding writes it.
		if (n == 1 && v < 24) || (n > 1 && v < 1<<(8*(n/2))) {
			return a, false
		}
		vs[i], b = v, b[1+n:]
	}
	if len(b) != 0 {
		return a, false
	}
	return Account{Balance: vs[0], Nonce: vs[1], Epoch: vs[2], EpochNonce: vs[3], PrevNonce: vs[4]}, true
}

// Params returns the system contracts' parameters.
func (s *State) Params() (Params, error) {
	var p Params
	ok, err := s.get(keyParams, &p)
	if err == nil && !ok {
		err = errors.New("chain: state has no parameters (no genesis)")
	}
	return p, err
}

// Height is the last block applied.
func (s *State) Height() (uint64, error) {
	var h uint64
	_, err := s.get(keyHeight, &h)
	return h, err
}

// CandidatesOf returns the candidates listed for a term, in claim order.
func (s *State) CandidatesOf(term uint64) ([]Address, error) {
	var out []Address
	_, err := s.get(key(prefixCand, term), &out)
	return out, err
}

// CandidateInfoOf returns Campaign's record of a candidate.
func (s *State) CandidateInfoOf(a Address) (CandidateInfo, bool, error) {
	var ci CandidateInfo
	ok, err := s.get(key(prefixCInfo, a), &ci)
	return ci, ok, err
}

// Block returns the record of block h.
func (s *State) Block(h uint64) (BlockRecord, bool, error) {
	var b BlockRecord
	ok, err := s.get(key(prefixBlock, h), &b)
	return b, ok, err
}

// ProposersOf returns a term's proposers, in turn order.
func (s *State) ProposersOf(term uint64) ([]Address, error) {
	var out []Address
	ok, err := s.get(key(prefixTerm, term), &out)
	if err == nil && !ok {
		err = fmt.Errorf("chain: no proposers elected for term %d", term)
	}
	return out, err
}

// PubKeyOf returns the block-signing key of a proposer (a default
// proposer or a candidate).
func (s *State) PubKeyOf(a Address) ([]byte, error) {
	var pk []byte
	ok, err := s.get(key(prefixPubKey, a), &pk)
	if err == nil && !ok {
		if ci, found, err2 := s.CandidateInfoOf(a); err2 == nil && found {
			return ci.PubKey, nil
		}
		err = fmt.Errorf("chain: no key known for %s", a)
	}
	return pk, err
}

// Impeachments returns the heights at which a proposer was impeached.
func (s *State) Impeachments(a Address) ([]uint64, error) {
	var hs []uint64
	_, err := s.get(key(prefixImpch, a), &hs)
	return hs, err
}
