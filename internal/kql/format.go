package kql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// String returns the canonical rendering of the query (see Format).
func (q *Query) String() string { return Format(q) }

// Format returns the canonical rendering of a node: KQL text that parses
// back to the same tree, with every binary, in, between and sub-query
// expression in parentheses, literals in one normal form (1.5h is 90m,
// 0x10 is 16, datetime(2024-01-31) is datetime(2024-01-31T00:00:00Z)),
// names bracketed only when they must be, statements separated by ";\n"
// and each '|' operator of a statement on its own line.
func Format(n Node) string {
	var f formatter
	f.node(n, true)
	return f.b.String()
}

type formatter struct {
	b strings.Builder
}

func (f *formatter) w(s ...string) {
	for _, x := range s {
		f.b.WriteString(x)
	}
}

// node renders n; top says a Pipe is a statement's (one operator a line).
func (f *formatter) node(n Node, top bool) {
	switch n := n.(type) {
	case *Query:
		for i, s := range n.Statements {
			if i > 0 {
				f.w(";\n")
			}
			f.node(s, true)
		}
	case *LetStmt:
		f.w("let ", fmtName(n.Name.Name), " = ")
		switch {
		case n.Func != nil:
			f.funcDef(n.Func)
		case n.Tabular != nil:
			f.pipe(n.Tabular, top)
		default:
			f.expr(n.Value)
		}
	case *SetStmt:
		f.w("set ", n.Name)
		if n.Value != nil {
			f.w(" = ")
			f.expr(n.Value)
		}
	case *TabularStmt:
		f.pipe(n.Expr, top)
	case *Pipe:
		f.pipe(n, top)
	case *FuncDef:
		f.funcDef(n)
	case Operator:
		f.op(n)
	case Source:
		f.source(n)
	case Expr:
		f.expr(n)
	case *NamedExpr:
		f.namedExpr(n)
	case *SortKey:
		f.sortKey(n)
	case *Option:
		f.option(n)
	case *ColumnDecl:
		f.w(fmtName(n.Name.Name), ":", n.Type)
	case *ScanDecl:
		f.scanDecl(n)
	case *GraphNodes:
		f.graphNodes(n)
	case *GraphPath:
		f.graphPath(n)
	case *GraphNode:
		f.graphNode(n)
	case *GraphEdge:
		f.graphEdge(n)
	case *GraphTablePart:
		f.graphTablePart(n)
	case *ScanStep:
		f.scanStep(n)
	case *Param:
		f.param(n)
	case *FuncBody:
		f.funcBody(n)
	case *NamePattern:
		f.w(fmtPattern(n))
	case *Rename:
		f.w(fmtName(n.New.Name), " = ", fmtName(n.Old.Name))
	case *ReorderColumn:
		f.reorderColumn(n)
	case *MvItem:
		f.mvItem(n)
	case *ParseElem:
		f.parseElem(n)
	case *TopNestedLevel:
		f.topNestedLevel(n)
	case *SeriesAgg:
		f.seriesAgg(n)
	case nil:
	default:
		f.w(fmt.Sprintf("<%T>", n))
	}
}

func (f *formatter) funcDef(fd *FuncDef) {
	if fd.View {
		f.w("view ")
	}
	f.w("(")
	commaList(f, fd.Params, func(p *Param) { f.param(p) })
	f.w(") ")
	f.funcBody(fd.Body)
}

func (f *formatter) param(p *Param) {
	f.w(fmtName(p.Name.Name), ":")
	if p.Tabular {
		f.schema(p.Schema, p.Star)
	} else {
		f.w(p.Type)
	}
	if p.Default != nil {
		f.w(" = ")
		f.expr(p.Default)
	}
}

func (f *formatter) funcBody(b *FuncBody) {
	f.w("{ ")
	for _, l := range b.Lets {
		f.node(l, false)
		f.w("; ")
	}
	if b.Tabular != nil {
		f.pipe(b.Tabular, false)
	} else {
		f.expr(b.Value)
	}
	f.w(" }")
}

