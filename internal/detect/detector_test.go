package detect

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/event/eventtest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// secretReads raises an alert for every "get secrets" record.
type secretReads struct{}

func (secretReads) Eval(e *Event, emit func(alert.Alert)) {
	if e.Rec.Action == "get secrets" {
		emit(alert.Alert{Rule: "test.secret-read", Kind: "match", Severity: alert.High, PCI: []string{"10.2.1.1"},
			Time: e.Rec.Time, Seqs: []uint64{e.Seq}, Key: e.Rec.User, Summary: e.Rec.User + " read a secret"})
	}
}

// sink records deliveries; fail makes the next n deliveries fail.
type sink struct {
	mu   sync.Mutex
	got  []Raised
	fail int
}

func (s *sink) deliver(_ context.Context, rs []Raised) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("outbox unavailable")
	}
	s.got = append(s.got, rs...)
	return nil
}

func (s *sink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

func appendRecords(tb testing.TB, l *ledger.Ledger, actions ...string) {
	tb.Helper()
	var recs [][]byte
	for i, a := range actions {
		r := event.Record{Time: time.Unix(int64(1000+i), 0), Received: time.Unix(2000, 0), Source: "c1", Table: event.TableKubeAudit,
			User: "alice", Action: a, Outcome: event.Success, Raw: []byte(`{}`)}
		b, err := r.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, b)
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		tb.Fatal(err)
	}
}

