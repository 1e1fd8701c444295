package ingest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	d := NewDedup(time.Minute, clk.now)
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
	d := NewDedup(time.Minute, nil)
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
	d := NewDedup(0, nil)
	for range 2 {
		c := d.Claim("c", []string{"a", "a"})
		if fresh(c) != 2 {
			t.Fatal("disabled dedup dropped events")
		}
		c.Done(true)
	}
}
