package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// stateVersion is the version of the state's JSON (FORMAT.md).
const stateVersion = 1

// stateJSON is the monitor's state as the detector saves it.
type stateJSON struct {
	V        uint64            `json:"v"`
	Next     uint64            `json:"next"`
	Overflow uint64            `json:"overflow,omitempty"`
	Sources  []sourceJSON      `json:"sources"`
	Open     []*Failure        `json:"open,omitempty"`
	Recent   []*Failure        `json:"recent,omitempty"`
	Outbox   []selfAuditJSON   `json:"outbox,omitempty"`
	Alerts   []alert.Alert     `json:"alerts,omitempty"`
	Started  map[string]uint64 `json:"started,omitempty"`
	Dropped  uint64            `json:"dropped,omitempty"`
}

type sourceJSON struct {
	Source      string            `json:"source"`
	All         streamJSON        `json:"all"`
	Tables      []streamJSON      `json:"tables,omitempty"`
	Skew        *skewJSON         `json:"skew,omitempty"`
	Audit       *auditJSON        `json:"audit,omitempty"`
	TimeChanges map[string]uint64 `json:"time_changes,omitempty"`
}

type streamJSON struct {
	Table   string     `json:"table,omitempty"`
	Last    int64      `json:"last"`
	LastSeq uint64     `json:"last_seq"`
	Records uint64     `json:"records"`
	MaxGap  int64      `json:"max_gap"`
	Gaps    *sketch    `json:"gaps"`
	Rate    *rateState `json:"rate,omitempty"`
}

type skewJSON struct {
	WinStart int64   `json:"win_start"`
	Cur      *sketch `json:"cur"`
	Prev     *sketch `json:"prev"`
	Count    uint64  `json:"count"`
	Sum      float64 `json:"sum"`
	Ahead    int     `json:"ahead"`
	Behind   int     `json:"behind"`
	Within   int     `json:"within"`
	Observed int64   `json:"observed"`
}

type auditJSON struct {
	Pending   []pendingJSON `json:"pending"`
	Received  uint64        `json:"received"`
	Matched   uint64        `json:"matched"`
	Lost      uint64        `json:"lost"`
	Evicted   uint64        `json:"evicted"`
	Unchecked uint64        `json:"unchecked"`
	Paired    bool          `json:"paired"`
	NextSweep int64         `json:"next_sweep"`
	LastAlert int64         `json:"last_alert"`
	Report    lossReport    `json:"report"`
}

type pendingJSON struct {
	ID  string `json:"id"`
	At  int64  `json:"at"`
	Seq uint64 `json:"seq"`
}

// selfAuditJSON is a queued event.SelfAudit.
type selfAuditJSON struct {
	Action   string         `json:"action"`
	User     string         `json:"user"`
	Outcome  event.Outcome  `json:"outcome"`
	Resource string         `json:"resource"`
	Class    event.Class    `json:"class"`
	Details  map[string]any `json:"details"`
}

func (s *stream) toJSON() streamJSON {
	return streamJSON{Table: s.table, Last: s.last, LastSeq: s.lastSeq, Records: s.records, MaxGap: s.maxGap, Gaps: &s.gaps, Rate: s.rate}
}

// MarshalState implements detect.Stateful. See FORMAT.md.
func (m *Monitor) MarshalState() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := stateJSON{V: stateVersion, Next: m.next, Overflow: m.overflow, Sources: []sourceJSON{},
		Alerts: m.fs.alerts, Dropped: m.fs.dropped}
	if len(m.fs.started) > 0 {
		st.Started = m.fs.started
	}
	for _, src := range m.sortedSources() {
		sj := sourceJSON{Source: src.all.source, All: src.all.toJSON(), TimeChanges: src.timeChanges}
		for _, t := range sortedTables(src) {
			sj.Tables = append(sj.Tables, t.toJSON())
		}
		if k := &src.skew; k.count > 0 {
			sj.Skew = &skewJSON{WinStart: k.winStart, Cur: &k.cur, Prev: &k.prev, Count: k.count, Sum: k.sum,
				Ahead: k.ahead, Behind: k.behind, Within: k.within, Observed: k.observed}
		}
		if a := src.audit; a != nil {
			aj := &auditJSON{Pending: []pendingJSON{}, Received: a.received, Matched: a.matched, Lost: a.lost, Evicted: a.evicted,
				Unchecked: a.unchecked, Paired: a.paired, NextSweep: a.nextSweep, LastAlert: a.lastAlert, Report: a.report}
			for _, q := range a.queue[a.head:] {
				if at, ok := a.pending[q.id]; ok && at == q.at {
					aj.Pending = append(aj.Pending, pendingJSON{ID: q.id, At: q.at, Seq: q.seq})
				}
			}
			sj.Audit = aj
		}
		st.Sources = append(st.Sources, sj)
	}
	for _, f := range m.fs.open {
		st.Open = append(st.Open, f)
	}
	slices.SortFunc(st.Open, func(a, b *Failure) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	st.Recent = m.fs.recent
	for _, a := range m.fs.outbox {
		st.Outbox = append(st.Outbox, selfAuditJSON{Action: a.Action, User: a.User, Outcome: a.Outcome,
			Resource: a.Resource, Class: a.Class, Details: a.Details})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("save the health state: %w", err)
	}
	return b, nil
}

