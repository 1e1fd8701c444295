package kql

import (
	"strconv"
	"strings"
)

// aggState marks a scope where aggregate functions may be called.
type aggState struct{}

// aggNames are the aggregation functions summarize accepts, with the
// prefix of the column name Kusto gives an unnamed one.
var aggNames = map[string]string{
	"count": "count", "countif": "countif", "dcount": "dcount", "dcountif": "dcountif",
	"sum": "sum", "sumif": "sumif", "avg": "avg", "avgif": "avgif", "min": "min", "max": "max",
	"minif": "minif", "maxif": "maxif", "make_set": "set", "make_set_if": "set", "makeset": "set",
	"make_list": "list", "make_list_if": "list", "makelist": "list", "make_list_with_nulls": "list",
	"make_bag": "bag", "make_bag_if": "bag", "percentile": "percentile", "percentiles": "percentile",
	"percentiles_array": "percentiles", "any": "any", "take_any": "any", "take_anyif": "any", "anyif": "any",
	"stdev": "stdev", "stdevp": "stdevp", "variance": "variance", "variancep": "variance",
	"count_distinct": "count_distinct", "arg_max": "max", "arg_min": "min",
	"hll": "hll", "hll_merge": "hll_merge", "tdigest": "tdigest", "tdigest_merge": "tdigest_merge", "merge_tdigest": "tdigest_merge", "binary_all_and": "binary_all_and",
	"binary_all_or": "binary_all_or", "binary_all_xor": "binary_all_xor",
	"covariance": "covariance", "covariancep": "covariancep", "covarianceif": "covarianceif", "covariancepif": "covariancepif",
	"varianceif": "varianceif", "variancepif": "variancepif", "stdevif": "stdevif", "stdevpif": "stdevpif",
	"percentilew": "percentile", "percentilesw": "percentile", "percentilesw_array": "percentile",
	"buildschema": "schema",
}

