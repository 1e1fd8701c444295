package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// sum adds the values of m.
func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// checkCommittedAtEnd fails unless the group committed every partition to
// its end offset.
func checkCommittedAtEnd(tb testing.TB, adm *kadm.Client, group string) {
	tb.Helper()
	got, want := groupOffsets(tb, adm, group), endOffsets(tb, adm)
	for k, end := range want {
		if got[k] != end {
			tb.Errorf("committed offset of %s = %d, want the end offset %d", k, got[k], end)
		}
	}
}

func TestConsumeStoresEveryRecordOnce(t *testing.T) {
	const n = 3000
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 1500)

	l := openLedger(t)
	acks := newAckLog()
	c := mustNew(t, testConfig(t, addrs, "g-once"), ledgerHandler(l, acks, nil))
	stopWatch := watchCommits(t, adm, "g-once", acks)
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "all records stored", func() bool { return c.Stats().Stored >= n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checks := stopWatch()

	checkStored(t, ledgerIDs(t, l), n, true)
	checkCommittedAtEnd(t, adm, "g-once")
	st := c.Stats()
	if st.Consumed != n || st.Stored != n || st.Committed != n {
		t.Errorf("Stats consumed/stored/committed = %d/%d/%d, want %d each", st.Consumed, st.Stored, st.Committed, n)
	}
	if st.Pushbacks+st.HandlerErrors+st.CommitErrors+st.Rewinds != 0 {
		t.Errorf("unexpected trouble in the normal case: %+v", st)
	}
	t.Logf("%d polls, %d commit checks", st.Polls, checks)
}

// TestHandlerFailuresRetrySameRecords fails the first calls of the handler
// and checks that the same records are retried, nothing is skipped or
// stored twice, and commits never pass what the handler acknowledged.
func TestHandlerFailuresRetrySameRecords(t *testing.T) {
	const n, k = 1200, 5
	tests := []struct {
		name         string
		err          error
		wantPushback bool
	}{
		{"pushback", fmt.Errorf("storing batch: %w", ledger.ErrPushback), true},
		{"other error", errors.New("index unavailable"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := newCluster(t)
			addrs := cluster.ListenAddrs()
			prod := newClient(t, addrs, manualPartitioner())
			adm := kadm.NewClient(prod)
			produce(t, prod, 0, n, 200)

			l := openLedger(t)
			acks := newAckLog()
			var firstFailed, retried []Message
			h := ledgerHandler(l, acks, nil)
			calls := 0
			handler := func(ctx context.Context, source string, msgs []Message) error {
				calls++ // Run calls the handler from one goroutine
				switch {
				case calls == 1:
					firstFailed = append([]Message(nil), msgs...)
				case calls == k+1:
					retried = append([]Message(nil), msgs...)
				}
				if calls <= k {
					return tt.err
				}
				return h(ctx, source, msgs)
			}
			group := "g-fail-" + tt.name
			c := mustNew(t, testConfig(t, addrs, group), handler)
			stopWatch := watchCommits(t, adm, group, acks)
			stop := runConsumer(t, c)
			waitFor(t, 30*time.Second, "all records stored", func() bool { return c.Stats().Stored >= n })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			stopWatch()

			checkStored(t, ledgerIDs(t, l), n, true)
			checkCommittedAtEnd(t, adm, group)
			if len(firstFailed) == 0 || len(firstFailed) != len(retried) {
				t.Fatalf("failed batch had %d records, the retry %d", len(firstFailed), len(retried))
			}
			for i := range firstFailed {
				if a, b := firstFailed[i], retried[i]; a.Topic != b.Topic || a.Partition != b.Partition || a.Offset != b.Offset {
					t.Fatalf("retry %d is %s/%d@%d, the failed call had %s/%d@%d", i, b.Topic, b.Partition, b.Offset, a.Topic, a.Partition, a.Offset)
				}
			}
			st := c.Stats()
			got := st.HandlerErrors
			if tt.wantPushback {
				got = st.Pushbacks
			}
			if got != k || st.Pushbacks+st.HandlerErrors != k {
				t.Errorf("pushbacks/handler errors = %d/%d, want %d of the %s kind", st.Pushbacks, st.HandlerErrors, k, tt.name)
			}
		})
	}
}

