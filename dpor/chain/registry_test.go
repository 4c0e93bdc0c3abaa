package chain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/kv"
)

// callOf is a Call of method with args CBOR-encoded (raw bytes as they
// are).
func callOf(method string, args any) *chain.Call {
	c := &chain.Call{Method: method}
	switch a := args.(type) {
	case nil:
	case []byte:
		c.Args = a
	default:
		c.Args = chain.Marshal(a)
	}
	return c
}

func registerProxy(proxy, real chain.Address) *chain.Call {
	return callOf("registerProxyContract", chain.RegisterProxyContractArgs{Proxy: proxy, Real: real})
}

func claimUpload(name string, size uint64) *chain.Call {
	sum := sha256.Sum256([]byte(name))
	return callOf("claimRegister", chain.ClaimRegisterArgs{FileName: name, FileHash: sum[:], FileSize: size})
}

// failsWith applies a block holding tx and wants it to fail when it runs
// with a reason containing want.
func (h *harness) failsWith(tx *chain.Tx, want string) {
	h.t.Helper()
	_, err := h.block(tx)
	if err == nil || !strings.Contains(err.Error(), want) {
		h.t.Errorf("%s: %v, want a failure saying %q", tx.Call.Method, err, want)
	}
}

func (h *harness) real(proxy chain.Address) (chain.Address, bool) {
	h.t.Helper()
	a, ok, err := h.state().RealContract(proxy)
	if err != nil {
		h.t.Fatal(err)
	}
	return a, ok
}

func (h *harness) proxyOf(real chain.Address) (chain.Address, bool) {
	h.t.Helper()
	a, ok, err := h.state().ProxyContract(real)
	if err != nil {
		h.t.Fatal(err)
	}
	return a, ok
}

func (h *harness) old(proxy chain.Address, v uint64) (chain.Address, bool) {
	h.t.Helper()
	a, ok, err := h.state().OldContract(proxy, v)
	if err != nil {
		h.t.Fatal(err)
	}
	return a, ok
}

func (h *harness) version(proxy chain.Address) uint64 {
	h.t.Helper()
	v, err := h.state().ContractVersion(proxy)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) uploadCount(user chain.Address) uint64 {
	h.t.Helper()
	n, err := h.state().UploadCount(user)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestMethodsListTheRegistries(t *testing.T) {
	if !slices.Equal(chain.Methods[chain.ProxyRegisterAddress], []string{"registerProxyContract"}) ||
		!slices.Equal(chain.Methods[chain.RegisterAddress], []string{"claimRegister"}) {
		t.Fatalf("Methods: %v", chain.Methods)
	}
	h := newHarness(t)
	h.failsWith(h.tx(30, chain.RegisterAddress, 0, callOf("getUploadCount", nil)), `Register has no function "getUploadCount"`)
	h.failsWith(h.tx(20, chain.ProxyRegisterAddress, 0, callOf("getRealContract", nil)), `ProxyRegister has no function`)
	// Without a call, coins sent to either registry come back.
	_, err := h.block(h.tx(30, chain.RegisterAddress, 5, nil))
	if err == nil || !strings.Contains(err.Error(), "a transfer to the Register contract needs a call") {
		t.Fatalf("a plain transfer to Register: %v", err)
	}
	if h.balance(chain.RegisterAddress) != 0 {
		t.Fatal("Register kept the coins of a failed transfer")
	}
}

func TestRegisterProxyContractRefusals(t *testing.T) {
	h := newHarness(t)
	p1, r1, p2 := addr(50), addr(51), addr(52)
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p1, r1)))
	for _, tc := range []struct {
		name   string
		from   int
		amount uint64
		call   *chain.Call
		want   string
	}{
		{"not the deployer", 30, 0, registerProxy(p2, addr(53)), "only the deployer may call this"},
		{"coins", 20, 5, registerProxy(p2, addr(53)), "takes no coins"},
		{"zero proxy", 20, 0, registerProxy(chain.Address{}, addr(53)), "the zero address"},
		{"zero real", 20, 0, registerProxy(p2, chain.Address{}), "the zero address"},
		{"proxy is real", 20, 0, registerProxy(p2, p2), "cannot be its own proxy"},
		{"register as proxy", 20, 0, registerProxy(chain.ProxyRegisterAddress, addr(53)), "the Proxy Register cannot be registered"},
		{"register as real", 20, 0, registerProxy(p2, chain.ProxyRegisterAddress), "the Proxy Register cannot be registered"},
		{"built-in contract as proxy", 20, 0, registerProxy(chain.CampaignAddress, chain.RPTAddress), "the Campaign contract's address; it cannot be a proxy"},
		{"real is a proxy", 20, 0, registerProxy(p2, p1), "is itself a proxy"},
		{"proxy is a real", 20, 0, registerProxy(r1, addr(53)), "the real contract behind proxy"},
		{"real has a proxy", 20, 0, registerProxy(p2, r1), "already has proxy"},
		{"arguments not a map", 20, 0, callOf("registerProxyContract", chain.Marshal("not a map")), "registerProxyContract arguments"},
		{"unknown argument", 20, 0, callOf("registerProxyContract", map[int]any{1: p2[:], 2: r1[:], 3: 1}), "registerProxyContract arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.failsWith(h.tx(tc.from, chain.ProxyRegisterAddress, tc.amount, tc.call), tc.want)
		})
	}
	h.t = t
	// Nothing a refused registration did stayed.
	if r, ok := h.real(p1); !ok || r != r1 || h.version(p1) != 1 {
		t.Fatalf("p1 -> %s %v, version %d; want %s, version 1", r, ok, h.version(p1), r1)
	}
	for _, a := range []chain.Address{p2, chain.ProxyRegisterAddress, chain.CampaignAddress, r1} {
		if _, ok := h.real(a); ok || h.version(a) != 0 {
			t.Errorf("%s became a proxy", a)
		}
	}
	if h.balance(chain.ProxyRegisterAddress) != 0 {
		t.Fatal("the register kept coins")
	}
}

