package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Type is a KQL scalar type, as the query layer sees a column.
type Type string

// The KQL types columns can have.
const (
	String   Type = "string"
	Long     Type = "long"
	Int      Type = "int"
	Real     Type = "real"
	Bool     Type = "bool"
	DateTime Type = "datetime"
	TimeSpan Type = "timespan"
	Dynamic  Type = "dynamic"
)

// sqlTypes is the DuckDB type that stores each KQL type. Column.SQL may
// override it (seq is a UBIGINT). A timespan is a BIGINT count of
// microseconds, not a DuckDB INTERVAL: an INTERVAL keeps months, days and
// microseconds apart, while a Kusto timespan is a single length of time
// that compares, sorts, sums and divides as a number.
var sqlTypes = map[Type]string{
	String:   "VARCHAR",
	Long:     "BIGINT",
	Int:      "INTEGER",
	Real:     "DOUBLE",
	Bool:     "BOOLEAN",
	DateTime: "TIMESTAMP",
	TimeSpan: "BIGINT",
	Dynamic:  "JSON",
}

// Column is one column of a table or view.
//
// Values follow Log Analytics conventions: a string column holds "" rather
// than NULL when the source has no value; datetime and dynamic columns hold
// NULL (Kusto's null and dynamic null). A datetime keeps microseconds.
// Timespan columns hold a count of microseconds (DuckDB BIGINT), not of
// Kusto's 100ns ticks: 1s is 1000000.
type Column struct {
	Name string // as KQL names it; DuckDB identifiers are the same, double-quoted
	Type Type
	// SQL is the DuckDB type when it is not the default for Type.
	SQL string
	// Compression is the DuckDB compression the column's segments are
	// written with (USING COMPRESSION); "" lets DuckDB choose per
	// segment. Documents of kilobytes (request and response bodies) are
	// smaller and cheaper to write with zstd than with the FSST DuckDB
	// picks for them (BENCHMARKS.md).
	Compression string
	Doc         string
}

// SQLType returns the DuckDB type of the column.
func (c Column) SQLType() string {
	if c.SQL != "" {
		return c.SQL
	}
	return sqlTypes[c.Type]
}

// Relation is a table or a view the query layer can name. A view has the
// columns of its base table, filtered by Where.
type Relation struct {
	Name    string
	Columns []Column
	// Base is the table a view selects from; "" for a table.
	Base string
	// Where is the view's SQL filter over the base table; "" for none.
	Where string
	Doc   string
}

// IsView reports whether r is a view.
func (r *Relation) IsView() bool { return r.Base != "" }

// Column returns the column named name (exactly, as KQL names are
// case-sensitive).
func (r *Relation) Column(name string) (Column, bool) {
	for _, c := range r.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames returns the names of r's columns in order.
func (r *Relation) ColumnNames() []string {
	out := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		out[i] = c.Name
	}
	return out
}

// Names of the tables and views.
const (
	TableKubeAuditLogs    = "KubeAuditLogs"
	ViewAKSAudit          = "AKSAudit"
	ViewAKSAuditAdmin     = "AKSAuditAdmin"
	TableCdewatchAudit    = "CdewatchAudit"
	TableAzureActivity    = "AzureActivity"    // Azure Activity Log events
	TableSigninLogs       = "SigninLogs"       // Entra ID sign-ins
	TableAKSControlPlane  = "AKSControlPlane"  // AKS control-plane component logs
	TableAppAccess        = "AppAccess"        // applications' card-data access logs
	TableContainerLog     = "ContainerLog"     // container stdout/stderr lines
	TableSyslog           = "Syslog"           // syslog messages
	TableSecurityAlert    = "SecurityAlert"    // alerts of cdewatch's detector
	TableSecurityIncident = "SecurityIncident" // incidents' changes
)

// Column names shared by every table: where a row came from in the ledger.
const (
	ColSeq           = "seq"
	ColTimeGenerated = "TimeGenerated"
)

