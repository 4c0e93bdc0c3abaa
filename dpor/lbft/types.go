// Package lbft is LBFT 2.0 with impeachment as a pure, deterministic state
// machine: the consensus of CPChain's validator committee, with the rule
// set of docs/consensus.md (rounds, round-stamped votes, and a rotating
// coordinator used only when a prepare certificate exists), which is safe
// without timing assumptions and live after the network heals.
//
// A Core has no goroutines, clocks or sockets. Its inputs are messages
// (Step), the passage of time (Tick, with the current time as an
// argument) and proposals (Propose); its outputs are collected in a Ready:
// the vote record to persist before anything is sent, messages to send,
// final blocks to insert, blocks to fetch, and the next time it wants to
// be ticked. The driver (a networked node, or the simulator) does the I/O,
// as with etcd raft's Ready/Advance.
package lbft

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Hash identifies a block.
type Hash [32]byte

// String is the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short is the first 8 hex digits, for logs and traces.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

// Block is a block as consensus sees it. Hash covers every field but the
// seal and the certificate (Round and Commits), so an impeach block has
// the same hash whatever round finalizes it.
type Block struct {
	Height uint64
	Parent Hash
	// Time is the block's timestamp in milliseconds.
	Time int64
	// Proposer identifies who sealed the block; empty for an impeach block.
	Proposer []byte
	// Impeach marks the block the validators build in place of a faulty
	// proposer's.
	Impeach bool
	// Body is everything else the block carries (transactions, state
	// root), opaque to consensus but covered by the hash.
	Body []byte
	// Seal is the proposer's signature over Hash; empty for an impeach
	// block.
	Seal []byte

	// Round is the round whose commit certificate finalized the block.
	Round uint32
	// Commits are the 2f+1 commit votes of Round for the block.
	Commits []Vote
}

