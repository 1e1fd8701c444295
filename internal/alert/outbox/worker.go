package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
)

// worker delivers the outbox to one notifier.
type worker struct {
	o     *Outbox
	t     Target
	name  string
	match func(alert.Alert) bool
	wake  chan struct{}

	// Owned by the worker goroutine.
	next         uint64        // persisted cursor
	thr          throttleState // persisted with the cursor
	pending      []entry       // read from disk, not yet finished with
	rd           reader
	isolateUntil uint64 // send one alert at a time up to this id (finding the one a receiver rejects)
	lastFailed   bool   // the last attempt failed (entries may expire)
	reported     bool   // OnFailing was called for the current failing episode

	// persisted is next, for compaction, Health and Drain.
	persisted atomic.Uint64

	hmu sync.Mutex
	h   Health
}

// item is one alert of a planned Send.
type item struct {
	a        alert.Alert
	id       uint64 // entry id; 0 for a throttling summary
	enqueued int64
	payload  []byte // as stored (nil for a summary)
}

// plan is what one iteration does with the entries at the cursor.
type plan struct {
	send     []item        // to Send
	consumed int           // entries of pending finished with if the Send succeeds
	expired  []item        // given up: recorded as failed on commit
	bad      []item        // undecodable: recorded as failed on commit
	thr      throttleState // the throttle state after the plan
	supp     int           // alerts suppressed by this plan
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	defer w.o.done.Done()
	for {
		select {
		case <-w.o.closing:
			return
		default:
		}
		if err := w.fill(); err != nil {
			w.o.log.Error("outbox: read failed", "notifier", w.name, "err", err)
			w.failed(err, w.o.opts.Now())
			if !w.backoff(err) {
				return
			}
			continue
		}
		now := w.o.opts.Now()
		p := w.plan(now)
		if p.consumed == 0 && len(p.send) == 0 {
			if !w.idle(p.thr) {
				return
			}
			continue
		}
		if len(p.send) == 0 {
			if err := w.commit(p, now); err != nil {
				if !w.storageError(err) {
					return
				}
			}
			continue
		}
		err := w.send(p.send)
		now = w.o.opts.Now()
		if err == nil {
			if err := w.commitWith(p, now, nil, true); err != nil {
				if !w.storageError(err) {
					return
				}
			}
			continue
		}
		if w.o.ctx.Err() != nil {
			return // closing: the batch is delivered again after Open
		}
		w.failed(err, now)
		if notify.IsPermanent(err) {
			if len(p.send) > 1 {
				// Which alert did the receiver refuse? Send them one by
				// one up to the end of this batch.
				w.isolateUntil = w.next + uint64(max(p.consumed, 1)) - 1
				w.o.log.Warn("outbox: batch rejected; sending its alerts one at a time", "notifier", w.name, "alerts", len(p.send), "err", err)
				continue
			}
			it := p.send[0]
			w.o.log.Error("outbox: alert rejected by the receiver; recorded as failed", "notifier", w.name, "id", it.id, "rule", it.a.Rule, "err", err)
			rec := w.failedEntry(it, "rejected", err, now)
			if err := w.commitWith(p, now, []FailedEntry{rec}, false); err != nil {
				if !w.storageError(err) {
					return
				}
				continue
			}
		}
		if !w.backoff(err) {
			return
		}
	}
}

// fill reads entries after the pending ones, up to MaxBatch pending.
func (w *worker) fill() error {
	if len(w.pending) >= w.o.opts.MaxBatch {
		return nil
	}
	segs, end := w.o.snapshot()
	es, err := w.rd.read(segs, end, w.o.opts.MaxBatch-len(w.pending))
	w.pending = append(w.pending, es...)
	return err
}

