package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/promtest"
)

type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) add(d time.Duration) { c.t.Add(int64(d)) }
func fresh(c *Claims) (n int) {
	for _, f := range c.Fresh {
		if f {
			n++
		}
	}
	return n
}

func TestDedupWindow(t *testing.T) {
	clk := &fakeClock{}
	d := NewDedup(DedupOptions{Window: time.Minute, Now: clk.now})
	steps := []struct {
		advance   time.Duration
		source    string
		keys      []string
		stored    bool
		wantFresh int
	}{
		{0, "c1", []string{"a/RC", "b/RC"}, true, 2},
		{0, "c1", []string{"a/RC", "b/RC"}, true, 0},        // redelivered batch
		{0, "c2", []string{"a/RC"}, true, 1},                // same auditID, other cluster
		{0, "c1", []string{"c/RC", "c/RC", ""}, true, 2},    // repeated in batch once; empty key always fresh
		{0, "c1", []string{"d/RC"}, false, 1},               // store failed...
		{0, "c1", []string{"d/RC"}, true, 1},                // ...so the retry is fresh
		{59 * time.Second, "c1", []string{"a/RC"}, true, 0}, // within the window
		{2 * time.Minute, "c1", []string{"a/RC"}, true, 1},  // long past the window
	}
	for i, s := range steps {
		clk.add(s.advance)
		c := d.Claim(s.source, s.keys)
		if got := fresh(c); got != s.wantFresh {
			t.Errorf("step %d: %d fresh, want %d", i, got, s.wantFresh)
		}
		c.Done(s.stored)
	}
}

// Concurrent deliveries of one key: exactly one stores it; if it fails, a
// waiting one takes over — the event is never lost.
func TestDedupConcurrentTakeover(t *testing.T) {
	d := NewDedup(DedupOptions{Window: time.Minute})
	first := d.Claim("c", []string{"x/RC"})
	if fresh(first) != 1 {
		t.Fatal("first claim not fresh")
	}
	var wg sync.WaitGroup
	var took atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := d.Claim("c", []string{"x/RC"})
			if fresh(c) == 1 {
				took.Add(1)
			}
			c.Done(true)
		}()
	}
	time.Sleep(10 * time.Millisecond) // let the others block on the in-flight claim
	first.Done(false)
	wg.Wait()
	if took.Load() != 1 {
		t.Fatalf("%d concurrent claims stored the key after the first failed, want exactly 1", took.Load())
	}
}

func TestDedupDisabled(t *testing.T) {
	d := NewDedup(DedupOptions{})
	for range 2 {
		c := d.Claim("c", []string{"a", "a"})
		if fresh(c) != 2 {
			t.Fatal("disabled dedup dropped events")
		}
		c.Done(true)
	}
}

