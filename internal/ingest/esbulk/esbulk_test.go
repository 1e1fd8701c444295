package esbulk_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ingest/esbulk"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Documents as the shippers send them.
const (
	fluentBitDoc = `{"@timestamp":"2026-11-26T10:15:02.412Z","log":"2026-11-26T10:15:02Z INFO charge accepted order=8812\n","stream":"stdout","time":"2026-11-26T10:15:02.412345678Z",` +
		`"kubernetes":{"pod_name":"checkout-7d9f8b6c5-x2k4p","namespace_name":"payments","pod_id":"6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b","labels":{"app":"checkout"},` +
		`"host":"aks-nodepool1-12345678-vmss000002","container_name":"checkout","docker_id":"0f9e8d7c6b5a","container_image":"contoso.azurecr.io/payments/checkout:1.14.2"}}`
	fluentBitStderrDoc = `{"@timestamp":"2026-11-26T10:15:03.000Z","log":"WARN retrying settlement\n","stream":"stderr","time":"2026-11-26T10:15:03Z",` +
		`"kubernetes":{"pod_name":"settle-0","namespace_name":"payments","host":"aks-nodepool1-12345678-vmss000001","container_name":"settle"}}`
	filebeatDoc = `{"@timestamp":"2026-11-26T10:16:00.000Z","message":"GET /healthz 200","stream":"stdout",` +
		`"kubernetes":{"pod":{"name":"web-5c4d","uid":"aa11"},"namespace":"shop","node":{"name":"aks-nodepool1-12345678-vmss000004"},"container":{"name":"nginx","image":"nginx:1.25"}},` +
		`"container":{"id":"c0ffee","runtime":"containerd"},"log":{"offset":1234,"file":{"path":"/var/log/containers/web-5c4d_shop_nginx-c0ffee.log"}},` +
		`"input":{"type":"container"},"agent":{"type":"filebeat","version":"8.11.0","name":"node-4"},"ecs":{"version":"8.0.0"},"host":{"name":"node-4"}}`
	auditEventDoc = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5b3c2d1e-0f9a-4b8c-9d7e-6f5a4b3c2d1e","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/payments/secrets/card-key","verb":"get","user":{"username":"alice@contoso.com","groups":["system:authenticated"]},` +
		`"sourceIPs":["203.0.113.24"],"userAgent":"kubectl/v1.31.4","objectRef":{"resource":"secrets","namespace":"payments","name":"card-key","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-26T10:20:00.100000Z","stageTimestamp":"2026-11-26T10:20:00.105000Z"}`
	appAccessDoc = `{"timestamp":"2026-11-26T10:21:00Z","user_id":"svc-settlement","action":"decrypt","resource":"vault/transit/card-key","result":"success","source_ip":"10.244.1.17"}`
	// partial: no user; only the index declares it an access record
	appAccessPartialDoc = `{"timestamp":"2026-11-26T10:22:00Z","action":"read","resource":"cards","result":"denied"}`
)

// auditInLog is an audit event as Fluent Bit ships a line of the API
// server's audit log file: the event as the JSON string of "log".
func auditInLog(tb testing.TB, ev string) string {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"log": ev + "\n", "stream": "stdout", "time": "2026-11-26T10:20:01Z",
		"kubernetes": map[string]any{"pod_name": "kube-apiserver-0", "namespace_name": "kube-system"}})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestShippers ships the documents of each kind through the official Go
