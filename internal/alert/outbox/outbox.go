// Package outbox is the durable queue between detection and delivery: an
// alert enqueued is on disk before Enqueue returns, and every notifier
// delivers it independently from its own persisted cursor, retrying with
// exponential backoff while its receiver is down. A receiver that is down,
// or a crash, never loses an alert; a crash may deliver one twice
// (at-least-once: receivers drop duplicates by the alert's idempotency id,
// notify.AlertID).
//
// Per notifier, a Route selects the alerts it gets and a Throttle bounds
// how many of a kind it sends, summarizing the rest. Alerts a receiver
// refuses, or that stay undeliverable longer than MaxAge, are recorded in
// the failed log with their last error. Health reports every notifier's
// state, and OnFailing tells the integrator when one has been failing too
// long (PCI DSS 10.7.2). FORMAT.md documents the files.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// Errors of the outbox.
var (
	// ErrClosed is returned by Enqueue after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrPushback is returned by Enqueue when the outbox holds more than
	// MaxBytes: nothing of the call was stored; retry later (the detector
	// keeps its ledger cursor where it is).
	ErrPushback = errors.New("outbox: too much undelivered data, retry later")
	// ErrCorrupt reports damage to acknowledged data or an inconsistent
	// directory: Open refuses rather than lose or invent alerts.
	ErrCorrupt = errors.New("outbox: damaged")
)

// Target is one notifier and what it receives.
type Target struct {
	Notifier notify.Notifier
	Route    Route
	Throttle Throttle
}

// Backoff bounds the delays between delivery attempts of one notifier:
// the n-th consecutive failure waits Initial × Multiplier^(n-1), at most
// Max, of which a random fraction up to Jitter is taken off.
type Backoff struct {
	Initial    time.Duration // default 1s
	Max        time.Duration // default 5m
	Multiplier float64       // default 2
	Jitter     float64       // 0 < Jitter <= 1; default 0.5
}

func (b *Backoff) setDefaults() {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	if b.Jitter <= 0 || b.Jitter > 1 {
		b.Jitter = 0.5
	}
}

// Options configure an outbox. Zero values take the defaults.
type Options struct {
	// Targets are the notifiers; names must be unique. A notifier new to
	// the directory starts with the alerts enqueued after Open.
	Targets []Target
	// SegmentBytes rotates segment files at this size; default 8 MiB.
	SegmentBytes int64
	// MaxEntryBytes bounds one alert's JSON; Enqueue refuses a larger
	// one. Default 1 MiB.
	MaxEntryBytes int
	// MaxBytes bounds the segment files on disk; beyond, Enqueue returns
	// ErrPushback. Default 1 GiB.
	MaxBytes int64
	// MaxBatch is the most alerts per Send; default 100.
	MaxBatch int
	// Backoff bounds the delays between failed attempts.
	Backoff Backoff
	// AttemptTimeout bounds one Send; default 30s.
	AttemptTimeout time.Duration
	// MaxAge: an alert older than this (since enqueued) whose notifier's
	// last attempt failed is given up: recorded as failed ("expired")
	// instead of retried forever. Default 7 days.
	MaxAge time.Duration
	// FailingAfter is how long a notifier fails (no success since its
	// first failure) before OnFailing is called; default 5 minutes.
	FailingAfter time.Duration
	// OnFailing is called once per failing episode, from the notifier's
	// delivery goroutine, when it has been failing for FailingAfter: the
	// integrator raises a health alert (PCI DSS 10.7.2). It may call
	// Enqueue; it should not block long.
	OnFailing func(notifier string, since time.Time, err error)
	// OnRecovered is called when a notifier for which OnFailing was
	// called delivers again.
	OnRecovered func(notifier string, since time.Time)
	Logger      *slog.Logger
	// Now is the clock of throttle windows, ages and health; default
	// time.Now. Waiting uses real timers.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 8 << 20
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = 1 << 20
	}
	o.MaxEntryBytes = min(o.MaxEntryBytes, maxPayload)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	o.Backoff.setDefaults()
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.FailingAfter <= 0 {
		o.FailingAfter = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate checks the targets: names valid and unique, routes and
// throttles valid.
func (o *Options) Validate() error {
	seen := map[string]bool{}
	for i, t := range o.Targets {
		if t.Notifier == nil {
			return fmt.Errorf("outbox: target %d: no notifier", i)
		}
		name := t.Notifier.Name()
		if err := notify.ValidateName(name); err != nil {
			return fmt.Errorf("outbox: target %d: %w", i, err)
		}
		if seen[name] {
			return fmt.Errorf("outbox: two notifiers named %q", name)
		}
		seen[name] = true
		if err := t.Route.Validate(); err != nil {
			return fmt.Errorf("outbox: notifier %s: %w", name, err)
		}
		if err := t.Throttle.Validate(); err != nil {
			return fmt.Errorf("outbox: notifier %s: %w", name, err)
		}
	}
	return nil
}

// Recovery describes what Open found and repaired.
type Recovery struct {
	Created bool // a new outbox was initialized
	// TruncatedBytes of an unacknowledged torn tail were removed from the
	// last segment (and saved under damaged/).
	TruncatedBytes int64
	// FailedLogTruncated bytes of a torn tail were removed from
	// failed.log (and saved under damaged/).
	FailedLogTruncated int64
}

type enqReq struct {
	payloads [][]byte
	bytes    int
	done     chan error
}

// Outbox is an open outbox directory. It is safe for concurrent use.
type Outbox struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	queue   chan *enqReq
	sendMu  sync.RWMutex // held for reading while queueing; Close takes it to set closed
	closed  bool
	closing chan struct{}
	ctx     context.Context // cancelled by Close: aborts Sends in flight
	cancel  context.CancelFunc
	done    sync.WaitGroup // committer, workers, compactor

	// Owned by the committer (and Open before it starts).
	seg  *os.File
	wbuf []byte

	mu      sync.Mutex
	segs    []segInfo // by first id; the last one is being appended to
	next    uint64    // id the next entry gets: everything below is durable
	bytes   int64     // total segment bytes
	failure error     // an I/O error stopped the committer

	failed    *failedLog
	workers   []*worker
	compactCh chan struct{}

	// Recovery is what Open repaired.
	Recovery Recovery
}

