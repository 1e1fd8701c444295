package kql

import (
	"cmp"
	"fmt"
	"strings"
)

// evaluate translates the evaluate plugins cdewatch supports.
func (t *translator) evaluate(e *env, r *rel, v *Evaluate) *rel {
	switch v.Call.Name {
	case "bag_unpack":
		return t.bagUnpack(e, r, v)
	case "dcount_intersect":
		return t.dcountIntersect(e, r, v)
	case "rolling_percentile":
		return t.rollingPercentile(e, r, v)
	case "sliding_window_counts":
		return t.slidingWindowCounts(e, r, v)
	case "rows_near":
		return t.rowsNear(e, r, v)
	case "schema_merge":
		return t.schemaMerge(r, v)
	case "ipv4_lookup", "ipv6_lookup", "geo_polygon_lookup", "geo_line_lookup":
		return t.lookupPlugin(e, r, v)
	case "activity_counts_metrics":
		return t.activityCountsMetrics(e, r, v)
	case "active_users_count":
		return t.activeUsersCount(e, r, v)
	case "pivot":
		return t.pivot(e, r, v)
	case "narrow":
		return t.narrow(r, v)
	}
	t.fail(v, "evaluate %s is not supported (cdewatch supports active_users_count, activity_counts_metrics, bag_unpack, dcount_intersect, geo_line_lookup, geo_polygon_lookup, ipv4_lookup, ipv6_lookup, narrow, pivot, rolling_percentile, rows_near, schema_merge and sliding_window_counts)", v.Call.Name)
	return nil
}

// pluginArgs translates a plugin's arguments, checking their number.
func (t *translator) pluginArgs(sc *scope, c *Call, min, max int) []texpr {
	if len(c.Args) < min || max >= 0 && len(c.Args) > max {
		t.fail(c, "%s takes %s", c.Name, arity(min, max))
	}
	out := make([]texpr, len(c.Args))
	for i, a := range c.Args {
		out[i] = t.expr(sc, a)
	}
	return out
}

// rollingPercentile is evaluate rolling_percentile(Value, Percentile,
// Index, BinSize, BinsToLookBack [, Dimension, ...]): for each bin of Index
// (and dimensions), the percentile of the values of that bin and the
// BinsToLookBack-1 before it.
func (t *translator) rollingPercentile(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	sc := &scope{env: e, r: r}
	a := t.pluginArgs(sc, c, 5, -1)
	val, pct, idx := a[0], a[1], a[2]
	n := t.constLong(e, c.Args[4], "rolling_percentile")
	bin := binFn(t, c, []texpr{idx, a[3]})
	var size string
	if idx.typ == tyDateTime {
		size = t.arg(c, 3, a[3], tyTimespan)
	} else {
		size = t.arg(c, 3, a[3], idx.typ)
	}
	// one row per (bin, dimensions) with the bin's values
	binned := "SELECT " + bin.sql + " AS b, " + val.sql + " AS v"
	var dims, dimCols []string
	var outCols []col
	idxName := idx.name
	if idxName == "" {
		idxName = "Index"
	}
	outCols = append(outCols, col{name: idxName, typ: idx.typ, id: t.newID()})
	for i, d := range a[5:] {
		binned += ", " + d.sql + " AS d" + itoa(i)
		dims = append(dims, "d"+itoa(i))
		name := d.name
		if name == "" {
			name = fmt.Sprintf("Dimension%d", i+1)
		}
		outCols = append(outCols, col{name: name, typ: d.typ, id: t.newID()})
		dimCols = append(dimCols, "x.d"+itoa(i)+" = y.d"+itoa(i))
	}
	binned += " FROM (" + r.sql + ") AS " + t.alias()
	pctName := strings.ReplaceAll(FormatValue(litValue(pct)), ".", "_")
	valName := val.name
	outCols = append(outCols, col{name: fmt.Sprintf("rolling_%d_percentile_%s_%s", n, valName, pctName), typ: val.typ, id: t.newID()})
	keys := append([]string{"b"}, dims...)
	on := append([]string{"y.b > x.b - " + fmt.Sprint(n) + " * " + stepOf(idx.typ, size), "y.b <= x.b"}, dimCols...)
	var sel []string
	sel = append(sel, "x.b AS "+sqlIdent(outCols[0].id))
	for i := range dims {
		sel = append(sel, "x.d"+itoa(i)+" AS "+sqlIdent(outCols[i+1].id))
	}
	sel = append(sel, "quantile_disc(y.v, "+t.arg(c, 1, pct, tyReal)+" / 100.0) AS "+sqlIdent(outCols[len(outCols)-1].id))
	group := make([]string, len(keys))
	for i := range keys {
		group[i] = itoa(i + 1)
	}
	q := "WITH bins AS (" + binned + "), keys AS (SELECT DISTINCT " + strings.Join(keys, ", ") + " FROM bins) " +
		"SELECT " + strings.Join(sel, ", ") + " FROM keys AS x JOIN bins AS y ON " + strings.Join(on, " AND ") + " GROUP BY " + strings.Join(group, ", ")
	return &rel{sql: q, cols: outCols}
}

