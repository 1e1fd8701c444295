package kql

import (
	"fmt"
)

// operatorName returns the operator name written at token index j
// (`project-away` is three tokens written together) and its token count.
func (p *parser) operatorName(j int) (string, int) {
	t := p.toks[j]
	if t.kind != tIdent {
		return "", 0
	}
	name, n := t.text, 1
	for j+n+1 < len(p.toks) {
		dash, word := p.toks[j+n], p.toks[j+n+1]
		if !dash.isPunct("-") || dash.spaceBefore || word.spaceBefore || word.kind != tIdent {
			break
		}
		name += "-" + word.text
		n += 2
	}
	return name, n
}

// parseOperator reads the operator after a '|'.
func (p *parser) parseOperator() Operator {
	t := p.tok()
	name, n := p.operatorName(p.i)
	if n == 0 {
		if t.kind == tEOF {
			p.fail(t, "unexpected end of query: expected an operator after '|'")
		}
		p.fail(t, "expected an operator after '|', found %s", t.describe())
	}
	parse, ok := operatorParsers[name]
	if !ok {
		if unsupportedOperators[name] {
			p.fail(t, "the '%s' operator is not supported", name)
		}
		// `project -away` or a misspelling with a dash
		p.fail(t, "unknown operator '%s'%s", name, didYouMean(name, Operators))
	}
	p.i += n
	p.enter()
	t.text = name
	op := parse(p, t)
	p.leave()
	return op
}

var operatorParsers map[string]func(*parser, token) Operator

func init() {
	operatorParsers = map[string]func(*parser, token) Operator{
		"where":                 (*parser).parseWhere,
		"filter":                (*parser).parseWhere,
		"project":               (*parser).parseProject,
		"project-away":          (*parser).parseProjectAway,
		"project-keep":          (*parser).parseProjectKeep,
		"project-rename":        (*parser).parseProjectRename,
		"project-reorder":       (*parser).parseProjectReorder,
		"project-by-names":      (*parser).parseProjectByNames,
		"extend":                (*parser).parseExtend,
		"summarize":             (*parser).parseSummarize,
		"order":                 (*parser).parseSort,
		"sort":                  (*parser).parseSort,
		"top":                   (*parser).parseTop,
		"take":                  (*parser).parseTake,
		"limit":                 (*parser).parseTake,
		"distinct":              (*parser).parseDistinct,
		"count":                 func(p *parser, t token) Operator { return &Count{Pos: t.pos} },
		"getschema":             func(p *parser, t token) Operator { return &GetSchema{Pos: t.pos} },
		"union":                 func(p *parser, t token) Operator { p.i--; return p.parseUnion() },
		"join":                  (*parser).parseJoin,
		"lookup":                (*parser).parseLookup,
		"mv-expand":             (*parser).parseMvExpand,
		"mv-apply":              (*parser).parseMvApply,
		"partition":             (*parser).parsePartition,
		"fork":                  (*parser).parseFork,
		"facet":                 (*parser).parseFacet,
		"parse":                 (*parser).parseParse,
		"parse-where":           (*parser).parseParse,
		"parse-kv":              (*parser).parseParseKV,
		"render":                (*parser).parseRender,
		"serialize":             (*parser).parseSerialize,
		"as":                    (*parser).parseAs,
		"invoke":                (*parser).parseInvoke,
		"sample":                (*parser).parseSample,
		"sample-distinct":       (*parser).parseSampleDistinct,
		"top-nested":            (*parser).parseTopNested,
		"evaluate":              func(p *parser, t token) Operator { p.i--; return p.parseEvaluate() },
		"make-series":           (*parser).parseMakeSeries,
		"search":                func(p *parser, t token) Operator { p.i--; return p.parseSearch() },
		"reduce":                (*parser).parseReduce,
		"scan":                  (*parser).parseScan,
		"top-hitters":           (*parser).parseTopHitters,
		"make-graph":            (*parser).parseMakeGraph,
		"graph-match":           func(p *parser, t token) Operator { return p.parseGraphMatch(t, false) },
		"graph-shortest-paths":  func(p *parser, t token) Operator { return p.parseGraphMatch(t, true) },
		"graph-to-table":        (*parser).parseGraphToTable,
		"graph-mark-components": (*parser).parseGraphMarkComponents,
	}
}

