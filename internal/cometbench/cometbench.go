// Package cometbench runs CometBFT beside the DPoR chain for `vchain bench
// dpor`: it installs a pinned cometbft binary with `go install` into a cache
// directory, lays out a testnet of validators on 127.0.0.1 running the
// built-in kvstore application, starts and stops their processes, offers
// them a steady load of kvstore transactions padded to the size of a DPoR
// transfer, and measures the committed rate and the time from acceptance to
// commit, the way dpor/localnet's Layout.Load does for the DPoR chain.
//
// Nothing here runs unless asked: the package's tests that need a cometbft
// binary run only when VCHAIN_COMET_BIN names one.
package cometbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vchain-dev/vchain/dpor/chain"
)

// Version is the CometBFT release the benchmark installs and runs.
const Version = "v0.38.26"

// Package is the Go package `go install` builds the cometbft binary from.
const Package = "github.com/cometbft/cometbft/cmd/cometbft"

// BinEnv, when set, names a cometbft binary to use instead of installing
// one (it must report Version).
const BinEnv = "VCHAIN_COMET_BIN"

// DefaultBinDir is where Install puts the binary unless told otherwise:
// vchain/cometbft/<Version>/bin under the user's cache directory
// ($XDG_CACHE_HOME, else ~/.cache on Linux).
func DefaultBinDir() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "vchain", "cometbft", Version, "bin"), nil
}