func TestProxyRegisterViews(t *testing.T) {
	h := newHarness(t)
	p, a, b := addr(50), addr(51), addr(52)
	check := func(step string, wantReal chain.Address, wantVersion uint64, history []chain.Address) {
		t.Helper()
		if r, ok := h.real(p); !ok || r != wantReal {
			t.Errorf("%s: RealContract = %s %v, want %s", step, r, ok, wantReal)
		}
		if q, ok := h.proxyOf(wantReal); !ok || q != p {
			t.Errorf("%s: ProxyContract(%s) = %s %v, want %s", step, wantReal, q, ok, p)
		}
		if v := h.version(p); v != wantVersion {
			t.Errorf("%s: ContractVersion = %d, want %d", step, v, wantVersion)
		}
		for i, want := range history {
			if got, ok := h.old(p, uint64(i+1)); !ok || got != want {
				t.Errorf("%s: OldContract(%d) = %s %v, want %s", step, i+1, got, ok, want)
			}
		}
		for _, v := range []uint64{0, wantVersion + 1} {
			if got, ok := h.old(p, v); ok {
				t.Errorf("%s: OldContract(%d) = %s, want none", step, v, got)
			}
		}
	}
	// An unknown proxy: every view misses.
	if r, ok := h.real(p); ok {
		t.Fatalf("RealContract of an unregistered address: %s", r)
	}
	if q, ok := h.proxyOf(a); ok {
		t.Fatalf("ProxyContract of an unbound address: %s", q)
	}
	if _, ok := h.old(p, 1); ok || h.version(p) != 0 {
		t.Fatal("an unregistered proxy has a history")
	}

	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, a)))
	check("first", a, 1, []chain.Address{a})
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, b)))
	check("upgrade", b, 2, []chain.Address{a, b})
	// The old real contract is free again: no proxy stands for it, and it
	// can get one.
	if q, ok := h.proxyOf(a); ok {
		t.Fatalf("ProxyContract(%s) after the upgrade: %s", a, q)
	}
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(addr(53), a)))
	if q, ok := h.proxyOf(a); !ok || q != addr(53) {
		t.Fatalf("ProxyContract(%s) = %s %v, want %s", a, q, ok, addr(53))
	}
	// Registering the same binding again is a new version of it.
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, b)))
	check("again", b, 3, []chain.Address{a, b, b})
}

