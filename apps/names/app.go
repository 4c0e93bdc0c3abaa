package names

import (
	"encoding/hex"
	"fmt"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/kv"
	"github.com/vchain-dev/vchain/tape"
	"github.com/vchain-dev/vchain/vchash"
)

// AppName is the name the application gives the engine.
const AppName = "names"

// Default option values, in blocks (BNS's, at 144 blocks a day).
const (
	// DefaultPreorderTTL is how long a preorder waits for its register: a
	// day.
	DefaultPreorderTTL = 144
	// DefaultLifetime is how long a registration or renewal lasts: a year.
	DefaultLifetime = 52595
)

// Options are the application's consensus parameters: every node replaying
// a tape must use the same ones.
type Options struct {
	// FirstBlock is the height of the first block the engine processes.
	FirstBlock int64
	// PreorderTTL is how many blocks after its own a preorder can be
	// registered. Zero means DefaultPreorderTTL.
	PreorderTTL int64
	// Lifetime is how many blocks a registration or renewal lasts. Zero
	// means DefaultLifetime.
	Lifetime int64
	// GracePeriod is how many blocks after expiry the owner may still renew
	// a name and nobody else may register it. Zero (the default) means none.
	GracePeriod int64
	// ValidWindow is how many recent blocks' consensus hashes count as fresh
	// for preorders and transfers. Zero means engine.DefaultValidWindow.
	ValidWindow int64
	// StopAt, when positive, makes Continue stop the engine once the block
	// at that height is processed.
	StopAt int64
}

// App is the naming application. It keeps no state of its own: everything
// lives in the engine's state, so one App may serve any number of engines.
type App struct {
	opts Options
}

var _ engine.Application = (*App)(nil)

// New returns the application with opts, defaults filled in.
func New(opts Options) *App {
	if opts.PreorderTTL <= 0 {
		opts.PreorderTTL = DefaultPreorderTTL
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.GracePeriod < 0 {
		opts.GracePeriod = 0
	}
	return &App{opts: opts}
}

// Options returns the application's options, defaults filled in.
func (a *App) Options() Options { return a.opts }

// Info implements engine.Application.
func (a *App) Info() engine.Info {
	return engine.Info{
		Name:        AppName,
		Version:     "1",
		FirstBlock:  a.opts.FirstBlock,
		MagicBytes:  []byte(Magic),
		Opcodes:     append([]byte(nil), opcodes...),
		ValidWindow: a.opts.ValidWindow,
	}
}

// opData is what Parse makes of a transaction: the decoded operation and
// who sent and receives it. Commit fills expiresAt for Serialize.
type opData struct {
	op               Operation
	name             string // "" for a preorder
	sender           string // hex scriptPubKey
	address          string
	recipient        string // register, transfer: hex scriptPubKey
	recipientAddress string
	txid             string
	preorderHash     [PreorderHashLen]byte // register: the preorder it claims
	expiresAt        int64
}

func data(op *engine.Op) *opData { return op.Data.(*opData) }

// Parse implements engine.Application: it decodes the payload strictly and
// identifies the sender (Senders[0]) and, for a register or transfer, the
// recipient (Outputs[1], else the sender).
func (a *App) Parse(_ *engine.BlockContext, tx *tape.Tx, opcode byte, payload []byte) (any, error) {
	op, err := DecodePayload(opcode, payload)
	if err != nil {
		return nil, err
	}
	if len(tx.Senders) == 0 {
		return nil, fmt.Errorf("%s: transaction has no senders", OpName(opcode))
	}
	s := tx.Senders[0]
	if len(s.Script) == 0 {
		return nil, fmt.Errorf("%s: sender has an empty script", OpName(opcode))
	}
	d := &opData{
		op:      op,
		name:    nameOf(op),
		sender:  hex.EncodeToString(s.Script),
		address: s.Address,
		txid:    tx.ID.String(),
	}
	if opcode == OpRegister || opcode == OpTransfer {
		d.recipient, d.recipientAddress = d.sender, d.address
		if len(tx.Outputs) > 1 {
			o := tx.Outputs[1]
			if len(o.Script) == 0 {
				return nil, fmt.Errorf("%s: recipient output has an empty script", OpName(opcode))
			}
			d.recipient, d.recipientAddress = hex.EncodeToString(o.Script), o.Address
		}
	}
	if r, ok := op.(*Register); ok {
		d.preorderHash = PreorderHash(r.Name, r.Salt[:], s.Script)
	}
	return d, nil
}

// findPreorder returns the pending preorder a register claims. A missing,
// expired or same-block preorder is a Rejection.
func (a *App) findPreorder(state kv.Reader, height int64, d *opData) (*preorderState, error) {
	var p preorderState
	found, err := getJSON(state, preorderKey(d.preorderHash), &p)
	if err != nil {
		return nil, err
	}
	switch {
	case !found || p.SenderScript != d.sender:
		return nil, engine.Reject("register %s: no matching preorder from this sender", d.name)
	case p.Height >= height:
		return nil, engine.Reject("register %s: preorder is in this block; register in a later one", d.name)
	case height > p.Height+a.opts.PreorderTTL:
		return nil, engine.Reject("register %s: preorder from block %d expired at block %d", d.name, p.Height, p.Height+a.opts.PreorderTTL+1)
	}
	return &p, nil
}

// ScanBlock implements engine.Application: when several registers of one
// name in the block claim pending preorders, the one whose preorder came
// first wins and the others are rejected.
func (a *App) ScanBlock(b *engine.BlockContext, ops []*engine.Op, state kv.Reader) error {
	// Group registers by name, keeping block order within and across
	// groups; the map only indexes, it is never iterated.
	groups := map[string][]*engine.Op{}
	var order []string
	for _, op := range ops {
		if op.Opcode != OpRegister {
			continue
		}
		n := data(op).name
		if _, ok := groups[n]; !ok {
			order = append(order, n)
		}
		groups[n] = append(groups[n], op)
	}
	for _, n := range order {
		g := groups[n]
		if len(g) < 2 {
			continue
		}
		type claim struct {
			op *engine.Op
			p  *preorderState
		}
		var claims []claim
		for _, op := range g {
			p, err := a.findPreorder(state, b.Height, data(op))
			if engine.IsRejection(err) {
				continue // Check will reject it for its own reason.
			}
			if err != nil {
				return err
			}
			claims = append(claims, claim{op, p})
		}
		if len(claims) < 2 {
			continue
		}
		win := claims[0]
		for _, c := range claims[1:] {
			if c.p.Height < win.p.Height || (c.p.Height == win.p.Height && c.p.TxIndex < win.p.TxIndex) {
				win = c
			}
		}
		for _, c := range claims {
			if c.op != win.op {
				c.op.Reject(engine.Reject("register %s: tx %d registers it too, with an earlier preorder (block %d, tx %d)",
					n, win.op.Tx.Index, win.p.Height, win.p.TxIndex))
			}
		}
	}
	return nil
}

// loadName reads a name's record; found is false when there is none.
func loadName(state kv.Reader, name string) (*nameState, bool, error) {
	var s nameState
	found, err := getJSON(state, nameKey(name), &s)
	if err != nil || !found {
		return nil, false, err
	}
	return &s, true, nil
}

// ownedName loads a name that the op's sender must own and that must not be
// expired or revoked, as update, transfer and revoke require.
func ownedName(state kv.Reader, height int64, d *opData) (*nameState, error) {
	verb := OpName(d.op.Opcode())
	s, found, err := loadName(state, d.name)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, engine.Reject("%s %s: name is not registered", verb, d.name)
	case s.OwnerScript != d.sender:
		return nil, engine.Reject("%s %s: sender does not own the name", verb, d.name)
	case s.ExpiresAt <= height:
		return nil, engine.Reject("%s %s: name expired at block %d", verb, d.name, s.ExpiresAt)
	case s.Revoked:
		return nil, engine.Reject("%s %s: name is revoked", verb, d.name)
	}
	return s, nil
}

