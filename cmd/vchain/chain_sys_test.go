package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/dportest"
)

// sysEnv is a running chain whose deployer is the funded account, with
// key files for the CLI.
type sysEnv struct {
	t    *testing.T
	c    *dportest.Cluster
	api  string
	keys map[string]string        // name -> key file
	addr map[string]chain.Address // name -> address
}

func newSysEnv(t *testing.T, names ...string) *sysEnv {
	c := dportest.StartWith(t, 4, 1, func(g *chain.Genesis) { g.Deployer = dportest.Address(dportest.Funded) })
	c.WaitHeight(0, 2, 10*time.Second)
	e := &sysEnv{t: t, c: c, api: c.API(0), keys: map[string]string{}, addr: map[string]chain.Address{}}
	dir := t.TempDir()
	add := func(name string, k ed25519.PrivateKey) {
		p := filepath.Join(dir, name+".key")
		if err := os.WriteFile(p, []byte(hex.EncodeToString(k.Seed())), 0o600); err != nil {
			t.Fatal(err)
		}
		e.keys[name], e.addr[name] = p, chain.AddressOf(k.Public().(ed25519.PublicKey))
	}
	add("deployer", dportest.Key(dportest.Funded))
	for i, n := range names {
		add(n, dportest.Key(60+i))
	}
	return e
}

// balance is an account's committed balance, as account show prints it.
func (e *sysEnv) balance(name string) uint64 {
	e.t.Helper()
	var st struct{ Balance uint64 }
	if err := json.Unmarshal([]byte(mustRun(e.t, "account", "show", e.addr[name].String(), "--rpc", e.api)), &st); err != nil {
		e.t.Fatal(err)
	}
	return st.Balance
}

