package index

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// The Azure samples of internal/azure, each stored as ingestion stores a
// record: azure.Record.Event, with Source and Received set.
var azureSamples = []struct {
	file, source string
}{
	{"eventhubs-activity.json", "sub-cde"},     // 3 activity records: Key Vault write, storage listKeys, a write denied by policy
	{"eventhubs-activity-aks.json", "sub-cde"}, // 8: listClusterAdminCredential, a denied listClusterUserCredential, a diagnostic setting delete, …
	{"eventhubs-signin.json", "tenant-contoso"},
	{"eventhubs-signin-aks.json", "tenant-contoso"},
	{"eventhubs-controlplane.json", "aks-cde-prod"}, // kube-apiserver, guard
	{"bom-controlplane.json", "aks-cde-prod"},       // csi-azuredisk-controller, a category AKS added since
}

const azureSampleDir = "../azure/testdata/decode"

// azureSampleRecords returns the ledger encodings of the records of
// azureSamples, in order, received a millisecond apart, then one record of
// each Azure table whose Raw is not an Azure record (the mappings fall back
// on the ledger record's details).
func azureSampleRecords(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	enc := func(r event.Record) {
		b, err := r.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range azureSamples {
		body, err := os.ReadFile(filepath.Join(azureSampleDir, s.file))
		if err != nil {
			tb.Fatal(err)
		}
		recs, bad, err := azure.DecodeBody(body, azure.Limits{})
		if err != nil || len(bad) != 0 {
			tb.Fatalf("%s: %v %v", s.file, bad, err)
		}
		for _, rec := range recs {
			r, ok := rec.Event()
			if !ok {
				tb.Fatalf("%s: record %d (%s) has no event", s.file, rec.Index, rec.Kind)
			}
			r.Source, r.Received = s.source, testReceived.Add(time.Duration(len(out))*time.Millisecond)
			r.Raw = bytes.Clone(r.Raw)
			enc(r)
		}
	}
	at := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC) // out of the guide queries' windows
	for _, table := range []string{event.TableAzureActivity, event.TableSigninLogs, event.TableAKSControlPlane} {
		enc(event.Record{Time: at, Received: at, Source: "fallback", Table: table, Key: "k-1", User: "someone",
			Action: "Microsoft.ContainerService/managedClusters/write", Outcome: event.Success, OriginIP: "192.0.2.1",
			UserAgent: "agent/1", Resource: "/subscriptions/S1/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/aks1",
			Raw: []byte(`{"operationName":"not a diagnostic record"}`)})
	}
	return out
}

