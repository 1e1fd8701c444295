package health

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The collector's metrics pass the pedantic registry's checks (described
// as collected, consistent labels) and carry the monitor's numbers.
func TestMetrics(t *testing.T) {
	h := goldenScenario(t)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(h.m); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
		next:
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
						continue next
					}
				}
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Summary != nil:
					return float64(m.GetSummary().GetSampleCount()), true
				}
			}
		}
		return 0, false
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cdewatch_health_stream_silent", map[string]string{"source": "aks-b", "table": ""}, 1},
		{"cdewatch_health_stream_silent", map[string]string{"source": "aks-a", "table": ""}, 0},
		{"cdewatch_health_stream_silence_bound_seconds", map[string]string{"source": "aks-b", "table": ""}, 60},
		{"cdewatch_health_kube_audit_requests_total", map[string]string{"source": "aks-a", "outcome": "lost"}, 1},
		{"cdewatch_health_kube_audit_paired", map[string]string{"source": "aks-a"}, 1},
		{"cdewatch_health_time_offset_seconds", map[string]string{"source": "aks-a"}, 13},
		{"cdewatch_health_time_changes_total", map[string]string{"source": "syslog-a", "category": TimeStep}, 1},
		{"cdewatch_health_consumer_lag_records", map[string]string{"consumer": "index"}, 12},
		{"cdewatch_health_failures_open", map[string]string{"control": ControlCheckpoint}, 1},
		{"cdewatch_health_failures_started_total", map[string]string{"control": ControlSourceSilent}, 1},
		{"cdewatch_health_disk_available_bytes", map[string]string{"path": "/var/lib/cdewatch"}, 40 << 30},
		{"cdewatch_health_failure_records_pending", nil, 0},
		{"cdewatch_health_clock_jumps_total", nil, 0},
	} {
		if v, ok := value(tc.name, tc.labels); !ok || v != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, v, ok, tc.want)
		}
	}
}
