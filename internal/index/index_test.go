package index

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// fixtureSource is the golden test's ledger: a self-audit record, the
// events of testdata/events.jsonl, a record of a table without a mapping
// and another self-audit record.
func fixtureSource(tb testing.TB) *memSource {
	tb.Helper()
	at := testReceived.Add(-time.Hour)
	src := newMemSource(selfRecord(tb, event.SelfAudit{Action: event.ActionLedgerInit, Class: event.LogInitStop,
		Details: map[string]any{"version": "test"}}, at))
	src.append(auditRecords(tb, fixtureEvents(tb))...)
	src.append(otherRecord(tb, "Unmapped", at))
	src.append(selfRecord(tb, event.SelfAudit{Action: event.ActionAuthFailed, User: "", Outcome: event.Failure,
		Status: 401, OriginIP: "203.0.113.9", Agent: "curl/8.5.0", Resource: "/v1/query", Class: event.InvalidAccess,
		Details: map[string]any{"reason": "invalid token", "path": "/v1/query"}}, at.Add(time.Second)))
	return src
}

// indexed returns an in-memory index holding all of src.
func indexed(tb testing.TB, src Source) *Index {
	tb.Helper()
	x := openIndex(tb, "", Options{})
	if err := x.Rebuild(context.Background(), src); err != nil {
		tb.Fatal(err)
	}
	return x
}

