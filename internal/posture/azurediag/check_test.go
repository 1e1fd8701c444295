package azurediag

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/posture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkFile decodes an export (and a lifecycle policy, if named) and checks it.
func checkFile(tb testing.TB, name, lifecycle string) *Report {
	tb.Helper()
	settings, err := Decode(read(tb, name))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	var o Options
	if lifecycle != "" {
		l, err := DecodeLifecycle(read(tb, lifecycle))
		if err != nil {
			tb.Fatalf("%s: %v", lifecycle, err)
		}
		o.Lifecycle = l
	}
	r := Check(settings, name, o)
	for _, f := range r.Findings {
		if !slices.Contains(FindingIDs(), f.ID) {
			tb.Errorf("finding ID %q is not in FindingIDs", f.ID)
		}
	}
	return r
}

// TestFindingIDsDocumented checks that docs/POSTURE.md describes every
// finding ID.
func TestFindingIDsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "POSTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range FindingIDs() {
		if !strings.Contains(string(doc), "| `"+id+"` |") {
			t.Errorf("docs/POSTURE.md has no table row for %s", id)
		}
	}
}

var cases = []struct {
	file, lifecycle string
	verdicts        [3]posture.Status // 10.2.1, 10.3.3, 10.5.1
	findings        []string          // IDs that must be there
	golden          string
}{
	{"good.json", "lifecycle-400d.json", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"eventhub-destination", "storage-destination", "lifecycle-ok"}, "good-lifecycle"},
	// The event hub path to cdewatch keeps the events: the storage copy's
	// retention is reported but does not decide.
	{"good.json", "", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"retention-unverified", "retention-in-cdewatch"}, "good"},
	{"good.json", "lifecycle-90d.json", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"lifecycle-delete-short"}, "good-lifecycle-90d"},
	{"short-retention.json", "lifecycle-90d.json", [3]posture.Status{posture.Pass, posture.Pass, posture.Fail},
		[]string{"retention-short", "lifecycle-delete-short"}, "short-retention-lifecycle-90d"},
	// Azure no longer applies the setting's 90 days; the lifecycle keeps 400.
	{"short-retention.json", "lifecycle-400d.json", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"retention-short", "lifecycle-ok"}, "short-retention-lifecycle-400d"},
	{"admin-only.json", "", [3]posture.Status{posture.Fail, posture.Pass, posture.Fail},
		[]string{"kube-audit-admin-only", "retention-short", "apiserver-missing"}, "admin-only"},
	{"no-destination.json", "", [3]posture.Status{posture.Pass, posture.Fail, posture.Pass},
		[]string{"no-destination"}, "no-destination"},
	{"short-retention.json", "", [3]posture.Status{posture.Pass, posture.Pass, posture.Fail},
		[]string{"retention-short", "retention-unverified"}, "short-retention"},
	{"list.json", "", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"eventhub-destination", "retention-in-cdewatch", "both-audit-categories"}, "list"},
	{"workspace-only.json", "", [3]posture.Status{posture.Pass, posture.Partial, posture.Partial},
		[]string{"workspace-only", "retention-unverified"}, "workspace-only"},
	{"arm-form.json", "lifecycle-400d.json", [3]posture.Status{posture.Pass, posture.Pass, posture.Pass},
		[]string{"storage-destination", "lifecycle-ok"}, "arm-form"},
	{"empty-list.json", "", [3]posture.Status{posture.Fail, posture.Fail, posture.Fail},
		[]string{"no-settings"}, "empty-list"},
	{"not-aks.json", "", [3]posture.Status{posture.Fail, posture.Fail, posture.Fail},
		[]string{"not-aks", "no-settings"}, "not-aks"},
}

// TestCheck checks the verdicts and key findings for each export, and pins
// the text and JSON reports in golden files.
func TestCheck(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.golden, func(t *testing.T) {
			r := checkFile(t, tt.file, tt.lifecycle)
			for i, req := range []string{"10.2.1", "10.3.3", "10.5.1"} {
				if r.Verdicts[i].Requirement != req || r.Verdicts[i].Status != tt.verdicts[i] {
					t.Errorf("%s: %s (%s), want %s", req, r.Verdicts[i].Status, r.Verdicts[i].Why, tt.verdicts[i])
				}
			}
			for _, id := range tt.findings {
				if !slices.ContainsFunc(r.Findings, func(f posture.Finding) bool { return f.ID == id }) {
					t.Errorf("no finding %s in %+v", id, r.Findings)
				}
			}
			var text, js bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", tt.golden+".text.golden"), text.Bytes(), *update)
			golden.Check(t, filepath.Join("testdata", "golden", tt.golden+".json.golden"), js.Bytes(), *update)
		})
	}
}