// stepOf renders a bin size for arithmetic on the bin values' type.
func stepOf(typ, size string) string {
	if typ == tyDateTime {
		return "to_microseconds(" + size + ")"
	}
	return size
}

// litValue returns a literal's value for naming, or its SQL.
func litValue(x texpr) any {
	if x.lit != nil {
		return x.lit.Value
	}
	return x.sql
}

// slidingWindowCounts is evaluate sliding_window_counts(Id, Timeline,
// Start, End, LookbackWindow, Bin [, Dimension, ...]): for each bin from
// Start to End, the count and distinct count of Id over the lookback
// window ending with that bin.
func (t *translator) slidingWindowCounts(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	sc := &scope{env: e, r: r}
	a := t.pluginArgs(sc, c, 6, -1)
	id, ts := a[0], a[1]
	if ts.typ != tyDateTime {
		t.fail(c.Args[1], "sliding_window_counts needs a datetime timeline, not a %s", ts.typ)
	}
	start, end := t.arg(c, 2, a[2], tyDateTime), t.arg(c, 3, a[3], tyDateTime)
	look, bin := t.arg(c, 4, a[4], tyTimespan), t.arg(c, 5, a[5], tyTimespan)
	outCols := []col{{name: "Timestamp", typ: tyDateTime, id: t.newID()}}
	var dims, dimOn, dimSel []string
	src := "SELECT " + ts.sql + " AS ts, " + id.sql + " AS id"
	for i, d := range a[6:] {
		src += ", " + d.sql + " AS d" + itoa(i)
		dims = append(dims, "d"+itoa(i))
		name := d.name
		if name == "" {
			name = fmt.Sprintf("Dimension%d", i+1)
		}
		outCols = append(outCols, col{name: name, typ: d.typ, id: t.newID()})
		dimOn = append(dimOn, "k.d"+itoa(i)+" = s.d"+itoa(i))
		dimSel = append(dimSel, "k.d"+itoa(i)+" AS "+sqlIdent(outCols[len(outCols)-1].id))
	}
	src += " FROM (" + r.sql + ") AS " + t.alias()
	outCols = append(outCols, col{name: "Count", typ: tyLong, id: t.newID()}, col{name: "dcount", typ: tyLong, id: t.newID()})
	n := len(outCols)
	bins := "SELECT generate_series AS b FROM generate_series(" + start + ", " + end + ", to_microseconds(" + bin + "))"
	keys := "SELECT b FROM bins"
	if len(dims) > 0 {
		keys = "SELECT b, " + strings.Join(dims, ", ") + " FROM bins, (SELECT DISTINCT " + strings.Join(dims, ", ") + " FROM src)"
	}
	on := append([]string{"s.ts >= k.b + to_microseconds(" + bin + ") - to_microseconds(" + look + ")", "s.ts < k.b + to_microseconds(" + bin + ")"}, dimOn...)
	sel := append([]string{"k.b AS " + sqlIdent(outCols[0].id)}, dimSel...)
	sel = append(sel, "count(s.id) AS "+sqlIdent(outCols[n-2].id), "count(DISTINCT s.id) AS "+sqlIdent(outCols[n-1].id))
	group := make([]string, 1+len(dims))
	for i := range group {
		group[i] = itoa(i + 1)
	}
	q := "WITH src AS (" + src + "), bins AS (" + bins + "), k AS (" + keys + ") SELECT " + strings.Join(sel, ", ") +
		" FROM k LEFT JOIN src AS s ON " + strings.Join(on, " AND ") + " GROUP BY " + strings.Join(group, ", ") + " ORDER BY 1"
	return &rel{sql: q, cols: outCols, ordered: true}
}