// aggregate translates a call of an aggregation function inside a
// summarize aggregate expression.
func (t *translator) aggregate(sc *scope, c *Call) texpr {
	if sc.aggs == nil {
		t.fail(c, "%s() is an aggregation function: it can be used only in summarize (or make-series)", c.Name)
	}
	inner := *sc
	inner.aggs = nil
	args := make([]texpr, 0, len(c.Args))
	for _, a := range c.Args {
		if _, ok := a.(*Star); ok {
			args = append(args, texpr{sql: "*", typ: tyLong})
			continue
		}
		args = append(args, t.expr(&inner, a))
	}
	need := func(min, max int) {
		if len(args) < min || max >= 0 && len(args) > max {
			t.fail(c, "%s takes %s", c.Name, arity(min, max))
		}
	}
	cond := func(i int) string { return t.asBool(c.Args[i], args[i]) }
	res := func(sql, typ string) texpr { return texpr{sql: sql, typ: typ, agg: true} }
	numeric := func(i int) texpr {
		x := args[i]
		if x.typ == tyDynamic {
			return texpr{sql: dynTo(x.sql, tyReal), typ: tyReal}
		}
		if !isNumeric(x.typ) && x.typ != tyTimespan && x.typ != tyBool {
			t.fail(c.Args[i], "%s needs a number, not a %s", c.Name, x.typ)
		}
		return x
	}
	sumType := func(x texpr) string {
		switch {
		case isIntegral(x.typ), x.typ == tyBool:
			return tyLong
		case x.typ == tyTimespan:
			return tyTimespan
		}
		return tyReal
	}
	value := func(i int) string {
		x := args[i]
		if x.typ == tyDynamic {
			return "CAST(" + x.sql + " AS VARCHAR)"
		}
		return x.sql
	}
	switch c.Name {
	case "count":
		need(0, 1)
		// count(x) counts rows, as count() does (Kusto's documented
		// result for a column with nulls)
		return res("count(*)", tyLong)
	case "countif":
		need(1, 1)
		return res("coalesce(count_if("+cond(0)+"), 0)", tyLong)
	case "dcount", "count_distinct":
		need(1, 2)
		return res("count(DISTINCT "+value(0)+")", tyLong)
	case "dcountif":
		need(2, 3)
		return res("count(DISTINCT CASE WHEN "+cond(1)+" THEN "+value(0)+" END)", tyLong)
	case "sum":
		need(1, 1)
		x := numeric(0)
		typ := sumType(x)
		return res("CAST(sum("+x.sql+") AS "+sqlType(typ)+")", typ)
	case "sumif":
		need(2, 2)
		x := numeric(0)
		typ := sumType(x)
		return res("CAST(sum(CASE WHEN "+cond(1)+" THEN "+x.sql+" END) AS "+sqlType(typ)+")", typ)
	case "avg":
		need(1, 1)
		x := numeric(0)
		if x.typ == tyTimespan {
			return res("CAST(avg("+x.sql+") AS BIGINT)", tyTimespan)
		}
		return res("avg("+x.sql+")", tyReal)
	case "avgif":
		need(2, 2)
		x := numeric(0)
		return res("avg(CASE WHEN "+cond(1)+" THEN "+x.sql+" END)", tyReal)
	case "min", "max":
		need(1, 1)
		x := args[0]
		if x.typ == tyDynamic {
			x = texpr{sql: dynTo(x.sql, tyReal), typ: tyReal}
		}
		return res(c.Name+"("+x.sql+")", x.typ)
	case "minif", "maxif":
		need(2, 2)
		x := args[0]
		return res(strings.TrimSuffix(c.Name, "if")+"(CASE WHEN "+cond(1)+" THEN "+x.sql+" END)", x.typ)
	case "stdev", "stdevp", "variance", "variancep":
		need(1, 1)
		fn := map[string]string{"stdev": "stddev_samp", "stdevp": "stddev_pop", "variance": "var_samp", "variancep": "var_pop"}[c.Name]
		return res(spreadSQL(fn, "CAST("+numeric(0).sql+" AS DOUBLE)"), tyReal)
	case "stdevif", "stdevpif", "varianceif", "variancepif":
		need(2, 2)
		fn := map[string]string{"stdevif": "stddev_samp", "stdevpif": "stddev_pop", "varianceif": "var_samp", "variancepif": "var_pop"}[c.Name]
		return res(spreadSQL(fn, "CASE WHEN "+cond(1)+" THEN CAST("+numeric(0).sql+" AS DOUBLE) END"), tyReal)
	case "covariance", "covariancep", "covarianceif", "covariancepif":
		isIf := strings.HasSuffix(c.Name, "if")
		if isIf {
			need(3, 3)
		} else {
			need(2, 2)
		}
		x, y := numeric(0), numeric(1)
		fn := "covar_samp"
		if strings.HasPrefix(c.Name, "covariancep") {
			fn = "covar_pop"
		}
		xs, ys := "CAST("+x.sql+" AS DOUBLE)", "CAST("+y.sql+" AS DOUBLE)"
		if isIf {
			xs = "CASE WHEN " + cond(2) + " THEN " + xs + " END"
			ys = "CASE WHEN " + cond(2) + " THEN " + ys + " END"
		}
		return res("coalesce("+fn+"("+ys+", "+xs+"), 0)", tyReal)
	case "buildschema":
		need(1, 1)
		return res("CAST(kql_buildschema(CAST(to_json(list("+toDynamic(args[0])+") FILTER (WHERE "+args[0].sql+" IS NOT NULL)) AS VARCHAR)) AS JSON)", tyDynamic)
	case "percentilew":
		need(3, 3)
		return res(weightedPercentileSQL(t, c, numeric(0), numeric(1), args[2]), numeric(0).typ)
	case "any", "take_any":
		need(1, 1)
		return res("any_value("+args[0].sql+")", args[0].typ)
	case "anyif", "take_anyif":
		need(2, 2)
		return res("any_value(CASE WHEN "+cond(1)+" THEN "+args[0].sql+" END)", args[0].typ)
	case "make_set", "makeset", "make_set_if", "make_list", "makelist", "make_list_if", "make_list_with_nulls":
		isIf := strings.HasSuffix(c.Name, "_if")
		if isIf {
			need(2, 3)
		} else {
			need(1, 2)
		}
		x := args[0]
		elem := toDynamic(x)
		filter := x.sql + " IS NOT NULL"
		if x.typ == tyDynamic {
			filter += " AND json_type(" + x.sql + ") <> 'NULL'"
		}
		if c.Name == "make_list_with_nulls" {
			filter = "TRUE"
		}
		if isIf {
			filter += " AND " + cond(1)
		}
		var list string
		set := strings.Contains(c.Name, "set")
		if set && x.typ == tyDynamic {
			// a dynamic array's elements join the set one by one
			list = "list_distinct(flatten(list(CASE WHEN json_type(" + x.sql + ") = 'ARRAY' THEN CAST(json_extract(" + x.sql + ", '$[*]') AS JSON[]) ELSE [" + x.sql + "] END) FILTER (WHERE " + filter + ")))"
		} else if set {
			list = "list(DISTINCT " + elem + ") FILTER (WHERE " + filter + ")"
		} else if x.typ == tyDynamic && c.Name != "make_list_with_nulls" {
			// as Kusto's documentation shows, the elements of array values
			// are appended one by one
			list = "flatten(list(CASE WHEN json_type(" + x.sql + ") = 'ARRAY' THEN CAST(json_extract(" + x.sql + ", '$[*]') AS JSON[]) ELSE [" + x.sql + "] END) FILTER (WHERE " + filter + "))"
		} else {
			list = "list(" + elem + ") FILTER (WHERE " + filter + ")"
		}
		maxIdx := 1
		if isIf {
			maxIdx = 2
		}
		if len(args) > maxIdx {
			list = "list_slice(" + list + ", 1, " + args[maxIdx].sql + ")"
		}
		return res("coalesce(to_json("+list+"), '[]')", tyDynamic)
	case "make_bag", "make_bag_if":
		// a key in several rows keeps one value (DuckDB's maps refuse
		// duplicate keys); at most maxSize keys (Kusto's default 1048576)
		x, maxIdx := args[0], 1
		filter := "json_type(" + x.sql + ") = 'OBJECT'"
		if c.Name == "make_bag_if" {
			need(2, 3)
			filter += " AND " + cond(1)
			maxIdx = 2
		} else {
			need(1, 2)
		}
		maxSize := "1048576"
		if len(args) > maxIdx {
			maxSize = t.arg(c, maxIdx, args[maxIdx], tyLong)
		}
		return res("coalesce(kql_make_bag(CAST(to_json(list("+x.sql+") FILTER (WHERE "+filter+")) AS VARCHAR), "+maxSize+"), '{}')", tyDynamic)
	case "percentile":
		need(2, 2)
		return res(percentileSQL(t, c, numeric(0), args[1]), numeric(0).typ)
	case "hll", "hll_merge", "tdigest", "tdigest_merge", "merge_tdigest":
		return t.sketchAggregate(c, args, res)
	case "binary_all_and", "binary_all_or", "binary_all_xor":
		need(1, 1)
		fn := map[string]string{"binary_all_and": "bit_and", "binary_all_or": "bit_or", "binary_all_xor": "bit_xor"}[c.Name]
		return res(fn+"("+args[0].sql+")", tyLong)
	case "arg_max", "arg_min", "percentiles", "percentiles_array":
		t.fail(c, "%s() must stand alone in summarize, not inside an expression", c.Name)
	}
	t.fail(c, "unknown aggregation function '%s'", c.Name)
	return texpr{}
}

