package kql

import (
	"fmt"
	"strings"
)

// print translates print: one row of expressions.
func (t *translator) print(e *env, v *Print) *rel {
	sc := &scope{env: e}
	r := &rel{}
	var sel []string
	for i, it := range v.Columns {
		if names, xs, ok := t.tupleCall(sc, it.Expr); ok {
			for j, n := range names {
				if j < len(it.Names) {
					n = it.Names[j].Name
				}
				id := t.newID()
				r.cols = append(r.cols, col{name: n, typ: xs[j].typ, id: id})
				sel = append(sel, xs[j].sql+" AS "+sqlIdent(id))
			}
			continue
		}
		x := t.expr(sc, it.Expr)
		name := fmt.Sprintf("print_%d", i)
		if len(it.Names) > 0 {
			name = it.Names[0].Name
		}
		id := t.newID()
		r.cols = append(r.cols, col{name: name, typ: x.typ, id: id})
		sel = append(sel, x.sql+" AS "+sqlIdent(id))
	}
	if len(sel) == 0 {
		t.fail(v, "print needs at least one expression")
	}
	r.sql = "SELECT " + strings.Join(sel, ", ")
	return r
}

// dataTable translates datatable: literal rows.
func (t *translator) dataTable(e *env, v *DataTable) *rel {
	if len(v.Columns) == 0 {
		t.fail(v, "datatable needs at least one column")
	}
	sc := &scope{env: e}
	r := &rel{}
	ids := make([]string, len(v.Columns))
	for i, c := range v.Columns {
		ids[i] = t.newID()
		r.cols = append(r.cols, col{name: c.Name.Name, typ: c.Type, id: ids[i]})
	}
	n := len(v.Columns)
	if len(v.Values)%n != 0 {
		t.fail(v, "datatable has %d values, not a multiple of its %d columns", len(v.Values), n)
	}
	var rows []string
	for i := 0; i < len(v.Values); i += n {
		cells := make([]string, n)
		for j := 0; j < n; j++ {
			x := t.expr(sc, v.Values[i+j])
			typ := v.Columns[j].Type
			if typ == tyDynamic {
				cells[j] = "CAST(" + toDynamic(x) + " AS JSON)"
				continue
			}
			cells[j] = "CAST(" + t.convert(v.Values[i+j], x, typ) + " AS " + sqlType(typ) + ")"
		}
		rows = append(rows, "("+strings.Join(cells, ", ")+")")
	}
	quoted := make([]string, n)
	for i, id := range ids {
		quoted[i] = sqlIdent(id)
	}
	if len(rows) == 0 {
		var sel []string
		for i, c := range v.Columns {
			sel = append(sel, sqlNull(c.Type)+" AS "+quoted[i])
		}
		r.sql = "SELECT " + strings.Join(sel, ", ") + " WHERE FALSE"
		return r
	}
	r.sql = "SELECT * FROM (VALUES " + strings.Join(rows, ", ") + ") AS " + t.alias() + "(" + strings.Join(quoted, ", ") + ")"
	return r
}

