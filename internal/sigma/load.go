package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// Options adjust loading.
type Options struct {
	// Placeholders are the values of the %name% placeholders the expand
	// modifier replaces (each value may hold wildcards). A rule using an
	// undefined placeholder is rejected.
	Placeholders map[string][]string
	// Now, when set, is the clock of Alert.Detected; otherwise Detected
	// is left zero for the caller, as detect.RuleSet does.
	Now func() time.Time

	noShare bool // do not share condition results between rules (benchmarks)
	noIndex bool // evaluate every rule of a table on every event (benchmarks)
}

// Load reads every .yml and .yaml file under dir in fsys (each YAML
// document of a file is a rule) and returns the rules that loaded, one
// LoadError per rejected rule, and an error only when the files cannot be
// read.
func Load(fsys fs.FS, dir string) (*Set, []*LoadError, error) {
	return LoadWith(fsys, dir, Options{})
}

// LoadWith is Load with options.
func LoadWith(fsys fs.FS, dir string, opts Options) (*Set, []*LoadError, error) {
	var files []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sigma: reading rules under %s: %w", dir, err)
	}
	l := newLoader(opts)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, nil, fmt.Errorf("sigma: %w", err)
		}
		l.file(f, data)
	}
	s, errs := l.finish()
	return s, errs, nil
}

// Parse loads the rules of one file's content; name is the file name
// used in errors.
func Parse(name string, data []byte, opts Options) (*Set, []*LoadError) {
	l := newLoader(opts)
	l.file(name, data)
	return l.finish()
}

// loader gathers the documents of the rule files, then links and
// compiles them into a Set.
type loader struct {
	b      *builder
	rules  []*Rule
	corrs  []*Correlation
	errs   []*LoadError
	failed map[string]*LoadError // rejected rules by id and name
	cnodes map[*Correlation]pair
}

func newLoader(opts Options) *loader {
	return &loader{b: newBuilder(opts), failed: map[string]*LoadError{}, cnodes: map[*Correlation]pair{}}
}

// yamlLine finds the line number in a YAML library error ("yaml: line 3: …").
func yamlLine(err error) int {
	_, rest, ok := strings.Cut(err.Error(), "line ")
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

func (l *loader) file(name string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := decodeSafe(dec, &n)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			le := &LoadError{File: name, Err: fmt.Errorf("invalid YAML: %w", err)}
			le.Line = yamlLine(err)
			l.errs = append(l.errs, le)
			return
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		doc := resolveAlias(n.Content[0])
		if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
			continue // an empty document, e.g. after a trailing ---
		}
		l.doc(name, doc)
	}
}

// decodeSafe decodes the next document, turning a panic of the YAML
// library into an error.
func decodeSafe(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML (%v)", r)
		}
	}()
	return dec.Decode(n)
}

// doc parses one YAML document: a detection or a correlation rule.
func (l *loader) doc(file string, doc *yaml.Node) {
	var meta Meta
	meta.File, meta.Line = file, doc.Line
	fail := func(e *posError) {
		le := &LoadError{File: file, Line: e.line, Column: e.col, Field: e.field, Err: e.err, Rule: meta.ID}
		if le.Rule == "" {
			le.Rule = meta.Title
		}
		if le.Line == 0 {
			le.Line = doc.Line
		}
		l.errs = append(l.errs, le)
		for _, k := range []string{meta.ID, meta.Name} {
			if k != "" {
				l.failed[k] = le
			}
		}
	}
	ps, err := pairs(doc, "")
	if err != nil {
		fail(err)
		return
	}
	if err := parseMeta(ps, &meta); err != nil {
		fail(err)
		return
	}
	get := func(k string) (pair, bool) {
		for _, p := range ps {
			if p.key == k {
				return p, true
			}
		}
		return pair{}, false
	}
	if p, ok := get("action"); ok {
		fail(errAt(p.kn, "action", unsupported("action is Sigma v1 rule-collection syntax (global, reset, repeat): write each rule as a document of its own")))
		return
	}
	if p, ok := get("filter"); ok {
		fail(errAt(p.kn, "filter", unsupported("Sigma filters (meta filters) are not supported: add the exclusion to the rule's detection")))
		return
	}
	if meta.Title == "" {
		fail(errf(doc, "title", "missing"))
		return
	}
	if meta.ID == "" {
		fail(errf(doc, "id", "missing: cdewatch identifies alerts, deduplication keys and correlations by the rule's id"))
		return
	}
	cp, isCorr := get("correlation")
	dp, isDet := get("detection")
	switch {
	case isCorr && isDet:
		fail(errf(dp.kn, "detection", "a correlation rule has no detection"))
	case isCorr:
		c := &Correlation{Meta: meta}
		gen, _ := get("generate")
		if err := parseCorrelation(cp, gen.v, c); err != nil {
			fail(err)
			return
		}
		if lp, ok := get("logsource"); ok {
			fail(errf(lp.kn, "logsource", "a correlation rule has no logsource: its rules have"))
			return
		}
		l.cnodes[c] = cp
		l.corrs = append(l.corrs, c)
	case isDet:
		lp, ok := get("logsource")
		if !ok {
			fail(errf(doc, "logsource", "missing"))
			return
		}
		ls, m, err := parseLogsource(lp)
		if err != nil {
			fail(err)
			return
		}
		d, err := l.b.compileDetection(dp, m)
		if err != nil {
			fail(err)
			return
		}
		r := &Rule{Meta: meta, Logsource: ls, Condition: d.condition, mapper: m, match: d.match, refs: d.refs}
		if m.table != "" {
			r.Tables = []string{m.table}
		}
		for _, req := range logsourcePCI(m.source) {
			r.PCI = appendUnique(r.PCI, req)
		}
		sort.Strings(r.PCI)
		l.rules = append(l.rules, r)
	default:
		fail(errf(doc, "", "neither a detection rule (detection, logsource) nor a correlation rule (correlation)"))
	}
}