// client's BulkIndexer (compressed and not) and checks that each became
// the record of the right table, found at the _seq_no the answer gives,
// with the _id given or generated.
func TestShippers(t *testing.T) {
	auditStage2 := strings.Replace(auditEventDoc, `"stage":"ResponseComplete"`, `"stage":"RequestReceived"`, 1)
	cases := []struct {
		name         string
		doc          doc
		wantTable    string
		wantResource string
		wantUser     string
		wantAction   string
	}{
		{"fluent-bit", doc{Index: "logstash-2026.11.26", Body: fluentBitDoc}, event.TableContainerLog, "payments/pods/checkout-7d9f8b6c5-x2k4p/checkout", "", "log stdout"},
		{"fluent-bit-stderr", doc{Index: "kube-logs", Body: fluentBitStderrDoc}, event.TableContainerLog, "payments/pods/settle-0/settle", "", "log stderr"},
		{"filebeat", doc{Index: "filebeat-8.11.0", Body: filebeatDoc}, event.TableContainerLog, "shop/pods/web-5c4d/nginx", "", "log stdout"},
		{"audit-event", doc{Index: "k8s-audit", Body: auditEventDoc}, event.TableKubeAudit, "", "alice@contoso.com", ""},
		{"audit-in-log", doc{Index: "k8s-audit", Body: auditInLog(t, auditStage2)}, event.TableKubeAudit, "", "alice@contoso.com", ""},
		{"app-access", doc{Index: "cdewatch-app-checkout", Body: appAccessDoc}, event.TableAppAccess, "vault/transit/card-key", "svc-settlement", "decrypt"},
		{"app-access-dated-index", doc{Index: "cdewatch-app-checkout-2026.11.26", Body: appAccessPartialDoc}, event.TableAppAccess, "cards", "", "read"},
		{"client-id", doc{Index: "kube-logs", ID: "fb-0001", Action: "index", Body: fluentBitDoc}, event.TableContainerLog, "payments/pods/checkout-7d9f8b6c5-x2k4p/checkout", "", "log stdout"},
	}
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", compress), func(t *testing.T) {
			// Count the compressed requests the server sees.
			var gzipped atomic.Int32
			e := newEnv(t, withMiddleware(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Content-Encoding") == "gzip" {
						gzipped.Add(1)
					}
					next.ServeHTTP(w, r)
				})
			}))
			c := e.client(t, func(cfg *elasticsearch.Config) { cfg.CompressRequestBody = compress })
			before := e.ledger.Size()
			docs := make([]doc, len(cases))
			for i, tc := range cases {
				docs[i] = tc.doc
			}
			got := ship(t, c, docs)
			if compress && gzipped.Load() == 0 {
				t.Error("the client sent no gzip body")
			}
			recs := stored(t, e.ledger, before)
			if len(recs) != len(cases) {
				t.Errorf("%d records stored, want %d", len(recs), len(cases))
			}
			for i, tc := range cases {
				d := got[i]
				if !d.ok || d.info.Status != http.StatusCreated || d.info.Result != "created" || d.info.Index != tc.doc.Index {
					t.Errorf("%s: answer %+v, want 201 created in %s", tc.name, d.info, tc.doc.Index)
					continue
				}
				wantID := tc.doc.ID
				if wantID == "" && tc.wantTable == event.TableContainerLog {
					wantID = strconv.FormatInt(d.info.SeqNo, 10)
				}
				if wantID != "" && d.info.DocumentID != wantID {
					t.Errorf("%s: _id %q, want %q", tc.name, d.info.DocumentID, wantID)
				}
				r, ok := recs[uint64(d.info.SeqNo)]
				if !ok {
					t.Errorf("%s: no record at _seq_no %d", tc.name, d.info.SeqNo)
					continue
				}
				if r.Table != tc.wantTable || r.Source != testSource || r.User != tc.wantUser ||
					(tc.wantResource != "" && r.Resource != tc.wantResource) || (tc.wantAction != "" && r.Action != tc.wantAction) {
					t.Errorf("%s: stored %s/%s user %q action %q resource %q, want %s/%s user %q action %q resource %q",
						tc.name, r.Table, r.Source, r.User, r.Action, r.Resource, tc.wantTable, testSource, tc.wantUser, tc.wantAction, tc.wantResource)
				}
				if tc.doc.ID != "" && r.Key != "esbulk/"+tc.doc.Index+"/"+tc.doc.ID {
					t.Errorf("%s: key %q, want the client's _id", tc.name, r.Key)
				}
				if tc.wantTable == event.TableContainerLog && string(r.Raw) != tc.doc.Body {
					t.Errorf("%s: raw %s, want the document as sent", tc.name, r.Raw)
				}
				if tc.wantTable == event.TableAppAccess && !strings.Contains(string(r.Raw), `"app":"checkout"`) {
					t.Errorf("%s: raw %s does not name the application of the index", tc.name, r.Raw)
				}
			}
		})
	}
}

type storerFunc func(ctx context.Context, b *ingest.Batch) (ingest.Result, error)

func (f storerFunc) Store(ctx context.Context, b *ingest.Batch) (ingest.Result, error) {
	return f(ctx, b)
}