func (f *formatter) schema(cols []*ColumnDecl, star bool) {
	f.w("(")
	if star {
		f.w("*")
	}
	for i, c := range cols {
		if i > 0 || star {
			f.w(", ")
		}
		f.w(fmtName(c.Name.Name), ":", c.Type)
	}
	f.w(")")
}

// pipe renders a tabular expression: a statement's with one operator a
// line, a nested one on one line.
func (f *formatter) pipe(p *Pipe, top bool) {
	f.source(p.Source)
	for _, op := range p.Ops {
		if top {
			f.w("\n| ")
		} else {
			f.w(" | ")
		}
		f.op(op)
	}
}

// operand renders a pipe used as an operand (join's right side, a union
// leg): bare when it is a table or a call, parenthesised otherwise.
func (f *formatter) operand(p *Pipe) {
	if len(p.Ops) == 0 {
		switch p.Source.(type) {
		case *TableRef, *FuncSource:
			f.source(p.Source)
			return
		}
	}
	f.w("(")
	f.pipe(p, false)
	f.w(")")
}

func (f *formatter) source(s Source) {
	switch s := s.(type) {
	case *TableRef:
		if s.Wildcard {
			f.w(s.Name)
		} else {
			f.w(fmtName(s.Name))
		}
	case *FuncSource:
		f.expr(s.Call)
	case *Pipe:
		f.w("(")
		f.pipe(s, false)
		f.w(")")
	case *Union:
		f.union(s)
	case *Print:
		f.w("print")
		if len(s.Columns) > 0 {
			f.w(" ")
			f.namedExprs(s.Columns)
		}
	case *DataTable:
		f.w("datatable")
		f.schema(s.Columns, false)
		f.w(" [")
		f.exprs(s.Values)
		f.w("]")
	case *Range:
		f.w("range ", fmtName(s.Column.Name), " from ")
		f.expr(s.From)
		f.w(" to ")
		f.expr(s.To)
		f.w(" step ")
		f.expr(s.Step)
	case *Search:
		f.search(s)
	case *ExternalData:
		f.w("externaldata")
		f.schema(s.Columns, false)
		f.w(" [")
		f.exprs(s.URIs)
		f.w("]")
		f.props(s.Props)
	case *Evaluate:
		f.evaluate(s)
	case nil:
	default:
		f.w(fmt.Sprintf("<%T>", s))
	}
}

func (f *formatter) union(u *Union) {
	f.w("union")
	for _, o := range u.Options {
		f.w(" ")
		f.option(o)
	}
	for i, leg := range u.Legs {
		if i > 0 {
			f.w(",")
		}
		f.w(" ")
		f.operand(leg)
	}
}

func (f *formatter) search(s *Search) {
	f.w("search")
	if s.Kind != "" {
		f.w(" kind=", s.Kind)
	}
	if len(s.Tables) > 0 {
		f.w(" in (")
		commaList(f, s.Tables, func(t *TableRef) { f.source(t) })
		f.w(")")
	}
	f.w(" ")
	f.expr(s.Pred)
}

func (f *formatter) evaluate(e *Evaluate) {
	f.w("evaluate")
	f.options(e.Hints)
	f.w(" ")
	f.expr(e.Call)
	if len(e.Schema) > 0 || e.SchemaStar {
		f.w(" : ")
		f.schema(e.Schema, e.SchemaStar)
	}
}

func (f *formatter) option(o *Option) {
	f.w(o.Name, "=")
	f.exprs(o.Values)
}

// subOps writes a parenthesised sub-query of operators.
func (f *formatter) subOps(ops []Operator) {
	f.w("(")
	for i, o := range ops {
		if i > 0 {
			f.w(" | ")
		}
		f.op(o)
	}
	f.w(")")
}

func (f *formatter) options(opts []*Option) {
	for _, o := range opts {
		f.w(" ")
		f.option(o)
	}
}

