package kql

import (
	"cmp"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// operator applies one tabular operator to r.
func (t *translator) operator(e *env, r *rel, op Operator) *rel {
	if _, mg := op.(*MakeGraph); mg || r.graph != nil || isGraphOp(op) {
		return t.graphOperator(e, r, op)
	}
	switch v := op.(type) {
	case *Where:
		sc := &scope{env: e, r: r, window: true}
		x := t.expr(sc, v.Pred)
		if x.agg {
			t.fail(v, "aggregation functions are not allowed in where: use summarize first")
		}
		return t.wrap(r, "WHERE "+t.asBool(v.Pred, x))
	case *Project:
		return t.projectOp(e, r, v.Columns, false)
	case *Extend:
		return t.projectOp(e, r, v.Columns, true)
	case *ProjectAway:
		return t.projectAway(r, v)
	case *ProjectKeep:
		var keep []col
		for _, c := range r.cols {
			for _, p := range v.Columns {
				if wildcardMatch(p.Pattern, c.name) {
					keep = append(keep, c)
					break
				}
			}
		}
		for _, p := range v.Columns {
			t.requireMatch(r, p)
		}
		return t.project(r, keep, passThrough(keep))
	case *ProjectRename:
		cols := append([]col(nil), r.cols...)
		for _, rn := range v.Renames {
			found := false
			for i := range cols {
				if cols[i].name == rn.Old.Name {
					cols[i].name = rn.New.Name
					found = true
					break
				}
			}
			if !found {
				names := r.names()
				t.fail(rn.Old, "unknown column '%s'%s; the columns are: %s", rn.Old.Name, didYouMean(rn.Old.Name, names), columnList(names))
			}
		}
		out := *r
		out.cols = cols
		return &out
	case *ProjectReorder:
		return t.projectReorder(r, v)
	case *Summarize:
		return t.summarize(e, r, v)
	case *Sort:
		return t.sortOp(e, r, v.Keys, nil)
	case *Top:
		n := t.constLong(e, v.N, "top")
		return t.sortOp(e, r, v.By, &n)
	case *TopHitters:
		return t.topHitters(e, r, v)
	case *Take:
		n := t.constLong(e, v.N, "take")
		return t.wrap(r, fmt.Sprintf("LIMIT %d", max(n, 0)))
	case *Sample:
		n := t.constLong(e, v.N, "sample")
		out := t.wrap(r, fmt.Sprintf("USING SAMPLE %d ROWS", max(n, 0)))
		out.ordered, out.order = false, nil
		return out
	case *Distinct:
		return t.distinct(e, r, v)
	case *Count:
		id := t.newID()
		return &rel{sql: "SELECT count(*) AS " + sqlIdent(id) + " FROM (" + r.sql + ") AS " + t.alias(), cols: []col{{name: "Count", typ: tyLong, id: id}}}
	case *Union:
		return t.union(e, r, v)
	case *Join:
		return t.join(e, r, v.Kind, v.Right, v.On, false, v)
	case *Lookup:
		kind := v.Kind
		if kind == "" {
			kind = "leftouter"
		}
		if kind != "leftouter" && kind != "inner" {
			t.fail(v, "lookup kind must be leftouter or inner, not %s", kind)
		}
		return t.join(e, r, kind, v.Right, v.On, true, v)
	case *MvExpand:
		return t.mvExpand(e, r, v)
	case *ParseOp:
		return t.parseOp(e, r, v)
	case *Render:
		out := *r
		out.chart = renderChart(v)
		return &out
	case *Serialize:
		out := *r
		out.ordered = true
		if len(v.Columns) > 0 {
			return t.projectOp(e, &out, v.Columns, true)
		}
		return &out
	case *GetSchema:
		return t.getSchema(r)
	case *As:
		out := *r
		out.table = v.Name.Name
		e.names[v.Name.Name] = &binding{rel: &out}
		return &out
	case *Invoke:
		b := e.lookup(v.Call.Name)
		if b == nil || b.fn == nil {
			t.fail(v, "unknown function '%s' in invoke", v.Call.Name)
		}
		fe := e.child()
		fe.names["$invoke_input"] = &binding{rel: r}
		args := append([]Expr{&Ident{Pos: v.Pos, Name: "$invoke_input"}}, v.Call.Args...)
		return t.callTabular(fe, b, &Call{Pos: v.Call.Pos, Name: v.Call.Name, Args: args})
	case *Search:
		return t.search(e, r, v)
	case *Evaluate:
		return t.evaluate(e, r, v)
	case *MakeSeries:
		return t.makeSeries(e, r, v)
	case *MvApply:
		return t.mvApply(e, r, v)
	case *Partition:
		return t.partition(e, r, v)
	case *Fork:
		t.fail(op, "fork must be the last operator of a statement: each of its legs is a result table of the query")
	case *Facet:
		t.fail(op, "facet must be the last operator of a statement: each of its tables is a result table of the query")
	case *ParseKV:
		return t.parseKV(e, r, v)
	case *TopNested:
		return t.topNested(e, r, v)
	case *SampleDistinct:
		// up to N of the column's distinct values (which ones is not
		// defined, as in Kusto)
		n := t.constLong(e, v.N, "sample-distinct")
		d := t.distinct(e, r, &Distinct{Pos: v.Pos, Columns: []*NamedExpr{{Pos: v.Pos, Expr: v.Column}}})
		return t.wrap(d, fmt.Sprintf("LIMIT %d", max(n, 0)))
	case *Scan:
		return t.scan(e, r, v, "")
	case *Reduce:
		t.fail(v, "reduce is not supported (Kusto does not document how it groups values): group similar values by a pattern you choose, e.g. | extend Pattern = replace_regex(Message, @'[0-9]+', '*') | summarize Count = count(), Representative = take_any(Message) by Pattern")
	case *ProjectByNames:
		return t.projectByNames(e, r, v)
	}
	t.fail(op, "this operator is not supported")
	return nil
}

// requireMatch fails when a column pattern matches no column.
func (t *translator) requireMatch(r *rel, p *NamePattern) {
	for _, c := range r.cols {
		if wildcardMatch(p.Pattern, c.name) {
			return
		}
	}
	if p.Wildcard {
		return
	}
	names := r.names()
	t.fail(p, "unknown column '%s'%s; the columns are: %s", p.Pattern, didYouMean(p.Pattern, names), columnList(names))
}

// constLong evaluates a constant integer argument (take N, top N).
func (t *translator) constLong(e *env, x Expr, op string) int64 {
	v := t.expr(&scope{env: e}, x)
	if v.lit != nil {
		if n, ok := v.lit.Int(); ok {
			return n
		}
		if f, ok := v.lit.Float(); ok {
			return int64(f)
		}
	}
	if b, ok := x.(*Ident); ok {
		if bb := e.lookup(b.Name); bb != nil && bb.scalar != nil && bb.scalar.lit != nil {
			if n, ok := bb.scalar.lit.Int(); ok {
				return n
			}
		}
	}
	if isNumeric(v.typ) {
		var n int64
		if err := t.constValue("SELECT CAST("+v.sql+" AS BIGINT)", &n); err == nil {
			return n
		}
	}
	t.fail(x, "%s needs a constant number of rows", op)
	return 0
}

// derivedName is the name Kusto gives an unnamed column: the column's
// own, the property path of a dynamic access, or "" for ColumnN.
func derivedName(x texpr) string { return x.name }

// projectOp translates project (extend=false) and extend. An expression
// may use a column defined earlier in the same operator: the columns made
// so far are then computed in a layer of their own first.
func (t *translator) projectOp(e *env, r *rel, items []*NamedExpr, extend bool) *rel {
	cur := r
	var cols []col
	var exprs []string
	if extend {
		cols = append(cols, r.cols...)
		exprs = passThrough(r.cols)
	}
	pending := map[string]bool{} // ids computed in the layer being built
	visible := func() []col {
		vis := append([]col(nil), cols...)
		for _, c := range cur.cols {
			if !hasName(vis, c.name) {
				vis = append(vis, c)
			}
		}
		return vis
	}
	flush := func() {
		layer := append([]col(nil), cols...)
		layerExprs := append([]string(nil), exprs...)
		for _, c := range cur.cols {
			if !hasName(layer, c.name) {
				layer = append(layer, c)
				layerExprs = append(layerExprs, sqlIdent(c.id))
			}
		}
		cur = t.project(cur, layer, layerExprs)
		cols = append([]col(nil), cur.cols[:len(cols)]...)
		exprs = passThrough(cols)
		pending = map[string]bool{}
	}
	colN := 0
	posCol := "" // the rows' position, once a restarting window or a session join reorders them
	for _, it := range items {
		var restarts map[*Call]restartCols
		var sessions map[*Call]col
		itemScope := func() *scope {
			return &scope{env: e, r: &rel{cols: visible(), ordered: cur.ordered, order: cur.order}, window: true, input: cur.cols, restarts: restarts, sessions: sessions}
		}
		if restartCalls, sessionCalls := sequentialCalls(it.Expr); len(restartCalls)+len(sessionCalls) > 0 {
			if len(pending) > 0 {
				flush()
			}
			var pos string
			if len(restartCalls) > 0 {
				cur, pos, restarts = t.restartLayer(itemScope(), cur, restartCalls)
				posCol = cmp.Or(posCol, pos)
			}
			if len(sessionCalls) > 0 {
				cur, pos, sessions = t.sessionLayer(itemScope(), cur, sessionCalls)
				posCol = cmp.Or(posCol, pos)
			}
		}
		sc := itemScope()
		if names, xs, ok := t.tupleCall(sc, it.Expr); ok {
			for _, x := range xs {
				if usesAny(x.sql, pending) {
					flush()
					sc = itemScope()
					names, xs, _ = t.tupleCall(sc, it.Expr)
					break
				}
			}
			// a function giving several columns: (a, b) = f(...) names the
			// first ones, f(...) alone gives them all under Kusto's names
			if len(it.Names) > 0 {
				if len(it.Names) != len(names) {
					t.fail(it, "%s returns several columns (%d): name them all, (%s) = ..., or use it unnamed", Format(it.Expr), len(names), strings.Join(names, ", "))
				}
				for i := range names {
					names[i] = it.Names[i].Name
				}
			}
			for i, n := range names {
				id := t.newID()
				pending[id] = true
				nc := col{name: n, typ: xs[i].typ, id: id}
				if j := indexName(cols, n); j >= 0 {
					cols[j], exprs[j] = nc, xs[i].sql
				} else {
					cols = append(cols, nc)
					exprs = append(exprs, xs[i].sql)
				}
			}
			continue
		}
		x := t.expr(sc, it.Expr)
		if usesAny(x.sql, pending) {
			flush()
			sc = itemScope()
			x = t.expr(sc, it.Expr)
		}
		if x.agg {
			t.fail(it, "aggregation functions are not allowed in %s: use summarize", map[bool]string{true: "extend", false: "project"}[extend])
		}
		if len(it.Names) > 1 {
			t.fail(it, "only one name can be given here")
		}
		name := ""
		if len(it.Names) == 1 {
			name = it.Names[0].Name
		} else {
			name = derivedName(x)
		}
		if name == "" {
			colN++
			name = fmt.Sprintf("Column%d", colN)
			for hasName(cols, name) {
				colN++
				name = fmt.Sprintf("Column%d", colN)
			}
		}
		// a pass-through column keeps its id (and so any order on it)
		id := ""
		if c, ok := findName(cur.cols, name); ok && x.sql == sqlIdent(c.id) && c.typ == x.typ {
			id = c.id
		}
		if id == "" {
			id = t.newID()
			pending[id] = true
		}
		nc := col{name: name, typ: x.typ, id: id}
		if i := indexName(cols, name); i >= 0 {
			if !extend {
				t.fail(it, "column '%s' is projected twice", name)
			}
			cols[i], exprs[i] = nc, x.sql
		} else {
			cols = append(cols, nc)
			exprs = append(exprs, x.sql)
		}
	}
	if posCol != "" {
		return restoreOrder(t.project(cur, cols, exprs), posCol, r.order)
	}
	return t.project(cur, cols, exprs)
}

// usesAny reports whether SQL names any of the ids.
func usesAny(sql string, ids map[string]bool) bool {
	for id := range ids {
		if strings.Contains(sql, sqlIdent(id)) {
			return true
		}
	}
	return false
}

func hasName(cols []col, name string) bool { return indexName(cols, name) >= 0 }

func indexName(cols []col, name string) int {
	for i, c := range cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

func findName(cols []col, name string) (col, bool) {
	if i := indexName(cols, name); i >= 0 {
		return cols[i], true
	}
	return col{}, false
}

// projectAway drops the columns matching any pattern.
func (t *translator) projectAway(r *rel, v *ProjectAway) *rel {
	for _, p := range v.Columns {
		t.requireMatch(r, p)
	}
	var keep []col
	for _, c := range r.cols {
		drop := false
		for _, p := range v.Columns {
			if wildcardMatch(p.Pattern, c.name) {
				drop = true
				break
			}
		}
		if !drop {
			keep = append(keep, c)
		}
	}
	return t.project(r, keep, passThrough(keep))
}

// projectReorder puts the matching columns first, in the order given.
func (t *translator) projectReorder(r *rel, v *ProjectReorder) *rel {
	used := map[string]bool{}
	var out []col
	for _, rc := range v.Columns {
		t.requireMatch(r, rc.Pattern)
		var matched []col
		for _, c := range r.cols {
			if !used[c.id] && wildcardMatch(rc.Pattern.Pattern, c.name) {
				matched = append(matched, c)
			}
		}
		switch rc.Order {
		case "asc", "granny-asc":
			sort.SliceStable(matched, func(i, j int) bool { return matched[i].name < matched[j].name })
		case "desc", "granny-desc":
			sort.SliceStable(matched, func(i, j int) bool { return matched[i].name > matched[j].name })
		}
		for _, c := range matched {
			used[c.id] = true
			out = append(out, c)
		}
	}
	for _, c := range r.cols {
		if !used[c.id] {
			out = append(out, c)
		}
	}
	return t.project(r, out, passThrough(out))
}

// sortOp translates order by / sort by, and top when n is set.
func (t *translator) sortOp(e *env, r *rel, keys []*SortKey, n *int64) *rel {
	sc := &scope{env: e, r: r, window: true}
	var terms []orderTerm
	for _, k := range keys {
		x := t.expr(sc, k.Expr)
		if x.agg {
			t.fail(k, "aggregation functions are not allowed in a sort key")
		}
		s := x.sql
		if x.typ == tyDynamic {
			s = "CAST(" + s + " AS VARCHAR)"
		}
		desc := k.Order != "asc"
		nullsFirst := !desc
		switch k.Nulls {
		case "first":
			nullsFirst = true
		case "last":
			nullsFirst = false
		}
		terms = append(terms, orderTerm{sql: s, desc: desc, nullsFirst: nullsFirst})
	}
	clause := "ORDER BY " + joinOrder(terms)
	if n != nil {
		clause += fmt.Sprintf(" LIMIT %d", max(*n, 0))
	}
	out := t.wrap(r, clause)
	out.ordered, out.order = true, terms
	return out
}

// distinct translates distinct * and distinct cols.
func (t *translator) distinct(e *env, r *rel, v *Distinct) *rel {
	src := r
	if !v.Star {
		src = t.projectOp(e, r, v.Columns, false)
	}
	out := &rel{cols: src.cols}
	out.sql = "SELECT DISTINCT * FROM (" + src.sql + ") AS " + t.alias()
	return out
}

// summarize translates summarize.
func (t *translator) summarize(e *env, r *rel, v *Summarize) *rel {
	sc := &scope{env: e, r: r}
	var inner []string // SELECT items of the grouping query
	var outer []string // SELECT items of the projection over it
	var cols []col
	add := func(name, typ, innerSQL, outerSQL string) {
		id := t.newID()
		if outerSQL == "" {
			inner = append(inner, innerSQL+" AS "+sqlIdent(id))
			outerSQL = sqlIdent(id)
		}
		outer = append(outer, outerSQL+" AS "+sqlIdent(id))
		cols = append(cols, col{name: name, typ: typ, id: id})
	}
	colN := 0
	unnamed := func() string {
		colN++
		return fmt.Sprintf("Column%d", colN)
	}
	for _, k := range v.By {
		x := t.expr(sc, k.Expr)
		if x.agg {
			t.fail(k, "a summarize key cannot contain an aggregation")
		}
		name := ""
		if len(k.Names) > 0 {
			name = k.Names[0].Name
		} else if name = derivedName(x); name == "" {
			name = unnamed()
		}
		if hasName(cols, name) {
			t.fail(k, "column '%s' is a key twice", name)
		}
		add(name, x.typ, x.sql, "")
	}
	nKeys := len(cols)
	aggScope := &scope{env: e, r: r, aggs: &aggState{}}
	for _, a := range v.Aggs {
		if c, ok := a.Expr.(*Call); ok {
			switch c.Name {
			case "arg_max", "arg_min":
				t.argMax(aggScope, a, c, r, add, &inner, nKeys, cols)
				continue
			case "take_any", "any":
				if len(c.Args) > 1 || len(c.Args) == 1 && isStar(c.Args[0]) {
					t.argMax(aggScope, a, c, r, add, &inner, nKeys, cols)
					continue
				}
			case "percentiles", "percentiles_array", "percentilesw", "percentilesw_array":
				t.percentiles(aggScope, a, c, add)
				continue
			}
		}
		x := t.expr(aggScope, a.Expr)
		if !x.agg {
			t.fail(a, "%s is not an aggregation: summarize needs aggregation functions such as count(), sum(x) or dcount(x) before 'by'", Format(a.Expr))
		}
		name := ""
		switch {
		case len(a.Names) > 1:
			t.fail(a, "only one name can be given to this aggregation")
		case len(a.Names) == 1:
			name = a.Names[0].Name
		default:
			name = aggColumnName(a.Expr, aggScope, t)
			if name == "" {
				name = unnamed()
			}
		}
		name = uniqueName(name, cols)
		add(name, x.typ, x.sql, "")
	}
	if len(inner) == 0 {
		inner = []string{"1"}
	}
	s := "SELECT " + strings.Join(inner, ", ") + " FROM (" + r.sql + ") AS " + t.alias()
	if nKeys > 0 {
		var pos []string
		for i := 1; i <= nKeys; i++ {
			pos = append(pos, strconv.Itoa(i))
		}
		s += " GROUP BY " + strings.Join(pos, ", ")
	}
	s = "SELECT " + strings.Join(outer, ", ") + " FROM (" + s + ") AS " + t.alias()
	return &rel{sql: s, cols: cols}
}

// aggColumnName is the name Kusto gives an unnamed aggregate:
// count_, dcount_User, sum_Bytes, percentile_Latency_95, ...
func aggColumnName(x Expr, sc *scope, t *translator) string {
	c, ok := x.(*Call)
	if !ok {
		return ""
	}
	prefix, ok := aggNames[c.Name]
	if !ok {
		return ""
	}
	switch {
	case c.Name == "countif", c.Name == "count" && len(c.Args) == 0:
		return prefix + "_"
	}
	arg := ""
	if len(c.Args) > 0 {
		if _, star := c.Args[0].(*Star); !star {
			inner := *sc
			inner.aggs = nil
			arg = t.expr(&inner, c.Args[0]).name
		}
	}
	if strings.HasPrefix(c.Name, "covariance") && len(c.Args) >= 2 {
		inner := *sc
		inner.aggs = nil
		return prefix + "_" + arg + "_" + t.expr(&inner, c.Args[1]).name
	}
	if c.Name == "percentilew" && len(c.Args) == 3 {
		if l, ok := c.Args[2].(*Literal); ok {
			return prefix + "_" + arg + "_" + strings.ReplaceAll(l.Value, ".", "_")
		}
	}
	if (c.Name == "take_any" || c.Name == "take_anyif") && arg != "" {
		// take_any keeps the column's own name
		return arg
	}
	name := prefix + "_" + arg
	if c.Name == "percentile" && len(c.Args) == 2 {
		if l, ok := c.Args[1].(*Literal); ok {
			name += "_" + strings.ReplaceAll(l.Value, ".", "_")
		}
	}
	return name
}

// isStar reports whether x is *.
func isStar(x Expr) bool {
	_, ok := x.(*Star)
	return ok
}

// argMax translates arg_max(by, cols...) and arg_min: the row where by is
// largest (smallest), its columns each a result column. take_any(x, y,
// ...) with several expressions (or *) is the same without by: the
// values of one arbitrary row of the group, each a result column named
// after its expression.
func (t *translator) argMax(sc *scope, a *NamedExpr, c *Call, r *rel, add func(name, typ, innerSQL, outerSQL string), inner *[]string, nKeys int, keys []col) {
	if len(c.Args) < 1 {
		t.fail(c, "%s needs the expression to maximize and the columns to return", c.Name)
	}
	plain := &scope{env: sc.env, r: r}
	anyRow := c.Name == "take_any" || c.Name == "any"
	var by texpr
	args := c.Args
	if !anyRow {
		by, args = t.expr(plain, c.Args[0]), c.Args[1:]
	}
	type item struct {
		name string
		x    texpr
	}
	var items []item
	for _, arg := range args {
		if _, ok := arg.(*Star); ok {
			for _, col := range r.cols {
				if hasName(keys[:nKeys], col.name) || !anyRow && col.name == by.name {
					continue
				}
				items = append(items, item{col.name, texpr{sql: sqlIdent(col.id), typ: col.typ}})
			}
			continue
		}
		name := ""
		ex := arg
		if na, ok := arg.(*NamedArg); ok {
			name, ex = na.Name, na.Value
		}
		x := t.expr(plain, ex)
		if name == "" {
			name = x.name
		}
		if name == "" {
			name = fmt.Sprintf("%s_arg%d", c.Name, len(items)+1)
		}
		items = append(items, item{name, x})
	}
	names := a.Names
	if !anyRow {
		fn := map[string]string{"arg_max": "max", "arg_min": "min"}[c.Name]
		byCol := cmp.Or(by.name, fn+"_")
		if len(names) > 0 {
			byCol, names = names[0].Name, names[1:]
		}
		add(byCol, by.typ, fn+"("+by.sql+")", "")
	}
	if len(items) == 0 {
		return
	}
	var fields []string
	for i, it := range items {
		fields = append(fields, fmt.Sprintf("'f%d': %s", i, it.x.sql))
	}
	sid := t.newID()
	st := "{" + strings.Join(fields, ", ") + "}"
	row := "first(" + st + ")" // one row's values together
	if !anyRow {
		// Kusto returns a row even when every value of the key is null
		fn := map[string]string{"arg_max": "max", "arg_min": "min"}[c.Name]
		row = "CASE WHEN " + fn + "(" + by.sql + ") IS NULL THEN first(" + st + ") ELSE " + c.Name + "(" + st + ", " + by.sql + ") END"
	}
	*inner = append(*inner, row+" AS "+sqlIdent(sid))
	for i, it := range items {
		name := it.name
		if len(names) > i {
			name = names[i].Name
		}
		add(name, it.x.typ, "", fmt.Sprintf("%s['f%d']", sqlIdent(sid), i))
	}
}

// percentiles translates percentiles(x, p1, p2, ...) (one column each)
// and percentiles_array (one dynamic array).
func (t *translator) percentiles(sc *scope, a *NamedExpr, c *Call, add func(name, typ, innerSQL, outerSQL string)) {
	weighted := strings.HasPrefix(c.Name, "percentilesw")
	first := 1
	if weighted {
		first = 2
	}
	if len(c.Args) <= first {
		t.fail(c, "%s needs a value%s and at least one percentile", c.Name, map[bool]string{true: ", a weight", false: ""}[weighted])
	}
	plain := *sc
	plain.aggs = nil
	x := t.expr(&plain, c.Args[0])
	if x.typ == tyDynamic {
		x = texpr{sql: dynTo(x.sql, tyReal), typ: tyReal, name: x.name}
	}
	var w texpr
	if weighted {
		w = t.expr(&plain, c.Args[1])
	}
	// the percentiles: arguments, or the elements of a dynamic array literal
	var ps []Expr
	for _, pa := range c.Args[first:] {
		if d, ok := pa.(*Dynamic); ok {
			if arr, ok := d.Value.(*DynArray); ok {
				ps = append(ps, arr.Elems...)
				continue
			}
		}
		ps = append(ps, pa)
	}
	pctSQL := func(pa Expr) string {
		p := t.expr(&plain, pa)
		call := &Call{Pos: c.Pos, Name: c.Name, Args: []Expr{c.Args[0], c.Args[0], pa}}
		if weighted {
			return weightedPercentileSQL(t, call, x, w, p)
		}
		return percentileSQL(t, &Call{Pos: c.Pos, Name: c.Name, Args: []Expr{c.Args[0], pa}}, x, p)
	}
	if strings.HasSuffix(c.Name, "_array") {
		var parts []string
		for _, pa := range ps {
			parts = append(parts, pctSQL(pa))
		}
		name := "percentiles_" + x.name
		if weighted {
			name = "percentile_" + x.name
		}
		if len(a.Names) > 0 {
			name = a.Names[0].Name
		}
		add(name, tyDynamic, "to_json(["+strings.Join(parts, ", ")+"])", "")
		return
	}
	for i, pa := range ps {
		name := "percentile_" + x.name + "_" + strings.ReplaceAll(Format(pa), ".", "_")
		if i < len(a.Names) {
			name = a.Names[i].Name
		}
		add(name, x.typ, pctSQL(pa), "")
	}
}

// renderChart keeps a render operator's chart type and properties.
func renderChart(v *Render) *Chart {
	ch := &Chart{Kind: v.Chart}
	for _, p := range v.Props {
		if ch.Props == nil {
			ch.Props = map[string]any{}
		}
		var vals []string
		for _, x := range p.Values {
			switch y := x.(type) {
			case *Ident:
				vals = append(vals, y.Name)
			case *Literal:
				vals = append(vals, y.Value)
			default:
				vals = append(vals, Format(x))
			}
		}
		if len(vals) == 1 && p.Name != "ycolumns" && p.Name != "series" {
			ch.Props[p.Name] = vals[0]
		} else {
			ch.Props[p.Name] = vals
		}
	}
	return ch
}

// getSchema returns the columns of r as rows.
func (t *translator) getSchema(r *rel) *rel {
	dotnet := map[string]string{tyString: "System.String", tyLong: "System.Int64", tyInt: "System.Int32", tyReal: "System.Double", tyBool: "System.Boolean", tyDateTime: "System.DateTime", tyTimespan: "System.TimeSpan", tyDynamic: "System.Object", tyGuid: "System.Guid", tyDecimal: "System.Data.SqlTypes.SqlDecimal", tyNull: "System.Object"}
	ids := []string{t.newID(), t.newID(), t.newID(), t.newID()}
	out := &rel{cols: []col{{name: "ColumnName", typ: tyString, id: ids[0]}, {name: "ColumnOrdinal", typ: tyInt, id: ids[1]}, {name: "DataType", typ: tyString, id: ids[2]}, {name: "ColumnType", typ: tyString, id: ids[3]}}, ordered: true}
	if len(r.cols) == 0 {
		out.sql = "SELECT '' AS " + sqlIdent(ids[0]) + ", 0 AS " + sqlIdent(ids[1]) + ", '' AS " + sqlIdent(ids[2]) + ", '' AS " + sqlIdent(ids[3]) + " WHERE FALSE"
		return out
	}
	var rows []string
	for i, c := range r.cols {
		rows = append(rows, fmt.Sprintf("(%s, CAST(%d AS INTEGER), %s, %s)", sqlString(c.name), i, sqlString(dotnet[c.typ]), sqlString(publicType(c.typ))))
	}
	a := t.alias()
	out.sql = "SELECT * FROM (VALUES " + strings.Join(rows, ", ") + ") AS " + a + "(" + strings.Join([]string{sqlIdent(ids[0]), sqlIdent(ids[1]), sqlIdent(ids[2]), sqlIdent(ids[3])}, ", ") + ")"
	return out
}

// parseOp translates parse and parse-where: a regular expression built
// from the pattern extracts each column.
func (t *translator) parseOp(e *env, r *rel, v *ParseOp) *rel {
	src := t.expr(&scope{env: e, r: r}, v.Source)
	s := t.convert(v.Source, src, tyString)
	var re strings.Builder
	if v.Kind != "regex" {
		re.WriteString("^")
	}
	if v.Flags != "" {
		re.WriteString("(?" + strings.ReplaceAll(strings.ReplaceAll(v.Flags, "U", ""), "x", "") + ")")
	}
	type capture struct {
		name, typ string
		group     int
	}
	var caps []capture
	group := 0
	for i, el := range v.Pattern {
		last := i == len(v.Pattern)-1
		switch {
		case el.Star:
			if last {
				re.WriteString(".*")
			} else {
				re.WriteString(".*?")
			}
		case el.Text != nil:
			if v.Kind == "regex" {
				re.WriteString(el.Text.Value)
			} else {
				re.WriteString(regexp.QuoteMeta(el.Text.Value))
			}
		case el.Column != nil:
			typ := el.Type
			if typ == "" {
				typ = tyString
			}
			group++
			caps = append(caps, capture{el.Column.Name, typ, group})
			switch {
			case isIntegral(typ):
				re.WriteString(`(-?\d+)`)
			case typ == tyReal || typ == tyDecimal:
				re.WriteString(`(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)`)
			case last:
				re.WriteString("(.*)")
			default:
				re.WriteString("(.*?)")
			}
		}
	}
	pattern := re.String()
	if _, err := regexp.Compile(pattern); err != nil {
		t.fail(v, "the parse pattern does not make a valid regular expression: %v", err)
	}
	if v.Kind == "regex" {
		// in regex mode the pattern's own groups count; the columns take
		// the groups in order
	}
	cur := r
	if v.Where {
		cur = t.wrap(r, "WHERE regexp_matches("+s+", "+sqlString(pattern)+")")
	}
	cols := append([]col(nil), cur.cols...)
	exprs := passThrough(cols)
	for _, c := range caps {
		ext := "regexp_extract(" + s + ", " + sqlString(pattern) + ", " + strconv.Itoa(c.group) + ")"
		var x string
		switch c.typ {
		case tyString:
			x = ext
		case tyDynamic:
			x = "CASE WHEN json_valid(" + ext + ") THEN CAST(" + ext + " AS JSON) ELSE to_json(" + ext + ") END"
		default:
			x = t.convert(v, texpr{sql: "nullif(" + ext + ", '')", typ: tyString}, c.typ)
		}
		nc := col{name: c.name, typ: c.typ, id: t.newID()}
		if i := indexName(cols, c.name); i >= 0 {
			cols[i], exprs[i] = nc, x
		} else {
			cols = append(cols, nc)
			exprs = append(exprs, x)
		}
	}
	return t.project(cur, cols, exprs)
}

// mvExpand translates mv-expand: each array element (or property of a
// bag) becomes a row.
func (t *translator) mvExpand(e *env, r *rel, v *MvExpand) *rel {
	sc := &scope{env: e, r: r}
	cols := append([]col(nil), r.cols...)
	exprs := passThrough(cols)
	bagKind := v.Kind != "array"
	for _, o := range v.Options {
		if o.Name == "bagexpansion" && len(o.Values) == 1 {
			if id, ok := o.Values[0].(*Ident); ok && id.Name == "array" {
				bagKind = false
			}
		}
	}
	var firstList string
	for _, it := range v.Items {
		x := t.expr(sc, it.Expr)
		name := x.name
		if it.Name != nil {
			name = it.Name.Name
		}
		if name == "" {
			name = uniqueName("Column1", cols)
		}
		d := toDynamic(x)
		objElems := "list_transform(json_keys(" + d + "), k -> json_object(k, json_extract(" + d + ", '/' || replace(replace(k, '~', '~0'), '/', '~1'))))"
		if !bagKind {
			objElems = "list_transform(json_keys(" + d + "), k -> json_array(k, json_extract(" + d + ", '/' || replace(replace(k, '~', '~0'), '/', '~1'))))"
		}
		list := "(CASE json_type(" + d + ") WHEN 'ARRAY' THEN CAST(json_extract(" + d + ", '$[*]') AS JSON[]) WHEN 'OBJECT' THEN " + objElems + " ELSE [" + d + "] END)"
		if firstList == "" {
			firstList = list
		}
		if v.Limit != nil {
			// at most Limit rows from each input row
			list = "list_slice(" + list + ", 1, " + strconv.FormatInt(t.constLong(e, v.Limit, "mv-expand limit"), 10) + ")"
		}
		elem := "unnest(" + list + ")"
		typ := tyDynamic
		if it.ToType != "" && it.ToType != tyDynamic {
			typ = it.ToType
			elem = t.convert(it, texpr{sql: elem, typ: tyDynamic}, typ)
		}
		nc := col{name: name, typ: typ, id: t.newID()}
		if i := indexName(cols, name); i >= 0 {
			cols[i], exprs[i] = nc, elem
		} else {
			cols = append(cols, nc)
			exprs = append(exprs, elem)
		}
	}
	if v.ItemIndex != nil {
		cols = append(cols, col{name: v.ItemIndex.Name, typ: tyLong, id: t.newID()})
		exprs = append(exprs, "unnest(range(CAST(len("+firstList+") AS BIGINT)))")
	}
	return t.project(r, cols, exprs)
}
