package kql

// The reshaping plugins: pivot (values of a column become columns) and
// narrow (every cell becomes a row).

import (
	"fmt"
	"strconv"
	"strings"
)

// pivot translates evaluate pivot(Column [, Aggregation] [, GroupColumn,
// ...]) [: (schema)]: one row per value of the group columns (by default
// every column but Column and those the aggregation reads), and one column
// per distinct value of Column (its text; sorted), holding the aggregation
// (count() by default) over the rows with that value. Without a schema
// the values are found by reading the data first; with one, its columns
// that are not group columns name the values to keep. A combination
// without rows is 0 for count, countif, dcount, dcountif, sum and sumif
// (as Kusto shows it), null otherwise.
func (t *translator) pivot(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	if len(c.Args) < 1 {
		t.fail(c, "pivot needs the column whose values become columns: evaluate pivot(Column [, Aggregation] [, GroupColumn, ...])")
	}
	pid, ok := c.Args[0].(*Ident)
	if !ok {
		t.fail(c.Args[0], "pivot takes the name of a column first, not an expression (extend a column first)")
	}
	if _, ok := r.find(pid.Name); !ok {
		names := r.names()
		t.fail(pid, "unknown column '%s'%s; the columns are: %s", pid.Name, didYouMean(pid.Name, names), columnList(names))
	}
	var agg Expr = &Call{Pos: c.Pos, Name: "count"}
	rest := c.Args[1:]
	if len(rest) > 0 {
		if call, ok := rest[0].(*Call); ok {
			agg, rest = call, rest[1:]
		}
	}
	// the group columns
	var by []*NamedExpr
	if len(rest) > 0 {
		for _, a := range rest {
			id, ok := a.(*Ident)
			if !ok {
				t.fail(a, "pivot's group columns are column names, not expressions")
			}
			by = append(by, &NamedExpr{Pos: id.Pos, Expr: id})
		}
	} else {
		read := map[string]bool{pid.Name: true}
		Inspect(agg, func(n Node) bool {
			if id, ok := n.(*Ident); ok {
				read[id.Name] = true
			}
			return true
		})
		for _, col := range r.cols {
			if !col.hidden && !read[col.name] {
				by = append(by, &NamedExpr{Pos: v.Pos, Expr: &Ident{Pos: v.Pos, Name: col.name}})
			}
		}
	}
	const valueName, pivotName = "$pivot_value", "$pivot_column"
	inner := t.summarize(e, r, &Summarize{Pos: v.Pos,
		Aggs: []*NamedExpr{{Pos: v.Pos, Names: []*Ident{{Pos: v.Pos, Name: valueName}}, Expr: agg}},
		By:   append(append([]*NamedExpr(nil), by...), &NamedExpr{Pos: v.Pos, Names: []*Ident{{Pos: v.Pos, Name: pivotName}}, Expr: pid})})
	groups := inner.cols[:len(by)]
	pcol, _ := inner.find(pivotName)
	vcol, _ := inner.find(valueName)
	key := toStringSQL(texpr{sql: sqlIdent(pcol.id), typ: pcol.typ})

	// the pivot values and their columns' types
	type value struct{ text, typ string }
	var values []value
	if v.Schema != nil || v.SchemaStar {
		for _, d := range v.Schema {
			if !hasName(groups, d.Name.Name) {
				values = append(values, value{d.Name.Name, d.Type})
			}
		}
	} else {
		rows := t.query(c, "SELECT DISTINCT coalesce("+key+", '') AS k FROM ("+inner.sql+") AS "+t.alias()+" ORDER BY k")
		for rows.Next() {
			if len(values) >= maxUnpacked {
				rows.Close()
				t.fail(c, "pivot found more than %d distinct values of %s: filter the rows first, or name the columns to keep with a schema, evaluate pivot(...) : (Name:type, ...)", maxUnpacked, pid.Name)
			}
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				t.fail(c, "pivot could not read the values of %s: %v", pid.Name, err)
			}
			values = append(values, value{s, vcol.typ})
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			if t.ctx.Err() != nil {
				panic(dbFailure{fmt.Errorf("planning the query: %w", err)})
			}
			t.fail(c, "pivot could not read the values of %s: %v", pid.Name, err)
		}
		rows.Close()
	}

	zero := false
	if call, ok := agg.(*Call); ok {
		switch call.Name {
		case "count", "countif", "dcount", "dcountif", "sum", "sumif":
			zero = true
		}
	}
	cols := append([]col(nil), groups...)
	exprs := passThrough(groups)
	taken := map[string]bool{}
	for _, g := range groups {
		taken[g.name] = true
	}
	for _, val := range values {
		name := val.text
		for i := 1; taken[name]; i++ {
			name = val.text + strconv.Itoa(i)
		}
		taken[name] = true
		cell := t.convert(c, texpr{sql: "any_value(" + sqlIdent(vcol.id) + ") FILTER (WHERE coalesce(" + key + ", '') = " + sqlString(val.text) + ")", typ: vcol.typ}, val.typ)
		if zero {
			cell = "coalesce(" + cell + ", 0)"
		}
		cols = append(cols, col{name: name, typ: val.typ, id: t.newID()})
		exprs = append(exprs, cell)
	}
	sel := make([]string, len(cols))
	for i := range cols {
		sel[i] = exprs[i] + " AS " + sqlIdent(cols[i].id)
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM (" + inner.sql + ") AS " + t.alias()
	if len(groups) > 0 {
		sql += " GROUP BY " + strings.Join(passThrough(groups), ", ")
	}
	return &rel{sql: sql, cols: cols}
}

// narrow translates evaluate narrow(): each cell of the input becomes a
// row of Row (the input row's number, from 0, in the input's order),
// Column (the column's name) and Value (the cell as a string, as
// tostring() makes it).
func (t *translator) narrow(r *rel, v *Evaluate) *rel {
	if len(v.Call.Args) > 0 {
		t.fail(v.Call, "narrow takes no arguments: evaluate narrow()")
	}
	var cells []string
	for _, c := range r.cols {
		if !c.hidden {
			cells = append(cells, "{'i': "+strconv.Itoa(len(cells))+", 'c': "+sqlString(c.name)+", 'v': "+toStringSQL(texpr{sql: sqlIdent(c.id), typ: c.typ})+"}")
		}
	}
	if len(cells) == 0 {
		t.fail(v.Call, "narrow needs a table with columns")
	}
	cols := []col{{name: "Row", typ: tyLong, id: t.newID()}, {name: "Column", typ: tyString, id: t.newID()}, {name: "Value", typ: tyString, id: t.newID()}}
	cell := t.alias()
	sql := fmt.Sprintf("SELECT rn AS %s, %s.c AS %s, %s.v AS %s FROM (SELECT row_number() OVER (%s) - 1 AS rn, unnest([%s]) AS %s FROM (%s) AS %s) ORDER BY rn, %s.i",
		sqlIdent(cols[0].id), cell, sqlIdent(cols[1].id), cell, sqlIdent(cols[2].id), rowOrder(r), strings.Join(cells, ", "), cell, r.sql, t.alias(), cell)
	return &rel{sql: sql, cols: cols, ordered: true}
}
