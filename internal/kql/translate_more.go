package kql

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// projectByNames translates project-by-names: columns named by string
// literals (with '*' wildcards) or dynamic arrays of names.
func (t *translator) projectByNames(e *env, r *rel, v *ProjectByNames) *rel {
	var patterns []string
	for _, x := range v.Columns {
		tx := t.expr(&scope{env: e}, x)
		if s, ok := tx.str(); ok {
			patterns = append(patterns, s)
			continue
		}
		if d, ok := x.(*Dynamic); ok {
			if arr, ok := dynamicValue(d).([]any); ok {
				for _, a := range arr {
					if s, ok := a.(string); ok {
						patterns = append(patterns, s)
					}
				}
				continue
			}
		}
		if tx.typ == tyDynamic {
			var n []string
			var js string
			if err := t.constValue("SELECT CAST("+tx.sql+" AS VARCHAR)", &js); err == nil && json.Unmarshal([]byte(js), &n) == nil {
				patterns = append(patterns, n...)
				continue
			}
		}
		t.fail(x, "project-by-names needs column names as string literals or a dynamic array of names")
	}
	var out []col
	used := map[string]bool{}
	for _, p := range patterns {
		for _, c := range r.cols {
			if !used[c.id] && wildcardMatch(p, c.name) {
				used[c.id] = true
				out = append(out, c)
			}
		}
	}
	return t.project(r, out, passThrough(out))
}

// packAll is pack_all(): the row's columns as a property bag.
func (t *translator) packAll(sc *scope, c *Call) texpr {
	if sc.r == nil {
		t.fail(c, "pack_all() needs a row: use it in extend or project")
	}
	if sc.colRef != nil {
		t.fail(c, "pack_all() is not supported in scan's steps: pack the columns with bag_pack(\"Name\", Column, ...)")
	}
	ignoreNull := false
	if len(c.Args) == 1 {
		if l, ok := c.Args[0].(*Literal); ok && l.Kind == LitBool {
			ignoreNull = l.Value == "true"
		}
	}
	cols := sc.input
	if cols == nil {
		cols = sc.r.cols
	}
	var parts []string
	for _, col := range cols {
		if col.hidden {
			continue
		}
		parts = append(parts, sqlString(col.name), toDynamic(texpr{sql: sqlIdent(col.id), typ: col.typ}))
	}
	if ignoreNull {
		// pack_all(true) leaves out null and empty values
		var kv []string
		for _, col := range cols {
			x := texpr{sql: sqlIdent(col.id), typ: col.typ}
			kv = append(kv, "CASE WHEN "+emptySQL(x)+" THEN NULL ELSE struct_pack(k := "+sqlString(col.name)+", v := "+toDynamic(x)+") END")
		}
		s := "coalesce(CAST(map_from_entries(list_filter([" + strings.Join(kv, ", ") + "], e -> e IS NOT NULL)) AS JSON), '{}')"
		return texpr{sql: s, typ: tyDynamic}
	}
	return texpr{sql: "json_object(" + strings.Join(parts, ", ") + ")", typ: tyDynamic}
}

