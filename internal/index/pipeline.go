package index

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Run tails src into the index until ctx is done or Close is called, then
// returns nil. It reads from the cursor persisted in the database and
// commits each batch of rows in the same transaction as the cursor that
// covers them, so that after a crash it resumes with neither duplicates
// nor gaps. Up to Options.Workers batches are read and appended at once,
// each in a transaction on its own connection, and committed in order.
// Records of tables without a mapping are skipped and counted. A batch
// that fails (the source or the database) is rolled back with the batches
// after it and retried with backoff; Stats().Err reports the error
// meanwhile.
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

// pipeline hands batches to workers in order of seq and lets them commit
// in that order, so that what is committed is always a prefix of the
// source: the largest cursor in the state rows is the index's cursor.
type pipeline struct {
	x       *Index
	src     Source
	jobs    chan *job
	wg      sync.WaitGroup
	writers []*writer

	inflight []*job // oldest first
	assigned uint64 // the first seq not given to a worker
	started  time.Time

	rows atomic.Uint64 // committed since the last checkpoint
}

func (x *Index) newPipeline(ctx context.Context, src Source) (*pipeline, error) {
	if err := x.ensureWorkers(context.WithoutCancel(ctx), x.opts.Workers); err != nil {
		return nil, err
	}
	p := &pipeline{x: x, src: src, jobs: make(chan *job), assigned: x.cursor.Load()}
	for i := range x.opts.Workers {
		w, err := x.newWriter(ctx, i)
		if err != nil {
			p.stop()
			return nil, err
		}
		p.writers = append(p.writers, w)
	}
	for _, w := range p.writers {
		p.wg.Go(func() { p.work(ctx, w) })
	}
	return p, nil
}

// stop ends the workers, which must be idle.
func (p *pipeline) stop() {
	close(p.jobs)
	p.wg.Wait()
	for _, w := range p.writers {
		w.close()
	}
}

// work runs jobs on w until the pipeline stops.
func (p *pipeline) work(ctx context.Context, w *writer) {
	for j := range p.jobs {
		err := w.prepare(ctx, p.src, j.from, j.to)
		if j.prev != nil {
			<-j.prev.done
			if err == nil && j.prev.err != nil {
				err = errAborted
			}
		}
		if err == nil {
			err = w.commit(ctx)
		}
		if err != nil {
			w.rollback(ctx)
		} else {
			p.x.publish(&w.result)
			p.rows.Add(w.result.rows)
		}
		j.err = err
		close(j.done)
	}
}

// run hands out batches until ctx is done or, with catchUp, until the
// index has caught up with the source. Without catchUp, a failed batch is
// retried with backoff and run returns nil when ctx is done; with catchUp
// run returns the first error, or ctx's.
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
				return p.stopped(ctx, catchUp)
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
			return p.stopped(ctx, catchUp)
		}
		due := p.checkpointDue()
		if due && len(p.inflight) == 0 {
			p.checkpoint(ctx)
			continue
		}

		size, cur := p.src.Size(), x.cursor.Load()
		if catchUp && cur >= size && len(p.inflight) == 0 {
			return nil
		}
		var delay <-chan time.Time
		if p.assigned < size && len(p.inflight) < len(p.writers) && !due {
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
		select {
		case <-ctx.Done():
		case <-head:
		case <-delay:
		case <-x.notify:
		case <-tick.C:
		}
	}
}

func (p *pipeline) stopped(ctx context.Context, catchUp bool) error {
	if catchUp {
		return ctx.Err()
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
// and restarts from the cursor the database holds.
func (p *pipeline) drain() {
	for _, j := range p.inflight {
		<-j.done
	}
	p.inflight = p.inflight[:0]
	if err := p.x.loadState(context.Background()); err != nil {
		p.x.log.Error("index: reload cursor", "err", err)
	}
	p.assigned = p.x.cursor.Load()
}

// checkpointDue reports whether CheckpointRows rows were committed since
// the last checkpoint (see Options).
func (p *pipeline) checkpointDue() bool {
	n := p.x.opts.CheckpointRows
	return !p.x.inMemory && n > 0 && p.rows.Load() >= uint64(n)
}

// checkpoint asks DuckDB to move the WAL into the database file. DuckDB
// refuses while another transaction has written, so the pipeline calls it
// with no batch in flight; batches wait meanwhile.
func (p *pipeline) checkpoint(ctx context.Context) {
	p.rows.Store(0)
	// Not fatal: DuckDB checkpoints at CheckpointThreshold anyway.
	if _, err := p.x.db.ExecContext(context.WithoutCancel(ctx), "CHECKPOINT"); err != nil {
		p.x.log.Warn("index: checkpoint failed", "err", err)
	}
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
