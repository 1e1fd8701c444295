package sigma

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// builder compiles the rules of one Set, interning fields and conditions
// so that rules share field lookups and condition results per event.
type builder struct {
	opts     Options
	fieldIDs map[string]*fieldRef // by log source and name
	condIDs  map[string]int       // shared conditions by canonical key
	nconds   int
}

func newBuilder(opts Options) *builder {
	return &builder{opts: opts, fieldIDs: map[string]*fieldRef{}, condIDs: map[string]int{}}
}

// field returns the interned reference to a Sigma field of a log source.
func (b *builder) field(m *mapper, name string) (*fieldRef, error) {
	k := m.source + "\x00" + name
	if f, ok := b.fieldIDs[k]; ok {
		return f, nil
	}
	res, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	f := &fieldRef{name: name, id: len(b.fieldIDs), res: res}
	b.fieldIDs[k] = f
	return f, nil
}

// shared returns the result slot of a condition with this key.
func (b *builder) shared(key string) int {
	if b.opts.noShare {
		return -1
	}
	if id, ok := b.condIDs[key]; ok {
		return id
	}
	id := b.nconds
	b.nconds++
	b.condIDs[key] = id
	return id
}

// detection is a compiled detection section.
type detection struct {
	match     node
	refs      []*fieldRef
	condition []string
	unmapped  *posError // the first field with no mapping
	missing   []string  // every field with no mapping
}

// compileDetection compiles the detection section of a rule for the
// fields of log source m.
func (b *builder) compileDetection(p pair, m *mapper) (*detection, *posError) {
	ps, err := pairs(resolveAlias(p.v), p.path)
	if err != nil {
		return nil, err
	}
	d := &detection{}
	sels := map[string]node{}
	var names []string
	var condNode *yaml.Node
	var condPath string
	for _, q := range ps {
		switch q.key {
		case "condition":
			condNode, condPath = resolveAlias(q.v), q.path
			continue
		case "timeframe":
			return nil, errAt(q.kn, q.path, unsupported("timeframe is Sigma v1 aggregation syntax: use a correlation rule"))
		}
		n, err := b.selection(q, m, d)
		if err != nil {
			return nil, err
		}
		sels[q.key] = n
		names = append(names, q.key)
	}
	if d.unmapped != nil {
		if len(d.missing) > 1 {
			d.unmapped.err = unsupported("%v (all unmapped: %s)", d.unmapped.err, strings.Join(d.missing, ", "))
		}
		return nil, d.unmapped
	}
	if condNode == nil {
		return nil, errf(p.kn, p.path+".condition", "missing: a detection needs a condition")
	}
	switch condNode.Kind {
	case yaml.ScalarNode:
		if condNode.Tag == "!!null" {
			return nil, errf(condNode, condPath, "empty condition")
		}
		d.condition = []string{condNode.Value}
	case yaml.SequenceNode:
		list, err := strList(condNode, condPath)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, errf(condNode, condPath, "empty list of conditions")
		}
		d.condition = list
	default:
		return nil, errf(condNode, condPath, "want a string, got %s", kindName(condNode))
	}
	var alts []node
	for _, text := range d.condition {
		c, perr := parseCondition(text)
		if perr != nil {
			return nil, errAt(condNode, condPath, perr)
		}
		n, cerr := buildCondition(c, sels, names)
		if cerr != nil {
			return nil, errAt(condNode, condPath, cerr)
		}
		alts = append(alts, n)
	}
	if len(alts) == 1 {
		d.match = alts[0]
	} else {
		d.match = &orNode{kids: alts}
	}
	return d, nil
}

func buildCondition(c *cond, sels map[string]node, names []string) (node, error) {
	switch c.op {
	case "id":
		n, ok := sels[c.name]
		if !ok {
			return nil, fmt.Errorf("unknown search identifier %q (the detection defines %s)", c.name, strings.Join(names, ", "))
		}
		return n, nil
	case "of":
		matched := resolveOf(c.name, names)
		if len(matched) == 0 {
			return nil, fmt.Errorf("%q matches no search identifier (the detection defines %s)", ofText(c), strings.Join(names, ", "))
		}
		kids := make([]node, len(matched))
		for i, n := range matched {
			kids[i] = sels[n]
		}
		if len(kids) == 1 {
			return kids[0], nil
		}
		if c.all {
			return &andNode{kids: kids}, nil
		}
		return &orNode{kids: kids}, nil
	case "not":
		k, err := buildCondition(c.kids[0], sels, names)
		if err != nil {
			return nil, err
		}
		return &notNode{kid: k}, nil
	}
	kids := make([]node, len(c.kids))
	for i, k := range c.kids {
		n, err := buildCondition(k, sels, names)
		if err != nil {
			return nil, err
		}
		kids[i] = n
	}
	if c.op == "and" {
		return &andNode{kids: kids}, nil
	}
	return &orNode{kids: kids}, nil
}

