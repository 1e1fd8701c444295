package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
)

// TestIngestMasksCardData sends audit events carrying card numbers (the
// card schemes' published test numbers) and checks that the ledger holds
// none of them — events, derived fields and all — and that each batch with
// masked data is recorded as a scrub.pan finding naming the source and the
// events, never the numbers.
func TestIngestMasksCardData(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	url := "http://" + ts.addr + "/v1/ingest/k8s-audit"
	withCard := strings.Replace(fmt.Sprintf(validEvent, "pan1"), `"level":"Metadata"`,
		`"level":"Request","requestObject":{"kind":"ConfigMap","data":{"card":"4111 1111 1111 1111","amex":378282246310005,"note":"resourceVersion 1732612345678901"}}`, 1)
	inName := strings.Replace(fmt.Sprintf(validEvent, "pan2"), `"name":"db"`, `"name":"cust-5555555555554444"`, 1)
	clean := fmt.Sprintf(validEvent, "clean")
	status, body, _ := do(t, "POST", url, ts.ingestToken, eventList(withCard, inName, clean))
	if status != 200 || !strings.Contains(string(body), `"accepted":3`) {
		t.Fatalf("ingest: %d %s", status, body)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	pans := []string{"4111 1111 1111 1111", "4111111111111111", "378282246310005", "5555555555554444"}
	var finding *event.Record
	audits := 0
	for _, r := range readRecords(t, data) {
		all, _ := json.Marshal(r)
		for _, p := range pans {
			if bytes.Contains(r.Raw, []byte(p)) || bytes.Contains(all, []byte(p)) {
				t.Errorf("record %s/%s holds the card number %s", r.Table, r.Action, p)
			}
		}
		if r.Table == event.TableKubeAudit {
			audits++
		}
		if r.Action == event.ActionPANMasked {
			r := r
			finding = &r
		}
	}
	if audits != 3 {
		t.Errorf("%d audit records, want 3", audits)
	}
	if finding == nil {
		t.Fatal("no scrub.pan finding recorded")
	}
	var d struct {
		Source string         `json:"source"`
		Count  int            `json:"count"`
		Kinds  map[string]int `json:"kinds"`
		Events []string       `json:"events"`
		Fields map[string]int `json:"fields"`
	}
	if err := json.Unmarshal(finding.Raw, &d); err != nil {
		t.Fatal(err)
	}
	// Four numbers masked: three in the events as sent, and the one in the
	// object's name once more in the record's affected resource.
	wantFields := map[string]int{"raw:requestObject.data.card": 1, "raw:requestObject.data.amex": 1, "raw:objectRef.name": 1, "resource": 1}
	if d.Source != "c1" || d.Count != 4 || d.Kinds["pan"] != 4 || !maps.Equal(d.Fields, wantFields) ||
		strings.Join(d.Events, ",") != "pan1/ResponseComplete,pan2/ResponseComplete" {
		t.Errorf("finding %s: want source c1, 4 PANs in the fields %v of events pan1 and pan2", finding.Raw, wantFields)
	}
	// the masked values keep the first six and last four digits
	for _, r := range readRecords(t, data) {
		if r.Table == event.TableKubeAudit && strings.Contains(string(r.Raw), `"pan1"`) && !strings.Contains(string(r.Raw), "4111 11** **** 1111") {
			t.Errorf("the masked event does not keep first six / last four: %s", r.Raw)
		}
	}
}
