// Package correlate detects patterns across events: thresholds (at least
// N matching events of one group within a sliding window, optionally N
// distinct values of a field) and ordered sequences (step 1, then step 2,
// … by the same group within a window). Its state can be saved and
// restored, so that a restart of the detector does not forget a window in
// progress.
package correlate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
)

// Meta is what an alert of a rule says about the rule.
type Meta struct {
	ID       string
	Title    string
	Severity alert.Severity
	PCI      []string
	MITRE    []string
	// Tables limits the rule to records of these ledger tables; empty:
	// all.
	Tables []string
}

// Threshold fires when at least Count events matching Match, of one group
// (the values of GroupBy), fall within Window — or, with Distinct set, when
// they carry at least Count distinct values of that field (e.g. one IP
// trying many users). After firing, the group starts counting afresh.
type Threshold struct {
	Meta
	Match    detect.Matcher
	GroupBy  []string // field paths (detect.Event.Field)
	Distinct string   // optional field path
	Count    int
	Window   time.Duration
}

// Sequence fires when events matching Steps[0], Steps[1], … occur in that
// order (ledger order), of one group, the last within Window of the first.
type Sequence struct {
	Meta
	Steps   []detect.Matcher
	GroupBy []string
	Window  time.Duration
}

// MaxGroups bounds the groups an Engine tracks per rule; beyond it the
// group seen least recently is forgotten.
const MaxGroups = 100_000

// maxSeqs bounds the evidence seqs an alert carries.
const maxSeqs = 200

// Engine evaluates thresholds and sequences; it is a detect.Evaluator.
// Not safe for concurrent use (the detector calls it from one goroutine).
type Engine struct {
	thresholds []*Threshold
	sequences  []*Sequence
	st         state
}

// hit is one matching event in a window.
type hit struct {
	T     time.Time `json:"t"`
	Seq   uint64    `json:"s"`
	Value string    `json:"v,omitempty"` // the Distinct field's value
}

// group is the progress of one group of one rule.
type group struct {
	Hits []hit     `json:"hits,omitempty"` // thresholds: matches in the window; sequences: the steps matched so far
	Last time.Time `json:"last"`
}

// state is the serializable progress: rule id → group key → group.
type state struct {
	Rules map[string]map[string]*group `json:"rules"`
}

// New returns an engine for the rules. Rule ids must be unique.
func New(thresholds []*Threshold, sequences []*Sequence) (*Engine, error) {
	seen := map[string]bool{}
	check := func(m Meta, window time.Duration) error {
		switch {
		case m.ID == "":
			return fmt.Errorf("correlation rule without an id")
		case seen[m.ID]:
			return fmt.Errorf("correlation rule %s: id used twice", m.ID)
		case window <= 0:
			return fmt.Errorf("correlation rule %s: the window must be positive", m.ID)
		}
		seen[m.ID] = true
		return nil
	}
	for _, t := range thresholds {
		if err := check(t.Meta, t.Window); err != nil {
			return nil, err
		}
		if t.Count < 1 || t.Match == nil {
			return nil, fmt.Errorf("correlation rule %s: a threshold needs a condition and a count of at least 1", t.ID)
		}
	}
	for _, s := range sequences {
		if err := check(s.Meta, s.Window); err != nil {
			return nil, err
		}
		if len(s.Steps) < 2 || slices.Contains(s.Steps, nil) {
			return nil, fmt.Errorf("correlation rule %s: a sequence needs at least two steps", s.ID)
		}
	}
	return &Engine{thresholds: thresholds, sequences: sequences, st: state{Rules: map[string]map[string]*group{}}}, nil
}

func applies(m *Meta, e *detect.Event) bool {
	return len(m.Tables) == 0 || slices.Contains(m.Tables, e.Rec.Table)
}

