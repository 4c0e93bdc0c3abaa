package private

import (
	"fmt"
	"sort"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/kv"
)

// Finding is one thing an audit of a private contract found wrong.
type Finding struct {
	Tx          string `json:"tx"`
	Participant string `json:"participant,omitempty"`
	// Kind is "diverged" (the participant's root differs from the others'
	// or from the auditor's own), "split" (participants disagree with no
	// majority), "missing" (no attestation yet) or "call" (the chain
	// records something wrong with the call itself).
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// State is a state root and length after a call.
type State struct {
	Root   string
	Length uint64
}

// Audit checks what the chain shows of a private contract: every sealed
// call must have an attestation from each participant, all with the same
// state. When mine (the auditor's own engine's state after each call, by
// transaction id; nil for an outsider) is given, it is the reference: a
// participant whose attestation differs from it diverged. Otherwise a
// strict majority of the attestations is, and without one the call is
// "split". It reads only its arguments.
func Audit(pc *host.PrivateContract, mine map[string]State) []Finding {
	var out []Finding
	for _, call := range pc.Calls {
		for _, n := range call.Notes {
			out = append(out, Finding{Tx: call.Tx, Participant: call.Sender, Kind: "call", Detail: n})
		}
		if len(call.Notes) > 0 {
			continue // not a call of the contract: nobody ran it
		}
		votes := map[State][]string{}
		for _, p := range pc.Participants {
			a, ok := call.Attested[p]
			if !ok {
				out = append(out, Finding{Tx: call.Tx, Participant: p, Kind: "missing", Detail: "no attestation of the state after this call"})
				continue
			}
			s := State{a.Root, a.Length}
			votes[s] = append(votes[s], p)
		}
		ref, ok := mine[call.Tx]
		if !ok {
			ref, ok = majority(votes, len(pc.Participants))
		}
		if !ok {
			if len(votes) > 1 {
				out = append(out, Finding{Tx: call.Tx, Kind: "split", Detail: fmt.Sprintf("%d different states attested and no majority", len(votes))})
			}
			continue
		}
		for s, who := range votes {
			if s == ref {
				continue
			}
			for _, p := range who {
				out = append(out, Finding{Tx: call.Tx, Participant: p, Kind: "diverged",
					Detail: fmt.Sprintf("attested root %s at length %d; the state is %s at length %d", s.Root, s.Length, ref.Root, ref.Length)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tx != out[j].Tx {
			return false // calls stay in chain order
		}
		return out[i].Participant < out[j].Participant
	})
	return out
}

// majority is the state more than half of n participants attested.
func majority(votes map[State][]string, n int) (State, bool) {
	for s, who := range votes {
		if 2*len(who) > n {
			return s, true
		}
	}
	return State{}, false
}

// States returns, for each call of pc without notes, the state after it
// as the engine whose state st is computed it: a call the engine ran
// left the state its record shows; an envelope it left out (one that did
// not open as a call of this contract) left the state as it was. These
// are what a participant attests, and its reference in Audit.
func States(pc *host.PrivateContract, st kv.Reader) (map[string]State, error) {
	out := map[string]State{}
	var cur State
	for _, call := range pc.Calls {
		if len(call.Notes) > 0 {
			continue
		}
		cc, ok, err := host.ChainCallOf(st, call.Tx)
		if err != nil {
			return nil, err
		}
		if ok {
			cur = State{Root: cc.Record.StateRoot, Length: cc.Record.StateLength}
		}
		if cur.Root == "" {
			return nil, fmt.Errorf("private contract %s: this engine has not run its create", pc.ID)
		}
		out[call.Tx] = cur
	}
	return out, nil
}
