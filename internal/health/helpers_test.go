package health

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/demo"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// t0 is the start of the tests' time.
var t0 = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// fakeClock is a wall clock and a monotonic clock the tests move.
type fakeClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func newClock(at time.Time) *fakeClock { return &fakeClock{wall: at, mono: time.Hour} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.wall }

func (c *fakeClock) Mono() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.mono }

// advance moves both clocks.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
}

// set moves both clocks to the wall time at (forward only).
func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := at.Sub(c.wall); d > 0 {
		c.wall, c.mono = at, c.mono+d
	}
}

// jump moves the wall clock alone.
func (c *fakeClock) jump(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.wall = c.wall.Add(d) }

// auditLog is an AuditFunc that keeps what it records; fail makes it
// refuse.
type auditLog struct {
	mu   sync.Mutex
	recs []event.SelfAudit
	fail bool
}

func (a *auditLog) audit(_ context.Context, s event.SelfAudit) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("ledger unavailable")
	}
	a.recs = append(a.recs, s)
	return nil
}

func (a *auditLog) records() []event.SelfAudit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]event.SelfAudit(nil), a.recs...)
}

// harness drives a Monitor: records go through Eval with increasing seqs
// (encoded and decoded as the ledger stores them), ticks through Tick at
// the fake clock.
type harness struct {
	tb     testing.TB
	m      *Monitor
	clk    *fakeClock
	log    *auditLog
	seq    uint64
	alerts []alert.Alert // every alert emitted or returned by Tick
}

func newHarness(tb testing.TB, cfg Config) *harness {
	tb.Helper()
	h := &harness{tb: tb, clk: newClock(t0), log: &auditLog{}}
	cfg.Audit, cfg.Now, cfg.Mono = h.log.audit, h.clk.Now, h.clk.Mono
	m, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	h.m = m
	return h
}

// eval evaluates a record and returns the alerts it emitted.
func (h *harness) eval(r event.Record) []alert.Alert {
	h.tb.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		h.tb.Fatal(err)
	}
	var back event.Record
	if err := back.UnmarshalBinary(b); err != nil {
		h.tb.Fatal(err)
	}
	var out []alert.Alert
	h.m.Eval(detect.NewEvent(h.seq, back), func(a alert.Alert) { out = append(out, a) })
	h.seq++
	h.alerts = append(h.alerts, out...)
	return out
}

// evalLedger evaluates the records [from, to) of a ledger, with their
// seqs.
func (h *harness) evalLedger(l *ledger.Ledger, from, to uint64) []alert.Alert {
	h.tb.Helper()
	var out []alert.Alert
	err := l.ReadRange(from, to, func(seq uint64, b []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(b); err != nil {
			return err
		}
		h.m.Eval(detect.NewEvent(seq, r), func(a alert.Alert) { out = append(out, a) })
		h.seq = seq + 1
		return nil
	})
	if err != nil {
		h.tb.Fatal(err)
	}
	h.alerts = append(h.alerts, out...)
	return out
}

// openLedger opens a real ledger in a temporary directory.
func openLedger(tb testing.TB) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test.cdewatch/health", CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// appendRecords appends records to a ledger and returns the seq of the
// first.
func appendRecords(tb testing.TB, l *ledger.Ledger, recs ...event.Record) uint64 {
	tb.Helper()
	bs := make([][]byte, len(recs))
	for i := range recs {
		b, err := recs[i].MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		bs[i] = b
	}
	first, err := l.Append(context.Background(), bs)
	if err != nil {
		tb.Fatal(err)
	}
	return first
}

// tick runs Tick at the clock's time.
func (h *harness) tick() []alert.Alert {
	out := h.m.Tick(context.Background(), h.clk.Now())
	h.alerts = append(h.alerts, out...)
	return out
}

// record is a plain record of a source and table received at rcv, its
// event 50 ms earlier.
func record(source, table string, rcv time.Time) event.Record {
	return event.Record{Time: rcv.Add(-50 * time.Millisecond), Received: rcv, Source: source, Table: table,
		User: "u", Action: "a", Outcome: event.Success, Raw: []byte(`{}`)}
}

// kubeRecord is a KubeAuditLogs record of one stage of a request.
func kubeRecord(source, id, stage string, rcv time.Time) event.Record {
	r := record(source, event.TableKubeAudit, rcv)
	r.Key = id + "/" + stage
	return r
}

// rules returns the rule ids of alerts, in order.
func rules(alerts []alert.Alert) []string {
	out := []string{}
	for _, a := range alerts {
		out = append(out, a.Rule)
	}
	return out
}

// ofRule returns the alerts of a rule.
func ofRule(alerts []alert.Alert, rule string) []alert.Alert {
	var out []alert.Alert
	for _, a := range alerts {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

// failureRecords returns the health.failure.* records of a control.
func failureRecords(recs []event.SelfAudit, control string) []event.SelfAudit {
	var out []event.SelfAudit
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "health.failure.") && r.Details["control"] == control {
			out = append(out, r)
		}
	}
	return out
}

// verboseStream returns the records of n requests of a cluster recorded
// under a policy that keeps RequestReceived for every request: for each,
// its RequestReceived event and, lat later, its ResponseComplete event,
// as kube-apiserver writes them (demo.Generator's events, decoded and
// normalized by k8saudit), one request every step from start, in the
// order the events are received.
func verboseStream(tb testing.TB, source string, n int, start time.Time, step, lat time.Duration) []event.Record {
	tb.Helper()
	g := demo.NewGenerator(7)
	cl := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})
	type ev struct {
		at  time.Time
		rec event.Record
	}
	var evs []ev
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		done := g.NextAt(at.Add(lat))
		recv := bytes.Replace(done, []byte(`"stage":"ResponseComplete"`), []byte(`"stage":"RequestReceived"`), 1)
		if bytes.Equal(recv, done) {
			tb.Fatalf("generated event without a ResponseComplete stage: %.200s", done)
		}
		for _, e := range []struct {
			b  []byte
			at time.Time
		}{{recv, at}, {done, at.Add(lat)}} {
			it, err := k8saudit.DecodeLine(e.b, k8saudit.Limits{})
			if err != nil {
				tb.Fatal(err)
			}
			it.Raw = bytes.Clone(it.Raw)
			evs = append(evs, ev{e.at, *cl.Normalize(&it, source, e.at.Add(20*time.Millisecond))})
		}
	}
	// In order of reception.
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	out := make([]event.Record, len(evs))
	for i, e := range evs {
		out[i] = e.rec
	}
	return out
}

func checkGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	golden.Check(tb, path, got, *update)
}
