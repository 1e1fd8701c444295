package ledger

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// expiredLedger is a ledger of several segments whose first two expired.
func expiredLedger(tb testing.TB) (dir string, l *Ledger, recs [][]byte, gone uint64) {
	tb.Helper()
	dir, l = segmentedLedger(tb, 40)
	recs = smallRecords(0, 400)
	segs := l.Segments()
	if len(segs) < 3 {
		tb.Fatalf("want several segments, have %d", len(segs))
	}
	for _, s := range segs[:2] {
		t, err := l.Expire(s.First, "test: past retention")
		if err != nil {
			tb.Fatalf("Expire(%d): %v", s.First, err)
		}
		if t.First != s.First || t.End != s.End || t.Bytes != s.Bytes || len(t.SHA256) != 64 {
			tb.Fatalf("tombstone %+v for segment %+v", t, s)
		}
		if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
			tb.Fatalf("segment file %s still there after expiry (%v)", s.Path, err)
		}
	}
	return dir, l, recs, segs[1].End
}

func TestExpireKeepsTreeProvable(t *testing.T) {
	dir, l, recs, gone := expiredLedger(t)
	size := l.Size()
	// Reads skip the expired leaves and return the rest unchanged.
	var got []uint64
	if err := l.ReadRange(0, size, func(seq uint64, rec []byte) error {
		if string(rec) != string(recs[seq]) {
			t.Fatalf("record %d changed", seq)
		}
		got = append(got, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != int(size-gone) || got[0] != gone {
		t.Fatalf("read %d records from %d, want %d from %d", len(got), got[0], size-gone, gone)
	}
	// Proofs of expired and kept leaves still verify against the root.
	for _, leaf := range []uint64{0, gone - 1, gone, size - 1} {
		p, root, err := l.InclusionProof(leaf, size)
		if err != nil {
			t.Fatalf("inclusion proof of leaf %d: %v", leaf, err)
		}
		lh := rfc6962.DefaultHasher.HashLeaf(recs[leaf])
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, leaf, size, lh, p, root); err != nil {
			t.Fatalf("leaf %d: %v", leaf, err)
		}
	}
	closeLedger(t, l)
	res := mustVerify(t, dir)
	if res.ExpiredLeaves != gone || res.Leaves != size || !strings.Contains(res.Summary(), "expired leaves") {
		t.Fatalf("verify: %+v", res)
	}
	// The ledger reopens and grows; verify still passes.
	l2 := openLedger(t, testOptions(dir))
	appendRecs(t, l2, smallRecords(5000, 3))
	closeLedger(t, l2)
	mustVerify(t, dir)
}

func TestExpireRefusals(t *testing.T) {
	_, l, _, _ := expiredLedger(t)
	segs := l.Segments()
	if _, err := l.Expire(segs[len(segs)-1].First, "x"); err == nil || !strings.Contains(err.Error(), "still being appended") {
		t.Fatalf("expiring the active segment: %v", err)
	}
	if _, err := l.Expire(12345678, "x"); err == nil {
		t.Fatal("expiring an unknown segment succeeded")
	}
	t1, err := l.Expire(segs[0].First, "again")
	if err != nil || t1.Reason != "test: past retention" {
		t.Fatalf("expiring twice: %+v, %v", t1, err)
	}
}

// TestExpireInterrupted: a crash after the tombstone was written but before
// the segment file was removed is completed at the next open.
func TestExpireInterrupted(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.SegmentBytes = 4 << 10
	l := openLedger(t, opts)
	for i := range 30 {
		appendRecs(t, l, smallRecords(i*10, 10))
	}
	seg := l.Segments()[0]
	saved := readFile(t, seg.Path)
	if _, err := l.Expire(seg.First, "x"); err != nil {
		t.Fatal(err)
	}
	closeLedger(t, l)
	writeFile(t, seg.Path, saved) // as if the removal had not happened
	l2 := openLedger(t, opts)
	if _, err := os.Stat(seg.Path); !os.IsNotExist(err) {
		t.Fatalf("leftover segment not removed at open: %v", err)
	}
	if s := l2.Segments()[0]; s.Expired == nil {
		t.Fatalf("segment %+v not expired after reopen", s)
	}
	closeLedger(t, l2)
	mustVerify(t, dir)
}

func TestVerifyExpiredDamage(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(tb testing.TB, dir string, gone uint64)
		want   string
	}{
		{"kept leaf hash altered", func(tb testing.TB, dir string, gone uint64) {
			flipByte(tb, filepath.Join(dir, fileHashes), tlog.StoredHashIndex(0, int64(gone-2))*tlog.HashSize)
		}, "tree hash"},
		{"tombstone claims fewer leaves", func(tb testing.TB, dir string, gone uint64) {
			p := filepath.Join(dir, dirSegments, tombstoneName(0))
			b := readFile(tb, p)
			writeFile(tb, p, regexp.MustCompile(`"end": \d+`).ReplaceAll(b, []byte(`"end": 5`)))
		}, "expected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, l, _, gone := expiredLedger(t)
			closeLedger(t, l)
			tc.tamper(t, dir, gone)
			_, err := Verify(context.Background(), VerifyOptions{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestMonitorAcrossExpiry: expiry is not damage; altering a tombstone is.
func TestMonitorAcrossExpiry(t *testing.T) {
	dir, l := segmentedLedger(t, 40)
	m := l.NewMonitor(MonitorOptions{MinPassBytes: 1 << 10})
	var passes int
	m.o.OnPass = func(p PassResult) {
		if !p.OK {
			t.Errorf("pass failed: %+v", p)
		}
		passes++
	}
	m.Check(context.Background())
	if _, err := l.Expire(l.Segments()[0].First, "x"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if d := m.Check(context.Background()); len(d) != 0 {
			t.Fatalf("expiry reported as damage: %v", d)
		}
	}
	if passes == 0 {
		t.Fatal("no full pass completed")
	}
	p := filepath.Join(dir, dirSegments, tombstoneName(0))
	b := readFile(t, p)
	writeFile(t, p, []byte(strings.Replace(string(b), "x", "y", 1)))
	if d := m.Check(context.Background()); len(d) == 0 || !strings.Contains(d[0].Reason, "tombstone") {
		t.Fatalf("altered tombstone: %v", d)
	}
}

func TestSeqAt(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.SegmentBytes = 4 << 10
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts.Now = func() time.Time { return now }
	l := openLedger(t, opts)
	var firsts []uint64
	var times []time.Time
	for i := range 30 {
		now = now.Add(time.Minute)
		firsts = append(firsts, appendRecs(t, l, smallRecords(i*10, 10)))
		times = append(times, now)
	}
	if _, err := l.Expire(l.Segments()[0].First, "x"); err != nil {
		t.Fatal(err)
	}
	for i, at := range times {
		got, err := l.SeqAt(at.Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if want := firsts[i]; got != want && !(got == 0 && l.Segments()[0].End > want) {
			t.Fatalf("SeqAt(block %d time): %d, want %d", i, got, want)
		}
	}
	if got, _ := l.SeqAt(now.Add(time.Hour)); got != l.Size() {
		t.Fatalf("SeqAt(future) = %d, want size %d", got, l.Size())
	}
}

// TestMonitorDuringExpiry runs the monitor in its own goroutine while
// segments expire: no damage is reported.
func TestMonitorDuringExpiry(t *testing.T) {
	_, l := segmentedLedger(t, 60)
	damage := monitorWhile(t, l, 2<<10, func() {
		segs := l.Segments()
		for _, s := range segs[:len(segs)-1] {
			time.Sleep(2 * time.Millisecond)
			if _, err := l.Expire(s.First, "test"); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(damage) != 0 {
		t.Fatalf("expiry reported as damage: %v", damage)
	}
}