// run runs a detector until it has delivered want alerts in total (or
// fails), then stops it and returns Run's error.
func run(tb testing.TB, d *Detector, s *sink, want int) error {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for s.count() < want {
		select {
		case err := <-done:
			cancel()
			return err
		case <-deadline:
			cancel()
			tb.Fatalf("%d alerts delivered after 10s, want %d", s.count(), want)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	return <-done
}

func alertsInLedger(tb testing.TB, l *ledger.Ledger) int {
	return len(storedIn(tb, l, event.TableSecurityAlert))
}

// storedIn returns the ledger's records of one table.
func storedIn(tb testing.TB, l *ledger.Ledger, table string) []event.Record {
	tb.Helper()
	var out []event.Record
	for _, r := range eventtest.Stored(tb, l, 0) {
		if r.Table == table {
			out = append(out, r)
		}
	}
	return out
}

// A restart neither loses nor repeats alerts; an alert appended but not
// handed to delivery before a failure is delivered after the restart.
func TestDetectorRestart(t *testing.T) {
	rt := newRestartable(t, func() []Evaluator { return []Evaluator{secretReads{}} })
	l, s, newDetector := rt.l, rt.s, rt.detector
	d := newDetector()
	appendRecords(t, l, "get secrets", "list pods", "get secrets")
	if err := run(t, d, s, 2); err != nil {
		t.Fatal(err)
	}
	if n := alertsInLedger(t, l); n != 2 {
		t.Fatalf("%d alerts in the ledger, want 2", n)
	}

	// Restart with nothing new: no repeat.
	d = newDetector()
	appendRecords(t, l, "get secrets")
	if err := run(t, d, s, 3); err != nil {
		t.Fatal(err)
	}
	// Delivery fails once: Run stops with the alert in the ledger but not
	// delivered, as after a crash.
	s.fail = 1
	appendRecords(t, l, "get secrets")
	d = newDetector()
	if err := run(t, d, s, 4); err == nil {
		t.Fatal("Run went on after a failed delivery")
	}
	if s.count() != 3 || alertsInLedger(t, l) != 4 {
		t.Fatalf("after the failure: %d delivered, %d in the ledger; want 3 and 4", s.count(), alertsInLedger(t, l))
	}
	d = newDetector()
	if err := run(t, d, s, 4); err != nil {
		t.Fatal(err)
	}
	if alertsInLedger(t, l) != 4 {
		t.Errorf("%d alerts in the ledger after recovery, want 4 (no repeat)", alertsInLedger(t, l))
	}
	seen := map[uint64]bool{}
	for _, r := range s.got {
		if seen[r.Seq] {
			t.Errorf("alert %d delivered twice", r.Seq)
		}
		seen[r.Seq] = true
	}
}

// everyThird raises an alert on every third "get secrets": state that
// must survive restarts exactly.
type everyThird struct{ n int }

func (c *everyThird) Eval(e *Event, emit func(alert.Alert)) {
	if e.Rec.Action != "get secrets" {
		return
	}
	if c.n++; c.n%3 == 0 {
		emit(alert.Alert{Rule: "test.third", Seqs: []uint64{e.Seq}})
	}
}
func (c *everyThird) StateName() string             { return "third" }
func (c *everyThird) MarshalState() ([]byte, error) { return json.Marshal(c.n) }
func (c *everyThird) UnmarshalState(b []byte) error { return json.Unmarshal(b, &c.n) }

// Stateful rules keep their count across restarts, including one after an
// alert was recorded but its state not yet saved.
func TestDetectorStateful(t *testing.T) {
	rt := newRestartable(t, func() []Evaluator { return []Evaluator{&everyThird{}} })
	l, s, newDetector := rt.l, rt.s, rt.detector
	appendRecords(t, l, "get secrets", "get secrets")
	if err := run(t, newDetector(), s, 0); err != nil { // evaluates nothing or both; no alert yet
		t.Fatal(err)
	}
	appendRecords(t, l, "get secrets", "get secrets") // the 3rd raises an alert; delivery fails
	s.fail = 1
	if err := run(t, newDetector(), s, 1); err == nil {
		t.Fatal("Run went on after a failed delivery")
	}
	appendRecords(t, l, "get secrets", "get secrets") // 5th, 6th: the 6th raises the second alert
	if err := run(t, newDetector(), s, 2); err != nil {
		t.Fatal(err)
	}
	if n := alertsInLedger(t, l); n != 2 || s.count() != 2 {
		t.Errorf("%d alerts in the ledger, %d delivered; want 2 and 2", n, s.count())
	}
}

// restartable is a ledger, a delivery sink and a state file, and makes
// detectors over them with the rules of rules: each new one is the
// detector after a restart.
type restartable struct {
	l     *ledger.Ledger
	s     *sink
	state string
	rules func() []Evaluator
}

func newRestartable(tb testing.TB, rules func() []Evaluator) *restartable {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test.cdewatch/detect"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return &restartable{l: l, s: &sink{}, state: filepath.Join(tb.TempDir(), "detect.json"), rules: rules}
}

func (r *restartable) detector() *Detector {
	return &Detector{Ledger: r.l, Rules: r.rules(), Deliver: r.s.deliver, StateFile: r.state,
		PollInterval: time.Millisecond, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// The state file follows the cursor at most every SaveInterval while
// records arrive (a save marshals every rule's state and fsyncs it), and
// is written when Run returns.
func TestDetectorSaveInterval(t *testing.T) {
	savedNext := func(tb testing.TB, path string) uint64 {
		tb.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var st state
		if err := json.Unmarshal(b, &st); err != nil {
			tb.Fatal(err)
		}
		return st.Next
	}
	for _, c := range []struct {
		interval   time.Duration
		movesInRun bool
	}{
		{time.Hour, false},
		{time.Millisecond, true},
	} {
		rt := newRestartable(t, func() []Evaluator { return []Evaluator{secretReads{}} })
		d := rt.detector()
		d.SaveInterval = c.interval
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		for i := range 3 { // three batches, each evaluated (its alert delivered) before the next
			appendRecords(t, rt.l, "get secrets")
			deadline := time.Now().Add(10 * time.Second)
			for rt.s.count() < i+1 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		}
		time.Sleep(20 * time.Millisecond) // a few polls with nothing new
		size := rt.l.Size()
		during := savedNext(t, rt.state)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		after := savedNext(t, rt.state)
		if moved := during == size; moved != c.movesInRun {
			t.Errorf("SaveInterval %v: the state file's cursor was %d of %d while running, want it saved %v", c.interval, during, size, c.movesInRun)
		}
		if after != size {
			t.Errorf("SaveInterval %v: the state file's cursor is %d after Run returned, want %d", c.interval, after, size)
		}
	}
}
