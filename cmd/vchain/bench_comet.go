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
	}}, cometnode.AppContracts)
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

// counterLoad makes signed calls of the counter: each sender's calls go
// to one node (the node i%4 for sender i), so its nonces arrive in order.
type counterLoad struct {
	chainID string
	id      string
	call    []byte
	api     string
	size    int

	mu      sync.Mutex
	senders [][]*loadSender // per node
	next    []int           // per node: the sender whose turn it is
	ready   [][][]byte      // per node: transactions signed ahead
	ours    map[[32]byte]bool
}

type loadSender struct {
	key   ed25519.PrivateKey
	nonce uint64
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
	l := &counterLoad{chainID: ln.ChainID, id: id, call: host.CallPayload(id, "inc", json.RawMessage("[]")), api: api,
		senders: make([][]*loadSender, len(ln.Nodes)), next: make([]int, len(ln.Nodes)), ready: make([][][]byte, len(ln.Nodes)), ours: map[[32]byte]bool{}}
	for i := 0; i < accounts; i++ {
		seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("bench counter sender"), uint64(i)))
		n := i % len(ln.Nodes)
		l.senders[n] = append(l.senders[n], &loadSender{key: ed25519.NewKeyFromSeed(seed[:])})
	}
	l.size = len(l.sign(l.senders[0][0]))
	l.senders[0][0].nonce-- // that one was not sent
	return l, nil
}

// sign makes s's next call; the caller holds mu or owns s.
func (l *counterLoad) sign(s *loadSender) []byte {
	tx := &chain.Tx{Nonce: s.nonce, To: chain.AddressOf(s.key.Public().(ed25519.PublicKey)), Data: l.call}
	tx.Sign(l.chainID, s.key)
	s.nonce++
	return chain.Marshal(tx)
}

// prepare signs about total calls ahead, spread over the nodes, on every
// core (as the DPoR load signs before each step).
func (l *counterLoad) prepare(total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	per := total/len(l.senders) + 1
	var wg sync.WaitGroup
	for n := range l.senders {
		// The senders' order within a node is fixed first, then signed
		// in parallel (each sender's nonces in order).
		type job struct {
			s   *loadSender
			pos []int
		}
		jobs := map[*loadSender]*job{}
		order := make([]*loadSender, per)
		for i := range order {
			s := l.senders[n][l.next[n]]
			l.next[n] = (l.next[n] + 1) % len(l.senders[n])
			order[i] = s
			if jobs[s] == nil {
				jobs[s] = &job{s: s}
			}
			jobs[s].pos = append(jobs[s].pos, i)
		}
		out := make([][]byte, per)
		work := make(chan *job)
		for w := 0; w < runtime.NumCPU(); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					for _, p := range j.pos {
						out[p] = l.sign(j.s)
					}
				}
			}()
		}
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
		for _, tx := range out {
			l.ours[sha256.Sum256(tx)] = true
		}
		l.ready[n] = append(l.ready[n], out...)
	}
}

// Next implements cometbench.TxSource.
func (l *counterLoad) Next(node int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ready[node]) > 0 {
		tx := l.ready[node][0]
		l.ready[node] = l.ready[node][1:]
		return tx
	}
	s := l.senders[node][l.next[node]]
	l.next[node] = (l.next[node] + 1) % len(l.senders[node])
	tx := l.sign(s)
	l.ours[sha256.Sum256(tx)] = true
	return tx
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
		if err := getJSONURL(l.api+"/v1/status", &st); err != nil {
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

func getJSONURL(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
