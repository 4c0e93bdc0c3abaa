package hyperlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/vchain-dev/vchain/internal/durable"
)

// File names inside a log directory.
const (
	identityFileName = "identity.json"
	dataFileName     = "data"
	treeFileName     = "tree"
	headsFileName    = "heads"
	lockFileName     = "lock"
)

// identityFormat names the on-disk format in identity.json.
const identityFormat = "hyperlog/1"

// MaxEntrySize is the largest entry Append accepts (64 MiB).
const MaxEntrySize = 1 << 26

// recordHeaderSize is the framing before each entry in the data file:
// u32le(length) ‖ u32le(CRC-32C of the length bytes and the entry).
const recordHeaderSize = 8

// headRecordSize is the size of one record in the heads file:
// u64le(length) ‖ u64le(fork) ‖ u64le(synced) ‖ treeHash(32) ‖
// signature(64) ‖ u32le(CRC-32C of the preceding 120 bytes).
const headRecordSize = 3*8 + HashSize + SignatureSize + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord frames entry for the data file. It builds the header in dst
// itself, so framing allocates nothing beyond growing dst.
func appendRecord(dst, entry []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(entry)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, entry...)
	crc := crc32.Update(crc32.Checksum(dst[start:start+4], castagnoli), castagnoli, entry)
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// parseRecordHeader returns the entry length a data-file record header
// announces.
func parseRecordHeader(hdr []byte) uint64 {
	return uint64(binary.LittleEndian.Uint32(hdr[:4]))
}

// checkRecord reports whether the checksum in hdr matches the entry.
func checkRecord(hdr, entry []byte) bool {
	if uint64(len(entry)) != parseRecordHeader(hdr) {
		return false
	}
	crc := crc32.Update(crc32.Checksum(hdr[:4], castagnoli), castagnoli, entry)
	return crc == binary.LittleEndian.Uint32(hdr[4:8])
}

// DecodeRecord parses one framed data-file record from the start of b and
// returns the entry and the record's total size. It fails on a truncated
// record, an entry above MaxEntrySize or a checksum mismatch.
func DecodeRecord(b []byte) (entry []byte, size int, err error) {
	if len(b) < recordHeaderSize {
		return nil, 0, fmt.Errorf("%w: truncated record header", ErrMalformed)
	}
	n := parseRecordHeader(b)
	if n > MaxEntrySize {
		return nil, 0, fmt.Errorf("%w: record of %d bytes exceeds the maximum", ErrMalformed, n)
	}
	if uint64(len(b)-recordHeaderSize) < n {
		return nil, 0, fmt.Errorf("%w: truncated record", ErrMalformed)
	}
	entry = b[recordHeaderSize : recordHeaderSize+int(n)]
	if !checkRecord(b, entry) {
		return nil, 0, fmt.Errorf("%w: record checksum mismatch", ErrMalformed)
	}
	return entry, recordHeaderSize + int(n), nil
}

// headRecord is one entry of the heads file: a signed head and the length
// that was known durable (fsynced) when it was written.
type headRecord struct {
	length, fork, synced uint64
	treeHash             Hash
	sig                  [SignatureSize]byte
}

// put encodes r into b (headRecordSize bytes).
func (r *headRecord) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], r.length)
	binary.LittleEndian.PutUint64(b[8:], r.fork)
	binary.LittleEndian.PutUint64(b[16:], r.synced)
	copy(b[24:], r.treeHash[:])
	copy(b[24+HashSize:], r.sig[:])
	binary.LittleEndian.PutUint32(b[headRecordSize-4:], crc32.Checksum(b[:headRecordSize-4], castagnoli))
}

// decodeHeadRecord parses a heads-file record, checking its checksum and
// that synced does not exceed length.
func decodeHeadRecord(b []byte) (headRecord, error) {
	var r headRecord
	if len(b) != headRecordSize {
		return r, fmt.Errorf("%w: head record is %d bytes", ErrMalformed, len(b))
	}
	if crc32.Checksum(b[:headRecordSize-4], castagnoli) != binary.LittleEndian.Uint32(b[headRecordSize-4:]) {
		return r, fmt.Errorf("%w: head record checksum mismatch", ErrMalformed)
	}
	r.length = binary.LittleEndian.Uint64(b[0:])
	r.fork = binary.LittleEndian.Uint64(b[8:])
	r.synced = binary.LittleEndian.Uint64(b[16:])
	copy(r.treeHash[:], b[24:])
	copy(r.sig[:], b[24+HashSize:])
	if r.synced > r.length || r.length > maxBlockIndex {
		return r, fmt.Errorf("%w: head record lengths out of range", ErrMalformed)
	}
	return r, nil
}

// identityJSON is the content of identity.json.
type identityJSON struct {
	Format       string `json:"format"`
	Mode         Mode   `json:"mode"`
	PublicKey    Hash   `json:"publicKey"`
	Key          Hash   `json:"key"`
	DiscoveryKey Hash   `json:"discoveryKey"`
}

// writeIdentity writes identity.json atomically and durably.
func writeIdentity(dir string, id Identity) error {
	b, err := json.MarshalIndent(identityJSON{Format: identityFormat, Mode: id.Mode, PublicKey: id.PublicKey,
		Key: id.Key(), DiscoveryKey: id.DiscoveryKey()}, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, identityFileName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, identityFileName)); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// ErrNotFound means a directory holds no log.
var ErrNotFound = errors.New("hyperlog: no log in directory")

// readIdentity reads and checks identity.json.
func readIdentity(dir string) (Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFileName))
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	if err != nil {
		return Identity{}, err
	}
	var j identityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Identity{}, fmt.Errorf("hyperlog: %s: %w", identityFileName, err)
	}
	if j.Format != identityFormat {
		return Identity{}, fmt.Errorf("hyperlog: %s: unknown format %q", identityFileName, j.Format)
	}
	id := Identity{Mode: j.Mode, PublicKey: j.PublicKey}
	if id.Key() != j.Key || id.DiscoveryKey() != j.DiscoveryKey {
		return Identity{}, fmt.Errorf("hyperlog: %s: key does not match mode and public key", identityFileName)
	}
	return id, nil
}
