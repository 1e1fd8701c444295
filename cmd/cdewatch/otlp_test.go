package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/config"
)

// TestOTLPServe posts OTLP/HTTP JSON logs to serve: a container log line
// of a pod and an access record of an application listed in
// ingest.otlp_app_services, and finds them in ContainerLog and AppAccess.
func TestOTLPServe(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "aks-prod", func(c *config.Config) { c.Ingest.AppServices = []string{"checkout"} })
	body := `{"resourceLogs":[
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"tokenizer"}},{"key":"k8s.namespace.name","value":{"stringValue":"payments"}},{"key":"k8s.pod.name","value":{"stringValue":"tokenizer-0"}}]},
  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1764151200000000000","body":{"stringValue":"token refresh failed"},"attributes":[{"key":"log.iostream","value":{"stringValue":"stderr"}}]}]}]},
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1764151201000000000","body":{"kvlistValue":{"values":[
   {"key":"timestamp","value":{"stringValue":"2026-11-26T10:00:01Z"}},{"key":"user_id","value":{"stringValue":"alice"}},
   {"key":"action","value":{"stringValue":"read"}},{"key":"resource","value":{"stringValue":"cards/1"}},
   {"key":"result","value":{"stringValue":"success"}},{"key":"source_ip","value":{"stringValue":"10.0.0.9"}}]}}}]}]}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+ts.addr+"/v1/logs", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ts.ingestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/logs: %s", resp.Status)
	}
	if status, _, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/logs", "", []byte(body)); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", status)
	}
	reader := createToken(t, ts, "--role", "log-reader")
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) }
	rows := waitRows(t, post, `ContainerLog | project PodNamespace, PodName, LogEntry, LogEntrySource, Source`,
		func(r [][]json.RawMessage) bool { return len(r) == 1 })
	if got := string(rows[0][0]) + string(rows[0][1]) + string(rows[0][2]) + string(rows[0][3]) + string(rows[0][4]); got != `"payments""tokenizer-0""token refresh failed""stderr""aks-prod"` {
		t.Errorf("ContainerLog row: %s", got)
	}
	rows = waitRows(t, post, `AppAccess | project Application, User, Action, Outcome`, func(r [][]json.RawMessage) bool { return len(r) == 1 })
	if got := string(rows[0][0]) + string(rows[0][1]) + string(rows[0][2]) + string(rows[0][3]); got != `"checkout""alice""read""success"` {
		t.Errorf("AppAccess row: %s", got)
	}
}
