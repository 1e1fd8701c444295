package health

import (
	"slices"
	"strings"
	"time"
)

// Summary is the state of health at a time: the body of GET /v1/health
// (docs/HEALTH.md shows an example).
type Summary struct {
	Time time.Time `json:"time"`
	// Healthy is true when no failure lasts.
	Healthy bool `json:"healthy"`
	// Open are the failures that last, oldest first; Recent the last
	// ended ones, newest first (at most 50).
	Open       []FailureView      `json:"open_failures"`
	Recent     []FailureView      `json:"recent_failures"`
	Streams    []StreamHealth     `json:"streams"`
	KubeAudit  []KubeAuditHealth  `json:"kube_audit"`
	Offsets    []SkewStats        `json:"time_offsets"`
	Consumers  []ConsumerHealth   `json:"consumers"`
	Disk       *DiskHealth        `json:"disk,omitempty"`
	Clock      ClockHealth        `json:"clock"`
	Redelivery []RedeliveryHealth `json:"redelivery"`
	// Overflow counts the records of streams beyond Config.MaxStreams,
	// which are not watched.
	Overflow uint64 `json:"overflow"`
}

// FailureView is a Failure with its duration so far.
type FailureView struct {
	Failure
	DurationSeconds float64 `json:"duration_seconds"`
}

// StreamHealth is one source, or one table of a source ("table" set).
type StreamHealth struct {
	Source       string    `json:"source"`
	Table        string    `json:"table,omitempty"`
	Records      uint64    `json:"records"`
	LastReceived time.Time `json:"last_received,omitzero"`
	// SilentSeconds is the time since the last record; BoundSeconds the
	// silence allowed (0: not watched), set as BoundFrom says
	// (configured, learned, default, off, learning).
	SilentSeconds float64 `json:"silent_seconds"`
	BoundSeconds  float64 `json:"bound_seconds"`
	BoundFrom     string  `json:"bound_from"`
	Silent        bool    `json:"silent"` // a silence failure lasts
}

// KubeAuditHealth is the stage accounting of one source's Kubernetes audit
// events.
type KubeAuditHealth struct {
	Source string `json:"source"`
	// Paired: the source has shown it logs RequestReceived and the end
	// of requests, so lost ends are detected.
	Paired   bool   `json:"paired"`
	Received uint64 `json:"received"` // requests seen at RequestReceived
	Matched  uint64 `json:"matched"`  // of which ended
	Pending  int    `json:"pending"`
	Lost     uint64 `json:"lost"`
	Evicted  uint64 `json:"evicted"`
	// Unchecked ended the timeout before the source was paired.
	Unchecked uint64 `json:"unchecked"`
}

// ConsumerHealth is the last lag reported of a consumer.
type ConsumerHealth struct {
	Consumer      string    `json:"consumer"`
	Behind        uint64    `json:"behind"`
	OldestSeconds float64   `json:"oldest_seconds"`
	At            time.Time `json:"at"`
	Lagging       bool      `json:"lagging"`
}

// DiskHealth is the last disk check.
type DiskHealth struct {
	DiskUsage
	Error string `json:"error,omitempty"`
	Low   bool   `json:"low"`
}

// ClockHealth is the watch on cdewatch's clock.
type ClockHealth struct {
	Jumps           uint64  `json:"jumps"`
	LastJumpSeconds float64 `json:"last_jump_seconds"`
}

// RedeliveryHealth is one source's redeliveries within the window.
type RedeliveryHealth struct {
	Source     string `json:"source"`
	Stored     uint64 `json:"stored"`
	Duplicates uint64 `json:"duplicates"`
	Storm      bool   `json:"storm"`
}

// maxRecentView caps Summary.Recent.
const maxRecentView = 50

// Summary returns the state of health at the wall clock now.
func (m *Monitor) Summary() Summary {
	now := m.cfg.Now().UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{Time: now, Healthy: len(m.fs.open) == 0, Open: []FailureView{}, Recent: []FailureView{},
		Streams: []StreamHealth{}, KubeAudit: []KubeAuditHealth{}, Offsets: []SkewStats{}, Consumers: []ConsumerHealth{},
		Redelivery: []RedeliveryHealth{}, Overflow: m.overflow,
		Clock: ClockHealth{Jumps: m.jumps, LastJumpSeconds: m.lastJump.Seconds()}}
	for _, f := range m.fs.open {
		s.Open = append(s.Open, FailureView{*f, f.Duration(now).Seconds()})
	}
	slices.SortFunc(s.Open, func(a, b FailureView) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i := len(m.fs.recent) - 1; i >= 0 && len(s.Recent) < maxRecentView; i-- {
		f := m.fs.recent[i]
		s.Recent = append(s.Recent, FailureView{*f, f.Duration(now).Seconds()})
	}
	view := func(st *stream) StreamHealth {
		b, from := m.silenceBound(st)
		h := StreamHealth{Source: st.source, Table: st.table, Records: st.records, BoundSeconds: b.Seconds(), BoundFrom: from,
			Silent: m.fs.open[failureKey{ControlSourceSilent, st.name}] != nil}
		if st.last != 0 {
			h.LastReceived = time.Unix(0, st.last).UTC()
			h.SilentSeconds = max(now.Sub(h.LastReceived), 0).Seconds()
		}
		return h
	}
	for _, src := range m.sortedSources() {
		s.Streams = append(s.Streams, view(&src.all))
		for _, t := range sortedTables(src) {
			s.Streams = append(s.Streams, view(t))
		}
		if a := src.audit; a != nil {
			s.KubeAudit = append(s.KubeAudit, KubeAuditHealth{Source: src.all.source, Paired: a.paired, Received: a.received,
				Matched: a.matched, Pending: len(a.pending), Lost: a.lost, Evicted: a.evicted, Unchecked: a.unchecked})
		}
		if src.skew.count > 0 {
			s.Offsets = append(s.Offsets, m.skewStats(src))
		}
	}
	for _, n := range sortedKeys(m.lags) {
		l := m.lags[n]
		s.Consumers = append(s.Consumers, ConsumerHealth{Consumer: n, Behind: l.Behind, OldestSeconds: l.Oldest.Seconds(), At: l.At,
			Lagging: m.fs.open[failureKey{ControlConsumerLag, n}] != nil})
	}
	if m.disk != nil {
		s.Disk = &DiskHealth{DiskUsage: *m.disk, Error: m.diskErr,
			Low: m.fs.open[failureKey{ControlDiskSpace, m.cfg.Disk.Path}] != nil}
	}
	for _, n := range sortedKeys(m.ingest) {
		r := m.ingest[n]
		h := RedeliveryHealth{Source: n, Storm: m.fs.open[failureKey{ControlRedelivery, n}] != nil}
		if len(r.samples) > 1 {
			first, last := r.samples[0], r.samples[len(r.samples)-1]
			h.Stored, h.Duplicates = last.stored-first.stored, last.duplicates-first.duplicates
		}
		s.Redelivery = append(s.Redelivery, h)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Failures returns the failures that last and the recent ended ones,
// oldest first.
func (m *Monitor) Failures() []Failure {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Failure, 0, len(m.fs.open)+len(m.fs.recent))
	for _, f := range m.fs.recent {
		out = append(out, *f)
	}
	for _, f := range m.fs.open {
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b Failure) int { return a.Start.Compare(b.Start) })
	return out
}