// plan decides what to do with the pending entries at now. A plan is
// either an expired prefix (entries older than MaxAge while the notifier
// is failing: recorded as failed, nothing sent) or a run of live entries,
// preceded by the summaries of throttle windows that ended: the route
// filters them, the throttle suppresses some, the rest are sent. Either
// way the entries finished with are a prefix of pending. While isolating
// a rejected alert, a plan sends one item.
func (w *worker) plan(now time.Time) plan {
	p := plan{thr: w.thr.clone()}
	isolating := w.isolateUntil >= w.next
	limit := len(w.pending)
	if isolating {
		limit = min(limit, 1)
	}
	maxAge := w.o.opts.MaxAge.Nanoseconds()
	isExpired := func(e entry) bool { return w.lastFailed && now.UnixNano()-e.enqueued > maxAge }
	if limit > 0 && isExpired(w.pending[0]) {
		for _, e := range w.pending[:limit] {
			if !isExpired(e) {
				break
			}
			var a alert.Alert
			if err := json.Unmarshal(e.payload, &a); err != nil {
				p.bad = append(p.bad, item{id: e.id, enqueued: e.enqueued, payload: e.payload})
			} else {
				p.expired = append(p.expired, item{a: a, id: e.id, enqueued: e.enqueued, payload: e.payload})
			}
			p.consumed++
		}
		return p
	}
	thrOn := w.t.Throttle.Max > 0
	if thrOn {
		n := -1
		if isolating {
			n = 1
		}
		for _, s := range p.thr.due(w.t.Throttle, now, n) {
			p.send = append(p.send, item{a: s})
		}
		if isolating && len(p.send) > 0 {
			limit = 0
		}
	}
	for _, e := range w.pending[:limit] {
		if isExpired(e) {
			break // expire on a later round
		}
		p.consumed++
		var a alert.Alert
		if err := json.Unmarshal(e.payload, &a); err != nil {
			p.bad = append(p.bad, item{id: e.id, enqueued: e.enqueued, payload: e.payload})
			continue
		}
		if !w.match(a) {
			continue
		}
		if thrOn && !p.thr.allow(w.t.Throttle, a, e.id, now) {
			p.supp++
			continue
		}
		p.send = append(p.send, item{a: a, id: e.id, enqueued: e.enqueued, payload: e.payload})
	}
	return p
}

// send calls the notifier with the planned alerts.
func (w *worker) send(items []item) error {
	alerts := make([]alert.Alert, len(items))
	for i, it := range items {
		alerts[i] = it.a
	}
	ctx, cancel := context.WithTimeout(w.o.ctx, w.o.opts.AttemptTimeout)
	defer cancel()
	return w.t.Notifier.Send(ctx, alerts)
}

// commit finishes with the plan's consumed entries: failed records first,
// then the cursor with the new throttle state, durably.
func (w *worker) commit(p plan, now time.Time) error { return w.commitWith(p, now, nil, false) }

// commitWith is commit with extra failed records; delivered says the
// plan's alerts were sent. The health counters are updated before the new
// cursor is published, so whoever sees the backlog empty (Drain, Health)
// also sees the deliveries that emptied it.
func (w *worker) commitWith(p plan, now time.Time, recs []FailedEntry, delivered bool) error {
	for _, it := range p.expired {
		recs = append(recs, w.failedEntry(it, "expired", errors.New(w.lastError()), now))
	}
	for _, it := range p.bad {
		recs = append(recs, w.failedEntry(it, "undecodable", errors.New("stored alert is not valid JSON"), now))
	}
	if len(recs) > 0 {
		if err := w.o.failed.append(recs); err != nil {
			return err
		}
	}
	next := w.next + uint64(p.consumed)
	if err := writeCursor(cursorPath(w.o.dir, w.name), cursorFile{Notifier: w.name, Next: next, Updated: now.UTC(), Throttle: p.thr}); err != nil {
		return err
	}
	w.next, w.thr = next, p.thr
	w.pending = w.pending[p.consumed:]
	w.hmu.Lock()
	w.h.Failed += uint64(len(recs))
	w.h.Suppressed += uint64(p.supp)
	w.h.PendingSuppressed = p.thr.pendingSuppressed()
	w.hmu.Unlock()
	if delivered {
		w.succeeded(len(p.send), now)
	}
	w.persisted.Store(next)
	w.o.requestCompaction()
	return nil
}

func (w *worker) failedEntry(it item, reason string, err error, now time.Time) FailedEntry {
	w.hmu.Lock()
	attempts := w.h.ConsecutiveFailures
	w.hmu.Unlock()
	payload := it.payload
	if payload == nil {
		payload, _ = json.Marshal(it.a)
	}
	fe := FailedEntry{Notifier: w.name, ID: it.id, Failed: now.UTC(), Attempts: attempts, Reason: reason, Error: err.Error(), Alert: payload}
	if it.enqueued != 0 {
		fe.Enqueued = time.Unix(0, it.enqueued).UTC()
	}
	return fe
}

func (w *worker) lastError() string {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.h.LastError == "" {
		return "delivery failing"
	}
	return w.h.LastError
}

