package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

const (
	testTopic      = "insights-logs-kube-audit"
	testPartitions = 3
)

// testLogger logs to the test output when -v is given, else nowhere.
func testLogger(tb testing.TB) *slog.Logger {
	if !testing.Verbose() || os.Getenv("KAFKA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newCluster starts a kfake cluster with one broker and the test topic.
func newCluster(tb testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	tb.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, testTopic)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("starting kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// newClient returns a plain kgo client (producer / admin) for the cluster.
func newClient(tb testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		tb.Fatalf("kgo client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// testEvent is the value of a produced record; ID identifies it.
type testEvent struct {
	ID  int    `json:"id"`
	Pad string `json:"pad"`
}

// produce writes records with IDs [from, from+n) round-robin over the
// partitions, each value about size bytes.
func produce(tb testing.TB, cl *kgo.Client, from, n, size int) {
	tb.Helper()
	pad := strings.Repeat("x", max(size-30, 0))
	const chunk = 2000
	for lo := from; lo < from+n; lo += chunk {
		hi := min(lo+chunk, from+n)
		recs := make([]*kgo.Record, 0, hi-lo)
		for id := lo; id < hi; id++ {
			v, _ := json.Marshal(testEvent{ID: id, Pad: pad})
			recs = append(recs, &kgo.Record{
				Topic:     testTopic,
				Partition: int32(id % testPartitions),
				Key:       []byte(fmt.Sprint(id)),
				Value:     v,
			})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			tb.Fatalf("produce: %v", err)
		}
	}
}

// manualPartitioner lets produce choose partitions.
func manualPartitioner() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

// openLedger opens a ledger in a temporary directory, closed at cleanup.
func openLedger(tb testing.TB) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test"})
	if err != nil {
		tb.Fatalf("ledger.Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("ledger.Close: %v", err)
		}
	})
	return l
}

// appendValues stores the values of msgs as ledger records.
func appendValues(ctx context.Context, l *ledger.Ledger, msgs []Message) error {
	recs := make([][]byte, len(msgs))
	for i, m := range msgs {
		recs[i] = m.Value
	}
	_, err := l.Append(ctx, recs)
	return err
}

// ackLog records, per partition, the offset just after the last message a
// handler acknowledged (returned nil for).
type ackLog struct {
	mu    sync.Mutex
	acked map[string]int64
}

func newAckLog() *ackLog { return &ackLog{acked: make(map[string]int64)} }

func (a *ackLog) note(msgs []Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range msgs {
		k := partitionKey(m.Topic, m.Partition)
		a.acked[k] = max(a.acked[k], m.Offset+1)
	}
}

func (a *ackLog) get(k string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked[k]
}

// ledgerHandler stores values in l and notes acknowledgements in acks (if
// not nil). fail, if not nil, is consulted first with the 1-based call
// number; a non-nil result is returned without storing anything.
func ledgerHandler(l *ledger.Ledger, acks *ackLog, fail func(call int) error) Handler {
	var mu sync.Mutex
	calls := 0
	return func(ctx context.Context, source string, msgs []Message) error {
		if source == "" {
			return errors.New("no source")
		}
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if fail != nil {
			if err := fail(n); err != nil {
				return err
			}
		}
		if err := appendValues(ctx, l, msgs); err != nil {
			return err
		}
		if acks != nil {
			acks.note(msgs)
		}
		return nil
	}
}

// ledgerIDs counts the records of l by event ID.
func ledgerIDs(tb testing.TB, l *ledger.Ledger) map[int]int {
	tb.Helper()
	ids := make(map[int]int)
	err := l.ReadRange(0, l.Size(), func(_ uint64, rec []byte) error {
		var e testEvent
		if err := json.Unmarshal(rec, &e); err != nil {
			return err
		}
		ids[e.ID]++
		return nil
	})
	if err != nil {
		tb.Fatalf("reading the ledger: %v", err)
	}
	return ids
}

// checkStored fails unless every ID in [0, n) is in ids; it returns the
// number of duplicate records. With exactlyOnce it also fails on duplicates.
func checkStored(tb testing.TB, ids map[int]int, n int, exactlyOnce bool) (dups int) {
	tb.Helper()
	missing := 0
	for id := range n {
		switch c := ids[id]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	if len(ids) > n {
		tb.Errorf("ledger holds %d distinct IDs, produced %d", len(ids), n)
	}
	if missing > 0 {
		tb.Errorf("%d of %d records are missing from the ledger", missing, n)
	}
	if exactlyOnce && dups > 0 {
		tb.Errorf("%d duplicate records, want none", dups)
	}
	return dups
}

// groupOffsets returns the committed offsets of group ("topic/partition").
func groupOffsets(tb testing.TB, adm *kadm.Client, group string) map[string]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		tb.Fatalf("FetchOffsets(%s): %v", group, err)
	}
	out := make(map[string]int64)
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			out[partitionKey(o.Topic, o.Partition)] = o.At
		}
	})
	return out
}

// endOffsets returns the end offsets of the test topic.
func endOffsets(tb testing.TB, adm *kadm.Client) map[string]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, testTopic)
	if err != nil {
		tb.Fatalf("ListEndOffsets: %v", err)
	}
	out := make(map[string]int64)
	ends.Each(func(o kadm.ListedOffset) { out[partitionKey(o.Topic, o.Partition)] = o.Offset })
	return out
}

// watchCommits checks, until stop is closed, that the group's committed
// offsets never exceed what the handler acknowledged. It returns a function
// that stops watching and reports how many checks ran.
func watchCommits(tb testing.TB, adm *kadm.Client, group string, acks *ackLog) (stop func() int) {
	done := make(chan struct{})
	var checks int
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(3 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			offs, err := adm.FetchOffsets(ctx, group)
			cancel()
			if err != nil {
				continue
			}
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Err != nil || o.At < 0 {
					return
				}
				k := partitionKey(o.Topic, o.Partition)
				if a := acks.get(k); o.At > a {
					tb.Errorf("committed offset %d of %s exceeds the acknowledged %d", o.At, k, a)
				}
			})
			checks++
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		return checks
	}
}

// runConsumer runs c in a goroutine; the returned function cancels it and
// returns Run's result.
func runConsumer(tb testing.TB, c *Consumer) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30s of cancellation")
			}
		})
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it is true or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testConfig returns a Config for the cluster.
func testConfig(tb testing.TB, addrs []string, group string) Config {
	return Config{
		Brokers:        addrs,
		Topics:         []string{testTopic},
		Group:          group,
		Source:         "aks-audit",
		MaxPollRecords: 100,
		MinBackoff:     5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		Logger:         testLogger(tb),
	}
}

// mustNew is New that fails the test on error.
func mustNew(tb testing.TB, cfg Config, h Handler) *Consumer {
	tb.Helper()
	c, err := New(cfg, h)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}
