package detect

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// This file holds how compiled rules read an event: the field paths of a
// rule set are numbered once at load, gathered into a trie per table, and
// one pass over the record's original JSON (Raw) collects the values of
// every path the table's rules use, skipping the members no path names
// without decoding them. The values alias Raw (or a scratch buffer for
// unescaped strings and the normalized fields): nothing is allocated per
// event once the scratch buffers have grown.

// recField is a normalized field of event.Record ("cdewatch.<name>").
type recField int8

const (
	recNone recField = iota - 1
	recSource
	recTable
	recUser
	recAction
	recOutcome
	recStatus
	recOrigin
	recAgent
	recResource
	recPCI
	recKey
)

// recFieldNames are the names after "cdewatch.", in recField order.
var recFieldNames = [...]string{"source", "table", "user", "action", "outcome", "status", "origin", "agent", "resource", "pci", "key"}

func lookupRecField(name string) recField {
	for i, n := range recFieldNames {
		if n == name {
			return recField(i)
		}
	}
	return recNone
}

// kind is the JSON type of a value.
type kind uint8

const (
	kindString kind = iota
	kindNumber
	kindBool
	kindRaw // an object, or an array inside an array: its JSON text
)

// value is one value of a field: a string's text (unescaped), a number or
// boolean as written, or an object's JSON text.
type value struct {
	kind kind
	b    []byte
}

// pathInfo is a field path of a rule set.
type pathInfo struct {
	text string
	rec  recField // recNone for a path into the document
	segs []string // the dot-separated segments of a document path
}

// pathTable numbers the distinct field paths of a rule set.
type pathTable struct {
	paths []pathInfo
	ids   map[string]int
}

func newPathTable() *pathTable { return &pathTable{ids: map[string]int{}} }

// add returns the id of a path already checked by checkPath.
func (t *pathTable) add(path string) int {
	if id, ok := t.ids[path]; ok {
		return id
	}
	id := len(t.paths)
	pi := pathInfo{text: path, rec: recNone}
	if name, ok := strings.CutPrefix(path, "cdewatch."); ok {
		pi.rec = lookupRecField(name)
	} else {
		pi.segs = strings.Split(path, ".")
	}
	t.paths = append(t.paths, pi)
	t.ids[path] = id
	return id
}

// checkPath reports what is wrong with a field path, or "".
func checkPath(path string) string {
	if path == "" {
		return "empty field path"
	}
	if name, ok := strings.CutPrefix(path, "cdewatch."); ok {
		if lookupRecField(name) == recNone {
			return "unknown normalized field " + strconv.Quote(path) + suggest(name, recFieldNames[:], "cdewatch.") +
				" (normalized fields: cdewatch." + strings.Join(recFieldNames[:], ", cdewatch.") + ")"
		}
		return ""
	}
	if !utf8.ValidString(path) {
		return "field path is not valid UTF-8"
	}
	for _, s := range strings.Split(path, ".") {
		if s == "" {
			return "field path " + strconv.Quote(path) + " has an empty segment"
		}
	}
	return ""
}

// node is a trie node of document paths: the paths ending here (leaves)
// and the members below.
type node struct {
	leaves   []int
	children map[string]*node
	hasIndex bool     // a child's name is an array index
	top      int      // for a member of the document's top level: its index in plan.tops
	ids      []int    // for a member of the top level: the paths that start with it
	names    []string // with kids: the children, looked up by a scan when few
	kids     []*node
}

// maxScanChildren is the number of children up to which a member name is
// looked up by comparing names rather than hashing.
const maxScanChildren = 12

// lookup returns the child named name.
func (n *node) lookup(name []byte) *node {
	if n.kids != nil || len(n.children) == 0 {
		for i, k := range n.names {
			if len(k) == len(name) && k == string(name) {
				return n.kids[i]
			}
		}
		return nil
	}
	return n.children[string(name)]
}

// seal prepares the lookups of the trie below n.
func (n *node) seal() {
	if len(n.children) > 0 && len(n.children) <= maxScanChildren {
		n.names, n.kids = nil, nil
		for k := range n.children {
			n.names = append(n.names, k)
		}
		sort.Strings(n.names)
		for _, k := range n.names {
			n.kids = append(n.kids, n.children[k])
		}
	}
	for _, c := range n.children {
		c.seal()
	}
}

func (n *node) insert(segs []string, id int) {
	for _, s := range segs {
		c := n.children[s]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c = &node{}
			n.children[s] = c
			if isIndex(s) {
				n.hasIndex = true
			}
		}
		n = c
	}
	n.leaves = append(n.leaves, id)
}

