package chain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// viewJSON runs a view and returns its result as JSON.
func (h *harness) viewJSON(contract chain.Address, method, args string) (string, error) {
	h.t.Helper()
	v, err := h.c.View(h.state(), contract, method, json.RawMessage(args))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b), nil
}

func TestViews(t *testing.T) {
	h := newHarness(t)
	if err := h.claim(30, 2); err != nil {
		t.Fatal(err)
	}
	p := addr(50)
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.RPTAddress)),
		h.tx(31, chain.RegisterAddress, 0, claimUpload("a.csv", 10)),
		h.tx(32, chain.EscrowAddress, 0, openEscrow("deal")))
	h.mustBlock(h.tx(31, chain.RegisterAddress, 0, claimUpload("b.csv", 20)),
		h.tx(30, chain.EscrowAddress, 7, prepay("deal")))
	st := h.state()
	params, _ := st.Params()
	ci, _, _ := st.CandidateInfoOf(addr(30))
	ciJSON, _ := json.Marshal(ci)
	rpt, err := h.c.GetRPT(st, addr(30))
	if err != nil {
		t.Fatal(err)
	}
	rptJSON, _ := json.Marshal(rpt)
	ups, _ := st.Uploads(addr(31), 0, 10)
	upsJSON, _ := json.Marshal(ups)
	e, _, _ := st.Escrow("deal")
	eJSON, _ := json.Marshal(e)
	q := func(a chain.Address) string { return fmt.Sprintf("%q", a) }
	for _, tc := range []struct {
		contract chain.Address
		method   string
		args     string
		want     string
	}{
		{chain.CampaignAddress, "candidatesOf", `[1]`, fmt.Sprintf("[%q]", addr(30))},
		{chain.CampaignAddress, "candidatesOf", `["2"]`, fmt.Sprintf("[%q]", addr(30))},
		{chain.CampaignAddress, "candidatesOf", `[9]`, `[]`},
		{chain.CampaignAddress, "candidateInfoOf", `[` + q(addr(30)) + `]`, string(ciJSON)},
		{chain.CampaignAddress, "candidateInfoOf", `{"candidate":` + q(addr(31)) + `}`, `null`},
		{chain.AdmissionAddress, "getAdmissionParameters", ``, fmt.Sprintf(`{"cpu_difficulty":%d,"memory_difficulty":%d,"acceptable_blocks":%d}`, params.CPUDifficulty, params.MemoryDifficulty, params.AcceptableBlocks)},
		{chain.AdmissionAddress, "getAdmissionParameters", `[]`, fmt.Sprintf(`{"cpu_difficulty":%d,"memory_difficulty":%d,"acceptable_blocks":%d}`, params.CPUDifficulty, params.MemoryDifficulty, params.AcceptableBlocks)},
		{chain.RPTAddress, "getRpt", `[` + q(addr(30)) + `]`, string(rptJSON)},
		{chain.RPTAddress, "params", `null`, fmt.Sprintf(`{"alpha":%d,"beta":%d,"gamma":%d,"psi":%d,"omega":%d,"window":%d}`, params.Alpha, params.Beta, params.Gamma, params.Psi, params.Omega, params.Window)},
		{chain.ProxyRegisterAddress, "getRealContract", `[` + q(p) + `]`, q(chain.RPTAddress)},
		{chain.ProxyRegisterAddress, "getRealContract", `[` + q(addr(51)) + `]`, `null`},
		{chain.ProxyRegisterAddress, "getProxyContract", `[` + q(chain.RPTAddress) + `]`, q(p)},
		{chain.ProxyRegisterAddress, "getOldContract", `[` + q(p) + `, 1]`, q(chain.RPTAddress)},
		{chain.ProxyRegisterAddress, "getOldContract", `{"version": 2, "proxy": ` + q(p) + `}`, `null`},
		{chain.ProxyRegisterAddress, "getContractVersion", `[` + q(p) + `]`, `1`},
		{chain.RegisterAddress, "getUploadCount", `[` + q(addr(31)) + `]`, `2`},
		{chain.RegisterAddress, "getUploadCountAfterBlock", `[` + q(addr(31)) + `, 2]`, `1`},
		{chain.RegisterAddress, "uploads", `[` + q(addr(31)) + `, 0, 10]`, string(upsJSON)},
		{chain.RegisterAddress, "uploads", `[` + q(addr(30)) + `, 0, 10]`, `[]`},
		{chain.EscrowAddress, "escrowOf", `["deal"]`, string(eJSON)},
		{chain.EscrowAddress, "escrowOf", `["nope"]`, `null`},
		{chain.EscrowAddress, "escrowOf", `[123]`, `null`},
		{chain.EscrowAddress, "escrowOf", `["Not A Name"]`, `null`},
		// Through the proxy: RPT's views.
		{p, "params", ``, fmt.Sprintf(`{"alpha":%d,"beta":%d,"gamma":%d,"psi":%d,"omega":%d,"window":%d}`, params.Alpha, params.Beta, params.Gamma, params.Psi, params.Omega, params.Window)},
	} {
		got, err := h.viewJSON(tc.contract, tc.method, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("%s.%s(%s) = %s, %v; want %s", chain.ContractName(tc.contract), tc.method, tc.args, got, err, tc.want)
		}
	}
	if !strings.Contains(string(eJSON), `"balance":7`) {
		t.Fatalf("escrow %s", eJSON)
	}
}

