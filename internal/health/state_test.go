package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
)

// step is a record to evaluate, or (rec nil) a tick, at a time.
type step struct {
	at  time.Time
	rec *event.Record
}

// mixedScenario interleaves, by received time, a Kubernetes audit stream
// losing every tenth end, a syslog source whose clock is ahead and
// which logs a clock step, a source that stops for twenty minutes, and a
// tick every five seconds.
func mixedScenario(tb testing.TB) []step {
	tb.Helper()
	var steps []step
	add := func(r event.Record) { steps = append(steps, step{r.Received, &r}) }
	n := 0
	for _, r := range verboseStream(tb, "aks-prod", 3000, t0, 300*time.Millisecond, 40*time.Millisecond) {
		if r.Key[len(r.Key)-len(stageComplete):] == stageComplete {
			if n++; n%10 == 0 {
				continue
			}
		}
		add(r)
	}
	for i := range 120 {
		at := t0.Add(time.Duration(i) * 7 * time.Second)
		r := record("syslog-a", event.TableSyslog, at)
		r.Action, r.Resource = "daemon.info app", "node-1"
		if i >= 30 && i < 60 {
			r.Time = at.Add(5 * time.Minute)
		}
		if i == 70 {
			r.Action, r.Raw = "daemon.info chronyd", []byte("<30>1 2026-11-26T08:08:10Z node-1 chronyd 812 - - System clock was stepped by -300.001 seconds")
		}
		add(r)
	}
	for i := range 90 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if at.After(t0.Add(3*time.Minute)) && at.Before(t0.Add(8*time.Minute)) {
			continue
		}
		add(record("aks-b", event.TableKubeAudit, at))
	}
	for at := t0; at.Before(t0.Add(15 * time.Minute)); at = at.Add(5 * time.Second) {
		steps = append(steps, step{at: at.Add(time.Millisecond)})
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	return steps
}

// run feeds steps to a harness; the clock follows them.
func (h *harness) run(steps []step) {
	for _, s := range steps {
		h.clk.set(s.at)
		if s.rec != nil {
			h.eval(*s.rec)
		} else {
			h.tick()
		}
	}
}

func scenarioConfig() Config {
	return Config{
		KubeAudit: KubeAuditConfig{ReportEvery: time.Minute},
		Silence:   SilenceConfig{Rules: []SilenceRule{{Match: "aks-b", Max: time.Minute}, {Match: "*", Off: true}}},
	}
}

// The state survives MarshalState and UnmarshalState: a monitor restored
// midway raises, records and saves exactly what one that ran through does.
func TestStateRoundTrip(t *testing.T) {
	steps := mixedScenario(t)
	whole := newHarness(t, scenarioConfig())
	whole.run(steps)
	if len(ofRule(whole.alerts, RuleAuditLoss)) == 0 || len(ofRule(whole.alerts, RuleTimeSkew)) != 1 ||
		len(ofRule(whole.alerts, RuleTimeChange)) != 1 || len(ofRule(whole.alerts, RuleSourceSilent)) != 1 ||
		len(ofRule(whole.alerts, RuleSourceSilent+".ended")) != 1 {
		t.Fatalf("the scenario raised %v: want losses, a skew, a time change, a silence and its end", rules(whole.alerts))
	}

	for _, split := range []int{len(steps) / 3, len(steps) / 2, 2 * len(steps) / 3} {
		first := newHarness(t, scenarioConfig())
		first.run(steps[:split])
		saved, err := first.m.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		second := newHarness(t, scenarioConfig())
		second.clk.set(steps[split].at)
		if err := second.m.UnmarshalState(saved); err != nil {
			t.Fatal(err)
		}
		second.seq = first.seq
		second.run(steps[split:])

		alerts := append(first.alerts, second.alerts...)
		if a, b := golden.JSON(t, alerts), golden.JSON(t, whole.alerts); !bytes.Equal(a, b) {
			t.Errorf("split at %d: %d alerts %v, want %d %v", split, len(alerts), rules(alerts), len(whole.alerts), rules(whole.alerts))
		}
		recs := append(first.log.records(), second.log.records()...)
		if a, b := golden.JSON(t, recs), golden.JSON(t, whole.log.records()); !bytes.Equal(a, b) {
			t.Errorf("split at %d: failure records differ:\n%s\nwant\n%s", split, a, b)
		}
		s1, err := second.m.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := whole.m.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s1, s2) {
			t.Errorf("split at %d: final states differ", split)
		}
	}
}

