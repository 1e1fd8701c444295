package index

import (
	"math"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/azure"
)

// The Azure tables (AzureActivity, SigninLogs, AKSControlPlane) map ledger
// records whose Raw is one record of an Azure Monitor diagnostic export as
// received (azure.Record.Raw; azure.Record.Event makes the ledger record):
// prepareAzure decodes it again with the azure package, once per row, and
// the fields read the decoded record. A Raw the decoder does not accept as
// a record of the table's kind (which ingestion never stores) leaves the
// columns that come from it empty, except those the ledger record itself
// carries (time, user, action, origin, resource).

// azureRow is an Azure record decoded from a row's Raw, with the ledger
// record's details in place of what could not be decoded.
type azureRow struct {
	ok         bool // Raw decoded as a record of the table's kind
	time       time.Time
	resourceID string
	ref        azure.ResourceRef // of resourceID
	act        azure.Activity
	sin        azure.SignIn
	cp         azure.ControlPlane
}

// azureLimits decode whatever the ledger holds: ingestion applied the
// limits when it accepted the record.
var azureLimits = azure.Limits{MaxRecordBytes: math.MaxInt}

// prepareAzure decodes r.rec.Raw into r.az, expecting a record of kind.
func prepareAzure(r *row, kind azure.Kind) {
	a := &r.az
	*a = azureRow{time: r.rec.Time}
	rec, err := azure.DecodeRecord(r.rec.Raw, azureLimits)
	a.ok = err == nil && rec.Kind == kind
	if !a.ok {
		a.resourceID = r.rec.Resource
		a.ref = azure.ParseResourceID(a.resourceID)
		return
	}
	a.time, a.resourceID = rec.Time, rec.ResourceID
	a.ref = azure.ParseResourceID(a.resourceID)
	switch kind {
	case azure.KindActivity:
		a.act = *rec.Activity
	case azure.KindSignIn:
		a.sin = *rec.SignIn
	case azure.KindControlPlane:
		a.cp = *rec.ControlPlane
	}
}

func prepareAzureActivity(r *row) {
	prepareAzure(r, azure.KindActivity)
	if r.az.ok {
		return
	}
	// The ledger record's details: Caller, OperationNameValue,
	// CallerIpAddress, and the parts of its resource id.
	a, ref := &r.az.act, &r.az.ref
	a.Caller, a.CallerIPAddress = r.rec.User, r.rec.OriginIP
	a.OperationNameValue, a.OperationName = r.rec.Action, r.rec.Action
	a.SubscriptionID, a.ResourceGroup, a.Resource = ref.SubscriptionID, ref.ResourceGroup, ref.Name
	a.ResourceProviderValue, a.ResourceProvider = ref.Provider, ref.Provider
}

// dynamicRaw returns a dynamic column's value from JSON text: NULL
// for none.
func dynamicRaw(v json.RawMessage) cell { return dynamicValue([]byte(v)) }

// tailFields returns commonFields less the fields named in omit, with the
// value of those named in replace replaced.
func tailFields(replace map[string]func(*row) cell, omit ...string) []field {
	out := slices.Clone(commonFields)
	for name, fn := range replace {
		i := slices.IndexFunc(out, func(f field) bool { return f.name == name })
		if i < 0 {
			panic("index: commonFields has no field " + name)
		}
		out[i].value = fn
	}
	for _, name := range omit {
		i := slices.IndexFunc(out, func(f field) bool { return f.name == name })
		if i < 0 {
			panic("index: commonFields has no field " + name)
		}
		out = slices.Delete(out, i, i+1)
	}
	return out
}

// activityStatus returns the display form of an Activity Log status, as
// the status.localizedValue of the REST schema and Log Analytics'
// ActivityStatus have it: the export's resultType Success, Failure, Start
// and Accept are Succeeded, Failed, Started and Accepted; any other value
// is its own display form.
func activityStatus(v string) string {
	switch strings.ToLower(v) {
	case "success":
		return "Succeeded"
	case "failure":
		return "Failed"
	case "start":
		return "Started"
	case "accept":
		return "Accepted"
	}
	return v
}

// providerNames are resource provider namespaces in their documented case,
// by lower-case name: the export writes resource ids upper-case, while
// Log Analytics' ResourceProvider (and KQL's case-sensitive ==, as in the
// AKS PCI guide's `ResourceProvider == "Microsoft.ContainerService"`)
// has them as documented.
var providerNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Microsoft.AAD", "Microsoft.aadiam", "Microsoft.AlertsManagement",
		"Microsoft.ApiManagement", "Microsoft.AppConfiguration", "Microsoft.Authorization", "Microsoft.Automation",
		"Microsoft.Cache", "Microsoft.Cdn", "Microsoft.Compute", "Microsoft.ContainerInstance",
		"Microsoft.ContainerRegistry", "Microsoft.ContainerService", "Microsoft.Dashboard", "Microsoft.DataProtection",
		"Microsoft.DBforMySQL", "Microsoft.DBforPostgreSQL", "Microsoft.DocumentDB", "Microsoft.EventGrid",
		"Microsoft.EventHub", "Microsoft.Features", "Microsoft.Insights", "Microsoft.KeyVault", "Microsoft.Kubernetes",
		"Microsoft.KubernetesConfiguration", "Microsoft.Logic", "Microsoft.ManagedIdentity", "Microsoft.Management",
		"Microsoft.Monitor", "Microsoft.Network", "Microsoft.OperationalInsights", "Microsoft.OperationsManagement",
		"Microsoft.PolicyInsights", "Microsoft.RecoveryServices", "Microsoft.Resources", "Microsoft.Security",
		"Microsoft.SecurityInsights", "Microsoft.ServiceBus", "Microsoft.Sql", "Microsoft.Storage", "Microsoft.Web"} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// providerName returns the namespace ns in its documented case: from