// bagUnpack translates evaluate bag_unpack(col [, prefix]
// [, columnsConflict=...] [, ignoredProperties=...]) [: (schema)]: each
// property of the bags becomes a column. Without a schema the properties
// and their types are found by reading the data first.
func (t *translator) bagUnpack(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	if len(c.Args) < 1 {
		t.fail(c, "bag_unpack needs the dynamic column to unpack")
	}
	sc := &scope{env: e, r: r}
	bag := t.expr(sc, c.Args[0])
	if bag.typ != tyDynamic {
		t.fail(c.Args[0], "bag_unpack needs a dynamic column, not a %s", bag.typ)
	}
	prefix, conflict := "", "error"
	ignored := map[string]bool{}
	for i, a := range c.Args[1:] {
		switch x := a.(type) {
		case *NamedArg:
			switch x.Name {
			case "columnsConflict":
				if l, ok := x.Value.(*Literal); ok {
					conflict = l.Value
				}
			case "ignoredProperties":
				if d, ok := x.Value.(*Dynamic); ok {
					if arr, ok := dynamicValue(d).([]any); ok {
						for _, p := range arr {
							ignored[fmt.Sprint(p)] = true
						}
					}
				}
			case "OutputColumnPrefix":
				if l, ok := x.Value.(*Literal); ok {
					prefix = l.Value
				}
			default:
				t.fail(x, "unknown bag_unpack parameter '%s'", x.Name)
			}
		case *Literal:
			if i == 0 && x.Kind == LitString {
				prefix = x.Value
			}
		}
	}
	type prop struct{ key, typ string }
	var props []prop
	if v.Schema != nil || v.SchemaStar {
		for _, d := range v.Schema {
			props = append(props, prop{d.Name.Name, d.Type})
		}
	} else {
		// discover the properties: one query over the input
		q := "SELECT k, list(DISTINCT json_type(json_extract(b, '/' || replace(replace(k, '~', '~0'), '/', '~1')))) FROM (SELECT b, unnest(json_keys(b)) AS k FROM (SELECT " + bag.sql + " AS b FROM (" + r.sql + ") AS " + t.alias() + ") WHERE json_type(b) = 'OBJECT') GROUP BY k ORDER BY k"
		rows := t.query(c, q)
		for rows.Next() {
			if len(props) >= maxUnpacked {
				rows.Close()
				t.fail(c, "bag_unpack found more than %d distinct properties: give the columns it should produce as a schema, evaluate bag_unpack(%s) : (Name:type, ...), or unpack fewer bags", maxUnpacked, Format(c.Args[0]))
			}
			var k string
			var types any
			if err := rows.Scan(&k, &types); err != nil {
				rows.Close()
				t.fail(c, "bag_unpack could not read the bags: %v", err)
			}
			props = append(props, prop{k, jsonColumnType(types)})
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			if t.ctx.Err() != nil {
				panic(dbFailure{fmt.Errorf("planning the query: %w", err)})
			}
			t.fail(c, "bag_unpack could not read the bags: %v", err)
		}
		rows.Close()
	}
	var cols []col
	var exprs []string
	for _, col := range r.cols {
		if bag.sql == sqlIdent(col.id) {
			continue
		}
		cols = append(cols, col)
		exprs = append(exprs, sqlIdent(col.id))
	}
	if v.Schema != nil && !v.SchemaStar {
		cols, exprs = nil, nil
	}
	for _, p := range props {
		if ignored[p.key] {
			continue
		}
		name := prefix + p.key
		val := texpr{sql: "json_extract(" + bag.sql + ", " + sqlString(jsonPointer(p.key)) + ")", typ: tyDynamic}
		x := t.convert(c, val, p.typ)
		if i := indexName(cols, name); i >= 0 {
			switch conflict {
			case "keep_source":
				continue
			case "replace_source":
				cols[i] = col{name: name, typ: p.typ, id: t.newID()}
				exprs[i] = x
				continue
			default:
				t.fail(c, "bag_unpack: property '%s' conflicts with the column of the same name; set columnsConflict='replace_source' or 'keep_source'", p.key)
			}
		}
		cols = append(cols, col{name: name, typ: p.typ, id: t.newID()})
		exprs = append(exprs, x)
	}
	return t.project(r, cols, exprs)
}

// maxUnpacked bounds the columns bag_unpack discovers from the data.
const maxUnpacked = 1000

// jsonColumnType is the column type for the JSON types a property has
// across rows (a DuckDB list of json_type names).
func jsonColumnType(v any) string {
	list, _ := v.([]any)
	kinds := map[string]bool{}
	for _, x := range list {
		if s, ok := x.(string); ok && s != "NULL" {
			kinds[s] = true
		}
	}
	switch {
	case len(kinds) == 0:
		return tyDynamic
	case len(kinds) == 1 && kinds["VARCHAR"]:
		return tyString
	case len(kinds) == 1 && kinds["BOOLEAN"]:
		return tyBool
	}
	integral, numeric := true, true
	for k := range kinds {
		switch k {
		case "BIGINT", "UBIGINT":
		case "DOUBLE":
			integral = false
		default:
			integral, numeric = false, false
		}
	}
	switch {
	case integral:
		return tyLong
	case numeric:
		return tyReal
	}
	return tyDynamic
}

