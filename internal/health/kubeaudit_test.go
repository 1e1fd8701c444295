package health

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/demo"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

func TestSplitKey(t *testing.T) {
	for _, tc := range []struct {
		key, id, stage string
		ok             bool
	}{
		{"6e1f3b6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b/RequestReceived", "6e1f3b6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", stageReceived, true},
		{"id/ResponseStarted", "id", stageStarted, true},
		{"id/ResponseComplete", "id", stageComplete, true},
		{"a/b/Panic", "a/b", stagePanic, true},
		{"id/Unknown", "", "", false},
		{"/ResponseComplete", "", "", false},
		{"ResponseComplete", "", "", false},
		{"", "", "", false},
		{"id/", "", "", false},
	} {
		id, stage, ok := splitKey(tc.key)
		if id != tc.id || stage != tc.stage || ok != tc.ok {
			t.Errorf("splitKey(%q) = %q, %q, %v; want %q, %q, %v", tc.key, id, stage, ok, tc.id, tc.stage, tc.ok)
		}
	}
}

func TestScanIDStage(t *testing.T) {
	for _, tc := range []struct {
		raw, id, stage string
		ok             bool
	}{
		{`{"kind":"Event","auditID":"a-1","stage":"ResponseComplete","user":{"username":"x","auditID":"nested"}}`, "a-1", "ResponseComplete", true},
		{` { "stage" : "RequestReceived" , "objectRef":{"a":[1,{"b":"}"}]}, "auditID" : "z" } `, "z", "RequestReceived", true},
		{`{"auditID":"a","stage":"ResponseComplete","auditID":"b"}`, "b", "ResponseComplete", true}, // the last, as encoding/json
		{`{"auditID":"a"}`, "", "", false},
		{`{"auditID":"a\u0031","stage":"x"}`, "", "", false}, // an escape: declined
		{`{"audit\u0049D":"a","stage":"x"}`, "", "", false},
		{`{"auditID":1,"stage":"x"}`, "", "", false},
		{`{"auditID":"a","stage":"x"`, "", "", false},
		{`["auditID","a"]`, "", "", false},
		{`{}`, "", "", false},
		{``, "", "", false},
	} {
		id, stage, ok := scanIDStage([]byte(tc.raw))
		if id != tc.id || stage != tc.stage || ok != tc.ok {
			t.Errorf("scanIDStage(%s) = %q, %q, %v; want %q, %q, %v", tc.raw, id, stage, ok, tc.id, tc.stage, tc.ok)
		}
	}
}

// auditIDOf returns the auditID of a KubeAuditLogs record.
func auditIDOf(r *event.Record) string {
	id, _, _ := splitKey(r.Key)
	return id
}

// The acceptance case: a replayed stream whose every tenth
// ResponseComplete is dropped is reported, with the count and the auditIDs
// of the requests whose end is missing; a complete stream raises nothing.
func TestAuditLoss(t *testing.T) {
	const source = "aks-prod"
	// 5,000 requests, 100 ms apart, with their RequestReceived and
	// ResponseComplete events, then 4,000 more (no drops among those) so
	// that every dropped end has timed out when the stream ends.
	stream := verboseStream(t, source, 9000, t0, 100*time.Millisecond, 30*time.Millisecond)
	dropEnd := func(every int) func(i int, r *event.Record) bool {
		n := 0
		return func(_ int, r *event.Record) bool {
			if !strings.HasSuffix(r.Key, "/"+stageComplete) || !r.Received.Before(t0.Add(500*time.Second)) {
				return false
			}
			n++
			return every > 0 && n%every == 0
		}
	}
	for _, tc := range []struct {
		name string
		drop func(i int, r *event.Record) bool
		lost int
	}{
		{"every 10th ResponseComplete dropped", dropEnd(10), 500},
		{"every 3rd ResponseComplete dropped", dropEnd(3), 1666},
		{"complete stream", dropEnd(0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{KubeAudit: KubeAuditConfig{ReportEvery: time.Minute}})
			dropped := map[string]bool{}
			rrSeq := map[uint64]string{}
			for i := range stream {
				r := stream[i]
				if tc.drop(i, &r) {
					dropped[auditIDOf(&r)] = true
					continue
				}
				if strings.HasSuffix(r.Key, "/"+stageReceived) {
					rrSeq[h.seq] = auditIDOf(&r)
				}
				h.eval(r)
			}
			if len(dropped) != tc.lost {
				t.Fatalf("the test dropped %d ends, want %d", len(dropped), tc.lost)
			}
			losses := ofRule(h.alerts, RuleAuditLoss)
			if len(h.alerts) != len(losses) {
				t.Errorf("alerts %v: want loss alerts only", rules(h.alerts))
			}
			total := 0
			for _, a := range losses {
				n, err := strconv.Atoi(a.Fields["lost"])
				if err != nil {
					t.Fatal(err)
				}
				total += n
				if a.Source != source || a.Severity.String() != "high" || a.Kind != "health" {
					t.Errorf("alert %+v: want source %s, high, health", a, source)
				}
				ids := strings.Split(a.Fields["audit_ids"], ",")
				if len(ids) != min(n, 20) || !strings.Contains(a.Summary, ids[0]) {
					t.Errorf("alert names %d auditIDs (%q in the summary %q?), want %d", len(ids), ids[0], a.Summary, min(n, 20))
				}
				for _, id := range ids {
					if !dropped[id] {
						t.Errorf("alert names %s, whose end was not dropped", id)
					}
				}
				if len(a.Seqs) != min(n, maxLossSeqs) {
					t.Errorf("%d seqs for %d lost", len(a.Seqs), n)
				}
				for _, seq := range a.Seqs {
					if !dropped[rrSeq[seq]] {
						t.Errorf("evidence seq %d is not the RequestReceived of a request whose end was dropped", seq)
					}
				}
			}
			if total != tc.lost {
				t.Errorf("%d requests reported lost in %d alerts, want %d", total, len(losses), tc.lost)
			}
			s := h.m.Summary().KubeAudit
			if len(s) != 1 || !s[0].Paired || s[0].Lost != uint64(tc.lost) || s[0].Pending != 0 || s[0].Evicted != 0 ||
				s[0].Matched+uint64(tc.lost) != s[0].Received || s[0].Received != 9000 {
				t.Errorf("summary %+v: want paired, %d lost, none pending or evicted, 9000 received", s, tc.lost)
			}
		})
	}
}

