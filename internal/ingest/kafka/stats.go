package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Stats are a Consumer's counters since New (they survive Run restarts) and
// the partitions it owns now.
type Stats struct {
	Polls    int64 // PollRecords calls
	Consumed int64 // records returned by polls (a record given back and polled again counts twice)
	Stored   int64 // records the Handler acknowledged
	// Committed counts stored records whose offsets were committed.
	// Stored-Committed records would be delivered again after a crash.
	Committed int64

	HandlerErrors int64 // failed Handler calls other than pushback
	Pushbacks     int64 // Handler calls that failed with ledger.ErrPushback
	CommitErrors  int64 // failed offset commits (retried)
	Rewinds       int64 // unstored batches given back to let a rebalance proceed

	PartitionsRevoked int64
	PartitionsLost    int64

	Partitions []PartitionStats // owned partitions, sorted by topic and partition
}

// PartitionStats describe an owned partition as this member sees it.
// Offsets are "next offset" positions, -1 when unknown.
type PartitionStats struct {
	Topic     string
	Partition int32
	// HighWatermark is the partition's end as of the last fetch that
	// returned records for it.
	HighWatermark int64
	Stored        int64 // offset just after the last stored record
	Committed     int64 // offset last committed by this member
	// Lag is HighWatermark minus the first offset not stored yet: records
	// that are in Kafka but not in the ledger. -1 when unknown. It is only
	// as fresh as HighWatermark; GroupLag asks the brokers.
	Lag int64
}

// Stats returns a snapshot of the counters and owned partitions.
func (c *Consumer) Stats() Stats {
	s := Stats{
		Polls:             c.polls.Load(),
		Consumed:          c.consumed.Load(),
		Stored:            c.stored.Load(),
		Committed:         c.committed.Load(),
		HandlerErrors:     c.handlerErrors.Load(),
		Pushbacks:         c.pushbacks.Load(),
		CommitErrors:      c.commitErrs.Load(),
		Rewinds:           c.rewinds.Load(),
		PartitionsRevoked: c.revoked.Load(),
		PartitionsLost:    c.lost.Load(),
	}
	c.mu.Lock()
	for k, ps := range c.parts {
		p := PartitionStats{
			Topic:         k.topic,
			Partition:     k.partition,
			HighWatermark: ps.hwm,
			Stored:        ps.stored.Offset,
			Committed:     ps.committed,
			Lag:           -1,
		}
		next := ps.stored.Offset
		if next < 0 {
			next = ps.from
		}
		if ps.hwm >= 0 && next >= 0 {
			p.Lag = max(ps.hwm-next, 0)
		}
		s.Partitions = append(s.Partitions, p)
	}
	c.mu.Unlock()
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return s
}

// Lag returns, per owned partition with a known lag ("topic/partition"), the
// records in Kafka not yet stored by this member (PartitionStats.Lag). It
// does no I/O.
func (c *Consumer) Lag() map[string]int64 {
	out := make(map[string]int64)
	for _, p := range c.Stats().Partitions {
		if p.Lag >= 0 {
			out[partitionKey(p.Topic, p.Partition)] = p.Lag
		}
	}
	return out
}

// GroupLag asks the brokers, through the running client, for the lag of the
// whole group on every partition of Config.Topics ("topic/partition"): end
// offset minus committed offset (minus the log start offset where the group
// has committed nothing). It fails when Run is not running.
func (c *Consumer) GroupLag(ctx context.Context) (map[string]int64, error) {
	cl := c.client.Load()
	if cl == nil {
		return nil, errors.New("kafka: GroupLag needs a running consumer")
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, c.r.topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: listing end offsets of %v: %w", c.r.topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, c.r.topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: listing start offsets of %v: %w", c.r.topics, err)
	}
	committed, err := adm.FetchOffsets(ctx, c.cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("kafka: fetching the offsets of group %q: %w", c.cfg.Group, err)
	}
	out := make(map[string]int64)
	var errs []error
	ends.Each(func(end kadm.ListedOffset) {
		if end.Err != nil {
			errs = append(errs, fmt.Errorf("kafka: end offset of %s[%d]: %w", end.Topic, end.Partition, end.Err))
			return
		}
		from := int64(0)
		if s, ok := starts.Lookup(end.Topic, end.Partition); ok && s.Err == nil {
			from = s.Offset
		}
		if o, ok := committed.Lookup(end.Topic, end.Partition); ok && o.Err == nil && o.At >= 0 {
			from = max(from, o.At)
		}
		out[partitionKey(end.Topic, end.Partition)] = max(end.Offset-from, 0)
	})
	return out, errors.Join(errs...)
}

func partitionKey(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}