// parseKV translates parse-kv: each declared key's value becomes a typed
// column, read by a Go function that splits the text into pairs.
func (t *translator) parseKV(e *env, r *rel, v *ParseKV) *rel {
	sc := &scope{env: e, r: r}
	src := t.expr(sc, v.Source)
	s := t.convert(v.Source, src, tyString)
	opts := map[string]string{}
	for _, p := range v.Props {
		if len(p.Values) != 1 {
			t.fail(p, "parse-kv property %s needs one value", p.Name)
		}
		switch x := p.Values[0].(type) {
		case *Literal:
			opts[p.Name] = x.Value
		case *Ident:
			opts[p.Name] = x.Name
		default:
			t.fail(p, "parse-kv property %s needs a literal value", p.Name)
		}
		switch p.Name {
		case "pair_delimiter", "kv_delimiter", "quote", "escape", "greedy":
		default:
			t.fail(p, "unknown parse-kv property '%s' (want pair_delimiter, kv_delimiter, quote, escape or greedy)", p.Name)
		}
	}
	var keys []string
	for _, c := range v.Columns {
		keys = append(keys, c.Name.Name)
	}
	kj, _ := json.Marshal(keys)
	oj, _ := json.Marshal(opts)
	parsed := "CAST(kql_parse_kv(" + s + ", " + sqlString(string(kj)) + ", " + sqlString(string(oj)) + ") AS JSON)"
	// one layer computes the bag, the next the columns
	bagID := t.newID()
	inner := t.project(r, append(append([]col(nil), r.cols...), col{name: "$kv", typ: tyDynamic, id: bagID}), append(passThrough(r.cols), parsed))
	cols := append([]col(nil), r.cols...)
	exprs := passThrough(cols)
	for _, c := range v.Columns {
		val := texpr{sql: "json_extract(" + sqlIdent(bagID) + ", " + sqlString(jsonPointer(c.Name.Name)) + ")", typ: tyDynamic}
		var x string
		if c.Type == tyString {
			x = toStringSQL(val)
		} else if c.Type == tyDynamic {
			x = val.sql
		} else {
			x = t.convert(c, texpr{sql: "nullif(" + toStringSQL(val) + ", '')", typ: tyString}, c.Type)
		}
		nc := col{name: c.Name.Name, typ: c.Type, id: t.newID()}
		if i := indexName(cols, nc.name); i >= 0 {
			cols[i], exprs[i] = nc, x
		} else {
			cols = append(cols, nc)
			exprs = append(exprs, x)
		}
	}
	return t.project(inner, cols, exprs)
}

// opUDFs are the Go functions operators and aggregations call.
func opUDFs() []udf {
	return []udf{buildSchemaUDF, udfRowWindowSession, {
		Name: "kql_weighted_percentile", Args: []string{tyString, tyReal}, Result: tyReal, NullArgs: true,
		Fn: func(args []any) (any, error) {
			var items []struct{ V, W float64 }
			if err := json.Unmarshal([]byte(args[0].(string)), &items); err != nil {
				return nil, err
			}
			return weightedPercentile(items, args[1].(float64)), nil
		},
	}, {
		Name: "kql_parse_kv", Args: []string{tyString, tyString, tyString}, Result: tyDynamic, NullArgs: true,
		Fn: func(args []any) (any, error) {
			text, _ := args[0].(string)
			var keys []string
			var opts map[string]string
			if err := json.Unmarshal([]byte(args[1].(string)), &keys); err != nil {
				return nil, err
			}
			if err := json.Unmarshal([]byte(args[2].(string)), &opts); err != nil {
				return nil, err
			}
			b, err := json.Marshal(parseKVText(text, keys, opts))
			return string(b), err
		},
	}}
}

