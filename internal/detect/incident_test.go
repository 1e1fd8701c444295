package detect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// incidentChanges returns the SecurityIncident changes in the ledger.
func incidentChanges(tb testing.TB, l *ledger.Ledger) []string {
	tb.Helper()
	var out []string
	for _, r := range storedIn(tb, l, event.TableSecurityIncident) {
		out = append(out, r.Resource+" "+r.Action+" by "+r.User)
	}
	return out
}

// TestIncidentLifecycle: alerts of one rule and key share an incident
// until it is resolved; changes are ledger records; a restart keeps the
// open incidents.
func TestIncidentLifecycle(t *testing.T) {
	rt := newRestartable(t, func() []Evaluator { return []Evaluator{secretReads{}} })
	l, s, newDetector := rt.l, rt.s, rt.detector
	ctx := context.Background()
	d := newDetector()
	appendRecords(t, l, "get secrets", "get secrets")
	if err := run(t, d, s, 2); err != nil {
		t.Fatal(err)
	}
	inc := d.Incidents()
	if len(inc) != 1 || s.got[0].Alert.Incident != inc[0].ID || s.got[1].Alert.Incident != inc[0].ID || inc[0].Status != alert.IncidentNew {
		t.Fatalf("open incidents %+v; alerts in %q and %q", inc, s.got[0].Alert.Incident, s.got[1].Alert.Incident)
	}
	id := inc[0].ID

	// A restart keeps it; a new alert joins it.
	d = newDetector()
	appendRecords(t, l, "get secrets")
	if err := run(t, d, s, 3); err != nil {
		t.Fatal(err)
	}
	if s.got[2].Alert.Incident != id {
		t.Fatalf("after restart the alert opened %q, want it in %q", s.got[2].Alert.Incident, id)
	}
	for _, tc := range []struct {
		id, status, want string
	}{
		{"INC-000000000000", alert.IncidentAcknowledged, alert.ErrNoIncident.Error()},
		{id, "closed", `status "closed"`},
		{id, alert.IncidentNew, `status "new"`},
		{id, alert.IncidentAcknowledged, ""},
		{id, alert.IncidentAcknowledged, "already acknowledged"},
		{id, alert.IncidentResolved, ""},
		{id, alert.IncidentResolved, alert.ErrNoIncident.Error()},
	} {
		_, err := d.SetIncidentStatus(ctx, tc.id, tc.status, "alice@corp.example", "looked at it")
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("%s → %s: %v, want %q", tc.id, tc.status, err, tc.want)
		}
		if tc.id == "INC-000000000000" && !errors.Is(err, alert.ErrNoIncident) {
			t.Fatalf("unknown id: %v", err)
		}
	}
	// Resolved: the next alert opens a new incident, even after a restart
	// that rebuilds the open incidents from the ledger alone.
	d = newDetector()
	appendRecords(t, l, "get secrets")
	if err := run(t, d, s, 4); err != nil {
		t.Fatal(err)
	}
	if got := s.got[3].Alert.Incident; got == "" || got == id {
		t.Fatalf("alert after resolution in incident %q", got)
	}
	want := []string{id + " incident.new by system:cdewatch:detector", id + " incident.acknowledged by alice@corp.example",
		id + " incident.resolved by alice@corp.example", s.got[3].Alert.Incident + " incident.new by system:cdewatch:detector"}
	if got := incidentChanges(t, l); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("incident records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRaisedRedelivered: an alert of Raise whose delivery failed is
// delivered at the next start, once.
func TestRaisedRedelivered(t *testing.T) {
	rt := newRestartable(t, func() []Evaluator { return []Evaluator{secretReads{}} })
	l, s, newDetector := rt.l, rt.s, rt.detector
	d := newDetector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	appendRecords(t, l, "get secrets")
	waitDelivered(t, s, 1)
	s.mu.Lock()
	s.fail = 1
	s.mu.Unlock()
	a := alert.Alert{Rule: "cdewatch.notifier-failing", Kind: "health", Severity: alert.High, Key: "mail", Summary: "mail failing"}
	if err := d.Raise(context.Background(), []alert.Alert{a}); err == nil {
		t.Fatal("Raise reported success though delivery failed")
	}
	if err := d.Raise(context.Background(), []alert.Alert{{Rule: "cdewatch.other", Kind: "health", Severity: alert.Low, Key: "x"}}); err != nil {
		t.Fatal(err)
	}
	// A batch after both saves the state.
	appendRecords(t, l, "get secrets")
	waitDelivered(t, s, 3)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d = newDetector()
	if err := run(t, d, s, 4); err != nil {
		t.Fatal(err)
	}
	d = newDetector()
	appendRecords(t, l, "get secrets")
	if err := run(t, d, s, 5); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range s.got {
		rules = append(rules, r.Alert.Rule)
	}
	// The failed one once more after the restart (the other, delivered
	// after it, again too: at least once); nothing a third time.
	if n := strings.Count(strings.Join(rules, " "), "cdewatch.notifier-failing"); n != 1 {
		t.Fatalf("deliveries %v: the failed raised alert delivered %d times, want once", rules, n)
	}
}

func waitDelivered(tb testing.TB, s *sink, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.count() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d alerts delivered after 10s, want %d", s.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