func (p *parser) parseWhere(t token) Operator {
	if p.endOfList() {
		p.unexpected(fmt.Sprintf("a predicate after '%s'", t.text))
	}
	return &Where{Pos: t.pos, Pred: p.parseExpr()}
}

func (p *parser) parseProject(t token) Operator {
	return &Project{Pos: t.pos, Columns: p.requireNamedExprs(t, false)}
}

func (p *parser) parseExtend(t token) Operator {
	return &Extend{Pos: t.pos, Columns: p.requireNamedExprs(t, true)}
}

// requireNamedExprs reads a non-empty list of named expressions.
func (p *parser) requireNamedExprs(t token, tuples bool) []*NamedExpr {
	if p.endOfList() {
		p.unexpected(fmt.Sprintf("a column or an expression after '%s'", t.text))
	}
	return p.parseNamedExprs(tuples)
}

// parseNamedExprs reads `[name =] expr, ...` (with tuples, `(a, b) = expr`
// too).
func (p *parser) parseNamedExprs(tuples bool) []*NamedExpr {
	var list []*NamedExpr
	for {
		list = append(list, p.parseNamedExpr(tuples))
		if !p.acceptPunct(",") {
			return list
		}
	}
}

// parseNamedExpr reads `[name =] expr` or `(a, b) = expr`.
func (p *parser) parseNamedExpr(tuples bool) *NamedExpr {
	t := p.tok()
	if n := p.nameLen(0); n > 0 && p.peek(n).isPunct("=") {
		name := p.parseName("")
		p.advance()
		return &NamedExpr{Pos: t.pos, Names: []*Ident{name}, Expr: p.parseExpr()}
	}
	if t.isPunct("(") {
		if k := p.tupleLen(); k > 0 {
			if !tuples {
				p.fail(t, "a list of names (a, b) = ... is not allowed here")
			}
			open := p.advance()
			ne := &NamedExpr{Pos: t.pos}
			for {
				ne.Names = append(ne.Names, p.parseName("a name"))
				if !p.acceptPunct(",") {
					break
				}
			}
			p.closing(open)
			p.advance() // '='
			ne.Expr = p.parseExpr()
			return ne
		}
	}
	return &NamedExpr{Pos: t.pos, Expr: p.parseExpr()}
}

// tupleLen returns the token count of `(name, name, ...)` followed by '='
// at the current token, or 0.
func (p *parser) tupleLen() int {
	k := 1
	for {
		n := p.nameLen(k)
		if n == 0 {
			return 0
		}
		k += n
		switch {
		case p.peek(k).isPunct(","):
			k++
		case p.peek(k).isPunct(")") && p.peek(k+1).isPunct("="):
			return k + 1
		default:
			return 0
		}
	}
}

func (p *parser) parseNamePatterns(t token) []*NamePattern {
	if p.endOfList() {
		p.unexpected(fmt.Sprintf("a column name after '%s'", t.text))
	}
	var list []*NamePattern
	for {
		list = append(list, p.parseNamePattern("a column name or pattern"))
		if !p.acceptPunct(",") {
			return list
		}
	}
}

func (p *parser) parseProjectAway(t token) Operator {
	return &ProjectAway{Pos: t.pos, Columns: p.parseNamePatterns(t)}
}

func (p *parser) parseProjectKeep(t token) Operator {
	return &ProjectKeep{Pos: t.pos, Columns: p.parseNamePatterns(t)}
}

func (p *parser) parseProjectRename(t token) Operator {
	op := &ProjectRename{Pos: t.pos}
	for {
		newName := p.parseName("a new column name after 'project-rename'")
		if !p.isPunct("=") {
			p.unexpected(fmt.Sprintf("'=' and the current name after '%s' (project-rename NewName = OldName)", newName.Name))
		}
		p.advance()
		old := p.parseName("the current column name")
		op.Renames = append(op.Renames, &Rename{Pos: newName.Pos, New: newName, Old: old})
		if !p.acceptPunct(",") {
			return op
		}
	}
}

