package sigma

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Set is a loaded set of Sigma rules, ready to evaluate. It is safe for
// concurrent use.
type Set struct {
	rules  []*Rule
	corrs  []*Correlation
	tables map[string]*group
	eng    *engine
	now    func() time.Time
}

// group is the rules of one ledger table with the index that picks, per
// event, the rules that can match.
type group struct {
	rules  []*Rule
	always []int32 // rules no index field rules out
	fields []*indexField
}

// indexField maps the lower-cased values of one field to the rules that
// require the field to equal one of them.
type indexField struct {
	f    *fieldRef
	keys map[string][]int32
	all  []int32 // every rule indexed on the field
}

// Rules returns the detection rules, in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// Correlations returns the correlation rules, in load order.
func (s *Set) Correlations() []*Correlation { return s.corrs }

// Rule returns the detection rule with the id or name, or nil.
func (s *Set) Rule(idOrName string) *Rule {
	for _, r := range s.rules {
		if r.ID == idOrName || (r.Name != "" && r.Name == idOrName) {
			return r
		}
	}
	return nil
}

// Tables returns the ledger tables some rule applies to.
func (s *Set) Tables() []string { return sortedKeys(s.tables) }

// build makes the evaluation engine and the per-table indexes.
func (s *Set) build(b *builder) {
	s.eng = &engine{nfields: len(b.fieldIDs), nconds: b.nconds}
	s.tables = map[string]*group{}
	for _, r := range s.rules {
		r.eng = s.eng
		for _, t := range r.Tables {
			g := s.tables[t]
			if g == nil {
				g = &group{}
				s.tables[t] = g
			}
			g.rules = append(g.rules, r)
		}
		for _, name := range r.Fields {
			// Fields of interest: shown in alerts when they map.
			if f, err := b.field(r.mapper, name); err == nil && !containsRef(r.refs, f) {
				r.refs = append(r.refs, f)
			}
		}
	}
	s.eng.nfields = len(b.fieldIDs)
	for _, g := range s.tables {
		g.index(b.opts.noIndex)
	}
}

// index chooses for each rule one field it requires to equal one of a few
// values (the most common such field among the table's rules, then the
// one with the most distinct values), so that an event's value of that
// field selects the rules to evaluate.
func (g *group) index(off bool) {
	req := make([][]*fieldCond, len(g.rules))
	count := map[*fieldRef]int{}
	distinct := map[*fieldRef]map[string]bool{}
	if !off {
		for i, r := range g.rules {
			req[i] = required(r.match)
			seen := map[*fieldRef]bool{}
			for _, fc := range req[i] {
				if !seen[fc.f] {
					seen[fc.f] = true
					count[fc.f]++
				}
				if distinct[fc.f] == nil {
					distinct[fc.f] = map[string]bool{}
				}
				for _, k := range fc.indexKeys() {
					distinct[fc.f][k] = true
				}
			}
		}
	}
	byField := map[*fieldRef]*indexField{}
	for i := range g.rules {
		var best *fieldCond
		for _, fc := range req[i] {
			if best == nil || better(fc.f, best.f, count, distinct) {
				best = fc
			}
		}
		if best == nil {
			g.always = append(g.always, int32(i))
			continue
		}
		ix := byField[best.f]
		if ix == nil {
			ix = &indexField{f: best.f, keys: map[string][]int32{}}
			byField[best.f] = ix
			g.fields = append(g.fields, ix)
		}
		ix.all = append(ix.all, int32(i))
		for _, k := range best.indexKeys() {
			if l := ix.keys[k]; len(l) == 0 || l[len(l)-1] != int32(i) {
				ix.keys[k] = append(l, int32(i))
			}
		}
	}
}

func better(a, b *fieldRef, count map[*fieldRef]int, distinct map[*fieldRef]map[string]bool) bool {
	if count[a] != count[b] {
		return count[a] > count[b]
	}
	if len(distinct[a]) != len(distinct[b]) {
		return len(distinct[a]) > len(distinct[b])
	}
	return a.id < b.id
}

// candidates returns the rules of g that the event's values of the index
// fields do not rule out, in rule order.
func (g *group) candidates(c *ctx) []int32 {
	if len(g.fields) == 0 {
		return append(c.cand[:0], g.always...)
	}
	// Mark the candidates in a bit set, then list them in order.
	words := (len(g.rules) + 63) / 64
	if cap(c.bits) < words {
		c.bits = make([]uint64, words)
	}
	bits := c.bits[:words]
	mark := func(list []int32) {
		for _, i := range list {
			bits[i>>6] |= 1 << (i & 63)
		}
	}
	mark(g.always)
	var buf [32]byte
	for _, ix := range g.fields {
		vals := c.field(ix.f)
		for i := range vals {
			fv := &vals[i]
			switch x := fv.v.(type) {
			case string:
				mark(ix.keys[fv.lower()])
			case float64:
				mark(ix.keys[string(appendNumber(buf[:0], x))])
			case bool:
				mark(ix.keys[strconv.FormatBool(x)])
			case nil:
			default: // an object or array: compared as JSON text or by element
				mark(ix.all)
			}
		}
	}
	cand := c.cand[:0]
	for w, word := range bits {
		for word != 0 {
			b := bits64(word)
			cand = append(cand, int32(w*64+b))
			word &= word - 1
		}
		bits[w] = 0
	}
	return cand
}

