package index

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// TestSecurityAlertRows indexes a SecurityAlert record as the detector
// writes it (the alert as JSON with its cursor) and checks the columns.
func TestSecurityAlertRows(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := alert.Alert{Rule: "pci.exec-into-cde-pod", RuleTitle: "Exec into a CDE pod", Kind: "match", Severity: alert.High,
		PCI: []string{"10.2.1.2"}, MITRE: []string{"T1609"}, Source: "aks-prod", Time: at, Detected: at.Add(time.Second),
		Seqs: []uint64{41}, Key: "alice@contoso.com payments", Summary: "alice@contoso.com exec into payments/checkout-0",
		Fields: map[string]string{"namespace": "payments"}}
	raw, _ := json.Marshal(struct {
		alert.Alert
		Through uint64 `json:"through"`
	}{a, 42})
	rec := event.Record{Time: at, Received: at.Add(time.Second), Source: "aks-prod", Table: event.TableSecurityAlert,
		User: "system:cdewatch:detector", Action: a.Rule, Outcome: event.Success, Resource: a.Key, PCI: event.AdminAction, Raw: raw}
	b, err := rec.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	x := openIndex(t, "", Options{})
	src := newMemSource(b)
	runIndex(t, x, src)
	waitFor(t, x, 0)
	for _, tc := range []struct{ q, want string }{
		{`SELECT AlertName || '|' || AlertType || '|' || AlertSeverity || '|' || Status FROM SecurityAlert`, "Exec into a CDE pod|pci.exec-into-cde-pod|High|New"},
		{`SELECT SystemAlertId || '|' || CompromisedEntity || '|' || Techniques || '|' || PciRequirements FROM SecurityAlert`, "cdewatch-0|alice@contoso.com payments|T1609|10.2.1.2"},
		{`SELECT strftime(TimeGenerated, '%H:%M:%S') || ' ' || strftime(StartTime, '%H:%M:%S') FROM SecurityAlert`, "10:00:01 10:00:00"},
		{`SELECT CAST(EvidenceSeqs AS VARCHAR) || ' ' || (ExtendedProperties->>'namespace') FROM SecurityAlert`, "[41] payments"},
		{`SELECT Source || ' ' || Pci || ' ' || AlertKind FROM SecurityAlert`, "aks-prod admin-action match"},
	} {
		var got string
		if err := x.DB().QueryRow(tc.q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.q, got, tc.want)
		}
	}
}

// TestSecurityIncidentRows indexes an incident's opening and resolution
// and reads its current state as Sentinel queries do.
func TestSecurityIncidentRows(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	open := alert.IncidentChange{ID: "INC-0123456789ab", Status: alert.IncidentNew, Rule: "pci.exec-into-cde-pod", Title: "Exec into a CDE pod",
		Severity: alert.High, Key: "alice payments", Source: "aks-prod", PCI: []string{"10.2.1.2"}, Opened: at,
		By: "system:cdewatch:detector", Reason: "opened by alert: alice exec into payments/checkout-0"}
	resolved := open
	resolved.Status, resolved.By, resolved.Reason = alert.IncidentResolved, "bob@corp.example", "approved maintenance, CHG-42"
	var recs [][]byte
	for i, c := range []alert.IncidentChange{open, resolved} {
		raw, _ := json.Marshal(c)
		rec := event.Record{Time: at, Received: at.Add(time.Duration(i) * time.Hour), Source: c.Source, Table: event.TableSecurityIncident,
			User: c.By, Action: "incident." + c.Status, Outcome: event.Success, Resource: c.ID, PCI: event.AdminAction, Raw: raw}
		b, err := rec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	x := openIndex(t, "", Options{})
	runIndex(t, x, newMemSource(recs...))
	waitFor(t, x, 1)
	for _, tc := range []struct{ q, want string }{
		{`SELECT string_agg(Status, ',' ORDER BY TimeGenerated) FROM SecurityIncident`, "New,Resolved"},
		{`SELECT arg_max(Status || '|' || ModifiedBy || '|' || ClassificationComment, TimeGenerated) FROM SecurityIncident`, "Resolved|bob@corp.example|approved maintenance, CHG-42"},
		{`SELECT DISTINCT IncidentName || '|' || Title || '|' || Severity || '|' || RuleName || '|' || Key || '|' || strftime(CreatedTime, '%H:%M') FROM SecurityIncident`,
			"INC-0123456789ab|Exec into a CDE pod|High|pci.exec-into-cde-pod|alice payments|10:00"},
	} {
		var got string
		if err := x.DB().QueryRow(tc.q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.q, got, tc.want)
		}
	}
}
