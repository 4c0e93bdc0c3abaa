package hyperlog

import (
	"bytes"
	"errors"
	"fmt"
)

// streamFlushBytes is how much framed data AppendStream buffers before it
// writes.
const streamFlushBytes = 1 << 20

// AppendStream adds to a replica the entries next yields, covered by the
// writer's signed head: AppendSigned for a batch too large to hold. The
// head is checked first; then next is called Length()-head.Length times and
// each entry is framed, hashed into the tree and written as it comes, so
// memory stays at about one entry, a megabyte of buffer and O(log n) tree
// nodes however long the batch. Nothing becomes visible until the entries
// hash to the head's tree hash; on any error (from next, a size limit, a
// mismatch) the bytes written are cut back and the log is unchanged. The
// log's lock is held throughout, so a slow next delays readers.
func (l *Log) AppendStream(head SignedHead, next func() ([]byte, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if head.Length < l.length {
		return fmt.Errorf("%w: head length %d is behind the log's %d", ErrInvalidProof, head.Length, l.length)
	}
	if head.Fork != l.fork {
		return fmt.Errorf("%w: head fork %d, log fork %d", ErrInvalidProof, head.Fork, l.fork)
	}
	if head.Mode() != l.id.Mode || (l.id.Mode == ModeManifest && !bytes.Equal(head.Manifest, l.manifest)) {
		return fmt.Errorf("%w: head is not in the log's mode or manifest", ErrBadSignature)
	}
	if err := VerifyHead(l.key, head); err != nil {
		return err
	}
	raw, err := head.RawSignature()
	if err != nil {
		return err
	}
	n := head.Length - l.length
	if n == 0 {
		if head.TreeHash != l.treeHash {
			return fmt.Errorf("%w: head differs from the log at the same length", ErrInvalidProof)
		}
		return nil
	}
	dataOff, treeOff := l.dataEnd, l.treeEnd
	var dataDone, treeDone int64
	cut := func(err error) error {
		if terr := errors.Join(l.data.Truncate(dataOff), l.tree.Truncate(treeOff)); terr != nil {
			return errors.Join(err, l.fail(terr))
		}
		return err
	}
	flush := func() error {
		if _, err := l.data.WriteAt(l.dataBuf, dataOff+dataDone); err != nil {
			return err
		}
		if _, err := l.tree.WriteAt(l.treeBuf, treeOff+treeDone); err != nil {
			return err
		}
		dataDone += int64(len(l.dataBuf))
		treeDone += int64(len(l.treeBuf))
		l.dataBuf, l.treeBuf = l.dataBuf[:0], l.treeBuf[:0]
		return nil
	}
	l.dataBuf, l.treeBuf = l.dataBuf[:0], l.treeBuf[:0]
	roots := append(l.newRoots[:0], l.roots...)
	for i := range n {
		e, err := next()
		if err != nil {
			return cut(err)
		}
		if len(e) > MaxEntrySize {
			return cut(fmt.Errorf("hyperlog: entry of %d bytes exceeds MaxEntrySize", len(e)))
		}
		roots = l.stageEntry(e, l.length+i, roots)
		if len(l.dataBuf) >= streamFlushBytes {
			if err := flush(); err != nil {
				return cut(err)
			}
		}
	}
	l.newRoots = roots
	if TreeHash(roots) != head.TreeHash {
		return cut(fmt.Errorf("%w: entries do not hash to the head's tree hash", ErrInvalidProof))
	}
	// commit writes the last buffers after what was flushed and makes the
	// whole batch the log's state.
	l.dataEnd, l.treeEnd = dataOff+dataDone, treeOff+treeDone
	l.unsynced += dataDone + treeDone
	var sig [SignatureSize]byte
	copy(sig[:], raw)
	if _, err := l.commit(head.Length, head.TreeHash, sig); err != nil {
		l.dataEnd, l.treeEnd = dataOff, treeOff
		l.unsynced -= dataDone + treeDone
		return cut(err)
	}
	return nil
}
