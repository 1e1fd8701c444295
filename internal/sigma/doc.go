// Package sigma loads SigmaHQ detection rules and Sigma v2 correlation
// rules and evaluates them on cdewatch's ledger records: Kubernetes audit
// events (KubeAuditLogs), Azure Activity Log records (AzureActivity) and
// Entra ID sign-ins (SigninLogs), whose original documents (event.Record.Raw)
// the rules' field names are mapped onto.
//
// Load reads a folder of rule files and returns a Set and one LoadError per
// rejected rule, naming the file, line and attribute, and the unsupported
// feature when that is the reason. Set.Eval evaluates the detection rules of
// an event's table and emits an alert.Alert per match; each Rule is also a
// detect.Matcher. A Correlator evaluates the correlation rules (event_count,
// value_count, temporal, temporal_ordered) over the matches Set.EvalCorrelate
// feeds it, with sliding windows per group, and saves its state as JSON so
// that a restart loses no window.
//
// Rules are compiled to matchers that share field lookups and condition
// results between rules for each event, and an index on the values rules
// require (objectRef.resource, operationName, …) selects the rules that can
// match an event. docs/SIGMA.md describes what is supported, the field
// mappings, the corpus results and the limits.
package sigma