// rangeSource translates range: a column of values from..to by step.
func (t *translator) rangeSource(e *env, v *Range) *rel {
	sc := &scope{env: e}
	from, to, step := t.expr(sc, v.From), t.expr(sc, v.To), t.expr(sc, v.Step)
	id := t.newID()
	r := &rel{ordered: true}
	// the generate_series table function streams its rows (the list form
	// would build them all at once)
	series := func(a, b, c string) string {
		return "SELECT generate_series AS " + sqlIdent(id) + " FROM generate_series(" + a + ", " + b + ", " + c + ")"
	}
	switch {
	case from.typ == tyDateTime:
		ts := t.convert(v.To, to, tyDateTime)
		ss := t.convert(v.Step, step, tyTimespan)
		r.sql = series(from.sql, ts, "to_microseconds("+ss+")")
		r.cols = []col{{name: v.Column.Name, typ: tyDateTime, id: id}}
	case from.typ == tyTimespan:
		r.sql = series(from.sql, t.convert(v.To, to, tyTimespan), t.convert(v.Step, step, tyTimespan))
		r.cols = []col{{name: v.Column.Name, typ: tyTimespan, id: id}}
	case isIntegral(from.typ) && isIntegral(to.typ) && isIntegral(step.typ):
		r.sql = series("CAST("+from.sql+" AS BIGINT)", "CAST("+to.sql+" AS BIGINT)", "CAST("+step.sql+" AS BIGINT)")
		r.cols = []col{{name: v.Column.Name, typ: tyLong, id: id}}
	case isNumeric(from.typ) && isNumeric(to.typ) && isNumeric(step.typ):
		// generate_series has no DOUBLE form: count the steps
		n := "CAST(floor((" + to.sql + " - " + from.sql + ") / " + step.sql + ") AS BIGINT)"
		r.sql = "SELECT " + from.sql + " + i * " + step.sql + " AS " + sqlIdent(id) + " FROM generate_series(0, " + n + ") AS " + t.alias() + "(i)"
		r.cols = []col{{name: v.Column.Name, typ: tyReal, id: id}}
	default:
		t.fail(v, "range needs numbers, datetimes or timespans, not %s, %s and %s", from.typ, to.typ, step.typ)
	}
	return r
}

// funcSource translates a function call used as a table.
func (t *translator) funcSource(e *env, v *FuncSource) *rel {
	c := v.Call
	switch c.Name {
	case "materialize", "view":
		if len(c.Args) != 1 {
			t.fail(c, "%s takes 1 argument", c.Name)
		}
		if p := t.asTabular(e, c.Args[0]); p != nil {
			return t.pipe(e, p)
		}
		t.fail(c.Args[0], "%s needs a tabular expression", c.Name)
	case "table":
		if len(c.Args) < 1 {
			t.fail(c, "table takes a table name")
		}
		if l, ok := c.Args[0].(*Literal); ok && l.Kind == LitString {
			return t.tableRef(e, &TableRef{Pos: c.Pos, Name: l.Value})
		}
		t.fail(c.Args[0], "table() needs the name as a string literal")
	}
	b := e.lookup(c.Name)
	if b == nil || b.fn == nil {
		if _, ok := scalarFuncs[c.Name]; ok {
			t.fail(c, "%s() gives a scalar, not a table: use it inside print, extend or where", c.Name)
		}
		t.fail(c, "unknown function '%s'", c.Name)
	}
	return t.callTabular(e, b, c)
}

// unionLeg is one input of a union with the name withsource gives it.
type unionLeg struct {
	r    *rel
	name string
}

// union translates union (as a source, r is nil; as an operator r is the
// first leg).
func (t *translator) union(e *env, r *rel, v *Union) *rel {
	var legs []unionLeg
	if r != nil {
		name := r.table
		if name == "" {
			name = "union_arg0"
		}
		legs = append(legs, unionLeg{r, name})
	}
	for _, p := range v.Legs {
		if tr, ok := p.Source.(*TableRef); ok && len(p.Ops) == 0 {
			if tr.Wildcard {
				names := t.matchTables(tr.Name)
				if len(names) == 0 && !v.IsFuzzy {
					t.fail(tr, "no table matches '%s'; the tables are: %s", tr.Name, t.tableList())
				}
				for _, n := range names {
					legs = append(legs, unionLeg{t.catalogTable(tr, n), n})
				}
				continue
			}
			if v.IsFuzzy && e.lookup(tr.Name) == nil {
				if _, ok := t.eng.tables[tr.Name]; !ok {
					// isfuzzy: a missing table is left out
					continue
				}
			}
			legs = append(legs, unionLeg{t.tableRef(e, tr), tr.Name})
			continue
		}
		lr := t.fuzzyLeg(e, p, v.IsFuzzy)
		if lr == nil {
			continue
		}
		name := lr.table
		if name == "" {
			name = fmt.Sprintf("union_arg%d", len(legs))
		}
		legs = append(legs, unionLeg{lr, name})
	}
	if len(legs) == 0 {
		t.fail(v, "union needs at least one table")
	}
	return t.unionRels(legs, v.Kind == "inner", v.WithSource)
}

