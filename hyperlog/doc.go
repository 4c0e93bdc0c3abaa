// Package hyperlog is a single-writer, signed, append-only Merkle log whose
// hashes, keys, signatures and proofs are byte-compatible with hypercore
// (the node module, version 11; see ../shared/specs/hypercore.md).
//
// # The log
//
// A Log lives in a directory. Create makes one with an Ed25519 private key;
// Open reopens it as the writer (Options.PrivateKey), as a replica that grows
// only through AppendSigned, or read-only. Append(entries...) adds one batch
// and signs one head over the whole tree: a SignedHead of length, fork and
// tree hash. Only the writer can sign, and a lock file keeps a second writer
// out (two writers would fork the log). Get and ReadRange read entries back;
// Head, HeadAt and Roots describe the tree. Every method is safe for
// concurrent use. Signing costs about 30 µs, so callers that append many
// small entries should batch them; AppendShared does that for concurrent
// callers (group commit: while one batch is written, arrivals queue and the
// next batch takes them all under one head).
//
// # Hashing, keys and signatures
//
// Entry i is leaf 2i of a flat (in-order) tree. Leaf, parent and tree hashes
// are BLAKE2b-256 with hypercore's domain separation (LeafHash, ParentHash,
// TreeHash); the flat-tree index math is in Depth, Parent, Sibling,
// FullRoots and friends. Two signing modes exist:
//
//   - ModeManifest (the default): the core key is the hash of the default
//     single-signer manifest, the signable is 112 bytes, and the stored
//     signature is a 68-byte multisig holding one Ed25519 signature. This is
//     what hypercore 11 does for a core created with just a key pair, so a
//     log here has the same key, discovery key and signatures as such a core
//     and interoperates with current hypercore; the manifest also leaves room
//     for multi-signer quorums, which VerifyHead already checks.
//   - ModeCompat: hypercore 10's scheme, where the core key is the public key,
//     the signable 80 bytes and the signature the raw 64 bytes. Simpler, but
//     current hypercore uses it only for old cores.
//
// Ed25519 is deterministic, so the same entries and key give the same
// signatures here as in node; the tests check this against golden vectors
// produced by hypercore 11.35.1.
//
// # Proofs and auditing
//
// Verification needs no private key and no log: VerifyHead checks a head
// under a core key (in manifest mode the head carries the manifest, which
// must hash to the key), VerifyInclusion checks that an entry is part of the
// log at a signed head, and VerifyExtension that a newer head extends an
// older one, so an auditor who once saw head (n, treeHash) can check that
// the current head still contains it; a rewritten or forked log cannot pass.
// Log.ProveInclusion and Log.ProveExtension make these proofs, and every
// earlier head stays available (HeadAt), so proofs can be made against any
// head an auditor saw. A Verifier follows a log from an untrusted source: fed
// entries in order and signed heads, it accepts a head only if the entries
// recompute its tree hash, keeping O(log n) state.
//
// Proofs are hypercore's wire "data" message (Proof, MarshalBinary), and
// Log.Proof answers hypercore proof requests exactly as a hypercore core
// would. Heads, proofs, nodes and manifests also have a JSON form with hex
// byte strings, for serving over HTTP.
//
// # On-disk format
//
// A log directory holds five files:
//
//	identity.json  format "hyperlog/1", mode, public key, core key, discovery key
//	data           entries back to back, each framed as
//	               u32le(length) ‖ u32le(CRC-32C of the length bytes and entry) ‖ entry
//	tree           tree nodes as 40-byte slots u64le(size) ‖ hash(32), in the
//	               order appends create them (a block's leaf, then the parents
//	               it completes, bottom up): the node of index i is at slot
//	               2b − popcount(b) + depth(i) where b is its last block, so a
//	               log of n entries has exactly 2n − popcount(n) slots
//	heads          one 124-byte record per signed head, in order:
//	               u64le(length) ‖ u64le(fork) ‖ u64le(synced) ‖ treeHash(32) ‖
//	               raw Ed25519 signature(64) ‖ u32le(CRC-32C of the rest)
//	lock           flocked by the writer
//
// All three data files only ever grow at their end, and an Append writes
// each with a single write call: entries, then nodes, then the head record.
// A head record's synced field is the length that had been fsynced before it
// was written. Byte offsets of entries are not stored: the offset of entry i
// is the size of the full roots of i, plus 8 bytes of framing per entry.
//
// # Durability and crash recovery
//
// When Append returns, the batch has been written to the operating system,
// so it survives the process being killed. With Options.Sync it has also been
// fsynced (entries and nodes before the head record that covers them), so it
// survives power loss. Without Sync, Close, Sync and an automatic checkpoint
// every Options.CheckpointBytes fsync and record the durable point.
//
// Open never trusts the tail. It rehashes everything written after the
// durable point recorded in the newest intact head record (checking each
// record's checksum, recomputing its leaf and the parents it completes, and
// comparing them with the tree file), then takes the newest head record that
// lies within that consistent prefix, whose roots hash to its tree hash and
// whose signature verifies. Anything beyond it (a torn record, a checksum
// mismatch, nodes or entries without a head, a damaged head record) is cut
// off, and Recovery reports what was cut (a warning is also logged). If the
// durable part itself turns out damaged, Open rehashes everything;
// Options.VerifyAll always does.
//
// A crash leaves only a torn tail: entries and nodes are written before the
// head record that covers them, so a complete, validly signed head record
// always has its entries. When one would be cut, the files were damaged after
// the fact (a truncated or emptied file, a flipped bit, a power cut without
// Sync), and the signed entries after the damage cannot be rebuilt from what
// is left: Open refuses with a *DamagedError naming the file and changes
// nothing. Restore the directory from a copy of the log, or open with
// Options.Repair to cut back anyway (the damaged files are kept in a
// damaged-N directory beside them).
//
// A log never truncates, so its fork is always 0.
package hyperlog
