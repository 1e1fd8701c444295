package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// closedLedger makes a closed ledger in a new directory: records in several
// blocks and at least two segments, all covered by the final checkpoint.
func closedLedger(t *testing.T) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	o := testOptions(dir)
	o.SegmentBytes = 2 << 10
	l := openLedger(t, o)
	var recs [][]byte
	for i := range 30 {
		batch := smallRecords(len(recs), 1+i%4)
		appendRecs(t, l, batch)
		recs = append(recs, batch...)
	}
	closeLedger(t, l)
	if n := len(segmentPaths(t, dir)); n < 2 {
		t.Fatalf("fixture has %d segments, want several", n)
	}
	return dir, recs
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs := segmentPaths(t, dir)
	return segs[len(segs)-1]
}

// TestTornTail simulates crashes during an unacknowledged write: whatever was
// written after the last acknowledged block is dropped at Open, and all
// acknowledged records survive.
func TestTornTail(t *testing.T) {
	tests := []struct {
		name string
		tail func(size uint64) []byte // bytes left after the last good block
	}{
		{"block cut in its header", func(size uint64) []byte { return makeBlock(size, smallRecords(1000, 5))[:11] }},
		{"block cut in its payload", func(size uint64) []byte {
			b := makeBlock(size, smallRecords(1000, 5))
			return b[:len(b)-7]
		}},
		{"block cut before its last byte", func(size uint64) []byte {
			b := makeBlock(size, smallRecords(1000, 5))
			return b[:len(b)-1]
		}},
		{"length prefix only", func(size uint64) []byte { return makeBlock(size, smallRecords(1000, 5))[:3] }},
		{"garbage", func(uint64) []byte { return []byte("\x13\x37garbage that is no block at all, not even close\xff\xfe") }},
		{"zero-filled tail", func(uint64) []byte { return make([]byte, 4096) }},
		{"complete block with a bad checksum", func(size uint64) []byte {
			b := makeBlock(size, smallRecords(1000, 5))
			b[len(b)-3] ^= 1
			return b
		}},
		{"two blocks, the second torn", func(size uint64) []byte {
			b := makeBlock(size, smallRecords(1000, 5))
			b[len(b)/2] ^= 1 // the first is damaged too: nothing valid follows it
			c := makeBlock(size+5, smallRecords(1005, 5))
			return append(b, c[:len(c)/2]...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, recs := closedLedger(t)
			tail := tt.tail(uint64(len(recs)))
			appendFile(t, lastSegment(t, dir), tail)
			segSize := int64(len(readFile(t, lastSegment(t, dir))))

			// Verify accepts a torn tail beyond the committed records.
			res := mustVerify(t, dir)
			if res.TornTail != int64(len(tail)) {
				t.Errorf("Verify TornTail = %d, want %d", res.TornTail, len(tail))
			}
			if !strings.Contains(res.Summary(), "torn tail") {
				t.Errorf("Summary %q does not mention the torn tail", res.Summary())
			}

			l := openLedger(t, testOptions(dir))
			if l.Recovery.TruncatedBytes != int64(len(tail)) {
				t.Errorf("Recovery.TruncatedBytes = %d, want %d", l.Recovery.TruncatedBytes, len(tail))
			}
			if st, _ := os.Stat(lastSegment(t, dir)); st.Size() != segSize-int64(len(tail)) {
				t.Errorf("last segment is %d bytes after recovery, want %d", st.Size(), segSize-int64(len(tail)))
			}
			checkRecords(t, l, recs)
			// The ledger continues where it was.
			more := smallRecords(len(recs), 3)
			appendRecs(t, l, more)
			closeLedger(t, l)
			res = mustVerify(t, dir)
			if res.TornTail != 0 || res.Leaves != uint64(len(recs)+3) {
				t.Errorf("after recovery: %s", res.Summary())
			}
		})
	}
}

// TestUnhashedBlockKept: a block that was fsynced but whose tree hashes were
// not yet written (crash between the two) is a committed block: Open keeps
// it and computes its hashes.
func TestUnhashedBlockKept(t *testing.T) {
	dir, recs := closedLedger(t)
	more := smallRecords(len(recs), 4)
	appendFile(t, lastSegment(t, dir), makeBlock(uint64(len(recs)), more))
	l := openLedger(t, testOptions(dir))
	if l.Recovery.TruncatedBytes != 0 || l.Recovery.RehashedLeaves != 4 {
		t.Errorf("Recovery = %+v, want 4 rehashed leaves and nothing truncated", l.Recovery)
	}
	checkRecords(t, l, append(recs, more...))
	if cp := l.LatestCheckpoint(); cp.Size != uint64(len(recs)+4) {
		t.Errorf("latest checkpoint size %d, want %d", cp.Size, len(recs)+4)
	}
	closeLedger(t, l)
	mustVerify(t, dir)
}

// TestDamageRefusesOpen: damage to acknowledged data in the last segment is
// never taken for a torn write: Open refuses, says to run verify, and
// changes nothing.
func TestDamageRefusesOpen(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string, blocks []blockInfo)
	}{
		{"payload byte of a middle block", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-3]
			flipByte(t, b.seg, int64(b.off+b.total-4))
		}},
		{"CRC of a middle block", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-3]
			flipByte(t, b.seg, int64(b.off+6))
		}},
		{"length of a middle block (longer)", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-3]
			flipByte(t, b.seg, int64(b.off+2))
		}},
		{"length of a middle block (zero)", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-3]
			data := readFile(t, b.seg)
			clear(data[b.off : b.off+4])
			writeFile(t, b.seg, data)
		}},
		{"payload of the last block", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-1]
			flipByte(t, b.seg, int64(b.off+b.total-2))
		}},
		{"last block cut short", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-1]
			truncateFile(t, b.seg, int64(b.off+b.total/2))
		}},
		{"last block removed", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-1]
			truncateFile(t, b.seg, int64(b.off))
		}},
		{"middle blocks zeroed", func(t *testing.T, dir string, blocks []blockInfo) {
			b := blocks[len(blocks)-3]
			data := readFile(t, b.seg)
			clear(data[b.off : b.off+b.total+blocks[len(blocks)-2].total])
			writeFile(t, b.seg, data)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := closedLedger(t)
			last := lastSegment(t, dir)
			var blocks []blockInfo
			for _, b := range listBlocks(t, dir) {
				if b.seg == last {
					blocks = append(blocks, b)
				}
			}
			if len(blocks) < 3 {
				t.Fatalf("last segment has %d blocks, want at least 3", len(blocks))
			}
			tt.mutate(t, dir, blocks)
			before := snapshotFiles(t, dir)
			l, err := Open(testOptions(dir))
			if err == nil {
				l.Close()
				t.Fatal("Open accepted damaged acknowledged data")
			}
			if !strings.Contains(err.Error(), "verify") {
				t.Errorf("Open error does not say to run verify: %v", err)
			}
			t.Log(err)
			checkUnchanged(t, before, snapshotFiles(t, dir))
			if _, err := Verify(context.Background(), VerifyOptions{Dir: dir}); err == nil {
				t.Error("Verify passes the damaged ledger")
			}
		})
	}
}

