package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert/notify"
	"github.com/cdewatch/cdewatch/internal/alert/outbox"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/demo"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// BenchmarkDetectionLatency measures the time from the ledger append of an
// event that a rule flags to the signed webhook receiving the alert,
// while realistic audit events are appended in the background at
// CDEWATCH_DETECT_RATE (default 20,000/s) for CDEWATCH_DETECT_DURATION
// (default 20s). The detector runs the rules serve runs (the built-in
// pack, thresholds, baselines), the outbox and the webhook notifier are
// the real ones; the flagged event is a cdewatch token creation, 5 per
// second. The background events are prepared beforehand and appended in
// batches every 10 ms, each append waiting for the fsync.
//
//	go test ./cmd/cdewatch -run '^$' -bench BenchmarkDetectionLatency -benchtime 1x
func BenchmarkDetectionLatency(b *testing.B) {
	rate, dur := 20000, 20*time.Second
	if v, err := time.ParseDuration(os.Getenv("CDEWATCH_DETECT_DURATION")); err == nil {
		dur = v
	}
	if v := os.Getenv("CDEWATCH_DETECT_RATE"); v != "" {
		json.Unmarshal([]byte(v), &rate)
	}
	dir := b.TempDir()
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(dir, "ledger"), Origin: "bench.cdewatch/detect"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	log := slog.New(slog.DiscardHandler)

	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	const secret = "0123456789abcdef0123456789abcdef"
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		var env struct {
			Alerts []struct {
				Fields map[string]string `json:"fields"`
				Key    string            `json:"key"`
			} `json:"alerts"`
		}
		json.Unmarshal(body, &env)
		mu.Lock()
		for _, a := range env.Alerts {
			for id, at := range sent {
				if strings.Contains(a.Key, id) {
					lat = append(lat, now.Sub(at))
					delete(sent, id)
				}
			}
		}
		mu.Unlock()
	}))
	defer recv.Close()
	wh, err := notify.NewWebhook(notify.WebhookConfig{Name: "bench", URL: recv.URL, Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(dir, "outbox"), outbox.Options{Targets: []outbox.Target{{Notifier: wh}}, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	cfg := config.Default()
	cfg.Data = dir
	cfg.PCI.CDENamespaces = []string{"payments"}
	runners, _, err := detectRunners(cfg, l, nil, nil, outboxDeliver(ob), nil, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx) }()
	}

	// Background: realistic audit events, normalized as ingest does
	// (prepared beforehand, so the load generator costs little CPU).
	gen := demo.NewGenerator(1)
	cls := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: cfg.PCI.CDENamespaces})
	const tick = 10 * time.Millisecond
	perTick := rate * int(tick) / int(time.Second)
	pool := make([][]byte, 4096)
	for i := range pool {
		it, err := k8saudit.DecodeLine(gen.NextAt(time.Now()), k8saudit.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		pool[i], _ = cls.Normalize(&it, "bench", time.Now()).MarshalBinary()
	}
	b.ResetTimer()
	start := time.Now()
	next := start
	n := 0
	for time.Since(start) < dur {
		recs := make([][]byte, 0, perTick+1)
		now := time.Now()
		for i := range perTick {
			recs = append(recs, pool[(n+i)%len(pool)])
		}
		if _, err := l.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
		n += len(recs)
		if n/(rate/5) > len(sent)+len(lat) { // 5 flagged events per second
			id := "tok" + now.Format("150405.000000")
			rec, _ := event.SelfAudit{Action: event.ActionTokenCreate, User: "token:admin", Class: event.CredentialChange,
				Details: map[string]any{"token_id": id, "role": "ingest", "source": "bench"}}.Record(now)
			enc, _ := rec.MarshalBinary()
			mu.Lock()
			if _, err := l.Append(ctx, [][]byte{enc}); err != nil {
				b.Fatal(err)
			}
			sent[id] = time.Now()
			mu.Unlock()
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	elapsed := time.Since(start)
	time.Sleep(3 * time.Second) // let the last alerts arrive
	b.StopTimer()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no alert delivered")
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(sent)), "undelivered")
}
