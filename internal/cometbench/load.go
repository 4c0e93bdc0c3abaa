package cometbench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/dpor/localnet"
)

// LoadOptions shape a load run against a Net.
type LoadOptions struct {
	// Rate is the offered load in transactions per second.
	Rate int
	// Duration is how long load is offered; Warmup, at its start, is
	// left out of the figures (it must be shorter than Duration).
	Duration, Warmup time.Duration
	// TxSize is the size of every transaction in bytes (default
	// TransferTxSize, the size of a signed DPoR transfer).
	TxSize int
	// Prefix starts every key of this run: letters and digits, at most
	// 8, distinct for every run on the same Net so that no transaction
	// repeats one already committed.
	Prefix string
	// Progress, when set, receives a line per second.
	Progress io.Writer
	// Source, when set, makes the transactions instead of kvstore
	// key=value ones (TxSize and Prefix are then unused): a vchain
	// application's signed transactions, say.
	Source TxSource
}

// TxSource makes a load's transactions. Every batch goes to one node;
// Next is asked for a transaction to send to node i, so a source whose
// transactions must arrive in order (a sender's nonces) can keep each
// sender on one node. A refused transaction is offered again to the same
// node.
type TxSource interface {
	Next(node int) []byte
	// Ours tells whether a transaction seen in a block is one of the
	// source's.
	Ours(tx []byte) bool
}

// Outcomes a TxSource that implements Reporter is told of.
const (
	OutcomeAccepted = "accepted"
	OutcomeRefused  = "refused"  // offered again later, to the same node
	OutcomeRejected = "rejected" // dropped
	OutcomeFailed   = "failed"   // offered again later, to the same node
)

// Reporter is a TxSource told what became of each transaction it made
// (its senders' nonces, say, depend on it). Next may return nil when the
// source has nothing to send yet (every sender waiting on an answer).
type Reporter interface {
	Report(tx []byte, outcome string)
}

// kvSource is TxGen as a TxSource.
type kvSource struct{ g *TxGen }

func (k kvSource) Next(int) []byte     { return k.g.Next() }
func (k kvSource) Ours(tx []byte) bool { return k.g.Ours(tx) }

// LoadResult is what a load run measured, in the terms of dpor/localnet's
// LoadResult. Offered = Accepted + Refused + Rejected + Failed; Accepted =
// Final + Unfinished.
type LoadResult struct {
	// Offered counts submissions, a refused transaction's retries
	// included.
	Offered int
	// Accepted were taken into a node's mempool (CheckTx code 0, or "tx
	// already exists in cache" for a retry whose first answer was lost);
	// Refused were answered "mempool is full" (or still rechecking after
	// a block, which CometBFT also reports as full) and are offered again
	// later; Rejected were refused for any other reason; Failed were lost
	// to a request error and are offered again.
	Accepted, Refused, Rejected, Failed int
	// Final were accepted and in a committed block by the end;
	// Unfinished were not.
	Final, Unfinished int
	// TPS is the rate of transactions committed within the measured
	// window (Warmup to Duration).
	TPS float64
	// P50, P90, P99 and Max are the times from a transaction's acceptance
	// (the node's answer to broadcast_tx_sync) to the moment the block
	// holding it was seen committed on the followed node, over the
	// transactions committed within the window (one seen committed before
	// the answer accepting it was handled is timed from its request).
	P50, P90, P99, Max time.Duration
	// Blocks counts the blocks committed during the run; LateRounds
	// those whose commit needed a round above 0 (CometBFT's
	// counterpart of a DPoR impeach block: the first proposer of the
	// height did not get its block committed).
	Blocks, LateRounds int
	// TxsPerBlock is Final over Blocks.
	TxsPerBlock float64
	// TxSize is the transactions' size in bytes; TimeoutCommit the
	// testnet's.
	TxSize        int
	TimeoutCommit time.Duration
	// Measured is the window's length.
	Measured time.Duration
	// Errors are the first few distinct reasons for failed requests and
	// rejected transactions.
	Errors []string
}

func (r LoadResult) String() string {
	return fmt.Sprintf("offered %d (accepted %d, refused at capacity %d, rejected %d, failed %d); final %d, unfinished %d; "+
		"%.0f tx/s final over %.1fs; finality p50 %v, p90 %v, p99 %v, max %v; %d blocks (%.0f tx/block, %d committed after round 0); %d-byte txs, timeout_commit %v",
		r.Offered, r.Accepted, r.Refused, r.Rejected, r.Failed, r.Final, r.Unfinished, r.TPS, r.Measured.Seconds(),
		r.P50.Round(time.Millisecond), r.P90.Round(time.Millisecond), r.P99.Round(time.Millisecond),
		r.Max.Round(time.Millisecond), r.Blocks, r.TxsPerBlock, r.LateRounds, r.TxSize, r.TimeoutCommit) + errorsNote(r.Errors)
}