// unionRels stacks relations, matching columns by name: a column missing
// from a leg is null there; with inner only the columns every leg has are
// kept. A name with different types in different legs becomes one column
// per type, named name_type, as Kusto does.
func (t *translator) unionRels(legs []unionLeg, inner bool, withSource *Ident) *rel {
	type ucol struct {
		name, typ string
		legs      int
	}
	var ucols []*ucol
	types := map[string]map[string]bool{}
	find := func(name, typ string) *ucol {
		for _, u := range ucols {
			if u.name == name && u.typ == typ {
				return u
			}
		}
		return nil
	}
	for _, l := range legs {
		for _, c := range l.r.cols {
			u := find(c.name, c.typ)
			if u == nil {
				u = &ucol{name: c.name, typ: c.typ}
				ucols = append(ucols, u)
			}
			u.legs++
			if types[c.name] == nil {
				types[c.name] = map[string]bool{}
			}
			types[c.name][c.typ] = true
		}
	}
	out := &rel{}
	var kept []*ucol
	for _, u := range ucols {
		if inner && u.legs < len(legs) {
			continue
		}
		kept = append(kept, u)
	}
	var ids []string
	if withSource != nil {
		id := t.newID()
		out.cols = append(out.cols, col{name: withSource.Name, typ: tyString, id: id})
		ids = append(ids, id)
	}
	// A column whose legs give it several types becomes one column per
	// type, named for it (x_long, x_int); a name that is already taken
	// gets a number, as Kusto does (x_long1 beside a real x_long).
	taken := map[string]bool{}
	if withSource != nil {
		taken[withSource.Name] = true
	}
	for _, u := range kept {
		if len(types[u.name]) == 1 {
			taken[u.name] = true
		}
	}
	for _, u := range kept {
		name := u.name
		if len(types[u.name]) > 1 {
			name = u.name + "_" + publicType(u.typ)
			for i := 1; taken[name]; i++ {
				name = fmt.Sprintf("%s_%s%d", u.name, publicType(u.typ), i)
			}
			taken[name] = true
		}
		id := t.newID()
		out.cols = append(out.cols, col{name: name, typ: u.typ, id: id})
		ids = append(ids, id)
	}
	var parts []string
	for _, l := range legs {
		var sel []string
		if withSource != nil {
			sel = append(sel, sqlString(l.name)+" AS "+sqlIdent(ids[0]))
		}
		off := len(sel)
		for i, u := range kept {
			expr := sqlNull(u.typ)
			if u.typ == tyString {
				expr = "''"
			}
			for _, c := range l.r.cols {
				if c.name == u.name && c.typ == u.typ {
					expr = sqlIdent(c.id)
					break
				}
			}
			sel = append(sel, expr+" AS "+sqlIdent(ids[off+i]))
		}
		if len(sel) == 0 {
			sel = []string{"1"}
		}
		parts = append(parts, "SELECT "+strings.Join(sel, ", ")+" FROM ("+l.r.sql+") AS "+t.alias())
	}
	out.sql = strings.Join(parts, " UNION ALL ")
	return out
}

