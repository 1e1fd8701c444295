package kql

import (
	"fmt"
	"strings"
)

// Variable kinds of a graph pattern.
const (
	gvNode = iota
	gvEdge
	gvPath // a variable-length edge
)

// graphVar is a variable of a pattern: a node, an edge or a
// variable-length edge, and the SQL alias of its row in the match.
type graphVar struct {
	name  string
	kind  int
	alias string
}

// graphScope resolves the names of graph-match's where and project.
type graphScope struct {
	g    *graphVal
	vars map[string]*graphVar
	// elem is the lambda parameter inside all(), any() and map(); its
	// kind is gvNode or gvEdge ("" outside them).
	elem     string
	elemKind int
	// lists is the one-row table of every node's and edge's properties,
	// for the elements of variable-length edges; shared by the scopes of
	// one match.
	lists *graphLists
	depth int
}

// graphLists names the one-row table of lists (columns n and e) and
// records whether an expression read it.
type graphLists struct {
	alias string
	used  bool
}

// graphMatch translates graph-match and graph-shortest-paths.
func (t *translator) graphMatch(e *env, g *graphVal, v *GraphMatch) *rel {
	cycles, output := "unique_edges", "any"
	for _, o := range v.Options {
		switch o.Name {
		case "cycles":
			cycles = optionText(o)
		case "output":
			output = optionText(o)
		}
	}
	if v.Shortest {
		// a shortest walk never repeats a node
		cycles = "none"
	}
	gs := &graphScope{g: g, vars: map[string]*graphVar{}, lists: &graphLists{alias: t.alias()}}
	pat := t.graphPattern(gs, v)
	var conjuncts []Expr
	if v.Where != nil {
		conjuncts = splitAnd(v.Where)
	}
	var ctes []string
	from := []string{}
	var conds []string
	for _, n := range pat.nodes {
		from = append(from, sqlIdent(g.nodes)+" AS "+n.alias)
	}
	for _, ev := range pat.edges {
		from = append(from, sqlIdent(g.edges)+" AS "+ev.alias)
	}
	endpoints := func(h graphHop, a, b string) string {
		f, to := h.from.alias+"."+gNid, h.to.alias+"."+gNid
		switch h.pat.Dir {
		case "->":
			return fmt.Sprintf("%s = %s AND %s = %s", a, f, b, to)
		case "<-":
			return fmt.Sprintf("%s = %s AND %s = %s", a, to, b, f)
		}
		return fmt.Sprintf("((%s = %s AND %s = %s) OR (%s = %s AND %s = %s))", a, f, b, to, a, to, b, f)
	}
	for _, h := range pat.hops {
		if h.edge.kind == gvEdge {
			conds = append(conds, endpoints(h, h.edge.alias+"."+gSrc, h.edge.alias+"."+gDst))
			continue
		}
		cs, name := t.walks(e, gs, h.pat, h.from, h.to, conjuncts, cycles)
		ctes = append(ctes, cs...)
		from = append(from, sqlIdent(name)+" AS "+h.edge.alias)
		conds = append(conds, fmt.Sprintf("%s.g_s = %s.%s AND %s.g_l = %s.%s AND %s.g_n >= %d",
			h.edge.alias, h.from.alias, gNid, h.edge.alias, h.to.alias, gNid, h.edge.alias, h.pat.Min))
	}
	conds = append(conds, cycleConds(cycles, pat)...)
	sc := &scope{env: e, graph: gs}
	if v.Where != nil {
		x := t.expr(sc, v.Where)
		conds = append(conds, t.asBool(v.Where, x))
	}
	cols, sel := t.graphProject(sc, v)
	if gs.lists.used {
		from = append(from, fmt.Sprintf("(SELECT (SELECT list(n ORDER BY n.%s) FROM %s AS n) AS n, (SELECT list(x ORDER BY x.%s) FROM %s AS x) AS e) AS %s",
			gNid, sqlIdent(g.nodes), gEid, sqlIdent(g.edges), gs.lists.alias))
	}
	q := g.with(ctes...) + "SELECT " + strings.Join(sel, ", ") + " FROM " + strings.Join(from, ", ")
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	if v.Shortest {
		var part []string
		for _, nv := range pat.nodes {
			part = append(part, nv.alias+"."+gNid)
		}
		length := "0"
		for _, pv := range pat.paths {
			length += " + " + pv.alias + ".g_n"
		}
		rank := "row_number()"
		if output == "all" {
			rank = "rank()"
		}
		q += fmt.Sprintf(" QUALIFY %s OVER (PARTITION BY %s ORDER BY %s) = 1", rank, strings.Join(part, ", "), length)
	}
	return &rel{sql: q, cols: cols}
}

