package sigma

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/cdewatch/cdewatch/internal/detect"
)

// fieldVal is one value of a field of the event being evaluated: a JSON
// value (string, float64, bool, nil, map[string]any, []any) with its text
// and lower-cased text computed on first use.
type fieldVal struct {
	v     any
	txt   string
	low   string
	state uint8 // 1: txt set; 2: low set
}

func (fv *fieldVal) text() string {
	if fv.state&1 == 0 {
		fv.txt, fv.state = textOf(fv.v), fv.state|1
	}
	return fv.txt
}

func (fv *fieldVal) lower() string {
	if fv.state&2 == 0 {
		fv.low, fv.state = lower(fv.text()), fv.state|2
	}
	return fv.low
}

// textOf renders a JSON value as text: strings as they are, numbers in
// their shortest decimal form, booleans as true or false, null as "",
// objects and arrays as compact JSON (keys sorted).
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		var b [24]byte
		return string(appendNumber(b[:0], x))
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ctx is the scratch state of evaluating rules on one event: the values
// of the fields resolved so far and the results of shared conditions,
// valid while their generation is the context's.
type ctx struct {
	e     *detect.Event
	doc   any
	hasD  bool
	gen   uint32
	slots []slot
	conds []condSlot
	arena []fieldVal
	cand  []int32
	bits  []uint64 // candidate rules of the event's table
	leafs []fieldVal
}

type slot struct {
	gen  uint32
	vals []fieldVal
}

type condSlot struct {
	gen uint32
	res bool
}

// engine is what the rules of one Set share: the number of distinct
// fields and conditions, and a pool of evaluation contexts.
type engine struct {
	nfields int
	nconds  int
	pool    sync.Pool
}

func (g *engine) get(e *detect.Event) *ctx {
	c, _ := g.pool.Get().(*ctx)
	if c == nil || len(c.slots) < g.nfields || len(c.conds) < g.nconds {
		c = &ctx{slots: make([]slot, g.nfields), conds: make([]condSlot, g.nconds)}
	}
	c.gen++
	if c.gen == 0 { // wrapped: forget every stale stamp
		clear(c.slots)
		clear(c.conds)
		c.gen = 1
	}
	c.e, c.doc, c.hasD = e, nil, false
	c.arena = c.arena[:0]
	return c
}

func (g *engine) put(c *ctx) {
	c.e, c.doc = nil, nil
	if cap(c.arena) > 1<<12 {
		c.arena = nil
	}
	clear(c.arena[:cap(c.arena)]) // drop references into the event
	g.pool.Put(c)
}

// document returns the event's decoded original document.
func (c *ctx) document() any {
	if !c.hasD {
		c.doc, c.hasD = c.e.Doc(), true
	}
	return c.doc
}

// field returns the values of f in the current event, resolving them on
// first use.
func (c *ctx) field(f *fieldRef) []fieldVal {
	s := &c.slots[f.id]
	if s.gen == c.gen {
		return s.vals
	}
	start := len(c.arena)
	c.arena = f.res.resolve(c, c.arena)
	s.vals = c.arena[start:len(c.arena):len(c.arena)]
	s.gen = c.gen
	return s.vals
}

// fieldRef is a Sigma field name resolved for one log source.
type fieldRef struct {
	name string // as the rule writes it
	id   int    // slot in the evaluation context, shared by equal references
	res  resolver
}

// node is a compiled part of a detection.
type node interface {
	eval(c *ctx) bool
}

type andNode struct{ kids []node }
type orNode struct{ kids []node }
type notNode struct{ kid node }
type constNode struct{ v bool }

func (n *andNode) eval(c *ctx) bool {
	for _, k := range n.kids {
		if !k.eval(c) {
			return false
		}
	}
	return true
}

func (n *orNode) eval(c *ctx) bool {
	for _, k := range n.kids {
		if k.eval(c) {
			return true
		}
	}
	return false
}

func (n *notNode) eval(c *ctx) bool   { return !n.kid.eval(c) }
func (n *constNode) eval(c *ctx) bool { return n.v }

// fieldCond is one field of a selection with its values: OR-linked (AND
// with the all modifier), each value the OR of the alternatives it
// expands into (windash, base64offset, placeholders).
type fieldCond struct {
	f      *fieldRef
	mods   string // the modifiers as written, for keys
	groups [][]valueMatcher
	all    bool
	null   bool // one of the values is null: matches an absent or null field
	neq    bool
	exists int8 // 1 exists: true, -1 exists: false, 0 no exists modifier
	cid    int  // shared-result slot, -1 for none
	cost   int
}

