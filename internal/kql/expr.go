package kql

import (
	"fmt"
	"strings"
)

// Operator precedence, loosest first, as in Kusto's own parser:
//
//	or
//	and
//	== != <> in !in in~ !in~ has_any has_all between !between
//	< <= > >=
//	+ -
//	* / %
//	=~ !~ contains has startswith ... matches regex   (string operators)
//	unary - +
//	postfix: x.y  x[i]  f(...)
//
// Every binary level is left-associative.

// parseExpr reads a scalar expression.
func (p *parser) parseExpr() Expr {
	p.enter()
	e := p.parseOr()
	p.leave()
	p.exprEnd = p.i
	return e
}

func (p *parser) parseOr() Expr { return p.parseLogical("or", p.parseAnd) }

func (p *parser) parseAnd() Expr { return p.parseLogical("and", p.parseEquality) }

// parseLogical reads operands of next joined by the keyword op, left to
// right.
func (p *parser) parseLogical(op string, next func() Expr) Expr {
	e := next()
	n := 0
	for p.isWord(op) {
		t := p.advance()
		p.enter()
		n++
		e = &Binary{Pos: e.Position(), Op: op, OpPos: t.pos, L: e, R: next()}
	}
	p.depth -= n
	return e
}

func (p *parser) parseEquality() Expr {
	outer := p.eqStart
	p.eqStart = p.i
	e := p.parseRelational()
	p.eqStart = outer
	n := 0
	defer func() { p.depth -= n }()
	for {
		t := p.tok()
		word := ""
		if t.kind == tIdent || t.kind == tOpWord {
			word = t.text
		}
		switch {
		case t.isPunct("==") || t.isPunct("!=") || t.isPunct("<>"):
			p.advance()
			p.enter()
			n++
			op := t.text
			if op == "<>" {
				op = "!="
			}
			e = &Binary{Pos: e.Position(), Op: op, OpPos: t.pos, L: e, R: p.parseRelational()}
		case listOps[word] && !(word == "in" && p.peek(1).isWord("range")):
			p.advance()
			p.enter()
			n++
			e = &InList{Pos: e.Position(), Op: word, OpPos: t.pos, X: e, List: p.parseInList(t)}
		case word == "between" || word == "!between":
			p.advance()
			p.enter()
			n++
			b := &Between{Pos: e.Position(), Not: word == "!between", X: e}
			open := p.expectPunct("(", fmt.Sprintf("after '%s': write x %s (low .. high)", word, word))
			b.Low = p.parseAdditive()
			p.expectPunct("..", fmt.Sprintf("between the bounds of %s (low .. high)", word))
			b.High = p.parseAdditive()
			p.closing(open)
			e = b
		default:
			if t.kind == tIdent || t.kind == tOpWord {
				p.hint("and", "or")
			}
			return e
		}
	}
}

// parseInList reads the `(a, b, ...)` after in, !in, in~, !in~, has_any
// or has_all.
func (p *parser) parseInList(op token) []Expr {
	if !p.isPunct("(") {
		p.unexpected(fmt.Sprintf("'(' after '%s': write x %s (a, b, ...)", op.text, op.text))
	}
	open := p.advance()
	if p.isPunct(")") {
		p.fail(p.tok(), "the list after '%s' is empty", op.text)
	}
	var list []Expr
	for {
		list = append(list, p.parseExprOrTabular())
		if !p.acceptPunct(",") {
			break
		}
	}
	p.closing(open)
	return list
}

func (p *parser) parseRelational() Expr {
	e := p.parseAdditive()
	n := 0
	for t := p.tok(); t.isPunct("<") || t.isPunct("<=") || t.isPunct(">") || t.isPunct(">="); t = p.tok() {
		p.advance()
		p.enter()
		n++
		e = &Binary{Pos: e.Position(), Op: t.text, OpPos: t.pos, L: e, R: p.parseAdditive()}
	}
	p.depth -= n
	return e
}

func (p *parser) parseAdditive() Expr {
	e := p.parseMultiplicative()
	n := 0
	for t := p.tok(); t.isPunct("+") || t.isPunct("-"); t = p.tok() {
		p.advance()
		p.enter()
		n++
		e = &Binary{Pos: e.Position(), Op: t.text, OpPos: t.pos, L: e, R: p.parseMultiplicative()}
	}
	p.depth -= n
	return e
}

func (p *parser) parseMultiplicative() Expr {
	e := p.parseStringOp()
	n := 0
	for t := p.tok(); t.isPunct("*") || t.isPunct("/") || t.isPunct("%"); t = p.tok() {
		p.advance()
		p.enter()
		n++
		e = &Binary{Pos: e.Position(), Op: t.text, OpPos: t.pos, L: e, R: p.parseStringOp()}
	}
	p.depth -= n
	return e
}

// stringOpAt returns the string operator at the current token and its
// token count ("matches regex" is two), or "".
func (p *parser) stringOpAt() (string, int) {
	t := p.tok()
	switch {
	case t.isPunct("=~") || t.isPunct("!~"):
		return t.text, 1
	case t.isPunct(":") && p.allowColon:
		return ":", 1
	case t.kind == tIdent || t.kind == tOpWord:
		if t.text == "matches" {
			if p.peek(1).isWord("regex") {
				return "matches regex", 2
			}
			return "", 0
		}
		if stringOps[t.text] {
			return t.text, 1
		}
	}
	return "", 0
}