func (p *parser) parseProjectReorder(t token) Operator {
	op := &ProjectReorder{Pos: t.pos}
	if p.endOfList() {
		p.unexpected("a column name after 'project-reorder'")
	}
	for {
		pat := p.parseNamePattern("a column name or pattern")
		rc := &ReorderColumn{Pos: pat.Pos, Pattern: pat}
		if name, n := p.operatorName(p.i); n > 0 {
			switch name {
			case "asc", "desc", "granny-asc", "granny-desc":
				rc.Order = name
				p.i += n
			}
		}
		op.Columns = append(op.Columns, rc)
		if !p.acceptPunct(",") {
			return op
		}
	}
}

func (p *parser) parseProjectByNames(t token) Operator {
	op := &ProjectByNames{Pos: t.pos}
	for {
		op.Columns = append(op.Columns, p.parseExpr())
		if !p.acceptPunct(",") {
			return op
		}
	}
}

func (p *parser) parseSummarize(t token) Operator {
	s := &Summarize{Pos: t.pos}
	s.Hints = p.parseOptions("summarize", false)
	if p.endOfList() {
		p.unexpected("aggregations or 'by' after 'summarize'")
	}
	if !p.isWord("by") {
		s.Aggs = p.parseNamedExprs(true)
	}
	if p.acceptWord("by") {
		if p.endOfList() {
			p.unexpected("a grouping column after 'by'")
		}
		s.By = p.parseNamedExprs(false)
	} else if nt := p.tok(); nt.kind == tIdent && !nt.blankBefore {
		if Suggest(nt.text, []string{"by"}) != "" {
			p.fail(nt, "unexpected '%s' (did you mean 'by'?)", nt.text)
		}
		if p.exprEnd != p.i || Suggest(nt.text, binaryWords) == "" {
			p.fail(nt, "unexpected '%s' after the aggregations: is 'by' missing before it?", nt.text)
		}
	}
	return s
}

func (p *parser) parseSort(t token) Operator {
	if !p.isWord("by") {
		p.unexpected(fmt.Sprintf("'by' after '%s'", t.text))
	}
	p.advance()
	return &Sort{Pos: t.pos, Keys: p.parseSortKeys()}
}

func (p *parser) parseSortKeys() []*SortKey {
	if p.endOfList() {
		p.unexpected("a column or an expression to order by")
	}
	var keys []*SortKey
	for {
		k := &SortKey{Pos: p.tok().pos, Expr: p.parseExpr()}
		switch {
		case p.isWord("asc"), p.isWord("desc"):
			k.Order = p.advance().text
		}
		if p.isWord("nulls") {
			p.advance()
			switch {
			case p.isWord("first"), p.isWord("last"):
				k.Nulls = p.advance().text
			default:
				p.unexpected("'first' or 'last' after 'nulls'")
			}
		}
		keys = append(keys, k)
		if !p.acceptPunct(",") {
			return keys
		}
	}
}

func (p *parser) parseTop(t token) Operator {
	top := &Top{Pos: t.pos}
	if p.endOfList() || p.tok().isWord("by") {
		p.unexpected("the number of rows after 'top'")
	}
	top.N = p.parseExpr()
	if !p.isWord("by") {
		p.unexpected("'by' after 'top N' (top N by Column [asc|desc])")
	}
	p.advance()
	top.By = p.parseSortKeys()
	return top
}

func (p *parser) parseTake(t token) Operator {
	if p.endOfList() {
		p.unexpected(fmt.Sprintf("the number of rows after '%s'", t.text))
	}
	p.parseOptions(t.text, false)
	return &Take{Pos: t.pos, N: p.parseExpr()}
}

