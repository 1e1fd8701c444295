package archive

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/promtest"
)

// TestArchiveResume: a restart with the state file uploads only what is
// new; a restart without it (or with a stale one, as after a crash between
// an upload and the save of the cursor) checks what is stored instead of
// uploading it again, and never writes an object twice.
func TestArchiveResume(t *testing.T) {
	store := &countingStore{Store: openDirStore(t)}
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	state := filepath.Join(t.TempDir(), "state.json")
	appendRecords(t, led, 0, 100, 3)
	led = checkpointNow(t, led)
	a := newArchiver(t, led, store, state)
	mustSync(t, a)
	first := store.take()
	if len(first) < 4 || first[0] != nameVerifier {
		t.Fatalf("first pass uploaded %v", first)
	}
	stale, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	staleCursor := a.cursor()

	tests := []struct {
		name  string
		state func() // prepares the state file before the restart
	}{
		{"with state file", func() {}},
		{"stale state file", func() { writeFile(t, state, stale) }},
		{"state file lost", func() { os.Remove(state) }},
		{"state file of another store", func() {
			c := staleCursor
			c.Target = "file:///elsewhere"
			b, _ := c.marshal()
			writeFile(t, state, b)
		}},
	}
	n := 100
	for _, tc := range tests {
		// Not subtests: the ledger, reopened in each case, outlives them.
		before, err := store.List(context.Background(), "")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		appendRecords(t, led, n, 20, 3)
		n += 20
		led = checkpointNow(t, led)
		tc.state()
		a := newArchiver(t, led, store, state)
		mustSync(t, a)
		puts := store.take()
		for _, p := range puts {
			for _, o := range before {
				if o.Name == p {
					t.Fatalf("%s: %s uploaded again", tc.name, p)
				}
			}
		}
		if len(puts) == 0 {
			t.Fatalf("%s: the new records were not archived", tc.name)
		}
		if st := a.Status(); st.LagRecords != 0 || st.ArchivedRecords != led.Size() || st.LagBytes != 0 {
			t.Fatalf("%s: status %+v, ledger size %d", tc.name, st, led.Size())
		}
		// Nothing new: a pass uploads nothing.
		mustSync(t, a)
		if p := store.take(); len(p) != 0 {
			t.Fatalf("%s: idle pass uploaded %v", tc.name, p)
		}
		restoreAndCheck(t, store, led)
	}
}

// TestArchiveActiveSegment: records committed while the segment is still
// being written are archived as incremental chunks of it, and the
// checkpoints archived never cover records the archive lacks.
func TestArchiveActiveSegment(t *testing.T) {
	store := openDirStore(t)
	dir := filepath.Join(t.TempDir(), "ledger")
	led, err := ledger.Open(ledger.Options{Dir: dir, Origin: "test.example/big", CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { led.Close() }()
	a := newArchiver(t, led, store, filepath.Join(t.TempDir(), "state.json"))
	for pass := range 3 {
		appendRecords(t, led, pass*10, 10, 2)
		mustSync(t, a)
		if got := a.Status().ArchivedRecords; got != led.Size() {
			t.Fatalf("pass %d: archived %d of %d records", pass, got, led.Size())
		}
	}
	objs, err := store.List(context.Background(), prefixSegments)
	if err != nil {
		t.Fatal(err)
	}
	if len(led.SegmentFiles()) != 1 || len(objs) != 3 {
		t.Fatalf("%d segments, %d chunks %v; want 1 segment in 3 chunks", len(led.SegmentFiles()), len(objs), objs)
	}
	// The checkpoint covering the last records was not signed yet: only
	// the ledger's first one is archived.
	if got := a.Status().ArchivedCheckpoint; got != 0 {
		t.Fatalf("archived checkpoint size %d, want 0", got)
	}
	if err := led.Close(); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a) // the final checkpoint
	if got := a.Status().ArchivedCheckpoint; got != 30 {
		t.Fatalf("archived checkpoint size %d, want 30", got)
	}
	restoreAndCheck(t, store, led)
}

// TestArchiveIntegrityAlarm: an archived object that differs from the
// ledger's bytes is an alarm naming it, never overwritten.
func TestArchiveIntegrityAlarm(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, root string, led *ledger.Ledger)
		object string
	}{
		{"segment chunk altered", func(t *testing.T, root string, _ *ledger.Ledger) {
			flipByte(t, filepath.Join(root, "segments", "00000000000000000000", "00000000000000000000"), 40)
		}, "segments/00000000000000000000/00000000000000000000"},
		{"checkpoint chunk altered", func(t *testing.T, root string, _ *ledger.Ledger) {
			flipByte(t, filepath.Join(root, "checkpoints", "00000000000000000000"), 10)
		}, "checkpoints/00000000000000000000"},
		{"archive of another ledger", func(t *testing.T, root string, _ *ledger.Ledger) {
			other := openLedger(t, filepath.Join(t.TempDir(), "other"))
			pub := readFile(t, filepath.Join(other.Dir(), ledger.VerifierFile))
			os.Chmod(filepath.Join(root, nameVerifier), 0o644)
			writeFile(t, filepath.Join(root, nameVerifier), pub)
		}, "log.pub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openDirStore(t)
			led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
			appendRecords(t, led, 0, 50, 5)
			led = checkpointNow(t, led)
			state := filepath.Join(t.TempDir(), "state.json")
			mustSync(t, newArchiver(t, led, store, state))
			tc.damage(t, store.root, led)
			os.Remove(state)
			err := newArchiver(t, led, store, state).Sync(context.Background())
			var ie *IntegrityError
			if !errors.As(err, &ie) || !errors.Is(err, ErrIntegrity) || ie.Object != tc.object {
				t.Fatalf("sync over a damaged archive: %v, want an integrity alarm for %s", err, tc.object)
			}
		})
	}
}