func TestViewRefusals(t *testing.T) {
	h := newHarness(t)
	a := fmt.Sprintf("%q", addr(30))
	for _, tc := range []struct {
		contract chain.Address
		method   string
		args     string
		notFound bool
		want     string
	}{
		{addr(60), "getRpt", `[]`, true, "is neither a system contract nor a proxy of one; the contracts: admission, campaign, escrow, pdash"},
		{chain.RPTAddress, "getRPT", `[]`, true, `rpt has no view "getRPT"; its views: getRpt(address address), params()`},
		{chain.EscrowAddress, "payTo", `[]`, true, `escrow has no view "payTo"; its views: escrowOf(name string)`},
		{chain.RPTAddress, "getRpt", ``, false, "getRpt(address address): 0 arguments given, it takes 1"},
		{chain.RPTAddress, "getRpt", `[` + a + `, 1]`, false, "2 arguments given, it takes 1"},
		{chain.RPTAddress, "getRpt", `[12]`, false, "argument 1 (address): want an address as a string"},
		{chain.RPTAddress, "getRpt", `["0x12"]`, false, `argument 1 (address): address "0x12": want 40 hex digits`},
		{chain.RPTAddress, "getRpt", `{"addr": ` + a + `}`, false, `no parameter named "addr"`},
		{chain.ProxyRegisterAddress, "getOldContract", `{"proxy": ` + a + `}`, false, "getOldContract(proxy address, version uint64): the argument version is missing"},
		{chain.ProxyRegisterAddress, "getOldContract", `[` + a + `, -1]`, false, "argument 2 (version): want a non-negative integer below 2^64, got -1"},
		{chain.ProxyRegisterAddress, "getOldContract", `[` + a + `, 1.5]`, false, "argument 2 (version): want a non-negative integer"},
		{chain.ProxyRegisterAddress, "getOldContract", `[` + a + `, 18446744073709551616]`, false, "below 2^64"},
		{chain.ProxyRegisterAddress, "getOldContract", `[` + a + `, true]`, false, "argument 2 (version): want a non-negative integer, got true"},
		{chain.CampaignAddress, "candidatesOf", `[1`, false, "candidatesOf(term uint64): arguments [1"},
		{chain.CampaignAddress, "candidatesOf", `1`, false, "want the arguments as a JSON array (in order) or object (by name), got 1"},
		{chain.CampaignAddress, "candidatesOf", `[` + strings.Repeat(" ", chain.MaxViewArgs) + `1]`, false, "bytes of arguments, at most 4096"},
		{chain.EscrowAddress, "escrowOf", `[["x"]]`, false, "argument 1 (name): want a string"},
	} {
		_, err := h.viewJSON(tc.contract, tc.method, tc.args)
		var ve *chain.ViewError
		if !errors.As(err, &ve) || ve.NotFound != tc.notFound || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s.%s(%.40s): %v (not found: %v); want a view error saying %q (not found: %v)", chain.ContractName(tc.contract), tc.method, tc.args, err, ve != nil && ve.NotFound, tc.want, tc.notFound)
		}
	}
}

