package sigma

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// Observation is a match of a rule that correlations refer to: what the
// Correlator is fed, by Set.EvalCorrelate or directly.
type Observation struct {
	// Rule is the id of the rule (or correlation) that matched.
	Rule string
	// Fields are the values of the fields the correlations group (and
	// count) by, by the names the rule's events have them under (the
	// correlation's aliases resolved). An absent field groups as "".
	Fields map[string]string
	// Time is the event time, Seq the ledger sequence number of the event
	// and Source its source.
	Time   time.Time
	Seq    uint64
	Source string
	// Evidence are the sequence numbers behind the observation when it is
	// a correlation's (chained correlations); nil for one event.
	Evidence []uint64
}

// Limits of the correlator's state.
const (
	// maxEvidence caps the sequence numbers kept per group of a window
	// decided at its end (the first and the last half are kept).
	maxEvidence = 200
	// maxGroups caps the groups of one correlation; past it the group
	// least recently seen is dropped.
	maxGroups = 100000
)

// Correlator evaluates the correlation rules of a Set over the matches it
// is fed, with sliding windows per group. Its state survives restarts
// through MarshalJSON and UnmarshalJSON. It is safe for concurrent use.
//
// A condition with lower bounds only (gt, gte) is checked on every match
// over the window of Timespan ending at the group's latest event, and
// fires as soon as it holds; the group then starts afresh. A condition
// with an upper bound (lt, lte, eq) is decided when the window that
// opened with the group's first event closes: when an observed event time
// (or Advance) passes its end. Time is event time: the latest time
// observed is the correlator's clock.
type Correlator struct {
	mu     sync.Mutex
	set    *Set
	now    func() time.Time
	states []*corrState
	byRule map[string][]ruleRef
	mark   time.Time // the latest event time observed
	swept  time.Time // when expired groups were last closed
}

type ruleRef struct {
	st  *corrState
	pos int // position of the rule in the correlation's Refs
}

type corrState struct {
	c      *Correlation
	groups map[string]*groupState
}

// groupState is the state of one group of one correlation.
type groupState struct {
	Values  []string `json:"values"`            // the group-by values
	Source  string   `json:"source,omitempty"`  // source of the latest event
	Max     int64    `json:"max"`               // latest event time, Unix ns
	Start   int64    `json:"start,omitempty"`   // window start of a condition decided at its end
	Count   int      `json:"count,omitempty"`   // events of such a window
	Entries []entry  `json:"entries,omitempty"` // events, distinct values or rules in the window
	Chain   []*chain `json:"chain,omitempty"`   // temporal_ordered: best partial sequence ending at each rule
}

// entry is one event (event_count), the latest event of one value
// (value_count) or of one rule (temporal).
type entry struct {
	T    int64    `json:"t"`
	Seq  uint64   `json:"seq"`
	Seqs []uint64 `json:"seqs,omitempty"`
	Rule int      `json:"rule,omitempty"`
	V    string   `json:"v,omitempty"`
}

type chain struct {
	Start int64   `json:"start"`
	Last  int64   `json:"last"`
	Ev    []entry `json:"ev"`
}

// NewCorrelator returns a correlator for the correlation rules of s.
func NewCorrelator(s *Set) *Correlator {
	c := &Correlator{set: s, now: s.now, byRule: map[string][]ruleRef{}}
	for _, corr := range s.corrs {
		st := &corrState{c: corr, groups: map[string]*groupState{}}
		c.states = append(c.states, st)
		for i, id := range corr.Refs {
			c.byRule[id] = append(c.byRule[id], ruleRef{st: st, pos: i})
		}
	}
	return c
}

// Observe feeds one match and calls emit with the alerts of the
// correlations it completes.
func (c *Correlator) Observe(o Observation, emit func(alert.Alert)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observe(o, emit)
}

// Advance moves the correlator's clock to now (when later than the latest
// event time observed), closing the windows that end by then, and calls
// emit with the alerts of the conditions decided at a window's end (lt,
// lte, eq) that hold.
func (c *Correlator) Advance(now time.Time, emit func(alert.Alert)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.mark) {
		c.mark = now
	}
	c.sweep(emit)
}

