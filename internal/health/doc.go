// Package health watches the sources of audit logs and cdewatch's own
// controls (PCI DSS 10.7.2), records every failure with its start, end,
// cause and resolution (10.7.3), and measures time (10.6).
//
// A Monitor is one detect.Stateful evaluator: the detector calls Eval for
// every ledger record, in order, and saves the monitor's state with its
// cursor, so what was learned survives restarts. Eval is cheap (no JSON
// decoding of audit events, no I/O) and finds what the records show:
//
//   - a source, or a table of a source, sending again after a silence;
//   - Kubernetes audit requests logged at RequestReceived whose
//     ResponseStarted, ResponseComplete or Panic never came (per source,
//     once the source has shown it logs both stages);
//   - a sudden drop of a stream's rate below what was learned for the hour;
//   - the offset between event time and received time of each source
//     (a sketch of its distribution; a clock off beyond its bound, in
//     either direction);
//   - syslog and Azure events that change time settings (10.6.3).
//
// Tick, called every few seconds (Run does), finds what the passing of time
// shows: silence beyond a source's bound, consumers of the ledger lagging,
// redelivery storms, a nearly full data directory, a jump of cdewatch's
// wall clock. Other components report the outcome of their controls
// (checkpoint signing, archive upload, notifier delivery, review, integrity
// verification) with ReportControl.
//
// Every failure is recorded as a pair of CdewatchAudit records,
// health.failure.start and health.failure.end, joined by a failure id; a
// person adds what was found and done with Resolve
// (health.failure.resolution). The records are the truth: Eval reads them
// back from the ledger, so a failure started or ended after the state was
// last saved is known again after a crash. FORMAT.md describes the records
// and the saved state; docs/HEALTH.md the bounds, alerts and queries.
package health