// parseKVText extracts the values of keys from text. With kv_delimiter
// and pair_delimiter set, the text is split into pairs (quotes and escapes
// respected); without them, each key is looked for followed by ':' or '='
// and its value runs to the next ',' or ';' (or the closing quote).
func parseKVText(text string, keys []string, opts map[string]string) map[string]string {
	out := map[string]string{}
	quote, escape := opts["quote"], opts["escape"]
	pairDelim, kvDelim := opts["pair_delimiter"], opts["kv_delimiter"]
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	isQuote := func(r rune) bool { return quote != "" && strings.ContainsRune(quote, r) }
	unquote := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) >= 2 && isQuote(rune(s[0])) && s[len(s)-1] == s[0] {
			s = s[1 : len(s)-1]
		}
		if escape != "" {
			var b strings.Builder
			rs := []rune(s)
			for i := 0; i < len(rs); i++ {
				if strings.ContainsRune(escape, rs[i]) && i+1 < len(rs) {
					i++
				}
				b.WriteRune(rs[i])
			}
			s = b.String()
		}
		return s
	}
	// split text by sep outside quotes
	split := func(s, sep string) []string {
		var parts []string
		var cur strings.Builder
		var inQ rune
		rs := []rune(s)
		for i := 0; i < len(rs); i++ {
			ch := rs[i]
			if escape != "" && strings.ContainsRune(escape, ch) && i+1 < len(rs) {
				cur.WriteRune(ch)
				cur.WriteRune(rs[i+1])
				i++
				continue
			}
			if inQ != 0 {
				if ch == inQ {
					inQ = 0
				}
				cur.WriteRune(ch)
				continue
			}
			if isQuote(ch) {
				inQ = ch
				cur.WriteRune(ch)
				continue
			}
			if strings.HasPrefix(string(rs[i:]), sep) {
				parts = append(parts, cur.String())
				cur.Reset()
				i += len([]rune(sep)) - 1
				continue
			}
			cur.WriteRune(ch)
		}
		return append(parts, cur.String())
	}
	if pairDelim != "" && kvDelim != "" {
		for _, p := range split(text, pairDelim) {
			kv := split(p, kvDelim)
			if len(kv) < 2 {
				continue
			}
			k := unquote(kv[0])
			if want[k] {
				if _, seen := out[k]; !seen {
					out[k] = unquote(strings.Join(kv[1:], kvDelim))
				}
			}
		}
		return out
	}
	// relaxed: find "key:" or "key=" and read to the next separator
	for _, k := range keys {
		for from := 0; from < len(text); {
			i := strings.Index(text[from:], k)
			if i < 0 {
				break
			}
			i += from
			from = i + 1
			if i > 0 {
				if r := rune(text[i-1]); unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
					continue
				}
			}
			j := i + len(k)
			for j < len(text) && text[j] == ' ' {
				j++
			}
			if j >= len(text) || (text[j] != ':' && text[j] != '=') {
				continue
			}
			j++
			for j < len(text) && text[j] == ' ' {
				j++
			}
			rest := text[j:]
			if rest != "" && isQuote(rune(rest[0])) {
				q := rest[0]
				var b strings.Builder
				for n := 1; n < len(rest); n++ {
					if escape != "" && strings.IndexByte(escape, rest[n]) >= 0 && n+1 < len(rest) {
						n++
						b.WriteByte(rest[n])
						continue
					}
					if rest[n] == q {
						break
					}
					b.WriteByte(rest[n])
				}
				out[k] = b.String()
			} else {
				end := strings.IndexAny(rest, ",;")
				if end < 0 {
					end = len(rest)
				}
				out[k] = strings.TrimSpace(rest[:end])
			}
			break
		}
	}
	return out
}