// commonTail returns the cdewatch columns every table ends with, less the
// columns named in omit.
//
// A table whose Log Analytics columns include one of the same name (KQL
// and DuckDB names must be unique, the latter case-insensitively) keeps
// only one of the two: either the tail's, which then stands for the Log
// Analytics column too and gets a Doc saying so (withDocs), or the
// table's own, named in omit (the table's mapping then leaves the same
// fields out of commonFields).
func commonTail(omit ...string) []Column {
	cols := []Column{
		{Name: ColSeq, Type: Long, SQL: "UBIGINT", Doc: "ledger sequence number (Merkle leaf index) of the record"},
		{Name: "Source", Type: String, Doc: "cluster, subscription or application the record came from, bound to the sender's credential"},
		{Name: "ReceivedTime", Type: DateTime, Doc: "when cdewatch accepted the record"},
		{Name: "Pci", Type: String, Doc: "PCI DSS 10.2.1.x classes the record evidences, comma-separated names (chd-access, admin-action, log-access, invalid-access, credential-change, log-init-stop, system-object); \"\" for none"},
		{Name: "Outcome", Type: String, Doc: "10.2.2 success or failure: success, failure or unknown"},
		{Name: "Status", Type: Int, Doc: "status code of the source (HTTP code for audit events), 0 if none"},
		{Name: "CallerIpAddress", Type: String, Doc: "10.2.2 origination: the client address"},
		{Name: "Resource", Type: String, Doc: "10.2.2 affected resource, e.g. payments/secrets/card-key"},
		{Name: "Missing", Type: String, Doc: "10.2.2 details the record lacks, comma-separated names (user, type, time, outcome, origin, resource); \"\" when it has all six"},
	}
	for _, name := range omit {
		i := slices.IndexFunc(cols, func(c Column) bool { return c.Name == name })
		if i < 0 {
			panic("index: commonTail has no column " + name)
		}
		cols = slices.Delete(cols, i, i+1)
	}
	return cols
}

// withDocs returns cols with the Doc of the columns named in docs
// replaced.
func withDocs(cols []Column, docs map[string]string) []Column {
	for name, doc := range docs {
		i := slices.IndexFunc(cols, func(c Column) bool { return c.Name == name })
		if i < 0 {
			panic("index: no column " + name)
		}
		cols[i].Doc = doc
	}
	return cols
}

func kubeAuditColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "event time: stageTimestamp, else requestReceivedTimestamp, else the v1beta1 timestamp, else ReceivedTime"},
		{Name: "Level", Type: String, Doc: "audit level: Metadata, Request or RequestResponse"},
		{Name: "AuditId", Type: String, Doc: "auditID, shared by the stages of a request"},
		{Name: "Stage", Type: String, Doc: "RequestReceived, ResponseStarted, ResponseComplete or Panic"},
		{Name: "RequestUri", Type: String, Doc: "requestURI as sent by the client"},
		{Name: "Verb", Type: String, Doc: "Kubernetes verb, or the lower-cased HTTP method of a non-resource request"},
		{Name: "User", Type: Dynamic, Doc: "user: username, uid, groups, extra"},
		{Name: "ImpersonatedUser", Type: Dynamic, Doc: "impersonatedUser, when the request used impersonation"},
		{Name: "SourceIps", Type: Dynamic, Doc: "sourceIPs: forwarding headers first, the connection's address last"},
		{Name: "UserAgent", Type: String, Doc: "userAgent reported by the client"},
		{Name: "ObjectRef", Type: Dynamic, Doc: "objectRef: resource, namespace, name, apiGroup, apiVersion, subresource, …"},
		{Name: "ResponseStatus", Type: Dynamic, Doc: "responseStatus: code, status, reason, message"},
		{Name: "RequestObject", Type: Dynamic, Compression: "zstd", Doc: "request body (level Request and above)"},
		{Name: "ResponseObject", Type: Dynamic, Compression: "zstd", Doc: "response body (level RequestResponse)"},
		{Name: "RequestReceivedTime", Type: DateTime, Doc: "requestReceivedTimestamp"},
		{Name: "StageReceivedTime", Type: DateTime, Doc: "stageTimestamp"},
		{Name: "Annotations", Type: Dynamic, Doc: "annotations, e.g. authorization.k8s.io/decision"},
		{Name: "Caller", Type: String, Doc: "10.2.2 user identification: user.username, or \"<username> (as <impersonated username>)\" for an impersonated request"},
		{Name: "OperationName", Type: String, Doc: "10.2.2 type of event: verb and resource, e.g. \"get secrets\", \"create pods/exec\", \"get /healthz\""},
		{Name: "ObjectRef_Resource", Type: String, Doc: "objectRef.resource (the flattened column of the AzureDiagnostics-era schema)"},
		{Name: "ObjectRef_Namespace", Type: String, Doc: "objectRef.namespace"},
		{Name: "ObjectRef_Name", Type: String, Doc: "objectRef.name"},
	}
	return append(cols, commonTail()...)
}

func cdewatchAuditColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "when cdewatch did what the row records"},
		{Name: "OperationName", Type: String, Doc: "10.2.2 type of event: the self-audit action, e.g. serve.start, auth.failed, token.create, query"},
		{Name: "Caller", Type: String, Doc: "10.2.2 user identification"},
		{Name: "UserAgent", Type: String, Doc: "10.2.2 origination: client program"},
		{Name: "Details", Type: Dynamic, Doc: "the self-audit record as stored in the ledger (a JSON object with at least \"action\")"},
	}
	return append(cols, commonTail()...)
}

// azureActivityColumns are the Log Analytics AzureActivity columns, from
// the Azure Activity Log event (the members the docs name are those of the
// event as the REST API and the portal give it).
func azureActivityColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "eventTimestamp of the activity record (time in the Storage/Event Hubs export): when the event happened"},
		{Name: "ActivityStatus", Type: String, Doc: "status.localizedValue of the activity record: the status of the operation in display form (from the export's resultType: Success, Failure, Start and Accept are Succeeded, Failed, Started and Accepted; other values as sent)"},
		{Name: "ActivityStatusValue", Type: String, Doc: "status.value of the activity record: Started, In Progress, Succeeded, Failed, Active or Resolved (resultType in the export)"},
		{Name: "ActivitySubstatus", Type: String, Doc: "subStatus.localizedValue of the activity record"},
		{Name: "ActivitySubstatusValue", Type: String, Doc: "subStatus.value of the activity record, e.g. \"OK (HTTP Status Code: 200)\" (resultSignature in the export)"},
		{Name: "Authorization", Type: String, Doc: "authorization of the activity record (action, role, scope: the RBAC check the operation passed) as JSON text"},
		{Name: "Authorization_d", Type: Dynamic, Doc: "authorization of the activity record as a dynamic value: action, role, scope"},
		{Name: "Caller", Type: String, Doc: "10.2.2 user identification: caller of the activity record, the UPN of a user, or the object id (GUID) of a service principal or managed identity"},
		{Name: "Category", Type: String, Doc: "category.localizedValue of the activity record"},
		{Name: "CategoryValue", Type: String, Doc: "category.value of the activity record: Administrative, Policy, Security, ServiceHealth, ResourceHealth, Alert, Autoscale or Recommendation"},
		{Name: "Claims", Type: String, Doc: "claims of the activity record (the JWT claims of the caller's token) as JSON text"},
		{Name: "Claims_d", Type: Dynamic, Doc: "claims of the activity record as a dynamic value"},
		{Name: "CorrelationId", Type: String, Doc: "correlationId of the activity record, shared by the events of one request"},
		{Name: "EventDataId", Type: String, Doc: "eventDataId of the activity record: the event's unique id"},
		{Name: "EventSubmissionTimestamp", Type: DateTime, Doc: "submissionTimestamp of the activity record: when the event became available (not in the Storage/Event Hubs export: null)"},
		{Name: "Hierarchy", Type: String, Doc: "management group hierarchy of the subscription the event belongs to"},
		{Name: "HTTPRequest", Type: String, Doc: "httpRequest of the activity record (clientRequestId, clientIpAddress, method) as JSON text (not in the Storage/Event Hubs export: \"\"; the client address is CallerIpAddress)"},
		{Name: "Level", Type: String, Doc: "level of the activity record: Critical, Error, Warning, Informational or Verbose"},
		{Name: "ActivityLevel", Type: String, Doc: "the Level under the name the AKS PCI guide's queries use (the real table has no ActivityLevel)"},
		{Name: "OperationId", Type: String, Doc: "operationId of the activity record, shared by the events of one operation"},
		{Name: "OperationName", Type: String, Doc: "operationName.localizedValue of the activity record: the operation in display form (the Storage/Event Hubs export has no display names: the same as OperationNameValue)"},
		{Name: "OperationNameValue", Type: String, Doc: "10.2.2 type of event: operationName.value of the activity record, e.g. Microsoft.Storage/storageAccounts/listAccountSas/action"},
		{Name: "Properties", Type: String, Doc: "properties of the activity record (event-specific details) as JSON text"},
		{Name: "Properties_d", Type: Dynamic, Doc: "properties of the activity record as a dynamic value"},
		{Name: "ResourceGroup", Type: String, Doc: "resourceGroupName of the activity record"},
		{Name: "ResourceId", Type: String, Doc: "resourceId of the activity record: the Azure resource id of the resource acted on"},
		{Name: "_ResourceId", Type: String, Doc: "the resource id in the standard column Log Analytics gives every table (resource-context queries), in lower case"},
		{Name: "ResourceProvider", Type: String, Doc: "resourceProviderName.localizedValue of the activity record: the namespace of ResourceId in its documented case, e.g. Microsoft.ContainerService, whatever the case of ResourceId"},
		{Name: "ResourceProviderValue", Type: String, Doc: "resourceProviderName.value of the activity record, e.g. Microsoft.Storage: the namespace of ResourceId as written there (MICROSOFT.STORAGE when the export writes the id in upper case)"},
		{Name: "SourceSystem", Type: String, Doc: "always Azure"},
		{Name: "SubscriptionId", Type: String, Doc: "subscriptionId of the activity record, in lower case"},
		{Name: "_SubscriptionId", Type: String, Doc: "the subscription id in the standard column Log Analytics gives every table, in lower case"},
		{Name: "TenantId", Type: String, Doc: "the standard Log Analytics TenantId column (in Azure the id of the workspace, not of the Entra tenant, which is in Claims): \"\", cdewatch has no workspace"},
		{Name: "Type", Type: String, Doc: "the table's name, AzureActivity, as in every Log Analytics table"},
	}
	return append(cols, withDocs(commonTail(), map[string]string{
		"CallerIpAddress": "10.2.2 origination: httpRequest.clientIpAddress of the activity record (callerIpAddress in the export); also the table's Log Analytics CallerIpAddress column",
		"Resource":        "10.2.2 affected resource: the name of the resource acted on (the last part of ResourceId); also the table's Log Analytics Resource column, which is not repeated",
	})...)
}