// search translates search: rows of a table (or of every table) where
// the predicate holds; a bare string matches any column that has it.
func (t *translator) search(e *env, r *rel, v *Search) *rel {
	src := r
	if src != nil {
		// search over piped rows names their table in $table, as Kusto does
		src = t.unionRels([]unionLeg{{r, r.table}}, false, &Ident{Pos: v.Pos, Name: "$table"})
	} else {
		var legs []unionLeg
		names := t.withoutParts(t.eng.names)
		if len(v.Tables) > 0 {
			names = nil
			for _, tr := range v.Tables {
				switch b := e.lookup(tr.Name); {
				case tr.Wildcard:
					names = append(names, t.matchTables(tr.Name)...)
				case b != nil && (b.tab != nil || b.rel != nil):
					// a tabular let value: searched under its name
					legs = append(legs, unionLeg{t.tableRef(e, tr), tr.Name})
				default:
					if _, ok := t.eng.tables[tr.Name]; !ok {
						t.fail(tr, "unknown table '%s'%s; the tables are: %s", tr.Name, didYouMean(tr.Name, t.eng.names), t.tableList())
					}
					names = append(names, tr.Name)
				}
			}
		}
		for _, n := range names {
			legs = append(legs, unionLeg{t.catalogTable(v, n), n})
		}
		if len(legs) == 0 {
			t.fail(v, "search has no table to look in")
		}
		src = t.unionRels(legs, false, &Ident{Pos: v.Pos, Name: "$table"})
	}
	cs := v.Kind == "case_sensitive"
	sc := &scope{env: e, r: src}
	pred := t.searchPred(sc, v.Pred, cs)
	return t.wrap(src, "WHERE "+pred)
}

// searchPred translates a search predicate.
func (t *translator) searchPred(sc *scope, x Expr, cs bool) string {
	switch v := x.(type) {
	case *Literal:
		if v.Kind == LitString {
			return t.anyColumn(sc, v, v.Value, cs)
		}
	case *Binary:
		switch v.Op {
		case "and", "or":
			return "(" + t.searchPred(sc, v.L, cs) + " " + strings.ToUpper(v.Op) + " " + t.searchPred(sc, v.R, cs) + ")"
		case ":":
			op := "has"
			if cs {
				op = "has_cs"
			}
			return t.expr(sc, &Binary{Pos: v.Pos, Op: op, OpPos: v.OpPos, L: v.L, R: v.R}).sql
		}
	case *Unary:
		if v.Op == "not" {
			return "(NOT " + t.searchPred(sc, v.X, cs) + ")"
		}
	case *Call:
		if v.Name == "not" && len(v.Args) == 1 {
			return "(NOT coalesce(" + t.searchPred(sc, v.Args[0], cs) + ", FALSE))"
		}
	}
	return t.asBool(x, t.expr(sc, x))
}

// anyColumn matches a search term against every string, dynamic and guid
// column: has semantics, or a wildcard match when the term has '*'.
func (t *translator) anyColumn(sc *scope, pos Node, term string, cs bool) string {
	op, value := "has", term
	switch {
	case strings.Trim(term, "*") == "":
		if len(textColumns(sc.r)) == 0 {
			return "FALSE"
		}
		return "TRUE"
	case strings.HasPrefix(term, "*") && strings.HasSuffix(term, "*"):
		op, value = "contains", strings.Trim(term, "*")
	case strings.HasSuffix(term, "*"):
		op, value = "hasprefix", strings.TrimSuffix(term, "*")
	case strings.HasPrefix(term, "*"):
		op, value = "hassuffix", strings.TrimPrefix(term, "*")
	}
	p := pos.Position()
	return t.anyColumnOp(sc, &Binary{Pos: p, Op: opCS(op, cs), L: &Star{Pos: p}, R: &Literal{Pos: p, Kind: LitString, Value: value}}).sql
}

func opCS(op string, cs bool) string {
	if cs {
		return op + "_cs"
	}
	return op
}