// Check implements engine.Application: it enforces the rules of the package
// documentation, including that a name is affected at most once per block.
func (a *App) Check(b *engine.BlockContext, op *engine.Op, accepted []*engine.Op, state kv.Reader) error {
	d := data(op)
	if d.name != "" {
		for _, prev := range accepted {
			if data(prev).name == d.name {
				return engine.Reject("%s %s: name already affected in this block (tx %d)", OpName(op.Opcode), d.name, prev.Tx.Index)
			}
		}
	}
	h := b.Height
	switch o := d.op.(type) {
	case *Preorder:
		if !b.IsFresh(o.Consensus) {
			return engine.Reject("preorder %x: consensus hash %s is not fresh", o.Hash, o.Consensus)
		}
		var p preorderState
		found, err := getJSON(state, preorderKey(o.Hash), &p)
		if err != nil {
			return err
		}
		if found && h <= p.Height+a.opts.PreorderTTL {
			return engine.Reject("preorder %x: already pending since block %d", o.Hash, p.Height)
		}
		return nil
	case *Register:
		if _, err := a.findPreorder(state, h, d); err != nil {
			return err
		}
		s, found, err := loadName(state, d.name)
		if err != nil {
			return err
		}
		if found {
			if free := s.ExpiresAt + a.opts.GracePeriod; h < free {
				return engine.Reject("register %s: name is taken until block %d", d.name, free)
			}
		}
		return nil
	case *Update:
		_, err := ownedName(state, h, d)
		return err
	case *Transfer:
		if !b.IsFresh(o.Consensus) {
			return engine.Reject("transfer %s: consensus hash %s is not fresh", d.name, o.Consensus)
		}
		s, err := ownedName(state, h, d)
		if err != nil {
			return err
		}
		if d.recipient == s.OwnerScript {
			return engine.Reject("transfer %s: recipient already owns the name", d.name)
		}
		return nil
	case *Revoke:
		_, err := ownedName(state, h, d)
		return err
	case *Renew:
		s, found, err := loadName(state, d.name)
		switch {
		case err != nil:
			return err
		case !found:
			return engine.Reject("renew %s: name is not registered", d.name)
		case s.OwnerScript != d.sender:
			return engine.Reject("renew %s: sender does not own the name", d.name)
		case s.Revoked:
			return engine.Reject("renew %s: name is revoked", d.name)
		case h >= s.ExpiresAt+a.opts.GracePeriod:
			return engine.Reject("renew %s: name expired at block %d and its grace period is over", d.name, s.ExpiresAt)
		}
		return nil
	}
	return fmt.Errorf("names: unexpected operation %T", d.op)
}

