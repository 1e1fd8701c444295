package detect

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// builtin holds the built-in PCI rule pack.
//
//go:embed rules/*.yaml
var builtin embed.FS

// BuiltinRules loads the built-in PCI rule pack (rules/*.yaml, embedded),
// with lists overriding its named lists (see LoadRules and docs/DETECTION.md
// for the lists, e.g. cde_namespaces).
func BuiltinRules(lists map[string][]string) (*RuleSet, error) {
	sub, err := fs.Sub(builtin, "rules")
	if err != nil {
		return nil, fmt.Errorf("detect: built-in rules: %w", err)
	}
	rs, err := LoadRules(sub, lists)
	if err != nil {
		return nil, fmt.Errorf("detect: built-in rules: %w", err)
	}
	return rs, nil
}

// Rule is a compiled single-event rule. Its exported fields are what the
// rule file says (Summary and Key with their defaults filled in); Match
// evaluates its condition.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    alert.Severity
	PCI         []string // PCI DSS requirements, e.g. "10.2.1.2"
	MITRE       []string // ATT&CK technique ids, e.g. "T1552.007"
	Tables      []string // ledger tables the rule applies to
	Key         []string // fields whose values form the alert key
	Summary     string   // template with {field} placeholders
	Enabled     bool
	File        string // the rule file, relative to the loaded file system
	Line        int    // the rule's line in File

	cond    cond
	condIDs map[int]bool
	summary template
	keyIDs  []int
	// fieldIDs are the key's and the summary's paths, in order, without
	// duplicates: the alert's Fields.
	fieldIDs []int
	plan     *plan
	pool     *sync.Pool
}

var _ Matcher = (*Rule)(nil)

// bindPaths numbers the key's and the summary's paths.
func (r *Rule) bindPaths(t *pathTable) {
	seen := map[int]bool{}
	addField := func(id int) {
		if !seen[id] {
			seen[id] = true
			r.fieldIDs = append(r.fieldIDs, id)
		}
	}
	for _, k := range r.Key {
		id := t.add(k)
		r.keyIDs = append(r.keyIDs, id)
		addField(id)
	}
	for i := range r.summary.parts {
		p := &r.summary.parts[i]
		for _, path := range p.paths {
			id := t.add(path)
			p.ids = append(p.ids, id)
			addField(id)
		}
	}
}

// paths returns the ids of every path the rule reads.
func (r *Rule) paths() map[int]bool {
	ids := make(map[int]bool, len(r.condIDs)+len(r.fieldIDs))
	for id := range r.condIDs {
		ids[id] = true
	}
	for _, id := range r.fieldIDs {
		ids[id] = true
	}
	return ids
}

// appliesTo reports whether the rule applies to records of table.
func (r *Rule) appliesTo(table string) bool { return slices.Contains(r.Tables, table) }

// Match reports whether the event is of one of the rule's tables and
// satisfies its condition (whether or not the rule is enabled). It is safe
// for concurrent use.
func (r *Rule) Match(e *Event) bool {
	if !r.appliesTo(e.Rec.Table) {
		return false
	}
	sc := r.pool.Get().(*scratch)
	sc.reset(r.plan, &e.Rec)
	ok := r.cond.eval(sc)
	sc.release()
	r.pool.Put(sc)
	return ok
}