// TestCardNumber: a card number in a shipped document never reaches the
// ledger; a scrub.pan finding is stored with the delivery.
func TestCardNumber(t *testing.T) {
	e := newEnv(t)
	before := e.ledger.Size()
	const pan = "4111 1111 1111 1111"
	body := strings.Replace(fluentBitDoc, "order=8812", "card="+pan, 1)
	got := ship(t, e.client(t), []doc{
		{Index: "logs", Body: body},
		{Index: "logs", Body: `"card 4111111111111111 in a string"`},      // rejected: its excerpt is scrubbed
		{Index: "logs", ID: "4111111111111111", Body: fluentBitStderrDoc}, // a card number as _id: the key is scrubbed
	})
	if !got[0].ok || got[1].ok || !got[2].ok {
		t.Fatalf("answers %+v", got)
	}
	recs := stored(t, e.ledger, before)
	for seq, r := range recs {
		if strings.Contains(string(r.Raw), pan) || strings.Contains(string(r.Raw), "4111111111111111") {
			t.Errorf("record %d holds the card number: %s", seq, r.Raw)
		}
	}
	if r := recs[uint64(got[0].info.SeqNo)]; !strings.Contains(string(r.Raw), "card=4111 11** **** 1111") {
		t.Errorf("stored %s, want the number masked", r.Raw)
	}
	for _, r := range recs {
		if strings.Contains(r.Key, "4111111111111111") {
			t.Errorf("key %q holds the card number", r.Key)
		}
	}
	if len(byAction(recs, event.ActionIngestReject)) != 1 {
		t.Errorf("no reject for the string document")
	}
	f := byAction(recs, event.ActionPANMasked)
	if len(f) != 1 {
		t.Fatalf("%d scrub.pan findings, want 1", len(f))
	}
	for _, w := range []string{`"via":"esbulk"`, `"raw:log":1`, `"reject":1`, `"key":1`} {
		if !strings.Contains(string(f[0].Raw), w) {
			t.Errorf("finding %s does not hold %s", f[0].Raw, w)
		}
	}
}

// TestItemErrors: a source that is not a JSON object, a delete and an
// update are answered per item with an error, and stored as
// ingest.reject records; the valid document beside them is stored.
func TestItemErrors(t *testing.T) {
	e := newEnv(t)
	before := e.ledger.Size()
	got := ship(t, e.client(t), []doc{
		{Index: "logs", Body: fluentBitDoc},
		{Index: "logs", Body: `"just a string"`},
		{Index: "logs", Action: "delete", ID: "gone-1"},
		{Index: "logs", Action: "update", ID: "upd-1", Body: `{"doc":{"log":"changed"}}`},
		{Index: "logs", Body: `{"log":"truncated`},
	})
	want := []struct {
		ok     bool
		typ    string
		reason string
	}{
		{true, "", ""},
		{false, "document_parsing_exception", "not a JSON object"},
		{false, "action_request_validation_exception", "append-only"},
		{false, "action_request_validation_exception", "append-only"},
		{false, "document_parsing_exception", "malformed JSON"},
	}
	for i, w := range want {
		d := got[i]
		if d.ok != w.ok || d.info.Error.Type != w.typ || !strings.Contains(d.info.Error.Reason, w.reason) {
			t.Errorf("item %d: ok %v %+v, want ok %v, error %s containing %q", i, d.ok, d.info, w.ok, w.typ, w.reason)
		}
		if !w.ok && d.info.Status != http.StatusBadRequest {
			t.Errorf("item %d: status %d, want 400", i, d.info.Status)
		}
	}
	recs := stored(t, e.ledger, before)
	rejects := byAction(recs, event.ActionIngestReject)
	if len(rejects) != 4 || len(recs) != 5 {
		t.Fatalf("%d records, %d rejects; want the document and 4 rejects", len(recs), len(rejects))
	}
	for _, r := range rejects {
		var d struct {
			Source, Via, Reason, Excerpt string
			Index                        int
		}
		if err := json.Unmarshal(r.Raw, &d); err != nil {
			t.Fatal(err)
		}
		if d.Source != testSource || d.Via != esbulk.Via || d.Excerpt == "" || !strings.Contains(d.Reason, "bulk item") {
			t.Errorf("reject %+v", d)
		}
		if d.Index == 2 && !strings.Contains(d.Excerpt, `"delete"`) {
			t.Errorf("the delete's reject holds %q, want its action line", d.Excerpt)
		}
	}
}

