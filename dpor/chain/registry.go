package chain

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/vchain-dev/vchain/kv"
)

// Two registries, as native system contracts:
//
//   - the Proxy Register (ProxyRegisterAddress) lets the deployer give a
//     contract a stable address: a transaction to a registered proxy runs
//     as if it were sent to the contract the proxy is bound to, and
//     rebinding the proxy upgrades the contract without changing the
//     address callers use;
//   - the Register (RegisterAddress) keeps each account's history of
//     uploaded files, which RPT's data contribution dimension counts.

// RegisterProxyContractArgs are registerProxyContract's arguments: the
// proxy address and the real contract it is to stand for.
type RegisterProxyContractArgs struct {
	Proxy Address `cbor:"1,keyasint" json:"proxy"`
	Real  Address `cbor:"2,keyasint" json:"real"`
}

// ClaimRegisterArgs are claimRegister's arguments: the uploaded file's
// name (1 to MaxFileName bytes), its SHA-256 (32 bytes) and its size in
// bytes (at least 1).
type ClaimRegisterArgs struct {
	FileName string   `cbor:"1,keyasint" json:"file_name"`
	FileHash HexBytes `cbor:"2,keyasint" json:"file_hash"`
	FileSize uint64   `cbor:"3,keyasint" json:"file_size"`
}

// Upload is one entry of an account's upload history: the file claimed
// and the height of the block that recorded it.
type Upload struct {
	FileName string   `cbor:"1,keyasint" json:"file_name"`
	FileHash HexBytes `cbor:"2,keyasint" json:"file_hash"`
	FileSize uint64   `cbor:"3,keyasint" json:"file_size"`
	Height   uint64   `cbor:"4,keyasint" json:"height"`
}

// HexBytes are bytes that JSON shows as hex (CBOR keeps them a byte
// string).
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (b HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b)), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it takes hex with
// or without a 0x prefix.
func (b *HexBytes) UnmarshalText(t []byte) error {
	d, err := hex.DecodeString(strings.TrimPrefix(string(t), "0x"))
	if err != nil {
		return fmt.Errorf("hex bytes %q: %w", t, err)
	}
	*b = d
	return nil
}

// Register's bounds.
const (
	// MaxFileName bounds an upload's file name, in bytes.
	MaxFileName = 256
	// FileHashSize is the size of an upload's file hash (a SHA-256).
	FileHashSize = 32
	// MaxUploadsPerUser bounds one account's upload history: its claims
	// beyond it fail.
	MaxUploadsPerUser = 10_000
	// MaxUploadsListed bounds what one Uploads call returns.
	MaxUploadsListed = 1000
)

// maxUploads is the bound claimRegister applies: MaxUploadsPerUser,
// which only tests lower.
var maxUploads uint64 = MaxUploadsPerUser

// registerProxy is registerProxyContract: it binds proxy to real (and
// real back to proxy), raises the proxy's version and records which
// contract that version stands for.
//
// Besides the obvious refusals (zero addresses, a proxy standing for
// itself, the register in either role), it keeps resolution to a single
// step and the binding one-to-one: a built-in contract's address cannot
// be a proxy (calls to it must keep reaching it), a proxy cannot stand
// for another proxy, an address another proxy stands for cannot become a
// proxy, and a real contract has at most one proxy at a time. Rebinding
// a proxy frees its previous real contract.
func (c *Chain) registerProxy(s *State, a RegisterProxyContractArgs) error {
	const fn = "ProxyRegister.registerProxyContract"
	switch {
	case a.Proxy == Address{} || a.Real == Address{}:
		return txErr("%s: the zero address can be neither proxy nor real contract", fn)
	case a.Proxy == a.Real:
		return txErr("%s: %s cannot be its own proxy", fn, a.Proxy)
	case a.Proxy == ProxyRegisterAddress || a.Real == ProxyRegisterAddress:
		return txErr("%s: the Proxy Register cannot be registered", fn)
	case isSystem(a.Proxy):
		return txErr("%s: %s is the %s contract's address; it cannot be a proxy", fn, a.Proxy, systemName(a.Proxy))
	}
	if r, ok, err := s.RealContract(a.Real); err != nil {
		return err
	} else if ok {
		return txErr("%s: %s is itself a proxy (of %s); a proxy must stand for a real contract", fn, a.Real, r)
	}
	if p, ok, err := s.ProxyContract(a.Proxy); err != nil {
		return err
	} else if ok {
		return txErr("%s: %s is the real contract behind proxy %s; it cannot be a proxy too", fn, a.Proxy, p)
	}
	if p, ok, err := s.ProxyContract(a.Real); err != nil {
		return err
	} else if ok && p != a.Proxy {
		return txErr("%s: %s already has proxy %s", fn, a.Real, p)
	}
	old, had, err := s.RealContract(a.Proxy)
	if err != nil {
		return err
	}
	if had && old != a.Real {
		if err := s.del(key(prefixProxyOf, old)); err != nil {
			return err
		}
	}
	v, err := s.ContractVersion(a.Proxy)
	if err != nil {
		return err
	}
	v++
	for _, w := range []struct {
		k []byte
		v any
	}{
		{key(prefixProxyReal, a.Proxy), a.Real},
		{key(prefixProxyOf, a.Real), a.Proxy},
		{key(prefixProxyVer, a.Proxy), v},
		{key(prefixProxyOld, a.Proxy, v), a.Real},
	} {
		if err := s.put(w.k, w.v); err != nil {
			return err
		}
	}
	return nil
}