// percentileSQL is the nearest-rank percentile Kusto computes.
func percentileSQL(t *translator, c *Call, x, p texpr) string {
	ps := t.arg(c, 1, p, tyReal)
	return "quantile_disc(" + x.sql + ", " + ps + " / 100.0)"
}

func arity(min, max int) string {
	switch {
	case min == max && min == 1:
		return "1 argument"
	case min == max:
		return strconv.Itoa(min) + " arguments"
	case max < 0:
		return "at least " + strconv.Itoa(min) + " arguments"
	}
	return strconv.Itoa(min) + " to " + strconv.Itoa(max) + " arguments"
}

// call translates a function call: a user function, an aggregation, a
// window function or a built-in scalar function.
func (t *translator) call(sc *scope, c *Call) texpr {
	if sc.graph != nil {
		if x, ok := t.graphCall(sc, c); ok {
			return x
		}
	}
	if b := sc.env.lookup(c.Name); b != nil && b.fn != nil {
		if t.fnIsTabular(b) {
			return t.scalarSubquery(sc, &Pipe{Pos: c.Pos, Source: &FuncSource{Pos: c.Pos, Call: c}}, c)
		}
		return t.callScalarFn(sc, b, c)
	}
	if _, ok := aggNames[c.Name]; ok && !isScalarMerge(c) {
		return t.aggregate(sc, c)
	}
	switch c.Name {
	case "toscalar":
		if len(c.Args) != 1 {
			t.fail(c, "toscalar takes 1 argument")
		}
		if sq, ok := c.Args[0].(*SubQuery); ok {
			return t.scalarSubquery(sc, sq.Pipe, c)
		}
		if p := t.asTabular(sc.env, c.Args[0]); p != nil {
			return t.scalarSubquery(sc, p, c)
		}
		return t.expr(sc, c.Args[0])
	case "column_names_of":
		// the column names of a tabular value, as a dynamic array
		if len(c.Args) != 1 {
			t.fail(c, "column_names_of takes 1 argument, a table")
		}
		p := t.asTabular(sc.env, c.Args[0])
		if p == nil {
			t.fail(c.Args[0], "column_names_of takes a table: a table name, a tabular let value or a tabular function call")
		}
		names := t.pipe(sc.env, p).names()
		return texpr{sql: sqlJSON(names), typ: tyDynamic}
	case "ingestion_time":
		// when cdewatch accepted the record: the ReceivedTime column of the
		// catalog tables, while the rows have it; null otherwise
		if len(c.Args) != 0 {
			t.fail(c, "ingestion_time takes no arguments")
		}
		if sc.r != nil {
			if rt, ok := sc.r.find("ReceivedTime"); ok && rt.typ == tyDateTime {
				return texpr{sql: sqlIdent(rt.id), typ: tyDateTime}
			}
		}
		return texpr{sql: sqlNull(tyDateTime), typ: tyDateTime}
	case "pack_all":
		return t.packAll(sc, c)
	case "row_number", "prev", "next", "row_cumsum":
		return t.window(sc, c)
	case "row_window_session":
		return t.windowSession(sc, c)
	case "materialize":
		t.fail(c, "materialize() gives a table, not a scalar")
	case "column_ifexists":
		if len(c.Args) != 2 {
			t.fail(c, "column_ifexists takes 2 arguments")
		}
		if id, ok := c.Args[0].(*Literal); ok && id.Kind == LitString && sc.r != nil {
			if col, ok := sc.r.find(id.Value); ok {
				return texpr{sql: sqlIdent(col.id), typ: col.typ, name: col.name}
			}
		}
		return t.expr(sc, c.Args[1])
	}
	spec, ok := scalarFuncs[c.Name]
	if !ok {
		t.fail(c, "unknown function '%s'%s", c.Name, didYouMean(c.Name, functionNames()))
	}
	if len(c.Args) < spec.min || spec.max >= 0 && len(c.Args) > spec.max {
		t.fail(c, "%s takes %s, not %d", c.Name, arity(spec.min, spec.max), len(c.Args))
	}
	args := make([]texpr, len(c.Args))
	agg := false
	for i, a := range c.Args {
		args[i] = t.expr(sc, a)
		agg = agg || args[i].agg
	}
	x := spec.impl(t, c, args)
	x.agg = x.agg || agg
	if x.name == "" && len(args) > 0 && nameKeeping[c.Name] {
		x.name = args[0].name
	}
	if x.name == "" && len(args) > 0 {
		x.name = sketchName(c.Name, args[0].name)
	}
	return x
}

