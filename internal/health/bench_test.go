package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// BenchmarkEval measures Eval per record (ns/op is per record): it runs on
// every record the detector reads.
func BenchmarkEval(b *testing.B) {
	const period = time.Hour
	kube := verboseStream(b, "aks-prod", 5000, t0, 100*time.Millisecond, 30*time.Millisecond)
	var plain, syslogs, sources []event.Record
	for i := range 10_000 {
		at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		plain = append(plain, record("app-1", event.TableAppAccess, at))
		s := syslogRecord(b, "nodes", fmt.Sprintf("<30>1 2026-11-26T08:00:00Z node-%d kubelet 1 - - Successfully probed container %d", i%7, i), at)
		syslogs = append(syslogs, s)
		sources = append(sources, record(fmt.Sprintf("cluster-%d", i%50), event.TableKubeAudit, at))
	}
	for _, bc := range []struct {
		name string
		recs []event.Record
	}{
		{"kube-audit RequestReceived+ResponseComplete", kube},
		{"app access", plain},
		{"syslog", syslogs},
		{"50 sources", sources},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New(Config{Audit: (&auditLog{}).audit})
			if err != nil {
				b.Fatal(err)
			}
			evs := make([]*detect.Event, len(bc.recs))
			for i := range bc.recs {
				evs[i] = detect.NewEvent(uint64(i), bc.recs[i])
			}
			n := 0
			emit := func(alert.Alert) { n++ }
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i % len(evs)
				e := evs[k]
				if k == 0 && i > 0 { // the next cycle, later
					for _, e := range evs {
						e.Rec.Received = e.Rec.Received.Add(period)
						e.Rec.Time = e.Rec.Time.Add(period)
					}
				}
				e.Seq = uint64(i)
				m.Eval(e, emit)
			}
			b.StopTimer()
			if n != 0 {
				b.Fatalf("%d alerts on a healthy stream", n)
			}
		})
	}
}

// BenchmarkMarshalState measures the state saved after every batch of
// the detector, for 50 sources with Kubernetes audit streams.
func BenchmarkMarshalState(b *testing.B) {
	m, err := New(Config{Audit: (&auditLog{}).audit})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20_000 {
		at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		r := kubeRecord(fmt.Sprintf("cluster-%d", i%50), fmt.Sprintf("req-%d", i), stageComplete, at)
		m.Eval(detect.NewEvent(uint64(i), r), func(alert.Alert) {})
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		st, err := m.MarshalState()
		if err != nil {
			b.Fatal(err)
		}
		size = len(st)
	}
	b.ReportMetric(float64(size), "bytes")
}
