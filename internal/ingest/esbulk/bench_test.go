package esbulk_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// benchDocs is the number of documents of one benchmark request.
const benchDocs = 1000

// fluentBitBody returns a bulk body of n Fluent Bit-shaped container log
// documents of about 400 bytes each, all different.
func fluentBitBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"create":{"_index":"fluent-bit-2026.11.26"}}`+"\n")
		fmt.Fprintf(&b, `{"@timestamp":"2026-11-26T10:15:%02d.%03dZ","log":"INFO charge accepted order=%d amount=%d.%02d merchant=%d\n",`+
			`"stream":"stdout","time":"2026-11-26T10:15:%02d.%03d412345Z","kubernetes":{"pod_name":"checkout-7d9f8b6c5-%05d","namespace_name":"payments",`+
			`"host":"aks-nodepool1-12345678-vmss00000%d","container_name":"checkout",`+
			`"docker_id":"0f9e8d7c%04d","container_image":"contoso.azurecr.io/payments/checkout:1.14.2"}}`+"\n",
			i%60, i%1000, 880000+i, i%500, i%100, 4400+i%37, i%60, i%1000, i%97, i%8, i)
	}
	return b.Bytes()
}

// BenchmarkBulk measures the receiver end to end: bulk requests of 1000
// Fluent Bit-shaped documents POSTed over loopback HTTP by 2×GOMAXPROCS
// concurrent senders, parsed, routed, scrubbed (or not: noscrub) and
// appended to a real ledger through a real pipeline. events/s counts the
// documents stored; cpu-ns/event is the process's CPU time (senders
// included) per document, the better figure on a shared machine.
func BenchmarkBulk(b *testing.B) {
	body := fluentBitBody(benchDocs)
	action := len(`{"create":{"_index":"fluent-bit-2026.11.26"}}` + "\n")
	b.Logf("request body: %d bytes, %d bytes per document (and %d of its action line)", len(body), len(body)/benchDocs-action, action)
	for _, scrubbed := range []bool{true, false} {
		name := "scrub"
		if !scrubbed {
			name = "noscrub"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			if !scrubbed {
				e.pipeline.Scrubber = nil
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			before := e.ledger.Size()
			b.SetBytes(int64(len(body)))
			b.SetParallelism(2)
			b.ResetTimer()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest(http.MethodPost, e.url+"/_bulk", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Authorization", "Bearer "+e.token)
					req.Header.Set("Content-Type", "application/x-ndjson")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					out, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK || !bytes.HasPrefix(out, []byte(`{"took":`)) || bytes.Contains(out[:40], []byte(`"errors":true`)) {
						b.Errorf("answered %d: %.200s", res.StatusCode, out)
						return
					}
				}
			})
			b.StopTimer()
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "events/s")
			// CPU time per event, senders included: what a shared machine's
			// load does not distort much, unlike events/s.
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchDocs), "cpu-ns/event")
			}
			if got := e.ledger.Size() - before; got != uint64(b.N*benchDocs) {
				b.Errorf("%d records stored, want %d", got, b.N*benchDocs)
			}
		})
	}
}
