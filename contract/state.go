package contract

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// StateReader is the contract's state archive as the call finds it: a tree
// of directories and files. Paths are absolute and normalized ("/a/b"); "/"
// is the root directory and always exists. Implementations must be
// deterministic (the same archive gives the same answers); an error other
// than fs.ErrNotExist fails the call with Code Internal.
type StateReader interface {
	// ReadFile returns a file's contents, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when there is no file at path.
	ReadFile(path string) ([]byte, error)
	// IsDir reports whether path exists and is a directory.
	IsDir(path string) (bool, error)
	// Exists reports whether path exists (file or directory).
	Exists(path string) (bool, error)
	// ReadDir returns the names of a directory's entries, sorted.
	ReadDir(path string) ([]string, error)
}

// WriteOp is the kind of a Write.
type WriteOp uint8

// The write operations, in the order a host must apply them.
const (
	// Mkdir creates an empty directory; its parent exists.
	Mkdir WriteOp = iota + 1
	// WriteFile creates or replaces a file with Data; its parent exists.
	WriteFile
	// Unlink removes a file.
	Unlink
	// Rmdir removes an empty directory.
	Rmdir
)

func (op WriteOp) String() string {
	switch op {
	case Mkdir:
		return "mkdir"
	case WriteFile:
		return "writeFile"
	case Unlink:
		return "unlink"
	case Rmdir:
		return "rmdir"
	}
	return fmt.Sprintf("WriteOp(%d)", uint8(op))
}

// Write is one change a successful call makes to the state archive. A
// call's writes are explicit and valid in order against the archive the
// call read: parents created implicitly by writeFile or mkdir appear as
// their own Mkdir writes first.
type Write struct {
	Op   WriteOp
	Path string
	Data []byte // WriteFile only
}

// Gas charged by the state API, on top of builtinGas.
const (
	stateOpGas    = 10 // every state call, and every implicit parent mkdir
	readBytesGas  = 8  // bytes read (file contents, directory names) per gas
	writeBytesGas = 1  // bytes written per gas
)

type nodeKind uint8

const (
	absent nodeKind = iota
	isFile
	isDir
)

type node struct {
	kind nodeKind
	data []byte
}

// overlay is the archive as the running call sees it: the StateReader
// with the call's pending writes on top.
type overlay struct {
	base    StateReader
	nodes   map[string]node
	writes  []Write
	written int
}

func newOverlay(base StateReader) *overlay {
	return &overlay{base: base, nodes: map[string]node{}}
}

// errBase wraps a StateReader failure; it ends the call with Internal.
type errBase struct{ err error }

func (e errBase) Error() string { return "state reader: " + e.err.Error() }

func (o *overlay) lookup(path string) (node, error) {
	if path == "/" {
		return node{kind: isDir}, nil
	}
	if n, ok := o.nodes[path]; ok {
		return n, nil
	}
	if o.base == nil {
		return node{}, nil
	}
	dir, err := o.base.IsDir(path)
	if err != nil {
		return node{}, errBase{err}
	}
	if dir {
		return node{kind: isDir}, nil
	}
	ok, err := o.base.Exists(path)
	if err != nil {
		return node{}, errBase{err}
	}
	if ok {
		return node{kind: isFile}, nil
	}
	return node{}, nil
}

func (o *overlay) readFile(path string) ([]byte, error) {
	if n, ok := o.nodes[path]; ok && n.kind == isFile {
		return n.data, nil
	}
	data, err := o.base.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errBase{fmt.Errorf("%s: listed as a file but cannot be read: %w", path, err)}
		}
		return nil, errBase{err}
	}
	return data, nil
}

