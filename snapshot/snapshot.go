// Package snapshot writes and reads verified snapshots of an engine's
// store, for a node to start at a recent height instead of replaying from
// the first block (Blockstack's fast_sync, CometBFT's state sync).
//
// A snapshot file is the store's keys at a height (engine.ExportAt) in
// chunks of about ChunkBytes, each hashed (SHA-256), followed by a
// manifest that lists the chunk hashes with the height, the block hash,
// the consensus hash and the state commitment, then the signatures of
// whoever publishes it (Ed25519 over the manifest's hash), then a fixed
// trailer that says where the manifest is:
//
//	"vchain-snapshot\n"  chunk…  manifest (JSON)  signatures (JSON)  trailer
//	chunk:   uvarint length, then entries: uvarint key length, key, uvarint value length, value
//	trailer: manifest offset, manifest length, signatures length (big-endian uint64), "VCSNAP01"
//
// Import reads the manifest first, checks it against what the caller
// trusts (the height and its consensus hash, and the state commitment or
// enough signatures), then streams the chunks, checking each one's hash
// before using it, into a new store beside the data directory, which
// replaces the data directory in one rename once everything checked out.
package snapshot

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/vchain-dev/vchain/engine"
	"github.com/vchain-dev/vchain/internal/edkey"
	"github.com/vchain-dev/vchain/kv"
)

const (
	magic        = "vchain-snapshot\n"
	trailerMagic = "VCSNAP01"
	trailerSize  = 3*8 + len(trailerMagic)
	// ChunkBytes is the size chunks are cut at.
	ChunkBytes = 4 << 20
	// maxChunk bounds a chunk a reader accepts, maxManifest the manifest
	// and maxSignatures the signatures.
	maxChunk      = 16 << 20
	maxManifest   = 64 << 20
	maxSignatures = 1 << 20
	// MaxSigners bounds the signatures a file may carry.
	MaxSigners = 64
	// entriesPerCall bounds the entries Chunks hands over at once.
	entriesPerCall = 4096
	// Version is the format version manifests carry.
	Version = 1
)

// chunkBytes is ChunkBytes, smaller in tests.
var chunkBytes = ChunkBytes

// Manifest describes a snapshot.
type Manifest struct {
	Version int    `json:"version"`
	App     string `json:"app"`
	// FirstBlock is the application's first block.
	FirstBlock int64  `json:"first_block"`
	Height     int64  `json:"height"`
	BlockHash  string `json:"block_hash"`
	Consensus  string `json:"consensus_hash"`
	State      string `json:"state_commitment"`
	// Final says the snapshot carries no undo records: a node that imports
	// it cannot roll back below Height.
	Final  bool    `json:"final"`
	Keys   int64   `json:"keys"`
	Bytes  int64   `json:"bytes"`
	Chunks []Chunk `json:"chunks"`
}

// Chunk is a chunk's entry in the manifest.
type Chunk struct {
	Hash string `json:"sha256"`
	Keys int    `json:"keys"`
	Size int    `json:"bytes"`
}

// Signature is a publisher's signature of a manifest.
type Signature struct {
	Key string `json:"key"` // Ed25519 public key, hex
	Sig string `json:"sig"` // over SigningMessage
}

// Error is a snapshot that failed a check: nothing was changed.
type Error struct{ Msg string }

func (e *Error) Error() string { return "snapshot: " + e.Msg }

