package kql

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"
)

// guideWeeklyQuery is the "Weekly security trends" query of the AKS PCI
// DSS monitoring guide (../shared/reference/aks-pci-monitoring.md),
// verbatim; testdata/semantics/guide.test checks its rows.
const guideWeeklyQuery = `// Weekly security trends
let WeeklyData = AzureActivity
| where TimeGenerated > ago(7d)
| where ResourceProvider == "Microsoft.ContainerService"
| summarize 
    TotalActivities = count(),
    UniqueUsers = dcount(Caller),
    FailedOperations = countif(ActivityStatus == "Failed")
by bin(TimeGenerated, 1d)
| order by TimeGenerated desc;

WeeklyData
| render timechart`

// TestGuideWeeklyChart runs the guide's weekly query through an Engine and
// checks that its render comes back as a timechart on the result table,
// with the rows the same as without the render.
func TestGuideWeeklyChart(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	def := loadTable(t, db, "guide_test.go", "AzureActivity (TimeGenerated:datetime, Caller:string, ResourceProvider:string, ActivityStatus:string)", []string{
		`datetime(2024-03-07T10:00:00Z), "alice@contoso.com", "Microsoft.ContainerService", "Succeeded"`,
		`datetime(2024-03-14T09:00:00Z), "alice@contoso.com", "Microsoft.ContainerService", "Failed"`,
		`datetime(2024-03-14T18:00:00Z), "bob@contoso.com", "Microsoft.ContainerService", "Succeeded"`,
		`datetime(2024-03-15T08:00:00Z), "bob@contoso.com", "Microsoft.Network", "Failed"`,
		`datetime(2024-03-15T09:00:00Z), "carol@contoso.com", "Microsoft.ContainerService", "Succeeded"`,
	})
	now := time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)
	eng := NewEngine(db, []TableDef{def}, Options{Now: func() time.Time { return now }})
	res, err := eng.Run(context.Background(), guideWeeklyQuery)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tables) != 1 {
		t.Fatalf("%d result tables, want 1", len(res.Tables))
	}
	tab := res.Tables[0]
	if tab.Chart == nil || tab.Chart.Kind != "timechart" {
		t.Fatalf("chart %+v, want a timechart", tab.Chart)
	}
	want := [][]any{
		{time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), int64(1), int64(1), int64(0)},
		{time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC), int64(2), int64(2), int64(1)},
	}
	if !reflect.DeepEqual(tab.Rows, want) {
		t.Errorf("rows %v, want %v", tab.Rows, want)
	}
	if !tab.Ordered() {
		t.Errorf("the rows of the rendered, sorted table are not marked ordered")
	}
}
