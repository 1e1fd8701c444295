package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// lastSegment returns the path of the newest segment in dir.
func lastSegment(tb testing.TB, dir string) string {
	tb.Helper()
	segs, err := listSegments(filepath.Join(dir, dirSegments))
	if err != nil || len(segs) == 0 {
		tb.Fatalf("segments: %v, %v", segs, err)
	}
	return filepath.Join(dir, dirSegments, segName(segs[len(segs)-1].first))
}

// fillDown enqueues batches with a notifier that is down, so that no
// cursor moves, and closes the outbox.
func fillDown(tb testing.TB, dir string, batches ...[]alert.Alert) {
	tb.Helper()
	down := newFake("hook", func(int, []alert.Alert) error { return errors.New("down") })
	o, err := Open(dir, testOptions(tb, Target{Notifier: down}))
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range batches {
		if err := o.Enqueue(b); err != nil {
			tb.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		tb.Fatal(err)
	}
}

func appendFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}

// flipByte flips one bit of the byte at off (negative: from the end).
func flipByte(tb testing.TB, path string, off int64) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestTornTail: whatever a crash left after the last acknowledged entry is
// detected, truncated (and saved under damaged/), and never delivered;
// the outbox then continues from the right id.
func TestTornTail(t *testing.T) {
	next := appendEntry(nil, 11, 11, 1, []byte(`{"rule":"torn","severity":"high"}`))
	tests := []struct {
		name   string
		damage func(tb testing.TB, path string)
	}{
		{"half an entry", func(tb testing.TB, p string) { appendFile(tb, p, next[:len(next)/2]) }},
		{"only a length", func(tb testing.TB, p string) { appendFile(tb, p, next[:3]) }},
		{"whole entry, bad checksum", func(tb testing.TB, p string) {
			bad := append([]byte(nil), next...)
			bad[len(bad)-3] ^= 1
			appendFile(tb, p, bad)
		}},
		{"zeros (a file extended, data not written)", func(tb testing.TB, p string) { appendFile(tb, p, make([]byte, 4096)) }},
		{"garbage", func(tb testing.TB, p string) { appendFile(tb, p, []byte(strings.Repeat("\xff garbage ", 50))) }},
		{"entry with the wrong id", func(tb testing.TB, p string) {
			appendFile(tb, p, appendEntry(nil, 12, 12, 1, []byte(`{"rule":"torn"}`)))
		}},
		{"last acknowledged entry damaged, nothing after: indistinguishable from a torn write", func(tb testing.TB, p string) { flipByte(tb, p, -2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			want := mkAlerts("r", 0, 10)
			fillDown(t, dir, want)
			path := lastSegment(t, dir)
			before, _ := os.Stat(path)
			tt.damage(t, path)
			f := newFake("hook", nil)
			o := openT(t, dir, testOptions(t, Target{Notifier: f}))
			if o.Recovery.TruncatedBytes == 0 {
				t.Fatalf("recovery %+v: nothing truncated", o.Recovery)
			}
			after, _ := os.Stat(path)
			if strings.HasPrefix(tt.name, "last acknowledged") {
				want = want[:9]
			} else if after.Size() != before.Size() {
				t.Errorf("truncated to %d bytes, want %d", after.Size(), before.Size())
			}
			if des, _ := os.ReadDir(filepath.Join(dir, dirDamaged)); len(des) != 1 {
				t.Errorf("damaged/ holds %d files, want the removed bytes", len(des))
			}
			more := mkAlerts("r", 100, 2)
			if err := o.Enqueue(more); err != nil {
				t.Fatal(err)
			}
			drain(t, o)
			got := f.received()
			for _, a := range got {
				if a.Rule != "r" {
					t.Errorf("delivered garbage: %+v", a)
				}
			}
			if err := sameIDs(got, append(want, more...)); err != nil {
				t.Error(err)
			}
			o.Close()
			r, err := scanSegment(path, 1)
			if err != nil || r.damage != nil || r.next != uint64(len(want)+3) {
				t.Errorf("segment after recovery: %+v, %v", r, err)
			}
		})
	}
}

// TestDamageToAcknowledgedData: damage that cannot be a torn write makes
// Open refuse and change nothing.
func TestDamageToAcknowledgedData(t *testing.T) {
	tests := []struct {
		name string
		// prepare fills dir and damages it.
		prepare func(tb testing.TB, dir string)
		want    string
	}{
		{"damaged entry followed by a later commit", func(tb testing.TB, dir string) {
			fillDown(tb, dir, mkAlerts("r", 0, 10), mkAlerts("r", 10, 5))
			p := lastSegment(tb, dir)
			flipByte(tb, p, segHeaderLen+int64(entryHeaderLen)+5) // payload of entry 1
		}, "a later commit follows: true"},
		{"damaged entry below a delivered cursor", func(tb testing.TB, dir string) {
			f := newFake("hook", nil)
			o, err := Open(dir, testOptions(tb, Target{Notifier: f}))
			if err != nil {
				tb.Fatal(err)
			}
			o.Enqueue(mkAlerts("r", 0, 10))
			drain(tb, o)
			o.Close()
			flipByte(tb, lastSegment(tb, dir), -2)
		}, "delivered up to 11"},
		{"damage in an older segment", func(tb testing.TB, dir string) {
			down := newFake("hook", func(int, []alert.Alert) error { return errors.New("down") })
			opts := testOptions(tb, Target{Notifier: down})
			opts.SegmentBytes = 1024
			o, err := Open(dir, opts)
			if err != nil {
				tb.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				o.Enqueue(mkAlerts("r", i, 1))
			}
			o.Close()
			flipByte(tb, filepath.Join(dir, dirSegments, segName(1)), -2)
		}, "segment"},
		{"a cursor beyond the end", func(tb testing.TB, dir string) {
			fillDown(tb, dir, mkAlerts("r", 0, 3))
			writeCursor(cursorPath(dir, "hook"), cursorFile{Notifier: "hook", Next: 99})
		}, "entries were removed"},
		{"a damaged cursor file", func(tb testing.TB, dir string) {
			fillDown(tb, dir, mkAlerts("r", 0, 3))
			os.WriteFile(cursorPath(dir, "hook"), []byte(`{"version":1,"next":`), 0o600)
		}, "cursor"},
		{"segments removed", func(tb testing.TB, dir string) {
			fillDown(tb, dir, mkAlerts("r", 0, 3))
			writeCursor(cursorPath(dir, "hook"), cursorFile{Notifier: "hook", Next: 4})
			os.RemoveAll(filepath.Join(dir, dirSegments))
		}, "no segments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			snapshot := func() map[string]int64 {
				m := map[string]int64{}
				filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() && fi.Name() != fileLock {
						m[p] = fi.Size()
					}
					return nil
				})
				return m
			}
			before := snapshot()
			_, err := Open(dir, testOptions(t, Target{Notifier: newFake("hook", nil)}))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %q", err, tt.want)
			}
			after := snapshot()
			for p, n := range before {
				if after[p] != n {
					t.Errorf("%s changed from %d to %d bytes", p, n, after[p])
				}
			}
		})
	}
}