func errorsNote(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	return "; errors: " + strings.Join(errs, " | ")
}

func (o *LoadOptions) check() error {
	switch {
	case o.Rate <= 0:
		return fmt.Errorf("rate %d: want a positive rate", o.Rate)
	case o.Duration <= 0:
		return fmt.Errorf("duration %v: want a positive duration", o.Duration)
	case o.Warmup < 0 || o.Warmup >= o.Duration:
		return fmt.Errorf("warmup %v must be shorter than the duration %v (nothing would be measured)", o.Warmup, o.Duration)
	}
	return nil
}

// maxBatch bounds one request's transactions, as the DPoR load's
// 1,000 accounts with one request in flight each bound its batches.
const maxBatch = 1000

// Load offers transactions at a steady rate, as dpor/localnet's Load
// does: every 10 ms what is due (refused transactions first, then new
// ones) goes as one JSON-RPC batch of broadcast_tx_sync calls to the
// nodes in turn, at most 16 requests in flight. It follows the committed
// blocks on the first node and times each accepted transaction from its
// acceptance to its block. After the offering it waits up to 10 s for the
// accepted transactions to commit.
func (n *Net) Load(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.TxSize == 0 {
		o.TxSize = TransferTxSize()
	}
	var gen TxSource = o.Source
	if gen == nil {
		g, err := NewTxGen(o.Prefix, o.TxSize)
		if err != nil {
			return nil, err
		}
		gen = kvSource{g}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	follow := n.Nodes[0]
	head, err := follow.Height(ctx)
	if err != nil {
		return nil, fmt.Errorf("cometbft %s: %w", follow.Name, err)
	}
	res := &LoadResult{TxSize: o.TxSize, TimeoutCommit: n.Options.TimeoutCommit}
	var mu sync.Mutex
	total := int(o.Duration.Seconds() * float64(o.Rate))
	accepted := make(map[[32]byte]time.Time, total)
	// early holds this run's transactions seen in a block before the
	// answer accepting them was handled (a race the load's own scheduling
	// can lose on a busy machine).
	early := map[[32]byte]time.Time{}
	type fin struct {
		at    time.Time
		delay time.Duration
	}
	var finals []fin
	retry := make([][][]byte, len(n.Nodes)) // per node
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		for h := head + 1; fctx.Err() == nil; {
			b, err := fetchBlock(fctx, c, follow.RPC, h)
			if err != nil {
				// Not committed yet (or a passing error): poll again soon.
				select {
				case <-fctx.Done():
				case <-time.After(5 * time.Millisecond):
				}
				continue
			}
			now := time.Now()
			mu.Lock()
			res.Blocks++
			if b.Block.LastCommit.Round > 0 {
				res.LateRounds++
			}
			for _, tx := range b.Block.Data.Txs {
				h := sha256.Sum256(tx)
				if t0, ok := accepted[h]; ok {
					finals = append(finals, fin{now, now.Sub(t0)})
				} else if gen.Ours(tx) {
					early[h] = now // committed before its acceptance was recorded
				}
			}
			mu.Unlock()
			h++
		}
	}()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	offered := 0
	lastReport := start
	for i := 0; time.Since(start) < o.Duration; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds() * float64(o.Rate))
		k := min(due-offered, maxBatch)
		if k <= 0 {
			continue
		}
		to := i % len(n.Nodes)
		mu.Lock()
		r := min(k, len(retry[to]))
		batch := append([][]byte(nil), retry[to][:r]...)
		retry[to] = retry[to][r:]
		mu.Unlock()
		for len(batch) < k {
			tx := gen.Next(to)
			if tx == nil {
				break
			}
			batch = append(batch, tx)
		}
		if len(batch) == 0 {
			continue
		}
		offered += len(batch)
		rpc := n.Nodes[to].RPC
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sent := time.Now()
			outcomes, err := broadcastSync(ctx, c, rpc, batch)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			res.Offered += len(batch)
			if err != nil {
				res.noteError(err.Error())
			}
			rep, _ := gen.(Reporter)
			for j, tx := range batch {
				oc := outFailed
				if err == nil {
					oc = outcomes[j].outcome
					if outcomes[j].err != "" && oc != outRefused {
						res.noteError(outcomes[j].err)
					}
				}
				if rep != nil {
					rep.Report(tx, oc.name())
				}
				switch oc {
				case outAccepted:
					res.Accepted++
					h := sha256.Sum256(tx)
					accepted[h] = now
					if seen, ok := early[h]; ok {
						// Timed from the request instead.
						finals = append(finals, fin{seen, seen.Sub(sent)})
						delete(early, h)
					}
				case outRefused:
					res.Refused++
					retry[to] = append(retry[to], tx)
				case outRejected:
					res.Rejected++
				default:
					res.Failed++
					retry[to] = append(retry[to], tx)
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
	// Let the last accepted transactions commit.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		done := len(finals) >= len(accepted)
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
	res.Unfinished = len(accepted) - len(finals)
	from, to := start.Add(o.Warmup), start.Add(o.Duration)
	var delays []time.Duration
	for _, f := range finals {
		if !f.at.Before(from) && f.at.Before(to) {
			delays = append(delays, f.delay)
		}
	}
	res.Measured = to.Sub(from)
	res.TPS = float64(len(delays)) / res.Measured.Seconds()
	if res.Blocks > 0 {
		res.TxsPerBlock = float64(len(finals)) / float64(res.Blocks)
	}
	res.P50, res.P90, res.P99, res.Max = localnet.Percentiles(delays)
	return res, nil
}

// name is the outcome as a Reporter is told it.
func (o outcome) name() string {
	switch o {
	case outAccepted:
		return OutcomeAccepted
	case outRefused:
		return OutcomeRefused
	case outRejected:
		return OutcomeRejected
	}
	return OutcomeFailed
}

// noteError keeps the first few distinct errors.
func (r *LoadResult) noteError(e string) {
	if len(r.Errors) < 5 && !slices.Contains(r.Errors, e) {
		r.Errors = append(r.Errors, e)
	}
}

// outcome is what became of one transaction of a broadcast batch.
type outcome uint8

// answer is a transaction's outcome and the error the node gave, if any.
type answer struct {
	outcome
	err string
}

const (
	outFailed outcome = iota
	outAccepted
	outRefused
	outRejected
)

// classify maps a broadcast_tx_sync answer to an outcome.
func classify(code uint32, e *rpcError) outcome {
	if e != nil {
		msg := e.Message + " " + e.Data
		switch {
		case strings.Contains(msg, "mempool is full"), strings.Contains(msg, "considered as full"):
			return outRefused
		case strings.Contains(msg, "tx already exists in cache"):
			return outAccepted
		}
		return outRejected
	}
	if code != 0 {
		return outRejected
	}
	return outAccepted
}

// broadcastSync posts txs as one JSON-RPC batch of broadcast_tx_sync
// calls and returns each one's outcome.
func broadcastSync(ctx context.Context, c *http.Client, rpc string, txs [][]byte) ([]answer, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	for j, tx := range txs {
		if j > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"jsonrpc":"2.0","id":`)
		body.WriteString(strconv.Itoa(j + 1))
		body.WriteString(`,"method":"broadcast_tx_sync","params":{"tx":"`)
		body.WriteString(base64.StdEncoding.EncodeToString(tx))
		body.WriteString(`"}}`)
	}
	body.WriteByte(']')
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+rpc, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var answers []struct {
		ID     int `json:"id"`
		Result *struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"result"`
		Error *rpcError `json:"error"`
	}
	// A batch of one is answered with a lone object, not an array.
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		raw = append(append([]byte{'['}, trimmed...), ']')
	}
	if err := json.Unmarshal(raw, &answers); err != nil {
		return nil, fmt.Errorf("%s: %s: %.200s", rpc, resp.Status, raw)
	}
	out := make([]answer, len(txs))
	for j := range out {
		out[j] = answer{outFailed, "no answer in the batch's response"}
	}
	for _, a := range answers {
		if a.ID < 1 || a.ID > len(txs) {
			continue
		}
		var code uint32
		var msg string
		if a.Result != nil {
			code = a.Result.Code
			if code != 0 {
				msg = fmt.Sprintf("CheckTx code %d: %s", code, a.Result.Log)
			}
		}
		if a.Error != nil {
			msg = a.Error.Error()
		}
		out[a.ID-1] = answer{classify(code, a.Error), msg}
	}
	return out, nil
}

// block is what the load reads of /block.
type block struct {
	Block struct {
		Data struct {
			Txs [][]byte `json:"txs"`
		} `json:"data"`
		LastCommit struct {
			Round int `json:"round"`
		} `json:"last_commit"`
	} `json:"block"`
}

// fetchBlock gets block h from a node; an error while h is above the
// node's height.
func fetchBlock(ctx context.Context, c *http.Client, rpc string, h int64) (*block, error) {
	var b block
	if err := call(ctx, c, rpc, "/block?height="+strconv.FormatInt(h, 10), &b); err != nil {
		return nil, err
	}
	return &b, nil
}
