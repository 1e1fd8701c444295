package kql

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Plan is a translated query: one SQL statement per tabular statement.
type Plan struct {
	Stmts []*StmtPlan
	// TablesRead are the catalog tables the query reads, sorted.
	TablesRead []string
}

// StmtPlan is the SQL of one tabular statement and the shape of its
// result.
type StmtPlan struct {
	SQL     string
	Columns []Column
	Ordered bool
	Chart   *Chart
	// Name is the result table's name when the query gives it (a fork
	// leg's, a facet's column); "" for the default.
	Name string
}

// col is a column of a relation being built: its KQL name and type and the
// generated SQL name that holds it.
type col struct {
	name string
	typ  string
	id   string
	// hidden marks a column an operator needs while it runs (helperCol):
	// not listed, not packed, dropped from the operator's result.
	hidden bool
}

// orderTerm is one key of the order a relation's rows are in.
type orderTerm struct {
	sql  string // over the relation's column ids
	desc bool
	// nullsFirst places nulls before other values.
	nullsFirst bool
}

func (o orderTerm) String() string {
	s := o.sql
	if o.desc {
		s += " DESC"
	} else {
		s += " ASC"
	}
	if o.nullsFirst {
		return s + " NULLS FIRST"
	}
	return s + " NULLS LAST"
}

// rel is a tabular value: a SQL query and its columns. When ordered is
// set the rows are in an order the query fixed; order holds its keys while
// the columns they name are still present.
type rel struct {
	sql     string
	cols    []col
	ordered bool
	order   []orderTerm
	chart   *Chart
	// table is the catalog table the rows come from unchanged in shape
	// (for search's $table); "" otherwise.
	table string
	// graph is set when the value is a graph (make-graph), not a table:
	// sql and cols are then empty.
	graph *graphVal
}

// find returns the column named name.
func (r *rel) find(name string) (col, bool) {
	for _, c := range r.cols {
		if c.name == name {
			return c, true
		}
	}
	return col{}, false
}

func (r *rel) names() []string {
	out := make([]string, 0, len(r.cols))
	for _, c := range r.cols {
		if !c.hidden {
			out = append(out, c.name)
		}
	}
	return out
}

// hasIDs reports whether every column id the order terms use is still
// among cols.
func orderValid(order []orderTerm, cols []col) bool {
	ids := make(map[string]bool, len(cols))
	for _, c := range cols {
		ids[c.id] = true
	}
	for _, o := range order {
		if !usesAny(o.sql, ids) {
			return false
		}
	}
	return true
}

// binding is what a let statement or a function parameter binds a name
// to.
type binding struct {
	scalar *texpr   // a scalar value
	tab    *Pipe    // a tabular expression, translated at each use
	rel    *rel     // a tabular value already translated (tabular parameter)
	fn     *FuncDef // a user function
	env    *env     // the scope tab and fn were defined in
	name   string
}

// env is a lexical scope of let bindings.
type env struct {
	parent *env
	names  map[string]*binding
}

func (e *env) lookup(name string) *binding {
	for s := e; s != nil; s = s.parent {
		if b, ok := s.names[name]; ok {
			return b
		}
	}
	return nil
}

func (e *env) child() *env { return &env{parent: e, names: map[string]*binding{}} }

// translator holds the state of one translation.
type translator struct {
	eng       *Engine
	ctx       context.Context // bounds the queries translation runs
	now       time.Time
	nextID    int
	nextAlias int
	read      map[string]bool
	depth     int
	// props are the request properties set statements gave that the
	// translation applies (bin_auto's size and origin).
	props map[string]texpr
}

// Translate turns a parsed query into SQL. Errors are *Error values naming
// the place in the query (*InternalError for a bug of the engine).
// Operators that read data to plan (bag_unpack) do so within the engine's
// time limit.
func (e *Engine) Translate(q *Query) (plan *Plan, err error) {
	defer recoverInternal(&err)
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
	defer cancel()
	return e.translate(ctx, q, e.opts.Now())
}