// finish links correlations to their rules, computes which rules raise
// alerts, and builds the Set.
func (l *loader) finish() (*Set, []*LoadError) {
	s := &Set{now: l.b.opts.Now}
	ids := map[string]string{} // id or name → where first defined
	byKey := map[string]dep{}
	register := func(m *Meta, d dep) bool {
		for _, k := range []string{m.ID, m.Name} {
			if k == "" {
				continue
			}
			if first, dup := ids[k]; dup {
				field := "id"
				if k == m.Name && k != m.ID {
					field = "name"
				}
				le := &LoadError{File: m.File, Line: m.Line, Field: field, Rule: m.ID,
					Err: fmt.Errorf("duplicate %s %q (first in %s)", field, k, first)}
				l.errs = append(l.errs, le)
				return false
			}
		}
		for _, k := range []string{m.ID, m.Name} {
			if k != "" {
				ids[k] = fmt.Sprintf("%s:%d", m.File, m.Line)
				byKey[k] = d
			}
		}
		return true
	}
	for _, r := range l.rules {
		if register(&r.Meta, dep{rule: r}) {
			s.rules = append(s.rules, r)
		}
	}
	var corrs []*Correlation
	for _, c := range l.corrs {
		if register(&c.Meta, dep{corr: c}) {
			corrs = append(corrs, c)
		}
	}
	// Resolve references; a correlation whose rule was rejected is
	// rejected too, until nothing changes.
	bad := map[*Correlation]bool{}
	reject := func(c *Correlation, field string, err error) {
		cp := l.cnodes[c]
		le := &LoadError{File: c.File, Line: cp.v.Line, Column: cp.v.Column, Field: field, Rule: c.ID, Err: err}
		l.errs = append(l.errs, le)
		bad[c] = true
		for _, k := range []string{c.ID, c.Name} {
			if k != "" {
				l.failed[k] = le
				delete(byKey, k)
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, c := range corrs {
			if bad[c] {
				continue
			}
			if err := l.link(c, byKey); err != nil {
				reject(c, "correlation.rules", err)
				changed = true
			}
		}
	}
	// Cycles.
	for _, c := range corrs {
		if !bad[c] && cyclic(c, map[*Correlation]bool{}) {
			reject(c, "correlation.rules", fmt.Errorf("correlation %s refers to itself through its rules", c.ID))
		}
	}
	for changed := true; changed; {
		changed = false
		for _, c := range corrs {
			if bad[c] {
				continue
			}
			for _, d := range c.deps {
				if d.corr != nil && bad[d.corr] {
					reject(c, "correlation.rules", fmt.Errorf("correlation %q was not loaded", d.corr.ID))
					changed = true
					break
				}
			}
			if bad[c] || c.linked {
				continue
			}
			if err := l.fields(c); err != nil {
				reject(c, "correlation.group-by", err)
				changed = true
				continue
			}
			c.linked = true
		}
	}
	for _, c := range corrs {
		if !bad[c] {
			s.corrs = append(s.corrs, c)
		}
	}
	// generate: a rule (or correlation) referenced only by correlations
	// that do not generate raises no alert of its own.
	referenced := map[string]bool{}
	generated := map[string]bool{}
	for _, c := range s.corrs {
		for _, d := range c.deps {
			referenced[d.id()] = true
			if c.Generate {
				generated[d.id()] = true
			}
		}
	}
	for i, r := range s.rules {
		r.index = i
		r.correlated = referenced[r.ID]
		r.Generate = !r.correlated || generated[r.ID]
	}
	done := map[*Correlation]bool{}
	for i, c := range s.corrs {
		c.index = i
		c.emits = !referenced[c.ID] || generated[c.ID]
		c.fp = c.fingerprint()
		inherit(c, done)
	}
	s.build(l.b)
	return s, l.errs
}

// link resolves the rules a correlation refers to.
func (l *loader) link(c *Correlation, byKey map[string]dep) error {
	c.deps, c.Refs = nil, nil
	seen := map[string]bool{}
	for _, ref := range c.Rules {
		d, ok := byKey[ref]
		if !ok {
			if le, failed := l.failed[ref]; failed {
				return fmt.Errorf("rule %q was not loaded (%s)", ref, le.Error())
			}
			return fmt.Errorf("unknown rule %q: no loaded rule has this id or name", ref)
		}
		if seen[d.id()] {
			return fmt.Errorf("rule %q listed twice", ref)
		}
		seen[d.id()] = true
		c.deps = append(c.deps, d)
		c.Refs = append(c.Refs, d.id())
	}
	if (c.Type == Temporal || c.Type == TemporalOrdered) && len(c.deps) < 2 {
		return fmt.Errorf("%s correlates at least two rules", c.Type)
	}
	return nil
}

func cyclic(c *Correlation, path map[*Correlation]bool) bool {
	if path[c] {
		return true
	}
	path[c] = true
	defer delete(path, c)
	for _, d := range c.deps {
		if d.corr != nil && cyclic(d.corr, path) {
			return true
		}
	}
	return false
}

// fields resolves the group-by (and value_count) fields in the log source
// of each correlated rule; a correlated correlation provides its own
// group-by fields.
func (l *loader) fields(c *Correlation) error {
	names := append(append([]string(nil), c.GroupBy...), c.CountFields...)
	for _, d := range c.deps {
		for i, g := range names {
			f := c.fieldFor(g, d)
			if d.corr != nil {
				if i >= len(c.GroupBy) {
					return fmt.Errorf("value_count over correlation %s: it has no field %q to count (only its group-by fields)", d.corr.ID, f)
				}
				found := false
				for _, h := range d.corr.GroupBy {
					found = found || h == f
				}
				if !found {
					return fmt.Errorf("field %q: correlation %s groups by %s only", f, d.corr.ID, strings.Join(d.corr.GroupBy, ", "))
				}
				continue
			}
			ref, err := l.b.field(d.rule.mapper, f)
			if err != nil {
				return fmt.Errorf("rule %s: %w", d.rule.ID, err)
			}
			if !containsRef(d.rule.need, ref) {
				d.rule.need = append(d.rule.need, ref)
				d.rule.needAs = append(d.rule.needAs, f)
			}
		}
	}
	return nil
}

func containsRef(refs []*fieldRef, f *fieldRef) bool {
	for _, r := range refs {
		if r == f {
			return true
		}
	}
	return false
}

// inherit gives a correlation without level, ATT&CK or PCI tags those of
// its rules.
func inherit(c *Correlation, done map[*Correlation]bool) {
	if done[c] {
		return
	}
	done[c] = true
	for _, d := range c.deps {
		if d.corr != nil {
			inherit(d.corr, done)
		}
	}
	var sev alert.Severity
	fromLevel := c.Level != ""
	ownMITRE, ownTactics := len(c.MITRE) > 0, len(c.Tactics) > 0
	for _, d := range c.deps {
		var m *Meta
		if d.rule != nil {
			m = &d.rule.Meta
		} else {
			m = &d.corr.Meta
		}
		if !fromLevel && m.Severity > sev {
			sev = m.Severity
		}
		if !ownMITRE {
			for _, t := range m.MITRE {
				c.MITRE = appendUnique(c.MITRE, t)
			}
		}
		if !ownTactics {
			for _, t := range m.Tactics {
				c.Tactics = appendUnique(c.Tactics, t)
			}
		}
		for _, p := range m.PCI {
			c.PCI = appendUnique(c.PCI, p)
		}
	}
	sort.Strings(c.PCI)
	if !fromLevel {
		c.Severity = sev
	}
}
