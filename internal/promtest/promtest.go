// Package promtest reads Prometheus collectors in tests.
package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauges gathers c, whose metrics are unlabelled gauges or counters, and
// returns their values by name.
func Gauges(tb testing.TB, c prometheus.Collector) map[string]float64 {
	tb.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		tb.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			out[mf.GetName()] = c.GetValue()
		} else {
			out[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}