// renderRows renders every row of table, ordered by seq, as JSON objects
// with the columns in order: dynamic columns as their stored JSON text,
// datetimes with microseconds.
func renderRows(tb testing.TB, x *Index, table string) []byte {
	tb.Helper()
	rel, ok := Lookup(table)
	if !ok {
		tb.Fatalf("no relation %s", table)
	}
	var sel []string
	for _, c := range rel.Columns {
		q := quoteIdent(c.Name)
		switch c.Type {
		case Dynamic:
			q = "CAST(" + q + " AS VARCHAR)"
		case DateTime:
			q = "strftime(" + q + ", '%Y-%m-%dT%H:%M:%S.%fZ')"
		}
		sel = append(sel, q)
	}
	rows, err := x.DB().Query("SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(table) + " ORDER BY seq")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var b bytes.Buffer
	b.WriteString("[")
	n := 0
	for rows.Next() {
		vals := make([]any, len(rel.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			b.WriteString(",")
		}
		n++
		b.WriteString("\n  {")
		for i, c := range rel.Columns {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n    %s: ", jsonText(tb, c.Name))
			switch v := vals[i].(type) {
			case nil:
				b.WriteString("null")
			case string:
				if c.Type == Dynamic {
					b.WriteString(v)
				} else {
					b.Write(jsonText(tb, v))
				}
			default:
				b.Write(jsonText(tb, v))
			}
		}
		b.WriteString("\n  }")
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// jsonText marshals v without escaping HTML characters.
func jsonText(tb testing.TB, v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	golden.Check(tb, filepath.Join("testdata", name), got, *update)
}

// TestGoldenRows renders the rows of the fixture ledger.
func TestGoldenRows(t *testing.T) {
	x := indexed(t, fixtureSource(t))
	for _, table := range []string{TableKubeAuditLogs, TableCdewatchAudit} {
		t.Run(table, func(t *testing.T) {
			checkGolden(t, table+".golden.json", renderRows(t, x, table))
		})
	}
	// Every dynamic value in the golden file is valid JSON.
	for _, table := range []string{TableKubeAuditLogs, TableCdewatchAudit} {
		var v any
		if err := json.Unmarshal(renderRows(t, x, table), &v); err != nil {
			t.Errorf("%s rows are not JSON: %v", table, err)
		}
	}
}

// TestColumnValues checks column values and what DuckDB does with them:
// microsecond timestamps, JSON operators on dynamic columns, the views.
func TestColumnValues(t *testing.T) {
	x := indexed(t, fixtureSource(t))
	const bob = `'7875cd97-a391-47f6-9d87-a187c8fbd5b8'`
	const crb = `'5b1f0a2c-9d3e-4f6a-8b7c-1d2e3f4a5b6c'`
	tests := []struct {
		name, query string
		want        string // the first column of each row, joined by "|"; NULL as "<null>"
	}{
		{"microseconds kept", `SELECT epoch_us(StageReceivedTime) % 1000000 FROM KubeAuditLogs WHERE AuditId = ` + bob, "903735"},
		{"TimeGenerated is stageTimestamp", `SELECT TimeGenerated = StageReceivedTime FROM KubeAuditLogs WHERE AuditId = ` + bob, "true"},
		{"ReceivedTime", `SELECT strftime(ReceivedTime, '%H:%M:%S.%f') FROM KubeAuditLogs WHERE AuditId = ` + bob, "17:00:00.123456"},
		{"v1beta1 time from timestamp", `SELECT strftime(TimeGenerated, '%Y-%m-%d %H:%M:%S') || ' ' || coalesce(CAST(StageReceivedTime AS VARCHAR), '<null>') FROM KubeAuditLogs WHERE Verb = 'update'`, "2026-01-02 16:32:10 <null>"},
		{"->> on User", `SELECT User->>'username' FROM KubeAuditLogs WHERE AuditId = ` + bob, "bob@corp.example"},
		{"->> on array element", `SELECT SourceIps->>1 FROM KubeAuditLogs WHERE Status = 401`, "203.0.113.99"},
		{"json_extract_string with a dotted key", `SELECT json_extract_string(Annotations, '$."authorization.k8s.io/decision"') FROM KubeAuditLogs WHERE Status = 403`, "forbid"},
		{"-> then ->>", `SELECT RequestObject->'roleRef'->>'name' FROM KubeAuditLogs WHERE AuditId = ` + crb, "cluster-admin"},
		{"escaped JSON decoded by DuckDB", `SELECT RequestObject->'metadata'->'annotations'->>'note' FROM KubeAuditLogs WHERE AuditId = ` + crb, `<ops & "admins"> café ✓`},
		{"json_extract number", `SELECT CAST(json_extract(ResponseStatus, '$.code') AS INTEGER) FROM KubeAuditLogs ORDER BY seq`, "200|401|<null>|201|200|409|403"},
		{"Status column", `SELECT Status FROM KubeAuditLogs ORDER BY seq`, "200|401|0|201|200|409|403"},
		{"Outcome", `SELECT Outcome FROM KubeAuditLogs ORDER BY seq`, "success|failure|unknown|success|success|failure|failure"},
		{"Caller with impersonation", `SELECT Caller FROM KubeAuditLogs WHERE AuditId = ` + bob, "bob@corp.example (as system:serviceaccount:payments:payment-api)"},
		{"ImpersonatedUser", `SELECT ImpersonatedUser->>'username' FROM KubeAuditLogs WHERE AuditId = ` + bob, "system:serviceaccount:payments:payment-api"},
		{"Caller empty after failed authentication", `SELECT '[' || Caller || ']' FROM KubeAuditLogs WHERE Status = 401`, "[]"},
		{"OperationName", `SELECT OperationName FROM KubeAuditLogs ORDER BY seq`, "get secrets|list secrets|create pods/exec|create clusterrolebindings|get /healthz|update configmaps|watch secrets"},
		{"ObjectRef_Resource", `SELECT ObjectRef_Resource FROM KubeAuditLogs ORDER BY seq`, "secrets|secrets|pods|clusterrolebindings||configmaps|secrets"},
		{"no ObjectRef for a non-resource request", `SELECT ObjectRef IS NULL FROM KubeAuditLogs WHERE RequestUri = '/healthz'`, "true"},
		{"JSON null is NULL", `SELECT RequestObject IS NULL FROM KubeAuditLogs WHERE Verb = 'update'`, "true"},
		{"CallerIpAddress is the last source IP", `SELECT CallerIpAddress FROM KubeAuditLogs WHERE Status = 401`, "203.0.113.99"},
		{"Resource", `SELECT Resource FROM KubeAuditLogs WHERE Stage = 'RequestReceived'`, "payments/pods/card-processor-6b8d9f7c4-qz7xk/exec"},
		{"Pci", `SELECT Pci FROM KubeAuditLogs WHERE AuditId = ` + bob, "chd-access"},
		{"Pci of a denied watch", `SELECT Pci FROM KubeAuditLogs WHERE Status = 403`, "chd-access,invalid-access"},
		{"AKSAudit is KubeAuditLogs", `SELECT count(*) FROM AKSAudit`, "7"},
		{"AKSAuditAdmin drops get and list", `SELECT Verb FROM AKSAuditAdmin ORDER BY seq`, "create|create|update|watch"},
		{"seq is the ledger index", `SELECT seq FROM KubeAuditLogs ORDER BY seq`, "1|2|3|4|5|6|7"},
		{"Source", `SELECT DISTINCT Source FROM KubeAuditLogs`, "aks-pci-prod"},
		{"self-audit", `SELECT OperationName || ' ' || Outcome || ' ' || Status || ' ' || Pci || ' ' || (Details->>'reason') FROM CdewatchAudit WHERE seq = 9`, "auth.failed failure 401 invalid-access invalid token"},
		{"self-audit Caller", `SELECT Caller FROM CdewatchAudit ORDER BY seq`, "system:cdewatch|system:cdewatch"},
		{"self-audit details", `SELECT Details->>'action' FROM CdewatchAudit ORDER BY seq`, "ledger.init|auth.failed"},
		{"dynamic columns are JSON", `SELECT DISTINCT typeof(User) FROM KubeAuditLogs`, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryColumn(t, x.DB(), tt.query); got != tt.want {
				t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
			}
		})
	}
}

// queryColumn returns the first column of each row, joined by "|".
func queryColumn(tb testing.TB, db *sql.DB, q string) string {
	tb.Helper()
	rows, err := db.Query(q)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		if !v.Valid {
			out = append(out, "<null>")
		} else {
			out = append(out, v.String)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(out, "|")
}

// TestDynamicTextKept checks that a dynamic column stores the event's text
// for the value byte for byte.
func TestDynamicTextKept(t *testing.T) {
	events := fixtureEvents(t)
	x := indexed(t, newMemSource(auditRecords(t, events)...))
	for i, ev := range events {
		m, ok := objectMembers(ev)
		if !ok {
			t.Fatal("fixture is not an object")
		}
		for {
			k, v, _, ok := m.next()
			if !ok {
				break
			}
			col := map[string]string{"user": "User", "objectRef": "ObjectRef", "requestObject": "RequestObject",
				"responseObject": "ResponseObject", "annotations": "Annotations", "sourceIPs": "SourceIps"}[string(k)]
			if col == "" || isNull(v) {
				continue
			}
			got := queryColumn(t, x.DB(), fmt.Sprintf(`SELECT CAST(%s AS VARCHAR) FROM KubeAuditLogs WHERE seq = %d`, quoteIdent(col), i))
			if got != string(v) {
				t.Errorf("event %d %s:\n got %s\nwant %s", i, col, got, v)
			}
		}
	}
}

// TestSkipAndInvalid checks that records of tables without a mapping and
// records that cannot be decoded are skipped, counted and covered by the
// cursor, and that an event whose raw bytes are not what the audit decoder
// accepts still gets a row.
func TestSkipAndInvalid(t *testing.T) {
	at := testReceived
	notJSON := event.Record{Time: at, Received: at, Source: "c", Table: event.TableKubeAudit,
		Key: "a1b2/ResponseComplete", User: "u", Action: "delete pods", Outcome: event.Success, Status: 200,
		Raw: []byte("this is not json \xff")}
	badValue := notJSON
	badValue.Key = "c3d4/ResponseComplete"
	badValue.Raw = []byte(`{"auditID":"c3d4","stage":"ResponseComplete","verb":"delete","user":{"username":bad},"objectRef":{"resource":"pods"}}`)
	notUTF8 := notJSON
	notUTF8.Key = "e5f6/ResponseComplete"
	notUTF8.Raw = []byte("{\"auditID\":\"e5f6\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"user\":{\"username\":\"b\xffob\"},\"objectRef\":{\"resource\":\"po\xc3ds\"}}")
	enc := func(r event.Record) []byte {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	recs := [][]byte{
		otherRecord(t, "NoSuchTable", at),               // 0 skipped
		enc(notJSON),                                    // 1 row, fallback fields
		[]byte("\x07garbage"),                           // 2 invalid
		otherRecord(t, "Unmapped", at),                  // 3 skipped
		enc(badValue),                                   // 4 row, User NULL
		otherRecord(t, "NoSuchTable", at),               // 5 skipped
		selfRecord(t, event.SelfAudit{Action: "x"}, at), // 6 row
		enc(notUTF8),                                    // 7 row, U+FFFD for each invalid byte
	}
	x := indexed(t, newMemSource(recs...))
	s := x.Stats()
	if s.Cursor != 8 || s.Skipped != 3 || s.Invalid != 1 || s.Indexed != 4 || s.Lag != 0 {
		t.Errorf("stats = %+v, want cursor 8, 3 skipped, 1 invalid, 4 indexed", s)
	}
	if want := map[string]uint64{"NoSuchTable": 2, "Unmapped": 1}; !mapsEqual(s.SkippedTables, want) {
		t.Errorf("SkippedTables = %v, want %v", s.SkippedTables, want)
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, []uint64{1, 4, 7})
	checkExactlyOnce(t, x, TableCdewatchAudit, []uint64{6})
	for q, want := range map[string]string{
		`SELECT AuditId || ' ' || Stage || ' ' || Verb || ' ' || (User IS NULL) FROM KubeAuditLogs WHERE seq = 1`:                                  "a1b2 ResponseComplete delete true",
		`SELECT AuditId || ' ' || (User IS NULL) || ' ' || ObjectRef_Resource || ' ' || (ObjectRef->>'resource') FROM KubeAuditLogs WHERE seq = 4`: "c3d4 true pods pods",
		`SELECT (User->>'username') || ' ' || ObjectRef_Resource || ' ' || (ObjectRef->>'resource') FROM KubeAuditLogs WHERE seq = 7`:              "b\uFFFDob po\uFFFDds po\uFFFDds",
	} {
		if got := queryColumn(t, x.DB(), q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	// The counts survive a reopen.
	path := filepath.Join(t.TempDir(), "index.duckdb")
	y := openIndex(t, path, Options{})
	if err := y.Rebuild(context.Background(), newMemSource(recs...)); err != nil {
		t.Fatal(err)
	}
	y.Close()
	y = openIndex(t, path, Options{})
	if s := y.Stats(); s.Cursor != 8 || s.Skipped != 3 || s.Invalid != 1 {
		t.Errorf("after reopen: %+v", s)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRunWaitFor tails a growing source and checks WaitFor, Lag and
// Notify.
func TestRunWaitFor(t *testing.T) {
	recs := demoRecords(t, 3000)
	src := newMemSource()
	// A long poll interval: only Notify makes Run read promptly.
	x := openIndex(t, "", Options{PollInterval: time.Hour, MaxBatch: 500})
	stop := runIndex(t, x, src)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := x.WaitFor(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor on an empty source = %v, want DeadlineExceeded", err)
	}
	for i := 0; i < len(recs); i += 700 {
		n := src.append(recs[i:min(i+700, len(recs))]...)
		x.Notify()
		waitFor(t, x, n-1)
		if got := queryInt(t, x, `SELECT count(*) FROM KubeAuditLogs`); uint64(got) != n {
			t.Fatalf("after WaitFor(%d): %d rows, want %d", n-1, got, n)
		}
		if x.Lag() != 0 || x.Cursor() != n {
			t.Fatalf("lag %d cursor %d, want 0 and %d", x.Lag(), x.Cursor(), n)
		}
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))

	// A second Run or a Rebuild while one runs is refused.
	if err := x.Run(context.Background(), src); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if err := x.Rebuild(context.Background(), src); !errors.Is(err, ErrRunning) {
		t.Errorf("Rebuild during Run = %v, want ErrRunning", err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	// Lag counts what arrived after Run stopped.
	src.append(selfRecord(t, event.SelfAudit{Action: "x"}, testReceived))
	if x.Lag() != 1 {
		t.Errorf("Lag = %d, want 1", x.Lag())
	}
	// Close releases waiters.
	errc := make(chan error, 1)
	go func() { errc <- x.WaitFor(context.Background(), 1<<40) }()
	time.Sleep(10 * time.Millisecond)
	x.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitFor after Close = %v, want ErrClosed", err)
	}
	if err := x.Run(context.Background(), src); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
}

// TestCloseStopsRun checks that Close stops a running Run.
func TestCloseStopsRun(t *testing.T) {
	x := openIndex(t, "", Options{})
	done := make(chan error, 1)
	go func() { done <- x.Run(context.Background(), newMemSource()) }()
	time.Sleep(20 * time.Millisecond)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after Close, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

// TestFailedBatchRolledBack makes the source fail in the middle of a batch:
// nothing of the batch may be visible, and once the source recovers every
// record is indexed exactly once.
func TestFailedBatchRolledBack(t *testing.T) {
	recs := demoRecords(t, 2500)
	src := newMemSource(recs...)
	failures := 0
	src.setFail(func(seq uint64) error {
		if seq == 1234 {
			failures++
			return errors.New("disk on fire")
		}
		return nil
	})
	x := openIndex(t, "", Options{MaxBatch: 1000, RetryInterval: 20 * time.Millisecond})
	runIndex(t, x, src)
	eventually(10*time.Second, func() bool { return x.Stats().Err != nil })
	s := x.Stats()
	if s.Err == nil || !strings.Contains(s.Err.Error(), "disk on fire") {
		t.Fatalf("Stats().Err = %v, want the source's error", s.Err)
	}
	if s.Cursor != 1000 {
		t.Errorf("cursor %d during failures, want 1000 (batch boundary)", s.Cursor)
	}
	if got := queryInt(t, x, `SELECT count(*) FROM KubeAuditLogs`); got != 1000 {
		t.Errorf("%d rows visible during failures, want 1000", got)
	}
	src.setFail(nil)
	waitFor(t, x, uint64(len(recs)-1))
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))
	if x.Stats().Err != nil {
		t.Errorf("Err = %v after recovery, want nil", x.Stats().Err)
	}
}

// TestResumeAfterStop stops Run part way, reopens the database file and
// resumes: every record is indexed exactly once.
func TestResumeAfterStop(t *testing.T) {
	recs := demoRecords(t, 6000)
	path := filepath.Join(t.TempDir(), "index.duckdb")
	src := newMemSource(recs...)
	// A slow source, so that a round stops long before the end.
	src.setFail(func(uint64) error {
		time.Sleep(50 * time.Microsecond)
		return nil
	})
	opts := Options{MaxBatch: 300, FlushRows: 1000}
	for round := 0; round < 3; round++ {
		x := openIndex(t, path, opts)
		start := x.Cursor()
		stop := runIndex(t, x, src)
		waitFor(t, x, start+1000)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d → %d", round, start, x.Cursor())
	}
	src.setFail(nil)
	x := openIndex(t, path, opts)
	if x.Cursor() == uint64(len(recs)) {
		t.Fatal("indexed everything before the last round; make the rounds smaller")
	}
	runIndex(t, x, src)
	waitFor(t, x, uint64(len(recs)-1))
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))
}

// TestRebuild checks that Rebuild drops what the tables hold and indexes
// the source from the start.
func TestRebuild(t *testing.T) {
	src := fixtureSource(t)
	path := filepath.Join(t.TempDir(), "index.duckdb")
	x := openIndex(t, path, Options{})
	stop := runIndex(t, x, src)
	waitFor(t, x, src.Size()-1)
	stop() // flushes the stage into the file's tables
	want := renderRows(t, x, TableKubeAuditLogs)
	// Damage the index: a stray row and a lost one.
	if _, err := x.DB().Exec(`INSERT INTO main.KubeAuditLogs (seq, Caller) VALUES (999, 'intruder')`); err != nil {
		t.Fatal(err)
	}
	if _, err := x.DB().Exec(`DELETE FROM main.KubeAuditLogs WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if err := x.Rebuild(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if got := renderRows(t, x, TableKubeAuditLogs); !bytes.Equal(got, want) {
		t.Errorf("after Rebuild:\n%s\nwant\n%s", got, want)
	}
	if s := x.Stats(); s.Cursor != src.Size() || s.Skipped != 1 {
		t.Errorf("stats after Rebuild: %+v", s)
	}
	// A canceled Rebuild leaves a consistent prefix that Run completes.
	big := newMemSource(demoRecords(t, 3000)...)
	y := openIndex(t, filepath.Join(t.TempDir(), "big.duckdb"), Options{MaxBatch: 500})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		y.WaitFor(ctx, 600)
		cancel()
	}()
	if err := y.Rebuild(ctx, big); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Rebuild = %v", err)
	}
	if c := y.Cursor(); c == 0 || c == big.Size() {
		t.Logf("cursor %d after cancel", c)
	}
	runIndex(t, y, big)
	waitFor(t, y, big.Size()-1)
	checkExactlyOnce(t, y, TableKubeAuditLogs, seqRange(0, big.Size()))
}

// TestSchemaVersionChange checks that an index built under another schema
// version is emptied on Open.
func TestSchemaVersionChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.duckdb")
	src := fixtureSource(t)
	x := openIndex(t, path, Options{})
	if err := x.Rebuild(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if _, err := x.DB().Exec(`UPDATE ` + qualify(fileSchema, stateName) + ` SET version = 'old'`); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = openIndex(t, path, Options{})
	if x.Cursor() != 0 {
		t.Errorf("cursor %d after a schema change, want 0", x.Cursor())
	}
	if n := queryInt(t, x, `SELECT count(*) FROM KubeAuditLogs`); n != 0 {
		t.Errorf("%d rows after a schema change, want 0", n)
	}
	x.Close()
	// The same version keeps the index.
	x = openIndex(t, path, Options{})
	if err := x.Rebuild(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = openIndex(t, path, Options{})
	if x.Cursor() != src.Size() {
		t.Errorf("cursor %d after reopen, want %d", x.Cursor(), src.Size())
	}
}

// TestSchemaMatchesDuckDB checks the catalog against the tables DuckDB
// created, and the catalog's own rules.
func TestSchemaMatchesDuckDB(t *testing.T) {
	x := openIndex(t, "", Options{})
	kinds := map[Type]bool{String: true, Long: true, Int: true, Real: true, Bool: true, DateTime: true, TimeSpan: true, Dynamic: true}
	for _, r := range Relations() {
		t.Run(r.Name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, c := range r.Columns {
				if !kinds[c.Type] {
					t.Errorf("column %s: type %q is not a KQL type", c.Name, c.Type)
				}
				if l := strings.ToLower(c.Name); seen[l] {
					t.Errorf("column %s: duplicate (DuckDB names are case-insensitive)", c.Name)
				} else {
					seen[l] = true
				}
				if c.Doc == "" {
					t.Errorf("column %s has no doc", c.Name)
				}
			}
			if _, ok := r.Column(ColSeq); !ok {
				t.Errorf("no %s column", ColSeq)
			}
			if _, ok := r.Column(ColTimeGenerated); !ok {
				t.Errorf("no %s column", ColTimeGenerated)
			}
			rows, err := x.DB().Query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position`, querySchema, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got, want []string
			for rows.Next() {
				var n, ty string
				if err := rows.Scan(&n, &ty); err != nil {
					t.Fatal(err)
				}
				got = append(got, n+" "+ty)
			}
			for _, c := range r.Columns {
				want = append(want, c.Name+" "+c.SQLType())
			}
			if !slices.Equal(got, want) {
				t.Errorf("DuckDB columns\n%v\ncatalog\n%v", got, want)
			}
		})
	}
	if r, ok := Lookup("aksaudit"); ok {
		t.Errorf("Lookup is case-insensitive: found %s", r.Name)
	}
	for name, m := range mappings {
		if _, ok := Lookup(m.table); !ok {
			t.Errorf("mapping of %s targets %s, not in the catalog", name, m.table)
		}
	}
}

// TestSchemaDoc keeps SCHEMA.md in step with the catalog.
func TestSchemaDoc(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("# Index schema\n\n")
	b.WriteString("The tables and views of the index (package `internal/index`), generated from its catalog\n")
	b.WriteString("by `go test ./internal/index -run TestSchemaDoc -update`. KQL types; DuckDB types in parentheses.\n")
	b.WriteString("String columns hold \"\" for an absent value; datetime and dynamic columns hold null. Text is UTF-8 (an\n")
	b.WriteString("invalid byte becomes U+FFFD). A dynamic column holds its value's JSON text as the source wrote it, or null\n")
	b.WriteString("when that text is not JSON as RFC 8259 defines it (DuckDB's extensions, NaN and trailing commas, included),\n")
	b.WriteString("nests deeper than 10,000 levels, or has a lone UTF-16 surrogate escape; the ledger keeps the original.\n")
	b.WriteString("Datetimes keep microseconds; timespan columns hold a count of microseconds (not Kusto's 100ns ticks).\n")
	for _, r := range Relations() {
		fmt.Fprintf(&b, "\n## %s\n\n%s.\n", r.Name, r.Doc)
		if r.IsView() {
			fmt.Fprintf(&b, "\nA view of %s", r.Base)
			if r.Where != "" {
				fmt.Fprintf(&b, " where `%s`", r.Where)
			}
			b.WriteString("; the same columns.\n")
			continue
		}
		b.WriteString("\n| column | type | meaning |\n|---|---|---|\n")
		for _, c := range r.Columns {
			typ := c.SQLType()
			if c.Compression != "" {
				typ += ", " + c.Compression + " compressed"
			}
			fmt.Fprintf(&b, "| %s | %s (%s) | %s |\n", c.Name, c.Type, typ, strings.ReplaceAll(c.Doc, "|", `\|`))
		}
	}
	// The rest of SCHEMA.md, from its hand-written section on, is kept.
	const handWritten = "\n## The cursor and the stage\n"
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte(handWritten))
	if i < 0 {
		t.Fatalf("SCHEMA.md has no section %q", strings.TrimSpace(handWritten))
	}
	got := append(b.Bytes(), doc[i:]...)
	if *update {
		if err := os.WriteFile("SCHEMA.md", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, doc) {
		t.Errorf("SCHEMA.md is out of date (go test ./internal/index -run TestSchemaDoc -update)")
	}
}

// TestNoExternalAccess checks that SQL cannot read files or load
// extensions unless allowed.
func TestNoExternalAccess(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(csv, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := openIndex(t, filepath.Join(dir, "index.duckdb"), Options{})
	for _, q := range []string{
		fmt.Sprintf(`SELECT count(*) FROM read_csv('%s')`, csv),
		`LOAD httpfs`,
		fmt.Sprintf(`COPY (SELECT 1) TO '%s'`, filepath.Join(dir, "out.csv")),
	} {
		if _, err := x.DB().Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	y := openIndex(t, "", Options{AllowExternalAccess: true})
	if n := queryInt(t, y, fmt.Sprintf(`SELECT count(*) FROM read_csv('%s')`, csv)); n != 1 {
		t.Errorf("read_csv with external access: %d rows", n)
	}
}

// TestLedger indexes records from a real ledger.
func TestLedger(t *testing.T) {
	l, err := ledger.Open(ledger.Options{
		Dir: t.TempDir(), Origin: "test.cdewatch/index", CheckpointInterval: time.Hour,
		InitRecord: func() ([]byte, error) {
			r, err := event.SelfAudit{Action: event.ActionLedgerInit, Class: event.LogInitStop}.Record(testReceived)
			if err != nil {
				return nil, err
			}
			return r.MarshalBinary()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{PollInterval: time.Hour})
	runIndex(t, x, l)
	x.Notify()
	waitFor(t, x, 0) // the initialization record
	recs := demoRecords(t, 5000)
	for i := 0; i < len(recs); i += 800 {
		first, err := l.Append(context.Background(), recs[i:min(i+800, len(recs))])
		if err != nil {
			t.Fatal(err)
		}
		x.Notify()
		waitFor(t, x, first+uint64(min(800, len(recs)-i))-1)
	}
	size := l.Size()
	if size != uint64(len(recs))+1 {
		t.Fatalf("ledger size %d", size)
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(1, size))
	checkExactlyOnce(t, x, TableCdewatchAudit, []uint64{0})
	// Rows match the ledger's records.
	type fields struct {
		caller, op string
		at         time.Time
	}
	want := map[uint64]fields{}
	err = l.ReadRange(1, size, func(seq uint64, rec []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(rec); err != nil {
			return err
		}
		want[seq] = fields{r.User, r.Action, r.Time.Truncate(time.Microsecond)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.DB().Query(`SELECT seq, Caller, OperationName, TimeGenerated FROM KubeAuditLogs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	mismatches := 0
	for rows.Next() {
		var seq uint64
		var got fields
		if err := rows.Scan(&seq, &got.caller, &got.op, &got.at); err != nil {
			t.Fatal(err)
		}
		if w := want[seq]; got.caller != w.caller || got.op != w.op || !got.at.Equal(w.at) {
			if mismatches++; mismatches < 5 {
				t.Errorf("seq %d: row %+v, record %+v", seq, got, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
