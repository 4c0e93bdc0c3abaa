package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	cfg "github.com/cometbft/cometbft/config"

	"github.com/vchain-dev/vchain/comet/cometnode"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/internal/cometbench"
)

// counterContract is the contract the CometBFT row calls: one counter.
const counterContract = "exports.count = 0\nexports.inc = async () => ++exports.count\n"

// cometSystem names the row of vchain's contract runtime on CometBFT.
const cometSystem = "vchain+Comet"

// benchCometContracts runs the steps on a fresh CometBFT localnet of vchain
// nodes running the contract runtime (vchain comet localnet, tuned as the
// kvstore testnet is), loaded with signed calls of a counter contract, and
// stops it whatever happens.
func benchCometContracts(ctx context.Context, logw io.Writer, period time.Duration, stockGossip bool, steps []int, stepDur, warmup time.Duration,
	accounts int, keep bool, print func(dporStep)) (done []dporStep, err error) {
	name := cometSystem
	dir, err := os.MkdirTemp("", "vchain-bench-cometapp-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || keep {
			fmt.Fprintf(logw, "%s: the localnet's directory (node logs) is kept in %s\n", name, dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	ln, err := cometnode.CreateLocalnetWith(dir, cometnode.Layout{Validators: 4, TimeoutCommit: period, Tune: func(c *cfg.Config) {
		// As internal/cometbench sets the kvstore testnet.
		c.Mempool.Size, c.Mempool.CacheSize = 20000, 40000
		c.RPC.MaxRequestBatchSize, c.RPC.MaxBodyBytes = 0, 16<<20
		c.P2P.SendRate, c.P2P.RecvRate = 64_000_000, 64_000_000
		if !stockGossip {
			c.P2P.FlushThrottleTimeout = cometbench.LoopbackGossip
			c.Consensus.PeerGossipSleepDuration = cometbench.LoopbackGossip
		}
		c.TxIndex.Indexer = "null"
	}}, cometnode.AppContracts, 0)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "%s: starting 4 validators running the contract runtime in %s (timeout_commit %v)\n", name, dir, period)
	defer func() {
		ln.Stop(15 * time.Second)
		fmt.Fprintf(logw, "%s: stopped\n", name)
	}()
	if _, err := ln.Start(exe, "--log-level", global.logLevel); err != nil {
		return nil, err
	}
	if err := ln.WaitHeight(1, 90*time.Second); err != nil {
		return nil, err
	}
	src, err := newCounterLoad(ctx, ln, accounts)
	if err != nil {
		return nil, fmt.Errorf("%s: deploying the counter: %w", name, err)
	}
	net := &cometbench.Net{Dir: dir, Options: cometbench.Options{TimeoutCommit: period}}
	for _, h := range ln.Nodes {
		net.Nodes = append(net.Nodes, &cometbench.Node{Name: h.Name, Home: h.Dir, P2P: h.P2P, RPC: h.RPC})
	}
	final := 0
	for _, rate := range steps {
		if left, err := net.WaitDrained(ctx, 30*time.Second); err != nil {
			return done, err
		} else if left > 0 {
			fmt.Fprintf(logw, "%s: %d transactions still pending in the mempools before the %d tx/s step\n", name, left, rate)
		}
		src.reset()
		src.prepare(rate * int(stepDur.Seconds()+1))
		fmt.Fprintf(logw, "%s: offering %d tx/s for %v\n", name, rate, stepDur)
		res, err := net.Load(ctx, cometbench.LoadOptions{Rate: rate, Duration: stepDur, Warmup: warmup, Source: src, TxSize: src.size})
		if err != nil {
			return done, fmt.Errorf("%s, %d tx/s: %w", name, rate, err)
		}
		final += res.Final
		fmt.Fprintf(logw, "%s, %d tx/s: %v\n", name, rate, res)
		s := dporStep{system: name, rate: rate, tps: res.TPS, p50: res.P50, p99: res.P99, refused: res.Refused, impeach: -1, lateRounds: res.LateRounds,
			note: fmt.Sprintf("%d blocks, %.0f tx/block; unfinished %d, rejected %d, failed %d", res.Blocks, res.TxsPerBlock, res.Unfinished, res.Rejected, res.Failed)}
		print(s)
		done = append(done, s)
	}
	// Every transaction a block holds should have run: the counter says
	// how many calls the contract runtime applied.
	if count, err := src.count(); err == nil {
		fmt.Fprintf(logw, "%s: the counter stands at %d once every committed block is applied; the load saw %d of its calls in the blocks it followed\n", name, count, final)
	}
	return done, nil
}

// counterLoad makes signed calls of the counter. Each sender belongs to
// one node (sender i to node i%4) and has one transaction in flight: the
// next is made once the node accepted the last (a refused one is offered
// again first), so its nonces reach the node in order, as CheckTx wants
// (the DPoR load's accounts have one request in flight each too).
type counterLoad struct {
	chainID string
	id      string
	call    []byte
	api     string
	size    int

	apis     []string // per node
	mu       sync.Mutex
	free     [][]*loadSender // per node: senders with nothing in flight
	inFlight map[[32]byte]*loadSender
	ours     map[[32]byte]bool
}

type loadSender struct {
	key   ed25519.PrivateKey
	node  int
	nonce uint64
	// signed are this sender's next calls, signed ahead (prepare).
	signed [][]byte
	// resync says a call was refused for its nonce: ask the node for the
	// sender's next before the next call (CometBFT v0.38 drops a
	// transaction CheckTx accepted when its mempool fills meanwhile, and
	// still answers OK, so an accepted call may never land).
	resync bool
}

// newCounterLoad deploys the counter through node 0 and returns the load.
func newCounterLoad(ctx context.Context, ln *cometnode.Localnet, accounts int) (*counterLoad, error) {
	api := "http://" + ln.Nodes[0].API
	deployer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xde}, 32))
	tx := &chain.Tx{To: chain.AddressOf(deployer.Public().(ed25519.PublicKey)), Data: host.CreatePayload(counterContract)}
	tx.Sign(ln.ChainID, deployer)
	if err := postTx(api, chain.Marshal(tx)); err != nil {
		return nil, err
	}
	h := tx.Hash()
	id := hex.EncodeToString(h[:])
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(api + "/v1/contracts/" + id)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("contract %s not deployed after a minute", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var apis []string
	for _, h := range ln.Nodes {
		apis = append(apis, "http://"+h.API)
	}
	l := &counterLoad{chainID: ln.ChainID, id: id, apis: apis, call: host.CallPayload(id, "inc", json.RawMessage("[]")), api: api,
		free: make([][]*loadSender, len(ln.Nodes)), inFlight: map[[32]byte]*loadSender{}, ours: map[[32]byte]bool{}}
	for i := 0; i < accounts; i++ {
		seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("bench counter sender"), uint64(i)))
		n := i % len(ln.Nodes)
		l.free[n] = append(l.free[n], &loadSender{key: ed25519.NewKeyFromSeed(seed[:]), node: n})
	}
	probe := &loadSender{key: l.free[0][0].key}
	l.size = len(l.sign(probe, probe.nonce))
	return l, nil
}

