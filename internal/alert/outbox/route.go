package outbox

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Route selects the alerts a notifier receives. Every condition that is
// set must hold; within a list, one match is enough. The zero Route
// matches every alert.
type Route struct {
	// MinSeverity drops alerts below it (0: none dropped).
	MinSeverity alert.Severity `yaml:"min_severity"`
	// PCI keeps alerts tagged with one of these PCI DSS requirements:
	// a 10.2.1.x class name (chd-access, admin-action, log-access,
	// invalid-access, credential-change, log-init-stop, system-object) or
	// a requirement number, which also matches the requirements under it
	// ("10.2" matches "10.2.1.4"; "10.2.1" does not match "10.2.10").
	PCI []string `yaml:"pci"`
	// Sources keeps alerts whose source matches one of these path.Match
	// patterns, e.g. "aks-prod-*".
	Sources []string `yaml:"sources"`
	// Rules keeps alerts whose rule matches one of these path.Match
	// patterns, e.g. "pci.*"; ExcludeRules then drops those matching one
	// of its patterns.
	Rules        []string `yaml:"rules"`
	ExcludeRules []string `yaml:"exclude_rules"`
}

var reqRE = regexp.MustCompile(`^\d+(\.\d+)*$`)

// Validate checks the route.
func (r Route) Validate() error {
	_, err := r.Matcher()
	return err
}

// Matcher builds the match function of the route.
func (r Route) Matcher() (func(alert.Alert) bool, error) {
	if r.MinSeverity != 0 && (r.MinSeverity < alert.Info || r.MinSeverity > alert.Critical) {
		return nil, fmt.Errorf("route: min_severity %d out of range", r.MinSeverity)
	}
	var reqs []string
	for _, p := range r.PCI {
		if reqRE.MatchString(p) {
			reqs = append(reqs, p)
			continue
		}
		c, err := event.ParseClass(p)
		if err != nil {
			return nil, fmt.Errorf("route: pci: %q is neither a requirement number nor a 10.2.1.x class name", p)
		}
		reqs = append(reqs, c.Requirements()...)
	}
	for _, list := range [][]string{r.Sources, r.Rules, r.ExcludeRules} {
		for _, p := range list {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("route: pattern %q: %w", p, err)
			}
		}
	}
	anyGlob := func(pats []string, s string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, s); ok {
				return true
			}
		}
		return false
	}
	minSev, sources, rules, exclude := r.MinSeverity, slices.Clone(r.Sources), slices.Clone(r.Rules), slices.Clone(r.ExcludeRules)
	return func(a alert.Alert) bool {
		if a.Severity < minSev {
			return false
		}
		if len(reqs) > 0 && !pciMatch(reqs, a.PCI) {
			return false
		}
		if len(sources) > 0 && !anyGlob(sources, a.Source) {
			return false
		}
		if len(rules) > 0 && !anyGlob(rules, a.Rule) {
			return false
		}
		return !anyGlob(exclude, a.Rule)
	}, nil
}

func pciMatch(want, have []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w || strings.HasPrefix(h, w+".") {
				return true
			}
		}
	}
	return false
}

// Throttle limits how many alerts of one kind a notifier sends: at most Max
// per Window for each throttle key. The alerts beyond are not sent but
// counted, and one summary alert (kind "throttled") per key reports them
// when the window ends: none is dropped silently.
type Throttle struct {
	// Max alerts per Window and key; 0 turns throttling off.
	Max    int           `yaml:"max"`
	Window time.Duration `yaml:"window"`
	// By is the throttle key: "key" (the default: the alert's rule and
	// its Key, e.g. rule + subject + namespace) or "rule".
	By string `yaml:"by"`
}

// Validate checks the throttle.
func (t Throttle) Validate() error {
	if t.Max < 0 {
		return fmt.Errorf("throttle: max must not be negative")
	}
	if t.Max > 0 && t.Window <= 0 {
		return fmt.Errorf("throttle: window is required with max")
	}
	switch t.By {
	case "", "key", "rule":
	default:
		return fmt.Errorf("throttle: by %q: want key or rule", t.By)
	}
	return nil
}

func (t Throttle) key(a alert.Alert) string {
	if t.By == "rule" {
		return a.Rule
	}
	return a.Rule + "\x00" + a.Key
}

// throttleState is the per-key windows of one notifier; it is persisted
// with the notifier's cursor, so suppressed counts survive a restart.
type throttleState map[string]*window

type window struct {
	Start time.Time   `json:"start"`
	Sent  int         `json:"sent"`
	Sup   *suppressed `json:"suppressed,omitempty"`
}

// suppressed summarizes the alerts a window held back.
type suppressed struct {
	Count     int            `json:"count"`
	Rule      string         `json:"rule"`
	RuleTitle string         `json:"rule_title,omitempty"`
	Key       string         `json:"key,omitempty"`
	Severity  alert.Severity `json:"severity"`
	PCI       []string       `json:"pci,omitempty"`
	MITRE     []string       `json:"mitre,omitempty"`
	Sources   []string       `json:"sources,omitempty"`
	First     time.Time      `json:"first"`    // earliest event time
	Last      time.Time      `json:"last"`     // latest event time
	Detected  time.Time      `json:"detected"` // latest detection time
	Seqs      []uint64       `json:"seqs,omitempty"`
	FirstID   uint64         `json:"first_id"` // outbox entry ids
	LastID    uint64         `json:"last_id"`
}

// maxSummarySeqs and maxSummarySources bound a summary's samples.
const (
	maxSummarySeqs    = 32
	maxSummarySources = 10
)

