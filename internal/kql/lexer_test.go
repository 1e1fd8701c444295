package kql

import (
	"fmt"
	"strings"
	"testing"
)

var kindNames = map[tokenKind]string{
	tEOF: "eof", tIdent: "ident", tOpWord: "opword", tString: "string", tLong: "long",
	tReal: "real", tTimespan: "timespan", tGoo: "goo", tPunct: "punct",
}

// lexString renders the tokens of src as "kind:text" (strings and goo
// literals with their value), blank-line separated tokens marked with ^.
func lexString(tb testing.TB, src string) string {
	tb.Helper()
	toks, err := lex(src, DefaultLimits.MaxTokens)
	if err != nil {
		return "error: " + err.Error()
	}
	var parts []string
	for _, t := range toks {
		s := kindNames[t.kind] + ":" + t.text
		switch t.kind {
		case tString:
			s = kindNames[t.kind] + ":" + quote(t.val, '"')
			if t.obfuscated {
				s += "(h)"
			}
		case tGoo:
			s += "(" + t.val + ")"
		case tEOF:
			s = "eof"
		}
		if t.blankBefore {
			s = "^" + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestLex(t *testing.T) {
	cases := []struct{ src, want string }{
		{"a !contains b", "ident:a opword:!contains ident:b eof"},
		{"a !in~ (b)", "ident:a opword:!in~ punct:( ident:b punct:) eof"},
		{"a in~ (b) and c in (d)", "ident:a opword:in~ punct:( ident:b punct:) ident:and ident:c ident:in punct:( ident:d punct:) eof"},
		{"a !between (1..2)", "ident:a opword:!between punct:( long:1 punct:.. long:2 punct:) eof"},
		{"a != b !~ c =~ d <> e", "ident:a punct:!= ident:b punct:!~ ident:c punct:=~ ident:d punct:<> ident:e eof"},
		{"a -- b // c -- d\ne", "ident:a punct:- punct:- ident:b ident:e eof"},
		{"1..2 1.5..2.5 1. 2.5e3 1e-2 0x1F", "long:1 punct:.. long:2 real:1.5 punct:.. real:2.5 real:1. real:2.5e3 real:1e-2 long:0x1F eof"},
		{"1d 1.5h 100ms 2microseconds 1tick 10min", "timespan:1d timespan:1.5h timespan:100ms timespan:2microseconds timespan:1tick timespan:10min eof"},
		{"d1 _x $left.a", "ident:d1 ident:_x ident:$left punct:. ident:a eof"},
		{`'a' "b" @'c\d' @"e""f" h'g' H"i" h@'j'`, `string:"a" string:"b" string:"c\\d" string:"e\"f" string:"g"(h) string:"i"(h) string:"j"(h) eof`},
		{"```x\ny```", `string:"x\ny" eof`},
		{"datetime(2024-01-01 10:00) time(1h) int(null) guid(x)", "goo:datetime(2024-01-01 10:00) goo:time(1h) goo:int(null) goo:guid(x) eof"},
		{"datetime (x)", "ident:datetime punct:( ident:x punct:) eof"},
		{"dynamic([1]) typeof(long)", "ident:dynamic punct:( punct:[ long:1 punct:] punct:) ident:typeof punct:( ident:long punct:) eof"},
		{"project-away mv-expand", "ident:project punct:- ident:away ident:mv punct:- ident:expand eof"},
		{"x=>y==z", "ident:x punct:=> ident:y punct:== ident:z eof"},
		{"a\n\nb", "ident:a ^ident:b eof"},
		{"a\n  \t\nb", "ident:a ^ident:b eof"},
		{"a\n// c\nb", "ident:a ident:b eof"},
		{"a\n// c\n\nb", "ident:a ^ident:b eof"},
		{"a\r\n\r\nb", "ident:a ^ident:b eof"},
		{"a\n\n", "ident:a ^eof"},
		{"café ☕", "error: line 1, column 6: unexpected character '☕'"},
		{"'ab", "error: line 1, column 1: unterminated string literal (a quoted string ends on the line it starts; use ```...``` for text over several lines)"},
		{"x\n  !", "error: line 2, column 3: unexpected character '!': use '!=' or '!~' to compare, not(...) to negate, or a negated operator such as '!contains' or '!in'"},
		{"3Dchart", "ident:3Dchart eof"},
	}
	for _, c := range cases {
		if got := lexString(t, c.src); got != c.want {
			t.Errorf("lex(%q):\n got %s\nwant %s", c.src, got, c.want)
		}
	}
}

// TestLexPositions checks the line and column of tokens after tabs,
// multi-byte characters, CRLF and multi-line strings.
func TestLexPositions(t *testing.T) {
	src := "a\tb\r\n  ñ x\n```\nline\n``` y\n\t// c\n  z"
	want := []string{"a 1:1", "b 1:3", "ñ 2:3", "x 2:5", "``` 3:1", "y 5:5", "z 7:3", "eof 7:4"}
	toks, err := lex(src, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		text := tk.text
		if tk.kind == tString {
			text = "```"
		}
		if tk.kind == tEOF {
			text = "eof"
		}
		got = append(got, fmt.Sprintf("%s %d:%d", text, tk.pos.Line, tk.pos.Col))
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("positions:\n got %v\nwant %v", got, want)
	}
}
