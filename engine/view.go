package engine

import (
	"errors"

	"github.com/vchain-dev/vchain/kv"
)

// appView is the application's window on state during one block: its keys
// are stored under prefixApp, and the first write to each key records what
// the key held before, so the block can be undone exactly.
type appView struct {
	base    kv.Txn
	touched map[string]struct{}
	undo    []undoEntry
	buf     []byte
}

func newAppView(base kv.Txn) *appView {
	return &appView{base: base}
}

func (v *appView) full(key []byte) []byte {
	v.buf = append(append(v.buf[:0], prefixApp...), key...)
	return v.buf
}

func (v *appView) Get(key []byte) ([]byte, error) {
	return v.base.Get(v.full(key))
}

func (v *appView) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	p := append(append([]byte(nil), prefixApp...), prefix...)
	return v.base.Iterate(p, func(k, val []byte) error {
		return fn(k[len(prefixApp):], val)
	})
}

func (v *appView) remember(full []byte) error {
	if v.touched == nil {
		v.touched = make(map[string]struct{})
	}
	if _, ok := v.touched[string(full)]; ok {
		return nil
	}
	prior, err := v.base.Get(full)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		v.undo = append(v.undo, undoEntry{key: append([]byte(nil), full...)})
	case err != nil:
		return err
	default:
		v.undo = append(v.undo, undoEntry{key: append([]byte(nil), full...), existed: true, value: prior})
	}
	v.touched[string(full)] = struct{}{}
	return nil
}

func (v *appView) Set(key, value []byte) error {
	full := v.full(key)
	if err := v.remember(full); err != nil {
		return err
	}
	return v.base.Set(full, value)
}

func (v *appView) Delete(key []byte) error {
	full := v.full(key)
	if err := v.remember(full); err != nil {
		return err
	}
	return v.base.Delete(full)
}

// readOnly hides a view's write methods from ScanBlock and Check.
type readOnly struct{ r kv.Reader }

func (r readOnly) Get(key []byte) ([]byte, error) { return r.r.Get(key) }
func (r readOnly) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return r.r.Iterate(prefix, fn)
}