// TestDamageBeyondCheckpoint: records after the last checkpoint whose tree
// hashes were written were acknowledged; losing them is damage even though no
// checkpoint covers them yet.
func TestDamageBeyondCheckpoint(t *testing.T) {
	dir, recs := closedLedger(t)
	// Roll the checkpoints back to an earlier size, as if the ledger had
	// crashed before signing the latest one.
	signer := testSigner(t, dir)
	ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
	if err != nil {
		t.Fatal(err)
	}
	truncateFile(t, filepath.Join(dir, fileCheckpoints), ents[len(ents)-1].Offset)
	mem := &memTree{}
	mem.add(t, recs[:10]...)
	root := mem.root(t, 10)
	n, err := signCheckpoint(signer, 10, root[:], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, fileCheckpoints), binary.BigEndian.AppendUint32(nil, uint32(len(n))))
	appendFile(t, filepath.Join(dir, fileCheckpoints), n)
	writeFile(t, filepath.Join(dir, fileCheckpoint), n)
	mustVerify(t, dir)

	// Now cut the last block: its hashes are stored, so it was committed.
	b := blockOf(t, dir, uint64(len(recs)-1))
	truncateFile(t, b.seg, int64(b.off))
	before := snapshotFiles(t, dir)
	if l, err := Open(testOptions(dir)); err == nil {
		l.Close()
		t.Fatal("Open dropped committed records")
	} else if !strings.Contains(err.Error(), "verify") {
		t.Errorf("Open error does not say to run verify: %v", err)
	}
	checkUnchanged(t, before, snapshotFiles(t, dir))
}