// join translates join and lookup.
func (t *translator) join(e *env, l *rel, kind string, right *Pipe, on []Expr, lookup bool, pos Node) *rel {
	rr := t.pipe(e, right)
	// fresh ids on the right, so that a table joined with itself has
	// distinct columns
	rcols := make([]col, len(rr.cols))
	for i, c := range rr.cols {
		rcols[i] = col{name: c.name, typ: c.typ, id: t.newID()}
	}
	var sel []string
	for i, c := range rr.cols {
		sel = append(sel, sqlIdent(c.id)+" AS "+sqlIdent(rcols[i].id))
	}
	if len(sel) == 0 {
		sel = []string{"1"}
	}
	r := &rel{sql: "SELECT " + strings.Join(sel, ", ") + " FROM (" + rr.sql + ") AS " + t.alias(), cols: rcols}

	if kind == "" {
		kind = "innerunique"
	}
	la, ra := t.alias(), t.alias()
	type pair struct{ l, r string }
	var keys []pair
	sameName := map[string]bool{} // right columns joined by name (lookup drops them)
	var conds []Expr
	for _, c := range on {
		conds = append(conds, splitAnd(c)...)
	}
	if len(conds) == 0 {
		t.fail(pos, "join needs 'on' conditions")
	}
	for _, c := range conds {
		switch v := c.(type) {
		case *Ident:
			lc, ok := l.find(v.Name)
			if !ok {
				t.fail(v, "unknown column '%s' on the left side of the join%s; its columns are: %s", v.Name, didYouMean(v.Name, l.names()), columnList(l.names()))
			}
			rc, ok := r.find(v.Name)
			if !ok {
				t.fail(v, "unknown column '%s' on the right side of the join%s; its columns are: %s", v.Name, didYouMean(v.Name, r.names()), columnList(r.names()))
			}
			ls, rs := t.comparable(v, texpr{sql: la + "." + sqlIdent(lc.id), typ: lc.typ}, texpr{sql: ra + "." + sqlIdent(rc.id), typ: rc.typ})
			keys = append(keys, pair{ls, rs})
			sameName[v.Name] = true
		case *Binary:
			if v.Op != "==" {
				t.fail(v, "a join condition must be a column name or $left.a == $right.b, not %s", v.Op)
			}
			lx, lside := t.sideRef(v.L, l, r)
			rx, rside := t.sideRef(v.R, l, r)
			if lside == rside {
				t.fail(v, "a join condition must compare a $left column with a $right column")
			}
			if lside == "right" {
				lx, rx = rx, lx
			}
			lx.sql = la + "." + lx.sql
			rx.sql = ra + "." + rx.sql
			ls, rs := t.comparable(v, lx, rx)
			keys = append(keys, pair{ls, rs})
			if lookup {
				if m, ok := rightMember(v); ok && m == leftMemberName(v) {
					sameName[m] = true
				}
			}
		default:
			t.fail(c, "a join condition must be a column name or $left.a == $right.b")
		}
	}
	var onSQL []string
	for _, k := range keys {
		onSQL = append(onSQL, k.l+" = "+k.r)
	}
	left := l.sql
	if kind == "innerunique" {
		// Kusto keeps one left row per key
		var lk []string
		for _, k := range keys {
			lk = append(lk, strings.TrimPrefix(k.l, la+"."))
		}
		left = "SELECT DISTINCT ON (" + strings.Join(lk, ", ") + ") * FROM (" + l.sql + ") AS " + la
	}
	from := "(" + left + ") AS " + la
	rfrom := "(" + r.sql + ") AS " + ra
	cond := strings.Join(onSQL, " AND ")
	var cols []col
	var exprs []string
	addSide := func(side *rel, alias string, skip map[string]bool, nullable bool) {
		for _, c := range side.cols {
			if skip != nil && skip[c.name] {
				continue
			}
			nc := col{name: uniqueName(c.name, cols), typ: c.typ, id: c.id}
			cols = append(cols, nc)
			x := alias + "." + sqlIdent(c.id)
			if nullable && c.typ == tyString {
				// a string is never null: an unmatched side's strings are ""
				x = "coalesce(" + x + ", '')"
			}
			exprs = append(exprs, x)
		}
	}
	var sqlKind string
	switch kind {
	case "innerunique", "inner":
		sqlKind = "JOIN"
	case "leftouter":
		sqlKind = "LEFT JOIN"
	case "rightouter":
		sqlKind = "RIGHT JOIN"
	case "fullouter":
		sqlKind = "FULL JOIN"
	case "leftanti", "anti", "leftantisemi":
		sqlKind = "ANTI JOIN"
	case "leftsemi":
		sqlKind = "SEMI JOIN"
	case "rightanti", "rightantisemi":
		sqlKind = "RIGHT ANTI"
	case "rightsemi":
		sqlKind = "RIGHT SEMI"
	default:
		t.fail(pos, "unknown join kind '%s'", kind)
	}
	leftNull := sqlKind == "RIGHT JOIN" || sqlKind == "FULL JOIN"
	rightNull := sqlKind == "LEFT JOIN" || sqlKind == "FULL JOIN"
	switch sqlKind {
	case "ANTI JOIN", "SEMI JOIN":
		addSide(l, la, nil, false)
	case "RIGHT ANTI", "RIGHT SEMI":
		// swap: rows of the right side with (or without) a match on the left
		addSide(r, ra, nil, false)
		sqlKind = strings.TrimPrefix(sqlKind, "RIGHT ") + " JOIN"
		from, rfrom = rfrom, from
	default:
		addSide(l, la, nil, leftNull)
		if lookup {
			addSide(r, ra, sameName, rightNull)
		} else {
			addSide(r, ra, nil, rightNull)
		}
	}
	var sel2 []string
	for i, c := range cols {
		sel2 = append(sel2, exprs[i]+" AS "+sqlIdent(c.id))
	}
	out := &rel{cols: cols}
	out.sql = "SELECT " + strings.Join(sel2, ", ") + " FROM " + from + " " + sqlKind + " " + rfrom + " ON " + cond
	return out
}

