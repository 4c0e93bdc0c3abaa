package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/apps/names/namesim"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/tape/memtape"
)

func newBenchSnapshotCmd() *cobra.Command {
	var count, perBlock int
	var dir string
	cmd := &cobra.Command{
		Use:   "snapshot [--names N]",
		Short: "Bootstrap from a snapshot against replaying from the first block: a names state of N registrations",
		Long: `snapshot builds a chain on which simulated users register N names (a block of preorders,
then a block of their registers, --per-block at a time), then times, in one run:
  replay  a new engine applying the whole chain from the first block to a Pebble store
  export  vchain snapshot export's work on the replayed store at its tip
  import  vchain snapshot import's work: every chunk hashed, the consensus hashes recomputed,
          the state hashed (LtHash) and written to a new store, swapped in
and checks the imported store's tip and state commitment equal the replayed one's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count <= 0 || perBlock <= 0 {
				return fmt.Errorf("--names %d, --per-block %d: want positive numbers", count, perBlock)
			}
			tuneGC(2 << 30)
			work, err := os.MkdirTemp(dir, "vchain-bench-snapshot-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			out := cmd.OutOrStdout()
			app := func() engine.Application { return names.New(names.Options{}) }
			open := func(name string) (*engine.Engine, *store.DB, error) {
				db, err := store.Open(filepath.Join(work, name), store.Options{})
				if err != nil {
					return nil, nil, err
				}
				e, err := engine.Open(db, app(), engine.Config{})
				if err != nil {
					db.Close()
					return nil, nil, err
				}
				return e, db, nil
			}
			// The chain: made once, with an engine whose consensus hashes
			// the preorders carry.
			fmt.Fprintf(out, "building a chain that registers %d names (%d per block)...\n", count, perBlock)
			gen, genDB, err := open("gen")
			if err != nil {
				return err
			}
			sim := namesim.NewSim(1, 64)
			blocks := 2*((count+perBlock-1)/perBlock) + 1
			var genErr error
			maker := sim.Registrations(count, perBlock)
			chain := memtape.Generate(memtape.GenConfig{Seed: 1, Blocks: blocks, Txs: func(r *rand.Rand, h int64) []tape.Tx {
				ch, _ := gen.Consensus()
				return maker(r, h, ch)
			}}, func(c *memtape.Chain) {
				if genErr == nil {
					genErr = gen.Sync(context.Background(), c)
				}
			})
			genDB.Close()
			os.RemoveAll(filepath.Join(work, "gen"))
			if genErr != nil {
				return genErr
			}
			ops := 2 * count

			// Replay from the first block.
			e, db, err := open("replayed")
			if err != nil {
				return err
			}
			start := time.Now()
			if err := e.Sync(context.Background(), chain); err != nil {
				return err
			}
			replay := time.Since(start)
			tip, _ := e.Record(e.Height())
			chain = nil
			fmt.Fprintf(out, "replay  %8.3f s  %d blocks, %d ops (%.0f ops/s)\n", replay.Seconds(), tip.Height+1, ops, float64(ops)/replay.Seconds())

			// Export at the tip.
			path := filepath.Join(work, "names.snap")
			start = time.Now()
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			snap := db.Snapshot()
			m, err := snapshot.Export(snap, app().Info(), tip.Height, f)
			snap.Close()
			if err == nil {
				err = f.Sync()
			}
			f.Close()
			if err != nil {
				return err
			}
			export := time.Since(start)
			db.Close()
			fmt.Fprintf(out, "export  %8.3f s  %d keys, %.1f MB in %d chunks\n", export.Seconds(), m.Keys, float64(m.Bytes)/1e6, len(m.Chunks))

			// Import with the trusted pair and state commitment.
			start = time.Now()
			rec, err := snapshot.Import(context.Background(), path, filepath.Join(work, "imported"), snapshot.ImportOptions{App: app(),
				Trust: engine.Trust{Height: tip.Height, Consensus: tip.Consensus, State: tip.State}})
			if err != nil {
				return err
			}
			imp := time.Since(start)
			if rec != tip {
				return fmt.Errorf("the imported tip %+v differs from the replayed %+v", rec, tip)
			}
			fmt.Fprintf(out, "import  %8.3f s  (%.1f MB/s)\n", imp.Seconds(), float64(m.Bytes)/1e6/imp.Seconds())
			fmt.Fprintf(out, "import is %.1fx faster than replay; export + import %.1fx\n", replay.Seconds()/imp.Seconds(), replay.Seconds()/(imp+export).Seconds())
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "names", 1_000_000, "names to register")
	cmd.Flags().IntVar(&perBlock, "per-block", 1000, "preorders (then registers) per block")
	cmd.Flags().StringVar(&dir, "dir", "", "where to put the stores (default the system's temporary directory)")
	return cmd
}
