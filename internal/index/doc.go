// Package index keeps the DuckDB tables that queries run on, fed from the
// ledger.
//
// The index is a consumer of the ledger like any other: Run tails it from
// a cursor stored in the index database itself. The index is derived
// data: Rebuild (`cdewatch reindex`) recreates it from the ledger, and
// Open empties an index built under another schema version so that Run
// rebuilds it.
//
// # Throughput
//
// Up to Options.Workers batches are read and mapped at once; they commit
// in order of seq, so what is committed is always a prefix of the ledger.
// A batch commits into the stage: rows the index holds in memory, in
// columns (stage.go). Queries read views over the database file and the
// stage (a table function, stagescan.go), so a batch is queryable as soon
// as it is staged, which costs little more than decoding its records.
// While the ledger grows fast, Run waits BatchDelay between batches so
// that they are large.
//
// Writing to DuckDB is the expensive part (appending, then compressing
// row groups: most of the index's CPU), and it happens apart: once
// FlushRows rows are staged, or the oldest staged batch is FlushInterval
// old, a flush (flush.go) inserts staged rows into the file's tables in
// one transaction, which also advances the file's cursor and counters;
// after a crash, Run resumes from that cursor and stages the rest again,
// so that nothing is lost or indexed twice. A flush whose largest table
// has rows for a whole row group covers whole row groups of it, which
// DuckDB writes straight to the file compressed; the rest waits for the
// next flush (at least FlushInterval), as a partial row group would be
// merged with the next rows at a checkpoint and compressed again. When
// flushes fall behind, the stage grows up to StageMemory,
// then batches wait.
//
// DuckDB calls in this package never get a context that may be canceled:
// interrupting a connection can leave the database instance alive after
// Close, and opening the same file again in the process then spins
// forever in DuckDB's instance cache. Cancellation is checked between
// records instead.
//
// # Tables
//
// Tables and columns follow Azure Log Analytics so that KQL written for
// Azure runs as written; the catalog (Lookup, Relations) describes each
// relation's columns with their KQL types for the query layer:
//
//   - KubeAuditLogs: Kubernetes audit events, the AKSAudit columns
//     (TimeGenerated, Level, AuditId, Stage, RequestUri, Verb, User,
//     SourceIps, UserAgent, ObjectRef, ResponseStatus, RequestObject,
//     ResponseObject, RequestReceivedTime, StageReceivedTime, Annotations)
//     plus ImpersonatedUser, the columns the AKS PCI guide's queries use
//     (Caller, OperationName, ObjectRef_Resource) and ObjectRef_Namespace,
//     ObjectRef_Name.
//   - AKSAudit: a view, KubeAuditLogs under its Log Analytics name.
//   - AKSAuditAdmin: a view, KubeAuditLogs without get and list requests.
//   - CdewatchAudit: cdewatch's own audit trail (TimeGenerated,
//     OperationName, Caller, UserAgent, Details).
//   - AzureActivity: Azure Activity Log events, the Log Analytics
//     AzureActivity columns plus ActivityLevel, Level under the name the
//     AKS PCI guide's queries use.
//   - SigninLogs: Entra ID sign-ins, the key Log Analytics SigninLogs
//     columns.
//   - AppAccess: applications' logs of their access to cardholder data, a
//     cdewatch table (TimeGenerated, Application, Action, User, Subject,
//     DataClass, Reason, Details).
//   - ContainerLog: container stdout/stderr lines, the legacy Log Analytics
//     ContainerLog columns plus PodName, PodNamespace and ContainerName of
//     ContainerLogV2.
//   - AKSControlPlane: the other AKS diagnostic categories (kube-apiserver,
//     guard, …), the Log Analytics AKSControlPlane columns.
//   - Syslog: syslog messages, the Log Analytics Syslog columns.
//   - SecurityAlert: the alerts of cdewatch's detector, key Log Analytics
//     SecurityAlert columns.
//
// Every table ends with the cdewatch columns: seq (the record's ledger
// sequence number), Source, ReceivedTime, Pci (the PCI DSS 10.2.1.x
// classes), and the PCI DSS 10.2.2 details the other columns do not
// already hold: Outcome, Status, CallerIpAddress and Resource (the user is
// Caller, the type of event OperationName, the time TimeGenerated), and
// Missing, the 10.2.2 details the record lacks. Where
// a Log Analytics table has a column of the same name, the table keeps one:
// AzureActivity's CallerIpAddress and Resource are the cdewatch columns,
// while SigninLogs keeps its own dynamic Status and has no cdewatch Status.
//
// Dynamic columns are DuckDB JSON: `User->>'username'`,
// `json_extract_string(Annotations, '$."authorization.k8s.io/decision"')`.
// Datetimes are TIMESTAMP (UTC, microseconds). Timespans are BIGINT
// counts of microseconds (not Kusto's 100ns ticks). String columns hold ""
// for an absent value, as in Log Analytics; datetime and dynamic columns
// hold NULL. A dynamic column holds the JSON text of its value as the
// source wrote it, or NULL when validJSON rejects the text: DuckDB's JSON
// functions read every value the index holds.
//
// Each table is fed by a mapping from the ledger records of one ledger
// table (mapping.go); records of a ledger table without a mapping are
// skipped and counted. Adding a mapping or a column changes the schema
// version, so the next Open empties the index and Run indexes everything
// from the start of the ledger.
//
// SCHEMA.md lists every column; TestSchemaDoc keeps it in step with the
// catalog.
package index
