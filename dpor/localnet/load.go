package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
)

// LoadOptions shape a load run.
type LoadOptions struct {
	// Rate is the offered load in transactions per second.
	Rate int
	// Duration is how long load is offered; Warmup, at its start, is
	// left out of the figures (it must be shorter than Duration).
	Duration, Warmup time.Duration
	// Accounts send in parallel (each its own nonce sequence, one
	// request in flight at a time).
	Accounts int
	// Progress, when set, receives a line per second.
	Progress io.Writer
}

// LoadResult is what a load run measured. Offered = Accepted + Refused +
// Rejected + Failed; Accepted = Final + Unfinished.
type LoadResult struct {
	// Offered counts submissions, a refused transaction's retries
	// included.
	Offered int
	// Accepted were taken by a node; Refused were turned away because the
	// chain was at capacity (429 / busy: the sender retries them later);
	// Rejected were refused for any other reason; Failed were lost to a
	// request error.
	Accepted, Refused, Rejected, Failed int
	// Final were accepted and final by the end; Unfinished were not.
	Final, Unfinished int
	// TPS is the rate of transactions final within the measured window.
	TPS                 float64
	P50, P90, P99, Max  time.Duration
	Blocks, Impeached   int
	TxsPerBlock         float64
	PeriodMS, TimeoutMS int64
	Measured            time.Duration
}

func (r LoadResult) String() string {
	return fmt.Sprintf("offered %d (accepted %d, refused at capacity %d, rejected %d, failed %d); final %d, unfinished %d; "+
		"%.0f tx/s final over %.1fs; finality p50 %v, p90 %v, p99 %v, max %v; %d blocks (%.0f tx/block, %d impeached); period %d ms, timeout %d ms",
		r.Offered, r.Accepted, r.Refused, r.Rejected, r.Failed, r.Final, r.Unfinished, r.TPS, r.Measured.Seconds(),
		r.P50.Round(time.Millisecond), r.P90.Round(time.Millisecond), r.P99.Round(time.Millisecond),
		r.Max.Round(time.Millisecond), r.Blocks, r.TxsPerBlock, r.Impeached, r.PeriodMS, r.TimeoutMS)
}

func (o *LoadOptions) check() error {
	switch {
	case o.Rate <= 0:
		return fmt.Errorf("--rate %d: want a positive rate", o.Rate)
	case o.Duration <= 0:
		return fmt.Errorf("--duration %v: want a positive duration", o.Duration)
	case o.Warmup < 0 || o.Warmup >= o.Duration:
		return fmt.Errorf("--warmup %v must be shorter than --duration %v (nothing would be measured)", o.Warmup, o.Duration)
	case o.Accounts <= 0:
		return fmt.Errorf("--accounts %d: want at least 1", o.Accounts)
	}
	return nil
}

// sender is one load account: its signed transactions in nonce order.
type sender struct {
	txs  [][]byte
	busy bool // a request holding its next transaction is in flight
}

