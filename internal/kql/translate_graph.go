package kql

import (
	"fmt"
	"strconv"
	"strings"
)

// A graph (make-graph and the graph operators after it) is a set of SQL
// common table expressions: the edges, numbered 0.. (g_eid) with the
// numbers of their source and target nodes (g_src, g_dst), and the nodes,
// numbered 0.. in the order they first appear (node tables, then edges)
// with their id (g_key) and in and out degrees (g_din, g_dout). The
// properties are the other columns. graph-match enumerates the walks of a
// variable-length edge with a recursive CTE, up to its most hops.

// graphVal is a graph value: the CTEs that define it.
type graphVal struct {
	ctes      []string // "name AS MATERIALIZED (...)", in dependency order
	recursive bool     // a CTE is recursive (graph-mark-components)
	nodes     string   // CTE of the nodes
	edges     string   // CTE of the edges
	nprops    []col    // node properties: ids are columns of nodes
	eprops    []col    // edge properties: ids are columns of edges
	keyTyp    string   // the type of node ids
	partTyp   string   // the type of the partition column ("" without one)
}

// The fixed columns of a graph's CTEs (generated column ids are c1, c2...).
const (
	gNid  = "g_nid"
	gKey  = "g_key"
	gDin  = "g_din"
	gDout = "g_dout"
	gEid  = "g_eid"
	gSrc  = "g_src"
	gDst  = "g_dst"
	gOrd  = "g_ord"
	gPart = "g_part" // the partition of partitioned-by; null without it
)

// with renders the graph's CTEs plus more, as the start of a statement.
func (g *graphVal) with(more ...string) string {
	kw := "WITH "
	if g.recursive || len(more) > 0 {
		kw = "WITH RECURSIVE "
	}
	return kw + strings.Join(append(append([]string(nil), g.ctes...), more...), ", ") + " "
}

// materialized renders a CTE that DuckDB computes once.
func materialized(name, body string) string {
	return sqlIdent(name) + " AS MATERIALIZED (" + body + ")"
}

// isGraphOp reports whether op takes a graph.
func isGraphOp(op Operator) bool {
	switch op.(type) {
	case *GraphMatch, *GraphToTable, *GraphMarkComponents:
		return true
	}
	return false
}

// graphOperator applies op where the input or the operator is a graph's:
// make-graph to a table, a graph operator to a graph.
func (t *translator) graphOperator(e *env, r *rel, op Operator) *rel {
	if mg, ok := op.(*MakeGraph); ok {
		if r.graph != nil {
			t.fail(op, "make-graph needs a table of edges, not a graph")
		}
		out := t.makeGraph(e, r, mg)
		if mg.PartitionBy == nil {
			return out
		}
		// the graphs of the partitions are one graph whose nodes are told
		// apart by partition: no edge joins two partitions
		for _, op := range mg.PartitionOps {
			out = t.operator(e, out, op)
		}
		if out.graph != nil {
			t.fail(mg.PartitionBy, "make-graph ... partitioned-by: the operators in parentheses must end with a table (graph-match, graph-shortest-paths or graph-to-table)")
		}
		return out
	}
	if r.graph == nil {
		t.fail(op, "%s needs a graph: build one with make-graph first (Edges | make-graph Source --> Target | ...)", opName(op))
	}
	if !isGraphOp(op) {
		t.fail(op, "%s cannot follow make-graph: a graph is followed by graph-match, graph-shortest-paths, graph-to-table or graph-mark-components", opName(op))
	}
	switch v := op.(type) {
	case *GraphMatch:
		return t.graphMatch(e, r.graph, v)
	case *GraphToTable:
		return t.graphToTable(e, r.graph, v)
	case *GraphMarkComponents:
		return &rel{graph: t.markComponents(r.graph, v)}
	}
	t.fail(op, "this operator is not supported")
	return nil
}

