package auditpolicy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// MaxPolicyBytes bounds the size of the policy files Parse reads.
const MaxPolicyBytes = 1 << 20

// maxNodes bounds the YAML nodes Parse visits, aliases included, so that a
// small file of nested aliases cannot make it work without end.
const maxNodes = 200_000

// maxProblems bounds the problems one Error reports.
const maxProblems = 20

// Policy is an audit policy read from a file, with where its parts are.
type Policy struct {
	// Spec is the policy as kube-apiserver decodes it.
	Spec auditv1.Policy
	// lines maps field paths ("rules[2].level", "omitStages") to the
	// 1-based line where they start in the file.
	lines map[string]int
}

// FromSpec wraps a policy built in code (no line numbers).
func FromSpec(spec auditv1.Policy) *Policy { return &Policy{Spec: spec} }

// Line returns the line where the field at path starts ("rules[2]",
// "rules[2].verbs[0]", "omitStages"), or 0 when unknown.
func (p *Policy) Line(path string) int { return p.lines[path] }

// RuleLine returns the line where rule i starts, or 0 when unknown.
func (p *Policy) RuleLine(i int) int { return p.lines[rulePath(i)] }

func rulePath(i int) string { return "rules[" + strconv.Itoa(i) + "]" }

// Problem is one thing wrong with a policy file.
type Problem struct {
	// Line is 1-based; 0 when the problem has no place in the file.
	Line int `json:"line,omitempty"`
	// Path is the field, e.g. "rules[2].level"; empty for the file as a whole.
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

// String writes the problem as "line N: path: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is returned by Parse for a file that is not a valid audit policy.
// It lists every problem found (up to a bound), in file order.
type Error struct {
	Problems []Problem
}

// Error joins the problems, one per line.
func (e *Error) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Parse reads an audit.k8s.io/v1 Policy from YAML (or JSON) strictly: an
// unknown or repeated field, a value of the wrong type, a second document or
// a value kube-apiserver would refuse is an *Error naming the line and the
// problem. (kube-apiserver itself only warns about unknown fields and then
// ignores them, which widens the rule they were meant to narrow.)
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("the file is %d bytes, more than the %d an audit policy can reasonably need", len(data), MaxPolicyBytes)}}}
	}
	root, err := oneDocument(data)
	if err != nil {
		return nil, err
	}
	if err := checkKind(root); err != nil {
		return nil, err
	}
	// The walk decodes what it can and notes every problem; the semantic
	// checks then run on that, so one pass reports as much as it can.
	w := &walker{lines: map[string]int{}}
	var walked auditv1.Policy
	w.walk(root, reflect.ValueOf(&walked).Elem(), "")
	probs := w.problems
	if w.visited > maxNodes {
		return nil, &Error{Problems: probs[:min(len(probs), maxProblems)]}
	}
	p := &Policy{Spec: walked, lines: w.lines}
	if len(probs) == 0 {
		// What kube-apiserver does: YAML to JSON, JSON into the v1 types.
		var spec auditv1.Policy
		if err := decodeNode(root, &spec); err != nil {
			// The walk accepts only what the decoder reads; reaching this
			// is a gap in the walk, reported rather than hidden.
			return nil, &Error{Problems: []Problem{{Line: root.Line, Msg: "cannot decode the policy: " + err.Error()}}}
		}
		p.Spec = spec
	}
	for _, vp := range validate(p, len(probs) == 0) {
		// A value the walk could not take is reported once.
		if !slices.ContainsFunc(w.problems, func(wp Problem) bool { return wp.Path == vp.Path }) {
			probs = append(probs, vp)
		}
	}
	if len(probs) > 0 {
		// In file order; problems without a place (a missing field) last.
		slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(lineKey(a.Line), lineKey(b.Line)) })
		if len(probs) > maxProblems {
			probs = probs[:maxProblems]
		}
		return nil, &Error{Problems: probs}
	}
	return p, nil
}

