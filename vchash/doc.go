// Package vchash computes Virtualchain's per-block hashes bit for bit: the
// Merkle root over hex leaves, the ops hash of a block, the consensus hash that
// mixes the ops hash with a geometric series of earlier consensus hashes, and
// serialize_op, the canonical text form of an operation.
//
// Everything here is pure and allocation-conscious: the engine calls it once
// per block on its hot path, and auditors call it to re-derive a history.
//
// Conventions follow the reference implementation (blockstack/virtualchain,
// 2015-11 onwards):
//
//   - An ops hash is 32 bytes and is shown as 64 lowercase hex characters.
//   - A consensus hash is 16 bytes and is shown as 32 lowercase hex characters.
//   - Merkle leaves are byte-reversed before hashing and the root is
//     byte-reversed for display, as Bitcoin displays hashes.
package vchash
