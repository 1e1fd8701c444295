package k8saudit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchList builds an audit.k8s.io/v1 EventList of n copies of the event in
// testdata/bench/lease-update.json, each with its own auditID, as the webhook
// backend sends a full batch (--audit-webhook-batch-max-size 400).
func benchList(tb testing.TB, n int) []byte {
	tb.Helper()
	ev, err := os.ReadFile(filepath.Join("testdata", "bench", "lease-update.json"))
	if err != nil {
		tb.Fatal(err)
	}
	ev = bytes.TrimSpace(ev)
	const id = "5d3c4f0e-8a1b-4b7e-9c55-2f6a1d0b7e93"
	if !bytes.Contains(ev, []byte(id)) {
		tb.Fatalf("bench event lacks auditID %s", id)
	}
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.Replace(ev, []byte(id), fmt.Appendf(nil, "5d3c4f0e-8a1b-4b7e-9c55-%012x", i), 1))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func BenchmarkDecode(b *testing.B) {
	const n = 400
	body := benchList(b, n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := Decode(body, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if len(items) != n {
			b.Fatalf("got %d items, want %d", len(items), n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(body))/n, "bytes/event")
}

func BenchmarkNormalize(b *testing.B) {
	items, err := Decode(benchList(b, 400), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	c := NewClassifier(testConfig)
	b.ReportAllocs()
	for b.Loop() {
		for i := range items {
			c.Normalize(&items[i], testSource, testReceived)
		}
	}
	b.ReportMetric(float64(len(items))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