func fail(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// SigningMessage is what a publisher signs: a domain tag and the hash of
// the manifest's bytes as the file holds them.
func SigningMessage(manifest []byte) []byte {
	h := sha256.Sum256(manifest)
	return append([]byte("vchain snapshot manifest v1\n"), h[:]...)
}

// Export writes a snapshot of the engine store r (a consistent view) at
// height to w, for app. It returns the manifest.
func Export(r kv.Reader, app engine.Info, height int64, w io.Writer) (*Manifest, error) {
	return ExportChunks(r, app, height, w, chunkBytes)
}

// ExportChunks is Export cutting chunks at size bytes (at least 1 KiB)
// instead of ChunkBytes.
func ExportChunks(r kv.Reader, app engine.Info, height int64, w io.Writer, size int) (*Manifest, error) {
	if size < 1024 {
		return nil, fmt.Errorf("snapshot: chunks of %d bytes; at least 1024", size)
	}
	m := &Manifest{App: app.Name, FirstBlock: app.FirstBlock, Height: height, Final: true}
	err := write(w, m, size, func(put func(k, v []byte) error) error {
		rec, err := engine.ExportAt(r, height, put)
		m.BlockHash, m.Consensus, m.State = rec.Hash.String(), rec.Consensus.String(), rec.State.String()
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Write writes a snapshot of the keys emit puts (in ascending order) to w
// under m, whose chunk list, sizes and counts it fills, and whose other
// fields emit may still set (the manifest is written last).
func Write(w io.Writer, m *Manifest, emit func(put func(k, v []byte) error) error) error {
	return write(w, m, chunkBytes, emit)
}

func write(w io.Writer, m *Manifest, chunkBytes int, emit func(put func(k, v []byte) error) error) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(magic); err != nil {
		return err
	}
	m.Version, m.Chunks, m.Keys, m.Bytes = Version, []Chunk{}, 0, 0
	var buf []byte
	keys := 0
	off := int64(len(magic))
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		sum := sha256.Sum256(buf)
		m.Chunks = append(m.Chunks, Chunk{Hash: hex.EncodeToString(sum[:]), Keys: keys, Size: len(buf)})
		var n [binary.MaxVarintLen64]byte
		l := binary.PutUvarint(n[:], uint64(len(buf)))
		if _, err := bw.Write(n[:l]); err != nil {
			return err
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		off += int64(l + len(buf))
		m.Bytes += int64(len(buf))
		buf, keys = buf[:0], 0
		return nil
	}
	err := emit(func(k, v []byte) error {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
		keys++
		m.Keys++
		if len(buf) >= chunkBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sigs := []byte("[]")
	if _, err := bw.Write(raw); err != nil {
		return err
	}
	if _, err := bw.Write(sigs); err != nil {
		return err
	}
	if _, err := bw.Write(trailer(off, len(raw), len(sigs))); err != nil {
		return err
	}
	return bw.Flush()
}

func trailer(off int64, manifest, sigs int) []byte {
	t := binary.BigEndian.AppendUint64(nil, uint64(off))
	t = binary.BigEndian.AppendUint64(t, uint64(manifest))
	t = binary.BigEndian.AppendUint64(t, uint64(sigs))
	return append(t, trailerMagic...)
}

// File is an open snapshot whose manifest and signatures were read (and
// nothing checked yet).
type File struct {
	f          *os.File
	Manifest   *Manifest
	Signatures []Signature
	raw        []byte // the manifest as the file holds it
	off        int64  // where the manifest starts (the chunks end)
	size       int64  // the file's length when opened
}

// Contents reads the whole file as it was when opened (to send it on, as
// an import stream does); it is independent of other reads.
func (sf *File) Contents() io.Reader { return io.NewSectionReader(sf.f, 0, sf.size) }

// Open opens a snapshot file and reads its manifest and signatures.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sf, err := read(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

func read(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != magic {
		return nil, fail("%s is not a vchain snapshot (no header)", f.Name())
	}
	if st.Size() < int64(len(magic)+trailerSize) {
		return nil, fail("%s is cut short: no trailer", f.Name())
	}
	t := make([]byte, trailerSize)
	if _, err := f.ReadAt(t, st.Size()-int64(trailerSize)); err != nil {
		return nil, err
	}
	if string(t[24:]) != trailerMagic {
		return nil, fail("%s is cut short or damaged: no trailer", f.Name())
	}
	off, ml, sl := binary.BigEndian.Uint64(t), binary.BigEndian.Uint64(t[8:]), binary.BigEndian.Uint64(t[16:])
	if ml > maxManifest || sl > maxSignatures || off < uint64(len(magic)) || off+ml+sl+uint64(trailerSize) != uint64(st.Size()) {
		return nil, fail("%s: the trailer's offsets do not fit the file", f.Name())
	}
	body := make([]byte, ml+sl)
	if _, err := f.ReadAt(body, int64(off)); err != nil {
		return nil, err
	}
	sf := &File{f: f, raw: body[:ml], off: int64(off), size: st.Size()}
	if sf.Manifest, err = ParseManifest(sf.raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body[ml:], &sf.Signatures); err != nil {
		return nil, fail("the signatures are not valid: %v", err)
	}
	if len(sf.Signatures) > MaxSigners {
		return nil, fail("%d signatures; at most %d are read", len(sf.Signatures), MaxSigners)
	}
	var end int64 = int64(len(magic))
	for _, c := range sf.Manifest.Chunks {
		end += int64(uvarintLen(uint64(c.Size)) + c.Size)
	}
	if end != sf.off {
		return nil, fail("the manifest's chunks end at byte %d, the trailer says %d", end, sf.off)
	}
	return sf, nil
}

// ParseManifest decodes a manifest as a file holds it, strictly (the
// fields' names once each, nothing else), and checks that it is of this
// format version and that its chunk sizes add up. Nothing in it is
// trusted yet.
func ParseManifest(raw []byte) (*Manifest, error) {
	if len(raw) > maxManifest {
		return nil, fail("a manifest of %d bytes; at most %d are read", len(raw), maxManifest)
	}
	var m *Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fail("the manifest is not valid: %v", err)
	}
	if dec.More() {
		return nil, fail("the manifest is not valid: data after it")
	}
	if err := strictKeys(raw); err != nil {
		return nil, fail("the manifest is not valid: %v", err)
	}
	if m.Version != Version {
		return nil, fail("format version %d; this vchain reads %d", m.Version, Version)
	}
	var total int64
	for _, c := range m.Chunks {
		if c.Size <= 0 || c.Size > maxChunk {
			return nil, fail("the manifest lists a chunk of %d bytes", c.Size)
		}
		if c.Keys <= 0 {
			return nil, fail("the manifest lists a chunk of %d keys", c.Keys)
		}
		total += int64(c.Size)
	}
	if total != m.Bytes {
		return nil, fail("the manifest's chunks add up to %d bytes, it says %d", total, m.Bytes)
	}
	return m, nil
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// ManifestBytes is the manifest as the file holds it (what publishers
// sign, and what a state-sync peer is offered).
func (sf *File) ManifestBytes() []byte { return sf.raw }

// Chunk reads chunk i's bytes as the file holds them, unchecked: what a
// peer is sent, to check with Manifest.CheckChunk.
func (sf *File) Chunk(i int) ([]byte, error) {
	if i < 0 || i >= len(sf.Manifest.Chunks) {
		return nil, fail("no chunk %d: the snapshot has %d", i, len(sf.Manifest.Chunks))
	}
	off := int64(len(magic))
	for _, c := range sf.Manifest.Chunks[:i] {
		off += int64(uvarintLen(uint64(c.Size)) + c.Size)
	}
	c := sf.Manifest.Chunks[i]
	off += int64(uvarintLen(uint64(c.Size)))
	buf := make([]byte, c.Size)
	if _, err := sf.f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("snapshot: chunk %d: %w", i, err)
	}
	return buf, nil
}

// CheckChunk checks chunk i's bytes against the manifest, its hash first,
// then hands its entries to fn (a few thousand at a time; they point into
// b). An *Error says what is wrong; fn's errors come back as they are.
func (m *Manifest) CheckChunk(i int, b []byte, fn func(kvs []engine.KV) error) error {
	if i < 0 || i >= len(m.Chunks) {
		return fail("no chunk %d: the manifest lists %d", i, len(m.Chunks))
	}
	c := m.Chunks[i]
	sum := sha256.Sum256(b) // the hash covers the size too
	if len(b) != c.Size || hex.EncodeToString(sum[:]) != c.Hash {
		return &ChunkHashError{Index: i, Got: hex.EncodeToString(sum[:]), Want: c.Hash}
	}
	keys := 0
	err := decodeChunk(b, func(kvs []engine.KV) error {
		if keys += len(kvs); keys > c.Keys {
			return fail("chunk %d holds more than the %d keys the manifest says", i, c.Keys)
		}
		return fn(kvs)
	})
	if errors.Is(err, errEntry) {
		return fail("chunk %d: %v", i, err)
	}
	if err != nil {
		return err
	}
	if keys != c.Keys {
		return fail("chunk %d holds %d keys, the manifest says %d", i, keys, c.Keys)
	}
	return nil
}

// ChunkHashError is a chunk whose bytes are not those the manifest lists:
// damaged or forged on the way, while the manifest may be fine.
type ChunkHashError struct {
	Index     int
	Got, Want string
}

func (e *ChunkHashError) Error() string {
	return fmt.Sprintf("snapshot: chunk %d's hash is %s, the manifest says %s", e.Index, e.Got, e.Want)
}

// Close closes the file.
func (sf *File) Close() error { return sf.f.Close() }

// Signed returns the keys whose signatures of the manifest verify, among
// keys (each key counted once; a signature is verified only when its key
// is one of them).
func (sf *File) Signed(keys []ed25519.PublicKey) []ed25519.PublicKey {
	msg := SigningMessage(sf.raw)
	seen := map[string]bool{}
	var out []ed25519.PublicKey
	for _, k := range keys {
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		for _, s := range sf.Signatures {
			if s.Key != hex.EncodeToString(k) {
				continue
			}
			sig, err := hex.DecodeString(s.Sig)
			if err == nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, msg, sig) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// strictKeys refuses a manifest whose top-level keys are not exactly the
// fields' names, once each: Go's decoder matches names without regard to
// case and keeps the last of repeated keys, so a signer reading the JSON
// with another tool could sign values vchain reads differently.
func strictKeys(raw []byte) error {
	allowed := map[string]bool{}
	t := reflect.TypeOf(Manifest{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		allowed[name] = true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		if !allowed[k] || seen[k] {
			return fmt.Errorf("key %q is unknown or repeated", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// Sign adds key's signature of the manifest to the snapshot at path.
func Sign(path string, key ed25519.PrivateKey) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	sf, err := read(f)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := edkey.Check(pub); err != nil {
		return err
	}
	sigs := sf.Signatures[:0:0]
	for _, s := range sf.Signatures {
		if s.Key != hex.EncodeToString(pub) {
			sigs = append(sigs, s)
		}
	}
	sigs = append(sigs, Signature{Key: hex.EncodeToString(pub), Sig: hex.EncodeToString(ed25519.Sign(key, SigningMessage(sf.raw)))})
	raw, err := json.Marshal(sigs)
	if err != nil {
		return err
	}
	end := sf.off + int64(len(sf.raw))
	if err := f.Truncate(end); err != nil {
		return err
	}
	if _, err := f.WriteAt(append(raw, trailer(sf.off, len(sf.raw), len(raw))...), end); err != nil {
		return err
	}
	return f.Sync()
}

// Chunks calls fn with each chunk's entries in order, after checking the
// chunk's hash against the manifest. It stops at the first error.
func (sf *File) Chunks(fn func(i int, kvs []engine.KV) error) error {
	r := bufio.NewReaderSize(io.NewSectionReader(sf.f, int64(len(magic)), sf.off-int64(len(magic))), 1<<20)
	for i, c := range sf.Manifest.Chunks {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return fail("chunk %d: %v", i, err)
		}
		if n != uint64(c.Size) {
			return fail("chunk %d is %d bytes, the manifest says %d", i, n, c.Size)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return fail("chunk %d: %v", i, err)
		}
		if err := sf.Manifest.CheckChunk(i, buf, func(kvs []engine.KV) error { return fn(i, kvs) }); err != nil {
			var he *ChunkHashError
			if errors.As(err, &he) {
				return fail("chunk %d's hash is %s, the manifest says %s", i, he.Got, he.Want)
			}
			return err
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fail("bytes after the last chunk the manifest lists")
	}
	return nil
}

var errEntry = errors.New("an entry runs past the chunk")

// decodeChunk hands the chunk's entries to fn, at most entriesPerCall at
// a time (the entries point into b).
func decodeChunk(b []byte, fn func([]engine.KV) error) error {
	out := make([]engine.KV, 0, entriesPerCall)
	for len(b) > 0 {
		var e engine.KV
		for _, dst := range []*[]byte{&e.Key, &e.Value} {
			n, l := binary.Uvarint(b)
			if l <= 0 || n > uint64(len(b)-l) {
				return errEntry
			}
			*dst = b[l : l+int(n)]
			b = b[l+int(n):]
		}
		if out = append(out, e); len(out) == entriesPerCall {
			if err := fn(out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	if len(out) > 0 {
		return fn(out)
	}
	return nil
}