// TestArchiveRunReportsFailures: a failing store is reported through
// OnFailure, retried, and its recovery through OnRecovered.
func TestArchiveRunReportsFailures(t *testing.T) {
	root := filepath.Join(t.TempDir(), "archive")
	store, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	// Block the store: a file where the segments directory must go.
	blocker := filepath.Join(root, "segments")
	writeFile(t, blocker, []byte("not a directory"))
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	appendRecords(t, led, 0, 20, 5)
	// The callbacks run on Run's goroutine: the second failure clears the
	// blockage, so the pass after it succeeds.
	var (
		sinces    []time.Time
		whileFail Status
	)
	recovered := make(chan time.Time, 1)
	var a *Archiver
	a, err = New(Options{Ledger: led, Store: store, StateFile: filepath.Join(t.TempDir(), "s.json"), Retention: time.Hour, Interval: time.Hour, Backoff: time.Millisecond,
		OnFailure: func(err error, since time.Time) {
			sinces = append(sinces, since)
			switch len(sinces) {
			case 1:
				whileFail = a.Status()
			case 2:
				os.Remove(blocker)
			}
		},
		OnRecovered: func(since time.Time) { recovered <- since }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	got := <-recovered
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sinces) != 2 || !sinces[0].Equal(sinces[1]) || !got.Equal(sinces[0]) {
		t.Errorf("failures reported since %v, recovery since %v; want two failures and the recovery of one episode", sinces, got)
	}
	if whileFail.FailingSince.IsZero() || whileFail.LastError == "" || whileFail.LagRecords != led.Size() {
		t.Errorf("status while failing: %+v", whileFail)
	}
	if st := a.Status(); !st.FailingSince.IsZero() || st.LagRecords != 0 || st.LastSuccess.IsZero() {
		t.Errorf("status after recovery: %+v", st)
	}
}

// TestRestoreTestSchedule: Run restores once a pass has succeeded, reports
// the result and records its time in the state file.
func TestRestoreTestSchedule(t *testing.T) {
	store := openDirStore(t)
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	appendRecords(t, led, 0, 80, 4)
	led = checkpointNow(t, led)
	results := make(chan RestoreTestResult, 1)
	state := filepath.Join(t.TempDir(), "s.json")
	a, err := New(Options{Ledger: led, Store: store, StateFile: state, Retention: time.Hour, MaxChunkBytes: 512,
		Interval: time.Hour, RestoreTestInterval: time.Hour, RestoreTestDir: t.TempDir(),
		OnRestoreTest: func(_ context.Context, r RestoreTestResult) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	r := <-results
	cancel()
	<-done
	if !r.OK || r.Records != 80 || r.ArchivedRecords != 80 || r.LedgerRecords != 80 || r.CheckpointSize != 80 || r.Root == "" || r.Bytes == 0 {
		t.Fatalf("restore test: %+v", r)
	}
	c, err := parseCursor(readFile(t, state))
	if err != nil || !c.LastRestoreTest.Equal(r.Time) {
		t.Fatalf("state file restore test time %v (%v), want %v", c.LastRestoreTest, err, r.Time)
	}
	if st := a.Status(); st.LastRestoreTest == nil || !st.LastRestoreTest.OK {
		t.Errorf("status does not show the restore test: %+v", st)
	}
}

// TestRestoreTestFindsDamage: the restore test fails, saying why, when the
// archive lost or changed objects, even when what is left is consistent.
func TestRestoreTestFindsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, s *DirStore, older, newer []ObjectInfo)
		want   string
	}{
		{"newest objects removed", func(t *testing.T, s *DirStore, _, newer []ObjectInfo) {
			for _, o := range newer {
				removeObject(t, s, o.Name)
			}
		}, "objects holding records 80..119 are missing"},
		{"newest segment chunk removed", func(t *testing.T, s *DirStore, _, newer []ObjectInfo) {
			var last string
			for _, o := range newer {
				if strings.HasPrefix(o.Name, prefixSegments) {
					last = o.Name
				}
			}
			removeObject(t, s, last)
		}, "are missing"},
		{"segment chunk altered", func(t *testing.T, s *DirStore, older, _ []ObjectInfo) {
			flipByte(t, filepath.Join(s.root, filepath.FromSlash(older[len(older)-1].Name)), 30)
		}, "archive object segments/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openDirStore(t)
			led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
			appendRecords(t, led, 0, 80, 4)
			led = checkpointNow(t, led)
			a := newArchiver(t, led, store, filepath.Join(t.TempDir(), "s.json"))
			a.opts.RestoreTestDir = t.TempDir()
			mustSync(t, a)
			older, _ := store.List(context.Background(), "")
			appendRecords(t, led, 80, 40, 4)
			led = checkpointNow(t, led)
			a = newArchiver(t, led, store, a.opts.StateFile)
			a.opts.RestoreTestDir = t.TempDir()
			mustSync(t, a)
			all, _ := store.List(context.Background(), "")
			var newer []ObjectInfo
			for _, o := range all {
				if !containsObject(older, o.Name) {
					newer = append(newer, o)
				}
			}
			tc.damage(t, store, older, newer)
			r := a.RestoreTest(context.Background())
			if r.OK || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("restore test: OK %v, error %q; want %q", r.OK, r.Error, tc.want)
			}
		})
	}
}

