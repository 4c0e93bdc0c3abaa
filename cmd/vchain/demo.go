package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape/memtape"
)

type demoOptions struct {
	seed      uint64
	blocks    int
	users     int
	forkAt    int
	forkDepth int
	first     int64
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the names app on a generated chain with a fork in it",
		Long: `demo generates a chain of blocks whose transactions are simulated users of the names
application (preorders, registrations, updates, transfers, revocations, renewals, and junk),
runs the engine over it block by block, forks the chain part-way (the engine rolls back
and follows the new branch), then prints the resulting names, the consensus hash of every
block, and checks that a fresh replay of the final chain agrees. Everything is in memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of the generated chain")
	cmd.Flags().IntVar(&o.blocks, "blocks", 40, "blocks to generate")
	cmd.Flags().IntVar(&o.users, "users", 6, "simulated users")
	cmd.Flags().IntVar(&o.forkAt, "fork-at", 30, "fork after this many blocks")
	cmd.Flags().IntVar(&o.forkDepth, "fork-depth", 3, "how many blocks the fork replaces")
	cmd.Flags().Int64Var(&o.first, "first-block", 100, "height of the first block")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.blocks < 1 || o.forkDepth < 1 || o.forkAt < o.forkDepth || o.forkAt >= o.blocks {
		return fmt.Errorf("need --blocks ≥ 1 and --fork-depth ≤ --fork-at < --blocks")
	}
	db, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return err
	}
	defer db.Close()
	app := names.New(names.Options{FirstBlock: o.first})
	fmt.Fprintf(out, "vchain demo: the names application on a generated chain (seed %d, %d users, first block %d)\n\n", o.seed, o.users, o.first)
	fmt.Fprintf(out, "%8s  %10s  %8s  %s\n", "height", "candidates", "accepted", "consensus hash")
	e, err := engine.Open(db, app, engine.Config{
		UndoDepth: int64(o.forkDepth) + 1,
		OnBlock: func(ev engine.BlockEvent) {
			r := ev.Record
			fmt.Fprintf(out, "%8d  %10d  %8d  %s\n", r.Height, r.Candidates, r.Accepted, r.Consensus)
		},
		OnRollback: func(ev engine.RollbackEvent) {
			fmt.Fprintf(out, "-- fork: the chain replaced blocks %d..%d; the engine rolled back to %d and follows the new branch --\n",
				ev.ForkHeight+1, ev.From, ev.ForkHeight)
		},
	})
	if err != nil {
		return err
	}

	chain := memtape.New(o.first)
	sim := namesim.NewSim(o.seed, o.users)
	r := rand.New(rand.NewPCG(o.seed, 0xdead))
	mine := func() error {
		ch, _ := e.Consensus()
		height := o.first + int64(chain.Len())
		chain.Append(sim.NextBlock(r, height, ch))
		return e.Sync(ctx, chain)
	}
	var beforeFork, afterFork []names.Record
	var forkFrom, forkTo int64
	for chain.Len() < o.blocks {
		if err := mine(); err != nil {
			return err
		}
		if chain.Len() == o.forkAt && beforeFork == nil {
			forkFrom = e.Height()
			if beforeFork, err = names.List(e.State(), e.Height()); err != nil {
				return err
			}
			// A competing branch, one block longer, replaces the newest
			// blocks; a different random stream makes it differ.
			chain.Rewind(o.forkDepth)
			r = rand.New(rand.NewPCG(o.seed, 0xbeef))
			for i := 0; i <= o.forkDepth; i++ {
				ch, _ := e.ConsensusAt(o.first + int64(chain.Len()) - 1)
				chain.Append(sim.NextBlock(r, o.first+int64(chain.Len()), ch))
			}
			if err := e.Sync(ctx, chain); err != nil {
				return err
			}
			forkTo = e.Height()
			if afterFork, err = names.List(e.State(), e.Height()); err != nil {
				return err
			}
		}
	}

	list, err := names.List(e.State(), e.Height())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nnames at height %d:\n", e.Height())
	nw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(nw, "name\towner\tvalue\tregistered\texpires\tstate")
	for _, rec := range list {
		state := "active"
		switch {
		case rec.Revoked:
			state = "revoked"
		case rec.Expired:
			state = "expired"
		}
		value := rec.Value
		if value == "" {
			value = "-"
		} else if len(value) > 12 {
			value = value[:12] + "…"
		}
		fmt.Fprintf(nw, "%s\t%s\t%s\t%d\t%d\t%s\n", rec.Name, rec.Owner, value, rec.RegisteredAt, rec.ExpiresAt, state)
	}
	nw.Flush()
	if diff := diffNames(beforeFork, afterFork); diff != "" {
		fmt.Fprintf(out, "\nwhat the fork changed (names at height %d on the old branch, then at %d on the new one):\n%s", forkFrom, forkTo, diff)
	}

	// Check: a fresh engine replaying only the final chain agrees.
	db2, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return err
	}
	defer db2.Close()
	fresh, err := engine.Open(db2, names.New(names.Options{FirstBlock: o.first}), engine.Config{})
	if err != nil {
		return err
	}
	if err := fresh.Sync(ctx, chain); err != nil {
		return err
	}
	for h := o.first; h <= e.Height(); h++ {
		a, _ := e.ConsensusAt(h)
		b, _ := fresh.ConsensusAt(h)
		if a != b || fresh.Height() != e.Height() {
			return fmt.Errorf("fresh replay disagrees at height %d: %s vs %s", h, a, b)
		}
	}
	final, _ := e.Consensus()
	fmt.Fprintf(out, "\nfinal consensus hash %s at height %d; a fresh replay of the final chain agrees at all %d heights\n",
		final, e.Height(), e.Height()-o.first+1)
	return nil
}

// diffNames describes how the set of names changed.
func diffNames(before, after []names.Record) string {
	key := func(r names.Record) string {
		return fmt.Sprintf("owner %s, value %s, revoked %v", r.Owner, orDash(r.Value), r.Revoked)
	}
	old := map[string]string{}
	for _, r := range before {
		old[r.Name] = key(r)
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, r := range after {
		seen[r.Name] = true
		switch k, ok := old[r.Name]; {
		case !ok:
			fmt.Fprintf(&b, "  + %s (%s)\n", r.Name, key(r))
		case k != key(r):
			fmt.Fprintf(&b, "  ~ %s (%s, was %s)\n", r.Name, key(r), k)
		}
	}
	for _, r := range before {
		if !seen[r.Name] {
			fmt.Fprintf(&b, "  - %s\n", r.Name)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