func (p *parser) parseDistinct(t token) Operator {
	d := &Distinct{Pos: t.pos}
	d.Hints = p.parseOptions("distinct", false)
	if p.isPunct("*") && (p.peek(1).kind == tEOF || p.peek(1).kind == tPunct && p.peek(1).text != "(") {
		p.advance()
		d.Star = true
		return d
	}
	d.Columns = p.requireNamedExprs(t, false)
	return d
}

// parseUnion reads `union [options] leg, ...` (the current token is
// 'union').
func (p *parser) parseUnion() *Union {
	u := &Union{Pos: p.advance().pos}
	u.Options = p.parseOptions("union", true, "kind", "withsource", "isfuzzy")
	for _, o := range u.Options {
		switch o.Name {
		case "kind":
			u.Kind = p.optionWord(o, "union", []string{"inner", "outer"})
		case "withsource":
			id, ok := o.Values[0].(*Ident)
			if !ok {
				p.failAt(o.Values[0].Position(), "withsource takes a column name")
			}
			u.WithSource = id
		case "isfuzzy":
			lit, ok := o.Values[0].(*Literal)
			if !ok || lit.Kind != LitBool {
				p.failAt(o.Values[0].Position(), "isfuzzy takes true or false")
			}
			u.IsFuzzy = lit.Value == "true"
		}
	}
	for {
		u.Legs = append(u.Legs, p.parseUnionLeg())
		if !p.acceptPunct(",") {
			return u
		}
	}
}

// parseUnionLeg reads one leg of union: a parenthesised query, a table
// name (maybe with wildcards) or a function call.
func (p *parser) parseUnionLeg() *Pipe {
	t := p.tok()
	switch {
	case t.isPunct("("):
		p.advance()
		inner := p.parseTabular()
		p.closing(t)
		return inner
	case t.kind == tIdent && p.peek(1).isPunct("(") && !p.peek(1).spaceBefore:
		e := p.parsePostfix()
		return &Pipe{Pos: t.pos, Source: p.exprToSource(e)}
	case t.kind == tIdent || t.isPunct("*") || t.isPunct("["):
		np := p.parseNamePattern("")
		return &Pipe{Pos: t.pos, Source: &TableRef{Pos: np.Pos, Name: np.Pattern, Wildcard: np.Wildcard}}
	}
	p.unexpected("a table or a parenthesised query in union")
	panic("unreachable")
}

func (p *parser) parseJoin(t token) Operator {
	j := &Join{Pos: t.pos}
	for _, o := range p.parseOptions("join", true, "kind") {
		if o.Name == "kind" {
			j.Kind = p.optionWord(o, "join", joinKinds)
		} else {
			j.Hints = append(j.Hints, o)
		}
	}
	j.Right = p.parseTabularOperand("join")
	j.On = p.parseJoinOn("join")
	return j
}

func (p *parser) parseLookup(t token) Operator {
	l := &Lookup{Pos: t.pos}
	for _, o := range p.parseOptions("lookup", true, "kind") {
		if o.Name == "kind" {
			l.Kind = p.optionWord(o, "lookup", []string{"leftouter", "inner"})
		} else {
			l.Hints = append(l.Hints, o)
		}
	}
	l.Right = p.parseTabularOperand("lookup")
	l.On = p.parseJoinOn("lookup")
	return l
}

// parseJoinOn reads `on cond, ...`.
func (p *parser) parseJoinOn(op string) []Expr {
	if !p.isWord("on") {
		p.unexpected(fmt.Sprintf("'on' and the matching columns after the right side of %s", op))
	}
	p.advance()
	if p.endOfList() {
		p.unexpected("a column or $left.a == $right.b after 'on'")
	}
	var on []Expr
	for {
		on = append(on, p.parseExpr())
		if !p.acceptPunct(",") {
			return on
		}
	}
}

func (p *parser) parseMvItems() []*MvItem {
	if p.endOfList() {
		p.unexpected("a column or an expression to expand")
	}
	var items []*MvItem
	for {
		t := p.tok()
		it := &MvItem{Pos: t.pos}
		if n := p.nameLen(0); n > 0 && p.peek(n).isPunct("=") {
			it.Name = p.parseName("")
			p.advance()
		}
		it.Expr = p.parseExpr()
		if p.isWord("to") {
			p.advance()
			if !p.tok().isWord("typeof") || !p.peek(1).isPunct("(") {
				p.unexpected("typeof(type) after 'to'")
			}
			lit := p.parsePrimary().(*Literal)
			it.ToType = lit.Value
		}
		items = append(items, it)
		if !p.acceptPunct(",") {
			return items
		}
	}
}