// azureIndex appends the sample records to a real ledger after its
// initialization record and returns an index that has indexed them all.
func azureIndex(tb testing.TB) *Index {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{
		Dir: tb.TempDir(), Origin: "test.cdewatch/index-azure", CheckpointInterval: time.Hour,
		InitRecord: func() ([]byte, error) {
			r, err := event.SelfAudit{Action: event.ActionLedgerInit, Class: event.LogInitStop}.Record(testReceived)
			if err != nil {
				return nil, err
			}
			return r.MarshalBinary()
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	x := openIndex(tb, filepath.Join(tb.TempDir(), "index.duckdb"), Options{PollInterval: time.Hour})
	runIndex(tb, x, l)
	recs := azureSampleRecords(tb)
	first, err := l.Append(context.Background(), recs)
	if err != nil {
		tb.Fatal(err)
	}
	x.Notify()
	waitFor(tb, x, first+uint64(len(recs))-1)
	if s := x.Stats(); s.Skipped != 0 || s.Invalid != 0 {
		tb.Fatalf("stats %+v: records skipped or invalid", s)
	}
	return x
}

// TestAzureRows indexes the Azure samples from a ledger and checks the
// rows.
func TestAzureRows(t *testing.T) {
	x := azureIndex(t)
	// seq 0 is the ledger's initialization record; the samples follow in
	// order: activity 1-3 and 4-11, sign-ins 12-14 and 15-17, control
	// plane 18-19 and 20-21, then the fallback records 22-24.
	checkExactlyOnce(t, x, TableAzureActivity, append(seqRange(1, 12), 22))
	checkExactlyOnce(t, x, TableSigninLogs, append(seqRange(12, 18), 23))
	checkExactlyOnce(t, x, TableAKSControlPlane, append(seqRange(18, 22), 24))
	checkExactlyOnce(t, x, TableCdewatchAudit, []uint64{0})

	const (
		adminCred = `OperationNameValue = 'MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION'`
		userCred  = `OperationNameValue = 'MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION'`
		diagDel   = `OperationNameValue = 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE'`
		roleWrite = `OperationNameValue = 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE'`
		poolDel   = `OperationNameValue = 'MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AGENTPOOLS/DELETE'`
		failedIn  = `UserPrincipalName = 'admin@contoso.com'`
		sp        = `Category = 'ServicePrincipalSignInLogs'`
		apiserver = `Category = 'kube-apiserver'`
	)
	tests := []struct {
		name, query string
		want        string // the first column of each row, joined by "|"; NULL as "<null>"
	}{
		// AzureActivity.
		{"listClusterAdminCredential",
			`SELECT concat_ws(' ', Caller, ActivityStatus, ActivityStatusValue, ActivitySubstatusValue, Outcome, Status, Pci, CategoryValue, Level, ActivityLevel, CallerIpAddress) FROM AzureActivity WHERE ` + adminCred,
			"alice@contoso.com Succeeded Success Succeeded.OK success 200 admin-action Administrative Informational Informational 203.0.113.45"},
		{"resource columns",
			`SELECT concat_ws(' ', ResourceProvider, ResourceProviderValue, ResourceGroup, SubscriptionId, _SubscriptionId, Resource, Type, SourceSystem, Source) FROM AzureActivity WHERE ` + adminCred,
			"Microsoft.ContainerService MICROSOFT.CONTAINERSERVICE RG-CDE-PROD 3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90 3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90 AKS-CDE-PROD AzureActivity Azure sub-cde"},
		{"ResourceId as sent, _ResourceId in lower case",
			`SELECT ResourceId || ' ' || _ResourceId FROM AzureActivity WHERE ` + adminCred,
			"/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE-PROD /subscriptions/3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90/resourcegroups/rg-cde-prod/providers/microsoft.containerservice/managedclusters/aks-cde-prod"},
		{"TimeGenerated in microseconds",
			`SELECT strftime(TimeGenerated, '%Y-%m-%dT%H:%M:%S.%fZ') FROM AzureActivity WHERE ` + adminCred, "2025-04-20T09:14:02.123456Z"},
		{"Authorization_d and Claims_d",
			`SELECT (Authorization_d->'evidence'->>'role') || ' / ' || (Claims_d->>'name') || ' / ' || json_extract_string("Authorization", '$.action') FROM AzureActivity WHERE ` + adminCred,
			"Azure Kubernetes Service Cluster Admin Role / Alice Admin / Microsoft.ContainerService/managedClusters/listClusterAdminCredential/action"},
		{"Properties and Properties_d",
			`SELECT (Properties_d->>'statusCode') || ' ' || Hierarchy || ' ' || json_extract_string(Properties, '$.eventCategory') FROM AzureActivity WHERE ` + adminCred,
			"OK 72f988bf-86f1-41af-91ab-2d7cd011db47/mg-cde/3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90 Administrative"},
		{"denied listClusterUserCredential",
			`SELECT concat_ws(' ', Caller, ActivityStatus, Outcome, Status, Pci, Level, ActivityLevel) FROM AzureActivity WHERE ` + userCred,
			"bob@contoso.com Failed failure 403 admin-action,invalid-access Error Error"},
		{"diagnostic setting delete",
			`SELECT concat_ws(' ', Caller, Pci, ResourceProvider, ResourceProviderValue, Resource, Category, CategoryValue) FROM AzureActivity WHERE ` + diagDel,
			"carol@contoso.com admin-action,log-init-stop,system-object Microsoft.Insights MICROSOFT.INSIGHTS PCI-DSS-LOGGING Administrative Administrative"},
		{"role assignment",
			`SELECT concat_ws(' ', Pci, Status, ResourceProvider, Properties_d->>'requestbody' IS NOT NULL, Authorization_d->'evidence'->>'role') FROM AzureActivity WHERE ` + roleWrite,
			"admin-action,credential-change,system-object 201 Microsoft.Authorization true User Access Administrator"},
		{"BeginRequest of a delete by a service principal",
			`SELECT concat_ws(' ', Caller, ActivityStatus, ActivityStatusValue, Outcome, Status, Pci, Resource, ResourceProvider) FROM AzureActivity WHERE ` + poolDel,
			"9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910 Started Start unknown 0 admin-action,system-object BATCHPOOL Microsoft.ContainerService"},
		{"providers in their documented case",
			`SELECT ResourceProvider FROM AzureActivity ORDER BY seq`,
			"Microsoft.KeyVault|Microsoft.Storage|Microsoft.Network|Microsoft.ContainerService|Microsoft.ContainerService|Microsoft.Insights|Microsoft.Authorization|Microsoft.ContainerService|Microsoft.ContainerService|Microsoft.OperationalInsights|Microsoft.OperationalInsights|Microsoft.ContainerService"},
		{"Pci", `SELECT Pci FROM AzureActivity ORDER BY seq`,
			"admin-action|admin-action|invalid-access|admin-action|admin-action,invalid-access|admin-action,log-init-stop,system-object|admin-action,credential-change,system-object|admin-action,system-object|admin-action|admin-action,system-object|admin-action,log-access|"},
		{"Caller from the claims, the object id, the ledger", `SELECT Caller FROM AzureActivity ORDER BY seq`,
			"alice@contoso.com|9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910|bob@contoso.com|alice@contoso.com|bob@contoso.com|carol@contoso.com|alice@contoso.com|9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910|alice@contoso.com|carol@contoso.com|bob@contoso.com|someone"},
		{"a policy event", `SELECT concat_ws(' ', CategoryValue, Level, ActivityStatus, Status, Pci, Properties_d->>'policies') FROM AzureActivity WHERE CategoryValue = 'Policy'`,
			`Policy Error Failed 403 invalid-access [{"policyDefinitionName":"deny-any-inbound","policyDefinitionEffect":"Deny"}]`},
		{"no export value for HTTPRequest, EventSubmissionTimestamp, TenantId",
			`SELECT DISTINCT '[' || HTTPRequest || '][' || TenantId || '] ' || (EventSubmissionTimestamp IS NULL) FROM AzureActivity`, "[][] true"},
		{"fallback on the ledger record",
			`SELECT concat_ws(' ', Caller, OperationName, OperationNameValue, CallerIpAddress, ResourceProvider, ResourceGroup, SubscriptionId, Resource, _ResourceId, CategoryValue = '', Properties_d IS NULL, strftime(TimeGenerated, '%Y-%m-%d %H:%M')) FROM AzureActivity WHERE Source = 'fallback'`,
			"someone Microsoft.ContainerService/managedClusters/write Microsoft.ContainerService/managedClusters/write 192.0.2.1 Microsoft.ContainerService rg1 s1 aks1 /subscriptions/s1/resourcegroups/rg1/providers/microsoft.containerservice/managedclusters/aks1 true true 2025-01-01 08:00"},

		// SigninLogs.
		{"failed sign-in",
			`SELECT concat_ws(' ', UserPrincipalName, ResultType, Outcome, Pci, CallerIpAddress, IPAddress, Location, IsInteractive, RiskState, Status->>'errorCode', Resource) FROM SigninLogs WHERE ` + failedIn,
			"admin@contoso.com 50126 failure invalid-access 192.0.2.99 192.0.2.99 RU true atRisk 50126 Azure Active Directory PowerShell"},
		{"ResultDescription and CreatedDateTime",
			`SELECT ResultDescription || ' ' || strftime(CreatedDateTime, '%Y-%m-%dT%H:%M:%S.%fZ') FROM SigninLogs WHERE ` + failedIn,
			"Error validating credentials due to invalid username or password. 2025-04-20T07:52:30.120000Z"},
		{"successful sign-in",
			`SELECT concat_ws(' ', Outcome, '[' || Pci || ']', ConditionalAccessPolicies->0->>'displayName', MfaDetail->>'authMethod', LocationDetails->>'city', DeviceDetail->>'browser', AuthenticationDetails->1->>'authenticationMethod', Identity, AADTenantId, Id) FROM SigninLogs WHERE UserPrincipalName = 'alice@contoso.com' AND AppDisplayName = 'Azure Portal'`,
			"success [] CDE admins require MFA Microsoft Authenticator App Amsterdam Chrome 124.0.0 Mobile app notification Alice Admin 72f988bf-86f1-41af-91ab-2d7cd011db47 7f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"},
		{"service principal sign-in",
			`SELECT concat_ws(' ', ServicePrincipalName, ServicePrincipalId, ResultType, ResultDescription, IsInteractive, Outcome, Pci, Resource) FROM SigninLogs WHERE ` + sp,
			"cdewatch-collector 9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910 7000215 Invalid client secret provided. false failure invalid-access cdewatch-collector"},
		{"ResultType", `SELECT ResultType FROM SigninLogs ORDER BY seq`, "0|50126|7000215|50126|50126|0|"},
		{"sign-in fallback", `SELECT concat_ws(' ', UserPrincipalName, IPAddress, UserAgent, OperationName, Id, Status IS NULL, LocationDetails IS NULL) FROM SigninLogs WHERE Source = 'fallback'`,
			"someone 192.0.2.1 agent/1 Microsoft.ContainerService/managedClusters/write k-1 true true"},

		// AKSControlPlane.
		{"kube-apiserver line",
			`SELECT concat_ws(' ', Level, PodName, Stream, ContainerId, SourceSystem, Type, Outcome, '[' || Pci || ']', Status, Source) FROM AKSControlPlane WHERE ` + apiserver,
			"Error kube-apiserver-6d7f8b9c5d-x7k2p stderr 8c1f4e2a9b7d6c5e3f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e Azure AKSControlPlane unknown [] 0 aks-cde-prod"},
		{"message without its newline",
			`SELECT Message FROM AKSControlPlane WHERE ` + apiserver,
			`E0420 16:30:05.412345       1 authentication.go:73] "Unable to authenticate the request" err="[invalid bearer token, oidc: verify token: oidc: token is expired]"`},
		{"resource ids",
			`SELECT concat_ws(' ', Resource, _ResourceId, _SubscriptionId) FROM AKSControlPlane WHERE ` + apiserver,
			"/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE-PROD /subscriptions/3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90/resourcegroups/rg-cde-prod/providers/microsoft.containerservice/managedclusters/aks-cde-prod 3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90"},
		{"categories and levels", `SELECT Category || ':' || Level FROM AKSControlPlane ORDER BY seq`,
			"kube-apiserver:Error|guard:Info|csi-azuredisk-controller:Info|kube-newcomponent:|Microsoft.ContainerService/managedClusters/write:"},
		{"time without a zone is UTC", `SELECT strftime(TimeGenerated, '%Y-%m-%dT%H:%M:%S.%fZ') FROM AKSControlPlane WHERE Category = 'csi-azuredisk-controller'`,
			"2025-04-20T16:29:59.123000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryColumn(t, x.DB(), tt.query); got != tt.want {
				t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
			}
		})
	}
}

