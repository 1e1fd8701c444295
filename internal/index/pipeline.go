package index

import (
	"context"
	"fmt"
	"sync"
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

// job is one batch: the records from <= seq < to, staged in generation
// gen.
type job struct {
	from, to uint64
	gen      int
	prev     *job          // the batch before, which must commit first
	done     chan struct{} // closed once the batch committed or failed
	err      error         // why it failed; set before done is closed
	rows     uint64        // rows committed; set before done is closed
}

// genState is where a stage generation is in its cycle.
type genState int

const (
	genEmpty    genState = iota // may become the generation batches go to
	genFilling                  // batches go to it
	genSealed                   // no new batches; flushed once its batches committed
	genFlushing                 // being flushed
	genFlushed                  // flushed; emptied flushGrace later
)

// flushGrace is how long a flushed generation stays before it is emptied:
// a query binds the file's tables and the stage's within this time, so it
// never sees the rows in neither (see stage.go).
const flushGrace = time.Second

// generation is the pipeline's account of one stage generation.
type generation struct {
	state     genState
	rows      uint64 // rows committed into it
	used      bool   // a batch committed into it
	last      *job   // the last batch given to it
	flushed   time.Time
	flushDone chan struct{} // closed when the flush in progress ended
	flushErr  error         // its error; set before flushDone is closed
	retryAt   time.Time     // when a failed flush may run again
}

// live reports whether the generation holds rows the file does not.
func (g *generation) live() bool {
	return g.state == genFilling || g.state == genSealed || g.state == genFlushing
}

// pipeline hands batches to workers in order of seq and lets them commit
// in that order, so that what is committed is always a prefix of the
// source: the largest cursor in the state rows is the index's cursor. It
// also runs the stage's cycle: batches go to one generation until it
// holds FlushRows rows, then to the other while the first is flushed to
// the database file.
type pipeline struct {
	x       *Index
	src     Source
	jobs    chan *job
	wg      sync.WaitGroup
	writers []*writer

	inflight []*job // oldest first
	assigned uint64 // the first seq not given to a worker
	started  time.Time

	gens [2]generation
	cur  int // the generation batches go to
}

func (x *Index) newPipeline(ctx context.Context, src Source) (*pipeline, error) {
	// Empty the stage: what a previous Run left there unflushed is
	// indexed again, from the file's cursor.
	if err := x.ensureStage(ctx); err != nil {
		return nil, err
	}
	if err := x.loadState(ctx, nil); err != nil {
		return nil, err
	}
	p := &pipeline{x: x, src: src, jobs: make(chan *job), assigned: x.cursor.Load()}
	p.gens[0].state = genFilling
	for i := range x.opts.Workers {
		w, err := x.newWriter(ctx, i)
		if err != nil {
			p.stop()
			return nil, err
		}
		p.writers = append(p.writers, w)
	}
	for _, w := range p.writers {
		p.wg.Go(func() {
			p.x.background()
			p.work(ctx, w)
		})
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
		err := w.prepare(ctx, p.src, j.from, j.to, genSchema(j.gen))
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
			j.rows = w.result.rows
			p.x.publish(&w.result)
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
			if p.retire(j) {
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
		if err := p.cycle(ctx, catchUp); err != nil {
			return err
		}

		size, cur := p.src.Size(), x.cursor.Load()
		if catchUp && cur >= size && len(p.inflight) == 0 {
			return p.finish(ctx, catchUp)
		}
		full := p.gens[p.cur].rows >= 2*uint64(x.opts.FlushRows)
		var delay <-chan time.Time
		if p.assigned < size && len(p.inflight) < len(p.writers) && !full {
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
		var flushed <-chan struct{}
		for i := range p.gens {
			if p.gens[i].state == genFlushing {
				flushed = p.gens[i].flushDone
			}
		}
		select {
		case <-ctx.Done():
		case <-head:
		case <-delay:
		case <-x.notify:
		case <-tick.C:
		case <-flushed: // cycle takes it from here
		}
	}
}

// cycle moves the stage generations along: it seals the generation
// batches go to once it holds FlushRows rows (if the other one is empty),
// flushes a sealed generation once its batches committed, and empties a
// flushed one after flushGrace. With catchUp, a flush that fails is
// returned.
func (p *pipeline) cycle(ctx context.Context, catchUp bool) error {
	x := p.x
	for i := range p.gens {
		g := &p.gens[i]
		switch g.state {
		case genFlushing:
			if isClosed(g.flushDone) {
				if g.flushErr != nil && catchUp {
					return g.flushErr
				}
				p.flushEnded(g)
			}
		case genFlushed:
			if time.Since(g.flushed) >= flushGrace {
				if err := x.dropGen(ctx, i); err != nil {
					x.log.Error("index: emptying a flushed stage generation failed; retrying", "err", err)
					g.flushed = time.Now()
					continue
				}
				*g = generation{}
			}
		case genSealed:
			if (g.last == nil || isClosed(g.last.done)) && !time.Now().Before(g.retryAt) {
				g.state, g.flushDone, g.flushErr = genFlushing, make(chan struct{}), nil
				go func() {
					defer close(g.flushDone)
					x.background()
					start := time.Now()
					next, err := x.flushGen(ctx, i)
					if err == nil {
						x.log.Debug("index: stage flushed to the database file", "rows", g.rows, "cursor", next, "took", time.Since(start))
					}
					g.flushErr = err
				}()
			}
		}
	}
	c, o := &p.gens[p.cur], &p.gens[1-p.cur]
	if c.rows >= uint64(x.opts.FlushRows) && o.state == genEmpty {
		c.state = genSealed
		o.state = genFilling
		p.cur = 1 - p.cur
	}
	return nil
}

// flushEnded records how the flush of g, which ended, went.
func (p *pipeline) flushEnded(g *generation) {
	err := g.flushErr
	p.x.mu.Lock()
	p.x.flushErr = err
	p.x.mu.Unlock()
	if err != nil {
		g.state = genSealed
		g.retryAt = time.Now().Add(p.x.opts.RetryInterval)
		p.x.log.Error("index: flushing the stage to the database file failed; retrying", "retry_in", p.x.opts.RetryInterval, "err", err)
		return
	}
	g.state = genFlushed
	g.flushed = time.Now()
}

// finish flushes what the stage holds, oldest generation first, after the
// last batch: the database file then covers everything indexed, and the
// next Run starts where this one ended. With catchUp it returns what
// stopped the run (ctx's error, or a failed flush), else nil.
func (p *pipeline) finish(ctx context.Context, catchUp bool) error {
	x := p.x
	var err error
	for _, i := range []int{1 - p.cur, p.cur} {
		g := &p.gens[i]
		if g.state == genFlushing {
			<-g.flushDone
			p.flushEnded(g)
		}
		if err != nil || !g.live() || !g.used {
			continue
		}
		if _, err = x.flushGen(ctx, i); err != nil {
			x.log.Error("index: flushing the stage at stop failed; its records are indexed again at the next start", "err", err)
			continue
		}
		g.state, g.flushed = genFlushed, time.Now()
	}
	if catchUp {
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	return nil
}

// retire accounts for a finished batch in its generation and reports
// whether it committed.
func (p *pipeline) retire(j *job) bool {
	if j.err != nil {
		return false
	}
	g := &p.gens[j.gen]
	g.rows += j.rows
	g.used = true
	return true
}

// assign gives the records from p.assigned to to the next free worker.
func (p *pipeline) assign(to uint64) {
	j := &job{from: p.assigned, to: to, gen: p.cur, done: make(chan struct{})}
	if n := len(p.inflight); n > 0 {
		j.prev = p.inflight[n-1]
	}
	p.inflight = append(p.inflight, j)
	p.gens[p.cur].last = j
	p.assigned = to
	p.started = time.Now()
	p.jobs <- j
}

// drain waits for every batch in flight, which fail after a failed one,
// and for a flush in progress, and restarts from the cursor the database
// holds.
func (p *pipeline) drain() {
	for _, j := range p.inflight {
		<-j.done
		p.retire(j)
	}
	p.inflight = p.inflight[:0]
	var live []int
	for i := range p.gens {
		g := &p.gens[i]
		if g.state == genFlushing {
			<-g.flushDone
			p.flushEnded(g)
		}
		if g.live() {
			live = append(live, i)
		}
	}
	if err := p.x.loadState(context.Background(), live); err != nil {
		p.x.log.Error("index: reload cursor", "err", err)
	}
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
