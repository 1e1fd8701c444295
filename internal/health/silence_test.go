package health

import (
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// sendPlan is a stream of records: one every `every`, except in [stop,
// resume).
type sendPlan struct {
	source, table string
	every         time.Duration
	stop, resume  time.Time // zero: never
	next          time.Time
}

// seen is an alert and the clock when it came out.
type seen struct {
	at time.Time
	a  alert.Alert
}

// simulate runs the plans from t0 to until in steps of step, evaluating
// the records due and ticking after each step.
func simulate(h *harness, plans []*sendPlan, until time.Time, step time.Duration) []seen {
	var out []seen
	for t := t0; !t.After(until); t = t.Add(step) {
		h.clk.set(t)
		for _, p := range plans {
			if p.next.IsZero() {
				p.next = t0
			}
			for !p.next.After(t) {
				off := !p.stop.IsZero() && !p.next.Before(p.stop) && (p.resume.IsZero() || p.next.Before(p.resume))
				if !off {
					for _, a := range h.eval(record(p.source, p.table, p.next)) {
						out = append(out, seen{t, a})
					}
				}
				p.next = p.next.Add(p.every)
			}
		}
		for _, a := range h.tick() {
			out = append(out, seen{t, a})
		}
	}
	return out
}

// Stopping one of two sources raises a silence alert within its bound
// (plus one tick); the failure is recorded with its start, and with its
// end when the source resumes. The source that keeps sending raises
// nothing.
func TestSilence(t *testing.T) {
	const step = 5 * time.Second
	stop, resume := t0.Add(30*time.Minute), t0.Add(50*time.Minute)
	for _, tc := range []struct {
		name    string
		cfg     SilenceConfig
		plans   func() []*sendPlan
		subject string        // the stream expected to fail; "" none
		bound   time.Duration // its bound, within 3 %
		from    string
	}{
		{"configured", SilenceConfig{Rules: []SilenceRule{{Match: "aks-b", Max: 2 * time.Minute}}}, twoSources(stop, resume),
			"aks-b", 2 * time.Minute, BoundConfigured},
		{"learned", SilenceConfig{Floor: time.Second, MinSamples: 50}, twoSources(stop, resume),
			"aks-b", 30 * time.Second, BoundLearned},
		{"default before learning", SilenceConfig{Default: 10 * time.Minute, MinSamples: 1_000_000}, twoSources(stop, resume),
			"aks-b", 10 * time.Minute, BoundDefault},
		{"off", SilenceConfig{Rules: []SilenceRule{{Match: "aks-b", Off: true}}, Floor: time.Second}, twoSources(stop, resume),
			"", 0, ""},
		{"one table of a source", SilenceConfig{Floor: time.Second, MinSamples: 50}, func() []*sendPlan {
			return []*sendPlan{
				{source: "aks-a", table: event.TableKubeAudit, every: 10 * time.Second},
				{source: "aks-a", table: event.TableSyslog, every: 10 * time.Second, stop: stop, resume: resume},
			}
		}, "aks-a/Syslog", 30 * time.Second, BoundLearned},
		{"table not learned yet is not watched", SilenceConfig{Floor: time.Second, MinSamples: 500}, func() []*sendPlan {
			return []*sendPlan{
				{source: "aks-a", table: event.TableKubeAudit, every: 10 * time.Second},
				{source: "aks-a", table: event.TableSyslog, every: 10 * time.Second, stop: stop, resume: resume},
			}
		}, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Silence: tc.cfg, Skew: SkewConfig{MaxBehind: time.Hour}})
			got := simulate(h, tc.plans(), t0.Add(time.Hour), step)
			var starts, ends []seen
			for _, s := range got {
				switch s.a.Rule {
				case RuleSourceSilent:
					starts = append(starts, s)
				case RuleSourceSilent + ".ended":
					ends = append(ends, s)
				default:
					t.Errorf("unexpected alert %s: %s", s.a.Rule, s.a.Summary)
				}
			}
			recs := failureRecords(h.log.records(), ControlSourceSilent)
			if tc.subject == "" {
				if len(starts)+len(ends)+len(recs) > 0 {
					t.Fatalf("alerts %v, records %v; want none", starts, recs)
				}
				return
			}
			if len(starts) != 1 || len(ends) != 1 {
				t.Fatalf("%d silence alerts and %d ends, want 1 and 1: %v %v", len(starts), len(ends), starts, ends)
			}
			st := starts[0]
			last := stop.Add(-10 * time.Second) // the last record before the stop
			if st.a.Fields["subject"] != tc.subject || st.a.Severity != alert.High || st.a.Kind != "health" || st.a.PCI[0] != "10.7.2" {
				t.Errorf("alert %+v: want subject %s, high, health, 10.7.2", st.a, tc.subject)
			}
			if st.a.Fields["bound_from"] != tc.from {
				t.Errorf("bound from %s, want %s", st.a.Fields["bound_from"], tc.from)
			}
			b, err := time.ParseDuration(st.a.Fields["bound"])
			if err != nil || b < tc.bound*97/100 || b > tc.bound*103/100 {
				t.Errorf("bound %s, want %s ± 3%%", st.a.Fields["bound"], tc.bound)
			}
			if late := st.at.Sub(last); late <= b || late > b+step {
				t.Errorf("alert %s after the last record, want within (%s, %s]", late, b, b+step)
			}
			if !ends[0].at.Equal(resume) {
				t.Errorf("end alert at %s, want at the resumption %s", ends[0].at, resume)
			}
			if len(recs) != 2 || recs[0].Action != event.ActionHealthFailureStart || recs[1].Action != event.ActionHealthFailureEnd {
				t.Fatalf("failure records %+v, want a start and an end", recs)
			}
			s, e := recs[0].Details, recs[1].Details
			if s["failure_id"] != e["failure_id"] || s["failure_id"] != st.a.Fields["failure_id"] || s["subject"] != tc.subject {
				t.Errorf("records %v / %v and alert %v do not name the same failure of %s", s, e, st.a.Fields, tc.subject)
			}
			if !s["start"].(time.Time).Equal(last) || !e["end"].(time.Time).Equal(resume) ||
				e["duration_seconds"] != resume.Sub(last).Seconds() {
				t.Errorf("start %v end %v duration %v; want %s, %s, %v", s["start"], e["end"], e["duration_seconds"], last, resume, resume.Sub(last).Seconds())
			}
			if recs[0].Class != event.LogInitStop || recs[0].Outcome != event.Failure {
				t.Errorf("start record class %v outcome %v, want log-init-stop and failure", recs[0].Class, recs[0].Outcome)
			}
		})
	}
}

