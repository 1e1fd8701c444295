package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
)

// TestImportAzureExports lays out saved diagnostic exports as a storage
// account holds them (one blob gzip-compressed), imports the folder with
// `cdewatch import` into a running server, and checks that every record
// landed in its table, that bad records were stored as rejects, and that
// --state skips the files on a second run.
func TestImportAzureExports(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "sub-prod", nil)
	dir := t.TempDir()
	src := filepath.Join("..", "..", "internal", "azure", "testdata", "decode")
	layout := map[string]string{
		"pt1h-kube-audit.jsonl":       "insights-logs-kube-audit/resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS/y=2025/m=04/d=20/h=16/m=00/PT1H.json",
		"eventhubs-activity.json":     "eventhubs/activity-0001.json",
		"eventhubs-signin.json":       "eventhubs/signin-0001.json.gz",
		"lines-mixed.jsonl":           "insights-logs-guard/PT1H.json",
		"eventhubs-controlplane.json": "eventhubs/controlplane.json",
	}
	for from, to := range layout {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(to, ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(b)
			zw.Close()
			b = z.Bytes()
		}
		p := filepath.Join(dir, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not an export"), 0o644) // not taken from a folder

	t.Setenv("CDEWATCH_TOKEN", ts.ingestToken)
	state := filepath.Join(t.TempDir(), "import-state.json")
	var out bytes.Buffer
	args := []string{"--server", "http://" + ts.addr, "--state", state, "--batch-bytes", "2048", dir}
	if err := importCommand(context.Background(), args, &out); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	first := out.String()
	if !strings.Contains(out.String(), "5 files sent, 0 skipped") || !strings.Contains(out.String(), "rejected: ") {
		t.Errorf("import printed:\n%s", out.String())
	}
	out.Reset()
	if err := importCommand(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 files sent, 5 skipped") {
		t.Errorf("second import printed:\n%s", out.String())
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	tables := map[string]int{}
	rejects := 0
	for _, r := range readRecords(t, data) {
		if r.Source == "sub-prod" {
			tables[r.Table]++
		}
		if r.Action == event.ActionIngestReject && strings.Contains(string(r.Raw), `"source":"sub-prod"`) {
			rejects++
		}
	}
	if tables[event.TableKubeAudit] != 4 || tables[event.TableAzureActivity] == 0 || tables[event.TableSigninLogs] == 0 || tables[event.TableAKSControlPlane] < 5 {
		t.Errorf("records by table: %v\n%s", tables, first)
	}
	if rejects < 5 {
		t.Errorf("%d rejects stored, want the 5 bad lines of lines-mixed and more", rejects)
	}
}
