package ledger

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// segmentedLedger is a ledger of small segments holding batches batches
// of ten small records (smallRecords(0, 10*batches)), with a checkpoint.
func segmentedLedger(tb testing.TB, batches int) (dir string, l *Ledger) {
	tb.Helper()
	dir = tb.TempDir()
	opts := testOptions(dir)
	opts.SegmentBytes = 4 << 10
	l = openLedger(tb, opts)
	for i := range batches {
		appendRecs(tb, l, smallRecords(i*10, 10))
	}
	if err := l.signNow(); err != nil {
		tb.Fatal(err)
	}
	return dir, l
}

// monitored is a ledger of several segments with a checkpoint, and a
// monitor that has taken its first look.
type monitored struct {
	dir  string
	l    *Ledger
	m    *Monitor
	segs []string
}

func newMonitored(tb testing.TB, o MonitorOptions) *monitored {
	tb.Helper()
	dir, l := segmentedLedger(tb, 40)
	if o.Interval == 0 {
		o.Interval = time.Minute
	}
	m := l.NewMonitor(o)
	if d := m.Check(context.Background()); len(d) != 0 {
		tb.Fatalf("intact ledger: monitor found %v", d)
	}
	segs := segmentPaths(tb, dir)
	if len(segs) < 3 {
		tb.Fatalf("want several segments, have %d", len(segs))
	}
	return &monitored{dir: dir, l: l, m: m, segs: segs}
}

// checkUntil runs checks until one finds damage (at most n).
func (mm *monitored) checkUntil(tb testing.TB, n int) []Damage {
	tb.Helper()
	for range n {
		if d := mm.m.Check(context.Background()); len(d) > 0 {
			return d
		}
	}
	return nil
}

func TestMonitorFindsTampering(t *testing.T) {
	otherKey := func(tb testing.TB) []byte {
		skey, _, err := note.GenerateKey(rand.Reader, "test.cdewatch/ledger")
		if err != nil {
			tb.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			tb.Fatal(err)
		}
		n, err := signCheckpoint(s, 400, make([]byte, 32), time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name   string
		tamper func(tb testing.TB, mm *monitored) (leaf uint64, file string)
		checks int // checks allowed to find it
		reason string
	}{
		{"flip a byte in a sealed segment", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := blockOf(tb, mm.dir, 15)
			flipByte(tb, b.seg, int64(b.off+b.total-3))
			return b.first, b.seg
		}, 1, "checksum"},
		{"flip a byte in the active segment", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := blockOf(tb, mm.dir, mm.l.Size()-1)
			flipByte(tb, b.seg, int64(b.off+b.total-3))
			return b.first, b.seg
		}, 1, "changed after it was committed"},
		{"rewrite a record of a sealed segment with a valid checksum", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := blockOf(tb, mm.dir, 25)
			rewriteBlock(tb, b, func(r [][]byte) [][]byte { r[25-b.first] = []byte("forged"); return r })
			return 25, b.seg
		}, 1, "stored leaf hash"},
		{"truncate a sealed segment", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := blockOf(tb, mm.dir, 12)
			truncateFile(tb, b.seg, int64(b.off+10))
			return b.first, b.seg
		}, 1, "truncated"},
		{"truncate the active segment", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := blockOf(tb, mm.dir, mm.l.Size()-1)
			truncateFile(tb, b.seg, int64(b.off))
			return b.first, b.seg
		}, 1, "truncated"},
		{"remove a sealed segment", func(tb testing.TB, mm *monitored) (uint64, string) {
			first := blockOf(tb, mm.dir, 0).count
			for _, b := range listBlocks(tb, mm.dir) {
				if b.seg == mm.segs[1] {
					first = b.first
					break
				}
			}
			if err := os.Remove(mm.segs[1]); err != nil {
				tb.Fatal(err)
			}
			return first, mm.segs[1]
		}, 1, "missing"},
		{"replace the checkpoint with one signed by another key", func(tb testing.TB, mm *monitored) (uint64, string) {
			p := filepath.Join(mm.dir, fileCheckpoint)
			writeFile(tb, p, otherKey(tb))
			return 0, p
		}, 1, "does not verify"},
		{"replace the checkpoint with an older genuine one", func(tb testing.TB, mm *monitored) (uint64, string) {
			appendRecs(tb, mm.l, smallRecords(1000, 5))
			if err := mm.l.signNow(); err != nil {
				tb.Fatal(err)
			}
			ents, _, err := readCheckpointLog(filepath.Join(mm.dir, fileCheckpoints))
			if err != nil {
				tb.Fatal(err)
			}
			p := filepath.Join(mm.dir, fileCheckpoint)
			writeFile(tb, p, ents[len(ents)-2].Note)
			return 400, p
		}, 1, "rolled back"},
		{"alter a stored leaf hash", func(tb testing.TB, mm *monitored) (uint64, string) {
			p := filepath.Join(mm.dir, fileHashes)
			flipByte(tb, p, tlog.StoredHashIndex(0, 33)*tlog.HashSize)
			return 33, p
		}, 200, "stored tree hash"},
		{"rewrite a record appended since the last check with a valid checksum", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := newSealedBlock(tb, mm)
			rewriteBlock(tb, b, func(r [][]byte) [][]byte { r[0] = []byte("forged"); return r })
			return b.first, b.seg
		}, 1, "stored leaf hash"},
		{"rewrite a record appended since the last check and its stored leaf hash", func(tb testing.TB, mm *monitored) (uint64, string) {
			b := newSealedBlock(tb, mm)
			forged := []byte("forged")
			rewriteBlock(tb, b, func(r [][]byte) [][]byte { r[0] = forged; return r })
			h := tlog.RecordHash(forged)
			f, err := os.OpenFile(filepath.Join(mm.dir, fileHashes), os.O_WRONLY, 0)
			if err != nil {
				tb.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(h[:], tlog.StoredHashIndex(0, int64(b.first))*tlog.HashSize); err != nil {
				tb.Fatal(err)
			}
			return b.first, b.seg
		}, 1, "differs from the one written"},
		{"change the commit time of a block appended since the last check", func(tb testing.TB, mm *monitored) (uint64, string) {
			first := appendRecs(tb, mm.l, smallRecords(3000, 10))
			b := blockOf(tb, mm.dir, first)
			data := readFile(tb, b.seg)
			blk := data[b.off+blockPrefixSize : b.off+b.total]
			binary.BigEndian.PutUint64(blk[12:20], binary.BigEndian.Uint64(blk[12:20])-1)
			binary.BigEndian.PutUint32(data[b.off+4:], crc32.Checksum(blk, castagnoli))
			writeFile(tb, b.seg, data)
			return first, b.seg
		}, 1, "differs from the one written"},
		{"truncate the checkpoint log", func(tb testing.TB, mm *monitored) (uint64, string) {
			p := filepath.Join(mm.dir, fileCheckpoints)
			truncateFile(tb, p, 0)
			return 0, p
		}, 1, "shrank"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mm := newMonitored(t, MonitorOptions{MinPassBytes: 1})
			leaf, file := tc.tamper(t, mm)
			found := mm.checkUntil(t, tc.checks)
			if len(found) == 0 {
				t.Fatalf("no damage found in %d checks", tc.checks)
			}
			d := found[0]
			if d.File != file || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("damage %v; want file %s, reason containing %q", d, file, tc.reason)
			}
			if d.EndLeaf > d.FirstLeaf && (leaf < d.FirstLeaf || leaf >= d.EndLeaf) {
				t.Fatalf("damage %v does not name leaf %d", d, leaf)
			}
			// Reported once.
			if again := mm.m.Check(context.Background()); len(again) != 0 && again[0] == d {
				t.Fatalf("damage reported twice: %v", again)
			}
		})
	}
}