// graphHop is one edge of a pattern between two of its nodes.
type graphHop struct {
	from, to *graphVar
	edge     *graphVar
	pat      *GraphEdge
}

// graphPatternVars are a pattern's variables, each once, in the order
// they first appear, and its hops.
type graphPatternVars struct {
	nodes, edges, paths []*graphVar
	hops                []graphHop
}

// graphPattern declares the variables of v's pattern in gs.
func (t *translator) graphPattern(gs *graphScope, v *GraphMatch) graphPatternVars {
	var pv graphPatternVars
	declare := func(id *Ident, kind int) *graphVar {
		if id == nil {
			return &graphVar{kind: kind, alias: t.alias()}
		}
		if old, ok := gs.vars[id.Name]; ok {
			if old.kind != kind || kind != gvNode {
				t.fail(id, "%s: the name '%s' is given to two elements of the pattern (only a node can appear twice, and then it is the same node)", opName(v), id.Name)
			}
			return old
		}
		gv := &graphVar{name: id.Name, kind: kind, alias: t.alias()}
		gs.vars[id.Name] = gv
		return gv
	}
	seen := map[*graphVar]bool{}
	addNode := func(n *graphVar) {
		if !seen[n] {
			seen[n] = true
			pv.nodes = append(pv.nodes, n)
		}
	}
	for _, gp := range v.Paths {
		prev := declare(gp.Nodes[0].Name, gvNode)
		addNode(prev)
		for i, pe := range gp.Edges {
			kind := gvEdge
			if pe.Var {
				kind = gvPath
			}
			ev := declare(pe.Name, kind)
			next := declare(gp.Nodes[i+1].Name, gvNode)
			addNode(next)
			if !seen[ev] {
				seen[ev] = true
				if kind == gvPath {
					pv.paths = append(pv.paths, ev)
				} else {
					pv.edges = append(pv.edges, ev)
				}
			}
			pv.hops = append(pv.hops, graphHop{prev, next, ev, pe})
			prev = next
		}
	}
	if len(v.Paths) > 1 && !connectedPattern(v.Paths) {
		t.fail(v.Paths[1], "%s: the sequences of a pattern must share node variables (only patterns of one connected component are supported)", opName(v))
	}
	return pv
}

// graphProject translates the project clause of graph-match: the columns
// and the SQL of their values.
func (t *translator) graphProject(sc *scope, v *GraphMatch) ([]col, []string) {
	var cols []col
	var sel []string
	n := 0
	for _, ne := range v.Project {
		if len(ne.Names) > 1 {
			t.fail(ne, "%s: project gives each expression one name", opName(v))
		}
		x := t.expr(sc, ne.Expr)
		if x.agg {
			t.fail(ne, "%s: aggregation functions are not allowed in project: summarize after it", opName(v))
		}
		name := x.name
		if len(ne.Names) == 1 {
			name = ne.Names[0].Name
		}
		if name == "" {
			n++
			name = fmt.Sprintf("Column%d", n)
		}
		id := t.newID()
		cols = append(cols, col{name: uniqueName(name, cols), typ: x.typ, id: id})
		sel = append(sel, x.sql+" AS "+sqlIdent(id))
	}
	return cols, sel
}

func optionText(o *Option) string {
	switch v := o.Values[0].(type) {
	case *Ident:
		return v.Name
	case *Literal:
		return v.Value
	}
	return ""
}

// connectedPattern reports whether the sequences of a pattern form one
// connected component (they share node variables).
func connectedPattern(paths []*GraphPath) bool {
	names := make([]map[string]bool, len(paths))
	for i, gp := range paths {
		names[i] = map[string]bool{}
		for _, n := range gp.Nodes {
			if n.Name != nil {
				names[i][n.Name.Name] = true
			}
		}
	}
	reached := map[int]bool{0: true}
	for changed := true; changed; {
		changed = false
		for i := range paths {
			if reached[i] {
				continue
			}
			for j := range reached {
				for n := range names[i] {
					if names[j][n] {
						reached[i], changed = true, true
					}
				}
			}
		}
	}
	return len(reached) == len(paths)
}

