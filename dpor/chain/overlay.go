package chain

import (
	"errors"
	"iter"

	"github.com/vchain-dev/vchain/kv"
)

// Overlay is a kv.Txn whose writes stay in memory over a base reader: a
// block can be tried on it and thrown away. Iterate is not supported (the
// chain's state never iterates).
type Overlay struct {
	base   kv.Reader
	writes map[string][]byte // nil value: deleted
}

// NewOverlay returns an empty overlay on base.
func NewOverlay(base kv.Reader) *Overlay { return &Overlay{base: base, writes: map[string][]byte{}} }

// Get implements kv.Reader.
func (o *Overlay) Get(k []byte) ([]byte, error) {
	if v, ok := o.writes[string(k)]; ok {
		if v == nil {
			return nil, kv.ErrNotFound
		}
		return append([]byte(nil), v...), nil
	}
	return o.base.Get(k)
}

// Iterate implements kv.Reader; overlays do not iterate.
func (o *Overlay) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return errors.New("chain: overlays do not iterate")
}

// Set implements kv.Txn.
func (o *Overlay) Set(k, v []byte) error {
	o.writes[string(k)] = append([]byte{}, v...)
	return nil
}

// Delete implements kv.Txn.
func (o *Overlay) Delete(k []byte) error {
	o.writes[string(k)] = nil
	return nil
}

// Len is the number of keys written.
func (o *Overlay) Len() int { return len(o.writes) }

// WriteTo copies the overlay's writes into t.
func (o *Overlay) WriteTo(t kv.Txn) error {
	for k, v := range o.writes {
		var err error
		if v == nil {
			err = t.Delete([]byte(k))
		} else {
			err = t.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Writes yields the overlay's writes, each key with its new value or nil
// where the key was deleted. The slices must not be modified.
func (o *Overlay) Writes() iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		for k, v := range o.writes {
			if !yield(k, v) {
				return
			}
		}
	}
}