// RealContract is the contract a proxy stands for now; false when proxy
// is not a registered proxy.
func (s *State) RealContract(proxy Address) (Address, bool, error) {
	var a Address
	ok, err := s.get(key(prefixProxyReal, proxy), &a)
	return a, ok, err
}

// ProxyContract is the proxy that stands for a real contract now; false
// when none does.
func (s *State) ProxyContract(real Address) (Address, bool, error) {
	var a Address
	ok, err := s.get(key(prefixProxyOf, real), &a)
	return a, ok, err
}

// OldContract is the contract a proxy stood for at a version (1 is its
// first registration); false for a version it never had.
func (s *State) OldContract(proxy Address, version uint64) (Address, bool, error) {
	var a Address
	ok, err := s.get(key(prefixProxyOld, proxy, version), &a)
	return a, ok, err
}

// ContractVersion is how many times a proxy was registered: 0 for an
// address that never was one.
func (s *State) ContractVersion(proxy Address) (uint64, error) {
	var v uint64
	_, err := s.get(key(prefixProxyVer, proxy), &v)
	return v, err
}

// resolve is where a transaction to a goes: the real contract when a is
// a registered proxy, else a itself. It reads the state it is given, so
// every node resolves a transaction the same way at the same block.
func (s *State) resolve(a Address) (Address, error) {
	if isSystem(a) {
		return a, nil // never a proxy
	}
	// Every transaction asks, and almost every answer is no: look before
	// decoding.
	k := key(prefixProxyReal, a)
	if _, err := s.r.Get(k); errors.Is(err, kv.ErrNotFound) {
		return a, nil
	} else if err != nil {
		return a, err
	}
	r, ok, err := s.RealContract(a)
	if err != nil || !ok {
		return a, err
	}
	return r, nil
}

// claimRegister records an upload in the sender's history at the block's
// height.
//
// CPChain's Register accepts claims only through its data market
// (PDash), which is not part of this chain. Here any account records its
// own uploads directly. A claim only ever describes its sender, costs the
// fee and is bounded per account, so an account can raise only its own
// data contribution, and only by paying fees, as it can its transaction
// count. The chain does not check that the file exists.
func (c *Chain) claimRegister(s *State, height uint64, who Address, a ClaimRegisterArgs) error {
	const fn = "Register.claimRegister"
	switch {
	case len(a.FileName) == 0 || len(a.FileName) > MaxFileName:
		return txErr("%s: a file name of %d bytes; want 1 to %d", fn, len(a.FileName), MaxFileName)
	case len(a.FileHash) != FileHashSize:
		return txErr("%s: a file hash of %d bytes; want %d", fn, len(a.FileHash), FileHashSize)
	case a.FileSize == 0:
		return txErr("%s: a file size of 0; want at least 1 byte", fn)
	}
	n, err := s.UploadCount(who)
	if err != nil {
		return err
	}
	if n >= maxUploads {
		return txErr("%s: %s has recorded %d uploads, the most one account may", fn, who, n)
	}
	u := Upload{FileName: a.FileName, FileHash: a.FileHash, FileSize: a.FileSize, Height: height}
	if err := s.put(key(prefixUpload, who, n), u); err != nil {
		return err
	}
	return s.put(key(prefixUpCount, who), n+1)
}

// UploadCount is how many uploads a user has recorded.
func (s *State) UploadCount(user Address) (uint64, error) {
	var n uint64
	_, err := s.get(key(prefixUpCount, user), &n)
	return n, err
}

// upload is a user's i-th upload (from 0), which must exist.
func (s *State) upload(user Address, i uint64) (Upload, error) {
	var u Upload
	ok, err := s.get(key(prefixUpload, user, i), &u)
	if err == nil && !ok {
		err = fmt.Errorf("chain: upload %d of %s is missing", i, user)
	}
	return u, err
}

// UploadCountAfterBlock is how many of a user's uploads were recorded
// after block (at a greater height). A history is appended in height
// order, so this is a binary search: a few reads however long it is.
func (s *State) UploadCountAfterBlock(user Address, block uint64) (uint64, error) {
	n, err := s.UploadCount(user)
	if err != nil || n == 0 {
		return 0, err
	}
	last, err := s.upload(user, n-1)
	if err != nil || last.Height <= block {
		return 0, err
	}
	// The first upload after block is in [lo, hi]; hi is one.
	lo, hi := uint64(0), n-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		u, err := s.upload(user, mid)
		if err != nil {
			return 0, err
		}
		if u.Height > block {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return n - lo, nil
}

// Uploads lists a user's uploads from index from (0 is the first), at
// most limit of them and at most MaxUploadsListed.
func (s *State) Uploads(user Address, from, limit uint64) ([]Upload, error) {
	n, err := s.UploadCount(user)
	if err != nil || from >= n {
		return nil, err
	}
	end := from + min(limit, MaxUploadsListed, n-from)
	var out []Upload
	for i := from; i < end; i++ {
		u, err := s.upload(user, i)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// dataContribution is RPT's DC raw value: the uploads who recorded in
// the window ending at height, i.e. at heights (height−window, height].
func dataContribution(s *State, p *Params, height uint64, who Address) (uint64, error) {
	return s.UploadCountAfterBlock(who, height-min(height, max(p.Window, 1)))
}