// Commit implements engine.Application: it applies an accepted operation to
// the state.
func (a *App) Commit(b *engine.BlockContext, op *engine.Op, state kv.Txn) error {
	d := data(op)
	h := b.Height
	switch o := d.op.(type) {
	case *Preorder:
		return putJSON(state, preorderKey(o.Hash), &preorderState{
			SenderScript: d.sender,
			Address:      d.address,
			Height:       h,
			TxIndex:      op.Tx.Index,
			TxID:         d.txid,
		})
	case *Register:
		if err := state.Delete(preorderKey(d.preorderHash)); err != nil {
			return err
		}
		d.expiresAt = h + a.opts.Lifetime
		return putName(state, h, d, &nameState{
			Owner:        d.recipientAddress,
			OwnerScript:  d.recipient,
			Value:        hex.EncodeToString(o.Value),
			RegisteredAt: h,
			ExpiresAt:    d.expiresAt,
		})
	}
	s, found, err := loadName(state, d.name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("names: %s %s: name vanished between check and commit", OpName(op.Opcode), d.name)
	}
	switch o := d.op.(type) {
	case *Update:
		s.Value = hex.EncodeToString(o.Value[:])
	case *Transfer:
		s.Owner, s.OwnerScript = d.recipientAddress, d.recipient
		if !o.KeepData {
			s.Value = ""
		}
	case *Revoke:
		s.Revoked = true
		s.Value = ""
	case *Renew:
		s.ExpiresAt = max(h, s.ExpiresAt) + a.opts.Lifetime
		d.expiresAt = s.ExpiresAt
	}
	return putName(state, h, d, s)
}

// putName stores a name's record, stamped with the op that wrote it.
func putName(state kv.Txn, height int64, d *opData, s *nameState) error {
	s.UpdatedAt = height
	s.LastTxID = d.txid
	return putJSON(state, nameKey(d.name), s)
}

// Serialize implements engine.Application: the op's consensus fields, in
// the order the package documentation lists.
func (a *App) Serialize(op *engine.Op) ([]byte, error) {
	d := data(op)
	vtx := op.VTxIndex
	switch o := d.op.(type) {
	case *Preorder:
		return vchash.SerializeValues(op.Opcode, hex.EncodeToString(o.Hash[:]), o.Consensus.String(),
			d.sender, d.address, d.txid, vtx)
	case *Register:
		return vchash.SerializeValues(op.Opcode, d.name, hex.EncodeToString(d.preorderHash[:]),
			d.sender, d.address, d.recipient, d.recipientAddress, hex.EncodeToString(o.Value),
			d.expiresAt, d.txid, vtx)
	case *Update:
		return vchash.SerializeValues(op.Opcode, d.name, hex.EncodeToString(o.Value[:]),
			d.sender, d.address, d.txid, vtx)
	case *Transfer:
		return vchash.SerializeValues(op.Opcode, d.name, o.Consensus.String(), o.KeepData,
			d.sender, d.address, d.recipient, d.recipientAddress, d.txid, vtx)
	case *Revoke:
		return vchash.SerializeValues(op.Opcode, d.name, d.sender, d.address, d.txid, vtx)
	case *Renew:
		return vchash.SerializeValues(op.Opcode, d.name, d.sender, d.address, d.expiresAt, d.txid, vtx)
	}
	return nil, fmt.Errorf("names: unexpected operation %T", d.op)
}

// Continue implements engine.Application: it asks the engine to stop after
// the block at Options.StopAt, if set.
func (a *App) Continue(height int64, _ vchash.ConsensusHash) error {
	if a.opts.StopAt > 0 && height >= a.opts.StopAt {
		return engine.ErrStop
	}
	return nil
}

// OpSubject implements engine.EventNamer: an op's events name its name
// (a preorder's name is hidden until its register).
func (a *App) OpSubject(op *engine.Op) (contract, name string) {
	if d, ok := op.Data.(*opData); ok {
		return "", d.name
	}
	return "", ""
}