func (p *parser) parseMvExpand(t token) Operator {
	m := &MvExpand{Pos: t.pos}
	m.Options = p.parseOptions("mv-expand", false, "kind", "bagexpansion", "with_itemindex")
	for _, o := range m.Options {
		switch o.Name {
		case "kind", "bagexpansion":
			m.Kind = p.optionWord(o, "mv-expand", []string{"bag", "array"})
		case "with_itemindex":
			m.ItemIndex = p.optionIdent(o)
		}
	}
	m.Items = p.parseMvItems()
	if p.acceptWord("limit") {
		m.Limit = p.parseExpr()
	}
	return m
}

// optionIdent returns the name an option gives.
func (p *parser) optionIdent(o *Option) *Ident {
	id, ok := o.Values[0].(*Ident)
	if !ok {
		p.failAt(o.Values[0].Position(), "%s takes a column name", o.Name)
	}
	return id
}

func (p *parser) parseMvApply(t token) Operator {
	m := &MvApply{Pos: t.pos}
	m.Options = p.parseOptions("mv-apply", false, "with_itemindex", "kind")
	for _, o := range m.Options {
		if o.Name == "with_itemindex" {
			m.ItemIndex = p.optionIdent(o)
		}
	}
	m.Items = p.parseMvItems()
	if p.acceptWord("limit") {
		m.Limit = p.parseExpr()
	}
	if !p.isWord("on") {
		p.unexpected("'on' and a parenthesised sub-query after the mv-apply items")
	}
	p.advance()
	m.Ops = p.parseSubOps("mv-apply")
	return m
}

func (p *parser) parsePartition(t token) Operator {
	pt := &Partition{Pos: t.pos}
	pt.Hints = p.parseOptions("partition", true)
	p.expectWord("by", "and a column after partition")
	pt.By = p.parseName("a column name after 'partition by'")
	if p.tok().isPunct("(") {
		if name, n := p.operatorName(p.i + 1); n > 0 && operatorParsers[name] == nil && !unsupportedOperators[name] {
			p.fail(p.peek(1), "expected the operators of the partition sub-query after '(', found '%s': partition by takes the name of a column, not an expression (extend a column first)", name)
		}
	}
	if p.tok().isPunct("{") {
		p.fail(p.tok(), "partition with a sub-query in braces (its own source) is not supported: write partition by Column (operators), which runs the operators on each partition's rows")
	}
	pt.Ops = p.parseSubOps("partition")
	return pt
}

// parseSubOps reads `(op | op ...)`, the parenthesis included, for what
// the sub-query belongs to.
func (p *parser) parseSubOps(what string) []Operator {
	open := p.expectPunct("(", "to start the "+what+" sub-query")
	var ops []Operator
	for {
		ops = append(ops, p.parseOperator())
		if !p.acceptPunct("|") {
			break
		}
	}
	p.closing(open)
	return ops
}

func (p *parser) parseFork(t token) Operator {
	f := &Fork{Pos: t.pos}
	for {
		leg := &ForkLeg{Pos: p.tok().pos}
		if n := p.nameLen(0); n > 0 && p.peek(n).isPunct("=") {
			leg.Name = p.parseName("a name for the fork leg")
			p.advance() // '='
		} else if !p.tok().isPunct("(") {
			if len(f.Legs) == 0 {
				p.unexpected("a parenthesised sub-query after fork")
			}
			return f
		}
		leg.Ops = p.parseSubOps("fork")
		f.Legs = append(f.Legs, leg)
	}
}

