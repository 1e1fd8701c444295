package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger/ledgertest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// verifyFixture is a ledger of realistic records spread over several
// segments, with checkpoints signed at known sizes.
type verifyFixture struct {
	dir      string
	recs     [][]byte
	cpSizes  []uint64 // sizes of the signed checkpoints, in order
	verifier note.Verifier
}

var (
	fixtureOnce sync.Once
	fixture     *verifyFixture
	fixtureErr  error
)

// sharedFixture builds the fixture once per test binary; tests copy it.
func sharedFixture(tb testing.TB) *verifyFixture {
	tb.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-fixture-")
		if err != nil {
			fixtureErr = err
			return
		}
		fixture, fixtureErr = buildFixture(dir)
	})
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixture
}

func buildFixture(dir string) (*verifyFixture, error) {
	gen := newRecGen(1)
	fx := &verifyFixture{dir: dir}
	init := []byte(`{"action":"ledger.init"}`)
	o := testOptions(dir)
	o.SegmentBytes = 6 << 10
	o.InitRecord = func() ([]byte, error) { return init, nil }
	l, err := Open(o)
	if err != nil {
		return nil, err
	}
	fx.recs = append(fx.recs, init)
	fx.cpSizes = append(fx.cpSizes, 1)
	fx.verifier = l.Verifier()
	for i := range 60 {
		batch := gen.batch(1 + i%5)
		if _, err := l.Append(context.Background(), batch); err != nil {
			return nil, err
		}
		fx.recs = append(fx.recs, batch...)
		if i%15 == 14 {
			if err := l.signNow(); err != nil {
				return nil, err
			}
			fx.cpSizes = append(fx.cpSizes, uint64(len(fx.recs)))
		}
	}
	// Small blocks at the end, so that the last segment has several.
	for i := range 6 {
		batch := [][]byte{fmt.Appendf(nil, `{"tail":%d}`, i), fmt.Appendf(nil, `{"tail":%d,"n":2}`, i)}
		if _, err := l.Append(context.Background(), batch); err != nil {
			return nil, err
		}
		fx.recs = append(fx.recs, batch...)
	}
	// The records after the last periodic checkpoint are covered by the
	// one Close signs.
	if fx.cpSizes[len(fx.cpSizes)-1] != uint64(len(fx.recs)) {
		fx.cpSizes = append(fx.cpSizes, uint64(len(fx.recs)))
	}
	return fx, l.Close()
}

// fixtureCopy returns a private copy of the fixture ledger.
func fixtureCopy(tb testing.TB) (*verifyFixture, string) {
	tb.Helper()
	fx := sharedFixture(tb)
	dir := tb.TempDir()
	ledgertest.CopyDir(tb, fx.dir, dir)
	return fx, dir
}

func TestVerifyIntact(t *testing.T) {
	fx, dir := fixtureCopy(t)
	res := mustVerify(t, dir)
	if res.Leaves != uint64(len(fx.recs)) {
		t.Errorf("Leaves = %d, want %d", res.Leaves, len(fx.recs))
	}
	if want := mth(fx.recs); !bytes.Equal(res.Root, want) {
		t.Errorf("Root = %x, want %x", res.Root, want)
	}
	if res.Checkpoints != len(fx.cpSizes) {
		t.Errorf("Checkpoints = %d, want %d", res.Checkpoints, len(fx.cpSizes))
	}
	if res.Segments < 4 || res.Segments != len(segmentPaths(t, dir)) {
		t.Errorf("Segments = %d, want the %d segment files (at least 4)", res.Segments, len(segmentPaths(t, dir)))
	}
	if !res.KeyFromStore || res.TornTail != 0 {
		t.Errorf("KeyFromStore %v, TornTail %d", res.KeyFromStore, res.TornTail)
	}
	s := res.Summary()
	if strings.Contains(s, "\n") || !strings.HasPrefix(s, "ledger intact: ") || !strings.Contains(s, fmt.Sprint(len(fx.recs), " leaves")) {
		t.Errorf("Summary = %q", s)
	}
	// With the trusted key passed explicitly.
	res, err := Verify(context.Background(), VerifyOptions{Dir: dir, Verifier: fx.verifier, Workers: 1})
	if err != nil || res.KeyFromStore {
		t.Fatalf("Verify with key: %v, %+v", err, res)
	}
	// The record checker sees every record in order.
	var seen [][]byte
	_, err = Verify(context.Background(), VerifyOptions{Dir: dir, Workers: 1, CheckRecord: func(r []byte) error {
		seen = append(seen, bytes.Clone(r))
		return nil
	}})
	if err != nil || len(seen) != len(fx.recs) {
		t.Fatalf("Verify with CheckRecord: %v, %d records seen", err, len(seen))
	}
	// Verify never changes the ledger.
	before := snapshotFiles(t, dir)
	mustVerify(t, dir)
	checkUnchanged(t, before, snapshotFiles(t, dir))
}

