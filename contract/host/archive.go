package host

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/vchain-dev/vchain/kv"
)

// archive is a contract's state archive, a file tree kept in the contract
// engine's key-value state: node keys are "n/<dir>\x00<name>", so a
// directory's entries are one prefix scan. The root directory always
// exists.
type archive struct {
	r      kv.Reader
	prefix []byte
	// memo remembers nodes already read: a call asks about the same path
	// several times (is it a directory? does it exist?), and the archive a
	// call reads does not change while it runs.
	memo map[string][]byte
}

func newArchive(r kv.Reader) archive {
	return archive{r: r, prefix: []byte("n/"), memo: map[string][]byte{}}
}

const (
	nodeDir  = 'd'
	nodeFile = 'f'
)

func (a archive) nodeKey(p string) []byte {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	k := make([]byte, 0, len(a.prefix)+len(p)+1)
	k = append(k, a.prefix...)
	k = append(k, dir...)
	k = append(k, 0)
	return append(k, name...)
}

func (a archive) node(p string) ([]byte, error) {
	if p == "/" {
		return []byte{nodeDir}, nil
	}
	if v, ok := a.memo[p]; ok && a.memo != nil {
		if v == nil {
			return nil, fs.ErrNotExist
		}
		return v, nil
	}
	v, err := a.r.Get(a.nodeKey(p))
	if errors.Is(err, kv.ErrNotFound) {
		if a.memo != nil {
			a.memo[p] = nil
		}
		return nil, fs.ErrNotExist
	}
	if err == nil && a.memo != nil {
		a.memo[p] = v
	}
	return v, err
}

// ReadFile returns a file's content.
func (a archive) ReadFile(p string) ([]byte, error) {
	n, err := a.node(p)
	if err != nil {
		return nil, err
	}
	if n[0] != nodeFile {
		return nil, fmt.Errorf("%s: is a directory", p)
	}
	return n[1:], nil
}

// IsDir reports whether p exists and is a directory.
func (a archive) IsDir(p string) (bool, error) {
	n, err := a.node(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil && n[0] == nodeDir, err
}

// Exists reports whether p exists.
func (a archive) Exists(p string) (bool, error) {
	_, err := a.node(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// ReadDir lists a directory's entries in byte order.
func (a archive) ReadDir(p string) ([]string, error) {
	ok, err := a.IsDir(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	pre := append(append(append([]byte(nil), a.prefix...), p...), 0)
	var names []string
	err = a.r.Iterate(pre, func(k, _ []byte) error {
		names = append(names, string(k[len(pre):]))
		return nil
	})
	return names, err
}

// writer applies writes to the archive inside the engine's transaction.
// Its reads see its own writes: it keeps no memo.
type writer struct {
	archive
	w kv.Txn
}

func newWriter(st kv.Txn) writer {
	return writer{archive: archive{r: st, prefix: []byte("n/")}, w: st}
}

func (w writer) mkdirAll(p string) error {
	if p == "/" {
		return nil
	}
	n, err := w.node(p)
	switch {
	case err == nil && n[0] == nodeDir:
		return nil
	case err == nil:
		return fmt.Errorf("%s: not a directory", p)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := w.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	return w.w.Set(w.nodeKey(p), []byte{nodeDir})
}

func (w writer) writeFile(p string, data []byte) error {
	if err := w.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	v := make([]byte, 1+len(data))
	v[0] = nodeFile
	copy(v[1:], data)
	return w.w.Set(w.nodeKey(p), v)
}

func (w writer) unlink(p string) error {
	return w.w.Delete(w.nodeKey(p))
}
