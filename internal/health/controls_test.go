package health

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// A jump of cdewatch's wall clock against its monotonic clock, either way,
// is a failure recorded with its size; time passing normally is not.
func TestClockJump(t *testing.T) {
	for _, tc := range []struct {
		name string
		jump time.Duration
		want bool
	}{
		{"steady", 0, false},
		{"slew within bound", 900 * time.Millisecond, false},
		{"forward", 10 * time.Second, true},
		{"backward", -5 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.tick()
			h.clk.advance(5 * time.Second)
			h.tick()
			h.clk.advance(5 * time.Second)
			h.clk.jump(tc.jump)
			got := h.tick()
			h.clk.advance(5 * time.Second)
			got = append(got, h.tick()...)
			recs := failureRecords(h.log.records(), ControlClockJump)
			if !tc.want {
				if len(got)+len(recs) != 0 {
					t.Fatalf("alerts %v, records %v; want none", rules(got), recs)
				}
				return
			}
			if len(got) != 1 || got[0].Rule != RuleClockJump || got[0].Fields["jump"] != tc.jump.String() {
				t.Fatalf("alerts %+v, want one clock jump of %s", got, tc.jump)
			}
			if len(recs) != 2 || recs[0].Details["jump_seconds"] != tc.jump.Seconds() || recs[1].Action != event.ActionHealthFailureEnd {
				t.Fatalf("records %+v, want a start with the jump and an end", recs)
			}
			if c := h.m.Summary().Clock; c.Jumps != 1 || c.LastJumpSeconds != tc.jump.Seconds() {
				t.Errorf("clock %+v", c)
			}
		})
	}
}

// ClockWatcher reads the wall part of times that carry a monotonic
// reading too.
func TestClockWatcherRealClock(t *testing.T) {
	var c ClockWatcher
	start := time.Now()
	c.Check(time.Now(), time.Since(start))
	if j := c.Check(time.Now(), time.Since(start)); j.Abs() > 100*time.Millisecond {
		t.Errorf("jump %v between two readings of the real clocks", j)
	}
}

// fakeStatfs reports a file system of total bytes with avail available:
// a full disk cannot be made here, so the statistics are made up.
func fakeStatfs(total, avail *uint64, fail *error) StatfsFunc {
	return func(_ string, st *syscall.Statfs_t) error {
		if *fail != nil {
			return *fail
		}
		st.Bsize = 4096
		st.Blocks, st.Bavail = *total/4096, *avail/4096
		return nil
	}
}

// The data directory's free space under either bound is a failure; back
// above both, it ends; a failing statfs is a failure too.
func TestDiskSpace(t *testing.T) {
	total, avail := uint64(100<<30), uint64(50<<30)
	var fail error
	h := newHarness(t, Config{Disk: DiskConfig{Path: "/var/lib/cdewatch", MinFreeBytes: 8 << 30, MinFreeRatio: 0.05,
		Statfs: fakeStatfs(&total, &avail, &fail)}})
	for i, s := range []struct {
		avail uint64
		fail  error
		want  []string
	}{
		{50 << 30, nil, nil},
		{10 << 30, nil, nil},
		{4 << 30, nil, []string{RuleDiskSpace}}, // 4 %: below both bounds
		{3 << 30, nil, nil},                     // still failing
		{20 << 30, nil, []string{RuleDiskSpace + ".ended"}},
		{6 << 30, nil, []string{RuleDiskSpace}}, // 6 %, but 6 GiB < 8 GiB
		{20 << 30, nil, []string{RuleDiskSpace + ".ended"}},
		{20 << 30, errors.New("permission denied"), []string{RuleDiskSpace}},
		{20 << 30, nil, []string{RuleDiskSpace + ".ended"}},
	} {
		avail, fail = s.avail, s.fail
		h.clk.advance(5 * time.Second)
		if got := rules(h.tick()); strings.Join(got, ",") != strings.Join(s.want, ",") {
			t.Errorf("step %d (%d bytes available, err %v): alerts %v, want %v", i, s.avail, s.fail, got, s.want)
		}
	}
	recs := failureRecords(h.log.records(), ControlDiskSpace)
	if len(recs) != 6 {
		t.Errorf("%d disk failure records, want 6 (3 starts, 3 ends)", len(recs))
	}
	if d := h.m.Summary().Disk; d == nil || d.Available != 20<<30 || d.Low {
		t.Errorf("disk %+v", d)
	}
}

