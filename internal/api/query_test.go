package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
)

// queryFixture is a Server with a token store, an audit trail in memory
// and a fake query engine.
type queryFixture struct {
	srv                     *Server
	auditor, reader, ingest string

	mu       sync.Mutex
	records  []event.SelfAudit
	auditErr error // returned by Audit when set
	queries  []string
	// w is the response being written while Audit is called; Audit fails
	// the test if the response has been started.
	w *httptest.ResponseRecorder
	t *testing.T
}

func newQueryFixture(t *testing.T, query QueryFunc) *queryFixture {
	t.Helper()
	dir := t.TempDir()
	tokens, _, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &queryFixture{t: t}
	mk := func(role auth.Role, source string) string {
		secret, _, err := tokens.Create(role, source)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	f.auditor, f.reader, f.ingest = mk(auth.RoleAuditor, ""), mk(auth.RoleLogReader, ""), mk(auth.RoleIngest, "c1")
	f.srv = &Server{Tokens: tokens, Log: slog.New(slog.DiscardHandler),
		Audit: func(_ context.Context, a event.SelfAudit) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.w != nil && f.w.Body.Len() > 0 {
				f.t.Errorf("self-audit %s recorded after the response was written", a.Action)
			}
			if f.auditErr != nil {
				return f.auditErr
			}
			f.records = append(f.records, a)
			return nil
		}}
	if query != nil {
		f.srv.Query = func(ctx context.Context, q string) (*kql.Result, error) {
			f.mu.Lock()
			f.queries = append(f.queries, q)
			f.mu.Unlock()
			return query(ctx, q)
		}
	}
	return f
}

// post sends POST /v1/query with body and token and returns the response.
func (f *queryFixture) post(token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/query", strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:41234"
	req.Header.Set("User-Agent", "query-test/1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.mu.Lock()
	f.w = w
	f.mu.Unlock()
	f.srv.Handler().ServeHTTP(w, req)
	f.mu.Lock()
	f.w = nil
	f.mu.Unlock()
	return w
}

// last returns the last self-audit record.
func (f *queryFixture) last() event.SelfAudit {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.records) == 0 {
		f.t.Fatal("nothing recorded")
	}
	return f.records[len(f.records)-1]
}

func (f *queryFixture) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.records {
		if r.Action == action {
			n++
		}
	}
	return n
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) QueryErrorBody {
	t.Helper()
	var e QueryErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error body is not {\"error\": ...}: %s", w.Body)
	}
	return e
}

// okResult answers every query with one table of one row.
func okResult(_ context.Context, q string) (*kql.Result, error) {
	return &kql.Result{
		Tables: []*kql.Table{{Name: "PrimaryResult", Columns: []kql.Column{{Name: "Caller", Type: "string"}, {Name: "n", Type: "long"}},
			Rows: [][]any{{"bob", int64(1)}, {"eve", int64(2)}}}},
		TablesRead: []string{"CdewatchAudit", "KubeAuditLogs"},
	}, nil
}

func TestQueryBodyValidation(t *testing.T) {
	f := newQueryFixture(t, okResult)
	big := `{"query": "` + strings.Repeat("x", MaxQueryRequestBytes) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		wantIn string
	}{
		{"not JSON", `KubeAuditLogs | count`, 400, "query request: invalid character"},
		{"truncated JSON", `{"query": "print 1"`, 400, "query request:"},
		{"unknown field", `{"query": "print 1", "format": "csv"}`, 400, `unknown field "format"`},
		{"wrong type", `{"query": 1}`, 400, "query request:"},
		{"missing query", `{}`, 400, `"query" is missing or empty`},
		{"null query", `{"query": null}`, 400, `"query" is missing or empty`},
		{"empty query", `{"query": ""}`, 400, `"query" is missing or empty`},
		{"blank query", `{"query": " \n\t "}`, 400, `"query" is missing or empty`},
		{"trailing data", `{"query": "print 1"} {"query": "print 2"}`, 400, "query request:"},
		{"array", `[{"query": "print 1"}]`, 400, "query request:"},
		{"empty body", ``, 400, "query request: the body is empty"},
		{"body over 1 MiB", big, 413, "the body is larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.count(event.ActionQuery)
			w := f.post(f.reader, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if e := errorBody(t, w); !strings.Contains(e.Error, tt.wantIn) {
				t.Errorf("error %q does not contain %q", e.Error, tt.wantIn)
			}
			if f.count(event.ActionQuery) != before+1 {
				t.Fatal("the refused request was not recorded")
			}
			a := f.last()
			if a.Outcome != event.Failure || a.Status != tt.status || a.Details["error"] == "" {
				t.Errorf("record: %+v", a)
			}
		})
	}
	if len(f.queries) != 0 {
		t.Errorf("the engine ran %q for refused requests", f.queries)
	}
	// A valid body with surrounding whitespace is fine.
	if w := f.post(f.reader, "\n {\"query\": \"print 1\"}\n\n"); w.Code != 200 {
		t.Errorf("valid body: %d %s", w.Code, w.Body)
	}
}