// signinLogsColumns are the key Log Analytics SigninLogs columns, from an
// Entra ID sign-in (the members the docs name are those of the sign-in
// record's properties in the Entra diagnostic export).
func signinLogsColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "time of the exported record: when the sign-in happened"},
		{Name: "CreatedDateTime", Type: DateTime, Doc: "createdDateTime of the sign-in"},
		{Name: "UserPrincipalName", Type: String, Doc: "userPrincipalName of the sign-in: the user's UPN"},
		{Name: "UserDisplayName", Type: String, Doc: "userDisplayName of the sign-in"},
		{Name: "UserId", Type: String, Doc: "userId of the sign-in: the user's object id"},
		{Name: "UserType", Type: String, Doc: "userType of the sign-in: Member or Guest"},
		{Name: "IPAddress", Type: String, Doc: "ipAddress of the sign-in: the client's address"},
		{Name: "Location", Type: String, Doc: "country or region code of the sign-in, e.g. US"},
		{Name: "LocationDetails", Type: Dynamic, Doc: "location of the sign-in: city, state, countryOrRegion, geoCoordinates"},
		{Name: "ResultType", Type: String, Doc: "result of the sign-in: \"0\" for success, else the Entra error code, e.g. \"50126\" (status.errorCode as text)"},
		{Name: "ResultDescription", Type: String, Doc: "resultDescription of the exported record: what the error code means"},
		{Name: "ResultSignature", Type: String, Doc: "resultSignature of the exported record"},
		{Name: "Status", Type: Dynamic, Doc: "status of the sign-in: errorCode, failureReason, additionalDetails. Log Analytics' dynamic Status takes the place of the cdewatch Status (int) column every other table ends with, so that KQL written for SigninLogs runs as written; the sign-in's result code is ResultType"},
		{Name: "AppDisplayName", Type: String, Doc: "appDisplayName of the sign-in: the application signed in to"},
		{Name: "AppId", Type: String, Doc: "appId of the sign-in: the application's id"},
		{Name: "ResourceDisplayName", Type: String, Doc: "resourceDisplayName of the sign-in: the resource the token is for"},
		{Name: "ClientAppUsed", Type: String, Doc: "clientAppUsed of the sign-in, e.g. Browser, Mobile Apps and Desktop clients, Exchange ActiveSync"},
		{Name: "ConditionalAccessStatus", Type: String, Doc: "conditionalAccessStatus of the sign-in: success, failure or notApplied"},
		{Name: "ConditionalAccessPolicies", Type: Dynamic, Doc: "appliedConditionalAccessPolicies of the sign-in: each policy with its result"},
		{Name: "AuthenticationRequirement", Type: String, Doc: "authenticationRequirement of the sign-in: singleFactorAuthentication or multiFactorAuthentication"},
		{Name: "AuthenticationDetails", Type: Dynamic, Doc: "authenticationDetails of the sign-in: each authentication step, its method and result"},
		{Name: "MfaDetail", Type: Dynamic, Doc: "mfaDetail of the sign-in: authMethod, authDetail"},
		{Name: "DeviceDetail", Type: Dynamic, Doc: "deviceDetail of the sign-in: deviceId, displayName, operatingSystem, browser, isCompliant, isManaged, trustType"},
		{Name: "IsInteractive", Type: Bool, Doc: "isInteractive of the sign-in: whether a user signed in (rather than a client using a refresh token)"},
		{Name: "IsRisky", Type: Bool, Doc: "isRisky of the sign-in: whether Entra ID Protection flagged it"},
		{Name: "RiskLevelDuringSignIn", Type: String, Doc: "riskLevelDuringSignIn of the sign-in: none, low, medium or high"},
		{Name: "RiskLevelAggregated", Type: String, Doc: "riskLevelAggregated of the sign-in: none, low, medium or high"},
		{Name: "RiskState", Type: String, Doc: "riskState of the sign-in, e.g. none, atRisk, remediated, dismissed"},
		{Name: "RiskDetail", Type: String, Doc: "riskDetail of the sign-in: why the risk state is what it is"},
		{Name: "UserAgent", Type: String, Doc: "userAgent of the sign-in"},
		{Name: "CorrelationId", Type: String, Doc: "correlationId of the sign-in, shared by the sign-ins of one session"},
		{Name: "Id", Type: String, Doc: "id of the sign-in: its unique id"},
		{Name: "OperationName", Type: String, Doc: "operationName of the exported record: Sign-in activity"},
		{Name: "Category", Type: String, Doc: "category of the exported record: SignInLogs"},
		{Name: "Identity", Type: String, Doc: "identity of the exported record: the display name of who signed in"},
		{Name: "AADTenantId", Type: String, Doc: "tenantId of the exported record: the Entra tenant signed in to"},
		{Name: "HomeTenantId", Type: String, Doc: "homeTenantId of the sign-in: the user's home tenant (differs for a guest)"},
		{Name: "ServicePrincipalId", Type: String, Doc: "servicePrincipalId of the sign-in, for the sign-in of a service principal"},
		{Name: "ServicePrincipalName", Type: String, Doc: "servicePrincipalName of the sign-in, for the sign-in of a service principal"},
		{Name: "TokenIssuerType", Type: String, Doc: "tokenIssuerType of the sign-in, e.g. AzureAD, ADFederationServices"},
		{Name: "UniqueTokenIdentifier", Type: String, Doc: "uniqueTokenIdentifier of the sign-in: the id of the token issued"},
	}
	return append(cols, withDocs(commonTail("Status"), map[string]string{
		"CallerIpAddress": "10.2.2 origination: the client address, as IPAddress",
	})...)
}