// TestPushbackPausesPolling checks that while the handler pushes back, the
// consumer does not poll again (fetching is paused), and nothing is
// committed.
func TestPushbackPausesPolling(t *testing.T) {
	const n = 600
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 200)

	l := openLedger(t)
	var full atomic.Bool
	full.Store(true)
	h := ledgerHandler(l, nil, func(int) error {
		if full.Load() {
			return ledger.ErrPushback
		}
		return nil
	})
	c := mustNew(t, testConfig(t, addrs, "g-pause"), h)
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "pushbacks", func() bool { return c.Stats().Pushbacks >= 3 })
	before := c.Stats()
	time.Sleep(300 * time.Millisecond)
	during := c.Stats()
	if during.Polls != before.Polls || during.Consumed != before.Consumed {
		t.Errorf("polls/consumed went from %d/%d to %d/%d during pushback, want no new polls",
			before.Polls, before.Consumed, during.Polls, during.Consumed)
	}
	if during.Pushbacks <= before.Pushbacks {
		t.Errorf("pushbacks stayed at %d: the handler is not retried", during.Pushbacks)
	}
	if got := groupOffsets(t, adm, "g-pause"); len(got) != 0 {
		t.Errorf("offsets committed during pushback: %v", got)
	}
	if l.Size() != 0 {
		t.Errorf("ledger has %d records during pushback", l.Size())
	}
	full.Store(false)
	waitFor(t, 30*time.Second, "all records stored", func() bool { return c.Stats().Stored >= n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkStored(t, ledgerIDs(t, l), n, true)
	checkCommittedAtEnd(t, adm, "g-pause")
}

// TestCommitFailuresRetried makes the broker refuse the first commits: the
// records stay stored once, the offsets are committed later, never past
// what was acknowledged.
func TestCommitFailuresRetried(t *testing.T) {
	const n, refused = 900, 3
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 200)

	var commits atomic.Int32
	cluster.ControlKey(kmsg.OffsetCommit.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if commits.Add(1) > refused {
			return nil, nil, false
		}
		cluster.KeepControl()
		req := kr.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.Version = req.Version
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	l := openLedger(t)
	acks := newAckLog()
	c := mustNew(t, testConfig(t, addrs, "g-commitfail"), ledgerHandler(l, acks, nil))
	stopWatch := watchCommits(t, adm, "g-commitfail", acks)
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "all records stored", func() bool { return c.Stats().Stored >= n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	stopWatch()
	checkStored(t, ledgerIDs(t, l), n, true)
	checkCommittedAtEnd(t, adm, "g-commitfail")
	if st := c.Stats(); st.CommitErrors < refused || st.Committed != n {
		t.Errorf("commit errors %d (want >= %d), committed %d (want %d)", st.CommitErrors, refused, st.Committed, n)
	}
}

// TestStopAndResume cancels a consumer after a few batches and resumes with
// a new consumer in the same group: nothing lost, and after a clean stop
// nothing stored twice.
func TestStopAndResume(t *testing.T) {
	const n = 1500
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 300)
	l := openLedger(t)
	acks := newAckLog()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := ledgerHandler(l, acks, nil)
	batches := 0
	first := mustNew(t, testConfig(t, addrs, "g-resume"), func(ctx context.Context, source string, msgs []Message) error {
		err := h(ctx, source, msgs)
		if batches++; batches == 3 {
			cancel() // stop while the batch is being handled
		}
		return err
	})
	if err := first.Run(ctx); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	st1 := first.Stats()
	if st1.Stored == 0 || st1.Stored >= n {
		t.Fatalf("first consumer stored %d records, want some but not all of %d", st1.Stored, n)
	}
	committed := groupOffsets(t, adm, "g-resume")
	for k, off := range committed {
		if a := acks.get(k); off > a {
			t.Errorf("committed offset %d of %s exceeds the acknowledged %d", off, k, a)
		}
	}
	if got := sum(committed); got != st1.Stored {
		t.Errorf("after a clean stop the group committed %d records, the handler stored %d", got, st1.Stored)
	}

	second := mustNew(t, testConfig(t, addrs, "g-resume"), ledgerHandler(l, acks, nil))
	stop := runConsumer(t, second)
	waitFor(t, 30*time.Second, "the rest stored", func() bool { return second.Stats().Stored >= n-st1.Stored })
	if err := stop(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	checkStored(t, ledgerIDs(t, l), n, true)
	checkCommittedAtEnd(t, adm, "g-resume")
}

// TestCrashAfterStoreBeforeCommit kills a consumer after the handler stored
// a batch and before its offsets were committed. A new consumer in the
// group delivers that batch again: nothing is lost, and the duplicates are
// exactly the records stored and not committed (cdewatch deduplicates
// downstream by key where records have one).
func TestCrashAfterStoreBeforeCommit(t *testing.T) {
	const n = 1500
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 300)
	l := openLedger(t)
	acks := newAckLog()

	first := mustNew(t, testConfig(t, addrs, "g-crash"), ledgerHandler(l, acks, nil))
	first.hooks.afterStore = func(batch int) bool { return batch == 3 }
	if err := first.Run(context.Background()); !errors.Is(err, errCrashed) {
		t.Fatalf("first Run = %v, want the simulated crash", err)
	}
	st1 := first.Stats()
	unacked := st1.Stored - st1.Committed
	if unacked <= 0 {
		t.Fatalf("stored %d, committed %d: the crash left nothing uncommitted", st1.Stored, st1.Committed)
	}
	if got := sum(groupOffsets(t, adm, "g-crash")); got != st1.Committed {
		t.Errorf("group committed %d records, the consumer counted %d", got, st1.Committed)
	}

	second := mustNew(t, testConfig(t, addrs, "g-crash"), ledgerHandler(l, acks, nil))
	stop := runConsumer(t, second)
	waitFor(t, 30*time.Second, "the rest stored", func() bool { return second.Stats().Stored >= n-st1.Committed })
	if err := stop(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	dups := checkStored(t, ledgerIDs(t, l), n, false)
	if int64(dups) != unacked {
		t.Errorf("%d duplicates after the crash, want the %d stored-but-uncommitted records", dups, unacked)
	}
	t.Logf("crash after store, before commit: %d duplicate records (allowed: at-least-once)", dups)
	checkCommittedAtEnd(t, adm, "g-crash")
}

// TestRebalanceTwoConsumers runs two consumers of one group into one ledger
// while records keep arriving: every record is stored, both consumers take
// part, and the final commits reach the end of every partition.
func TestRebalanceTwoConsumers(t *testing.T) {
	const half = 1500
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, half, 300)
	l := openLedger(t)
	acks := newAckLog()

	a := mustNew(t, testConfig(t, addrs, "g-two"), ledgerHandler(l, acks, nil))
	stopA := runConsumer(t, a)
	waitFor(t, 30*time.Second, "a to store", func() bool { return a.Stats().Stored > 0 })
	b := mustNew(t, testConfig(t, addrs, "g-two"), ledgerHandler(l, acks, nil))
	stopB := runConsumer(t, b)
	waitFor(t, 30*time.Second, "b to own partitions", func() bool { return len(b.Stats().Partitions) > 0 })
	produce(t, prod, half, half, 300)
	waitFor(t, 30*time.Second, "every record stored", func() bool { return len(ledgerIDs(t, l)) == 2*half })
	waitFor(t, 10*time.Second, "commits at the end", func() bool {
		return sum(groupOffsets(t, adm, "g-two")) == 2*half
	})
	sa, sb := a.Stats(), b.Stats() // before the stops revoke everything
	if err := stopA(); err != nil {
		t.Errorf("a: %v", err)
	}
	if err := stopB(); err != nil {
		t.Errorf("b: %v", err)
	}
	dups := checkStored(t, ledgerIDs(t, l), 2*half, false)
	if sb.Stored == 0 {
		t.Errorf("b stored nothing")
	}
	if sa.PartitionsRevoked == 0 || len(sa.Partitions)+len(sb.Partitions) != testPartitions {
		t.Errorf("a had %d partitions revoked when b joined; a owns %d, b %d partitions, want %d in all",
			sa.PartitionsRevoked, len(sa.Partitions), len(sb.Partitions), testPartitions)
	}
	checkCommittedAtEnd(t, adm, "g-two")
	t.Logf("a stored %d, b stored %d, %d duplicates, a revoked %d partitions", sa.Stored, sb.Stored, dups, sa.PartitionsRevoked)
}

// TestRebalanceDuringPushback: while the first consumer is stuck on
// pushback a second one joins; the first gives its unstored batch back
// (instead of blocking the rebalance until it is kicked out), and once the
// ledger accepts again every record is stored once.
func TestRebalanceDuringPushback(t *testing.T) {
	const n = 1500
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 300)
	l := openLedger(t)
	acks := newAckLog()

	var full atomic.Bool
	full.Store(true)
	pushback := func(int) error {
		if full.Load() {
			return fmt.Errorf("append: %w", ledger.ErrPushback)
		}
		return nil
	}
	a := mustNew(t, testConfig(t, addrs, "g-pb"), ledgerHandler(l, acks, pushback))
	stopA := runConsumer(t, a)
	waitFor(t, 10*time.Second, "a to push back", func() bool { return a.Stats().Pushbacks > 0 })
	b := mustNew(t, testConfig(t, addrs, "g-pb"), ledgerHandler(l, acks, pushback))
	stopB := runConsumer(t, b)
	waitFor(t, 20*time.Second, "a to give its batch back", func() bool { return a.Stats().Rewinds > 0 })
	waitFor(t, 20*time.Second, "b to own partitions", func() bool { return len(b.Stats().Partitions) > 0 })
	if l.Size() != 0 {
		t.Fatalf("ledger has %d records during pushback", l.Size())
	}
	full.Store(false)
	waitFor(t, 30*time.Second, "every record stored", func() bool { return len(ledgerIDs(t, l)) == n })
	waitFor(t, 10*time.Second, "commits at the end", func() bool { return sum(groupOffsets(t, adm, "g-pb")) == n })
	if err := stopA(); err != nil {
		t.Errorf("a: %v", err)
	}
	if err := stopB(); err != nil {
		t.Errorf("b: %v", err)
	}
	checkStored(t, ledgerIDs(t, l), n, true)
	sa, sb := a.Stats(), b.Stats()
	t.Logf("a: %d rewinds, %d pushbacks, stored %d; b: stored %d", sa.Rewinds, sa.Pushbacks, sa.Stored, sb.Stored)
}

