package sigma

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
)

// TestMatchAlertGolden evaluates the example rules on crafted ledger
// records (decoded by cdewatch's decoders, so with their normalized
// fields and PCI classes) and compares the alerts with
// testdata/alerts.golden.json.
func TestMatchAlertGolden(t *testing.T) {
	s := loadRules(t)
	type run struct {
		File   string        `json:"file"`
		Alerts []alert.Alert `json:"alerts"`
	}
	var runs []run
	for i, f := range []struct{ table, file string }{
		{event.TableKubeAudit, "kubernetes_audit_secrets_enumeration.match.json"},
		{event.TableKubeAudit, "kubernetes_audit_unauthorized_unauthenticated_actions.match.json"},
		{event.TableKubeAudit, "kubernetes_audit_exec_into_container.match.json"},
		{event.TableSigninLogs, "azure_account_lockout.match.json"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", f.file))
		if err != nil {
			t.Fatal(err)
		}
		var c crafted
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{File: f.file, Alerts: collect(s, ledgerEvent(t, f.table, c.Event, uint64(1000+i)))})
	}
	golden.Check(t, filepath.Join("testdata", "alerts.golden.json"), render(t, runs), *update)
}