// newSealedBlock appends records until the active segment is sealed and
// returns the first block appended, which the monitor has not read yet and
// which lies in the segment just sealed.
func newSealedBlock(tb testing.TB, mm *monitored) blockInfo {
	tb.Helper()
	first := mm.l.Size()
	for i := 0; len(segmentPaths(tb, mm.dir)) == len(mm.segs); i++ {
		appendRecs(tb, mm.l, smallRecords(2000+10*i, 10))
	}
	b := blockOf(tb, mm.dir, first)
	if b.seg != mm.segs[len(mm.segs)-1] {
		tb.Fatalf("the first block appended (leaf %d) opened a segment", first)
	}
	return b
}

// TestMonitorChecksNewBlocksByDigest: blocks appended by this process are
// checked by their digest, not by re-hashing their records; blocks the
// process did not write (a ledger reopened) are re-hashed, and an intact
// ledger reports nothing either way.
func TestMonitorChecksNewBlocksByDigest(t *testing.T) {
	mm := newMonitored(t, MonitorOptions{})
	before := mm.m.byDigest
	for i := range 20 {
		appendRecs(t, mm.l, smallRecords(5000+10*i, 10))
		if d := mm.m.Check(context.Background()); len(d) != 0 {
			t.Fatalf("intact ledger: %v", d)
		}
	}
	if got := mm.m.byDigest - before; got != 20 {
		t.Fatalf("%d of 20 new blocks checked by their digest", got)
	}
	closeLedger(t, mm.l)
	l := openLedger(t, func() Options { o := testOptions(mm.dir); o.SegmentBytes = 4 << 10; return o }())
	m := l.NewMonitor(MonitorOptions{Interval: time.Minute})
	if d := m.Check(context.Background()); len(d) != 0 {
		t.Fatalf("reopened intact ledger: %v", d)
	}
	if m.byDigest != 0 {
		t.Fatalf("%d blocks of the previous process checked by a digest", m.byDigest)
	}
}

