package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// delivered collects what a detector delivers.
type delivered struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

func (d *delivered) deliver(_ context.Context, rs []detect.Raised) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rs {
		d.alerts = append(d.alerts, r.Alert)
	}
	return nil
}

func (d *delivered) rules() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return rules(d.alerts)
}

// waitUntil polls cond every few milliseconds for up to 30 s (a guard
// against a hang, not a timed assertion).
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting after 30s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// docQuery returns the KQL block that follows marker in docs/HEALTH.md.
func docQuery(tb testing.TB, marker string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "HEALTH.md"))
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		tb.Fatalf("docs/HEALTH.md has no %q", marker)
	}
	_, rest, ok = strings.Cut(rest, "```kql\n")
	if !ok {
		tb.Fatalf("docs/HEALTH.md: no kql block after %q", marker)
	}
	q, _, ok := strings.Cut(rest, "```")
	if !ok {
		tb.Fatal("docs/HEALTH.md: unterminated kql block")
	}
	return q
}

// The monitor in a real detector over a real ledger: a source stops and
// resumes, a control fails and is resolved; the alerts are raised through
// the detector, the failure records land in the ledger, the state file
// carries the failures across a restart, and the query of docs/HEALTH.md
// lists the failures with their duration from the real index.
func TestDetectorLedgerKQL(t *testing.T) {
	dir := t.TempDir()
	led, err := ledger.Open(ledger.Options{Dir: filepath.Join(dir, "ledger"), Origin: "test.cdewatch/health", CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	clk := newClock(t0)
	// What serve's self-audit function does, at the fake clock.
	audit := func(ctx context.Context, a event.SelfAudit) error {
		r, err := a.Record(clk.Now())
		if err != nil {
			return err
		}
		appendRecords(t, led, *r)
		return nil
	}
	cfg := Config{Audit: audit, Ledger: led, Now: clk.Now, Mono: clk.Mono,
		Silence: SilenceConfig{Rules: []SilenceRule{{Match: "aks-b", Max: time.Minute}}}}
	sink := &delivered{}
	start := func() (*Monitor, *detect.Detector, func()) {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := &detect.Detector{Ledger: led, Rules: []detect.Evaluator{m}, Deliver: sink.deliver,
			StateFile: filepath.Join(dir, "detect.json"), PollInterval: time.Millisecond, Now: clk.Now, Log: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		return m, d, func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	m, d, stop := start()
	caughtUp := func(m *Monitor) func() bool {
		return func() bool {
			l, err := LedgerLag(led, "detect", m.Evaluated(), clk.Now(), event.TableSecurityAlert, event.TableSecurityIncident)
			return err == nil && l.Behind == 0
		}
	}
	tick := func(m *Monitor) {
		waitUntil(t, "the detector to evaluate the ledger", caughtUp(m))
		if alerts := m.Tick(context.Background(), clk.Now()); len(alerts) > 0 {
			if err := d.Raise(context.Background(), alerts); err != nil {
				t.Fatal(err)
			}
		}
	}

	for i := range 4 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		appendRecords(t, led, record("aks-a", event.TableKubeAudit, at), record("aks-b", event.TableKubeAudit, at))
	}
	clk.set(t0.Add(time.Minute))
	tick(m)
	clk.set(t0.Add(2 * time.Minute)) // aks-b silent for 1m30s
	appendRecords(t, led, record("aks-a", event.TableKubeAudit, clk.Now()))
	tick(m)
	if err := m.ReportControl(context.Background(), ControlCheckpoint, "ledger", errors.New("signer key unreadable")); err != nil {
		t.Fatal(err)
	}
	tick(m)
	waitUntil(t, "the silence and control alerts", func() bool { return len(sink.rules()) == 2 })

	// Restart, once the detector has saved its state past every record
	// (alerts queued in the state when it was saved would be raised
	// again: at least once): the failures come back from the state file.
	waitUntil(t, "the detector's state to cover the ledger", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "detect.json"))
		var st struct{ Next uint64 }
		return err == nil && json.Unmarshal(b, &st) == nil && st.Next >= led.Size()
	})
	stop()
	m, d, stop = start()
	defer func() { stop() }()
	waitUntil(t, "the restarted detector to catch up", caughtUp(m))
	if open := m.Summary().Open; len(open) != 2 {
		t.Fatalf("after the restart: open failures %+v, want the silence and the checkpoint", open)
	}

	clk.set(t0.Add(4 * time.Minute))
	appendRecords(t, led, record("aks-b", event.TableKubeAudit, clk.Now())) // aks-b is back
	tick(m)
	id := ""
	for _, f := range m.Failures() {
		if f.Control == ControlCheckpoint {
			id = f.ID
		}
	}
	if err := m.Resolve(context.Background(), id, "alice@corp.example", "key file permissions restored; no checkpoint was missed"); err != nil {
		t.Fatal(err)
	}
	tick(m)
	waitUntil(t, "the end of the silence", func() bool { return len(sink.rules()) == 3 })
	want := []string{RuleSourceSilent, RuleControl, RuleSourceSilent + ".ended"}
	if got := sink.rules(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("delivered %v, want %v", got, want)
	}

	// The documented query, on the real index.
	idx, err := index.Open(filepath.Join(dir, "index.duckdb"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.Rebuild(context.Background(), led); err != nil {
		t.Fatal(err)
	}
	var tables []kql.TableDef
	for _, r := range index.Relations() {
		td := kql.TableDef{Name: r.Name, Doc: r.Doc}
		for _, c := range r.Columns {
			td.Columns = append(td.Columns, kql.Column{Name: c.Name, Type: string(c.Type)})
		}
		tables = append(tables, td)
	}
	engine := kql.NewEngine(idx.DB(), tables, kql.Options{})
	query := docQuery(t, "<!-- failures-query")
	res, err := engine.Run(context.Background(), query)
	if err != nil {
		t.Fatalf("the query of docs/HEALTH.md: %v", err)
	}
	// The refinements the page suggests run too.
	for _, suffix := range []string{
		"| where Start > ago(90d)", "| where Open", "| where isempty(Resolution) and not(Open)",
		"| summarize Failures = count(), Downtime = sum(Duration) by Control, Subject",
	} {
		if !strings.Contains(string(mustRead(t, filepath.Join("..", "..", "docs", "HEALTH.md"))), suffix) {
			t.Errorf("docs/HEALTH.md no longer suggests %q: update the test", suffix)
		}
		if _, err := engine.Run(context.Background(), query+suffix); err != nil {
			t.Errorf("the query with %q: %v", suffix, err)
		}
	}
	tab := res.Tables[len(res.Tables)-1]
	col := map[string]int{}
	for i, c := range tab.Columns {
		col[c.Name] = i
	}
	if len(tab.Rows) != 2 {
		t.Fatalf("%d failures listed, want 2: %v", len(tab.Rows), tab.Rows)
	}
	byControl := map[string][]any{}
	for _, r := range tab.Rows {
		byControl[r[col["Control"]].(string)] = r
	}
	sil, cp := byControl[ControlSourceSilent], byControl[ControlCheckpoint]
	if sil == nil || cp == nil {
		t.Fatalf("rows %v, want a silence and a checkpoint failure", tab.Rows)
	}
	if sil[col["Subject"]] != "aks-b" || !sil[col["Start"]].(time.Time).Equal(t0.Add(30*time.Second)) ||
		!sil[col["End"]].(time.Time).Equal(t0.Add(4*time.Minute)) || sil[col["Duration"]] != 210*time.Second || sil[col["Open"]] != false {
		t.Errorf("silence row %v: want aks-b from 08:00:30 to 08:04:00, 3m30s, ended", sil)
	}
	if cp[col["Open"]] != true || cp[col["Resolution"]] != "key file permissions restored; no checkpoint was missed" ||
		cp[col["ResolvedBy"]] != "alice@corp.example" || cp[col["Cause"]] != "signer key unreadable" || cp[col["End"]] != nil {
		t.Errorf("checkpoint row %v: want open, resolved by alice, its cause", cp)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
