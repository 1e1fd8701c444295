package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Message is one Kafka record handed to a Handler.
type Message struct {
	Topic      string
	Partition  int32
	Offset     int64
	Key, Value []byte
	Time       time.Time // the record's timestamp (producer or broker time)
}

// Handler stores msgs, the records of one poll in partition order, bound to
// source (Config.Source). It returns nil only once every message is durable
// (or durably rejected: a message that can never be decoded must be stored as
// a reject, not returned as an error). Any error makes the Consumer retry the
// same msgs after a backoff; an error wrapping ledger.ErrPushback is the
// expected way to say "the ledger is full, retry later".
//
// msgs and the byte slices in it must not be modified, and must not be
// retained after the Handler returns.
type Handler func(ctx context.Context, source string, msgs []Message) error

// Consumer reads Config.Topics as a member of Config.Group and hands the
// records to a Handler, committing offsets only after the Handler stored
// them. Create it with New; Run does the work.
type Consumer struct {
	cfg Config
	r   resolved
	h   Handler
	log *slog.Logger

	running atomic.Bool
	client  atomic.Pointer[kgo.Client] // while Run runs
	// wanted is signalled (OnPartitionsCallbackBlocked) when a rebalance
	// waits for the poll loop to allow it.
	wanted chan struct{}
	// crashed makes the consumer behave like a dead process: no commits.
	// Set only by the test hook.
	crashed atomic.Bool

	// Owned by Run.
	msgs    []Message     // reused Handler argument
	backoff time.Duration // next retry wait; carried across a rewind
	batches int

	polls, consumed, stored, committed   atomic.Int64
	handlerErrors, pushbacks, commitErrs atomic.Int64
	rewinds, revoked, lost               atomic.Int64

	mu    sync.Mutex
	parts map[topicPartition]*partState

	hooks hooks
}

// hooks lets tests interfere; zero in production.
type hooks struct {
	// afterStore runs after the Handler stored batch n (1-based) and before
	// its offsets are committed; returning true simulates a crash at that
	// point: Run returns errCrashed and nothing more is committed.
	afterStore func(n int) bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// partState is what this member knows of an assigned partition. Offsets are
// "next offset" positions; -1 means unknown.
type partState struct {
	hwm       int64           // high watermark from the last fetch
	from      int64           // first offset polled in this assignment
	stored    kgo.EpochOffset // just after the last record the Handler stored
	committed int64           // last offset this member committed
	pending   int64           // records stored and not yet committed
}

func newPartState() *partState {
	return &partState{hwm: -1, from: -1, stored: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1}
}

var (
	// errStopping reports that ctx ended; nothing in hand is committed.
	errStopping = errors.New("kafka: stopping")
	// errRewound reports that a batch was given back to let a rebalance
	// proceed.
	errRewound = errors.New("kafka: batch rewound for a rebalance")
	// errPollFailed reports a poll that returned only errors.
	errPollFailed = errors.New("kafka: poll failed")
	// errCrashed is returned by Run after a simulated crash (tests).
	errCrashed = errors.New("kafka: simulated crash")
)

// New checks cfg and returns a Consumer that hands records to h.
func New(cfg Config, h Handler) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("kafka: nil Handler")
	}
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return newConsumer(cfg, r, h), nil
}

func newConsumer(cfg Config, r resolved, h Handler) *Consumer {
	return &Consumer{
		cfg:    cfg,
		r:      r,
		h:      h,
		log:    r.log.With("source", cfg.Source, "group", cfg.Group),
		wanted: make(chan struct{}, 1),
		parts:  make(map[topicPartition]*partState),
	}
}

// clientOpts returns the franz-go options of a Run.
func (c *Consumer) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.r.brokers...),
		kgo.ClientID(c.r.clientID),
		kgo.ConsumeTopics(c.r.topics...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.OnPartitionsCallbackBlocked(c.onBlocked),
		// Without a committed offset start at the oldest retained record:
		// an audit trail must not skip data. The same applies when a
		// committed offset fell out of retention.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithLogger(kgoLogger{c.log.With("component", "kgo")}),
	}
	switch {
	case c.r.dial != nil: // tests; the dialer does TLS itself
		opts = append(opts, kgo.Dialer(c.r.dial))
	case c.r.tls != nil:
		opts = append(opts, kgo.DialTLSConfig(c.r.tls))
	}
	if c.r.mechanism != nil {
		opts = append(opts, kgo.SASL(c.r.mechanism))
	}
	if c.r.eventHubs != nil {
		opts = append(opts, kgo.MetadataMaxAge(eventHubsMetadataMaxAge))
	}
	if c.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.cfg.SessionTimeout))
	}
	if c.cfg.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.cfg.RebalanceTimeout))
	}
	return opts
}