func (p *parser) parseFacet(t token) Operator {
	f := &Facet{Pos: t.pos}
	p.expectWord("by", "and columns after facet")
	for {
		f.By = append(f.By, p.parseName("a column name in facet by"))
		if !p.acceptPunct(",") {
			break
		}
	}
	if p.acceptWord("with") {
		f.With = p.parseSubOps("facet with")
	}
	return f
}

func (p *parser) parseParse(t token) Operator {
	ps := &ParseOp{Pos: t.pos, Where: t.text == "parse-where"}
	for _, o := range p.parseOptions(t.text, true, "kind", "flags") {
		switch o.Name {
		case "kind":
			ps.Kind = p.optionWord(o, "parse", []string{"simple", "regex", "relaxed"})
		case "flags":
			ps.Flags = p.optionWord(o, "parse", nil)
		}
	}
	ps.Source = p.parseExpr()
	if !p.isWord("with") {
		p.unexpected("'with' and a pattern after the parsed expression")
	}
	p.advance()
	for !p.endOfList() {
		e := p.tok()
		el := &ParseElem{Pos: e.pos}
		switch {
		case e.isPunct("*"):
			p.advance()
			el.Star = true
		case e.kind == tString:
			el.Text = p.parsePrimary().(*Literal)
		case p.nameLen(0) > 0:
			el.Column = p.parseName("")
			if p.acceptPunct(":") {
				el.Type = p.parseType()
			}
		default:
			p.unexpected("a string, '*' or a column in the parse pattern")
		}
		ps.Pattern = append(ps.Pattern, el)
	}
	if len(ps.Pattern) == 0 {
		p.unexpected("a pattern after 'with'")
	}
	return ps
}

func (p *parser) parseParseKV(t token) Operator {
	kv := &ParseKV{Pos: t.pos, Source: p.parseExpr()}
	p.expectWord("as", "and the extracted columns after the expression of parse-kv")
	kv.Columns, _ = p.parseSchema(false)
	if p.acceptWord("with") {
		kv.Props = p.parseProps()
	}
	return kv
}

func (p *parser) parseRender(t token) Operator {
	r := &Render{Pos: t.pos}
	c := p.tok()
	if c.kind != tIdent {
		p.unexpected("a chart type after 'render', such as timechart, barchart, columnchart, piechart or table")
	}
	name := c.text
	valid := false
	for _, ct := range ChartTypes {
		valid = valid || ct == name
	}
	if !valid {
		p.fail(c, "unknown chart type '%s'%s", name, didYouMean(name, ChartTypes))
	}
	p.advance()
	r.Chart = name
	if p.acceptWord("with") {
		r.Props = p.parseProps()
	} else if p.optionNameLen() > 0 && p.peek(p.optionNameLen()).isPunct("=") {
		// legacy form: render timechart title="x", kind=stacked
		for p.optionNameLen() > 0 && p.peek(p.optionNameLen()).isPunct("=") {
			r.Props = append(r.Props, p.parseProp())
			p.acceptPunct(",")
		}
	}
	return r
}

func (p *parser) parseSerialize(t token) Operator {
	s := &Serialize{Pos: t.pos}
	p.parseOptions("serialize", false)
	if !p.endOfList() {
		s.Columns = p.parseNamedExprs(false)
	}
	return s
}

func (p *parser) parseAs(t token) Operator {
	a := &As{Pos: t.pos}
	a.Hints = p.parseOptions("as", true)
	a.Name = p.parseName("a name after 'as'")
	return a
}

func (p *parser) parseInvoke(t token) Operator {
	if p.tok().kind != tIdent || !p.peek(1).isPunct("(") {
		p.unexpected("a function call after 'invoke'")
	}
	return &Invoke{Pos: t.pos, Call: p.parsePrimary().(*Call)}
}

func (p *parser) parseSample(t token) Operator {
	p.parseOptions("sample", false)
	if p.endOfList() {
		p.unexpected("the number of rows after 'sample'")
	}
	return &Sample{Pos: t.pos, N: p.parseExpr()}
}

func (p *parser) parseSampleDistinct(t token) Operator {
	p.parseOptions("sample-distinct", false)
	s := &SampleDistinct{Pos: t.pos, N: p.parseExpr()}
	p.expectWord("of", "and a column after 'sample-distinct N'")
	s.Column = p.parseExpr()
	return s
}