// The real statfs of a directory here.
func TestCheckDiskReal(t *testing.T) {
	u, err := CheckDisk(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Total == 0 || u.Available > u.Total || u.Ratio <= 0 || u.Ratio > 1 {
		t.Errorf("usage %+v", u)
	}
	if _, err := CheckDisk("/nonexistent/cdewatch", nil); err == nil {
		t.Error("no error for a missing directory")
	}
}

// A consumer beyond its bound, in records or in age, is a failure until it
// is back within; stale reports are not judged.
func TestConsumerLag(t *testing.T) {
	h := newHarness(t, Config{Lag: LagConfig{MaxRecords: 1000, MaxAge: time.Minute,
		PerConsumer: map[string]LagBound{"archive": {MaxAge: time.Hour}}}})
	steps := []struct {
		lag  Lag
		want []string
	}{
		{Lag{Consumer: "index", Behind: 10, Oldest: time.Second}, nil},
		{Lag{Consumer: "index", Behind: 5000, Oldest: time.Second}, []string{RuleConsumerLag}},
		{Lag{Consumer: "index", Behind: 5000, Oldest: 2 * time.Minute}, nil},
		{Lag{Consumer: "index", Behind: 0}, []string{RuleConsumerLag + ".ended"}},
		{Lag{Consumer: "index", Behind: 10, Oldest: 2 * time.Minute}, []string{RuleConsumerLag}},
		{Lag{Consumer: "archive", Behind: 10, Oldest: 30 * time.Minute}, nil}, // its own bound: 1h
	}
	for i, s := range steps {
		h.clk.advance(5 * time.Second)
		h.m.ReportLag(s.lag)
		if got := rules(h.tick()); strings.Join(got, ",") != strings.Join(s.want, ",") {
			t.Errorf("step %d (%+v): alerts %v, want %v", i, s.lag, got, s.want)
		}
	}
	// A report gone stale is not judged (the index's failure stays).
	h.clk.advance(time.Hour)
	if got := h.tick(); len(got) != 0 {
		t.Errorf("alerts %v on stale reports", rules(got))
	}
	if len(h.m.Summary().Open) != 1 {
		t.Errorf("open failures %+v, want the index's", h.m.Summary().Open)
	}
}

// LedgerLag on a real ledger: the records after the cursor and the age of
// the oldest, the detector's own alerts left out.
func TestLedgerLag(t *testing.T) {
	led := openLedger(t)
	appendRecords(t, led, record("a", event.TableKubeAudit, t0), record("a", event.TableKubeAudit, t0.Add(time.Minute)))
	al := record(event.SelfSource, event.TableSecurityAlert, t0.Add(2*time.Minute))
	appendRecords(t, led, al)
	now := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		next   uint64
		skip   []string
		behind uint64
		oldest time.Duration
	}{
		{0, nil, 3, 10 * time.Minute},
		{1, nil, 2, 9 * time.Minute},
		{2, nil, 1, 8 * time.Minute},
		{2, []string{event.TableSecurityAlert}, 0, 0},
		{3, nil, 0, 0},
		{7, nil, 0, 0},
	} {
		l, err := LedgerLag(led, "c", tc.next, now, tc.skip...)
		if err != nil {
			t.Fatal(err)
		}
		if l.Behind != tc.behind || l.Oldest != tc.oldest || l.Consumer != "c" {
			t.Errorf("LedgerLag(next %d, skip %v) = %+v, want %d behind, oldest %s", tc.next, tc.skip, l, tc.behind, tc.oldest)
		}
	}
}