// walks returns the CTEs of the walks of variable-length edge pe from
// node from to node to, and the name of the last: its columns are g_s, g_l
// (the first and last node), g_n (hops), g_eids and g_nids (the edges and
// nodes on the way, from `from`). The walks start from the end whose
// where-conditions on that node alone select the starts (from's, unless
// only to has some); conditions all(e, P) on the edge alone restrict the
// edges walked.
func (t *translator) walks(e *env, gs *graphScope, pe *GraphEdge, from, to *graphVar, conjuncts []Expr, cycles string) ([]string, string) {
	g := gs.g
	seed := t.nodeFilter(e, gs, from, conjuncts)
	reversed := false
	if seed == "" {
		if s := t.nodeFilter(e, gs, to, conjuncts); s != "" {
			seed, reversed = s, true
		}
	}
	dir := pe.Dir
	if reversed {
		switch dir {
		case "->":
			dir = "<-"
		case "<-":
			dir = "->"
		}
	}
	name := "g" + t.newID()
	w := sqlIdent(name)
	var join, next string
	switch dir {
	case "->":
		join, next = "x."+gSrc+" = w.g_l", "x."+gDst
	case "<-":
		join, next = "x."+gDst+" = w.g_l", "x."+gSrc
	default:
		join = "(x." + gSrc + " = w.g_l OR x." + gDst + " = w.g_l)"
		next = "CASE WHEN x." + gSrc + " = w.g_l THEN x." + gDst + " ELSE x." + gSrc + " END"
	}
	where := []string{fmt.Sprintf("w.g_n < %d", pe.Max)}
	switch cycles {
	case "unique_edges":
		where = append(where, "NOT list_contains(w.g_eids, x."+gEid+")")
	case "none":
		where = append(where, "NOT list_contains(w.g_nids, "+next+")")
	}
	if f := t.edgeFilter(e, gs, pe, conjuncts); f != "" {
		where = append(where, f)
	}
	if seed != "" {
		seed = " WHERE " + seed
	}
	ctes := []string{fmt.Sprintf("%s(g_s, g_l, g_n, g_eids, g_nids) AS (SELECT n.%s, n.%s, 0, CAST([] AS BIGINT[]), [n.%s] FROM %s AS n%s UNION ALL SELECT w.g_s, %s, w.g_n + 1, list_append(w.g_eids, x.%s), list_append(w.g_nids, %s) FROM %s AS w JOIN %s AS x ON %s WHERE %s)",
		w, gNid, gNid, gNid, sqlIdent(g.nodes), seed, next, gEid, next, w, sqlIdent(g.edges), join, strings.Join(where, " AND "))}
	if !reversed {
		return ctes, name
	}
	// walked backwards: list the edges and nodes from `from` to `to`
	rev := "g" + t.newID()
	ctes = append(ctes, fmt.Sprintf("%s AS (SELECT g_l AS g_s, g_s AS g_l, g_n, list_reverse(g_eids) AS g_eids, list_reverse(g_nids) AS g_nids FROM %s)", sqlIdent(rev), w))
	return ctes, rev
}

// nodeFilter returns the SQL (over alias n) of the conjuncts that read
// node variable nv only, "" when there are none.
func (t *translator) nodeFilter(e *env, gs *graphScope, nv *graphVar, conjuncts []Expr) string {
	if nv.name == "" {
		return ""
	}
	var out []string
	for _, c := range conjuncts {
		if vars, ok := gs.varsOf(c); !ok || len(vars) != 1 || !vars[nv.name] {
			continue
		}
		sub := &graphScope{g: gs.g, vars: map[string]*graphVar{nv.name: {name: nv.name, kind: gvNode, alias: "n"}}, lists: gs.lists}
		x := t.expr(&scope{env: e, graph: sub}, c)
		out = append(out, "COALESCE("+t.asBool(c, x)+", FALSE)")
	}
	return strings.Join(out, " AND ")
}

// edgeFilter returns the SQL (over alias x) of the conjuncts all(e, P)
// where P reads the edge's properties only, "" when there are none.
func (t *translator) edgeFilter(e *env, gs *graphScope, pe *GraphEdge, conjuncts []Expr) string {
	if pe.Name == nil {
		return ""
	}
	var out []string
	for _, c := range conjuncts {
		call, ok := c.(*Call)
		if !ok || call.Name != "all" || len(call.Args) != 2 {
			continue
		}
		if id, ok := call.Args[0].(*Ident); !ok || id.Name != pe.Name.Name {
			continue
		}
		if vars, ok := gs.varsOf(call.Args[1]); !ok || len(vars) > 0 {
			continue
		}
		sub := &graphScope{g: gs.g, vars: map[string]*graphVar{}, elem: "x", elemKind: gvEdge, lists: gs.lists}
		x := t.expr(&scope{env: e, r: &rel{cols: gs.g.eprops}, colRef: elemRef("x"), graph: sub}, call.Args[1])
		out = append(out, "COALESCE("+t.asBool(call.Args[1], x)+", FALSE)")
	}
	return strings.Join(out, " AND ")
}