// mvApply translates mv-apply for sub-queries made of where, extend,
// project, take, top, order by and summarize: each input row's expanded
// items form a table the sub-query runs on, and its rows are joined back
// to the input row.
func (t *translator) mvApply(e *env, r *rel, v *MvApply) *rel {
	// number the input rows
	ridID := t.newID()
	base := t.project(r, append(append([]col(nil), r.cols...), col{name: "$rid", typ: tyLong, id: ridID}), append(passThrough(r.cols), "row_number() OVER ()"))
	exp := t.mvExpand(e, base, &MvExpand{Pos: v.Pos, Kind: "", ItemIndex: v.ItemIndex, Options: v.Options, Items: v.Items})
	// the sub-query sees the row's columns with the items expanded, and
	// the row number
	rid, _ := exp.find("$rid")
	sub := exp
	for _, op := range v.Ops {
		sub = t.partitioned(e, sub, op, rid.id, "$rid", "mv-apply")
	}
	// join back: the input row's columns (the expanded ones replaced by
	// the sub-query's output)
	subRid, ok := findID(sub.cols, rid.id)
	if !ok {
		t.fail(v, "mv-apply: the sub-query lost the row it belongs to")
	}
	la, ra := t.alias(), t.alias()
	var cols []col
	var sel []string
	expanded := map[string]bool{}
	for _, it := range v.Items {
		if it.Name == nil {
			if id, ok := it.Expr.(*Ident); ok {
				// expanded in place: the sub-query's output replaces it
				expanded[id.Name] = true
			}
		}
	}
	for _, c := range r.cols {
		if hasName(sub.cols, c.name) || expanded[c.name] {
			continue
		}
		cols = append(cols, c)
		sel = append(sel, la+"."+sqlIdent(c.id)+" AS "+sqlIdent(c.id))
	}
	for _, c := range sub.cols {
		if c.id == subRid.id {
			continue
		}
		nc := col{name: c.name, typ: c.typ, id: t.newID()}
		cols = append(cols, nc)
		sel = append(sel, ra+"."+sqlIdent(c.id)+" AS "+sqlIdent(nc.id))
	}
	out := &rel{cols: cols}
	out.sql = "SELECT " + strings.Join(sel, ", ") + " FROM (" + base.sql + ") AS " + la + " JOIN (" + sub.sql + ") AS " + ra + " ON " + la + "." + sqlIdent(ridID) + " = " + ra + "." + sqlIdent(subRid.id) + " ORDER BY " + la + "." + sqlIdent(ridID)
	return out
}

// partition translates `partition by Key (ops)` for sub-queries made of
// the operators mv-apply takes: the rows of each value of Key are a table
// the sub-query runs on, and the results are put together. Kusto's limit
// on the number of partitions (and its hints) do not apply.
func (t *translator) partition(e *env, r *rel, v *Partition) *rel {
	key := t.expr(&scope{env: e, r: r}, v.By)
	const keyName = "$partition"
	keyID := t.newID()
	cols := append(append([]col(nil), r.cols...), col{name: keyName, typ: key.typ, id: keyID})
	sub := t.project(r, cols, append(passThrough(r.cols), key.sql))
	for _, op := range v.Ops {
		sub = t.partitioned(e, sub, op, keyID, keyName, "partition")
	}
	// drop the key's copy; the sub-query decides whether the key stays
	var out []col
	for _, c := range sub.cols {
		if c.id != keyID {
			out = append(out, c)
		}
	}
	res := t.project(sub, out, passThrough(out))
	if len(res.order) > 0 {
		res.sql += " ORDER BY " + joinOrder(res.order)
	}
	return res
}

func findID(cols []col, id string) (col, bool) {
	for _, c := range cols {
		if c.id == id {
			return c, true
		}
	}
	return col{}, false
}

