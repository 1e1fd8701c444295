package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
// override it (seq is a UBIGINT).
var sqlTypes = map[Type]string{
	String:   "VARCHAR",
	Long:     "BIGINT",
	Int:      "INTEGER",
	Real:     "DOUBLE",
	Bool:     "BOOLEAN",
	DateTime: "TIMESTAMP",
	TimeSpan: "INTERVAL",
	Dynamic:  "JSON",
}

// Column is one column of a table or view.
//
// Values follow Log Analytics conventions: a string column holds "" rather
// than NULL when the source has no value; datetime and dynamic columns hold
// NULL (Kusto's null and dynamic null). A datetime keeps microseconds.
type Column struct {
	Name string // as KQL names it; DuckDB identifiers are the same, double-quoted
	Type Type
	// SQL is the DuckDB type when it is not the default for Type.
	SQL string
	Doc string
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
	TableKubeAuditLogs = "KubeAuditLogs"
	ViewAKSAudit       = "AKSAudit"
	ViewAKSAuditAdmin  = "AKSAuditAdmin"
	TableCdewatchAudit = "CdewatchAudit"
)

// Column names shared by every table: where a row came from in the ledger.
const (
	ColSeq           = "seq"
	ColTimeGenerated = "TimeGenerated"
)

// commonTail are the cdewatch columns every table ends with.
func commonTail() []Column {
	return []Column{
		{Name: ColSeq, Type: Long, SQL: "UBIGINT", Doc: "ledger sequence number (Merkle leaf index) of the record"},
		{Name: "Source", Type: String, Doc: "cluster, subscription or application the record came from, bound to the sender's credential"},
		{Name: "ReceivedTime", Type: DateTime, Doc: "when cdewatch accepted the record"},
		{Name: "Pci", Type: String, Doc: "PCI DSS 10.2.1.x classes the record evidences, comma-separated names (chd-access, admin-action, log-access, invalid-access, credential-change, log-init-stop, system-object); \"\" for none"},
		{Name: "Outcome", Type: String, Doc: "10.2.2 success or failure: success, failure or unknown"},
		{Name: "Status", Type: Int, Doc: "status code of the source (HTTP code for audit events), 0 if none"},
		{Name: "CallerIpAddress", Type: String, Doc: "10.2.2 origination: the client address"},
		{Name: "Resource", Type: String, Doc: "10.2.2 affected resource, e.g. payments/secrets/card-key"},
	}
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
		{Name: "RequestObject", Type: Dynamic, Doc: "request body (level Request and above)"},
		{Name: "ResponseObject", Type: Dynamic, Doc: "response body (level RequestResponse)"},
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

// catalog lists every relation, tables before the views over them.
var catalog = []*Relation{
	{Name: TableKubeAuditLogs, Columns: kubeAuditColumns(), Doc: "Kubernetes audit events (audit.k8s.io/v1), one row per event and stage; Log Analytics AKSAudit columns"},
	{Name: ViewAKSAudit, Base: TableKubeAuditLogs, Doc: "Log Analytics name of KubeAuditLogs"},
	{Name: ViewAKSAuditAdmin, Base: TableKubeAuditLogs, Where: `"Verb" NOT IN ('get', 'list')`, Doc: "KubeAuditLogs without get and list requests, as Log Analytics AKSAuditAdmin"},
	{Name: TableCdewatchAudit, Columns: cdewatchAuditColumns(), Doc: "cdewatch's own audit trail: start/stop, authentication failures, credential changes, queries"},
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

// createStatements returns the DDL that creates every relation.
func createStatements() []string {
	var out []string
	for _, r := range catalog {
		if r.IsView() {
			s := "CREATE VIEW " + quoteIdent(r.Name) + " AS SELECT * FROM " + quoteIdent(r.Base)
			if r.Where != "" {
				s += " WHERE " + r.Where
			}
			out = append(out, s)
			continue
		}
		var b strings.Builder
		b.WriteString("CREATE TABLE " + quoteIdent(r.Name) + " (")
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(c.Name) + " " + c.SQLType())
		}
		b.WriteString(")")
		out = append(out, b.String())
	}
	return out
}

// dropStatements returns the DDL that drops every relation, views first.
func dropStatements() []string {
	var out []string
	for i := len(catalog) - 1; i >= 0; i-- {
		r := catalog[i]
		kind := "TABLE"
		if r.IsView() {
			kind = "VIEW"
		}
		out = append(out, "DROP "+kind+" IF EXISTS "+quoteIdent(r.Name))
	}
	return out
}

// mappingVersion changes whenever what a record maps to changes without a
// change of the DDL, so that an existing index is rebuilt.
const mappingVersion = 1

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