// varsOf returns the pattern variables x reads; ok is false when x holds
// something the pushdown does not judge (a sub-query).
func (gs *graphScope) varsOf(x Expr) (map[string]bool, bool) {
	vars := map[string]bool{}
	ok := true
	Inspect(x, func(n Node) bool {
		switch v := n.(type) {
		case *SubQuery:
			ok = false
		case *Ident:
			if _, is := gs.vars[v.Name]; is {
				vars[v.Name] = true
			}
		case *Call:
			if v.Name == "all" || v.Name == "any" || v.Name == "map" || v.Name == "inner_nodes" {
				ok = false
			}
		}
		return true
	})
	return vars, ok
}

// cycleConds returns the conditions cycles= puts on a match as a whole.
func cycleConds(cycles string, pat graphPatternVars) []string {
	nodes, edges, paths := pat.nodes, pat.edges, pat.paths
	var out []string
	switch cycles {
	case "unique_edges":
		for i, a := range edges {
			for _, b := range edges[i+1:] {
				out = append(out, a.alias+"."+gEid+" <> "+b.alias+"."+gEid)
			}
			for _, p := range paths {
				out = append(out, "NOT list_contains("+p.alias+".g_eids, "+a.alias+"."+gEid+")")
			}
		}
		for i, a := range paths {
			for _, b := range paths[i+1:] {
				out = append(out, "NOT list_has_any("+a.alias+".g_eids, "+b.alias+".g_eids)")
			}
		}
	case "none":
		for i, a := range nodes {
			for _, b := range nodes[i+1:] {
				out = append(out, a.alias+"."+gNid+" <> "+b.alias+"."+gNid)
			}
			for _, p := range paths {
				out = append(out, "NOT list_contains("+innerNids(p)+", "+a.alias+"."+gNid+")")
			}
		}
		for i, a := range paths {
			for _, b := range paths[i+1:] {
				out = append(out, "NOT list_has_any("+innerNids(a)+", "+innerNids(b)+")")
			}
		}
	}
	return out
}

func innerNids(p *graphVar) string {
	return "list_slice(" + p.alias + ".g_nids, 2, len(" + p.alias + ".g_nids) - 1)"
}

// elemRef reads a property of the lambda parameter lam.
func elemRef(lam string) func(col) string {
	return func(c col) string { return lam + "." + sqlIdent(c.id) }
}

// graphIdent fails for a pattern variable used as a value.
func (t *translator) graphIdent(sc *scope, v *Ident) {
	if gv, ok := sc.graph.vars[v.Name]; ok {
		what := "a node"
		if gv.kind != gvNode {
			what = "an edge"
		}
		t.fail(v, "'%s' is %s of the pattern, not a value: read its properties as %s.Property", v.Name, what, v.Name)
	}
}

// graphMember resolves Variable.Property.
func (t *translator) graphMember(sc *scope, m *Member) (texpr, bool) {
	id, ok := m.X.(*Ident)
	if !ok {
		return texpr{}, false
	}
	gv, ok := sc.graph.vars[id.Name]
	if !ok {
		return texpr{}, false
	}
	props := sc.graph.g.nprops
	if gv.kind != gvNode {
		props = sc.graph.g.eprops
	}
	var c col
	found := false
	for _, p := range props {
		if p.name == m.Name {
			c, found = p, true
		}
	}
	if !found {
		names := make([]string, len(props))
		for i, p := range props {
			names[i] = p.name
		}
		t.fail(m, "unknown property '%s' of %s%s; the properties are: %s", m.Name, id.Name, didYouMean(m.Name, names), columnList(names))
	}
	name := id.Name + "_" + m.Name
	if gv.kind == gvPath {
		lam := sc.graph.lambda()
		return texpr{sql: "to_json(list_transform(" + sc.graph.pathEdges(gv) + ", " + lam + " -> " + toDynamic(texpr{sql: lam + "." + sqlIdent(c.id), typ: c.typ}) + "))", typ: tyDynamic, name: name}, true
	}
	return texpr{sql: gv.alias + "." + sqlIdent(c.id), typ: c.typ, name: name}, true
}

// lambda returns a fresh lambda parameter name.
func (gs *graphScope) lambda() string {
	gs.depth++
	return fmt.Sprintf("gx%d", gs.depth)
}

// pathEdges is the SQL list of the edges (structs) of path variable gv.
func (gs *graphScope) pathEdges(gv *graphVar) string {
	gs.lists.used = true
	return "list_transform(" + gv.alias + ".g_eids, gi -> " + gs.lists.alias + ".e[gi + 1])"
}

