package ingest

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Stats counts what each source delivered since the process started: the
// live side of the per-source view (GET /v1/sources) and the
// cdewatch_ingest_* Prometheus metrics. The durable side (volume, last
// event time and missing 10.2.2 details over the whole index) comes from
// the index. A nil *Stats counts nothing. Safe for concurrent use.
type Stats struct {
	now func() time.Time
	mu  sync.Mutex
	src map[string]*sourceStats
}

// NewStats returns empty statistics; now is the clock (time.Now if nil).
func NewStats(now func() time.Time) *Stats {
	if now == nil {
		now = time.Now
	}
	return &Stats{now: now, src: map[string]*sourceStats{}}
}

// rateWindow is the span over which Rate is measured.
const rateWindow = 60

type sourceStats struct {
	SourceStats
	buckets [rateWindow]struct {
		sec int64
		n   int
	}
}

// SourceStats is one source's counts since the process started.
type SourceStats struct {
	Source       string         `json:"source"`
	Records      uint64         `json:"records"`    // records stored
	Bytes        uint64         `json:"bytes"`      // raw bytes of the records stored
	Duplicates   uint64         `json:"duplicates"` // redeliveries skipped
	Rejected     uint64         `json:"rejected"`   // inputs that could not be decoded (stored as ingest.reject)
	Masked       uint64         `json:"masked"`     // card numbers and track data masked
	Pushbacks    uint64         `json:"pushbacks"`  // deliveries refused because the ledger was busy (429/503, stop reading)
	Failures     uint64         `json:"failures"`   // deliveries that failed for another reason
	LastEvent    time.Time      `json:"last_event,omitzero"`
	LastReceived time.Time      `json:"last_received,omitzero"`
	Missing      map[string]int `json:"missing"` // records stored without each 10.2.2 detail, by name
	Via          []string       `json:"via"`     // receivers the source used
	Rate         float64        `json:"rate"`    // records per second over the last minute
}

func (s *Stats) get(source string) *sourceStats {
	st := s.src[source]
	if st == nil {
		st = &sourceStats{SourceStats: SourceStats{Source: source, Missing: map[string]int{}}}
		s.src[source] = st
	}
	return st
}

func (st *sourceStats) via(v string) {
	if v != "" && !slices.Contains(st.Via, v) && len(st.Via) < 32 {
		st.Via = append(st.Via, v)
		slices.Sort(st.Via)
	}
}

// stored counts a stored delivery.
func (s *Stats) stored(source, via string, recs []event.Record, fresh func(int) bool, res Result, bytes, masked int, now time.Time) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(source)
	st.via(via)
	st.Records += uint64(res.Accepted)
	st.Bytes += uint64(bytes)
	st.Duplicates += uint64(res.Duplicates)
	st.Rejected += uint64(res.Rejected)
	st.Masked += uint64(masked)
	st.LastReceived = now
	for i := range recs {
		if !fresh(i) {
			continue
		}
		if t := recs[i].Time; t.After(st.LastEvent) {
			st.LastEvent = t
		}
		for _, n := range recs[i].Missing().Names() {
			st.Missing[n]++
		}
	}
	sec := s.now().Unix()
	b := &st.buckets[sec%rateWindow]
	if b.sec != sec {
		b.sec, b.n = sec, 0
	}
	b.n += res.Accepted
}

// failed counts a delivery that could not be stored.
func (s *Stats) failed(source, via string, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(source)
	st.via(via)
	if errors.Is(err, ledger.ErrPushback) {
		st.Pushbacks++
	} else {
		st.Failures++
	}
}

// Snapshot returns every source's counts, sorted by source.
func (s *Stats) Snapshot() []SourceStats {
	if s == nil {
		return nil
	}
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SourceStats, 0, len(s.src))
	for _, st := range s.src {
		c := st.SourceStats
		c.Missing = make(map[string]int, len(st.Missing))
		for k, v := range st.Missing {
			c.Missing[k] = v
		}
		c.Via = slices.Clone(st.Via)
		n := 0
		for _, b := range st.buckets {
			if b.sec > now-rateWindow && b.sec <= now {
				n += b.n
			}
		}
		c.Rate = float64(n) / rateWindow
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b SourceStats) int {
		if a.Source < b.Source {
			return -1
		}
		if a.Source > b.Source {
			return 1
		}
		return 0
	})
	return out
}

var (
	descRecords    = prometheus.NewDesc("cdewatch_ingest_records_total", "Records stored in the ledger, by source.", []string{"source"}, nil)
	descBytes      = prometheus.NewDesc("cdewatch_ingest_bytes_total", "Raw bytes of the records stored, by source.", []string{"source"}, nil)
	descDuplicates = prometheus.NewDesc("cdewatch_ingest_duplicates_total", "Redelivered records skipped, by source.", []string{"source"}, nil)
	descRejected   = prometheus.NewDesc("cdewatch_ingest_rejected_total", "Inputs that could not be decoded (stored as ingest.reject records), by source.", []string{"source"}, nil)
	descMasked     = prometheus.NewDesc("cdewatch_ingest_masked_total", "Card numbers and track data masked before storage, by source.", []string{"source"}, nil)
	descRefused    = prometheus.NewDesc("cdewatch_ingest_refused_total", "Deliveries not stored, by source and reason (pushback: the ledger was busy; error).", []string{"source", "reason"}, nil)
	descLastEvent  = prometheus.NewDesc("cdewatch_ingest_last_event_timestamp_seconds", "Event time of the newest record stored, by source.", []string{"source"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Stats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descDuplicates, descRejected, descMasked, descRefused, descLastEvent} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Stats) Collect(ch chan<- prometheus.Metric) {
	for _, st := range s.Snapshot() {
		c := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{st.Source}, labels...)...)
		}
		c(descRecords, st.Records)
		c(descBytes, st.Bytes)
		c(descDuplicates, st.Duplicates)
		c(descRejected, st.Rejected)
		c(descMasked, st.Masked)
		c(descRefused, st.Pushbacks, "pushback")
		c(descRefused, st.Failures, "error")
		if !st.LastEvent.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastEvent, prometheus.GaugeValue, float64(st.LastEvent.UnixNano())/1e9, st.Source)
		}
	}
}
