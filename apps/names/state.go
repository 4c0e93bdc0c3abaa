package names

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vchain-dev/vchain/kv"
)

// Key prefixes of the application's state.
const (
	namePrefix     = "n/"
	preorderPrefix = "p/"
)

// ErrNameNotFound is returned by Lookup for a name that was never
// registered.
var ErrNameNotFound = errors.New("name not found")

// nameState is the stored record of a name, under "n/<name>". Field order
// is the JSON order, so equal records encode to equal bytes.
type nameState struct {
	Owner        string `json:"owner"`
	OwnerScript  string `json:"owner_script"`
	Value        string `json:"value"`
	RegisteredAt int64  `json:"registered_at"`
	ExpiresAt    int64  `json:"expires_at"`
	UpdatedAt    int64  `json:"updated_at"`
	Revoked      bool   `json:"revoked"`
	LastTxID     string `json:"last_txid"`
}

// preorderState is the stored record of a pending preorder, under
// "p/<hex preorder hash>".
type preorderState struct {
	SenderScript string `json:"sender_script"`
	Address      string `json:"address"`
	Height       int64  `json:"height"`
	TxIndex      int    `json:"tx_index"`
	TxID         string `json:"txid"`
}

func nameKey(name string) []byte { return []byte(namePrefix + name) }

func preorderKey(hash [PreorderHashLen]byte) []byte {
	return []byte(preorderPrefix + hex.EncodeToString(hash[:]))
}

// getJSON reads the record at key into v; found is false when the key is
// absent. A record that does not decode is a storage fault.
func getJSON(r kv.Reader, key []byte, v any) (found bool, err error) {
	raw, err := r.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("names: corrupt record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(t kv.Txn, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.Set(key, raw)
}

// Record is what Lookup and List report about a name.
type Record struct {
	// Name is the fully-qualified name.
	Name string `json:"name"`
	// Owner is the owner's address (informative; it may be empty).
	Owner string `json:"owner"`
	// OwnerScript is the owner's scriptPubKey in hex: the owner's identity.
	OwnerScript string `json:"owner_script"`
	// Value is the value hash in hex, or empty when the name has none.
	Value string `json:"value"`
	// RegisteredAt is the height of the register that created the current
	// registration.
	RegisteredAt int64 `json:"registered_at"`
	// ExpiresAt is the first height at which the name has expired.
	ExpiresAt int64 `json:"expires_at"`
	// UpdatedAt is the height of the last operation on the name.
	UpdatedAt int64 `json:"updated_at"`
	// LastTxID is the id of the transaction of the last operation, in hex.
	LastTxID string `json:"last_txid"`
	// Revoked reports whether the owner revoked the name.
	Revoked bool `json:"revoked"`
	// Expired reports whether ExpiresAt is at or below the height Lookup or
	// List was asked about.
	Expired bool `json:"expired"`
}

func (s *nameState) record(name string, height int64) Record {
	return Record{
		Name:         name,
		Owner:        s.Owner,
		OwnerScript:  s.OwnerScript,
		Value:        s.Value,
		RegisteredAt: s.RegisteredAt,
		ExpiresAt:    s.ExpiresAt,
		UpdatedAt:    s.UpdatedAt,
		LastTxID:     s.LastTxID,
		Revoked:      s.Revoked,
		Expired:      s.ExpiresAt <= height,
	}
}

// Lookup returns the record of name as of height (which decides Expired).
// r is the application's state as the engine's hooks see it. An expired
// name is still returned, until someone registers it again; a name that was
// never registered gives ErrNameNotFound.
func Lookup(r kv.Reader, name string, height int64) (Record, error) {
	var s nameState
	found, err := getJSON(r, nameKey(name), &s)
	if err != nil {
		return Record{}, err
	}
	if !found {
		return Record{}, fmt.Errorf("%s: %w", name, ErrNameNotFound)
	}
	return s.record(name, height), nil
}

// List returns the records of every name ever registered, sorted by name,
// with Expired computed against height.
func List(r kv.Reader, height int64) ([]Record, error) {
	var out []Record
	err := r.Iterate([]byte(namePrefix), func(k, v []byte) error {
		var s nameState
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("names: corrupt record %q: %w", k, err)
		}
		out = append(out, s.record(string(k[len(namePrefix):]), height))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