func TestViewList(t *testing.T) {
	vs := chain.Views()
	if !slices.IsSortedFunc(vs, func(x, y chain.ViewInfo) int {
		return strings.Compare(x.Contract+"."+x.Method, y.Contract+"."+y.Method)
	}) {
		t.Fatal("Views is not sorted")
	}
	var names []string
	for _, v := range vs {
		if strings.HasPrefix(v.Contract, "0x") {
			t.Errorf("view %s of a contract with no name", v)
		}
		if got, err := chain.ContractByName(v.Contract); err != nil || got != v.Address {
			t.Errorf("ContractByName(%s) = %s, %v", v.Contract, got, err)
		}
		names = append(names, v.Contract+"."+v.String())
	}
	for _, want := range []string{
		"campaign.candidatesOf(term uint64)", "campaign.candidateInfoOf(candidate address)",
		"rpt.getRpt(address address)", "rpt.params()", "admission.getAdmissionParameters()",
		"proxyRegister.getRealContract(proxy address)", "proxyRegister.getProxyContract(real address)",
		"proxyRegister.getOldContract(proxy address, version uint64)", "proxyRegister.getContractVersion(proxy address)",
		"register.getUploadCount(user address)", "register.getUploadCountAfterBlock(user address, block uint64)",
		"register.uploads(user address, from uint64, limit uint64)", "escrow.escrowOf(name string)",
		"pdash.orderOf(id uint64)", "pdash.proxyOf(proxy address)", "pdash.params()",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no view %s in %v", want, names)
		}
	}
	if _, err := chain.ContractByName("nope"); err == nil || !strings.Contains(err.Error(), "want admission, campaign, escrow") {
		t.Fatalf("ContractByName(nope): %v", err)
	}
	if a, err := chain.ContractByName(addr(5).String()); err != nil || a != addr(5) {
		t.Fatalf("ContractByName(address): %s, %v", a, err)
	}
}