// Run joins the group and consumes until ctx ends, then commits what was
// stored, leaves the group and returns nil. It returns an error if the
// client cannot be created, on errors that retrying cannot cure
// (authentication or authorization failures), or if Run is already running.
// Run may be called again after it returned.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("kafka: Run is already running")
	}
	defer c.running.Store(false)
	c.reset()

	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka: creating the client for brokers %v: %w", c.r.brokers, err)
	}
	c.client.Store(cl)
	defer c.client.Store(nil)
	if c.r.mechanism != nil && c.r.tls == nil && c.r.dial == nil {
		c.log.Warn("kafka: SASL credentials are sent without TLS")
	}
	mech := "none"
	if c.r.mechanism != nil {
		mech = c.r.mechanism.Name()
	}
	c.log.Info("kafka: consuming", "brokers", c.r.brokers, "topics", c.r.topics,
		"tls", c.r.tls != nil, "sasl", mech, "event_hubs", c.r.eventHubs != nil)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var probing sync.WaitGroup
	probing.Go(func() { c.probe(runCtx, cl, cancel) })
	err = c.loop(runCtx, cl)
	if cause := context.Cause(runCtx); err == nil && ctx.Err() == nil && cause != nil {
		err = cause
	}
	cancel(nil)
	probing.Wait()

	// Leaving the group revokes every partition; onRevoked commits what
	// was stored and is not committed yet (unless crashed).
	leaveCtx, cancelLeave := context.WithTimeout(context.WithoutCancel(ctx), c.r.commitTO)
	if lerr := cl.LeaveGroupContext(leaveCtx); lerr != nil && !c.crashed.Load() {
		c.log.Warn("kafka: leaving the group", "err", lerr)
	}
	cancelLeave()
	cl.Close()
	st := c.Stats()
	c.log.Info("kafka: stopped", "consumed", st.Consumed, "stored", st.Stored, "committed", st.Committed, "err", err)
	return err
}

func (c *Consumer) reset() {
	c.mu.Lock()
	c.parts = make(map[topicPartition]*partState)
	c.mu.Unlock()
	c.crashed.Store(false)
	c.backoff = 0
	c.batches = 0
	select {
	case <-c.wanted:
	default:
	}
}

// loop polls, hands over and commits until ctx ends or an error that
// retrying cannot cure.
func (c *Consumer) loop(ctx context.Context, cl *kgo.Client) error {
	var pollWait time.Duration // after polls that returned only errors
	for {
		if ctx.Err() != nil {
			return nil
		}
		fetches := cl.PollRecords(ctx, c.r.maxPoll)
		c.polls.Add(1)
		err := c.batch(ctx, cl, fetches)
		// Nothing of this poll is in hand any more: stored and committed,
		// or given back (rewound), or abandoned because we stop.
		cl.AllowRebalance()
		// A rebalance signalled during the batch has been let through.
		select {
		case <-c.wanted:
		default:
		}
		if !errors.Is(err, errPollFailed) {
			pollWait = 0
		}
		switch {
		case err == nil:
		case errors.Is(err, errStopping):
			return nil
		case errors.Is(err, errRewound):
			// Keep the backoff: the records come back with the next poll
			// if this member still owns their partitions.
			if !sleep(ctx, c.backoff) {
				return nil
			}
		case errors.Is(err, errPollFailed):
			pollWait = min(max(pollWait*2, c.r.minBack), c.r.maxBack)
			if !sleep(ctx, pollWait) {
				return nil
			}
		default:
			return err
		}
	}
}

// batch handles the records of one poll: Handler until it succeeds, then the
// commit of their offsets.
func (c *Consumer) batch(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) error {
	if ctx.Err() != nil {
		return errStopping
	}
	var fatal error
	nerr := 0
	fetches.EachError(func(t string, p int32, err error) {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return
		}
		nerr++
		if fatalError(err) {
			if fatal == nil {
				fatal = fmt.Errorf("kafka: consuming %v as group %q: %w", c.r.topics, c.cfg.Group, err)
			}
			return
		}
		c.log.Warn("kafka: fetch error (retried by the client)", "topic", t, "partition", p, "err", err)
	})
	c.noteFetch(fetches)
	recs := fetches.Records()
	if len(recs) > 0 {
		c.consumed.Add(int64(len(recs)))
		if err := c.handle(ctx, cl, recs); err != nil {
			return err
		}
		c.markStored(recs)
		c.batches++
		if h := c.hooks.afterStore; h != nil && h(c.batches) {
			c.crashed.Store(true)
			return errCrashed
		}
		if err := c.commit(ctx, cl, nil); err != nil {
			// The records are durable; their offsets are committed with
			// the next batch, on revocation or on shutdown. If the member
			// dies first they are delivered again (duplicates).
			c.log.Warn("kafka: commit failed; will retry", "err", err)
		}
	}
	switch {
	case fatal != nil:
		return fatal
	case len(recs) == 0 && nerr > 0:
		return errPollFailed
	}
	return nil
}