// Queued records and alerts are part of the state: a restart between a
// failure's start and the next Tick loses neither.
func TestStateKeepsQueues(t *testing.T) {
	h := newHarness(t, Config{})
	h.log.fail = true
	if err := h.m.ReportControl(context.Background(), ControlArchive, "s3", errors.New("denied")); err == nil {
		t.Fatal("no error while the ledger refuses records")
	}
	saved, err := h.m.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	again := newHarness(t, Config{})
	if err := again.m.UnmarshalState(saved); err != nil {
		t.Fatal(err)
	}
	if got := again.tick(); len(got) != 1 || got[0].Rule != RuleControl {
		t.Fatalf("alerts %v after restoring, want the control failure", rules(got))
	}
	if recs := again.log.records(); len(recs) != 1 || recs[0].Action != event.ActionHealthFailureStart || recs[0].Details["cause"] != "denied" {
		t.Fatalf("records %+v after restoring, want the failure's start", recs)
	}
}

func TestUnmarshalStateErrors(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []string{
		`{`,
		`{"v":2,"next":0,"sources":[]}`,
		`{"v":1,"next":0,"sources":[{"source":"a","all":{"gaps":{"pos":[[600,1]]}}}]}`,
		`{"v":1,"next":0,"sources":[{"source":"a","all":{}},{"source":"a","all":{}}]}`,
		`{"v":1,"next":0,"sources":[],"open":[{"id":"x"}]}`,
	} {
		if err := h.m.UnmarshalState([]byte(tc)); err == nil {
			t.Errorf("UnmarshalState(%s) accepted", tc)
		}
	}
}

// goldenScenario is a small scenario whose outputs are golden files.
func goldenScenario(tb testing.TB) *harness {
	tb.Helper()
	h := newHarness(tb, Config{
		Silence:   SilenceConfig{Rules: []SilenceRule{{Match: "aks-b", Max: time.Minute}}},
		KubeAudit: KubeAuditConfig{MinPairs: 2},
		Disk: DiskConfig{Path: "/var/lib/cdewatch", Statfs: func() StatfsFunc {
			total, avail := uint64(100<<30), uint64(40<<30)
			var fail error
			return fakeStatfs(&total, &avail, &fail)
		}()},
	})
	h.m.ReportLag(Lag{Consumer: "index", Behind: 12, Oldest: 1500 * time.Millisecond})
	h.m.ReportIngest(IngestCount{Source: "aks-a", Stored: 100, Duplicates: 3})
	for i := range 4 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		id := "0b0c" + string(rune('0'+i))
		h.eval(kubeRecord("aks-a", id, stageReceived, at))
		if i != 2 {
			h.eval(kubeRecord("aks-a", id, stageComplete, at.Add(20*time.Millisecond)))
		}
		h.eval(record("aks-b", event.TableKubeAudit, at))
	}
	r := syslogRecord(tb, "syslog-a", "<30>1 2026-11-26T08:00:41Z node-1 chronyd 812 - - System clock was stepped by 2.5 seconds", t0.Add(41*time.Second))
	h.eval(r)
	h.clk.set(t0.Add(2 * time.Minute))
	h.tick()
	ctx := context.Background()
	if err := h.m.ReportControl(ctx, ControlCheckpoint, "ledger", errors.New("signer key unreadable: permission denied")); err != nil {
		tb.Fatal(err)
	}
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit-archive", errors.New("PutObject: 403 AccessDenied")); err != nil {
		tb.Fatal(err)
	}
	h.clk.set(t0.Add(3 * time.Minute))
	if err := h.m.ReportControl(ctx, ControlArchive, "s3://audit-archive", nil); err != nil {
		tb.Fatal(err)
	}
	for _, f := range h.m.Failures() {
		if f.Control == ControlArchive {
			if err := h.m.Resolve(ctx, f.ID, "alice@corp.example", "Bucket policy restored after a change by the storage team; the 12 segments sealed meanwhile were uploaded; change review added to the bucket's policy."); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for i := range 3 {
		at := t0.Add(6*time.Minute + time.Duration(i)*10*time.Second)
		h.eval(kubeRecord("aks-a", "late"+string(rune('0'+i)), stageReceived, at))
		h.eval(kubeRecord("aks-a", "late"+string(rune('0'+i)), stageComplete, at))
	}
	h.clk.set(t0.Add(7 * time.Minute))
	h.tick()
	return h
}

// The formats (FORMAT.md, docs/HEALTH.md): the saved state, the failure
// records, the summary and the alerts.
func TestGolden(t *testing.T) {
	h := goldenScenario(t)
	st, err := h.m.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(st, &v); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/state.json", golden.JSON(t, v))
	var recs []json.RawMessage
	for _, a := range h.log.records() {
		r, err := a.Record(h.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, json.RawMessage(r.Raw))
	}
	checkGolden(t, "testdata/failure-records.json", golden.JSON(t, recs))
	checkGolden(t, "testdata/summary.json", golden.JSON(t, h.m.Summary()))
	checkGolden(t, "testdata/alerts.json", golden.JSON(t, h.alerts))
}