// UnmarshalState implements detect.Stateful: it replaces the state with
// one MarshalState returned (the detector calls it as it starts; a Tick
// before that finds little to do).
func (m *Monitor) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("restore the health state: %w", err)
	}
	if st.V != stateVersion {
		return fmt.Errorf("restore the health state: version %d, want %d", st.V, stateVersion)
	}
	// Built apart, so that a state declined leaves the monitor as it was.
	n := &Monitor{cfg: m.cfg, rateTabs: m.rateTabs}
	if err := n.restore(&st); err != nil {
		return fmt.Errorf("restore the health state: %w", err)
	}
	m.wmu.Lock() // no record is being written
	defer m.wmu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next, m.overflow, m.sources, m.streams, m.fs = n.next, n.overflow, n.sources, n.streams, n.fs
	return nil
}

// restore sets the persisted state of a new monitor from st.
func (m *Monitor) restore(st *stateJSON) error {
	m.reset()
	m.next, m.overflow = st.Next, st.Overflow
	restore := func(s *stream, j streamJSON) {
		s.last, s.lastSeq, s.records, s.maxGap = j.Last, j.LastSeq, j.Records, j.MaxGap
		if j.Gaps != nil {
			s.gaps = *j.Gaps
		}
		if s.rate != nil && j.Rate != nil {
			s.rate = j.Rate
		}
	}
	for _, sj := range st.Sources {
		if m.sources[sj.Source] != nil {
			return fmt.Errorf("source %q twice", sj.Source)
		}
		src := &source{all: stream{name: sj.Source, source: sj.Source}, tables: map[string]*stream{}, timeChanges: sj.TimeChanges}
		m.sources[sj.Source] = src
		m.streams++
		restore(&src.all, sj.All)
		for _, tj := range sj.Tables {
			t := m.getTable(src, tj.Table)
			if t == nil {
				break
			}
			restore(t, tj)
		}
		if k := sj.Skew; k != nil {
			s := &src.skew
			s.winStart, s.count, s.sum = k.WinStart, k.Count, k.Sum
			s.ahead, s.behind, s.within, s.observed = k.Ahead, k.Behind, k.Within, k.Observed
			if k.Cur != nil {
				s.cur = *k.Cur
			}
			if k.Prev != nil {
				s.prev = *k.Prev
			}
		}
		if aj := sj.Audit; aj != nil {
			a := newAuditStream()
			a.received, a.matched, a.lost, a.evicted, a.unchecked = aj.Received, aj.Matched, aj.Lost, aj.Evicted, aj.Unchecked
			a.paired, a.nextSweep, a.lastAlert, a.report = aj.Paired, aj.NextSweep, aj.LastAlert, aj.Report
			for _, p := range aj.Pending {
				if _, dup := a.pending[p.ID]; dup || len(a.pending) >= m.cfg.KubeAudit.MaxPending {
					continue
				}
				a.pending[p.ID] = p.At
				a.queue = append(a.queue, pendingReq{id: p.ID, at: p.At, seq: p.Seq})
			}
			src.audit = a
		}
	}
	for _, f := range st.Open {
		if f == nil || !validFailureID(f.ID) {
			return errors.New("a lasting failure without a valid id")
		}
		f.End = f.End.UTC()
		m.fs.open[failureKey{f.Control, f.Subject}] = f
		m.fs.byID[f.ID] = f
	}
	for _, f := range st.Recent {
		if f != nil && validFailureID(f.ID) {
			m.fs.addRecent(f)
		}
	}
	for _, a := range st.Outbox {
		m.fs.outbox = append(m.fs.outbox, event.SelfAudit{Action: a.Action, User: a.User, Outcome: a.Outcome,
			Resource: a.Resource, Class: a.Class, Details: a.Details})
	}
	m.fs.alerts = st.Alerts
	if st.Started != nil {
		m.fs.started = st.Started
	}
	m.fs.dropped = st.Dropped
	return nil
}
