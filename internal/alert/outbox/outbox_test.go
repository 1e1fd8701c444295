package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
)

func TestEnqueueDeliver(t *testing.T) {
	a, b := newFake("a", nil), newFake("b", nil)
	o := openT(t, t.TempDir(), testOptions(t, Target{Notifier: a}, Target{Notifier: b}))
	if !o.Recovery.Created {
		t.Error("Recovery.Created not set for a new directory")
	}
	var want []alert.Alert
	for i := 0; i < 20; i++ {
		batch := mkAlerts("r", i*10, 10)
		if err := o.Enqueue(batch); err != nil {
			t.Fatal(err)
		}
		want = append(want, batch...)
	}
	drain(t, o)
	for _, f := range []*fakeNotifier{a, b} {
		got := f.received()
		if err := sameIDs(got, want); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
		for i := range got { // one worker per notifier: order is kept
			if got[i].Summary != want[i].Summary {
				t.Fatalf("%s: alert %d is %q, want %q", f.name, i, got[i].Summary, want[i].Summary)
			}
		}
	}
	for _, h := range o.Health() {
		if h.Backlog != 0 || h.Delivered != uint64(len(want)) || h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() {
			t.Errorf("health %+v", h)
		}
	}
}

// TestRestartResumes: one notifier is down, the other up; after a
// restart with the first one up, it gets everything and the second gets
// nothing twice.
func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	down := newFake("down", func(int, []alert.Alert) error { return errors.New("connection refused") })
	up := newFake("up", nil)
	o := openT(t, dir, testOptions(t, Target{Notifier: down}, Target{Notifier: up}))
	want := mkAlerts("r", 0, 50)
	if err := o.Enqueue(want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the up notifier", func() bool { return len(up.received()) == len(want) })
	waitFor(t, "a failed attempt", func() bool { return len(down.callLog()) > 0 })
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	down2, up2 := newFake("down", nil), newFake("up", nil)
	o2 := openT(t, dir, testOptions(t, Target{Notifier: down2}, Target{Notifier: up2}))
	if o2.Recovery.Created || o2.Recovery.TruncatedBytes != 0 {
		t.Errorf("recovery %+v", o2.Recovery)
	}
	drain(t, o2)
	if err := sameIDs(down2.received(), want); err != nil {
		t.Errorf("resumed notifier: %v", err)
	}
	if n := len(up2.received()); n != 0 {
		t.Errorf("the notifier that had delivered got %d alerts again", n)
	}
	if err := sameIDs(up.received(), want); err != nil {
		t.Error(err)
	}
}

