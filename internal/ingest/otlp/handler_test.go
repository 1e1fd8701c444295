package otlp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cdewatch/cdewatch/internal/appaccess"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/event/eventtest"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

// k8sResource is what the Collector's k8sattributes processor puts on a
// container's log records.
var k8sResource = []attribute.KeyValue{
	attribute.String("k8s.pod.name", "tokenizer-0"),
	attribute.String("k8s.namespace.name", "payments"),
	attribute.String("k8s.container.name", "tokenizer"),
	attribute.String("k8s.pod.uid", "3c4d5e6f"),
	attribute.String("k8s.node.name", "aks-nodepool1-12345678-vmss000003"),
	attribute.String("container.image.name", "contoso.azurecr.io/payments/tokenizer"),
	attribute.String("container.image.tag", "2.0.1"),
	attribute.String("service.name", "tokenizer"),
}

// auditEvent is a Kubernetes audit event as the API server logs it.
const auditEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6f1c2a4e-0b7d-4c1e-9d2a-1f3e5b7c9d01","stage":"ResponseComplete",` +
	`"requestURI":"/api/v1/namespaces/payments/secrets/card-key","verb":"get","user":{"username":"alice@contoso.com","groups":["payments-devs"]},` +
	`"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.33.1","objectRef":{"resource":"secrets","namespace":"payments","name":"card-key","apiVersion":"v1"},` +
	`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-26T11:59:58.100000Z","stageTimestamp":"2026-11-26T11:59:58.120000Z"}`

var (
	t1 = time.Date(2026, 11, 26, 11, 59, 0, 123456789, time.UTC)
	t2 = time.Date(2026, 11, 26, 11, 59, 1, 0, time.UTC)
)

// logRecord builds an SDK log record.
func logRecord(ts time.Time, sev otellog.Severity, body attribute.Value, attrs ...attribute.KeyValue) otellog.Record {
	var r otellog.Record
	r.SetTimestamp(ts)
	r.SetObservedTimestamp(ts.Add(time.Millisecond))
	r.SetSeverity(sev)
	r.SetSeverityText(sev.String())
	r.SetBody(body)
	r.AddAttributes(attrs...)
	return r
}

// sendSDK exports recs with the OpenTelemetry Go SDK's OTLP/HTTP log
// exporter to url, as a service with resource attributes res, in one
// request (one batch), and returns what the export returned.
func sendSDK(tb testing.TB, url string, res []attribute.KeyValue, recs []otellog.Record, opts ...otlploghttp.Option) error {
	tb.Helper()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, append([]otlploghttp.Option{
		otlploghttp.WithEndpointURL(url + "/v1/logs"),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + testToken}),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 30 * time.Second}),
	}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(res...)),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportInterval(time.Hour), sdklog.WithMaxQueueSize(len(recs)+1), sdklog.WithExportMaxBatchSize(len(recs)+1))),
	)
	defer func() {
		if err := lp.Shutdown(ctx); err != nil {
			tb.Errorf("shutting the logger provider down: %v", err)
		}
	}()
	logger := lp.Logger("cdewatch.test/otlp", otellog.WithInstrumentationVersion("1.0.0"))
	for _, r := range recs {
		logger.Emit(ctx, r)
	}
	return lp.ForceFlush(ctx)
}

// panNumbers are the card numbers the tests send.
var panNumbers = []string{"4111 1111 1111 1111", "4111111111111111", "5500000000000004"}

func checkNoPAN(t *testing.T, recs []event.Record) {
	t.Helper()
	for _, r := range recs {
		for _, s := range []string{string(r.Raw), r.User, r.Action, r.Resource} {
			for _, pan := range panNumbers {
				if strings.Contains(s, pan) {
					t.Errorf("card number %s reached the ledger in a %s record: %s", pan, r.Table, s)
				}
			}
		}
	}
}

