package apps

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/vchain-dev/vchain/internal/openapi"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlobs: a blob is named by its hash and read back; a blob over the
// bound, or one that would fill the store past its total, is refused and
// nothing is written; names that are not hashes are refused; an upload a
// crash interrupted is cleaned at open, and the store's use survives a
// reopen.
func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.maxBlob, b.maxTotal = 100, 150
	name, err := b.Put([]byte("ciphertext"))
	sum := sha256.Sum256([]byte("ciphertext"))
	if err != nil || name != hex.EncodeToString(sum[:]) {
		t.Fatalf("put: %s, %v", name, err)
	}
	if got, err := b.Get(name); err != nil || string(got) != "ciphertext" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if _, err := b.Put(make([]byte, 101)); !errors.Is(err, ErrBlobTooLarge) {
		t.Fatalf("101 bytes: %v", err)
	}
	if _, err := b.Put(bytes.Repeat([]byte{1}, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(bytes.Repeat([]byte{2}, 50)); !errors.Is(err, ErrBlobsFull) {
		t.Fatalf("past the total: %v", err)
	}
	for _, bad := range []string{"../etc/passwd", strings.Repeat("A", 64), "ab"} {
		if _, err := b.Get(bad); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	if _, err := b.Get(strings.Repeat("0", 64)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing blob: %v", err)
	}
	os.WriteFile(filepath.Join(dir, strings.Repeat("1", 64)+".tmp"), []byte("half"), 0o644)
	b2, err := OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b2.used != 110 {
		t.Fatalf("reopened with %d bytes used, want 110", b2.used)
	}
	if _, err := os.Stat(filepath.Join(dir, strings.Repeat("1", 64)+".tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("an interrupted upload was kept")
	}

	// Over HTTP.
	mux := openapi.NewMux()
	BlobRoutes(b)(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, _ := http.Post(srv.URL+"/v1/blobs", "application/octet-stream", bytes.NewReader(make([]byte, 101)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a large upload: %s", resp.Status)
	}
	resp, _ = http.Get(srv.URL + "/v1/blobs/" + name)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ciphertext" {
		t.Fatalf("GET: %s %q", resp.Status, body)
	}
	if resp, _ := http.Get(srv.URL + "/v1/blobs/xyz"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad name: %s", resp.Status)
	}
}
