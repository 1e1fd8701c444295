package kql

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// texpr is a translated scalar expression: DuckDB SQL and its KQL type.
// lit is set when the expression is a literal, for the translations that
// fold constants (regular expressions, string operators).
type texpr struct {
	sql string
	typ string
	lit *Literal
	// name is the column name Kusto derives for the expression when it is
	// not given one ("" when Kusto would number it).
	name string
	// agg marks an expression containing an aggregate.
	agg bool
}

// str returns the literal's string value when x is a string literal.
func (x texpr) str() (string, bool) {
	if x.lit != nil && x.lit.Kind == LitString && !x.lit.Null {
		return x.lit.Value, true
	}
	return "", false
}

// scope is what names resolve to inside an expression.
type scope struct {
	env *env
	r   *rel // the row's columns; nil outside a tabular context
	// left and right are the two sides of a join condition.
	left, right *rel
	// aggs collects aggregate calls while translating summarize; nil where
	// aggregates are not allowed.
	aggs *aggState
	// window allows row_number(), prev() and next() (after serialize or
	// sort).
	window bool
	// input are the columns the operator received, for pack_all() (which
	// does not see columns defined earlier in the same extend); nil means
	// r's columns.
	input []col
	// restarts are the helper columns of the window functions with a
	// restart argument in the expression (extend and project compute them
	// first).
	restarts map[*Call]restartCols
	// sessions are the columns of the session starts of the
	// row_window_session calls in the expression (sessionLayer).
	sessions map[*Call]col
	// colRef, when set, gives the SQL of a column of r (scan's steps read
	// the row from a lambda parameter); nil: the column's id.
	colRef func(col) string
	// stepRef, when set, resolves StepName.Column in scan's steps; false:
	// an ordinary member access.
	stepRef func(*Member) (texpr, bool)
	// graph, when set, resolves graph-match's pattern variables and graph
	// functions.
	graph *graphScope
}

// expr translates a scalar expression.
func (t *translator) expr(sc *scope, x Expr) texpr {
	t.depth++
	defer func() { t.depth-- }()
	if t.depth > 400 {
		t.fail(x, "the expression is nested too deeply")
	}
	switch v := x.(type) {
	case *Ident:
		return t.ident(sc, v)
	case *Literal:
		return literalExpr(v)
	case *Dynamic:
		return texpr{sql: sqlJSON(dynamicValue(v.Value)), typ: tyDynamic}
	case *DynArray, *DynBag:
		return texpr{sql: sqlJSON(dynamicValue(v)), typ: tyDynamic}
	case *Binary:
		return t.binary(sc, v)
	case *Unary:
		x := t.expr(sc, v.X)
		if v.Op == "+" {
			return x
		}
		switch {
		case isNumeric(x.typ), x.typ == tyTimespan:
			return texpr{sql: "(-" + x.sql + ")", typ: x.typ, agg: x.agg}
		case x.typ == tyDynamic:
			return texpr{sql: "(-" + dynTo(x.sql, tyReal) + ")", typ: tyReal, agg: x.agg}
		}
		t.fail(v, "unary minus needs a number or a timespan, not a %s", x.typ)
	case *Call:
		return t.call(sc, v)
	case *Member:
		return t.member(sc, v)
	case *Index:
		return t.index(sc, v)
	case *InList:
		return t.inList(sc, v)
	case *Between:
		return t.between(sc, v)
	case *SubQuery:
		return t.scalarSubquery(sc, v.Pipe, v)
	case *Star:
		t.fail(v, "'*' is not a value here")
	case *NamedArg:
		t.fail(v, "a named argument '%s = ...' is not allowed here", v.Name)
	}
	t.fail(x, "this expression is not supported")
	return texpr{}
}

// ident resolves a name: a column of the row, then a let binding.
func (t *translator) ident(sc *scope, v *Ident) texpr {
	if sc.graph != nil && (sc.r == nil || !hasName(sc.r.cols, v.Name)) {
		t.graphIdent(sc, v)
	}
	if sc.r != nil {
		if c, ok := sc.r.find(v.Name); ok {
			if sc.colRef != nil {
				return texpr{sql: sc.colRef(c), typ: c.typ, name: c.name}
			}
			return texpr{sql: sqlIdent(c.id), typ: c.typ, name: c.name}
		}
	}
	if b := sc.env.lookup(v.Name); b != nil {
		switch {
		case b.scalar != nil:
			x := *b.scalar
			x.name = ""
			return x
		case b.fn != nil && len(b.fn.Params) == 0 && !t.fnIsTabular(b):
			return t.callScalarFn(sc, b, &Call{Pos: v.Pos, Name: v.Name})
		case b.tab != nil || b.rel != nil || b.fn != nil:
			// a table where a scalar is expected: Kusto reads its single
			// value (toscalar)
			return t.scalarSubquery(sc, &Pipe{Pos: v.Pos, Source: &TableRef{Pos: v.Pos, Name: v.Name}}, v)
		}
	}
	switch v.Name {
	case "$left", "$right":
		t.fail(v, "%s can be used only in a join or lookup condition", v.Name)
	}
	if sc.r == nil {
		if _, ok := t.eng.tables[v.Name]; ok {
			t.fail(v, "'%s' is a table, not a scalar value", v.Name)
		}
		t.fail(v, "unknown name '%s': no column, let-bound value or table has this name", v.Name)
	}
	names := sc.r.names()
	t.fail(v, "unknown column '%s'%s; the columns are: %s", v.Name, didYouMean(v.Name, names), columnList(names))
	return texpr{}
}

