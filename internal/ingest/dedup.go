package ingest

import (
	"crypto/sha256"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dedupKey is the first 128 bits of SHA-256(source, 0, key): a false match
// (a new event taken for a redelivery) among the tens of millions of keys a
// window holds is about 2^-100 likely per event.
type dedupKey [16]byte

func makeKey(source, key string) dedupKey {
	var buf [256]byte
	b := append(append(append(buf[:0], source...), 0), key...)
	sum := sha256.Sum256(b)
	return dedupKey(sum[:len(dedupKey{})])
}

// claim is an in-flight store of one batch's keys: later claimants of any
// of them wait for it.
type claim struct {
	done chan struct{}
}

// DedupOptions configure a Dedup.
type DedupOptions struct {
	// Window is how long a stored key is remembered: at least Window, at
	// most twice it. 0 disables deduplication.
	Window time.Duration
	// MaxKeys bounds the keys remembered, and so the memory (about 25–32
	// bytes a key, BenchmarkDedup): once the newer of the two generations
	// holds MaxKeys/2, the generations turn over early, and a key is then
	// remembered for less than Window (at least the time MaxKeys/2 keys
	// take to arrive). 0: no bound.
	MaxKeys int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log receives a warning when the key bound first shortens the window,
	// and then at most once an hour (nil: slog.Default()).
	Log *slog.Logger
}

// Dedup remembers (source, key) pairs stored within a window so that a
// redelivered event is stored once. A key is remembered for at least the
// window and at most twice it, unless MaxKeys makes it shorter. Concurrent
// deliveries of the same key are resolved without loss: the second waits
// for the first, and takes over if the first fails.
//
// Keys live in two generations: new keys go into the current one, and
// when it is Window old (or holds MaxKeys/2 keys) it becomes the previous
// one, whose keys are forgotten at the next turn.
type Dedup struct {
	opts DedupOptions

	mu       sync.Mutex
	cur      map[dedupKey]struct{}
	prev     map[dedupKey]struct{}
	rotated  time.Time
	inflight map[dedupKey]*claim
	early    uint64    // turns forced by MaxKeys
	warned   time.Time // last warning about them
}

// NewDedup returns a deduplicator.
func NewDedup(o DedupOptions) *Dedup {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Dedup{opts: o, cur: map[dedupKey]struct{}{}, prev: map[dedupKey]struct{}{}, rotated: o.Now(), inflight: map[dedupKey]*claim{}}
}

// rotateLocked turns the generations over when the current one is a
// window old or full.
func (d *Dedup) rotateLocked() {
	now := d.opts.Now()
	age := now.Sub(d.rotated)
	full := d.opts.MaxKeys > 0 && 2*len(d.cur) >= d.opts.MaxKeys
	if age < d.opts.Window && !full {
		return
	}
	d.prev, d.cur = d.cur, make(map[dedupKey]struct{}, len(d.cur))
	if age >= 2*d.opts.Window {
		d.prev = map[dedupKey]struct{}{}
	}
	d.rotated = now
	if age < d.opts.Window {
		d.early++
		if now.Sub(d.warned) >= time.Hour { // a zero warned is always longer ago
			d.warned = now
			d.opts.Log.Warn("ingest: the redelivery window reached ingest.dedup_max_keys and turned over before ingest.dedup_window: "+
				"a redelivery of an event stored longer ago is stored again; raise ingest.dedup_max_keys (about 32 bytes of memory a key) to keep the whole window",
				"window", d.opts.Window, "turned_after", age.Round(time.Millisecond), "max_keys", d.opts.MaxKeys, "early_turns", d.early)
		}
	}
}

// Remember marks a key as stored (used when rebuilding from the ledger,
// oldest first: with MaxKeys, the newest keys are kept).
func (d *Dedup) Remember(source, key string) {
	if d.opts.Window <= 0 || key == "" {
		return
	}
	k := makeKey(source, key)
	d.mu.Lock()
	d.rotateLocked()
	d.cur[k] = struct{}{}
	d.mu.Unlock()
}

// Claims is the outcome of Claim: which items to store, and a function to
// report whether storing them succeeded.
type Claims struct {
	d     *Dedup
	keys  []dedupKey
	claim *claim
	// Fresh[i] is true when item i must be stored; false when it is a duplicate.
	Fresh []bool
}

// Claim decides, for each key of one batch, whether it is new. Keys being
// stored by a concurrent call are waited for. Empty keys are always new.
// The caller must call Done exactly once with the outcome.
func (d *Dedup) Claim(source string, keys []string) *Claims {
	c := &Claims{d: d, Fresh: make([]bool, len(keys))}
	if d.opts.Window <= 0 {
		for i := range c.Fresh {
			c.Fresh[i] = true
		}
		return c
	}
	dks := make([]dedupKey, len(keys)) // hashed before taking the lock
	for i, k := range keys {
		if k != "" {
			dks[i] = makeKey(source, k)
		}
	}
	seen := make(map[dedupKey]bool, len(keys))
	for {
		var wait *claim
		clear(seen)
		c.keys = c.keys[:0]
		d.mu.Lock()
		d.rotateLocked()
		for i, k := range keys {
			c.Fresh[i] = false
			if k == "" {
				c.Fresh[i] = true
				continue
			}
			dk := dks[i]
			if seen[dk] {
				continue // repeated within the batch
			}
			seen[dk] = true
			if _, ok := d.cur[dk]; ok {
				continue
			}
			if _, ok := d.prev[dk]; ok {
				continue
			}
			if cl, ok := d.inflight[dk]; ok {
				wait = cl
				break
			}
			c.Fresh[i] = true
			c.keys = append(c.keys, dk)
		}
		if wait == nil {
			if len(c.keys) > 0 {
				c.claim = &claim{done: make(chan struct{})}
				for _, dk := range c.keys {
					d.inflight[dk] = c.claim
				}
			}
			d.mu.Unlock()
			return c
		}
		d.mu.Unlock()
		<-wait.done // a concurrent delivery of the same key: see how it ends
	}
}

// Done records whether the fresh items were stored.
func (c *Claims) Done(stored bool) {
	d := c.d
	if c.claim == nil {
		return
	}
	d.mu.Lock()
	for _, dk := range c.keys {
		delete(d.inflight, dk)
		if stored {
			d.cur[dk] = struct{}{}
		}
	}
	d.mu.Unlock()
	close(c.claim.done)
}

// Len returns the number of remembered keys.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.cur) + len(d.prev)
}

var (
	descDedupKeys  = prometheus.NewDesc("cdewatch_ingest_dedup_keys", "Keys the redelivery window remembers.", nil, nil)
	descDedupEarly = prometheus.NewDesc("cdewatch_ingest_dedup_early_turns_total",
		"Times the redelivery window turned over before ingest.dedup_window because it held ingest.dedup_max_keys keys.", nil, nil)
)

// Describe implements prometheus.Collector.
func (d *Dedup) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDedupKeys
	ch <- descDedupEarly
}

// Collect implements prometheus.Collector.
func (d *Dedup) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	keys, early := len(d.cur)+len(d.prev), d.early
	d.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descDedupKeys, prometheus.GaugeValue, float64(keys))
	ch <- prometheus.MustNewConstMetric(descDedupEarly, prometheus.CounterValue, float64(early))
}
