package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// fuzzSeedSegment returns the blocks of a small real ledger's first segment
// (without the segment header).
func fuzzSeedSegment(tb testing.TB) []byte {
	tb.Helper()
	dir := tb.TempDir()
	l, err := Open(testOptions(dir))
	if err != nil {
		tb.Fatal(err)
	}
	gen := newRecGen(5)
	for i := range 4 {
		if _, err := l.Append(context.Background(), gen.batch(1+i)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := l.Append(context.Background(), [][]byte{{}, []byte("x")}); err != nil {
		tb.Fatal(err)
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return readFile(tb, segmentPaths(tb, dir)[0])[segmentHdrSize:]
}

// seedBlocks splits segment data into its blocks.
func seedBlocks(tb testing.TB, data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		_, _, total, err := parseBlock(data)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data[:total])
		data = data[total:]
	}
	return out
}

// FuzzParseBlock feeds arbitrary bytes to the block parser and arbitrary
// payloads and counts to the record decoder: no panic, no unbounded
// allocation, and whatever decodes is consistent.
func FuzzParseBlock(f *testing.F) {
	seg := fuzzSeedSegment(f)
	for _, b := range seedBlocks(f, seg) {
		f.Add(b, uint32(1))
		_, payload, _, _ := parseBlock(b)
		f.Add(payload, uint32(3))
	}
	f.Add(seg, uint32(0))
	f.Add([]byte{}, uint32(1))
	f.Add(make([]byte, 40), ^uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, count uint32) {
		h, payload, total, err := parseBlock(b)
		if err == nil {
			if total > len(b) || total < blockPrefixSize+blockHdrSize || len(payload) != total-blockPrefixSize-blockHdrSize || h.count == 0 {
				t.Fatalf("parseBlock: total %d of %d bytes, payload %d, count %d", total, len(b), len(payload), h.count)
			}
			if recs, _, err := decodeRecords(testDecoder, payload, h.count, nil); err == nil && uint32(len(recs)) != h.count {
				t.Fatalf("decoded %d records, header says %d", len(recs), h.count)
			}
			// A block re-encoded from what decoded parses back the same.
		} else if !errors.Is(err, errBadBlock) && !errors.Is(err, errShortBlock) {
			t.Fatalf("parseBlock error %v is neither bad nor short", err)
		}
		mayBeTorn(b, total, err)

		recs, _, err := decodeRecords(testDecoder, b, count, nil)
		if err != nil || count == 0 { // a block holds at least one record
			return
		}
		if uint32(len(recs)) != count {
			t.Fatalf("decoded %d records, want %d", len(recs), count)
		}
		// Round trip: the records re-encode into a block that decodes to them.
		blk := makeBlock(7, recs)
		h2, p2, _, err := parseBlock(blk)
		if err != nil || h2.first != 7 || h2.count != count {
			t.Fatalf("re-encoded block: %+v, %v", h2, err)
		}
		back, _, err := decodeRecords(testDecoder, p2, count, nil)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-encoded block decodes to %d records, %v", len(back), err)
		}
		for i := range recs {
			if !bytes.Equal(back[i], recs[i]) {
				t.Fatalf("record %d changed in the round trip", i)
			}
		}
	})
}

var fuzzKeys struct {
	once     sync.Once
	sk, pk   []byte
	template string
}

// FuzzSegmentReader gives arbitrary bytes (after a valid header) as the only
// segment of a ledger to Open's recovery, Verify and scanSegment. None may
// panic; when Open accepts the ledger, Verify must then pass.
func FuzzSegmentReader(f *testing.F) {
	seg := fuzzSeedSegment(f)
	f.Add(seg)
	blocks := seedBlocks(f, seg)
	f.Add(blocks[0])
	f.Add(seg[:len(seg)-5])
	f.Add(append(bytes.Clone(seg), make([]byte, 100)...))
	two := append(bytes.Clone(blocks[0]), blocks[1]...)
	two[len(blocks[0])/2] ^= 1
	f.Add(two)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 30, 1, 2, 3, 4})
	huge := binary.BigEndian.AppendUint32(nil, maxBlockBody)
	f.Add(append(huge, make([]byte, 40)...))

	fuzzKeys.once.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-fuzz-keys-")
		if err != nil {
			f.Fatal(err)
		}
		if _, _, err := loadOrCreateKeys(dir, "fuzz.example/ledger", true); err != nil {
			f.Fatal(err)
		}
		fuzzKeys.sk = readFile(f, filepath.Join(dir, fileSigner))
		fuzzKeys.pk = readFile(f, filepath.Join(dir, fileVerifier))
		os.RemoveAll(dir)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := fastTempDir(t)
		if err := os.MkdirAll(filepath.Join(dir, dirSegments), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fileSigner), fuzzKeys.sk, 0o600); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, fileVerifier), fuzzKeys.pk)
		path := filepath.Join(dir, dirSegments, segmentName(0))
		writeFile(t, path, append(segmentHeader(0), data...))

		// scanSegment walks blocks until the first bad one.
		var l Ledger
		var plain []byte
		_ = l.scanSegment(segmentInfo{first: 0, path: path}, 0, func(h blockHeader, payload []byte, _ int64) error {
			_, p, err := decodeRecords(testDecoder, payload, h.count, plain)
			plain = p
			return err
		})

		if _, err := Verify(context.Background(), VerifyOptions{Dir: dir}); err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify failed without a VerifyError: %v", err)
			}
		}
		lg, err := Open(Options{Dir: dir, CheckpointInterval: 1 << 40})
		if err != nil {
			return
		}
		n := uint64(0)
		if err := lg.ReadRange(0, lg.Size(), func(uint64, []byte) error { n++; return nil }); err != nil || n != lg.Size() {
			t.Fatalf("after Open: ReadRange gave %d of %d records, %v", n, lg.Size(), err)
		}
		if err := lg.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), VerifyOptions{Dir: dir}); err != nil {
			t.Fatalf("Open accepted the segment but Verify then fails: %v", err)
		}
	})
}

// fastTempDir returns a temporary directory in memory when the system has
// one (/dev/shm): Open fsyncs several times, which on a busy disk would make
// fuzzing crawl. Durability is tested elsewhere.
func fastTempDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "ledger-fuzz-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// TestDecodeRecordsBoundedAllocation: a block header may claim any record
// count; decoding must not allocate for the claim, only for the data.
func TestDecodeRecordsBoundedAllocation(t *testing.T) {
	blk := makeBlock(0, [][]byte{[]byte("one record")})
	_, payload, _, err := parseBlock(blk)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, _, err := decodeRecords(testDecoder, payload, ^uint32(0), nil); err == nil {
		t.Fatal("decodeRecords accepted a count the data does not hold")
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("decoding a %d-byte payload allocated %d bytes", len(payload), n)
	}
}

// TestScanSegmentBoundedAllocation: a damaged length field must not make a
// reader allocate what the length claims before finding the data is short.
func TestScanSegmentBoundedAllocation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, segmentName(0))
	writeFile(t, path, append(segmentHeader(0), append(binary.BigEndian.AppendUint32(nil, maxBlockBody), make([]byte, 100)...)...))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var l Ledger
	err := l.scanSegment(segmentInfo{first: 0, path: path}, 0, func(blockHeader, []byte, int64) error { return nil })
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errShortBlock) {
		t.Errorf("scanSegment: %v, want a short block", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("scanning a 116-byte segment allocated %d bytes", n)
	}
}
