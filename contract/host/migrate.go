package host

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/vchain-dev/vchain/hyperlog"
)

// Import is a contract moving to this host: the old contract's call log
// with its signed head, and the logs of every user it served.
type Import struct {
	From    ContractID
	Head    hyperlog.SignedHead
	Entries [][]byte
	Users   map[string]LogCopy
}

// LogCopy is a copy of a log: its entries and signed head.
type LogCopy struct {
	Head    hyperlog.SignedHead
	Entries [][]byte
}

// migratedIndex marks contract keys derived for migrations, apart from
// those derived for user creates.
const migratedIndex = 1 << 63

// migration is what a migrate request carries to the sequencer.
type migration struct {
	from    ContractID
	head    hyperlog.SignedHead
	history [][]byte
	code    string
}

func verifyCopy(key hyperlog.Hash, c LogCopy, what string) error {
	if err := hyperlog.VerifyHead(key, c.Head); err != nil {
		return badRequest("%s: head: %v", what, err)
	}
	if err := hyperlog.VerifyLog(key, c.Head, c.Entries); err != nil {
		return badRequest("%s: entries do not match the signed head: %v", what, err)
	}
	return nil
}

// Import takes over a contract from another host: it checks every
// signature and tree of the copies, keeps them, and starts a new contract
// under a key of its own whose first call log entry names the old log's
// head and whose state is rebuilt by replaying (and checking) every old
// call. It returns the answer for that first entry; the new contract's id
// is Answer.Contract.
func (h *Host) Import(ctx context.Context, imp *Import) (*Answer, error) {
	if err := verifyCopy(hyperlog.Hash(imp.From), LogCopy{Head: imp.Head, Entries: imp.Entries}, "call log"); err != nil {
		return nil, err
	}
	if len(imp.Entries) == 0 {
		return nil, badRequest("the old call log is empty")
	}
	var first Record
	if err := json.Unmarshal(imp.Entries[0], &first); err != nil || first.Type != TypeCreate {
		return nil, badRequest("the old call log does not start with a create")
	}
	for user, c := range imp.Users {
		pub, err := hyperlog.ParseHash(user)
		if err != nil {
			return nil, badRequest("user %q: %v", user, err)
		}
		if err := verifyCopy(UserIdentity(pub).Key(), c, "user "+user); err != nil {
			return nil, err
		}
		u, err := h.user(pub, true)
		if err != nil {
			return nil, err
		}
		u.mu.Lock()
		if n := u.log.Length(); n < c.Head.Length {
			err = u.log.AppendSigned(c.Head, c.Entries[n:]...)
		}
		u.mu.Unlock()
		if err != nil {
			return nil, refuse(ErrConflict, "user %s: this host's copy of the log disagrees: %v", user, err)
		}
	}
	code, err := h.userCode(&first)
	if err != nil {
		return nil, badRequest("the old contract's code: %v", err)
	}
	var manifest hyperlog.Manifest
	if manifest, err = hyperlog.DecodeManifest(imp.Head.Manifest); err != nil || len(manifest.Signers) != 1 {
		return nil, badRequest("the old call log must be a single-signer manifest-mode log")
	}

	priv := DeriveContractKey(h.master, hyperlog.Hash(imp.From), migratedIndex)
	id := ContractID(hyperlog.NewIdentity(hyperlog.ModeManifest, priv.Public().(ed25519.PublicKey)).Key())
	dir := filepath.Join(h.cfg.Dir, "contracts", id.String())
	if _, err := os.Stat(dir); err == nil {
		return nil, refuse(ErrConflict, "contract %s was already imported here as %s", imp.From, id)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	old, err := hyperlog.CreateReplica(filepath.Join(dir, "from"), hyperlog.Identity{Mode: hyperlog.ModeManifest, PublicKey: manifest.Signers[0].PublicKey}, hyperlog.Options{Logger: h.log})
	if err != nil {
		return nil, err
	}
	if err := old.AppendSigned(imp.Head, imp.Entries...); err != nil {
		old.Close()
		return nil, badRequest("old call log: %v", err)
	}
	o, _ := json.Marshal(origin{Creator: hyperlog.Hash(imp.From).String(), Index: migratedIndex})
	if err := os.WriteFile(filepath.Join(dir, "origin.json"), o, 0o644); err != nil {
		old.Close()
		return nil, err
	}
	calls, err := hyperlog.Create(filepath.Join(dir, "calls"), priv, hyperlog.Options{Sync: h.cfg.Sync, Logger: h.log})
	if err != nil {
		old.Close()
		return nil, err
	}
	in, err := h.startInstance(id, dir, calls, old)
	if err != nil {
		return nil, err
	}
	req := &request{entry: &UserEntry{Type: TypeMigrate}, reply: make(chan reply, 1),
		migrate: &migration{from: imp.From, head: imp.Head, history: imp.Entries, code: code}}
	select {
	case in.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-req.reply
	return r.answer, r.err
}

// headOf is the API form of a signed head.
func headOf(h hyperlog.SignedHead) *Head {
	return &Head{Length: h.Length, TreeHash: h.TreeHash.String(), Signature: h.Signature.String()}
}

// migrationOf rebuilds a migrate record's input from the old log kept
// beside the contract (for recovery).
func (h *Host) migrationOf(in *instance, rec *Record) (*input, error) {
	if in.from == nil {
		return nil, errors.New("migrated contract without its old call log")
	}
	inp := &input{Record: *rec}
	err := in.from.ReadRange(0, in.from.Length(), func(_ uint64, e []byte) error {
		inp.History = append(inp.History, append(json.RawMessage(nil), e...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var first Record
	if err := json.Unmarshal(inp.History[0], &first); err != nil {
		return nil, err
	}
	if inp.Code, err = h.userCode(&first); err != nil {
		return nil, err
	}
	return inp, nil
}