func testSigner(t *testing.T, dir string) note.Signer {
	t.Helper()
	s, _, err := loadOrCreateKeys(dir, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRehashMissingTreeHashes: tree hashes not yet written (they are fsynced
// only before a checkpoint) are recomputed from the records at Open.
func TestRehashMissingTreeHashes(t *testing.T) {
	tests := []struct {
		name   string
		leaves int64 // leaves whose hashes are kept
		extra  int64 // extra bytes of a partially written hash group
	}{
		{"all missing", 0, 0},
		{"first leaf kept", 1, 0},
		{"half kept", 37, 0},
		{"last leaf missing", -1, 0},
		{"partial hash group", 23, 64}, // leaf 23 stores 4 hashes
		{"partial hash", 20, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, recs := closedLedger(t)
			keep := tt.leaves
			if keep < 0 {
				keep += int64(len(recs))
			}
			want := readFile(t, filepath.Join(dir, fileHashes))
			truncateFile(t, filepath.Join(dir, fileHashes), tlog.StoredHashCount(keep)*tlog.HashSize+tt.extra)
			l := openLedger(t, testOptions(dir))
			if got, wantN := l.Recovery.RehashedLeaves, uint64(int64(len(recs))-keep); got != wantN {
				t.Errorf("RehashedLeaves = %d, want %d", got, wantN)
			}
			if got := readFile(t, filepath.Join(dir, fileHashes)); !bytes.Equal(got, want) {
				t.Fatalf("recomputed tree.hashes (%d bytes) differ from the original (%d bytes)", len(got), len(want))
			}
			size := uint64(len(recs))
			_, root, err := l.InclusionProof(size-1, size)
			if err != nil || !bytes.Equal(root, l.LatestCheckpoint().Root) {
				t.Fatalf("root after rehash %x, %v; checkpoint %x", root, err, l.LatestCheckpoint().Root)
			}
			checkRecords(t, l, recs)
			closeLedger(t, l)
			mustVerify(t, dir)
		})
	}
}

// TestRehashLarge recomputes the hashes of a ledger large enough to flush
// them in several writes.
func TestRehashLarge(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, testOptions(dir))
	for i := range 10 {
		appendRecs(t, l, smallRecords(i*4000, 4000))
	}
	closeLedger(t, l)
	want := readFile(t, filepath.Join(dir, fileHashes))
	truncateFile(t, filepath.Join(dir, fileHashes), 0)
	l = openLedger(t, testOptions(dir))
	if l.Recovery.RehashedLeaves != 40000 {
		t.Errorf("RehashedLeaves = %d", l.Recovery.RehashedLeaves)
	}
	closeLedger(t, l)
	if !bytes.Equal(readFile(t, filepath.Join(dir, fileHashes)), want) {
		t.Fatal("recomputed tree.hashes differ")
	}
}

func TestTornCheckpointLogEntry(t *testing.T) {
	for _, torn := range [][]byte{{0}, {0, 0, 1}, {0, 0, 1, 0, 'x', 'y'}} {
		dir, recs := closedLedger(t)
		path := filepath.Join(dir, fileCheckpoints)
		good := readFile(t, path)
		appendFile(t, path, torn)
		mustVerify(t, dir)
		l := openLedger(t, testOptions(dir))
		if got := readFile(t, path); !bytes.Equal(got, good) {
			t.Errorf("torn entry %q: checkpoints.log is %d bytes after Open, want %d", torn, len(got), len(good))
		}
		if cp := l.LatestCheckpoint(); cp == nil || cp.Size != uint64(len(recs)) {
			t.Errorf("latest checkpoint %+v after dropping a torn entry", cp)
		}
		appendRecs(t, l, smallRecords(len(recs), 1))
		closeLedger(t, l)
		res := mustVerify(t, dir)
		ents, _, err := readCheckpointLog(path)
		if err != nil || res.Checkpoints != len(ents) {
			t.Errorf("checkpoints.log after reuse: %d entries, %v; Verify saw %d", len(ents), err, res.Checkpoints)
		}
	}
}

// TestPublishedCheckpointAhead: if checkpoints.log lost its latest entries,
// the published checkpoint still binds the ledger.
func TestPublishedCheckpointAhead(t *testing.T) {
	dir, recs := closedLedger(t)
	ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
	if err != nil {
		t.Fatal(err)
	}
	truncateFile(t, filepath.Join(dir, fileCheckpoints), ents[len(ents)-1].Offset)
	// Remove the last record and its hashes: only the published checkpoint
	// still covers it.
	b := blockOf(t, dir, uint64(len(recs)-1))
	truncateFile(t, b.seg, int64(b.off))
	truncateFile(t, filepath.Join(dir, fileHashes), tlog.StoredHashCount(int64(b.first))*tlog.HashSize)
	before := snapshotFiles(t, dir)
	if l, err := Open(testOptions(dir)); err == nil {
		l.Close()
		t.Fatal("Open rolled back records covered by the published checkpoint")
	}
	checkUnchanged(t, before, snapshotFiles(t, dir))
}

func TestRotationManySegments(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.SegmentBytes = 512
	l := openLedger(t, o)
	var recs [][]byte
	for i := range 150 {
		batch := smallRecords(len(recs), 1+i%5)
		appendRecs(t, l, batch)
		recs = append(recs, batch...)
	}
	closeLedger(t, l)
	segs := segmentPaths(t, dir)
	if len(segs) < 20 {
		t.Fatalf("%d segments, want many", len(segs))
	}
	for _, s := range segs {
		if st, _ := os.Stat(s); st.Size() > o.SegmentBytes {
			// A segment exceeds the limit only if it holds a single block.
			if n := len(listBlocksOf(t, s)); n != 1 {
				t.Errorf("%s is %d bytes with %d blocks", s, st.Size(), n)
			}
		}
	}
	l = openLedger(t, o)
	checkRecords(t, l, recs)
	for i := range 50 {
		batch := smallRecords(len(recs), 1+i%3)
		appendRecs(t, l, batch)
		recs = append(recs, batch...)
	}
	checkRecords(t, l, recs)
	closeLedger(t, l)
	res := mustVerify(t, dir)
	if res.Leaves != uint64(len(recs)) || res.Segments != len(segmentPaths(t, dir)) {
		t.Errorf("Verify: %s", res.Summary())
	}
}

func listBlocksOf(t *testing.T, seg string) []blockInfo {
	t.Helper()
	var out []blockInfo
	for _, b := range listBlocks(t, filepath.Dir(filepath.Dir(seg))) {
		if b.seg == seg {
			out = append(out, b)
		}
	}
	return out
}

// TestCrashCreatingSegment: a crash after a segment file was created but
// before its header was complete leaves a short file; nothing in it was
// acknowledged. Verify, run on the ledger as the crash left it, reports it
// as a torn tail, which the next start drops.
func TestCrashCreatingSegment(t *testing.T) {
	for _, n := range []int{0, 5, segmentHdrSize - 1} {
		dir, recs := closedLedger(t)
		path := filepath.Join(dir, dirSegments, segmentName(uint64(len(recs))))
		writeFile(t, path, segmentHeader(uint64(len(recs)))[:n])
		res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
		if err != nil || res.TornTail != int64(n) {
			t.Fatalf("header of %d bytes: Verify before the restart: torn tail %v, %v; want %d bytes, no error", n, res, err, n)
		}
		l := openLedger(t, testOptions(dir))
		if l.Recovery.TruncatedBytes != int64(n) {
			t.Errorf("header of %d bytes: the restart dropped %d bytes", n, l.Recovery.TruncatedBytes)
		}
		checkRecords(t, l, recs)
		more := smallRecords(len(recs), 2)
		appendRecs(t, l, more)
		closeLedger(t, l)
		if b := blockOf(t, dir, uint64(len(recs))); b.seg != path {
			t.Errorf("header of %d bytes: new records went to %s, want %s", n, b.seg, path)
		}
		mustVerify(t, dir)
	}
}

// TestCrashCreatingLedger covers crashes while a new ledger is initialized.
func TestCrashCreatingLedger(t *testing.T) {
	initRec := []byte("ledger initialized")
	opts := func(dir string) Options {
		o := testOptions(dir)
		o.InitRecord = func() ([]byte, error) { return initRec, nil }
		return o
	}
	tests := []struct {
		name  string
		crash func(t *testing.T, dir string) // leaves dir as a crash would
	}{
		{"after writing the signing key", func(t *testing.T, dir string) {
			skey, _, err := note.GenerateKey(rand.Reader, "test.cdewatch/ledger")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fileSigner), []byte(skey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"while creating the first segment", func(t *testing.T, dir string) {
			l := openLedger(t, testOptions(dir))
			closeLedger(t, l)
			for _, f := range []string{fileCheckpoint, fileCheckpoints} {
				os.Remove(filepath.Join(dir, f))
			}
			writeFile(t, filepath.Join(dir, dirSegments, segmentName(0)), []byte("CDW"))
		}},
		{"before the initialization record", func(t *testing.T, dir string) {
			l := openLedger(t, testOptions(dir))
			closeLedger(t, l)
			for _, f := range []string{fileCheckpoint, fileCheckpoints} {
				os.Remove(filepath.Join(dir, f))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, dirSegments), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.crash(t, dir)
			l := openLedger(t, opts(dir))
			checkRecords(t, l, [][]byte{initRec})
			closeLedger(t, l)
			mustVerify(t, dir)
		})
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, testOptions(dir))
	if l2, err := Open(testOptions(dir)); err == nil {
		l2.Close()
		t.Fatal("second Open of an open ledger succeeded")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v", err)
	}
	// The failed Open did not break the first.
	appendRecs(t, l, smallRecords(0, 2))
	closeLedger(t, l)
	l = openLedger(t, testOptions(dir))
	if l.Size() != 2 {
		t.Errorf("size %d after reopen", l.Size())
	}
}

func TestReopenKeepsState(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.Origin = "example.com/pci/ledger"
	l := openLedger(t, o)
	appendRecs(t, l, smallRecords(0, 5))
	origin, vk := l.Origin(), l.Verifier()
	closeLedger(t, l)
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Append(context.Background(), smallRecords(5, 1)); err != ErrClosed {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	o.Origin = "ignored.example/other"
	l = openLedger(t, o)
	if l.Recovery.Created || l.Origin() != origin || l.Verifier().KeyHash() != vk.KeyHash() || l.Origin() != "example.com/pci/ledger" {
		t.Errorf("reopened: created %v origin %s key %x", l.Recovery.Created, l.Origin(), l.Verifier().KeyHash())
	}
	if l.Recovery.TruncatedBytes != 0 || l.Recovery.RehashedLeaves != 0 {
		t.Errorf("clean reopen reports recovery %+v", l.Recovery)
	}
	if st, err := os.Stat(filepath.Join(dir, fileSigner)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode %v, %v", st.Mode(), err)
	}
	checkRecords(t, l, smallRecords(0, 5))
}

func TestSigningKeyModeChecked(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, testOptions(dir))
	closeLedger(t, l)
	if err := os.Chmod(filepath.Join(dir, fileSigner), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(testOptions(dir)); err == nil {
		l.Close()
		t.Fatal("Open accepted a world-readable signing key")
	}
}

func TestSegmentsRemoved(t *testing.T) {
	dir, _ := closedLedger(t)
	if err := os.RemoveAll(filepath.Join(dir, dirSegments)); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(testOptions(dir)); err == nil {
		l.Close()
		t.Fatal("Open started a new ledger over one whose segments were removed")
	}
}
