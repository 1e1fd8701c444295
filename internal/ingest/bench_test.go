package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// BenchmarkPipeline measures the whole receive path of the webhook —
// decode a 400-event batch, classify, scrub, encode and append durably to
// a real ledger — with the card-data scrubber and without it, so that the
// scrubber's share of ingest cost is the ratio of the two (cpu-ns/event:
// process CPU per event, steadier than events/s on a shared machine):
//
//	go test ./internal/ingest -run '^$' -bench BenchmarkPipeline -benchtime 2000x -count 3
func BenchmarkPipeline(b *testing.B) {
	ev, err := os.ReadFile(filepath.Join("..", "k8saudit", "testdata", "bench", "lease-update.json"))
	if err != nil {
		b.Fatal(err)
	}
	ev = bytes.TrimSpace(ev)
	const n = 400
	for _, tc := range []struct {
		name     string
		scrubber *scrub.Scrubber
	}{{"scrub", scrub.New(scrub.Options{})}, {"noscrub", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := ledger.Open(ledger.Options{Dir: b.TempDir(), Origin: "bench.cdewatch/ingest"})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := &Pipeline{Ledger: l, Scrubber: tc.scrubber, Dedup: NewDedup(DedupOptions{Window: time.Minute}), Stats: NewStats(nil),
				Now: time.Now, Log: slog.New(slog.DiscardHandler)}
			k := &K8sAudit{Pipeline: p, Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{}), Now: time.Now, Log: p.Log}
			var batches atomic.Int64
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.SetParallelism(4) // concurrent senders, as several apiservers and shippers are
			b.RunParallel(func(pb *testing.PB) {
				var body bytes.Buffer
				rng := rand.New(rand.NewPCG(uint64(batches.Add(1)), 7))
				for pb.Next() {
					body.Reset()
					body.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
					for i := range n {
						if i > 0 {
							body.WriteByte(',')
						}
						// A random (version 4) UUID, as kube-apiserver's
						// auditIDs are: hex digits with letters.
						body.Write(bytes.Replace(ev, []byte("5d3c4f0e-8a1b-4b7e-9c55-2f6a1d0b7e93"),
							fmt.Appendf(nil, "%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, 0x8000|rng.Uint32()&0x3fff, rng.Uint64()&0xffffffffffff), 1))
					}
					body.WriteString(`]}`)
					items, err := k8saudit.Decode(body.Bytes(), k8saudit.Limits{})
					if err != nil {
						b.Error(err)
						return
					}
					res, err := k.Store(context.Background(), "bench", items)
					if err != nil || res.Accepted != n {
						b.Errorf("store: %+v %v", res, err)
						return
					}
				}
			})
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			// Process CPU per event is steadier than throughput on a
			// shared machine; it includes building the request bodies.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n*b.N), "cpu-ns/event")
		})
	}
}
