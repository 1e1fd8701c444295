package archive

import "github.com/prometheus/client_golang/prometheus"

var (
	descLagRecords = prometheus.NewDesc("cdewatch_archive_lag_records",
		"Records committed in the ledger but not yet archived.", nil, nil)
	descLagBytes = prometheus.NewDesc("cdewatch_archive_lag_bytes",
		"Ledger segment bytes not yet archived.", nil, nil)
	descArchived = prometheus.NewDesc("cdewatch_archive_archived_records",
		"Records stored in the archive.", nil, nil)
	descCheckpoint = prometheus.NewDesc("cdewatch_archive_checkpoint_size",
		"Tree size of the newest checkpoint stored in the archive.", nil, nil)
	descLastSuccess = prometheus.NewDesc("cdewatch_archive_last_success_timestamp_seconds",
		"When the last archiving pass succeeded (0: none since start).", nil, nil)
	descFailing = prometheus.NewDesc("cdewatch_archive_failing",
		"1 while archiving passes fail (PCI DSS 10.7.2), else 0.", nil, nil)
	descTestTime = prometheus.NewDesc("cdewatch_archive_restore_test_timestamp_seconds",
		"When the last restore test ran (0: none since start).", nil, nil)
	descTestOK = prometheus.NewDesc("cdewatch_archive_restore_test_success",
		"1 if the last restore test passed, else 0.", nil, nil)
)

type collector struct{ a *Archiver }

// Collector exports the archiver's Status as Prometheus metrics.
func (a *Archiver) Collector() prometheus.Collector { return collector{a} }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLagRecords, descLagBytes, descArchived, descCheckpoint, descLastSuccess, descFailing, descTestTime, descTestOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Status()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descLagRecords, float64(s.LagRecords))
	gauge(descLagBytes, float64(s.LagBytes))
	gauge(descArchived, float64(s.ArchivedRecords))
	gauge(descCheckpoint, float64(s.ArchivedCheckpoint))
	var last float64
	if !s.LastSuccess.IsZero() {
		last = float64(s.LastSuccess.UnixNano()) / 1e9
	}
	gauge(descLastSuccess, last)
	gauge(descFailing, boolGauge(!s.FailingSince.IsZero()))
	if t := s.LastRestoreTest; t != nil {
		gauge(descTestTime, float64(t.Time.UnixNano())/1e9)
		gauge(descTestOK, boolGauge(t.OK))
	} else {
		gauge(descTestTime, 0)
		gauge(descTestOK, 0)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