func lineKey(l int) int {
	if l == 0 {
		return math.MaxInt
	}
	return l
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// oneDocument decodes the single YAML document in data and returns its
// root node (never an alias or document node).
func oneDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Problems: []Problem{{Msg: "the file is empty: want an audit policy (apiVersion: audit.k8s.io/v1, kind: Policy)"}}}
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		if !isEmptyDocument(&extra) {
			return nil, &Error{Problems: []Problem{{Line: extra.Line, Msg: "a second YAML document: an audit policy file holds exactly one Policy"}}}
		}
	case errors.Is(err, io.EOF):
	default:
		return nil, yamlError(err)
	}
	if isEmptyDocument(&doc) {
		return nil, &Error{Problems: []Problem{{Line: doc.Line, Msg: "the document is empty: want an audit policy (apiVersion: audit.k8s.io/v1, kind: Policy)"}}}
	}
	root := doc.Content[0]
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{Problems: []Problem{{Line: root.Line, Msg: fmt.Sprintf("the document is %s, not a mapping: want an audit policy (apiVersion: audit.k8s.io/v1, kind: Policy)", describe(root))}}}
	}
	return root, nil
}

func isEmptyDocument(n *yaml.Node) bool {
	return n.Kind == yaml.DocumentNode && (len(n.Content) == 0 || isNull(n.Content[0]))
}

func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Problems: []Problem{{Line: line, Msg: "not valid YAML: " + m[2]}}}
	}
	return &Error{Problems: []Problem{{Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}}
}

// checkKind refuses, with one clear problem, documents that are not audit
// policies at all, before their fields are reported one by one.
func checkKind(root *yaml.Node) error {
	kind, kindNode := field(root, "kind")
	version, versionNode := field(root, "apiVersion")
	fail := func(n *yaml.Node, msg string) error {
		line := root.Line
		if n != nil {
			line = n.Line
		}
		return &Error{Problems: []Problem{{Line: line, Msg: msg}}}
	}
	switch {
	case kindNode == nil:
		return fail(nil, "no kind: an audit policy starts with apiVersion: audit.k8s.io/v1 and kind: Policy")
	case kind == "Event" || kind == "EventList":
		return fail(kindNode, fmt.Sprintf("kind is %s: this is an audit log record, not an audit policy (kind: Policy)", kind))
	case kind == "Config":
		return fail(kindNode, "kind is Config: this is a kubeconfig (such as an audit webhook configuration), not an audit policy (kind: Policy)")
	case kind != "Policy":
		return fail(kindNode, fmt.Sprintf("kind is %q, not Policy: this is not an audit policy", kind))
	case versionNode == nil:
		return fail(kindNode, "no apiVersion: add apiVersion: audit.k8s.io/v1")
	case version == "audit.k8s.io/v1beta1" || version == "audit.k8s.io/v1alpha1":
		return fail(versionNode, fmt.Sprintf("apiVersion %s was removed in Kubernetes 1.24: change it to audit.k8s.io/v1 (the fields are the same)", version))
	case version != auditv1.SchemeGroupVersion.String():
		return fail(versionNode, fmt.Sprintf("apiVersion is %q: a Policy of kind Policy here must be audit.k8s.io/v1", version))
	}
	return nil
}

// field returns the string value and value node of key in mapping m.
func field(m *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			if v == nil || v.Kind != yaml.ScalarNode {
				return "", v
			}
			return v.Value, v
		}
	}
	return "", nil
}

