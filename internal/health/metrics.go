package health

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descLastReceived = prometheus.NewDesc("cdewatch_health_stream_last_received_timestamp_seconds",
		"Received time of the newest record of a source (table \"\") or of a table of a source.", []string{"source", "table"}, nil)
	descSilenceBound = prometheus.NewDesc("cdewatch_health_stream_silence_bound_seconds",
		"Silence allowed before a source or table counts as failed (0: not watched).", []string{"source", "table"}, nil)
	descSilent = prometheus.NewDesc("cdewatch_health_stream_silent",
		"1 while a silence failure of the source or table lasts.", []string{"source", "table"}, nil)
	descAuditPending = prometheus.NewDesc("cdewatch_health_kube_audit_pending_requests",
		"Requests seen at RequestReceived awaiting ResponseStarted, ResponseComplete or Panic.", []string{"source"}, nil)
	descAuditPaired = prometheus.NewDesc("cdewatch_health_kube_audit_paired",
		"1 once the source has shown it logs both RequestReceived and the end of requests (loss is detected from then on).", []string{"source"}, nil)
	descAuditRequests = prometheus.NewDesc("cdewatch_health_kube_audit_requests_total",
		"Requests seen at RequestReceived, by what became of them: matched (ended), lost (no end within the timeout), evicted (dropped unchecked: too many pending), unchecked (timed out before the source was paired).",
		[]string{"source", "outcome"}, nil)
	descOffset = prometheus.NewDesc("cdewatch_health_time_offset_seconds",
		"Received time minus event time of a source's records: count and sum since the state began, quantiles over the last one to two windows.", []string{"source"}, nil)
	descOffsetMin = prometheus.NewDesc("cdewatch_health_time_offset_min_seconds",
		"Smallest received − event time of a source's records over the last one to two windows (negative: events from the future).", []string{"source"}, nil)
	descOffsetMax = prometheus.NewDesc("cdewatch_health_time_offset_max_seconds",
		"Largest received − event time of a source's records over the last one to two windows.", []string{"source"}, nil)
	descTimeChanges = prometheus.NewDesc("cdewatch_health_time_changes_total",
		"Events that changed time settings (PCI DSS 10.6.3), by source and category.", []string{"source", "category"}, nil)
	descLagRecords = prometheus.NewDesc("cdewatch_health_consumer_lag_records",
		"Durable records a consumer of the ledger has not processed.", []string{"consumer"}, nil)
	descLagSeconds = prometheus.NewDesc("cdewatch_health_consumer_lag_seconds",
		"Age of the oldest record a consumer of the ledger has not processed.", []string{"consumer"}, nil)
	descFailuresOpen = prometheus.NewDesc("cdewatch_health_failures_open",
		"Failures that last, by control.", []string{"control"}, nil)
	descFailuresStarted = prometheus.NewDesc("cdewatch_health_failures_started_total",
		"Failures started, by control, since the state began.", []string{"control"}, nil)
	descFailureRecordsPending = prometheus.NewDesc("cdewatch_health_failure_records_pending",
		"Failure start, end and resolution records not yet written to the ledger.", nil, nil)
	descFailureRecordsDropped = prometheus.NewDesc("cdewatch_health_failure_records_dropped_total",
		"Failure records dropped because too many awaited writing.", nil, nil)
	descDiskAvailable = prometheus.NewDesc("cdewatch_health_disk_available_bytes",
		"Bytes available to cdewatch on the data directory's file system.", []string{"path"}, nil)
	descDiskTotal = prometheus.NewDesc("cdewatch_health_disk_total_bytes",
		"Size of the data directory's file system.", []string{"path"}, nil)
	descClockJumps = prometheus.NewDesc("cdewatch_health_clock_jumps_total",
		"Jumps of cdewatch's wall clock beyond the bound, relative to the monotonic clock.", nil, nil)
	descClockLastJump = prometheus.NewDesc("cdewatch_health_clock_last_jump_seconds",
		"Size of the last jump of cdewatch's wall clock (negative: backward).", nil, nil)
	descRedelivered = prometheus.NewDesc("cdewatch_health_redelivered_window_records",
		"Redelivered records of a source within the redelivery window.", []string{"source"}, nil)
	descOverflow = prometheus.NewDesc("cdewatch_health_unwatched_records_total",
		"Records of streams beyond the configured maximum, not watched.", nil, nil)
)