func (c *Correlator) observe(o Observation, emit func(alert.Alert)) {
	refs := c.byRule[o.Rule]
	if o.Time.After(c.mark) {
		c.mark = o.Time
	}
	if c.mark.Sub(c.swept) >= time.Second {
		c.sweep(emit)
	}
	t := o.Time.UnixNano()
	ev := entry{T: t, Seq: o.Seq, Seqs: o.Evidence}
	for i, ref := range refs {
		if i > 0 && refs[i-1].st == ref.st {
			continue
		}
		corr := ref.st.c
		d := corr.deps[ref.pos]
		vals := make([]string, len(corr.GroupBy))
		for j, g := range corr.GroupBy {
			vals[j] = o.Fields[corr.fieldFor(g, d)]
		}
		key := strings.Join(vals, "\x1f")
		gs := ref.st.groups[key]
		if gs == nil {
			if len(ref.st.groups) >= maxGroups {
				ref.st.evictOldest()
			}
			gs = &groupState{Values: vals, Start: t}
			ref.st.groups[key] = gs
		}
		if t > gs.Max {
			gs.Max = t
		}
		gs.Source = o.Source
		span := corr.Timespan.Nanoseconds()
		e := ev
		switch corr.Type {
		case EventCount:
			if !corr.eager() {
				gs.Count++
				gs.Entries = appendEvidence(gs.Entries, e)
				continue
			}
			gs.Entries = insertByTime(gs.Entries, e)
			gs.Entries = pruneBefore(gs.Entries, gs.Max-span)
			if corr.holds(len(gs.Entries)) {
				c.fire(ref.st, key, gs, len(gs.Entries), emit)
			}
		case ValueCount:
			var parts []string
			present := false
			for _, f := range corr.CountFields {
				v, ok := o.Fields[corr.fieldFor(f, d)]
				present = present || ok
				parts = append(parts, v)
			}
			if !present {
				continue // nothing to count
			}
			e.V = strings.Join(parts, "\x1f")
			gs.Entries = upsertValue(gs.Entries, e)
			if corr.eager() {
				gs.Entries = pruneBefore(gs.Entries, gs.Max-span)
				if corr.holds(len(gs.Entries)) {
					c.fire(ref.st, key, gs, len(gs.Entries), emit)
				}
			}
		case Temporal:
			for _, r := range refs[i:] {
				if r.st != ref.st {
					break
				}
				e.Rule = r.pos
				gs.Entries = upsertRule(gs.Entries, e)
			}
			gs.Entries = pruneBefore(gs.Entries, gs.Max-span)
			if corr.holds(len(gs.Entries)) {
				c.fire(ref.st, key, gs, len(gs.Entries), emit)
			}
		case TemporalOrdered:
			var positions []int
			for _, r := range refs[i:] {
				if r.st != ref.st {
					break
				}
				positions = append(positions, r.pos)
			}
			if n, done := gs.advanceChain(positions, e, len(corr.Refs), span, corr); done {
				c.fire(ref.st, key, gs, n, emit)
			}
		}
	}
}

// advanceChain extends the partial sequences with an event of the rules
// at positions; it reports the length of the sequence that completes the
// condition, if one does.
func (gs *groupState) advanceChain(positions []int, e entry, n int, span int64, corr *Correlation) (int, bool) {
	if len(gs.Chain) != n {
		gs.Chain = make([]*chain, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(positions))) // a later step first: one event is one step
	done := -1
	for _, p := range positions {
		e.Rule = p
		var next *chain
		if p == 0 {
			next = &chain{Start: e.T, Last: e.T, Ev: []entry{e}}
		} else if prev := gs.Chain[p-1]; prev != nil && prev.Last <= e.T && e.T-prev.Start <= span {
			next = &chain{Start: prev.Start, Last: e.T, Ev: append(append([]entry(nil), prev.Ev...), e)}
		}
		if next != nil && (gs.Chain[p] == nil || next.Start >= gs.Chain[p].Start) {
			gs.Chain[p] = next
			if corr.holds(p+1) && done < 0 {
				done = p
			}
		}
	}
	for i, ch := range gs.Chain {
		if ch != nil && ch.Start < gs.Max-span {
			gs.Chain[i] = nil
		}
	}
	if done >= 0 && gs.Chain[done] != nil {
		gs.Entries = gs.Chain[done].Ev
		return done + 1, true
	}
	return 0, false
}