// TestRetrySameID: a shipper's retry of a document with the same _id is
// answered like the first delivery but stored once.
func TestRetrySameID(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	before := e.ledger.Size()
	first := ship(t, c, []doc{{Index: "logs", ID: "chunk-7/0", Body: fluentBitDoc}, {Index: "logs", ID: "chunk-7/1", Body: fluentBitStderrDoc}})
	retry := ship(t, c, []doc{{Index: "logs", ID: "chunk-7/0", Body: fluentBitDoc}, {Index: "logs", ID: "chunk-7/1", Body: fluentBitStderrDoc}, {Index: "logs", ID: "chunk-8/0", Body: filebeatDoc}})
	for i, d := range append(first, retry...) {
		if !d.ok || d.info.Status != http.StatusCreated {
			t.Errorf("delivery %d: %+v", i, d.info)
		}
	}
	if first[0].info.DocumentID != "chunk-7/0" || retry[0].info.DocumentID != "chunk-7/0" {
		t.Errorf("_id %q / %q, want the client's", first[0].info.DocumentID, retry[0].info.DocumentID)
	}
	if recs := stored(t, e.ledger, before); len(recs) != 3 {
		t.Errorf("%d records stored, want 3 (the retried ones once)", len(recs))
	}
	if st := e.pipeline.Stats.Snapshot(); len(st) != 1 || st[0].Duplicates != 2 || st[0].Records != 3 {
		t.Errorf("stats %+v, want 3 records and 2 duplicates", st)
	}

	// An audit event shipped twice without an _id (a retry of Fluent Bit
	// tailing the audit log) is deduplicated by its auditID/stage, and
	// answered with the same _id; the container log beside it has no key
	// and is stored again, with its seq as _id.
	before = e.ledger.Size()
	a := ship(t, c, []doc{{Index: "audit", Body: auditInLog(t, auditEventDoc)}, {Index: "logs", Body: fluentBitDoc}})
	b := ship(t, c, []doc{{Index: "audit", Body: auditInLog(t, auditEventDoc)}, {Index: "logs", Body: fluentBitDoc}})
	if !a[0].ok || !b[0].ok || a[0].info.DocumentID == "" || a[0].info.DocumentID != b[0].info.DocumentID {
		t.Errorf("audit event answered %+v then %+v, want the same _id", a[0].info, b[0].info)
	}
	if a[0].info.SeqNo != int64(before+1) || b[0].info.SeqNo != 0 {
		t.Errorf("audit event _seq_no %d then %d, want %d then none", a[0].info.SeqNo, b[0].info.SeqNo, before+1)
	}
	if a[1].info.DocumentID != strconv.FormatUint(before, 10) || b[1].info.DocumentID != strconv.FormatUint(before+2, 10) {
		t.Errorf("container log _id %q then %q, want its seqs %d, %d", a[1].info.DocumentID, b[1].info.DocumentID, before, before+2)
	}
	if recs := stored(t, e.ledger, before); len(recs) != 3 || recs[before+1].Table != event.TableKubeAudit {
		t.Errorf("%d records stored, want 3 (the audit event once)", len(recs))
	}
}