func (e *Engine) translate(ctx context.Context, q *Query, now time.Time) (plan *Plan, err error) {
	t := &translator{eng: e, ctx: ctx, now: now.UTC().Truncate(time.Microsecond), read: map[string]bool{}, props: map[string]texpr{}}
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *Error:
				plan, err = nil, x
			case dbFailure:
				plan, err = nil, x.err
			default:
				panic(r)
			}
		}
	}()
	plan = &Plan{}
	root := (&env{}).child()
	for _, st := range q.Statements {
		switch s := st.(type) {
		case *LetStmt:
			t.bindLet(root, s)
		case *SetStmt:
			// request properties have no effect here, but for bin_auto's
			// two; the others are accepted so that queries written for
			// Kusto run
			if s.Value != nil && (s.Name == "query_bin_auto_size" || s.Name == "query_bin_auto_at") {
				t.props[s.Name] = t.expr(&scope{env: root}, s.Value)
			}
		case *TabularStmt:
			plan.Stmts = append(plan.Stmts, t.statement(root, s.Expr)...)
		}
	}
	if len(plan.Stmts) == 0 {
		t.fail(q.Pos, "the query has no tabular statement to run: it only binds names with let; add a statement that uses them")
	}
	plan.TablesRead = sortedKeys(t.read)
	return plan, nil
}

// statement translates a tabular statement: one result table, or one for
// each leg of a fork, or each table of a facet, that ends it.
func (t *translator) statement(e *env, p *Pipe) []*StmtPlan {
	var last Operator
	if n := len(p.Ops); n > 0 {
		last = p.Ops[n-1]
	}
	input := func() *rel { return t.pipe(e, &Pipe{Pos: p.Pos, Source: p.Source, Ops: p.Ops[:len(p.Ops)-1]}) }
	var out []*StmtPlan
	leg := func(r *rel, ops []Operator, name string) {
		for _, op := range ops {
			r = t.operator(e, r, op)
			if as, ok := op.(*As); ok && name == "" {
				name = as.Name.Name
			}
		}
		sp := t.finish(r)
		sp.Name = name
		out = append(out, sp)
	}
	switch last := last.(type) {
	case *Fork:
		r := input()
		for _, l := range last.Legs {
			name := ""
			if l.Name != nil {
				name = l.Name.Name
			}
			leg(r, l.Ops, name)
		}
		return out
	case *GraphToTable:
		if len(last.Parts) > 1 {
			// a table of the nodes and one of the edges, each named by
			// its `as`
			g := t.pipeOrGraph(e, &Pipe{Pos: p.Pos, Source: p.Source, Ops: p.Ops[:len(p.Ops)-1]})
			if g.graph == nil {
				t.fail(last, "graph-to-table needs a graph: build one with make-graph first (Edges | make-graph Source --> Target | ...)")
			}
			for _, part := range last.Parts {
				sp := t.finish(t.graphToTable(e, g.graph, &GraphToTable{Pos: last.Pos, Parts: []*GraphTablePart{part}}))
				if part.As != nil {
					sp.Name = part.As.Name
				}
				out = append(out, sp)
			}
			return out
		}
	case *Facet:
		r := input()
		if last.With != nil {
			leg(r, last.With, "")
		}
		for _, c := range last.By {
			count := &NamedExpr{Pos: c.Pos, Names: []*Ident{{Pos: c.Pos, Name: "count_" + c.Name}}, Expr: &Call{Pos: c.Pos, Name: "count"}}
			s := t.summarize(e, r, &Summarize{Pos: last.Pos, Aggs: []*NamedExpr{count}, By: []*NamedExpr{{Pos: c.Pos, Expr: c}}})
			sp := t.finish(s)
			sp.Name = c.Name
			out = append(out, sp)
		}
		return out
	}
	return []*StmtPlan{t.finish(t.pipe(e, p))}
}