// literalExpr translates a literal.
func literalExpr(l *Literal) texpr {
	x := texpr{lit: l}
	switch l.Kind {
	case LitString:
		x.typ, x.sql = tyString, sqlString(l.Value)
	case LitLong:
		x.typ = tyLong
		v, _ := l.Int()
		x.sql = sqlLong(v)
	case LitInt:
		x.typ = tyInt
		v, _ := l.Int()
		x.sql = "CAST(" + strconv.FormatInt(v, 10) + " AS INTEGER)"
	case LitReal, LitDecimal:
		x.typ = tyReal
		f, _ := l.Float()
		x.sql = sqlReal(f)
	case LitBool:
		x.typ = tyBool
		x.sql = strings.ToUpper(l.Value)
	case LitDateTime:
		x.typ = tyDateTime
		tm, _ := l.Time()
		x.sql = sqlTime(tm)
	case LitTimespan:
		x.typ = tyTimespan
		ticks, _ := l.Ticks()
		x.sql = sqlLong(ticks / ticksPerMicro)
	case LitGuid:
		x.typ, x.sql = tyGuid, sqlString(l.Value)
	case LitNull:
		x.typ, x.sql = tyNull, "CAST(NULL AS JSON)"
	case LitType:
		x.typ, x.sql = tyString, sqlString(l.Value)
	}
	if l.Null {
		if x.typ == tyGuid {
			x.typ = tyGuid
		}
		x.sql = sqlNull(x.typ)
	}
	return x
}

// dynamicValue converts the value of a dynamic literal to Go for JSON.
func dynamicValue(x Expr) any {
	switch v := x.(type) {
	case *DynArray:
		out := make([]any, len(v.Elems))
		for i, e := range v.Elems {
			out[i] = dynamicValue(e)
		}
		return out
	case *DynBag:
		m := orderedBag{}
		for i, k := range v.Keys {
			m = append(m, bagEntry{k, dynamicValue(v.Values[i])})
		}
		return m
	case *Dynamic:
		return dynamicValue(v.Value)
	case *Literal:
		if v.Null || v.Kind == LitNull {
			return nil
		}
		switch v.Kind {
		case LitLong, LitInt:
			n, _ := v.Int()
			return n
		case LitReal, LitDecimal:
			f, _ := v.Float()
			return dynReal(f)
		case LitBool:
			return v.Value == "true"
		case LitTimespan:
			ticks, _ := v.Ticks()
			return FormatTimespan(time.Duration(ticks) * 100)
		case LitDateTime:
			tm, _ := v.Time()
			return FormatValue(tm)
		}
		return v.Value
	case *Unary:
		if v.Op == "-" {
			if n, ok := dynamicValue(v.X).(int64); ok {
				return -n
			}
			if f, ok := dynamicValue(v.X).(float64); ok {
				return -f
			}
		}
	}
	return nil
}

// orderedBag is a JSON object that keeps its keys in order.
type orderedBag []bagEntry

type bagEntry struct {
	k string
	v any
}

// MarshalJSON renders the bag with its keys in order.
// dynReal is a real in a dynamic literal: it stays a real in JSON, a
// whole number written with ".0" (dynamic([1.0]) holds the real 1.0, as
// in Kusto, not the long 1), so that gettype and the series functions
// see it as one.
type dynReal float64

// MarshalJSON writes r as a JSON number with a fraction or exponent.
func (r dynReal) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(r))
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}

func (b orderedBag) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		sb.Write(k)
		sb.WriteByte(':')
		sb.Write(v)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

// dynTo converts the SQL of a dynamic value to a scalar type, null when
// it does not convert.
func dynTo(s, typ string) string {
	text := "json_extract_string(" + s + ", '$')"
	switch typ {
	case tyString, tyGuid:
		return text
	case tyLong, tyInt, tyTimespan:
		// integral JSON numbers convert exactly; others are truncated
		return "CAST(trunc(TRY_CAST(" + text + " AS DOUBLE)) AS " + sqlType(typ) + ")"
	case tyReal, tyDecimal:
		return "TRY_CAST(" + text + " AS DOUBLE)"
	case tyBool:
		return "TRY_CAST(" + text + " AS BOOLEAN)"
	case tyDateTime:
		return "TRY_CAST(" + text + " AS TIMESTAMP)"
	}
	return s
}