// sign makes s's call with the given nonce.
func (l *counterLoad) sign(s *loadSender, nonce uint64) []byte {
	tx := &chain.Tx{Nonce: nonce, To: chain.AddressOf(s.key.Public().(ed25519.PublicKey)), Data: l.call}
	tx.Sign(l.chainID, s.key)
	return chain.Marshal(tx)
}

// prepare signs about total calls ahead, spread over the senders, on
// every core (as the DPoR load signs before each step).
func (l *counterLoad) prepare(total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []*loadSender
	for _, ss := range l.free {
		all = append(all, ss...)
	}
	for _, s := range l.inFlight {
		all = append(all, s)
	}
	per := total/max(1, len(all)) + 1
	work := make(chan *loadSender)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				from := s.nonce + uint64(len(s.signed))
				for k := 0; k < per; k++ {
					s.signed = append(s.signed, l.sign(s, from+uint64(k)))
				}
			}
		}()
	}
	seen := map[*loadSender]bool{}
	for _, s := range all {
		if !seen[s] {
			seen[s] = true
			work <- s
		}
	}
	close(work)
	wg.Wait()
}

// Next implements cometbench.TxSource: the next call of a sender of node
// with nothing in flight, or nil when every one waits on an answer.
func (l *counterLoad) Next(node int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free[node]) == 0 {
		return nil
	}
	s := l.free[node][0]
	l.free[node] = l.free[node][1:]
	if s.resync {
		var acct struct {
			PendingNonce uint64 `json:"pending_nonce"`
		}
		from := chain.AddressOf(s.key.Public().(ed25519.PublicKey))
		if err := localnet.GetJSON(httpClient(), l.apis[node]+"/v1/account/"+from.String(), &acct); err == nil {
			s.nonce, s.signed, s.resync = acct.PendingNonce, nil, false
		}
	}
	var tx []byte
	if len(s.signed) > 0 {
		tx, s.signed = s.signed[0], s.signed[1:]
	} else {
		tx = l.sign(s, s.nonce)
	}
	s.nonce++
	h := sha256.Sum256(tx)
	l.inFlight[h], l.ours[h] = s, true
	return tx
}

// reset frees the senders whose last call was never accepted (refused
// when the last step ended): that call's nonce is their next again.
func (l *counterLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for h, s := range l.inFlight {
		s.nonce--
		s.signed = nil
		l.free[s.node] = append(l.free[s.node], s)
		delete(l.inFlight, h)
	}
}

// Report implements cometbench.Reporter.
func (l *counterLoad) Report(tx []byte, outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := sha256.Sum256(tx)
	s := l.inFlight[h]
	if s == nil {
		return
	}
	switch outcome {
	case cometbench.OutcomeAccepted:
	case cometbench.OutcomeRejected:
		// Not taken: what was signed after it is of no use, and the
		// sender's next nonce is asked for before its next call.
		s.nonce--
		s.signed, s.resync = nil, true
	default:
		return // offered again: still in flight
	}
	delete(l.inFlight, h)
	l.free[s.node] = append(l.free[s.node], s)
}

// Ours implements cometbench.TxSource.
func (l *counterLoad) Ours(tx []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ours[sha256.Sum256(tx)]
}

// count reads the counter from node 0 once its application has applied
// every block CometBFT committed (the load counts a block when it is
// stored, which is before the application runs it).
func (l *counterLoad) count() (int64, error) {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var st cometnode.Status
		if err := localnet.GetJSON(httpClient(), l.api+"/v1/status", &st); err != nil {
			return 0, err
		}
		if !st.CatchingUp && st.Height >= st.CometHeight {
			break
		}
	}
	resp, err := http.Get(l.api + "/v1/contracts/" + l.id)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var info host.ChainInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return 0, err
	}
	var ex struct{ Count int64 }
	err = json.Unmarshal(info.Exports, &ex)
	return ex.Count, err
}

// postTx submits an encoded transaction to a vchain API.
func postTx(api string, raw []byte) error {
	body, _ := json.Marshal(map[string]string{"tx": hex.EncodeToString(raw)})
	resp, err := http.Post(api+"/v1/tx", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}