// pathInner is the SQL list of the inner nodes (structs) of path gv.
func (gs *graphScope) pathInner(gv *graphVar) string {
	gs.lists.used = true
	return "list_transform(" + innerNids(gv) + ", gi -> " + gs.lists.alias + ".n[gi + 1])"
}

// graphCall translates the graph functions: all, any, map, inner_nodes,
// node_degree_in, node_degree_out, node_id.
func (t *translator) graphCall(sc *scope, c *Call) (texpr, bool) {
	gs := sc.graph
	switch c.Name {
	case "all", "any", "map":
		if len(c.Args) != 2 {
			return texpr{}, false
		}
		list, kind := t.graphList(sc, c.Args[0], c.Name)
		lam := gs.lambda()
		props := gs.g.eprops
		if kind == gvNode {
			props = gs.g.nprops
		}
		inner := &scope{env: sc.env, r: &rel{cols: props}, colRef: elemRef(lam),
			graph: &graphScope{g: gs.g, vars: gs.vars, elem: lam, elemKind: kind, lists: gs.lists, depth: gs.depth}}
		x := t.expr(inner, c.Args[1])
		gs.depth = inner.graph.depth
		if x.agg {
			t.fail(c, "%s: aggregation functions are not allowed here", c.Name)
		}
		switch c.Name {
		case "map":
			return texpr{sql: "to_json(list_transform(" + list + ", " + lam + " -> " + toDynamic(x) + "))", typ: tyDynamic}, true
		case "all":
			return texpr{sql: "NOT coalesce(list_bool_or(list_transform(" + list + ", " + lam + " -> NOT coalesce(" + t.asBool(c.Args[1], x) + ", FALSE))), FALSE)", typ: tyBool}, true
		default:
			return texpr{sql: "coalesce(list_bool_or(list_transform(" + list + ", " + lam + " -> coalesce(" + t.asBool(c.Args[1], x) + ", FALSE))), FALSE)", typ: tyBool}, true
		}
	case "inner_nodes":
		t.fail(c, "inner_nodes() gives the inner nodes of a variable-length edge to all(), any() or map(), such as map(inner_nodes(e), Property)")
	case "node_degree_in", "node_degree_out", "node_id":
		var at string // the node's SQL alias
		switch len(c.Args) {
		case 0:
			if gs.elem == "" || gs.elemKind != gvNode {
				t.fail(c, "%s() without an argument reads the node inside all(), any() or map() over inner_nodes(); elsewhere write %s(n) for a node variable n", c.Name, c.Name)
			}
			at = gs.elem
		case 1:
			var gv *graphVar
			if id, ok := c.Args[0].(*Ident); ok {
				gv = gs.vars[id.Name]
			}
			if gv == nil || gv.kind != gvNode {
				t.fail(c, "%s takes a node variable of the pattern, such as %s(n)", c.Name, c.Name)
			}
			at = gv.alias
		default:
			t.fail(c, "%s takes one node variable, or none inside all(), any() or map() over nodes", c.Name)
		}
		switch c.Name {
		case "node_id":
			return texpr{sql: at + "." + gKey, typ: gs.g.keyTyp}, true
		case "node_degree_in":
			return texpr{sql: at + "." + gDin, typ: tyLong}, true
		}
		return texpr{sql: at + "." + gDout, typ: tyLong}, true
	}
	return texpr{}, false
}

// graphList translates the first argument of all, any and map: a
// variable-length edge or inner_nodes of one. It returns the SQL list of
// structs and whether they are nodes or edges.
func (t *translator) graphList(sc *scope, x Expr, fn string) (string, int) {
	gs := sc.graph
	if call, ok := x.(*Call); ok && call.Name == "inner_nodes" {
		if len(call.Args) == 1 {
			if id, ok := call.Args[0].(*Ident); ok {
				if gv, ok := gs.vars[id.Name]; ok && gv.kind == gvPath {
					return gs.pathInner(gv), gvNode
				}
			}
		}
		t.fail(call, "inner_nodes takes a variable-length edge of the pattern, such as inner_nodes(e) for -[e*1..3]->")
	}
	if id, ok := x.(*Ident); ok {
		if gv, ok := gs.vars[id.Name]; ok && gv.kind == gvPath {
			return gs.pathEdges(gv), gvEdge
		}
	}
	t.fail(x, "%s takes a variable-length edge of the pattern (e for -[e*1..3]->) or inner_nodes(e), then an expression over their properties", fn)
	return "", 0
}
