package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Read-only views of the system contracts, and the JSON form of their
// functions' arguments: what a node serves at GET /v1/call and what the
// CLI sends. Nothing here runs in a block.

// contractNames are the system contracts' short names, as the CLI and
// the API take them.
var contractNames = map[string]Address{
	"campaign": CampaignAddress, "admission": AdmissionAddress, "rpt": RPTAddress,
	"proxyRegister": ProxyRegisterAddress, "register": RegisterAddress, "escrow": EscrowAddress,
	"pdash": PDashAddress,
}

// ContractNames lists the system contracts' short names, sorted.
func ContractNames() []string {
	var out []string
	for n := range contractNames {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ContractByName reads a contract as the CLI and the API take it: a
// system contract's short name (campaign, admission, rpt, proxyRegister,
// register, escrow, pdash) or a 0x address (a system contract's, or a proxy's).
func ContractByName(name string) (Address, error) {
	if a, ok := contractNames[name]; ok {
		return a, nil
	}
	a, err := ParseAddress(name)
	if err != nil {
		return a, fmt.Errorf("contract %q: want %s or an address", name, strings.Join(ContractNames(), ", "))
	}
	return a, nil
}

// ContractName is a system contract's short name, or the address in hex
// for any other.
func ContractName(a Address) string {
	for n, x := range contractNames {
		if x == a {
			return n
		}
	}
	return a.String()
}

// ViewError is why a view was not run: no such view (NotFound), or
// arguments that do not fit it.
type ViewError struct {
	NotFound bool
	Msg      string
}

func (e *ViewError) Error() string { return e.Msg }

// ViewParam is one parameter of a view: its name and its type (address,
// uint64, string or bool).
type ViewParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ViewInfo describes a view: its contract's short name and address, its
// method and its parameters, in order.
type ViewInfo struct {
	Contract string      `json:"contract"`
	Address  Address     `json:"address"`
	Method   string      `json:"method"`
	Params   []ViewParam `json:"params"`
}

// String is the view as a call: method(name type, ...).
func (v ViewInfo) String() string {
	var ps []string
	for _, p := range v.Params {
		ps = append(ps, p.Name+" "+p.Type)
	}
	return v.Method + "(" + strings.Join(ps, ", ") + ")"
}

// MaxViewArgs bounds a view's arguments, in bytes of JSON.
const MaxViewArgs = 4096

// viewArgs are a view's arguments, decoded and checked against its
// parameters.
type viewArgs []any

func (a viewArgs) addr(i int) Address { return a[i].(Address) }
func (a viewArgs) u64(i int) uint64   { return a[i].(uint64) }
func (a viewArgs) str(i int) string   { return a[i].(string) }

type viewFunc func(c *Chain, s *State, a viewArgs) (any, error)

type view struct {
	params []ViewParam
	run    viewFunc
}

func params(nameTypes ...string) []ViewParam {
	var out []ViewParam
	for i := 0; i+1 < len(nameTypes); i += 2 {
		out = append(out, ViewParam{Name: nameTypes[i], Type: nameTypes[i+1]})
	}
	return out
}

// found is v, or nil (JSON null) when ok is false.
func found[T any](v T, ok bool, err error) (any, error) {
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

// views holds each system contract's views. Lookups of a record that
// does not exist answer null.
var views = map[Address]map[string]view{
	CampaignAddress: {
		"candidatesOf": {params("term", "uint64"), func(c *Chain, s *State, a viewArgs) (any, error) {
			list, err := s.CandidatesOf(a.u64(0))
			if list == nil {
				list = []Address{}
			}
			return list, err
		}},
		"candidateInfoOf": {params("candidate", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.CandidateInfoOf(a.addr(0)))
		}},
	},
	AdmissionAddress: {
		"getAdmissionParameters": {nil, func(c *Chain, s *State, a viewArgs) (any, error) {
			p, err := s.Params()
			return AdmissionParams{CPUDifficulty: p.CPUDifficulty, MemoryDifficulty: p.MemoryDifficulty, AcceptableBlocks: p.AcceptableBlocks}, err
		}},
	},
	RPTAddress: {
		"getRpt": {params("address", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return c.GetRPT(s, a.addr(0))
		}},
		"params": {nil, func(c *Chain, s *State, a viewArgs) (any, error) {
			p, err := s.Params()
			return RPTParams{Alpha: p.Alpha, Beta: p.Beta, Gamma: p.Gamma, Psi: p.Psi, Omega: p.Omega, Window: p.Window}, err
		}},
	},
	ProxyRegisterAddress: {
		"getRealContract": {params("proxy", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.RealContract(a.addr(0)))
		}},
		"getProxyContract": {params("real", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.ProxyContract(a.addr(0)))
		}},
		"getOldContract": {params("proxy", "address", "version", "uint64"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.OldContract(a.addr(0), a.u64(1)))
		}},
		"getContractVersion": {params("proxy", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return s.ContractVersion(a.addr(0))
		}},
	},
	RegisterAddress: {
		"getUploadCount": {params("user", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return s.UploadCount(a.addr(0))
		}},
		"getUploadCountAfterBlock": {params("user", "address", "block", "uint64"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return s.UploadCountAfterBlock(a.addr(0), a.u64(1))
		}},
		"uploads": {params("user", "address", "from", "uint64", "limit", "uint64"), func(c *Chain, s *State, a viewArgs) (any, error) {
			ups, err := s.Uploads(a.addr(0), a.u64(1), a.u64(2))
			if ups == nil {
				ups = []Upload{}
			}
			return ups, err
		}},
	},
	EscrowAddress: {
		"escrowOf": {params("name", "string"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.Escrow(a.str(0)))
		}},
	},
	PDashAddress: {
		"orderOf": {params("id", "uint64"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(s.OrderOf(a.u64(0)))
		}},
		"proxyOf": {params("proxy", "address"), func(c *Chain, s *State, a viewArgs) (any, error) {
			return found(c.ProxyInfoOf(s, a.addr(0)))
		}},
		"params": {nil, func(c *Chain, s *State, a viewArgs) (any, error) {
			p, err := s.Params()
			return PDashParams{ProxyMinDeposit: ProxyMinDepositOf(&p), MaxOrderTimeout: MaxOrderTimeout}, err
		}},
	},
}