// nameKeeping are the functions whose result Kusto names after their first
// argument when the column is not named (in summarize by and project).
var nameKeeping = map[string]bool{
	"bin": true, "floor": true, "bin_at": true, "bin_auto": true, "tostring": true, "toint": true, "tolong": true,
	"todouble": true, "toreal": true, "tobool": true, "todatetime": true, "totimespan": true,
	"todecimal": true, "toguid": true, "startofday": true, "startofweek": true, "startofmonth": true,
	"startofyear": true, "todynamic": true, "parse_json": true,
}

var fnNames []string

// functionNames lists every function, for suggestions.
func functionNames() []string {
	if fnNames == nil {
		var names []string
		for n := range scalarFuncs {
			names = append(names, n)
		}
		for n := range aggNames {
			names = append(names, n)
		}
		fnNames = sortStrings(names)
	}
	return fnNames
}

// callScalarFn expands a user function returning a scalar.
func (t *translator) callScalarFn(sc *scope, b *binding, c *Call) texpr {
	e := t.bindArgs(sc, b, c)
	body := b.fn.Body
	for _, l := range body.Lets {
		t.bindLet(e, l)
	}
	if body.Value == nil {
		t.fail(c, "function '%s' returns a table, not a scalar", c.Name)
	}
	inner := *sc
	inner.env = e
	x := t.expr(&inner, body.Value)
	x.name = ""
	return x
}

