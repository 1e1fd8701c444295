package ledger

import (
	"fmt"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// frameHasChecksum reports whether the zstd frame at the start of payload
// declares a content checksum (bit 2 of its frame header descriptor).
func frameHasChecksum(tb testing.TB, payload []byte) bool {
	tb.Helper()
	if len(payload) < 5 || string(payload[:4]) != "\x28\xb5\x2f\xfd" {
		tb.Fatalf("payload does not start with a zstd frame: % x", payload[:min(len(payload), 5)])
	}
	return payload[4]&0x04 != 0
}

// TestFrameChecksum checks that blocks are written without zstd's content
// checksum (the block's CRC-32C covers the frame) and that blocks written
// with one, as before 2026-11-27, still read and verify.
func TestFrameChecksum(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, testOptions(dir))
	var want [][]byte
	for i := range 3 {
		var recs [][]byte
		for j := range 50 {
			recs = append(recs, fmt.Appendf(nil, `{"block":%d,"record":%d,"pad":"%0200d"}`, i, j, j))
		}
		appendRecs(t, l, recs)
		want = append(want, recs...)
	}
	closeLedger(t, l)

	old, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	dec := newDecoder()
	for _, seg := range segmentPaths(t, dir) {
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		out := append([]byte(nil), data[:segmentHdrSize]...)
		for off := segmentHdrSize; off < len(data); {
			h, payload, total, err := parseBlock(data[off:])
			if err != nil {
				t.Fatalf("%s offset %d: %v", seg, off, err)
			}
			if frameHasChecksum(t, payload) {
				t.Errorf("%s offset %d: block written with a zstd content checksum", seg, off)
			}
			recs, _, err := decodeRecords(dec, payload, h.count, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := encodeBlockBody(old, recs)
			sealBlock(b, h)
			if _, p, _, err := parseBlock(b); err != nil || !frameHasChecksum(t, p) {
				t.Fatalf("re-encoded block: err %v, checksum %v", err, err == nil && frameHasChecksum(t, p))
			}
			out = append(out, b...)
			off += total
		}
		if err := os.WriteFile(seg, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mustVerify(t, dir)
	l = openLedger(t, testOptions(dir))
	checkRecords(t, l, want)
	closeLedger(t, l)
}
