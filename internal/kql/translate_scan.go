package kql

import (
	"fmt"
	"strconv"
	"strings"
)

// scan translates the scan operator into a DuckDB list_reduce over the
// input rows in their order (per group of the column with id group, inside
// partition; "" for none). The accumulator is Kusto's state: for each
// step k whether it has an active sequence, its match id, and the values
// of s_1 … s_k that the steps' expressions read (s_j.Column). Each row is
// checked against the steps from the last to the first, as Kusto does:
//
//   - check 1 (k > 1): s_(k-1) is active and the condition holds, with
//     s_1 … s_(k-1) read from s_(k-1)'s state: s_(k-1)'s state moves to s_k
//     with the row as s_k's record;
//   - check 2 (when check 1 did not match): s_k is active, or is the first
//     step, and the condition holds on s_k's state: the row replaces s_k's
//     record; a match of the first step without an active sequence starts
//     a new one (the next match id).
//
// A matched row is output (unless the step says output=none) with the
// declared columns as the step assigned them (their defaults otherwise).
// Every check depends only on the state before the row and on the check 1
// of the step after it, so each is written out where it is used (binding
// it to a lambda parameter costs more than evaluating it again).
//
// A step with output=last keeps only the last match of each series of its
// matches: the series ends when the sequence moves on to the next step,
// when a check 1 of the step starts another sequence in it, or at the end
// of the rows.
//
// Within a check 1, s_k.Column reads s_k's record before the row. An
// unqualified declared column reads its default.
func (t *translator) scan(e *env, r *rel, v *Scan, group string) *rel {
	if !r.ordered {
		t.fail(v, "scan needs ordered rows: put it after serialize, order by or top")
	}
	s := &scanTr{t: t, v: v, steps: map[string]int{}, used: map[string]bool{}}
	for k, st := range v.Steps {
		if _, dup := s.steps[st.Name.Name]; dup {
			t.fail(st.Name, "scan: step '%s' is defined twice", st.Name.Name)
		}
		s.steps[st.Name.Name] = k
	}
	taken := map[string]bool{}
	for _, c := range r.cols {
		taken[c.name] = true
	}
	for _, d := range v.Declare {
		if taken[d.Name.Name] {
			t.fail(d.Name, "scan: declared column '%s' is already a column of the input", d.Name.Name)
		}
		taken[d.Name.Name] = true
		def := sqlNull(d.Type)
		if d.Default != nil {
			def = t.convert(d.Default, t.expr(&scope{env: e}, d.Default), d.Type)
		}
		s.decls = append(s.decls, scanDecl{col: col{name: d.Name.Name, typ: d.Type, id: t.newID()}, def: def})
	}
	if v.MatchID != nil && taken[v.MatchID.Name] {
		t.fail(v.MatchID, "scan: with_match_id names '%s', which is already a column", v.MatchID.Name)
	}
	s.need = make([]map[string]col, len(v.Steps))
	for j := range s.need {
		s.need[j] = map[string]col{}
	}
	s.view = &rel{cols: append(append([]col(nil), r.cols...), s.declCols()...)}

	s.translate(e)
	fields, outs := s.accumulator()
	return s.query(r, group, fields, outs)
}

// translate translates every condition and assignment, noting the columns
// and the state values they read: the checks 1 first, which the checks 2
// of the steps before them depend on.
func (s *scanTr) translate(e *env) {
	n := len(s.v.Steps)
	s.cond1 = make([]string, n)
	s.cond2 = make([]string, n)
	asg1, asg2 := make([]map[string]string, n), make([]map[string]string, n)
	for k := 1; k < n; k++ {
		s.cond1[k] = s.cond(e, k, 1, s.v.Steps[k].Cond)
		asg1[k] = s.assign(e, k, 1, s.v.Steps[k])
	}
	for k, st := range s.v.Steps {
		s.cond2[k] = s.cond(e, k, 2, st.Cond)
		asg2[k] = s.assign(e, k, 2, st)
	}
	s.asg = make([]map[string]string, n)
	for k := range s.v.Steps {
		s.asg[k] = asg2[k]
		if k > 0 {
			s.asg[k] = map[string]string{}
			for id, x := range asg2[k] {
				s.asg[k][id] = fmt.Sprintf("CASE WHEN %s THEN %s ELSE %s END", s.c1(k), asg1[k][id], x)
			}
		}
	}
}