// view runs chain call and returns what it printed, compacted.
func (e *sysEnv) view(contract, method string, args ...string) string {
	e.t.Helper()
	out := mustRun(e.t, append([]string{"chain", "call", "--contract", contract, "--method", method, "--rpc", e.api}, args...)...)
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		e.t.Fatalf("chain call %s %s printed %q: %v", contract, method, out, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// call runs tx call as who and waits until the transaction is final.
func (e *sysEnv) call(who, contract, method, args string, amount uint64) {
	e.t.Helper()
	mustRun(e.t, e.callArgs(who, contract, method, args, amount)...)
}

// callFails runs tx call as who, wants it to fail with want in its
// reason, and returns the reason printed.
func (e *sysEnv) callFails(who, contract, method, args string, amount uint64, want string) string {
	e.t.Helper()
	_, errOut, code := run(e.t, "", e.callArgs(who, contract, method, args, amount)...)
	if code == 0 || !strings.Contains(errOut, want) {
		e.t.Fatalf("tx call %s.%s %s as %s: exit %d, stderr %q; want a failure saying %q", contract, method, args, who, code, errOut, want)
	}
	e.t.Logf("%s.%s %s as %s: %s", contract, method, args, who, strings.TrimSpace(errOut))
	return errOut
}

func (e *sysEnv) callArgs(who, contract, method, args string, amount uint64) []string {
	a := []string{"tx", "call", "--contract", contract, "--method", method, "--key", e.keys[who], "--rpc", e.api}
	if args != "" {
		a = append(a, "--args", args)
	}
	if amount > 0 {
		a = append(a, "--amount", fmt.Sprint(amount))
	}
	return a
}

// viewFails runs chain call, wants it to fail with want in what it
// printed, and returns that.
func (e *sysEnv) viewFails(contract, method, want string, args ...string) {
	e.t.Helper()
	_, errOut, code := run(e.t, "", append([]string{"chain", "call", "--contract", contract, "--method", method, "--rpc", e.api}, args...)...)
	if code == 0 || !strings.Contains(errOut, want) {
		e.t.Fatalf("chain call %s.%s %v: exit %d, stderr %q; want a failure saying %q", contract, method, args, code, errOut, want)
	}
	e.t.Logf("chain call %s.%s %v: %s", contract, method, args, strings.TrimSpace(errOut))
}

// TestCLIChainViewsAndEscrow: through the CLI against a running chain,
// every view of every system contract answers (directly and through a
// proxy), the escrow's four functions move coins exactly, and each
// refusal, of a view or a call, prints its reason.
func TestCLIChainViewsAndEscrow(t *testing.T) {
	e := newSysEnv(t, "agent", "buyer", "seller")
	for _, n := range []string{"agent", "buyer"} {
		mustRun(t, "tx", "send", "--to", e.addr[n].String(), "--amount", "10000", "--key", e.keys["deployer"], "--rpc", e.api)
	}
	q := func(a chain.Address) string { return fmt.Sprintf("%q", a) }
	buyer, agent, seller := e.addr["buyer"], e.addr["agent"], e.addr["seller"]
	proxy := dportest.Address(90)

	// Functions with JSON arguments: a deployer's setter, a proxy, an
	// upload.
	e.call("deployer", "rpt", "updateAlpha", `{"value":40}`, 0)
	e.call("deployer", "proxyRegister", "registerProxyContract", fmt.Sprintf(`{"proxy":%q,"real":%q}`, proxy, chain.RPTAddress), 0)
	e.call("buyer", "register", "claimRegister", `{"file_name":"data.csv","file_hash":"`+strings.Repeat("ab", 32)+`","file_size":1234}`, 0)
	e.callFails("buyer", "campaign", "quitCampaign", "", 0, "has no campaign in the terms to come")
	// Their refusals, with the reasons the receipts keep.
	e.callFails("buyer", "proxyRegister", "registerProxyContract", fmt.Sprintf(`{"proxy":%q,"real":%q}`, dportest.Address(92), chain.RPTAddress), 0, "deployer")
	e.callFails("deployer", "proxyRegister", "registerProxyContract", fmt.Sprintf(`{"proxy":%q,"real":%q}`, proxy, proxy), 0, "proxy")
	e.callFails("buyer", "register", "claimRegister", `{"file_name":"data.csv","file_hash":"abcd","file_size":1234}`, 0, "hash")
	e.callFails("buyer", "register", "claimRegister", `{"file_name":"data.csv","file_hash":"`+strings.Repeat("ab", 32)+`","file_size":0}`, 0, "size")

	// Every view.
	if got := e.view("campaign", "candidatesOf", "1"); got != `[]` {
		t.Fatalf("candidatesOf 1: %s", got)
	}
	if got := e.view("campaign", "candidateInfoOf", buyer.String()); got != `null` {
		t.Fatalf("candidateInfoOf: %s", got)
	}
	if got := e.view("admission", "getAdmissionParameters"); got != `{"acceptable_blocks":10,"cpu_difficulty":12,"memory_difficulty":6}` {
		t.Fatalf("getAdmissionParameters: %s", got)
	}
	if got := e.view("rpt", "params"); got != `{"alpha":40,"beta":15,"gamma":10,"omega":10,"psi":15,"window":100}` {
		t.Fatalf("rpt params: %s", got)
	}
	var rpt chain.RPT
	json.Unmarshal([]byte(e.view("rpt", "getRpt", buyer.String())), &rpt)
	if rpt.Address != buyer || rpt.Raw.DC != 1 || rpt.Weights.AB != 40 || rpt.Value < chain.RPTFloor {
		t.Fatalf("getRpt: %+v", rpt)
	}
	if got := e.view("proxyRegister", "getRealContract", proxy.String()); got != q(chain.RPTAddress) {
		t.Fatalf("getRealContract: %s", got)
	}
	if got := e.view("proxyRegister", "getProxyContract", chain.RPTAddress.String()); got != q(proxy) {
		t.Fatalf("getProxyContract: %s", got)
	}
	if got := e.view("proxyRegister", "getOldContract", proxy.String(), "1"); got != q(chain.RPTAddress) {
		t.Fatalf("getOldContract 1: %s", got)
	}
	if got := e.view("proxyRegister", "getOldContract", proxy.String(), "2"); got != `null` {
		t.Fatalf("getOldContract 2: %s", got)
	}
	if got := e.view("proxyRegister", "getContractVersion", proxy.String()); got != `1` {
		t.Fatalf("getContractVersion: %s", got)
	}
	if got := e.view("register", "getUploadCount", buyer.String()); got != `1` {
		t.Fatalf("getUploadCount: %s", got)
	}
	if got := e.view("register", "getUploadCountAfterBlock", buyer.String(), "0"); got != `1` {
		t.Fatalf("getUploadCountAfterBlock 0: %s", got)
	}
	if got := e.view("register", "uploads", buyer.String(), "0", "10"); !strings.Contains(got, `"file_name":"data.csv"`) || !strings.Contains(got, `"file_size":1234`) {
		t.Fatalf("uploads: %s", got)
	}
	if got := e.view(proxy.String(), "params"); !strings.Contains(got, `"alpha":40`) {
		t.Fatalf("params through the proxy: %s", got)
	}
	if got := e.view("escrow", "escrowOf", "deal-1"); got != `null` {
		t.Fatalf("escrowOf before opening: %s", got)
	}

	// View refusals.
	e.viewFails("rpt", "getRPT", `rpt has no view "getRPT"; its views: getRpt(address address), params() (HTTP 404)`)
	e.viewFails("rpt", "getRpt", "getRpt(address address): 0 arguments given, it takes 1 (HTTP 400)")
	e.viewFails("proxyRegister", "getOldContract", "argument 2 (version): want a non-negative integer", proxy.String(), "x")
	e.viewFails(dportest.Address(91).String(), "params", "is neither a system contract nor a proxy of one")
	e.viewFails("nope", "params", "--contract: contract \"nope\": want admission, campaign, escrow")

	// The escrow: P opens it, B prepays, P pays A and refunds B the rest.
	agent0, buyer0 := e.balance("agent"), e.balance("buyer")
	e.call("agent", "escrow", "openEscrow", `{"name":"deal-1"}`, 0)
	e.call("buyer", "escrow", "prepay", `{"name":"deal-1"}`, 500)
	var info chain.EscrowInfo
	json.Unmarshal([]byte(e.view("escrow", "escrowOf", "deal-1")), &info)
	if info.Owner != agent || info.Balance != 500 || len(info.Deposits) != 1 || info.Deposits[0] != (chain.EscrowDeposit{Payer: buyer, Amount: 500}) {
		t.Fatalf("escrowOf after prepay: %+v", info)
	}
	// Refusals, each with its reason.
	e.callFails("buyer", "escrow", "payTo", fmt.Sprintf(`{"name":"deal-1","to":%q,"amount":450}`, seller), 0, "is not the escrow's owner")
	e.callFails("agent", "escrow", "payTo", fmt.Sprintf(`{"name":"deal-1","to":%q,"amount":501}`, seller), 0, "escrow deal-1 holds 500, cannot pay 501")
	e.callFails("agent", "escrow", "payTo", fmt.Sprintf(`{"name":"nope","to":%q,"amount":1}`, seller), 0, "no escrow named nope")
	e.callFails("buyer", "escrow", "openEscrow", `{"name":"deal-1"}`, 0, "the name deal-1 is taken")
	e.callFails("buyer", "escrow", "openEscrow", `{"name":"Deal 1"}`, 0, `bad escrow name "Deal 1"`)
	e.callFails("buyer", "escrow", "prepay", `{"name":"deal-1"}`, 0, "no coins sent")
	e.callFails("agent", "escrow", "refund", fmt.Sprintf(`{"name":"deal-1","payer":%q,"amount":501}`, buyer), 0, "has 500 deposited in escrow deal-1, cannot refund 501")
	e.callFails("agent", "escrow", "payTo", fmt.Sprintf(`{"name":"deal-1","to":%q,"amount":1}`, seller), 3, "Escrow.payTo takes no coins")
	// Refused before sending: arguments that do not fit the function.
	e.callFails("agent", "escrow", "payTo", `{"name":"deal-1","too":"x"}`, 0, `unknown field "too"`)
	e.callFails("agent", "escrow", "payTo", "", 0, `payTo takes its arguments as a JSON object: {"name": string, "to": address, "amount": uint64}`)
	e.callFails("agent", "escrow", "pay", `{}`, 0, `escrow has no function "pay"; its functions: openEscrow, prepay, payTo, refund`)

	e.call("agent", "escrow", "payTo", fmt.Sprintf(`{"name":"deal-1","to":%q,"amount":450}`, seller), 0)
	e.call("agent", "escrow", "refund", fmt.Sprintf(`{"name":"deal-1","payer":%q,"amount":50}`, buyer), 0)
	json.Unmarshal([]byte(e.view("escrow", "escrowOf", "deal-1")), &info)
	if info.Balance != 0 || info.PaidOut != 450 || info.Refunded != 50 {
		t.Fatalf("escrowOf after paying out: %+v", info)
	}
	// Balances move by exactly the amounts and the fees (1 a
	// transaction): the agent sent 1 open, 4 refused calls that ran,
	// payTo and refund; the buyer 1 prepay and 4 refused calls that ran.
	if got, want := e.balance("seller"), uint64(450); got != want {
		t.Errorf("seller: %d, want %d", got, want)
	}
	if got, want := e.balance("agent"), agent0-7; got != want {
		t.Errorf("agent: %d, want %d", got, want)
	}
	if got, want := e.balance("buyer"), buyer0-500-1-4+50; got != want {
		t.Errorf("buyer: %d, want %d", got, want)
	}
	e.callFails("agent", "escrow", "payTo", fmt.Sprintf(`{"name":"deal-1","to":%q,"amount":1}`, seller), 0, "escrow deal-1 holds 0, cannot pay 1")
	// One line by default (for grep), indented with --pretty; an
	// argument may be JSON or bare.
	base := []string{"chain", "call", "--contract", "escrow", "--method", "escrowOf", "--rpc", e.api}
	if out := mustRun(t, append(base, `"deal-1"`)...); strings.Count(out, "\n") != 1 || !strings.Contains(out, `"balance":0,`) {
		t.Fatalf("chain call printed %q", out)
	}
	if out := mustRun(t, append(base, "--pretty", "deal-1")...); !strings.Contains(out, "\n  \"balance\": 0,\n") {
		t.Fatalf("chain call --pretty printed %q", out)
	}
}

// TestCLIPDash: a PDash order's whole life through the CLI (deposit,
// order, confirmations, delivery, rating), a dispute the deployer
// resolves for the buyer, the views orderOf, proxyOf and params, and
// refusals of wrong callers and states with their reasons.
func TestCLIPDash(t *testing.T) {
	e := newSysEnv(t, "buyer", "seller", "proxy")
	for _, n := range []string{"buyer", "seller", "proxy"} {
		mustRun(t, "tx", "send", "--to", e.addr[n].String(), "--amount", "10000", "--key", e.keys["deployer"], "--rpc", e.api)
	}
	buyer, seller, proxy := e.addr["buyer"], e.addr["seller"], e.addr["proxy"]
	hash := strings.Repeat("cd", 32)
	order := fmt.Sprintf(`{"desc_hash":%q,"seller":%q,"proxy":%q,"price":300,"proxy_fee":20,"timeout_blocks":1000}`, hash, seller, proxy)
	b0, s0, p0 := e.balance("buyer"), e.balance("seller"), e.balance("proxy")

	if got := e.view("pdash", "params"); got != `{"max_order_timeout":100000,"proxy_min_deposit":100}` {
		t.Fatalf("pdash params: %s", got)
	}
	e.callFails("buyer", "pdash", "placeOrder", order, 320, "has deposited 0 as a proxy; a proxy needs 100")
	e.call("proxy", "pdash", "proxyDeposit", "", 100)
	if got := e.view("pdash", "proxyOf", proxy.String()); !strings.Contains(got, `"registered":true`) || !strings.Contains(got, `"reputation":10`) {
		t.Fatalf("proxyOf after the deposit: %s", got)
	}
	e.callFails("buyer", "pdash", "placeOrder", order, 300, "sent 300; the order needs price + proxy fee = 320")
	e.call("buyer", "pdash", "placeOrder", order, 320)
	var o chain.Order
	json.Unmarshal([]byte(e.view("pdash", "orderOf", "1")), &o)
	if o.State != chain.OrderCreated || o.Buyer != buyer || o.Price != 300 {
		t.Fatalf("orderOf 1: %+v", o)
	}
	e.callFails("proxy", "pdash", "proxyDelivered", `{"order":1,"deliver_hash":"`+hash+`"}`, 0, "order 1 is Created; it must be SellerConfirmed")
	e.callFails("buyer", "pdash", "sellerConfirm", `{"order":1}`, 0, "is not order 1's seller")
	e.call("seller", "pdash", "sellerConfirm", `{"order":1}`, 0)
	e.call("proxy", "pdash", "proxyDelivered", `{"order":1,"deliver_hash":"`+hash+`"}`, 0)
	e.callFails("seller", "pdash", "buyerConfirm", `{"order":1}`, 0, "is not order 1's buyer")
	e.callFails("proxy", "pdash", "proxyWithdraw", `{"amount":100}`, 0, "has 1 open orders; it may withdraw once they end")
	e.call("buyer", "pdash", "buyerConfirm", `{"order":1}`, 0)
	e.call("buyer", "pdash", "rateProxy", `{"order":1,"rating":5}`, 0)
	e.callFails("buyer", "pdash", "rateProxy", `{"order":1,"rating":5}`, 0, "order 1's proxy was already rated (5)")
	json.Unmarshal([]byte(e.view("pdash", "orderOf", "1")), &o)
	if o.State != chain.OrderFinished || o.Rating != 5 {
		t.Fatalf("orderOf 1 at the end: %+v", o)
	}

	// A second order, disputed and refunded.
	e.call("buyer", "pdash", "placeOrder", order, 320)
	e.call("seller", "pdash", "sellerConfirm", `{"order":2}`, 0)
	e.call("proxy", "pdash", "proxyDelivered", `{"order":2,"deliver_hash":"`+hash+`"}`, 0)
	e.call("buyer", "pdash", "buyerDispute", `{"order":2}`, 0)
	e.callFails("buyer", "pdash", "resolveDispute", `{"order":2,"refund_buyer":true}`, 0, "PDash.resolveDispute: only the deployer may call this")
	e.call("deployer", "pdash", "resolveDispute", `{"order":2,"refund_buyer":true}`, 0)
	if got := e.view("pdash", "orderOf", "2"); !strings.Contains(got, `"state":"Refunded"`) {
		t.Fatalf("orderOf 2: %s", got)
	}
	if got := e.view("pdash", "orderOf", "3"); got != `null` {
		t.Fatalf("orderOf 3: %s", got)
	}
	var pi chain.ProxyInfo
	json.Unmarshal([]byte(e.view("pdash", "proxyOf", proxy.String())), &pi)
	// 10 + 1 finished × 50 (rated 5) − 50 for the dispute lost.
	if pi.Finished != 1 || pi.DisputesLost != 1 || pi.OpenOrders != 0 || pi.Reputation != 10 || !pi.Registered {
		t.Fatalf("proxyOf at the end: %+v", pi)
	}
	var rpt chain.RPT
	json.Unmarshal([]byte(e.view("rpt", "getRpt", proxy.String())), &rpt)
	if rpt.Raw.PR != 10 {
		t.Fatalf("getRpt's PR of the proxy: %+v", rpt.Raw)
	}
	e.call("proxy", "pdash", "proxyWithdraw", `{"amount":100}`, 0)
	e.viewFails("pdash", "orderOf", "argument 1 (id): want a non-negative integer", "first")

	// Exact balances (a fee of 1 a transaction, refused ones included):
	// the buyer paid order 1 (320) and fees for 5 refused and 5 other
	// transactions; the seller got the price (3 fees), the proxy its fee
	// and its deposit back (2 refused, 4 others).
	if got, want := e.balance("buyer"), b0-320-(5+5); got != want {
		t.Errorf("buyer: %d, want %d", got, want)
	}
	if got, want := e.balance("seller"), s0+300-(1+2); got != want {
		t.Errorf("seller: %d, want %d", got, want)
	}
	if got, want := e.balance("proxy"), p0+20-(2+4); got != want {
		t.Errorf("proxy: %d, want %d", got, want)
	}
}
