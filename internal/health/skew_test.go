package health

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Skew beyond the bounds, either way, for a run of records starts a
// failure naming the source and the offset observed; a run within bounds
// ends it. Outliers shorter than the run do not.
func TestSkew(t *testing.T) {
	type phase struct {
		n      int
		offset time.Duration // received − event time
	}
	for _, tc := range []struct {
		name   string
		phases []phase
		start  string // "" none, else a text of the start alert's summary
		ends   bool
	}{
		{"within bounds", []phase{{50, 200 * time.Millisecond}}, "", false},
		{"events from the future", []phase{{5, time.Second}, {12, -10 * time.Minute}, {12, time.Second}}, "at least 10m0s ahead", true},
		{"source clock behind", []phase{{12, 2 * time.Hour}}, "at least 2h0m0s after their event time", false},
		{"outliers shorter than the run", []phase{{5, time.Second}, {9, -time.Hour}, {5, time.Second}, {9, 3 * time.Hour}, {5, 0}}, "", false},
		{"delays that vary: the smallest is reported", []phase{{6, 50 * time.Minute}, {6, 40 * time.Minute}}, "at least 40m0s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			at := t0
			for _, p := range tc.phases {
				for range p.n {
					at = at.Add(time.Second)
					r := record("syslog-a", event.TableSyslog, at)
					r.Time = at.Add(-p.offset)
					h.eval(r)
				}
			}
			starts, ends := ofRule(h.alerts, RuleTimeSkew), ofRule(h.alerts, RuleTimeSkew+".ended")
			if len(h.alerts) != len(starts)+len(ends) {
				t.Errorf("alerts %v", rules(h.alerts))
			}
			if tc.start == "" {
				if len(starts) != 0 {
					t.Fatalf("skew alerts %+v, want none", starts)
				}
				return
			}
			if len(starts) != 1 || !strings.Contains(starts[0].Summary, tc.start) || !strings.Contains(starts[0].Summary, "syslog-a") ||
				starts[0].Severity != alert.High || starts[0].PCI[0] != "10.6.1" {
				t.Fatalf("skew alerts %+v, want one naming syslog-a and %q", starts, tc.start)
			}
			if (len(ends) == 1) != tc.ends {
				t.Errorf("%d end alerts, want ended %v", len(ends), tc.ends)
			}
			recs := failureRecords(h.log.records(), ControlTimeSkew)
			if len(recs) != 0 {
				t.Errorf("records written before a Tick: %v", recs)
			}
			h.tick()
			want := 1
			if tc.ends {
				want = 2
			}
			if recs = failureRecords(h.log.records(), ControlTimeSkew); len(recs) != want {
				t.Errorf("%d failure records after a Tick, want %d", len(recs), want)
			}
		})
	}
}

// The offsets' sketch gives quantiles within 3 % and the exact extremes.
func TestSkewQuantiles(t *testing.T) {
	h := newHarness(t, Config{})
	at := t0
	for i := 1; i <= 1000; i++ {
		at = at.Add(time.Second)
		r := record("aks-a", event.TableKubeAudit, at)
		r.Time = at.Add(-time.Duration(i) * time.Millisecond)
		h.eval(r)
	}
	for i := 1; i <= 10; i++ { // ten from the future
		at = at.Add(time.Second)
		r := record("aks-a", event.TableKubeAudit, at)
		r.Time = at.Add(time.Duration(i) * time.Second)
		h.eval(r)
	}
	s := h.m.Summary().Offsets
	if len(s) != 1 {
		t.Fatalf("offsets %+v, want one source", s)
	}
	o := s[0]
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.03*math.Abs(want) }
	if o.Count != 1010 || o.Window != 1010 || o.Min != -10 || o.Max != 1 || !near(o.P50, 0.495) || !near(o.P99, 0.990) {
		t.Errorf("offsets %+v: want 1010 records, min -10s, max 1s, p50 ≈ 0.495s, p99 ≈ 0.99s", o)
	}
	if !near(o.Sum, 0.5005*1000-55) {
		t.Errorf("sum %v, want %v", o.Sum, 0.5005*1000-55)
	}
}

// The sketch: quantiles of known distributions, merging, halving.
func TestSketch(t *testing.T) {
	var s sketch
	for i := 1; i <= 100_000; i++ {
		s.add(time.Duration(i) * time.Millisecond)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		got, want := s.quantile(q).Seconds(), q*100
		if math.Abs(got-want) > 0.031*want {
			t.Errorf("quantile(%v) = %v, want %v ± 3.1%%", q, got, want)
		}
	}
	if s.quantile(0) != time.Millisecond || s.quantile(1) != 100*time.Second {
		t.Errorf("extremes %v %v", s.quantile(0), s.quantile(1))
	}
	var neg sketch
	neg.add(-time.Hour)
	neg.add(0)
	neg.add(time.Hour)
	if neg.quantile(0.3) != -time.Hour || neg.quantile(0.5) != 0 || neg.quantile(1) != time.Hour {
		t.Errorf("signed quantiles %v %v %v", neg.quantile(0.3), neg.quantile(0.5), neg.quantile(1))
	}
	var m sketch
	m.merge(&s)
	m.merge(&neg)
	if m.n != s.n+3 || m.min != -int64(time.Hour) || m.max != int64(time.Hour) {
		t.Errorf("merged n %d min %d max %d", m.n, m.min, m.max)
	}
	before := s.quantile(0.5)
	s.halve()
	if s.n < 50_000 || s.n > 50_000+nBuckets || math.Abs(s.quantile(0.5).Seconds()-before.Seconds()) > 0.031*before.Seconds() {
		t.Errorf("after halving: n %d, median %v (was %v)", s.n, s.quantile(0.5), before)
	}
}