func (s throttleState) clone() throttleState {
	c := make(throttleState, len(s))
	for k, w := range s {
		w2 := *w
		if w.Sup != nil {
			sup := *w.Sup
			sup.PCI, sup.MITRE, sup.Sources, sup.Seqs = slices.Clone(sup.PCI), slices.Clone(sup.MITRE), slices.Clone(sup.Sources), slices.Clone(sup.Seqs)
			w2.Sup = &sup
		}
		c[k] = &w2
	}
	return c
}

// allow counts a in its key's window at now and reports whether it may be
// sent; if not it is added to the window's summary.
func (s throttleState) allow(t Throttle, a alert.Alert, id uint64, now time.Time) bool {
	k := t.key(a)
	w := s[k]
	if w == nil || !now.Before(w.Start.Add(t.Window)) && w.Sup == nil {
		w = &window{Start: now}
		s[k] = w
	}
	if w.Sent < t.Max {
		w.Sent++
		return true
	}
	if w.Sup == nil {
		w.Sup = &suppressed{Rule: a.Rule, RuleTitle: a.RuleTitle, Key: a.Key, FirstID: id, First: a.Time, Last: a.Time}
		if t.By == "rule" {
			w.Sup.Key = ""
		}
	}
	p := w.Sup
	p.Count++
	p.LastID = id
	p.Severity = max(p.Severity, a.Severity)
	p.PCI = union(p.PCI, a.PCI, 0)
	p.MITRE = union(p.MITRE, a.MITRE, 0)
	p.Sources = union(p.Sources, []string{a.Source}, maxSummarySources)
	if a.Time.Before(p.First) {
		p.First = a.Time
	}
	if a.Time.After(p.Last) {
		p.Last = a.Time
	}
	if a.Detected.After(p.Detected) {
		p.Detected = a.Detected
	}
	// Keep the first half of the sample and the most recent seqs.
	for _, q := range a.Seqs {
		if len(p.Seqs) < maxSummarySeqs {
			p.Seqs = append(p.Seqs, q)
		} else {
			h := maxSummarySeqs / 2
			copy(p.Seqs[h:], p.Seqs[h+1:])
			p.Seqs[len(p.Seqs)-1] = q
		}
	}
	return false
}

// due removes the windows that ended by now and returns the summaries of
// those that suppressed alerts, in key order: at most limit summaries
// (all if limit < 0); the windows of the others stay.
func (s throttleState) due(t Throttle, now time.Time, limit int) []alert.Alert {
	var keys []string
	for k, w := range s {
		if !now.Before(w.Start.Add(t.Window)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []alert.Alert
	for _, k := range keys {
		if w := s[k]; w.Sup != nil {
			if limit >= 0 && len(out) == limit {
				continue
			}
			out = append(out, summaryAlert(t, w))
		}
		delete(s, k)
	}
	return out
}

// nextDue returns when the next window with suppressed alerts ends (zero
// if none).
func (s throttleState) nextDue(t Throttle) time.Time {
	var next time.Time
	for _, w := range s {
		if w.Sup != nil {
			if end := w.Start.Add(t.Window); next.IsZero() || end.Before(next) {
				next = end
			}
		}
	}
	return next
}

// pendingSuppressed counts the alerts held in open summaries.
func (s throttleState) pendingSuppressed() int {
	n := 0
	for _, w := range s {
		if w.Sup != nil {
			n += w.Sup.Count
		}
	}
	return n
}

// summaryAlert is the alert that reports a window's suppressed alerts. Its
// content depends only on the window, so a retried summary keeps its
// idempotency id.
func summaryAlert(t Throttle, w *window) alert.Alert {
	p := w.Sup
	keyedBy := "key"
	if t.By == "rule" {
		keyedBy = "rule"
	}
	title := p.Rule
	if p.RuleTitle != "" {
		title = p.RuleTitle
	}
	return alert.Alert{
		Rule:      p.Rule,
		RuleTitle: p.RuleTitle,
		Kind:      "throttled",
		Severity:  p.Severity,
		PCI:       p.PCI,
		MITRE:     p.MITRE,
		Source:    strings.Join(p.Sources, ","),
		Time:      p.Last,
		Detected:  p.Detected,
		Seqs:      p.Seqs,
		Key:       p.Key,
		Summary: fmt.Sprintf("%d more %s of %q suppressed by throttling (at most %d per %s) between %s and %s",
			p.Count, plural(p.Count, "alert", "alerts"), title, t.Max, t.Window,
			p.First.UTC().Format(time.RFC3339), p.Last.UTC().Format(time.RFC3339)),
		Fields: map[string]string{
			"suppressed":        strconv.Itoa(p.Count),
			"window_start":      w.Start.UTC().Format(time.RFC3339Nano),
			"window":            t.Window.String(),
			"first_time":        p.First.UTC().Format(time.RFC3339Nano),
			"last_time":         p.Last.UTC().Format(time.RFC3339Nano),
			"outbox_first_id":   strconv.FormatUint(p.FirstID, 10),
			"outbox_last_id":    strconv.FormatUint(p.LastID, 10),
			"throttle_max":      strconv.Itoa(t.Max),
			"throttle_keyed_by": keyedBy,
		},
	}
}

// union adds the elements of b missing from a, keeping a sorted, with at
// most limit elements (0: no limit).
func union(a, b []string, limit int) []string {
	for _, s := range b {
		if s == "" {
			continue
		}
		i, found := slices.BinarySearch(a, s)
		if found || limit > 0 && len(a) >= limit {
			continue
		}
		a = slices.Insert(a, i, s)
	}
	return a
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
