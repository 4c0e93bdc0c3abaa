package hyperlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// crashState is the bytes of a log's files captured while it was open (as a
// crash would leave them), with what is known about its heads.
type crashState struct {
	files   map[string][]byte
	entries [][]byte
	heads   []uint64 // length of each head record, in file order
}

func (s *crashState) dataEnd(length uint64) int {
	n := 0
	for _, e := range s.entries[:length] {
		n += recordHeaderSize + len(e)
	}
	return n
}

// lastHeadAtMost returns the largest head length ≤ n among the first
// records head records.
func (s *crashState) lastHeadAtMost(n uint64, records int) uint64 {
	var best uint64
	for _, h := range s.heads[:records] {
		if h <= n && h > best {
			best = h
		}
	}
	return best
}

// buildCrashState appends batches of assorted sizes (some empty entries)
// and captures the files before Close.
func buildCrashState(t testing.TB, opts Options) *crashState {
	dir := t.TempDir()
	l := mustCreate(t, dir, testKey(9), opts)
	s := &crashState{heads: []uint64{0}}
	for i := range 25 {
		batch := make([][]byte, 1+i%4)
		for j := range batch {
			batch[j] = bytes.Repeat([]byte{byte('a' + (i+j)%26)}, (i*7+j*3)%23)
		}
		n, err := l.Append(batch...)
		if err != nil {
			t.Fatal(err)
		}
		s.entries = append(s.entries, batch...)
		s.heads = append(s.heads, n)
	}
	s.files = map[string][]byte{}
	for _, name := range []string{identityFileName, dataFileName, treeFileName, headsFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s.files[name] = b
	}
	if got := len(s.files[headsFileName]) / headRecordSize; got != len(s.heads) {
		t.Fatalf("%d head records, want %d", got, len(s.heads))
	}
	l.Close()
	return s
}