// props renders ` with (name = value, ...)`.
func (f *formatter) props(props []*Option) {
	if len(props) == 0 {
		return
	}
	f.w(" with (")
	for i, o := range props {
		if i > 0 {
			f.w(", ")
		}
		f.w(fmtName(o.Name), " = ")
		f.exprs(o.Values)
	}
	f.w(")")
}

func (f *formatter) op(op Operator) {
	switch op := op.(type) {
	case *Where:
		f.w("where ")
		f.expr(op.Pred)
	case *Project:
		f.w("project ")
		f.namedExprs(op.Columns)
	case *ProjectAway:
		f.w("project-away ")
		f.patterns(op.Columns)
	case *ProjectKeep:
		f.w("project-keep ")
		f.patterns(op.Columns)
	case *ProjectRename:
		f.w("project-rename ")
		commaList(f, op.Renames, func(r *Rename) { f.node(r, false) })
	case *ProjectReorder:
		f.w("project-reorder ")
		commaList(f, op.Columns, func(c *ReorderColumn) { f.reorderColumn(c) })
	case *ProjectByNames:
		f.w("project-by-names ")
		f.exprs(op.Columns)
	case *Extend:
		f.w("extend ")
		f.namedExprs(op.Columns)
	case *Summarize:
		f.w("summarize")
		f.options(op.Hints)
		if len(op.Aggs) > 0 {
			f.w(" ")
			f.namedExprs(op.Aggs)
		}
		if len(op.By) > 0 {
			f.w(" by ")
			f.namedExprs(op.By)
		}
	case *Sort:
		f.w("order by ")
		f.sortKeys(op.Keys)
	case *Top:
		f.w("top ")
		f.expr(op.N)
		f.w(" by ")
		f.sortKeys(op.By)
	case *MakeGraph, *GraphMatch, *GraphToTable, *GraphMarkComponents:
		f.graphOp(op)
	case *TopHitters:
		f.w("top-hitters ")
		f.expr(op.N)
		f.w(" of ")
		f.expr(op.Value)
		if op.Sum != nil {
			f.w(" by ")
			f.expr(op.Sum)
		}
	case *Take:
		f.w("take ")
		f.expr(op.N)
	case *Distinct:
		f.w("distinct")
		f.options(op.Hints)
		if op.Star {
			f.w(" *")
		} else {
			f.w(" ")
			f.namedExprs(op.Columns)
		}
	case *Count:
		f.w("count")
	case *GetSchema:
		f.w("getschema")
	case *Union:
		f.union(op)
	case *Join:
		f.w("join")
		if op.Kind != "" {
			f.w(" kind=", op.Kind)
		}
		f.options(op.Hints)
		f.w(" ")
		f.operand(op.Right)
		f.w(" on ")
		f.exprs(op.On)
	case *Lookup:
		f.w("lookup")
		if op.Kind != "" {
			f.w(" kind=", op.Kind)
		}
		f.options(op.Hints)
		f.w(" ")
		f.operand(op.Right)
		f.w(" on ")
		f.exprs(op.On)
	case *MvExpand:
		f.w("mv-expand")
		f.options(op.Options)
		f.w(" ")
		f.mvItems(op.Items)
		if op.Limit != nil {
			f.w(" limit ")
			f.expr(op.Limit)
		}
	case *Partition:
		f.w("partition")
		f.options(op.Hints)
		f.w(" by ")
		f.expr(op.By)
		f.w(" ")
		f.subOps(op.Ops)
	case *Fork:
		f.w("fork")
		for _, l := range op.Legs {
			f.w(" ")
			if l.Name != nil {
				f.expr(l.Name)
				f.w("=")
			}
			f.subOps(l.Ops)
		}
	case *Facet:
		f.w("facet by ")
		for i, c := range op.By {
			if i > 0 {
				f.w(", ")
			}
			f.expr(c)
		}
		if op.With != nil {
			f.w(" with ")
			f.subOps(op.With)
		}
	case *MvApply:
		f.w("mv-apply")
		f.options(op.Options)
		f.w(" ")
		f.mvItems(op.Items)
		if op.Limit != nil {
			f.w(" limit ")
			f.expr(op.Limit)
		}
		f.w(" on ")
		f.subOps(op.Ops)
	case *ParseOp:
		f.w("parse")
		if op.Where {
			f.w("-where")
		}
		if op.Kind != "" {
			f.w(" kind=", op.Kind)
		}
		if op.Flags != "" {
			f.w(" flags=", quote(op.Flags, '"'))
		}
		f.w(" ")
		if lit, ok := op.Source.(*Literal); ok && lit.Kind == LitString {
			// after flags="..." a string would be concatenated to it
			f.w("(")
			f.expr(op.Source)
			f.w(")")
		} else {
			f.expr(op.Source)
		}
		f.w(" with")
		for _, el := range op.Pattern {
			f.w(" ")
			f.parseElem(el)
		}
	case *ParseKV:
		f.w("parse-kv ")
		f.expr(op.Source)
		f.w(" as ")
		f.schema(op.Columns, false)
		f.props(op.Props)
	case *Render:
		f.w("render ", op.Chart)
		f.props(op.Props)
	case *Serialize:
		f.w("serialize")
		if len(op.Columns) > 0 {
			f.w(" ")
			f.namedExprs(op.Columns)
		}
	case *As:
		f.w("as")
		f.options(op.Hints)
		f.w(" ", fmtName(op.Name.Name))
	case *Invoke:
		f.w("invoke ")
		f.expr(op.Call)
	case *Sample:
		f.w("sample ")
		f.expr(op.N)
	case *SampleDistinct:
		f.w("sample-distinct ")
		f.expr(op.N)
		f.w(" of ")
		f.expr(op.Column)
	case *TopNested:
		commaList(f, op.Levels, func(l *TopNestedLevel) { f.topNestedLevel(l) })
	case *Evaluate:
		f.evaluate(op)
	case *MakeSeries:
		f.w("make-series")
		if op.Kind != "" {
			f.w(" kind=", op.Kind)
		}
		f.options(op.Hints)
		for i, a := range op.Aggs {
			if i > 0 {
				f.w(",")
			}
			f.w(" ")
			f.seriesAgg(a)
		}
		f.w(" on ")
		f.expr(op.On)
		if op.From != nil {
			f.w(" from ")
			f.expr(op.From)
		}
		if op.To != nil {
			f.w(" to ")
			f.expr(op.To)
		}
		f.w(" step ")
		f.expr(op.Step)
		if len(op.By) > 0 {
			f.w(" by ")
			f.namedExprs(op.By)
		}
	case *Search:
		f.search(op)
	case *Reduce:
		f.w("reduce")
		if op.Kind != "" {
			f.w(" kind=", op.Kind)
		}
		f.w(" by ")
		f.expr(op.By)
		if len(op.Props) > 0 {
			f.w(" with ")
			for i, o := range op.Props {
				if i > 0 {
					f.w(", ")
				}
				f.w(fmtName(o.Name), " = ")
				f.exprs(o.Values)
			}
		}
	case *Scan:
		f.w("scan")
		f.options(op.Hints)
		if op.MatchID != nil {
			f.w(" with_match_id=", fmtName(op.MatchID.Name))
		}
		if len(op.Declare) > 0 {
			f.w(" declare (")
			for i, d := range op.Declare {
				if i > 0 {
					f.w(", ")
				}
				f.scanDecl(d)
			}
			f.w(")")
		}
		f.w(" with (")
		for i, st := range op.Steps {
			if i > 0 {
				f.w(" ")
			}
			f.scanStep(st)
		}
		f.w(")")
	default:
		f.w(fmt.Sprintf("<%T>", op))
	}
}