// probe checks that a broker can be reached and authenticated to, because
// franz-go retries connection and SASL failures silently. Until it succeeds
// it logs an error on every attempt; an error retrying cannot cure
// (rejected credentials) stops Run through stop.
func (c *Consumer) probe(ctx context.Context, cl *kgo.Client, stop context.CancelCauseFunc) {
	wait := c.r.probeMin
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, c.r.probeTimeout)
		err := cl.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				c.log.Info("kafka: brokers reachable", "attempts", attempt)
			}
			return
		case ctx.Err() != nil:
			return
		case fatalError(err):
			stop(fmt.Errorf("kafka: connecting to %v: %w", c.r.brokers, err))
			return
		}
		c.log.Error("kafka: cannot reach or authenticate to the brokers (check brokers, TLS and credentials); retrying",
			"brokers", c.r.brokers, "attempt", attempt, "retry_in", wait, "err", err)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// fatalError reports whether err will not go away by retrying.
func fatalError(err error) bool {
	for _, e := range []error{
		kgo.ErrClientClosed,
		kerr.SaslAuthenticationFailed,
		kerr.UnsupportedSaslMechanism,
		kerr.IllegalSaslState,
		kerr.TopicAuthorizationFailed,
		kerr.GroupAuthorizationFailed,
		kerr.ClusterAuthorizationFailed,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// handle hands recs to the Handler until it returns nil. It returns
// errStopping if ctx ended first and errRewound if the records were given
// back (SetOffsets) so that a waiting rebalance can proceed.
func (c *Consumer) handle(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	c.msgs = c.msgs[:0]
	for _, r := range recs {
		c.msgs = append(c.msgs, Message{
			Topic:     r.Topic,
			Partition: r.Partition,
			Offset:    r.Offset,
			Key:       r.Key,
			Value:     r.Value,
			Time:      r.Timestamp,
		})
	}
	defer clear(c.msgs) // do not pin record memory until the next poll
	for attempt := 1; ; attempt++ {
		err := c.h(ctx, c.cfg.Source, c.msgs)
		if err == nil {
			if attempt > 1 {
				c.log.Info("kafka: handler succeeded after retries", "records", len(recs), "attempts", attempt)
			}
			c.backoff = 0
			return nil
		}
		if ctx.Err() != nil {
			return errStopping
		}
		c.backoff = min(max(c.backoff*2, c.r.minBack), c.r.maxBack)
		if errors.Is(err, ledger.ErrPushback) {
			c.pushbacks.Add(1)
			lvl := slog.LevelDebug
			if attempt == 1 || attempt%20 == 0 {
				lvl = slog.LevelWarn
			}
			c.log.Log(ctx, lvl, "kafka: ledger pushback; fetching paused, retrying the same records",
				"records", len(recs), "attempt", attempt, "retry_in", c.backoff)
		} else {
			c.handlerErrors.Add(1)
			c.log.Error("kafka: handler failed; retrying the same records",
				"records", len(recs), "attempt", attempt, "retry_in", c.backoff, "err", err)
		}
		t := time.NewTimer(c.backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errStopping
		case <-c.wanted:
			t.Stop()
			c.rewind(cl, recs)
			return errRewound
		case <-t.C:
		}
	}
}

// rewind sets the fetch position of every partition in recs back to its
// first record in recs, so that nothing polled and not stored is skipped.
// It must run before AllowRebalance.
func (c *Consumer) rewind(cl *kgo.Client, recs []*kgo.Record) {
	to := make(map[string]map[int32]kgo.EpochOffset)
	for _, r := range recs {
		ps := to[r.Topic]
		if ps == nil {
			ps = make(map[int32]kgo.EpochOffset)
			to[r.Topic] = ps
		}
		if _, ok := ps[r.Partition]; !ok {
			ps[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
	}
	cl.SetOffsets(to)
	c.rewinds.Add(1)
	c.log.Info("kafka: rebalance waiting; unstored records given back", "records", len(recs))
}

// noteFetch records the high watermarks and first offsets of a poll.
func (c *Consumer) noteFetch(fetches kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil || len(p.Records) == 0 {
			return
		}
		ps := c.part(p.Topic, p.Partition)
		ps.hwm = p.HighWatermark
		if ps.from < 0 {
			ps.from = p.Records[0].Offset
		}
	})
}

// part returns the state of a partition, creating it. c.mu must be held.
func (c *Consumer) part(topic string, partition int32) *partState {
	k := topicPartition{topic, partition}
	ps := c.parts[k]
	if ps == nil {
		ps = newPartState()
		c.parts[k] = ps
	}
	return ps
}

// markStored notes that the Handler stored recs.
func (c *Consumer) markStored(recs []*kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		ps := c.part(r.Topic, r.Partition)
		ps.stored = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		ps.pending++
	}
	c.stored.Add(int64(len(recs)))
}

// commit commits the stored offsets of the partitions in only (all if nil)
// that are ahead of what this member committed.
func (c *Consumer) commit(ctx context.Context, cl *kgo.Client, only map[string][]int32) error {
	if c.crashed.Load() {
		return nil
	}
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	pending := make(map[topicPartition]int64)
	add := func(k topicPartition, ps *partState) {
		if ps.stored.Offset < 0 || ps.stored.Offset <= ps.committed {
			return
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[k.topic][k.partition] = ps.stored
		pending[k] = ps.pending
	}
	c.mu.Lock()
	if only == nil {
		for k, ps := range c.parts {
			add(k, ps)
		}
	} else {
		for t, parts := range only {
			for _, p := range parts {
				if ps := c.parts[topicPartition{t, p}]; ps != nil {
					add(topicPartition{t, p}, ps)
				}
			}
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}

	// Not cancelled with ctx: a shutdown still commits what was stored.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.r.commitTO)
	defer cancel()
	var errs []error
	cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, perr))
					continue
				}
				k := topicPartition{t.Topic, p.Partition}
				if eo, ok := offsets[t.Topic][p.Partition]; ok {
					c.committedTo(k, eo.Offset, pending[k])
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		c.commitErrs.Add(1)
		return fmt.Errorf("kafka: committing offsets to group %q: %w", c.cfg.Group, err)
	}
	return nil
}