func (fc *fieldCond) eval(c *ctx) bool {
	if fc.cid < 0 {
		return fc.compute(c)
	}
	cs := &c.conds[fc.cid]
	if cs.gen != c.gen {
		cs.res, cs.gen = fc.compute(c), c.gen
	}
	return cs.res
}

func (fc *fieldCond) compute(c *ctx) bool {
	vals := c.field(fc.f)
	if fc.exists != 0 {
		return (len(vals) > 0) == (fc.exists > 0)
	}
	isNull := true
	for i := range vals {
		if vals[i].v != nil {
			isNull = false
			break
		}
	}
	if fc.neq {
		return !isNull && !fc.anyGroup(c, vals)
	}
	if fc.all {
		if fc.null && !isNull {
			return false
		}
		for _, g := range fc.groups {
			if !groupMatches(c, g, vals) {
				return false
			}
		}
		return true
	}
	if fc.null && isNull {
		return true
	}
	return fc.anyGroup(c, vals)
}

func (fc *fieldCond) anyGroup(c *ctx, vals []fieldVal) bool {
	for _, g := range fc.groups {
		if groupMatches(c, g, vals) {
			return true
		}
	}
	return false
}

func groupMatches(c *ctx, g []valueMatcher, vals []fieldVal) bool {
	for i := range vals {
		for _, m := range g {
			if matchVal(c, m, &vals[i]) {
				return true
			}
		}
	}
	return false
}

// matchVal applies m to a value: an array matches when one of its
// elements does (or, for textual matchers, its JSON text does); an object
// by its JSON text.
func matchVal(c *ctx, m valueMatcher, fv *fieldVal) bool {
	switch x := fv.v.(type) {
	case []any:
		for _, el := range x {
			e := fieldVal{v: el}
			if matchVal(c, m, &e) {
				return true
			}
		}
		return m.textual() && m.match(c, fv)
	case map[string]any:
		return m.textual() && m.match(c, fv)
	}
	return m.match(c, fv)
}

func (m *fieldrefMatcher) textual() bool { return false }
func (m *fieldrefMatcher) key() string {
	if m.fold {
		return "ref:" + m.ref.name
	}
	return "REF:" + m.ref.name
}

func (m *fieldrefMatcher) match(c *ctx, fv *fieldVal) bool {
	if fv.v == nil {
		return false
	}
	others := c.field(m.ref)
	for i := range others {
		o := &others[i]
		if o.v == nil {
			continue
		}
		if a, ok := fv.v.(float64); ok {
			if b, ok := o.v.(float64); ok {
				if a == b {
					return true
				}
				continue
			}
		}
		if m.fold {
			if fv.lower() == o.lower() {
				return true
			}
		} else if fv.text() == o.text() {
			return true
		}
	}
	return false
}

// keywordCond searches the event's text: every string, number and
// boolean of its document, at any depth.
type keywordCond struct {
	groups [][]valueMatcher
	all    bool
	cid    int
}

func (kc *keywordCond) eval(c *ctx) bool {
	if kc.cid < 0 {
		return kc.compute(c)
	}
	cs := &c.conds[kc.cid]
	if cs.gen != c.gen {
		cs.res, cs.gen = kc.compute(c), c.gen
	}
	return cs.res
}

func (kc *keywordCond) compute(c *ctx) bool {
	doc := c.document()
	if doc == nil {
		if len(c.e.Rec.Raw) == 0 {
			return false
		}
		doc = string(c.e.Rec.Raw) // not JSON: search the raw text
	}
	leafs := appendLeafs(c.leafs[:0], doc)
	c.leafs = leafs
	defer clear(leafs)
	if kc.all {
		for _, g := range kc.groups {
			if !groupMatches(c, g, leafs) {
				return false
			}
		}
		return true
	}
	for _, g := range kc.groups {
		if groupMatches(c, g, leafs) {
			return true
		}
	}
	return false
}

// appendLeafs appends the scalar values of a JSON document, depth first.
func appendLeafs(out []fieldVal, v any) []fieldVal {
	switch x := v.(type) {
	case map[string]any:
		for _, y := range x {
			out = appendLeafs(out, y)
		}
	case []any:
		for _, y := range x {
			out = appendLeafs(out, y)
		}
	case nil:
	default:
		out = append(out, fieldVal{v: x})
	}
	return out
}