// rowsNear is evaluate rows_near(Predicate, Before [, After]): the rows
// within Before rows before and After rows after any row where Predicate
// holds, in the input's order.
func (t *translator) rowsNear(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	if len(c.Args) < 2 || len(c.Args) > 3 {
		t.fail(c, "rows_near takes 2 or 3 arguments")
	}
	pred := t.asBool(c.Args[0], t.expr(&scope{env: e, r: r}, c.Args[0]))
	before := t.constLong(e, c.Args[1], "rows_near")
	after := before
	if len(c.Args) == 3 {
		after = t.constLong(e, c.Args[2], "rows_near")
	}
	over := "OVER (" + rowOrder(r) + " ROWS BETWEEN " + fmt.Sprint(after) + " PRECEDING AND " + fmt.Sprint(before) + " FOLLOWING)"
	out := *r
	out.sql = "SELECT * EXCLUDE (_near) FROM (SELECT *, max(CASE WHEN " + pred + " THEN 1 ELSE 0 END) " + over + " AS _near FROM (" + r.sql + ") AS " + t.alias() + ") AS " + t.alias() + " WHERE _near = 1"
	return &out
}

// schemaMerge is evaluate schema_merge(): getschema rows of several
// tables merged into one schema, columns in the order they first appear.
func (t *translator) schemaMerge(r *rel, v *Evaluate) *rel {
	need := []string{"ColumnName", "ColumnOrdinal", "DataType", "ColumnType"}
	ids := make([]string, len(need))
	for i, n := range need {
		c, ok := r.find(n)
		if !ok {
			t.fail(v, "schema_merge needs the output of getschema (column %s is missing)", n)
		}
		ids[i] = sqlIdent(c.id)
	}
	out := &rel{ordered: true}
	for i, n := range need {
		typ := tyString
		if i == 1 {
			typ = tyInt
		}
		out.cols = append(out.cols, col{name: n, typ: typ, id: t.newID()})
	}
	a := t.alias()
	out.sql = "SELECT " + ids[0] + " AS " + sqlIdent(out.cols[0].id) + ", CAST(row_number() OVER (ORDER BY min(o), min(rn)) - 1 AS INTEGER) AS " + sqlIdent(out.cols[1].id) +
		", first(" + ids[2] + " ORDER BY rn) AS " + sqlIdent(out.cols[2].id) + ", first(" + ids[3] + " ORDER BY rn) AS " + sqlIdent(out.cols[3].id) +
		" FROM (SELECT *, " + ids[1] + " AS o, row_number() OVER () AS rn FROM (" + r.sql + ") AS " + a + ") GROUP BY " + ids[0] + " ORDER BY min(o), min(rn)"
	return out
}

