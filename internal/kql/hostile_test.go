package kql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The hostile suite: queries whose string literals and names carry SQL
// (quotes, comment openers, statement separators), control characters,
// unusual Unicode and text that collides with the SQL the translator
// generates. For each query it checks that
//
//   - the query fails with a *Error, or returns exactly the values it was
//     given (hostileCase.want);
//   - every SQL statement the translation produces is one SELECT as
//     DuckDB parses it, and outside its quoted literals and identifiers
//     holds no statement separator, comment opener, control or non-ASCII
//     character, statement keyword or hostile text (hCheckSQLShape);
//   - a round-tripped literal reaches DuckDB as one string constant
//     (hostileCase.literal);
//   - the database is unchanged afterwards: the canary tables (one of them
//     in the engine's catalog as Canary, two that KQL cannot name) hold
//     their rows, no relation or function appeared or went, no result
//     shows the secret, and the engine still answers.

// hostileSecret is the value of the secret table, which no query may
// read: it is not in the engine's catalog.
const hostileSecret = "s3cr3t-c4n4ry"

// hostileCase is one query of the hostile suite.
type hostileCase struct {
	name  string
	query string
	// want is the expected result; nil when the query must fail (fail
	// set) or only check inspects it.
	want *hostileWant
	// fail: the query must fail with a *Error.
	fail bool
	// mayFail: a *Error is an acceptable outcome too (Kusto's own
	// behaviour is not certain, or the engine may refuse the input).
	mayFail bool
	// literal, when not "", must appear as one string constant in the SQL
	// (as DuckDB parses it).
	literal string
	// payloads must not appear in the SQL outside quoted literals and
	// identifiers.
	payloads []string
	// check, when set, inspects the result further.
	check func(t *testing.T, res *Result)
}

// hostileStrings are the texts the suite puts in literals and names.
var hostileStrings = []struct{ name, s string }{
	{"single-quote", `it's`},
	{"double-quote", `say "hi"`},
	{"backslashes", `C:\temp\new \\server\n \' \"`},
	{"drop-table", `'; DROP TABLE x; --`},
	{"delete-from", `"); DELETE FROM canary; --`},
	{"comment-open", `/* never closed`},
	{"comment-pair", `a */ b /* c */ d`},
	{"semicolons", `;;; SELECT 1; SELECT 2;`},
	{"quote-soup", `'''"""\\''\"`},
	{"union-select", `' UNION SELECT v FROM secret --`},
	{"dollar-quotes", `$$ $tag$ E'\x41' ${x}`},
	{"placeholders", `? $1 :name @p %s %d %v {0} %%`},
	{"control-chars", "tab\there\r\nnew\x01\x07\x1b[31m\x7f"},
	{"unicode", "\u202eevil\u202c \u200f\u200e\ufeff 🔥👩\u200d💻 é ñ 中文 \U0001F600"},
	{"json-ish", `{"a": [1, "b'c"]}`},
	{"regex-meta", `^a.b*c+d?(e)[f]{2}|g\h$`},
	{"brackets", "a]b['c'][\"d\"]`e`"},
	{"long", strings.Repeat(`'"\;--/*x*/`, 8000)},
}

// hq renders s as a double-quoted KQL string literal.
func hq(s string) string { return hQuote(s, '"') }