// Open opens or creates the outbox in dir, recovering from a crash: a torn
// tail of the last segment (a group commit that was never acknowledged)
// is truncated; damage to acknowledged entries is ErrCorrupt. Every
// notifier resumes from its persisted cursor; delivery starts at once.
func Open(dir string, opts Options) (*Outbox, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{dirSegments, dirCursors} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("outbox: create directory: %w", err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(dir, fileLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: open lock file: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("outbox: %s is in use by another process (lock %s): %w", dir, fileLock, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{
		dir: dir, opts: opts, log: opts.Logger, lock: lf,
		queue:     make(chan *enqReq, 256),
		closing:   make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		compactCh: make(chan struct{}, 1),
	}
	if err := o.open(); err != nil {
		cancel()
		o.closeFiles()
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	o.done.Add(2 + len(o.workers))
	go o.commitLoop()
	go o.compactLoop()
	for _, w := range o.workers {
		go w.run()
	}
	o.compactCh <- struct{}{}
	return o, nil
}

func (o *Outbox) open() error {
	segDir := filepath.Join(o.dir, dirSegments)
	segs, err := listSegments(segDir)
	if err != nil {
		return err
	}
	// Cursors first: they prove which entries were acknowledged.
	cursors := map[string]cursorFile{}
	var maxNext uint64
	des, err := os.ReadDir(filepath.Join(o.dir, dirCursors))
	if err != nil {
		return fmt.Errorf("list cursors: %w", err)
	}
	for _, de := range des {
		name, ok := cutSuffix(de.Name(), ".json")
		if !ok {
			continue
		}
		c, ok, err := readCursor(filepath.Join(o.dir, dirCursors, de.Name()))
		if err != nil {
			return err
		}
		if ok {
			cursors[name] = c
			maxNext = max(maxNext, c.Next)
		}
	}
	if len(segs) == 0 {
		if maxNext > 1 {
			return fmt.Errorf("%w: cursors are at entry %d but there are no segments: segments were removed", ErrCorrupt, maxNext)
		}
		f, err := createSegment(segDir, 1)
		if err != nil {
			return err
		}
		o.seg, o.segs, o.next, o.bytes = f, []segInfo{{first: 1, size: segHeaderLen}}, 1, segHeaderLen
		o.Recovery.Created = true
	} else if err := o.recoverSegments(segDir, segs, maxNext); err != nil {
		return err
	}
	var cut int64
	if o.failed, cut, err = openFailedLog(o.dir); err != nil {
		return err
	}
	if cut > 0 {
		o.Recovery.FailedLogTruncated = cut
		o.log.Warn("outbox: truncated a torn tail of the failed log", "bytes", cut)
	}
	oldest := o.segs[0].first
	for _, t := range o.opts.Targets {
		name := t.Notifier.Name()
		c, ok := cursors[name]
		delete(cursors, name)
		switch {
		case !ok:
			c = cursorFile{Notifier: name, Next: o.next, Updated: o.opts.Now().UTC(), Throttle: throttleState{}}
			if err := writeCursor(cursorPath(o.dir, name), c); err != nil {
				return err
			}
			o.log.Info("outbox: new notifier starts at the end of the outbox", "notifier", name, "next", o.next)
		case c.Next > o.next:
			return fmt.Errorf("%w: cursor of %s is at entry %d but the outbox ends at %d: entries were removed", ErrCorrupt, name, c.Next, o.next)
		case c.Next < oldest:
			o.log.Error("outbox: entries of a notifier were compacted while it was not configured; they are skipped",
				"notifier", name, "cursor", c.Next, "oldest", oldest)
			c.Next = oldest
		}
		match, _ := t.Route.Matcher()
		w := &worker{o: o, t: t, name: name, match: match, next: c.Next, thr: c.Throttle,
			wake: make(chan struct{}, 1), rd: reader{dir: segDir, id: c.Next}}
		w.persisted.Store(c.Next)
		w.h.Notifier = name
		o.workers = append(o.workers, w)
	}
	for name, c := range cursors {
		o.log.Info("outbox: cursor of a notifier no longer configured is ignored", "notifier", name, "next", c.Next)
	}
	return nil
}

// recoverSegments checks every segment and repairs a torn tail of the
// last one. maxNext is the highest persisted cursor: entries below it were
// certainly acknowledged.
func (o *Outbox) recoverSegments(segDir string, segs []segInfo, maxNext uint64) error {
	for i, s := range segs {
		path := filepath.Join(segDir, segName(s.first))
		last := i == len(segs)-1
		if last && s.size < segHeaderLen {
			// Created by a crash before its header was durable: it holds
			// nothing; write the header again.
			f, err := createSegment(segDir, s.first)
			if err != nil {
				return err
			}
			f.Close()
			segs[i].size = segHeaderLen
			s = segs[i]
		}
		r, err := scanSegment(path, s.first)
		if err != nil {
			return err
		}
		if !last {
			if r.damage != nil {
				return fmt.Errorf("%w: segment %s: %w; restore the directory from backup or move it aside", ErrCorrupt, path, r.damage)
			}
			if r.next != segs[i+1].first {
				return fmt.Errorf("%w: segment %s: entries end at %d but the next segment starts at %d; restore the directory from backup or move it aside",
					ErrCorrupt, path, r.next, segs[i+1].first)
			}
			continue
		}
		if r.damage != nil {
			switch {
			case r.good == 0:
				return fmt.Errorf("%w: segment %s: %w", ErrCorrupt, path, r.damage)
			case r.laterOK || maxNext > r.next:
				return fmt.Errorf("%w: segment %s: %w: acknowledged entries are damaged (delivered up to %d, a later commit follows: %v); move the directory aside and restore it from backup",
					ErrCorrupt, path, r.damage, maxNext, r.laterOK)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read segment: %w", err)
			}
			if err := saveDamaged(o.dir, segName(s.first), r.good, b[r.good:]); err != nil {
				return err
			}
			if err := os.Truncate(path, r.good); err != nil {
				return fmt.Errorf("truncate torn tail: %w", err)
			}
			o.Recovery.TruncatedBytes = s.size - r.good
			o.log.Warn("outbox: truncated the torn tail of an unacknowledged write", "segment", path, "offset", r.good, "bytes", s.size-r.good, "reason", r.damage)
			segs[i].size = r.good
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open segment: %w", err)
		}
		if _, err := f.Seek(r.good, 0); err == nil && r.damage != nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("open segment: %w", err)
		}
		o.seg, o.next = f, r.next
	}
	o.segs = segs
	for _, s := range segs {
		o.bytes += s.size
	}
	return nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// Enqueue stores alerts durably and returns nil once they are fsynced;
// their delivery is asynchronous. An error means the alerts were not
// acknowledged: ErrPushback (too much undelivered data; nothing stored),
// ErrClosed, an alert larger than MaxEntryBytes, or the I/O error that
// stopped the outbox (after which the alerts may or may not be found at
// the next Open). Retry what was not acknowledged; a receiver may then see
// an alert twice.
func (o *Outbox) Enqueue(alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	req := &enqReq{payloads: make([][]byte, len(alerts)), done: make(chan error, 1)}
	for i, a := range alerts {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("outbox: encode alert %d (%s): %w", i, a.Rule, err)
		}
		if len(b) > o.opts.MaxEntryBytes {
			return fmt.Errorf("outbox: alert %d (%s) encodes to %d bytes, more than MaxEntryBytes %d", i, a.Rule, len(b), o.opts.MaxEntryBytes)
		}
		req.payloads[i] = b
		req.bytes += entryHeaderLen + len(b)
	}
	o.mu.Lock()
	failure, full := o.failure, o.bytes+int64(req.bytes) > o.opts.MaxBytes
	o.mu.Unlock()
	if failure != nil {
		return failure
	}
	if full {
		return ErrPushback
	}
	o.sendMu.RLock()
	if o.closed {
		o.sendMu.RUnlock()
		return ErrClosed
	}
	o.queue <- req
	o.sendMu.RUnlock()
	return <-req.done
}

// commitLoop is the only writer of segments: it takes every queued
// request, writes them with one write and one fsync (group commit), then
// acknowledges them and wakes the workers.
func (o *Outbox) commitLoop() {
	defer o.done.Done()
	var batch []*enqReq
	for {
		var r *enqReq
		select {
		case r = <-o.queue:
		case <-o.closing:
			// Close set closed before closing this channel: nothing
			// more can be queued.
			for {
				select {
				case r := <-o.queue:
					o.commit([]*enqReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], r)
		size := r.bytes
	drain:
		for size < 4<<20 {
			select {
			case r := <-o.queue:
				batch = append(batch, r)
				size += r.bytes
			default:
				break drain
			}
		}
		o.commit(batch)
	}
}

func (o *Outbox) commit(batch []*enqReq) {
	o.mu.Lock()
	err, first, active := o.failure, o.next, o.segs[len(o.segs)-1]
	o.mu.Unlock()
	if err == nil && active.size >= o.opts.SegmentBytes {
		err = o.rotate(first)
	}
	id := first
	if err == nil {
		now := o.opts.Now().UnixNano()
		o.wbuf = o.wbuf[:0]
		for _, r := range batch {
			for _, p := range r.payloads {
				o.wbuf = appendEntry(o.wbuf, id, first, now, p)
				id++
			}
		}
		if _, err = o.seg.Write(o.wbuf); err == nil {
			err = o.seg.Sync()
		}
		if err != nil {
			err = fmt.Errorf("outbox: write segment: %w; the outbox stopped, reopen it", err)
			o.log.Error("outbox: write failed", "err", err)
		}
	}
	o.mu.Lock()
	if err != nil {
		if o.failure == nil {
			o.failure = err
		}
		err = o.failure
	} else {
		o.next = id
		o.segs[len(o.segs)-1].size += int64(len(o.wbuf))
		o.bytes += int64(len(o.wbuf))
	}
	o.mu.Unlock()
	for _, r := range batch {
		r.done <- err
	}
	if err == nil {
		for _, w := range o.workers {
			w.poke()
		}
	}
}

// rotate starts a new segment whose first entry is first.
func (o *Outbox) rotate(first uint64) error {
	f, err := createSegment(filepath.Join(o.dir, dirSegments), first)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.seg.Close()
	o.seg = f
	o.mu.Lock()
	o.segs = append(o.segs, segInfo{first: first, size: segHeaderLen})
	o.bytes += segHeaderLen
	o.mu.Unlock()
	return nil
}

// snapshot returns the committed end and the segments.
func (o *Outbox) snapshot() ([]segInfo, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.segs), o.next
}

// compactLoop removes segments every notifier has finished with.
func (o *Outbox) compactLoop() {
	defer o.done.Done()
	for {
		select {
		case <-o.closing:
			return
		case <-o.compactCh:
			if err := o.compact(); err != nil {
				o.log.Error("outbox: compaction failed", "err", err)
			}
		}
	}
}

// compact deletes the segments all of whose entries are below every
// notifier's persisted cursor. The segment being appended to stays.
func (o *Outbox) compact() error {
	o.mu.Lock()
	low := o.next
	o.mu.Unlock()
	for _, w := range o.workers {
		low = min(low, w.persisted.Load())
	}
	o.mu.Lock()
	var drop []segInfo
	for len(o.segs) > 1 && o.segs[1].first <= low {
		drop = append(drop, o.segs[0])
		o.bytes -= o.segs[0].size
		o.segs = o.segs[1:]
	}
	o.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	segDir := filepath.Join(o.dir, dirSegments)
	for _, s := range drop {
		if err := os.Remove(filepath.Join(segDir, segName(s.first))); err != nil {
			return fmt.Errorf("remove delivered segment: %w", err)
		}
		o.log.Debug("outbox: removed a delivered segment", "segment", segName(s.first))
	}
	return fsutil.SyncDir(segDir)
}

func (o *Outbox) requestCompaction() {
	select {
	case o.compactCh <- struct{}{}:
	default:
	}
}

// Close stops delivery (Sends in flight are cancelled; their alerts are
// delivered again after the next Open), commits what was queued and
// closes the files. Undelivered alerts stay on disk.
func (o *Outbox) Close() error {
	o.sendMu.Lock()
	if o.closed {
		o.sendMu.Unlock()
		return nil
	}
	o.closed = true
	o.sendMu.Unlock()
	o.cancel()
	close(o.closing)
	o.done.Wait()
	return o.closeFiles()
}

func (o *Outbox) closeFiles() error {
	var errs []error
	for _, w := range o.workers {
		w.rd.close()
	}
	if o.seg != nil {
		errs = append(errs, o.seg.Close())
	}
	if o.failed != nil {
		errs = append(errs, o.failed.close())
	}
	if o.lock != nil {
		errs = append(errs, o.lock.Close())
	}
	return errors.Join(errs...)
}

// Health is the state of one notifier.
type Health struct {
	Notifier string `json:"notifier"`
	// Backlog is the number of entries the notifier has not finished
	// with (delivered, filtered out, suppressed or recorded as failed).
	Backlog uint64 `json:"backlog"`
	// Since Open: alerts accepted by the receiver (throttling summaries
	// included), entries recorded as failed, alerts suppressed by
	// throttling.
	Delivered  uint64 `json:"delivered"`
	Failed     uint64 `json:"failed"`
	Suppressed uint64 `json:"suppressed"`
	// PendingSuppressed alerts wait in summaries not yet sent.
	PendingSuppressed int       `json:"pending_suppressed"`
	LastSuccess       time.Time `json:"last_success"`
	LastError         string    `json:"last_error,omitempty"`
	LastErrorTime     time.Time `json:"last_error_time"`
	// ConsecutiveFailures counts attempts failed since the last success;
	// FailingSince is the first of them (zero when healthy).
	ConsecutiveFailures int       `json:"consecutive_failures"`
	FailingSince        time.Time `json:"failing_since"`
	// NextAttempt is when a backed-off notifier tries again.
	NextAttempt time.Time `json:"next_attempt"`
}

// Health reports every notifier, in configuration order.
func (o *Outbox) Health() []Health {
	_, end := o.snapshot()
	out := make([]Health, len(o.workers))
	for i, w := range o.workers {
		w.hmu.Lock()
		out[i] = w.h
		w.hmu.Unlock()
		out[i].Backlog = end - min(end, w.persisted.Load())
	}
	return out
}

// Failed returns every entry recorded as failed, oldest first.
func (o *Outbox) Failed() ([]FailedEntry, error) { return o.failed.all() }

// Drain waits until every notifier has finished with every entry
// enqueued before the call (delivered, filtered, suppressed or failed), or
// until ctx is done.
func (o *Outbox) Drain(ctx context.Context) error {
	_, end := o.snapshot()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, w := range o.workers {
			if w.persisted.Load() < end {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("outbox: drain: %w", ctx.Err())
		case <-o.closing:
			return ErrClosed
		case <-t.C:
		}
	}
}