// The AKS PCI DSS monitoring guide's queries
// (/work/shared/reference/aks-pci-monitoring.md) on AzureActivity and
// SigninLogs, verbatim, without the markdown's indent.
const (
	guideAdminAccess = `// Monitor administrative access to AKS
AzureActivity
| where TimeGenerated > ago(24h)
| where ResourceProvider == "Microsoft.ContainerService"
| where ActivityLevel == "Informational"
| where CategoryValue == "Administrative"
| project TimeGenerated, Caller, OperationName, ResourceGroup, SubscriptionId, Properties
| order by TimeGenerated desc`

	guideLogAccess = `// Monitor access to audit logs
AzureActivity
| where TimeGenerated > ago(24h)
| where ResourceProvider == "Microsoft.OperationalInsights"
| where OperationName contains "Query"
| project TimeGenerated, Caller, OperationName, ResourceGroup, Properties
| order by TimeGenerated desc`

	guideDailyReview = `// Daily security review query
let StartTime = ago(1d);
let EndTime = now();

// Failed authentication attempts
SigninLogs
| where TimeGenerated between(StartTime .. EndTime)
| where ResultType != 0
| where AppDisplayName contains "Azure Kubernetes Service"
| summarize FailedAttempts = count() by UserPrincipalName, IPAddress, ResultType
| order by FailedAttempts desc

// Administrative activities
union
(AzureActivity
| where TimeGenerated between(StartTime .. EndTime)
| where CategoryValue == "Administrative"
| where ResourceProvider == "Microsoft.ContainerService"),

// Kubernetes audit events
(KubeAuditLogs
| where TimeGenerated between(StartTime .. EndTime)
| where Verb in ("create", "update", "delete")
| where ObjectRef_Resource in ("secrets", "configmaps", "pods"))

| project TimeGenerated, Caller, OperationName, ResourceGroup, Level
| order by TimeGenerated desc`

	guideWeekly = `// Weekly security trends
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

	guideAlertCondition = `SigninLogs | where TimeGenerated > ago(1d) | where ResultType != 0 | where AppDisplayName contains 'Azure Kubernetes Service' | count`
)

// sampleProperties returns the properties member of record i of the
// sample file, compacted: what the Properties column holds.
func sampleProperties(tb testing.TB, file string, i int) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(azureSampleDir, file))
	if err != nil {
		tb.Fatal(err)
	}
	var body struct {
		Records []map[string]json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, body.Records[i]["properties"]); err != nil {
		tb.Fatal(err)
	}
	return out.String()
}

// renderResult renders the tables of a KQL result, one line per row, the
// cells separated by " | ": datetimes in RFC 3339 with their fraction.
func renderResult(res *kql.Result) []string {
	var out []string
	for i, tab := range res.Tables {
		if i > 0 {
			out = append(out, "---")
		}
		for _, row := range tab.Rows {
			cells := make([]string, len(row))
			for j, c := range row {
				switch v := c.(type) {
				case time.Time:
					cells[j] = v.Format(time.RFC3339Nano)
				case nil:
					cells[j] = "<null>"
				default:
					cells[j] = fmt.Sprint(v)
				}
			}
			out = append(out, strings.Join(cells, " | "))
		}
	}
	return out
}

// TestAzureGuideQueries runs the AKS PCI guide's queries on AzureActivity
// and SigninLogs over the indexed samples, through the KQL engine as
// cdewatch serve runs it, and checks their rows. now is 18:00 on the day
// of the samples: every sample is within the last 24 hours, the fallback
// records months before.
func TestAzureGuideQueries(t *testing.T) {
	x := azureIndex(t)
	var defs []kql.TableDef
	for _, r := range Relations() {
		def := kql.TableDef{Name: r.Name, Doc: r.Doc}
		for _, c := range r.Columns {
			def.Columns = append(def.Columns, kql.Column{Name: c.Name, Type: string(c.Type)})
		}
		defs = append(defs, def)
	}
	now := time.Date(2025, 4, 20, 18, 0, 0, 0, time.UTC)
	eng := kql.NewEngine(x.DB(), defs, kql.Options{Now: func() time.Time { return now }})

	const (
		rg   = "RG-CDE-PROD"
		sub  = "3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90"
		aks  = "eventhubs-activity-aks.json"
		spID = "9f8e7d6c-5b4a-4321-8f7e-6d5c4b3a2910"
	)
	tests := []struct {
		name, query string
		want        []string
	}{
		// 10.2.2: the Informational Administrative events of the
		// ContainerService provider, whose resource ids the export writes
		// in upper case: the cluster update, the agent pool delete, the
		// admin credential; not the denied user credential (Error).
		{"monitor administrative access to AKS", guideAdminAccess, []string{
			"2025-04-20T13:05:00Z | alice@contoso.com | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/WRITE | " + rg + " | " + sub + " | " + sampleProperties(t, aks, 5),
			"2025-04-20T12:31:40.75Z | " + spID + " | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AGENTPOOLS/DELETE | " + rg + " | " + sub + " | " + sampleProperties(t, aks, 4),
			"2025-04-20T09:14:02.123456Z | alice@contoso.com | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION | " + rg + " | " + sub + " | " + sampleProperties(t, aks, 0),
		}},
		// 10.3.1: OperationalInsights operations whose name contains
		// "query" in any case: the query pack's query; not the search.
		{"monitor access to audit logs", guideLogAccess, []string{
			"2025-04-20T14:12:09Z | carol@contoso.com | MICROSOFT.OPERATIONALINSIGHTS/QUERYPACKS/QUERIES/WRITE | RG-CDE-LOGS | " + sampleProperties(t, aks, 6),
		}},
		// 10.4.1: the two failed sign-ins to the AKS client, then every
		// Administrative ContainerService event of the day (the failed
		// one included); no audit event is indexed.
		{"daily security review query", guideDailyReview, []string{
			"alice@contoso.com | 192.0.2.99 | 50126 | 2",
			"---",
			"2025-04-20T13:05:00Z | alice@contoso.com | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/WRITE | " + rg + " | Informational",
			"2025-04-20T12:31:40.75Z | " + spID + " | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AGENTPOOLS/DELETE | " + rg + " | Informational",
			"2025-04-20T09:40:17.5Z | bob@contoso.com | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION | " + rg + " | Error",
			"2025-04-20T09:14:02.123456Z | alice@contoso.com | MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION | " + rg + " | Informational",
		}},
		// 10.4.2: the four ContainerService events, by three callers, one
		// failed: ActivityStatus "Failed" is the display form of the
		// export's Failure.
		{"weekly security trends", guideWeekly, []string{
			"2025-04-20T00:00:00Z | 4 | 3 | 1",
		}},
		{"daily security review alert condition", guideAlertCondition, []string{"2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := eng.Run(context.Background(), tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got := renderResult(res)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
