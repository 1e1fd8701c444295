package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
	"github.com/cdewatch/cdewatch/internal/config"
)

// TestDetectServe sends a burst of rejected requests from one address to
// serve and finds the alert in the SecurityAlert table. Restarted with a
// scheduled rule, whose first evaluation is at start, serve raises its
// alert too, and the rule's query is in the audit trail.
func TestDetectServe(t *testing.T) {
	data := t.TempDir()
	reader := seedToken(t, data, "log-reader")
	ts := startServer(t, data, "c1", nil)
	var items []string
	for i := range 6 {
		ev := strings.Replace(fmt.Sprintf(validEvent, fmt.Sprintf("denied-%d", i)), `"code":200`, `"code":401`, 1)
		items = append(items, strings.Replace(ev, `"sourceIPs":["10.1.2.3"]`, `"sourceIPs":["198.51.100.7"]`, 1))
	}
	status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...))
	if status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) }
	rows := waitRows(t, post, `SecurityAlert | where AlertType == "pci.invalid-access-burst" | project CompromisedEntity, AlertSeverity, PciRequirements, array_length(EvidenceSeqs)`,
		func(r [][]json.RawMessage) bool { return len(r) >= 1 })
	if got := string(rows[0][0]) + string(rows[0][1]) + string(rows[0][2]) + string(rows[0][3]); got != `"pci.invalid-access-burst 198.51.100.7""High""10.2.1.4"5` {
		t.Errorf("burst alert: %s", got)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, data, "", func(c *config.Config) {
		c.Detect.Scheduled = []config.ScheduledRule{{ID: "failed-requests", Title: "Rejected requests", Severity: "high",
			Query:     "KubeAuditLogs | where TimeGenerated > ago(3650d) | where ResponseStatus.code == 401 | count",
			Frequency: config.Duration(time.Hour), Window: config.Duration(time.Hour), Condition: "count > 3"}}
	})
	rows = waitRows(t, post, `SecurityAlert | where AlertType == "failed-requests" | project AlertKind, Description`,
		func(r [][]json.RawMessage) bool { return len(r) >= 1 })
	if !strings.Contains(string(rows[0][1]), "count 6") {
		t.Errorf("scheduled alert: %s", rows[0][1])
	}
	waitRows(t, post, `CdewatchAudit | where OperationName == "query" and Caller == "system:cdewatch:scheduler" | take 1`,
		func(r [][]json.RawMessage) bool { return len(r) == 1 })
}

// TestNotifyWebhook configures a signed webhook notifier and checks that a
// detected alert reaches it, signed, through the outbox.
func TestNotifyWebhook(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	got := make(chan []byte, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- body
	}))
	defer recv.Close()
	secretFile := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	ts := startServer(t, data, "c1", func(c *config.Config) {
		c.Notifiers = []config.Notifier{{Type: "webhook", Name: "soc", URL: recv.URL, SecretFile: secretFile, MinSeverity: "high"}}
	})
	var items []string
	for i := range 5 {
		ev := strings.Replace(fmt.Sprintf(validEvent, fmt.Sprintf("denied-%d", i)), `"code":200`, `"code":403`, 1)
		items = append(items, strings.Replace(ev, `"sourceIPs":["10.1.2.3"]`, `"sourceIPs":["198.51.100.8"]`, 1))
	}
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	select {
	case body := <-got:
		if !strings.Contains(string(body), `"rule":"pci.invalid-access-burst"`) || !strings.Contains(string(body), `198.51.100.8`) {
			t.Errorf("webhook body: %s", body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no alert delivered to the webhook after 30s")
	}
}

// TestRulePacksServe: the built-in PCI pack flags a secret read in a CDE
// namespace (pci.cde_namespaces) by an identity outside the allow-list,
// and a Sigma rule from detect.sigma_dir fires on the same event (the
// pack also notes that a new, empty ledger was initialized).
func TestRulePacksServe(t *testing.T) {
	sigmaDir := t.TempDir()
	rule := `title: Secret read in payments
id: 6d3a1a6c-0000-4000-8000-00000000beef
status: test
logsource:
  product: kubernetes
  service: audit
detection:
  selection:
    verb: get
    objectRef.resource: secrets
    objectRef.namespace: payments
  condition: selection
level: high
tags:
  - attack.credential-access
  - attack.t1552.007
`
	if err := os.WriteFile(filepath.Join(sigmaDir, "secret_read.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	reader := seedToken(t, data, "log-reader")
	ts := startServer(t, data, "c1", func(c *config.Config) { c.Detect.SigmaDir = sigmaDir })
	// validEvent: bob@corp.example gets secret payments/db.
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(fmt.Sprintf(validEvent, "secret-read"))); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	rows := waitRows(t, func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) },
		`SecurityAlert | summarize by AlertType | order by AlertType asc`,
		func(r [][]json.RawMessage) bool { return len(r) >= 3 })
	var types []string
	for _, r := range rows {
		types = append(types, string(r[0]))
	}
	if got := strings.Join(types, ","); got != `"6d3a1a6c-0000-4000-8000-00000000beef","pci.cdewatch-logging-stopped","pci.secret-read-outside-allowlist"` {
		t.Errorf("alerts: %s", got)
	}
}