func (f *formatter) reorderColumn(c *ReorderColumn) {
	f.w(fmtPattern(c.Pattern))
	if c.Order != "" {
		f.w(" ", c.Order)
	}
}

func (f *formatter) topNestedLevel(l *TopNestedLevel) {
	f.w("top-nested ")
	if l.N != nil {
		f.expr(l.N)
		f.w(" ")
	}
	f.w("of ")
	f.namedExpr(l.Of)
	if l.Others != nil {
		f.w(" with others = ")
		f.expr(l.Others)
	}
	f.w(" by ")
	f.namedExpr(l.By)
	if l.Order != "" {
		f.w(" ", l.Order)
	}
}

func (f *formatter) seriesAgg(a *SeriesAgg) {
	f.namedExpr(a.Agg)
	if a.Default != nil {
		f.w(" default = ")
		f.expr(a.Default)
	}
}

func (f *formatter) parseElem(el *ParseElem) {
	switch {
	case el.Star:
		f.w("*")
	case el.Text != nil:
		f.expr(el.Text)
	default:
		f.w(fmtName(el.Column.Name))
		if el.Type != "" {
			f.w(":", el.Type)
		}
	}
}

func (f *formatter) mvItems(items []*MvItem) {
	commaList(f, items, func(it *MvItem) { f.mvItem(it) })
}

