package contract

import (
	"io/fs"
	"sort"
	"strings"
)

// memState is an in-memory StateReader for tests.
type memState struct {
	files map[string][]byte
	dirs  map[string]bool
}

func newMemState() *memState {
	return &memState{files: map[string][]byte{}, dirs: map[string]bool{"/": true}}
}

func (m *memState) ReadFile(p string) ([]byte, error) {
	d, ok := m.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return d, nil
}

func (m *memState) IsDir(p string) (bool, error) { return m.dirs[p], nil }

func (m *memState) Exists(p string) (bool, error) {
	_, f := m.files[p]
	return f || m.dirs[p], nil
}

func (m *memState) ReadDir(p string) ([]string, error) {
	if !m.dirs[p] {
		return nil, fs.ErrNotExist
	}
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	var names []string
	add := func(q string) {
		if strings.HasPrefix(q, prefix) && q != prefix && !strings.Contains(q[len(prefix):], "/") {
			names = append(names, q[len(prefix):])
		}
	}
	for q := range m.files {
		add(q)
	}
	for q := range m.dirs {
		add(q)
	}
	sort.Strings(names)
	return names, nil
}

// apply applies writes, panicking on an invalid one (a bug in the overlay).
func (m *memState) apply(ws []Write) {
	for _, w := range ws {
		parent := parentOf(w.Path)
		if !m.dirs[parent] {
			panic("write " + w.Op.String() + " " + w.Path + ": parent missing")
		}
		switch w.Op {
		case Mkdir:
			if m.dirs[w.Path] || m.files[w.Path] != nil {
				panic("mkdir over existing " + w.Path)
			}
			m.dirs[w.Path] = true
		case WriteFile:
			if m.dirs[w.Path] {
				panic("writeFile over dir " + w.Path)
			}
			m.files[w.Path] = append([]byte(nil), w.Data...)
		case Unlink:
			if _, ok := m.files[w.Path]; !ok {
				panic("unlink missing " + w.Path)
			}
			delete(m.files, w.Path)
		case Rmdir:
			if !m.dirs[w.Path] {
				panic("rmdir missing " + w.Path)
			}
			delete(m.dirs, w.Path)
		}
	}
}