// TestHeaderlessLastSegment: a crash while creating a segment leaves it
// shorter than its header; it holds nothing and is rewritten.
func TestHeaderlessLastSegment(t *testing.T) {
	dir := t.TempDir()
	want := mkAlerts("r", 0, 4)
	fillDown(t, dir, want)
	os.WriteFile(filepath.Join(dir, dirSegments, segName(5)), []byte("CDW"), 0o600)
	f := newFake("hook", nil)
	o := openT(t, dir, testOptions(t, Target{Notifier: f}))
	more := mkAlerts("r", 4, 1)
	if err := o.Enqueue(more); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if err := sameIDs(f.received(), append(want, more...)); err != nil {
		t.Error(err)
	}
}

// TestFailedLogTornTail: a torn record at the end of failed.log is
// removed at open; the records before it stay readable.
func TestFailedLogTornTail(t *testing.T) {
	dir := t.TempDir()
	f := newFake("hook", func(int, []alert.Alert) error { return errorsPermanent("rejected") })
	o := openT(t, dir, testOptions(t, Target{Notifier: f}))
	o.Enqueue(mkAlerts("r", 0, 2))
	waitFor(t, "2 failed", func() bool { fs, _ := o.Failed(); return len(fs) == 2 })
	o.Close()
	appendFile(t, filepath.Join(dir, fileFailed), []byte{0, 0, 1, 0, 9, 9})
	o = openT(t, dir, testOptions(t, Target{Notifier: f}))
	if o.Recovery.FailedLogTruncated != 6 {
		t.Errorf("recovery %+v", o.Recovery)
	}
	if fs, err := o.Failed(); err != nil || len(fs) != 2 {
		t.Errorf("failed %d, %v", len(fs), err)
	}
}