// accumulator returns the fields of the accumulator with their new values
// after a row, and the new list of output rows.
func (s *scanTr) accumulator() (fields []scanField, outs string) {
	n := len(s.v.Steps)
	outType := s.outType()
	// a match of the first step without a sequence in progress starts a
	// new one, with the next match id
	start := fmt.Sprintf("%s AND NOT (%s)", s.cond2[0], s.activeAfter(0))
	fields = []scanField{{"cnt", "BIGINT", fmt.Sprintf("scan_a.cnt + CASE WHEN %s THEN 1 ELSE 0 END", start), "-1"}}
	outs = "scan_a.outs"
	for k := n - 1; k >= 0; k-- {
		// matched: check 1, or else check 2
		matched := s.cond2[0]
		mid := fmt.Sprintf("CASE WHEN %s THEN scan_a.cnt + 1 ELSE scan_a.m0 END", start)
		if k > 0 {
			matched = fmt.Sprintf("(%s OR (%s AND %s))", s.c1(k), s.activeAfter(k), s.cond2[k])
			mid = fmt.Sprintf("CASE WHEN %s THEN scan_a.m%d ELSE scan_a.m%d END", s.c1(k), k-1, k)
		}
		fields = append(fields,
			scanField{fmt.Sprintf("a%d", k), "BOOLEAN", fmt.Sprintf("(%s) OR %s", s.activeAfter(k), matched), "FALSE"},
			scanField{fmt.Sprintf("m%d", k), "BIGINT", mid, sqlNull(tyLong)})
		for j := 0; j <= k; j++ {
			for _, c := range s.needed(j) {
				f := s.field(k, j, c)
				var x string
				if j < k {
					x = fmt.Sprintf("CASE WHEN %s THEN scan_a.%s ELSE scan_a.%s END", s.c1(k), sqlIdent(s.field(k-1, j, c)), sqlIdent(f))
				} else {
					x = fmt.Sprintf("CASE WHEN %s THEN %s ELSE scan_a.%s END", matched, s.extended(k, c), sqlIdent(f))
				}
				fields = append(fields, scanField{f, sqlType(c.typ), x, sqlNull(c.typ)})
			}
		}
		if s.v.Steps[k].Output == "none" {
			continue
		}
		o := []string{"'rn': scan_x.rn", fmt.Sprintf("'k': %d", k), "'mid': " + mid}
		for _, d := range s.decls {
			o = append(o, sqlString("d_"+d.id)+": "+s.extended(k, d.col))
		}
		out := fmt.Sprintf("CAST({%s} AS %s)", strings.Join(o, ", "), outType)
		if s.v.Steps[k].Output != "last" {
			outs = fmt.Sprintf("list_concat(%s, CASE WHEN %s THEN [%s] ELSE CAST([] AS %s[]) END)", outs, matched, out, outType)
			continue
		}
		// output=last: the step's latest match waits in p<k> until its
		// series of matches ends: when the sequence moves on to the next
		// step, when a check 1 replaces it with another sequence, or at
		// the end of the rows (lastOuts)
		var ends []string
		if k < n-1 {
			ends = append(ends, s.c1(k+1))
		}
		if k > 0 {
			ends = append(ends, s.c1(k))
		}
		pend := fmt.Sprintf("p%d", k)
		next := fmt.Sprintf("CASE WHEN %s THEN %s ELSE scan_a.%s END", matched, out, pend)
		if len(ends) > 0 {
			end := "(" + strings.Join(ends, " OR ") + ")"
			next = fmt.Sprintf("CASE WHEN %s THEN %s WHEN %s THEN NULL ELSE scan_a.%s END", matched, out, end, pend)
			outs = fmt.Sprintf("list_concat(%s, CASE WHEN %s AND scan_a.%s IS NOT NULL THEN [scan_a.%s] ELSE CAST([] AS %s[]) END)", outs, end, pend, pend, outType)
		}
		fields = append(fields, scanField{pend, outType, next, "NULL"})
		s.pending = append(s.pending, "acc."+pend)
	}
	return fields, outs
}

