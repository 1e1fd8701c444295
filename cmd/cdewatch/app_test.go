package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
)

// TestAppIngestAndSources sends an application's access log to POST
// /v1/ingest/app (with basic auth, as a shipper would), then checks the
// answer, the AppAccess rows, GET /v1/sources, `cdewatch sources`, the
// metrics, and that no card number reached the ledger.
func TestAppIngestAndSources(t *testing.T) {
	data := t.TempDir()
	auditor := seedToken(t, data, "auditor") // queries, sources and metrics
	ts := startServer(t, data, "shop", nil)
	lines := strings.Join([]string{
		`{"timestamp":"2026-11-26T10:00:00Z","user_id":"alice","action":"read","resource":"cards/8812","result":"success","source_ip":"10.1.2.3","event_id":"e1"}`,
		`{"timestamp":"2026-11-26T10:00:01Z","action":"export","resource":"cards","result":"denied","source_ip":"10.1.2.9"}`,
		`{"timestamp":"2026-11-26T10:00:02Z","user_id":"bob","action":"read","resource":"card 4111111111111111","result":"ok","source_ip":"10.1.2.4"}`,
		`not json at all`,
	}, "\n")
	post := func(app string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ts.addr+"/v1/ingest/app?app="+app, strings.NewReader(lines))
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("fluent:"+ts.ingestToken)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if status, b := post("bad name!"); status != http.StatusBadRequest {
		t.Fatalf("bad app name: %d %s", status, b)
	}
	status, b := post("checkout")
	if status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, b)
	}
	var res ingest.AppResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || res.Rejected != 1 || res.Flagged != 1 || res.Missing["user"] != 1 || len(res.Rejects) != 1 || res.Rejects[0].Line != 4 {
		t.Fatalf("answer %s", b)
	}
	// The same event_id again is a duplicate.
	if _, b := post("checkout"); !strings.Contains(string(b), `"duplicates":1`) {
		t.Fatalf("redelivery: %s", b)
	}

	rows := waitRows(t, func(q string) (int, []byte, queryResult) { return postQuery(t, ts, auditor, q) },
		`AppAccess | where Application == "checkout" | summarize n = count(), nouser = countif(Missing has "user"), denied = countif(Pci has "invalid-access")`,
		func(r [][]json.RawMessage) bool { return len(r) == 1 && string(r[0][0]) == "5" })
	if string(rows[0][1]) != "2" || string(rows[0][2]) != "2" {
		t.Errorf("AppAccess rows: %s", rows)
	}

	status, b, _ = do(t, http.MethodGet, "http://"+ts.addr+"/v1/sources", auditor, nil)
	if status != http.StatusOK {
		t.Fatalf("sources: %d %s", status, b)
	}
	var ans api.SourcesAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatal(err)
	}
	var shop *api.SourceView
	for i := range ans.Sources {
		if ans.Sources[i].Source == "shop" {
			shop = &ans.Sources[i]
		}
	}
	if !ans.Indexed || shop == nil || shop.Tables["AppAccess"] != 5 || shop.Missing["user"].Records != 2 || shop.Live == nil || shop.Live.Rejected != 2 || shop.Live.Masked != 4 { // each PAN twice: in the record as sent and in Resource
		t.Fatalf("sources view: %s", b)
	}
	if status, _, _ := do(t, http.MethodGet, "http://"+ts.addr+"/v1/sources", ts.ingestToken, nil); status != http.StatusForbidden {
		t.Errorf("ingest token read sources: %d", status)
	}

	t.Setenv("CDEWATCH_TOKEN", auditor)
	var out bytes.Buffer
	if err := sourcesCommand(context.Background(), []string{"--server", "http://" + ts.addr}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NO USER") || !regexpLine(out.String(), `^shop\s+5\s+2026-11-26T10:00:02Z\s+AppAccess\s+40\.0%`) {
		t.Errorf("cdewatch sources printed:\n%s", out.String())
	}

	status, b, _ = do(t, http.MethodGet, "http://"+ts.addr+"/metrics", auditor, nil)
	if status != http.StatusOK || !strings.Contains(string(b), `cdewatch_ingest_records_total{source="shop"} 5`) ||
		!regexpLine(string(b), `^cdewatch_ingest_dedup_keys 1$`) { // e1, the one record with an event_id
		t.Errorf("metrics: %d\n%s", status, b)
	}

	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	for _, r := range readRecords(t, data) {
		if strings.Contains(string(r.Raw), "4111111111111111") || strings.Contains(r.Resource, "4111111111111111") {
			t.Errorf("card number stored in %s record %s", r.Table, r.Raw)
		}
		if r.Table == event.TableCdewatchAudit && r.Action == event.ActionPANMasked && !strings.Contains(string(r.Raw), `"resource":1`) {
			t.Errorf("finding does not name the field: %s", r.Raw)
		}
	}
}

// regexpLine reports whether some line of text matches the pattern.
func regexpLine(text, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