// convert returns the SQL of x as type typ, for comparisons and function
// arguments. Conversions Kusto makes implicitly (int to long to real,
// dynamic to anything) and a few it does not but that keep a query
// meaningful (a string compared with a datetime) are made; others fail.
func (t *translator) convert(pos Node, x texpr, typ string) string {
	if x.typ == typ {
		return x.sql
	}
	switch {
	case x.typ == tyNull:
		return sqlNull(typ)
	case x.typ == tyDynamic:
		return dynTo(x.sql, typ)
	case typ == tyDynamic:
		return toDynamic(x)
	case typ == tyString:
		return toStringSQL(x)
	case isNumeric(x.typ) && isNumeric(typ):
		// a value out of the type's range is null, not a failed query
		return "TRY_CAST(" + x.sql + " AS " + sqlType(typ) + ")"
	case x.typ == tyString || x.typ == tyGuid:
		switch typ {
		case tyDateTime:
			return "TRY_CAST(" + x.sql + " AS TIMESTAMP)"
		case tyLong, tyInt, tyReal, tyDecimal, tyBool:
			return "TRY_CAST(" + x.sql + " AS " + sqlType(typ) + ")"
		case tyGuid:
			// only text in the 8-4-4-4-12 form is a guid
			return "CASE WHEN regexp_full_match(" + x.sql + ", '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}') THEN lower(" + x.sql + ") END"
		case tyTimespan:
			return timespanFromString(x.sql)
		}
	case x.typ == tyBool && isNumeric(typ):
		return "CAST(" + x.sql + " AS " + sqlType(typ) + ")"
	case x.typ == tyTimespan && isNumeric(typ):
		return "CAST(" + x.sql + " AS " + sqlType(typ) + ")"
	}
	t.fail(pos, "a %s cannot be used where a %s is expected", x.typ, typ)
	return ""
}

// toDynamic wraps a scalar as a dynamic (JSON) value.
func toDynamic(x texpr) string {
	switch x.typ {
	case tyDynamic:
		return x.sql
	case tyNull:
		return "CAST(NULL AS JSON)"
	case tyDateTime, tyTimespan:
		return "to_json(" + toStringSQL(x) + ")"
	}
	return "to_json(" + x.sql + ")"
}

// toStringSQL renders x as Kusto's tostring() does; never null.
func toStringSQL(x texpr) string {
	switch x.typ {
	case tyString, tyGuid:
		return "coalesce(" + x.sql + ", '')"
	case tyDynamic:
		return "coalesce(json_extract_string(" + x.sql + ", '$'), '')"
	case tyNull:
		return "''"
	case tyDateTime:
		return "coalesce(" + datetimeText(x.sql) + ", '')"
	case tyTimespan:
		return "coalesce(" + timespanText(x.sql) + ", '')"
	case tyBool:
		return "coalesce(CASE WHEN " + x.sql + " THEN 'true' ELSE 'false' END, '')"
	case tyReal, tyDecimal:
		return "coalesce(" + realText(x.sql) + ", '')"
	}
	return "coalesce(CAST(" + x.sql + " AS VARCHAR), '')"
}

// datetimeText renders a TIMESTAMP as Kusto prints a datetime:
// 2024-01-31T10:00:00Z, with seven fraction digits when there is a
// fraction.
func datetimeText(s string) string {
	return "CASE WHEN microsecond(" + s + ") % 1000000 = 0 THEN strftime(" + s + ", '%Y-%m-%dT%H:%M:%SZ') ELSE strftime(" + s + ", '%Y-%m-%dT%H:%M:%S.%f') || '0Z' END"
}

// timespanText renders a count of microseconds as [-][d.]hh:mm:ss[.fffffff].
func timespanText(s string) string {
	a := "abs(" + s + ")"
	return "(CASE WHEN " + s + " < 0 THEN '-' ELSE '' END || " +
		"CASE WHEN " + a + " >= 86400000000 THEN CAST(" + a + " // 86400000000 AS VARCHAR) || '.' ELSE '' END || " +
		"lpad(CAST((" + a + " // 3600000000) % 24 AS VARCHAR), 2, '0') || ':' || " +
		"lpad(CAST((" + a + " // 60000000) % 60 AS VARCHAR), 2, '0') || ':' || " +
		"lpad(CAST((" + a + " // 1000000) % 60 AS VARCHAR), 2, '0') || " +
		"CASE WHEN " + a + " % 1000000 <> 0 THEN '.' || lpad(CAST(" + a + " % 1000000 AS VARCHAR), 6, '0') || '0' ELSE '' END)"
}

// realText renders a DOUBLE as Kusto prints a real: integral values
// without a fraction.
func realText(s string) string {
	return "CASE WHEN isfinite(" + s + ") AND " + s + " = trunc(" + s + ") AND abs(" + s + ") < 1e15 THEN CAST(CAST(" + s + " AS BIGINT) AS VARCHAR) ELSE CAST(" + s + " AS VARCHAR) END"
}