// hQuote renders s as a KQL string literal with quote character q,
// escaping what the lexer needs escaped and leaving other text as it is.
func hQuote(s string, q byte) string {
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// hForms renders s in every KQL string literal form that can hold it,
// as (form, literal) pairs: "..." and '...' with escapes, h"..."
// (obfuscated), @'...' (verbatim, no line breaks) and ```...```
// (multi-line, raw).
func hForms(s string) [][2]string {
	forms := [][2]string{
		{"double", hQuote(s, '"')},
		{"single", hQuote(s, '\'')},
		{"hidden", "h" + hQuote(s, '"')},
	}
	if !strings.ContainsAny(s, "\r\n\x00") {
		forms = append(forms, [2]string{"verbatim", "@'" + strings.ReplaceAll(s, "'", "''") + "'"})
	}
	if !strings.Contains(s, "```") && !strings.Contains(s, "\x00") && !strings.HasSuffix(s, "`") {
		forms = append(forms, [2]string{"multiline", "```" + s + "```"})
	}
	return forms
}

// hostileWant is the expected result of a case: one table, its columns
// as "Name:type" and its rows (in any order unless the query fixes one).
type hostileWant struct {
	cols []string
	rows [][]any
}

// hWant builds an expected result.
func hWant(header []string, rows ...[]any) *hostileWant {
	return &hostileWant{cols: header, rows: rows}
}

// hRowKey renders a row as text for comparison: its cells in their JSON
// form, separated by a character JSON text never holds unescaped.
func hRowKey(row []any) string {
	cells := make([]string, len(row))
	for i, v := range row {
		cells[i] = JSONValue(v)
	}
	return strings.Join(cells, "\x1f")
}

// hResultDiff compares a result with the expectation and describes the
// first difference, or returns "".
func hResultDiff(res *Result, w *hostileWant) string {
	if len(res.Tables) != 1 {
		return fmt.Sprintf("%d tables, want 1", len(res.Tables))
	}
	tab := res.Tables[0]
	var cols []string
	for _, c := range tab.Columns {
		cols = append(cols, c.Name+":"+c.Type)
	}
	if fmt.Sprintf("%q", cols) != fmt.Sprintf("%q", w.cols) {
		return hShort(fmt.Sprintf("columns %q, want %q", cols, w.cols))
	}
	got := make([]string, len(tab.Rows))
	for i, r := range tab.Rows {
		got[i] = hRowKey(r)
	}
	want := make([]string, len(w.rows))
	for i, r := range w.rows {
		want[i] = hRowKey(r)
	}
	if !tab.Ordered() {
		got, want = sorted(got), sorted(want)
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		return hShort(fmt.Sprintf("rows (ordered %v)\n%q\nwant\n%q", tab.Ordered(), got, want))
	}
	return ""
}

// hCol is the header of a single column.
func hCol(name, typ string) []string { return []string{name + ":" + typ} }

// hSHA256 is the SHA-256 of s in lower-case hexadecimal.
func hSHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// hDyn is an expected dynamic cell.
func hDyn(s string) json.RawMessage { return json.RawMessage(s) }

// hostileCases builds the suite.
func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(c hostileCase) { cs = append(cs, c) }

	// Round trips: every hostile text in every literal form, as a value,
	// as a column name, in a datatable cell, as a dynamic key and value.
	for _, h := range hostileStrings {
		for _, f := range hForms(h.s) {
			add(hostileCase{
				name:     "print/" + h.name + "/" + f[0],
				query:    "print x = " + f[1],
				want:     hWant(hCol("x", "string"), []any{h.s}),
				literal:  h.s,
				payloads: []string{h.s},
			})
		}
		add(hostileCase{
			name:     "column-name/" + h.name,
			query:    fmt.Sprintf("print [%s] = %s | project [%s]", hq(h.s), hq(h.s), hq(h.s)),
			want:     hWant(hCol(h.s, "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "datatable/" + h.name,
			query:    fmt.Sprintf("datatable([%s]:string, d:dynamic)[%s, dynamic({%s: %s})] | extend k = tostring(bag_keys(d)[0]), v = tostring(d[%s]) | project-away d", hq(h.s), hq(h.s), hq(h.s), hq(h.s), hq(h.s)),
			want:     hWant([]string{h.s + ":string", "k:string", "v:string"}, []any{h.s, h.s, h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "narrow/" + h.name,
			query:    fmt.Sprintf("print [%s] = %s | evaluate narrow() | project Column, Value", hq(h.s), hq(h.s)),
			want:     hWant([]string{"Column:string", "Value:string"}, []any{h.s, h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "pivot/" + h.name,
			query:    fmt.Sprintf("datatable(k:string, g:long)[%s, 1] | evaluate pivot(k) | project-away g", hq(h.s)),
			want:     hWant(hCol(h.s, "long"), []any{int64(1)}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name: "scan/" + h.name,
			query: fmt.Sprintf("print x = %s | serialize | scan with_match_id=[%s] declare ([%s]:string = %s) with (step [%s]: x == %s => [%s] = strcat(x, [%s].x);) | project [%s]",
				hq(h.s), hq(h.s+"m"), hq(h.s), hq(h.s), hq(h.s+"s"), hq(h.s), hq(h.s), hq(h.s+"s"), hq(h.s)),
			want:     hWant(hCol(h.s, "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		if h.name != "long" { // 33 copies of it pass the 1 MiB limit on a query's size
			add(hostileCase{
				name: "graph/" + h.name,
				query: fmt.Sprintf("datatable([%s]:string, [%s]:string, [%s]:string)[%s, %s, %s] | make-graph [%s] --> [%s] with_node_id=[%s] | graph-mark-components with_component_id=[%s] | graph-match cycles=all ([%s])-[[%s]]->([%s])-[[%s]*1..2]->([%s]) where [%s].[%s] == %s and [%s].[%s] == %s and [%s].[%s] == 0 and all([%s], [%s] == %s) project [%s] = strcat([%s].[%s], array_length(map(inner_nodes([%s]), [%s])))",
					hq(h.s+"s"), hq(h.s+"d"), hq(h.s), hq(h.s), hq(h.s), hq(h.s),
					hq(h.s+"s"), hq(h.s+"d"), hq(h.s+"n"), hq(h.s+"c"),
					hq(h.s+"v"), hq(h.s+"e"), hq(h.s+"w"), hq(h.s+"p"), hq(h.s+"x"),
					hq(h.s+"v"), hq(h.s+"n"), hq(h.s), hq(h.s+"e"), hq(h.s), hq(h.s), hq(h.s+"w"), hq(h.s+"c"),
					hq(h.s+"p"), hq(h.s), hq(h.s),
					hq(h.s), hq(h.s+"x"), hq(h.s+"n"), hq(h.s+"p"), hq(h.s+"n")),
				want:     hWant(hCol(h.s, "string"), []any{h.s + "0"}, []any{h.s + "1"}),
				payloads: []string{h.s},
			})
		}
		add(hostileCase{
			name:     "graph-partition/" + h.name,
			query:    fmt.Sprintf("datatable([%s]:string, s:string, d:string)[%s, 'a', 'b'] | make-graph s --> d with_node_id=n partitioned-by [%s] (graph-match (x)-->(y) project [%s] = x.[%s])", hq(h.s), hq(h.s), hq(h.s), hq(h.s), hq(h.s)),
			want:     hWant(hCol(h.s, "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "getschema/" + h.name,
			query:    fmt.Sprintf("print [%s] = 1 | getschema | project ColumnName", hq(h.s)),
			want:     hWant(hCol("ColumnName", "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "in-list/" + h.name,
			query:    fmt.Sprintf("datatable(s:string)[%s, 'other'] | where s in ('x', %s)", hq(h.s), hq(h.s)),
			want:     hWant(hCol("s", "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "contains-self/" + h.name,
			query:    fmt.Sprintf("datatable(s:string)[%s, 'other'] | where s contains %s and s startswith %s and s endswith %s and s == %s", hq(h.s), hq(h.s), hq(h.s), hq(h.s), hq(h.s)),
			want:     hWant(hCol("s", "string"), []any{h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "dynamic-path/" + h.name,
			query:    fmt.Sprintf("print d = dynamic({%s: {%s: [%s]}}), k = %s | project a = tostring(d[%s][%s][0]), b = tostring(d[k][k][0])", hq(h.s), hq(h.s), hq(h.s), hq(h.s), hq(h.s), hq(h.s)),
			want:     hWant([]string{"a:string", "b:string"}, []any{h.s, h.s}),
			payloads: []string{h.s},
		})
		add(hostileCase{
			name:     "bag-has-key/" + h.name,
			query:    fmt.Sprintf("print d = dynamic({%s: 1}) | project c = bag_has_key(d, %s)", hq(h.s), hq(h.s)),
			want:     hWant(hCol("c", "bool"), []any{true}),
			payloads: []string{h.s},
			// a key that starts with $ is a JSONPath for bag_has_key
			mayFail: strings.HasPrefix(h.s, "$"),
		})
		add(hostileCase{
			name:     "render-title/" + h.name,
			query:    fmt.Sprintf("print a = 1 | render table with (title=%s)", hq(h.s)),
			want:     hWant(hCol("a", "long"), []any{int64(1)}),
			payloads: []string{h.s},
			check: func(t *testing.T, res *Result) {
				ch := res.Tables[0].Chart
				if ch == nil || ch.Props["title"] != h.s {
					t.Errorf("chart %+v: want the title %q", ch, h.s)
				}
			},
		})
	}

	// The brief's own examples of odd names.
	add(hostileCase{
		name:  "name/datatable-quoted-column",
		query: `datatable(['we"ird']:string)["a'b"] | project ['we"ird']`,
		want:  hWant(hCol(`we"ird`, "string"), []any{"a'b"}),
	})
	add(hostileCase{
		// '' is not an escape in a KQL string: two adjacent literals,
		// which a bracketed name does not take
		name:    "name/doubled-single-quote",
		query:   `print ['with '' quotes'] = 1`,
		want:    hWant(hCol("with  quotes", "long"), []any{int64(1)}),
		mayFail: true,
	})
	add(hostileCase{
		name:  "name/verbatim-doubled-quote",
		query: `print [@'with '' quotes'] = 1 | project [@'with '' quotes']`,
		want:  hWant(hCol("with ' quotes", "long"), []any{int64(1)}),
	})
	add(hostileCase{
		name:  "name/escaped-quote",
		query: `print ['with \' quotes'] = 1, ["bracketed \" names"] = 2`,
		want:  hWant([]string{"with ' quotes:long", `bracketed " names:long`}, []any{int64(1), int64(2)}),
	})
	add(hostileCase{
		name:  "name/sql-comment-names-escaped",
		query: `print a = 1 | extend ['/* x */'] = 2, ['--'] = 3, [';'] = 4, ['"'] = 5, ['\''] = 6`,
		want:  hWant([]string{"a:long", "/* x */:long", "--:long", ";:long", `":long`, "':long"}, []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6)}),
	})
	add(hostileCase{
		name:  "name/unicode",
		query: "print ['🔥\u202e'] = '\u202e', ['é'] = 'e\u0301' | project ['é'], ['🔥\u202e']",
		want:  hWant([]string{"é:string", "🔥\u202e:string"}, []any{"e\u0301", "\u202e"}),
	})
	long := strings.Repeat(`n'"`, 3000)
	add(hostileCase{
		name:  "name/long",
		query: fmt.Sprintf("print [%s] = 1 | extend y = 2 | project y, [%s]", hq(long), hq(long)),
		want:  hWant([]string{"y:long", long + ":long"}, []any{int64(2), int64(1)}),
	})
	add(hostileCase{
		name:  "name/summarize-sort-rename",
		query: `datatable(['x"; DROP TABLE x; --']:long)[2, 1, 2] | summarize ['n\'; --'] = count() by ['x"; DROP TABLE x; --'] | order by ['x"; DROP TABLE x; --'] asc | project-rename ['k\'); DELETE FROM canary; --'] = ['x"; DROP TABLE x; --']`,
		want:  hWant([]string{`k'); DELETE FROM canary; --:long`, "n'; --:long"}, []any{int64(1), int64(1)}, []any{int64(2), int64(2)}),
	})
	add(hostileCase{
		name:  "name/mv-expand",
		query: `print d = dynamic(["'", "\"", "';--"]) | mv-expand ['x\''] = d to typeof(string) | project ['x\'']`,
		want:  hWant(hCol("x'", "string"), []any{"'"}, []any{`"`}, []any{"';--"}),
	})
	add(hostileCase{
		name:  "name/union-withsource",
		query: `union withsource=['s"; DROP TABLE x; --'] (print a = 1) | project ['s"; DROP TABLE x; --'], a`,
		want:  hWant([]string{`s"; DROP TABLE x; --:string`, "a:long"}, []any{"union_arg0", int64(1)}),
	})
	add(hostileCase{
		name:  "dynamic/bag-pack-keys",
		query: `print c = "k'\"; --" | extend b = bag_pack(c, 1, "'; DROP TABLE x; --", "v") | project b`,
		want:  hWant(hCol("b", "dynamic"), []any{hDyn(`{"k'\"; --":1,"'; DROP TABLE x; --":"v"}`)}),
	})

	// Names the translator uses for its own SQL columns and aliases (cN,
	// tN), and names that differ only in case (DuckDB identifiers do
	// not).
	add(hostileCase{
		name:  "generated/cN-columns",
		query: `datatable(c1:long, c2:string, t1:long, c0:long)[1, "x", 2, 3] | extend c3 = c1 + t1 | project c2, c1, c3, t1, c0`,
		want:  hWant([]string{"c2:string", "c1:long", "c3:long", "t1:long", "c0:long"}, []any{"x", int64(1), int64(3), int64(2), int64(3)}),
	})
	add(hostileCase{
		name:  "generated/quoted-cN",
		query: `print ['"c1"'] = 1, c1 = 2, ["c1\""] = 3, ['c1 '] = 4 | project ["c1\""], c1, ['"c1"'], ['c1 ']`,
		want:  hWant([]string{`c1":long`, "c1:long", `"c1":long`, "c1 :long"}, []any{int64(3), int64(2), int64(1), int64(4)}),
	})
	add(hostileCase{
		name:  "generated/summarize-cN",
		query: `range c1 from 1 to 4 step 1 | extend c2 = c1 * 10 | summarize c3 = sum(c2) by c4 = c1 % 2 | order by c4 asc`,
		want:  hWant([]string{"c4:long", "c3:long"}, []any{int64(0), int64(60)}, []any{int64(1), int64(40)}),
	})
	add(hostileCase{
		name:  "generated/let-tN",
		query: `let t1 = datatable(c1:long)[1]; let t2 = datatable(c1:long)[2]; t1 | union t2 | order by c1 asc`,
		want:  hWant(hCol("c1", "long"), []any{int64(1)}, []any{int64(2)}),
	})
	add(hostileCase{
		name:  "generated/join-cN",
		query: `datatable(c1:long, a:string)[1, "l"] | join kind=inner (datatable(c1:long, a:string)[1, "r"]) on c1`,
		want:  hWant([]string{"c1:long", "a:string", "c11:long", "a1:string"}, []any{int64(1), "l", int64(1), "r"}),
	})
	add(hostileCase{
		name:  "case/project",
		query: `print a = 1, A = 2 | project A, a`,
		want:  hWant([]string{"A:long", "a:long"}, []any{int64(2), int64(1)}),
	})
	add(hostileCase{
		name:  "case/where",
		query: `datatable(a:string, A:string)["lower", "UPPER"] | where A == "UPPER" and a == "lower" | project a`,
		want:  hWant(hCol("a", "string"), []any{"lower"}),
	})
	add(hostileCase{
		name:  "case/summarize",
		query: `datatable(a:long, A:long)[1, 2, 1, 3] | summarize s = sum(A), S = count() by a`,
		want:  hWant([]string{"a:long", "s:long", "S:long"}, []any{int64(1), int64(5), int64(2)}),
	})
	add(hostileCase{
		name:  "case/extend",
		query: `datatable(x:long)[1] | extend X = 5, x2 = x | extend b = x * 10 + X`,
		want:  hWant([]string{"x:long", "X:long", "x2:long", "b:long"}, []any{int64(1), int64(5), int64(1), int64(15)}),
	})
	add(hostileCase{
		name:  "case/join",
		query: `datatable(a:long, A:long)[1, 2] | join kind=inner (datatable(A:long, a:long)[1, 9]) on $left.a == $right.A`,
		want:  hWant([]string{"a:long", "A:long", "A1:long", "a1:long"}, []any{int64(1), int64(2), int64(1), int64(9)}),
	})
	add(hostileCase{
		name:  "case/order-and-away",
		query: `datatable(a:long, A:long)[1, 2, 3, 1] | order by A desc, a asc | project-away a`,
		want:  hWant(hCol("A", "long"), []any{int64(2)}, []any{int64(1)}),
	})
	add(hostileCase{
		name:  "case/let",
		query: `let v = 1; let V = 2; print x = v, y = V`,
		want:  hWant([]string{"x:long", "y:long"}, []any{int64(1), int64(2)}),
	})

	// Dynamic paths: JSON pointer and JSONPath syntax in keys.
	bag := `dynamic({"a'b": 1, "a/b~c": 2, "a\"b": 3, "$.x": 4, "a.b": 5, "*": 6, "": 7, "~1": 8, "/": 9, "'; DROP TABLE x; --": 10, "[0]": 11})`
	add(hostileCase{
		name:  "dynamic/literal-keys",
		query: "print d = " + bag + ` | project v1 = d['a\'b'], v2 = d['a/b~c'], v3 = d["a\"b"], v4 = d['$.x'], v5 = d['a.b'], v6 = d['*'], v7 = d[''], v8 = d['~1'], v9 = d['/'], v10 = d["'; DROP TABLE x; --"], v11 = d['[0]']`,
		want: hWant([]string{"v1:dynamic", "v2:dynamic", "v3:dynamic", "v4:dynamic", "v5:dynamic", "v6:dynamic", "v7:dynamic", "v8:dynamic", "v9:dynamic", "v10:dynamic", "v11:dynamic"},
			[]any{hDyn("1"), hDyn("2"), hDyn("3"), hDyn("4"), hDyn("5"), hDyn("6"), hDyn("7"), hDyn("8"), hDyn("9"), hDyn("10"), hDyn("11")}),
	})
	add(hostileCase{
		name:  "dynamic/computed-keys",
		query: "print d = " + bag + `, k = dynamic(["a'b", "a/b~c", "a\"b", "$.x", "~1", "/", "'; DROP TABLE x; --", "[0]"]) | mv-expand k to typeof(string) | project k, v = d[k]`,
		want: hWant([]string{"k:string", "v:dynamic"},
			[]any{"a'b", hDyn("1")}, []any{"a/b~c", hDyn("2")}, []any{`a"b`, hDyn("3")}, []any{"$.x", hDyn("4")}, []any{"~1", hDyn("8")}, []any{"/", hDyn("9")}, []any{"'; DROP TABLE x; --", hDyn("10")}, []any{"[0]", hDyn("11")}),
	})
	add(hostileCase{
		name:  "dynamic/missing-hostile-key",
		query: "print d = " + bag + ` | project v = d["x' OR '1'='1"], w = d["a'b"]`,
		want:  hWant([]string{"v:dynamic", "w:dynamic"}, []any{nil, hDyn("1")}),
	})
	add(hostileCase{
		name:  "dynamic/parse-json",
		query: `print x = parse_json('{"k\'": "v\\"; DROP TABLE x; --"}') | project v = tostring(x["k'"])`,
		want:  hWant(hCol("v", "string"), []any{`v"; DROP TABLE x; --`}),
	})

	// Regular expressions with quotes, literal and computed.
	add(hostileCase{
		name:  "regex/matches-quote",
		query: `print a = "it's" matches regex "it's", b = "a'b" matches regex @"^a'b$", c = 'say "x"' matches regex @"""x""$"`,
		want:  hWant([]string{"a:bool", "b:bool", "c:bool"}, []any{true, true, true}),
	})
	add(hostileCase{
		name:  "regex/extract",
		query: `print a = extract("'([^']*)'", 1, "say 'hi' now"), b = extract(@"""(\w+)""", 1, @"say ""yo"" now"), c = extract(@"(\x27)", 1, "a'b")`,
		want:  hWant([]string{"a:string", "b:string", "c:string"}, []any{"hi", "yo", "'"}),
	})
	add(hostileCase{
		name:  "regex/replace",
		query: `print a = replace_regex("a'b'c", "'", "''"), b = replace_regex("x", "x", "'; DROP TABLE x; --"), c = replace_string("a'b", "'", "\"; DROP TABLE x; --")`,
		want:  hWant([]string{"a:string", "b:string", "c:string"}, []any{"a''b''c", "'; DROP TABLE x; --", `a"; DROP TABLE x; --b`}),
	})
	add(hostileCase{
		name:  "regex/extract-all",
		query: `print x = extract_all(@"'(\w)'", "'a' 'b'")`,
		want:  hWant(hCol("x", "dynamic"), []any{hDyn(`["a","b"]`)}),
	})
	add(hostileCase{
		name:  "regex/computed",
		query: `print re = "^it's \"x\"$", s = "it's \"x\"" | project m = s matches regex re, n = "its \"x\"" matches regex re`,
		want:  hWant([]string{"m:bool", "n:bool"}, []any{true, false}),
	})
	add(hostileCase{
		name:  "regex/countof-trim",
		query: `print a = countof("a'b'c", "'"), b = trim("'", "'x'"), c = countof("a'b'c", "'", "regex")`,
		want:  hWant([]string{"a:long", "b:string", "c:long"}, []any{int64(2), "x", int64(2)}),
	})
	add(hostileCase{
		name:  "regex/keyword-pattern",
		query: `print x = "DROP  TABLE x" matches regex @"(?i)drop\s+table"`,
		want:  hWant(hCol("x", "bool"), []any{true}),
	})
	add(hostileCase{
		name:  "regex/invalid",
		query: `print x = "a" matches regex "'; DROP TABLE x; --("`,
		fail:  true,
	})

	// extract's capture group must be a number: a string there reached
	// the SQL as it was written.
	add(hostileCase{
		name:     "regex/extract-group-string-reads-secret",
		query:    `print x = extract("(a)", "1) || (SELECT v FROM secret LIMIT 1", "a")`,
		fail:     true,
		payloads: []string{"SELECT v FROM secret"},
	})
	add(hostileCase{
		name:     "regex/extract-group-string-drops-table",
		query:    `print x = extract("(a)", '0) END, \'\') AS "c1") AS t1; DROP TABLE canary; --', "a")`,
		fail:     true,
		payloads: []string{"DROP TABLE canary"},
	})
	add(hostileCase{
		name:     "regex/extract-group-let-string",
		query:    `let g = "1) || (SELECT v FROM secret LIMIT 1"; print x = extract("(a)", g, "a")`,
		fail:     true,
		payloads: []string{"SELECT v FROM secret"},
	})

	// parse patterns with quotes.
	add(hostileCase{
		name:  "parse/quotes",
		query: `print s = "user='bob' said \"hi\"; DROP" | parse s with "user='" u "' said \"" m "\"; " rest`,
		want:  hWant([]string{"s:string", "u:string", "m:string", "rest:string"}, []any{`user='bob' said "hi"; DROP`, "bob", "hi", "DROP"}),
	})
	add(hostileCase{
		name:  "parse/payload-text",
		query: `print s = "pre'; DROP TABLE x; --post" | parse s with "pre'; DROP TABLE x; --" p | project p`,
		want:  hWant(hCol("p", "string"), []any{"post"}),
	})
	add(hostileCase{
		name:  "parse/typed-quote-value",
		query: `print s = "k=it's; n=5" | parse s with "k=" v:string "; n=" n:long | project v, n`,
		want:  hWant([]string{"v:string", "n:long"}, []any{"it's", int64(5)}),
	})
	add(hostileCase{
		name:  "parse/regex-kind",
		query: `print s = "a'b\"c" | parse kind=regex s with "a'" x:string "\"c" | project x`,
		want:  hWant(hCol("x", "string"), []any{"b"}),
	})
	add(hostileCase{
		name:  "parse/where",
		query: `datatable(s:string)["id='1'", "id=2"] | parse-where s with "id='" v "'" | project v`,
		want:  hWant(hCol("v", "string"), []any{"1"}),
	})

	// datatable cells with quotes, in every form.
	add(hostileCase{
		name:  "datatable/cells",
		query: `datatable(s:string)['it\'s', "say \"hi\"", @'a''b', '"; DROP TABLE canary; --', h'hidden\'s'] | order by s asc`,
		want:  hWant(hCol("s", "string"), []any{`"; DROP TABLE canary; --`}, []any{"a'b"}, []any{"hidden's"}, []any{"it's"}, []any{`say "hi"`}),
	})

	// let names that shadow catalog tables, the DuckDB relations behind
	// them, and SQL words.
	add(hostileCase{
		name:  "let/catalog-table-readable",
		query: `Canary | project v`,
		want:  hWant(hCol("v", "string"), []any{"alive"}),
	})
	add(hostileCase{
		name:  "let/shadows-catalog-table",
		query: `let Canary = datatable(v:string)["shadow"]; Canary`,
		want:  hWant(hCol("v", "string"), []any{"shadow"}),
	})
	add(hostileCase{
		name:  "let/shadows-in-union",
		query: `let Canary = print v = "shadow"; union Canary, (print v = "other") | order by v asc`,
		want:  hWant(hCol("v", "string"), []any{"other"}, []any{"shadow"}),
	})
	add(hostileCase{
		name:  "let/scalar-shadows-table",
		query: `let Canary = "'; DROP TABLE canary; --"; print v = Canary`,
		want:  hWant(hCol("v", "string"), []any{"'; DROP TABLE canary; --"}),
	})
	add(hostileCase{
		name:  "let/relation-name",
		query: `let canary = datatable(v:string)["lower"]; canary`,
		want:  hWant(hCol("v", "string"), []any{"lower"}),
	})
	add(hostileCase{
		name:  "let/sql-words",
		query: `let SELECT = "s"; let DROP = "d"; let FROM = "f"; print x = strcat(SELECT, DROP, FROM)`,
		want:  hWant(hCol("x", "string"), []any{"sdf"}),
	})
	add(hostileCase{
		name:  "let/generated-names",
		query: `let c1 = "let"; let t1 = (n:long) { range c1 from 1 to n step 1 }; t1(2) | summarize s = sum(c1) | extend l = c1`,
		want:  hWant([]string{"s:long", "l:string"}, []any{int64(3), "let"}),
	})
	for _, rel := range []string{"canary", "x", "secret", `['canary']`, `["secret"]`} {
		add(hostileCase{name: "let/unreachable-relation-" + rel, query: rel, fail: true})
	}

	// has, contains and friends with regular expression metacharacters in
	// the term: a term matches as text, never as a pattern.
	meta := `datatable(s:string)["x a.b y", "axb", "a+b", "aab", "a|b", "ab", "(y)", "[x]", "price $5", "^start", "a\\d", "a1", "it's ok", "its ok"]`
	for _, m := range []struct{ pred, want string }{
		{`s has "a.b"`, "x a.b y"},
		{`s contains "a+b"`, "a+b"},
		{`s has "a|b"`, "a|b"},
		{`s has "(y)"`, "(y)"},
		{`s hasprefix "[x"`, "[x]"},
		{`s has "$5"`, "price $5"},
		{`s startswith "^"`, "^start"},
		{`s contains @"\d"`, `a\d`},
		{`s endswith "+b"`, "a+b"},
		{`s contains "."`, "x a.b y"},
		{`s has "it's"`, "it's ok"},
		{`s has_cs "A.B" or s has "A.B"`, "x a.b y"},
		{`s contains_cs "|"`, "a|b"},
	} {
		add(hostileCase{
			name:  "has/" + m.pred,
			query: meta + " | where " + m.pred,
			want:  hWant(hCol("s", "string"), []any{m.want}),
		})
	}
	add(hostileCase{
		name:  "has/has_any",
		query: meta + ` | where s has_any ("a|b", "(y)", "it's")`,
		want:  hWant(hCol("s", "string"), []any{"a|b"}, []any{"(y)"}, []any{"it's ok"}),
	})
	add(hostileCase{
		name:  "has/computed-term",
		query: meta + ` | extend t = dynamic(["a.b", "(y)", "$5", "a|b"]) | mv-expand t to typeof(string) | where s has t | project s, t`,
		want:  hWant([]string{"s:string", "t:string"}, []any{"x a.b y", "a.b"}, []any{"(y)", "(y)"}, []any{"price $5", "$5"}, []any{"a|b", "a|b"}),
	})
	add(hostileCase{
		name:  "has/matches-regex-is-a-pattern",
		query: meta + ` | where s matches regex "a.b"`,
		want:  hWant(hCol("s", "string"), []any{"x a.b y"}, []any{"axb"}, []any{"a+b"}, []any{"aab"}, []any{"a|b"}),
	})

	// in lists with quotes.
	quotes := `datatable(s:string)["it's", "say \"hi\"", "'; DROP TABLE x; --", "other"]`
	add(hostileCase{
		name:  "in/list",
		query: quotes + ` | where s in ("it's", 'say "hi"', "'; DROP TABLE x; --") | order by s asc`,
		want:  hWant(hCol("s", "string"), []any{"'; DROP TABLE x; --"}, []any{"it's"}, []any{`say "hi"`}),
	})
	add(hostileCase{
		name:  "in/not-in",
		query: quotes + ` | where s !in ("it's", 'say "hi"', "'; DROP TABLE x; --")`,
		want:  hWant(hCol("s", "string"), []any{"other"}),
	})
	add(hostileCase{
		name:  "in/case-insensitive",
		query: quotes + ` | where s in~ ("IT'S", "'; drop table X; --")`,
		want:  hWant(hCol("s", "string"), []any{"it's"}, []any{"'; DROP TABLE x; --"}),
	})
	add(hostileCase{
		name:  "in/dynamic-array",
		query: quotes + ` | where s in (dynamic(["it's", "'; DROP TABLE x; --"]))`,
		want:  hWant(hCol("s", "string"), []any{"it's"}, []any{"'; DROP TABLE x; --"}),
	})
	add(hostileCase{
		name:  "in/subquery",
		query: `let L = print v = "it's"; ` + quotes + ` | where s in (L)`,
		want:  hWant(hCol("s", "string"), []any{"it's"}),
	})

	// String functions with hostile arguments.
	drop := "'; DROP TABLE x; --"
	add(hostileCase{
		name:  "functions/strings",
		query: `print a = strcat("'", '"', "\\", ";--"), b = split("a';b';c", "';"), c = strcat_delim("';", "a", "b"), d = indexof("ab'; DROP", "'; DROP"), e = strlen("'; DROP TABLE x; --"), f = tostring(dynamic(["'", "\""]))`,
		want: hWant([]string{"a:string", "b:dynamic", "c:string", "d:long", "e:long", "f:string"},
			[]any{`'"\;--`, hDyn(`["a","b","c"]`), "a';b", int64(2), int64(19), `["'","\""]`}),
	})
	add(hostileCase{
		name:  "functions/conversions",
		query: `print a = todatetime("2024-01-01'; DROP TABLE x; --"), b = toint("1; DROP TABLE x"), c = tobool("true'--"), d = totimespan("1:00'--")`,
		want:  hWant([]string{"a:datetime", "b:int", "c:bool", "d:timespan"}, []any{nil, nil, nil, nil}),
	})
	add(hostileCase{
		name:  "functions/decoders",
		query: fmt.Sprintf(`print a = url_decode("%%27%%3B%%20DROP"), b = base64_decode_tostring(%s)`, hq(base64.StdEncoding.EncodeToString([]byte(drop)))),
		want:  hWant([]string{"a:string", "b:string"}, []any{"'; DROP", drop}),
	})
	add(hostileCase{
		// a NUL made at run time, where no literal can hold one
		name:    "functions/runtime-nul",
		query:   `print x = base64_decode_tostring("YQBi")`,
		want:    hWant(hCol("x", "string"), []any{"a\x00b"}),
		mayFail: true,
	})
	add(hostileCase{
		name:  "functions/format-datetime-quotes",
		query: `print x = format_datetime(datetime(2024-01-02 03:04:05), "yyyy-MM-dd")`,
		want:  hWant(hCol("x", "string"), []any{"2024-01-02"}),
	})
	add(hostileCase{
		// Kusto documents only a few delimiters in a format; whatever the
		// engine makes of the others, it must stay in a literal
		name:    "functions/format-datetime-hostile",
		query:   `print x = format_datetime(datetime(2024-01-02 03:04:05), "yyyy'; DROP TABLE x; --\\\"") | extend n = strlen(x) | project n`,
		mayFail: true,
		check:   func(t *testing.T, res *Result) {},
	})
	add(hostileCase{name: "functions/datetime-diff-part", query: `print x = datetime_diff("'; DROP TABLE x; --", datetime(2024-01-01), datetime(2024-01-02))`, fail: true})
	add(hostileCase{name: "functions/datetime-part", query: `print x = datetime_part("'; DROP TABLE x; --", datetime(2024-01-01))`, fail: true})
	add(hostileCase{name: "functions/datetime-add-part", query: `print x = datetime_add("'; DROP TABLE x; --", 1, datetime(2024-01-01))`, fail: true})
	add(hostileCase{
		name:  "functions/take-computed",
		query: `datatable(s:string)["a", "b", "c", "d"] | take toscalar(print n = strlen("';-"))`,
		check: func(t *testing.T, res *Result) {
			if n := len(res.Tables[0].Rows); n != 3 {
				t.Errorf("%d rows, want 3", n)
			}
		},
	})

	// search over the catalog table.
	add(hostileCase{
		name:  "search/hostile-term",
		query: `search in (Canary) "'; DROP TABLE x; --" | count`,
		want:  hWant(hCol("Count", "long"), []any{int64(0)}),
	})
	add(hostileCase{
		name:  "search/wildcard-term",
		query: `search in (Canary) "*'a*" or "ali*" | count`,
		want:  hWant(hCol("Count", "long"), []any{int64(1)}),
	})

	// Names that come from the data: bag_unpack makes a column of each
	// property, whatever its key.
	unpackBag := `print d = dynamic({"'; DROP TABLE x; --": 1, "a\"b": "v'", "/*": true, "c1": 2})`
	unpackWant := map[string]string{"'; DROP TABLE x; --": "1", `a"b`: `"v'"`, "/*": "true", "c1": "2"}
	checkUnpack := func(prefix string) func(t *testing.T, res *Result) {
		return func(t *testing.T, res *Result) {
			tab := res.Tables[0]
			if len(tab.Rows) != 1 || len(tab.Columns) != len(unpackWant) {
				t.Fatalf("columns %v, rows %v: want %d columns and one row", tab.Columns, tab.Rows, len(unpackWant))
			}
			for i, c := range tab.Columns {
				w, ok := unpackWant[strings.TrimPrefix(c.Name, prefix)]
				if !ok || !strings.HasPrefix(c.Name, prefix) {
					t.Errorf("unexpected column %q", c.Name)
					continue
				}
				if got := JSONValue(tab.Rows[0][i]); got != w && got != fmt.Sprintf("%q", w) {
					t.Errorf("column %q: %s, want %s", c.Name, got, w)
				}
			}
		}
	}
	add(hostileCase{name: "evaluate/bag-unpack-keys", query: unpackBag + ` | evaluate bag_unpack(d)`, mayFail: true, check: checkUnpack("")})
	add(hostileCase{name: "evaluate/bag-unpack-prefix", query: unpackBag + ` | evaluate bag_unpack(d, "p'\"; --")`, mayFail: true, check: checkUnpack(`p'"; --`)})
	add(hostileCase{
		name:    "evaluate/bag-unpack-schema",
		query:   unpackBag + ` | evaluate bag_unpack(d) : (['a"b']:string, ['/*']:bool)`,
		mayFail: true,
		want:    hWant([]string{`a"b:string`, "/*:bool"}, []any{"v'", true}),
	})
	add(hostileCase{
		name:    "evaluate/unknown-plugin",
		query:   `print a = 1 | evaluate ['x"; DROP TABLE x; --']()`,
		fail:    true,
		mayFail: true,
	})

	// Table names from strings, wildcards, as and search's $table.
	add(hostileCase{name: "tables/table-function", query: `table("Canary") | project v`, want: hWant(hCol("v", "string"), []any{"alive"})})
	add(hostileCase{name: "tables/table-function-hostile", query: `table("'; DROP TABLE x; --")`, fail: true})
	add(hostileCase{name: "tables/table-function-relation", query: `table("canary")`, fail: true})
	add(hostileCase{name: "tables/wildcard", query: `union Can* | project v`, want: hWant(hCol("v", "string"), []any{"alive"})})
	add(hostileCase{name: "tables/wildcard-hostile", query: `union ['Can"*'] | count`, fail: true, mayFail: true})
	add(hostileCase{
		name:  "tables/as-and-search",
		query: `print a = "alive" | as ['t\'"; DROP TABLE x; --'] | search "alive" | project a`,
		want:  hWant(hCol("a", "string"), []any{"alive"}),
	})
	add(hostileCase{
		name:  "tables/materialize",
		query: `let m = materialize(print v = "'; DROP TABLE x; --"); m | union m | count`,
		want:  hWant(hCol("Count", "long"), []any{int64(2)}),
	})

	// More functions over hostile text.
	add(hostileCase{
		name:  "functions/more-strings",
		query: `print a = strrep("';", 3), b = substring("'; DROP", 1, 3), c = reverse("';--"), d = toupper("it's"), e = iff(true, "'", '"'), f = case(false, "x", "';--"), g = coalesce("", "'; DROP"), h = strcat_array(dynamic(["'", "--"]), "/*")`,
		want:  hWant([]string{"a:string", "b:string", "c:string", "d:string", "e:string", "f:string", "g:string", "h:string"}, []any{"';';';", "; D", "--;'", "IT'S", "'", "';--", "'; DROP", "'/*--"}),
	})
	add(hostileCase{
		name:  "functions/hash",
		query: `print x = hash_sha256("'; DROP TABLE x; --")`,
		want:  hWant(hCol("x", "string"), []any{hSHA256("'; DROP TABLE x; --")}),
	})
	add(hostileCase{
		name:  "functions/make-bag",
		query: `datatable(k:string, v:string)["'; --", "a'", "b\"", "/*"] | summarize b = make_bag(bag_pack(k, v)) | project x = tostring(b["'; --"]), y = tostring(b['b"'])`,
		want:  hWant([]string{"x:string", "y:string"}, []any{"a'", "/*"}),
	})
	add(hostileCase{
		name:  "functions/extract-typed",
		query: `print x = extract("n='(\\d+)'", 1, "n='42'", typeof(long))`,
		want:  hWant(hCol("x", "long"), []any{int64(42)}),
	})
	add(hostileCase{
		name:  "functions/format-timespan",
		query: `print x = format_timespan(1h, "hh:mm")`,
		want:  hWant(hCol("x", "string"), []any{"01:00"}),
	})

	// Comments, line endings and statements.
	add(hostileCase{
		name:  "syntax/comment-holds-sql",
		query: "print x = 1 // '; DROP TABLE x; --\n| extend y = \"/*\" // */ DROP",
		want:  hWant([]string{"x:long", "y:string"}, []any{int64(1), "/*"}),
	})
	add(hostileCase{
		name:  "syntax/crlf",
		query: "let s = \"';\";\r\nprint x = s\r\n| extend y = strcat(x, \"--\")\r\n",
		want:  hWant([]string{"x:string", "y:string"}, []any{"';", "';--"}),
	})
	add(hostileCase{
		name:  "syntax/set-statement",
		query: `set query_now = "'; DROP TABLE x; --"; print x = 1`,
		want:  hWant(hCol("x", "long"), []any{int64(1)}),
	})
	add(hostileCase{
		name:  "syntax/two-statements",
		query: "print x = \"';\"\n\nprint y = '\";'",
		check: func(t *testing.T, res *Result) {
			if len(res.Tables) != 2 || res.Tables[0].Rows[0][0] != "';" || res.Tables[1].Rows[0][0] != `";` {
				t.Errorf("tables %v", res.Tables)
			}
		},
	})
	add(hostileCase{name: "syntax/externaldata", query: `externaldata(s:string)["https://example.com/'; DROP TABLE x; --"]`, fail: true})
	add(hostileCase{name: "syntax/declare", query: `declare query_parameters(p:string = "'; DROP TABLE x; --"); print p`, fail: true})

	// NUL and other text the lexer refuses, and SQL written as KQL.
	for i, q := range []string{
		"print x = \"a\x00b\"",
		`print x = "a\0b"`,
		`print x = "a\u0000b"`,
		`print x = 'a\x00b'`,
		"print x = ```a\x00b```",
		"print [\"a\x00\"] = 1",
		"print x = 1\x00",
		`print x = 1; DROP TABLE x; --`,
		`print x = 1 -- DROP TABLE x`,
		`SELECT * FROM canary`,
		`DROP TABLE canary`,
		`print x = datetime(2024-01-01'; DROP TABLE x; --)`,
		`print x = guid(00000000-0000-0000-0000-000000000000'; DROP)`,
		`print x = typeof(string); DROP TABLE x`,
		`print x = int(1); DROP TABLE x; --)`,
		`print x = dynamic({"a": 1}); DROP TABLE x`,
		`print x = "unterminated`,
		`print x = "a" | where x == "a"'; DROP TABLE x; --`,
		`print x = 1 | project-rename ['b'] = ['a''; DROP TABLE x; --']`,
	} {
		add(hostileCase{name: fmt.Sprintf("refused/%02d", i), query: q, fail: true})
	}
	return cs
}

// hostileDB opens an in-memory database with the canary tables and an
// engine whose catalog holds one of them as Canary.
func hostileDB(t *testing.T) (*sql.DB, *Engine) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hResetCanaries(t, db)
	eng := NewEngine(db, []TableDef{{
		Name:     "Canary",
		Relation: "canary",
		Columns:  []Column{{Name: "id", Type: "int"}, {Name: "v", Type: "string"}},
	}}, Options{Now: func() time.Time { return defaultNow }, Timeout: 20 * time.Second, MaxRows: 1000})
	return db, eng
}

// hResetCanaries (re)creates the canary tables and their rows.
func hResetCanaries(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, s := range []string{
		"CREATE OR REPLACE TABLE canary (id INTEGER, v VARCHAR)",
		"INSERT INTO canary VALUES (1, 'alive')",
		"CREATE OR REPLACE TABLE x (id INTEGER, v VARCHAR)",
		"INSERT INTO x VALUES (1, 'x-alive')",
		"CREATE OR REPLACE TABLE secret (v VARCHAR)",
		"INSERT INTO secret VALUES ('" + hostileSecret + "')",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// hDBState describes what a query must not change: the relations, the
// functions that are not built in, and the canary rows.
func hDBState(t *testing.T, db *sql.DB) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		"SELECT coalesce(string_agg(table_schema || '.' || table_name || ':' || table_type, ',' ORDER BY table_schema, table_name), '') FROM information_schema.tables",
		"SELECT coalesce(string_agg(DISTINCT function_name, ',' ORDER BY function_name), '') FROM duckdb_functions() WHERE NOT internal",
		"SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM canary",
		"SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM x",
		"SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM secret",
	} {
		var s string
		if err := db.QueryRow(q).Scan(&s); err != nil {
			s = "error: " + err.Error()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n")
}

// TestHostile runs the hostile suite.
func TestHostile(t *testing.T) {
	db, eng := hostileDB(t)
	if _, err := eng.Run(context.Background(), "print 1"); err != nil {
		t.Fatal(err)
	}
	base := hDBState(t, db)
	cases := hostileCases()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case name %q repeated", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			// checked after the case even when it stops the test early
			defer func() {
				if got := hDBState(t, db); got != base {
					t.Errorf("the database changed:\n%s\nwant:\n%s", got, base)
					hResetCanaries(t, db)
					base = hDBState(t, db)
				}
				res, err := eng.Run(context.Background(), `print ok = "still here"`)
				if err != nil || len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 || res.Tables[0].Rows[0][0] != "still here" {
					t.Errorf("the engine no longer answers: %v", err)
				}
			}()
			runHostile(t, db, eng, c)
		})
	}
	t.Logf("%d hostile cases", len(cases))
}

// runHostile runs one case: its translation's SQL, then its result.
func runHostile(t *testing.T, db *sql.DB, eng *Engine, c hostileCase) {
	if q, err := Parse(c.query); err == nil {
		if plan, err := eng.Translate(q); err == nil {
			for i, st := range plan.Stmts {
				hCheckSQLShape(t, fmt.Sprintf("statement %d", i), st.SQL, c.payloads)
				hCheckSQLParse(t, db, st.SQL, c.literal)
			}
		} else {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Errorf("translation error %v (%T) is not an *Error", err, err)
			}
		}
	}
	res, err := eng.Run(context.Background(), c.query)
	if err != nil {
		var qe *Error
		if !errors.As(err, &qe) {
			t.Fatalf("error %v (%T) is not an *Error", err, err)
		}
		if !c.fail && !c.mayFail {
			t.Fatalf("unexpected error: %v", err)
		}
		if !c.fail {
			t.Logf("refused (acceptable): %v", err)
		}
		return
	}
	if c.fail {
		t.Fatalf("the query ran (want a *Error): %s", strings.TrimPrefix(runCase(eng, semCase{query: c.query}), "\n"))
	}
	for _, tab := range res.Tables {
		for _, row := range tab.Rows {
			for _, v := range row {
				if strings.Contains(FormatValue(v), hostileSecret) {
					t.Fatalf("a result shows the secret table's value: %q", FormatValue(v))
				}
			}
		}
	}
	if c.want != nil {
		if d := hResultDiff(res, c.want); d != "" {
			t.Errorf("query:\n%s\n%s", hShort(c.query), d)
		}
	}
	if c.check != nil {
		c.check(t, res)
	}
}

// hShort abbreviates a long text for a message.
func hShort(s string) string {
	if len(s) > 2000 {
		return s[:1000] + fmt.Sprintf(" … (%d bytes) … ", len(s)-2000) + s[len(s)-1000:]
	}
	return s
}

// hSQLKeywords are statement words the translator never writes outside a
// literal or a quoted identifier.
var hSQLKeywords = regexp.MustCompile(`(?i)\b(DROP|DELETE|INSERT|UPDATE|CREATE|ALTER|ATTACH|DETACH|COPY|PRAGMA|INSTALL|LOAD|EXPORT|IMPORT|CALL|SET|RESET|CHECKPOINT|VACUUM|TRUNCATE|GRANT|canary|secret)\b`)

// hStripQuoted removes the quoted literals ('...') and identifiers ("...")
// of a SQL text, leaving a space for each; ok is false when a quote does
// not close.
func hStripQuoted(s string) (rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\'' && c != '"' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for {
			k := strings.IndexByte(s[j:], c)
			if k < 0 {
				return b.String(), false
			}
			j += k + 1
			if j < len(s) && s[j] == c {
				j++ // a doubled quote
				continue
			}
			break
		}
		b.WriteByte(' ')
		i = j
	}
	return b.String(), true
}

// hSQLShapeProblem reports what is wrong with the shape of generated SQL,
// or "": outside its quoted literals and identifiers it may hold no
// statement separator, comment, control or non-ASCII character, parameter
// marker, statement keyword or name of a relation outside the catalog,
// and none of the given payloads.
func hSQLShapeProblem(sql string, payloads []string) string {
	if strings.IndexByte(sql, 0) >= 0 {
		return "a NUL byte"
	}
	rest, ok := hStripQuoted(sql)
	if !ok {
		return "a quote that does not close"
	}
	for _, bad := range []string{";", "--", "/*", "*/", "?", "$", `\`} {
		if strings.Contains(rest, bad) {
			return fmt.Sprintf("%q outside quotes", bad)
		}
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < 0x20 || rest[i] >= 0x7f {
			return fmt.Sprintf("byte %#x outside quotes", rest[i])
		}
	}
	if m := hSQLKeywords.FindString(rest); m != "" {
		return fmt.Sprintf("the word %q outside quotes", m)
	}
	for _, p := range payloads {
		if len(p) >= 2 && strings.Contains(rest, p) {
			return fmt.Sprintf("the query's text %q outside quotes", hShort(p))
		}
	}
	return ""
}

// hCheckSQLShape fails the test when hSQLShapeProblem finds a problem.
func hCheckSQLShape(t *testing.T, what, sql string, payloads []string) {
	t.Helper()
	if p := hSQLShapeProblem(sql, payloads); p != "" {
		t.Errorf("%s: %s in the SQL:\n%s", what, p, hShort(sql))
	}
}

// hSelectStatements has DuckDB parse a SQL text (json_serialize_sql) and
// returns its statements, or an error when it is not made only of SELECT
// statements or does not parse.
func hSelectStatements(db *sql.DB, text string) ([]json.RawMessage, error) {
	var out string
	q := "SELECT CAST(json_serialize_sql('" + strings.ReplaceAll(text, "'", "''") + "') AS VARCHAR)"
	if err := db.QueryRow(q).Scan(&out); err != nil {
		return nil, fmt.Errorf("json_serialize_sql: %v", err)
	}
	var tree struct {
		Error      bool              `json:"error"`
		Message    string            `json:"error_message"`
		Statements []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return nil, fmt.Errorf("json_serialize_sql gave %s: %v", hShort(out), err)
	}
	if tree.Error {
		return nil, fmt.Errorf("DuckDB does not read the SQL as SELECT statements: %s", tree.Message)
	}
	return tree.Statements, nil
}

// hCheckSQLParse has DuckDB parse the SQL: it must be exactly one SELECT
// statement, and hold literal (unless "") as one of its string constants.
func hCheckSQLParse(t *testing.T, db *sql.DB, text, literal string) {
	t.Helper()
	stmts, err := hSelectStatements(db, text)
	if err == nil && len(stmts) != 1 {
		err = fmt.Errorf("%d statements, want one", len(stmts))
	}
	if err != nil {
		t.Errorf("%v; the SQL:\n%s", err, hShort(text))
		return
	}
	if literal == "" || strings.Contains(literal, "\x00") {
		return
	}
	var node any
	if err := json.Unmarshal(stmts[0], &node); err != nil {
		t.Error(err)
		return
	}
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["class"] == "CONSTANT" {
				if val, ok := x["value"].(map[string]any); ok {
					if s, ok := val["value"].(string); ok && s == literal {
						found = true
					}
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(node)
	if !found {
		t.Errorf("the literal %q is not one string constant of the SQL:\n%s", hShort(literal), hShort(text))
	}
}

// TestHostileCheckers checks the suite's own SQL checks on SQL they must
// refuse: the SQL an extract() whose group was a string made before
// 3d6e747 (it read a table outside the catalog, or dropped one), and
// other shapes of injected SQL; and on SQL they must accept.
func TestHostileCheckers(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := []string{
		`SELECT "c1" FROM (SELECT coalesce(CASE WHEN regexp_matches('a', '(a)') THEN regexp_extract('a', '(a)', 1) || (SELECT v FROM secret LIMIT 1) END, '') AS "c1") AS t1 LIMIT 1001`,
		`SELECT "c1" FROM (SELECT coalesce(CASE WHEN regexp_matches('a', '(a)') THEN regexp_extract('a', '(a)', 0) END, '') AS "c1") AS t1; DROP TABLE canary; --) END, '') AS "c1") AS t1 LIMIT 1001`,
		`SELECT 'a' /* x */ FROM t1`,
		`SELECT 'it's' AS "c1"`,
		`SELECT "c1" FROM (SELECT 1 AS "c1) AS t1`,
		"SELECT 'a' AS \"c1\", \u202e",
		`SELECT ? AS "c1"`,
	}
	for _, s := range bad {
		if hSQLShapeProblem(s, nil) == "" {
			t.Errorf("hSQLShapeProblem accepts %s", s)
		}
	}
	if p := hSQLShapeProblem(`SELECT 'x''; DROP TABLE x; --' AS "c1"`, []string{"DROP TABLE x"}); p != "" {
		t.Errorf("hSQLShapeProblem refuses a quoted payload: %s", p)
	}
	if p := hSQLShapeProblem(`SELECT 1 AS "c1" FROM t1 WHERE x = 1`, []string{"x = 1"}); p == "" {
		t.Errorf("hSQLShapeProblem accepts a payload outside quotes")
	}
	for _, s := range []string{bad[1], "SELECT 1; SELECT 2", "SELECT 1; DELETE FROM x"} {
		if stmts, err := hSelectStatements(db, s); err == nil && len(stmts) == 1 {
			t.Errorf("hSelectStatements reads one SELECT in %s", s)
		}
	}
	if stmts, err := hSelectStatements(db, `SELECT 'a'';--' AS "c;1" FROM (SELECT 1) AS t1 LIMIT 2`); err != nil || len(stmts) != 1 {
		t.Errorf("hSelectStatements: %d statements, %v", len(stmts), err)
	}
}