// decodeNode decodes n into v through JSON, as kube-apiserver does (YAML
// is converted to JSON, then decoded into the v1 types).
func decodeNode(n *yaml.Node, v any) error {
	var generic any
	if err := n.Decode(&generic); err != nil {
		return err
	}
	b, err := json.Marshal(generic)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// walker decodes a YAML tree into a Go value the way a strict JSON
// decoder would, skipping (and noting) what it cannot take, and records
// the line of every field path.
type walker struct {
	lines    map[string]int
	problems []Problem
	visited  int
}

func (w *walker) add(line int, path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()
	typeMetaType   = reflect.TypeFor[metav1.TypeMeta]()
)

func (w *walker) walk(n *yaml.Node, v reflect.Value, path string) {
	w.visited++
	if w.visited > maxNodes {
		if w.visited == maxNodes+1 {
			w.add(n.Line, path, "the document expands (through aliases) to more than %d values", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		w.walk(n.Alias, v, path)
		return
	}
	if path != "" {
		if _, ok := w.lines[path]; !ok {
			w.lines[path] = n.Line
		}
	}
	if isNull(n) {
		return // JSON null: the zero value
	}
	t := v.Type()
	switch {
	case t == objectMetaType:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "expected a mapping (object metadata), got %s", describe(n))
			return
		}
		if err := decodeNode(n, v.Addr().Interface()); err != nil {
			w.add(n.Line, path, "%s", jsonProblem(err))
		}
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		w.walk(n, elem.Elem(), path)
		v.Set(elem)
	case t.Kind() == reflect.Struct:
		w.walkStruct(n, v, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n.Line, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			w.walk(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			w.add(n.Line, path, "expected a string, got %s (quote it if it is meant as text)", describe(n))
			return
		}
		if n.Style == 0 && isYAML11Bool(n.Value) {
			w.add(n.Line, path, "%s is read as a boolean by kube-apiserver's YAML parser (YAML 1.1): quote it", n.Value)
		}
		v.SetString(n.Value)
	case t.Kind() == reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			w.add(n.Line, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		w.add(n.Line, path, "cannot check a value of Go type %s", t)
	}
}

func (w *walker) walkStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.add(n.Line, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := jsonFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			if k.Tag == "!!merge" {
				w.add(k.Line, path, "merge keys (<<) are not supported in an audit policy: write the fields out")
			} else {
				w.add(k.Line, path, "a key must be a field name, got %s", describe(k))
			}
			continue
		}
		name := k.Value
		sub := name
		if path != "" {
			sub = path + "." + name
		}
		if first, dup := seen[name]; dup {
			w.add(k.Line, sub, "repeated field (first at line %d): keep one", first)
			continue
		}
		seen[name] = k.Line
		index, ok := fields[name]
		if !ok {
			w.add(k.Line, sub, "%s", unknownField(name, fields, path))
			continue
		}
		w.lines[sub] = k.Line
		w.walk(val, v.FieldByIndex(index), sub)
	}
}

// unknownField words the problem of a field the type does not have.
func unknownField(name string, fields map[string][]int, path string) string {
	known := make([]string, 0, len(fields))
	for f := range fields {
		known = append(known, f)
	}
	slices.Sort(known)
	msg := fmt.Sprintf("unknown field %q", name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if strings.HasPrefix(path, "rules[") {
		msg += "; kube-apiserver would only warn and ignore it, so the rule would match more requests than intended"
	}
	return msg + "; known fields: " + strings.Join(known, ", ")
}

// jsonFields maps the JSON names of t's fields to their index paths, with
// inlined structs (json:",inline" or embedded without a name) flattened.
func jsonFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if (name == "" && (opts == "inline" || f.Anonymous)) || f.Type == typeMetaType {
			for k, idx := range jsonFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// isYAML11Bool reports words YAML 1.1 (used by kube-apiserver's YAML
// reader) takes as booleans while YAML 1.2 takes them as strings.
func isYAML11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"on", "On", "ON", "off", "Off", "OFF":
		return true
	}
	return false
}

// describe names a node's kind and value for a problem message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		kind := map[string]string{"!!int": "the number", "!!float": "the number", "!!bool": "the boolean",
			"!!null": "null", "!!str": "the string", "!!timestamp": "the timestamp", "!!binary": "binary data"}[n.Tag]
		if kind == "" {
			kind = "a value tagged " + n.Tag
		}
		if n.Tag == "!!null" {
			return kind
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return kind + " " + strconv.Quote(v)
	}
	return "an alias"
}

// jsonProblem shortens an encoding/json error.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// suggest returns the candidate closest to name when it is close enough
// to be a likely typo, else "".
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