// TestPushback: while the ledger pushes back the receiver answers 429
// with Retry-After; the BulkIndexer retries and nothing is lost or
// stored twice.
func TestPushback(t *testing.T) {
	var refusals atomic.Int32
	e := newEnv(t, withStorer(func(next esbulk.Storer) esbulk.Storer {
		return storerFunc(func(ctx context.Context, b *ingest.Batch) (ingest.Result, error) {
			if refusals.Add(1) <= 3 {
				return ingest.Result{}, fmt.Errorf("appending to the ledger: %w", ledger.ErrPushback)
			}
			return next.Store(ctx, b)
		})
	}))

	// What the shipper sees.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/_bulk", strings.NewReader(`{"create":{"_index":"logs"}}`+"\n"+fluentBitDoc+"\n"))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"type":"es_rejected_execution_exception"`) {
		t.Fatalf("pushback answered %d Retry-After %q: %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}

	before := e.ledger.Size()
	docs := make([]doc, 50)
	for i := range docs {
		docs[i] = doc{Index: "logs", Body: strings.Replace(fluentBitDoc, "order=8812", fmt.Sprintf("order=%d", i), 1)}
	}
	c := e.client(t)
	got := ship(t, c, docs)
	for i, d := range got {
		if !d.ok {
			t.Errorf("document %d not stored: %+v", i, d.info)
		}
	}
	if refusals.Load() < 4 {
		t.Errorf("%d store calls: the indexer was never refused", refusals.Load())
	}
	if recs := stored(t, e.ledger, before); len(recs) != len(docs) {
		t.Errorf("%d records stored, want %d", len(recs), len(docs))
	}
}

// TestStoreFailure: another store failure is a 503, never a success.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, withStorer(func(esbulk.Storer) esbulk.Storer {
		return storerFunc(func(context.Context, *ingest.Batch) (ingest.Result, error) {
			return ingest.Result{}, errors.New("disk on fire")
		})
	}))
	res, body := post(t, e, "/_bulk", "application/x-ndjson", nil, `{"index":{"_index":"logs"}}`+"\n"+fluentBitDoc+"\n")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "disk on fire") {
		t.Errorf("answered %d: %s", res.StatusCode, body)
	}
}

// TestProbes calls what shippers call when they start, through the Go
// client (which refuses an answer without X-Elastic-Product): nothing of
// it is recorded.
func TestProbes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	before := e.ledger.Size()
	check := func(name string, res *esapi.Response, err error, wantStatus int, want ...string) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Errorf("%s: status %d, want %d: %s", name, res.StatusCode, wantStatus, body)
		}
		if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s: no X-Elastic-Product header", name)
		}
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s: answer %s does not contain %s", name, body, w)
			}
		}
	}
	res, err := c.Info()
	check("info", res, err, 200, `"number":"8.11.0"`, `"build_flavor":"default"`, `"tagline":"You Know, for Search"`, `"lucene_version"`, `"minimum_wire_compatibility_version"`)
	if hr, err := c.Transport.Perform(mustRequest(t, http.MethodHead, "/")); err != nil || hr.StatusCode != 200 {
		t.Errorf("HEAD /: %v %v", hr, err)
	}
	res, err = c.License.Get()
	check("license", res, err, 200, `"type":"basic"`, `"status":"active"`)
	res, err = c.XPack.Info()
	check("xpack", res, err, 200, `"mode":"basic"`, `"ilm":{"available":true,"enabled":true}`)
	res, err = c.Indices.ExistsIndexTemplate("filebeat-8.11.0")
	check("exists index template", res, err, 404)
	res, err = c.Indices.PutIndexTemplate("filebeat-8.11.0", strings.NewReader(`{"index_patterns":["filebeat-8.11.0"],"data_stream":{}}`))
	check("put index template", res, err, 200, `"acknowledged":true`)
	res, err = c.Indices.GetIndexTemplate(c.Indices.GetIndexTemplate.WithName("filebeat-8.11.0"))
	check("get index template", res, err, 404, "resource_not_found_exception")
	res, err = c.Indices.ExistsTemplate([]string{"fluentd"})
	check("exists legacy template", res, err, 404)
	res, err = c.Indices.PutTemplate("fluentd", strings.NewReader(`{"index_patterns":["fluentd-*"]}`))
	check("put legacy template", res, err, 200, `"acknowledged":true`)
	res, err = c.ILM.GetLifecycle(c.ILM.GetLifecycle.WithPolicy("filebeat"))
	check("get ilm policy", res, err, 404, "Lifecycle policy not found")
	res, err = c.ILM.PutLifecycle("filebeat", c.ILM.PutLifecycle.WithBody(strings.NewReader(`{"policy":{"phases":{}}}`)))
	check("put ilm policy", res, err, 200, `"acknowledged":true`)
	res, err = c.Ingest.GetPipeline(c.Ingest.GetPipeline.WithPipelineID("filebeat-8.11.0-system"))
	check("get pipeline", res, err, 404)
	res, err = c.Ingest.PutPipeline("filebeat-8.11.0-system", strings.NewReader(`{"processors":[]}`))
	check("put pipeline", res, err, 200, `"acknowledged":true`)
	res, err = c.Indices.GetDataStream(c.Indices.GetDataStream.WithName("filebeat-8.11.0"))
	check("get data stream", res, err, 404, "index_not_found_exception")
	res, err = c.Indices.CreateDataStream("filebeat-8.11.0")
	check("create data stream", res, err, 200, `"acknowledged":true`)
	res, err = c.Indices.Exists([]string{"logs-app"})
	check("index exists", res, err, 200)
	res, err = c.Indices.Create("logs-app")
	check("create index", res, err, 200, `"index":"logs-app"`)
	res, err = c.Nodes.Info(c.Nodes.Info.WithMetric("http"))
	check("nodes", res, err, 200, `"publish_address":"`+strings.TrimPrefix(e.srv.URL, "http://")+`"`)
	res, err = c.Cluster.Health()
	check("health", res, err, 200, `"status":"green"`)
	res, err = c.Search()
	check("search", res, err, 400, "bulk requests only")
	if hr, err := c.Transport.Perform(mustRequest(t, http.MethodGet, "/_bulk")); err != nil || hr.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /_bulk: %v %v", hr, err)
	}
	if e.ledger.Size() != before {
		t.Errorf("the probes stored %d records", e.ledger.Size()-before)
	}

	// Health follows Ready.
	e.handler.Ready = func() error { return ledger.ErrClosed }
	res, err = c.Cluster.Health()
	if err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health with a stopped ledger: %v %v", res, err)
	} else {
		body, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(body), `"status":"red"`) {
			t.Errorf("health with a stopped ledger: %s", body)
		}
	}
}

