package apps

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vchain-dev/vchain/dpor/node"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Blobs is a node's content-addressed store of opaque files (the encrypted
// data of a private trade, kept off chain under its hash as CPChain keeps
// it in IPFS): a blob's name is the SHA-256 of its bytes, so a reader
// checks what it gets. The node never learns what a blob holds; clients
// encrypt before they upload (vchain blob put). Blobs and their total
// size are bounded.
type Blobs struct {
	dir      string
	maxBlob  int64
	maxTotal int64

	mu   sync.Mutex
	used int64
}

// Default bounds of a blob store.
const (
	DefaultMaxBlob  = 1 << 20
	DefaultMaxTotal = 256 << 20
)

// Errors of a blob store a caller branches on.
var (
	ErrBlobTooLarge = errors.New("blob too large")
	ErrBlobsFull    = errors.New("the blob store is full")
)

// OpenBlobs opens (or creates) the store in dir with the default bounds.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &Blobs{dir: dir, maxBlob: DefaultMaxBlob, maxTotal: DefaultMaxTotal}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			return os.Remove(p) // an upload a crash interrupted
		}
		info, err := d.Info()
		if err == nil {
			b.used += info.Size()
		}
		return err
	})
	return b, err
}

// Put stores data and returns its name, the hex SHA-256 of data.
func (b *Blobs) Put(data []byte) (string, error) {
	if int64(len(data)) > b.maxBlob {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrBlobTooLarge, len(data), b.maxBlob)
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:])
	path := filepath.Join(b.dir, name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return name, nil
	}
	if b.used+int64(len(data)) > b.maxTotal {
		return "", fmt.Errorf("%w: %d of %d bytes used", ErrBlobsFull, b.used, b.maxTotal)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	b.used += int64(len(data))
	return name, nil
}

// Get returns the blob named name (fs.ErrNotExist when there is none).
func (b *Blobs) Get(name string) ([]byte, error) {
	if raw, err := hex.DecodeString(name); err != nil || len(raw) != sha256.Size || name != hex.EncodeToString(raw) {
		return nil, fmt.Errorf("blob name %q: want 64 lowercase hex digits (a SHA-256)", name)
	}
	return os.ReadFile(filepath.Join(b.dir, name))
}

// BlobRoutes serves the store on a node's API:
//
//	POST /v1/blobs        the body (application/octet-stream) becomes a blob: {"hash": "..."}
//	GET  /v1/blobs/{hash} the blob's bytes
func BlobRoutes(b *Blobs) func(mux *node.Mux) {
	fail := func(w http.ResponseWriter, code int, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
	}
	return func(mux *node.Mux) {
		mux.HandleFunc("POST /v1/blobs", func(w http.ResponseWriter, r *http.Request) {
			data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.maxBlob))
			if err != nil {
				fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: at most %d bytes", ErrBlobTooLarge, b.maxBlob))
				return
			}
			name, err := b.Put(data)
			switch {
			case errors.Is(err, ErrBlobsFull):
				fail(w, http.StatusInsufficientStorage, err)
			case err != nil:
				fail(w, http.StatusInternalServerError, err)
			default:
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, "{\"hash\":%q}\n", name)
			}
		})
		mux.HandleFunc("GET /v1/blobs/{hash}", func(w http.ResponseWriter, r *http.Request) {
			data, err := b.Get(r.PathValue("hash"))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				fail(w, http.StatusNotFound, fmt.Errorf("no blob %s", r.PathValue("hash")))
			case err != nil && strings.HasPrefix(err.Error(), "blob name"):
				fail(w, http.StatusBadRequest, err)
			case err != nil:
				fail(w, http.StatusInternalServerError, err)
			default:
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Write(data)
			}
		})
	}
}