func containsObject(objs []ObjectInfo, name string) bool {
	for _, o := range objs {
		if o.Name == name {
			return true
		}
	}
	return false
}

func removeObject(tb testing.TB, s *DirStore, name string) {
	tb.Helper()
	if err := os.Remove(filepath.Join(s.root, filepath.FromSlash(name))); err != nil {
		tb.Fatal(err)
	}
}

// restoreAndCheck restores store into a new directory and checks it holds
// the ledger's records and last checkpoint.
func restoreAndCheck(tb testing.TB, store Store, led *ledger.Ledger) *RestoreResult {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "restored")
	res, err := Restore(context.Background(), store, RestoreOptions{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	cp := led.LatestCheckpoint()
	if res.Records != led.Size() || res.Anchor.Size != cp.Size || !bytes.Equal(res.Anchor.Root, cp.Root) || !res.KeyFromArchive {
		tb.Fatalf("restored %d records, anchor %d; ledger has %d, checkpoint %d", res.Records, res.Anchor.Size, led.Size(), cp.Size)
	}
	return res
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// flipByte changes one byte of a (read-only) archived file.
func flipByte(tb testing.TB, path string, off int) {
	tb.Helper()
	b := readFile(tb, path)
	if off >= len(b) {
		tb.Fatalf("%s has %d bytes, cannot change byte %d", path, len(b), off)
	}
	b[off] ^= 0x20
	if err := os.Chmod(path, 0o644); err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, path, b)
}

// TestArchiveMetrics: the lag and progress are exported for Prometheus.
func TestArchiveMetrics(t *testing.T) {
	store := openDirStore(t)
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	appendRecords(t, led, 0, 30, 3)
	a := newArchiver(t, led, store, filepath.Join(t.TempDir(), "s.json"))
	gather := func() map[string]float64 { return promtest.Gauges(t, a.Collector()) }
	before := gather()
	if before["cdewatch_archive_lag_records"] != 30 || before["cdewatch_archive_lag_bytes"] <= 0 || before["cdewatch_archive_archived_records"] != 0 {
		t.Fatalf("before archiving: %v", before)
	}
	mustSync(t, a)
	a.succeeded()
	after := gather()
	if after["cdewatch_archive_lag_records"] != 0 || after["cdewatch_archive_lag_bytes"] != 0 || after["cdewatch_archive_archived_records"] != 30 ||
		after["cdewatch_archive_last_success_timestamp_seconds"] == 0 || after["cdewatch_archive_failing"] != 0 || len(after) != 8 {
		t.Fatalf("after archiving: %v", after)
	}
}

// TestArchiveRefusesDamagedLedger: a committed block that fails its
// checksum locally is reported, never copied into the archive.
func TestArchiveRefusesDamagedLedger(t *testing.T) {
	store := &countingStore{Store: openDirStore(t)}
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	appendRecords(t, led, 0, 10, 5)
	a := newArchiver(t, led, store, filepath.Join(t.TempDir(), "s.json"))
	mustSync(t, a)
	store.take()
	appendRecords(t, led, 10, 5, 5)
	segs := led.SegmentFiles()
	last := segs[len(segs)-1].Path
	b := readFile(t, last)
	b[len(b)-3] ^= 0xff // inside the newest block, not archived yet
	writeFile(t, last, b)
	err := a.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "committed block is damaged") || !strings.Contains(err.Error(), "cdewatch verify") {
		t.Fatalf("sync of a damaged ledger: %v", err)
	}
	if p := store.take(); len(p) != 0 {
		t.Fatalf("uploaded %v from a damaged ledger", p)
	}
	if st := a.Status(); st.ArchivedRecords != 10 || st.LagRecords != 5 {
		t.Fatalf("status %+v", st)
	}
}
