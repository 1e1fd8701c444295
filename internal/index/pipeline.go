package index

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Run tails src into the index until ctx is done or Close is called, then
// returns nil. It reads from the cursor persisted in the database. Up to
// Options.Workers batches are read and mapped at once and committed, in
// order, into the in-memory stage, where queries see them; flushes write
// staged rows to the database file in the same transaction as the cursor
// that covers them, so that after a crash Run resumes from that cursor
// with neither duplicates nor gaps. Records of tables without a mapping
// are skipped and counted. A batch that fails (the source) is discarded
// with the batches after it and retried with backoff, a flush that fails
// is retried; Stats().Err reports the error meanwhile.
//
// Only one Run or Rebuild may be active at a time; ErrRunning otherwise.
func (x *Index) Run(ctx context.Context, src Source) error {
	ctx, done, err := x.start(ctx, src)
	if err != nil {
		return err
	}
	defer done()
	p, err := x.newPipeline(ctx, src)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer p.stop()
	p.run(ctx, false)
	return nil
}

// Rebuild empties the index and indexes src from its first record until
// it has caught up with src.Size(), for `cdewatch reindex`. An interrupted
// Rebuild leaves a consistent, partial index that Run completes.
func (x *Index) Rebuild(ctx context.Context, src Source) error {
	ctx, done, err := x.start(ctx, src)
	if err != nil {
		return err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := x.reset(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	p, err := x.newPipeline(ctx, src)
	if err != nil {
		return err
	}
	defer p.stop()
	return p.run(ctx, true)
}

// job is one batch: the records from <= seq < to.
type job struct {
	from, to uint64
	prev     *job          // the batch before, which must commit first
	done     chan struct{} // closed once the batch committed or failed
	err      error         // why it failed; set before done is closed
}

// flushGrace is how long flushed rows stay in the stage: a query binds
// the file's tables and the stage's within this time, so it never sees
// the rows in neither (see stage.go).
const flushGrace = time.Second

// stageFullWarnEvery is how often a full stage is logged at most.
const stageFullWarnEvery = 10 * time.Minute

// flushed is a flush that succeeded: the stage drops what it covered
// flushGrace after it.
type flushed struct {
	to uint64
	at time.Time
}

// pipeline hands batches to workers in order of seq and lets them commit
// (add their rows to the stage) in that order, so that what is committed
// is always a prefix of the source. It also flushes the stage to the
// database file, one flush at a time, once FlushRows rows are staged or
// the oldest staged batch is FlushInterval old (and the last flush ended
// FlushInterval ago: rows a flush left for whole row groups wait for more).
type pipeline struct {
	x       *Index
	src     Source
	jobs    chan *job
	wg      sync.WaitGroup
	workers int

	inflight []*job // oldest first
	assigned uint64 // the first seq not given to a worker
	started  time.Time

	flushing   bool
	flushDone  chan struct{} // closed when the flush in progress ended
	flushErr   error         // its error; set before flushDone is closed
	flushTo    uint64        // what it covers
	retryAt    time.Time     // when a failed flush may run again
	flushEnd   time.Time     // when the last flush that succeeded ended
	full       bool          // the stage held StageMemory at the last look
	fullWarned time.Time     // when that was last logged
	drops      []flushed     // oldest first
}

func (x *Index) newPipeline(ctx context.Context, src Source) (*pipeline, error) {
	// What a previous Run left in the stage unflushed is indexed again,
	// from the file's cursor.
	if err := x.loadState(ctx); err != nil {
		return nil, err
	}
	p := &pipeline{x: x, src: src, jobs: make(chan *job), assigned: x.cursor.Load(), workers: x.opts.Workers}
	for range p.workers {
		mp := &mapper{x: x}
		p.wg.Go(func() {
			p.x.background()
			p.work(ctx, mp)
		})
	}
	return p, nil
}

// stop ends the workers, which must be idle.
func (p *pipeline) stop() {
	close(p.jobs)
	p.wg.Wait()
}

// work runs jobs with mp until the pipeline stops.
func (p *pipeline) work(ctx context.Context, mp *mapper) {
	var res batchResult
	for j := range p.jobs {
		chunks, err := mp.stageRange(ctx, p.src, j.from, j.to, &res)
		if j.prev != nil {
			<-j.prev.done
			if err == nil && j.prev.err != nil {
				err = errAborted
			}
		}
		if err == nil {
			p.x.stage.add(stagedBatch{from: j.from, to: res.next, chunks: chunks, marks: res.marks, added: time.Now()})
			p.x.publish(&res)
		}
		j.err = err
		close(j.done)
	}
}

// run hands out batches until ctx is done or, with catchUp, until the
// index has caught up with the source; either way it flushes the stage
// before it returns. Without catchUp, a failed batch is retried with
// backoff and run returns nil when ctx is done; with catchUp run returns
// the first error, or ctx's.
func (p *pipeline) run(ctx context.Context, catchUp bool) error {
	x := p.x
	tick := time.NewTicker(x.opts.PollInterval)
	defer tick.Stop()
	retry := x.opts.RetryInterval
	ahead := false
	for {
		// Retire finished batches, oldest first.
		for len(p.inflight) > 0 && isClosed(p.inflight[0].done) {
			j := p.inflight[0]
			p.inflight = p.inflight[1:]
			if j.err == nil {
				retry = x.opts.RetryInterval
				continue
			}
			err := j.err
			p.drain()
			if ctx.Err() != nil {
				return p.finish(ctx, catchUp)
			}
			x.setErr(err)
			if catchUp {
				return err
			}
			x.log.Error("index: batch failed; retrying", "from", j.from, "retry_in", retry, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			retry = min(2*retry, x.opts.MaxRetryInterval)
		}
		if ctx.Err() != nil {
			p.drain()
			return p.finish(ctx, catchUp)
		}
		staged, err := p.cycle(ctx, catchUp)
		if err != nil {
			p.drain()
			return err
		}

		size, cur := p.src.Size(), x.cursor.Load()
		if catchUp && cur >= size && len(p.inflight) == 0 {
			return p.finish(ctx, catchUp)
		}
		full := staged >= x.opts.StageMemory
		if full && !p.full && !catchUp && time.Since(p.fullWarned) >= stageFullWarnEvery {
			p.fullWarned = time.Now()
			x.log.Warn("index: the stage is full (index.stage_memory): new records wait for DuckDB's writes and become queryable later; "+
				"the load is above what this CPU indexes (docs/DEPLOY.md, Sizing)", "stage_bytes", staged, "limit", x.opts.StageMemory)
		}
		p.full = full
		var delay <-chan time.Time
		if p.assigned < size && len(p.inflight) < p.workers && !full {
			wait := x.opts.BatchDelay - time.Since(p.started)
			if catchUp || wait <= 0 || size-p.assigned >= uint64(x.opts.MaxBatch) {
				p.assign(min(size, p.assigned+uint64(x.opts.MaxBatch)))
				continue
			}
			delay = time.After(wait)
		}
		if cur > size && !ahead {
			ahead = true
			err := fmt.Errorf("index covers %d records but the source has only %d: the index belongs to another ledger; rebuild it", cur, size)
			x.setErr(err)
			x.log.Error("index: " + err.Error())
		}
		var head <-chan struct{}
		if len(p.inflight) > 0 {
			head = p.inflight[0].done
		}
		var flushDone <-chan struct{}
		if p.flushing {
			flushDone = p.flushDone
		}
		var dropAt <-chan time.Time
		if len(p.drops) > 0 {
			dropAt = time.After(flushGrace - time.Since(p.drops[0].at))
		}
		select {
		case <-ctx.Done():
		case <-head:
		case <-delay:
		case <-x.notify:
		case <-tick.C:
		case <-flushDone: // cycle takes it from here
		case <-dropAt:
		}
	}
}

// cycle moves the stage along: it accounts for a flush that ended, drops
// the rows flushed flushGrace ago and starts a flush when one is due. It
// returns the memory the stage holds; with catchUp, a flush that failed
// is returned.
func (p *pipeline) cycle(ctx context.Context, catchUp bool) (int64, error) {
	x := p.x
	if p.flushing && isClosed(p.flushDone) {
		if p.flushErr != nil && catchUp {
			return 0, p.flushErr
		}
		p.flushEnded()
	}
	for len(p.drops) > 0 && time.Since(p.drops[0].at) >= flushGrace {
		x.stage.drop(p.drops[0].to)
		p.drops = p.drops[1:]
	}
	rows, oldest := x.stage.pending()
	size := int64(x.stage.size())
	if p.flushing || time.Now().Before(p.retryAt) || oldest.IsZero() {
		return size, nil
	}
	if p.flushDue(rows, oldest, time.Now()) {
		f, err := x.planFlush(ctx)
		if err != nil {
			p.flushFailed(err)
			return size, nil
		}
		done := make(chan struct{})
		p.flushing, p.flushDone, p.flushErr, p.flushTo = true, done, nil, f.to
		go func() {
			defer close(done)
			x.background()
			start := time.Now()
			err := x.flush(ctx, f)
			if err == nil {
				x.log.Debug("index: stage flushed to the database file", "rows", f.rows, "cursor", f.to, "took", time.Since(start), "staged_bytes", size)
			}
			p.flushErr = err
		}()
	}
	return size, nil
}

// flushDue says whether to flush rows staged since oldest at now: once
// FlushRows are staged, or the oldest is FlushInterval old — unless the
// last flush ended less than FlushInterval ago, having left rows short of
// a whole row group to wait for more.
func (p *pipeline) flushDue(rows int, oldest, now time.Time) bool {
	iv := p.x.opts.FlushInterval
	return rows >= p.x.opts.FlushRows || now.Sub(oldest) >= iv && now.Sub(p.flushEnd) >= iv
}

// flushEnded records how the flush in progress, which ended, went.
func (p *pipeline) flushEnded() {
	err := p.flushErr
	p.flushing = false
	if err != nil {
		p.flushFailed(err)
		return
	}
	p.x.setFlushErr(nil)
	p.flushEnd = time.Now()
	p.drops = append(p.drops, flushed{to: p.flushTo, at: p.flushEnd})
}

// flushFailed reports a failed flush, to be retried after RetryInterval.
func (p *pipeline) flushFailed(err error) {
	p.x.setFlushErr(err)
	p.retryAt = time.Now().Add(p.x.opts.RetryInterval)
	p.x.log.Error("index: flushing the stage to the database file failed; retrying", "retry_in", p.x.opts.RetryInterval, "err", err)
}

// finish flushes what the stage holds after the last batch: the database
// file then covers everything indexed, and the next Run starts where this
// one ended. With catchUp it returns what stopped the run (ctx's error,
// or a failed flush), else nil.
func (p *pipeline) finish(ctx context.Context, catchUp bool) error {
	x := p.x
	if p.flushing {
		<-p.flushDone
		p.flushEnded()
	}
	var err error
	if f := x.stage.plan(x.stage.end()); f.to > f.from {
		if err = x.flush(ctx, f); err != nil {
			x.log.Error("index: flushing the stage at stop failed; its records are indexed again at the next start", "err", err)
		}
		x.setFlushErr(err)
	}
	if catchUp {
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	return nil
}

// assign gives the records from p.assigned to to the next free worker.
func (p *pipeline) assign(to uint64) {
	j := &job{from: p.assigned, to: to, done: make(chan struct{})}
	if n := len(p.inflight); n > 0 {
		j.prev = p.inflight[n-1]
	}
	p.inflight = append(p.inflight, j)
	p.assigned = to
	p.started = time.Now()
	p.jobs <- j
}

// drain waits for every batch in flight, which fail after a failed one,
// and restarts after the last batch that committed.
func (p *pipeline) drain() {
	for _, j := range p.inflight {
		<-j.done
	}
	p.inflight = p.inflight[:0]
	p.assigned = p.x.cursor.Load()
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// publish makes a committed batch's cursor and counters visible.
func (x *Index) publish(res *batchResult) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stats.Indexed += res.rows
	x.stats.Skipped += res.skipped
	x.stats.Invalid += res.invalid
	x.stats.Missing += res.missing
	for t, n := range res.unknown {
		x.stats.SkippedTables[t] += n
	}
	x.stats.LastCommit = time.Now()
	x.stats.Err = nil
	x.cursor.Store(res.next)
	x.broadcastLocked()
}
