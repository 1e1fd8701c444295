package index

import "github.com/prometheus/client_golang/prometheus"

var (
	descCursor = prometheus.NewDesc("cdewatch_index_visible_records",
		"Ledger records the query index covers: every record below is queryable (or was skipped).", nil, nil)
	descFlushed = prometheus.NewDesc("cdewatch_index_flushed_records",
		"Ledger records the index's database file covers; the rest of the visible ones are staged in memory and indexed again after a crash.", nil, nil)
	descStageBytes = prometheus.NewDesc("cdewatch_index_stage_bytes",
		"Memory the index's stage holds: rows visible to queries, not yet all written to the database file.", nil, nil)
	descStageLimit = prometheus.NewDesc("cdewatch_index_stage_limit_bytes",
		"index.stage_memory: at this size indexing waits for the database file's writes.", nil, nil)
	descFailing = prometheus.NewDesc("cdewatch_index_failing",
		"1 while the index's batches or its writes to the database file fail (they are retried), else 0.", nil, nil)
)

type collector struct{ x *Index }

// Collector exports the index's progress as Prometheus metrics.
func (x *Index) Collector() prometheus.Collector { return collector{x} }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCursor, descFlushed, descStageBytes, descStageLimit, descFailing} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.x.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descCursor, float64(s.Cursor))
	gauge(descFlushed, float64(s.Flushed))
	gauge(descStageBytes, float64(s.Staged))
	gauge(descStageLimit, float64(c.x.opts.StageMemory))
	failing := 0.0
	if s.Err != nil {
		failing = 1
	}
	gauge(descFailing, failing)
}