// aksControlPlaneColumns are the Log Analytics AKSControlPlane columns,
// from a record of an AKS resource-log category other than kube-audit and
// kube-audit-admin (kube-apiserver, guard, kube-controller-manager, …).
func aksControlPlaneColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "time of the exported record (AKS writes the upload time, not the log line's)"},
		{Name: "Category", Type: String, Doc: "category of the exported record: the component, e.g. kube-apiserver, guard, kube-controller-manager, cluster-autoscaler"},
		{Name: "Level", Type: String, Doc: "Info, Warning, Error or Fatal, from the klog header of the message (I, W, E, F); else the record's level; else \"\""},
		{Name: "Message", Type: String, Doc: "the log line (properties.log), without its trailing newline"},
		{Name: "PodName", Type: String, Doc: "the control-plane pod that wrote the line (properties.pod)"},
		{Name: "Stream", Type: String, Doc: "stdout or stderr (properties.stream)"},
		{Name: "ContainerId", Type: String, Doc: "the container that wrote the line (properties.containerID); a cdewatch column, not in Log Analytics"},
		{Name: "SourceSystem", Type: String, Doc: "always Azure"},
		{Name: "_ResourceId", Type: String, Doc: "resource id of the cluster (the standard Log Analytics column), in lower case"},
		{Name: "_SubscriptionId", Type: String, Doc: "the cluster's subscription id (the standard Log Analytics column), in lower case"},
		{Name: "Type", Type: String, Doc: "the table's name, AKSControlPlane, as in every Log Analytics table"},
	}
	return append(cols, withDocs(commonTail(), map[string]string{
		"Resource": "10.2.2 affected resource: the cluster's resource id, as the export writes it (upper case)",
	})...)
}