func opName(op Operator) string {
	s := Format(op)
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// makeGraph builds the graph of make-graph from the edges r.
func (t *translator) makeGraph(e *env, r *rel, v *MakeGraph) *rel {
	find := func(rr *rel, id *Ident, what string) col {
		c, ok := rr.find(id.Name)
		if !ok || c.hidden {
			names := rr.names()
			t.fail(id, "make-graph: unknown %s column '%s'%s; the columns are: %s", what, id.Name, didYouMean(id.Name, names), columnList(names))
		}
		return c
	}
	src, dst := find(r, v.Source, "source"), find(r, v.Target, "target")
	if src.typ != dst.typ {
		t.fail(v.Target, "make-graph: the source column '%s' is a %s and the target column '%s' a %s: node ids must have one type (convert one, e.g. extend %s = tostring(%s))", src.name, src.typ, dst.name, dst.typ, dst.name, dst.name)
	}
	if src.typ == tyDynamic {
		t.fail(v.Source, "make-graph: node ids cannot be dynamic: convert them with tostring() or tolong()")
	}
	keyTyp := src.typ
	g := &graphVal{keyTyp: keyTyp}
	for _, c := range r.cols {
		if !c.hidden {
			g.eprops = append(g.eprops, c)
		}
	}
	// partitioned-by: the column, in the edges and in each node table
	part := func(rr *rel, pos Node) string {
		if v.PartitionBy == nil {
			return "NULL"
		}
		c := find(rr, v.PartitionBy, "partition")
		if c.typ != g.partTyp && g.partTyp != "" {
			t.fail(pos, "make-graph: the partition column '%s' is a %s here and a %s in the edges: it must have one type", c.name, c.typ, g.partTyp)
		}
		g.partTyp = c.typ
		return sqlIdent(c.id)
	}
	edgePart := part(r, v.PartitionBy)
	// the edges with both ends, numbered
	edges0 := "g" + t.newID()
	g.ctes = append(g.ctes, materialized(edges0, fmt.Sprintf("SELECT *, row_number() OVER () - 1 AS %s FROM (%s) AS %s WHERE %s IS NOT NULL AND %s IS NOT NULL",
		gEid, r.sql, t.alias(), sqlIdent(src.id), sqlIdent(dst.id))))
	// the node tables, numbered in their order
	var tables []graphNodeTable
	for _, gn := range v.Nodes {
		nr := t.pipe(e, gn.Table)
		key := find(nr, gn.On, "node id")
		if key.typ != keyTyp {
			t.fail(gn.On, "make-graph: the node id column '%s' is a %s but the edges' node ids are %s: they must have one type", key.name, key.typ, keyTyp)
		}
		name := "g" + t.newID()
		g.ctes = append(g.ctes, materialized(name, fmt.Sprintf("SELECT *, row_number() OVER () AS %s FROM (%s) AS %s WHERE %s IS NOT NULL", gOrd, nr.sql, t.alias(), sqlIdent(key.id))))
		tables = append(tables, graphNodeTable{cte: name, key: key, part: part(nr, gn.On), r: nr, on: gn.On})
	}
	// every node id, numbered by first appearance
	var keys []string
	for i, nt := range tables {
		keys = append(keys, fmt.Sprintf("SELECT %s AS %s, %s AS %s, %d * 1000000000000 + %s AS %s FROM %s", nt.part, gPart, sqlIdent(nt.key.id), gKey, i, gOrd, gOrd, sqlIdent(nt.cte)))
	}
	keys = append(keys,
		fmt.Sprintf("SELECT %s AS %s, %s AS %s, 3000000000000 + 2 * %s AS %s FROM %s", edgePart, gPart, sqlIdent(src.id), gKey, gEid, gOrd, sqlIdent(edges0)),
		fmt.Sprintf("SELECT %s AS %s, %s AS %s, 3000000000001 + 2 * %s AS %s FROM %s", edgePart, gPart, sqlIdent(dst.id), gKey, gEid, gOrd, sqlIdent(edges0)))
	keyCTE := "g" + t.newID()
	g.ctes = append(g.ctes, materialized(keyCTE, fmt.Sprintf("SELECT %s, %s, row_number() OVER (ORDER BY min(%s)) - 1 AS %s FROM (%s) AS %s GROUP BY %s, %s",
		gPart, gKey, gOrd, gNid, strings.Join(keys, " UNION ALL "), t.alias(), gPart, gKey)))
	// the edges with their nodes' numbers
	g.edges = "g" + t.newID()
	end := func(a, key string) string {
		return fmt.Sprintf("%s.%s IS NOT DISTINCT FROM e.%s AND %s.%s = e.%s", a, gPart, edgePart, a, gKey, key)
	}
	if v.PartitionBy == nil {
		end = func(a, key string) string { return fmt.Sprintf("%s.%s = e.%s", a, gKey, key) }
	}
	g.ctes = append(g.ctes, materialized(g.edges, fmt.Sprintf("SELECT e.*, s.%s AS %s, d.%s AS %s FROM %s AS e JOIN %s AS s ON %s JOIN %s AS d ON %s",
		gNid, gSrc, gNid, gDst, sqlIdent(edges0), sqlIdent(keyCTE), end("s", sqlIdent(src.id)), sqlIdent(keyCTE), end("d", sqlIdent(dst.id)))))
	// the nodes: degrees and properties
	sel := []string{"k." + gNid, "k." + gKey, "k." + gPart,
		"coalesce(di.n, 0) AS " + gDin, "coalesce(dout.n, 0) AS " + gDout}
	from := fmt.Sprintf("%s AS k LEFT JOIN (SELECT %s, count(*) AS n FROM %s GROUP BY %s) AS di ON di.%s = k.%s LEFT JOIN (SELECT %s, count(*) AS n FROM %s GROUP BY %s) AS dout ON dout.%s = k.%s",
		sqlIdent(keyCTE), gDst, sqlIdent(g.edges), gDst, gDst, gNid, gSrc, sqlIdent(g.edges), gSrc, gSrc, gNid)
	if v.NodeID != nil {
		id := t.newID()
		sel = append(sel, "k."+gKey+" AS "+sqlIdent(id))
		g.nprops = append(g.nprops, col{name: v.NodeID.Name, typ: keyTyp, id: id})
	}
	skip := ""
	if v.PartitionBy != nil {
		skip = v.PartitionBy.Name
	}
	joins, props, psel := t.nodeProps(tables, skip)
	from += joins
	sel = append(sel, psel...)
	g.nprops = append(g.nprops, props...)
	if v.PartitionBy != nil {
		// each node tells its partition, also one the node tables lack
		id := t.newID()
		sel = append(sel, "k."+gPart+" AS "+sqlIdent(id))
		g.nprops = append(g.nprops, col{name: v.PartitionBy.Name, typ: g.partTyp, id: id})
	}
	g.nodes = "g" + t.newID()
	g.ctes = append(g.ctes, materialized(g.nodes, "SELECT "+strings.Join(sel, ", ")+" FROM "+from))
	return &rel{graph: g}
}

// graphNodeTable is a node table of make-graph: its CTE, its column of
// node ids and its columns.
type graphNodeTable struct {
	cte  string
	key  col
	part string // SQL of its partition column ("NULL" without partitioned-by)
	r    *rel
	on   *Ident
}

// nodeProps merges the columns of the node tables into node properties: a
// node in several tables takes a property from the first with a value for
// it; a node in none has null properties ("" for strings). The column
// skip (the partition column) is left out. It returns the joins of the tables to the node ids (alias k), the
// properties, and the SQL of their values.
func (t *translator) nodeProps(tables []graphNodeTable, skip string) (string, []col, []string) {
	type prop struct {
		c   col
		src []string // SQL of the value in each table that has it
	}
	var props []*prop
	var joins string
	for i, nt := range tables {
		a := "n" + strconv.Itoa(i+1)
		keys, on := sqlIdent(nt.key.id), fmt.Sprintf("%s.%s = k.%s", a, sqlIdent(nt.key.id), gKey)
		if nt.part != "NULL" {
			keys = nt.part + ", " + keys
			on += fmt.Sprintf(" AND %s.%s IS NOT DISTINCT FROM k.%s", a, nt.part, gPart)
		}
		joins += fmt.Sprintf(" LEFT JOIN (SELECT DISTINCT ON (%s) * FROM %s ORDER BY %s, %s) AS %s ON %s",
			keys, sqlIdent(nt.cte), keys, gOrd, a, on)
		for _, c := range nt.r.cols {
			if c.hidden || c.name == skip {
				continue
			}
			var p *prop
			for _, q := range props {
				if q.c.name == c.name {
					p = q
				}
			}
			if p == nil {
				p = &prop{c: col{name: c.name, typ: c.typ, id: t.newID()}}
				props = append(props, p)
			} else if p.c.typ != c.typ {
				t.fail(nt.on, "make-graph: the node property '%s' is a %s in one node table and a %s in another: give it one type", c.name, p.c.typ, c.typ)
			}
			p.src = append(p.src, a+"."+sqlIdent(c.id))
		}
	}
	var cols []col
	var sel []string
	for _, p := range props {
		srcs := p.src
		if p.c.typ == tyString {
			// a string is never null: a node without the property has ""
			srcs = append(srcs[:len(srcs):len(srcs)], "''")
		}
		x := srcs[0]
		if len(srcs) > 1 {
			x = "coalesce(" + strings.Join(srcs, ", ") + ")"
		}
		sel = append(sel, x+" AS "+sqlIdent(p.c.id))
		cols = append(cols, p.c)
	}
	return joins, cols, sel
}

// markComponents adds graph-mark-components' column to the nodes.
func (t *translator) markComponents(g *graphVal, v *GraphMarkComponents) *graphVal {
	kind, name := "weak", "ComponentId"
	for _, o := range v.Options {
		switch o.Name {
		case "kind":
			kind = optionText(o)
		case "with_component_id":
			name = optionText(o)
		}
	}
	out := *g
	out.ctes = append([]string(nil), g.ctes...)
	out.recursive = true
	n, ed := sqlIdent(g.nodes), sqlIdent(g.edges)
	comp := "g" + t.newID()
	if kind == "weak" {
		// each node takes the least number in its component, spread
		// along the edges both ways until nothing changes
		cc := sqlIdent(comp)
		out.ctes = append(out.ctes, fmt.Sprintf(`%s(%s, c) USING KEY (%s) AS (SELECT %s, %s FROM %s UNION (SELECT x.%s, min(x.c) FROM (SELECT e.%s AS %s, w.c FROM %s AS w JOIN %s AS e ON e.%s = w.%s UNION ALL SELECT e.%s, w.c FROM %s AS w JOIN %s AS e ON e.%s = w.%s) AS x JOIN recurring.%s AS r ON r.%s = x.%s GROUP BY x.%s HAVING min(x.c) < min(r.c)))`,
			cc, gNid, gNid, gNid, gNid, n,
			gNid, gDst, gNid, cc, ed, gSrc, gNid, gSrc, cc, ed, gDst, gNid, cc, gNid, gNid, gNid))
	} else {
		// strong: the least node each node reaches and is reached from
		reach := "g" + t.newID()
		rc := sqlIdent(reach)
		out.ctes = append(out.ctes,
			fmt.Sprintf("%s(a, b) AS (SELECT %s, %s FROM %s UNION SELECT r.a, e.%s FROM %s AS r JOIN %s AS e ON e.%s = r.b)", rc, gNid, gNid, n, gDst, rc, ed, gSrc),
			materialized(comp, fmt.Sprintf("SELECT r1.a AS %s, min(r1.b) AS c FROM %s AS r1 JOIN %s AS r2 ON r2.a = r1.b AND r2.b = r1.a GROUP BY r1.a", gNid, rc, rc)))
	}
	id := t.newID()
	var keep []col
	var sel []string
	for _, c := range g.nprops {
		if c.name != name {
			keep = append(keep, c)
			sel = append(sel, "n."+sqlIdent(c.id))
		}
	}
	out.nprops = append(keep, col{name: name, typ: tyLong, id: id})
	out.nodes = "g" + t.newID()
	out.ctes = append(out.ctes, materialized(out.nodes, fmt.Sprintf("SELECT n.%s, n.%s, n.%s, n.%s, n.%s, %s dense_rank() OVER (PARTITION BY n.%s ORDER BY c.c) - 1 AS %s FROM %s AS n JOIN %s AS c ON c.%s = n.%s",
		gNid, gKey, gPart, gDin, gDout, strings.Join(append(sel, ""), ", "), gPart, sqlIdent(id), n, sqlIdent(comp), gNid, gNid)))
	return &out
}

// graphToTable turns the graph's nodes or edges into a table.
func (t *translator) graphToTable(e *env, g *graphVal, v *GraphToTable) *rel {
	if len(v.Parts) > 1 {
		t.fail(v, "graph-to-table with both nodes and edges returns two tables: it must end its statement")
	}
	part := v.Parts[0]
	var cols []col
	var sel []string
	add := func(name, typ, sqlx string) {
		id := t.newID()
		cols = append(cols, col{name: name, typ: typ, id: id})
		sel = append(sel, sqlx+" AS "+sqlIdent(id))
	}
	for _, o := range part.Options {
		switch o.Name {
		case "with_node_id":
			add(optionText(o), tyLong, gNid)
		case "with_source_id":
			add(optionText(o), tyLong, gSrc)
		case "with_target_id":
			add(optionText(o), tyLong, gDst)
		}
	}
	props, from := g.nprops, g.nodes
	if part.Kind == "edges" {
		props, from = g.eprops, g.edges
	}
	for _, c := range props {
		if hasName(cols, c.name) {
			t.fail(part, "graph-to-table: the id column '%s' has the name of a property; choose another name", c.name)
		}
		add(c.name, c.typ, sqlIdent(c.id))
	}
	out := &rel{sql: g.with() + "SELECT " + strings.Join(sel, ", ") + " FROM " + sqlIdent(from), cols: cols}
	if part.As != nil {
		out.table = part.As.Name
		e.names[part.As.Name] = &binding{rel: out}
	}
	return out
}
