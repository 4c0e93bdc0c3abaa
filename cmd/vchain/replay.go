package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/progress"
	"github.com/vchain-dev/vchain/replay"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

func newReplayCmd() *cobra.Command {
	var datadir string
	var firstBlock int64
	var checkpoints, stateCheckpoints []string
	cmd := &cobra.Command{
		Use:   "replay [--datadir DIR] [--first-block N] FILE",
		Short: "Run the engine over a JSON Lines file of blocks and print each block's hashes",
		Long: `replay reads FILE (or - for standard input), one block per line:

  {"height": 100, "ops": ["a:8:alice.id,0:", "b:3:bob"]}

Each string of "ops" is a serialized op (its UTF-8 bytes); "ops_hex" takes hex
strings for binary ops. Every op is committed as given (a pass-through
application), and for each block committed the command prints

  <height> <ops_hash> <consensus_hash>

With --datadir the state persists and a second run resumes after the last
committed block, printing only what it commits then. Without it the store is
temporary. On a malformed line it stops with an error naming the line; every
block before it stays committed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			in := os.Stdin
			var size int64
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
			}
			cfg := engine.Config{Logger: log}
			if err := checkpointFlags(&cfg, checkpoints, stateCheckpoints); err != nil {
				return err
			}
			db, err := openStore(datadir, log)
			if err != nil {
				return err
			}
			defer db.Close()
			opts := replay.Options{
				FirstBlock:    firstBlock,
				FirstBlockSet: cmd.Flags().Changed("first-block"),
				Out:           cmd.OutOrStdout(),
				Size:          size,
				Progress:      progress.New("replay", os.Stderr, log),
				Engine:        cfg,
			}
			st, err := replay.Run(cmd.Context(), db, in, opts)
			log.Debug("replay finished", "committed_blocks", st.Blocks, "ops", st.Ops, "skipped", st.Skipped, "height", st.Height)
			return err
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", "", "keep state in DIR and resume from it (default: a temporary store)")
	cmd.Flags().Int64Var(&firstBlock, "first-block", 0, "the application's first block (default: the first line's height)")
	cmd.Flags().StringArrayVar(&checkpoints, "checkpoint", nil, "HEIGHT:CONSENSUS_HASH that block HEIGHT must produce (repeatable); a mismatch stops the replay")
	cmd.Flags().StringArrayVar(&stateCheckpoints, "state-checkpoint", nil, "HEIGHT:STATE_COMMITMENT the state after block HEIGHT must hash to (repeatable)")
	return cmd
}

// openStore opens the store in datadir, or a temporary in-memory one.
func openStore(datadir string, log *slog.Logger) (*store.DB, error) {
	if datadir == "" {
		return store.Open("", store.Options{InMemory: true, Logger: log})
	}
	db, err := store.Open(datadir, store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", datadir, err)
	}
	return db, nil
}

// checkpointFlags sets cfg's checkpoints from --checkpoint and
// --state-checkpoint flags.
func checkpointFlags(cfg *engine.Config, consensus, state []string) error {
	var err error
	if cfg.Checkpoints, err = parseCheckpoints(consensus); err != nil {
		return err
	}
	cfg.StateCheckpoints, err = parseStateCheckpoints(state)
	return err
}

// parseStateCheckpoints parses HEIGHT:STATE_COMMITMENT flags.
func parseStateCheckpoints(flags []string) (map[int64]lthash.Digest, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[int64]lthash.Digest, len(flags))
	for _, f := range flags {
		hs, ds, ok := strings.Cut(f, ":")
		h, err := strconv.ParseInt(hs, 10, 64)
		if !ok || err != nil || h < 0 {
			return nil, fmt.Errorf("--state-checkpoint %q: want HEIGHT:STATE_COMMITMENT", f)
		}
		d, err := lthash.ParseDigest(ds)
		if err != nil {
			return nil, fmt.Errorf("--state-checkpoint %q: %w", f, err)
		}
		out[h] = d
	}
	return out, nil
}

// parseCheckpoints parses HEIGHT:HASH flags.
func parseCheckpoints(flags []string) (map[int64]vchash.ConsensusHash, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[int64]vchash.ConsensusHash, len(flags))
	for _, f := range flags {
		hs, cs, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("--checkpoint %q: want HEIGHT:CONSENSUS_HASH", f)
		}
		h, err := strconv.ParseInt(hs, 10, 64)
		if err != nil || h < 0 {
			return nil, fmt.Errorf("--checkpoint %q: height %q is not a non-negative integer", f, hs)
		}
		ch, err := vchash.ParseConsensusHash(cs)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint %q: %w", f, err)
		}
		out[h] = ch
	}
	return out, nil
}
