package kql

import (
	"fmt"
	"strings"
)

// Limits bound the work Parse does, so that any input is parsed in
// bounded time and memory. A zero field takes its default.
type Limits struct {
	// MaxBytes is the longest query text accepted (default 1 MiB).
	MaxBytes int
	// MaxTokens is the most tokens a query may have (default 200,000).
	MaxTokens int
	// MaxDepth is the deepest nesting of the syntax tree: parentheses,
	// operators applied to operators, sub-queries, dynamic values (default
	// 200). No tree Parse returns is deeper than about twice this.
	MaxDepth int
}

// DefaultLimits are the limits Parse uses.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxTokens: 200_000, MaxDepth: 200}

// Parse parses a KQL query. The error, if any, is an *Error naming the line
// and column of the offending token.
func Parse(src string) (*Query, error) {
	return ParseWithLimits(src, DefaultLimits)
}

// ParseWithLimits is Parse with other limits.
func ParseWithLimits(src string, lim Limits) (q *Query, err error) {
	defer recoverInternal(&err)
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	if lim.MaxTokens <= 0 {
		lim.MaxTokens = DefaultLimits.MaxTokens
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if len(src) > lim.MaxBytes {
		return nil, &Error{Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("the query is too long: %d bytes, at most %d are accepted", len(src), lim.MaxBytes)}
	}
	toks, err := lex(src, lim.MaxTokens)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, maxDepth: lim.MaxDepth}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			q, err = nil, e
		}
	}()
	return p.parseQuery(), nil
}

// parser is a recursive-descent parser over the token slice. Errors panic
// with an *Error, recovered by ParseWithLimits.
type parser struct {
	toks     []token
	i        int
	depth    int
	maxDepth int

	// allowColon lets ':' be a binary operator (search predicates).
	allowColon bool

	// eqStart is the index of the first token of the equality expression
	// being read: only there may '*' stand for any column before '=='.
	eqStart int

	// openParen is the '(' whose contents are being read by
	// parseExprOrTabular, for the message when it is not closed.
	openParen *token

	// exprEnd is the index of the token after the last complete
	// expression, and hintAt/hintWords the keywords that could have come
	// at token hintAt: both feed suggestions in error messages.
	exprEnd   int
	hintAt    int
	hintWords []string
}

func (p *parser) tok() token { return p.toks[p.i] }