func mustRequest(tb testing.TB, method, url string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// TestClientWithoutProductHeader checks the test's premise: the Go client
// refuses a server that does not say it is Elasticsearch.
func TestClientWithoutProductHeader(t *testing.T) {
	e := newEnv(t, withMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(headerDropper{w}, r)
		})
	}))
	if _, err := e.client(t).Info(); err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Errorf("client accepted a server without the product header: %v", err)
	}
}

type headerDropper struct{ http.ResponseWriter }

func (h headerDropper) WriteHeader(code int) {
	h.Header().Del("X-Elastic-Product")
	h.ResponseWriter.WriteHeader(code)
}

// TestAuthSchemes ships with each Authorization scheme a shipper may use.
func TestAuthSchemes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cfg  func(*elasticsearch.Config)
	}{
		{"bearer", func(*elasticsearch.Config) {}},
		{"basic", func(c *elasticsearch.Config) { c.ServiceToken, c.Username, c.Password = "", "fluent-bit", e.token }},
		{"apikey", func(c *elasticsearch.Config) {
			c.ServiceToken, c.APIKey = "", base64Std("filebeat-node-4:"+e.token)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ship(t, e.client(t, tc.cfg), []doc{{Index: "logs", Body: fluentBitDoc}})
			if !got[0].ok {
				t.Errorf("not stored: %+v", got[0].info)
			}
		})
	}
}

// TestForbidden: a valid token that is not an ingest token bound to a
// source gets 403 with a message saying what is needed.
func TestForbidden(t *testing.T) {
	e := newEnv(t)
	reader, _, err := e.tokens.Create(auth.RoleLogReader, "")
	if err != nil {
		t.Fatal(err)
	}
	before := e.ledger.Size()
	for _, path := range []string{"/", "/_bulk", "/_license"} {
		res, body := post(t, e, path, "application/x-ndjson", map[string]string{"Authorization": "Bearer " + reader},
			`{"index":{"_index":"logs"}}`+"\n"+fluentBitDoc+"\n")
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "security_exception") || !strings.Contains(body, "cdewatch token create --source") {
			t.Errorf("%s with a reader token: %d %s", path, res.StatusCode, body)
		}
	}
	if e.ledger.Size() != before {
		t.Error("a forbidden request stored records")
	}
}

// post sends body to the receiver's path with the test token (unless
// headers set Authorization) and returns the answer.
func post(tb testing.TB, e *env, path, contentType string, headers map[string]string, body string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res, string(b)
}

