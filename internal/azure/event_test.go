package azure

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
)

// decodeFile decodes the body testdata/decode/name, which must have no bad
// record.
func decodeFile(tb testing.TB, name string) []Record {
	tb.Helper()
	recs, bad, err := DecodeBody(readFile(tb, filepath.Join("testdata", "decode", name)), Limits{})
	if err != nil || len(bad) != 0 {
		tb.Fatalf("%s: %v %v", name, bad, err)
	}
	return recs
}

// wantEvent is what Event is checked for; Time and Raw are always the
// record's.
type wantEvent struct {
	table, key, user, action string
	outcome                  event.Outcome
	status                   int
	origin, agent, resource  string
	pci                      string
}

const (
	kvID    = "/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-PROD/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-CDE-PROD"
	aksID   = "/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE-PROD"
	spOID   = "9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910"
	signIns = "Sign-in activity"
)

func TestEvent(t *testing.T) {
	tests := []struct {
		file  string
		index int
		want  wantEvent
	}{
		// Activity Log.
		{"eventhubs-activity.json", 0, wantEvent{table: "AzureActivity", user: "alice@contoso.com", action: "MICROSOFT.KEYVAULT/VAULTS/WRITE",
			outcome: event.Success, status: 200, origin: "203.0.113.45", resource: kvID, pci: "admin-action"}},
		{"eventhubs-activity.json", 1, wantEvent{table: "AzureActivity", user: spOID, action: "Microsoft.Storage/storageAccounts/listKeys/action",
			outcome: event.Success, status: 200, origin: "10.20.30.40",
			resource: "/subscriptions/3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90/resourceGroups/rg-cde-prod/providers/Microsoft.Storage/storageAccounts/stcdeaudit", pci: "admin-action"}},
		// A write denied by policy: a Policy event, so not an
		// administrative action; Failed.Forbidden is 403.
		{"eventhubs-activity.json", 2, wantEvent{table: "AzureActivity", user: "bob@contoso.com", action: "Microsoft.Network/networkSecurityGroups/securityRules/write",
			outcome: event.Failure, status: 403, origin: "198.51.100.7",
			resource: "/subscriptions/3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90/resourceGroups/rg-cde-prod/providers/Microsoft.Network/networkSecurityGroups/nsg-cde/securityRules/allow-any-inbound", pci: "invalid-access"}},
		{"eventhubs-activity-aks.json", 0, wantEvent{table: "AzureActivity", user: "alice@contoso.com", action: "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION",
			outcome: event.Success, status: 200, origin: "203.0.113.45", resource: aksID, pci: "admin-action"}},
		{"eventhubs-activity-aks.json", 1, wantEvent{table: "AzureActivity", user: "bob@contoso.com", action: "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION",
			outcome: event.Failure, status: 403, origin: "198.51.100.7", resource: aksID, pci: "admin-action,invalid-access"}},
		{"eventhubs-activity-aks.json", 2, wantEvent{table: "AzureActivity", user: "carol@contoso.com", action: "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
			outcome: event.Success, status: 200, origin: "192.0.2.10", resource: aksID + "/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/PCI-DSS-LOGGING",
			pci: "admin-action,log-init-stop,system-object"}},
		{"eventhubs-activity-aks.json", 3, wantEvent{table: "AzureActivity", user: "alice@contoso.com", action: "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
			outcome: event.Success, status: 201, origin: "203.0.113.45", resource: aksID + "/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/1D2E3F40-5A6B-4C7D-8E9F-A0B1C2D3E4F5",
			pci: "admin-action,credential-change,system-object"}},
		// The BeginRequest of a delete: no outcome, no status yet.
		{"eventhubs-activity-aks.json", 4, wantEvent{table: "AzureActivity", user: spOID, action: "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AGENTPOOLS/DELETE",
			outcome: event.Unknown, origin: "10.20.30.40", resource: aksID + "/AGENTPOOLS/BATCHPOOL", pci: "admin-action,system-object"}},
		// An update (200, not 201 Created): no system object.
		{"eventhubs-activity-aks.json", 5, wantEvent{table: "AzureActivity", user: "alice@contoso.com", action: "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/WRITE",
			outcome: event.Success, status: 200, origin: "203.0.113.45", resource: aksID, pci: "admin-action"}},
		{"eventhubs-activity-aks.json", 6, wantEvent{table: "AzureActivity", user: "carol@contoso.com", action: "MICROSOFT.OPERATIONALINSIGHTS/QUERYPACKS/QUERIES/WRITE",
			outcome: event.Success, status: 201, origin: "192.0.2.10",
			resource: "/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-LOGS/PROVIDERS/MICROSOFT.OPERATIONALINSIGHTS/QUERYPACKS/QP-CDE/QUERIES/6B7C8D9E-0F1A-4B2C-8D3E-4F5A6B7C8D9E",
			pci:      "admin-action,system-object"}},
		{"eventhubs-activity-aks.json", 7, wantEvent{table: "AzureActivity", user: "bob@contoso.com", action: "MICROSOFT.OPERATIONALINSIGHTS/WORKSPACES/SEARCH/ACTION",
			outcome: event.Success, status: 200, origin: "198.51.100.7",
			resource: "/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-LOGS/PROVIDERS/MICROSOFT.OPERATIONALINSIGHTS/WORKSPACES/LAW-CDE",
			pci:      "admin-action,log-access"}},

		// Sign-ins.
		{"eventhubs-signin.json", 0, wantEvent{table: "SigninLogs", key: "7f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", user: "alice@contoso.com", action: signIns,
			outcome: event.Success, origin: "203.0.113.45",
			agent:    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
			resource: "Azure Portal"}},
		{"eventhubs-signin.json", 1, wantEvent{table: "SigninLogs", key: "1e2d3c4b-5a69-4788-9786-a5b4c3d2e1f0", user: "admin@contoso.com", action: signIns,
			outcome: event.Failure, status: 50126, origin: "192.0.2.99", resource: "Azure Active Directory PowerShell", pci: "invalid-access"}},
		// A service principal: ResultType from status.errorCode.
		{"eventhubs-signin.json", 2, wantEvent{table: "SigninLogs", key: "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f", user: "cdewatch-collector", action: signIns,
			outcome: event.Failure, status: 7000215, origin: "10.20.30.40", resource: "cdewatch-collector", pci: "invalid-access"}},
		{"eventhubs-signin-aks.json", 0, wantEvent{table: "SigninLogs", key: "aa11bb22-cc33-4d44-8e55-ff6677889900", user: "alice@contoso.com", action: signIns,
			outcome: event.Failure, status: 50126, origin: "192.0.2.99", agent: "kubelogin/v0.1.4", resource: "Azure Kubernetes Service AAD Client", pci: "invalid-access"}},
		{"eventhubs-signin-aks.json", 2, wantEvent{table: "SigninLogs", key: "cc33dd44-ee55-4f66-8a77-118899001122", user: "alice@contoso.com", action: signIns,
			outcome: event.Success, origin: "203.0.113.45", agent: "kubelogin/v0.1.4", resource: "Azure Kubernetes Service AAD Client"}},

		// Control plane.
		{"eventhubs-controlplane.json", 0, wantEvent{table: "AKSControlPlane", action: "kube-apiserver", outcome: event.Unknown, resource: aksID}},
		{"eventhubs-controlplane.json", 1, wantEvent{table: "AKSControlPlane", action: "guard", outcome: event.Unknown, resource: aksID}},
		{"bom-controlplane.json", 1, wantEvent{table: "AKSControlPlane", action: "kube-newcomponent", outcome: event.Unknown,
			resource: "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C1"}},
	}
	files := map[string][]Record{}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.file, tt.index), func(t *testing.T) {
			if files[tt.file] == nil {
				files[tt.file] = decodeFile(t, tt.file)
			}
			r := &files[tt.file][tt.index]
			e, ok := r.Event()
			if !ok {
				t.Fatalf("Event() = false for a %s record", r.Kind)
			}
			got := wantEvent{table: e.Table, key: e.Key, user: e.User, action: e.Action, outcome: e.Outcome, status: e.Status,
				origin: e.OriginIP, agent: e.UserAgent, resource: e.Resource, pci: e.PCI.String()}
			if got != tt.want {
				t.Errorf("Event()\n got %+v\nwant %+v", got, tt.want)
			}
			if !e.Time.Equal(r.Time) || !bytes.Equal(e.Raw, r.Raw) || !e.Received.IsZero() || e.Source != "" {
				t.Errorf("Event() time %v raw %d bytes received %v source %q; want the record's time and raw, no received or source",
					e.Time, len(e.Raw), e.Received, e.Source)
			}
			// What the ledger keeps decodes to the same record.
			back, err := DecodeRecord(e.Raw, Limits{})
			if err != nil {
				t.Fatalf("DecodeRecord(Raw): %v", err)
			}
			if e2, _ := back.Event(); e2.Table != e.Table || e2.User != e.User || e2.PCI != e.PCI || e2.Outcome != e.Outcome {
				t.Errorf("the decoded Raw gives %+v", e2)
			}
		})
	}
}