// partitioned applies an operator of a sub-query (of mv-apply or
// partition, named by what) to each group of rows separately: the column
// with id ridID and name ridName (hidden from the query) tells the groups
// apart.
func (t *translator) partitioned(e *env, r *rel, op Operator, ridID, ridName, what string) *rel {
	rid, _ := findID(r.cols, ridID)
	keep := func(out *rel) *rel {
		if _, ok := findID(out.cols, ridID); ok {
			return out
		}
		// project dropped the row number: carry it through
		cols := append(append([]col(nil), out.cols...), rid)
		return &rel{sql: out.sql, cols: cols}
	}
	switch v := op.(type) {
	case *Where, *Extend:
		return t.operator(e, r, op)
	case *Project:
		out := t.projectOp(e, r, append(append([]*NamedExpr(nil), v.Columns...), &NamedExpr{Pos: v.Pos, Expr: &Ident{Pos: v.Pos, Name: ridName}}), false)
		return out
	case *Take:
		n := t.constLong(e, v.N, "take")
		over := "PARTITION BY " + sqlIdent(ridID)
		if len(r.order) > 0 {
			// the first rows of each group in the order sorted before
			over += " ORDER BY " + joinOrder(r.order)
		}
		out := t.wrap(r, fmt.Sprintf("QUALIFY row_number() OVER (%s) <= %d", over, n))
		if len(r.order) > 0 {
			out.sql += " ORDER BY " + joinOrder(r.order)
		}
		return out
	case *Sort, *Top:
		var keys []*SortKey
		var n *int64
		if s, ok := v.(*Sort); ok {
			keys = s.Keys
		} else {
			tp := v.(*Top)
			keys = tp.By
			m := t.constLong(e, tp.N, "top")
			n = &m
		}
		sorted := t.sortOp(e, r, keys, nil)
		if n == nil {
			return sorted
		}
		out := t.wrap(r, fmt.Sprintf("QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s) <= %d", sqlIdent(ridID), joinOrder(sorted.order), *n))
		out.sql += " ORDER BY " + sqlIdent(ridID) + ", " + joinOrder(sorted.order)
		out.ordered, out.order = true, sorted.order
		return out
	case *Summarize:
		by := append([]*NamedExpr{{Pos: v.Pos, Expr: &Ident{Pos: v.Pos, Name: ridName}}}, v.By...)
		out := t.summarize(e, r, &Summarize{Pos: v.Pos, Hints: v.Hints, Aggs: v.Aggs, By: by})
		// summarize named the row number column after it; keep its id
		if c, ok := out.find(ridName); ok {
			ridCol := c
			cols := append([]col(nil), out.cols[1:]...)
			cols = append(cols, ridCol)
			res := t.project(out, cols, passThrough(cols))
			for i := range res.cols {
				if res.cols[i].name == ridName {
					res.cols[i].id = ridCol.id
				}
			}
			return t.renameID(res, ridCol.id, ridID)
		}
		return keep(out)
	case *MvExpand:
		return t.operator(e, r, op)
	case *Scan:
		return t.scan(e, r, v, ridID)
	}
	t.fail(op, "this operator is not supported inside %s (use where, extend, project, take, top, order by, summarize, mv-expand or scan)", what)
	return nil
}

// renameID re-projects r so that the column with id from has id to.
func (t *translator) renameID(r *rel, from, to string) *rel {
	cols := append([]col(nil), r.cols...)
	exprs := passThrough(cols)
	for i := range cols {
		if cols[i].id == from {
			cols[i].id = to
		}
	}
	return t.project(r, cols, exprs)
}

// weightedPercentile returns the smallest value (items sorted by V) whose
// cumulative weight reaches p percent of the total weight, nil for none.
func weightedPercentile(items []struct{ V, W float64 }, p float64) any {
	total := 0.0
	for _, it := range items {
		total += it.W
	}
	if len(items) == 0 || total <= 0 {
		return nil
	}
	need := p / 100 * total
	cum := 0.0
	for _, it := range items {
		cum += it.W
		if cum >= need {
			return it.V
		}
	}
	return items[len(items)-1].V
}