// AdmissionParams is the Admission contract's getAdmissionParameters.
type AdmissionParams struct {
	CPUDifficulty    uint64 `json:"cpu_difficulty"`
	MemoryDifficulty uint64 `json:"memory_difficulty"`
	AcceptableBlocks uint64 `json:"acceptable_blocks"`
}

// RPTParams are the RPT contract's parameters: the five weights and the
// window.
type RPTParams struct {
	Alpha  uint64 `json:"alpha"`
	Beta   uint64 `json:"beta"`
	Gamma  uint64 `json:"gamma"`
	Psi    uint64 `json:"psi"`
	Omega  uint64 `json:"omega"`
	Window uint64 `json:"window"`
}

// Views lists every view, by contract name and method.
func Views() []ViewInfo {
	var out []ViewInfo
	for a, vs := range views {
		for m, v := range vs {
			ps := v.params
			if ps == nil {
				ps = []ViewParam{}
			}
			out = append(out, ViewInfo{Contract: ContractName(a), Address: a, Method: m, Params: ps})
		}
	}
	slices.SortFunc(out, func(x, y ViewInfo) int {
		if c := strings.Compare(x.Contract, y.Contract); c != 0 {
			return c
		}
		return strings.Compare(x.Method, y.Method)
	})
	return out
}

// ViewsOf lists one contract's views.
func ViewsOf(contract Address) []ViewInfo {
	var out []ViewInfo
	for _, v := range Views() {
		if v.Address == contract {
			out = append(out, v)
		}
	}
	return out
}