// alert builds the alert of the rule for the event in sc.
func (r *Rule) alert(e *Event, sc *scratch) alert.Alert {
	a := alert.Alert{
		Rule:      r.ID,
		RuleTitle: r.Title,
		Kind:      "match",
		Severity:  r.Severity,
		PCI:       slices.Clone(r.PCI),
		MITRE:     slices.Clone(r.MITRE),
		Source:    e.Rec.Source,
		Time:      e.Rec.Time,
		Seqs:      []uint64{e.Seq},
		Summary:   r.summary.render(sc),
	}
	b := append(sc.out[:0], r.ID...)
	b = append(b, '|')
	b = append(b, e.Rec.Source...)
	// The key holds the key fields' values: the alert's Fields share its
	// text.
	var spans [8][2]int
	for i, id := range r.keyIDs {
		b = append(b, '|')
		start := len(b)
		b = appendField(b, sc, id, maxFieldValue)
		if i < len(spans) {
			spans[i] = [2]int{start, len(b)}
		}
	}
	a.Key = string(b)
	a.Fields = make(map[string]string, len(r.fieldIDs))
	for i, id := range r.keyIDs {
		if i < len(spans) && spans[i][1] > spans[i][0] {
			a.Fields[sc.paths[id].text] = a.Key[spans[i][0]:spans[i][1]]
		}
	}
	for _, id := range r.fieldIDs {
		if _, done := a.Fields[sc.paths[id].text]; done {
			continue
		}
		if b = appendField(b[:0], sc, id, maxFieldValue); len(b) > 0 {
			a.Fields[sc.paths[id].text] = string(b)
		}
	}
	if len(a.Fields) == 0 {
		a.Fields = nil
	}
	sc.out = b
	return a
}

// RuleSet is a loaded set of rules, indexed by table. It is safe for
// concurrent use.
type RuleSet struct {
	rules  []*Rule
	tables map[string]*tableRules
	paths  *pathTable
	lists  map[string][]string
	pool   sync.Pool
}

// tableRules are the enabled rules of one table, what they read, and
// their index: a rule whose condition requires a field to equal one of a
// few values (a test equals or in at its top) is only evaluated on events
// whose field has one of them.
type tableRules struct {
	rules  []*Rule
	plan   *plan
	gates  []gate
	always []int // rules without a gate, by index in rules
}

// gate indexes rules by the value of one field.
type gate struct {
	path   int
	nocase bool
	rules  map[string][]int // value (lower-cased when nocase) → rule indexes
}

func newRuleSet(rules []*Rule, paths *pathTable, lists map[string]*listDef) *RuleSet {
	rs := &RuleSet{
		rules:  rules,
		tables: map[string]*tableRules{},
		paths:  paths,
		lists:  make(map[string][]string, len(lists)),
	}
	rs.pool.New = func() any { return newScratch(paths) }
	for name, d := range lists {
		rs.lists[name] = slices.Clone(d.items)
	}
	tableIDs := map[string]map[int]bool{}
	for _, r := range rules {
		r.pool = &rs.pool
		r.plan = newPlan(paths, r.paths())
		if !r.Enabled {
			continue
		}
		for _, t := range r.Tables {
			tr := rs.tables[t]
			if tr == nil {
				tr = &tableRules{}
				rs.tables[t] = tr
				tableIDs[t] = map[int]bool{}
			}
			tr.rules = append(tr.rules, r)
			for id := range r.paths() {
				tableIDs[t][id] = true
			}
		}
	}
	for t, tr := range rs.tables {
		tr.plan = newPlan(paths, tableIDs[t])
		tr.index()
	}
	return rs
}

// gateKey identifies the field of a gate.
type gateKey struct {
	path   int
	nocase bool
}