// topNested translates top-nested: level by level, the top N values of
// each level's expression (ranked by its aggregation) within each group of
// the levels above. One output row per path through the levels, with each
// level's value and aggregate.
func (t *translator) topNested(e *env, r *rel, v *TopNested) *rel {
	sc := &scope{env: e, r: r}
	aggSc := &scope{env: e, r: r, aggs: &aggState{}}
	base := "SELECT * FROM (" + r.sql + ") AS " + t.alias()
	var keyExprs []string // SQL of each level's value over r
	var cols []col
	var ctes []string
	prev := ""
	for i, lvl := range v.Levels {
		if lvl.Others != nil {
			t.fail(lvl, "top-nested 'with others' is not supported")
		}
		of := t.expr(sc, lvl.Of.Expr)
		ofName := of.name
		if len(lvl.Of.Names) > 0 {
			ofName = lvl.Of.Names[0].Name
		}
		if ofName == "" {
			ofName = fmt.Sprintf("Column%d", i+1)
		}
		agg := t.expr(aggSc, lvl.By.Expr)
		if !agg.agg {
			t.fail(lvl.By, "top-nested ranks by an aggregation such as count() or max(x)")
		}
		aggName := ""
		if len(lvl.By.Names) > 0 {
			aggName = lvl.By.Names[0].Name
		} else {
			aggName = aggColumnName(lvl.By.Expr, aggSc, t)
		}
		if aggName == "" {
			aggName = fmt.Sprintf("aggregated_%s", ofName)
		}
		keyExprs = append(keyExprs, of.sql)
		k := "k" + itoa(i)
		// this level's groups, within the groups the level above kept
		var keys, partition []string
		for j := range keyExprs {
			keys = append(keys, keyExprs[j]+" AS k"+itoa(j))
			if j < i {
				partition = append(partition, "k"+itoa(j))
			}
		}
		from := base
		if prev != "" {
			var on []string
			for j := 0; j < i; j++ {
				on = append(on, "p.k"+itoa(j)+" IS NOT DISTINCT FROM b.k"+itoa(j))
			}
			var bkeys []string
			for j := 0; j < i; j++ {
				bkeys = append(bkeys, keyExprs[j]+" AS k"+itoa(j))
			}
			from = "SELECT b.* FROM (SELECT *, " + strings.Join(bkeys, ", ") + " FROM (" + r.sql + ") AS " + t.alias() + ") AS b JOIN (SELECT DISTINCT " + strings.Join(prefixAll("k", i), ", ") + " FROM " + prev + ") AS p ON " + strings.Join(on, " AND ")
		}
		group := make([]string, len(keys))
		for j := range group {
			group[j] = itoa(j + 1)
		}
		order := "a" + itoa(i) + " DESC NULLS LAST"
		if lvl.Order == "asc" {
			order = "a" + itoa(i) + " ASC NULLS LAST"
		}
		over := "ORDER BY " + order
		if len(partition) > 0 {
			over = "PARTITION BY " + strings.Join(partition, ", ") + " " + over
		}
		q := "SELECT " + strings.Join(keys, ", ") + ", " + agg.sql + " AS a" + itoa(i) + " FROM (" + from + ") AS " + t.alias() + " GROUP BY " + strings.Join(group, ", ")
		if lvl.N != nil {
			n := t.constLong(e, lvl.N, "top-nested")
			q = fmt.Sprintf("SELECT * FROM (%s) AS %s QUALIFY row_number() OVER (%s) <= %d", q, t.alias(), over, n)
		}
		name := "l" + itoa(i)
		if prev != "" {
			// carry the aggregates of the levels above
			var carry, on []string
			for j := 0; j < i; j++ {
				carry = append(carry, "p.a"+itoa(j))
				on = append(on, "p.k"+itoa(j)+" IS NOT DISTINCT FROM c.k"+itoa(j))
			}
			q = "SELECT c.*, " + strings.Join(carry, ", ") + " FROM (" + q + ") AS c JOIN (SELECT DISTINCT " + strings.Join(append(prefixAll("k", i), prefixAll("a", i)...), ", ") + " FROM " + prev + ") AS p ON " + strings.Join(on, " AND ")
		}
		ctes = append(ctes, name+" AS ("+q+")")
		prev = name
		cols = append(cols, col{name: ofName, typ: of.typ, id: k}, col{name: aggName, typ: agg.typ, id: "a" + itoa(i)})
	}
	var sel []string
	out := &rel{}
	for _, c := range cols {
		id := t.newID()
		sel = append(sel, c.id+" AS "+sqlIdent(id))
		out.cols = append(out.cols, col{name: uniqueName(c.name, out.cols), typ: c.typ, id: id})
	}
	out.sql = "WITH " + strings.Join(ctes, ", ") + " SELECT " + strings.Join(sel, ", ") + " FROM " + prev
	return out
}