func insertByTime(es []entry, e entry) []entry {
	i := sort.Search(len(es), func(i int) bool { return es[i].T > e.T })
	es = append(es, entry{})
	copy(es[i+1:], es[i:])
	es[i] = e
	return es
}

// pruneBefore drops the entries older than from (kept in time order).
func pruneBefore(es []entry, from int64) []entry {
	sort.SliceStable(es, func(i, j int) bool { return es[i].T < es[j].T })
	i := 0
	for i < len(es) && es[i].T < from {
		i++
	}
	if i == 0 {
		return es
	}
	return append(es[:0], es[i:]...)
}

func upsertValue(es []entry, e entry) []entry {
	for i := range es {
		if es[i].V == e.V {
			if e.T >= es[i].T {
				es[i] = e
			}
			return es
		}
	}
	return append(es, e)
}

func upsertRule(es []entry, e entry) []entry {
	for i := range es {
		if es[i].Rule == e.Rule {
			if e.T >= es[i].T {
				es[i] = e
			}
			return es
		}
	}
	return append(es, e)
}

// appendEvidence keeps the first and the last events of a large window.
func appendEvidence(es []entry, e entry) []entry {
	if len(es) >= maxEvidence {
		copy(es[maxEvidence/2:], es[maxEvidence/2+1:])
		es = es[:len(es)-1]
	}
	return append(es, e)
}

func (st *corrState) evictOldest() {
	var oldest string
	var t int64
	first := true
	for k, g := range st.groups {
		if first || g.Max < t || (g.Max == t && k < oldest) {
			oldest, t, first = k, g.Max, false
		}
	}
	delete(st.groups, oldest)
}

// sweep closes the windows that ended by the clock: it decides the
// conditions with an upper bound and forgets the groups whose events all
// left the window.
func (c *Correlator) sweep(emit func(alert.Alert)) {
	c.swept = c.mark
	now := c.mark.UnixNano()
	for _, st := range c.states {
		span := st.c.Timespan.Nanoseconds()
		var closing []string
		for k, gs := range st.groups {
			switch {
			case !st.c.eager():
				if gs.Start+span <= now {
					closing = append(closing, k)
				}
			case gs.Max+span < now:
				delete(st.groups, k)
			}
		}
		sort.Strings(closing)
		for _, k := range closing {
			gs := st.groups[k]
			n := gs.Count
			if st.c.Type == ValueCount {
				n = len(gs.Entries)
			}
			if st.c.holds(n) {
				c.fire(st, k, gs, n, emit)
			} else {
				delete(st.groups, k)
			}
		}
	}
}

