package otlp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchRequest returns a protobuf export request of n container log
// records of about 300-byte bodies from one pod, with the resource
// attributes the Collector's k8sattributes processor adds.
func benchRequest(tb testing.TB, n int) []byte {
	tb.Helper()
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	for _, kv := range [][2]string{
		{"k8s.pod.name", "checkout-7d9f8b6c5d-x2x4q"}, {"k8s.namespace.name", "payments"}, {"k8s.container.name", "checkout"},
		{"k8s.pod.uid", "3c4d5e6f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}, {"k8s.node.name", "aks-nodepool1-12345678-vmss000003"},
		{"k8s.deployment.name", "checkout"}, {"container.id", "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"},
		{"container.image.name", "contoso.azurecr.io/payments/checkout"}, {"container.image.tag", "4.12.0"}, {"service.name", "checkout"},
	} {
		ra.PutStr(kv[0], kv[1])
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("otelcol/filelogreceiver")
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		ts := start.Add(time.Duration(i) * time.Millisecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(3 * time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		body := fmt.Sprintf(`%s level=info msg="payment authorized" order_id=ord-%08d merchant=m-4410 amount=129.95 currency=EUR `+
			`gateway=adyen latency_ms=%d trace=5b8efff798038103d269b633813fc60c user_agent="Mozilla/5.0 (X11; Linux x86_64)" `+
			`route=/api/v2/checkout/confirm status=200 bytes=5123 upstream=10.244.3.17:8443`, ts.Format(time.RFC3339Nano), i, i%250)
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("log.iostream", "stdout")
		lr.Attributes().PutStr("logtag", "F")
		lr.Attributes().PutStr("log.file.path", "/var/log/pods/payments_checkout-7d9f8b6c5d-x2x4q_3c4d5e6f/checkout/0.log")
	}
	b, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkOTLP posts protobuf requests of 1000 log records over loopback
// HTTP to the handler, which stores them through a real pipeline (scrubber,
// dedup, stats) into a real ledger; events/s counts log records in the
// ledger per second of wall time.
func BenchmarkOTLP(b *testing.B) {
	const perRequest = 1000
	body := benchRequest(b, perRequest)
	p, l := newTestPipeline(b)
	srv := newServer(b, newTestHandler(p))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	before := l.Size()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("answer %s", resp.Status)
				return
			}
		}
	})
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	if got, want := l.Size()-before, uint64(b.N*perRequest); got != want {
		b.Fatalf("%d records in the ledger, want %d", got, want)
	}
	b.ReportMetric(float64(b.N*perRequest)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*perRequest), "ns/event")
	// The process's CPU time (server, pipeline, ledger and the client)
	// per event: on a shared machine the wall-clock rate depends on what
	// else runs, this does much less.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perRequest), "cpu-ns/event")
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
