package detect

import (
	"bytes"
	"errors"
	"fmt"
	didyoumean "github.com/cdewatch/cdewatch/internal/suggest"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// LoadError is a problem in a rule file, named by file, line and field.
// Its text reads "file:line: field: message", e.g.
//
//	pci.yaml:14: rules[3].when.all[1].startwith: unknown operator "startwith" (did you mean "startswith"?)
//
// Sequence indexes count from 0. Err is the underlying error, if any (a
// YAML syntax error, a regular expression's, a severity's).
type LoadError struct {
	File  string
	Line  int    // 0 when the problem has no line (a configured list)
	Field string // "" for the file as a whole
	Msg   string
	Err   error
}

// Error returns "file:line: field: message".
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

// ErrNoRuleFiles is returned by LoadRules for a file system without rule
// files.
var ErrNoRuleFiles = errors.New("no rule files (*.yaml, *.yml)")

// maxLoadErrors bounds the errors LoadRules reports at once.
const maxLoadErrors = 50

// Keys of a rule file, of a rule and of conditions.
var (
	fileKeys = []string{"lists", "rules"}
	ruleKeys = []string{"id", "title", "description", "severity", "pci", "mitre", "tables", "when", "key", "summary", "enabled"}
	condKeys = []string{"all", "any", "not", "field"}
)

// Tables rules may name: the ledger tables, and AKSAudit as another name
// of KubeAuditLogs.
var knownTables = []string{
	event.TableKubeAudit, "AKSAudit", event.TableCdewatchAudit, event.TableAzureActivity,
	event.TableSigninLogs, event.TableAKSControlPlane, event.TableAppAccess,
	event.TableContainerLog, event.TableSyslog,
}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	listPattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	pciPattern   = regexp.MustCompile(`^[A-Z]?[0-9]+(\.[0-9]+)*$`)
	mitrePattern = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
)

// listDef is a named list and where it was defined.
type listDef struct {
	items []string
	file  string
	line  int
}

// ruleSource is a rule's YAML node, kept until every list is known.
type ruleSource struct {
	file  string
	field string
	node  *yaml.Node
}

// loader reads rule files into a RuleSet.
type loader struct {
	errs  []error
	lists map[string]*listDef
	rules []ruleSource
	paths *pathTable
}

func (l *loader) fail(file string, n *yaml.Node, field, msg string, err error) {
	if len(l.errs) == maxLoadErrors {
		l.errs = append(l.errs, &LoadError{File: file, Msg: "too many errors"})
	}
	if len(l.errs) > maxLoadErrors {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &LoadError{File: file, Line: line, Field: field, Msg: msg, Err: err})
}

// LoadRules loads the rule files (*.yaml and *.yml, in every directory) of
// fsys into a RuleSet. lists overrides the named lists the files define
// (replacing their items); names no file defines are ignored, so that one
// configuration can serve several rule sets — check them against
// ListNames to catch misspellings. Every problem is reported, each as a
// *LoadError (joined with errors.Join), up to a bound.
func LoadRules(fsys fs.FS, lists map[string][]string) (*RuleSet, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("detect: reading rule files: %w", err)
	}
	if len(files) == 0 {
		return nil, ErrNoRuleFiles
	}
	sort.Strings(files)
	l := &loader{lists: map[string]*listDef{}, paths: newPathTable()}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		l.parseFile(f, data)
	}
	for name, items := range lists {
		if d, ok := l.lists[name]; ok {
			d.items = items
		}
	}
	rules := l.compileRules()
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return newRuleSet(rules, l.paths, l.lists), nil
}

