package kql

import (
	"fmt"
	"strconv"
	"strings"
)

// maxSeriesLen is the longest array make-series builds (Kusto's limit,
// 2^20 values); longer series are truncated.
const maxSeriesLen = 1 << 20

// makeSeries translates make-series: the rows are grouped by the by
// keys and by their bin on the axis (bin_at(Axis, step, start)), each
// aggregate is computed per group, and each key group becomes one row
// holding every aggregate as an array over the bins from start to end
// (bins without rows take the aggregate's default, 0 unless given) and
// the axis itself as an array of bin starts. Without from, start is the
// bin of the smallest axis value; without to, the series end with the bin
// of the largest (over all the input, so every series has the same
// axis). Empty input gives no rows, unless kind=nonempty, which gives
// one row of defaults. The columns are the by keys, the aggregates and
// the axis, in that order.
//
// The `in range(start, stop, step)` form is read as from start to stop.
func (t *translator) makeSeries(e *env, r *rel, v *MakeSeries) *rel {
	sc := &scope{env: e, r: r}
	ax := t.expr(sc, v.On)
	if ax.agg {
		t.fail(v.On, "the make-series axis cannot contain an aggregation")
	}
	if ax.typ == tyDynamic {
		ax = texpr{sql: dynTo(ax.sql, tyReal), typ: tyReal, name: ax.name}
	}
	axName := ax.name
	if axName == "" {
		axName = "Column1"
	}
	// the axis as a number: microseconds for datetime and timespan
	var axNum, stepSQL, numType string
	constScope := &scope{env: e}
	if st := t.expr(constScope, v.Step); st.lit != nil && !st.lit.Null {
		f, ok := st.lit.Float()
		if n, isInt := st.lit.Int(); isInt {
			f, ok = float64(n), true
		}
		if ticks, isSpan := st.lit.Ticks(); isSpan {
			f, ok = float64(ticks), true
		}
		if ok && f <= 0 {
			t.fail(v.Step, "the make-series step must be positive")
		}
	}
	switch {
	case ax.typ == tyDateTime:
		axNum = "epoch_us(" + ax.sql + ")"
		stepSQL = t.convert(v.Step, t.expr(constScope, v.Step), tyTimespan)
		numType = "BIGINT"
	case ax.typ == tyTimespan:
		axNum = ax.sql
		stepSQL = t.convert(v.Step, t.expr(constScope, v.Step), tyTimespan)
		numType = "BIGINT"
	case isNumeric(ax.typ):
		st := t.expr(constScope, v.Step)
		if isIntegral(ax.typ) && isIntegral(st.typ) {
			axNum = "CAST(" + ax.sql + " AS BIGINT)"
			stepSQL = t.convert(v.Step, st, tyLong)
			numType = "BIGINT"
		} else {
			axNum = "CAST(" + ax.sql + " AS DOUBLE)"
			stepSQL = t.convert(v.Step, st, tyReal)
			numType = "DOUBLE"
		}
	default:
		t.fail(v.On, "the make-series axis must be a datetime, a timespan or a number, not a %s", ax.typ)
	}
	bound := func(x Expr) string {
		b := t.expr(constScope, x)
		switch ax.typ {
		case tyDateTime:
			return "epoch_us(" + t.convert(x, b, tyDateTime) + ")"
		case tyTimespan:
			return t.convert(x, b, tyTimespan)
		}
		if numType == "BIGINT" {
			return "CAST(" + t.convert(x, b, tyReal) + " AS BIGINT)"
		}
		return t.convert(x, b, tyReal)
	}

	// the by keys
	var keys []col
	var keyExprs []string
	colN := 0
	unnamed := func(cols []col) string {
		for {
			colN++
			if n := fmt.Sprintf("Column%d", colN); !hasName(cols, n) {
				return n
			}
		}
	}
	for _, k := range v.By {
		x := t.expr(sc, k.Expr)
		if x.agg {
			t.fail(k, "a make-series key cannot contain an aggregation")
		}
		name := ""
		switch {
		case len(k.Names) > 1:
			t.fail(k, "only one name can be given to a make-series key")
		case len(k.Names) == 1:
			name = k.Names[0].Name
		default:
			name = derivedName(x)
		}
		if name == "" {
			name = unnamed(keys)
		}
		if hasName(keys, name) {
			t.fail(k, "column '%s' is a key twice", name)
		}
		keys = append(keys, col{name: name, typ: x.typ, id: t.newID()})
		keyExprs = append(keyExprs, x.sql)
	}

	// the aggregates
	type series struct {
		c    col
		sql  string // the aggregate, over r's columns
		typ  string
		dflt string // the default, as the aggregate's type
	}
	var aggs []series
	aggScope := &scope{env: e, r: r, aggs: &aggState{}}
	taken := append([]col(nil), keys...)
	for _, a := range v.Aggs {
		x := t.expr(aggScope, a.Agg.Expr)
		if !x.agg {
			// a constant (or a column: any of its values)
			x.sql = "any_value(" + x.sql + ")"
		}
		name := ""
		switch {
		case len(a.Agg.Names) > 1:
			t.fail(a, "only one name can be given to a make-series aggregation")
		case len(a.Agg.Names) == 1:
			name = a.Agg.Names[0].Name
		default:
			name = aggColumnName(a.Agg.Expr, aggScope, t)
		}
		if name == "" {
			name = unnamed(taken)
		}
		name = uniqueName(name, taken)
		typ := x.typ
		if typ == tyNull {
			typ = tyDynamic
		}
		dflt := "0"
		if a.Default != nil {
			d := t.expr(constScope, a.Default)
			dflt = t.convert(a.Default, d, typ)
		} else {
			switch {
			case isNumeric(typ), typ == tyTimespan:
				dflt = "CAST(0 AS " + sqlType(typ) + ")"
			case typ == tyBool:
				dflt = "FALSE"
			default:
				dflt = sqlNull(typ)
			}
		}
		c := col{name: name, typ: tyDynamic, id: t.newID()}
		taken = append(taken, c)
		aggs = append(aggs, series{c: c, sql: x.sql, typ: typ, dflt: dflt})
	}
	axCol := col{name: uniqueName(axName, taken), typ: tyDynamic, id: t.newID()}

	// generated names
	axID, startID, nID, idxID, jID := sqlIdent(t.newID()), sqlIdent(t.newID()), sqlIdent(t.newID()), sqlIdent(t.newID()), sqlIdent(t.newID())
	src, bnd, grouped, grid := sqlIdent(t.newID()), sqlIdent(t.newID()), sqlIdent(t.newID()), sqlIdent(t.newID())
	kid := func(i int) string { return sqlIdent(keys[i].id) }
	vid := func(i int) string { return sqlIdent(aggs[i].c.id) }

	// src: the input with the keys and the numeric axis
	srcSel := []string{"*", axNum + " AS " + axID}
	for i := range keys {
		srcSel = append(srcSel, keyExprs[i]+" AS "+kid(i))
	}
	var b strings.Builder
	b.WriteString("WITH " + src + " AS (SELECT " + strings.Join(srcSel, ", ") + " FROM (" + r.sql + ") AS " + t.alias() + "), ")

	// bnd: the first bin and the number of bins
	step := "(" + stepSQL + ")"
	var start string
	if v.From != nil {
		start = bound(v.From)
	} else if ax.typ == tyDateTime {
		// bin() of the smallest value: datetime bins align to 0001-01-01
		off := strconv.FormatInt(epochOffsetMicros, 10)
		start = "((min(" + axID + ") + " + off + ") // " + step + ") * " + step + " - " + off
	} else {
		start = "CAST(floor(min(" + axID + ") / " + step + ") * " + step + " AS " + numType + ")"
	}
	count := ""
	if v.To != nil {
		count = "CAST(ceil((" + bound(v.To) + " - " + startID + ") / CAST(" + step + " AS DOUBLE)) AS BIGINT)"
	} else {
		count = "CAST(floor((" + axID + " - " + startID + ") / CAST(" + step + " AS DOUBLE)) AS BIGINT) + 1"
	}
	count = "least(greatest(coalesce(" + count + ", 0), 0), " + strconv.Itoa(maxSeriesLen) + ")"
	b.WriteString(bnd + " AS (SELECT " + startID + ", " + count + " AS " + nID + " FROM (SELECT " + start + " AS " + startID)
	if v.From == nil || v.To == nil {
		b.WriteString(", max(" + axID + ") AS " + axID + " FROM " + src)
	}
	// a step that is not positive makes no bins
	b.WriteString(") AS " + t.alias() + " WHERE " + step + " > 0), ")

	// grouped: one row per key group and bin that has rows
	var keyList []string
	for i := range keys {
		keyList = append(keyList, kid(i))
	}
	idx := "CAST(floor((" + axID + " - " + startID + ") / CAST(" + step + " AS DOUBLE)) AS BIGINT)"
	groupedSel := append(append([]string(nil), keyList...), idx+" AS "+idxID)
	for i, a := range aggs {
		groupedSel = append(groupedSel, a.sql+" AS "+vid(i))
	}
	var groupBy []string
	for i := 1; i <= len(keys)+1; i++ {
		groupBy = append(groupBy, strconv.Itoa(i))
	}
	b.WriteString(grouped + " AS (SELECT " + strings.Join(groupedSel, ", ") + " FROM " + src + ", " + bnd +
		" WHERE " + axID + " IS NOT NULL AND " + axID + " >= " + startID + " AND " + idx + " < " + nID +
		" GROUP BY " + strings.Join(groupBy, ", ") + "), ")

	// grid: every key group with every bin
	// gID is a constant: grouping by it gives no row for no group
	gID := sqlIdent(t.newID())
	keySel := "SELECT DISTINCT " + strings.Join(append(keyList, "1 AS "+gID), ", ") + " FROM " + grouped
	if v.Kind == "nonempty" {
		var nulls []string
		for i := range keys {
			empty := sqlNull(keys[i].typ)
			if keys[i].typ == tyString {
				empty = "''"
			}
			nulls = append(nulls, empty+" AS "+kid(i))
		}
		nulls = append(nulls, "1")
		keySel = "(" + keySel + ") UNION ALL (SELECT " + strings.Join(nulls, ", ") + " WHERE NOT EXISTS (SELECT 1 FROM " + grouped + "))"
	}
	gridSel := append(append([]string(nil), keyList...), gID, "unnest(range("+nID+")) AS "+jID, startID)
	b.WriteString(grid + " AS (SELECT " + strings.Join(gridSel, ", ") + " FROM (" + keySel + ") AS " + t.alias() + ", " + bnd + ") ")

	// the result: one row per key group
	gridA, groupedA := t.alias(), t.alias()
	var sel, on []string
	for i := range keys {
		sel = append(sel, gridA+"."+kid(i)+" AS "+kid(i))
		on = append(on, gridA+"."+kid(i)+" IS NOT DISTINCT FROM "+groupedA+"."+kid(i))
	}
	on = append(on, gridA+"."+jID+" = "+groupedA+"."+idxID)
	for i, a := range aggs {
		val := "CASE WHEN " + groupedA + "." + idxID + " IS NULL THEN " + a.dflt + " ELSE " + groupedA + "." + vid(i) + " END"
		sel = append(sel, "to_json(list("+seriesElem(val, a.typ)+" ORDER BY "+gridA+"."+jID+")) AS "+vid(i))
	}
	axVal := gridA + "." + startID + " + " + gridA + "." + jID + " * " + step
	axTyp := ax.typ
	switch ax.typ {
	case tyDateTime:
		axVal = "make_timestamp(" + axVal + ")"
	case tyInt:
		axTyp = tyLong
	}
	if numType == "DOUBLE" {
		axTyp = tyReal
	}
	sel = append(sel, "to_json(list("+seriesElem(axVal, axTyp)+" ORDER BY "+gridA+"."+jID+")) AS "+sqlIdent(axCol.id))
	b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM " + grid + " AS " + gridA + " LEFT JOIN " + grouped + " AS " + groupedA +
		" ON " + strings.Join(on, " AND "))
	gb := []string{gridA + "." + gID}
	for i := range keys {
		gb = append(gb, gridA+"."+kid(i))
	}
	b.WriteString(" GROUP BY " + strings.Join(gb, ", "))
	cols := append([]col(nil), keys...)
	for _, a := range aggs {
		cols = append(cols, a.c)
	}
	cols = append(cols, axCol)
	return &rel{sql: b.String(), cols: cols}
}

// seriesElem renders one element of a make-series array for to_json: a
// datetime as Kusto writes it inside dynamic values
// (2017-01-01T00:00:00.0000000Z), a timespan as its text, other values as
// they are.
func seriesElem(s, typ string) string {
	switch typ {
	case tyDateTime:
		return "strftime(" + s + ", '%Y-%m-%dT%H:%M:%S.%f') || '0Z'"
	case tyTimespan:
		return timespanText(s)
	case tyDynamic:
		return "CAST(" + s + " AS JSON)"
	}
	return s
}