// TestSDKExport sends log records with the OpenTelemetry Go SDK's OTLP
// exporter and reads back what the ledger holds.
func TestSDKExport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		res   []attribute.KeyValue
		recs  []otellog.Record
		opts  []otlploghttp.Option
		check func(t *testing.T, recs []event.Record)
	}{
		{
			name: "container logs",
			res:  k8sResource,
			recs: []otellog.Record{
				logRecord(t1, otellog.SeverityInfo, attribute.StringValue("tokenized card for merchant 4410"), attribute.String("log.iostream", "stdout")),
				logRecord(t2, otellog.SeverityWarn, attribute.StringValue("token refresh failed"), attribute.String("log.iostream", "stderr")),
			},
			check: checkContainerLogs,
		},
		{
			name: "container logs gzip",
			res:  k8sResource,
			recs: []otellog.Record{
				logRecord(t1, otellog.SeverityInfo, attribute.StringValue("tokenized card for merchant 4410"), attribute.String("log.iostream", "stdout")),
				logRecord(t2, otellog.SeverityWarn, attribute.StringValue("token refresh failed"), attribute.String("log.iostream", "stderr")),
			},
			opts:  []otlploghttp.Option{otlploghttp.WithCompression(otlploghttp.GzipCompression)},
			check: checkContainerLogs,
		},
		{
			name: "audit event in the body",
			res: []attribute.KeyValue{
				attribute.String("service.name", "kube-apiserver"), attribute.String("k8s.node.name", "aks-system-0"),
			},
			recs: []otellog.Record{
				logRecord(t1, otellog.SeverityInfo, attribute.StringValue(auditEvent), attribute.String("log.file.path", "/var/log/kube-audit/audit.log")),
			},
			check: func(t *testing.T, recs []event.Record) {
				if len(recs) != 1 || recs[0].Table != event.TableKubeAudit {
					t.Fatalf("stored %v, want one KubeAuditLogs record", tables(recs))
				}
				r := recs[0]
				if r.Key != "6f1c2a4e-0b7d-4c1e-9d2a-1f3e5b7c9d01/ResponseComplete" || r.User != "alice@contoso.com" ||
					r.Action != "get secrets" || r.Resource != "payments/secrets/card-key" || r.Status != 200 || r.OriginIP != "10.1.2.3" {
					t.Errorf("audit record %+v", r)
				}
				if r.PCI&event.CHDAccess == 0 {
					t.Errorf("reading a secret of the CDE namespace is not classified as CHD access: %v", r.PCI)
				}
				if !r.Time.Equal(time.Date(2026, 11, 26, 11, 59, 58, 120000000, time.UTC)) {
					t.Errorf("time %v, want the stage timestamp", r.Time)
				}
				if string(r.Raw) != auditEvent {
					t.Errorf("raw is not the audit event as logged:\n%s", r.Raw)
				}
			},
		},
		{
			name: "app access records",
			res: append([]attribute.KeyValue{attribute.String("service.name", "checkout")},
				attribute.String("k8s.namespace.name", "payments"), attribute.String("k8s.pod.name", "checkout-7d9")),
			recs: []otellog.Record{
				logRecord(t1, otellog.SeverityInfo, attribute.MapValue(
					attribute.String("timestamp", "2026-11-26T11:59:00.5Z"), attribute.String("user_id", "u-1001"),
					attribute.String("action", "read"), attribute.String("resource", "cardholder/42"),
					attribute.String("result", "success"), attribute.String("source_ip", "10.2.3.4"),
					attribute.String("data_class", "pan"))),
				logRecord(t2, otellog.SeverityWarn, attribute.StringValue(
					`{"timestamp":"2026-11-26T11:59:01Z","user_id":"u-666","action":"export","resource":"cardholder/*","result":"denied","source_ip":"10.9.9.9"}`)),
				logRecord(t2, otellog.SeverityInfo, attribute.StringValue("checkout service started")),
			},
			check: func(t *testing.T, recs []event.Record) {
				apps := byTable(recs, event.TableAppAccess)
				if len(apps) != 2 || len(recs) != 3 {
					t.Fatalf("stored %v, want 2 AppAccess records and a ContainerLog", tables(recs))
				}
				for i, want := range []struct {
					user, action, origin string
					outcome              event.Outcome
					class                event.Class
				}{
					{"u-1001", "read", "10.2.3.4", event.Success, event.CHDAccess},
					{"u-666", "export", "10.9.9.9", event.Failure, event.CHDAccess | event.InvalidAccess},
				} {
					r := apps[i]
					if r.User != want.user || r.Action != want.action || r.OriginIP != want.origin || r.Outcome != want.outcome || r.PCI != want.class {
						t.Errorf("access record %d: %+v, want %+v", i, r, want)
					}
					app, a, err := appaccess.DecodeEnvelope(r.Raw)
					if err != nil || app != "checkout" || a.User != want.user {
						t.Errorf("access record %d envelope: app %q, %+v, %v", i, app, a, err)
					}
				}
				if !apps[0].Time.Equal(time.Date(2026, 11, 26, 11, 59, 0, 500000000, time.UTC)) {
					t.Errorf("access time %v", apps[0].Time)
				}
				cl := byTable(recs, event.TableContainerLog)
				if len(cl) != 1 || cl[0].Resource != "payments/pods/checkout-7d9" {
					t.Errorf("the plain line of the application: %+v", cl)
				}
			},
		},
		{
			name: "card numbers",
			res:  k8sResource,
			recs: []otellog.Record{
				logRecord(t1, otellog.SeverityInfo, attribute.StringValue("charging card 4111 1111 1111 1111 for order 77"), attribute.String("log.iostream", "stdout")),
				logRecord(t2, otellog.SeverityInfo, attribute.StringValue("refund issued"), attribute.String("note", "pan 5500000000000004")),
			},
			check: func(t *testing.T, recs []event.Record) {
				checkNoPAN(t, recs)
				if n := len(byTable(recs, event.TableContainerLog)); n != 2 {
					t.Errorf("%d ContainerLog records, want 2", n)
				}
				f := byAction(recs, event.ActionPANMasked)
				if len(f) != 1 {
					t.Fatalf("%d %s findings, want 1", len(f), event.ActionPANMasked)
				}
				var d struct {
					Count  int            `json:"count"`
					Source string         `json:"source"`
					Via    string         `json:"via"`
					Fields map[string]int `json:"fields"`
				}
				if err := json.Unmarshal(f[0].Raw, &d); err != nil {
					t.Fatal(err)
				}
				if d.Count != 2 || d.Source != testSource || d.Via != Via || d.Fields["raw:body"] != 1 || d.Fields["raw:attributes.note"] != 1 {
					t.Errorf("finding %+v", d)
				}
				if c, _ := logdoc.Extract(recs[0].Raw); c.Log != "charging card 4111 11** **** 1111 for order 77" {
					t.Errorf("masked line %q", c.Log)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l := newTestPipeline(t)
			srv := newServer(t, newTestHandler(p))
			before := l.Size()
			if err := sendSDK(t, srv.URL, tc.res, tc.recs, tc.opts...); err != nil {
				t.Fatalf("export: %v", err)
			}
			recs := eventtest.Stored(t, l, before)
			for _, r := range recs {
				if r.Table == event.TableCdewatchAudit {
					continue // findings about the delivery
				}
				if r.Source != testSource || !r.Received.Equal(testTime) {
					t.Errorf("%s record with source %q received %v", r.Table, r.Source, r.Received)
				}
			}
			tc.check(t, recs)
		})
	}
}