func (p *parser) parseTopNested(t token) Operator {
	tn := &TopNested{Pos: t.pos}
	for {
		lvl := &TopNestedLevel{Pos: t.pos}
		if !p.isWord("of") {
			lvl.N = p.parseExpr()
		}
		p.expectWord("of", "in top-nested [N] of Column by Aggregation")
		lvl.Of = p.parseNamedExpr(false)
		if p.tok().isWord("with") && p.peek(1).isWord("others") {
			p.advance()
			p.advance()
			p.expectPunct("=", "after 'with others'")
			lvl.Others = p.parseExpr()
		}
		p.expectWord("by", "and an aggregation in top-nested")
		lvl.By = p.parseNamedExpr(false)
		if p.isWord("asc") || p.isWord("desc") {
			lvl.Order = p.advance().text
		}
		tn.Levels = append(tn.Levels, lvl)
		if !p.isPunct(",") {
			return tn
		}
		p.advance()
		t = p.tok()
		if name, n := p.operatorName(p.i); name != "top-nested" {
			p.unexpected("'top-nested' for the next level after ','")
		} else {
			p.i += n
		}
	}
}

// parseEvaluate reads `evaluate [hints] plugin(args) [: (schema)]` (the
// current token is 'evaluate').
func (p *parser) parseEvaluate() *Evaluate {
	ev := &Evaluate{Pos: p.advance().pos}
	ev.Hints = p.parseOptions("evaluate", true)
	if p.tok().kind != tIdent || !p.peek(1).isPunct("(") {
		p.unexpected("a plugin call after 'evaluate', such as bag_unpack(col)")
	}
	ev.Call = p.parsePrimary().(*Call)
	if p.acceptPunct(":") {
		ev.Schema, ev.SchemaStar = p.parseSchema(true)
	}
	return ev
}

func (p *parser) parseMakeSeries(t token) Operator {
	ms := &MakeSeries{Pos: t.pos}
	for _, o := range p.parseOptions("make-series", false, "kind") {
		if o.Name == "kind" {
			ms.Kind = p.optionWord(o, "make-series", []string{"nonempty"})
		} else {
			ms.Hints = append(ms.Hints, o)
		}
	}
	for {
		agg := &SeriesAgg{Pos: p.tok().pos, Agg: p.parseNamedExpr(false)}
		if p.tok().isWord("default") && p.peek(1).isPunct("=") {
			p.advance()
			p.advance()
			agg.Default = p.parseExpr()
		}
		ms.Aggs = append(ms.Aggs, agg)
		if !p.acceptPunct(",") {
			break
		}
	}
	p.expectWord("on", "and the axis column after the make-series aggregations")
	ms.On = p.parseExpr()
	switch {
	case p.tok().isWord("in") && p.peek(1).isWord("range") && p.peek(2).isPunct("("):
		p.advance()
		p.advance()
		open := p.advance()
		ms.From = p.parseExpr()
		p.expectPunct(",", "in range(start, stop, step)")
		ms.To = p.parseExpr()
		p.expectPunct(",", "in range(start, stop, step)")
		ms.Step = p.parseExpr()
		p.closing(open)
	default:
		if p.acceptWord("from") {
			ms.From = p.parseExpr()
		}
		if p.acceptWord("to") {
			ms.To = p.parseExpr()
		}
		p.expectWord("step", "and the bin size in make-series ... on Axis [from Start] [to End] step Step")
		ms.Step = p.parseExpr()
	}
	if p.acceptWord("by") {
		ms.By = p.parseNamedExprs(false)
	}
	return ms
}