// TestEventAudit checks that kube-audit records and records without their
// payload give no event.
func TestEventAudit(t *testing.T) {
	var recs []Record
	for _, r := range decodeFile(t, "eventhubs-kube-audit.json") {
		if r.Kind == KindAudit {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		t.Fatal("no kube-audit record in the sample")
	}
	recs = append(recs, Record{Kind: KindActivity}, Record{Kind: KindSignIn}, Record{Kind: KindControlPlane}, Record{})
	for i := range recs {
		if e, ok := recs[i].Event(); ok || e.Table != "" {
			t.Errorf("record %d (%s): Event() gives table %q, %v; want false", i, recs[i].Kind, e.Table, ok)
		}
	}
}

func TestActivityClass(t *testing.T) {
	tests := []struct {
		op, category, caller, status string
		want                         string
	}{
		{"Microsoft.Authorization/roleAssignments/delete", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change,system-object"},
		{"Microsoft.Authorization/roleDefinitions/write", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change"},
		{"Microsoft.Authorization/roleEligibilityScheduleRequests/write", "Administrative", "alice", "Succeeded.Created", "admin-action,credential-change,system-object"},
		{"Microsoft.Authorization/elevateAccess/action", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change"},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change"},
		{"Microsoft.KeyVault/vaults/accessPolicies/write", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change"},
		{"Microsoft.Storage/storageAccounts/regenerateKey/action", "Administrative", "alice", "Succeeded.OK", "admin-action,credential-change"},
		{"Microsoft.ContainerService/managedClusters/rotateClusterCertificates/action", "Administrative", "alice", "Accepted.Accepted", "admin-action,credential-change"},
		{"Microsoft.ContainerService/managedClusters/resetServicePrincipalProfile/action", "Administrative", "alice", "", "admin-action,credential-change"},
		{"Microsoft.ContainerService/managedClusters/listClusterMonitoringUserCredential/action", "Administrative", "alice", "Succeeded.OK", "admin-action"},
		{"Microsoft.Insights/diagnosticSettings/write", "Administrative", "alice", "Succeeded.OK", "admin-action,log-init-stop"},
		{"microsoft.aadiam/diagnosticSettings/delete", "Administrative", "alice", "Succeeded.OK", "admin-action,log-init-stop,system-object"},
		{"Microsoft.Insights/dataCollectionRuleAssociations/write", "Administrative", "alice", "Succeeded.Created", "admin-action,log-init-stop,system-object"},
		{"Microsoft.OperationalInsights/workspaces/delete", "Administrative", "alice", "Succeeded.OK", "admin-action,log-init-stop,system-object"},
		{"Microsoft.OperationalInsights/workspaces/dataExports/write", "Administrative", "alice", "Succeeded.OK", "admin-action,log-init-stop"},
		{"Microsoft.OperationalInsights/workspaces/query/read", "Administrative", "alice", "Succeeded.OK", "log-access"},
		{"Microsoft.Compute/virtualMachines/write", "Administrative", "alice", "Succeeded.Created", "admin-action,system-object"},
		{"Microsoft.Compute/virtualMachines/write", "Administrative", "alice", "Failed.Unauthorized", "admin-action,invalid-access"},
		{"Microsoft.Compute/virtualMachines/write", "Administrative", "alice", "Failed.Conflict", "admin-action"},
		// No caller, or not an administrative event: no admin action.
		{"Microsoft.Compute/virtualMachines/delete", "Administrative", "", "Succeeded.OK", "system-object"},
		{"Microsoft.ServiceHealth/incident/action", "ServiceHealth", "", "", ""},
		{"Microsoft.Authorization/policies/audit/action", "Policy", "alice", "Succeeded.", ""},
		{"Microsoft.Authorization/policies/deny/action", "Policy", "alice", "Succeeded.", "invalid-access"},
	}
	for _, tt := range tests {
		t.Run(tt.op+" "+tt.status, func(t *testing.T) {
			res := "Succeeded"
			if len(tt.status) > 6 && tt.status[:6] == "Failed" {
				res = "Failed"
			}
			a := &Activity{OperationNameValue: tt.op, CategoryValue: tt.category, Caller: tt.caller,
				ActivityStatusValue: res, ActivitySubstatusValue: tt.status}
			r := Record{Kind: KindActivity, Activity: a}
			e, _ := r.Event()
			if got := e.PCI.String(); got != tt.want {
				t.Errorf("classes %q, want %q", got, tt.want)
			}
		})
	}
}

func TestActivityStatusCode(t *testing.T) {
	tests := []struct {
		props, sig string
		want       int
	}{
		{`{"statusCode":"Created"}`, "Succeeded.OK", 201},
		{`{"statusCode":"NoContent"}`, "", 204},
		{`{"statusCode":"404"}`, "", 404},
		{`{"statusCode":404}`, "", 404},
		{`{"statusCode":"Teapot"}`, "Failed.Forbidden", 403},
		{``, "Succeeded.OK", 200},
		{``, "Failed.TooManyRequests", 429},
		{``, "Started.", 0},
		{``, "Conflict", 409},
		{``, "", 0},
		{`{"statusCode":"99"}`, "", 0},
	}
	for _, tt := range tests {
		a := &Activity{PropertiesD: []byte(tt.props), ActivitySubstatusValue: tt.sig}
		if got := activityStatusCode(a); got != tt.want {
			t.Errorf("properties %s, resultSignature %q: %d, want %d", tt.props, tt.sig, got, tt.want)
		}
	}
}