func tables(recs []event.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Table + ":" + r.Action
	}
	return out
}

func checkContainerLogs(t *testing.T, recs []event.Record) {
	t.Helper()
	if len(recs) != 2 {
		t.Fatalf("stored %v, want 2 ContainerLog records", tables(recs))
	}
	for i, want := range []struct {
		action, line, stream, severity string
		time                           time.Time
	}{
		{"log stdout", "tokenized card for merchant 4410", "stdout", "INFO", t1},
		{"log stderr", "token refresh failed", "stderr", "WARN", t2},
	} {
		r := recs[i]
		if r.Table != event.TableContainerLog || r.Action != want.action || r.Resource != "payments/pods/tokenizer-0/tokenizer" || !r.Time.Equal(want.time) {
			t.Errorf("record %d: %s %q %q %v", i, r.Table, r.Action, r.Resource, r.Time)
		}
		c, ok := logdoc.Extract(r.Raw)
		if !ok || c.Log != want.line || c.Stream != want.stream || c.PodName != "tokenizer-0" || c.PodNamespace != "payments" ||
			c.Computer != "aks-nodepool1-12345678-vmss000003" || c.Image != "contoso.azurecr.io/payments/tokenizer" || c.ImageTag != "2.0.1" || c.Agent != "otlp" {
			t.Errorf("record %d document reads as %+v:\n%s", i, c, r.Raw)
		}
		var doc struct {
			SeverityText string `json:"severityText"`
			Scope        struct {
				Name, Version string
			} `json:"scope"`
			Resource map[string]any `json:"resource"`
		}
		if err := json.Unmarshal(r.Raw, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.SeverityText != want.severity || doc.Scope.Name != "cdewatch.test/otlp" || doc.Scope.Version != "1.0.0" || doc.Resource["service.name"] != "tokenizer" {
			t.Errorf("record %d document %s", i, r.Raw)
		}
	}
}

// TestSDKPartialSuccess: a record the router refuses is rejected in the
// answer's partial_success (which the SDK reports) and recorded as an
// ingest.reject, while the others are stored.
func TestSDKPartialSuccess(t *testing.T) {
	p, l := newTestPipeline(t)
	srv := newServer(t, newTestHandler(p))
	before := l.Size()
	err := sendSDK(t, srv.URL, []attribute.KeyValue{attribute.String("service.name", "checkout")}, []otellog.Record{
		logRecord(t1, otellog.SeverityInfo, attribute.StringValue(`{"user_id":"u-1","action":"read"`)), // cut short
		logRecord(t1, otellog.SeverityInfo, attribute.StringValue(`{"user_id":"u-2","action":"read","result":"ok"}`)),
	})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 log records rejected") || !strings.Contains(err.Error(), "logRecords[0]") {
		t.Fatalf("export returned %v, want a partial success rejecting record 0", err)
	}
	recs := eventtest.Stored(t, l, before)
	if len(recs) != 2 || recs[0].Table != event.TableAppAccess || recs[0].User != "u-2" || recs[1].Action != event.ActionIngestReject {
		t.Fatalf("stored %v, want the good access record and a reject", tables(recs))
	}
	var d struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
		Via    string `json:"via"`
	}
	if err := json.Unmarshal(recs[1].Raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.Index != 0 || d.Via != Via || !strings.HasPrefix(d.Reason, "resourceLogs[0].scopeLogs[0].logRecords[0]: malformed JSON") {
		t.Errorf("reject %+v", d)
	}
}