func twoSources(stop, resume time.Time) func() []*sendPlan {
	return func() []*sendPlan {
		return []*sendPlan{
			{source: "aks-a", table: event.TableKubeAudit, every: 10 * time.Second},
			{source: "aks-b", table: event.TableKubeAudit, every: 10 * time.Second, stop: stop, resume: resume},
		}
	}
}

// While the detector is behind, silence is measured up to the oldest
// record it has not evaluated: a detector catching up does not see the
// sources it has not reached as silent.
func TestSilenceHeldBackWhileDetectorBehind(t *testing.T) {
	led := openLedger(t)
	h := newHarness(t, Config{Silence: SilenceConfig{Rules: []SilenceRule{{Match: "*", Max: time.Minute}}}, Ledger: led})
	// One record evaluated at t0; records received until t0+10m are in
	// the ledger but not evaluated.
	appendRecords(t, led, record("aks-a", event.TableKubeAudit, t0))
	for i := 1; i <= 60; i++ {
		appendRecords(t, led, record("aks-a", event.TableKubeAudit, t0.Add(time.Duration(i)*10*time.Second)))
	}
	h.evalLedger(led, 0, 1)
	h.clk.set(t0.Add(10 * time.Minute))
	// The detector's lag is past its bound (5m by default): that is
	// reported, not the sources it has not reached.
	if got := h.tick(); len(ofRule(got, RuleSourceSilent)) != 0 || len(ofRule(got, RuleConsumerLag)) != 1 {
		t.Fatalf("alerts while the detector is behind: %v, want the detector's lag only", rules(got))
	}
	s := h.m.Summary()
	if len(s.Consumers) != 1 || s.Consumers[0].Consumer != DetectorConsumer || s.Consumers[0].Behind != 60 ||
		s.Consumers[0].OldestSeconds != (10*time.Minute-10*time.Second).Seconds() {
		t.Fatalf("consumers %+v, want the detector 60 records behind, the oldest received 9m50s ago", s.Consumers)
	}
	// Caught up, then silent beyond the bound: the alert comes.
	h.evalLedger(led, 1, led.Size())
	h.clk.set(t0.Add(12 * time.Minute))
	if got := h.tick(); len(ofRule(got, RuleSourceSilent)) != 1 || len(ofRule(got, RuleConsumerLag+".ended")) != 1 {
		t.Fatalf("alerts %v, want a silence alert and the end of the detector's lag", rules(got))
	}
}