// Load drives transfers through the proposers' APIs at a steady offered
// rate and measures, from the final blocks one node serves, the rate of
// finality and the time from acceptance to finality. Transactions the
// chain refuses at capacity are offered again later, as a client
// honouring Retry-After would, and counted.
func (l *Layout) Load(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	faucet, err := ReadKey(filepath.Join(l.Dir, FaucetKey))
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	var apis []string
	follow := ""
	for _, nc := range l.Nodes {
		if nc.Role == "proposer" {
			apis = append(apis, "http://"+nc.HTTP)
		} else if follow == "" {
			follow = "http://" + nc.HTTP
		}
	}
	id := l.Genesis.ChainID
	fee := l.Genesis.Params.MinFee
	perTx := uint64(10)
	total := int(o.Duration.Seconds() * float64(o.Rate))
	perAccount := total/o.Accounts + total/(4*o.Accounts) + 4
	keys := make([]ed25519.PrivateKey, o.Accounts)
	for i := range keys {
		seed := sha256.Sum256(fmt.Appendf(nil, "load-%s-%d", id, i))
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
	}
	if err := fundAccounts(c, apis[0], follow, id, faucet, keys, uint64(perAccount)*(perTx+fee), fee); err != nil {
		return nil, err
	}
	// Sign everything up front, on every core: the generator must not be
	// what limits.
	sink := chain.AddressOf(faucet.Public().(ed25519.PublicKey))
	senders := make([]*sender, len(keys))
	nonces := make([]uint64, len(keys))
	for i, k := range keys {
		var a struct{ Nonce uint64 }
		if err := GetJSON(c, follow+"/v1/account/"+chain.AddressOf(k.Public().(ed25519.PublicKey)).String(), &a); err != nil {
			return nil, err
		}
		nonces[i] = a.Nonce
	}
	var sg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		sg.Add(1)
		go func() {
			defer sg.Done()
			for i := w; i < len(keys); i += workers {
				s := &sender{}
				for n := 0; n < perAccount; n++ {
					tx := &chain.Tx{Nonce: nonces[i] + uint64(n), To: sink, Amount: perTx, Fee: fee}
					tx.Sign(id, keys[i])
					s.txs = append(s.txs, chain.Marshal(tx))
				}
				senders[i] = s
			}
		}()
	}
	sg.Wait()
	head, err := l.followHead(c, follow)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	res := &LoadResult{PeriodMS: l.Genesis.PeriodMS, TimeoutMS: l.Genesis.TimeoutMS}
	// offered holds when each transaction was last offered: a block can
	// hold it before the answer that accepted it is read, so finality is
	// timed from the request that was accepted.
	offered := make(map[[32]byte]time.Time, total)
	type fin struct {
		at    time.Time
		delay time.Duration
	}
	var finals []fin
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		from := head + 1
		for fctx.Err() == nil {
			bs, err := fetchBlocks(fctx, c, follow, from)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			now := time.Now()
			mu.Lock()
			for _, b := range bs {
				res.Blocks++
				if b.Impeach {
					res.Impeached++
				}
				if body, err := chain.DecodeBody(b.Body); err == nil {
					for _, raw := range body.Txs {
						if t0, ok := offered[sha256.Sum256(raw)]; ok {
							finals = append(finals, fin{now, now.Sub(t0)})
						}
					}
				}
				from = b.Height + 1
			}
			mu.Unlock()
		}
	}()
	// Offer the load: every 10 ms, what is due, taken round-robin from
	// the accounts with no request in flight, to the proposers in turn.
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	offeredN, cursor := 0, 0
	lastReport := start
	for i := 0; time.Since(start) < o.Duration; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds() * float64(o.Rate))
		var batch [][]byte
		var from []*sender
		mu.Lock()
		for tried := 0; offeredN+len(batch) < due && tried < len(senders); tried++ {
			s := senders[cursor]
			cursor = (cursor + 1) % len(senders)
			if s.busy || len(s.txs) == 0 {
				continue
			}
			s.busy = true
			batch = append(batch, s.txs[0])
			from = append(from, s)
			offered[sha256.Sum256(s.txs[0])] = time.Now()
		}
		mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		offeredN += len(batch)
		api := apis[i%len(apis)]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			codes, err := postTxs(c, api, batch)
			mu.Lock()
			defer mu.Unlock()
			res.Offered += len(batch)
			for j, s := range from {
				s.busy = false
				switch {
				case err != nil || len(codes) != len(batch):
					res.Failed++ // the next offer of this account tries it again
				case codes[j] == '.' || codes[j] == 'K' || codes[j] == 'N' || codes[j] == 'O':
					// taken (now, or by an earlier request whose answer was lost)
					res.Accepted++
					s.txs = s.txs[1:]
				case codes[j] == 'B' || codes[j] == 'S':
					res.Refused++ // at capacity: offered again later
				default:
					res.Rejected++
					s.txs = s.txs[1:]
				}
			}
		}()
		if o.Progress != nil && time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			mu.Lock()
			fmt.Fprintf(o.Progress, "%4.0fs offered %d, accepted %d, refused %d, final %d\n", time.Since(start).Seconds(), res.Offered, res.Accepted, res.Refused, len(finals))
			mu.Unlock()
		}
	}
	wg.Wait()
	// Let the last accepted transactions finish.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		done := len(finals) >= res.Accepted
		mu.Unlock()
		if done {
			break
		}
	}
	stop()
	<-followDone
	mu.Lock()
	defer mu.Unlock()
	res.Final = len(finals)
	res.Unfinished = max(res.Accepted-len(finals), 0)
	from, to := start.Add(o.Warmup), start.Add(o.Duration)
	var delays []time.Duration
	inWindow := 0
	for _, f := range finals {
		if !f.at.Before(from) && f.at.Before(to) {
			inWindow++
			delays = append(delays, f.delay)
		}
	}
	res.Measured = to.Sub(from)
	res.TPS = float64(inWindow) / res.Measured.Seconds()
	if res.Blocks > 0 {
		res.TxsPerBlock = float64(len(finals)) / float64(res.Blocks)
	}
	res.P50, res.P90, res.P99, res.Max = Percentiles(delays)
	return res, nil
}