func (f *formatter) mvItem(it *MvItem) {
	if it.Name != nil {
		f.w(fmtName(it.Name.Name), " = ")
	}
	f.expr(it.Expr)
	if it.ToType != "" {
		f.w(" to typeof(", it.ToType, ")")
	}
}

func (f *formatter) patterns(ps []*NamePattern) {
	commaList(f, ps, func(p *NamePattern) { f.w(fmtPattern(p)) })
}

func fmtPattern(p *NamePattern) string {
	if p.Wildcard {
		return p.Pattern
	}
	return fmtName(p.Pattern)
}

func (f *formatter) sortKeys(keys []*SortKey) {
	commaList(f, keys, func(k *SortKey) { f.sortKey(k) })
}

func (f *formatter) sortKey(k *SortKey) {
	f.expr(k.Expr)
	if k.Order != "" {
		f.w(" ", k.Order)
	}
	if k.Nulls != "" {
		f.w(" nulls ", k.Nulls)
	}
}

func (f *formatter) namedExprs(list []*NamedExpr) {
	commaList(f, list, func(ne *NamedExpr) { f.namedExpr(ne) })
}

func (f *formatter) namedExpr(ne *NamedExpr) {
	switch len(ne.Names) {
	case 0:
	case 1:
		f.w(fmtName(ne.Names[0].Name), " = ")
	default:
		f.w("(")
		commaList(f, ne.Names, func(n *Ident) { f.w(fmtName(n.Name)) })
		f.w(") = ")
	}
	f.expr(ne.Expr)
}

func (f *formatter) exprs(list []Expr) {
	commaList(f, list, func(e Expr) { f.expr(e) })
}

func (f *formatter) expr(e Expr) {
	switch e := e.(type) {
	case *Ident:
		f.w(fmtName(e.Name))
	case *Literal:
		f.w(fmtLiteral(e))
	case *Dynamic:
		f.w("dynamic(")
		f.expr(e.Value)
		f.w(")")
	case *DynArray:
		f.w("[")
		f.exprs(e.Elems)
		f.w("]")
	case *DynBag:
		f.w("{")
		for i, k := range e.Keys {
			if i > 0 {
				f.w(", ")
			}
			f.w(quote(k, '"'), ": ")
			f.expr(e.Values[i])
		}
		f.w("}")
	case *Binary:
		f.w("(")
		f.expr(e.L)
		f.w(" ", e.Op, " ")
		f.expr(e.R)
		f.w(")")
	case *Unary:
		f.w(e.Op)
		if _, ok := e.X.(*Unary); ok {
			f.w(" ")
			f.expr(e.X)
		} else {
			f.postfixOperand(e.X)
		}
	case *Call:
		f.w(e.Name)
		if gooTypes[e.Name] { // time(...) would read as a typed literal
			f.w(" ")
		}
		f.w("(")
		f.exprs(e.Args)
		f.w(")")
	case *NamedArg:
		f.w(e.Name, "=")
		f.expr(e.Value)
	case *Star:
		f.w("*")
	case *Member:
		if _, ok := e.X.(*Literal); ok { // 1.x would read as a number
			f.w("(")
			f.expr(e.X)
			f.w(")")
		} else {
			f.postfixOperand(e.X)
		}
		if isPlainName(e.Name) {
			f.w(".", e.Name)
		} else {
			f.w(".[", quote(e.Name, '\''), "]")
		}
	case *Index:
		f.postfixOperand(e.X)
		f.w("[")
		f.expr(e.Index)
		f.w("]")
	case *InList:
		f.w("(")
		f.expr(e.X)
		f.w(" ", e.Op, " (")
		f.exprs(e.List)
		f.w("))")
	case *Between:
		f.w("(")
		f.expr(e.X)
		if e.Not {
			f.w(" !between (")
		} else {
			f.w(" between (")
		}
		f.expr(e.Low)
		f.w(" .. ")
		f.expr(e.High)
		f.w("))")
	case *SubQuery:
		f.w("(")
		f.pipe(e.Pipe, false)
		f.w(")")
	case nil:
		f.w("<nil>")
	default:
		f.w(fmt.Sprintf("<%T>", e))
	}
}