// splitAnd splits a condition joined by 'and'.
func splitAnd(x Expr) []Expr {
	if b, ok := x.(*Binary); ok && b.Op == "and" {
		return append(splitAnd(b.L), splitAnd(b.R)...)
	}
	return []Expr{x}
}

// sideRef resolves $left.x or $right.x in a join condition.
func (t *translator) sideRef(x Expr, l, r *rel) (texpr, string) {
	m, ok := x.(*Member)
	if !ok {
		t.fail(x, "a join condition compares $left.column with $right.column")
	}
	id, ok := m.X.(*Ident)
	if !ok || (id.Name != "$left" && id.Name != "$right") {
		t.fail(x, "a join condition compares $left.column with $right.column")
	}
	side, name := l, "left"
	if id.Name == "$right" {
		side, name = r, "right"
	}
	c, ok := side.find(m.Name)
	if !ok {
		t.fail(m, "unknown column '%s' on the %s side of the join%s; its columns are: %s", m.Name, name, didYouMean(m.Name, side.names()), columnList(side.names()))
	}
	return texpr{sql: sqlIdent(c.id), typ: c.typ}, name
}

func rightMember(b *Binary) (string, bool) {
	for _, x := range []Expr{b.L, b.R} {
		if m, ok := x.(*Member); ok {
			if id, ok := m.X.(*Ident); ok && id.Name == "$right" {
				return m.Name, true
			}
		}
	}
	return "", false
}

func leftMemberName(b *Binary) string {
	for _, x := range []Expr{b.L, b.R} {
		if m, ok := x.(*Member); ok {
			if id, ok := m.X.(*Ident); ok && id.Name == "$left" {
				return m.Name
			}
		}
	}
	return ""
}

// fuzzyLeg translates a union leg; with isfuzzy a leg that names a table
// or column that does not exist is left out (nil) instead of failing.
func (t *translator) fuzzyLeg(e *env, p *Pipe, fuzzy bool) (r *rel) {
	if !fuzzy {
		return t.pipe(e, p)
	}
	depth := t.depth
	defer func() {
		if x := recover(); x != nil {
			if _, ok := x.(*Error); !ok {
				panic(x)
			}
			t.depth = depth
			r = nil
		}
	}()
	return t.pipe(e, p)
}