// fundAccounts moves amount to each key's account from the faucet, in
// rounds that fit one sender's share of the pool, each waited for.
func fundAccounts(c *http.Client, api, follow, chainID string, faucet ed25519.PrivateKey, keys []ed25519.PrivateKey, amount, fee uint64) error {
	from := chain.AddressOf(faucet.Public().(ed25519.PublicKey)).String()
	const round = 32
	for lo := 0; lo < len(keys); lo += round {
		var a struct {
			Nonce uint64 `json:"nonce"`
		}
		if err := GetJSON(c, follow+"/v1/account/"+from, &a); err != nil {
			return fmt.Errorf("faucet account: %w", err)
		}
		var txs [][]byte
		hi := min(lo+round, len(keys))
		for i := lo; i < hi; i++ {
			tx := &chain.Tx{Nonce: a.Nonce + uint64(i-lo), To: chain.AddressOf(keys[i].Public().(ed25519.PublicKey)), Amount: amount, Fee: fee}
			tx.Sign(chainID, faucet)
			txs = append(txs, chain.Marshal(tx))
		}
		codes, err := postTxs(c, api, txs)
		if err != nil {
			return fmt.Errorf("funding: %w", err)
		}
		if strings.Trim(codes, ".") != "" {
			return fmt.Errorf("funding: the node refused some transfers (%s)", codes)
		}
		want := a.Nonce + uint64(hi-lo)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if GetJSON(c, follow+"/v1/account/"+from, &a) == nil && a.Nonce >= want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("funding: the faucet's transfers were not final in 30s")
			}
		}
	}
	return nil
}

// postTxs submits a batch and returns its outcome codes (node.Codes).
func postTxs(c *http.Client, api string, raws [][]byte) (string, error) {
	resp, err := c.Post(api+"/v1/txs", "application/cbor", bytes.NewReader(chain.Marshal(raws)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Codes string `json:"codes"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", fmt.Errorf("%s: %s", api, resp.Status)
	}
	if resp.StatusCode != 200 && resp.StatusCode != http.StatusTooManyRequests {
		return "", fmt.Errorf("%s: %s: %s", api, resp.Status, out.Error)
	}
	return out.Codes, nil
}

func (l *Layout) followHead(c *http.Client, api string) (uint64, error) {
	var st struct{ Height uint64 }
	err := GetJSON(c, api+"/v1/status", &st)
	return st.Height, err
}

func fetchBlocks(ctx context.Context, c *http.Client, api string, from uint64) ([]*lbft.Block, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/blocks?from=%d&max=64&wait_ms=2000", api, from), nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var bs []*lbft.Block
	if err := chain.Unmarshal(raw, &bs); err != nil {
		return nil, err
	}
	return bs, nil
}

// Percentiles sorts delays and returns their 50th, 90th and 99th
// percentiles and their maximum (zeros when there are none). The
// CometBFT comparison uses it too, so both are summarised alike.
func Percentiles(delays []time.Duration) (p50, p90, p99, max time.Duration) {
	if len(delays) == 0 {
		return
	}
	slices.Sort(delays)
	q := func(p float64) time.Duration { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
	return q(0.5), q(0.9), q(0.99), delays[len(delays)-1]
}