func ofText(c *cond) string {
	if c.all {
		return "all of " + c.name
	}
	return "1 of " + c.name
}

// selection compiles one search identifier: a map (fields AND-linked), a
// list of maps (OR-linked), or a list of keywords (OR-linked).
func (b *builder) selection(q pair, m *mapper, d *detection) (node, *posError) {
	n := resolveAlias(q.v)
	switch n.Kind {
	case yaml.MappingNode:
		return b.selMap(n, q.path, m, d)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, errf(n, q.path, "empty list")
		}
		maps, scalars := 0, 0
		for _, e := range n.Content {
			switch resolveAlias(e).Kind {
			case yaml.MappingNode:
				maps++
			case yaml.ScalarNode:
				scalars++
			default:
				return nil, errf(e, q.path, "a list item must be a map or a keyword, got %s", kindName(e))
			}
		}
		if maps > 0 && scalars > 0 {
			return nil, errf(n, q.path, "a list mixes maps and keywords")
		}
		if scalars > 0 {
			return b.keywords(n.Content, q.path, nil)
		}
		var kids []node
		for i, e := range n.Content {
			k, err := b.selMap(resolveAlias(e), fmt.Sprintf("%s[%d]", q.path, i), m, d)
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
		}
		if len(kids) == 1 {
			return kids[0], nil
		}
		return &orNode{kids: kids}, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, errf(n, q.path, "empty search identifier")
		}
		return b.keywords([]*yaml.Node{n}, q.path, nil)
	}
	return nil, errf(n, q.path, "want a map or a list, got %s", kindName(n))
}

// selMap compiles a map of field conditions, AND-linked, cheapest first.
func (b *builder) selMap(n *yaml.Node, at string, m *mapper, d *detection) (node, *posError) {
	ps, err := pairs(n, at)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, errf(n, at, "empty map")
	}
	var kids []node
	var costs []int
	for _, q := range ps {
		parts := strings.Split(q.key, "|")
		name, mods := parts[0], parts[1:]
		var vals []*yaml.Node
		v := resolveAlias(q.v)
		switch v.Kind {
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				return nil, errf(v, q.path, "empty list of values")
			}
			vals = v.Content
		case yaml.ScalarNode:
			vals = []*yaml.Node{v}
		default:
			return nil, errf(v, q.path, "a field's value must be a value or a list of values, got %s", kindName(v))
		}
		if name == "" {
			k, err := b.keywords(vals, q.path, mods)
			if err != nil {
				return nil, err
			}
			kids, costs = append(kids, k), append(costs, 100)
			continue
		}
		fc, err := b.fieldCond(q, name, mods, vals, m, d)
		if err != nil {
			return nil, err
		}
		kids, costs = append(kids, fc), append(costs, fc.cost)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	idx := make([]int, len(kids))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return costs[idx[i]] < costs[idx[j]] })
	sorted := make([]node, len(kids))
	for i, j := range idx {
		sorted[i] = kids[j]
	}
	return &andNode{kids: sorted}, nil
}

