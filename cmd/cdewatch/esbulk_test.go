package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// TestElasticsearchServe ships documents to serve's Elasticsearch bulk
// endpoint (<server>/es) with the official Go client's BulkIndexer,
// authenticating with basic auth as Fluent Bit does (the token as the
// password), and finds them in ContainerLog and AppAccess.
func TestElasticsearchServe(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "aks-prod", nil)
	c, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{"http://" + ts.addr + "/es"}, Username: "fluent-bit", Password: ts.ingestToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info()
	if err != nil || info.IsError() {
		t.Fatalf("cluster info: %v %v", info, err)
	}
	info.Body.Close()
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: c, NumWorkers: 1, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	add := func(index, body string) {
		if err := bi.Add(context.Background(), esutil.BulkIndexerItem{Index: index, Action: "create", Body: strings.NewReader(body),
			OnFailure: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem, error) { failed++ }}); err != nil {
			t.Fatal(err)
		}
	}
	add("logs-2026.11.26", `{"log":"charge accepted","stream":"stdout","time":"2026-11-26T10:15:02Z","kubernetes":{"pod_name":"checkout-1","namespace_name":"payments","container_name":"checkout"}}`)
	add("cdewatch-app-vault", `{"timestamp":"2026-11-26T10:15:03Z","user_id":"svc-settle","action":"decrypt","resource":"transit/card-key","result":"success","source_ip":"10.244.1.17"}`)
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := bi.Stats(); st.NumFailed != 0 || failed != 0 || st.NumCreated != 2 {
		t.Fatalf("bulk indexer stats %+v", st)
	}
	reader := createToken(t, ts, "--role", "log-reader")
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) }
	rows := waitRows(t, post, `ContainerLog | project PodName, LogEntry, SourceSystem`, func(r [][]json.RawMessage) bool { return len(r) == 1 })
	if got := string(rows[0][0]) + string(rows[0][1]) + string(rows[0][2]); got != `"checkout-1""charge accepted""fluent-bit"` {
		t.Errorf("ContainerLog row: %s", got)
	}
	rows = waitRows(t, post, `AppAccess | project Application, User, Source`, func(r [][]json.RawMessage) bool { return len(r) == 1 })
	if got := string(rows[0][0]) + string(rows[0][1]) + string(rows[0][2]); got != `"vault""svc-settle""aks-prod"` {
		t.Errorf("AppAccess row: %s", got)
	}
}