var allDescs = []*prometheus.Desc{descLastReceived, descSilenceBound, descSilent, descAuditPending, descAuditPaired,
	descAuditRequests, descOffset, descOffsetMin, descOffsetMax, descTimeChanges, descLagRecords, descLagSeconds,
	descFailuresOpen, descFailuresStarted, descFailureRecordsPending, descFailureRecordsDropped, descDiskAvailable,
	descDiskTotal, descClockJumps, descClockLastJump, descRedelivered, descOverflow}

// Describe implements prometheus.Collector.
func (m *Monitor) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Monitor) Collect(ch chan<- prometheus.Metric) {
	s := m.Summary()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, st := range s.Streams {
		if !st.LastReceived.IsZero() {
			g(descLastReceived, float64(st.LastReceived.UnixNano())/1e9, st.Source, st.Table)
		}
		g(descSilenceBound, st.BoundSeconds, st.Source, st.Table)
		g(descSilent, b(st.Silent), st.Source, st.Table)
	}
	for _, a := range s.KubeAudit {
		g(descAuditPending, float64(a.Pending), a.Source)
		g(descAuditPaired, b(a.Paired), a.Source)
		c(descAuditRequests, float64(a.Matched), a.Source, "matched")
		c(descAuditRequests, float64(a.Lost), a.Source, "lost")
		c(descAuditRequests, float64(a.Evicted), a.Source, "evicted")
		c(descAuditRequests, float64(a.Unchecked), a.Source, "unchecked")
	}
	for _, o := range s.Offsets {
		ch <- prometheus.MustNewConstSummary(descOffset, o.Count, o.Sum, map[float64]float64{0.5: o.P50, 0.99: o.P99}, o.Source)
		if o.Window > 0 {
			g(descOffsetMin, o.Min, o.Source)
			g(descOffsetMax, o.Max, o.Source)
		}
	}
	for _, l := range s.Consumers {
		g(descLagRecords, float64(l.Behind), l.Consumer)
		g(descLagSeconds, l.OldestSeconds, l.Consumer)
	}
	if s.Disk != nil && s.Disk.Error == "" {
		g(descDiskAvailable, float64(s.Disk.Available), s.Disk.Path)
		g(descDiskTotal, float64(s.Disk.Total), s.Disk.Path)
	}
	g(descClockLastJump, s.Clock.LastJumpSeconds)
	c(descClockJumps, float64(s.Clock.Jumps))
	for _, r := range s.Redelivery {
		g(descRedelivered, float64(r.Duplicates), r.Source)
	}
	c(descOverflow, float64(s.Overflow))

	m.mu.Lock()
	open := map[string]int{}
	for k := range m.fs.open {
		open[k.control]++
	}
	started := make(map[string]uint64, len(m.fs.started))
	for k, v := range m.fs.started {
		started[k] = v
		if _, ok := open[k]; !ok {
			open[k] = 0
		}
	}
	pending, dropped := len(m.fs.outbox), m.fs.dropped
	changes := map[[2]string]uint64{}
	for name, src := range m.sources {
		for cat, n := range src.timeChanges {
			changes[[2]string{name, cat}] = n
		}
	}
	m.mu.Unlock()
	for k, n := range open {
		g(descFailuresOpen, float64(n), k)
	}
	for k, n := range started {
		c(descFailuresStarted, float64(n), k)
	}
	g(descFailureRecordsPending, float64(pending))
	c(descFailureRecordsDropped, float64(dropped))
	for k, n := range changes {
		c(descTimeChanges, float64(n), k[0], k[1])
	}
}