// parseSearch reads `search [kind=...] [in (T, ...)] Predicate` (the
// current token is 'search').
func (p *parser) parseSearch() *Search {
	s := &Search{Pos: p.advance().pos}
	for _, o := range p.parseOptions("search", true, "kind") {
		if o.Name == "kind" {
			s.Kind = p.optionWord(o, "search", []string{"case_sensitive", "case_insensitive"})
		}
	}
	if p.tok().isWord("in") && p.peek(1).isPunct("(") {
		p.advance()
		open := p.advance()
		for {
			np := p.parseNamePattern("a table name")
			s.Tables = append(s.Tables, &TableRef{Pos: np.Pos, Name: np.Pattern, Wildcard: np.Wildcard})
			if !p.acceptPunct(",") {
				break
			}
		}
		p.closing(open)
	}
	if p.endOfList() {
		p.unexpected("a search predicate, such as \"term\" or Column:\"term\"")
	}
	old := p.allowColon
	p.allowColon = true
	s.Pred = p.parseExpr()
	p.allowColon = old
	return s
}

func (p *parser) parseReduce(t token) Operator {
	r := &Reduce{Pos: t.pos}
	for _, o := range p.parseOptions("reduce", true, "kind") {
		if o.Name == "kind" {
			r.Kind = p.optionWord(o, "reduce", []string{"source"})
		}
	}
	p.expectWord("by", "after 'reduce'")
	r.By = p.parseExpr()
	if p.acceptWord("with") {
		for {
			r.Props = append(r.Props, p.parseProp())
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	return r
}

// parseScan reads `scan [with_match_id=Name] [declare (Col:type [=
// Default], ...)] with (step Name [output=all|last|none]: Condition [=> Col
// = Expr, ...]; ...)`.
func (p *parser) parseScan(t token) Operator {
	s := &Scan{Pos: t.pos}
	for _, o := range p.parseOptions("scan", true, "with_match_id") {
		if o.Name != "with_match_id" {
			s.Hints = append(s.Hints, o)
			continue
		}
		id, ok := o.Values[0].(*Ident)
		if !ok {
			p.failAt(o.Values[0].Position(), "with_match_id takes the name of the column to add, such as with_match_id=MatchId")
		}
		s.MatchID = id
	}
	if p.acceptWord("declare") {
		open := p.expectPunct("(", "to start the columns scan declares")
		for !p.isPunct(")") {
			c := p.parseColumnDecl()
			d := &ScanDecl{Pos: c.Pos, Name: c.Name, Type: c.Type}
			if p.acceptPunct("=") {
				d.Default = p.parseExpr()
			}
			s.Declare = append(s.Declare, d)
			if !p.acceptPunct(",") {
				break
			}
		}
		p.closing(open)
	}
	p.expectWord("with", "and the steps of the scan, such as with (step s1: Condition;)")
	open := p.expectPunct("(", "to start the steps of the scan")
	for !p.isPunct(")") {
		st := &ScanStep{Pos: p.tok().pos}
		p.expectWord("step", "to start a scan step: step Name: Condition [=> Column = Expression, ...];")
		st.Name = p.parseName("a step name after 'step'")
		for _, o := range p.parseOptions("scan step", true, "output") {
			if o.Name == "output" {
				st.Output = p.optionWord(o, "scan step", []string{"all", "last", "none"})
			}
		}
		p.expectPunct(":", "and the step's condition after the step name")
		st.Cond = p.parseExpr()
		if p.acceptPunct("=>") {
			st.Assign = p.parseNamedExprs(false)
		}
		s.Steps = append(s.Steps, st)
		if !p.acceptPunct(";") {
			break
		}
	}
	p.closing(open)
	if len(s.Steps) == 0 {
		p.failAt(open.pos, "scan needs at least one step: with (step s1: Condition;)")
	}
	return s
}

// parseTopHitters reads `top-hitters N of Value [by Sum]`.
func (p *parser) parseTopHitters(t token) Operator {
	th := &TopHitters{Pos: t.pos}
	if p.endOfList() || p.tok().isWord("of") {
		p.unexpected("the number of values after 'top-hitters'")
	}
	th.N = p.parseExpr()
	p.expectWord("of", "and the values to count after 'top-hitters N' (top-hitters N of Column [by Sum])")
	th.Value = p.parseExpr()
	if p.acceptWord("by") {
		th.Sum = p.parseExpr()
	}
	return th
}