// bindArgs binds a user function's parameters to a call's arguments.
func (t *translator) bindArgs(sc *scope, b *binding, c *Call) *env {
	t.depth += 10
	if t.depth > 400 {
		t.fail(c, "function '%s' calls itself too deeply", c.Name)
	}
	defer func() { t.depth -= 10 }()
	e := b.env.child()
	params := b.fn.Params
	if len(c.Args) > len(params) {
		t.fail(c, "function '%s' takes %d arguments, not %d", c.Name, len(params), len(c.Args))
	}
	for i, p := range params {
		var arg Expr
		if i < len(c.Args) {
			arg = c.Args[i]
		}
		if na, ok := arg.(*NamedArg); ok {
			arg = na.Value
		}
		if arg == nil {
			for _, a := range c.Args {
				if na, ok := a.(*NamedArg); ok && na.Name == p.Name.Name {
					arg = na.Value
				}
			}
		}
		if arg == nil {
			if p.Default == nil {
				t.fail(c, "function '%s' needs its argument '%s'", c.Name, p.Name.Name)
			}
			arg = p.Default
		}
		if p.Tabular {
			var r *rel
			if pp := t.asTabular(sc.env, arg); pp != nil {
				r = t.pipe(sc.env, pp)
			} else {
				t.fail(arg, "argument '%s' of '%s' must be a table", p.Name.Name, c.Name)
			}
			e.names[p.Name.Name] = &binding{rel: r}
			continue
		}
		x := t.expr(sc, arg)
		if p.Type != "" && p.Type != x.typ && x.typ != tyNull {
			x = texpr{sql: t.convert(arg, x, p.Type), typ: p.Type}
		}
		x.name = ""
		e.names[p.Name.Name] = &binding{scalar: &x}
	}
	return e
}

// callTabular expands a user function returning a table.
func (t *translator) callTabular(e *env, b *binding, c *Call) *rel {
	fe := t.bindArgs(&scope{env: e}, b, c)
	body := b.fn.Body
	for _, l := range body.Lets {
		t.bindLet(fe, l)
	}
	if body.Tabular != nil {
		return t.pipe(fe, body.Tabular)
	}
	if p := t.asTabular(fe, body.Value); p != nil {
		return t.pipe(fe, p)
	}
	t.fail(c, "function '%s' returns a scalar, not a table", c.Name)
	return nil
}