// timespanFromString parses Kusto's timespan text ([-][d.]hh:mm:ss[.f])
// to microseconds, null when it does not parse.
func timespanFromString(s string) string {
	re := `'^(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+)(?:\.(\d+))?)?$'`
	g := func(i int) string { return "regexp_extract(" + s + ", " + re + ", " + strconv.Itoa(i) + ")" }
	num := func(i int) string { return "coalesce(TRY_CAST(" + g(i) + " AS BIGINT), 0)" }
	frac := "coalesce(TRY_CAST(rpad(left(" + g(6) + ", 6), 6, '0') AS BIGINT), 0)"
	return "(CASE WHEN regexp_matches(" + s + ", " + re + ") THEN (CASE WHEN " + g(1) + " = '-' THEN -1 ELSE 1 END) * (" +
		num(2) + " * 86400000000 + " + num(3) + " * 3600000000 + " + num(4) + " * 60000000 + " + num(5) + " * 1000000 + " + frac + ") END)"
}

// asBool returns the SQL of x as a BOOLEAN, for where and logic.
func (t *translator) asBool(pos Node, x texpr) string {
	if x.typ == tyBool {
		return x.sql
	}
	if x.typ == tyDynamic || x.typ == tyNull || isNumeric(x.typ) || x.typ == tyString {
		return t.convert(pos, x, tyBool)
	}
	t.fail(pos, "a %s is not a condition: a predicate must be a bool", x.typ)
	return ""
}

// binary translates a binary operator.
func (t *translator) binary(sc *scope, v *Binary) texpr {
	if _, ok := v.L.(*Star); ok {
		return t.anyColumnOp(sc, v)
	}
	switch v.Op {
	case "and", "or":
		l, r := t.expr(sc, v.L), t.expr(sc, v.R)
		return texpr{sql: "(" + t.asBool(v.L, l) + " " + strings.ToUpper(v.Op) + " " + t.asBool(v.R, r) + ")", typ: tyBool, agg: l.agg || r.agg}
	case "==", "!=", "<", "<=", ">", ">=":
		return t.compare(sc, v)
	case "+", "-", "*", "/", "%":
		return t.arith(sc, v)
	case "=~", "!~":
		l, r := t.expr(sc, v.L), t.expr(sc, v.R)
		op := "="
		if v.Op == "!~" {
			op = "<>"
		}
		return texpr{sql: "(lower(" + t.convert(v.L, l, tyString) + ") " + op + " " + lowerSQL(t.convert(v.R, r, tyString), r) + ")", typ: tyBool, agg: l.agg || r.agg}
	case "matches regex":
		l, r := t.expr(sc, v.L), t.expr(sc, v.R)
		return texpr{sql: "regexp_matches(" + t.convert(v.L, l, tyString) + ", " + t.regex(v.R, r) + ")", typ: tyBool, agg: l.agg || r.agg}
	case ":":
		t.fail(v, "':' is allowed only in a search predicate")
	}
	return t.stringOp(sc, v)
}

// anyColumnOp translates `* op Value` (where * has "x"): true when the
// string operator holds for any string, dynamic or guid column of the row.
func (t *translator) anyColumnOp(sc *scope, v *Binary) texpr {
	if sc.r == nil {
		t.fail(v.L, "'*' stands for the row's columns, and there is no row here")
	}
	if strings.HasPrefix(v.Op, "!") {
		t.fail(v, "'* %s' is not supported: write not(* %s ...), which holds when no column matches", v.Op, strings.TrimPrefix(v.Op, "!"))
	}
	if !stringOps[v.Op] && v.Op != "matches regex" {
		t.fail(v, "'*' takes a string operator, such as * has \"text\" or * contains \"text\", not '%s'", v.Op)
	}
	var parts []string
	agg := false
	for _, c := range textColumns(sc.r) {
		b := &Binary{Pos: v.Pos, Op: v.Op, OpPos: v.OpPos, L: &Ident{Pos: v.L.Position(), Name: c.name}, R: v.R}
		x := t.expr(sc, b)
		agg = agg || x.agg
		parts = append(parts, "coalesce("+t.asBool(b, x)+", FALSE)")
	}
	if len(parts) == 0 {
		return texpr{sql: "FALSE", typ: tyBool}
	}
	return texpr{sql: "(" + strings.Join(parts, " OR ") + ")", typ: tyBool, agg: agg}
}

// textColumns are the columns of r that `*` and search look into: the
// string, dynamic and guid ones.
func textColumns(r *rel) []col {
	var out []col
	for _, c := range r.cols {
		if !c.hidden && (c.typ == tyString || c.typ == tyDynamic || c.typ == tyGuid) {
			out = append(out, c)
		}
	}
	return out
}

// lowerSQL lower-cases a string, folding a literal.
func lowerSQL(s string, x texpr) string {
	if v, ok := x.str(); ok {
		return sqlString(strings.ToLower(v))
	}
	return "lower(" + s + ")"
}

// regex returns the SQL of a regular expression argument, checking a
// literal's syntax (RE2, as Kusto's).
func (t *translator) regex(pos Node, x texpr) string {
	if v, ok := x.str(); ok {
		if _, err := regexp.Compile(v); err != nil {
			t.fail(pos, "invalid regular expression %s: %v", strconv.Quote(v), err)
		}
		return sqlString(v)
	}
	return t.convert(pos, x, tyString)
}