// TestReceiverDownThenUp: the receiver fails for a while; delivery backs
// off exponentially, OnFailing fires, then everything arrives and
// OnRecovered fires.
func TestReceiverDownThenUp(t *testing.T) {
	var up atomic.Bool
	f := newFake("hook", func(n int, _ []alert.Alert) error {
		if !up.Load() {
			return fmt.Errorf("attempt %d: 503 Service Unavailable", n)
		}
		return nil
	})
	var mu sync.Mutex
	var failing, recovered []string
	opts := testOptions(t, Target{Notifier: f})
	opts.Backoff = Backoff{Initial: 4 * time.Millisecond, Max: 128 * time.Millisecond, Multiplier: 2, Jitter: 0.01}
	opts.FailingAfter = 50 * time.Millisecond
	opts.OnFailing = func(name string, since time.Time, err error) {
		mu.Lock()
		failing = append(failing, fmt.Sprintf("%s since %v: %v", name, !since.IsZero(), err))
		mu.Unlock()
	}
	opts.OnRecovered = func(name string, since time.Time) {
		mu.Lock()
		recovered = append(recovered, name)
		mu.Unlock()
	}
	o := openT(t, t.TempDir(), opts)
	want := mkAlerts("r", 0, 30)
	if err := o.Enqueue(want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "8 failed attempts", func() bool { return len(f.callLog()) >= 8 })
	h := o.Health()[0]
	if h.ConsecutiveFailures < 8 || h.FailingSince.IsZero() || !strings.Contains(h.LastError, "503") || h.Backlog != 30 || h.NextAttempt.IsZero() {
		t.Errorf("health while down: %+v", h)
	}
	mu.Lock()
	if len(failing) != 1 || !strings.HasPrefix(failing[0], "hook since true: attempt") {
		t.Errorf("OnFailing calls: %q", failing)
	}
	mu.Unlock()
	up.Store(true)
	drain(t, o)
	if err := sameIDs(f.received(), want); err != nil {
		t.Fatal(err)
	}
	// The delays grew exponentially up to Max: at least 4, 8, 16, 32, 64,
	// 128, 128 ms (less 1% jitter); timers fire late, never early, so
	// only the lower bound is checked (a loaded machine stretches them).
	calls := f.callLog()
	for i := 1; i < 8; i++ {
		gap := calls[i].at.Sub(calls[i-1].at)
		want := min(4*time.Millisecond<<(i-1), 128*time.Millisecond)
		if gap < want*98/100 {
			t.Errorf("gap before attempt %d: %v, want at least %v", i+1, gap, want)
		}
	}
	h = o.Health()[0]
	if h.ConsecutiveFailures != 0 || !h.FailingSince.IsZero() || h.Backlog != 0 || h.Delivered != 30 {
		t.Errorf("health after recovery: %+v", h)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recovered) != 1 || len(failing) != 1 {
		t.Errorf("OnFailing %d calls, OnRecovered %d, want 1 each", len(failing), len(recovered))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFake("hook", func(n int, _ []alert.Alert) error {
		if n == 1 {
			return notify.RetryAfter(errors.New("429 Too Many Requests"), 150*time.Millisecond)
		}
		return nil
	})
	opts := testOptions(t, Target{Notifier: f})
	opts.Backoff = Backoff{Initial: time.Millisecond, Max: time.Second}
	o := openT(t, t.TempDir(), opts)
	if err := o.Enqueue(mkAlerts("r", 0, 1)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	calls := f.callLog()
	if len(calls) != 2 || calls[1].at.Sub(calls[0].at) < 150*time.Millisecond {
		t.Errorf("calls %+v: the retry came before Retry-After", calls)
	}
}

// TestPermanentFailure: the receiver rejects one alert; the batch holding
// it is sent again one alert at a time; the rejected one is recorded with
// its error, every other one is delivered once.
func TestPermanentFailure(t *testing.T) {
	f := newFake("hook", func(n int, as []alert.Alert) error {
		for _, a := range as {
			if a.Rule == "poison" {
				return notify.Permanent(errors.New("400 Bad Request: field too long"))
			}
		}
		return nil
	})
	opts := testOptions(t, Target{Notifier: f})
	o := openT(t, t.TempDir(), opts)
	good := mkAlerts("r", 0, 10)
	batch := append(append(append([]alert.Alert(nil), good[:4]...), mkAlert("poison", 99, alert.Critical)), good[4:]...)
	if err := o.Enqueue(batch); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if err := sameIDs(f.received(), good); err != nil {
		t.Fatal(err)
	}
	failed, err := o.Failed()
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 {
		t.Fatalf("%d failed entries, want 1: %+v", len(failed), failed)
	}
	fe := failed[0]
	if fe.Notifier != "hook" || fe.ID != 5 || fe.Reason != "rejected" || !strings.Contains(fe.Error, "field too long") ||
		!strings.Contains(string(fe.Alert), `"rule":"poison"`) || fe.Enqueued.IsZero() || fe.Failed.IsZero() {
		t.Errorf("failed entry %+v", fe)
	}
	if h := o.Health()[0]; h.Failed != 1 || h.Backlog != 0 {
		t.Errorf("health %+v", h)
	}
	// More alerts after it go through: the notifier is not stuck.
	if err := o.Enqueue(mkAlerts("r", 100, 3)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if n := len(f.received()); n != 13 {
		t.Errorf("%d delivered, want 13", n)
	}
}

// TestMaxAge: a receiver that never recovers does not hold alerts
// forever: past MaxAge they are recorded as failed ("expired").
func TestMaxAge(t *testing.T) {
	clock := newClock()
	f := newFake("hook", func(int, []alert.Alert) error { return errors.New("timeout") })
	opts := testOptions(t, Target{Notifier: f})
	opts.Now = clock.Now
	opts.MaxAge = time.Hour
	o := openT(t, t.TempDir(), opts)
	if err := o.Enqueue(mkAlerts("r", 0, 5)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed attempts", func() bool { return len(f.callLog()) >= 2 })
	if failed, _ := o.Failed(); len(failed) != 0 {
		t.Fatalf("expired before MaxAge: %+v", failed)
	}
	clock.Advance(2 * time.Hour)
	if err := o.Enqueue(mkAlerts("r", 10, 2)); err != nil { // young: kept
		t.Fatal(err)
	}
	waitFor(t, "5 expired", func() bool { failed, _ := o.Failed(); return len(failed) == 5 })
	failed, _ := o.Failed()
	for _, fe := range failed {
		if fe.Reason != "expired" || fe.Error != "timeout" {
			t.Errorf("failed entry %+v", fe)
		}
	}
	waitFor(t, "backlog 2", func() bool { return o.Health()[0].Backlog == 2 })
	time.Sleep(30 * time.Millisecond)
	if h := o.Health()[0]; h.Backlog != 2 || h.Failed != 5 {
		t.Errorf("young alerts expired too: %+v", h)
	}
}

func TestRouting(t *testing.T) {
	all := newFake("all", nil)
	high := newFake("high", nil)
	cde := newFake("cde", nil)
	o := openT(t, t.TempDir(), testOptions(t,
		Target{Notifier: all},
		Target{Notifier: high, Route: Route{MinSeverity: alert.High}},
		Target{Notifier: cde, Route: Route{PCI: []string{"chd-access", "10.2.1.5"}, Sources: []string{"aks-prod-*"}, ExcludeRules: []string{"noisy.*"}}},
	))
	mk := func(rule string, sev alert.Severity, src string, pci ...string) alert.Alert {
		a := mkAlert(rule, len(rule)+int(sev)*100+len(src)*1000, sev)
		a.Source, a.PCI = src, pci
		return a
	}
	as := []alert.Alert{
		mk("a", alert.Low, "aks-prod-weu", "10.2.1.1"),        // all, cde
		mk("b", alert.Critical, "aks-dev", "10.2.1.1"),        // all, high
		mk("c", alert.High, "aks-prod-neu", "10.2.1.5"),       // all, high, cde
		mk("noisy.x", alert.High, "aks-prod-weu", "10.2.1.1"), // all, high
		mk("d", alert.Medium, "aks-prod-weu", "10.2.1.4"),     // all
	}
	if err := o.Enqueue(as); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	rules := func(f *fakeNotifier) string {
		var s []string
		for _, a := range f.received() {
			s = append(s, a.Rule)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		f    *fakeNotifier
		want string
	}{{all, "a,b,c,noisy.x,d"}, {high, "b,c,noisy.x"}, {cde, "a,c"}} {
		if got := rules(tt.f); got != tt.want {
			t.Errorf("%s got %s, want %s", tt.f.name, got, tt.want)
		}
	}
	for _, h := range o.Health() {
		if h.Backlog != 0 {
			t.Errorf("filtered alerts left a backlog: %+v", h)
		}
	}
}

func TestRouteMatcher(t *testing.T) {
	a := alert.Alert{Rule: "pci.secret-read", Severity: alert.Medium, PCI: []string{"10.2.1.1", "10.2.1.2"}, Source: "aks-prod-weu"}
	tests := []struct {
		name  string
		route Route
		want  bool
		err   string
	}{
		{"zero route matches", Route{}, true, ""},
		{"severity equal", Route{MinSeverity: alert.Medium}, true, ""},
		{"severity above", Route{MinSeverity: alert.High}, false, ""},
		{"pci exact", Route{PCI: []string{"10.2.1.2"}}, true, ""},
		{"pci prefix", Route{PCI: []string{"10.2"}}, true, ""},
		{"pci prefix is per component", Route{PCI: []string{"10.2.1.1"}}, true, ""},
		{"pci 10.2.1 does not match 10.2.10", Route{PCI: []string{"10.2.1"}}, true, ""},
		{"pci other", Route{PCI: []string{"10.2.1.4", "10.7"}}, false, ""},
		{"pci class name", Route{PCI: []string{"admin-action"}}, true, ""},
		{"pci other class", Route{PCI: []string{"log-access"}}, false, ""},
		{"pci unknown", Route{PCI: []string{"cardholder"}}, false, "neither a requirement"},
		{"source glob", Route{Sources: []string{"aks-prod-*"}}, true, ""},
		{"source glob miss", Route{Sources: []string{"aks-dev-*", "app-*"}}, false, ""},
		{"rules", Route{Rules: []string{"pci.*"}}, true, ""},
		{"rules miss", Route{Rules: []string{"sigma.*"}}, false, ""},
		{"exclude", Route{Rules: []string{"pci.*"}, ExcludeRules: []string{"pci.secret-*"}}, false, ""},
		{"all conditions", Route{MinSeverity: alert.Low, PCI: []string{"chd-access"}, Sources: []string{"aks-*"}, Rules: []string{"pci.*"}}, true, ""},
		{"one condition fails", Route{MinSeverity: alert.Low, PCI: []string{"chd-access"}, Sources: []string{"app-*"}}, false, ""},
		{"bad pattern", Route{Sources: []string{"[x"}}, false, "pattern"},
		{"bad severity", Route{MinSeverity: 9}, false, "min_severity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.route.Matcher()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m(a); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
	m, _ := Route{PCI: []string{"10.2.1"}}.Matcher()
	if m(alert.Alert{PCI: []string{"10.2.10"}}) {
		t.Error("10.2.1 matched 10.2.10")
	}
}

// TestThrottle: at most 2 alerts per key and minute; the 3 others are
// summarized when the window ends, in one alert that counts them, and the
// count survives a restart.
func TestThrottle(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	f := newFake("chat", nil)
	thr := Throttle{Max: 2, Window: time.Minute}
	opts := testOptions(t, Target{Notifier: f, Throttle: thr})
	opts.Now = clock.Now
	o := openT(t, dir, opts)
	burst := mkAlerts("burst", 0, 5)
	burst[4].Severity = alert.Critical
	burst[3].Source = "aks-prod-2"
	other := mkAlert("other", 50, alert.Low)
	if err := o.Enqueue(append(burst[:3:3], other)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	got := f.received()
	if len(got) != 3 || got[0].Summary != burst[0].Summary || got[1].Summary != burst[1].Summary || got[2].Rule != "other" {
		t.Fatalf("received %d: %v", len(got), ids(got))
	}
	if h := o.Health()[0]; h.Suppressed != 1 || h.PendingSuppressed != 1 || h.Backlog != 0 {
		t.Errorf("health %+v", h)
	}
	// Restart within the window: the count is persisted.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	o = openT(t, dir, opts)
	if err := o.Enqueue(burst[3:]); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if n := len(f.received()); n != 3 {
		t.Fatalf("%d received within the window, want 3", n)
	}
	clock.Advance(time.Minute)
	o.workers[0].poke()
	waitFor(t, "the summary", func() bool { return len(f.received()) == 4 })
	s := f.received()[3]
	if s.Kind != "throttled" || s.Rule != "burst" || s.Severity != alert.Critical || s.Fields["suppressed"] != "3" ||
		s.Source != "aks-prod,aks-prod-2" || len(s.Seqs) != 3 || s.Seqs[0] != 2 || s.Seqs[2] != 4 ||
		!strings.HasPrefix(s.Summary, `3 more alerts of "title of burst" suppressed by throttling (at most 2 per 1m0s)`) {
		t.Errorf("summary %+v", s)
	}
	// A new window: alerts flow again.
	if err := o.Enqueue(mkAlerts("burst", 10, 1)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if h := o.Health()[0]; len(f.received()) != 5 || h.PendingSuppressed != 0 {
		t.Errorf("after the window: %d received, health %+v", len(f.received()), h)
	}
}

func TestThrottleSummaryWithNextMessage(t *testing.T) {
	clock := newClock()
	f := newFake("chat", nil)
	opts := testOptions(t, Target{Notifier: f, Throttle: Throttle{Max: 1, Window: time.Minute, By: "rule"}})
	opts.Now = clock.Now
	o := openT(t, t.TempDir(), opts)
	if err := o.Enqueue(mkAlerts("r", 0, 4)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	clock.Advance(2 * time.Minute)
	// The next message carries the summary before the new alert.
	if err := o.Enqueue(mkAlerts("r", 10, 1)); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	waitFor(t, "3 alerts", func() bool { return len(f.received()) == 3 })
	calls := f.callLog()
	got := f.received()
	if got[1].Kind != "throttled" || got[1].Fields["suppressed"] != "3" || got[1].Key != "" || got[2].Summary != "alert 10 of r" {
		t.Errorf("received %+v", got)
	}
	if calls[len(calls)-1].alerts != 2 {
		t.Errorf("summary and new alert in %d messages, want one", len(calls)-1)
	}
}

func TestPushback(t *testing.T) {
	f := newFake("down", func(int, []alert.Alert) error { return errors.New("down") })
	opts := testOptions(t, Target{Notifier: f})
	opts.MaxBytes = 4096
	o := openT(t, t.TempDir(), opts)
	var err error
	n := 0
	for ; n < 100 && err == nil; n++ {
		err = o.Enqueue(mkAlerts("r", n, 1))
	}
	if !errors.Is(err, ErrPushback) || n < 3 {
		t.Fatalf("after %d alerts: %v, want ErrPushback", n, err)
	}
	big := mkAlert("r", 0, alert.High)
	big.Summary = strings.Repeat("x", 2<<20)
	if err := o.Enqueue([]alert.Alert{big}); err == nil || !strings.Contains(err.Error(), "MaxEntryBytes") {
		t.Errorf("oversized alert: %v", err)
	}
}

// TestOnFailingRaisesHealthAlert wires OnFailing as the integrator does:
// a health alert enqueued for the other notifiers.
func TestOnFailingRaisesHealthAlert(t *testing.T) {
	down := newFake("siem", func(int, []alert.Alert) error { return errors.New("connection refused") })
	pager := newFake("pager", nil)
	var o *Outbox
	var ready sync.WaitGroup
	ready.Add(1)
	opts := testOptions(t, Target{Notifier: down, Route: Route{Rules: []string{"pci.*"}}}, Target{Notifier: pager})
	opts.FailingAfter = 20 * time.Millisecond
	opts.OnFailing = func(name string, since time.Time, err error) {
		ready.Wait()
		h := alert.Alert{Rule: "cdewatch.notifier-failing", Kind: "health", Severity: alert.High, PCI: []string{"10.7.2"},
			Source: "cdewatch", Detected: time.Now(), Key: name,
			Summary: fmt.Sprintf("notifier %s failing since %s: %v", name, since.Format(time.RFC3339), err)}
		if err := o.Enqueue([]alert.Alert{h}); err != nil {
			t.Error(err)
		}
	}
	o = openT(t, t.TempDir(), opts)
	ready.Done()
	if err := o.Enqueue([]alert.Alert{mkAlert("pci.x", 1, alert.High)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the health alert", func() bool {
		for _, a := range pager.received() {
			if a.Rule == "cdewatch.notifier-failing" && strings.Contains(a.Summary, "notifier siem failing") {
				return true
			}
		}
		return false
	})
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir, testOptions(t))
	if _, err := Open(dir, testOptions(t)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	a := newFake("a", nil)
	tests := []struct {
		name string
		t    []Target
		want string
	}{
		{"duplicate", []Target{{Notifier: a}, {Notifier: newFake("a", nil)}}, "two notifiers"},
		{"bad name", []Target{{Notifier: newFake("a/b", nil)}}, "notifier name"},
		{"nil", []Target{{}}, "no notifier"},
		{"throttle without window", []Target{{Notifier: a, Throttle: Throttle{Max: 3}}}, "window"},
		{"bad by", []Target{{Notifier: a, Throttle: Throttle{Max: 3, Window: time.Minute, By: "source"}}}, "by"},
		{"bad route", []Target{{Notifier: a, Route: Route{PCI: []string{"x"}}}}, "pci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(t.TempDir(), Options{Targets: tt.t})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestCompaction: segments every notifier is done with are removed;
// those a failing notifier still needs stay.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	var up atomic.Bool
	slow := newFake("slow", func(int, []alert.Alert) error {
		if !up.Load() {
			return errors.New("down")
		}
		return nil
	})
	fast := newFake("fast", nil)
	opts := testOptions(t, Target{Notifier: fast}, Target{Notifier: slow})
	opts.SegmentBytes = 4096
	o := openT(t, dir, opts)
	for i := 0; i < 50; i++ {
		if err := o.Enqueue(mkAlerts("r", i*5, 5)); err != nil {
			t.Fatal(err)
		}
	}
	segCount := func() int {
		des, _ := os.ReadDir(filepath.Join(dir, dirSegments))
		return len(des)
	}
	waitFor(t, "fast delivered", func() bool { return len(fast.received()) == 250 })
	if n := segCount(); n < 10 {
		t.Fatalf("%d segments while a notifier lags, want them kept", n)
	}
	up.Store(true)
	drain(t, o)
	waitFor(t, "compaction", func() bool { return segCount() == 1 })
	// The remaining segment still takes new alerts, and a restart works.
	o.Close()
	f2, s2 := newFake("fast", nil), newFake("slow", nil)
	o2 := openT(t, dir, testOptions(t, Target{Notifier: f2}, Target{Notifier: s2}))
	if err := o2.Enqueue(mkAlerts("r", 1000, 3)); err != nil {
		t.Fatal(err)
	}
	drain(t, o2)
	if len(f2.received()) != 3 || len(s2.received()) != 3 {
		t.Errorf("after compaction and restart: %d, %d", len(f2.received()), len(s2.received()))
	}
}

// TestNewNotifierStartsAtEnd: a notifier added later gets the alerts
// enqueued from then on; one removed leaves its cursor, ignored.
func TestNewNotifierStartsAtEnd(t *testing.T) {
	dir := t.TempDir()
	a := newFake("a", nil)
	o := openT(t, dir, testOptions(t, Target{Notifier: a}))
	o.Enqueue(mkAlerts("r", 0, 5))
	drain(t, o)
	o.Close()
	a2, b := newFake("a", nil), newFake("b", nil)
	o = openT(t, dir, testOptions(t, Target{Notifier: a2}, Target{Notifier: b}))
	o.Enqueue(mkAlerts("r", 5, 2))
	drain(t, o)
	if len(a2.received()) != 2 || len(b.received()) != 2 {
		t.Errorf("a %d b %d, want 2 and 2", len(a2.received()), len(b.received()))
	}
	o.Close()
	b3 := newFake("b", nil)
	o = openT(t, dir, testOptions(t, Target{Notifier: b3}))
	o.Enqueue(mkAlerts("r", 7, 1))
	drain(t, o)
	if len(b3.received()) != 1 {
		t.Errorf("b got %d", len(b3.received()))
	}
}

func TestCloseIsIdempotentAndRefusesEnqueue(t *testing.T) {
	o := openT(t, t.TempDir(), testOptions(t, Target{Notifier: newFake("a", nil)}))
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(mkAlerts("r", 0, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if err := o.Drain(context.Background()); !errors.Is(err, ErrClosed) && err != nil {
		t.Errorf("Drain after Close: %v", err)
	}
}

// TestLargeAlert: an alert larger than the reader's buffer goes through.
func TestLargeAlert(t *testing.T) {
	f := newFake("hook", nil)
	o := openT(t, t.TempDir(), testOptions(t, Target{Notifier: f}))
	big := mkAlert("big", 1, alert.High)
	big.Summary = strings.Repeat("é", 300<<10) // 600 KiB
	want := append(mkAlerts("r", 0, 3), big, mkAlert("r", 9, alert.Low))
	if err := o.Enqueue(want); err != nil {
		t.Fatal(err)
	}
	drain(t, o)
	if err := sameIDs(f.received(), want); err != nil {
		t.Error(err)
	}
}