// gateTests returns the tests at the top of a condition that can gate it:
// equals or in over one field, with text constants (a number may equal
// another spelling of itself, which a map lookup would miss).
func gateTests(c cond) []*test {
	var list []cond
	switch x := c.(type) {
	case allCond:
		list = x
	default:
		list = []cond{c}
	}
	var out []*test
	for _, c := range list {
		t, ok := c.(*test)
		if !ok || (t.op != opEquals && t.op != opIn) || len(t.paths) != 1 || len(t.strs) == 0 || slices.Contains(t.isNum, true) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// index chooses each rule's gate: of its gate tests, the one whose field
// has the most distinct values across the table's rules (objectRef.resource
// rather than stage), the fewer values the better on a tie.
func (tr *tableRules) index() {
	distinct := map[gateKey]map[string]bool{}
	for _, r := range tr.rules {
		for _, t := range gateTests(r.cond) {
			k := gateKey{t.paths[0], t.nocase}
			if distinct[k] == nil {
				distinct[k] = map[string]bool{}
			}
			for _, s := range t.strs {
				distinct[k][string(s)] = true
			}
		}
	}
	gates := map[gateKey]int{}
	for i, r := range tr.rules {
		var best *test
		for _, t := range gateTests(r.cond) {
			if best == nil {
				best = t
				continue
			}
			nt, nb := len(distinct[gateKey{t.paths[0], t.nocase}]), len(distinct[gateKey{best.paths[0], best.nocase}])
			if nt > nb || nt == nb && len(t.strs) < len(best.strs) {
				best = t
			}
		}
		if best == nil {
			tr.always = append(tr.always, i)
			continue
		}
		k := gateKey{best.paths[0], best.nocase}
		g, ok := gates[k]
		if !ok {
			g = len(tr.gates)
			gates[k] = g
			tr.gates = append(tr.gates, gate{path: k.path, nocase: k.nocase, rules: map[string][]int{}})
		}
		seen := map[string]bool{}
		for _, s := range best.strs {
			if !seen[string(s)] {
				seen[string(s)] = true
				tr.gates[g].rules[string(s)] = append(tr.gates[g].rules[string(s)], i)
			}
		}
	}
}

// Rules returns the rules of the set, enabled or not, in file order.
func (rs *RuleSet) Rules() []*Rule { return slices.Clone(rs.rules) }

// Rule returns the rule with the given id, or nil.
func (rs *RuleSet) Rule(id string) *Rule {
	for _, r := range rs.rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// ListNames returns the names of the lists the rule files define, sorted.
func (rs *RuleSet) ListNames() []string {
	names := make([]string, 0, len(rs.lists))
	for n := range rs.lists {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// List returns the items of a named list as the rules use them (after the
// configuration's override), and whether the list exists.
func (rs *RuleSet) List(name string) ([]string, bool) {
	items, ok := rs.lists[name]
	return slices.Clone(items), ok
}

// Eval evaluates the enabled rules of the event's table on the event and
// calls emit with the alert of each rule that matches, in rule order.
// Alerts have Kind "match", Seqs [e.Seq], Time the event time and
// Source the event's source; Detected is left for the caller to set. The
// event is read, never modified: Eval reads the fields the rules name
// from Raw in one pass, without decoding the rest.
func (rs *RuleSet) Eval(e *Event, emit func(alert.Alert)) {
	tr := rs.tables[e.Rec.Table]
	if tr == nil {
		return
	}
	sc := rs.pool.Get().(*scratch)
	sc.reset(tr.plan, &e.Rec)
	rs.evalRules(tr, e, sc, emit)
	sc.release()
	rs.pool.Put(sc)
}

func (rs *RuleSet) evalRules(tr *tableRules, e *Event, sc *scratch, emit func(alert.Alert)) {
	if len(tr.gates) == 0 {
		for _, r := range tr.rules {
			if r.cond.eval(sc) {
				emit(r.alert(e, sc))
			}
		}
		return
	}
	if cap(sc.cand) < len(tr.rules) {
		sc.cand = make([]bool, len(tr.rules))
	}
	cand := sc.cand[:len(tr.rules)]
	clear(cand)
	for _, i := range tr.always {
		cand[i] = true
	}
	for gi := range tr.gates {
		g := &tr.gates[gi]
		for _, v := range sc.get(g.path) {
			if v.kind == kindRaw {
				continue
			}
			b := v.b
			if g.nocase {
				b = sc.lower(b)
			}
			for _, i := range g.rules[string(b)] {
				cand[i] = true
			}
		}
	}
	for i, r := range tr.rules {
		if cand[i] && r.cond.eval(sc) {
			emit(r.alert(e, sc))
		}
	}
}