// TestSDKPushback: while the ledger pushes back the handler answers 429
// with Retry-After; the SDK exporter retries and nothing is lost or
// stored twice.
func TestSDKPushback(t *testing.T) {
	p, l := newTestPipeline(t)
	pb := &pushback{next: p, n: 1}
	var st statusLog
	srv := newServer(t, st.wrap(newTestHandler(pb)))
	before := l.Size()
	start := time.Now()
	recs := make([]otellog.Record, 50)
	for i := range recs {
		recs[i] = logRecord(t1.Add(time.Duration(i)*time.Millisecond), otellog.SeverityInfo, attribute.StringValue(fmt.Sprintf("line %d", i)))
	}
	if err := sendSDK(t, srv.URL, k8sResource, recs); err != nil {
		t.Fatalf("export: %v", err)
	}
	if got := st.get(); len(got) != 2 || got[0] != http.StatusTooManyRequests || got[1] != http.StatusOK {
		t.Errorf("answers %v, want [429 200]", got)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the exporter retried after %v, before the Retry-After of 1s", d)
	}
	got := eventtest.Stored(t, l, before)
	if len(got) != len(recs) {
		t.Fatalf("%d records stored, want %d", len(got), len(recs))
	}
	for i, r := range got {
		if c, _ := logdoc.Extract(r.Raw); c.Log != fmt.Sprintf("line %d", i) {
			t.Errorf("record %d is %q", i, c.Log)
		}
	}
}

// TestJSON sends OTLP/JSON (as pdata's marshaler writes it) with net/http.
func TestJSON(t *testing.T) {
	p, l := newTestPipeline(t)
	srv := newServer(t, newTestHandler(p))

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "api-5f7")
	rl.Resource().Attributes().PutStr("k8s.namespace.name", "shop")
	rl.Resource().Attributes().PutStr("k8s.container.name", "api")
	sl := rl.ScopeLogs().AppendEmpty()
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t1))
	lr.Body().SetStr("GET /health 200")
	lr.Attributes().PutStr("log.iostream", "stdout")
	// An access record of an application, not valid: a reject.
	rl2 := logs.ResourceLogs().AppendEmpty()
	rl2.Resource().Attributes().PutStr("service.name", "checkout")
	bad := rl2.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	bad.Body().SetStr(`{"user_id": }`)
	body, err := plogotlp.NewExportRequestFromLogs(logs).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}

	before := l.Size()
	status, ct, out := post(t, srv.URL, "application/json", "", body)
	if status != http.StatusOK || ct != "application/json" {
		t.Fatalf("answer %d %s: %s", status, ct, out)
	}
	resp := plogotlp.NewExportResponse()
	if err := resp.UnmarshalJSON(out); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), "1 of 2 log records rejected") ||
		!strings.Contains(ps.ErrorMessage(), "resourceLogs[1].scopeLogs[0].logRecords[0]") {
		t.Errorf("partial success %d %q", ps.RejectedLogRecords(), ps.ErrorMessage())
	}
	recs := eventtest.Stored(t, l, before)
	if len(recs) != 2 || recs[0].Table != event.TableContainerLog || recs[0].Resource != "shop/pods/api-5f7/api" || recs[0].Action != "log stdout" ||
		recs[1].Action != event.ActionIngestReject {
		t.Fatalf("stored %v: %+v", tables(recs), recs)
	}
	if want := `{"time":"2026-11-26T11:59:00.123456789Z","body":"GET /health 200","attributes":{"log.iostream":"stdout"},` +
		`"resource":{"k8s.pod.name":"api-5f7","k8s.namespace.name":"shop","k8s.container.name":"api"}}`; string(recs[0].Raw) != want {
		t.Errorf("document\n%s\nwant\n%s", recs[0].Raw, want)
	}

	// All accepted: partial_success is left unset.
	logs.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		return rl.ScopeLogs().Len() == 1 && rl.Resource().Attributes().Len() == 1
	})
	body, _ = plogotlp.NewExportRequestFromLogs(logs).MarshalJSON()
	status, _, out = post(t, srv.URL, "application/json; charset=utf-8", "", body)
	if status != http.StatusOK || string(out) != "{}" {
		t.Errorf("full success answered %d %s, want 200 {}", status, out)
	}
}