// peek returns the token n places ahead (the EOF token past the end).
func (p *parser) peek(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (t token) isPunct(s string) bool { return t.kind == tPunct && t.text == s }
func (t token) isWord(s string) bool  { return t.kind == tIdent && t.text == s }

func (p *parser) isPunct(s string) bool { return p.tok().isPunct(s) }

// isWord reports whether the current token is the word s, remembering s
// as a possible keyword for suggestions.
func (p *parser) isWord(s string) bool {
	if p.tok().isWord(s) {
		return true
	}
	p.hint(s)
	return false
}

func (p *parser) acceptPunct(s string) bool {
	if p.isPunct(s) {
		p.advance()
		return true
	}
	return false
}

func (p *parser) acceptWord(s string) bool {
	if p.isWord(s) {
		p.advance()
		return true
	}
	return false
}

// hint records words that could have come at the current token.
func (p *parser) hint(words ...string) {
	if p.hintAt != p.i {
		p.hintAt, p.hintWords = p.i, p.hintWords[:0]
	}
	p.hintWords = append(p.hintWords, words...)
}

// fail stops parsing with an error at token t.
func (p *parser) fail(t token, format string, args ...any) {
	panic(&Error{Pos: t.pos, Msg: fmt.Sprintf(format, args...)})
}

// failAt stops parsing with an error at pos.
func (p *parser) failAt(pos Pos, format string, args ...any) {
	panic(&Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// expectPunct consumes punctuation s or fails with "expected s <where>".
func (p *parser) expectPunct(s, where string) token {
	if !p.isPunct(s) {
		p.unexpected(fmt.Sprintf("'%s' %s", s, where))
	}
	return p.advance()
}

// expectWord consumes the word w or fails.
func (p *parser) expectWord(w, where string) token {
	if !p.isWord(w) {
		p.unexpected(fmt.Sprintf("'%s' %s", w, where))
	}
	return p.advance()
}

// closing consumes the closing bracket matching open, or fails naming
// where open was.
func (p *parser) closing(open token) token {
	want := map[string]string{"(": ")", "[": "]", "{": "}"}[open.text]
	if p.isPunct(want) {
		return p.advance()
	}
	t := p.tok()
	if t.kind == tEOF {
		p.fail(t, "unbalanced brackets: '%s' at %s is never closed", open.text, open.pos)
	}
	if t.kind == tPunct && (t.text == ")" || t.text == "]" || t.text == "}") {
		p.fail(t, "unbalanced brackets: '%s' closes '%s' at %s, which needs '%s'", t.text, open.text, open.pos, want)
	}
	p.unexpected(fmt.Sprintf("'%s' to close '%s' at %s", want, open.text, open.pos))
	panic("unreachable")
}

// unexpected fails at the current token, which is not what was expected;
// for a word it suggests the nearest keyword that could have come there.
func (p *parser) unexpected(expected string) {
	t := p.tok()
	p.dashedName()
	if t.isPunct("=") && p.exprEnd == p.i {
		p.fail(t, "unexpected '=' (did you mean '=='?)")
	}
	msg := fmt.Sprintf("expected %s, found %s", expected, t.describe())
	if t.kind == tIdent || t.kind == tOpWord {
		var cands []string
		if p.hintAt == p.i {
			cands = append(cands, p.hintWords...)
		}
		if p.exprEnd == p.i {
			cands = append(cands, binaryWords...)
		}
		if s := Suggest(t.text, cands); s != "" {
			p.fail(t, "unexpected '%s' (did you mean '%s'?)", t.text, s)
		}
	}
	if t.kind == tEOF {
		msg = fmt.Sprintf("unexpected end of query: expected %s", expected)
	}
	p.fail(t, "%s", msg)
}

// dashedName fails when the tokens before the current one spell a name
// with dashes (my-col = ...), which must be bracketed.
func (p *parser) dashedName() {
	j := p.i
	if t := p.toks[j]; t.isPunct("-") && !t.spaceBefore && j > 0 && p.toks[j-1].kind == tIdent &&
		p.peek(1).kind == tIdent && !p.peek(1).spaceBefore {
		name := p.toks[j-1].text
		for k := j; p.toks[k].isPunct("-") && !p.toks[k].spaceBefore && p.toks[k+1].kind == tIdent && !p.toks[k+1].spaceBefore; k += 2 {
			name += "-" + p.toks[k+1].text
		}
		p.fail(p.toks[j-1], "a name cannot contain '-': write ['%s']", name)
	}
	if !p.toks[j].isPunct("=") && !p.toks[j].isPunct(":") {
		return
	}
	k := j - 1
	for k >= 2 && p.toks[k].kind == tIdent && p.toks[k-1].isPunct("-") && !p.toks[k-1].spaceBefore && !p.toks[k].spaceBefore && p.toks[k-2].kind == tIdent {
		k -= 2
	}
	if k == j-1 {
		return
	}
	name := ""
	for m := k; m < j; m++ {
		name += p.toks[m].text
	}
	p.fail(p.toks[k], "a name cannot contain '-': write ['%s']", name)
}

// enter descends one level of nesting, failing past the depth limit.
func (p *parser) enter() {
	p.depth++
	if p.depth > p.maxDepth {
		p.fail(p.tok(), "the query is nested too deeply (more than %d levels)", p.maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// endOfList reports whether the current token ends an open-ended list (of
// operator arguments): '|', ';', ')', ']', '}', the end, or a token after a
// blank line.
func (p *parser) endOfList() bool {
	t := p.tok()
	if t.kind == tEOF || t.blankBefore {
		return true
	}
	return t.kind == tPunct && (t.text == "|" || t.text == ";" || t.text == ")" || t.text == "]" || t.text == "}")
}

// ---- statements ----

func (p *parser) parseQuery() *Query {
	q := &Query{Pos: p.tok().pos}
	for {
		for p.acceptPunct(";") {
		}
		if p.tok().kind == tEOF {
			break
		}
		q.Statements = append(q.Statements, p.parseStatement())
		t := p.tok()
		switch {
		case t.isPunct(";"), t.kind == tEOF:
		case t.blankBefore && canStartStatement(t):
			// A blank line between two complete statements separates them.
		default:
			p.trailing(t)
		}
	}
	if len(q.Statements) == 0 {
		p.failAt(Pos{Line: 1, Col: 1}, "the query is empty")
	}
	return q
}

// canStartStatement reports whether t can begin a statement.
func canStartStatement(t token) bool {
	return t.kind == tIdent || t.isPunct("(") || t.isPunct("[")
}

// trailing fails on a token that follows a complete statement.
func (p *parser) trailing(t token) {
	switch {
	case t.isPunct(")") || t.isPunct("]") || t.isPunct("}"):
		open := map[string]string{")": "(", "]": "[", "}": "{"}[t.text]
		p.fail(t, "unbalanced brackets: '%s' has no matching '%s'", t.text, open)
	case t.kind == tIdent && isOperatorName(t.text):
		p.fail(t, "unexpected '%s': is a '|' missing before it?", t.text)
	}
	p.unexpected("'|', ';' or the end of the query")
}

func isOperatorName(w string) bool {
	for _, o := range Operators {
		if o == w {
			return true
		}
	}
	return false
}

func (p *parser) parseStatement() Statement {
	t := p.tok()
	next := p.peek(1)
	switch {
	case t.isWord("let") && (next.kind == tIdent || next.isPunct("[")):
		return p.parseLet()
	case t.isWord("let") && (next.kind == tPunct && next.text != "|" && next.text != ";" || next.kind == tString || next.kind == tLong):
		p.advance()
		p.unexpected("a name after 'let'")
	case t.kind == tIdent && pipeOnlyOperators[t.text] && (next.kind == tIdent || next.kind == tString || next.kind == tLong) && !next.isWord("on"):
		p.fail(t, "unexpected '%s' at the start of a statement: it needs a table and a '|' before it", t.text)
	case t.isWord("set") && next.kind == tIdent && (p.peek(2).isPunct("=") || p.peek(2).isPunct(";") || p.peek(2).kind == tEOF):
		return p.parseSet()
	case t.isWord("declare") && next.kind == tIdent,
		t.isWord("alias") && next.kind == tIdent,
		t.isWord("restrict") && next.kind == tIdent,
		t.isWord("pattern") && next.kind == tIdent:
		p.fail(t, "'%s' statements are not supported (a query holds let, set and tabular statements)", t.text)
	}
	pipe := p.parseTabular()
	return &TabularStmt{Pos: pipe.Pos, Expr: pipe}
}

func (p *parser) parseSet() *SetStmt {
	s := &SetStmt{Pos: p.advance().pos}
	s.Name = p.advance().text
	for p.isPunct("-") && !p.tok().spaceBefore && p.peek(1).kind == tIdent && !p.peek(1).spaceBefore {
		p.advance()
		s.Name += "-" + p.advance().text
	}
	if p.acceptPunct("=") {
		s.Value = p.parseExpr()
	}
	return s
}

func (p *parser) parseLet() *LetStmt {
	let := &LetStmt{Pos: p.advance().pos}
	let.Name = p.parseName("a name after 'let'")
	if !p.isPunct("=") {
		p.unexpected(fmt.Sprintf("'=' after 'let %s'", let.Name.Name))
	}
	p.advance()
	switch {
	case p.tok().isWord("view") && p.peek(1).isPunct("("):
		p.advance()
		let.Func = p.parseFuncDef(true)
	case p.isPunct("(") && p.looksLikeFuncDef():
		let.Func = p.parseFuncDef(false)
	default:
		v := p.parseExprOrTabular()
		if sq, ok := v.(*SubQuery); ok {
			let.Tabular = sq.Pipe
		} else {
			let.Value = v
		}
	}
	return let
}

// parseName reads a name: an identifier or ['bracketed name'].
func (p *parser) parseName(what string) *Ident {
	t := p.tok()
	switch {
	case t.kind == tIdent:
		p.advance()
		return &Ident{Pos: t.pos, Name: t.text}
	case t.isPunct("[") && p.peek(1).kind == tString && p.peek(2).isPunct("]"):
		p.advance()
		s := p.advance()
		p.advance()
		return &Ident{Pos: t.pos, Name: s.val}
	}
	p.unexpected(what)
	panic("unreachable")
}

// isName reports whether a name starts at the token n places ahead, and
// how many tokens it has.
func (p *parser) nameLen(n int) int {
	t := p.peek(n)
	switch {
	case t.kind == tIdent:
		return 1
	case t.isPunct("[") && p.peek(n+1).kind == tString && p.peek(n+2).isPunct("]"):
		return 3
	}
	return 0
}

// looksLikeFuncDef reports whether the '(' at the current token closes
// before a '{': a function definition's parameter list.
func (p *parser) looksLikeFuncDef() bool {
	depth := 0
	for j := p.i; j < len(p.toks); j++ {
		t := p.toks[j]
		switch {
		case t.kind == tEOF:
			return false
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			depth--
			if depth == 0 {
				return j+1 < len(p.toks) && p.toks[j+1].isPunct("{")
			}
		}
	}
	return false
}

func (p *parser) parseFuncDef(view bool) *FuncDef {
	open := p.expectPunct("(", "to start the parameter list")
	fd := &FuncDef{Pos: open.pos, View: view}
	p.enter()
	if !p.isPunct(")") {
		for {
			fd.Params = append(fd.Params, p.parseParam())
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	p.closing(open)
	fd.Body = p.parseFuncBody()
	p.leave()
	return fd
}

func (p *parser) parseParam() *Param {
	name := p.parseName("a parameter name")
	prm := &Param{Pos: name.Pos, Name: name}
	if !p.isPunct(":") {
		p.unexpected(fmt.Sprintf("':' and a type after parameter '%s'", name.Name))
	}
	p.advance()
	if p.isPunct("(") {
		prm.Tabular = true
		prm.Schema, prm.Star = p.parseSchema(true)
	} else {
		prm.Type = p.parseType()
	}
	if p.acceptPunct("=") {
		prm.Default = p.parseExpr()
	}
	return prm
}

// parseSchema reads `(name:type, ...)`, with `*` allowed when star.
func (p *parser) parseSchema(star bool) (cols []*ColumnDecl, hasStar bool) {
	open := p.expectPunct("(", "to start the column list")
	for !p.isPunct(")") {
		if star && p.isPunct("*") {
			p.advance()
			hasStar = true
		} else {
			cols = append(cols, p.parseColumnDecl())
		}
		if !p.acceptPunct(",") {
			break
		}
	}
	p.closing(open)
	return cols, hasStar
}

func (p *parser) parseColumnDecl() *ColumnDecl {
	name := p.parseName("a column name")
	if !p.isPunct(":") {
		p.unexpected(fmt.Sprintf("':' and a type after column '%s'", name.Name))
	}
	p.advance()
	return &ColumnDecl{Pos: name.Pos, Name: name, Type: p.parseType()}
}

// parseType reads a scalar type name and returns its canonical form.
func (p *parser) parseType() string {
	t := p.tok()
	if t.kind != tIdent {
		p.unexpected("a type name such as string, long, real, bool, datetime, timespan or dynamic")
	}
	canon, ok := typeAliases[t.text]
	if !ok {
		p.fail(t, "unknown type '%s'%s", t.text, didYouMean(t.text, typeNames))
	}
	p.advance()
	return canon
}

func (p *parser) parseFuncBody() *FuncBody {
	open := p.expectPunct("{", "to start the function body")
	body := &FuncBody{Pos: open.pos}
	for {
		for p.acceptPunct(";") {
		}
		if p.isPunct("}") {
			p.fail(p.tok(), "the function body has no expression: it must end with a scalar or tabular expression")
		}
		if p.tok().isWord("let") && p.nameLen(1) > 0 {
			body.Lets = append(body.Lets, p.parseLet())
			if !p.isPunct(";") {
				p.unexpected("';' after the let statement")
			}
			continue
		}
		v := p.parseExprOrTabular()
		if sq, ok := v.(*SubQuery); ok {
			body.Tabular = sq.Pipe
		} else {
			body.Value = v
		}
		for p.acceptPunct(";") {
		}
		p.closing(open)
		return body
	}
}

// ---- tabular expressions ----

// startsTabular reports whether the current token starts a tabular
// expression by its keyword (print, datatable, range x from, union, ...).
func (p *parser) startsTabular() bool {
	t, next := p.tok(), p.peek(1)
	if t.kind != tIdent {
		return false
	}
	switch t.text {
	case "print":
		return !next.isPunct("=")
	case "datatable", "externaldata", "external_data":
		return next.isPunct("(")
	case "range":
		return p.nameLen(1) > 0 && p.peek(1+p.nameLen(1)).isWord("from")
	case "union":
		return next.kind == tIdent || next.isPunct("(") || next.isPunct("[") || next.isPunct("*")
	case "evaluate", "search", "find":
		return next.kind == tIdent || next.kind == tString
	}
	return false
}

// parseExprOrTabular reads an expression that may be tabular: a
// tabular-operator keyword starts a query; otherwise a scalar expression
// is read and, if a '|' follows, taken as the source of a query. A query
// is returned as a *SubQuery.
func (p *parser) parseExprOrTabular() Expr {
	if p.startsTabular() {
		pipe := p.parseTabular()
		return &SubQuery{Pos: pipe.Pos, Pipe: pipe}
	}
	open := p.openParen
	p.openParen = nil
	e := p.parseExpr()
	if p.isPunct("|") {
		switch e.(type) {
		case *Ident, *Call, *SubQuery:
		default:
			if open != nil {
				p.fail(p.tok(), "unbalanced brackets: '(' at %s is not closed before this '|'", open.pos)
			}
		}
		pipe := &Pipe{Pos: e.Position(), Source: p.exprToSource(e)}
		p.enter()
		p.parsePipeOps(pipe)
		p.leave()
		return &SubQuery{Pos: pipe.Pos, Pipe: pipe}
	}
	if sq, ok := e.(*SubQuery); ok {
		return sq
	}
	return e
}

// exprToSource turns an expression read before a '|' into a source.
func (p *parser) exprToSource(e Expr) Source {
	switch e := e.(type) {
	case *Ident:
		return &TableRef{Pos: e.Pos, Name: e.Name}
	case *Call:
		return &FuncSource{Pos: e.Pos, Call: e}
	case *SubQuery:
		return e.Pipe
	}
	p.failAt(e.Position(), "expected a tabular expression (a table, a let-bound name or a function call) before '|', found %s", describeExpr(e))
	panic("unreachable")
}

// describeExpr names an expression's kind for error messages.
func describeExpr(e Expr) string {
	switch e := e.(type) {
	case *Literal:
		return "a " + e.Kind.String() + " literal"
	case *Dynamic:
		return "a dynamic literal"
	case *Member, *Index:
		return "a property access"
	case *Star:
		return "'*'"
	}
	return "a scalar expression"
}

// parseTabular reads a source and its '|' operators.
func (p *parser) parseTabular() *Pipe {
	p.enter()
	pipe := &Pipe{Pos: p.tok().pos}
	pipe.Source = p.parseSource()
	p.parsePipeOps(pipe)
	p.leave()
	return pipe
}

// parsePipeOps reads `| op` while a '|' follows.
func (p *parser) parsePipeOps(pipe *Pipe) {
	for p.isPunct("|") {
		p.advance()
		pipe.Ops = append(pipe.Ops, p.parseOperator())
	}
}

// parseSource reads the first element of a tabular expression.
func (p *parser) parseSource() Source {
	t := p.tok()
	switch {
	case t.isPunct("("):
		p.advance()
		inner := p.parseTabular()
		p.closing(t)
		return inner
	case t.isWord("print"):
		return p.parsePrint()
	case t.isWord("datatable") && p.peek(1).isPunct("("):
		return p.parseDataTable()
	case t.isWord("range") && p.nameLen(1) > 0:
		return p.parseRange()
	case t.isWord("union"):
		return p.parseUnion()
	case t.isWord("search"):
		return p.parseSearch()
	case (t.isWord("externaldata") || t.isWord("external_data")) && p.peek(1).isPunct("("):
		return p.parseExternalData()
	case t.isWord("evaluate") && p.peek(1).kind == tIdent:
		return p.parseEvaluate()
	case t.isWord("find") && (p.peek(1).kind == tIdent || p.peek(1).kind == tString):
		p.fail(t, "the 'find' operator is not supported: use union or search")
	case t.kind == tIdent || t.isPunct("["):
		e := p.parsePostfix()
		if _, ok := e.(*Member); ok {
			p.failAt(e.Position(), "qualified table names (database(...).T, cluster(...)) are not supported")
		}
		return p.exprToSource(e)
	case t.kind == tOpWord || t.isPunct("|"):
		p.fail(t, "expected a table before %s", t.describe())
	}
	p.unexpected("a table name, a let-bound name, a function call or an operator such as print, datatable, range or union")
	panic("unreachable")
}

// parseTabularOperand reads the right side of join and lookup: a
// parenthesised query, a table name or a function call.
func (p *parser) parseTabularOperand(op string) *Pipe {
	t := p.tok()
	switch {
	case t.isPunct("("):
		p.advance()
		inner := p.parseTabular()
		p.closing(t)
		return inner
	case t.kind == tIdent && !t.isWord("on") || t.isPunct("["):
		e := p.parsePostfix()
		return &Pipe{Pos: e.Position(), Source: p.exprToSource(e)}
	}
	p.unexpected(fmt.Sprintf("a table or a parenthesised query after '%s'", op))
	panic("unreachable")
}

// parseNamePattern reads a name that may contain '*' wildcards: the
// identifiers and '*' written together without spaces, or a ['name'].
func (p *parser) parseNamePattern(what string) *NamePattern {
	t := p.tok()
	if n := p.nameLen(0); n == 3 {
		id := p.parseName(what)
		return &NamePattern{Pos: id.Pos, Pattern: id.Name}
	}
	if t.kind != tIdent && !t.isPunct("*") {
		p.unexpected(what)
	}
	var b strings.Builder
	np := &NamePattern{Pos: t.pos}
	for first := true; ; first = false {
		t := p.tok()
		if !first && t.spaceBefore {
			break
		}
		if t.isPunct("*") {
			np.Wildcard = true
		} else if t.kind != tIdent && !(t.kind == tLong && !first) {
			break
		}
		b.WriteString(t.text)
		p.advance()
	}
	np.Pattern = b.String()
	return np
}

func (p *parser) parsePrint() *Print {
	pr := &Print{Pos: p.advance().pos}
	if !p.endOfList() {
		pr.Columns = p.parseNamedExprs(false)
	}
	return pr
}

func (p *parser) parseDataTable() *DataTable {
	dt := &DataTable{Pos: p.advance().pos}
	dt.Columns, _ = p.parseSchema(false)
	if len(dt.Columns) == 0 {
		p.fail(p.toks[p.i-1], "datatable needs at least one column")
	}
	open := p.expectPunct("[", "and the values of the datatable")
	p.enter()
	p.acceptPunct(",")
	for !p.isPunct("]") {
		dt.Values = append(dt.Values, p.parseExpr())
		if !p.acceptPunct(",") {
			break
		}
	}
	closeTok := p.closing(open)
	p.leave()
	if n := len(dt.Columns); len(dt.Values)%n != 0 {
		p.fail(closeTok, "datatable has %d columns but %d values: the last row has %d", n, len(dt.Values), len(dt.Values)%n)
	}
	return dt
}

func (p *parser) parseRange() *Range {
	r := &Range{Pos: p.advance().pos}
	r.Column = p.parseName("a column name after 'range'")
	p.expectWord("from", "in range Column from Start to Stop step Step")
	r.From = p.parseExpr()
	p.expectWord("to", "in range Column from Start to Stop step Step")
	r.To = p.parseExpr()
	p.expectWord("step", "in range Column from Start to Stop step Step")
	r.Step = p.parseExpr()
	return r
}

func (p *parser) parseExternalData() *ExternalData {
	ed := &ExternalData{Pos: p.advance().pos}
	ed.Columns, _ = p.parseSchema(false)
	open := p.expectPunct("[", "and the URIs of externaldata")
	for !p.isPunct("]") {
		ed.URIs = append(ed.URIs, p.parseExpr())
		if !p.acceptPunct(",") {
			break
		}
	}
	p.closing(open)
	if p.acceptWord("with") {
		ed.Props = p.parseProps()
	}
	return ed
}

// parseProps reads `(name = value, ...)`.
func (p *parser) parseProps() []*Option {
	open := p.expectPunct("(", "to start the properties")
	var props []*Option
	for !p.isPunct(")") {
		props = append(props, p.parseProp())
		if !p.acceptPunct(",") {
			break
		}
	}
	p.closing(open)
	return props
}

// parseProp reads one `name = value[, value...]` property: further values
// are taken while the token after a ',' is not `name =`.
func (p *parser) parseProp() *Option {
	name := p.parseName("a property name")
	if !p.isPunct("=") {
		p.unexpected(fmt.Sprintf("'=' after property '%s'", name.Name))
	}
	p.advance()
	opt := &Option{Pos: name.Pos, Name: name.Name}
	for {
		opt.Values = append(opt.Values, p.parseExpr())
		if !p.isPunct(",") {
			return opt
		}
		if n := p.nameLen(1); n > 0 && p.peek(1+n).isPunct("=") || p.peek(1).isPunct(")") {
			return opt
		}
		p.advance()
	}
}

// ---- options ----

// optionNameLen returns the number of tokens of an option name at the
// current token (`kind`, `hint.strategy`), 0 when none.
func (p *parser) optionNameLen() int {
	if p.tok().kind != tIdent {
		return 0
	}
	n := 1
	for p.peek(n).isPunct(".") && p.peek(n+1).kind == tIdent {
		n += 2
	}
	return n
}

// parseOptions reads `name = value` options while the name is one of
// allowed (or a hint.*). With strict, any other `word =` is an error (the
// operator takes no column named there).
func (p *parser) parseOptions(op string, strict bool, allowed ...string) []*Option {
	var opts []*Option
	for {
		n := p.optionNameLen()
		if n == 0 || !p.peek(n).isPunct("=") {
			p.hint(allowed...)
			return opts
		}
		t := p.tok()
		var name strings.Builder
		for k := 0; k < n; k++ {
			name.WriteString(p.advance().text)
		}
		ok := strings.HasPrefix(name.String(), "hint.")
		for _, a := range allowed {
			ok = ok || a == name.String()
		}
		if !ok {
			if !strict {
				p.i -= n
				return opts
			}
			if len(allowed) == 0 {
				p.fail(t, "unknown parameter '%s': %s takes no parameters but hints", name.String(), op)
			}
			p.fail(t, "unknown parameter '%s' for %s%s: it takes %s and hint.* parameters", name.String(), op, didYouMean(name.String(), allowed), strings.Join(allowed, ", "))
		}
		p.advance() // '='
		opts = append(opts, &Option{Pos: t.pos, Name: name.String(), Values: []Expr{p.parseOptionValue(name.String())}})
	}
}

// parseOptionValue reads an option's value: one word or one literal
// (never a call: in `kind=inner (T)` the '(' starts the right side).
func (p *parser) parseOptionValue(name string) Expr {
	t := p.tok()
	switch t.kind {
	case tIdent:
		if lit := boolLiteral(t); lit != nil {
			p.advance()
			return lit
		}
		p.advance()
		return &Ident{Pos: t.pos, Name: t.text}
	case tString, tLong, tReal, tTimespan, tGoo:
		return p.parsePrimary()
	case tPunct:
		if t.text == "[" && p.nameLen(0) == 3 {
			return p.parseName("")
		}
		if t.text == "-" && (p.peek(1).kind == tLong || p.peek(1).kind == tReal) {
			return p.parseUnary()
		}
	}
	p.unexpected(fmt.Sprintf("a value for '%s'", name))
	panic("unreachable")
}

// optionWord returns the word value of option o ("" if it is not a word)
// after checking it is one of valid.
func (p *parser) optionWord(o *Option, op string, valid []string) string {
	var w string
	switch v := o.Values[0].(type) {
	case *Ident:
		w = v.Name
	case *Literal:
		if v.Kind == LitString {
			w = v.Value
		}
	}
	if valid == nil {
		return w
	}
	for _, x := range valid {
		if x == w {
			return w
		}
	}
	p.failAt(o.Values[0].Position(), "unknown %s %s '%s'%s (valid: %s)", op, o.Name, w, didYouMean(w, valid), strings.Join(valid, ", "))
	return ""
}