// Eval evaluates the detection rules of the event's table (the
// event.Record.Table of e) and calls emit with an alert for each rule
// that matches and raises alerts of its own (Rule.Generate).
func (s *Set) Eval(e *detect.Event, emit func(alert.Alert)) {
	s.EvalCorrelate(e, nil, emit)
}

// EvalCorrelate is Eval that also feeds corr (when not nil) with the
// matches of the rules correlations refer to, calling emit with the
// correlation alerts they complete too.
func (s *Set) EvalCorrelate(e *detect.Event, corr *Correlator, emit func(alert.Alert)) {
	g := s.tables[e.Rec.Table]
	if g == nil {
		return
	}
	c := s.eng.get(e)
	defer s.eng.put(c)
	cand := g.candidates(c)
	c.cand = cand
	for _, i := range cand {
		r := g.rules[i]
		if !r.match.eval(c) {
			continue
		}
		if r.Generate {
			emit(s.alertFor(r, c))
		}
		if corr != nil && r.correlated {
			corr.Observe(s.observation(r, c), emit)
		}
	}
}

// observation is what a match tells the correlator.
func (s *Set) observation(r *Rule, c *ctx) Observation {
	o := Observation{Rule: r.ID, Time: c.e.Rec.Time, Seq: c.e.Seq, Source: c.e.Rec.Source, Fields: make(map[string]string, len(r.need))}
	for i, f := range r.need {
		if v, ok := firstText(c.field(f)); ok {
			o.Fields[r.needAs[i]] = v
		}
	}
	return o
}

// firstText returns the text of the first non-null value.
func firstText(vals []fieldVal) (string, bool) {
	for i := range vals {
		if vals[i].v != nil {
			return vals[i].text(), true
		}
	}
	return "", false
}

// maxFieldText caps the length of a value in Alert.Fields.
const maxFieldText = 256

func clip(s string) string {
	if len(s) <= maxFieldText {
		return s
	}
	cut := maxFieldText
	for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// alertFor builds the alert of a match of r on the context's event.
func (s *Set) alertFor(r *Rule, c *ctx) alert.Alert {
	rec := &c.e.Rec
	pci := append([]string(nil), r.PCI...)
	for _, req := range rec.PCI.Requirements() {
		pci = appendUnique(pci, req)
	}
	sort.Strings(pci)
	fields := map[string]string{}
	for _, f := range r.refs {
		if v, ok := firstText(c.field(f)); ok {
			fields[f.name] = clip(v)
		}
	}
	// The key groups repeated alerts of the rule by source, identity and
	// what they concern: the namespace (Kubernetes), the resource
	// (Activity Log) or the client address (sign-ins).
	key := []string{r.ID, rec.Source}
	addKey := func(name, v string) {
		if v != "" {
			fields[name] = clip(v)
		}
		key = append(key, name+"="+v)
	}
	addKey("cdewatch.user", rec.User)
	switch rec.Table {
	case event.TableKubeAudit:
		ns, _ := docString(c, "objectRef", "namespace")
		addKey("objectRef.namespace", ns)
	case event.TableAzureActivity:
		addKey("cdewatch.resource", rec.Resource)
	case event.TableSigninLogs:
		addKey("cdewatch.origin", rec.OriginIP)
	}
	return alert.Alert{
		Rule:      r.ID,
		RuleTitle: r.Title,
		Kind:      "match",
		Severity:  r.Severity,
		PCI:       pci,
		MITRE:     append([]string(nil), r.MITRE...),
		Source:    rec.Source,
		Time:      rec.Time,
		Detected:  detected(s.now),
		Seqs:      []uint64{c.e.Seq},
		Key:       strings.Join(key, "|"),
		Summary:   summary(r.Title, rec),
		Fields:    fields,
	}
}

// summary says in one line who did what to what.
func summary(title string, rec *event.Record) string {
	who := rec.User
	if who == "" {
		who = "unknown identity"
	}
	s := title + ": " + who
	for _, part := range []string{rec.Action, rec.Resource} {
		if part != "" {
			s += " " + part
		}
	}
	if rec.Outcome == event.Failure && rec.Status != 0 {
		s += fmt.Sprintf(" (failed, %d)", rec.Status)
	}
	return s
}

// detected is the time of Alert.Detected: now's, or zero without a clock.
func detected(now func() time.Time) time.Time {
	if now == nil {
		return time.Time{}
	}
	return now().UTC()
}

// bits64 is the index of the lowest set bit of a non-zero word.
func bits64(w uint64) int { return bits.TrailingZeros64(w) }