func TestProxyResolvesToTheRealContract(t *testing.T) {
	h := newHarness(t)
	p := addr(50)
	params := func() chain.Params {
		t.Helper()
		q, err := h.state().Params()
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.RPTAddress)))
	// A call to the proxy runs RPT's function, with RPT's rules.
	h.mustBlock(h.tx(20, p, 0, callOf("updateAlpha", chain.UpdateArgs{Value: 7})))
	if a := params().Alpha; a != 7 {
		t.Fatalf("alpha %d after updateAlpha through the proxy, want 7", a)
	}
	h.failsWith(h.tx(30, p, 0, callOf("updateAlpha", chain.UpdateArgs{Value: 9})), "RPT.updateAlpha: only the deployer may call this")
	h.failsWith(h.tx(20, p, 0, callOf("updateAlpha", chain.UpdateArgs{Value: 101})), "at most 100")
	h.failsWith(h.tx(20, p, 0, callOf("updateCPUDifficulty", chain.UpdateArgs{Value: 5})), `RPT has no function "updateCPUDifficulty"`)
	h.failsWith(h.tx(20, p, 3, nil), "a transfer to the RPT contract needs a call")
	if a := params().Alpha; a != 7 {
		t.Fatalf("alpha %d after failed calls, want 7", a)
	}

	// Upgraded to Admission: the same address now runs Admission.
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.AdmissionAddress)))
	if v, old := h.version(p), func() chain.Address { a, _ := h.old(p, 1); return a }(); v != 2 || old != chain.RPTAddress {
		t.Fatalf("after the upgrade: version %d, OldContract(1) %s; want 2, %s", v, old, chain.RPTAddress)
	}
	h.mustBlock(h.tx(20, p, 0, callOf("updateCPUDifficulty", chain.UpdateArgs{Value: 5})))
	if d := params().CPUDifficulty; d != 5 {
		t.Fatalf("CPU difficulty %d through the upgraded proxy, want 5", d)
	}
	h.failsWith(h.tx(20, p, 0, callOf("updateAlpha", chain.UpdateArgs{Value: 1})), `Admission has no function "updateAlpha"`)

	// A proxy of Register: the claim is the sender's, and its coins are
	// refused.
	q := addr(54)
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(q, chain.RegisterAddress)))
	h.mustBlock(h.tx(31, q, 0, claimUpload("via-proxy.bin", 10)))
	if h.uploadCount(addr(31)) != 1 || h.uploadCount(q) != 0 {
		t.Fatalf("uploads: sender %d, proxy %d", h.uploadCount(addr(31)), h.uploadCount(q))
	}
	h.failsWith(h.tx(31, q, 4, claimUpload("paid.bin", 10)), "Register.claimRegister takes no coins")

	// A proxy of a plain account: coins sent to the proxy land on the
	// real address; a call there is no system contract's.
	r, before := addr(55), h.balance(addr(30))
	h.mustBlock(h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(addr(56), r)))
	h.mustBlock(h.tx(30, addr(56), 100, nil))
	if h.balance(r) != 100 || h.balance(addr(56)) != 0 || h.balance(addr(30)) != before-101 {
		t.Fatalf("a transfer to the proxy: real %d, proxy %d, sender %d", h.balance(r), h.balance(addr(56)), h.balance(addr(30)))
	}
	h.failsWith(h.tx(30, addr(56), 0, callOf("updateAlpha", chain.UpdateArgs{Value: 1})), "which is not a system contract")

	// CheckTx resolves at the state it is given, as the block does.
	tx := h.tx(20, p, 0, callOf("updateMemoryDifficulty", chain.UpdateArgs{Value: 3}))
	if failed, err := h.c.CheckTx(h.st, tx); err != nil || failed != nil {
		t.Fatalf("CheckTx of a call through the proxy: %v, %v", err, failed)
	}
}

