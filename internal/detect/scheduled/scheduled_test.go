package scheduled

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/kql"
)

// engine is the real KQL engine over an empty in-memory DuckDB: the
// queries bring their data with datatable.
func engine(tb testing.TB) QueryFunc {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e := kql.NewEngine(db, nil, kql.Options{})
	return e.Run
}

const signins = `datatable(TimeGenerated:datetime, ResultType:string, AppDisplayName:string)[
 datetime(2026-11-26T08:00:00Z), "50126", "Azure Kubernetes Service AAD Client",
 datetime(2026-11-26T09:00:00Z), "0", "Azure Kubernetes Service AAD Client",
 datetime(2026-11-26T09:30:00Z), "50126", "Azure Kubernetes Service AAD Client",
 datetime(2026-11-26T10:00:00Z), "50053", "Office 365"]`

func TestConditions(t *testing.T) {
	q := engine(t)
	for _, tc := range []struct {
		query, condition string
		fires            bool
		measured         string
	}{
		// The guide's rule: the count of failed AKS sign-ins.
		{signins + ` | where ResultType != 0 | where AppDisplayName contains 'Azure Kubernetes Service' | count`, "count > 0", true, "2"},
		{signins + ` | where ResultType != 0 | where AppDisplayName contains 'Azure Kubernetes Service' | count`, "count > 2", false, ""},
		{signins + ` | where ResultType == "none"`, "count > 0", false, ""},
		{signins + ` | where ResultType != "0"`, "count >= 3", true, "3"},
		{signins + ` | summarize Failed = countif(ResultType != "0") by AppDisplayName`, "Failed > 1", true, "2"},
		{signins + ` | summarize Failed = countif(ResultType != "0") by AppDisplayName`, "Failed > 5", false, ""},
	} {
		r := &Rule{ID: "r", Title: "Failed sign-ins", Query: tc.query, Condition: tc.condition, Frequency: time.Hour, Window: time.Hour}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := q(context.Background(), r.Query)
		if err != nil {
			t.Fatalf("%s: %v", r.Query, err)
		}
		ok, v, err := r.cond.evaluate(res)
		if err != nil || ok != tc.fires || (ok && strconv.FormatFloat(v, 'f', -1, 64) != tc.measured) {
			t.Errorf("%s %s: fires %v (%v), %v; want %v %s", tc.query[len(signins):], tc.condition, ok, v, err, tc.fires, tc.measured)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Rule{ID: "r", Query: "print x = 1", Condition: "count > 0", Frequency: time.Hour, Window: time.Hour}
	for _, tc := range []struct {
		edit func(*Rule)
		want string
	}{
		{func(r *Rule) { r.ID = "" }, "without an id"},
		{func(r *Rule) { r.Query = " " }, "query is empty"},
		{func(r *Rule) { r.Query = "SigninLogs | wher x" }, "query:"},
		{func(r *Rule) { r.Frequency = time.Second }, "below the minimum"},
		{func(r *Rule) { r.Window = time.Minute }, "shorter than the frequency"},
		{func(r *Rule) { r.Condition = "more than 3" }, "want <measure> <op> <number>"},
	} {
		r := ok
		tc.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}

// The scheduler runs a due rule once per frequency, across a restart, and
// retries a failing query without losing the evaluation.
func TestSchedulerRuns(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	state := filepath.Join(t.TempDir(), "scheduled.json")
	var raised []alert.Alert
	failQuery := false
	q := engine(t)
	var queries atomic.Int32
	query := func(ctx context.Context, s string) (*kql.Result, error) {
		defer queries.Add(1)
		if failQuery {
			return nil, errors.New("index unavailable")
		}
		return q(ctx, s)
	}
	newScheduler := func() *Scheduler {
		return &Scheduler{Rules: []*Rule{{ID: "daily", Title: "Daily failed sign-ins", Severity: alert.Medium, PCI: []string{"10.4.1.1"},
			Query: signins + ` | where ResultType != 0 | count`, Condition: "count > 0", Frequency: 24 * time.Hour, Window: 24 * time.Hour}},
			Query: query, Raise: func(_ context.Context, as []alert.Alert) error { raised = append(raised, as...); return nil },
			StateFile: state, Now: clock, Log: slog.New(slog.DiscardHandler), Tick: time.Millisecond}
	}
	// runFor runs a scheduler until it has run n queries (n = 0: for a
	// few ticks, checking that it runs none), however slow the machine.
	runFor := func(s *Scheduler, n int32) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := queries.Load()
		go func() { done <- s.Run(ctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for queries.Load()-start < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// A failing query is retried at every tick: at least n.
		if got := queries.Load() - start; got < n || (n == 0 && got != 0) {
			t.Fatalf("%d queries run, want %d", got, n)
		}
	}
	runFor(newScheduler(), 1)
	if len(raised) != 1 || raised[0].Kind != "scheduled" || raised[0].Fields["count"] != "3" {
		t.Fatalf("first run raised %+v", raised)
	}
	now = now.Add(12 * time.Hour)
	runFor(newScheduler(), 0) // restarted, not due yet
	if len(raised) != 1 {
		t.Fatalf("raised again before due: %d", len(raised))
	}
	now = now.Add(12 * time.Hour)
	failQuery = true
	runFor(newScheduler(), 1) // due, but the query fails: nothing saved
	failQuery = false
	runFor(newScheduler(), 1)
	if len(raised) != 2 {
		t.Fatalf("after the failed run and a retry: %d alerts, want 2", len(raised))
	}
}