// tamperWant is where Verify must report the first damage.
type tamperWant struct {
	leaf    uint64
	segment string // segment file base name; "" when the report need not name one
	offset  int64  // checked when segment is set
	file    string // prefix of VerifyError.File; "" when not checked
}

func TestVerifyDetectsTampering(t *testing.T) {
	fx := sharedFixture(t)
	blocks := listBlocks(t, fx.dir)
	segs := segmentPaths(t, fx.dir)
	// target is a block of at least 3 records inside the second segment.
	var target blockInfo
	for i, b := range blocks[:len(blocks)-1] {
		if b.seg == segs[1] && b.count >= 3 && b.off > segmentHdrSize && blocks[i+1].seg == b.seg {
			target = b
			break
		}
	}
	if target.count == 0 {
		t.Fatal("fixture has no block of 3 records inside its second segment")
	}
	base := filepath.Base(target.seg)
	at := func(leaf uint64) tamperWant {
		return tamperWant{leaf: leaf, segment: base, offset: int64(target.off)}
	}
	// in returns the path of a fixture file inside the copy dir.
	in := func(dir, path string) string {
		rel, _ := filepath.Rel(fx.dir, path)
		return filepath.Join(dir, rel)
	}
	lastSeg := segs[len(segs)-1]
	var lastBlocks []blockInfo
	for _, b := range blocks {
		if b.seg == lastSeg {
			lastBlocks = append(lastBlocks, b)
		}
	}
	if len(lastBlocks) < 2 {
		t.Fatal("fixture's last segment has fewer than 2 blocks")
	}
	cut := lastBlocks[len(lastBlocks)-2]
	// checkpointRange returns the first leaf of the checkpoint interval holding leaf.
	checkpointRange := func(leaf uint64) uint64 {
		lo := uint64(0)
		for _, s := range fx.cpSizes {
			if leaf < s {
				return lo
			}
			lo = s
		}
		t.Fatalf("leaf %d is not checkpointed", leaf)
		return 0
	}
	secondSeg := filepath.Base(segs[1])
	thirdSeg := filepath.Base(segs[2])
	firstOfSeg := func(i int) uint64 {
		s, err := parseSegmentHeader(readFile(t, segs[i]))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   tamperWant
		// wantAfter, when set, computes want from the mutated ledger.
		wantAfter func(t *testing.T, dir string) tamperWant
	}{
		{name: "flip payload byte", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+blockPrefixSize+blockHdrSize+(target.total-blockPrefixSize-blockHdrSize)/2))
		}, want: at(target.first)},
		{name: "flip block count", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+blockPrefixSize+11))
		}, want: at(target.first)},
		{name: "flip block first leaf", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+blockPrefixSize+7))
		}, want: at(target.first)},
		{name: "flip commit time", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+blockPrefixSize+15))
		}, want: at(target.first)},
		{name: "flip CRC", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+5))
		}, want: at(target.first)},
		{name: "flip block length", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off+3))
		}, want: at(target.first)},
		{name: "flip high byte of block length", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, target.seg), int64(target.off))
		}, want: at(target.first)},
		{name: "flip segment magic", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, segs[2]), 3)
		}, want: tamperWant{leaf: firstOfSeg(2), segment: thirdSeg, offset: 0}},
		{name: "flip segment first leaf", mutate: func(t *testing.T, dir string) {
			flipByte(t, in(dir, segs[2]), 15)
		}, want: tamperWant{leaf: firstOfSeg(2), segment: thirdSeg, offset: 0}},
		{name: "cut a whole block", mutate: func(t *testing.T, dir string) {
			p := in(dir, target.seg)
			b := readFile(t, p)
			writeFile(t, p, append(b[:target.off:target.off], b[target.off+target.total:]...))
		}, want: at(target.first)},
		{name: "delete a record, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { return slices.Delete(r, 1, 2) })
		}, want: at(target.first + 1)},
		{name: "delete the last record of a block, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { return r[:len(r)-1] })
		}, wantAfter: func(t *testing.T, dir string) tamperWant {
			// The gap is found at the next block.
			_, _, total, err := parseBlock(readFile(t, in(dir, target.seg))[target.off:])
			if err != nil {
				t.Fatal(err)
			}
			return tamperWant{leaf: target.first + target.count - 1, segment: base, offset: int64(target.off + total)}
		}},
		{name: "insert a record, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { return slices.Insert(r, 2, []byte("forged")) })
		}, want: at(target.first + 2)},
		{name: "swap two records, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { r[0], r[2] = r[2], r[0]; return r })
		}, want: at(target.first)},
		{name: "swap adjacent records, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { r[1], r[2] = r[2], r[1]; return r })
		}, want: at(target.first + 1)},
		{name: "alter a record, valid CRC", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { r[2] = bytes.Replace(r[2], []byte("allow"), []byte("deny!"), 1); return r })
		}, want: at(target.first + 2)},
		{name: "alter a record and rewrite the tree hashes", mutate: func(t *testing.T, dir string) {
			rewriteBlock(t, blockAt(target, dir, in), func(r [][]byte) [][]byte { r[2] = bytes.Replace(r[2], []byte("allow"), []byte("deny!"), 1); return r })
			rewriteTreeHashes(t, dir)
		}, want: tamperWant{leaf: checkpointRange(target.first + 2)}},
		{name: "edit the checkpoint file", mutate: func(t *testing.T, dir string) {
			p := filepath.Join(dir, fileCheckpoint)
			b := readFile(t, p)
			flipByte(t, p, int64(bytes.IndexByte(b, '\n')+1)) // first digit of the size
		}, want: tamperWant{file: fileCheckpoint}},
		{name: "edit a checkpoints.log entry", mutate: func(t *testing.T, dir string) {
			ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
			if err != nil {
				t.Fatal(err)
			}
			e := ents[2]
			flipByte(t, filepath.Join(dir, fileCheckpoints), e.Offset+4+int64(bytes.IndexByte(e.Note, '\n'))+3) // in the root hash
		}, want: tamperWant{file: fileCheckpoints + " entry 2 "}},
		{name: "drop the last checkpoints.log entry", mutate: func(t *testing.T, dir string) {
			ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
			if err != nil {
				t.Fatal(err)
			}
			truncateFile(t, filepath.Join(dir, fileCheckpoints), ents[len(ents)-1].Offset)
		}, want: tamperWant{leaf: fx.cpSizes[len(fx.cpSizes)-1], file: fileCheckpoint}},
		{name: "edit a leaf hash in tree.hashes", mutate: func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, fileHashes), tlog.StoredHashIndex(0, 37)*tlog.HashSize+9)
		}, want: tamperWant{leaf: 37, file: fileHashes}},
		{name: "edit an interior hash in tree.hashes", mutate: func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, fileHashes), tlog.StoredHashIndex(3, 2)*tlog.HashSize)
		}, want: tamperWant{leaf: 16, file: fileHashes}},
		{name: "remove the last segment", mutate: func(t *testing.T, dir string) {
			if err := os.Remove(in(dir, lastSeg)); err != nil {
				t.Fatal(err)
			}
		}, want: tamperWant{leaf: firstOfSeg(len(segs) - 1), file: fileCheckpoints}},
		{name: "remove a middle segment", mutate: func(t *testing.T, dir string) {
			if err := os.Remove(in(dir, segs[1])); err != nil {
				t.Fatal(err)
			}
		}, want: tamperWant{leaf: firstOfSeg(1), segment: thirdSeg, offset: 0}},
		{name: "truncate checkpointed records mid-block", mutate: func(t *testing.T, dir string) {
			truncateFile(t, in(dir, lastSeg), int64(cut.off+cut.total/2))
		}, want: tamperWant{leaf: cut.first, segment: filepath.Base(lastSeg), offset: int64(cut.off)}},
		{name: "truncate checkpointed records at a block boundary", mutate: func(t *testing.T, dir string) {
			truncateFile(t, in(dir, lastSeg), int64(cut.off))
		}, want: tamperWant{leaf: cut.first, file: fileCheckpoints}},
		{name: "zero the start of a segment's blocks", mutate: func(t *testing.T, dir string) {
			p := in(dir, segs[1])
			b := readFile(t, p)
			clear(b[segmentHdrSize : segmentHdrSize+64])
			writeFile(t, p, b)
		}, want: tamperWant{leaf: firstOfSeg(1), segment: secondSeg, offset: segmentHdrSize}},
		{name: "ledger re-signed with another key", mutate: func(t *testing.T, dir string) {
			resign(t, dir, fx.verifier)
		}, want: tamperWant{file: fileCheckpoints + " entry 0 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ledgertest.CopyDir(t, fx.dir, dir)
			tt.mutate(t, dir)
			if tt.wantAfter != nil {
				tt.want = tt.wantAfter(t, dir)
			}
			_, err := Verify(context.Background(), VerifyOptions{Dir: dir, Verifier: fx.verifier})
			if err == nil {
				t.Fatal("Verify passed a tampered ledger")
			}
			ve := asVerifyError(t, err)
			t.Log(ve)
			if ve.Leaf != tt.want.leaf {
				t.Errorf("Leaf = %d, want %d", ve.Leaf, tt.want.leaf)
			}
			if tt.want.segment != "" {
				if filepath.Base(ve.Segment) != tt.want.segment || ve.Offset != tt.want.offset {
					t.Errorf("place = %s offset %d, want %s offset %d", filepath.Base(ve.Segment), ve.Offset, tt.want.segment, tt.want.offset)
				}
			}
			if tt.want.file != "" && !strings.HasPrefix(ve.File, tt.want.file) {
				t.Errorf("File = %q, want prefix %q", ve.File, tt.want.file)
			}
			if ve.Segment == "" && ve.Offset != -1 {
				t.Errorf("Offset = %d without a segment, want -1", ve.Offset)
			}
			if ve.Reason == "" || !strings.Contains(ve.Error(), fmt.Sprint("leaf ", ve.Leaf)) {
				t.Errorf("Error() = %q", ve.Error())
			}
			// Open refuses a damaged ledger or at least does not hide the damage.
			if l, err := Open(testOptions(dir)); err == nil {
				l.Close()
				if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Verifier: fx.verifier}); err == nil {
					t.Error("after Open, Verify passes: the damage was repaired silently")
				}
			}
		})
	}
}

