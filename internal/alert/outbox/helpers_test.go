package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
)

// fakeNotifier records what it is sent; fail decides each call's outcome.
type fakeNotifier struct {
	name string
	mu   sync.Mutex
	// fail returns the error of call n (from 1) for alerts; nil accepts.
	fail  func(n int, alerts []alert.Alert) error
	calls []call
	got   []alert.Alert // accepted alerts, in order
}

type call struct {
	at     time.Time
	alerts int
	err    error
}

func newFake(name string, fail func(int, []alert.Alert) error) *fakeNotifier {
	return &fakeNotifier{name: name, fail: fail}
}

func (f *fakeNotifier) Name() string { return f.name }

func (f *fakeNotifier) Send(ctx context.Context, alerts []alert.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if f.fail != nil {
		err = f.fail(len(f.calls)+1, alerts)
	}
	if err == nil {
		err = ctx.Err()
	}
	f.calls = append(f.calls, call{time.Now(), len(alerts), err})
	if err == nil {
		f.got = append(f.got, alerts...)
	}
	return err
}

func (f *fakeNotifier) received() []alert.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alert.Alert(nil), f.got...)
}

func (f *fakeNotifier) callLog() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mkAlert returns alert number i of a rule: its Key and Seqs make it
// unique, its summary names i.
func mkAlert(rule string, i int, sev alert.Severity) alert.Alert {
	t := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return alert.Alert{
		Rule: rule, RuleTitle: "title of " + rule, Kind: "match", Severity: sev,
		PCI: []string{"10.2.1.2"}, MITRE: []string{"T1098"}, Source: "aks-prod",
		Time: t, Detected: t.Add(time.Millisecond), Seqs: []uint64{uint64(i)},
		Key: rule + "/subject", Summary: fmt.Sprintf("alert %d of %s", i, rule),
	}
}

func mkAlerts(rule string, from, n int) []alert.Alert {
	out := make([]alert.Alert, n)
	for i := range out {
		out[i] = mkAlert(rule, from+i, alert.High)
	}
	return out
}

// testOptions are fast defaults for tests: short backoff, logging to the
// test log on -v.
func testOptions(tb testing.TB, targets ...Target) Options {
	tb.Helper()
	var h slog.Handler = slog.DiscardHandler
	if testing.Verbose() && os.Getenv("OUTBOX_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return Options{
		Targets: targets,
		Backoff: Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: 0.2},
		Logger:  slog.New(h),
	}
}

func openT(tb testing.TB, dir string, opts Options) *Outbox {
	tb.Helper()
	o, err := Open(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	return o
}

func drain(tb testing.TB, o *Outbox) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := o.Drain(ctx); err != nil {
		tb.Fatalf("%v; health %+v", err, o.Health())
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ids returns the idempotency ids of alerts.
func ids(as []alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = notify.AlertID(a)
	}
	return out
}

// sameIDs reports the difference between two lists of alerts, compared as
// multisets of ids.
func sameIDs(got, want []alert.Alert) error {
	count := map[string]int{}
	for _, id := range ids(want) {
		count[id]++
	}
	for _, id := range ids(got) {
		count[id]--
	}
	var missing, extra int
	for _, n := range count {
		if n > 0 {
			missing += n
		} else {
			extra -= n
		}
	}
	if missing != 0 || extra != 0 {
		return fmt.Errorf("got %d alerts, want %d: %d missing, %d extra", len(got), len(want), missing, extra)
	}
	return nil
}

func errorsPermanent(msg string) error { return notify.Permanent(fmt.Errorf("%s", msg)) }

func writeBytes(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