// Hash returns the block's identity.
func (b *Block) Hash() Hash {
	h := sha256.New()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], b.Height)
	h.Write(buf[:])
	h.Write(b.Parent[:])
	binary.BigEndian.PutUint64(buf[:], uint64(b.Time))
	h.Write(buf[:])
	binary.BigEndian.PutUint32(buf[:4], uint32(len(b.Proposer)))
	h.Write(buf[:4])
	h.Write(b.Proposer)
	if b.Impeach {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	body := sha256.Sum256(b.Body)
	h.Write(body[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// WithoutCert returns a copy of b without its certificate.
func (b *Block) WithoutCert() *Block {
	c := *b
	c.Round, c.Commits = 0, nil
	return &c
}

// VoteKind is what a vote signs.
type VoteKind uint8

// Vote kinds.
const (
	// Prepare votes for a value in a round. An empty impeach prepare is a
	// prepare vote for the impeach block.
	Prepare VoteKind = 1
	// Commit votes to finalize a value in a round.
	Commit VoteKind = 2
)

func (k VoteKind) String() string {
	switch k {
	case Prepare:
		return "prepare"
	case Commit:
		return "commit"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Vote is one validator's signed vote for (Height, Round, Value).
type Vote struct {
	Kind   VoteKind
	Height uint64
	Round  uint32
	Value  Hash
	Signer int
	Sig    []byte
}

// Digest is what the vote's signature covers.
func (v *Vote) Digest() Hash { return voteDigest(v.Kind, v.Height, v.Round, v.Value) }

func voteDigest(k VoteKind, h uint64, r uint32, x Hash) Hash {
	var buf [8 + 4 + 32 + 8]byte
	tag := "Prepare"
	if k == Commit {
		tag = "Commit"
	}
	n := copy(buf[:], tag)
	binary.BigEndian.PutUint64(buf[n:], h)
	binary.BigEndian.PutUint32(buf[n+8:], r)
	copy(buf[n+12:], x[:])
	return sha256.Sum256(buf[:n+12+32])
}

// Cert is a certificate: 2f+1 votes of one kind from distinct validators
// for the same (Height, Round, Value).
type Cert struct {
	Kind   VoteKind
	Height uint64
	Round  uint32
	Value  Hash
	Votes  []Vote
}

// Report is the signed part of an IMPEACH PREPARE: the signer gives up
// round Round-1 and names the highest prepare certificate it knows at the
// height (CertRound < 0: none).
type Report struct {
	Height    uint64
	Round     uint32
	Signer    int
	CertRound int64
	CertValue Hash
	Sig       []byte
}

// Digest is what the report's signature covers.
func (r *Report) Digest() Hash {
	var buf [7 + 8 + 4 + 8 + 32]byte
	n := copy(buf[:], "Impeach")
	binary.BigEndian.PutUint64(buf[n:], r.Height)
	binary.BigEndian.PutUint32(buf[n+8:], r.Round)
	binary.BigEndian.PutUint64(buf[n+12:], uint64(r.CertRound))
	copy(buf[n+20:], r.CertValue[:])
	return sha256.Sum256(buf[:])
}

// Empty reports no certificate: the report is then also a prepare vote
// for the impeach block.
func (r *Report) Empty() bool { return r.CertRound < 0 }

// MsgType names a message.
type MsgType uint8

// Message types. Names follow the seed and CPChain.
const (
	// MsgPreprepare is the proposer's block for round 0.
	MsgPreprepare MsgType = iota + 1
	// MsgPrepare carries prepare votes for (Height, Round, Value).
	MsgPrepare
	// MsgCommit carries commit votes for (Height, Round, Value) and the
	// prepare certificate that justifies them.
	MsgCommit
	// MsgValidate carries a final block with its commit certificate.
	MsgValidate
	// MsgImpeachPrepare carries a signed report (and the certificate it
	// names), or, when empty, also a prepare vote for the impeach block.
	MsgImpeachPrepare
	// MsgImpeachPreprepare is a coordinator's justified choice for a round.
	MsgImpeachPreprepare
	// MsgGetBlock asks for the body of block Value at Height; a validator
	// holding it answers with a PREPREPARE.
	MsgGetBlock
)

var msgNames = map[MsgType]string{
	MsgPreprepare: "PREPREPARE", MsgPrepare: "PREPARE", MsgCommit: "COMMIT", MsgValidate: "VALIDATE",
	MsgImpeachPrepare: "IMPEACH-PREPARE", MsgImpeachPreprepare: "IMPEACH-PREPREPARE", MsgGetBlock: "GET-BLOCK",
}

func (t MsgType) String() string {
	if s, ok := msgNames[t]; ok {
		return s
	}
	return fmt.Sprintf("msg(%d)", uint8(t))
}

// Broadcast is the To of a message for every peer.
const Broadcast = -1

// Message is what cores exchange. Every vote and report in it carries
// its own signature, so messages may be relayed by anyone.
type Message struct {
	Type   MsgType
	From   int // the sending validator, or -1 (a proposer or civilian)
	To     int // a validator index, or Broadcast
	Height uint64
	Round  uint32
	Value  Hash
	// Block is the proposal (PREPREPARE) or the final block (VALIDATE).
	Block *Block
	// Votes are the prepare or commit votes for (Height, Round, Value)
	// the sender has collected, its own included.
	Votes []Vote
	// Cert is the prepare certificate justifying a COMMIT, or the highest
	// one the sender knows (IMPEACH PREPARE, COMMIT).
	Cert *Cert
	// HighCert is the sender's highest prepare certificate at Height, when
	// it differs from Cert.
	HighCert *Cert
	// Report is an IMPEACH PREPARE's signed report.
	Report *Report
	// Prepare is an empty IMPEACH PREPARE's prepare vote for the impeach
	// block.
	Prepare *Vote
	// Justification is a coordinator's 2f+1 reports.
	Justification []Report
}

func (m *Message) String() string {
	to := "all"
	if m.To != Broadcast {
		to = fmt.Sprint(m.To)
	}
	return fmt.Sprintf("%s h=%d r=%d x=%s from=%d to=%s votes=%d", m.Type, m.Height, m.Round, m.Value.Short(), m.From, to, len(m.Votes))
}