func (p *parser) parseStringOp() Expr {
	e := p.parseUnary()
	n := 0
	for {
		op, k := p.stringOpAt()
		if k == 0 {
			break
		}
		t := p.tok()
		p.i += k
		p.enter()
		n++
		e = &Binary{Pos: e.Position(), Op: op, OpPos: t.pos, L: e, R: p.parseUnary()}
	}
	p.depth -= n
	return e
}

func (p *parser) parseUnary() Expr {
	t := p.tok()
	if t.isPunct("-") || t.isPunct("+") {
		p.advance()
		p.enter()
		x := p.parseUnary()
		p.leave()
		if _, ok := x.(*Star); ok {
			p.failAt(x.Position(), "'*' is not a value: unary %s needs a number or a timespan", t.text)
		}
		if lit, ok := x.(*Literal); ok && t.text == "-" && !lit.Null {
			if neg, ok := negateLiteral(lit); ok {
				neg.Pos = t.pos
				return neg
			}
		}
		return &Unary{Pos: t.pos, Op: t.text, X: x}
	}
	return p.parsePostfix()
}

// parsePostfix reads a primary expression and its .member and [index]
// suffixes.
func (p *parser) parsePostfix() Expr {
	e := p.parsePrimary()
	n := 0
	defer func() { p.depth -= n }()
	for {
		t := p.tok()
		if t.blankBefore { // a blank line may start a new statement: ['T'] or (T)
			return e
		}
		switch {
		case t.isPunct("."):
			p.advance()
			p.enter()
			n++
			nt := p.tok()
			switch {
			case nt.kind == tIdent:
				p.advance()
				e = &Member{Pos: e.Position(), X: e, Name: nt.text}
			case nt.isPunct("[") && p.peek(1).kind == tString && p.peek(2).isPunct("]"):
				p.advance()
				s := p.advance()
				p.advance()
				e = &Member{Pos: e.Position(), X: e, Name: s.val}
			case nt.isPunct("["):
				open := p.advance()
				idx := p.parseExpr()
				p.closing(open)
				e = &Index{Pos: e.Position(), X: e, Index: idx}
			default:
				p.unexpected("a property name after '.'")
			}
		case t.isPunct("["):
			open := p.advance()
			p.enter()
			n++
			idx := p.parseExpr()
			p.closing(open)
			e = &Index{Pos: e.Position(), X: e, Index: idx}
		default:
			return e
		}
	}
}

// boolLiteral returns the literal for true/false (in Kusto's spellings)
// or nil.
func boolLiteral(t token) *Literal {
	switch t.text {
	case "true", "True", "TRUE":
		return &Literal{Pos: t.pos, Kind: LitBool, Value: "true"}
	case "false", "False", "FALSE":
		return &Literal{Pos: t.pos, Kind: LitBool, Value: "false"}
	}
	return nil
}

// parsePrimary reads a literal, a name, a call, a parenthesised expression
// or query, a ['bracketed name'] or a '*'.
func (p *parser) parsePrimary() Expr {
	t := p.tok()
	switch t.kind {
	case tString:
		return p.parseString()
	case tLong, tReal, tTimespan, tGoo:
		p.advance()
		lit, err := literalFromToken(t)
		if err != "" {
			p.fail(t, "%s", err)
		}
		return lit
	case tIdent:
		if lit := boolLiteral(t); lit != nil && !p.peek(1).isPunct("(") {
			p.advance()
			return lit
		}
		call := p.peek(1).isPunct("(") && !p.peek(1).blankBefore
		if operatorWords[t.text] && !call {
			p.fail(t, "'%s' needs a left operand", t.text)
		}
		if call {
			switch t.text {
			case "dynamic":
				return p.parseDynamicLiteral()
			case "typeof":
				return p.parseTypeOf()
			}
			return p.parseCall()
		}
		p.advance()
		return &Ident{Pos: t.pos, Name: t.text}
	case tOpWord:
		p.fail(t, "'%s' needs a left operand", t.text)
	case tPunct:
		switch t.text {
		case "(":
			p.advance()
			outer := p.openParen
			p.openParen = &t
			e := p.parseExprOrTabular()
			p.openParen = outer
			p.closing(t)
			return e
		case "[":
			if p.nameLen(0) == 3 {
				return p.parseName("")
			}
			p.fail(t, "unexpected '[': a bracketed name is written ['name'], an array dynamic([...])")
		case "*":
			if op, _ := p.peekAfterStar(); op {
				p.advance()
				return &Star{Pos: t.pos}
			}
		}
	case tEOF:
		p.fail(t, "unexpected end of query: expected an expression")
	}
	if p.exprEnd == p.i && t.kind == tIdent {
		p.unexpected("an expression")
	}
	p.fail(t, "expected an expression, found %s", t.describe())
	panic("unreachable")
}

