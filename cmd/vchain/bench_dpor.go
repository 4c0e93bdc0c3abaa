package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/internal/cometbench"
)

// dporStep is one offered-load step of one system, as printed.
type dporStep struct {
	system     string
	rate       int // offered tx/s
	tps        float64
	p50, p99   time.Duration
	refused    int
	impeach    int // -1: not a DPoR figure
	lateRounds int // -1: not a CometBFT figure
	note       string
}

func newBenchDporCmd() *cobra.Command {
	var steps []int
	var stepDur, warmup time.Duration
	var skipComet, skipVchain, skipCometApp, keep, stockGossip bool
	var period, timeout int64
	var accounts, rounds int
	var cometBinDir string
	cmd := &cobra.Command{
		Use:   "dpor",
		Short: "The DPoR chain (4 validators with 1 and with 4 proposers) against CometBFT " + cometbench.Version + " (4 validators, kvstore) under the same offered loads",
		Long: `dpor measures, in one run on this machine, the DPoR chain and CometBFT under the same steps of
offered load, one system at a time:

  vchain 4+1   a fresh localnet of 4 validators and 1 proposer (in a temporary directory, each node
               a process of this binary, as 'localnet up' starts them; --period, --timeout), loaded
               step by step with the same generator as 'localnet load' (signed transfers from
               --accounts accounts, batches every 10 ms through the proposers' POST /v1/txs,
               transactions refused at capacity offered again later; finality timed from acceptance
               to the final block, followed on one validator); stopped afterwards.
  vchain 4+4   the same with 4 proposers; then, unless a step already offers it (within 10%), one
               more step at twice the highest final rate measured over the steps.
  CometBFT     ` + cometbench.Version + `, installed once with 'go install ` + cometbench.Package + `@` + cometbench.Version + `'
               into --comet-bin-dir (default $XDG_CACHE_HOME/vchain/cometbft/` + cometbench.Version + `/bin, else
               ~/.cache/...; $` + cometbench.BinEnv + ` names a binary to use instead); 'cometbft testnet --v 4',
               each node's config.toml rewritten to its own 127.0.0.1 ports with the built-in kvstore
               app, timeout_commit = --period (the DPoR block period), empty blocks on (DPoR makes a
               block every period too), mempool size 20,000, tx indexer off, 10 ms p2p flush and gossip
               sleeps (--comet-stock-gossip keeps CometBFT's 100 ms). The load is the same rate and
               cadence: unique key=value transactions padded to the size of a signed DPoR transfer,
               one JSON-RPC batch of broadcast_tx_sync calls every 10 ms to the 4 nodes in turn
               ("mempool is full" counts as refused and is offered again); finality is timed from the
               node's answer to the block holding the transaction on node 0 (/block polled every 5 ms).
  vchain+Comet vchain's contract runtime on CometBFT: 'vchain comet localnet' of 4 validators (each
               node a process of this binary, CometBFT in process), configured as the kvstore testnet
               above (timeout_commit, mempool, gossip, p2p rates, tx indexer off), a counter contract
               deployed, then the same rates and cadence (JSON-RPC batches of broadcast_tx_sync every
               10 ms to the 4 nodes in turn) of signed calls of its inc method from --accounts senders
               (each sender's calls through one node, signed before each step on every core); every
               call runs the contract in the JavaScript runtime on every node.

Each step offers --step-duration of load and measures after --warmup. A line per system and step:
  offered     the step's offered rate, tx/s
  final       transactions final (committed) within the measured window, per second
  p50, p99    finality: time from a transaction's acceptance to its final block
  refused     submissions refused at capacity (HTTP 429 / code B for vchain, mempool full for CometBFT),
              retries included
  impeach     DPoR impeach blocks during the step (vchain only)
  rounds>0    CometBFT blocks committed after round 0, its counterpart of an impeach (CometBFT only)
  then: blocks and transactions per block, unfinished (accepted, not final 10 s after the step),
  rejected and failed submissions. Each step's full result also goes to stderr.
At the end:
  saturation  per system, the highest final tx/s over its steps, and the step it happened at
  ratios      vchain 4+4 saturation / CometBFT saturation; vchain 4+4 p50 / CometBFT p50 at vchain
              4+4's saturation step (or the highest step below it that both ran), and at every step
              both ran; vchain 4+4 impeach blocks at twice its saturation rate.

The machine's two cores are shared by every node and the load generator, and by whatever else runs:
compare figures from one run. --rounds N runs every system's steps N times, CometBFT's first in
every other round (a machine that speeds up or slows down then favours neither), prints each
round's summary and then each round's ratios with their median.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(steps) == 0 {
				return fmt.Errorf("--steps: want at least one rate")
			}
			for _, s := range steps {
				if s <= 0 {
					return fmt.Errorf("--steps %d: want positive rates", s)
				}
			}
			if warmup < 0 || warmup >= stepDur {
				return fmt.Errorf("--warmup %v must be shorter than --step-duration %v", warmup, stepDur)
			}
			if period <= 0 || timeout <= 0 {
				return fmt.Errorf("--period and --timeout: want positive milliseconds")
			}
			if accounts <= 0 {
				return fmt.Errorf("--accounts %d: want at least 1", accounts)
			}
			if rounds < 1 {
				return fmt.Errorf("--rounds %d: want at least 1", rounds)
			}
			ctx := cmd.Context()
			out, logw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			// Install CometBFT first: a failed install should not come after
			// minutes of DPoR steps.
			var cometBin string
			if !skipComet {
				bin, installed, err := cometbench.Install(ctx, cometBinDir, logw)
				if err != nil {
					return fmt.Errorf("%w (or pass --skip-comet)", err)
				}
				verb := "using"
				if installed {
					verb = "installed"
				}
				fmt.Fprintf(logw, "CometBFT %s: %s %s\n", cometbench.Version, verb, bin)
				cometBin = bin
			}
			size := cometbench.TransferTxSize()
			fmt.Fprintf(out, "steps %v tx/s, %v each (first %v left out); a signed vchain transfer is %d bytes, CometBFT kvstore txs are padded to %d\n",
				steps, stepDur, warmup, size, size)
			fmt.Fprintf(out, "%-16s %8s %8s %8s %8s %8s %8s  %s\n", "system", "offered", "final", "p50", "p99", "refused", "impeach", "")
			printStep := func(s dporStep) {
				imp := "-"
				if s.impeach >= 0 {
					imp = fmt.Sprint(s.impeach)
				}
				note := s.note
				if s.lateRounds >= 0 {
					note = fmt.Sprintf("rounds>0 %d; %s", s.lateRounds, note)
				}
				fmt.Fprintf(out, "%-16s %8d %8.0f %8s %8s %8d %8s  %s\n", s.system, s.rate, s.tps, ms(s.p50), ms(s.p99), s.refused, imp, note)
			}
			lo := localnet.LoadOptions{Duration: stepDur, Warmup: warmup, Accounts: accounts}
			runVchain := func(r *dporRound) error {
				if skipVchain {
					return nil
				}
				for _, proposers := range []int{1, 4} {
					name := fmt.Sprintf("vchain 4+%d", proposers)
					extra := func([]dporStep) []int { return nil }
					if proposers == 4 {
						extra = func(done []dporStep) []int {
							sat, _ := saturation(done)
							r.twiceFrom = sat.tps
							target := int(math.Round(2*sat.tps/100) * 100)
							if target <= 0 {
								return nil
							}
							for i, s := range done {
								if math.Abs(float64(s.rate-target)) <= 0.1*float64(target) {
									r.twice = &done[i]
									return nil
								}
							}
							return []int{target}
						}
					}
					res, err := benchVchain(ctx, logw, name, localnet.Options{Validators: 4, Proposers: proposers, PeriodMS: period, TimeoutMS: timeout, ViewLen: 3, NoContracts: true},
						steps, lo, keep, extra, printStep)
					r.all = append(r.all, res...)
					if proposers == 4 {
						r.v44 = res
						if r.twice == nil && len(res) > len(steps) {
							r.twice = &res[len(res)-1]
						}
					}
					if err != nil {
						return err
					}
				}
				return nil
			}
			runComet := func(r *dporRound) error {
				if !skipComet {
					res, err := benchComet(ctx, logw, cometBin, cometbench.Options{TimeoutCommit: time.Duration(period) * time.Millisecond, StockGossip: stockGossip},
						steps, stepDur, warmup, size, keep, printStep)
					r.comet = res
					r.all = append(r.all, res...)
					if err != nil {
						return err
					}
				}
				if !skipCometApp {
					res, err := benchCometContracts(ctx, logw, time.Duration(period)*time.Millisecond, stockGossip, steps, stepDur, warmup, accounts, keep, printStep)
					r.all = append(r.all, res...)
					if err != nil {
						return err
					}
				}
				return nil
			}
			var done []*dporRound
			for i := 1; i <= rounds; i++ {
				r := &dporRound{}
				// Every other round runs CometBFT first: a machine that
				// speeds up or slows down during a run then favours neither.
				order := []func(*dporRound) error{runVchain, runComet}
				if i%2 == 0 {
					order = []func(*dporRound) error{runComet, runVchain}
				}
				if rounds > 1 {
					fmt.Fprintf(out, "round %d of %d\n", i, rounds)
				}
				for _, f := range order {
					if err := f(r); err != nil {
						return err
					}
				}
				summarize(out, r.all, r.v44, r.comet, r.twice, r.twiceFrom)
				done = append(done, r)
			}
			if rounds > 1 {
				summarizeRounds(out, done)
			}
			return nil
		},
	}
	cmd.Flags().IntSliceVar(&steps, "steps", []int{2000, 4000, 8000, 16000}, "offered loads, tx/s, one step each")
	cmd.Flags().DurationVar(&stepDur, "step-duration", 15*time.Second, "how long each step offers load")
	cmd.Flags().DurationVar(&warmup, "warmup", 4*time.Second, "left out of each step's figures")
	cmd.Flags().BoolVar(&skipComet, "skip-comet", false, "do not run CometBFT")
	cmd.Flags().BoolVar(&skipVchain, "skip-vchain", false, "do not run the DPoR chain")
	cmd.Flags().BoolVar(&skipCometApp, "skip-vchain-comet", false, "do not run vchain's contract runtime on CometBFT")
	cmd.Flags().Int64Var(&period, "period", 100, "block period in ms (DPoR's period, CometBFT's timeout_commit)")
	cmd.Flags().Int64Var(&timeout, "timeout", 1000, "DPoR impeach timeout in ms")
	cmd.Flags().IntVar(&accounts, "accounts", 1000, "DPoR sending accounts (each has one request in flight)")
	cmd.Flags().StringVar(&cometBinDir, "comet-bin-dir", "", "where CometBFT is installed and looked for (default $XDG_CACHE_HOME/vchain/cometbft/"+cometbench.Version+"/bin)")
	cmd.Flags().BoolVar(&stockGossip, "comet-stock-gossip", false, "keep CometBFT's 100 ms p2p flush throttle and gossip sleep")
	cmd.Flags().IntVar(&rounds, "rounds", 1, "run every system's steps this many times, CometBFT first in every other round, and sum up the ratios over the rounds")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directories (node logs) afterwards")
	return cmd
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// benchVchain runs the steps on a fresh localnet, then the steps extra
// returns, and stops the localnet whatever happens.
func benchVchain(ctx context.Context, logw io.Writer, name string, o localnet.Options, steps []int, lo localnet.LoadOptions,
	keep bool, extra func([]dporStep) []int, print func(dporStep)) (done []dporStep, err error) {
	dir, err := os.MkdirTemp("", "vchain-bench-dpor-*")
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
	l, err := localnet.Create(dir, o)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "%s: starting a localnet of %d validators and %d proposers in %s (period %d ms, timeout %d ms)\n",
		name, o.Validators, o.Proposers, dir, o.PeriodMS, o.TimeoutMS)
	defer func() {
		stopped := l.Stop(10 * time.Second)
		fmt.Fprintf(logw, "%s: stopped %s\n", name, strings.Join(stopped, " "))
	}()
	started, err := l.Start(exe, "--log-level", global.logLevel)
	if err != nil {
		return nil, err
	}
	if err := l.WaitUp(started, 30*time.Second); err != nil {
		return nil, err
	}
	if err := l.WaitHeight(1, 60*time.Second); err != nil {
		return nil, err
	}
	run := func(rate int) error {
		if left := vchainDrain(ctx, l, 30*time.Second); left > 0 {
			fmt.Fprintf(logw, "%s: %d transactions still pending in the mempools before the %d tx/s step\n", name, left, rate)
		}
		fmt.Fprintf(logw, "%s: offering %d tx/s for %v\n", name, rate, lo.Duration)
		o := lo
		o.Rate = rate
		res, err := l.Load(ctx, o)
		if err != nil {
			return fmt.Errorf("%s, %d tx/s: %w", name, rate, err)
		}
		fmt.Fprintf(logw, "%s, %d tx/s: %v\n", name, rate, res)
		s := dporStep{system: name, rate: rate, tps: res.TPS, p50: res.P50, p99: res.P99, refused: res.Refused, impeach: res.Impeached, lateRounds: -1,
			note: fmt.Sprintf("%d blocks, %.0f tx/block; unfinished %d, rejected %d, failed %d", res.Blocks, res.TxsPerBlock, res.Unfinished, res.Rejected, res.Failed)}
		print(s)
		done = append(done, s)
		return nil
	}
	for _, rate := range steps {
		if err := run(rate); err != nil {
			return done, err
		}
	}
	for _, rate := range extra(done) {
		fmt.Fprintf(logw, "%s: one more step at twice the saturation rate\n", name)
		if err := run(rate); err != nil {
			return done, err
		}
	}
	return done, nil
}

// vchainDrain waits until no node's mempool holds a transaction, or
// timeout; it returns what is left.
func vchainDrain(ctx context.Context, l *localnet.Layout, timeout time.Duration) int {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for _, nc := range l.Nodes {
			var st node.Status
			if localnet.GetJSON(c, "http://"+nc.HTTP+"/v1/status", &st) == nil {
				left += st.Mempool
			}
		}
		if left == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchComet runs the steps on a fresh CometBFT testnet and stops it
// whatever happens.
func benchComet(ctx context.Context, logw io.Writer, bin string, o cometbench.Options, steps []int, stepDur, warmup time.Duration, size int,
	keep bool, print func(dporStep)) (done []dporStep, err error) {
	name := "CometBFT " + cometbench.Version
	dir, err := os.MkdirTemp("", "vchain-bench-comet-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || keep {
			fmt.Fprintf(logw, "%s: the testnet's directory (node logs) is kept in %s\n", name, dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	n, err := cometbench.Create(ctx, bin, dir, o)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "%s: starting 4 validators in %s (timeout_commit %v)\n", name, dir, n.Options.TimeoutCommit)
	defer func() {
		n.Stop(10 * time.Second)
		fmt.Fprintf(logw, "%s: stopped\n", name)
	}()
	if err := n.Start(); err != nil {
		return nil, err
	}
	if err := n.WaitHeight(ctx, 2, 60*time.Second); err != nil {
		return nil, err
	}
	for i, rate := range steps {
		if left, err := n.WaitDrained(ctx, 30*time.Second); err != nil {
			return done, err
		} else if left > 0 {
			fmt.Fprintf(logw, "%s: %d transactions still pending in the mempools before the %d tx/s step\n", name, left, rate)
		}
		fmt.Fprintf(logw, "%s: offering %d tx/s for %v\n", name, rate, stepDur)
		res, err := n.Load(ctx, cometbench.LoadOptions{Rate: rate, Duration: stepDur, Warmup: warmup, TxSize: size, Prefix: fmt.Sprintf("step%d", i)})
		if err != nil {
			return done, fmt.Errorf("%s, %d tx/s: %w", name, rate, err)
		}
		fmt.Fprintf(logw, "%s, %d tx/s: %v\n", name, rate, res)
		s := dporStep{system: "CometBFT", rate: rate, tps: res.TPS, p50: res.P50, p99: res.P99, refused: res.Refused, impeach: -1, lateRounds: res.LateRounds,
			note: fmt.Sprintf("%d blocks, %.0f tx/block; unfinished %d, rejected %d, failed %d", res.Blocks, res.TxsPerBlock, res.Unfinished, res.Rejected, res.Failed)}
		print(s)
		done = append(done, s)
	}
	return done, nil
}

// dporRound is what one round of every system's steps measured.
type dporRound struct {
	all, v44, comet []dporStep
	twice           *dporStep // vchain 4+4's step at twice its saturation rate
	twiceFrom       float64   // the saturation rate it doubled
}

// summarizeRounds prints, over several rounds, each round's vchain 4+4 /
// CometBFT ratios and their median: each ratio compares two systems
// measured minutes apart, so its spread across rounds is the run's error
// bar.
func summarizeRounds(out io.Writer, rounds []*dporRound) {
	var sat, p50 []float64
	var impeach []int
	for _, r := range rounds {
		vs, vok := saturation(r.v44)
		cs, cok := saturation(r.comet)
		if !vok || !cok {
			continue
		}
		sat = append(sat, vs.tps/cs.tps)
		for _, c := range r.comet {
			if c.rate == vs.rate && c.p50 > 0 && vs.p50 > 0 {
				p50 = append(p50, vs.p50.Seconds()/c.p50.Seconds())
			}
		}
		if r.twice != nil {
			impeach = append(impeach, r.twice.impeach)
		}
	}
	list := func(xs []float64) string {
		var parts []string
		for _, x := range xs {
			parts = append(parts, fmt.Sprintf("%.2f", x))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(out, "over %d rounds:\n", len(rounds))
	if len(sat) > 0 {
		fmt.Fprintf(out, "  vchain 4+4 saturation / CometBFT saturation, each round: %s; median %.2f\n", list(sat), median(sat))
	}
	if len(p50) > 0 {
		fmt.Fprintf(out, "  vchain 4+4 p50 / CometBFT p50 at vchain 4+4's saturation step, each round: %s; median %.2f\n", list(p50), median(p50))
	}
	if len(impeach) > 0 {
		fmt.Fprintf(out, "  vchain 4+4 impeach blocks at twice its saturation rate, each round: %v\n", impeach)
	}
}

// median is the middle value of xs (the mean of the two middle ones for
// an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// saturation is the step with the highest final rate.
func saturation(steps []dporStep) (dporStep, bool) {
	var best dporStep
	for _, s := range steps {
		if s.tps > best.tps {
			best = s
		}
	}
	return best, best.tps > 0
}

func summarize(out io.Writer, all, v44, comet []dporStep, twice *dporStep, twiceFrom float64) {
	fmt.Fprintln(out, "saturation (the highest final tx/s over the steps):")
	var systems []string
	for _, s := range all {
		if len(systems) == 0 || systems[len(systems)-1] != s.system {
			systems = append(systems, s.system)
		}
	}
	for _, name := range systems {
		var of []dporStep
		for _, s := range all {
			if s.system == name {
				of = append(of, s)
			}
		}
		if sat, ok := saturation(of); ok {
			fmt.Fprintf(out, "  %-14s %8.0f tx/s at the %d tx/s step (p50 %s, p99 %s)\n", name, sat.tps, sat.rate, ms(sat.p50), ms(sat.p99))
		} else {
			fmt.Fprintf(out, "  %-14s nothing final\n", name)
		}
	}
	vs, vok := saturation(v44)
	cs, cok := saturation(comet)
	if vok && cok {
		fmt.Fprintf(out, "vchain 4+4 saturation / CometBFT saturation: %.0f / %.0f = %.2f\n", vs.tps, cs.tps, vs.tps/cs.tps)
		// p50 at vchain 4+4's saturation step, or the highest step below
		// it that both ran.
		var at *[2]dporStep
		for _, v := range v44 {
			for _, c := range comet {
				if v.rate == c.rate && v.rate <= vs.rate && v.p50 > 0 && c.p50 > 0 && (at == nil || v.rate > at[0].rate) {
					at = &[2]dporStep{v, c}
				}
			}
		}
		if at != nil {
			how := "vchain 4+4's saturation step"
			if at[0].rate != vs.rate {
				how = fmt.Sprintf("the highest step both ran below vchain 4+4's saturation step, %d tx/s", vs.rate)
			}
			fmt.Fprintf(out, "vchain 4+4 p50 / CometBFT p50 at %d tx/s (%s): %s / %s = %.2f\n", at[0].rate, how, ms(at[0].p50), ms(at[1].p50),
				at[0].p50.Seconds()/at[1].p50.Seconds())
		}
		var each []string
		for _, v := range v44 {
			for _, c := range comet {
				if v.rate == c.rate && v.p50 > 0 && c.p50 > 0 {
					each = append(each, fmt.Sprintf("%d: %.2f", v.rate, v.p50.Seconds()/c.p50.Seconds()))
				}
			}
		}
		if len(each) > 0 {
			fmt.Fprintf(out, "vchain 4+4 p50 / CometBFT p50 at each step (tx/s: ratio): %s\n", strings.Join(each, ", "))
		}
	}
	if twice != nil {
		fmt.Fprintf(out, "vchain 4+4 at twice its saturation rate (2 x %.0f tx/s; the %d tx/s step): %d impeach blocks, %.0f tx/s final, p50 %s, refused %d\n",
			twiceFrom, twice.rate, twice.impeach, twice.tps, ms(twice.p50), twice.refused)
	}
}
