package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
)

// createToken runs `cdewatch token create` with args against the test
// server and returns the secret it prints.
func createToken(t *testing.T, ts *testServer, args ...string) string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout := os.Stdout
	os.Stdout = out
	err = runToken(context.Background(), append([]string{"create", "--server", "http://" + ts.addr,
		"--admin-token-file", filepath.Join(ts.data, auth.AdminTokenFile)}, args...))
	os.Stdout = stdout
	if err != nil {
		t.Fatalf("token create %v: %v", args, err)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	if !strings.HasPrefix(secret, "cdw_") {
		t.Fatalf("token create printed %q", b)
	}
	return secret
}

func adminToken(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, auth.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// queryResult is the JSON answer of POST /v1/query.
type queryResult struct {
	Tables []struct {
		TableName string
		Columns   []struct{ ColumnName, ColumnType string }
		Rows      [][]json.RawMessage
	}
	Error string `json:"error"`
}

// postQuery sends q to POST /v1/query.
func postQuery(t *testing.T, ts *testServer, token, q string) (int, []byte, queryResult) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": q})
	status, b, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/query", token, body)
	var r queryResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %d is not JSON: %s", status, b)
	}
	return status, b, r
}

// waitRows polls q with post until done accepts the rows of its first
// table (the index is fed from the ledger asynchronously).
func waitRows(t *testing.T, post func(q string) (int, []byte, queryResult), q string, done func([][]json.RawMessage) bool) [][]json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, r := post(q)
		if status != 200 || len(r.Tables) == 0 {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		if done(r.Tables[0].Rows) {
			return r.Tables[0].Rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no expected rows after 30s; last answer %s", q, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var lineColRe = regexp.MustCompile(`line \d+, column \d+`)

// Queries need a log-reader, soc-analyst, compliance or auditor role; every query that reaches the
// endpoint, successful or not, is in the audit trail, and CdewatchAudit
// shows it to later queries.
func TestQueryEndpoint(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	admin := adminToken(t, data)
	reader := createToken(t, ts, "--role", "log-reader")
	auditor := createToken(t, ts, "--role", "auditor")
	queries := 0 // requests that reached the handler
	query := func(token, q string) (int, []byte, queryResult) {
		queries++
		return postQuery(t, ts, token, q)
	}

	status, body, r := query(reader, "print 1")
	if status != 200 || len(r.Tables) != 1 || len(r.Tables[0].Rows) != 1 || string(r.Tables[0].Rows[0][0]) != "1" {
		t.Fatalf("reader print 1: %d %s", status, body)
	}
	status, body, r = query(auditor, "KubeAuditLogs | count")
	if status != 200 || len(r.Tables) != 1 || len(r.Tables[0].Rows) != 1 {
		t.Fatalf("auditor count: %d %s", status, body)
	}
	const bad = "KubeAuditLogs\n| wher Verb == \"get\""
	status, body, r = query(reader, bad)
	if status != 400 || !lineColRe.MatchString(r.Error) {
		t.Fatalf("syntax error: %d %s", status, body)
	}
	if status, body, _ := query(reader, "  "); status != 400 {
		t.Errorf("empty query: %d %s", status, body)
	}
	// Refused before the handler: not query records, but auth ones.
	if status, body, _ := postQuery(t, ts, ts.ingestToken, "print 1"); status != 403 || !strings.Contains(string(body), "log-reader, soc-analyst, compliance, auditor") {
		t.Errorf("ingest token: %d %s", status, body)
	}
	if status, _, _ := postQuery(t, ts, "", "print 1"); status != 401 {
		t.Errorf("no token: %d", status)
	}

	// The first query is visible to a later one once the index caught up.
	const auditQ = `CdewatchAudit | where OperationName == "query" | project Caller, Outcome, Details`
	details := func(raw json.RawMessage) map[string]any {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("Details %s: %v", raw, err)
		}
		return d
	}
	find := func(rows [][]json.RawMessage, q string) []json.RawMessage {
		for _, row := range rows {
			if len(row) == 3 && details(row[2])["query"] == q {
				return row
			}
		}
		return nil
	}
	rows := waitRows(t, func(q string) (int, []byte, queryResult) { return query(reader, q) }, auditQ,
		func(rows [][]json.RawMessage) bool { return find(rows, bad) != nil })
	var toks []auth.Token
	_, b, _ := do(t, http.MethodGet, "http://"+ts.addr+"/v1/tokens", admin, nil)
	json.Unmarshal(b, &toks)
	readerID := ""
	for _, tok := range toks {
		if tok.Role == auth.RoleLogReader {
			readerID = tok.ID
		}
	}
	if row := find(rows, "print 1"); row == nil {
		t.Errorf("print 1 not in CdewatchAudit: %v", rows)
	} else {
		var caller, outcome string
		json.Unmarshal(row[0], &caller)
		json.Unmarshal(row[1], &outcome)
		d := details(row[2])
		if caller != "token:"+readerID+" (log-reader)" || outcome != "success" || d["action"] != "query" ||
			d["token_id"] != readerID || d["role"] != "log-reader" || d["rows"] != 1.0 || d["query_truncated"] != false {
			t.Errorf("print 1 record: caller %q outcome %q details %v", caller, outcome, d)
		}
	}
	if row := find(rows, "KubeAuditLogs | count"); row == nil {
		t.Errorf("count query not in CdewatchAudit")
	} else if d := details(row[2]); d["role"] != "auditor" || fmt.Sprint(d["tables"]) != "[KubeAuditLogs]" {
		t.Errorf("count record: %v", d)
	}
	if row := find(rows, bad); row != nil {
		var outcome string
		json.Unmarshal(row[1], &outcome)
		d := details(row[2])
		if errMsg, _ := d["error"].(string); outcome != "failure" || !lineColRe.MatchString(errMsg) || d["rows"] != 0.0 {
			t.Errorf("failed query record: outcome %q details %v", outcome, d)
		}
	}

	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	var recorded, denied, failed int
	for _, rec := range readRecords(t, data) {
		switch rec.Action {
		case event.ActionQuery:
			recorded++
			if rec.Table != event.TableCdewatchAudit || rec.PCI&event.LogAccess == 0 || rec.OriginIP != "127.0.0.1" ||
				rec.UserAgent == "" || rec.Resource != "/v1/query" || rec.Status == 0 || !strings.HasPrefix(rec.User, "token:") {
				t.Errorf("query record: %+v", rec)
			}
		case event.ActionAuthDenied:
			if rec.Resource == "/v1/query" {
				denied++
			}
		case event.ActionAuthFailed:
			if rec.Resource == "/v1/query" {
				failed++
			}
		}
	}
	if recorded != queries || denied != 1 || failed != 1 {
		t.Errorf("ledger: %d query records for %d queries; %d auth.denied, %d auth.failed on /v1/query (want 1, 1)", recorded, queries, denied, failed)
	}
}

// With the index off, the endpoint says so (and still records the attempt).
func TestQueryIndexDisabled(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) { c.Index.Enabled = false })
	status, body, r := postQuery(t, ts, createToken(t, ts, "--role", "auditor"), "print 1")
	if status != 503 || r.Error != "the query index is disabled (index.enabled: false in the configuration)" {
		t.Fatalf("%d %s", status, body)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range readRecords(t, data) {
		if rec.Action == event.ActionQuery {
			n++
			if rec.Outcome != event.Failure || rec.Status != 503 {
				t.Errorf("record: %+v", rec)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d query records, want 1", n)
	}
}

// The query section of the configuration reaches the engine: a result over
// query.max_rows is refused with 422 naming the limit, and recorded.
func TestQueryLimits(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) { c.Query.MaxRows = 5 })
	reader := createToken(t, ts, "--role", "log-reader")
	if status, body, _ := postQuery(t, ts, reader, "range x from 1 to 5 step 1"); status != 200 {
		t.Fatalf("5 rows: %d %s", status, body)
	}
	status, body, _ := postQuery(t, ts, reader, "range x from 1 to 6 step 1")
	var e struct{ Error, Limit string }
	json.Unmarshal(body, &e)
	if status != 422 || e.Limit != "max_rows" || !strings.Contains(e.Error, "max_rows") {
		t.Fatalf("6 rows: %d %s", status, body)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	var limits []string
	for _, rec := range readRecords(t, data) {
		if rec.Action == event.ActionQuery && rec.Outcome == event.Failure {
			var d struct{ Limit, Error string }
			json.Unmarshal(rec.Raw, &d)
			if rec.Status != 422 || d.Error != e.Error {
				t.Errorf("record: status %d, details %s", rec.Status, rec.Raw)
			}
			limits = append(limits, d.Limit)
		}
	}
	if fmt.Sprint(limits) != "[max_rows]" {
		t.Errorf("failed query records with limits %v, want [max_rows]", limits)
	}
}

// `cdewatch query` against a running server, in each output format.
func TestQueryCommand(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(fmt.Sprintf(validEvent, "fmt-1"))); status != 200 {
		t.Fatalf("ingest: %d %s", status, body)
	}
	reader := createToken(t, ts, "--role", "log-reader")
	tokenFile := filepath.Join(t.TempDir(), "reader.token")
	if err := os.WriteFile(tokenFile, []byte(reader+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitRows(t, func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) }, "KubeAuditLogs | count", func(rows [][]json.RawMessage) bool {
		return len(rows) == 1 && len(rows[0]) == 1 && string(rows[0][0]) == "1"
	})
	t.Setenv("CDEWATCH_TOKEN", "")
	server := "http://" + ts.addr
	cli := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := queryCommand(context.Background(), args, strings.NewReader(stdin), &out)
		return out.String(), err
	}
	common := []string{"--server", server, "--token-file", tokenFile}
	const q = `KubeAuditLogs | where AuditId == "fmt-1" | project AuditId, Verb, Status, TimeGenerated`

	wantTable := "" +
		"AuditId  Verb  Status  TimeGenerated\n" +
		"-------  ----  ------  ---------------------------\n" +
		"fmt-1    get      200  2026-11-26T10:00:00.000002Z\n" +
		"(1 row)\n"
	wantCSV := "AuditId,Verb,Status,TimeGenerated\n" +
		"fmt-1,get,200,2026-11-26T10:00:00.000002Z\n"
	_, raw, _ := postQuery(t, ts, reader, q)
	var wantJSON bytes.Buffer
	if err := json.Indent(&wantJSON, bytes.TrimSpace(raw), "", "  "); err != nil {
		t.Fatal(err)
	}
	wantJSON.WriteByte('\n')

	qFile := filepath.Join(t.TempDir(), "q.kql")
	os.WriteFile(qFile, []byte(q+"\n"), 0o600)
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"table", "", append(common, q), wantTable},
		{"table explicitly", "", append(common, "--format", "table", q), wantTable},
		{"csv", "", append(common, "--format", "csv", q), wantCSV},
		{"json", "", append(common, "--format", "json", q), wantJSON.String()},
		{"flags after the query", "", append([]string{q, "--format", "csv"}, common...), wantCSV},
		{"query in words", "", append(common, "--format", "csv", "KubeAuditLogs", "|", "where", `AuditId == "fmt-1"`, "|", "project", "AuditId,", "Verb,", "Status,", "TimeGenerated"), wantCSV},
		{"file", "", append(common, "--format", "csv", "--file", qFile), wantCSV},
		{"stdin", q, append(common, "--format", "csv", "-"), wantCSV},
		{"--table 1", "", append(common, "--format", "csv", "--table", "1", q), wantCSV},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cli(tt.stdin, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("output\n%s\nwant\n%s", got, tt.want)
			}
		})
	}

	t.Run("token from the environment", func(t *testing.T) {
		t.Setenv("CDEWATCH_TOKEN", reader)
		got, err := cli("", "--server", server, "--format", "csv", q)
		if err != nil || got != wantCSV {
			t.Errorf("%v\n%s", err, got)
		}
	})

	t.Run("dynamic cells are compact JSON", func(t *testing.T) {
		got, err := cli("", append(common, "--format", "csv", `KubeAuditLogs | where AuditId == "fmt-1" | project AuditId, ObjectRef`)...)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
		if err != nil || len(recs) != 2 || len(recs[1]) != 2 {
			t.Fatalf("csv %q: %v", got, err)
		}
		var ref map[string]string
		if err := json.Unmarshal([]byte(recs[1][1]), &ref); err != nil || ref["namespace"] != "payments" || ref["name"] != "db" {
			t.Errorf("ObjectRef cell %q: %v", recs[1][1], err)
		}
		if strings.ContainsAny(recs[1][1], " \n") {
			t.Errorf("ObjectRef cell not compact: %q", recs[1][1])
		}
	})

	for _, tt := range []struct {
		name   string
		args   []string
		usage  bool   // errUsage expected
		wantIn string // in the error
	}{
		{"syntax error", append(common, "KubeAuditLogs | where Verb =="), false, "400 Bad Request: line 1, column"},
		{"ingest token", []string{"--server", server, "--token-file", writeTemp(t, ts.ingestToken), "print 1"}, false, "403 Forbidden: this endpoint needs one of the roles log-reader"},
		{"no token", []string{"--server", server, "print 1"}, true, "CDEWATCH_TOKEN"},
		{"no query", common, true, "no query"},
		{"file and argument", append(common, "--file", qFile, "print 1"), true, "not both"},
		{"bad format", append(common, "--format", "xml", "print 1"), true, "table, json or csv"},
		{"table out of range", append(common, "--table", "2", "print 1"), true, "the result has 1 table"},
		{"server down", []string{"--server", "http://127.0.0.1:1", "--token-file", tokenFile, "print 1"}, false, "is `cdewatch serve` running"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := cli("", tt.args...)
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			if errors.Is(err, errUsage) != tt.usage || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q (usage %v), want containing %q (usage %v)", err, errors.Is(err, errUsage), tt.wantIn, tt.usage)
			}
			if out != "" {
				t.Errorf("output on error: %q", out)
			}
		})
	}
	// The exit status: 1 with the server's message.
	if code := run(context.Background(), append([]string{"query"}, append(common, "KubeAuditLogs | where Verb ==")...)); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