// appAccessColumns are the columns of cdewatch's AppAccess table, from an
// application's record of an access to cardholder data.
func appAccessColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "when the application accessed the data, as its log says, else ReceivedTime"},
		{Name: "Application", Type: String, Doc: "the application that logged the access"},
		{Name: "Action", Type: String, Doc: "10.2.2 type of event: what was done with the data: read, write, delete, export, decrypt, …"},
		{Name: "User", Type: String, Doc: "10.2.2 user identification: the end user or service account the application acted for"},
		{Name: "Subject", Type: String, Doc: "what was accessed, e.g. a record id or a token"},
		{Name: "DataClass", Type: String, Doc: "class of the data accessed: pan, sad, chd, …"},
		{Name: "Reason", Type: String, Doc: "the reason the application gives for the access, e.g. a ticket or a business purpose"},
		{Name: "Details", Type: Dynamic, Doc: "the access record as the application sent it"},
	}
	return append(cols, commonTail()...)
}

// containerLogColumns are the legacy Log Analytics ContainerLog columns,
// from a line a container wrote, plus three ContainerLogV2 columns.
func containerLogColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "when the container wrote the line (the container runtime's timestamp), else ReceivedTime"},
		{Name: "Computer", Type: String, Doc: "the node the container runs on"},
		{Name: "ContainerID", Type: String, Doc: "the container runtime's id of the container"},
		{Name: "Image", Type: String, Doc: "the container's image name"},
		{Name: "ImageTag", Type: String, Doc: "the container's image tag"},
		{Name: "LogEntry", Type: String, Doc: "the log line"},
		{Name: "LogEntrySource", Type: String, Doc: "stdout or stderr"},
		{Name: "Name", Type: String, Doc: "PodUid/ContainerName, as the legacy table names a container"},
		{Name: "Repository", Type: String, Doc: "the registry repository of the image"},
		{Name: "TimeOfCommand", Type: DateTime, Doc: "when cdewatch received the line (shippers do not send the time they collected it)"},
		{Name: "SourceSystem", Type: String, Doc: "the kind of agent that collected the line"},
		{Name: "_ResourceId", Type: String, Doc: "resource id of the cluster (the standard Log Analytics column)"},
		{Name: "PodName", Type: String, Doc: "the pod's name, as in ContainerLogV2 (the legacy ContainerLog has no such column)"},
		{Name: "PodNamespace", Type: String, Doc: "the pod's namespace, as in ContainerLogV2 (the legacy ContainerLog has no such column)"},
		{Name: "ContainerName", Type: String, Doc: "the container's name in the pod, as in ContainerLogV2 (the legacy ContainerLog has it only in Name)"},
	}
	return append(cols, commonTail()...)
}

// syslogColumns are the Log Analytics Syslog columns, from an RFC 5424 or
// RFC 3164 message.
func syslogColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "the message's TIMESTAMP (EventTime), else ReceivedTime"},
		{Name: "Computer", Type: String, Doc: "the host the message came from: its HOSTNAME, else the address it came from"},
		{Name: "HostName", Type: String, Doc: "HOSTNAME of the message, \"\" if none"},
		{Name: "HostIP", Type: String, Doc: "address of the host that sent the message"},
		{Name: "Facility", Type: String, Doc: "facility of the message's PRI, by name: kern, user, auth, authpriv, daemon, local0, …; user for a message without PRI (RFC 3164 §4.3.3)"},
		{Name: "SeverityLevel", Type: String, Doc: "severity of the message's PRI, by name: emerg, alert, crit, err, warning, notice, info, debug"},
		{Name: "SyslogMessage", Type: String, Doc: "MSG of the message (CONTENT of an RFC 3164 one), without BOM and trailing CR/LF/NUL"},
		{Name: "ProcessName", Type: String, Doc: "APP-NAME of the message (the tag of an RFC 3164 message)"},
		{Name: "ProcessID", Type: Int, Doc: "PROCID of the message, 0 if none or not a number"},
		{Name: "EventTime", Type: DateTime, Doc: "TIMESTAMP of the message (an RFC 3164 one placed in the year closest to ReceivedTime and in the receiver's time zone); null if none"},
		{Name: "SourceSystem", Type: String, Doc: "always Syslog: the message came over the syslog protocol (Log Analytics writes the kind of agent, Linux)"},
		{Name: "MsgId", Type: String, Doc: "MSGID of an RFC 5424 message (a cdewatch column)"},
		{Name: "StructuredData", Type: Dynamic, Doc: "STRUCTURED-DATA of an RFC 5424 message as an object, SD-ID → {PARAM-NAME: value}, e.g. StructuredData.timeQuality.tzKnown; of a repeated SD-ID or PARAM-NAME the first; null if none (a cdewatch column)"},
		{Name: "SyslogFormat", Type: String, Doc: "RFC5424 or RFC3164: the format the message was parsed as (a cdewatch column)"},
	}
	return append(cols, withDocs(commonTail(), map[string]string{
		"CallerIpAddress": "10.2.2 origination: the address the message came from, as HostIP",
		"Resource":        "10.2.2 affected resource: the message's HOSTNAME, else the address it came from",
	})...)
}

