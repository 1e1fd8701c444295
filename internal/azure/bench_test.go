package azure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// benchBody builds an Event Hubs body of n kube-audit records, each with
// the event of k8saudit's testdata/bench/lease-update.json (its own
// auditID) in properties.log, as a string like AKS writes it or as an
// object.
func benchBody(tb testing.TB, n int, asString bool) []byte {
	tb.Helper()
	ev := bytes.TrimSpace(readFile(tb, filepath.Join("..", "k8saudit", "testdata", "bench", "lease-update.json")))
	const id = "5d3c4f0e-8a1b-4b7e-9c55-2f6a1d0b7e93"
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		e := bytes.Replace(ev, []byte(id), fmt.Appendf(nil, "5d3c4f0e-8a1b-4b7e-9c55-%012x", i), 1)
		log := e
		if asString {
			log, _ = json.Marshal(string(e) + "\n")
		}
		fmt.Fprintf(&b, `{"time":"2025-04-20T16:29:59.995191417Z","resourceId":"/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE-PROD","category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","properties":{"pod":"kube-apiserver-57b5944b45-94w49","stream":"stdout","containerID":"5aee0d1c2f3b4a59b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281","log":%s},"serviceBuild":"na"}`, log)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func benchmarkDecodeBody(b *testing.B, asString bool) {
	const n = 500
	body := benchBody(b, n, asString)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		recs, bad, err := DecodeBody(body, Limits{})
		if err != nil || len(bad) != 0 || len(recs) != n {
			b.Fatalf("%d records, %v, %v", len(recs), bad, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(body))/n, "bytes/record")
}

// BenchmarkDecodeBody decodes Event Hubs bodies of 500 kube-audit records,
// properties.log a JSON string (as AKS writes it).
func BenchmarkDecodeBody(b *testing.B) { benchmarkDecodeBody(b, true) }

// BenchmarkDecodeBodyObject is BenchmarkDecodeBody with properties.log an
// object: the cost of the second decoding is the difference.
func BenchmarkDecodeBodyObject(b *testing.B) { benchmarkDecodeBody(b, false) }

// BenchmarkDecodeLines decodes the same records as a PT1H.json blob.
func BenchmarkDecodeLines(b *testing.B) {
	const n = 500
	var recs []json.RawMessage
	var doc struct {
		Records *[]json.RawMessage `json:"records"`
	}
	doc.Records = &recs
	if err := json.Unmarshal(benchBody(b, n, true), &doc); err != nil {
		b.Fatal(err)
	}
	var blob bytes.Buffer
	for _, r := range recs {
		blob.Write(r)
		blob.WriteByte('\n')
	}
	b.SetBytes(int64(blob.Len()))
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		err := DecodeLines(bytes.NewReader(blob.Bytes()), Limits{}, func(Record) error { got++; return nil }, nil)
		if err != nil || got != n {
			b.Fatalf("%d records, %v", got, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