func TestLagAndGroupLag(t *testing.T) {
	const n = 900
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	produce(t, prod, 0, n, 200)
	l := openLedger(t)

	var full atomic.Bool
	full.Store(true)
	cfg := testConfig(t, addrs, "g-lag")
	c := mustNew(t, cfg, ledgerHandler(l, nil, func(int) error {
		if full.Load() {
			return ledger.ErrPushback
		}
		return nil
	}))
	if _, err := c.GroupLag(context.Background()); err == nil {
		t.Errorf("GroupLag before Run: no error")
	}
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "pushback", func() bool { return c.Stats().Pushbacks > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gl, err := c.GroupLag(ctx)
	if err != nil {
		t.Fatalf("GroupLag: %v", err)
	}
	if got := sum(gl); got != n {
		t.Errorf("group lag during pushback = %d (%v), want %d", got, gl, n)
	}
	if lag := c.Lag(); len(lag) == 0 || sum(lag) == 0 {
		t.Errorf("Lag during pushback = %v, want the unstored records of the fetched partitions", lag)
	}
	full.Store(false)
	waitFor(t, 30*time.Second, "all stored", func() bool { return c.Stats().Stored >= n })
	waitFor(t, 10*time.Second, "group lag 0", func() bool {
		gl, err := c.GroupLag(ctx)
		return err == nil && len(gl) == testPartitions && sum(gl) == 0
	})
	if lag := c.Lag(); sum(lag) != 0 {
		t.Errorf("Lag after catching up = %v, want zeros", lag)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStopDuringPushback stops a consumer whose handler keeps pushing back:
// Run returns promptly, nothing is committed, and the next consumer of the
// group stores every record once.
func TestStopDuringPushback(t *testing.T) {
	const n = 600
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner())
	adm := kadm.NewClient(prod)
	produce(t, prod, 0, n, 200)
	l := openLedger(t)

	stuck := mustNew(t, testConfig(t, addrs, "g-stop-pb"), ledgerHandler(l, nil, func(int) error {
		return fmt.Errorf("append: %w", ledger.ErrPushback)
	}))
	stop := runConsumer(t, stuck)
	waitFor(t, 10*time.Second, "pushback", func() bool { return stuck.Stats().Pushbacks > 0 })
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to return after cancellation during pushback", d)
	}
	if got := groupOffsets(t, adm, "g-stop-pb"); len(got) != 0 {
		t.Errorf("offsets committed although nothing was stored: %v", got)
	}
	next := mustNew(t, testConfig(t, addrs, "g-stop-pb"), ledgerHandler(l, nil, nil))
	consumeAll(t, next, n)
	checkStored(t, ledgerIDs(t, l), n, true)
	checkCommittedAtEnd(t, adm, "g-stop-pb")
}