// A source that does not log both stages (RequestReceived kept, ends
// omitted by its policy, or ends only) is not judged: nothing is
// reported lost, what timed out before it paired is counted apart.
func TestAuditUnpaired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stages []string
	}{
		{"RequestReceived only", []string{stageReceived}},
		{"ends only", []string{stageComplete}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			for i := range 2000 {
				at := t0.Add(time.Duration(i) * time.Second)
				for _, st := range tc.stages {
					h.eval(kubeRecord("c1", "req-"+strconv.Itoa(i), st, at))
				}
			}
			if len(h.alerts) != 0 {
				t.Fatalf("alerts %v, want none", rules(h.alerts))
			}
			s := h.m.Summary().KubeAudit[0]
			if s.Paired || s.Lost != 0 {
				t.Errorf("summary %+v: want unpaired, none lost", s)
			}
			if tc.stages[0] == stageReceived && s.Unchecked == 0 {
				t.Errorf("summary %+v: want the timed-out requests counted as unchecked", s)
			}
		})
	}
}

// The pending requests are capped: past the cap the oldest are evicted
// unchecked, and that is reported.
func TestAuditEviction(t *testing.T) {
	h := newHarness(t, Config{KubeAudit: KubeAuditConfig{MaxPending: 100, MinPairs: 5, ReportEvery: time.Minute}})
	at := t0
	for i := range 10 { // pairs: the source logs both stages
		h.eval(kubeRecord("c1", "ok-"+strconv.Itoa(i), stageReceived, at))
		h.eval(kubeRecord("c1", "ok-"+strconv.Itoa(i), stageComplete, at))
	}
	for i := range 250 { // ends that never come, faster than the timeout
		at = at.Add(100 * time.Millisecond)
		h.eval(kubeRecord("c1", "open-"+strconv.Itoa(i), stageReceived, at))
	}
	h.eval(kubeRecord("c1", "late", stageReceived, at.Add(6*time.Minute)))
	losses := ofRule(h.alerts, RuleAuditLoss)
	if len(losses) != 1 || losses[0].Fields["evicted"] != "150" || losses[0].Fields["lost"] != "100" {
		t.Fatalf("loss alerts %+v, want one with 150 evicted and 100 lost", losses)
	}
	if s := h.m.Summary().KubeAudit[0]; s.Pending != 1 || s.Evicted != 150 {
		t.Errorf("summary %+v: want 1 pending, 150 evicted", s)
	}
}

// A source that goes quiet after losing ends: the loss is found by Tick
// once the detector has evaluated everything.
func TestAuditLossQuietSource(t *testing.T) {
	led := openLedger(t)
	h := newHarness(t, Config{KubeAudit: KubeAuditConfig{MinPairs: 5}, Ledger: led,
		Silence: SilenceConfig{Rules: []SilenceRule{{Match: "*", Off: true}}}})
	var recs []event.Record
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		recs = append(recs, kubeRecord("c1", "req-"+strconv.Itoa(i), stageReceived, at))
		if i != 7 {
			recs = append(recs, kubeRecord("c1", "req-"+strconv.Itoa(i), stageComplete, at.Add(time.Millisecond)))
		}
	}
	appendRecords(t, led, recs...)
	h.evalLedger(led, 0, led.Size())
	h.clk.set(t0.Add(4 * time.Minute))
	if got := h.tick(); len(got) != 0 {
		t.Fatalf("alerts %v before the timeout", rules(got))
	}
	h.clk.set(t0.Add(6 * time.Minute))
	got := h.tick()
	if len(got) != 1 || got[0].Rule != RuleAuditLoss || got[0].Fields["audit_ids"] != "req-7" || got[0].Seqs[0] != 14 {
		t.Fatalf("alerts %+v, want the loss of req-7 (seq 14)", got)
	}
}

// A day of a cluster, complete, raises nothing: no loss, no skew, no
// time change.
func TestDayNoFalseAlarm(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, Config{KubeAudit: KubeAuditConfig{MinPairs: 5}})
	cl := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})
	for _, b := range demo.Day(day, 1) {
		it, err := k8saudit.DecodeLine(b, k8saudit.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		r := cl.Normalize(&it, "aks-pci-prod", time.Time{})
		r.Received = r.Time.Add(40 * time.Millisecond)
		h.eval(*r)
	}
	if len(h.alerts) != 0 {
		t.Fatalf("alerts on a complete day: %v (first: %s)", rules(h.alerts), h.alerts[0].Summary)
	}
	s := h.m.Summary().KubeAudit
	if len(s) != 1 || s[0].Received != 27 || s[0].Lost != 0 {
		t.Errorf("summary %+v: want the day's 27 requests logged at RequestReceived, none lost", s)
	}
}