func TestQuerySuccessIsRecorded(t *testing.T) {
	f := newQueryFixture(t, okResult)
	w := f.post(f.reader, `{"query": "CdewatchAudit | where OperationName == \"query\" | project Caller, Details"}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	want := `{"Tables":[{"TableName":"PrimaryResult","Columns":[{"ColumnName":"Caller","ColumnType":"string"},{"ColumnName":"n","ColumnType":"long"}],"Rows":[["bob",1],["eve",2]]}]}`
	if got := strings.TrimSpace(w.Body.String()); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	a := f.last()
	if a.Action != event.ActionQuery || a.Outcome != event.Success || a.Status != 200 || a.Class != event.LogAccess {
		t.Errorf("record: %+v", a)
	}
	if !strings.HasPrefix(a.User, "token:") || !strings.HasSuffix(a.User, "(log-reader)") {
		t.Errorf("User %q", a.User)
	}
	if a.OriginIP != "192.0.2.7" || a.Agent != "query-test/1" || a.Resource != "/v1/query" {
		t.Errorf("origin %q agent %q resource %q", a.OriginIP, a.Agent, a.Resource)
	}
	d := a.Details
	p, _ := f.srv.Tokens.Authenticate(f.reader)
	if d["token_id"] != p.TokenID || d["role"] != "log-reader" {
		t.Errorf("who: %v %v", d["token_id"], d["role"])
	}
	if d["query"] != `CdewatchAudit | where OperationName == "query" | project Caller, Details` || d["query_truncated"] != false {
		t.Errorf("query %q truncated %v", d["query"], d["query_truncated"])
	}
	if tables, _ := d["tables"].([]string); strings.Join(tables, ",") != "CdewatchAudit,KubeAuditLogs" {
		t.Errorf("tables %v", d["tables"])
	}
	if d["rows"] != 2 || d["result_tables"] != 1 {
		t.Errorf("rows %v result_tables %v", d["rows"], d["result_tables"])
	}
	if _, ok := d["error"]; ok {
		t.Errorf("error on success: %v", d["error"])
	}
	if ms, ok := d["duration_ms"].(float64); !ok || ms < 0 {
		t.Errorf("duration_ms %v", d["duration_ms"])
	}
	if st, _ := d["started"].(string); st == "" {
		t.Errorf("started %v", d["started"])
	} else if _, err := time.Parse(time.RFC3339Nano, st); err != nil {
		t.Errorf("started: %v", err)
	}
	// The record's details survive the ledger's JSON encoding.
	if _, err := a.Record(time.Now()); err != nil {
		t.Fatal(err)
	}
	// Auditors may query too.
	if w := f.post(f.auditor, `{"query": "print 1"}`); w.Code != 200 {
		t.Errorf("auditor: %d %s", w.Code, w.Body)
	} else if a := f.last(); !strings.HasSuffix(a.User, "(auditor)") || a.Details["role"] != "auditor" {
		t.Errorf("auditor record: %+v", a)
	}
}

func TestQueryAuthorization(t *testing.T) {
	f := newQueryFixture(t, okResult)
	for _, tt := range []struct {
		name, token string
		status      int
		action      string
	}{
		{"no token", "", 401, event.ActionAuthFailed},
		{"bad token", "cdw_nope", 401, event.ActionAuthFailed},
		{"ingest token", f.ingest, 403, event.ActionAuthDenied},
	} {
		w := f.post(tt.token, `{"query": "print 1"}`)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.status)
		}
		if a := f.last(); a.Action != tt.action || a.Resource != "/v1/query" {
			t.Errorf("%s: recorded %s on %s, want %s", tt.name, a.Action, a.Resource, tt.action)
		}
	}
	if w := f.post(f.ingest, `{"query": "print 1"}`); !strings.Contains(w.Body.String(), "needs one of the roles log-reader, soc-analyst, compliance, auditor; the token presented is ingest") {
		t.Errorf("403 body: %s", w.Body)
	}
	if n := f.count(event.ActionQuery); n != 0 || len(f.queries) != 0 {
		t.Errorf("%d query records, %d queries run for refused callers", n, len(f.queries))
	}
}

func TestQueryErrors(t *testing.T) {
	dbErr := errors.New("IO Error: could not read block 42 of /data/index.duckdb")
	tests := []struct {
		name      string
		err       error
		status    int
		wantError string // the error the client gets
		wantLimit string
		cause     string // recorded, never sent
	}{
		{"syntax error", &kql.Error{Pos: kql.Pos{Line: 2, Col: 3}, Msg: "unknown operator 'wher' (did you mean 'where'?)"}, 400,
			"line 2, column 3: unknown operator 'wher' (did you mean 'where'?)", "", ""},
		{"timeout", &kql.LimitError{Limit: "timeout", Msg: "the query ran longer than its time limit of 30s and was stopped"}, 422,
			"the query ran longer than its time limit of 30s and was stopped", "timeout", ""},
		{"max rows", &kql.LimitError{Limit: "max_rows", Msg: "more than 50000 rows"}, 422, "more than 50000 rows", "max_rows", ""},
		{"max bytes", &kql.LimitError{Limit: "max_bytes", Msg: "larger than 64MiB"}, 422, "larger than 64MiB", "max_bytes", ""},
		{"database failure", dbErr, 500, msgInternal, "", dbErr.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newQueryFixture(t, func(context.Context, string) (*kql.Result, error) { return nil, tt.err })
			w := f.post(f.reader, `{"query": "KubeAuditLogs\n| wher Verb == \"get\""}`)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			e := errorBody(t, w)
			if e.Error != tt.wantError || e.Limit != tt.wantLimit {
				t.Errorf("body %+v, want error %q limit %q", e, tt.wantError, tt.wantLimit)
			}
			if tt.cause != "" && strings.Contains(w.Body.String(), "block 42") {
				t.Errorf("the database error reached the client: %s", w.Body)
			}
			a := f.last()
			if a.Action != event.ActionQuery || a.Outcome != event.Failure || a.Status != tt.status {
				t.Errorf("record: %+v", a)
			}
			d := a.Details
			if d["error"] != tt.wantError || d["query"] != "KubeAuditLogs\n| wher Verb == \"get\"" || d["rows"] != 0 {
				t.Errorf("details: %v", d)
			}
			if got, _ := d["limit"].(string); got != tt.wantLimit {
				t.Errorf("limit %q, want %q", got, tt.wantLimit)
			}
			if got, _ := d["cause"].(string); got != tt.cause {
				t.Errorf("cause %q, want %q", got, tt.cause)
			}
			if tables, ok := d["tables"].([]string); !ok || len(tables) != 0 {
				t.Errorf("tables %#v, want []", d["tables"])
			}
		})
	}
}

// A failed query whose result still names what it read records the tables.
func TestQueryErrorKeepsTablesRead(t *testing.T) {
	f := newQueryFixture(t, func(context.Context, string) (*kql.Result, error) {
		return &kql.Result{TablesRead: []string{"KubeAuditLogs"}}, &kql.LimitError{Limit: "max_rows", Msg: "too many rows"}
	})
	if w := f.post(f.reader, `{"query": "KubeAuditLogs"}`); w.Code != 422 {
		t.Fatalf("status %d", w.Code)
	}
	if tables, _ := f.last().Details["tables"].([]string); len(tables) != 1 || tables[0] != "KubeAuditLogs" {
		t.Errorf("tables %v", f.last().Details["tables"])
	}
}

func TestQueryPanicIsAnsweredAndRecorded(t *testing.T) {
	f := newQueryFixture(t, func(context.Context, string) (*kql.Result, error) { panic("translator bug") })
	w := f.post(f.reader, `{"query": "print 1"}`)
	if w.Code != 500 || errorBody(t, w).Error != msgInternal {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if a := f.last(); a.Outcome != event.Failure || !strings.Contains(a.Details["cause"].(string), "translator bug") {
		t.Errorf("record: %+v", a)
	}
}

func TestQueryIndexDisabled(t *testing.T) {
	f := newQueryFixture(t, nil)
	w := f.post(f.reader, `{"query": "print 1"}`)
	if w.Code != 503 || errorBody(t, w).Error != MsgIndexDisabled {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if MsgIndexDisabled != "the query index is disabled (index.enabled: false in the configuration)" {
		t.Errorf("message changed: %q", MsgIndexDisabled)
	}
	if a := f.last(); a.Action != event.ActionQuery || a.Outcome != event.Failure || a.Status != 503 || a.Details["query"] != "print 1" {
		t.Errorf("record: %+v", a)
	}
}

// No unrecorded access: when the record cannot be stored, neither the
// result nor the query's own error reaches the client.
func TestQueryNotReturnedWhenNotRecorded(t *testing.T) {
	for _, tt := range []struct {
		name  string
		query QueryFunc
	}{
		{"success", okResult},
		{"query error", func(context.Context, string) (*kql.Result, error) {
			return nil, &kql.Error{Pos: kql.Pos{Line: 1, Col: 1}, Msg: "secret-looking detail"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newQueryFixture(t, tt.query)
			f.auditErr = errors.New("ledger: stopped after a write failure")
			w := f.post(f.reader, `{"query": "print 1"}`)
			if w.Code != 503 || errorBody(t, w).Error != MsgNotRecorded {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if s := w.Body.String(); strings.Contains(s, "bob") || strings.Contains(s, "Tables") || strings.Contains(s, "secret-looking") {
				t.Errorf("result leaked: %s", s)
			}
		})
	}
}

func TestQueryTextTruncatedInRecord(t *testing.T) {
	f := newQueryFixture(t, okResult)
	// A 3-byte character straddles the cut.
	q := strings.Repeat("a", MaxAuditedQueryBytes-1) + "€" + strings.Repeat("b", 100)
	body, _ := json.Marshal(QueryRequest{Query: q})
	if w := f.post(f.reader, string(body)); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	d := f.last().Details
	got, _ := d["query"].(string)
	if got != strings.Repeat("a", MaxAuditedQueryBytes-1) || !utf8.ValidString(got) {
		t.Errorf("recorded query of %d bytes", len(got))
	}
	if d["query_truncated"] != true || d["query_bytes"] != len(q) {
		t.Errorf("truncated %v bytes %v", d["query_truncated"], d["query_bytes"])
	}
	if f.queries[0] != q {
		t.Error("the engine did not get the whole query")
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"abc", 3, "abc", false},
		{"abcd", 3, "abc", true},
		{"a€", 2, "a", true},
		{"a€", 4, "a€", false},
		{"€€", 5, "€", true},
		{"", 0, "", false},
	} {
		got, cut := truncateUTF8(tt.in, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("truncateUTF8(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, cut, tt.want, tt.cut)
		}
	}
}

// The client's cancellation reaches the engine; the request is still
// recorded.
func TestQueryClientGone(t *testing.T) {
	f := newQueryFixture(t, func(ctx context.Context, _ string) (*kql.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/query", bytes.NewReader([]byte(`{"query": "print 1"}`)))
	req.Header.Set("Authorization", "Bearer "+f.reader)
	w := httptest.NewRecorder()
	cancel()
	f.srv.Handler().ServeHTTP(w, req)
	a := f.last()
	if a.Action != event.ActionQuery || a.Outcome != event.Failure || a.Status != statusClientClosed {
		t.Errorf("record: %+v", a)
	}
}

// A result without tables is answered {"Tables": []}; an engine that
// returns neither a result nor an error is an internal error.
func TestQueryEmptyAndMissingResult(t *testing.T) {
	f := newQueryFixture(t, func(_ context.Context, q string) (*kql.Result, error) {
		if q == "let x = 1" {
			return &kql.Result{}, nil
		}
		return nil, nil
	})
	if w := f.post(f.reader, `{"query": "let x = 1"}`); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"Tables":[]}` {
		t.Errorf("no tables: %d %s", w.Code, w.Body)
	}
	if a := f.last(); a.Outcome != event.Success || a.Details["rows"] != 0 || a.Details["result_tables"] != 0 {
		t.Errorf("record: %+v", a)
	}
	if w := f.post(f.reader, `{"query": "print 1"}`); w.Code != 500 {
		t.Errorf("nil result: %d %s", w.Code, w.Body)
	}
	if a := f.last(); a.Outcome != event.Failure || a.Status != 500 {
		t.Errorf("record: %+v", a)
	}
}