// postfixOperand renders the operand of a unary, member or index
// expression, parenthesised unless it binds at least as tightly.
func (f *formatter) postfixOperand(x Expr) {
	switch x := x.(type) {
	case *Ident, *Call, *Member, *Index, *Dynamic, *Binary, *InList, *Between, *SubQuery:
		f.expr(x)
		return
	case *Literal:
		if !strings.HasPrefix(fmtLiteral(x), "-") {
			f.expr(x)
			return
		}
	}
	f.w("(")
	f.expr(x)
	f.w(")")
}

var plainName = regexp.MustCompile(`^(\$left|\$right|[\pL_][\pL\pN_]*)$`)

func isPlainName(s string) bool { return plainName.MatchString(s) }

// fmtName renders a name, bracketed (['...']) when it is not a plain
// identifier or is a word the parser would read as a keyword.
func fmtName(s string) string {
	if isPlainName(s) && !reservedNames[s] && !(s[0] >= '0' && s[0] <= '9') {
		return s
	}
	return "[" + quote(s, '\'') + "]"
}

// quote renders s as a KQL string literal in quotes q, escaping the quote,
// backslashes and control characters.
func quote(s string, q byte) string {
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < ' ' || r == 0x7f || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// fmtLiteral renders a literal in its canonical form.
func fmtLiteral(l *Literal) string {
	typed := map[LitKind]string{LitLong: "long", LitInt: "int", LitReal: "real", LitDecimal: "decimal",
		LitBool: "bool", LitDateTime: "datetime", LitTimespan: "timespan", LitGuid: "guid"}
	if l.Null {
		return typed[l.Kind] + "(null)"
	}
	switch l.Kind {
	case LitString:
		s := quote(l.Value, '"')
		if l.Obfuscated {
			return "h" + s
		}
		return s
	case LitLong:
		if l.Value == "-9223372036854775808" {
			return "long(" + l.Value + ")"
		}
		return l.Value
	case LitBool:
		return l.Value
	case LitReal:
		switch l.Value {
		case "NaN":
			return "real(nan)"
		case "+Inf":
			return "real(+inf)"
		case "-Inf":
			return "real(-inf)"
		}
		return l.Value
	case LitTimespan:
		return fmtTimespan(l.Value)
	case LitType:
		return "typeof(" + l.Value + ")"
	case LitNull:
		return "null"
	}
	return typed[l.Kind] + "(" + l.Value + ")"
}

// fmtTimespan renders a tick count with the largest unit dividing it.
func fmtTimespan(v string) string {
	ticks, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ticks == math.MinInt64 {
		return "timespan(" + v + "tick)"
	}
	for _, u := range []struct {
		n    int64
		unit string
	}{{864e9, "d"}, {36e9, "h"}, {6e8, "m"}, {1e7, "s"}, {1e4, "ms"}, {10, "microsecond"}} {
		if ticks%u.n == 0 {
			return strconv.FormatInt(ticks/u.n, 10) + u.unit
		}
	}
	return v + "tick"
}

// commaList writes each item with each, separated by ", ".
func commaList[T any](f *formatter, items []T, each func(T)) {
	for i, it := range items {
		if i > 0 {
			f.w(", ")
		}
		each(it)
	}
}

func (f *formatter) scanDecl(d *ScanDecl) {
	f.w(fmtName(d.Name.Name), ":", d.Type)
	if d.Default != nil {
		f.w(" = ")
		f.expr(d.Default)
	}
}

func (f *formatter) scanStep(st *ScanStep) {
	f.w("step ", fmtName(st.Name.Name))
	if st.Output != "" {
		f.w(" output=", st.Output)
	}
	f.w(": ")
	f.expr(st.Cond)
	if len(st.Assign) > 0 {
		f.w(" => ")
		f.namedExprs(st.Assign)
	}
	f.w(";")
}

// graphOp renders the graph operators.
func (f *formatter) graphOp(op Operator) {
	switch op := op.(type) {
	case *MakeGraph:
		f.w("make-graph ", fmtName(op.Source.Name), " --> ", fmtName(op.Target.Name))
		for i, g := range op.Nodes {
			if i == 0 {
				f.w(" with ")
			} else {
				f.w(", ")
			}
			f.graphNodes(g)
		}
		if op.NodeID != nil {
			f.w(" with_node_id=", fmtName(op.NodeID.Name))
		}
		if op.PartitionBy != nil {
			f.w(" partitioned-by ", fmtName(op.PartitionBy.Name), " ")
			f.subOps(op.PartitionOps)
		}
	case *GraphMatch:
		if op.Shortest {
			f.w("graph-shortest-paths")
		} else {
			f.w("graph-match")
		}
		f.options(op.Options)
		for i, gp := range op.Paths {
			if i > 0 {
				f.w(",")
			}
			f.w(" ")
			f.graphPath(gp)
		}
		if op.Where != nil {
			f.w(" where ")
			f.expr(op.Where)
		}
		f.w(" project ")
		f.namedExprs(op.Project)
	case *GraphToTable:
		f.w("graph-to-table")
		for i, part := range op.Parts {
			if i > 0 {
				f.w(",")
			}
			f.w(" ")
			f.graphTablePart(part)
		}
	case *GraphMarkComponents:
		f.w("graph-mark-components")
		f.options(op.Options)
	}
}

func (f *formatter) graphNodes(g *GraphNodes) {
	f.operand(g.Table)
	f.w(" on ", fmtName(g.On.Name))
}

func (f *formatter) graphTablePart(p *GraphTablePart) {
	f.w(p.Kind)
	if p.As != nil {
		f.w(" as ", fmtName(p.As.Name))
	}
	f.options(p.Options)
}

// graphPath renders a pattern sequence: (a)-[e*1..3]->(b)<--(c).
func (f *formatter) graphPath(gp *GraphPath) {
	f.graphNode(gp.Nodes[0])
	for i, e := range gp.Edges {
		f.graphEdge(e)
		f.graphNode(gp.Nodes[i+1])
	}
}

func (f *formatter) graphNode(n *GraphNode) {
	f.w("(")
	if n.Name != nil {
		f.w(fmtName(n.Name.Name))
	}
	f.w(")")
}

func (f *formatter) graphEdge(e *GraphEdge) {
	if e.Dir == "<-" {
		f.w("<")
	}
	f.w("-")
	if e.Name != nil || e.Var {
		f.w("[")
		if e.Name != nil {
			f.w(fmtName(e.Name.Name))
		}
		if e.Var {
			f.w(fmt.Sprintf("*%d..%d", e.Min, e.Max))
		}
		f.w("]")
	}
	f.w("-")
	if e.Dir == "->" {
		f.w(">")
	}
}