// Many redeliveries, making up much of what a source sends, are a storm;
// it ends when they fall back. Counts come from Config.Ingest.
func TestRedeliveryStorm(t *testing.T) {
	var stored, dup uint64
	h := newHarness(t, Config{Ingest: func() []IngestCount { return []IngestCount{{Source: "aks-a", Stored: stored, Duplicates: dup}} },
		Redelivery: RedeliveryConfig{Window: time.Minute, MinDuplicates: 100, Ratio: 0.5}})
	var got []string
	for i := range 60 { // five minutes, ticks every 5 s
		stored += 100
		switch {
		case i >= 12 && i < 24: // a minute of retries
			dup += 200
		default:
			dup += 1
		}
		h.clk.advance(5 * time.Second)
		got = append(got, rules(h.tick())...)
	}
	if strings.Join(got, ",") != RuleRedelivery+","+RuleRedelivery+".ended" {
		t.Fatalf("alerts %v, want a storm and its end", got)
	}
}

// Controls reported by other components: failing, then working.
func TestReportControl(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit", errors.New("403 Forbidden")); err != nil {
		t.Fatal(err)
	}
	h.clk.advance(time.Minute)
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit", errors.New("403 Forbidden")); err != nil {
		t.Fatal(err)
	}
	if err := h.m.ReportControl(ctx, ControlReview, "daily", errors.New("not signed off by 10:00")); err != nil {
		t.Fatal(err)
	}
	h.clk.advance(9 * time.Minute)
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit", nil); err != nil {
		t.Fatal(err)
	}
	got := h.tick()
	want := []string{RuleControl, RuleControl, RuleControl + ".ended"}
	if strings.Join(rules(got), ",") != strings.Join(want, ",") {
		t.Fatalf("alerts %v, want %v", rules(got), want)
	}
	if got[0].Severity != alert.High || got[1].Severity != alert.Medium || !strings.Contains(got[2].Summary, "10m0s") {
		t.Errorf("alerts %+v", got)
	}
	recs := failureRecords(h.log.records(), ControlArchive)
	if len(recs) != 2 || recs[1].Details["duration_seconds"] != 600.0 || recs[0].Details["cause"] != "403 Forbidden" {
		t.Errorf("records %+v, want a start and an end 600 s later", recs)
	}
	if s := h.m.Summary(); s.Healthy || len(s.Open) != 1 || s.Open[0].Control != ControlReview || len(s.Recent) != 1 {
		t.Errorf("summary open %+v recent %+v", s.Open, s.Recent)
	}
}

// Records that cannot be written stay queued and are written, in order, at
// a later Tick; alerts not raised are given back.
func TestRecordsRetried(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	h.log.fail = true
	if err := h.m.ReportControl(ctx, ControlCheckpoint, "ledger", errors.New("signer unavailable")); err == nil {
		t.Fatal("no error while the ledger refuses records")
	}
	if err := h.m.ReportControl(ctx, ControlCheckpoint, "ledger", nil); err == nil {
		t.Fatal("no error while the ledger refuses records")
	}
	got := h.tick()
	h.m.Requeue(got)
	h.log.fail = false
	if again := h.tick(); len(again) != 2 || len(got) != 2 {
		t.Fatalf("alerts %v then %v, want the same two", rules(got), rules(again))
	}
	recs := h.log.records()
	if len(recs) != 2 || recs[0].Action != event.ActionHealthFailureStart || recs[1].Action != event.ActionHealthFailureEnd {
		t.Fatalf("records %+v, want the start then the end", recs)
	}
}