// lookupPlugin translates the evaluate plugins that join the input with a
// lookup table on a predicate over both sides: ipv4_lookup, ipv6_lookup,
// geo_polygon_lookup and geo_line_lookup. Rows of the input without a
// match are kept (with nulls) when return_unmatched is true; the lookup
// key column is returned when return_lookup_key is true (or always, for
// the IP lookups, as Kusto does).
func (t *translator) lookupPlugin(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	var pos []Expr
	named := map[string]Expr{}
	for _, a := range c.Args {
		if na, ok := a.(*NamedArg); ok {
			named[na.Name] = na.Value
			continue
		}
		pos = append(pos, a)
	}
	boolArg := func(name string, at int) bool {
		x, ok := named[name]
		if !ok && at >= 0 && at < len(pos) {
			x = pos[at]
		}
		if x == nil {
			return false
		}
		l, ok := x.(*Literal)
		return ok && l.Kind == LitBool && l.Value == "true"
	}
	if len(pos) < 3 {
		t.fail(c, "%s needs the lookup table, its key column and the input's column(s)", c.Name)
	}
	lookupPipe := t.asTabular(e, pos[0])
	if lookupPipe == nil {
		t.fail(pos[0], "%s needs a table as its first argument", c.Name)
	}
	right := t.pipe(e, lookupPipe)
	// fresh ids on the right, so that both sides can be named in one scope
	rcols := make([]col, len(right.cols))
	var sel []string
	for i, rc := range right.cols {
		rcols[i] = col{name: rc.name, typ: rc.typ, id: t.newID()}
		sel = append(sel, sqlIdent(rc.id)+" AS "+sqlIdent(rcols[i].id))
	}
	right = &rel{sql: "SELECT " + strings.Join(sel, ", ") + " FROM (" + right.sql + ") AS " + t.alias(), cols: rcols}
	ident := func(x Expr) *Ident {
		id, ok := x.(*Ident)
		if !ok {
			t.fail(x, "%s needs a column name here", c.Name)
		}
		return id
	}
	// the lookup table's key column: ipv4_lookup(T, SourceKey, LookupRange),
	// geo_*_lookup(T, LookupKey, ...)
	keyAt := 1
	if c.Name == "ipv4_lookup" || c.Name == "ipv6_lookup" {
		keyAt = 2
	}
	key := ident(pos[keyAt])
	keyCol, ok := right.find(key.Name)
	if !ok {
		t.fail(key, "unknown column '%s' in the lookup table; its columns are: %s", key.Name, columnList(right.names()))
	}
	// the predicate is KQL over a scope holding both sides' columns, the
	// lookup table's under their names prefixed with "$lookup."
	both := &rel{cols: append([]col(nil), r.cols...)}
	for _, rc := range right.cols {
		both.cols = append(both.cols, col{name: "$lookup." + rc.name, typ: rc.typ, id: rc.id})
	}
	keyRef := &Ident{Pos: key.Pos, Name: "$lookup." + key.Name}
	var pred Expr
	unmatched, withKey := false, false
	switch c.Name {
	case "ipv4_lookup", "ipv6_lookup":
		fn := "ipv4_is_in_range"
		if c.Name == "ipv6_lookup" {
			fn = "ipv6_is_in_range"
		}
		pred = &Call{Pos: c.Pos, Name: fn, Args: []Expr{ident(pos[1]), keyRef}}
		unmatched, withKey = boolArg("return_unmatched", 3), true
	case "geo_polygon_lookup":
		if len(pos) < 4 {
			t.fail(c, "geo_polygon_lookup needs the polygons, their column, and the longitude and latitude columns")
		}
		lng, lat := ident(pos[2]), ident(pos[3])
		if radius, ok := named["radius"]; ok {
			pred = &Binary{Pos: c.Pos, Op: "<=", L: &Call{Pos: c.Pos, Name: "geo_distance_point_to_polygon", Args: []Expr{lng, lat, keyRef}}, R: radius}
		} else {
			pred = &Call{Pos: c.Pos, Name: "geo_point_in_polygon", Args: []Expr{lng, lat, keyRef}}
		}
		unmatched, withKey = boolArg("return_unmatched", -1), boolArg("return_lookup_key", -1)
	case "geo_line_lookup":
		if len(pos) < 5 {
			t.fail(c, "geo_line_lookup needs the lines, their column, the longitude and latitude columns and the distance")
		}
		lng, lat := ident(pos[2]), ident(pos[3])
		pred = &Binary{Pos: c.Pos, Op: "<=", L: &Call{Pos: c.Pos, Name: "geo_distance_point_to_line", Args: []Expr{lng, lat, keyRef}}, R: pos[4]}
		unmatched, withKey = boolArg("return_unmatched", -1), boolArg("return_lookup_key", -1)
	}
	cond := t.asBool(pred, t.expr(&scope{env: e, r: both}, pred))
	var cols []col
	var exprs []string
	add := func(side []col, nullable bool) {
		for _, sc := range side {
			if sc.id == keyCol.id && !withKey {
				continue
			}
			nc := col{name: uniqueName(sc.name, cols), typ: sc.typ, id: sc.id}
			x := sqlIdent(sc.id)
			if nullable && sc.typ == tyString {
				x = "coalesce(" + x + ", '')"
			}
			cols = append(cols, nc)
			exprs = append(exprs, x)
		}
	}
	if c.Name == "ipv6_lookup" {
		add(right.cols, unmatched)
		add(r.cols, false)
	} else {
		add(r.cols, false)
		add(right.cols, unmatched)
	}
	join := "JOIN"
	if unmatched {
		join = "LEFT JOIN"
	}
	var out []string
	for i, col := range cols {
		out = append(out, exprs[i]+" AS "+sqlIdent(col.id))
	}
	// ids are unique on both sides, so the condition needs no aliases
	return &rel{sql: "SELECT " + strings.Join(out, ", ") + " FROM (" + r.sql + ") AS " + t.alias() + " " + join + " (" + right.sql + ") AS " + t.alias() + " ON " + cond, cols: cols}
}