// BinaryVersion runs `bin version` and returns what it prints (for
// CometBFT v0.38.26, "0.38.26").
func BinaryVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Install returns the path of a cometbft binary of Version: the one
// $VCHAIN_COMET_BIN names, else dir/cometbft when it is there and reports
// Version, else one it installs into dir with `GOBIN=dir go install
// Package@Version` (which needs Go and the Go module proxy; the output of
// go install goes to log). dir empty means DefaultBinDir. installed tells
// whether it built one now.
func Install(ctx context.Context, dir string, log io.Writer) (bin string, installed bool, err error) {
	want := strings.TrimPrefix(Version, "v")
	if p := os.Getenv(BinEnv); p != "" {
		v, err := BinaryVersion(ctx, p)
		if err != nil {
			return "", false, fmt.Errorf("$%s: %w", BinEnv, err)
		}
		if v != want {
			return "", false, fmt.Errorf("$%s=%s is CometBFT %s, want %s", BinEnv, p, v, want)
		}
		return p, false, nil
	}
	if dir == "" {
		if dir, err = DefaultBinDir(); err != nil {
			return "", false, fmt.Errorf("no cache directory for CometBFT: %w", err)
		}
	}
	bin = filepath.Join(dir, "cometbft")
	if v, err := BinaryVersion(ctx, bin); err == nil && v == want {
		return bin, false, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", false, fmt.Errorf("installing CometBFT %s needs the go command (or set $%s to a cometbft %s binary): %w", Version, BinEnv, want, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	c := exec.CommandContext(ctx, goBin, "install", Package+"@"+Version)
	c.Env = append(os.Environ(), "GOBIN="+dir)
	c.Dir = dir // outside any module: go install pkg@version ignores it anyway
	if log == nil {
		log = io.Discard
	}
	var tail bytes.Buffer
	c.Stdout, c.Stderr = io.MultiWriter(log, &tail), io.MultiWriter(log, &tail)
	if err := c.Run(); err != nil {
		return "", false, fmt.Errorf("installing CometBFT: GOBIN=%s go install %s@%s failed: %w\n%s(it needs the Go module proxy; or set $%s to a cometbft %s binary)",
			dir, Package, Version, err, lastLines(tail.String(), 10), BinEnv, want)
	}
	v, err := BinaryVersion(ctx, bin)
	if err != nil {
		return "", false, fmt.Errorf("installing CometBFT: %w", err)
	}
	if v != want {
		return "", false, fmt.Errorf("installing CometBFT: %s reports %s, want %s", bin, v, want)
	}
	return bin, true, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	out := strings.Join(lines[max(0, len(lines)-n):], "\n")
	if out != "" {
		out += "\n"
	}
	return out
}

// Setting is one key of a CometBFT config.toml: Section is the table it
// sits in ("" for the keys above the first table, "p2p", "consensus",
// ...), Value is written as given, so strings carry their TOML quotes.
type Setting struct {
	Section, Key, Value string
}

// Quote renders s as a TOML basic string.
func Quote(s string) string {
	b, _ := json.Marshal(s) // JSON's escapes are valid TOML for these values
	return string(b)
}

var (
	tableLine = regexp.MustCompile(`^\s*\[([A-Za-z0-9_.\-]+)\]\s*(#.*)?$`)
	keyLine   = regexp.MustCompile(`^\s*([A-Za-z0-9_\-]+)\s*=`)
)

// RewriteConfig sets keys in a config.toml as CometBFT writes it: each
// setting replaces the line that assigns its key in its table. A setting
// whose key is not there (or is there twice) is an error: the file is not
// of the shape expected, and a key added at the end of the wrong table
// would be silently ignored.
func RewriteConfig(toml []byte, set []Setting) ([]byte, error) {
	type at struct{ section, key string }
	want := map[at]int{} // index into set
	for i, s := range set {
		k := at{s.Section, s.Key}
		if _, dup := want[k]; dup {
			return nil, fmt.Errorf("config.toml: [%s] %s set twice", s.Section, s.Key)
		}
		want[k] = i
	}
	done := make([]int, len(set))
	var out bytes.Buffer
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(toml))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := tableLine.FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if m := keyLine.FindStringSubmatch(line); m != nil {
			if i, ok := want[at{section, m[1]}]; ok {
				done[i]++
				line = m[1] + " = " + set[i].Value
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, n := range done {
		if n != 1 {
			s := set[i]
			return nil, fmt.Errorf("config.toml: [%s] %s found %d times, want once", s.Section, s.Key, n)
		}
	}
	return out.Bytes(), nil
}

// NodeID reads a node_key.json as CometBFT writes it and returns the
// node's p2p ID: the hex of the first 20 bytes of the SHA-256 of its
// Ed25519 public key.
func NodeID(nodeKeyJSON []byte) (string, error) {
	var nk struct {
		PrivKey struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"priv_key"`
	}
	if err := json.Unmarshal(nodeKeyJSON, &nk); err != nil {
		return "", fmt.Errorf("node_key.json: %w", err)
	}
	if nk.PrivKey.Type != "tendermint/PrivKeyEd25519" {
		return "", fmt.Errorf("node_key.json: priv_key.type %q, want tendermint/PrivKeyEd25519", nk.PrivKey.Type)
	}
	raw, err := base64.StdEncoding.DecodeString(nk.PrivKey.Value)
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return "", errors.New("node_key.json: priv_key.value is not a base64 Ed25519 private key")
	}
	sum := sha256.Sum256(raw[32:])
	return hex.EncodeToString(sum[:20]), nil
}

// TransferTxSize is the encoded size of a signed DPoR transfer like the
// ones dpor/localnet's load generator sends (a nonce in the hundreds,
// amount 10, the minimum fee): the size CometBFT's transactions are padded
// to.
func TransferTxSize() int {
	seed := sha256.Sum256([]byte("cometbench transfer size"))
	k := ed25519.NewKeyFromSeed(seed[:])
	var to chain.Address
	copy(to[:], seed[:])
	tx := &chain.Tx{Nonce: 100, To: to, Amount: 10, Fee: chain.DefaultParams().MinFee}
	tx.Sign("localnet-00000000", k)
	return len(chain.Marshal(tx))
}

// TxGen makes kvstore transactions of one size: "<key>=<value>", the key
// "<prefix>-<sequence number, 16 hex digits>" (unique to the prefix and
// the number: the prefix holds no '-'), the value padding. They hold
// neither ':' nor a second '=', which the kvstore would rewrite or refuse.
type TxGen struct {
	prefix string
	size   int
	seq    uint64
}

// minTxSize is the shortest transaction a TxGen makes: a key of the
// longest prefix, '=' and one byte of value.
const minTxSize = maxPrefix + 1 + 16 + 1 + 1

// maxPrefix is the longest key prefix.
const maxPrefix = 8

// NewTxGen returns a generator of size-byte transactions whose keys start
// with prefix (at most 8 letters and digits; generators with distinct
// prefixes never make the same key).
func NewTxGen(prefix string, size int) (*TxGen, error) {
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return nil, fmt.Errorf("tx prefix %q: letters and digits only", prefix)
		}
	}
	if len(prefix) > maxPrefix {
		return nil, fmt.Errorf("tx prefix %q: at most %d characters", prefix, maxPrefix)
	}
	if size < minTxSize {
		return nil, fmt.Errorf("tx size %d: at least %d bytes", size, minTxSize)
	}
	return &TxGen{prefix: prefix, size: size}, nil
}

// Ours tells whether tx was made by a generator with this one's prefix.
func (g *TxGen) Ours(tx []byte) bool {
	return len(tx) > len(g.prefix) && string(tx[:len(g.prefix)]) == g.prefix && tx[len(g.prefix)] == '-'
}

// Next returns the next transaction.
func (g *TxGen) Next() []byte {
	tx := make([]byte, 0, g.size)
	tx = append(tx, g.prefix...)
	tx = fmt.Appendf(tx, "-%016x", g.seq)
	g.seq++
	tx = append(tx, '=')
	for len(tx) < g.size {
		tx = append(tx, 'v')
	}
	return tx
}