// compare translates ==, !=, <, <=, >, >=.
func (t *translator) compare(sc *scope, v *Binary) texpr {
	l, r := t.expr(sc, v.L), t.expr(sc, v.R)
	op := v.Op
	switch op {
	case "==":
		op = "="
	case "!=":
		op = "<>"
	}
	ls, rs := t.comparable(v, l, r)
	nonNull := func(x texpr) bool { return x.lit != nil && !x.lit.Null && x.lit.Kind != LitNull }
	if op == "=" && !nonNull(l) && !nonNull(r) && (l.lit != nil || r.lit != nil) {
		// Kusto: null == value is false, null == null is null
		return texpr{sql: "(CASE WHEN " + ls + " IS NULL AND " + rs + " IS NULL THEN NULL ELSE " + ls + " IS NOT DISTINCT FROM " + rs + " END)", typ: tyBool, agg: l.agg || r.agg}
	}
	if op == "<>" {
		// Kusto: null != value is true, null != null is null
		if nonNull(l) || nonNull(r) {
			return texpr{sql: "(" + ls + " IS DISTINCT FROM " + rs + ")", typ: tyBool, agg: l.agg || r.agg}
		}
		return texpr{sql: "(CASE WHEN " + ls + " IS NULL AND " + rs + " IS NULL THEN NULL ELSE " + ls + " IS DISTINCT FROM " + rs + " END)", typ: tyBool, agg: l.agg || r.agg}
	}
	return texpr{sql: "(" + ls + " " + op + " " + rs + ")", typ: tyBool, agg: l.agg || r.agg}
}

// comparable converts two operands to a common type for comparison.
func (t *translator) comparable(pos Node, l, r texpr) (string, string) {
	switch {
	case l.typ == r.typ:
		if l.typ == tyDynamic {
			return "CAST(" + l.sql + " AS VARCHAR)", "CAST(" + r.sql + " AS VARCHAR)"
		}
		return l.sql, r.sql
	case l.typ == tyNull || r.typ == tyNull:
		return "NULL", "NULL"
	case isNumeric(l.typ) && isNumeric(r.typ):
		return l.sql, r.sql
	case l.typ == tyDynamic:
		return t.convert(pos, l, r.typ), r.sql
	case r.typ == tyDynamic:
		return l.sql, t.convert(pos, r, l.typ)
	case (l.typ == tyString || l.typ == tyGuid) && (r.typ == tyString || r.typ == tyGuid):
		return l.sql, r.sql
	case l.typ == tyString && isNumeric(r.typ):
		// a string column compared with a number literal (ResultType != 0):
		// compare the text
		if r.lit != nil {
			return l.sql, sqlString(r.lit.Value)
		}
		return "TRY_CAST(" + l.sql + " AS DOUBLE)", r.sql
	case r.typ == tyString && isNumeric(l.typ):
		if l.lit != nil {
			return sqlString(l.lit.Value), r.sql
		}
		return l.sql, "TRY_CAST(" + r.sql + " AS DOUBLE)"
	case l.typ == tyDateTime && r.typ == tyString:
		return l.sql, t.convert(pos, r, tyDateTime)
	case r.typ == tyDateTime && l.typ == tyString:
		return t.convert(pos, l, tyDateTime), r.sql
	case l.typ == tyBool && isNumeric(r.typ), r.typ == tyBool && isNumeric(l.typ):
		return "CAST(" + l.sql + " AS DOUBLE)", "CAST(" + r.sql + " AS DOUBLE)"
	}
	t.fail(pos, "cannot compare a %s with a %s", l.typ, r.typ)
	return "", ""
}

// arithType is the result type of integral/real arithmetic.
func arithType(a, b string) string {
	switch {
	case a == tyReal || b == tyReal || a == tyDecimal || b == tyDecimal:
		return tyReal
	case a == tyLong || b == tyLong:
		return tyLong
	}
	return tyInt
}