func TestClaimRegister(t *testing.T) {
	h := newHarness(t)
	hash := make([]byte, 32)
	long := strings.Repeat("n", chain.MaxFileName)
	for _, tc := range []struct {
		name   string
		from   int
		amount uint64
		args   any
		want   string // "" for success
	}{
		{"ok", 30, 0, chain.ClaimRegisterArgs{FileName: "a.csv", FileHash: hash, FileSize: 1}, ""},
		{"longest name", 30, 0, chain.ClaimRegisterArgs{FileName: long, FileHash: hash, FileSize: 1 << 40}, ""},
		{"name too long", 30, 0, chain.ClaimRegisterArgs{FileName: long + "x", FileHash: hash, FileSize: 1}, "a file name of 257 bytes"},
		{"no name", 30, 0, chain.ClaimRegisterArgs{FileHash: hash, FileSize: 1}, "a file name of 0 bytes"},
		{"short hash", 30, 0, chain.ClaimRegisterArgs{FileName: "a", FileHash: hash[:31], FileSize: 1}, "a file hash of 31 bytes; want 32"},
		{"long hash", 30, 0, chain.ClaimRegisterArgs{FileName: "a", FileHash: append(hash, 0), FileSize: 1}, "a file hash of 33 bytes"},
		{"no hash", 30, 0, chain.ClaimRegisterArgs{FileName: "a", FileSize: 1}, "a file hash of 0 bytes"},
		{"empty file", 30, 0, chain.ClaimRegisterArgs{FileName: "a", FileHash: hash}, "a file size of 0"},
		{"coins", 30, 1, chain.ClaimRegisterArgs{FileName: "a", FileHash: hash, FileSize: 1}, "takes no coins"},
		{"arguments not a map", 30, 0, chain.Marshal(42), "claimRegister arguments"},
		{"another account", 31, 0, chain.ClaimRegisterArgs{FileName: "b", FileHash: hash, FileSize: 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			tx := h.tx(tc.from, chain.RegisterAddress, tc.amount, callOf("claimRegister", tc.args))
			if tc.want == "" {
				h.mustBlock(tx)
			} else {
				h.failsWith(tx, tc.want)
			}
		})
	}
	h.t = t
	if n0, n1 := h.uploadCount(addr(30)), h.uploadCount(addr(31)); n0 != 2 || n1 != 1 {
		t.Fatalf("upload counts %d, %d; want 2, 1", n0, n1)
	}
	ups, err := h.state().Uploads(addr(30), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 2 || ups[0].FileName != "a.csv" || ups[0].Height != 1 || ups[1].FileName != long || ups[1].FileSize != 1<<40 || ups[1].Height != 2 || !bytes.Equal(ups[1].FileHash, hash) {
		t.Fatalf("uploads %+v", ups)
	}
	if h.balance(chain.RegisterAddress) != 0 {
		t.Fatal("Register kept coins")
	}
}

func TestUploadsAreBounded(t *testing.T) {
	defer chain.SetMaxUploads(3)()
	h := newHarness(t)
	for i := 0; i < 3; i++ {
		h.mustBlock(h.tx(30, chain.RegisterAddress, 0, claimUpload(fmt.Sprint("f", i), 1)))
	}
	h.failsWith(h.tx(30, chain.RegisterAddress, 0, claimUpload("f3", 1)), "has recorded 3 uploads, the most one account may")
	if h.uploadCount(addr(30)) != 3 {
		t.Fatalf("%d uploads after a refused one", h.uploadCount(addr(30)))
	}
	// The bound is per account.
	h.mustBlock(h.tx(31, chain.RegisterAddress, 0, claimUpload("g", 1)))
}

// TestUploadCountAfterBlock checks the binary search against a count of
// the listed history, for every block, over uneven batches of uploads
// per block (none in some).
func TestUploadCountAfterBlock(t *testing.T) {
	h := newHarness(t)
	user := addr(30)
	st := h.state()
	if n, err := st.UploadCountAfterBlock(user, 0); err != nil || n != 0 {
		t.Fatalf("no uploads: %d, %v", n, err)
	}
	if ups, err := st.Uploads(user, 0, 5); err != nil || len(ups) != 0 {
		t.Fatalf("no uploads listed: %v, %v", ups, err)
	}
	file := 0
	for _, k := range []int{2, 0, 1, 3, 0, 0, 1, 5, 1, 0, 2} {
		var txs []*chain.Tx
		for j := 0; j < k; j++ {
			txs = append(txs, h.tx(30, chain.RegisterAddress, 0, claimUpload(fmt.Sprint("file", file), 100)))
			file++
		}
		h.mustBlock(txs...)
	}
	st = h.state()
	all, err := st.Uploads(user, 0, 1000)
	if err != nil || len(all) != file {
		t.Fatalf("listed %d of %d uploads: %v", len(all), file, err)
	}
	for b := uint64(0); b <= h.head.Height+1; b++ {
		want := uint64(0)
		for _, u := range all {
			if u.Height > b {
				want++
			}
		}
		got, err := st.UploadCountAfterBlock(user, b)
		if err != nil || got != want {
			t.Errorf("UploadCountAfterBlock(%d) = %d, %v; want %d", b, got, err, want)
		}
	}
	// Paging.
	for _, tc := range []struct{ from, max, want uint64 }{{0, 0, 0}, {0, 3, 3}, {14, 5, 1}, {15, 5, 0}, {99, 5, 0}} {
		ups, err := st.Uploads(user, tc.from, tc.max)
		if err != nil || uint64(len(ups)) != tc.want {
			t.Errorf("Uploads(%d, %d): %d, %v; want %d", tc.from, tc.max, len(ups), err, tc.want)
		}
		for i, u := range ups {
			if u.FileName != all[int(tc.from)+i].FileName {
				t.Errorf("Uploads(%d, %d)[%d] = %s, want %s", tc.from, tc.max, i, u.FileName, all[int(tc.from)+i].FileName)
			}
		}
	}
}

func TestRPTDataContribution(t *testing.T) {
	h := newHarness(t) // Window 8
	window := h.c.G.Params.Window
	recent, idle, old := addr(30), addr(31), addr(32)
	// old uploads first, then the chain moves on past the window.
	h.mustBlock(h.tx(32, chain.RegisterAddress, 0, claimUpload("old.bin", 1)))
	oldAt := h.head.Height
	for h.head.Height < oldAt+window {
		h.mustBlock()
	}
	// recent uploads and idle sends a transfer (the same fee, one
	// transaction each, so they differ in DC only).
	h.mustBlock(
		h.tx(30, chain.RegisterAddress, 0, claimUpload("new.bin", 1)),
		h.tx(31, addr(31), 0, nil))
	p, err := h.state().Params()
	if err != nil {
		t.Fatal(err)
	}
	height := h.head.Height + 1
	who := []chain.Address{recent, idle, old}
	rs, err := h.c.RPTs(h.state(), &p, height, who)
	if err != nil {
		t.Fatal(err)
	}
	r, i, o := rs[0], rs[1], rs[2]
	if r.Raw.DC != 1 || i.Raw.DC != 0 || o.Raw.DC != 0 {
		t.Fatalf("raw DC: recent %d, idle %d, old %d; want 1, 0, 0", r.Raw.DC, i.Raw.DC, o.Raw.DC)
	}
	if r.DC <= i.DC || o.DC != i.DC {
		t.Fatalf("DC scores: recent %d, idle %d, old %d", r.DC, i.DC, o.DC)
	}
	if r.Raw.AB != i.Raw.AB || r.Raw.TX != i.Raw.TX || r.Raw.BM != i.Raw.BM {
		t.Fatalf("recent and idle differ besides DC: %+v %+v", r.Raw, i.Raw)
	}
	if r.Weighted-i.Weighted != p.Psi*(r.DC-i.DC) || r.Value <= i.Value && i.Value > chain.RPTFloor {
		t.Fatalf("weighted %d vs %d, value %d vs %d", r.Weighted, i.Weighted, r.Value, i.Value)
	}
	// The breakdown adds up.
	wantW := chain.RPTDimensions{AB: p.Alpha, TX: p.Beta, BM: p.Gamma, DC: p.Psi, PR: p.Omega}
	for _, x := range rs {
		if x.Weights != wantW {
			t.Fatalf("weights %+v, want %+v", x.Weights, wantW)
		}
		if sum := x.Weights.AB*x.AB + x.Weights.TX*x.TX + x.Weights.BM*x.BM + x.Weights.DC*x.DC + x.Weights.PR*x.PR; sum != x.Weighted {
			t.Fatalf("%s: weighted %d, the scores sum to %d", x.Address, x.Weighted, sum)
		}
		if x.Raw.PR != 0 || x.PR != 100 {
			t.Fatalf("%s: proxy reputation raw %d, score %d; want 0, 100 (all equal)", x.Address, x.Raw.PR, x.PR)
		}
	}
	// The window is (height−Window, height]: old's upload counts until
	// the block Window after it.
	for _, tc := range []struct {
		height uint64
		want   uint64
	}{{oldAt, 1}, {oldAt + window - 1, 1}, {oldAt + window, 0}} {
		rs, err := h.c.RPTs(h.state(), &p, tc.height, []chain.Address{old})
		if err != nil || rs[0].Raw.DC != tc.want {
			t.Errorf("old's DC at %d: %d, %v; want %d", tc.height, rs[0].Raw.DC, err, tc.want)
		}
	}
	// The node's JSON keeps its fields and adds the breakdown.
	b, _ := json.Marshal(r)
	for _, k := range []string{`"address"`, `"AB"`, `"TX"`, `"BM"`, `"DC"`, `"PR"`, `"impeached"`, `"value"`, `"raw"`, `"weights"`, `"weighted"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("RPT JSON %s lacks %s", b, k)
		}
	}
}

// TestRegistriesAreDeterministic: a second chain applying the same
// blocks (registrations, upgrades, calls through proxies, uploads,
// failures, elections at checkpoints) reaches byte-identical state.
func TestRegistriesAreDeterministic(t *testing.T) {
	h := newHarness(t)
	other := newHarness(t)
	p := addr(50)
	steps := [][]*chain.Tx{
		{h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.RPTAddress)), h.tx(30, chain.RegisterAddress, 0, claimUpload("a", 1))},
		{h.tx(20, p, 0, callOf("updatePsi", chain.UpdateArgs{Value: 40})), h.tx(31, chain.RegisterAddress, 0, claimUpload("b", 2))},
		{h.tx(31, chain.ProxyRegisterAddress, 0, registerProxy(addr(57), addr(58)))}, // fails
		{h.tx(20, chain.ProxyRegisterAddress, 0, registerProxy(p, chain.AdmissionAddress))},
		{h.tx(20, p, 0, callOf("updateCPUDifficulty", chain.UpdateArgs{Value: 3})), h.tx(30, chain.RegisterAddress, 0, claimUpload("c", 3))},
		{h.tx(30, chain.RegisterAddress, 0, claimUpload("", 3))}, // fails
		{}, {}, {},
	}
	for _, txs := range steps {
		h.block(txs...)
		if _, err := other.c.ApplyFinal(other.st, h.head); err != nil {
			t.Fatal(err)
		}
		other.head = h.head
	}
	dump := func(st *kv.Mem) string {
		var b strings.Builder
		st.Iterate(nil, func(k, v []byte) error { fmt.Fprintf(&b, "%x=%x\n", k, v); return nil })
		return b.String()
	}
	if a, b := dump(h.st), dump(other.st); a != b {
		t.Fatalf("the two chains' states differ:\n%s\n---\n%s", a, b)
	}
	if v := h.version(p); v != 2 {
		t.Fatalf("version %d, want 2", v)
	}
}

func TestRegistryArgsJSON(t *testing.T) {
	var pa chain.RegisterProxyContractArgs
	in := fmt.Sprintf(`{"proxy":%q,"real":%q}`, addr(50), chain.RPTAddress)
	if err := json.Unmarshal([]byte(in), &pa); err != nil || pa.Proxy != addr(50) || pa.Real != chain.RPTAddress {
		t.Fatalf("%s: %+v, %v", in, pa, err)
	}
	var ca chain.ClaimRegisterArgs
	in = `{"file_name":"x.csv","file_hash":"0x` + strings.Repeat("ab", 32) + `","file_size":7}`
	if err := json.Unmarshal([]byte(in), &ca); err != nil || ca.FileName != "x.csv" || len(ca.FileHash) != 32 || ca.FileHash[0] != 0xab || ca.FileSize != 7 {
		t.Fatalf("%s: %+v, %v", in, ca, err)
	}
	out, _ := json.Marshal(chain.Upload{FileName: "x", FileHash: []byte{1, 2}, FileSize: 1, Height: 3})
	if string(out) != `{"file_name":"x","file_hash":"0102","file_size":1,"height":3}` {
		t.Fatalf("upload JSON %s", out)
	}
	if err := json.Unmarshal([]byte(`{"file_hash":"zz"}`), &ca); err == nil {
		t.Fatal("bad hex accepted")
	}
	// CBOR keeps the hash a byte string.
	var back chain.ClaimRegisterArgs
	if err := chain.Unmarshal(chain.Marshal(ca), &back); err != nil || !bytes.Equal(back.FileHash, ca.FileHash) {
		t.Fatalf("CBOR round trip: %+v, %v", back, err)
	}
}