func (o *overlay) readDir(path string) ([]string, error) {
	// Base entries count when the base has a directory here; overlay nodes
	// (created, replaced or removed in this call) override them. A base
	// directory removed and made again in this call had to be empty first,
	// so all its base entries are marked absent.
	names := map[string]bool{}
	if o.base != nil {
		baseDir := path == "/"
		if !baseDir {
			var err error
			if baseDir, err = o.base.IsDir(path); err != nil {
				return nil, errBase{err}
			}
		}
		if baseDir {
			list, err := o.base.ReadDir(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, errBase{err}
			}
			for _, n := range list {
				names[n] = true
			}
		}
	}
	prefix := path + "/"
	if path == "/" {
		prefix = "/"
	}
	for p, n := range o.nodes {
		if !strings.HasPrefix(p, prefix) || strings.Contains(p[len(prefix):], "/") {
			continue
		}
		names[p[len(prefix):]] = n.kind != absent
	}
	out := make([]string, 0, len(names))
	for n, present := range names {
		if present {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func parentOf(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// stateFail throws a catchable JS Error like Node's fs errors: message
// "CODE: text, path" and a code property ("ENOENT", "EEXIST", ...).
func (in *instance) stateFail(code, text, path string) {
	obj, err := in.vm.New(in.errorCtor, in.vm.ToValue(code+": "+text+", "+truncate(path, 128)))
	if err != nil {
		panic(err)
	}
	_ = obj.Set("code", code)
	panic(obj)
}

// checkPath validates a path argument and returns it as a Go string.
// Paths are absolute and normalized: "/" or "/seg/seg...", where no segment
// is empty, "." or "..", longer than 255 bytes or contains control
// characters; the whole path is at most Limits.MaxPathBytes of UTF-8.
func (in *instance) checkPath(v goja.Value) string {
	s, ok := v.(goja.String)
	if !ok {
		in.throwType("state: path must be a string")
	}
	p := s.String()
	if len(p) > in.limits.MaxPathBytes {
		in.stateFail("ENAMETOOLONG", fmt.Sprintf("path is longer than %d bytes", in.limits.MaxPathBytes), p)
	}
	if strings.ContainsRune(p, utf8.RuneError) {
		in.stateFail("EINVAL", "path is not valid Unicode", p)
	}
	if p == "/" {
		return p
	}
	if !strings.HasPrefix(p, "/") {
		in.stateFail("EINVAL", "path must start with /", p)
	}
	for rest := p[1:]; ; {
		seg := rest
		i := strings.IndexByte(rest, '/')
		if i >= 0 {
			seg = rest[:i]
		}
		switch {
		case seg == "":
			in.stateFail("EINVAL", "path has an empty segment", p)
		case seg == "." || seg == "..":
			in.stateFail("EINVAL", "path segments . and .. are not allowed", p)
		case len(seg) > 255:
			in.stateFail("ENAMETOOLONG", "path segment is longer than 255 bytes", p)
		}
		for j := 0; j < len(seg); j++ {
			if seg[j] < 0x20 || seg[j] == 0x7f {
				in.stateFail("EINVAL", "path contains a control character", p)
			}
		}
		if i < 0 {
			return p
		}
		rest = rest[i+1:]
	}
}

// st returns the call's overlay, or throws at the module top level.
func (in *instance) stateOverlay() *overlay {
	if in.st == nil {
		in.throwType("state is only available inside exported methods")
	}
	return in.st
}

func (in *instance) lookup(o *overlay, path string) node {
	n, err := o.lookup(path)
	if err != nil {
		in.abort(&CallError{Code: Internal, Message: err.Error()})
	}
	return n
}

// newStateObject builds the state global's methods. They are synchronous:
// each returns a plain value (so `await state.x(...)` works too) and throws
// a catchable Error with a code property on misuse.
func (in *instance) newStateObject() *goja.Object {
	vm := in.vm
	o := vm.NewObject()
	def := func(name string, length int, f func(goja.FunctionCall) goja.Value) {
		fo := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			in.enterNative()
			defer in.leaveNative()
			in.chargeJS(stateOpGas)
			return f(call)
		}).(*goja.Object)
		_ = fo.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = fo.DefineDataProperty("length", vm.ToValue(length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = o.DefineDataProperty(name, fo, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	def("exists", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		return vm.ToValue(in.lookup(st, p).kind != absent)
	})
	def("readFile", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		switch in.lookup(st, p).kind {
		case absent:
			in.stateFail("ENOENT", "no such file or directory", p)
		case isDir:
			in.stateFail("EISDIR", "is a directory", p)
		}
		data, err := st.readFile(p)
		if err != nil {
			in.abort(&CallError{Code: Internal, Message: err.Error()})
		}
		in.chargeJS(uint64(len(data)) / readBytesGas)
		if !utf8.Valid(data) {
			// Each invalid byte becomes U+FFFD.
			return vm.ToValue(string([]rune(string(data))))
		}
		return vm.ToValue(string(data))
	})
	def("readdir", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		switch in.lookup(st, p).kind {
		case absent:
			in.stateFail("ENOENT", "no such file or directory", p)
		case isFile:
			in.stateFail("ENOTDIR", "not a directory", p)
		}
		names, err := st.readDir(p)
		if err != nil {
			in.abort(&CallError{Code: Internal, Message: err.Error()})
		}
		size := 0
		items := make([]any, len(names))
		for i, n := range names {
			size += len(n) + 1
			items[i] = n
		}
		in.chargeJS(uint64(size) / readBytesGas)
		return vm.NewArray(items...)
	})
	def("mkdir", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		if in.lookup(st, p).kind != absent {
			in.stateFail("EEXIST", "file already exists", p)
		}
		in.makeParents(st, p)
		in.record(st, Write{Op: Mkdir, Path: p}, node{kind: isDir})
		return goja.Undefined()
	})
	def("writeFile", 2, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		s, ok := call.Argument(1).(goja.String)
		if !ok {
			in.throwType("state.writeFile: data must be a string")
		}
		if p == "/" || in.lookup(st, p).kind == isDir {
			in.stateFail("EISDIR", "is a directory", p)
		}
		if n := s.Length(); n > in.limits.MaxFileBytes {
			in.abort(&CallError{Code: LimitExceeded, Message: fmt.Sprintf("state.writeFile: file is over the limit of %d bytes", in.limits.MaxFileBytes)})
		}
		data := []byte(s.String())
		if len(data) > in.limits.MaxFileBytes {
			in.abort(&CallError{Code: LimitExceeded, Message: fmt.Sprintf("state.writeFile: file is over the limit of %d bytes", in.limits.MaxFileBytes)})
		}
		if st.written+len(data) > in.limits.MaxWriteBytes {
			in.abort(&CallError{Code: LimitExceeded, Message: fmt.Sprintf("state writes are over the limit of %d bytes per call", in.limits.MaxWriteBytes)})
		}
		in.chargeJS(uint64(len(data)) / writeBytesGas)
		in.makeParents(st, p)
		st.written += len(data)
		in.record(st, Write{Op: WriteFile, Path: p, Data: data}, node{kind: isFile, data: data})
		return goja.Undefined()
	})
	def("unlink", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		switch in.lookup(st, p).kind {
		case absent:
			in.stateFail("ENOENT", "no such file or directory", p)
		case isDir:
			in.stateFail("EISDIR", "is a directory", p)
		}
		in.record(st, Write{Op: Unlink, Path: p}, node{kind: absent})
		return goja.Undefined()
	})
	def("rmdir", 1, func(call goja.FunctionCall) goja.Value {
		st := in.stateOverlay()
		p := in.checkPath(call.Argument(0))
		if p == "/" {
			in.stateFail("EBUSY", "cannot remove the root directory", p)
		}
		switch in.lookup(st, p).kind {
		case absent:
			in.stateFail("ENOENT", "no such file or directory", p)
		case isFile:
			in.stateFail("ENOTDIR", "not a directory", p)
		}
		names, err := st.readDir(p)
		if err != nil {
			in.abort(&CallError{Code: Internal, Message: err.Error()})
		}
		if len(names) > 0 {
			in.stateFail("ENOTEMPTY", "directory not empty", p)
		}
		in.record(st, Write{Op: Rmdir, Path: p}, node{kind: absent})
		return goja.Undefined()
	})
	return o
}

// makeParents creates p's missing ancestors, outermost first.
func (in *instance) makeParents(st *overlay, p string) {
	var missing []string
	for dir := parentOf(p); dir != "/"; dir = parentOf(dir) {
		k := in.lookup(st, dir).kind
		if k == isDir {
			break
		}
		if k == isFile {
			in.stateFail("ENOTDIR", "a parent is not a directory", p)
		}
		missing = append(missing, dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		in.chargeJS(stateOpGas)
		in.record(st, Write{Op: Mkdir, Path: missing[i]}, node{kind: isDir})
	}
}

func (in *instance) record(st *overlay, w Write, n node) {
	st.writes = append(st.writes, w)
	st.nodes[w.Path] = n
}
