package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/blake2b"

	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/internal/durable"
)

// The clean-close manifest lets a restart skip opening user logs that did
// not change since the host closed cleanly. Close writes, atomically and
// durably, each user log it knows (those checked at start and those opened
// since) with its length and a stamp of its files (size, modification and
// change times, inode); a start reads it and removes it before anything
// else, so a crash never leaves one behind to be trusted. A user log whose
// files still carry their stamp holds the entries they held at the close:
// its length is checked against what the call logs served without opening
// it. Any write to a file (even one that restores its modification time)
// changes its change time, so a log touched while the host was stopped is
// opened and rehashed in full, as every log is after a crash.
const manifestFile = "users-at-close"

const manifestMagic = "vchain-users-at-close/1\n"

// logFiles are the files of a log directory a stamp covers.
var logFiles = [...]string{"identity.json", "data", "tree", "heads"}

// userStamp is what the manifest records of a user log.
type userStamp struct {
	length uint64
	files  [16]byte // BLAKE2b-128 of the files' stamps
}

// stampLog stamps the files of the log in dir.
func stampLog(dir string) ([16]byte, error) {
	var out [16]byte
	mac, _ := blake2b.New(16, nil)
	for _, n := range logFiles {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return out, err
		}
		fmt.Fprintf(mac, "%s\x00%d\x00%d\x00%s\x00", n, fi.Size(), fi.ModTime().UnixNano(), sysStamp(fi))
	}
	copy(out[:], mac.Sum(nil))
	return out, nil
}

// userStamps holds the stamps of the user logs the host knows: the
// manifest read at start, then what it checks and closes.
type userStamps struct {
	mu    sync.Mutex
	known map[hyperlog.Hash]userStamp
	prev  map[hyperlog.Hash]userStamp // the manifest read at start
	ok    bool                        // recovery finished: Close may write the manifest
}

// noteClosed records a user log the host has just closed with length
// entries. A log it cannot stamp is forgotten (it is checked in full at
// the next start).
func (h *Host) noteClosed(pub hyperlog.Hash, length uint64) {
	s := &h.stamps
	files, err := stampLog(h.userDir(pub))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = map[hyperlog.Hash]userStamp{}
	}
	if err != nil {
		delete(s.known, pub)
		return
	}
	s.known[pub] = userStamp{length: length, files: files}
}

// forgetStamp drops what the host knew of a user log (it is still open
// and may change).
func (h *Host) forgetStamp(pub hyperlog.Hash) {
	s := &h.stamps
	s.mu.Lock()
	delete(s.known, pub)
	s.mu.Unlock()
}

// unchangedSinceClose returns the length a user log had at the last clean
// close, when its files are exactly as they were then.
func (h *Host) unchangedSinceClose(pub hyperlog.Hash) (uint64, bool) {
	s := &h.stamps
	s.mu.Lock()
	st, ok := s.prev[pub]
	s.mu.Unlock()
	if !ok {
		return 0, false
	}
	files, err := stampLog(h.userDir(pub))
	if err != nil || files != st.files {
		return 0, false
	}
	s.mu.Lock()
	if s.known == nil {
		s.known = map[hyperlog.Hash]userStamp{}
	}
	s.known[pub] = st
	s.mu.Unlock()
	return st.length, true
}

// takeManifest reads the clean-close manifest, if any, and removes it
// (durably) before the host writes anything.
func (h *Host) takeManifest() error {
	path := filepath.Join(h.cfg.Dir, manifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("host: removing %s: %w", path, err)
	}
	if err := durable.SyncDir(h.cfg.Dir); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		h.log.Warn("ignoring the clean-close manifest: every served user log is checked in full", "file", path, "err", err)
		return nil
	}
	h.stamps.mu.Lock()
	h.stamps.prev = m
	h.stamps.mu.Unlock()
	return nil
}

func decodeManifest(b []byte) (map[hyperlog.Hash]userStamp, error) {
	if len(b) < len(manifestMagic)+32 || string(b[:len(manifestMagic)]) != manifestMagic {
		return nil, errors.New("not a manifest")
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if got := blake2b.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, errors.New("checksum mismatch")
	}
	r := bytes.NewReader(body[len(manifestMagic):])
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len())/(32+1+16) {
		return nil, errors.New("bad count")
	}
	out := make(map[hyperlog.Hash]userStamp, n)
	for range n {
		var k hyperlog.Hash
		var st userStamp
		if _, err := io.ReadFull(r, k[:]); err != nil {
			return nil, errors.New("truncated")
		}
		if st.length, err = binary.ReadUvarint(r); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(r, st.files[:]); err != nil {
			return nil, errors.New("truncated")
		}
		out[k] = st
	}
	if r.Len() != 0 {
		return nil, errors.New("trailing data")
	}
	return out, nil
}

// writeManifest writes the clean-close manifest: to a temporary file,
// fsynced, renamed into place, the directory fsynced.
func (h *Host) writeManifest() error {
	s := &h.stamps
	s.mu.Lock()
	b := make([]byte, 0, len(manifestMagic)+10+len(s.known)*(32+10+16)+32)
	b = append(b, manifestMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.known)))
	for k, st := range s.known {
		b = append(b, k[:]...)
		b = binary.AppendUvarint(b, st.length)
		b = append(b, st.files[:]...)
	}
	s.mu.Unlock()
	sum := blake2b.Sum256(b)
	b = append(b, sum[:]...)
	path := filepath.Join(h.cfg.Dir, manifestFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("host: writing the clean-close manifest: %w", err)
	}
	return durable.SyncDir(h.cfg.Dir)
}