// arith translates + - * / %.
func (t *translator) arith(sc *scope, v *Binary) texpr {
	l, r := t.expr(sc, v.L), t.expr(sc, v.R)
	agg := l.agg || r.agg
	if l.typ == tyDynamic {
		l = texpr{sql: dynTo(l.sql, tyReal), typ: tyReal}
		if isIntegral(r.typ) {
			l = texpr{sql: dynTo(l.sql, tyLong), typ: tyLong}
		}
	}
	if r.typ == tyDynamic {
		r = texpr{sql: dynTo(r.sql, tyReal), typ: tyReal}
	}
	if l.typ == tyNull || r.typ == tyNull {
		return texpr{sql: "NULL", typ: tyNull, agg: agg}
	}
	res := func(sql, typ string) texpr { return texpr{sql: "(" + sql + ")", typ: typ, agg: agg} }
	switch v.Op {
	case "+":
		switch {
		case isNumeric(l.typ) && isNumeric(r.typ):
			typ := arithType(l.typ, r.typ)
			return res(castTo(l, typ)+" + "+castTo(r, typ), typ)
		case l.typ == tyDateTime && r.typ == tyTimespan:
			return res(l.sql+" + to_microseconds("+r.sql+")", tyDateTime)
		case l.typ == tyTimespan && r.typ == tyDateTime:
			return res(r.sql+" + to_microseconds("+l.sql+")", tyDateTime)
		case l.typ == tyTimespan && r.typ == tyTimespan:
			return res(l.sql+" + "+r.sql, tyTimespan)
		}
	case "-":
		switch {
		case isNumeric(l.typ) && isNumeric(r.typ):
			typ := arithType(l.typ, r.typ)
			return res(castTo(l, typ)+" - "+castTo(r, typ), typ)
		case l.typ == tyDateTime && r.typ == tyDateTime:
			return res("epoch_us("+l.sql+") - epoch_us("+r.sql+")", tyTimespan)
		case l.typ == tyDateTime && r.typ == tyTimespan:
			return res(l.sql+" - to_microseconds("+r.sql+")", tyDateTime)
		case l.typ == tyTimespan && r.typ == tyTimespan:
			return res(l.sql+" - "+r.sql, tyTimespan)
		}
	case "*":
		switch {
		case isNumeric(l.typ) && isNumeric(r.typ):
			typ := arithType(l.typ, r.typ)
			return res(castTo(l, typ)+" * "+castTo(r, typ), typ)
		case l.typ == tyTimespan && isNumeric(r.typ):
			return res("TRY_CAST(round("+l.sql+" * "+r.sql+") AS BIGINT)", tyTimespan)
		case r.typ == tyTimespan && isNumeric(l.typ):
			return res("TRY_CAST(round("+l.sql+" * "+r.sql+") AS BIGINT)", tyTimespan)
		}
	case "/":
		switch {
		case isIntegral(l.typ) && isIntegral(r.typ):
			typ := arithType(l.typ, r.typ)
			return res(castTo(l, typ)+" // "+castTo(r, typ), typ)
		case isNumeric(l.typ) && isNumeric(r.typ):
			return res("CAST("+l.sql+" AS DOUBLE) / "+r.sql, tyReal)
		case l.typ == tyTimespan && r.typ == tyTimespan:
			return res("CAST("+l.sql+" AS DOUBLE) / "+r.sql, tyReal)
		case l.typ == tyTimespan && isNumeric(r.typ):
			return res("TRY_CAST(trunc(CAST("+l.sql+" AS DOUBLE) / "+r.sql+") AS BIGINT)", tyTimespan)
		}
	case "%":
		switch {
		case isIntegral(l.typ) && isIntegral(r.typ):
			typ := arithType(l.typ, r.typ)
			return res(castTo(l, typ)+" % "+castTo(r, typ), typ)
		case isNumeric(l.typ) && isNumeric(r.typ):
			return res("fmod("+l.sql+", "+r.sql+")", tyReal)
		case l.typ == tyTimespan && r.typ == tyTimespan:
			return res(l.sql+" % "+r.sql, tyTimespan)
		}
	}
	t.fail(v, "the operator %s is not defined for a %s and a %s", v.Op, l.typ, r.typ)
	return texpr{}
}

// castTo casts a numeric expression to typ when its type differs.
func castTo(x texpr, typ string) string {
	if x.typ == typ {
		return x.sql
	}
	return "CAST(" + x.sql + " AS " + sqlType(typ) + ")"
}

// termChars are the characters of a term for has, hasprefix and
// hassuffix: Kusto breaks strings into maximal runs of ASCII letters and
// digits.
const termBoundary = `[^0-9A-Za-z]`

// stringOp translates contains, has, startswith, endswith, hasprefix,
// hassuffix and their negated and case-sensitive forms.
func (t *translator) stringOp(sc *scope, v *Binary) texpr {
	op := v.Op
	neg := strings.HasPrefix(op, "!")
	op = strings.TrimPrefix(op, "!")
	cs := strings.HasSuffix(op, "_cs")
	op = strings.TrimSuffix(op, "_cs")
	l, r := t.expr(sc, v.L), t.expr(sc, v.R)
	ls := t.convert(v.L, l, tyString)
	rs := t.convert(v.R, r, tyString)
	lit, isLit := r.str()
	var sql string
	fold := func(s string) string {
		if cs {
			return s
		}
		return "lower(" + s + ")"
	}
	rhs := rs
	if !cs {
		rhs = lowerSQL(rs, r)
	}
	switch op {
	case "contains":
		sql = "contains(" + fold(ls) + ", " + rhs + ")"
	case "startswith":
		sql = "starts_with(" + fold(ls) + ", " + rhs + ")"
	case "endswith":
		sql = "ends_with(" + fold(ls) + ", " + rhs + ")"
	case "has", "hasprefix", "hassuffix":
		flags := "(?i)"
		if cs {
			flags = ""
		}
		if isLit {
			term := regexp.QuoteMeta(lit)
			if lit == "" {
				sql = "TRUE"
				break
			}
			pre, post := "(?:^|"+termBoundary+")", "(?:$|"+termBoundary+")"
			// a term that starts or ends with a separator needs no
			// boundary on that side
			if !isTermChar(lit[0]) {
				pre = ""
			}
			if !isTermChar(lit[len(lit)-1]) {
				post = ""
			}
			switch op {
			case "hasprefix":
				post = ""
			case "hassuffix":
				pre = ""
			}
			// the cheap substring test first: most rows fail it
			probe := lit
			if !cs {
				probe = strings.ToLower(lit)
			}
			sql = "(contains(" + fold(ls) + ", " + sqlString(probe) + ") AND regexp_matches(" + ls + ", " + sqlString(flags+pre+term+post) + "))"
		} else {
			pre, post := "'(?:^|"+termBoundary+")'", "'(?:$|"+termBoundary+")'"
			switch op {
			case "hasprefix":
				post = "''"
			case "hassuffix":
				pre = "''"
			}
			sql = "regexp_matches(" + ls + ", '" + flags + "' || " + pre + " || regexp_escape(" + rs + ") || " + post + ")"
		}
	default:
		t.fail(v, "unknown operator '%s'", v.Op)
	}
	if neg {
		sql = "(NOT coalesce(" + sql + ", FALSE))"
	}
	return texpr{sql: sql, typ: tyBool, agg: l.agg || r.agg}
}

func isTermChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// member translates X.Name: a property of a dynamic value.
func (t *translator) member(sc *scope, v *Member) texpr {
	if sc.graph != nil {
		if x, ok := t.graphMember(sc, v); ok {
			return x
		}
	}
	if sc.stepRef != nil {
		if x, ok := sc.stepRef(v); ok {
			return x
		}
	}
	x := t.expr(sc, v.X)
	if x.typ != tyDynamic && x.typ != tyNull {
		t.fail(v, "'.%s' needs a dynamic value, but %s is a %s", v.Name, Format(v.X), x.typ)
	}
	name := ""
	if x.name != "" {
		name = x.name + "_" + v.Name
	}
	return texpr{sql: "json_extract(" + x.sql + ", " + sqlString(jsonPointer(v.Name)) + ")", typ: tyDynamic, name: name, agg: x.agg}
}

// index translates X[i] and X['name'].
func (t *translator) index(sc *scope, v *Index) texpr {
	x := t.expr(sc, v.X)
	if x.typ != tyDynamic && x.typ != tyNull {
		t.fail(v, "indexing needs a dynamic value, but %s is a %s", Format(v.X), x.typ)
	}
	i := t.expr(sc, v.Index)
	agg := x.agg || i.agg
	if s, ok := i.str(); ok {
		name := ""
		if x.name != "" {
			name = x.name + "_" + s
		}
		return texpr{sql: "json_extract(" + x.sql + ", " + sqlString(jsonPointer(s)) + ")", typ: tyDynamic, name: name, agg: agg}
	}
	if i.lit != nil && (i.lit.Kind == LitLong || i.lit.Kind == LitInt) {
		n, _ := i.lit.Int()
		path := "$[" + strconv.FormatInt(n, 10) + "]"
		if n < 0 {
			path = "$[#" + strconv.FormatInt(n, 10) + "]"
		}
		return texpr{sql: "json_extract(" + x.sql + ", " + sqlString(path) + ")", typ: tyDynamic, agg: agg}
	}
	switch {
	case isIntegral(i.typ):
		return texpr{sql: "json_extract(" + x.sql + ", CASE WHEN " + i.sql + " < 0 THEN '$[#' || CAST(" + i.sql + " AS VARCHAR) || ']' ELSE '$[' || CAST(" + i.sql + " AS VARCHAR) || ']' END)", typ: tyDynamic, agg: agg}
	case i.typ == tyString:
		return texpr{sql: "json_extract(" + x.sql + ", '/' || replace(replace(" + i.sql + ", '~', '~0'), '/', '~1'))", typ: tyDynamic, agg: agg}
	}
	t.fail(v.Index, "an index must be a number or a string, not a %s", i.typ)
	return texpr{}
}

// between translates X between (Low .. High).
func (t *translator) between(sc *scope, v *Between) texpr {
	x, lo, hi := t.expr(sc, v.X), t.expr(sc, v.Low), t.expr(sc, v.High)
	xs, los := t.comparable(v, x, lo)
	var his string
	if x.typ == tyDateTime && hi.typ == tyTimespan {
		// datetime between (t .. 1d): the high end is relative to the low
		his = los + " + to_microseconds(" + hi.sql + ")"
	} else {
		_, his = t.comparable(v, x, hi)
	}
	not := ""
	if v.Not {
		not = "NOT "
	}
	return texpr{sql: "(" + xs + " " + not + "BETWEEN " + los + " AND " + his + ")", typ: tyBool, agg: x.agg || lo.agg || hi.agg}
}

