package kql

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLimits checks that inputs past the limits, or built to be slow, get
// an error (or a result) quickly rather than a panic, a hang or a deep
// stack.
func TestLimits(t *testing.T) {
	long := func(unit string, n int) string { return strings.Repeat(unit, n) }
	cases := []struct {
		name string
		src  string
		lim  Limits
		want string // substring of the error; "" for success
	}{
		{"too many bytes", "print " + long("1+", 1<<19) + "1", Limits{}, "the query is too long: 1048583 bytes"},
		{"too many tokens", "print " + long("1+", 1<<17) + "1", Limits{}, "more than 200000 tokens"},
		{"token limit", "print 1+2+3", Limits{MaxTokens: 4}, "more than 4 tokens"},
		{"deep parentheses", "print " + long("(", 10000) + "1" + long(")", 10000), Limits{}, "nested too deeply (more than 200 levels)"},
		{"deep unary", "print " + long("-", 10000) + "x", Limits{}, "nested too deeply"},
		{"long binary chain", "print " + long("x+", 5000) + "x", Limits{}, "nested too deeply"},
		{"long and chain", "T | where " + long("a and ", 5000) + "a", Limits{}, "nested too deeply"},
		{"deep dynamic", "print dynamic(" + long("[", 5000) + long("]", 5000) + ")", Limits{}, "nested too deeply"},
		{"deep member chain", "print x" + long(".y", 5000), Limits{}, "nested too deeply"},
		{"deep index chain", "print x" + long("[0]", 5000), Limits{}, "nested too deeply"},
		{"deep calls", "print " + long("f(", 5000) + long(")", 5000), Limits{}, "nested too deeply"},
		{"deep subqueries", long("(", 5000) + "T" + long(")", 5000), Limits{}, "nested too deeply"},
		{"deep functions", long("let f = () { ", 300) + "1" + long(" }", 300), Limits{}, "nested too deeply"},
		{"chain within the limit", "print " + long("x+", 150) + "x", Limits{}, ""},
		{"custom depth", "print ((1))", Limits{MaxDepth: 2}, "nested too deeply (more than 2 levels)"},
		{"many adjacent strings", "print " + long("'ab' ", 100000), Limits{}, ""},
		{"many statements", long("print 1;", 50000), Limits{}, ""},
		{"many lets", long("let a = (1);", 25000) + "print a", Limits{}, ""},
		{"many operators", "T" + long(" | take 1", 50000), Limits{}, ""},
		{"long in list", "print x in (" + long("1,", 90000) + "1)", Limits{}, ""},
		{"long identifier", "print " + long("a", 900000), Limits{}, ""},
		{"long string", "print '" + long("a", 900000) + "'", Limits{}, ""},
		{"unclosed parens", "print " + long("(", 150) + "1", Limits{}, "is never closed"},
		{"unterminated goo", "print " + long("datetime(", 50000), Limits{}, "unterminated datetime(...) literal"},
		{"many unterminated fences", long("```", 1) + long("x", 500000), Limits{}, "unterminated multi-line string"},
		{"long error token", "print 1 " + long("z", 500000), Limits{}, "found 'zzzzz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			q, err := ParseWithLimits(c.src, c.lim)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if q == nil {
					t.Fatal("no query")
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want an *Error containing %q", err, err, c.want)
			}
			if !strings.Contains(e.Msg, c.want) {
				t.Fatalf("error %q, want it to contain %q", e.Msg, c.want)
			}
			if len(e.Error()) > 1000 {
				t.Errorf("error message of %d bytes", len(e.Error()))
			}
		})
	}
}