// query returns the relation of the scan's output: the input rows each
// step output, extended with the declared columns and the match id.
func (s *scanTr) query(r *rel, group string, fields []scanField, outs string) *rel {
	t, v, outType := s.t, s.v, s.outType()
	accType := make([]string, 0, len(fields)+1)
	acc, init, carry := make([]string, 0, len(fields)+1), make([]string, 0, len(fields)+1), make([]string, 0, len(fields)+1)
	for _, f := range fields {
		accType = append(accType, sqlIdent(f.name)+" "+f.sqlt)
		acc = append(acc, fmt.Sprintf("%s: CAST(%s AS %s)", sqlString(f.name), f.sql, f.sqlt))
		init = append(init, fmt.Sprintf("%s: CAST(%s AS %s)", sqlString(f.name), f.init, f.sqlt))
		carry = append(carry, fmt.Sprintf("%s: scan_rec.acc.%s", sqlString(f.name), sqlIdent(f.name)))
	}
	accType = append(accType, "outs "+outType+"[]")
	acc = append(acc, "'outs': "+outs)
	noOuts := fmt.Sprintf("'outs': CAST([] AS %s[])", outType)
	init, carry = append(init, noOuts), append(carry, noOuts)
	step := fmt.Sprintf("lambda scan_a, scan_x: {%s}", strings.Join(acc, ", "))

	// The input rows, numbered in their order, go as list elements in
	// chunks of scanChunk rows, each reduced from the state the chunk
	// before left (a recursive CTE over the chunks): list_reduce copies
	// the accumulator's list of output rows on every row, so that one
	// list of all rows would take time quadratic in their number.
	rn := t.newID()
	elem := []string{"'rn': " + sqlIdent(rn)}
	for _, c := range r.cols {
		if s.used[c.id] {
			elem = append(elem, sqlString("x_"+c.id)+": "+sqlIdent(c.id))
		}
	}
	grpSel, recSel, grpBy, grpJoin, over := "", "", "", "", ""
	if group != "" {
		grp := sqlIdent(group)
		grpSel, recSel, grpBy = grp+", ", "c."+grp+", ", ", "+grp
		grpJoin = " AND c." + grp + " IS NOT DISTINCT FROM scan_rec." + grp
		over = "PARTITION BY " + grp + " "
	}
	inp, outT := t.alias(), t.alias()
	var sb strings.Builder
	fmt.Fprintf(&sb, "WITH RECURSIVE %s AS MATERIALIZED (SELECT *, row_number() OVER (%s) AS %s FROM (%s) AS %s), ", inp, rowOrder(r), sqlIdent(rn), r.sql, t.alias())
	fmt.Fprintf(&sb, "scan_chunks AS MATERIALIZED (SELECT %sscan_ch, list({%s} ORDER BY %s) AS l FROM (SELECT *, (row_number() OVER (%sORDER BY %s) - 1) // %d AS scan_ch FROM %s) GROUP BY scan_ch%s), ",
		grpSel, strings.Join(elem, ", "), sqlIdent(rn), over, sqlIdent(rn), scanChunk, inp, grpBy)
	anchor := fmt.Sprintf("SELECT -1 AS scan_ch, CAST({%s} AS STRUCT(%s)) AS acc", strings.Join(init, ", "), strings.Join(accType, ", "))
	if group != "" {
		anchor = fmt.Sprintf("SELECT %s-1 AS scan_ch, CAST({%s} AS STRUCT(%s)) AS acc FROM scan_chunks WHERE scan_ch = 0", grpSel, strings.Join(init, ", "), strings.Join(accType, ", "))
	}
	fmt.Fprintf(&sb, "scan_rec AS (%s UNION ALL SELECT %sc.scan_ch, CAST(list_reduce(c.l, %s, {%s}) AS STRUCT(%s)) FROM scan_rec JOIN scan_chunks AS c ON c.scan_ch = scan_rec.scan_ch + 1%s), ",
		anchor, recSel, step, strings.Join(carry, ", "), strings.Join(accType, ", "), grpJoin)
	lastOuts := ""
	if len(s.pending) > 0 {
		// the matches of output=last steps still waiting after the last
		// chunk
		lastOuts = fmt.Sprintf(" UNION ALL SELECT o FROM (SELECT unnest([%s]) AS o FROM scan_rec QUALIFY scan_ch = max(scan_ch) OVER (%s)) WHERE o IS NOT NULL",
			strings.Join(s.pending, ", "), strings.TrimSpace(over))
	}
	fmt.Fprintf(&sb, "%s AS (SELECT unnest(acc.outs) AS o FROM scan_rec%s) ", outT, lastOuts)
	cols := append([]col(nil), r.cols...)
	sel := make([]string, 0, len(cols)+len(s.decls)+1)
	for _, c := range r.cols {
		sel = append(sel, inp+"."+sqlIdent(c.id))
	}
	for _, d := range s.decls {
		cols = append(cols, d.col)
		sel = append(sel, outT+".o."+sqlIdent("d_"+d.id)+" AS "+sqlIdent(d.id))
	}
	if v.MatchID != nil {
		c := col{name: v.MatchID.Name, typ: tyLong, id: t.newID()}
		cols = append(cols, c)
		sel = append(sel, outT+".o.mid AS "+sqlIdent(c.id))
	}
	fmt.Fprintf(&sb, "SELECT %s FROM %s JOIN %s ON %s.%s = %s.o.rn ORDER BY %s.o.rn, %s.o.k DESC",
		strings.Join(sel, ", "), outT, inp, inp, sqlIdent(rn), outT, outT, outT)
	return &rel{sql: sb.String(), cols: cols, ordered: true}
}