func viewList(vs []ViewInfo) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.String())
	}
	return strings.Join(out, ", ")
}

// View runs a read-only view of a system contract on state s and
// returns its result, for JSON. contract is a system contract's address
// or a registered proxy's (which reaches the contract it stands for).
// args are the view's arguments as JSON: an array of values in the
// order of its parameters, or an object naming them; empty or null for
// none. An unknown contract or method, or arguments that do not fit, is
// a *ViewError.
func (c *Chain) View(s *State, contract Address, method string, args json.RawMessage) (any, error) {
	to, err := s.resolve(contract)
	if err != nil {
		return nil, err
	}
	vs, ok := views[to]
	if !ok {
		return nil, &ViewError{NotFound: true, Msg: fmt.Sprintf("%s is neither a system contract nor a proxy of one; the contracts: %s",
			contract, strings.Join(ContractNames(), ", "))}
	}
	v, ok := vs[method]
	if !ok {
		return nil, &ViewError{NotFound: true, Msg: fmt.Sprintf("%s has no view %q; its views: %s", ContractName(to), method, viewList(ViewsOf(to)))}
	}
	a, err := decodeViewArgs(method, v.params, args)
	if err != nil {
		return nil, err
	}
	return v.run(c, s, a)
}

// decodeViewArgs checks args against a view's parameters.
func decodeViewArgs(method string, ps []ViewParam, args json.RawMessage) (viewArgs, error) {
	sig := ViewInfo{Method: method, Params: ps}.String()
	bad := func(format string, xs ...any) error {
		return &ViewError{Msg: fmt.Sprintf("%s: %s", sig, fmt.Sprintf(format, xs...))}
	}
	if len(args) > MaxViewArgs {
		return nil, bad("%d bytes of arguments, at most %d", len(args), MaxViewArgs)
	}
	raw := make([]json.RawMessage, len(ps))
	switch t := bytes.TrimSpace(args); {
	case len(t) == 0 || string(t) == "null":
		raw = nil
	case t[0] == '[':
		if err := json.Unmarshal(t, &raw); err != nil {
			return nil, bad("arguments %s: %v", t, err)
		}
	case t[0] == '{':
		var named map[string]json.RawMessage
		if err := json.Unmarshal(t, &named); err != nil {
			return nil, bad("arguments %s: %v", t, err)
		}
		for k := range named {
			if !slices.ContainsFunc(ps, func(p ViewParam) bool { return p.Name == k }) {
				return nil, bad("no parameter named %q", k)
			}
		}
		for i, p := range ps {
			v, ok := named[p.Name]
			if !ok {
				return nil, bad("the argument %s is missing", p.Name)
			}
			raw[i] = v
		}
	default:
		return nil, bad("want the arguments as a JSON array (in order) or object (by name), got %s", t)
	}
	if len(raw) != len(ps) {
		return nil, bad("%d arguments given, it takes %d", len(raw), len(ps))
	}
	out := make(viewArgs, len(ps))
	for i, p := range ps {
		v, err := viewArg(p.Type, raw[i])
		if err != nil {
			return nil, bad("argument %d (%s): %v", i+1, p.Name, err)
		}
		out[i] = v
	}
	return out, nil
}

// viewArg decodes one argument of a type. A string parameter also takes
// a bare number or boolean as its text, and a uint64 a string of digits:
// what a shell or a URL makes easy to write.
func viewArg(typ string, raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch typ {
	case "address":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an address as a string (0x + 40 hex digits), got %s", raw)
		}
		return ParseAddress(s)
	case "uint64":
		var text string
		switch x := v.(type) {
		case json.Number:
			text = x.String()
		case string:
			text = x
		default:
			return nil, fmt.Errorf("want a non-negative integer, got %s", raw)
		}
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a non-negative integer below 2^64, got %s", raw)
		}
		return n, nil
	case "string":
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, fmt.Errorf("want a string, got %s", raw)
	case "bool":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", raw)
	}
	return nil, fmt.Errorf("a parameter of unknown type %q", typ)
}