// TestCallFromJSON: every function of every system contract takes its
// arguments as JSON, and the CBOR it makes is what the contract decodes.
func TestCallFromJSON(t *testing.T) {
	seen := map[string]chain.Address{}
	for c, ms := range chain.Methods {
		for _, m := range ms {
			if prev, dup := seen[m]; dup {
				t.Errorf("%s is a function of both %s and %s", m, prev, c)
			}
			seen[m] = c
		}
	}
	a, b := addr(30).String(), addr(31).String()
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		method, args string
		want         any // the args the CBOR must decode to
	}{
		{"claimCampaign", `{"terms":2,"cpu_nonce":3,"cpu_block":4,"mem_nonce":5,"mem_block":6}`, chain.ClaimCampaignArgs{Terms: 2, CPUNonce: 3, CPUBlock: 4, MemNonce: 5, MemBlock: 6}},
		{"quitCampaign", ``, nil},
		{"quitCampaign", `{}`, nil},
		{"punishCandidate", `{"candidate":"` + a + `","term":3}`, chain.PunishCandidateArgs{Candidate: addr(30), Term: 3}},
		{"updateCPUDifficulty", `{"value":5}`, chain.UpdateArgs{Value: 5}},
		{"updateMemoryDifficulty", `{"value":5}`, chain.UpdateArgs{Value: 5}},
		{"updateAlpha", `{"value":1}`, chain.UpdateArgs{Value: 1}},
		{"updateBeta", `{"value":1}`, chain.UpdateArgs{Value: 1}},
		{"updateGamma", `{"value":1}`, chain.UpdateArgs{Value: 1}},
		{"updatePsi", `{"value":1}`, chain.UpdateArgs{Value: 1}},
		{"updateOmega", `{"value":1}`, chain.UpdateArgs{Value: 1}},
		{"updateWindow", `{"value":9}`, chain.UpdateArgs{Value: 9}},
		{"registerProxyContract", `{"proxy":"` + a + `","real":"` + b + `"}`, chain.RegisterProxyContractArgs{Proxy: addr(30), Real: addr(31)}},
		{"claimRegister", `{"file_name":"f","file_hash":"` + hash + `","file_size":1}`, nil},
		{"openEscrow", `{"name":"deal"}`, chain.EscrowArgs{Name: "deal"}},
		{"prepay", `{"name":"deal"}`, chain.EscrowArgs{Name: "deal"}},
		{"payTo", `{"name":"deal","to":"` + a + `","amount":5}`, chain.PayToArgs{Name: "deal", To: addr(30), Amount: 5}},
		{"refund", `{"name":"deal","payer":"` + b + `","amount":5}`, chain.RefundArgs{Name: "deal", Payer: addr(31), Amount: 5}},
		{"proxyDeposit", ``, nil},
		{"proxyWithdraw", `{"amount":7}`, chain.ProxyWithdrawArgs{Amount: 7}},
		{"placeOrder", `{"desc_hash":"` + hash + `","seller":"` + a + `","proxy":"` + b + `","price":10,"proxy_fee":2,"timeout_blocks":30}`, nil},
		{"sellerConfirm", `{"order":1}`, chain.OrderArgs{Order: 1}},
		{"proxyDelivered", `{"order":1,"deliver_hash":"0x` + hash + `"}`, nil},
		{"buyerConfirm", `{"order":1}`, chain.OrderArgs{Order: 1}},
		{"buyerDispute", `{"order":1}`, chain.OrderArgs{Order: 1}},
		{"resolveDispute", `{"order":1,"refund_buyer":true}`, chain.ResolveDisputeArgs{Order: 1, RefundBuyer: true}},
		{"buyerClaimTimeout", `{"order":1}`, chain.OrderArgs{Order: 1}},
		{"sellerClaimTimeout", `{"order":1}`, chain.OrderArgs{Order: 1}},
		{"rateProxy", `{"order":1,"rating":5}`, chain.RateProxyArgs{Order: 1, Rating: 5}},
		{"updateProxyMinDeposit", `{"value":50}`, chain.UpdateArgs{Value: 50}},
	} {
		delete(seen, tc.method)
		call, err := chain.CallFromJSON(tc.method, []byte(tc.args))
		if err != nil || call.Method != tc.method {
			t.Errorf("%s %s: %v", tc.method, tc.args, err)
			continue
		}
		if tc.want != nil && string(call.Args) != string(chain.Marshal(tc.want)) {
			t.Errorf("%s %s: args %x, want %x", tc.method, tc.args, call.Args, chain.Marshal(tc.want))
		}
	}
	for m := range seen {
		t.Errorf("function %s is not tested", m)
	}
	for _, tc := range []struct{ method, args, want string }{
		{"nope", `{}`, `no function "nope" in any system contract; the functions: buyerClaimTimeout, buyerConfirm`},
		{"quitCampaign", `{"x":1}`, `quitCampaign takes no arguments`},
		{"payTo", ``, `payTo takes its arguments as a JSON object: {"name": string, "to": address, "amount": uint64}`},
		{"payTo", `{"name":"d","too":"x"}`, `unknown field "too"`},
		{"payTo", `{"name":"d","to":"0x1"}`, `want 40 hex digits`},
		{"payTo", `{"name":"d","amount":-1}`, `payTo's arguments`},
		{"openEscrow", `{"name":"d"} {}`, `more than one JSON value`},
		{"claimRegister", `{"file_hash":"zz"}`, `{"file_name": string, "file_hash": hex, "file_size": uint64}`},
		{"placeOrder", `{}{}`, `more than one JSON value`},
		{"resolveDispute", `{"order":1,"refund_buyer":1}`, `{"order": uint64, "refund_buyer": bool}`},
		{"proxyDeposit", `{"amount":1}`, `proxyDeposit takes no arguments`},
	} {
		if _, err := chain.CallFromJSON(tc.method, []byte(tc.args)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want an error saying %q", tc.method, tc.args, err, tc.want)
		}
	}
}
