package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/apps/names"
	"github.com/vchain-dev/vchain/contract"
	"github.com/vchain-dev/vchain/contract/host"
	"github.com/vchain-dev/vchain/dpor/chain"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/dpor/node"
	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/edkey"
	"github.com/vchain-dev/vchain/lthash"
	"github.com/vchain-dev/vchain/progress"
	"github.com/vchain-dev/vchain/snapshot"
	"github.com/vchain-dev/vchain/store"
	"github.com/vchain-dev/vchain/vchash"
)

// appByName returns the application a data directory's identity names.
func appByName(name string, first int64) (engine.Application, error) {
	switch name {
	case names.AppName:
		return names.New(names.Options{FirstBlock: first}), nil
	case host.NewChainApp(contract.Limits{}).Info().Name:
		if first != 0 {
			return nil, fmt.Errorf("the contracts application starts at block 0, not %d", first)
		}
		return host.NewChainApp(contract.Limits{}), nil
	}
	return nil, fmt.Errorf("application %q: want names or contracts", name)
}

// parseTrust reads HEIGHT:CONSENSUS_HASH[:STATE_COMMITMENT].
func parseTrust(s string) (engine.Trust, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return engine.Trust{}, fmt.Errorf("--trust %q: want HEIGHT:CONSENSUS_HASH or HEIGHT:CONSENSUS_HASH:STATE_COMMITMENT", s)
	}
	h, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || h < 0 {
		return engine.Trust{}, fmt.Errorf("--trust %q: height %q is not a non-negative integer", s, parts[0])
	}
	ch, err := vchash.ParseConsensusHash(parts[1])
	if err != nil {
		return engine.Trust{}, fmt.Errorf("--trust %q: %w", s, err)
	}
	t := engine.Trust{Height: h, Consensus: ch}
	if len(parts) == 3 {
		if t.State, err = lthash.ParseDigest(parts[2]); err != nil {
			return engine.Trust{}, fmt.Errorf("--trust %q: %w", s, err)
		}
	}
	return t, nil
}

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Export, sign and import verified snapshots of an engine's data directory"}

	var datadir, out, genesisFile string
	var height int64
	export := &cobra.Command{
		Use:   "export --datadir DIR --out FILE [--height H] [--genesis FILE]",
		Short: "Write the state at a committed height (default the tip) with what a node needs to go on, in hashed chunks under a manifest",
		Long: `export writes a snapshot of an engine's data directory (vchain sync / node) at a committed
height, or, with --genesis, of a DPoR node's data directory at its head: the chain state, the head
block with its commit certificate, and the genesis block.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if datadir == "" || out == "" {
				return errors.New("--datadir and --out are required")
			}
			if _, err := os.Stat(datadir); err != nil {
				return fmt.Errorf("data directory %s: %w", datadir, err)
			}
			if genesisFile != "" {
				g, err := chain.LoadGenesis(genesisFile)
				if err != nil {
					return err
				}
				return writeSnapshot(out, func(f *os.File) (*snapshot.Manifest, error) { return node.ExportSnapshot(datadir, g, f) }, func(m *snapshot.Manifest) {
					fmt.Fprintf(cmd.OutOrStdout(), "node at height %d (block %s), state commitment %s: %d keys in %d chunks\n", m.Height, m.BlockHash, m.State, m.Keys, len(m.Chunks))
				})
			}
			db, err := store.Open(datadir, store.Options{})
			if err != nil {
				return fmt.Errorf("data directory %s (stop the node using it first): %w", datadir, err)
			}
			defer db.Close()
			snap := db.Snapshot()
			defer snap.Close()
			name, first, ok, err := engine.StoredIdentity(snap)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("data directory %s holds no engine store (a DPoR node's? give --genesis)", datadir)
			}
			app, err := appByName(name, first)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("height") {
				tip, ok, err := engine.ReadTip(snap)
				if err != nil || !ok {
					return fmt.Errorf("data directory %s has no committed block: %v", datadir, err)
				}
				height = tip.Height
			}
			return writeSnapshot(out, func(f *os.File) (*snapshot.Manifest, error) { return snapshot.Export(snap, app.Info(), height, f) }, func(m *snapshot.Manifest) {
				fmt.Fprintf(cmd.OutOrStdout(), "height %d, consensus hash %s, state commitment %s: %d keys in %d chunks\ntrust it with: --trust %d:%s:%s\n",
					m.Height, m.Consensus, m.State, m.Keys, len(m.Chunks), m.Height, m.Consensus, m.State)
			})
		},
	}
	export.Flags().StringVar(&datadir, "datadir", "", "the engine's data directory (no node may be running on it)")
	export.Flags().StringVar(&out, "out", "", "the snapshot file to write")
	export.Flags().Int64Var(&height, "height", 0, "the committed height to export (default the tip; below it, within the undo window)")
	export.Flags().StringVar(&genesisFile, "genesis", "", "the data directory is a DPoR node's, of the chain this genesis starts")

	var keyFile string
	sign := &cobra.Command{
		Use:   "sign FILE --key KEYFILE",
		Short: "Add your signature of the snapshot's manifest (publishers sign; importers name their keys with --signer)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := localnet.ReadKey(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if err := snapshot.Sign(args[0], k); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	sign.Flags().StringVar(&keyFile, "key", "", "the key file to sign with (vchain key new)")
	sign.MarkFlagRequired("key")

	show := &cobra.Command{
		Use:   "show FILE",
		Short: "Print a snapshot's manifest and who signed it (nothing is verified but the signatures)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sf, err := snapshot.Open(args[0])
			if err != nil {
				return err
			}
			defer sf.Close()
			m := *sf.Manifest
			chunks := len(m.Chunks)
			m.Chunks = nil
			var signed []string
			for _, s := range sf.Signatures {
				if pub, err := hex.DecodeString(s.Key); err == nil && len(pub) == ed25519.PublicKeySize && len(sf.Signed([]ed25519.PublicKey{pub})) == 1 {
					signed = append(signed, s.Key)
				}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"manifest": m, "chunks": chunks, "signed_by": signed})
		},
	}

	var trust, app string
	var signers []string
	var threshold int
	var first int64
	imp := &cobra.Command{
		Use:   "import FILE --datadir DIR (--trust H:CONSENSUS_HASH[:STATE_COMMITMENT] [--signer KEY]... | --genesis FILE)",
		Short: "Verify a snapshot (every chunk, the state commitment, the consensus hashes) and make it the data directory's store",
		Long: `import checks the snapshot against what you trust: the height and its consensus hash (from a
node you trust, or a checkpoint), and the state commitment at that height, or else the signatures
of publishers you name (--signer, --signatures K of them). A consensus hash covers the ops, not
the state they make, so one of the two is needed. Every chunk's hash is checked as it streams in,
the block records' consensus hashes are recomputed from the first block, and the state is hashed
and compared with the commitment. The new store is built beside DIR and replaces it in one rename
only when everything checked out: a snapshot that fails a check, or an import that is killed,
leaves DIR as it was. A node then goes on from the snapshot's height (vchain sync / node).

A DPoR node's snapshot is checked against the chain's genesis instead (--genesis): its genesis
block, the head block's commit certificate against the genesis validators, and the state against
its commitment and the head. The next block the node applies carries the commitment of the state
the head left, which checks the state once more before the node goes on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if datadir == "" {
				return errors.New("--datadir is required")
			}
			if genesisFile != "" {
				g, err := chain.LoadGenesis(genesisFile)
				if err != nil {
					return err
				}
				h, err := node.ImportSnapshot(cmd.Context(), args[0], datadir, g)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported the node's state at height %d into %s\n", h, datadir)
				return nil
			}
			if trust == "" {
				return errors.New("--trust is required (or --genesis, for a DPoR node's snapshot)")
			}
			t, err := parseTrust(trust)
			if err != nil {
				return err
			}
			var keys []ed25519.PublicKey
			for _, s := range signers {
				pub, err := hex.DecodeString(s)
				if err != nil || len(pub) != ed25519.PublicKeySize {
					return fmt.Errorf("--signer %q: want a hex Ed25519 public key (vchain key public)", s)
				}
				if err := edkey.Check(pub); err != nil {
					return fmt.Errorf("--signer %q: %w", s, err)
				}
				keys = append(keys, pub)
			}
			if app == "contracts" {
				app = host.NewChainApp(contract.Limits{}).Info().Name
			}
			a, err := appByName(app, first)
			if err != nil {
				return err
			}
			log, err := logger()
			if err != nil {
				return err
			}
			bar := progress.New("import", os.Stderr, log)
			chunks := int64(0)
			rec, err := snapshot.Import(cmd.Context(), args[0], datadir, snapshot.ImportOptions{App: a, Trust: t, Signers: keys, Threshold: threshold,
				Progress: func(done, total int64) {
					chunks++
					bar.Add(chunks, 0, float64(done)/float64(total))
				}})
			bar.Done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported height %d, consensus hash %s, state commitment %s into %s\n", rec.Height, rec.Consensus, rec.State, datadir)
			return nil
		},
	}
	imp.Flags().StringVar(&datadir, "datadir", "", "the data directory to fill (empty, or the same application's store; no node may be running on it)")
	imp.Flags().StringVar(&trust, "trust", "", "HEIGHT:CONSENSUS_HASH[:STATE_COMMITMENT] you trust")
	imp.Flags().StringArrayVar(&signers, "signer", nil, "a publisher's Ed25519 public key, hex (repeatable)")
	imp.Flags().IntVar(&threshold, "signatures", 0, "how many of the --signer keys must have signed (default all)")
	imp.Flags().StringVar(&app, "app", "names", "the application: names or contracts")
	imp.Flags().Int64Var(&first, "first-block", 0, "the application's first block")
	imp.Flags().StringVar(&genesisFile, "genesis", "", "a DPoR node's snapshot: the chain's genesis file")
	cmd.AddCommand(export, sign, show, imp)
	return cmd
}

// writeSnapshot writes a snapshot with export to out through a partial
// file renamed into place once complete, and reports its manifest.
func writeSnapshot(out string, export func(f *os.File) (*snapshot.Manifest, error), report func(*snapshot.Manifest)) error {
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	m, err := export(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	report(m)
	return nil
}