func isIndex(s string) bool {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// child returns the node for member name, which may itself hold dots
// (annotations such as "authorization.k8s.io/decision"): its segments are
// followed one by one.
func (n *node) child(name []byte) *node {
	if bytes.IndexByte(name, '.') < 0 {
		return n.lookup(name)
	}
	for len(name) > 0 && n != nil {
		seg := name
		if i := bytes.IndexByte(name, '.'); i >= 0 {
			seg, name = name[:i], name[i+1:]
			if len(name) == 0 {
				return nil // a trailing dot: no path names it
			}
		} else {
			name = nil
		}
		n = n.lookup(seg)
	}
	return n
}

func (n *node) index(i int) *node {
	var buf [20]byte
	return n.children[string(strconv.AppendInt(buf[:0], int64(i), 10))]
}

// plan is what one table's rules (or one rule) read: the trie of their
// document paths and the ids of all their paths.
type plan struct {
	root   *node
	tops   []*node // the top-level members the paths start with
	topOf  []int   // by path id: the index in tops of its first member; -1 for others
	docIDs []int
	recIDs []int
}

func newPlan(t *pathTable, ids map[int]bool) *plan {
	p := &plan{root: &node{}, topOf: make([]int, len(t.paths))}
	for id := range t.paths {
		p.topOf[id] = -1
		if !ids[id] {
			continue
		}
		pi := &t.paths[id]
		if pi.rec != recNone {
			p.recIDs = append(p.recIDs, id)
			continue
		}
		p.docIDs = append(p.docIDs, id)
		top := p.root.children[pi.segs[0]]
		if top == nil {
			top = &node{top: len(p.tops)}
			p.tops = append(p.tops, top)
			if p.root.children == nil {
				p.root.children = map[string]*node{}
			}
			p.root.children[pi.segs[0]] = top
		}
		top.insert(pi.segs[1:], id)
		p.topOf[id] = top.top
		top.ids = append(top.ids, id)
	}
	p.root.seal()
	return p
}

// maxArrayDepth bounds how deep arrays inside arrays are followed.
const maxArrayDepth = 8

// scratch holds the values of one event's fields while a rule set is
// evaluated on it. A scratch is used by one goroutine at a time.
//
// The document is read lazily, one top-level member at a time: a field's
// first use reads the members up to the one it starts with (walking that
// member's value along the trie, skipping the others unread). Rules that
// are decided by the first members of an event never pay for the large
// request and response bodies further on.
type scratch struct {
	paths   []pathInfo
	vals    [][]value
	present []bool
	ready   []bool // by path id: values final (record field computed, member read)
	plan    *plan
	rec     *event.Record
	topDone []bool // by plan.tops index: member read (or known absent)
	cursor  int    // offset in Raw of the next top-level member; -1 at the end
	started bool
	buf     []byte // unescaped strings and record fields
	low     []byte // lower-cased text for nocase tests
	name    []byte // unescaped member names
	out     []byte // rendering of alert fields
	cand    []bool // candidate rules of an evaluation
}

func newScratch(t *pathTable) *scratch {
	n := len(t.paths)
	return &scratch{
		paths:   t.paths,
		vals:    make([][]value, n),
		present: make([]bool, n),
		ready:   make([]bool, n),
	}
}

// reset prepares the scratch for rec under p.
func (sc *scratch) reset(p *plan, rec *event.Record) {
	if sc.plan != nil {
		for _, id := range sc.plan.docIDs {
			sc.vals[id] = sc.vals[id][:0]
			sc.present[id] = false
			sc.ready[id] = false
		}
		for _, id := range sc.plan.recIDs {
			sc.vals[id] = sc.vals[id][:0]
			sc.present[id] = false
			sc.ready[id] = false
		}
	}
	sc.plan, sc.rec, sc.started, sc.cursor = p, rec, false, 0
	sc.buf = sc.buf[:0]
	if p != nil {
		if cap(sc.topDone) < len(p.tops) {
			sc.topDone = make([]bool, len(p.tops))
		}
		sc.topDone = sc.topDone[:len(p.tops)]
		clear(sc.topDone)
	}
}

// release drops the references to the event.
func (sc *scratch) release() {
	sc.reset(nil, nil)
}

// get returns the values of path id.
func (sc *scratch) get(id int) []value {
	if !sc.ready[id] {
		sc.load(id)
	}
	return sc.vals[id]
}

// load makes the values of path id ready.
func (sc *scratch) load(id int) {
	if sc.paths[id].rec != recNone {
		sc.ready[id] = true
		sc.recValues(id)
		return
	}
	if t := sc.plan.topOf[id]; !sc.topDone[t] {
		sc.advance(t)
	}
}

// topRead marks member tops[t] as read: the values of its paths are final.
func (sc *scratch) topRead(t int) {
	sc.topDone[t] = true
	for _, id := range sc.plan.tops[t].ids {
		sc.ready[id] = true
	}
}

// has reports whether path id is present (and not null).
func (sc *scratch) has(id int) bool {
	sc.get(id)
	return sc.present[id]
}

func (sc *scratch) add(id int, k kind, b []byte) {
	sc.vals[id] = append(sc.vals[id], value{kind: k, b: b})
	sc.present[id] = true
}

// addString adds a normalized field's text: copied into buf, as values
// are byte slices.
func (sc *scratch) addString(id int, k kind, s string) {
	if s == "" {
		return
	}
	start := len(sc.buf)
	sc.buf = append(sc.buf, s...)
	sc.add(id, k, sc.buf[start:len(sc.buf):len(sc.buf)])
}

func (sc *scratch) recValues(id int) {
	r := sc.rec
	switch sc.paths[id].rec {
	case recSource:
		sc.addString(id, kindString, r.Source)
	case recTable:
		sc.addString(id, kindString, r.Table)
	case recUser:
		sc.addString(id, kindString, r.User)
	case recAction:
		sc.addString(id, kindString, r.Action)
	case recOutcome:
		sc.addString(id, kindString, string(r.Outcome))
	case recStatus:
		start := len(sc.buf)
		sc.buf = strconv.AppendInt(sc.buf, int64(r.Status), 10)
		sc.add(id, kindNumber, sc.buf[start:len(sc.buf):len(sc.buf)])
	case recOrigin:
		sc.addString(id, kindString, r.OriginIP)
	case recAgent:
		sc.addString(id, kindString, r.UserAgent)
	case recResource:
		sc.addString(id, kindString, r.Resource)
	case recPCI:
		for _, n := range r.PCI.Names() {
			sc.addString(id, kindString, n)
		}
	case recKey:
		sc.addString(id, kindString, r.Key)
	}
}

// advance reads the document's top-level members from the cursor until
// the member of tops[t] has been read, or to the end. A Raw that is not a
// JSON object has no members; a malformed one has those read before the
// error.
func (sc *scratch) advance(t int) {
	raw := sc.rec.Raw
	if !sc.started {
		sc.started = true
		p := jsonscan.SkipSpace(raw, 0)
		if p < len(raw) && raw[p] == '{' {
			p = jsonscan.SkipSpace(raw, p+1)
		}
		if p >= len(raw) || raw[p] != '"' || p == 0 {
			sc.cursor = -1
		} else {
			sc.cursor = p
		}
	}
	root := sc.plan.root
	for sc.cursor >= 0 && !sc.topDone[t] {
		p := sc.cursor
		end := jsonscan.SkipString(raw, p)
		if end < 0 {
			sc.cursor = -1
			break
		}
		name := raw[p+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var err error
			if sc.name, err = jsonscan.AppendUnescaped(sc.name[:0], name); err != nil {
				sc.cursor = -1
				break
			}
			name = sc.name
		}
		n := root.lookup(name)
		p = jsonscan.SkipSpace(raw, end)
		if p >= len(raw) || raw[p] != ':' {
			sc.cursor = -1
			break
		}
		p = jsonscan.SkipSpace(raw, p+1)
		if n != nil {
			p = sc.walk(raw, p, n)
			sc.topRead(n.top)
		} else {
			p = jsonscan.SkipValue(raw, p)
		}
		if p < 0 {
			sc.cursor = -1
			break
		}
		p = jsonscan.SkipSpace(raw, p)
		switch {
		case p < len(raw) && raw[p] == ',':
			sc.cursor = jsonscan.SkipSpace(raw, p+1)
			if sc.cursor >= len(raw) || raw[sc.cursor] != '"' {
				sc.cursor = -1
			}
		default: // '}', or malformed
			sc.cursor = -1
		}
	}
	if sc.cursor < 0 {
		for i := range sc.topDone {
			if !sc.topDone[i] {
				sc.topRead(i)
			}
		}
	}
}

// readAll reads every member the plan's paths start with.
func (sc *scratch) readAll() {
	for t := range sc.topDone {
		if !sc.topDone[t] {
			sc.advance(t)
		}
	}
}

// walk handles the value at b[p] for node n: n's paths get the value and
// n's children the members below. It returns the offset after the value,
// or -1 when the JSON is malformed.
func (sc *scratch) walk(b []byte, p int, n *node) int {
	if p >= len(b) {
		return -1
	}
	switch b[p] {
	case '{':
		if len(n.children) == 0 {
			end := jsonscan.SkipValue(b, p)
			if end < 0 {
				return -1
			}
			sc.leaves(n, kindRaw, b[p:end])
			return end
		}
		end := sc.object(b, p, n)
		if end >= 0 && len(n.leaves) > 0 {
			sc.leaves(n, kindRaw, b[p:end])
		}
		return end
	case '[':
		if len(n.leaves) > 0 {
			for _, id := range n.leaves {
				sc.present[id] = true
			}
		}
		return sc.array(b, p, n, true, 0)
	case 'n':
		return literal(b, p, "null")
	default:
		k, v, end := sc.scalar(b, p)
		if end >= 0 {
			sc.leaves(n, k, v)
		}
		return end
	}
}

func (sc *scratch) leaves(n *node, k kind, v []byte) {
	for _, id := range n.leaves {
		sc.add(id, k, v)
	}
}

// scalar reads the string, number or boolean at b[p].
func (sc *scratch) scalar(b []byte, p int) (kind, []byte, int) {
	switch c := b[p]; {
	case c == '"':
		end := jsonscan.SkipString(b, p)
		if end < 0 {
			return 0, nil, -1
		}
		s := b[p+1 : end-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			start := len(sc.buf)
			var err error
			sc.buf, err = jsonscan.AppendUnescaped(sc.buf, s)
			if err != nil {
				return 0, nil, -1
			}
			s = sc.buf[start:len(sc.buf):len(sc.buf)]
		}
		return kindString, s, end
	case c == 't':
		end := literal(b, p, "true")
		return kindBool, b[p:max(end, p)], end
	case c == 'f':
		end := literal(b, p, "false")
		return kindBool, b[p:max(end, p)], end
	case c == '-' || '0' <= c && c <= '9':
		end := jsonscan.SkipValue(b, p)
		if end < 0 {
			return 0, nil, -1
		}
		return kindNumber, b[p:end], end
	}
	return 0, nil, -1
}

// literal returns the offset after lit at b[p], or -1.
func literal(b []byte, p int, lit string) int {
	if len(b)-p < len(lit) || string(b[p:p+len(lit)]) != lit {
		return -1
	}
	return p + len(lit)
}

// object walks the members of the object at b[p] with n's children.
func (sc *scratch) object(b []byte, p int, n *node) int {
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1
	}
	for p < len(b) {
		if b[p] != '"' {
			return -1
		}
		end := jsonscan.SkipString(b, p)
		if end < 0 {
			return -1
		}
		name := b[p+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var err error
			if sc.name, err = jsonscan.AppendUnescaped(sc.name[:0], name); err != nil {
				return -1
			}
			name = sc.name
		}
		c := n.child(name)
		p = jsonscan.SkipSpace(b, end)
		if p >= len(b) || b[p] != ':' {
			return -1
		}
		p = jsonscan.SkipSpace(b, p+1)
		if c != nil {
			p = sc.walk(b, p, c)
		} else {
			p = jsonscan.SkipValue(b, p)
		}
		var more bool
		if p, more = jsonscan.Next(b, p, '}'); !more {
			return p
		}
	}
	return -1
}

