package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/cdewatch/cdewatch/internal/index"
)

// Events posted over HTTP reach the query index; `cdewatch reindex`
// rebuilds it from the ledger with the same rows.
func TestIndexAndReindex(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	for i := range 5 {
		var items []string
		for j := range 10 {
			items = append(items, fmt.Sprintf(validEvent, fmt.Sprintf("ix-%d-%d", i, j)))
		}
		if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != 200 {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if err := runReindex(context.Background(), []string{"--data", data}); err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(indexPath(data), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	var n int
	var caller string
	if err := idx.DB().QueryRow(`SELECT count(*), any_value(Caller) FROM KubeAuditLogs WHERE Source = 'c1'`).Scan(&n, &caller); err != nil {
		t.Fatal(err)
	}
	if n != 50 || caller != "bob@corp.example" {
		t.Fatalf("KubeAuditLogs: %d rows (want 50), caller %q", n, caller)
	}
	if err := idx.DB().QueryRow(`SELECT count(*) FROM CdewatchAudit`).Scan(&n); err != nil || n < 3 {
		t.Fatalf("CdewatchAudit: %d rows, %v (want init, start, stop)", n, err)
	}
}