// blockAt maps a fixture block to the same block in a copy.
func blockAt(b blockInfo, dir string, in func(dir, path string) string) blockInfo {
	b.seg = in(dir, b.seg)
	return b
}

// rewriteTreeHashes recomputes tree.hashes from the records, as an adversary
// who altered records would to make them match.
func rewriteTreeHashes(t *testing.T, dir string) {
	t.Helper()
	mem := &memTree{}
	for _, b := range listBlocks(t, dir) {
		data := readFile(t, b.seg)
		h, payload, _, err := parseBlock(data[b.off:])
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := decodeRecords(testDecoder, payload, h.count, nil)
		if err != nil {
			t.Fatal(err)
		}
		mem.add(t, recs...)
	}
	var out []byte
	for _, h := range mem.hashes {
		out = append(out, h[:]...)
	}
	writeFile(t, filepath.Join(dir, fileHashes), out)
}

// resign replaces the ledger's key and re-signs every checkpoint with it.
func resign(t *testing.T, dir string, old note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, old.Name())
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, fileVerifier), []byte(vkey+"\n"))
	if err := os.WriteFile(filepath.Join(dir, fileSigner), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
	if err != nil {
		t.Fatal(err)
	}
	var log []byte
	var last []byte
	for _, e := range ents {
		cp, err := ParseCheckpoint(e.Note, old)
		if err != nil {
			t.Fatal(err)
		}
		n, err := signCheckpoint(s, cp.Size, cp.Root, cp.Time)
		if err != nil {
			t.Fatal(err)
		}
		log = binary.BigEndian.AppendUint32(log, uint32(len(n)))
		log = append(log, n...)
		last = n
	}
	writeFile(t, filepath.Join(dir, fileCheckpoints), log)
	writeFile(t, filepath.Join(dir, fileCheckpoint), last)
	// Without the trusted key the forgery is consistent.
	res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
	if err != nil || !res.KeyFromStore {
		t.Fatalf("re-signed ledger with its own key: %v", err)
	}
}

// TestVerifyCheckRecord checks that a record the caller's decoder rejects is
// named precisely.
func TestVerifyCheckRecord(t *testing.T) {
	fx, dir := fixtureCopy(t)
	bad := fx.recs[23]
	_, err := Verify(context.Background(), VerifyOptions{Dir: dir, CheckRecord: func(r []byte) error {
		if bytes.Equal(r, bad) {
			return errors.New("bad record")
		}
		return nil
	}})
	ve := asVerifyError(t, err)
	if ve.Leaf != 23 || ve.Segment == "" {
		t.Fatalf("CheckRecord failure reported as %v, want leaf 23 with its segment", ve)
	}
	b := blockOf(t, dir, 23)
	if ve.Segment != b.seg || ve.Offset != int64(b.off) {
		t.Fatalf("CheckRecord failure at %s offset %d, want %s offset %d", ve.Segment, ve.Offset, b.seg, b.off)
	}
}

func TestVerifyCancel(t *testing.T) {
	_, dir := fixtureCopy(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Verify(ctx, VerifyOptions{Dir: dir})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify with a cancelled context = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify with a cancelled context does not return")
	}
}