// post sends body to url/v1/logs with testToken.
func post(tb testing.TB, url, contentType, contentEncoding string, body []byte) (int, string, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", contentType)
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// failing fails every store with err.
type failing struct{ err error }

func (f failing) Store(context.Context, *ingest.Batch) (ingest.Result, error) {
	return ingest.Result{}, f.err
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestAnswers checks the answers other than 200 and what is stored for
// each.
func TestAnswers(t *testing.T) {
	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	valid, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	zeros := gzipped(t, make([]byte, 4096)) // decompresses over the limit below
	// 20 records of a 500-byte resource: a 600-byte body rendered as
	// more than 8 × 1024 bytes of documents.
	amplified := plog.NewLogs()
	arl := amplified.ResourceLogs().AppendEmpty()
	arl.Resource().Attributes().PutStr("k8s.pod.name", strings.Repeat("p", 500))
	for range 20 {
		arl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	}
	amplifiedBody, err := plogotlp.NewExportRequestFromLogs(amplified).MarshalProto()
	if err != nil || len(amplifiedBody) > 1024 {
		t.Fatalf("amplified request of %d bytes: %v", len(amplifiedBody), err)
	}
	logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	threeRecords, err := plogotlp.NewExportRequestFromLogs(logs).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		method         string
		token          string // "" → testToken
		contentType    string
		encoding       string
		body           []byte
		store          func(Storer) Storer // nil: the pipeline
		status         int
		wantType       string // answer's Content-Type
		retryAfter     string
		message        string // in Status.message
		rejectRecorded bool
		maxRecords     int
	}{
		{name: "wrong content type", contentType: "text/plain", body: []byte("hello"), status: 415, wantType: "application/json", message: `Content-Type "text/plain" is not supported`},
		{name: "no content type", body: valid, status: 415, wantType: "application/json", message: "not supported"},
		{name: "wrong content encoding", contentType: "application/x-protobuf", encoding: "br", body: valid, status: 415, wantType: "application/x-protobuf", message: `Content-Encoding "br"`},
		{name: "bad protobuf", contentType: "application/x-protobuf", body: []byte("\xff\xff\xff garbage"), status: 400, wantType: "application/x-protobuf", message: "decoding the OTLP/protobuf export request", rejectRecorded: true},
		{name: "bad JSON", contentType: "application/json", body: []byte(`{"resourceLogs": [{]`), status: 400, wantType: "application/json", message: "decoding the OTLP/JSON export request", rejectRecorded: true},
		{name: "corrupt gzip", contentType: "application/x-protobuf", encoding: "gzip", body: []byte("\x1f\x8b not gzip"), status: 400, wantType: "application/x-protobuf", message: "decompressing the gzip body", rejectRecorded: true},
		{name: "over the limit", contentType: "application/x-protobuf", body: make([]byte, 2048), status: 413, wantType: "application/x-protobuf", message: "exceeds 1024 bytes"},
		{name: "gzip over the limit", contentType: "application/x-protobuf", encoding: "gzip", body: zeros, status: 413, wantType: "application/x-protobuf", message: "decompressed request body exceeds 1024 bytes"},
		{name: "too many records", contentType: "application/json", body: threeRecords, status: 413, wantType: "application/json", message: "3 log records in one request, over the limit of 2", maxRecords: 2},
		{name: "documents too large", contentType: "application/x-protobuf", body: amplifiedBody, status: 413, wantType: "application/x-protobuf", message: "the documents of this request exceed 8192 bytes"},
		{name: "reader token", token: "reader", contentType: "application/json", body: []byte("{}"), status: 403, wantType: "application/json", message: "token bound to a source"},
		{name: "GET", method: http.MethodGet, contentType: "application/x-protobuf", status: 405, wantType: "application/x-protobuf", message: "use POST"},
		{name: "pushback", contentType: "application/x-protobuf", body: valid, store: func(Storer) Storer { return failing{fmt.Errorf("append: %w", ledger.ErrPushback)} },
			status: 429, wantType: "application/x-protobuf", retryAfter: "1", message: "the ledger is busy"},
		{name: "store failure", contentType: "application/json", body: []byte(`{}`), store: func(Storer) Storer { return failing{errors.New("disk on fire")} },
			status: 503, wantType: "application/json", retryAfter: "5", message: "log records were not stored: disk on fire"},
		{name: "pushback recording a reject", contentType: "application/x-protobuf", body: []byte("\xff"), store: func(Storer) Storer { return failing{ledger.ErrPushback} },
			status: 429, wantType: "application/x-protobuf", retryAfter: "1", message: "the ledger is busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l := newTestPipeline(t)
			var s Storer = p
			if tc.store != nil {
				s = tc.store(p)
			}
			h := newTestHandler(s)
			h.MaxRequestBytes = 1024
			h.MaxRecords = tc.maxRecords
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/v1/logs", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			pr := auth.Principal{TokenID: "t1", Role: auth.RoleIngest, Source: testSource}
			if tc.token == "reader" {
				pr = auth.Principal{TokenID: "t2", Role: auth.RoleLogReader}
			}
			req = req.WithContext(auth.WithPrincipal(req.Context(), pr))
			before := l.Size()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)

			if w.Code != tc.status || w.Header().Get("Content-Type") != tc.wantType || w.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("answer %d %q Retry-After %q, want %d %q %q: %s", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"),
					tc.status, tc.wantType, tc.retryAfter, w.Body.Bytes())
			}
			var st spb.Status
			if tc.wantType == "application/json" {
				err = protojson.Unmarshal(w.Body.Bytes(), &st)
			} else {
				err = proto.Unmarshal(w.Body.Bytes(), &st)
			}
			if err != nil || !strings.Contains(st.GetMessage(), tc.message) {
				t.Errorf("Status %v (%v), want a message with %q", &st, err, tc.message)
			}
			if tc.status == http.StatusBadRequest {
				var br errdetails.BadRequest
				if len(st.GetDetails()) != 1 || st.GetDetails()[0].UnmarshalTo(&br) != nil || len(br.GetFieldViolations()) != 1 {
					t.Errorf("400 without a BadRequest detail: %v", &st)
				}
			}
			recs := eventtest.Stored(t, l, before)
			switch {
			case tc.rejectRecorded:
				if len(recs) != 1 || recs[0].Action != event.ActionIngestReject {
					t.Errorf("stored %v, want the reject of the request", tables(recs))
				}
			case len(recs) != 0:
				t.Errorf("stored %v, want nothing", tables(recs))
			}
		})
	}
}

// TestEmptyRequest: a request without log records is a success.
func TestEmptyRequest(t *testing.T) {
	p, l := newTestPipeline(t)
	srv := newServer(t, newTestHandler(p))
	before := l.Size()
	for _, tc := range []struct{ contentType, encoding, want string }{
		{"application/x-protobuf", "", ""},
		{"application/x-protobuf", "gzip", ""},
		{"application/json", "", "{}"},
	} {
		body := []byte{}
		if tc.contentType == "application/json" {
			body = []byte(`{"resourceLogs":[]}`)
		}
		if tc.encoding == "gzip" {
			body = gzipped(t, body)
		}
		status, ct, out := post(t, srv.URL, tc.contentType, tc.encoding, body)
		if status != http.StatusOK || ct != tc.contentType || string(out) != tc.want {
			t.Errorf("%s %s: answer %d %s %q", tc.contentType, tc.encoding, status, ct, out)
		}
	}
	if n := l.Size() - before; n != 0 {
		t.Errorf("%d records stored for empty requests", n)
	}
}
