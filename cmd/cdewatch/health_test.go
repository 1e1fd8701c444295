package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/config"
)

// stagedEvent is an audit event of one request at one stage, at now.
func stagedEvent(id, stage string, at time.Time) string {
	ev := fmt.Sprintf(validEvent, id)
	ts := at.UTC().Format(time.RFC3339Nano)
	ev = strings.Replace(ev, `"stage":"ResponseComplete"`, `"stage":"`+stage+`"`, 1)
	ev = strings.Replace(ev, `"requestReceivedTimestamp":"2026-11-26T10:00:00.000001Z"`, `"requestReceivedTimestamp":"`+ts+`"`, 1)
	return strings.Replace(ev, `"stageTimestamp":"2026-11-26T10:00:00.000002Z"`, `"stageTimestamp":"`+ts+`"`, 1)
}

// TestSourceSilenceServe stops one of two sources mid-run: an alert within
// the configured bound, and the failure recorded with its start, and its
// end when the source resumes.
func TestSourceSilenceServe(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", func(c *config.Config) {
		c.Health.TickInterval = config.Duration(200 * time.Millisecond)
		c.Health.Silence.Rules = []config.HealthSilenceRule{{Match: "c1", Max: config.Duration(2 * time.Second)}, {Match: "c2", Max: config.Duration(2 * time.Second)}}
	})
	c2 := createToken(t, ts, "--role", "ingest", "--source", "c2")
	auditor := createToken(t, ts, "--role", "auditor")
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, auditor, q) }
	send := func(tok, id string) {
		t.Helper()
		if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", tok, eventList(stagedEvent(id, "ResponseComplete", time.Now()))); status != http.StatusOK {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	n := 0
	tick := func(sources ...string) {
		n++
		for _, s := range sources {
			tok := ts.ingestToken
			if s == "c2" {
				tok = c2
			}
			send(tok, fmt.Sprintf("%s-%d", s, n))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for range 5 {
		tick("c1", "c2")
	}
	stopped := time.Now()
	// c1 stops; c2 goes on until c1's alert is there.
	var rows [][]json.RawMessage
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tick("c2")
		_, _, r := post(`SecurityAlert | where AlertType == "health.source-silent" | project CompromisedEntity, Description`)
		if len(r.Tables) > 0 && len(r.Tables[0].Rows) > 0 {
			rows = r.Tables[0].Rows
			break
		}
	}
	if len(rows) == 0 {
		t.Fatal("no silence alert within 30 s")
	}
	t.Logf("silence alert queryable %v after the source stopped (bound 2s)", time.Since(stopped).Round(100*time.Millisecond))
	for _, r := range rows {
		if strings.Contains(string(r[0]), "c2") || strings.Contains(string(r[1]), "source c2") {
			t.Fatalf("the source that kept sending was reported silent: %s", r)
		}
	}
	// c1 resumes: the failure ends.
	for range 3 {
		tick("c1", "c2")
	}
	got := waitRows(t, post, `CdewatchAudit | where OperationName startswith "health.failure." and tostring(Details.subject) startswith "c1"
		| extend Id = tostring(Details.failure_id)
		| summarize Start = take_anyif(todatetime(Details.start), OperationName == "health.failure.start"),
			End = take_anyif(todatetime(Details.end), OperationName == "health.failure.end"),
			Cause = take_anyif(tostring(Details.cause), OperationName == "health.failure.start") by Id
		| where isnotnull(End) | project Id, Start, End, Duration = End - Start, Cause`, func(r [][]json.RawMessage) bool { return len(r) >= 1 })
	var start, end time.Time
	if json.Unmarshal(got[0][1], &start) != nil || json.Unmarshal(got[0][2], &end) != nil || !end.After(start) || end.Sub(start) < 2*time.Second {
		t.Fatalf("failure record: %s: want a start at the last event and an end after the bound", got[0])
	}
	t.Logf("failure recorded: %s", got[0])
}

// TestAuditLossServe replays a kube-apiserver stream logging both stages
// with every 10th ResponseComplete dropped: the loss is reported.
func TestAuditLossServe(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", func(c *config.Config) {
		c.Health.TickInterval = config.Duration(200 * time.Millisecond)
		c.Health.KubeAudit.Timeout = config.Duration(time.Second)
	})
	auditor := createToken(t, ts, "--role", "auditor")
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, auditor, q) }
	now := time.Now()
	var items []string
	dropped := 0
	for i := range 200 {
		id := fmt.Sprintf("req-%03d", i)
		items = append(items, stagedEvent(id, "RequestReceived", now))
		if i%10 == 9 {
			dropped++
			continue
		}
		items = append(items, stagedEvent(id, "ResponseComplete", now))
	}
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	rows := waitRows(t, post, `SecurityAlert | where AlertType == "health.audit-loss" | project Description`, func(r [][]json.RawMessage) bool { return len(r) >= 1 })
	if !strings.Contains(string(rows[0][0]), fmt.Sprint(dropped)) || !strings.Contains(string(rows[0][0]), "req-009") {
		t.Fatalf("loss alert does not name the %d lost requests: %s", dropped, rows[0][0])
	}
	t.Logf("loss alert: %s", rows[0][0])
}

// With detection off (detect.enabled: false) there is no detector whose
// lag to watch: the monitor must not report one (it would record a false
// failure of a control in the audit trail on every start).
func TestDetectDisabledNoDetectorLag(t *testing.T) {
	ts := startServer(t, t.TempDir(), "c1", func(c *config.Config) {
		c.Detect.Enabled = false
		c.Health.TickInterval = config.Duration(100 * time.Millisecond)
	})
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(stagedEvent("a1", "ResponseComplete", time.Now()))); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	auditor := createToken(t, ts, "--role", "auditor")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, b, _ := do(t, http.MethodGet, "http://"+ts.addr+"/metrics", auditor, nil)
		if status != http.StatusOK {
			t.Fatalf("metrics: %d %s", status, b)
		}
		if strings.Contains(string(b), `cdewatch_health_consumer_lag_records{consumer="detect"}`) {
			t.Fatalf("the detector's lag is reported while detection is off:\n%s", grepLines(string(b), "consumer_lag"))
		}
		// The index's lag shows that the monitor has ticked.
		if strings.Contains(string(b), `cdewatch_health_consumer_lag_records{consumer="index"}`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the monitor reported no lag in 10 s:\n%s", grepLines(string(b), "consumer_lag"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestHealthConfigRules: the silence and skew rules of cdewatch.yaml reach
// the health monitor.
func TestHealthConfigRules(t *testing.T) {
	cfg, err := config.Parse([]byte(`
health:
  silence:
    rules:
      - match: lab-*
        off: true
  skew:
    rules:
      - match: legacy-files
        max_behind: 48h
`))
	if err != nil {
		t.Fatal(err)
	}
	hc := healthConfig(cfg, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	if r := hc.Silence.Rules; len(r) != 1 || r[0].Match != "lab-*" || !r[0].Off {
		t.Errorf("silence rules: %+v", r)
	}
	if r := hc.Skew.Rules; len(r) != 1 || r[0].Match != "legacy-files" || r[0].MaxBehind != 48*time.Hour {
		t.Errorf("skew rules: %+v", r)
	}
}