// window translates row_number(), prev(), next() and row_cumsum(), which
// need rows in a fixed order (after serialize, order by or top).
func (t *translator) window(sc *scope, c *Call) texpr {
	if sc.colRef != nil {
		t.fail(c, "%s() cannot be used in scan's steps: read the row before through the state, StepName.Column", c.Name)
	}
	if !sc.window || sc.r == nil || !sc.r.ordered {
		t.fail(c, "%s() needs ordered rows: put it after serialize, order by or top", c.Name)
	}
	partition, order := "", rowOrder(sc.r)
	if isRestartCall(c) {
		rc, ok := sc.restarts[c]
		if !ok {
			t.fail(c, "%s() with a restart argument is supported in extend and project only", c.Name)
		}
		partition, order = "PARTITION BY "+sqlIdent(rc.group)+" ", "ORDER BY "+sqlIdent(rc.pos)
	}
	over := "OVER (" + partition + order + ")"
	args := make([]texpr, len(c.Args))
	for i, a := range c.Args {
		args[i] = t.expr(sc, a)
	}
	switch c.Name {
	case "row_number":
		start := "1"
		if len(args) > 0 {
			start = t.arg(c, 0, args[0], tyLong)
		}
		return texpr{sql: "(row_number() " + over + " - 1 + " + start + ")", typ: tyLong}
	case "prev", "next":
		if len(args) < 1 || len(args) > 3 {
			t.fail(c, "%s takes 1 to 3 arguments", c.Name)
		}
		fn := "lag"
		if c.Name == "next" {
			fn = "lead"
		}
		parts := []string{args[0].sql, "1"}
		if len(args) > 1 {
			parts[1] = t.arg(c, 1, args[1], tyLong)
		}
		if len(args) > 2 {
			parts = append(parts, t.arg(c, 2, args[2], args[0].typ))
		}
		return texpr{sql: fn + "(" + strings.Join(parts, ", ") + ") " + over, typ: args[0].typ}
	case "row_cumsum":
		if len(args) < 1 {
			t.fail(c, "row_cumsum takes 1 or 2 arguments")
		}
		typ := args[0].typ
		return texpr{sql: "sum(" + args[0].sql + ") OVER (" + partition + order + " ROWS UNBOUNDED PRECEDING)", typ: typ}
	}
	return texpr{}
}

// spreadSQL is a variance or standard deviation (DuckDB's fn) of the
// values x: NaN when one of them is not finite (DuckDB's functions fail
// the query then; a division by zero gives an infinity), 0 without values.
func spreadSQL(fn, x string) string {
	return "CASE WHEN bool_or(NOT isfinite(" + x + ")) THEN 'NaN'::DOUBLE ELSE coalesce(" + fn + "(" + x + ") FILTER (WHERE isfinite(" + x + ")), 0) END"
}

// restartCols are the helper columns of a window function's restart
// argument: the group of each row (how many restarts up to it) and its
// position in the rows.
type restartCols struct{ group, pos string }

// isRestartCall reports whether c is a window function given a restart
// argument: row_cumsum(Term, Restart), row_number(Start, Restart).
func isRestartCall(c *Call) bool {
	return (c.Name == "row_cumsum" || c.Name == "row_number") && len(c.Args) == 2
}

// sequentialCalls returns the calls of x that extend and project compute
// in layers of their own before the expression: the restarting window
// functions and row_window_session. It does not look into subqueries
// (translated on their own).
func sequentialCalls(x Expr) (restarts, sessions []*Call) {
	Inspect(x, func(n Node) bool {
		switch v := n.(type) {
		case *SubQuery, *Pipe:
			return false
		case *Call:
			if isRestartCall(v) {
				restarts = append(restarts, v)
			}
			if isSessionCall(v) {
				sessions = append(sessions, v)
			}
		}
		return true
	})
	return restarts, sessions
}

