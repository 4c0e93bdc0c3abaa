package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/hyperlog"
)

func newBenchHyperlogCmd() *cobra.Command {
	var entries int
	var sync, skipNode bool
	var nodeDir string
	cmd := &cobra.Command{
		Use:   "hyperlog",
		Short: "Append throughput of hyperlog, single and batched, beside node's hypercore in the same run",
		Long: `hyperlog appends --entries entries of 100 bytes to a new log, one signed head per append,
then in batches of 100 and 1000, then from 64 goroutines with group commit, and prints
entries/s. Then, unless --skip-node, it installs the pinned npm hypercore in
bench/hypercore (npm ci) and runs the same workload in node, for comparison.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			for _, cfg := range hyperlog.StandardBenchmarks(entries, sync) {
				res, err := hyperlog.RunBenchmark(os.TempDir(), cfg)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, res)
			}
			if skipNode {
				return nil
			}
			script := filepath.Join(nodeDir, "run.sh")
			if _, err := os.Stat(script); err != nil {
				return fmt.Errorf("node baseline: %w (run from the repository root, or pass --node-dir, or --skip-node)", err)
			}
			var stdout bytes.Buffer
			c := exec.CommandContext(cmd.Context(), "bash", script, strconv.Itoa(entries))
			c.Stdout, c.Stderr = &stdout, os.Stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("node baseline: %w", err)
			}
			sc := bufio.NewScanner(&stdout)
			for sc.Scan() {
				var r map[string]any
				if json.Unmarshal(sc.Bytes(), &r) != nil {
					continue
				}
				fmt.Fprintf(out, "node hypercore %v, batch %v: %v blocks in %vs = %v blocks/s\n", r["version"], r["batch"], r["blocks"], r["seconds"], r["blocksPerSec"])
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&entries, "entries", 100_000, "entries per run")
	cmd.Flags().BoolVar(&sync, "sync", false, "fsync every append (node's hypercore does not)")
	cmd.Flags().BoolVar(&skipNode, "skip-node", false, "do not run node's hypercore")
	cmd.Flags().StringVar(&nodeDir, "node-dir", filepath.Join("bench", "hypercore"), "where the node benchmark lives")
	return cmd
}
