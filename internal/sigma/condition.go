package sigma

import (
	"fmt"
	"path"
	"strings"
)

// cond is the parsed form of a detection condition.
type cond struct {
	op    string // "and", "or", "not", "id", "of"
	kids  []*cond
	name  string // id: the search identifier; of: the pattern, or "them"
	all   bool   // of: all of (else 1 of)
	where int    // offset in the condition text, for messages
}

type condToken struct {
	text string
	off  int
}

func tokenizeCondition(s string) []condToken {
	var toks []condToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '|':
			toks = append(toks, condToken{string(c), i})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, condToken{s[i:j], i})
			i = j
		}
	}
	return toks
}

type condParser struct {
	src  string
	toks []condToken
	pos  int
}

// parseCondition parses a Sigma condition: identifiers (search
// identifiers), and, or, not, parentheses, "1 of x*", "all of x*", "1 of
// them", "all of them". Precedence, least binding first: or, and, not.
func parseCondition(s string) (*cond, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty condition")
	}
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return nil, unsupported("aggregation %q is Sigma v1 syntax: use a correlation rule", strings.TrimSpace(s[i:]))
	}
	p := &condParser{src: s, toks: tokenizeCondition(s)}
	for _, t := range p.toks {
		if strings.EqualFold(t.text, "near") {
			return nil, unsupported("near is Sigma v1 syntax: use a temporal correlation rule")
		}
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.toks[p.pos].text, p.toks[p.pos].off)
	}
	return c, nil
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos].text)
	}
	return ""
}

func (p *condParser) or() (*cond, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.pos++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		if left.op == "or" {
			left.kids = append(left.kids, right)
		} else {
			left = &cond{op: "or", kids: []*cond{left, right}}
		}
	}
	return left, nil
}

func (p *condParser) and() (*cond, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.pos++
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		if left.op == "and" {
			left.kids = append(left.kids, right)
		} else {
			left = &cond{op: "and", kids: []*cond{left, right}}
		}
	}
	return left, nil
}

func (p *condParser) unary() (*cond, error) {
	if p.peek() == "not" {
		p.pos++
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &cond{op: "not", kids: []*cond{k}}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (*cond, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("condition ends early: an identifier or ( is missing")
	}
	t := p.toks[p.pos]
	low := strings.ToLower(t.text)
	switch {
	case low == "(":
		p.pos++
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing ) for the ( at offset %d", t.off)
		}
		p.pos++
		return c, nil
	case low == ")" || low == "and" || low == "or":
		return nil, fmt.Errorf("unexpected %q at offset %d", t.text, t.off)
	case p.pos+1 < len(p.toks) && strings.EqualFold(p.toks[p.pos+1].text, "of"):
		if low != "1" && low != "all" {
			if low == "any" {
				return nil, unsupported("%q: use \"1 of\"", t.text+" of")
			}
			return nil, unsupported("%q: only \"1 of\" and \"all of\" are Sigma", t.text+" of")
		}
		if p.pos+2 >= len(p.toks) {
			return nil, fmt.Errorf("%q at offset %d needs a pattern or them", t.text+" of", t.off)
		}
		target := p.toks[p.pos+2]
		if target.text == "(" || target.text == ")" {
			return nil, fmt.Errorf("%q at offset %d needs a pattern or them, not %q", t.text+" of", t.off, target.text)
		}
		p.pos += 3
		name := target.text
		if strings.EqualFold(name, "them") {
			name = "them"
		}
		return &cond{op: "of", all: low == "all", name: name, where: t.off}, nil
	case low == "not":
		return nil, fmt.Errorf("unexpected not at offset %d", t.off)
	}
	p.pos++
	return &cond{op: "id", name: t.text, where: t.off}, nil
}

// resolveOf returns the search identifiers "1 of"/"all of" refers to:
// all not starting with _ for them, else those matching the pattern (*
// any run of characters, ? one).
func resolveOf(pattern string, names []string) []string {
	var out []string
	for _, n := range names {
		if pattern == "them" {
			if !strings.HasPrefix(n, "_") {
				out = append(out, n)
			}
			continue
		}
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	return out
}