// TestMonitorQuietWhileAppending runs checks and full passes while records
// are appended, segments rotate and checkpoints are signed: nothing is
// reported, and passes complete.
func TestMonitorQuietWhileAppending(t *testing.T) {
	var passes []PassResult
	mm := newMonitored(t, MonitorOptions{MinPassBytes: 2 << 10, OnPass: func(p PassResult) { passes = append(passes, p) }})
	for i := range 200 {
		appendRecs(t, mm.l, smallRecords(10000+i*7, 7))
		if i%3 == 0 {
			if err := mm.l.signNow(); err != nil {
				t.Fatal(err)
			}
		}
		if d := mm.m.Check(context.Background()); len(d) != 0 {
			t.Fatalf("after append %d: %v", i, d)
		}
	}
	if len(passes) == 0 {
		t.Fatal("no full pass completed")
	}
	for _, p := range passes {
		if !p.OK || p.Leaves == 0 {
			t.Fatalf("pass %+v", p)
		}
	}
}

// TestMonitorFindsChangeWhileStopped: a sealed segment rewritten while the
// monitor was not running is found at its first check, from the saved state.
func TestMonitorFindsChangeWhileStopped(t *testing.T) {
	state := filepath.Join(t.TempDir(), "integrity.json")
	mm := newMonitored(t, MonitorOptions{StateFile: state})
	b := blockOf(t, mm.dir, 5)
	rewriteBlock(t, b, func(r [][]byte) [][]byte { r[5-b.first] = []byte("x"); return r })
	m2 := mm.l.NewMonitor(MonitorOptions{StateFile: state, Interval: time.Minute})
	if err := m2.load(); err != nil {
		t.Fatal(err)
	}
	found := m2.Check(context.Background())
	if len(found) == 0 || found[0].FirstLeaf != 5 || found[0].File != b.seg {
		t.Fatalf("found %v, want leaf 5 in %s", found, b.seg)
	}
}

// TestMonitorPassFindsSilentChange: a change the metadata does not show
// (made before the monitor first looked) is found by the full pass.
func TestMonitorPassFindsSilentChange(t *testing.T) {
	dir, l := segmentedLedger(t, 30)
	b := blockOf(t, dir, 42)
	// Swap two records' order inside the block, keeping the checksum valid.
	rewriteBlock(t, b, func(r [][]byte) [][]byte { r[0], r[1] = r[1], r[0]; return r })
	m := l.NewMonitor(MonitorOptions{Interval: time.Minute, MinPassBytes: 1 << 10})
	var found []Damage
	for range 500 {
		if found = m.Check(context.Background()); len(found) > 0 {
			break
		}
	}
	if len(found) == 0 {
		t.Fatal("the full pass did not find the reordered records")
	}
	if d := found[0]; d.FirstLeaf > b.first || d.EndLeaf <= b.first {
		t.Fatalf("damage %v does not cover leaf %d", d, b.first)
	}
}

func TestDamageError(t *testing.T) {
	d := Damage{File: "s.seg", Offset: 16, FirstLeaf: 3, EndLeaf: 5, Reason: "bad"}
	if got, want := d.Error(), "leaves 3..4 (s.seg offset 16): bad"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

// TestMonitorConcurrentAppends runs the monitor in its own goroutine while
// appends rotate segments and checkpoints are signed every few
// milliseconds: it never reports damage.
func TestMonitorConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.SegmentBytes = 8 << 10
	opts.CheckpointInterval = 3 * time.Millisecond
	l := openLedger(t, opts)
	damage := monitorWhile(t, l, 4<<10, func() {
		for i := range 300 {
			appendRecs(t, l, smallRecords(i*5, 5))
		}
	})
	if len(damage) != 0 {
		t.Fatalf("damage reported on an intact, growing ledger: %v", damage)
	}
}

// TestCheckpointFailureReported: a periodic signing that fails is
// reported, and so is the first success after it.
func TestCheckpointFailureReported(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.CheckpointInterval = 5 * time.Millisecond
	got := make(chan error, 100)
	opts.OnCheckpointFailure = func(err error) {
		select {
		case got <- err:
		default:
		}
	}
	l := openLedger(t, opts)
	// A directory where the checkpoint file goes: publishing it fails,
	// even for root.
	cp := filepath.Join(dir, fileCheckpoint)
	if err := os.Remove(cp); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cp, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendRecs(t, l, smallRecords(0, 3))
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("success reported before any failure")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("failed signing not reported")
	}
	if err := os.RemoveAll(cp); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-got:
			if err == nil {
				return
			}
		case <-deadline:
			t.Fatal("recovery not reported")
		}
	}
}

// monitorWhile runs a monitor of l (checking every millisecond, at least
// minPassBytes of the full pass each time) in its own goroutine while work
// runs, stops it 20 ms after, and returns the damage it reported.
func monitorWhile(t *testing.T, l *Ledger, minPassBytes int64, work func()) []Damage {
	t.Helper()
	var mu sync.Mutex
	var damage []Damage
	m := l.NewMonitor(MonitorOptions{Interval: time.Millisecond, MinPassBytes: minPassBytes,
		OnDamage: func(d Damage) { mu.Lock(); damage = append(damage, d); mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	work()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return damage
}