// fieldCond compiles one field with its modifiers and values.
func (b *builder) fieldCond(q pair, name string, mods []string, vals []*yaml.Node, m *mapper, d *detection) (*fieldCond, *posError) {
	vs, err := parseModifiers(mods, false)
	if err != nil {
		return nil, errAt(q.kn, q.path, err)
	}
	f, err := b.field(m, name)
	if err != nil {
		if errors.Is(err, ErrUnsupported) && d.unmapped == nil {
			d.unmapped = errAt(q.kn, q.path, err)
		}
		if errors.Is(err, ErrUnsupported) {
			d.missing = append(d.missing, name)
			return &fieldCond{f: nil, cid: -1}, nil
		}
		return nil, errAt(q.kn, q.path, err)
	}
	d.refs = appendRef(d.refs, f)
	fc := &fieldCond{f: f, mods: strings.Join(mods, "|"), all: vs.all, neq: vs.neq, cid: -1}
	if vs.exists {
		if len(vals) != 1 {
			return nil, errf(q.v, q.path, "exists takes one value, true or false")
		}
		text, _, perr := scalarValue(vals[0], q.path)
		if perr != nil {
			return nil, perr
		}
		switch strings.ToLower(text) {
		case "true":
			fc.exists = 1
		case "false":
			fc.exists = -1
		default:
			return nil, errf(vals[0], q.path, "exists takes true or false, got %q", text)
		}
		fc.cid = b.shared(fmt.Sprintf("%s\x00%s\x00exists:%d", m.source, name, fc.exists))
		return fc, nil
	}
	ref := func(other string) (*fieldRef, error) {
		r, err := b.field(m, other)
		if err == nil {
			d.refs = appendRef(d.refs, r)
		}
		return r, err
	}
	var keys []string
	for i, vn := range vals {
		at := q.path
		if len(vals) > 1 {
			at = fmt.Sprintf("%s[%d]", q.path, i)
		}
		text, null, perr := scalarValue(vn, at)
		if perr != nil {
			return nil, perr
		}
		if null {
			if vs.re || vs.cidr || vs.numOp != "" || vs.fieldref || vs.positionSet || len(vs.transforms) > 0 || vs.timePart != "" {
				return nil, errf(vn, at, "null takes no modifier but all, neq and cased")
			}
			fc.null = true
			keys = append(keys, "null")
			continue
		}
		alts, err := vs.compileValue(text, b.opts.Placeholders, ref)
		if err != nil {
			return nil, errAt(vn, at, err)
		}
		fc.groups = append(fc.groups, alts)
		var ks []string
		for _, a := range alts {
			ks = append(ks, a.key())
		}
		keys = append(keys, strings.Join(ks, "\x01"))
		fc.cost += costOf(alts)
	}
	fc.cid = b.shared(fmt.Sprintf("%s\x00%s\x00%t%t%t\x00%s", m.source, name, fc.all, fc.neq, fc.null, strings.Join(keys, "\x02")))
	if !fc.all {
		fc.groups = mergeContains(fc.groups)
	}
	return fc, nil
}

func appendRef(refs []*fieldRef, f *fieldRef) []*fieldRef {
	for _, r := range refs {
		if r == f {
			return refs
		}
	}
	return append(refs, f)
}

// costOf estimates how expensive matching the alternatives is, to test
// cheap conditions of a selection first.
func costOf(alts []valueMatcher) int {
	c := 0
	for _, a := range alts {
		switch x := a.(type) {
		case *strMatcher:
			if x.shape == smExact || x.shape == smAny {
				c++
			} else {
				c += 3
			}
		case *reMatcher:
			c += 20
		default:
			c += 2
		}
	}
	return c
}

// keywords compiles a keyword search: each value searched for in the
// event's text, OR-linked (AND with the all modifier).
func (b *builder) keywords(vals []*yaml.Node, at string, mods []string) (node, *posError) {
	vs, err := parseModifiers(mods, true)
	if err != nil {
		return nil, errf(vals[0], at, "%v", err)
	}
	kc := &keywordCond{all: vs.all, cid: -1}
	var keys []string
	for i, vn := range vals {
		text, null, perr := scalarValue(vn, at)
		if perr != nil {
			return nil, perr
		}
		if null {
			return nil, errf(vn, fmt.Sprintf("%s[%d]", at, i), "a keyword cannot be null")
		}
		alts, err := vs.compileValue(text, b.opts.Placeholders, nil)
		if err != nil {
			return nil, errAt(vn, at, err)
		}
		kc.groups = append(kc.groups, alts)
		for _, a := range alts {
			keys = append(keys, a.key())
		}
	}
	kc.cid = b.shared("keywords\x00" + strconv.FormatBool(kc.all) + "\x00" + strings.Join(keys, "\x01"))
	return kc, nil
}

// indexKeys returns the lower-cased texts one of which the field must
// equal for the condition to hold, or nil when the condition is not such
// an equality (wildcards, other modifiers, null, non-ASCII text).
func (fc *fieldCond) indexKeys() []string {
	if fc.neq || fc.all || fc.null || fc.exists != 0 || len(fc.groups) == 0 {
		return nil
	}
	var keys []string
	for _, g := range fc.groups {
		for _, a := range g {
			sm, ok := a.(*strMatcher)
			if !ok || sm.shape != smExact {
				return nil
			}
			k := strings.ToLower(sm.lit)
			if !isASCII(k) {
				return nil
			}
			keys = append(keys, k)
			if sm.isNum {
				keys = append(keys, strconv.FormatFloat(sm.num, 'f', -1, 64))
			}
		}
	}
	return keys
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// required returns the indexable field conditions that must hold for n
// to hold.
func required(n node) []*fieldCond {
	switch x := n.(type) {
	case *fieldCond:
		if x.indexKeys() != nil {
			return []*fieldCond{x}
		}
	case *andNode:
		var out []*fieldCond
		for _, k := range x.kids {
			out = append(out, required(k)...)
		}
		return out
	}
	return nil
}