// ramDir returns a new temporary directory, in memory (/dev/shm) where
// there is one: these tests exercise recovery logic over many thousands of
// opens, and fsync on a real disk would only make them slow.
func ramDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "hyperlog-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// write puts the state into a new directory with one file replaced.
func (s *crashState) write(t testing.TB, name string, content []byte) string {
	dir := ramDir(t)
	for n, b := range s.files {
		if n == name {
			b = content
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// offsets returns the offsets to damage in a file of size n: a dense set
// over the last head record's worth of bytes, about 60 spread over the rest.
func offsets(n int) []int {
	var out []int
	stride := max(1, n/60)
	for o := 0; o <= n; o++ {
		if (o >= n-headRecordSize && o%3 == 0) || o%stride == 0 || o == n {
			out = append(out, o)
		}
	}
	return out
}

// checkRecovered opens dir and checks it recovered to exactly want entries
// (a head boundary), with a verifying head, then that it accepts appends
// and reopens clean.
func checkRecovered(t *testing.T, s *crashState, dir string, want uint64, opts Options, what string) {
	t.Helper()
	opts.PrivateKey = testKey(9)
	opts.Logger = quietLogger
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	if l.Length() != want {
		l.Close()
		t.Fatalf("%s: recovered to %d, want %d (%v)", what, l.Length(), want, l.Recovery())
	}
	checkLog(t, l, s.entries[:want])
	for name, size := range map[string]int64{
		dataFileName: int64(s.dataEnd(want)), treeFileName: int64(nodeCount(want)) * nodeSlotSize,
	} {
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Size() != size {
			t.Fatalf("%s: %s is %d bytes after recovery, want %d", what, name, st.Size(), size)
		}
	}
	more := append(append([][]byte{}, s.entries[:want]...), []byte("after recovery"))
	if _, err := l.Append(more[want:]...); err != nil {
		t.Fatalf("%s: append after recovery: %v", what, err)
	}
	l.Close()
	l = mustOpen(t, dir, Options{ReadOnly: true})
	defer l.Close()
	if l.Recovery().Recovered {
		t.Fatalf("%s: second open recovered again: %v", what, l.Recovery())
	}
	checkLog(t, l, more)
}

// checkDamaged is checkRecovered for damage to the data or tree file: when
// it loses a validly signed head (the files were damaged, not torn by a
// crash), Open refuses with a DamagedError and changes nothing, and only
// Repair cuts, keeping a copy of the damaged files.
func checkDamaged(t *testing.T, s *crashState, dir string, want uint64, opts Options, what string) {
	t.Helper()
	last := s.heads[len(s.heads)-1]
	if want == last {
		checkRecovered(t, s, dir, want, opts, what)
		return
	}
	opts.PrivateKey = testKey(9)
	opts.Logger = quietLogger
	before := dirSizes(t, dir)
	_, err := Open(dir, opts)
	var de *DamagedError
	if !errors.As(err, &de) || !errors.Is(err, ErrCorrupt) || de.Intact != want || de.Signed != last {
		t.Fatalf("%s: Open without Repair: %v, want a DamagedError (intact %d, signed %d)", what, err, want, last)
	}
	if after := dirSizes(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("%s: a refused Open changed the files: %v, then %v", what, before, after)
	}
	opts.Repair = true
	checkRecovered(t, s, dir, want, opts, what)
	kept := dirSizes(t, filepath.Join(dir, "damaged-1"))
	if fmt.Sprint(kept) != fmt.Sprint(before) {
		t.Fatalf("%s: the repair kept %v of the damaged files, want %v", what, kept, before)
	}
}

// dirSizes lists the sizes of the log files in dir.
func dirSizes(t testing.TB, dir string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range []string{dataFileName, treeFileName, headsFileName} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = st.Size()
	}
	return out
}

// TestCrashTruncate cuts each file at many offsets: Open must recover to
// the newest head the surviving bytes fully hold (refusing, unless told to
// Repair, when that loses a signed head: see checkDamaged).
func TestCrashTruncate(t *testing.T) {
	for _, sync := range []bool{false, true} {
		s := buildCrashState(t, Options{Sync: sync})
		t.Run(fmt.Sprint("sync=", sync), func(t *testing.T) {
			for _, o := range offsets(len(s.files[dataFileName])) {
				var complete uint64
				for complete < uint64(len(s.entries)) && s.dataEnd(complete+1) <= o {
					complete++
				}
				dir := s.write(t, dataFileName, s.files[dataFileName][:o])
				checkDamaged(t, s, dir, s.lastHeadAtMost(complete, len(s.heads)), Options{}, fmt.Sprint("data cut at ", o))
			}
			for _, o := range offsets(len(s.files[treeFileName])) {
				var complete uint64
				for complete < uint64(len(s.entries)) && int(nodeCount(complete+1))*nodeSlotSize <= o {
					complete++
				}
				dir := s.write(t, treeFileName, s.files[treeFileName][:o])
				checkDamaged(t, s, dir, s.lastHeadAtMost(complete, len(s.heads)), Options{}, fmt.Sprint("tree cut at ", o))
			}
			for _, o := range offsets(len(s.files[headsFileName])) {
				dir := s.write(t, headsFileName, s.files[headsFileName][:o])
				records := o / headRecordSize
				if records == 0 {
					if _, err := Open(dir, Options{Logger: quietLogger}); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("heads cut at %d: %v", o, err)
					}
					continue
				}
				checkRecovered(t, s, dir, s.heads[records-1], Options{}, fmt.Sprint("heads cut at ", o))
			}
		})
	}
}

// TestCrashCorrupt flips a byte at many offsets of each file: Open must
// refuse a log whose signed heads the damage breaks, and with Repair cut
// back to the newest head before the damage (a flipped head record is only
// dropped). With Sync, Open trusts what was
// fsynced, so the full check (VerifyAll) is what finds old damage.
func TestCrashCorrupt(t *testing.T) {
	for _, sync := range []bool{false, true} {
		s := buildCrashState(t, Options{Sync: sync})
		opts := Options{VerifyAll: sync}
		t.Run(fmt.Sprint("sync=", sync), func(t *testing.T) {
			flip := func(name string, o int) string {
				b := append([]byte(nil), s.files[name]...)
				b[o] ^= 0x5a
				return s.write(t, name, b)
			}
			data := s.files[dataFileName]
			for _, o := range offsets(len(data) - 1) {
				var record uint64 // the record holding offset o
				for s.dataEnd(record+1) <= o {
					record++
				}
				checkDamaged(t, s, flip(dataFileName, o), s.lastHeadAtMost(record, len(s.heads)), opts, fmt.Sprint("data byte ", o))
			}
			for _, o := range offsets(len(s.files[treeFileName]) - 1) {
				var block uint64 // the block whose append wrote slot o/40
				for int(nodeCount(block+1))*nodeSlotSize <= o {
					block++
				}
				checkDamaged(t, s, flip(treeFileName, o), s.lastHeadAtMost(block, len(s.heads)), opts, fmt.Sprint("tree byte ", o))
			}
			for _, o := range offsets(len(s.files[headsFileName]) - 1) {
				k := o / headRecordSize
				want := s.heads[len(s.heads)-1]
				if k == len(s.heads)-1 {
					want = s.heads[k-1]
				}
				checkRecovered(t, s, flip(headsFileName, o), want, opts, fmt.Sprint("heads byte ", o))
			}
		})
	}
}

// TestCrashExtraTail covers a crash between writing a batch's entries and
// its head: whole records and nodes beyond the last head are dropped.
func TestCrashExtraTail(t *testing.T) {
	s := buildCrashState(t, Options{})
	last := len(s.heads) - 1
	heads := s.files[headsFileName][:last*headRecordSize] // the last batch's head never made it
	dir := s.write(t, headsFileName, heads)
	checkRecovered(t, s, dir, s.heads[last-1], Options{}, "no last head")
	// Read-only opens recover in memory and leave the files alone.
	dir = s.write(t, headsFileName, heads)
	l := mustOpen(t, dir, Options{ReadOnly: true})
	r := l.Recovery()
	l.Close()
	if !r.Recovered || r.Length != s.heads[last-1] || r.DataBytes == 0 || r.TreeBytes == 0 {
		t.Errorf("read-only recovery: %+v", r)
	}
	if st, _ := os.Stat(filepath.Join(dir, dataFileName)); st.Size() != int64(len(s.files[dataFileName])) {
		t.Errorf("read-only open changed the data file")
	}
}