// fail stops the translation with an error at pos.
func (t *translator) fail(pos Node, format string, args ...any) {
	p := Pos{Line: 1, Col: 1}
	if pos != nil {
		p = pos.Position()
	}
	panic(&Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (t *translator) newID() string {
	t.nextID++
	return genIdent(t.nextID)
}

func (t *translator) alias() string {
	t.nextAlias++
	return fmt.Sprintf("t%d", t.nextAlias)
}

// finish renders the final SELECT of a statement: columns in order, with
// dynamic values as JSON text, limited to one
// row more than the engine returns (to detect an oversized result).
func (t *translator) finish(r *rel) *StmtPlan {
	sp := &StmtPlan{Ordered: r.ordered, Chart: r.chart}
	var sel []string
	for _, c := range r.cols {
		expr := sqlIdent(c.id)
		if c.typ == tyDynamic || c.typ == tyNull {
			expr = "CAST(" + expr + " AS VARCHAR)"
		}
		sel = append(sel, expr)
		sp.Columns = append(sp.Columns, Column{Name: c.name, Type: publicType(c.typ)})
	}
	if len(sel) == 0 {
		sel = []string{"1"}
	}
	// DuckDB keeps the order of a sorted subquery through projections,
	// filters and limits, so the rows come out in the order r has.
	s := "SELECT " + strings.Join(sel, ", ") + " FROM (" + r.sql + ") AS " + t.alias()
	s += fmt.Sprintf(" LIMIT %d", t.eng.opts.MaxRows+1)
	sp.SQL = s
	return sp
}

func publicType(t string) string {
	switch t {
	case tyNull:
		return tyDynamic
	case tyDecimal:
		return tyReal
	}
	return t
}

func joinOrder(terms []orderTerm) string {
	parts := make([]string, len(terms))
	for i, o := range terms {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// bindLet binds a let statement's name in e.
func (t *translator) bindLet(e *env, s *LetStmt) {
	b := &binding{env: e, name: s.Name.Name}
	switch {
	case s.Func != nil:
		b.fn = s.Func
	case s.Tabular != nil:
		b.tab = s.Tabular
	default:
		if p := t.asTabular(e, s.Value); p != nil {
			b.tab = p
		} else {
			x := t.expr(&scope{env: e}, s.Value)
			b.scalar = &x
		}
	}
	e.names[s.Name.Name] = b
}

// asTabular returns the value of a let as a tabular expression when it is
// one: a name bound to a table, a tabular let or a table of the catalog,
// or a call of a function that returns a table.
func (t *translator) asTabular(e *env, x Expr) *Pipe {
	switch v := x.(type) {
	case *Ident:
		if b := e.lookup(v.Name); b != nil {
			if b.tab != nil || b.rel != nil {
				return &Pipe{Pos: v.Pos, Source: &TableRef{Pos: v.Pos, Name: v.Name}}
			}
			return nil
		}
		if _, ok := t.eng.tables[v.Name]; ok {
			return &Pipe{Pos: v.Pos, Source: &TableRef{Pos: v.Pos, Name: v.Name}}
		}
	case *Call:
		switch v.Name {
		case "materialize", "table", "view":
			return &Pipe{Pos: v.Pos, Source: &FuncSource{Pos: v.Pos, Call: v}}
		}
		if b := e.lookup(v.Name); b != nil && b.fn != nil && t.fnIsTabular(b) {
			return &Pipe{Pos: v.Pos, Source: &FuncSource{Pos: v.Pos, Call: v}}
		}
	case *SubQuery:
		return v.Pipe
	}
	return nil
}

// fnIsTabular reports whether a user function returns a table.
func (t *translator) fnIsTabular(b *binding) bool {
	body := b.fn.Body
	if body.Tabular != nil {
		return true
	}
	e := b.env.child()
	for _, p := range b.fn.Params {
		if p.Tabular {
			e.names[p.Name.Name] = &binding{rel: &rel{}}
		} else {
			e.names[p.Name.Name] = &binding{scalar: &texpr{sql: "NULL", typ: p.Type}}
		}
	}
	for _, l := range body.Lets {
		if l.Tabular != nil || l.Func != nil {
			e.names[l.Name.Name] = &binding{tab: l.Tabular, fn: l.Func, env: e}
			continue
		}
		if p := t.asTabular(e, l.Value); p != nil {
			e.names[l.Name.Name] = &binding{tab: p, env: e}
		} else {
			e.names[l.Name.Name] = &binding{scalar: &texpr{sql: "NULL", typ: tyNull}}
		}
	}
	return t.asTabular(e, body.Value) != nil
}

// pipe translates a tabular expression.
func (t *translator) pipe(e *env, p *Pipe) *rel {
	r := t.pipeOrGraph(e, p)
	t.notGraph(p, r)
	return r
}

// notGraph fails when r is a graph where a table is needed.
func (t *translator) notGraph(pos Node, r *rel) {
	if r.graph != nil {
		t.fail(pos, "this is a graph (make-graph), where a table is needed: follow make-graph with graph-match, graph-shortest-paths or graph-to-table")
	}
}

// pipeOrGraph translates a pipe whose value may be a graph.
func (t *translator) pipeOrGraph(e *env, p *Pipe) *rel {
	t.depth++
	defer func() { t.depth-- }()
	if t.depth > 100 {
		t.fail(p, "the query nests tabular expressions or function calls more than 100 deep")
	}
	r := t.source(e, p.Source)
	for _, op := range p.Ops {
		r = t.operator(e, r, op)
	}
	return r
}

// source translates the first element of a pipe.
func (t *translator) source(e *env, s Source) *rel {
	switch v := s.(type) {
	case *TableRef:
		return t.tableOrGraph(e, v)
	case *Pipe:
		return t.pipeOrGraph(e, v)
	case *FuncSource:
		return t.funcSource(e, v)
	case *Print:
		return t.print(e, v)
	case *DataTable:
		return t.dataTable(e, v)
	case *Range:
		return t.rangeSource(e, v)
	case *Union:
		return t.union(e, nil, v)
	case *Search:
		return t.search(e, nil, v)
	case *ExternalData:
		t.fail(v, "externaldata is not supported: cdewatch queries only its own tables and does not read external URLs")
	case *Evaluate:
		t.fail(v, "evaluate %s is not supported as a source", v.Call.Name)
	}
	t.fail(s, "this tabular source is not supported")
	return nil
}

// tableRef resolves a table name: a let binding first, then the catalog.
func (t *translator) tableRef(e *env, v *TableRef) *rel {
	r := t.tableOrGraph(e, v)
	t.notGraph(v, r)
	return r
}

// tableOrGraph resolves a table name, which may name a graph (let G =
// Edges | make-graph ...).
func (t *translator) tableOrGraph(e *env, v *TableRef) *rel {
	if v.Wildcard {
		t.fail(v, "table name patterns such as '%s' are supported only in union and search", v.Name)
	}
	if b := e.lookup(v.Name); b != nil {
		switch {
		case b.rel != nil:
			return b.rel
		case b.tab != nil:
			return t.pipeOrGraph(b.env, b.tab)
		case b.fn != nil:
			if len(b.fn.Params) == 0 {
				return t.callTabular(e, b, &Call{Pos: v.Pos, Name: v.Name})
			}
			t.fail(v, "'%s' is a function: call it with its arguments, %s(...)", v.Name, v.Name)
		default:
			t.fail(v, "'%s' is a scalar value, not a table", v.Name)
		}
	}
	return t.catalogTable(v, v.Name)
}

// catalogTable returns the rows of a catalog table.
func (t *translator) catalogTable(pos Node, name string) *rel {
	def, ok := t.eng.tables[name]
	if !ok {
		t.fail(pos, "unknown table '%s'%s; the tables are: %s", name, didYouMean(name, t.eng.names), t.tableList())
	}
	t.read[name] = true
	r := &rel{}
	var sel []string
	for i, c := range def.Columns {
		id := t.newID()
		if def.TypeColumn && i == len(def.Columns)-1 {
			sel = append(sel, sqlString(name)+" AS "+sqlIdent(id)) // Type: the table's name
		} else {
			sel = append(sel, sqlIdent(c.Name)+" AS "+sqlIdent(id))
		}
		r.cols = append(r.cols, col{name: c.Name, typ: c.Type, id: id})
	}
	r.sql = "SELECT " + strings.Join(sel, ", ") + " FROM " + sqlIdent(def.Relation)
	r.table = name
	return r
}

func (t *translator) tableList() string {
	if len(t.eng.names) == 0 {
		return "(none: this engine has no tables; use datatable, print or range)"
	}
	return strings.Join(t.eng.names, ", ")
}

// matchTables returns the catalog tables a name pattern matches.
func (t *translator) matchTables(pattern string) []string {
	var out []string
	for _, n := range t.eng.names {
		if wildcardMatch(pattern, n) {
			out = append(out, n)
		}
	}
	return t.withoutParts(out)
}

// withoutParts leaves out of names the tables that are another name for,
// or a part of, a table names holds too (TableDef.Of).
func (t *translator) withoutParts(names []string) []string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	out := names[:0:0]
	for _, n := range names {
		if of := t.eng.tables[n].Of; of == "" || !in[of] {
			out = append(out, n)
		}
	}
	return out
}

// wildcardMatch matches name against a pattern where '*' is any text.
func wildcardMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		if last {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return true
}

// project builds a relation selecting exprs (SQL over r's ids) as new
// columns.
func (t *translator) project(r *rel, cols []col, exprs []string) *rel {
	var sel []string
	for i, c := range cols {
		if exprs[i] == sqlIdent(c.id) {
			sel = append(sel, exprs[i])
		} else {
			sel = append(sel, exprs[i]+" AS "+sqlIdent(c.id))
		}
	}
	if len(sel) == 0 {
		sel = []string{"NULL AS " + sqlIdent(t.newID())}
	}
	out := &rel{sql: "SELECT " + strings.Join(sel, ", ") + " FROM (" + r.sql + ") AS " + t.alias(), cols: cols, ordered: r.ordered, chart: r.chart}
	if r.ordered && orderValid(r.order, cols) {
		out.order = r.order
	}
	return out
}

// wrap applies a clause (WHERE, LIMIT, ...) to r, keeping its columns.
func (t *translator) wrap(r *rel, clause string) *rel {
	out := *r
	out.sql = "SELECT * FROM (" + r.sql + ") AS " + t.alias() + " " + clause
	return &out
}

// passThrough returns the SQL expressions that keep r's columns as they
// are.
func passThrough(cols []col) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = sqlIdent(c.id)
	}
	return out
}

// uniqueName returns name, or name with the smallest numeric suffix that
// no column of cols has.
func uniqueName(name string, cols []col) string {
	taken := func(n string) bool {
		for _, c := range cols {
			if c.name == n {
				return true
			}
		}
		return false
	}
	if !taken(name) {
		return name
	}
	for i := 1; ; i++ {
		if n := fmt.Sprintf("%s%d", name, i); !taken(n) {
			return n
		}
	}
}

// columnList lists column names for error messages.
func columnList(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	if len(sorted) > 60 {
		return strings.Join(sorted[:60], ", ") + fmt.Sprintf(", … (%d more)", len(sorted)-60)
	}
	return strings.Join(sorted, ", ")
}

// dbFailure carries a failed translation-time query out of the translator
// (as a panic, like *Error) to be reported as the database's error.
type dbFailure struct{ err error }

// query runs a query the translation needs (reading the data to plan).
// A failure stops the translation: the query's fault as an *Error at pos,
// otherwise a dbFailure (which Run turns into the timeout's LimitError when
// the time limit ran out).
func (t *translator) query(pos Node, q string, args ...any) *sql.Rows {
	rows, err := t.eng.db.QueryContext(t.ctx, q, args...)
	if err != nil {
		if t.ctx.Err() != nil {
			panic(dbFailure{fmt.Errorf("planning the query: %w", err)})
		}
		t.fail(pos, "planning the query failed: %v", err)
	}
	return rows
}

// constValue evaluates a constant SQL expression during translation.
func (t *translator) constValue(q string, dst any) error {
	return t.eng.db.QueryRowContext(t.ctx, q).Scan(dst)
}