// parseYAML decodes the single document of a file. yaml.v3 is not trusted
// never to panic on hostile input: a panic becomes an error.
func parseYAML(data []byte) (doc *yaml.Node, second *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, second, err = nil, nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var d yaml.Node
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var s yaml.Node
	if err := dec.Decode(&s); err == nil {
		return &d, &s, nil
	}
	return &d, nil, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): `)

func (l *loader) parseFile(file string, data []byte) {
	doc, second, err := parseYAML(data)
	if err != nil {
		msg, line := err.Error(), 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		l.errs = append(l.errs, &LoadError{File: file, Line: line, Msg: "YAML: " + msg, Err: err})
		return
	}
	if doc == nil || len(doc.Content) == 0 {
		l.fail(file, nil, "", "empty file: want a mapping with lists and rules", nil)
		return
	}
	if second != nil {
		l.fail(file, second, "", "a rule file holds one YAML document; put the rules in one rules list", nil)
		return
	}
	root := doc.Content[0]
	kvs, ok := l.mapping(file, root, "")
	if !ok {
		return
	}
	for _, kv := range kvs {
		switch kv.key {
		case "lists":
			l.parseLists(file, kv.val)
		case "rules":
			if kv.val.Kind != yaml.SequenceNode {
				l.fail(file, kv.val, "rules", "want a list of rules", nil)
				continue
			}
			for i, r := range kv.val.Content {
				l.rules = append(l.rules, ruleSource{file: file, field: "rules[" + strconv.Itoa(i) + "]", node: r})
			}
		default:
			l.unknownKey(file, kv, "", fileKeys, "key")
		}
	}
}

func (l *loader) parseLists(file string, n *yaml.Node) {
	kvs, ok := l.mapping(file, n, "lists")
	if !ok {
		return
	}
	for _, kv := range kvs {
		field := "lists." + kv.key
		if !listPattern.MatchString(kv.key) {
			l.fail(file, kv.keyNode, field, fmt.Sprintf("list name %q: want letters, digits and _", kv.key), nil)
			continue
		}
		if d, ok := l.lists[kv.key]; ok {
			l.fail(file, kv.keyNode, field, fmt.Sprintf("list %q is already defined at %s:%d", kv.key, d.file, d.line), nil)
			continue
		}
		items, ok := l.strings(file, kv.val, field, true)
		if !ok {
			continue
		}
		l.lists[kv.key] = &listDef{items: items, file: file, line: kv.keyNode.Line}
	}
}

// keyValue is a member of a YAML mapping.
type keyValue struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// mapping returns the members of a mapping node, rejecting duplicate keys,
// non-scalar keys and aliases.
func (l *loader) mapping(file string, n *yaml.Node, field string) ([]keyValue, bool) {
	if !l.plain(file, n, field) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		l.fail(file, n, field, "want a mapping, not "+describe(n), nil)
		return nil, false
	}
	kvs := make([]keyValue, 0, len(n.Content)/2)
	seen := map[string]int{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.fail(file, k, field, "want a text key, not "+describe(k), nil)
			ok = false
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.fail(file, k, join(field, k.Value), fmt.Sprintf("duplicate key (first at line %d)", first), nil)
			ok = false
			continue
		}
		seen[k.Value] = k.Line
		if !l.plain(file, v, join(field, k.Value)) {
			ok = false
			continue
		}
		kvs = append(kvs, keyValue{key: k.Value, keyNode: k, val: v})
	}
	return kvs, ok
}

// plain rejects aliases (and merge keys with them): every rule is spelled
// out.
func (l *loader) plain(file string, n *yaml.Node, field string) bool {
	if n.Kind == yaml.AliasNode {
		l.fail(file, n, field, "YAML aliases are not supported: write the value out", nil)
		return false
	}
	return true
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func (l *loader) unknownKey(file string, kv keyValue, field string, known []string, what string) {
	l.fail(file, kv.keyNode, join(field, kv.key), fmt.Sprintf("unknown %s %q%s", what, kv.key, suggest(kv.key, known, "")), nil)
}

// text returns a scalar's text.
func (l *loader) text(file string, n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.fail(file, n, field, "want a text value, not "+describe(n), nil)
		return "", false
	}
	return n.Value, true
}

// strings returns a list of scalars (or one scalar as a list of one).
func (l *loader) strings(file string, n *yaml.Node, field string, emptyOK bool) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		l.fail(file, n, field, "want a list, not "+describe(n), nil)
		return nil, false
	}
	if len(n.Content) == 0 && !emptyOK {
		l.fail(file, n, field, "empty list", nil)
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		if !l.plain(file, c, field) {
			ok = false
			continue
		}
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			l.fail(file, c, field+"["+strconv.Itoa(i)+"]", "want a text value, not "+describe(c), nil)
			ok = false
			continue
		}
		out = append(out, c.Value)
	}
	return out, ok
}

func (l *loader) boolean(file string, n *yaml.Node, field string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	l.fail(file, n, field, "want true or false, not "+describe(n), nil)
	return false, false
}

func (l *loader) compileRules() []*Rule {
	var rules []*Rule
	ids := map[string]*Rule{}
	for _, src := range l.rules {
		r := l.compileRule(src)
		if r == nil {
			continue
		}
		if first, dup := ids[r.ID]; dup {
			l.fail(src.file, src.node, src.field+".id", fmt.Sprintf("duplicate rule id %q (first at %s:%d)", r.ID, first.File, first.Line), nil)
			continue
		}
		ids[r.ID] = r
		rules = append(rules, r)
	}
	return rules
}

func (l *loader) compileRule(src ruleSource) *Rule {
	file, field := src.file, src.field
	kvs, ok := l.mapping(file, src.node, field)
	if !ok {
		return nil
	}
	r := &Rule{File: file, Line: src.node.Line, Enabled: true}
	byKey := map[string]keyValue{}
	for _, kv := range kvs {
		byKey[kv.key] = kv
	}
	for _, kv := range kvs {
		f := join(field, kv.key)
		switch kv.key {
		case "id":
			if s, good := l.text(file, kv.val, f); good {
				if !idPattern.MatchString(s) {
					l.fail(file, kv.val, f, fmt.Sprintf("rule id %q: want letters, digits and . _ : -", s), nil)
					ok = false
				}
				r.ID = s
			} else {
				ok = false
			}
		case "title":
			r.Title, ok = l.textInto(file, kv.val, f, ok)
		case "description":
			r.Description, ok = l.textInto(file, kv.val, f, ok)
		case "summary":
			r.Summary, ok = l.textInto(file, kv.val, f, ok)
			if t, err := parseTemplate(r.Summary); err != nil {
				l.fail(file, kv.val, f, err.Error(), nil)
				ok = false
			} else {
				r.summary = t
			}
		case "severity":
			s, good := l.text(file, kv.val, f)
			if !good {
				ok = false
				break
			}
			sev, err := alert.ParseSeverity(s)
			if err != nil {
				l.fail(file, kv.val, f, err.Error(), err)
				ok = false
			}
			r.Severity = sev
		case "pci", "mitre":
			items, good := l.strings(file, kv.val, f, false)
			if !good {
				ok = false
				break
			}
			pat, what := pciPattern, "PCI DSS requirement number such as 10.2.1.2"
			if kv.key == "mitre" {
				pat, what = mitrePattern, "MITRE ATT&CK technique id such as T1552.007"
			}
			for i, s := range items {
				if !pat.MatchString(s) {
					l.fail(file, kv.val, f+"["+strconv.Itoa(i)+"]", fmt.Sprintf("%q: want a %s", s, what), nil)
					ok = false
				}
			}
			if kv.key == "pci" {
				r.PCI = items
			} else {
				r.MITRE = items
			}
		case "tables":
			items, good := l.strings(file, kv.val, f, false)
			if !good {
				ok = false
				break
			}
			for i, s := range items {
				if !contains(knownTables, s) {
					l.fail(file, kv.val, f+"["+strconv.Itoa(i)+"]", fmt.Sprintf("unknown table %q%s", s, suggest(s, knownTables, "")), nil)
					ok = false
					continue
				}
				if s == "AKSAudit" {
					s = event.TableKubeAudit
				}
				if !contains(r.Tables, s) {
					r.Tables = append(r.Tables, s)
				}
			}
		case "key":
			items, good := l.strings(file, kv.val, f, false)
			if !good {
				ok = false
				break
			}
			for i, s := range items {
				if msg := checkPath(s); msg != "" {
					l.fail(file, kv.val, f+"["+strconv.Itoa(i)+"]", msg, nil)
					ok = false
				}
			}
			r.Key = items
		case "enabled":
			b, good := l.boolean(file, kv.val, f)
			ok = ok && good
			r.Enabled = b
		case "when":
			// compiled below, once the paths of the rule are numbered
		default:
			l.unknownKey(file, kv, field, ruleKeys, "rule key")
			ok = false
		}
	}
	for _, req := range [...]string{"id", "title", "severity", "tables", "when"} {
		if _, has := byKey[req]; !has {
			l.fail(file, src.node, field, "missing "+req, nil)
			ok = false
		}
	}
	if w, has := byKey["when"]; has {
		ids := map[int]bool{}
		c := l.compileCond(file, w.val, join(field, "when"), ids)
		if c == nil {
			ok = false
		}
		r.cond = c
		r.condIDs = ids
	}
	if !ok {
		return nil
	}
	if r.Summary == "" {
		r.Summary = r.Title
		r.summary, _ = parseTemplate(escapeTemplate(r.Title))
	}
	if len(r.Key) == 0 {
		r.Key = []string{"cdewatch.user"}
	}
	r.bindPaths(l.paths)
	return r
}

func (l *loader) textInto(file string, n *yaml.Node, field string, ok bool) (string, bool) {
	s, good := l.text(file, n, field)
	return s, ok && good
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// compileCond compiles a condition, adding the ids of the paths it reads
// to ids; nil when it has errors (which are reported).
func (l *loader) compileCond(file string, n *yaml.Node, field string, ids map[int]bool) cond {
	kvs, ok := l.mapping(file, n, field)
	if !ok {
		return nil
	}
	for _, kv := range kvs {
		if kv.key == "field" {
			return l.compileTest(file, n, kvs, field, ids)
		}
	}
	if len(kvs) != 1 {
		if len(kvs) == 0 {
			l.fail(file, n, field, "empty condition: want all, any, not or a field test", nil)
		} else {
			l.fail(file, kvs[1].keyNode, field, "a condition has one of all, any, not (or is a field test, with field)", nil)
		}
		return nil
	}
	kv := kvs[0]
	f := join(field, kv.key)
	switch kv.key {
	case "all", "any":
		if kv.val.Kind != yaml.SequenceNode {
			l.fail(file, kv.val, f, "want a list of conditions, not "+describe(kv.val), nil)
			return nil
		}
		if len(kv.val.Content) == 0 {
			l.fail(file, kv.val, f, "empty list of conditions", nil)
			return nil
		}
		cs := make([]cond, 0, len(kv.val.Content))
		good := true
		for i, c := range kv.val.Content {
			x := l.compileCond(file, c, f+"["+strconv.Itoa(i)+"]", ids)
			if x == nil {
				good = false
				continue
			}
			cs = append(cs, x)
		}
		if !good {
			return nil
		}
		if len(cs) == 1 {
			return cs[0]
		}
		if kv.key == "all" {
			return allCond(cs)
		}
		return anyCond(cs)
	case "not":
		x := l.compileCond(file, kv.val, f, ids)
		if x == nil {
			return nil
		}
		return notCond{x}
	}
	if _, isOp := lookupOp(kv.key); isOp || kv.key == "nocase" {
		l.fail(file, kv.keyNode, f, "a field test needs field: the field the operator "+kv.key+" applies to", nil)
		return nil
	}
	l.unknownKey(file, kv, field, condKeys, "condition")
	return nil
}

func (l *loader) compileTest(file string, n *yaml.Node, kvs []keyValue, field string, ids map[int]bool) cond {
	var (
		paths  []int
		opKV   *keyValue
		info   opInfo
		nocase bool
		ok     = true
	)
	for i := range kvs {
		kv := &kvs[i]
		f := join(field, kv.key)
		switch kv.key {
		case "field":
			items, good := l.strings(file, kv.val, f, false)
			if !good {
				ok = false
				continue
			}
			for j, s := range items {
				ff := f
				if kv.val.Kind == yaml.SequenceNode {
					ff += "[" + strconv.Itoa(j) + "]"
				}
				if msg := checkPath(s); msg != "" {
					l.fail(file, kv.val, ff, msg, nil)
					ok = false
					continue
				}
				id := l.paths.add(s)
				ids[id] = true
				paths = append(paths, id)
			}
		case "nocase":
			b, good := l.boolean(file, kv.val, f)
			ok = ok && good
			nocase = b
		default:
			o, known := lookupOp(kv.key)
			if !known {
				l.fail(file, kv.keyNode, f, fmt.Sprintf("unknown operator %q%s", kv.key, suggest(kv.key, operatorNames(), "")), nil)
				ok = false
				continue
			}
			if opKV != nil {
				l.fail(file, kv.keyNode, f, fmt.Sprintf("a field test has one operator: %s and %s", opKV.key, kv.key), nil)
				ok = false
				continue
			}
			opKV, info = kv, o
		}
	}
	if opKV == nil {
		if ok {
			l.fail(file, n, field, "field test without an operator (one of "+strings.Join(operatorNames(), ", ")+")", nil)
		}
		return nil
	}
	f := join(field, opKV.key)
	if nocase {
		switch info.op {
		case opExists, opCIDR, opGT, opGTE, opLT, opLTE:
			l.fail(file, opKV.keyNode, join(field, "nocase"), "nocase does not apply to "+opKV.key, nil)
			ok = false
		}
	}
	v := opKV.val
	var consts []string
	switch info.op {
	case opExists:
		b, good := l.boolean(file, v, f)
		if !good || !ok {
			return nil
		}
		return &test{paths: paths, op: opExists, exists: b}
	case opGT, opGTE, opLT, opLTE:
		if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
			l.fail(file, v, f, "want a number, not "+describe(v), nil)
			return nil
		}
		num, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
		if err != nil {
			var i int64
			if derr := v.Decode(&i); derr != nil {
				l.fail(file, v, f, "want a number: "+err.Error(), err)
				return nil
			}
			num = float64(i)
		}
		if !ok {
			return nil
		}
		return &test{paths: paths, op: info.op, num: num}
	case opEquals:
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			l.fail(file, v, f, opKV.key+" takes one value, not "+describe(v)+" (use in for a list)", nil)
			return nil
		}
		if strings.HasPrefix(v.Value, "$") && !strings.HasPrefix(v.Value, "$$") {
			l.fail(file, v, f, fmt.Sprintf("%s takes one value: use in: %s for a list", opKV.key, v.Value), nil)
			return nil
		}
		consts = []string{unescapeDollar(v.Value)}
	case opIn:
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" && !isListRef(v.Value) {
			l.fail(file, v, f, fmt.Sprintf("%s takes a list or a $list reference, not %s (use equals for one value)", opKV.key, describe(v)), nil)
			return nil
		}
		c, good := l.constants(file, v, f)
		if !good {
			return nil
		}
		consts = c
	default:
		c, good := l.constants(file, v, f)
		if !good {
			return nil
		}
		consts = c
	}
	if !ok {
		return nil
	}
	t, err := newTest(paths, info, nocase, consts)
	if err != nil {
		l.fail(file, v, f, err.Error(), err)
		return nil
	}
	return t
}

func isListRef(s string) bool { return strings.HasPrefix(s, "$") && !strings.HasPrefix(s, "$$") }

func unescapeDollar(s string) string {
	if strings.HasPrefix(s, "$$") {
		return s[1:]
	}
	return s
}

// constants returns an operator's values: one value, a list of values and
// $list references, expanded.
func (l *loader) constants(file string, n *yaml.Node, field string) ([]string, bool) {
	items, ok := l.strings(file, n, field, false)
	if !ok {
		return nil, false
	}
	var out []string
	for i, s := range items {
		if !isListRef(s) {
			out = append(out, unescapeDollar(s))
			continue
		}
		name := s[1:]
		d, found := l.lists[name]
		if !found {
			f := field
			if n.Kind == yaml.SequenceNode {
				f += "[" + strconv.Itoa(i) + "]"
			}
			l.fail(file, n, f, fmt.Sprintf("unknown list %q%s", name, suggest(name, l.listNames(), "$")), nil)
			ok = false
			continue
		}
		out = append(out, d.items...)
	}
	return out, ok
}

func (l *loader) listNames() []string {
	names := make([]string, 0, len(l.lists))
	for n := range l.lists {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// suggest returns ` (did you mean "x"?)` for the candidate nearest to s
// (suggest.Nearest), if one is near, else "".
func suggest(s string, candidates []string, prefix string) string {
	if best := didyoumean.Nearest(s, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", prefix+best)
	}
	return ""
}
