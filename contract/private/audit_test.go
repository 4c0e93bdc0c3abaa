package private_test

import (
	"reflect"
	"testing"

	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/contract/private"
)

// TestAudit: with three participants a strict majority settles a call and
// the others diverged; without one the call is split; a missing
// attestation is reported; an auditor's own states override the vote.
func TestAudit(t *testing.T) {
	att := func(root string) host.AttestedState { return host.AttestedState{Root: root, Length: 3} }
	pc := &host.PrivateContract{ID: "c", Participants: []string{"a", "b", "p"}, Calls: []host.PrivateCall{
		{Tx: "t1", Attested: map[string]host.AttestedState{"a": att("r1"), "b": att("r1"), "p": att("r1")}},
		{Tx: "t2", Attested: map[string]host.AttestedState{"a": att("r2"), "b": att("bad"), "p": att("r2")}},
		{Tx: "t3", Attested: map[string]host.AttestedState{"a": att("x"), "b": att("y"), "p": att("z")}},
		{Tx: "t4", Attested: map[string]host.AttestedState{"a": att("r4"), "p": att("r4")}},
		{Tx: "t5", Notes: []string{"the sender is not a participant"}, Sender: "o"},
	}}
	want := []private.Finding{
		{Tx: "t2", Participant: "b", Kind: "diverged", Detail: "attested root bad at length 3; the state is r2 at length 3"},
		{Tx: "t3", Kind: "split", Detail: "3 different states attested and no majority"},
		{Tx: "t4", Participant: "b", Kind: "missing", Detail: "no attestation of the state after this call"},
		{Tx: "t5", Participant: "o", Kind: "call", Detail: "the sender is not a participant"},
	}
	if got := private.Audit(pc, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// b's own engine says r2 was wrong after t2 and bad was right: then
	// a and p diverged.
	got := private.Audit(pc, map[string]private.State{"t2": {Root: "bad", Length: 3}})
	var blamed []string
	for _, f := range got {
		if f.Tx == "t2" {
			blamed = append(blamed, f.Participant)
		}
	}
	if !reflect.DeepEqual(blamed, []string{"a", "p"}) {
		t.Fatalf("with the auditor's own state: %+v", got)
	}
}