// activityCountsMetrics is evaluate activity_counts_metrics(Id, Timeline,
// Start, End, Window): for each window from Start to End, the rows, the
// distinct ids, the ids seen for the first time and the distinct ids seen
// so far.
func (t *translator) activityCountsMetrics(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	sc := &scope{env: e, r: r}
	a := t.pluginArgs(sc, c, 5, 5)
	id, ts := a[0], a[1]
	if ts.typ != tyDateTime {
		t.fail(c.Args[1], "activity_counts_metrics needs a datetime timeline, not a %s", ts.typ)
	}
	start, end := t.arg(c, 2, a[2], tyDateTime), t.arg(c, 3, a[3], tyDateTime)
	win := "to_microseconds(" + t.arg(c, 4, a[4], tyTimespan) + ")"
	name := cmp.Or(ts.name, "Timestamp")
	out := &rel{ordered: true}
	for _, cn := range []struct{ n, typ string }{{name, tyDateTime}, {"count", tyLong}, {"dcount", tyLong}, {"new_dcount", tyLong}, {"aggregated_dcount", tyLong}} {
		out.cols = append(out.cols, col{name: cn.n, typ: cn.typ, id: t.newID()})
	}
	ids := make([]string, len(out.cols))
	for i, oc := range out.cols {
		ids[i] = sqlIdent(oc.id)
	}
	// each row's window: start + k * window
	binned := "SELECT " + start + " + to_microseconds(CAST(floor((epoch_us(" + ts.sql + ") - epoch_us(" + start + ")) / CAST(" + t.arg(c, 4, a[4], tyTimespan) + " AS DOUBLE)) AS BIGINT) * " + t.arg(c, 4, a[4], tyTimespan) + ") AS b, " + id.sql + " AS id FROM (" + r.sql + ") AS " + t.alias() + " WHERE " + ts.sql + " >= " + start + " AND " + ts.sql + " < " + end + " + " + win
	out.sql = "WITH s AS (" + binned + "), f AS (SELECT id, min(b) AS fb FROM s GROUP BY id), w AS (SELECT generate_series AS b FROM generate_series(" + start + ", " + end + ", " + win + ")) " +
		"SELECT w.b AS " + ids[0] + ", count(s.id) AS " + ids[1] + ", count(DISTINCT s.id) AS " + ids[2] +
		", (SELECT count(*) FROM f WHERE f.fb = w.b) AS " + ids[3] + ", (SELECT count(*) FROM f WHERE f.fb <= w.b) AS " + ids[4] +
		" FROM w LEFT JOIN s ON s.b = w.b GROUP BY w.b ORDER BY w.b"
	return out
}
