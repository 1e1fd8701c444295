package index

import (
	"fmt"
	"slices"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

// A mapping turns the records of one ledger table (event.Record.Table) into
// rows of one index table; records of a ledger table without a mapping
// are skipped and counted. Adding a mapping changes the schema version, so
// an existing index is rebuilt from the ledger and the records it skipped
// before are indexed. A table that omits columns of commonTail leaves the same fields
// out of commonFields (SigninLogs has no cdewatch Status).
type mapping struct {
	table  string  // index table the rows go to
	fields []field // one per column of the table, in order
	// prepare, if set, parses the record once per row for the fields.
	prepare func(*row)
}

// field computes one column's value, as a staged chunk takes it
// (chunk.add checks its kind against the column's).
type field struct {
	name  string
	value func(*row) cell
}

// row is the record being mapped, with what prepare parsed from it.
type row struct {
	seq uint64
	rec event.Record
	k   kubeEvent
	app appRow           // AppAccess
	c   logdoc.Container // ContainerLog
	sys syslogRow        // Syslog
	al  alertRow         // SecurityAlert
	inc incidentRow      // SecurityIncident
	az  azureRow         // AzureActivity, SigninLogs, AKSControlPlane
}

// mappings by ledger table.
var mappings = map[string]*mapping{
	event.TableKubeAudit:        {table: TableKubeAuditLogs, fields: kubeAuditFields, prepare: prepareKubeAudit},
	event.TableCdewatchAudit:    {table: TableCdewatchAudit, fields: cdewatchAuditFields},
	event.TableAppAccess:        {table: TableAppAccess, fields: appAccessFields, prepare: prepareAppAccess},
	event.TableContainerLog:     {table: TableContainerLog, fields: containerLogFields, prepare: prepareContainerLog},
	event.TableAzureActivity:    {table: TableAzureActivity, fields: azureActivityFields, prepare: prepareAzureActivity},
	event.TableSigninLogs:       {table: TableSigninLogs, fields: signinLogsFields, prepare: prepareSigninLogs},
	event.TableAKSControlPlane:  {table: TableAKSControlPlane, fields: aksControlPlaneFields, prepare: prepareAKSControlPlane},
	event.TableSyslog:           {table: TableSyslog, fields: syslogFields, prepare: prepareSyslog},
	event.TableSecurityAlert:    {table: TableSecurityAlert, fields: securityAlertFields, prepare: prepareSecurityAlert},
	event.TableSecurityIncident: {table: TableSecurityIncident, fields: securityIncidentFields, prepare: prepareSecurityIncident},
}

// mappedTables returns the ledger tables that have a mapping, sorted.
func mappedTables() []string {
	out := make([]string, 0, len(mappings))
	for t := range mappings {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func init() {
	for src, m := range mappings {
		rel, ok := byName[m.table]
		if !ok || rel.IsView() {
			panic(fmt.Sprintf("index: mapping of %s targets unknown table %s", src, m.table))
		}
		if got, want := fieldNames(m.fields), rel.ColumnNames(); !slices.Equal(got, want) {
			panic(fmt.Sprintf("index: mapping of %s has fields %v, table %s has columns %v", src, got, m.table, want))
		}
	}
}

func fieldNames(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// values appends the row's values to dst.
func (m *mapping) values(dst []cell, r *row) []cell {
	if m.prepare != nil {
		m.prepare(r)
	}
	for _, f := range m.fields {
		dst = append(dst, f.value(r))
	}
	return dst
}

// pciNames caches Class.String for every set of the known classes.
var pciNames = func() []string {
	const n = 1 << 7
	out := make([]string, n)
	for i := range out {
		out[i] = event.Class(i).String()
	}
	return out
}()

// missingNames caches Detail.String for every set of the six details.
var missingNames = func() []string {
	out := make([]string, 1<<len(event.DetailNames))
	for i := range out {
		out[i] = event.Detail(i).String()
	}
	return out
}()

func pciString(c event.Class) string {
	if int(c) < len(pciNames) {
		return pciNames[c]
	}
	return c.String()
}

// commonFields are the values of the columns of commonTail.
var commonFields = []field{
	{ColSeq, func(r *row) cell { return unsigned(r.seq) }},
	{"Source", func(r *row) cell { return text(r.rec.Source) }},
	{"ReceivedTime", func(r *row) cell { return timestamp(r.rec.Received) }},
	{"Pci", func(r *row) cell { return text(pciString(r.rec.PCI)) }},
	{"Outcome", func(r *row) cell { return text(string(r.rec.Outcome)) }},
	{"Status", func(r *row) cell { return integer(int32(r.rec.Status)) }},
	{"CallerIpAddress", func(r *row) cell { return text(r.rec.OriginIP) }},
	{"Resource", func(r *row) cell { return text(r.rec.Resource) }},
	{"Missing", func(r *row) cell { return text(missingNames[r.rec.Missing()]) }},
}

// CdewatchAudit: cdewatch's self-audit records (event.SelfAudit).
var cdewatchAuditFields = append([]field{
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.rec.Time) }},
	{"OperationName", func(r *row) cell { return text(r.rec.Action) }},
	{"Caller", func(r *row) cell { return text(r.rec.User) }},
	{"UserAgent", func(r *row) cell { return text(r.rec.UserAgent) }},
	{"Details", func(r *row) cell { return dynamicValue(r.rec.Raw) }},
}, commonFields...)