// scanChunk is how many rows scan reduces at a time.
const scanChunk = 512

// scanTr is the state of one scan's translation.
type scanTr struct {
	t     *translator
	v     *Scan
	view  *rel // the input's and the declared columns, as expressions see them
	decls []scanDecl
	steps map[string]int // step name → index
	// need[j] are the columns read as s_j.Column (by id), which every
	// state from s_j on keeps
	need []map[string]col
	// used are the input columns (by id) the expressions read of the row
	used map[string]bool
	// cond1[k] and cond2[k] are step k's condition as its check 1 (k >
	// 0) and its check 2 read the state; asg[k] its assignments (declared
	// column id → value)
	cond1 []string
	cond2 []string
	asg   []map[string]string
	// pending are the accumulator fields (acc.p<k>) of the output=last
	// steps' waiting matches
	pending []string
}

type scanDecl struct {
	col
	def string // the default value's SQL
}

// scanField is a field of the accumulator: its SQL type, its new value
// (sql) and its initial one.
type scanField struct {
	name, sqlt, sql, init string
}

func (s *scanTr) declCols() []col {
	out := make([]col, len(s.decls))
	for i, d := range s.decls {
		out[i] = d.col
	}
	return out
}

func (s *scanTr) decl(id string) (scanDecl, bool) {
	for _, d := range s.decls {
		if d.id == id {
			return d, true
		}
	}
	return scanDecl{}, false
}

// needed returns the columns state record j keeps, in a fixed order.
func (s *scanTr) needed(j int) []col {
	var out []col
	for _, c := range s.view.cols {
		if _, ok := s.need[j][c.id]; ok {
			out = append(out, c)
		}
	}
	return out
}

// field names the accumulator field holding column c of s_j's record in
// s_k's state.
func (s *scanTr) field(k, j int, c col) string {
	return "v" + strconv.Itoa(k) + "_" + strconv.Itoa(j) + "_" + c.id
}

// c1 is whether step k's check 1 matched the row (k > 0).
func (s *scanTr) c1(k int) string {
	return fmt.Sprintf("(scan_a.a%d AND %s)", k-1, s.cond1[k])
}

// activeAfter is whether s_k's state is active once the step after it had
// its check 1 (which moves s_k's state on).
func (s *scanTr) activeAfter(k int) string {
	if k < len(s.v.Steps)-1 {
		return fmt.Sprintf("scan_a.a%d AND NOT %s", k, s.c1(k+1))
	}
	return fmt.Sprintf("scan_a.a%d", k)
}

// row is the SQL of input column c of the row being checked.
func (s *scanTr) row(c col) string {
	s.used[c.id] = true
	return "scan_x." + sqlIdent("x_"+c.id)
}