// restartLayer adds to cur, ordered rows, the helper columns of calls and
// returns the position column:
// each call's restart condition (it may hold window functions itself),
// then a position column and, for each call, a group column that starts a
// new group at every row where its condition holds. A window over a group,
// in position order, then starts again at each restart (window functions
// cannot be nested in one SELECT). The rows leave such a window in another
// order, so the result is ordered by position too: later windows and the
// operator's result (restoreOrder) follow it.
func (t *translator) restartLayer(sc *scope, cur *rel, calls []*Call) (*rel, string, map[*Call]restartCols) {
	if !cur.ordered {
		t.fail(calls[0], "%s() needs ordered rows: put it after serialize, order by or top", calls[0].Name)
	}
	conds := make([]col, len(calls))
	condExprs := make([]string, len(calls))
	for i, c := range calls {
		conds[i] = helperCol(t, tyBool)
		condExprs[i] = t.asBool(c.Args[1], t.expr(sc, c.Args[1]))
	}
	cur = addColumns(t, cur, conds, condExprs)
	order := rowOrder(cur)
	pos := helperCol(t, tyLong)
	helpers := []col{pos}
	helperExprs := []string{"row_number() OVER (" + order + ")"}
	out := map[*Call]restartCols{}
	for i, c := range calls {
		g := helperCol(t, tyLong)
		helpers = append(helpers, g)
		helperExprs = append(helperExprs, "sum(CASE WHEN "+sqlIdent(conds[i].id)+" THEN 1 ELSE 0 END) OVER ("+order+" ROWS UNBOUNDED PRECEDING)")
		out[c] = restartCols{group: g.id, pos: pos.id}
	}
	cur = addColumns(t, cur, helpers, helperExprs)
	cur.order = append(append([]orderTerm(nil), cur.order...), orderTerm{sql: sqlIdent(pos.id)})
	return cur, pos.id, out
}

// helperCol is a column an operator needs while it runs and drops from
// its result; its name starts with a NUL, which no query writes.
func helperCol(t *translator, typ string) col {
	id := t.newID()
	return col{name: "\x00" + id, typ: typ, id: id, hidden: true}
}

// addColumns returns r with the columns cols (SQL exprs over r) added,
// keeping r's order.
func addColumns(t *translator, r *rel, cols []col, exprs []string) *rel {
	out := t.project(r, append(append([]col(nil), r.cols...), cols...), append(passThrough(r.cols), exprs...))
	out.order = r.order
	return out
}

// restoreOrder puts out, projected from a relation whose rows a restarting
// window or a session join reordered, back in the order of the rows (pos, a column of the
// relation out selects from), and gives it the order keys it had before
// (order) when its columns still hold them.
func restoreOrder(out *rel, pos string, order []orderTerm) *rel {
	out.sql += " ORDER BY " + sqlIdent(pos)
	out.order = nil
	if orderValid(order, out.cols) {
		out.order = order
	}
	return out
}

// rowOrder is the ORDER BY of a window over an ordered relation's rows:
// its sort keys, or nothing when the order is only that of the rows as
// they come (DuckDB evaluates a window without keys in input order).
func rowOrder(r *rel) string {
	if len(r.order) > 0 && orderValid(r.order, r.cols) {
		return "ORDER BY " + joinOrder(r.order)
	}
	return ""
}

// weightedPercentileSQL is the nearest-rank percentile p of x where each
// value counts weight times: the smallest value whose cumulative weight
// reaches p% of the total.
func weightedPercentileSQL(t *translator, c *Call, x, w, p texpr) string {
	list := "list({'v': CAST(" + x.sql + " AS DOUBLE), 'w': CAST(" + w.sql + " AS DOUBLE)} ORDER BY " + x.sql + ") FILTER (WHERE " + x.sql + " IS NOT NULL AND " + w.sql + " > 0)"
	s := "kql_weighted_percentile(CAST(to_json(" + list + ") AS VARCHAR), " + t.arg(c, 2, p, tyReal) + ")"
	if isIntegral(x.typ) {
		return "CAST(" + s + " AS " + sqlType(x.typ) + ")"
	}
	return s
}