func gzipped(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// TestRequestErrors: what fails a whole request, as Elasticsearch
// answers it, with nothing stored.
func TestRequestErrors(t *testing.T) {
	e := newEnv(t)
	e.handler.MaxRequestBytes = 4096
	e.handler.MaxItems = 3
	item := `{"index":{"_index":"logs"}}` + "\n" + `{"log":"x"}` + "\n"
	big := item + `{"index":{}}` + "\n" + `{"log":"` + strings.Repeat("y", 5000) + `"}` + "\n"
	for _, tc := range []struct {
		name        string
		body        string
		contentType string
		headers     map[string]string
		status      int
		want        string
	}{
		{"not an action", `{"log":"x"}` + "\n" + `{"log":"y"}` + "\n", "application/x-ndjson", nil, 400, "Malformed action/metadata line [1]"},
		{"array action", `["index"]` + "\n", "application/x-ndjson", nil, 400, "START_ARRAY"},
		{"bad json action", `{"index":` + "\n", "application/x-ndjson", nil, 400, "illegal_argument_exception"},
		{"two actions", `{"index":{},"create":{}}` + "\n{}\n", "application/x-ndjson", nil, 400, "expected one action"},
		{"no source line", item + `{"create":{"_index":"logs"}}` + "\n", "application/x-ndjson", nil, 400, "has no source line"},
		{"empty", "\n\n", "application/x-ndjson", nil, 400, "no requests added"},
		{"too many items", item + item + item + item, "application/x-ndjson", nil, 413, "more than 3 actions"},
		{"too large", big, "application/x-ndjson", nil, 413, "larger than 4096 bytes"},
		{"too large inflated", gzipped(t, big), "application/x-ndjson", map[string]string{"Content-Encoding": "gzip"}, 413, "larger than 4096 bytes"},
		{"bad gzip", "not gzip", "application/json", map[string]string{"Content-Encoding": "gzip"}, 400, "gzip"},
		{"unknown encoding", item, "application/json", map[string]string{"Content-Encoding": "br"}, 415, "Content-Encoding [br]"},
		{"form content type", item, "application/x-www-form-urlencoded", nil, 406, "is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.ledger.Size()
			res, body := post(t, e, "/_bulk", tc.contentType, tc.headers, tc.body)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("answered %d %s, want %d containing %q", res.StatusCode, body, tc.status, tc.want)
			}
			var es struct {
				Status int `json:"status"`
			}
			if err := json.Unmarshal([]byte(body), &es); err != nil || es.Status != tc.status {
				t.Errorf("error body %s is not Elasticsearch's shape: %v", body, err)
			}
			if e.ledger.Size() != before {
				t.Error("a refused request stored records")
			}
		})
	}
}

// TestRawBulk sends a body as curl or a hand-written shipper would:
// CRLF line ends, blank lines, no final newline, numeric _id, the index
// from the URL, gzip; and checks the answer's exact shape.
func TestRawBulk(t *testing.T) {
	e := newEnv(t)
	body := "{\"create\":{\"_id\":42,\"routing\":\"r\",\"pipeline\":\"p\",\"_type\":\"_doc\"}}\r\n" + fluentBitStderrDoc + "\r\n\r\n" +
		`{"index":{"_index":"cdewatch-app-checkout"}}` + "\n" + appAccessDoc
	before := e.ledger.Size()
	res, out := post(t, e, "/kube-logs/_bulk", "application/x-ndjson", map[string]string{"Content-Encoding": "gzip"}, gzipped(t, body))
	if res.StatusCode != 200 {
		t.Fatalf("answered %d: %s", res.StatusCode, out)
	}
	want := fmt.Sprintf(`{"took":%%d,"errors":false,"items":[`+
		`{"create":{"_index":"kube-logs","_id":"42","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}},`+
		`{"index":{"_index":"cdewatch-app-checkout","_id":"%d","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}]}`+"\n",
		before+1, before, before)
	var took int
	if _, err := fmt.Sscanf(out, `{"took":%d,`, &took); err != nil || out != fmt.Sprintf(want, took) {
		t.Errorf("answer\n%s\nwant\n%s", out, fmt.Sprintf(want, took))
	}
	recs := stored(t, e.ledger, before)
	if recs[before].Table != event.TableAppAccess || recs[before+1].Key != "esbulk/kube-logs/42" {
		t.Errorf("stored %+v", recs)
	}
}

func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}