// empty is the value of column c in an empty state.
func (s *scanTr) empty(c col) string {
	if d, ok := s.decl(c.id); ok {
		return d.def
	}
	return sqlNull(c.typ)
}

// extended is the value of column c in the row as step k extends it.
func (s *scanTr) extended(k int, c col) string {
	d, ok := s.decl(c.id)
	if !ok {
		return s.row(c)
	}
	if x, ok := s.asg[k][d.id]; ok {
		return x
	}
	return d.def
}

// state is the SQL of s_j.Column c as step k's check (1 or 2) reads it.
func (s *scanTr) state(k, j, check int, c col) string {
	s.need[j][c.id] = c
	// Check 2 of a step after the first reads s_k's state only when it is
	// still active after the check 1 of the step after it (the check is
	// false otherwise); the first step's check 2 applies either way.
	k0, act := k, "scan_a.a"+strconv.Itoa(k)
	if check == 1 && j < k {
		k0, act = k-1, "scan_a.a"+strconv.Itoa(k-1)
	} else if check == 2 && k == 0 {
		act = s.activeAfter(0)
	}
	return fmt.Sprintf("CASE WHEN %s THEN scan_a.%s ELSE %s END", act, sqlIdent(s.field(k0, j, c)), s.empty(c))
}

// scope is what the expressions of step k's check see.
func (s *scanTr) scope(e *env, k, check int) *scope {
	return &scope{env: e, r: s.view,
		colRef: func(c col) string {
			if d, ok := s.decl(c.id); ok {
				return d.def
			}
			return s.row(c)
		},
		stepRef: func(m *Member) (texpr, bool) {
			id, ok := m.X.(*Ident)
			if !ok {
				return texpr{}, false
			}
			j, ok := s.steps[id.Name]
			if !ok {
				return texpr{}, false
			}
			if j > k {
				s.t.fail(m, "scan: step '%s' reads %s.%s, a step after it: a step sees its own state and the steps before it", s.v.Steps[k].Name.Name, id.Name, m.Name)
			}
			c, ok := s.view.find(m.Name)
			if !ok || c.hidden {
				names := s.view.names()
				s.t.fail(m, "scan: unknown column '%s' of step '%s'%s; the columns are: %s", m.Name, id.Name, didYouMean(m.Name, names), columnList(names))
			}
			return texpr{sql: s.state(k, j, check, c), typ: c.typ, name: c.name}, true
		}}
}

// cond translates step k's condition for check 1 or 2; null is false.
func (s *scanTr) cond(e *env, k, check int, x Expr) string {
	return "COALESCE(" + s.t.asBool(x, s.t.expr(s.scope(e, k, check), x)) + ", FALSE)"
}

// assign translates step k's assignments for check 1 or 2: declared
// column id → SQL of its value.
func (s *scanTr) assign(e *env, k, check int, st *ScanStep) map[string]string {
	out := map[string]string{}
	for _, a := range st.Assign {
		if len(a.Names) != 1 {
			s.t.fail(a, "scan: an assignment is Column = Expression")
		}
		name := a.Names[0].Name
		var d scanDecl
		found := false
		for _, x := range s.decls {
			if x.name == name {
				d, found = x, true
			}
		}
		if !found {
			names := make([]string, len(s.decls))
			for i, x := range s.decls {
				names[i] = x.name
			}
			s.t.fail(a.Names[0], "scan: step '%s' assigns '%s', which is not a declared column%s (declared: %s); declare it with declare (%s: type)", st.Name.Name, name, didYouMean(name, names), columnList(names), name)
		}
		if _, dup := out[d.id]; dup {
			s.t.fail(a.Names[0], "scan: step '%s' assigns '%s' twice", st.Name.Name, name)
		}
		out[d.id] = s.t.convert(a, s.t.expr(s.scope(e, k, check), a.Expr), d.typ)
	}
	return out
}

// outType is the SQL type of an output record: the row's number, the step,
// the match id and the declared columns.
func (s *scanTr) outType() string {
	parts := []string{"rn BIGINT", "k INTEGER", "mid BIGINT"}
	for _, d := range s.decls {
		parts = append(parts, sqlIdent("d_"+d.id)+" "+sqlType(d.typ))
	}
	return "STRUCT(" + strings.Join(parts, ", ") + ")"
}