// peekAfterStar reports whether the '*' at the current token is an
// operand ("any column"): followed by a string operator, or by == when it
// starts an equality expression.
func (p *parser) peekAfterStar() (bool, int) {
	nt := p.peek(1)
	if nt.isPunct("==") && p.eqStart == p.i || nt.isPunct("=~") || nt.isPunct("!~") || nt.isPunct(":") && p.allowColon {
		return true, 1
	}
	if (nt.kind == tIdent || nt.kind == tOpWord) && (stringOps[nt.text] || nt.text == "matches") {
		return true, 1
	}
	return false, 0
}

// parseString reads a string literal and the string literals written
// right after it, which Kusto concatenates.
func (p *parser) parseString() *Literal {
	t := p.advance()
	lit := &Literal{Pos: t.pos, Kind: LitString, Value: t.val, Obfuscated: t.obfuscated}
	if p.tok().kind != tString || p.tok().blankBefore {
		return lit
	}
	var b strings.Builder
	b.WriteString(t.val)
	for p.tok().kind == tString && !p.tok().blankBefore {
		s := p.advance()
		b.WriteString(s.val)
		lit.Obfuscated = lit.Obfuscated || s.obfuscated
	}
	lit.Value = b.String()
	return lit
}

// parseCall reads `name(args)`.
func (p *parser) parseCall() *Call {
	name := p.advance()
	open := p.advance()
	c := &Call{Pos: name.pos, Name: name.text}
	if !p.isPunct(")") {
		for {
			c.Args = append(c.Args, p.parseArg())
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	p.closing(open)
	return c
}

// parseArg reads a call argument: `*`, `name = value` or an expression
// (which may be a query).
func (p *parser) parseArg() Expr {
	t := p.tok()
	if t.isPunct("*") && (p.peek(1).isPunct(",") || p.peek(1).isPunct(")")) {
		p.advance()
		return &Star{Pos: t.pos}
	}
	if t.kind == tIdent && p.peek(1).isPunct("=") {
		p.advance()
		p.advance()
		return &NamedArg{Pos: t.pos, Name: t.text, Value: p.parseExprOrTabular()}
	}
	return p.parseExprOrTabular()
}

// parseTypeOf reads typeof(type).
func (p *parser) parseTypeOf() *Literal {
	t := p.advance()
	open := p.advance()
	typ := p.parseType()
	p.closing(open)
	return &Literal{Pos: t.pos, Kind: LitType, Value: typ}
}

// parseDynamicLiteral reads dynamic(value).
func (p *parser) parseDynamicLiteral() *Dynamic {
	t := p.advance()
	open := p.advance()
	d := &Dynamic{Pos: t.pos}
	if p.isPunct(")") {
		p.fail(p.tok(), "dynamic() needs a value: an array [...], a property bag {...}, a scalar or null")
	}
	d.Value = p.parseDynValue()
	p.closing(open)
	return d
}

// parseDynValue reads a JSON-like value inside dynamic(...): arrays, bags,
// strings, numbers, true, false, null and KQL literals.
func (p *parser) parseDynValue() Expr {
	t := p.tok()
	switch {
	case t.isPunct("["):
		p.advance()
		p.enter()
		arr := &DynArray{Pos: t.pos}
		for !p.isPunct("]") {
			arr.Elems = append(arr.Elems, p.parseDynValue())
			if !p.acceptPunct(",") {
				break
			}
		}
		p.closing(t)
		p.leave()
		return arr
	case t.isPunct("{"):
		p.advance()
		p.enter()
		bag := &DynBag{Pos: t.pos}
		seen := map[string]bool{}
		for !p.isPunct("}") {
			k := p.tok()
			var key string
			switch k.kind {
			case tString:
				key = k.val
			case tIdent:
				key = k.text
			default:
				p.unexpected("a property name (a string) in the property bag")
			}
			if seen[key] {
				p.fail(k, "duplicate property %s in the property bag", quoteShort(key))
			}
			seen[key] = true
			p.advance()
			p.expectPunct(":", "after the property name")
			bag.Keys = append(bag.Keys, key)
			bag.Values = append(bag.Values, p.parseDynValue())
			if !p.acceptPunct(",") {
				break
			}
		}
		p.closing(t)
		p.leave()
		return bag
	case t.kind == tString:
		p.advance()
		return &Literal{Pos: t.pos, Kind: LitString, Value: t.val, Obfuscated: t.obfuscated}
	case t.isPunct("-") || t.isPunct("+"):
		if nt := p.peek(1); nt.kind == tLong || nt.kind == tReal || nt.kind == tTimespan {
			e := p.parseUnary()
			if lit, ok := e.(*Literal); ok {
				return lit
			}
		}
	case t.kind == tLong || t.kind == tReal || t.kind == tTimespan || t.kind == tGoo:
		return p.parsePrimary()
	case t.kind == tIdent:
		if lit := boolLiteral(t); lit != nil {
			p.advance()
			return lit
		}
		if t.text == "null" {
			p.advance()
			return &Literal{Pos: t.pos, Kind: LitNull}
		}
	}
	p.unexpected("a value in the dynamic literal (array, property bag, string, number, true, false or null)")
	panic("unreachable")
}