// inList translates in, !in, in~, !in~, has_any and has_all.
func (t *translator) inList(sc *scope, v *InList) texpr {
	x := t.expr(sc, v.X)
	agg := x.agg
	switch v.Op {
	case "has_any", "has_all":
		var parts []string
		for _, e := range t.listValues(sc, v.List) {
			b := &Binary{Pos: v.Pos, Op: "has", OpPos: v.OpPos, L: v.X, R: e}
			parts = append(parts, t.stringOp(sc, b).sql)
		}
		if len(parts) == 0 {
			return texpr{sql: strconv.FormatBool(v.Op == "has_all"), typ: tyBool}
		}
		j := " OR "
		if v.Op == "has_all" {
			j = " AND "
		}
		return texpr{sql: "(" + strings.Join(parts, j) + ")", typ: tyBool, agg: agg}
	}
	neg := strings.HasPrefix(v.Op, "!")
	ci := strings.HasSuffix(v.Op, "~")
	xs := x.sql
	typ := x.typ
	if x.typ == tyDynamic {
		typ = tyString
		xs = t.convert(v.X, x, tyString)
	}
	if ci {
		typ = tyString
		xs = "lower(" + t.convert(v.X, x, tyString) + ")"
	}
	var items, lists []string
	for _, e := range v.List {
		if sq, ok := e.(*SubQuery); ok {
			r := t.pipe(sc.env, sq.Pipe)
			if len(r.cols) == 0 {
				t.fail(e, "the sub-query of 'in' has no columns")
			}
			c := r.cols[0]
			val := texpr{sql: sqlIdent(c.id), typ: c.typ}
			vs := t.inItem(e, val, typ, ci)
			items = append(items, "(SELECT "+vs+" FROM ("+r.sql+") AS "+t.alias()+")")
			continue
		}
		if id, ok := e.(*Ident); ok {
			if b := sc.env.lookup(id.Name); b != nil && (b.tab != nil || b.rel != nil) && (sc.r == nil || !hasCol(sc.r, id.Name)) {
				r := t.tableRef(sc.env, &TableRef{Pos: id.Pos, Name: id.Name})
				c := r.cols[0]
				vs := t.inItem(e, texpr{sql: sqlIdent(c.id), typ: c.typ}, typ, ci)
				items = append(items, "(SELECT "+vs+" FROM ("+r.sql+") AS "+t.alias()+")")
				continue
			}
		}
		it := t.expr(sc, e)
		agg = agg || it.agg
		if it.typ == tyDynamic {
			// a dynamic array: its elements are the list
			el := "json_extract_string(" + it.sql + ", '$[*]')"
			if ci {
				el = "list_transform(" + el + ", s -> lower(s))"
			}
			lists = append(lists, "list_contains("+el+", "+t.convertText(xs, typ)+")")
			continue
		}
		items = append(items, t.inItem(e, it, typ, ci))
	}
	var parts []string
	if len(items) > 0 {
		parts = append(parts, xs+" IN ("+strings.Join(items, ", ")+")")
	}
	parts = append(parts, lists...)
	sql := "FALSE"
	if len(parts) > 0 {
		sql = "(" + strings.Join(parts, " OR ") + ")"
	}
	if neg {
		sql = "(NOT coalesce(" + sql + ", FALSE))"
	}
	return texpr{sql: sql, typ: tyBool, agg: agg}
}

func hasCol(r *rel, name string) bool {
	_, ok := r.find(name)
	return ok
}

// convertText renders an in operand as text for list_contains over the
// text of JSON elements.
func (t *translator) convertText(xs, typ string) string {
	if typ == tyString || typ == tyGuid {
		return xs
	}
	return "CAST(" + xs + " AS VARCHAR)"
}

// inItem converts one element of an in list to the operand's type.
func (t *translator) inItem(pos Node, it texpr, typ string, ci bool) string {
	if ci {
		return lowerSQL(t.convert(pos, it, tyString), it)
	}
	if it.typ == typ || isNumeric(it.typ) && isNumeric(typ) {
		return it.sql
	}
	if typ == tyString && isNumeric(it.typ) && it.lit != nil {
		return sqlString(it.lit.Value)
	}
	if isNumeric(typ) && it.typ == tyString {
		return "TRY_CAST(" + it.sql + " AS " + sqlType(typ) + ")"
	}
	return t.convert(pos, it, typ)
}

// listValues expands the elements of a has_any list: literals, and the
// elements of a dynamic array literal or let-bound array.
func (t *translator) listValues(sc *scope, list []Expr) []Expr {
	var out []Expr
	for _, e := range list {
		switch v := e.(type) {
		case *Dynamic:
			if arr, ok := v.Value.(*DynArray); ok {
				out = append(out, arr.Elems...)
				continue
			}
		case *Ident:
			if b := sc.env.lookup(v.Name); b != nil && b.scalar != nil && b.scalar.typ == tyDynamic && b.scalar.lit == nil {
				t.fail(e, "has_any with a dynamic value '%s' is supported only for a literal array; write the terms in the list", v.Name)
			}
		}
		out = append(out, e)
	}
	return out
}

// scalarSubquery translates a tabular expression used as a scalar: the
// first column of its first row.
func (t *translator) scalarSubquery(sc *scope, p *Pipe, pos Node) texpr {
	r := t.pipe(sc.env, p)
	if len(r.cols) == 0 {
		t.fail(pos, "the sub-query has no columns to take a value from")
	}
	c := r.cols[0]
	return texpr{sql: "(SELECT " + sqlIdent(c.id) + " FROM (" + r.sql + ") AS " + t.alias() + " LIMIT 1)", typ: c.typ}
}