// callArgs makes, for each function of a system contract that takes
// arguments, a new value of its arguments' type.
var callArgs = map[string]func() any{
	"claimCampaign":         func() any { return new(ClaimCampaignArgs) },
	"punishCandidate":       func() any { return new(PunishCandidateArgs) },
	"registerProxyContract": func() any { return new(RegisterProxyContractArgs) },
	"claimRegister":         func() any { return new(ClaimRegisterArgs) },
	"openEscrow":            func() any { return new(EscrowArgs) },
	"prepay":                func() any { return new(EscrowArgs) },
	"payTo":                 func() any { return new(PayToArgs) },
	"refund":                func() any { return new(RefundArgs) },
	"proxyWithdraw":         func() any { return new(ProxyWithdrawArgs) },
	"placeOrder":            func() any { return new(PlaceOrderArgs) },
	"sellerConfirm":         func() any { return new(OrderArgs) },
	"proxyDelivered":        func() any { return new(ProxyDeliveredArgs) },
	"buyerConfirm":          func() any { return new(OrderArgs) },
	"buyerDispute":          func() any { return new(OrderArgs) },
	"resolveDispute":        func() any { return new(ResolveDisputeArgs) },
	"buyerClaimTimeout":     func() any { return new(OrderArgs) },
	"sellerClaimTimeout":    func() any { return new(OrderArgs) },
	"rateProxy":             func() any { return new(RateProxyArgs) },
}

// argsOf is a new value of method's arguments, nil for a function that
// takes none; false for no function of a system contract.
func argsOf(method string) (any, bool) {
	if f, ok := callArgs[method]; ok {
		return f(), true
	}
	for _, ms := range Methods {
		if slices.Contains(ms, method) {
			if strings.HasPrefix(method, "update") {
				return new(UpdateArgs), true
			}
			return nil, true
		}
	}
	return nil, false
}

// AllMethods lists every system contract function's name, sorted.
func AllMethods() []string {
	var out []string
	for _, ms := range Methods {
		out = append(out, ms...)
	}
	slices.Sort(out)
	return out
}

// ArgsTemplate describes a function's JSON arguments, as
// {"name": type, ...}; "" for a function that takes none.
func ArgsTemplate(method string) string {
	v, ok := argsOf(method)
	if !ok || v == nil {
		return ""
	}
	t := reflect.TypeOf(v).Elem()
	var fs []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		typ := f.Type.Kind().String()
		switch f.Type {
		case reflect.TypeOf(Address{}):
			typ = "address"
		case reflect.TypeOf(HexBytes{}):
			typ = "hex"
		}
		fs = append(fs, fmt.Sprintf("%q: %s", name, typ))
	}
	return "{" + strings.Join(fs, ", ") + "}"
}

// CallFromJSON makes the Call of a system contract function from its
// arguments as a JSON object (the fields of its Args type, by their
// JSON names; unknown fields are refused). A function that takes no
// arguments takes empty args, null or {}.
func CallFromJSON(method string, args []byte) (*Call, error) {
	v, ok := argsOf(method)
	if !ok {
		return nil, fmt.Errorf("no function %q in any system contract; the functions: %s", method, strings.Join(AllMethods(), ", "))
	}
	t := bytes.TrimSpace(args)
	if v == nil {
		if len(t) == 0 || string(t) == "null" || string(t) == "{}" {
			return &Call{Method: method}, nil
		}
		return nil, fmt.Errorf("%s takes no arguments, got %s", method, t)
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("%s takes its arguments as a JSON object: %s", method, ArgsTemplate(method))
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%s's arguments %s: %v (want %s)", method, t, err, ArgsTemplate(method))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s's arguments: more than one JSON value", method)
	}
	return &Call{Method: method, Args: Marshal(v)}, nil
}
