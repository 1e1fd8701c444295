package kql

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNodePositions lists every node of a query with its position.
func TestNodePositions(t *testing.T) {
	src := "let x = 1d;\nT\n| where a.b > -2 and c in (\"u\")\n| summarize n = count() by bin(t, 1h)"
	q, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	Inspect(q, func(n Node) bool {
		p := n.Position()
		got = append(got, fmt.Sprintf("%s %d:%d", strings.TrimPrefix(fmt.Sprintf("%T", n), "*kql."), p.Line, p.Col))
		return true
	})
	want := []string{
		"Query 1:1",
		"LetStmt 1:1", "Ident 1:5", "Literal 1:9",
		"TabularStmt 2:1", "Pipe 2:1", "TableRef 2:1",
		"Where 3:3", "Binary 3:9", "Binary 3:9", "Member 3:9", "Ident 3:9", "Literal 3:15",
		"InList 3:22", "Ident 3:22", "Literal 3:28",
		"Summarize 4:3", "NamedExpr 4:13", "Ident 4:13", "Call 4:17",
		"NamedExpr 4:28", "Call 4:28", "Ident 4:32", "Literal 4:35",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("nodes:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	where := q.Statements[1].(*TabularStmt).Expr.Ops[0].(*Where)
	and := where.Pred.(*Binary)
	if and.Op != "and" || and.OpPos != (Pos{Line: 3, Col: 18, Offset: 31}) {
		t.Errorf("and: %q at %+v", and.Op, and.OpPos)
	}
	if gt := and.L.(*Binary); gt.OpPos.Col != 13 {
		t.Errorf("'>' at column %d, want 13", gt.OpPos.Col)
	}
}

// TestLiteralValues checks the normalized values of literals.
func TestLiteralValues(t *testing.T) {
	cases := []struct {
		src  string
		kind LitKind
		val  string
		null bool
	}{
		{"1d", LitTimespan, "864000000000", false},
		{"1.5h", LitTimespan, "54000000000", false},
		{"100ms", LitTimespan, "1000000", false},
		{"1tick", LitTimespan, "1", false},
		{"2microseconds", LitTimespan, "20", false},
		{"-30m", LitTimespan, "-18000000000", false},
		{"time(1.02:03:04.5)", LitTimespan, "937845000000", false},
		{"time(null)", LitTimespan, "", true},
		{"0x10", LitLong, "16", false},
		{"0xFFFFFFFFFFFFFFFF", LitLong, "-1", false},
		{"-7", LitLong, "-7", false},
		{"int(-7)", LitInt, "-7", false},
		{"long(null)", LitLong, "", true},
		{"1.5", LitReal, "1.5", false},
		{"1e3", LitReal, "1000.0", false},
		{"real(-inf)", LitReal, "-Inf", false},
		{"decimal(0.10)", LitDecimal, "0.10", false},
		{"True", LitBool, "true", false},
		{"bool(0)", LitBool, "false", false},
		{"datetime(2024-01-31 10:00:00.5)", LitDateTime, "2024-01-31T10:00:00.5Z", false},
		{"datetime(2024-01-31T10:00:00.1234567Z)", LitDateTime, "2024-01-31T10:00:00.1234567Z", false},
		{"datetime(2024-01-31T01:00:00-02:30)", LitDateTime, "2024-01-31T03:30:00Z", false},
		{"guid(AE3133F2-6E22-49AE-B06A-16E6A9B212EB)", LitGuid, "ae3133f2-6e22-49ae-b06a-16e6a9b212eb", false},
		{"typeof(double)", LitType, "real", false},
		{`"a\tb"`, LitString, "a\tb", false},
		{"@'a\\tb'", LitString, `a\tb`, false},
	}
	for _, c := range cases {
		q, err := Parse("print " + c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		lit, ok := q.Statements[0].(*TabularStmt).Expr.Source.(*Print).Columns[0].Expr.(*Literal)
		if !ok {
			t.Errorf("%s: not a literal", c.src)
			continue
		}
		if lit.Kind != c.kind || lit.Value != c.val || lit.Null != c.null {
			t.Errorf("%s: %v %q null=%v, want %v %q null=%v", c.src, lit.Kind, lit.Value, lit.Null, c.kind, c.val, c.null)
		}
		if lit.Pos.Col != 7 {
			t.Errorf("%s: literal at column %d, want 7", c.src, lit.Pos.Col)
		}
	}
	q, _ := Parse("print h'secret'")
	if lit := q.Statements[0].(*TabularStmt).Expr.Source.(*Print).Columns[0].Expr.(*Literal); !lit.Obfuscated {
		t.Error("h'secret' is not marked obfuscated")
	}
}

// TestInspect finds the tables a query reads, as the translator will to
// record them.
func TestInspect(t *testing.T) {
	gf := readGolden(t, "testdata/parse/guide.txt")
	for _, c := range gf.cases {
		if c.name != "daily-security-review" {
			continue
		}
		q, err := Parse(c.input)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		Inspect(q, func(n Node) bool {
			if tr, ok := n.(*TableRef); ok {
				tables = append(tables, tr.Name)
			}
			return true
		})
		if got := strings.Join(tables, ","); got != "SigninLogs,AzureActivity,KubeAuditLogs" {
			t.Errorf("tables %s", got)
		}
		count := 0
		Inspect(q, func(n Node) bool {
			count++
			_, isLet := n.(*LetStmt)
			return !isLet
		})
		if count < 50 {
			t.Errorf("only %d nodes visited", count)
		}
		return
	}
	t.Fatal("no daily-security-review case in guide.txt")
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		word string
		cand []string
		want string
	}{
		{"summarise", Operators, "summarize"},
		{"projet", Operators, "project"},
		{"Where", Operators, "where"},
		{"whre", Operators, "where"},
		{"extned", Operators, "extend"},
		{"mvexpand", Operators, "mv-expand"},
		{"xyzzy", Operators, ""},
		{"where", Operators, ""},
		{"dsc", []string{"asc", "desc"}, "desc"},
		{"asx", []string{"asc", "desc"}, "asc"},
		{"b", []string{"by"}, ""},
		{"timechar", ChartTypes, "timechart"},
		{"contians", binaryWords, "contains"},
		{strings.Repeat("a", 100), Operators, ""},
	}
	for _, c := range cases {
		if got := Suggest(c.word, c.cand); got != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}

func TestErrorValue(t *testing.T) {
	_, err := Parse("T\n| where x > 1\n| summarise count() by x")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not an *Error", err)
	}
	if e.Line != 3 || e.Col != 3 || e.Offset != 18 {
		t.Errorf("position %+v", e.Pos)
	}
	if want := "line 3, column 3: unknown operator 'summarise' (did you mean 'summarize'?)"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

// TestChildrenComplete checks that Children reaches every node a query's
// structs hold, by comparing with a walk over their fields by reflection.
func TestChildrenComplete(t *testing.T) {
	for _, path := range goldenFiles(t) {
		for _, c := range readGolden(t, path).cases {
			if q, err := Parse(c.input); err == nil {
				checkChildren(t, path+": "+c.name, q)
			}
		}
	}
}

// checkChildren compares the nodes Inspect visits with those the structs
// hold.
func checkChildren(tb testing.TB, what string, q *Query) {
	tb.Helper()
	viaInspect := map[Node]bool{}
	Inspect(q, func(n Node) bool { viaInspect[n] = true; return true })
	viaReflect := map[Node]bool{}
	reflectNodes(reflect.ValueOf(q), viaReflect)
	for n := range viaReflect {
		if !viaInspect[n] {
			tb.Errorf("%s: Children misses %T at %s", what, n, n.Position())
		}
	}
	if len(viaInspect) != len(viaReflect) {
		tb.Errorf("%s: Inspect visits %d nodes, the structs hold %d", what, len(viaInspect), len(viaReflect))
	}
}

// reflectNodes adds every pointer node reachable from v through fields,
// slices and interfaces.
func reflectNodes(v reflect.Value, out map[Node]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if n, ok := v.Interface().(Node); ok {
			if out[n] {
				return
			}
			out[n] = true
		}
		reflectNodes(v.Elem(), out)
	case reflect.Interface:
		if !v.IsNil() {
			reflectNodes(v.Elem(), out)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			reflectNodes(v.Index(i), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				reflectNodes(v.Field(i), out)
			}
		}
	}
}

func TestLiteralAccessors(t *testing.T) {
	q, err := Parse("print -42, int(7), 2.5, 90m, datetime(2024-01-31 10:00:00.25), int(null), 'x'")
	if err != nil {
		t.Fatal(err)
	}
	var lits []*Literal
	for _, c := range q.Statements[0].(*TabularStmt).Expr.Source.(*Print).Columns {
		lits = append(lits, c.Expr.(*Literal))
	}
	if v, ok := lits[0].Int(); !ok || v != -42 {
		t.Errorf("Int() = %d, %v", v, ok)
	}
	if v, ok := lits[1].Int(); !ok || v != 7 {
		t.Errorf("int(7).Int() = %d, %v", v, ok)
	}
	if v, ok := lits[2].Float(); !ok || v != 2.5 {
		t.Errorf("Float() = %v, %v", v, ok)
	}
	if v, ok := lits[3].Ticks(); !ok || time.Duration(v*100) != 90*time.Minute {
		t.Errorf("Ticks() = %d, %v", v, ok)
	}
	if v, ok := lits[4].Time(); !ok || !v.Equal(time.Date(2024, 1, 31, 10, 0, 0, 250e6, time.UTC)) {
		t.Errorf("Time() = %v, %v", v, ok)
	}
	if _, ok := lits[5].Int(); ok {
		t.Error("int(null).Int() is ok")
	}
	if _, ok := lits[6].Int(); ok {
		t.Error("'x'.Int() is ok")
	}
}