// BenchmarkDedup claims and stores batches of 400 new keys (kube-apiserver's
// webhook batch) against a window already holding CDEWATCH_DEDUP_KEYS keys
// (default 3,000,000: a minute at 50,000 events/s), bounded by
// CDEWATCH_DEDUP_MAX_KEYS (default 0: no bound; serve's is 10,000,000), and
// reports the heap the window holds per key.
func BenchmarkDedup(b *testing.B) {
	held, maxKeys := 3_000_000, 0
	if s := os.Getenv("CDEWATCH_DEDUP_KEYS"); s != "" {
		held, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("CDEWATCH_DEDUP_MAX_KEYS"); s != "" {
		maxKeys, _ = strconv.Atoi(s)
	}
	clk := &fakeClock{}
	d := NewDedup(DedupOptions{Window: time.Hour, MaxKeys: maxKeys, Now: clk.now, Log: slog.New(slog.DiscardHandler)})
	keys := make([]string, 400)
	next := 0
	fill := func() {
		for i := range keys {
			keys[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x/ResponseComplete", next, next)
			next++
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for next < held {
		fill()
		d.Claim("cluster", keys).Done(true)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc - before.HeapAlloc)
	perKey := heap / float64(d.Len())
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		d.Claim("cluster", keys).Done(true)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
	b.ReportMetric(perKey, "heap-B/key")
	b.ReportMetric(heap/1e6, "heap-MB")
}

// With MaxKeys, the generations turn over once the newer holds half of
// them, before the window: memory stays bounded, and redeliveries older
// than that are stored again. Each step stores one batch, then checks
// which keys are remembered.
func TestDedupMaxKeys(t *testing.T) {
	clk := &fakeClock{}
	var logged bytes.Buffer
	d := NewDedup(DedupOptions{Window: time.Hour, MaxKeys: 8, Now: clk.now, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	batch := func(p string, n int) []string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprintf("%s%d", p, i))
		}
		return ks
	}
	steps := []struct {
		store      []string
		remembered []string // checked after the step, each in a claim of its own
		forgotten  []string
		wantEarly  float64
	}{
		{store: batch("a", 3), remembered: []string{"a0", "a2"}},
		// The newer generation holds 4 = MaxKeys/2: the next claim turns it.
		{store: batch("b", 1), remembered: []string{"a0", "b0"}, wantEarly: 1},
		{store: batch("c", 3), remembered: []string{"a0", "b0", "c2"}, wantEarly: 1},
		{store: batch("d", 1), remembered: []string{"c0", "d0"}, forgotten: []string{"a0", "b0"}, wantEarly: 2},
		{store: batch("e", 2), remembered: []string{"c0", "d0", "e1"}, wantEarly: 2},
	}
	for i, s := range steps {
		c := d.Claim("src", s.store)
		if got := fresh(c); got != len(s.store) {
			t.Fatalf("step %d: %d of %d new keys fresh", i, got, len(s.store))
		}
		c.Done(true)
		for _, k := range s.remembered {
			c := d.Claim("src", []string{k})
			if fresh(c) != 0 {
				t.Errorf("step %d: %s forgotten, want it remembered", i, k)
			}
			c.Done(true)
		}
		for _, k := range s.forgotten {
			c := d.Claim("src", []string{k})
			if fresh(c) != 1 {
				t.Errorf("step %d: %s remembered, want it forgotten", i, k)
			}
			c.Done(false)
		}
		if n := d.Len(); n > 8+len(s.store) {
			t.Errorf("step %d: %d keys remembered, more than MaxKeys (8) and a batch", i, n)
		}
		if got := promtest.Gauges(t, d)["cdewatch_ingest_dedup_early_turns_total"]; got != s.wantEarly {
			t.Errorf("step %d: early turns %v, want %v", i, got, s.wantEarly)
		}
	}
	if n := strings.Count(logged.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings about early turns, want 1 (then at most one an hour):\n%s", n, logged.String())
	}
	// Rebuilding from the ledger (oldest first) keeps the newest keys: the
	// last 4 (the first claim turns the generations over again).
	r := NewDedup(DedupOptions{Window: time.Hour, MaxKeys: 8, Now: clk.now, Log: slog.New(slog.DiscardHandler)})
	for _, k := range batch("k", 20) {
		r.Remember("src", k)
	}
	for k, want := range map[string]int{"k19": 0, "k16": 0, "k15": 1, "k12": 1, "k0": 1} {
		c := r.Claim("src", []string{k})
		if fresh(c) != want {
			t.Errorf("after rebuilding 20 keys with MaxKeys 8: %s fresh %v, want %v", k, fresh(c) == 1, want == 1)
		}
		c.Done(false)
	}
}

// A restart rebuilds the window from the records committed since its
// start: their keys are remembered, per source; earlier ones are not.
func TestRebuildDedup(t *testing.T) {
	p, l := newTestPipeline(t)
	store := func(source string, keys ...string) {
		t.Helper()
		b := &Batch{Source: source, Via: "test"}
		for _, k := range keys {
			b.Records = append(b.Records, event.Record{Table: "AppAccess", Key: k, Raw: []byte(`{}`)})
		}
		if _, err := p.Store(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	store("shop", "a1", "a2")
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	store("shop", "b1", "")
	store("bank", "b2")
	for _, c := range []struct {
		since      time.Time
		wantKeys   int
		remembered []string // source/key
		fresh      []string
	}{
		{mid, 2, []string{"shop/b1", "bank/b2"}, []string{"shop/a1", "bank/b1", "shop/b2"}},
		{time.Time{}, 4, []string{"shop/a1", "shop/a2", "shop/b1", "bank/b2"}, []string{"bank/a1"}},
	} {
		d := NewDedup(DedupOptions{Window: time.Hour})
		n, err := RebuildDedup(l, d, c.since, slog.New(slog.DiscardHandler))
		if err != nil || n != c.wantKeys {
			t.Errorf("RebuildDedup since %v: %d keys, %v; want %d", c.since, n, err, c.wantKeys)
		}
		for want, keys := range map[int][]string{0: c.remembered, 1: c.fresh} {
			for _, sk := range keys {
				source, key, _ := strings.Cut(sk, "/")
				cl := d.Claim(source, []string{key})
				if fresh(cl) != want {
					t.Errorf("since %v: %s fresh = %v, want %v", c.since, sk, fresh(cl) == 1, want == 1)
				}
				cl.Done(false)
			}
		}
	}
}

// TestRebuildDedupProgress: rebuilding a large window logs its progress
// while it reads, by the Dedup's clock.
func TestRebuildDedupProgress(t *testing.T) {
	p, l := newTestPipeline(t)
	const records = 5 * 4096
	b := &Batch{Source: "shop", Via: "test"}
	for i := range records {
		b.Records = append(b.Records, event.Record{Table: "AppAccess", Key: fmt.Sprint("k", i), Raw: []byte(`{}`)})
	}
	if _, err := p.Store(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Unix(0, 0)
	now := func() time.Time { // a millisecond passes at every reading
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	var logged bytes.Buffer
	d := NewDedup(DedupOptions{Window: time.Hour, Now: now})
	n, err := RebuildDedup(l, d, time.Time{}, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil || n != records {
		t.Fatalf("RebuildDedup: %d keys, %v; want %d", n, err, records)
	}
	// Each 4096 records read take about 4 s by this clock: a progress
	// line every 5 s gives two in 20 s.
	lines := strings.Count(logged.String(), "rebuilding the redelivery index from the ledger")
	if lines < 1 || lines > 4 {
		t.Fatalf("%d progress lines, want 1 to 4:\n%s", lines, logged.String())
	}
	if !strings.Contains(logged.String(), "records_read=") {
		t.Fatalf("progress without the records read:\n%s", logged.String())
	}
}
