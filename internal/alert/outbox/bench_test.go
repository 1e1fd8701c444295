package outbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
)

// BenchmarkEnqueue measures durable enqueueing (fsync before return):
// one alert per call from one goroutine, from 16 goroutines (group
// commit shares the fsyncs), and 100 alerts per call.
func BenchmarkEnqueue(b *testing.B) {
	for _, bc := range []struct {
		name     string
		batch    int
		parallel int
	}{{"batch=1/goroutines=1", 1, 0}, {"batch=1/goroutines=16", 1, 8}, {"batch=100/goroutines=1", 100, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			o, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			alerts := mkAlerts("bench.rule", 0, bc.batch)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if bc.parallel > 0 {
				b.SetParallelism(bc.parallel) // × GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := o.Enqueue(alerts); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := o.Enqueue(alerts); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*bc.batch)/time.Since(start).Seconds(), "alerts/s")
		})
	}
}

// benchReceiver is an httptest webhook receiver that verifies signatures
// and records, per alert, the time from before its Enqueue (carried in
// Fields["enqueued_ns"]) to its arrival.
type benchReceiver struct {
	mu       sync.Mutex
	lat      []time.Duration
	received atomic.Int64
}

const benchSecret = "bench-secret-0123456789"

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := notify.Verify([]byte(benchSecret), req.Header.Get(notify.HeaderSignature), req.Header.Get(notify.HeaderTimestamp), body, time.Now(), time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var env notify.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	r.mu.Lock()
	for _, a := range env.Alerts {
		ns, _ := strconv.ParseInt(a.Fields["enqueued_ns"], 10, 64)
		r.lat = append(r.lat, now.Sub(time.Unix(0, ns)))
	}
	r.mu.Unlock()
	r.received.Add(int64(len(env.Alerts)))
}

// benchOutbox opens an outbox delivering to a benchReceiver.
func benchOutbox(b *testing.B) (*Outbox, *benchReceiver) {
	rec := &benchReceiver{}
	srv := httptest.NewServer(rec)
	b.Cleanup(srv.Close)
	hook, err := notify.NewWebhook(notify.WebhookConfig{Name: "hook", URL: srv.URL, Secret: benchSecret})
	if err != nil {
		b.Fatal(err)
	}
	o, err := Open(b.TempDir(), Options{Targets: []Target{{Notifier: hook}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	return o, rec
}

func stamped(from, n int) []alert.Alert {
	batch := mkAlerts("bench.rule", from, n)
	t := strconv.FormatInt(time.Now().UnixNano(), 10)
	for i := range batch {
		batch[i].Fields = map[string]string{"enqueued_ns": t}
	}
	return batch
}

// BenchmarkDeliverWebhook measures the throughput of enqueue → signed
// webhook POST accepted by an httptest receiver, enqueueing 10 alerts per
// call as fast as possible (the queue saturates: latency here is queueing).
func BenchmarkDeliverWebhook(b *testing.B) {
	o, rec := benchOutbox(b)
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(10, b.N-sent)
		if err := o.Enqueue(stamped(sent, n)); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	for rec.received.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
}

// BenchmarkDeliverWebhookLatency paces one alert per millisecond (1000
// alerts/s, far more than a detector raises) and reports the latency from
// before Enqueue to the receiver: p50 and p99.
func BenchmarkDeliverWebhookLatency(b *testing.B) {
	o, rec := benchOutbox(b)
	const n = 2000
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		rec.mu.Lock()
		rec.lat = rec.lat[:0]
		rec.mu.Unlock()
		rec.received.Store(0)
		for i := range n {
			<-tick.C
			if err := o.Enqueue(stamped(i, 1)); err != nil {
				b.Fatal(err)
			}
		}
		for rec.received.Load() < n {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	slices.Sort(rec.lat)
	b.ReportMetric(float64(rec.lat[len(rec.lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(rec.lat[len(rec.lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
