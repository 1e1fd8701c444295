package ingest

import (
	"crypto/sha256"
	"sync"
	"time"
)

type dedupKey [16]byte

func makeKey(source, key string) dedupKey {
	var buf [256]byte
	b := append(append(append(buf[:0], source...), 0), key...)
	sum := sha256.Sum256(b)
	return dedupKey(sum[:len(dedupKey{})])
}

// claim is an in-flight store of a key: later claimants wait for it.
type claim struct {
	done chan struct{}
}

// Dedup remembers (source, key) pairs stored within a window so that a
// redelivered event is stored once. A key is remembered for at least the
// window and at most twice it. Concurrent deliveries of the same key are
// resolved without loss: the second waits for the first, and takes over if
// the first fails.
type Dedup struct {
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	cur      map[dedupKey]struct{}
	prev     map[dedupKey]struct{}
	rotated  time.Time
	inflight map[dedupKey]*claim
}

// NewDedup returns a deduplicator with the given window (0 disables it).
func NewDedup(window time.Duration, now func() time.Time) *Dedup {
	if now == nil {
		now = time.Now
	}
	return &Dedup{window: window, now: now, cur: map[dedupKey]struct{}{}, prev: map[dedupKey]struct{}{}, rotated: now(), inflight: map[dedupKey]*claim{}}
}

func (d *Dedup) rotateLocked() {
	if now := d.now(); now.Sub(d.rotated) >= d.window {
		d.prev, d.cur = d.cur, make(map[dedupKey]struct{}, len(d.cur))
		if now.Sub(d.rotated) >= 2*d.window {
			d.prev = map[dedupKey]struct{}{}
		}
		d.rotated = now
	}
}

// Remember marks a key as stored (used when rebuilding from the ledger).
func (d *Dedup) Remember(source, key string) {
	if d.window <= 0 || key == "" {
		return
	}
	d.mu.Lock()
	d.cur[makeKey(source, key)] = struct{}{}
	d.mu.Unlock()
}

// Claims is the outcome of Claim: which items to store, and a function to
// report whether storing them succeeded.
type Claims struct {
	d      *Dedup
	keys   []dedupKey
	claims []*claim
	// Fresh[i] is true when item i must be stored; false when it is a duplicate.
	Fresh []bool
}

// Claim decides, for each key of one batch, whether it is new. Keys being
// stored by a concurrent call are waited for. Empty keys are always new.
// The caller must call Done exactly once with the outcome.
func (d *Dedup) Claim(source string, keys []string) *Claims {
	c := &Claims{d: d, Fresh: make([]bool, len(keys))}
	if d.window <= 0 {
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
	for {
		var wait *claim
		d.mu.Lock()
		d.rotateLocked()
		seen := make(map[dedupKey]bool, len(keys))
		c.keys, c.claims = c.keys[:0], c.claims[:0]
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
			for _, dk := range c.keys {
				cl := &claim{done: make(chan struct{})}
				d.inflight[dk] = cl
				c.claims = append(c.claims, cl)
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
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	for i, dk := range c.keys {
		delete(d.inflight, dk)
		if stored {
			d.cur[dk] = struct{}{}
		}
		close(c.claims[i].done)
	}
	d.mu.Unlock()
}

// Len returns the number of remembered keys.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.cur) + len(d.prev)
}
