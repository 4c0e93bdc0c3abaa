// Package names is the example application of the vchain framework: a small
// naming system in the style of Blockstack's BNS, where anyone can claim a
// name such as alice.id by writing transactions to the input tape, and every
// node that replays the same tape agrees on who owns which name.
//
// It implements every hook of engine.Application: Info describes the wire
// format, Parse decodes payloads, ScanBlock breaks ties between competing
// registrations, Check enforces the rules, Commit writes the state, Serialize
// feeds accepted operations into the consensus hash, and Continue can stop
// the engine at a given height. Compared with BNS it leaves out namespace
// operations, pricing, tokens and imports: every well-formed namespace is
// open and names are free.
//
// # Names
//
// A name is fully qualified, "label.namespace": exactly one dot, both parts
// non-empty, made of the characters a-z, 0-9, '_' and '-', at most
// MaxNameLen (37) bytes in all. "alice.id" is the canonical example.
//
// # Wire format
//
// A transaction belongs to the application when its payload (the data of a
// Bitcoin OP_RETURN output) starts with the magic bytes "id" followed by one
// of the opcodes below. The whole payload, magic and opcode included, is at
// most MaxPayloadLen (80) bytes. Every name is written as one length byte
// followed by the name's bytes; fixed-size fields are raw bytes. A payload
// must have exactly the layout of its opcode: trailing or missing bytes make
// it malformed.
//
//	op        char  payload after "id" and the opcode              max total
//	preorder   ?    preorder hash (20) ‖ consensus hash (16)               39
//	register   :    len (1) ‖ name ‖ salt (16) [‖ value hash (20)]         77
//	update     +    len (1) ‖ name ‖ value hash (20)                       61
//	transfer   >    len (1) ‖ name ‖ consensus hash (16) ‖ keep (1)        58
//	revoke     ~    len (1) ‖ name                                         41
//	renew      &    len (1) ‖ name                                         41
//
// The preorder hash is PreorderHash(name, salt, senderScript): hash160 of the
// name's bytes, the 16 salt bytes and the sender's scriptPubKey. The keep
// byte of a transfer is 1 to keep the name's value hash and 0 to clear it.
// The payload builders (PreorderPayload, RegisterPayload, …) produce these
// layouts and Decode reads them back.
//
// # Who sends and who receives
//
// The sender of an operation is the first output its transaction spends
// (tape.Tx.Senders[0]): its scriptPubKey, in lowercase hex, identifies the
// owner, and its address is kept for display. A transaction without senders,
// or whose first sender has an empty script, is rejected. As in BNS, output 0
// carries the payload and output 1, when present, names the recipient of a
// register or transfer (it must have a script); without output 1 the
// recipient is the sender. Other operations ignore the outputs.
//
// # Rules
//
// Each block's operations are checked in block order. The engine rejects an
// operation that breaks a rule and moves on; a rejected operation changes
// nothing. Heights are block heights; TTL, Lifetime and Grace below are the
// fields PreorderTTL, Lifetime and GracePeriod of Options.
//
//   - preorder: the consensus hash must be fresh (one of the last few blocks',
//     see engine.Info.ValidWindow), which ties the preorder to this chain.
//     The same preorder hash must not already be pending. A preorder made at
//     height h is pending, and can be registered, at heights h+1 … h+TTL;
//     after that it has expired.
//   - register: the name, salt and the sender's script must hash to a
//     pending preorder made at an earlier block. The name must be free: never
//     registered, or past its expiry and grace period. The recipient becomes
//     the owner, the name expires at height+Lifetime, and the preorder is
//     used up.
//   - update: the sender owns the name, which is neither expired nor
//     revoked; the value hash is replaced.
//   - transfer: the consensus hash must be fresh; the sender owns the name,
//     which is neither expired nor revoked; the recipient must differ from the
//     owner and becomes the new owner. Unless the keep byte is 1 the value
//     hash is cleared.
//   - revoke: the sender owns the name, which is neither expired nor already
//     revoked. The value hash is cleared and the name is frozen: no update,
//     transfer or renewal is accepted until it expires, after which it can be
//     registered again.
//   - renew: the sender owns the name, which is not revoked, before the end
//     of its grace period (expiry + Grace). The new expiry is
//     max(height, old expiry) + Lifetime.
//
// A name whose expiry is at or below the current height has expired:
// Lookup reports it as such, its owner can no longer update, transfer or
// revoke it, and once the grace period (zero by default) is over anyone may
// register it again with a new preorder.
//
// Two more rules act on a block as a whole. A name may be affected by at
// most one accepted operation per block: Check rejects a second one. When a
// block holds several registers of the same name whose preorders are all
// pending, ScanBlock keeps the one whose preorder came first, by preorder
// height then transaction index within that block (then by position in this
// block when two registers share one preorder), and rejects the others, even
// when the winner appears later in the block.
//
// # State
//
// The application keeps two kinds of records, each as a JSON object with a
// fixed field order: names under "n/<name>" and pending preorders under
// "p/<hex preorder hash>". Lookup and List read names back. Preorders are
// deleted when registered; expired ones are left in place and overwritten by
// a later preorder of the same hash.
//
// # Consensus fields
//
// Serialize renders each accepted operation with vchash.SerializeValues, with
// these fields in this order (scripts, hashes and transaction ids in
// lowercase hex; an absent value hash is empty text; keep_data is True or
// False):
//
//	preorder  ?  preorder_hash, consensus_hash, sender, address, txid, vtxindex
//	register  :  name, preorder_hash, sender, address, recipient,
//	             recipient_address, value_hash, expires_at, txid, vtxindex
//	update    +  name, value_hash, sender, address, txid, vtxindex
//	transfer  >  name, consensus_hash, keep_data, sender, address,
//	             recipient, recipient_address, txid, vtxindex
//	revoke    ~  name, sender, address, txid, vtxindex
//	renew     &  name, sender, address, expires_at, txid, vtxindex
//
// expires_at is the expiry the operation set, so the consensus hash covers it
// too; vtxindex is engine.Op.VTxIndex.
//
// The package namesim generates deterministic random workloads for demos,
// tests and benchmarks.
package names