// TestCheckWordings checks statements the reports must make.
func TestCheckWordings(t *testing.T) {
	r := checkFile(t, "admin-only.json", "")
	f := r.Findings[slices.IndexFunc(r.Findings, func(f posture.Finding) bool { return f.ID == "kube-audit-admin-only" })]
	if !strings.Contains(f.Text, "get and list") || f.Severity != posture.High {
		t.Errorf("admin-only finding: %+v", f)
	}
	r = checkFile(t, "good.json", "")
	for _, f := range r.Findings {
		if f.ID == "eventhub-destination" && !strings.Contains(f.Text, "RootManageSharedAccessKey") {
			t.Errorf("the event hub finding does not warn about the root key: %s", f.Text)
		}
		if f.ID == "eventhub-destination" && !strings.Contains(f.Text, "ehns-pci-logs.servicebus.windows.net:9093") {
			t.Errorf("the event hub finding does not name the Kafka endpoint: %s", f.Text)
		}
	}
	r = checkFile(t, "short-retention.json", "")
	for _, f := range r.Findings {
		if f.ID == "retention-short" && !strings.Contains(f.Text, "30 September 2025") {
			t.Errorf("the retention finding does not explain the deprecation: %s", f.Text)
		}
	}
}

// TestLifecycleApplies checks which lifecycle rules count for the
// kube-audit blobs of a cluster.
func TestLifecycleApplies(t *testing.T) {
	const cluster = "/subscriptions/S/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/aks"
	days := func(d float64) *float64 { return &d }
	rule := func(name string, enabled bool, types, prefixes []string, d *float64) LifecycleRule {
		var r LifecycleRule
		r.Name, r.Enabled = name, enabled
		r.Definition.Filters.BlobTypes, r.Definition.Filters.PrefixMatch = types, prefixes
		if d != nil {
			r.Definition.Actions.BaseBlob.Delete = &DeleteAction{DaysAfterModificationGreaterThan: d}
		}
		return r
	}
	tests := []struct {
		name    string
		rule    LifecycleRule
		cluster string
		want    bool
	}{
		{"container prefix", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-kube-audit"}, days(10)), cluster, true},
		{"all insights", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-"}, days(10)), cluster, true},
		{"no prefix", rule("a", true, nil, nil, days(10)), cluster, true},
		{"this cluster", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-kube-audit/resourceId=" + strings.ToUpper(cluster) + "/y=2024"}, days(10)), cluster, true},
		{"other cluster", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-kube-audit/resourceId=/SUBSCRIPTIONS/OTHER"}, days(10)), cluster, false},
		{"block blobs only", rule("a", true, []string{"blockBlob"}, []string{"insights-logs-kube-audit"}, days(10)), cluster, false},
		{"disabled", rule("a", false, []string{"appendBlob"}, []string{"insights-logs-kube-audit"}, days(10)), cluster, false},
		{"no delete", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-kube-audit"}, nil), cluster, false},
		{"other category", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-guard"}, days(10)), cluster, false},
		{"unknown cluster", rule("a", true, []string{"appendBlob"}, []string{"insights-logs-kube-audit/resourceId=/SUBSCRIPTIONS/X"}, days(10)), "", true},
	}
	for _, tt := range tests {
		l := &Lifecycle{Rules: []LifecycleRule{tt.rule}}
		if _, got := l.kubeAuditDeletion(tt.cluster); got != tt.want {
			t.Errorf("%s: applies %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDecodeErrors checks that inputs that are not diagnostic settings
// are refused with the reason.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "the file is empty"},
		{"not json", "{\n\"logs\": [\n}", "line 3"},
		{"a string", `"x"`, "got a string"},
		{"value not a list", `{"value": 3}`, `"value" is not a list`},
		{"value null", `{"value": null}`, `"value" is not a list`},
		{"not a setting", `{"name": "x", "sku": "Standard"}`, "not a diagnostic setting"},
		{"list item not a setting", `[{"logs": []}, 5]`, "setting 1: expected a diagnostic setting"},
		{"enabled as text", `{"logs": [{"category": "kube-audit", "enabled": "true"}]}`, "logs.enabled: expected true or false, got a JSON string"},
		{"days as text", `{"logs": [{"category": "kube-audit", "enabled": true, "retentionPolicy": {"days": "90", "enabled": true}}]}`, "expected a number"},
		{"properties wrong", `{"id": "x", "properties": {"logs": {}}}`, "properties: logs: expected a list"},
		{"storage id number", `{"logs": [], "storageAccountId": 7}`, "storageAccountId: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "[]", `{"rules": 5}`, `{"policy": {}}`, `{"id": "x"}`} {
		if _, err := DecodeLifecycle([]byte(in)); err == nil {
			t.Errorf("lifecycle %q accepted", in)
		}
	}
}

// TestDecodeForms checks that the three shapes of export read the same.
func TestDecodeForms(t *testing.T) {
	one := read(t, "good.json")
	forms := map[string][]byte{
		"object": one,
		"list":   append(append([]byte("[\n"), one...), ']'),
		"value":  append(append([]byte(`{"value": [`), one...), []byte("]}")...),
		"bom":    append([]byte("\xef\xbb\xbf"), one...),
	}
	want, err := Decode(one)
	if err != nil || len(want) != 1 {
		t.Fatalf("%v %v", want, err)
	}
	for name, in := range forms {
		got, err := Decode(in)
		if err != nil || len(got) != 1 || got[0].Name != want[0].Name || len(got[0].Logs) != len(want[0].Logs) || got[0].EventHubName != "aks-pci-audit" {
			t.Errorf("%s: %+v %v", name, got, err)
		}
	}
}

// TestCheckInline covers the findings the realistic exports do not show.
func TestCheckInline(t *testing.T) {
	const aks = `"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/providers/microsoft.insights/diagnosticSettings/d", "name": "d"`
	const st = `"storageAccountId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"`
	otherLifecycle := &Lifecycle{ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/other/managementPolicies/default"}
	keeping := &Lifecycle{ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/managementPolicies/default"}
	tests := []struct {
		name      string
		in        string
		lifecycle *Lifecycle
		id        string
		sev       posture.Severity
		verdicts  [3]posture.Status
	}{
		{"kube-audit disabled", `{` + aks + `, ` + st + `, "logs": [{"category": "kube-audit", "enabled": false}, {"category": "guard", "enabled": true}]}`, nil,
			"kube-audit-missing", posture.High, [3]posture.Status{posture.Fail, posture.Fail, posture.Fail}},
		{"audit group", `{` + aks + `, ` + st + `, "logs": [{"categoryGroup": "audit", "enabled": true}]}`, nil,
			"kube-audit-by-group", posture.Medium, [3]posture.Status{posture.Partial, posture.Pass, posture.Partial}},
		{"partner", `{` + aks + `, "marketplacePartnerId": "/subscriptions/s/partner", "logs": [{"category": "kube-audit", "enabled": true}, {"category": "guard", "enabled": true}]}`, nil,
			"partner-only", posture.Medium, [3]posture.Status{posture.Pass, posture.Partial, posture.Pass}},
		{"retention forever", `{` + aks + `, ` + st + `, "logs": [{"category": "kube-audit", "enabled": true, "retentionPolicy": {"days": 0, "enabled": true}}, {"category": "guard", "enabled": true}]}`, keeping,
			"retention-deprecated", posture.Low, [3]posture.Status{posture.Pass, posture.Pass, posture.Pass}},
		{"lifecycle keeps", `{` + aks + `, ` + st + `, "logs": [{"category": "kube-audit", "enabled": true}, {"category": "guard", "enabled": true}]}`, keeping,
			"lifecycle-keeps", posture.Info, [3]posture.Status{posture.Pass, posture.Pass, posture.Pass}},
		{"lifecycle of another account", `{` + aks + `, ` + st + `, "logs": [{"category": "kube-audit", "enabled": true}, {"category": "guard", "enabled": true}]}`, otherLifecycle,
			"lifecycle-other-account", posture.Info, [3]posture.Status{posture.Pass, posture.Pass, posture.Partial}},
		{"guard off", `{` + aks + `, ` + st + `, "logs": [{"category": "kube-audit", "enabled": true}]}`, keeping,
			"guard-missing", posture.Medium, [3]posture.Status{posture.Partial, posture.Pass, posture.Pass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			r := Check(settings, "inline", Options{Lifecycle: tt.lifecycle})
			if !slices.ContainsFunc(r.Findings, func(f posture.Finding) bool { return f.ID == tt.id && f.Severity == tt.sev }) {
				t.Errorf("no %s %s in %+v", tt.sev, tt.id, r.Findings)
			}
			for i := range 3 {
				if r.Verdicts[i].Status != tt.verdicts[i] {
					t.Errorf("%s: %s (%s), want %s", r.Verdicts[i].Requirement, r.Verdicts[i].Status, r.Verdicts[i].Why, tt.verdicts[i])
				}
			}
		})
	}
}
