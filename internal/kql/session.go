package kql

import (
	"encoding/json"
	"fmt"
	"strings"
)

// row_window_session(Expr, MaxDistanceFromFirst, MaxDistanceBetweenNeighbors
// [, Restart]) gives each row of ordered rows the value of Expr at the
// start of its session. A row starts a session when Restart holds for it,
// or its Expr is more than MaxDistanceFromFirst beyond the session's first
// value, or more than MaxDistanceBetweenNeighbors beyond the previous
// row's. Each row depends on where the session started, which no window
// function expresses: extend and project compute the sessions first, in
// one pass over the rows in Go (kql_row_window_session), and join them
// back by position (sessionLayer).

// isSessionCall reports whether c is row_window_session.
func isSessionCall(c *Call) bool { return c.Name == "row_window_session" }

// sessionLayer adds to cur, ordered rows, a column per call with the
// start of each row's session, and returns the rows' position column: the
// join leaves the rows in another order, so cur.order ends with it and the
// operator's result is put back in it (restoreOrder).
func (t *translator) sessionLayer(sc *scope, cur *rel, calls []*Call) (*rel, string, map[*Call]col) {
	if !cur.ordered {
		t.fail(calls[0], "row_window_session() needs ordered rows: put it after serialize, order by or top")
	}
	consts := &scope{env: sc.env} // the distances may not depend on the row
	var inputs []col
	var inputExprs, bounds []string
	var valueTypes []string
	for _, c := range calls {
		if len(c.Args) < 3 || len(c.Args) > 4 {
			t.fail(c, "row_window_session takes 3 or 4 arguments (Expr, MaxDistanceFromFirst, MaxDistanceBetweenNeighbors [, Restart]), not %d", len(c.Args))
		}
		x := t.expr(sc, c.Args[0])
		var v, unit string
		switch {
		case x.typ == tyDateTime:
			v, unit = "epoch_us("+x.sql+")", tyTimespan
		case x.typ == tyTimespan || isNumeric(x.typ):
			v, unit = x.sql, x.typ
		default:
			t.fail(c.Args[0], "row_window_session needs a datetime, timespan or number, not a %s", x.typ)
		}
		valueTypes = append(valueTypes, x.typ)
		restart := "FALSE"
		if len(c.Args) == 4 {
			restart = t.asBool(c.Args[3], t.expr(sc, c.Args[3]))
		}
		vc, rc := helperCol(t, tyReal), helperCol(t, tyBool)
		inputs = append(inputs, vc, rc)
		inputExprs = append(inputExprs, v, restart)
		for _, d := range c.Args[1:3] {
			bounds = append(bounds, "CAST("+t.arg(c, 1, t.expr(consts, d), unit)+" AS DOUBLE)")
		}
	}
	cur = addColumns(t, cur, inputs, inputExprs)
	pos := helperCol(t, tyLong)
	cur = addColumns(t, cur, []col{pos}, []string{"row_number() OVER (" + rowOrder(cur) + ")"})
	out := map[*Call]col{}
	src, sessions := t.alias(), t.alias()
	var ctes, joins, sel []string
	sel = append(sel, passThrough(cur.cols)...)
	for i, c := range calls {
		v, r := sqlIdent(inputs[2*i].id), sqlIdent(inputs[2*i+1].id)
		list := func(x string) string {
			return "CAST(to_json(list(" + x + " ORDER BY " + sqlIdent(pos.id) + ")) AS VARCHAR)"
		}
		elem := "DOUBLE"
		if valueTypes[i] != tyReal && valueTypes[i] != tyDecimal {
			elem = "BIGINT"
		}
		starts, u := fmt.Sprintf("%s_%d", sessions, i), fmt.Sprintf("%s_u%d", sessions, i)
		ctes = append(ctes, starts+" AS (SELECT from_json(kql_row_window_session("+list(v)+", "+list(r)+", "+bounds[2*i]+", "+bounds[2*i+1]+"), '[\""+elem+"\"]') AS a FROM "+src+")",
			u+" AS (SELECT unnest(a) AS s, generate_subscripts(a, 1) AS i FROM "+starts+")")
		joins = append(joins, "LEFT JOIN "+u+" ON "+u+".i = "+src+"."+sqlIdent(pos.id))
		start := u + ".s"
		switch valueTypes[i] {
		case tyDateTime:
			start = "make_timestamp(" + start + ")"
		case tyInt:
			start = "CAST(" + start + " AS INTEGER)"
		}
		h := helperCol(t, valueTypes[i])
		sel = append(sel, start+" AS "+sqlIdent(h.id))
		cur.cols = append(cur.cols, h)
		out[c] = h
	}
	for i, s := range sel[:len(sel)-len(calls)] {
		sel[i] = src + "." + s
	}
	order := append(append([]orderTerm(nil), cur.order...), orderTerm{sql: sqlIdent(pos.id)})
	cur = &rel{
		sql: "WITH " + src + " AS (" + cur.sql + "), " + strings.Join(ctes, ", ") +
			" SELECT " + strings.Join(sel, ", ") + " FROM " + src + " " + strings.Join(joins, " "),
		cols: cur.cols, ordered: true, order: order, chart: cur.chart,
	}
	return cur, pos.id, out
}

// windowSession translates a row_window_session call whose sessions
// sessionLayer computed.
func (t *translator) windowSession(sc *scope, c *Call) texpr {
	h, ok := sc.sessions[c]
	if !ok {
		t.fail(c, "row_window_session() is supported in extend and project only")
	}
	return texpr{sql: sqlIdent(h.id), typ: h.typ}
}

// udfRowWindowSession computes the session starts of a sequence of values
// (a JSON array of numbers, null for a null Expr) given whether each row
// restarts (a JSON array of booleans) and the two distances: a JSON array
// of the starts, null where the value is null.
var udfRowWindowSession = udf{Name: "kql_row_window_session", Args: []string{tyString, tyString, tyReal, tyReal}, Result: tyString, NullArgs: true,
	Fn: func(args []any) (any, error) {
		var vals []*json.Number
		dec := json.NewDecoder(strings.NewReader(args[0].(string)))
		dec.UseNumber()
		if err := dec.Decode(&vals); err != nil {
			return nil, fmt.Errorf("row_window_session values: %w", err)
		}
		var restarts []*bool
		if err := json.Unmarshal([]byte(args[1].(string)), &restarts); err != nil {
			return nil, fmt.Errorf("row_window_session restarts: %w", err)
		}
		maxFirst, maxNeighbors := args[2].(float64), args[3].(float64)
		var b strings.Builder
		b.WriteByte('[')
		var start, prev float64
		var startText string
		open := false
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if v == nil {
				b.WriteString("null")
				continue
			}
			f, err := v.Float64()
			if err != nil {
				return nil, fmt.Errorf("row_window_session value %q: %w", v.String(), err)
			}
			restart := i < len(restarts) && restarts[i] != nil && *restarts[i]
			if !open || restart || f-start > maxFirst || f-prev > maxNeighbors {
				start, startText, open = f, v.String(), true
			}
			prev = f
			b.WriteString(startText)
		}
		b.WriteByte(']')
		return b.String(), nil
	},
}