// prefixAll returns p0, p1, ..., p(n-1).
func prefixAll(p string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = p + itoa(i)
	}
	return out
}

// tupleCall translates a call of a function that gives several columns:
// the series functions of seriesTuple, and array_sort_asc/desc of several
// arrays (each array sorted along the first, a column <name>_sorted
// each). ok is false for any other expression.
func (t *translator) tupleCall(sc *scope, x Expr) (names []string, cols []texpr, ok bool) {
	if names, cols, ok := t.seriesTuple(sc, x); ok {
		return names, cols, true
	}
	c, isCall := x.(*Call)
	if !isCall || (c.Name != "array_sort_asc" && c.Name != "array_sort_desc") || sc.env.lookup(c.Name) != nil {
		return nil, nil, false
	}
	var arrays []Expr
	for _, a := range c.Args {
		if l, isLit := a.(*Literal); isLit && l.Kind == LitBool {
			continue // nulls_last
		}
		arrays = append(arrays, a)
	}
	if len(arrays) < 2 {
		return nil, nil, false
	}
	all := t.expr(sc, x)
	for i, a := range arrays {
		name := fmt.Sprintf("array%d_sorted", i+1)
		if id, isIdent := a.(*Ident); isIdent {
			name = id.Name + "_sorted"
		}
		names = append(names, name)
		cols = append(cols, texpr{sql: "json_extract(" + all.sql + ", '$[" + itoa(i) + "]')", typ: tyDynamic})
	}
	return names, cols, true
}

// topHitters translates top-hitters N of Value [by Sum] exactly, as Kusto
// documents its result: summarize approximate_count_Value = count() (or
// approximate_sum_Sum = sum(Sum)) by Value | top N by it desc. Kusto
// estimates the counts with a count-min sketch; these are exact.
func (t *translator) topHitters(e *env, r *rel, v *TopHitters) *rel {
	n := t.constLong(e, v.N, "top-hitters")
	const tmp = "$top_hitters"
	var agg Expr = &Call{Pos: v.Pos, Name: "count"}
	if v.Sum != nil {
		agg = &Call{Pos: v.Pos, Name: "sum", Args: []Expr{v.Sum}}
	}
	out := t.summarize(e, r, &Summarize{Pos: v.Pos,
		Aggs: []*NamedExpr{{Pos: v.Pos, Names: []*Ident{{Pos: v.Pos, Name: tmp}}, Expr: agg}},
		By:   []*NamedExpr{{Pos: v.Pos, Expr: v.Value}}})
	name := "approximate_count_" + out.cols[0].name
	if v.Sum != nil {
		name = "approximate_sum_" + t.expr(&scope{env: e, r: r}, v.Sum).name
		if name == "approximate_sum_" {
			name += out.cols[0].name
		}
	}
	cols := append([]col(nil), out.cols...)
	for i := range cols {
		if cols[i].name == tmp {
			cols[i].name = name
		}
	}
	renamed := &rel{sql: out.sql, cols: cols}
	return t.sortOp(e, renamed, []*SortKey{{Pos: v.Pos, Expr: &Ident{Pos: v.Pos, Name: name}, Order: "desc"}}, &n)
}