// array walks the elements of the array at b[p]: an element whose index
// is a child of n gets that child; n's children apply to every element
// (a path that is not an index fans out over the array); with leaves, n's
// paths get every element, arrays inside flattened.
func (sc *scratch) array(b []byte, p int, n *node, leaves bool, depth int) int {
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == ']' {
		return p + 1
	}
	for i := 0; p < len(b); i++ {
		end := -1
		if n.hasIndex {
			if c := n.index(i); c != nil {
				if end = sc.walk(b, p, c); end < 0 {
					return -1
				}
			}
		}
		if p < len(b) && (b[p] == '{' || b[p] == '[') && len(n.children) > 0 && depth < maxArrayDepth {
			var e int
			if b[p] == '{' {
				e = sc.object(b, p, n)
			} else {
				e = sc.array(b, p, n, false, depth+1)
			}
			if e < 0 {
				return -1
			}
			end = e
		}
		if leaves && len(n.leaves) > 0 {
			if e := sc.element(b, p, n, depth); e < 0 {
				return -1
			} else {
				end = e
			}
		}
		if end < 0 {
			if end = jsonscan.SkipValue(b, p); end < 0 {
				return -1
			}
		}
		var more bool
		if p, more = jsonscan.Next(b, end, ']'); !more {
			return p
		}
	}
	return -1
}

// element adds the array element at b[p] to n's paths: a scalar as it is,
// an object as its JSON text, an array's elements in turn (to a depth).
func (sc *scratch) element(b []byte, p int, n *node, depth int) int {
	switch b[p] {
	case '{':
		end := jsonscan.SkipValue(b, p)
		if end < 0 {
			return -1
		}
		sc.leaves(n, kindRaw, b[p:end])
		return end
	case '[':
		if depth >= maxArrayDepth {
			end := jsonscan.SkipValue(b, p)
			if end >= 0 {
				sc.leaves(n, kindRaw, b[p:end])
			}
			return end
		}
		// The nested array's elements are values of n's paths; its
		// children were walked by array already.
		return sc.array(b, p, &node{leaves: n.leaves}, true, depth+1)
	case 'n':
		return literal(b, p, "null")
	}
	k, v, end := sc.scalar(b, p)
	if end >= 0 {
		sc.leaves(n, k, v)
	}
	return end
}