// Resolve records what a person found and did; ids are checked.
func TestResolve(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	if err := h.m.ReportControl(ctx, ControlVerifier, "ledger", errors.New("root mismatch at 1200")); err != nil {
		t.Fatal(err)
	}
	id := h.m.Failures()[0].ID
	text := "Segment 3 restored from the archive; cause: disk firmware bug; no events lost (verified against the archive)."
	if err := h.m.Resolve(ctx, id, "alice@corp.example", text); err != nil {
		t.Fatal(err)
	}
	f := h.m.Failures()[0]
	if f.Resolution != text || f.ResolvedBy != "alice@corp.example" || !f.ResolvedAt.Equal(t0) {
		t.Errorf("failure %+v", f)
	}
	recs := h.log.records()
	r := recs[len(recs)-1]
	if r.Action != event.ActionHealthFailureResolution || r.User != "alice@corp.example" || r.Details["failure_id"] != id ||
		r.Details["control"] != ControlVerifier || r.Details["resolution"] != text {
		t.Errorf("resolution record %+v", r)
	}
	// An id the monitor no longer remembers is recorded as given.
	if err := h.m.Resolve(ctx, "F0123456789abcdef", "bob", "old failure, reviewed"); err != nil {
		t.Errorf("Resolve of a forgotten id: %v", err)
	}
	for _, tc := range []struct{ id, who, text string }{
		{"F0123", "bob", "x"},
		{"F0123456789ABCDEF", "bob", "x"},
		{id, "", "x"},
		{id, "bob", " "},
		{id, "bob", strings.Repeat("x", 5000)},
	} {
		if err := h.m.Resolve(ctx, tc.id, tc.who, tc.text); err == nil {
			t.Errorf("Resolve(%q, %q, %d bytes) accepted", tc.id, tc.who, len(tc.text))
		}
	}
}

// The failure records are the truth: read back from the ledger (after a
// crash lost the state that knew them), they restore what lasts and what
// ended, and are not recorded again.
func TestFailureRecordsReadBack(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	if err := h.m.ReportControl(ctx, ControlNotifier, "slack", errors.New("HTTP 500")); err != nil {
		t.Fatal(err)
	}
	if err := h.m.ReportControl(ctx, ControlArchive, "s3", errors.New("timeout")); err != nil {
		t.Fatal(err)
	}
	h.clk.advance(time.Minute)
	if err := h.m.ReportControl(ctx, ControlArchive, "s3", nil); err != nil {
		t.Fatal(err)
	}
	id := h.m.Failures()[0].ID
	if err := h.m.Resolve(ctx, id, "alice", "token rotated"); err != nil {
		t.Fatal(err)
	}
	recs := h.log.records()

	fresh := newHarness(t, Config{})
	for _, a := range recs {
		r, err := a.Record(t0)
		if err != nil {
			t.Fatal(err)
		}
		fresh.eval(*r)
	}
	fresh.eval(mustSelf(t, recs[0])) // a record read twice changes nothing
	got := fresh.m.Failures()
	if len(got) != 2 || len(fresh.m.Summary().Open) != 1 || fresh.m.Summary().Open[0].Subject != "slack" {
		t.Fatalf("failures %+v, want the slack one lasting and the s3 one ended", got)
	}
	for _, f := range got {
		if f.ID == id && f.Resolution != "token rotated" {
			t.Errorf("failure %+v: resolution not read back", f)
		}
	}
	if n := len(fresh.log.records()); n != 0 {
		t.Errorf("%d records written by the monitor that read them back", n)
	}
	// The lasting one ends normally.
	if err := fresh.m.ReportControl(ctx, ControlNotifier, "slack", nil); err != nil {
		t.Fatal(err)
	}
	if r := fresh.log.records(); len(r) != 1 || r[0].Details["failure_id"] != recs[0].Details["failure_id"] {
		t.Errorf("records %+v, want the end of %v", r, recs[0].Details["failure_id"])
	}
}

func mustSelf(tb testing.TB, a event.SelfAudit) event.Record {
	tb.Helper()
	r, err := a.Record(t0)
	if err != nil {
		tb.Fatal(err)
	}
	return *r
}

// Run ticks, raises what Tick returns, and keeps what could not be raised
// for the next tick.
func TestRun(t *testing.T) {
	h := newHarness(t, Config{TickInterval: time.Millisecond})
	if err := h.m.ReportControl(context.Background(), ControlArchive, "s3", errors.New("denied")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls [][]alert.Alert
	raise := func(_ context.Context, as []alert.Alert) error {
		calls = append(calls, as)
		if len(calls) == 1 {
			return errors.New("ledger busy")
		}
		cancel()
		return nil
	}
	if err := h.m.Run(ctx, raise); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || len(calls[1]) != 1 || calls[1][0].Rule != RuleControl || calls[0][0].Summary != calls[1][0].Summary {
		t.Fatalf("raise calls %v, want the same alert twice", calls)
	}
}