// providerNames, else as the operation's authorization action or its name
// spells it when one of them has it in mixed case, else as written.
func providerName(ns string, a *azure.Activity) string {
	if n, ok := providerNames[strings.ToLower(ns)]; ok || ns == "" {
		return n
	}
	if ns != strings.ToUpper(ns) && ns != strings.ToLower(ns) {
		return ns
	}
	var action [1][]byte
	scanMembers(a.AuthorizationD, []string{"action"}, action[:], nil)
	act, _ := decodeString(action[0])
	for _, op := range []string{act, a.OperationNameValue} {
		p, _, _ := strings.Cut(op, "/")
		if strings.EqualFold(p, ns) && p != strings.ToUpper(p) && p != strings.ToLower(p) {
			return p
		}
	}
	return ns
}

// AzureActivity: Azure Activity Log records (azure.KindActivity).
var azureActivityFields = append([]field{
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.az.time) }},
	{"ActivityStatus", func(r *row) cell { return text(activityStatus(r.az.act.ActivityStatus)) }},
	{"ActivityStatusValue", func(r *row) cell { return text(r.az.act.ActivityStatusValue) }},
	{"ActivitySubstatus", func(r *row) cell { return text(r.az.act.ActivitySubstatus) }},
	{"ActivitySubstatusValue", func(r *row) cell { return text(r.az.act.ActivitySubstatusValue) }},
	{"Authorization", func(r *row) cell { return text(r.az.act.Authorization) }},
	{"Authorization_d", func(r *row) cell { return dynamicRaw(r.az.act.AuthorizationD) }},
	{"Caller", func(r *row) cell { return text(r.az.act.Caller) }},
	{"Category", func(r *row) cell { return text(r.az.act.Category) }},
	{"CategoryValue", func(r *row) cell { return text(r.az.act.CategoryValue) }},
	{"Claims", func(r *row) cell { return text(r.az.act.Claims) }},
	{"Claims_d", func(r *row) cell { return dynamicRaw(r.az.act.ClaimsD) }},
	{"CorrelationId", func(r *row) cell { return text(r.az.act.CorrelationID) }},
	{"EventDataId", func(r *row) cell { return text(r.az.act.EventDataID) }},
	{"EventSubmissionTimestamp", func(r *row) cell { return cell{} }},
	{"Hierarchy", func(r *row) cell { return text(r.az.act.Hierarchy) }},
	{"HTTPRequest", func(r *row) cell { return text("") }},
	{"Level", func(r *row) cell { return text(r.az.act.Level) }},
	{"ActivityLevel", func(r *row) cell { return text(r.az.act.Level) }},
	{"OperationId", func(r *row) cell { return text(r.az.act.OperationID) }},
	{"OperationName", func(r *row) cell { return text(r.az.act.OperationName) }},
	{"OperationNameValue", func(r *row) cell { return text(r.az.act.OperationNameValue) }},
	{"Properties", func(r *row) cell { return text(r.az.act.Properties) }},
	{"Properties_d", func(r *row) cell { return dynamicRaw(r.az.act.PropertiesD) }},
	{"ResourceGroup", func(r *row) cell { return text(r.az.act.ResourceGroup) }},
	{"ResourceId", func(r *row) cell { return text(r.az.resourceID) }},
	{"_ResourceId", func(r *row) cell { return text(strings.ToLower(r.az.resourceID)) }},
	{"ResourceProvider", func(r *row) cell { return text(providerName(r.az.act.ResourceProviderValue, &r.az.act)) }},
	{"ResourceProviderValue", func(r *row) cell { return text(r.az.act.ResourceProviderValue) }},
	{"SourceSystem", func(r *row) cell { return text("Azure") }},
	{"SubscriptionId", func(r *row) cell { return text(strings.ToLower(r.az.act.SubscriptionID)) }},
	{"_SubscriptionId", func(r *row) cell { return text(strings.ToLower(r.az.act.SubscriptionID)) }},
	{"TenantId", func(r *row) cell { return text("") }},
	{"Type", func(r *row) cell { return text(TableAzureActivity) }},
}, tailFields(map[string]func(*row) cell{
	// The table's Resource is the resource's name, as in Log Analytics;
	// the ledger record's is its whole id (ResourceId).
	"Resource": func(r *row) cell { return text(r.az.act.Resource) },
})...)