// securityAlertColumns are the key Log Analytics SecurityAlert columns,
// from the alerts the detector raised (internal/detect).
func securityAlertColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "when the detector raised the alert"},
		{Name: "DisplayName", Type: String, Doc: "the rule's title"},
		{Name: "AlertName", Type: String, Doc: "the rule's title, as DisplayName"},
		{Name: "AlertType", Type: String, Doc: "the rule's id, e.g. pci.secret-read-outside-allowlist or a Sigma rule id"},
		{Name: "AlertSeverity", Type: String, Doc: "High, Medium, Low or Informational, as Log Analytics writes severities (Critical for cdewatch's highest)"},
		{Name: "Description", Type: String, Doc: "what happened, in one line"},
		{Name: "ProviderName", Type: String, Doc: "always cdewatch"},
		{Name: "VendorName", Type: String, Doc: "always cdewatch"},
		{Name: "SystemAlertId", Type: String, Doc: "the alert's id: cdewatch-<seq of its ledger record>"},
		{Name: "StartTime", Type: DateTime, Doc: "event time of the event that raised the alert (the last one, for a threshold or sequence)"},
		{Name: "EndTime", Type: DateTime, Doc: "as StartTime"},
		{Name: "CompromisedEntity", Type: String, Doc: "the alert's grouping key: what it concerns (the subject, the namespace, …)"},
		{Name: "Techniques", Type: String, Doc: "MITRE ATT&CK technique ids, comma-separated"},
		{Name: "Status", Type: String, Doc: "New: the state when raised. Log Analytics' Status takes the place of the cdewatch Status (int) column every other table ends with"},
		{Name: "ExtendedProperties", Type: Dynamic, Doc: "the fields the rule matched on or grouped by"},
		{Name: "AlertKind", Type: String, Doc: "how the rule detects: match, threshold, sequence, baseline or scheduled (a cdewatch column)"},
		{Name: "PciRequirements", Type: String, Doc: "the PCI DSS requirements the rule evidences, comma-separated, e.g. 10.2.1.2 (a cdewatch column)"},
		{Name: "EvidenceSeqs", Type: Dynamic, Doc: "ledger seqs of the events that raised the alert: each row of the other tables with one of these seq values (a cdewatch column)"},
		{Name: "IncidentName", Type: String, Doc: "the incident the alert belongs to (SecurityIncident.IncidentName); a cdewatch column"},
	}
	return append(cols, withDocs(commonTail("Status"), map[string]string{
		"Source":   "the source of the events that raised the alert",
		"Resource": "as CompromisedEntity",
	})...)
}