// groupKey returns the group of e and its fields, and false when a
// group-by field is absent (the event then belongs to no group).
func groupKey(e *detect.Event, by []string) (string, map[string]string, bool) {
	if len(by) == 0 {
		return "", nil, true
	}
	parts := make([]string, len(by))
	fields := make(map[string]string, len(by))
	for i, f := range by {
		v, ok := e.Field(f)
		if !ok || v == nil {
			return "", nil, false
		}
		parts[i] = text(v)
		fields[f] = parts[i]
	}
	return strings.Join(parts, "\x00"), fields, true
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (en *Engine) groups(id string) map[string]*group {
	g := en.st.Rules[id]
	if g == nil {
		g = map[string]*group{}
		en.st.Rules[id] = g
	}
	return g
}

// touch returns the group of key, creating it (and forgetting the least
// recently seen group when there are too many).
func touch(gs map[string]*group, key string, t time.Time) *group {
	g := gs[key]
	if g == nil {
		if len(gs) >= MaxGroups {
			var oldest string
			var ot time.Time
			for k, v := range gs {
				if oldest == "" || v.Last.Before(ot) {
					oldest, ot = k, v.Last
				}
			}
			delete(gs, oldest)
		}
		g = &group{}
		gs[key] = g
	}
	if t.After(g.Last) {
		g.Last = t
	}
	return g
}

// Eval implements detect.Evaluator.
func (en *Engine) Eval(e *detect.Event, emit func(alert.Alert)) {
	t := e.Rec.Time
	if t.IsZero() {
		t = e.Rec.Received
	}
	for _, r := range en.thresholds {
		if !applies(&r.Meta, e) || !r.Match.Match(e) {
			continue
		}
		key, fields, ok := groupKey(e, r.GroupBy)
		if !ok {
			continue
		}
		h := hit{T: t, Seq: e.Seq}
		if r.Distinct != "" {
			v, ok := e.Field(r.Distinct)
			if !ok {
				continue
			}
			h.Value = text(v)
		}
		gs := en.groups(r.ID)
		g := touch(gs, key, t)
		g.Hits = append(g.Hits, h)
		// Keep the hits within Window of the newest (by event time).
		cut := t.Add(-r.Window)
		g.Hits = slices.DeleteFunc(g.Hits, func(x hit) bool { return x.T.Before(cut) })
		n := len(g.Hits)
		if r.Distinct != "" {
			vals := map[string]bool{}
			for _, x := range g.Hits {
				vals[x.Value] = true
			}
			n = len(vals)
		}
		if n >= r.Count {
			emit(en.alert(&r.Meta, "threshold", e, key, fields, g.Hits,
				fmt.Sprintf("%d %s within %s", n, countNoun(r), r.Window)))
			delete(gs, key)
		}
	}
	for _, r := range en.sequences {
		if !applies(&r.Meta, e) {
			continue
		}
		var key string
		var fields map[string]string
		keyed := false
		gs := en.groups(r.ID)
		for step := len(r.Steps) - 1; step >= 0; step-- {
			if !r.Steps[step].Match(e) {
				continue
			}
			if !keyed {
				var ok bool
				if key, fields, ok = groupKey(e, r.GroupBy); !ok {
					break
				}
				keyed = true
			}
			g := gs[key]
			if step > 0 && (g == nil || len(g.Hits) != step || t.Sub(g.Hits[0].T) > r.Window) {
				continue // not the next step of a sequence in progress
			}
			g = touch(gs, key, t)
			if step == 0 {
				g.Hits = g.Hits[:0]
			}
			g.Hits = append(g.Hits, hit{T: t, Seq: e.Seq})
			if len(g.Hits) == len(r.Steps) {
				emit(en.alert(&r.Meta, "sequence", e, key, fields, g.Hits,
					fmt.Sprintf("%d steps within %s", len(r.Steps), r.Window)))
				delete(gs, key)
			}
			break
		}
	}
}

func countNoun(r *Threshold) string {
	if r.Distinct != "" {
		return "distinct " + r.Distinct + " values"
	}
	return "matching events"
}

func (en *Engine) alert(m *Meta, kind string, e *detect.Event, key string, fields map[string]string, hits []hit, what string) alert.Alert {
	seqs := make([]uint64, 0, min(len(hits), maxSeqs))
	for i, h := range hits {
		if len(hits) > maxSeqs && i >= maxSeqs/2 && i < len(hits)-maxSeqs/2 {
			continue // the first and the last of a large set
		}
		seqs = append(seqs, h.Seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	group := strings.ReplaceAll(key, "\x00", " ")
	summary := m.Title + ": " + what
	if group != "" {
		summary += " (" + group + ")"
	}
	return alert.Alert{
		Rule: m.ID, RuleTitle: m.Title, Kind: kind, Severity: m.Severity, PCI: m.PCI, MITRE: m.MITRE,
		Source: e.Rec.Source, Time: hits[len(hits)-1].T, Seqs: seqs, Key: m.ID + " " + group,
		Summary: summary, Fields: fields,
	}
}

// MarshalState returns the engine's progress (windows and sequences in
// progress) as JSON.
func (en *Engine) MarshalState() ([]byte, error) { return json.Marshal(en.st) }

// UnmarshalState restores progress saved by MarshalState; groups of rules
// that no longer exist are dropped.
func (en *Engine) UnmarshalState(b []byte) error {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("restore correlation state: %w", err)
	}
	known := map[string]bool{}
	for _, t := range en.thresholds {
		known[t.ID] = true
	}
	for _, s := range en.sequences {
		known[s.ID] = true
	}
	en.st = state{Rules: map[string]map[string]*group{}}
	for id, gs := range st.Rules {
		if known[id] && gs != nil {
			en.st.Rules[id] = gs
		}
	}
	return nil
}
