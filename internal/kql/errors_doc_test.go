package kql

import (
	"context"
	"strings"
	"testing"
)

// TestErrorMessages checks the error messages docs/KQL.md shows, against
// the catalog cdewatch serves.
func TestErrorMessages(t *testing.T) {
	eng := NewEngine(openFileDB(t), catalogTables(), Options{})
	cases := []struct{ query, want string }{
		{"KubeAuditLogs\n| where TimeGenerated > ago(1h)\n| summarise count() by Verb", "line 3, column 3: unknown operator 'summarise' (did you mean 'summarize'?)"},
		{"KubeAuditLogs\n| where Verbb == 'get'", "line 2, column 9: unknown column 'Verbb' (did you mean 'Verb'?); the columns are: Annotations, AuditId, Caller, "},
		{"KubeAuditLog | count", "line 1, column 1: unknown table 'KubeAuditLog' (did you mean 'KubeAuditLogs'?); the tables are: AKSAudit, AKSAuditAdmin, AKSControlPlane, AppAccess, AzureActivity, CdewatchAudit, ContainerLog, KubeAuditLogs, SecurityAlert, SecurityIncident, SigninLogs, Syslog"},
		{"KubeAuditLogs | summarize countt() by Verb", "line 1, column 27: unknown function 'countt' (did you mean 'count'?)"},
	}
	for _, c := range cases {
		_, err := eng.Run(context.Background(), c.query)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.query, err, c.want)
		}
	}
}