// committedTo notes a successful commit of offset, covering n records.
func (c *Consumer) committedTo(k topicPartition, offset, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed.Add(n)
	if ps := c.parts[k]; ps != nil && offset > ps.committed {
		ps.committed = offset
		ps.pending -= n
	}
}

// forget drops the state of partitions this member no longer owns and
// returns how many stored records of them were not committed.
func (c *Consumer) forget(parts map[string][]int32) (n int, uncommitted int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			k := topicPartition{t, p}
			if st := c.parts[k]; st != nil {
				uncommitted += st.pending
				delete(c.parts, k)
			}
			n++
		}
	}
	return n, uncommitted
}

// onAssigned runs when partitions are assigned (franz-go group goroutine;
// with BlockRebalanceOnPoll never while a batch is in hand).
func (c *Consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if len(assigned) == 0 {
		return
	}
	c.mu.Lock()
	for t, ps := range assigned {
		for _, p := range ps {
			c.parts[topicPartition{t, p}] = newPartState()
		}
	}
	c.mu.Unlock()
	c.log.Info("kafka: partitions assigned", "partitions", assigned)
}

// onRevoked commits what was stored for the revoked partitions, then forgets
// them. No batch is in hand: it was committed or given back before
// AllowRebalance.
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	if err := c.commit(ctx, cl, revoked); err != nil {
		c.log.Warn("kafka: commit on revocation failed; records stored since the last commit will be delivered again", "err", err)
	}
	n, uncommitted := c.forget(revoked)
	c.revoked.Add(int64(n))
	c.log.Info("kafka: partitions revoked", "partitions", revoked, "uncommitted_records", uncommitted)
}

// onLost forgets partitions lost without a chance to commit (fatal group
// errors: the member was kicked out, session expired).
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	n, uncommitted := c.forget(lost)
	c.lost.Add(int64(n))
	c.log.Warn("kafka: partitions lost; records stored and not committed will be delivered again",
		"partitions", lost, "uncommitted_records", uncommitted)
}

// onBlocked is called (in its own goroutine) when a rebalance waits for
// AllowRebalance.
func (c *Consumer) onBlocked(context.Context, *kgo.Client) {
	select {
	case c.wanted <- struct{}{}:
	default:
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
