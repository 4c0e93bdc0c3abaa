package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/lbft"
)

// LoadOptions shape a load run.
type LoadOptions struct {
	// Rate is the offered load in transactions per second.
	Rate int
	// Duration is how long load is offered; Warmup is left out of the
	// figures.
	Duration, Warmup time.Duration
	// Accounts send in parallel (each its own nonce sequence).
	Accounts int
	// Progress, when set, receives a line per second.
	Progress io.Writer
}

// LoadResult is what a load run measured.
type LoadResult struct {
	Offered, Final      int
	TPS                 float64
	P50, P90, P99, Max  time.Duration
	Blocks, Impeached   int
	TxsPerBlock         float64
	PeriodMS, TimeoutMS int64
	Measured            time.Duration
}

func (r LoadResult) String() string {
	return fmt.Sprintf("%d of %d transactions final in %.1fs: %.0f tx/s sustained; finality p50 %v, p90 %v, p99 %v, max %v; %d blocks (%.0f tx/block, %d impeached); period %d ms, timeout %d ms",
		r.Final, r.Offered, r.Measured.Seconds(), r.TPS, r.P50.Round(time.Millisecond), r.P90.Round(time.Millisecond), r.P99.Round(time.Millisecond),
		r.Max.Round(time.Millisecond), r.Blocks, r.TxsPerBlock, r.Impeached, r.PeriodMS, r.TimeoutMS)
}

// Load drives transfers through the proposers' APIs at a steady rate and
// measures, from the final blocks one node serves, the sustained rate and
// the time from submission to finality.
func (l *Layout) Load(ctx context.Context, o LoadOptions) (*LoadResult, error) {
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
	// Fund the senders.
	keys := make([]ed25519.PrivateKey, o.Accounts)
	var fund [][]byte
	var faucetAcct struct{ Nonce uint64 }
	if err := GetJSON(c, follow+"/v1/account/"+chain.AddressOf(faucet.Public().(ed25519.PublicKey)).String(), &faucetAcct); err != nil {
		return nil, fmt.Errorf("faucet account: %w", err)
	}
	perTx := uint64(10)
	total := int(o.Duration.Seconds()*float64(o.Rate)) + o.Rate
	perAccount := total/o.Accounts + 2
	for i := range keys {
		seed := sha256.Sum256(fmt.Appendf(nil, "load-%s-%d", id, i))
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		tx := &chain.Tx{Nonce: faucetAcct.Nonce + uint64(i), To: chain.AddressOf(keys[i].Public().(ed25519.PublicKey)),
			Amount: uint64(perAccount) * (perTx + fee), Fee: fee}
		tx.Sign(id, faucet)
		fund = append(fund, chain.Marshal(tx))
	}
	if err := postTxs(c, apis[0], fund); err != nil {
		return nil, fmt.Errorf("funding: %w", err)
	}
	last := chain.AddressOf(keys[len(keys)-1].Public().(ed25519.PublicKey))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var a struct{ Balance uint64 }
		if GetJSON(c, follow+"/v1/account/"+last.String(), &a) == nil && a.Balance > 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the senders were not funded in 30s")
		}
	}
	// Sign everything up front: the generator must not be what limits.
	nonces := make([]uint64, o.Accounts)
	for i, k := range keys {
		var a struct{ Nonce uint64 }
		GetJSON(c, follow+"/v1/account/"+chain.AddressOf(k.Public().(ed25519.PublicKey)).String(), &a)
		nonces[i] = a.Nonce
	}
	sink := chain.AddressOf(faucet.Public().(ed25519.PublicKey))
	txs := make([][]byte, 0, total)
	for n := 0; len(txs) < total; n++ {
		for i, k := range keys {
			if len(txs) == total {
				break
			}
			tx := &chain.Tx{Nonce: nonces[i], To: sink, Amount: perTx, Fee: fee}
			nonces[i]++
			tx.Sign(id, k)
			txs = append(txs, chain.Marshal(tx))
		}
	}
	// Follow final blocks.
	head, err := l.followHead(c, follow)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sent := make(map[[32]byte]time.Time, total)
	type fin struct {
		at    time.Time
		delay time.Duration
	}
	var finals []fin
	blocks, impeached := 0, 0
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
				blocks++
				if b.Impeach {
					impeached++
				}
				body, err := chain.DecodeBody(b.Body)
				if err != nil {
					continue
				}
				for _, raw := range body.Txs {
					if t0, ok := sent[sha256.Sum256(raw)]; ok {
						finals = append(finals, fin{now, now.Sub(t0)})
					}
				}
				from = b.Height + 1
			}
			mu.Unlock()
		}
	}()
	// Offer the load: a batch every 10ms, round-robin over the proposers.
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	offered := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; offered < len(txs) && time.Since(start) < o.Duration; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := min(int(time.Since(start).Seconds()*float64(o.Rate)), len(txs))
		if due <= offered {
			continue
		}
		batch := txs[offered:due]
		offered = due
		now := time.Now()
		mu.Lock()
		for _, raw := range batch {
			sent[sha256.Sum256(raw)] = now
		}
		mu.Unlock()
		api := apis[i%len(apis)]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			postTxs(c, api, batch)
		}()
		if o.Progress != nil && i%100 == 0 && i > 0 {
			mu.Lock()
			fmt.Fprintf(o.Progress, "%4.0fs offered %d, final %d\n", time.Since(start).Seconds(), offered, len(finals))
			mu.Unlock()
		}
	}
	wg.Wait()
	// Let the last transactions finish.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		done := len(finals) >= offered
		mu.Unlock()
		if done {
			break
		}
	}
	stop()
	<-followDone
	mu.Lock()
	defer mu.Unlock()
	res := &LoadResult{Offered: offered, Final: len(finals), Blocks: blocks, Impeached: impeached,
		PeriodMS: l.Genesis.PeriodMS, TimeoutMS: l.Genesis.TimeoutMS}
	from, to := start.Add(o.Warmup), start.Add(o.Duration)
	var delays []time.Duration
	inWindow := 0
	for _, f := range finals {
		if !f.at.Before(from) && f.at.Before(to) {
			inWindow++
		}
		if f.at.After(from) {
			delays = append(delays, f.delay)
		}
	}
	res.Measured = to.Sub(from)
	res.TPS = float64(inWindow) / res.Measured.Seconds()
	if blocks > 0 {
		res.TxsPerBlock = float64(len(finals)) / float64(blocks)
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		q := func(p float64) time.Duration { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
		res.P50, res.P90, res.P99, res.Max = q(0.5), q(0.9), q(0.99), delays[len(delays)-1]
	}
	return res, nil
}

func postTxs(c *http.Client, api string, raws [][]byte) error {
	resp, err := c.Post(api+"/v1/txs", "application/cbor", bytes.NewReader(chain.Marshal(raws)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", api, resp.Status)
	}
	return nil
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
