// Package index keeps the DuckDB tables that queries run on, fed from the
// ledger.
//
// The index is a consumer of the ledger like any other: Run tails it from
// a cursor stored in the index database itself and appends each batch of
// records as rows, committing the rows and the cursor that covers them in
// one transaction, so that a crash loses nothing and duplicates nothing.
// The index is derived data: Rebuild (`cdewatch reindex`) recreates it from
// the ledger, and Open empties an index built under another schema
// version so that Run rebuilds it.
//
// # Throughput
//
// Up to Options.Workers batches are read, mapped and appended at once, each
// in a transaction on a connection of its own; they commit in order of
// seq, so what is committed is always a prefix of the ledger. Rows reach
// DuckDB through a query appender (dynamic columns are appended as text
// and cast to JSON by DuckDB, which validates them). While the ledger
// grows fast, Run waits BatchDelay between batches so that they are large:
// a transaction has a fixed cost.
//
// Batches commit into a stage, an in-memory database attached to the
// index, and queries read views over the stage and the database file
// (stage.go, SCHEMA.md). Every FlushRows rows the stage is flushed: its
// rows are inserted into the file's tables in one transaction, which
// DuckDB writes straight into compressed row groups. A batch never waits
// for that, nor for a checkpoint: DuckDB checkpoints a database only with
// no writing transaction open on it, and while rows went to the file's
// tables directly, every checkpoint (compressing what the WAL held) held
// the batches back for seconds. The rows are no longer written twice (WAL,
// then checkpoint) either. DuckDB's checkpoint threshold is raised to 1GB,
// as its default (16MB) would recompress the last row groups over and
// over; the index checkpoints after each flush, which has little left to
// do.
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
// hold NULL.
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