// catalog lists every relation, tables before the views over them.
var catalog = []*Relation{
	{Name: TableKubeAuditLogs, Columns: kubeAuditColumns(), Doc: "Kubernetes audit events (audit.k8s.io/v1), one row per event and stage; Log Analytics AKSAudit columns"},
	{Name: ViewAKSAudit, Base: TableKubeAuditLogs, Doc: "Log Analytics name of KubeAuditLogs"},
	{Name: ViewAKSAuditAdmin, Base: TableKubeAuditLogs, Where: `"Verb" NOT IN ('get', 'list')`, Doc: "KubeAuditLogs without get and list requests, as Log Analytics AKSAuditAdmin"},
	{Name: TableCdewatchAudit, Columns: cdewatchAuditColumns(), Doc: "cdewatch's own audit trail: start/stop, authentication failures, credential changes, queries"},
	{Name: TableAzureActivity, Columns: azureActivityColumns(), Doc: "Azure Activity Log events (control-plane operations on Azure resources), one row per event; Log Analytics AzureActivity columns plus ActivityLevel"},
	{Name: TableSigninLogs, Columns: signinLogsColumns(), Doc: "Entra ID sign-ins, one row per sign-in; the key Log Analytics SigninLogs columns"},
	{Name: TableAKSControlPlane, Columns: aksControlPlaneColumns(), Doc: "logs of the AKS control-plane components other than the audit log (kube-apiserver, guard, kube-controller-manager, …), one row per exported record; Log Analytics AKSControlPlane columns plus ContainerId"},
	{Name: TableAppAccess, Columns: appAccessColumns(), Doc: "applications' logs of their access to cardholder data, one row per access; a cdewatch table, with no Log Analytics equivalent"},
	{Name: TableContainerLog, Columns: containerLogColumns(), Doc: "container stdout and stderr lines, one row per line; the legacy Log Analytics ContainerLog columns plus PodName, PodNamespace and ContainerName of ContainerLogV2"},
	{Name: TableSyslog, Columns: syslogColumns(), Doc: "syslog messages, one row per message; Log Analytics Syslog columns"},
	{Name: TableSecurityAlert, Columns: securityAlertColumns(), Doc: "the alerts cdewatch's detector raised, one row per alert; key Log Analytics SecurityAlert columns"},
	{Name: TableSecurityIncident, Columns: securityIncidentColumns(), Doc: "incidents, one row per change (opened by the detector, acknowledged or resolved by a person); key Sentinel SecurityIncident columns"},
}

var byName = func() map[string]*Relation {
	m := make(map[string]*Relation, len(catalog))
	for _, r := range catalog {
		if r.Base != "" {
			r.Columns = m[r.Base].Columns
		}
		m[r.Name] = r
	}
	return m
}()

// Lookup returns the table or view named name (case-sensitive), for the
// query layer to resolve names and types. The Relation is shared: do not
// modify it.
func Lookup(name string) (*Relation, bool) {
	r, ok := byName[name]
	return r, ok
}

// Relations returns every table and view, tables first. The Relations are
// shared: do not modify them.
func Relations() []*Relation { return append([]*Relation(nil), catalog...) }

// quoteIdent quotes a DuckDB identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// createStatements returns the DDL that creates every relation in the
// database file.
func createStatements() []string {
	out := tableStatements(fileSchema)
	for _, r := range catalog {
		if r.IsView() {
			s := "CREATE VIEW " + qualify(fileSchema, r.Name) + " AS SELECT * FROM " + qualify(fileSchema, r.Base)
			if r.Where != "" {
				s += " WHERE " + r.Where
			}
			out = append(out, s)
		}
	}
	return out
}

// tableStatements returns the DDL that creates every table (not the
// views) in schema.
func tableStatements(schema string) []string {
	var out []string
	for _, r := range catalog {
		if r.IsView() {
			continue
		}
		var b strings.Builder
		b.WriteString("CREATE TABLE " + qualify(schema, r.Name) + " (")
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(c.Name) + " " + c.SQLType())
			if c.Compression != "" {
				b.WriteString(" USING COMPRESSION " + c.Compression)
			}
		}
		b.WriteString(")")
		out = append(out, b.String())
	}
	return out
}

// dropStatements returns the DDL that drops every relation of the
// database file, views first.
func dropStatements() []string {
	var out []string
	for i := len(catalog) - 1; i >= 0; i-- {
		r := catalog[i]
		kind := "TABLE"
		if r.IsView() {
			kind = "VIEW"
		}
		out = append(out, "DROP "+kind+" IF EXISTS "+qualify(fileSchema, r.Name))
	}
	return out
}

// mappingVersion changes whenever what a record maps to changes without a
// change of the DDL, so that an existing index is rebuilt.
const mappingVersion = 2

// schemaVersion identifies the schema and the mapping; an index written
// under another version is dropped and rebuilt from the ledger.
var schemaVersion = func() string {
	h := sha256.New()
	fmt.Fprintf(h, "mapping %d\n", mappingVersion)
	for _, s := range createStatements() {
		fmt.Fprintln(h, s)
	}
	for _, t := range mappedTables() {
		fmt.Fprintln(h, "maps", t)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}()
