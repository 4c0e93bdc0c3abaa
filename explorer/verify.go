package explorer

import (
	"context"
	"errors"
	"sync"

	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/hyperlog"
)

// MaxVerify is the longest call log the explorer audits itself; longer
// ones are for `vchain audit`, which shows progress.
const MaxVerify = 20_000

// Verification is what an audit of a contract's logs, as this host serves
// them, found: the same checks `vchain audit` runs (every signed head, each
// record's link to the signed user entry it serves, the order, the acks,
// and a replay of every call that must give the same result, gas and
// state root), reported per record.
type Verification struct {
	Contract string `json:"contract"`
	// Length is the call log length the audit covered.
	Length uint64 `json:"length"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
	// Report counts what was checked.
	Report *audit.Report `json:"report,omitempty"`
	// Finding is the first check that failed.
	Finding *Finding `json:"finding,omitempty"`
	// Skipped says why the explorer did not audit the contract itself.
	Skipped string `json:"skipped,omitempty"`
	// Calls is each record's verdict, by seq: "verified", "failed" (the
	// record the finding names) or "unchecked" (after it, or the whole
	// log when a head's signature failed).
	Calls []string `json:"calls,omitempty"`
}

// Finding is an audit finding.
type Finding struct {
	Check string `json:"check"`
	Entry int64  `json:"entry"`
	Msg   string `json:"message"`
}

// verifier audits contracts one at a time and remembers the latest
// verdict for each (a log only grows, so a verdict is reused until it
// does).
type verifier struct {
	h    *host.Host
	mu   sync.Mutex // one audit at a time: they replay every call
	done map[host.ContractID]*Verification
}

// maxVerdicts bounds the verdicts kept.
const maxVerdicts = 256

func (v *verifier) verify(ctx context.Context, idHex string) (*Verification, error) {
	hash, err := hyperlog.ParseHash(idHex)
	if err != nil {
		return nil, errors.New("a contract id is 64 hex digits")
	}
	id := host.ContractID(hash)
	info, err := v.h.Info(id)
	if err != nil {
		return nil, err
	}
	out := &Verification{Contract: info.ID.String(), Length: info.Head.Length}
	if info.Head.Length > MaxVerify {
		out.Skipped = "the call log is too long to audit here: run vchain audit"
		return out, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if got := v.done[info.ID]; got != nil && got.Length >= info.Head.Length {
		return got, nil
	}
	ev, err := audit.Fetch(ctx, audit.HostSource(v.h), info.ID.String())
	var rep *audit.Report
	if err == nil {
		// The log may have grown since the head read above: the verdict
		// covers what was fetched.
		out.Length = ev.CallLog.Head.Length
		rep, err = audit.Verify(ev, audit.Options{Limits: v.h.Limits()})
	}
	var f *audit.Finding
	switch {
	case errors.As(err, &f):
		out.Finding = &Finding{Check: f.Check, Entry: f.Entry, Msg: f.Msg}
	case err != nil:
		return nil, err
	default:
		out.OK = true
	}
	out.Report = rep
	out.Calls = verdicts(out.Length, out.Finding)
	if len(v.done) >= maxVerdicts {
		for k := range v.done {
			delete(v.done, k)
			break
		}
	}
	v.done[info.ID] = out
	return out, nil
}

// verdicts marks n records given an audit's first finding (nil: none):
// the records before the one it names verified, that one failed, the rest
// unchecked; a finding that names no record (a head's signature, a user
// log) leaves them all unchecked.
func verdicts(n uint64, f *Finding) []string {
	out := make([]string, n)
	for i := range out {
		switch {
		case f == nil || (f.Entry >= 0 && int64(i) < f.Entry):
			out[i] = "verified"
		case f.Entry == int64(i):
			out[i] = "failed"
		default:
			out[i] = "unchecked"
		}
	}
	return out
}
