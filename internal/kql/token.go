package kql

import "fmt"

// Pos is a place in the query text: Line and Col count from 1, Col in
// characters (a tab is one column), Offset in bytes from 0. Every AST node
// embeds the Pos of its first token, so that later stages can report
// "line 3, column 12: unknown column 'x'".
type Pos struct {
	Line, Col, Offset int
}

// Position returns p; it makes every node that embeds a Pos a Node.
func (p Pos) Position() Pos { return p }

// String returns "line L, column C".
func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// tokenKind is the kind of a lexical token.
type tokenKind uint8

const (
	tEOF      tokenKind = iota
	tIdent              // identifier or keyword: where, x, $left, project (text as written)
	tOpWord             // a word operator the lexer glued: !contains, !in~, in~, !between
	tString             // string literal; val holds the decoded value
	tLong               // integer literal; text as written (decimal or 0x hex)
	tReal               // real literal: 1.5, 1e3, 2.
	tTimespan           // timespan literal: 1d, 1.5h, 100ms, 2microseconds
	tGoo                // typed literal: datetime(...), int(...), guid(...); text is the type word, val the raw contents
	tPunct              // punctuation; text is the punctuation
)

// token is one lexical token.
type token struct {
	kind tokenKind
	text string // source text (identifiers, numbers, punctuation), or the type word of a goo literal
	val  string // decoded value (strings) or raw contents (goo literals)
	pos  Pos
	end  int // byte offset just after the token

	// obfuscated marks an h'...' string; verbatim an @'...' one.
	obfuscated bool

	// spaceBefore reports whitespace or a comment between the previous
	// token and this one; blankBefore a blank line (a line holding only
	// whitespace) there.
	spaceBefore, blankBefore bool
}

// describe renders the token for an error message: 'where', "abc", end of query.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string literal " + quoteShort(t.val)
	case tGoo:
		return "'" + t.text + "(...)'"
	default:
		text := t.text
		if len(text) > 40 {
			text = text[:37] + "..."
		}
		return "'" + text + "'"
	}
}

// quoteShort quotes s, shortened to 40 characters.
func quoteShort(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return fmt.Sprintf("%q", s)
}