func (w *worker) succeeded(n int, now time.Time) {
	w.lastFailed = false
	w.hmu.Lock()
	since := w.h.FailingSince
	w.h.Delivered += uint64(n)
	w.h.LastSuccess = now
	w.h.ConsecutiveFailures = 0
	w.h.FailingSince = time.Time{}
	w.h.NextAttempt = time.Time{}
	w.hmu.Unlock()
	if w.reported {
		w.reported = false
		w.o.log.Info("outbox: notifier recovered", "notifier", w.name, "failing_since", since)
		if f := w.o.opts.OnRecovered; f != nil {
			f(w.name, since)
		}
	}
}

func (w *worker) failed(err error, now time.Time) {
	w.lastFailed = true
	w.hmu.Lock()
	w.h.ConsecutiveFailures++
	w.h.LastError = err.Error()
	w.h.LastErrorTime = now
	if w.h.FailingSince.IsZero() {
		w.h.FailingSince = now
	}
	n := w.h.ConsecutiveFailures
	w.hmu.Unlock()
	w.o.log.Warn("outbox: delivery failed", "notifier", w.name, "consecutive_failures", n, "permanent", notify.IsPermanent(err), "err", err)
	w.checkFailing(now)
}

// checkFailing calls OnFailing once per episode when the notifier has been
// failing for FailingAfter.
func (w *worker) checkFailing(now time.Time) {
	w.hmu.Lock()
	since, last := w.h.FailingSince, w.h.LastError
	w.hmu.Unlock()
	if w.reported || since.IsZero() || now.Sub(since) < w.o.opts.FailingAfter {
		return
	}
	w.reported = true
	w.o.log.Error("outbox: notifier failing", "notifier", w.name, "since", since, "err", last)
	if f := w.o.opts.OnFailing; f != nil {
		f(w.name, since, errors.New(last))
	}
}

// failingDeadline is when checkFailing must next run (zero: never).
func (w *worker) failingDeadline() time.Time {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.reported || w.h.FailingSince.IsZero() {
		return time.Time{}
	}
	return w.h.FailingSince.Add(w.o.opts.FailingAfter)
}

// delay is the backoff before the next attempt after n consecutive
// failures, and at least what the receiver asked for (capped at Max).
func (w *worker) delay(n int, err error) time.Duration {
	b := w.o.opts.Backoff
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(n-1, 0)))
	d = min(d, float64(b.Max))
	d -= d * b.Jitter * rand.Float64()
	out := time.Duration(d)
	if ra, ok := notify.RetryAfterOf(err); ok {
		out = max(out, min(ra, b.Max))
	}
	return out
}

// backoff waits before the next attempt; false when the outbox closes.
func (w *worker) backoff(err error) bool {
	w.hmu.Lock()
	n := w.h.ConsecutiveFailures
	w.hmu.Unlock()
	d := w.delay(n, err)
	w.hmu.Lock()
	w.h.NextAttempt = w.o.opts.Now().Add(d)
	w.hmu.Unlock()
	return w.sleep(time.Now().Add(d), false)
}

// idle waits for new entries, the end of a throttle window with
// suppressed alerts, or the failing deadline; false when the outbox
// closes.
func (w *worker) idle(thr throttleState) bool {
	var until time.Time
	if w.t.Throttle.Max > 0 {
		if due := thr.nextDue(w.t.Throttle); !due.IsZero() {
			until = time.Now().Add(max(due.Sub(w.o.opts.Now()), 0))
		}
	}
	return w.sleep(until, true)
}

// sleep waits until the given time (zero: no limit), for a poke if
// wakeable, calling checkFailing at its deadline meanwhile.
func (w *worker) sleep(until time.Time, wakeable bool) bool {
	for {
		var timer, failTimer <-chan time.Time
		if !until.IsZero() {
			d := time.Until(until)
			if d <= 0 {
				return true
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timer = t.C
		}
		if fd := w.failingDeadline(); !fd.IsZero() {
			t := time.NewTimer(max(fd.Sub(w.o.opts.Now()), 0))
			defer t.Stop()
			failTimer = t.C
		}
		var wake chan struct{}
		if wakeable {
			wake = w.wake
		}
		select {
		case <-w.o.closing:
			return false
		case <-wake:
			return true
		case <-timer:
			return true
		case <-failTimer:
			w.checkFailing(w.o.opts.Now())
		}
	}
}

// storageError handles a failure to write the failed log or a cursor:
// the notifier is failing (health shows it) and retries after a backoff.
func (w *worker) storageError(err error) bool {
	err = fmt.Errorf("outbox: persist progress: %w", err)
	w.o.log.Error("outbox: cannot persist progress", "notifier", w.name, "err", err)
	w.failed(err, w.o.opts.Now())
	return w.backoff(err)
}