// TestAlertLifecycle acknowledges and resolves an alert through the API:
// each change is recorded (who, when, why) and the alert's current status
// is a KQL query away; wrong ids, statuses and missing reasons are refused.
func TestAlertLifecycle(t *testing.T) {
	data := t.TempDir()
	analyst := seedToken(t, data, "soc-analyst")
	ts := startServer(t, data, "c1", nil)
	admin := adminToken(t, data)
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, analyst, q) }
	// A new, empty ledger raises pci.cdewatch-logging-stopped (ledger.init).
	rows := waitRows(t, post, `SecurityAlert | project SystemAlertId`, func(r [][]json.RawMessage) bool { return len(r) >= 1 })
	var id string
	json.Unmarshal(rows[0][0], &id)
	url := "http://" + ts.addr + "/v1/alerts/"
	for _, tc := range []struct {
		id, body string
		token    string
		want     int
	}{
		{id, `{"status":"acknowledged","reason":"looking into it"}`, analyst, http.StatusOK},
		{id, `{"status":"resolved","reason":"planned: new cluster"}`, analyst, http.StatusOK},
		{id, `{"status":"resolved"}`, analyst, http.StatusBadRequest},
		{id, `{"status":"closed","reason":"x"}`, analyst, http.StatusBadRequest},
		{"cdewatch-0", `{"status":"resolved","reason":"x"}`, analyst, http.StatusNotFound}, // seq 0 is ledger.init, not an alert
		{"nonsense", `{"status":"resolved","reason":"x"}`, analyst, http.StatusBadRequest},
		{id, `{"status":"resolved","reason":"x"}`, ts.ingestToken, http.StatusForbidden},
		{id, `{"status":"resolved","reason":"x"}`, admin, http.StatusForbidden}, // the platform team does not triage alerts
	} {
		if status, body, _ := do(t, http.MethodPost, url+tc.id+"/status", tc.token, []byte(tc.body)); status != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.id, tc.body, status, body, tc.want)
		}
	}
	rows = waitRows(t, post, `SecurityAlert
| join kind=leftouter (CdewatchAudit | where OperationName == "alert.status"
    | extend SystemAlertId = tostring(Details.alert_id), AlertStatus = tostring(Details.status), Why = tostring(Details.reason)
    | summarize arg_max(seq, AlertStatus, Why, Caller) by SystemAlertId) on SystemAlertId
| where SystemAlertId == "`+id+`" and isnotempty(AlertStatus)
| project AlertStatus, Why, Caller`, func(r [][]json.RawMessage) bool { return len(r) == 1 && string(r[0][0]) == `"resolved"` })
	if !strings.Contains(string(rows[0][2]), "(soc-analyst)") || string(rows[0][1]) != `"planned: new cluster"` {
		t.Errorf("status row %s", rows[0])
	}
}

// TestNotifierSettings: the notifier settings of cdewatch.yaml reach the
// notifiers: syslog's header fields, a chat notifier's max_alerts (checked
// by the notifier) and the timeout of one attempt.
func TestNotifierSettings(t *testing.T) {
	cfg, err := config.Parse([]byte(`
notifiers:
  - type: syslog
    name: siem
    address: 127.0.0.1:6514
    hostname: cdw-host
    app_name: cdw-app
    sd_id: cdw@1
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := syslogNotifier(cfg.Notifiers[0])
	if err != nil {
		t.Fatal(err)
	}
	msg := string(s.Format(alert.Alert{Rule: "r", RuleTitle: "t", Severity: alert.High, Time: time.Now(), Detected: time.Now()}))
	if !strings.Contains(msg, " cdw-host cdw-app ") || !strings.Contains(msg, "[cdw@1 ") {
		t.Errorf("syslog message without the configured hostname, app_name and sd_id: %s", msg)
	}

	dir := t.TempDir()
	urlFile := filepath.Join(dir, "slack.url")
	if err := os.WriteFile(urlFile, []byte("https://hooks.slack.com/services/T0/B0/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newNotifier("n", config.Notifier{Type: "slack", Name: "slack", URLFile: urlFile, MaxAlerts: 20}); err == nil || !strings.Contains(err.Error(), "max_alerts") {
		t.Errorf("max_alerts 20 accepted: %v", err)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	secretFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The receiver answers only when the test ends: the configured 50 ms,
	// not the default 10 s, must end the attempt.
	wh, err := newNotifier("n", config.Notifier{Type: "webhook", Name: "soc", URL: slow.URL, SecretFile: secretFile, Timeout: config.Duration(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wh.Send(ctx, []alert.Alert{{Rule: "r", Severity: alert.High, Time: time.Now(), Detected: time.Now()}}); err == nil || ctx.Err() != nil {
		t.Errorf("a receiver that never answers: Send returned %v after the test's own deadline (%v), not at the 50 ms timeout", err, ctx.Err())
	}
}