// fire emits the alert of a correlation whose condition holds for group
// key, forgets the group, and feeds the correlations that refer to it.
func (c *Correlator) fire(st *corrState, key string, gs *groupState, n int, emit func(alert.Alert)) {
	delete(st.groups, key)
	corr := st.c
	var seqs []uint64
	var last entry
	evs := append([]entry(nil), gs.Entries...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].T < evs[j].T })
	for _, e := range evs {
		if len(e.Seqs) > 0 {
			seqs = append(seqs, e.Seqs...)
		} else {
			seqs = append(seqs, e.Seq)
		}
		last = e
	}
	if len(seqs) > maxEvidence {
		seqs = append(seqs[:maxEvidence/2:maxEvidence/2], seqs[len(seqs)-maxEvidence/2:]...)
	}
	fields := map[string]string{}
	var kv []string
	for i, g := range corr.GroupBy {
		fields[g] = clip(gs.Values[i])
		kv = append(kv, g+"="+gs.Values[i])
	}
	what := map[string]string{EventCount: "events", ValueCount: "distinct values", Temporal: "rules matched", TemporalOrdered: "rules matched in order"}[corr.Type]
	if n == 1 {
		what = map[string]string{EventCount: "event", ValueCount: "distinct value", Temporal: "rule matched", TemporalOrdered: "rule matched in order"}[corr.Type]
	}
	fields["count"] = strconv.Itoa(n)
	if corr.Type == ValueCount {
		fields["count_of"] = strings.Join(corr.CountFields, ",")
	}
	kind := "threshold"
	if corr.Type == Temporal || corr.Type == TemporalOrdered {
		kind = "sequence"
	}
	group := strings.Join(kv, ", ")
	if group == "" {
		group = "all events"
	}
	t := time.Unix(0, last.T).UTC()
	if corr.emits {
		emit(alert.Alert{
			Rule:      corr.ID,
			RuleTitle: corr.Title,
			Kind:      kind,
			Severity:  corr.Severity,
			PCI:       append([]string(nil), corr.PCI...),
			MITRE:     append([]string(nil), corr.MITRE...),
			Source:    gs.Source,
			Time:      t,
			Detected:  detected(c.now),
			Seqs:      seqs,
			Key:       strings.Join(append([]string{corr.ID}, kv...), "|"),
			Summary:   fmt.Sprintf("%s: %d %s within %s for %s", corr.Title, n, what, spanText(corr.Timespan), group),
			Fields:    fields,
		})
	}
	if len(c.byRule[corr.ID]) > 0 {
		o := Observation{Rule: corr.ID, Time: t, Seq: last.Seq, Source: gs.Source, Evidence: seqs, Fields: map[string]string{}}
		for i, g := range corr.GroupBy {
			o.Fields[g] = gs.Values[i]
		}
		c.observe(o, emit)
	}
}

// savedState is the serialized form of a Correlator.
type savedState struct {
	Version      int                  `json:"version"`
	Clock        time.Time            `json:"clock"`
	Correlations map[string]savedCorr `json:"correlations"`
}

type savedCorr struct {
	Fingerprint string                 `json:"fingerprint"`
	Groups      map[string]*groupState `json:"groups"`
}

const stateVersion = 1

// MarshalJSON saves the state: the open groups of every correlation with
// their windows, and the clock.
func (c *Correlator) MarshalJSON() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := savedState{Version: stateVersion, Clock: c.mark, Correlations: map[string]savedCorr{}}
	for _, st := range c.states {
		if len(st.groups) > 0 {
			s.Correlations[st.c.ID] = savedCorr{Fingerprint: st.c.fp, Groups: st.groups}
		}
	}
	return json.Marshal(s)
}

// UnmarshalJSON restores state saved by MarshalJSON into a correlator
// made by NewCorrelator, replacing its state. The state of a correlation
// no longer in the set, or whose definition (type, rules, group-by,
// timespan, condition, aliases) changed, is dropped.
func (c *Correlator) UnmarshalJSON(b []byte) error {
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("sigma: correlator state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("sigma: correlator state version %d, want %d", s.Version, stateVersion)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mark, c.swept = s.Clock, s.Clock
	for _, st := range c.states {
		st.groups = map[string]*groupState{}
		sc, ok := s.Correlations[st.c.ID]
		if !ok || sc.Fingerprint != st.c.fp {
			continue
		}
		for k, g := range sc.Groups {
			if g == nil || len(g.Values) != len(st.c.GroupBy) {
				continue
			}
			for _, e := range g.Entries {
				if e.Rule < 0 || e.Rule >= len(st.c.Refs) {
					return fmt.Errorf("sigma: correlator state: correlation %s: rule position %d out of range", st.c.ID, e.Rule)
				}
			}
			if len(g.Chain) != 0 && len(g.Chain) != len(st.c.Refs) {
				g.Chain = nil
			}
			st.groups[k] = g
		}
	}
	return nil
}

// spanText renders a time span as Sigma writes it: 90m, 1h, 2d.
func spanText(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
