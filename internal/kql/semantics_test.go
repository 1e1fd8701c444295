package kql

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cdewatch/cdewatch/internal/index"
)

// semCase is one case of a semantics script.
type semCase struct {
	name  string
	line  int
	query string
	want  string
	// the want text's place in the file, for -update
	wantStart, wantEnd int
}

// defaultNow is the time now() is at unless a script says otherwise.
var defaultNow = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)

// TestSemantics runs the scripts of testdata/semantics (see the README
// there): tables, queries and their expected results.
func TestSemantics(t *testing.T) {
	files, err := filepath.Glob("testdata/semantics/*.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/semantics/*.test files")
	}
	total := 0
	for _, path := range files {
		total += runScript(t, path)
	}
	t.Logf("%d semantic cases", total)
}

// runScript runs one script and returns its number of cases.
func runScript(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := strings.TrimSuffix(filepath.Base(path), ".test")
	now := defaultNow
	var tables []TableDef
	cases := 0
	type rewrite struct {
		start, end int
		text       string
	}
	var rewrites []rewrite
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			i++
		case strings.HasPrefix(line, "now "):
			tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(line[4:]))
			if err != nil {
				t.Fatalf("%s:%d: now: %v", path, i+1, err)
			}
			now = tm
			i++
		case strings.HasPrefix(line, "table "):
			start := i
			i++
			var rows []string
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
				rows = append(rows, lines[i])
				i++
			}
			def := loadTable(t, db, fmt.Sprintf("%s:%d", path, start+1), line[len("table "):], rows)
			tables = replaceTable(tables, def)
		case strings.HasPrefix(line, "=== "):
			c := semCase{name: strings.TrimSpace(line[4:]), line: i + 1}
			i++
			var q []string
			for i < len(lines) && lines[i] != "---" && !isTableLine(lines[i]) {
				q = append(q, lines[i])
				i++
			}
			if i == len(lines) {
				t.Fatalf("%s:%d: case %q has no '---' line", path, c.line, c.name)
			}
			if lines[i] == "---" {
				i++
			}
			c.wantStart = i
			for i < len(lines) && !strings.HasPrefix(lines[i], "=== ") && !strings.HasPrefix(lines[i], "table ") && !strings.HasPrefix(lines[i], "now ") {
				i++
			}
			c.wantEnd = i
			// trailing blank lines and comments belong to the file, not the case
			for c.wantEnd > c.wantStart && (strings.TrimSpace(lines[c.wantEnd-1]) == "" || strings.HasPrefix(lines[c.wantEnd-1], "#")) {
				c.wantEnd--
			}
			c.query = strings.Join(q, "\n")
			c.want = strings.Join(lines[c.wantStart:c.wantEnd], "\n")
			cases++
			eng := NewEngine(db, tables, Options{Now: func() time.Time { return now }, Timeout: 20 * time.Second})
			t.Run(base+"/"+c.name, func(t *testing.T) {
				got := runCase(eng, c)
				if *update {
					if !caseMatches(got, c.want) {
						rewrites = append(rewrites, rewrite{c.wantStart, c.wantEnd, got})
					}
					return
				}
				if !caseMatches(got, c.want) {
					t.Errorf("%s:%d: %s\n--- query\n%s\n--- got\n%s\n--- want\n%s", path, c.line, c.name, c.query, got, c.want)
				}
			})
		default:
			t.Fatalf("%s:%d: unexpected line %q (want '=== name', 'table ...', 'now ...' or a comment)", path, i+1, line)
		}
	}
	if *update && len(rewrites) > 0 {
		for k := len(rewrites) - 1; k >= 0; k-- {
			rw := rewrites[k]
			lines = append(lines[:rw.start], append(strings.Split(rw.text, "\n"), lines[rw.end:]...)...)
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

// replaceTable adds def to tables, replacing one of the same name.
func replaceTable(tables []TableDef, def TableDef) []TableDef {
	for i := range tables {
		if tables[i].Name == def.Name {
			tables[i] = def
			return tables
		}
	}
	return append(tables, def)
}

// loadTable creates a table from a `table Name (schema)` directive and
// its rows, through the engine's own datatable (whose translation the
// semantics of datatable cases check separately).
func loadTable(t *testing.T, db *sql.DB, where, header string, rows []string) TableDef {
	t.Helper()
	open := strings.Index(header, "(")
	if open < 0 || !strings.HasSuffix(strings.TrimSpace(header), ")") {
		t.Fatalf("%s: want 'table Name (col:type, ...)'", where)
	}
	name := strings.TrimSpace(header[:open])
	schema := strings.TrimSpace(header[open:])
	src := "datatable" + schema + "[\n" + strings.Join(rows, ",\n") + "\n]"
	eng := NewEngine(db, nil, Options{Now: func() time.Time { return defaultNow }})
	res, err := eng.Run(context.Background(), src)
	if err != nil {
		t.Fatalf("%s: table %s: %v", where, name, err)
	}
	given := res.Tables[0]
	def := TableDef{Name: name, Relation: "tbl_" + name}
	var ddl []string
	if rel, ok := index.Lookup(name); ok {
		for _, c := range rel.Columns {
			def.Columns = append(def.Columns, Column{Name: c.Name, Type: string(c.Type)})
		}
	} else {
		def.Columns = given.Columns
	}
	for _, c := range def.Columns {
		d := sqlTypeOf(c.Type)
		if c.Type == "string" {
			d += " DEFAULT ''"
		}
		ddl = append(ddl, fmt.Sprintf("%q %s", c.Name, d))
	}
	if _, err := db.Exec(fmt.Sprintf("DROP TABLE IF EXISTS %q", def.Relation)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %q (%s)", def.Relation, strings.Join(ddl, ", "))); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var names, marks []string
	for _, c := range given.Columns {
		found := false
		for _, dc := range def.Columns {
			if dc.Name == c.Name {
				found = dc.Type == c.Type
			}
		}
		if !found {
			t.Fatalf("%s: column %s:%s is not a column of %s", where, c.Name, c.Type, name)
		}
		names = append(names, fmt.Sprintf("%q", c.Name))
		marks = append(marks, "?")
	}
	stmt := fmt.Sprintf("INSERT INTO %q (%s) VALUES (%s)", def.Relation, strings.Join(names, ", "), strings.Join(marks, ", "))
	for _, row := range given.Rows {
		args := make([]any, len(row))
		for i, v := range row {
			args[i] = sqlArg(v, given.Columns[i].Type)
		}
		if _, err := db.Exec(stmt, args...); err != nil {
			t.Fatalf("%s: inserting %v: %v", where, row, err)
		}
	}
	return def
}

func sqlTypeOf(typ string) string {
	switch typ {
	case "string", "guid":
		return "VARCHAR"
	case "long", "timespan":
		return "BIGINT"
	case "int":
		return "INTEGER"
	case "real", "decimal":
		return "DOUBLE"
	case "bool":
		return "BOOLEAN"
	case "datetime":
		return "TIMESTAMP"
	case "dynamic":
		return "JSON"
	}
	return "VARCHAR"
}

// sqlArg converts a result cell back to a value DuckDB accepts.
func sqlArg(v any, typ string) any {
	switch x := v.(type) {
	case time.Duration:
		return x.Microseconds()
	case []byte:
		return string(x)
	}
	if typ == "dynamic" && v != nil {
		return FormatValue(v)
	}
	return v
}

// runCase runs a case's query and renders the result in the script form.
func runCase(eng *Engine, c semCase) string {
	res, err := eng.Run(context.Background(), c.query)
	if err != nil {
		return "error: " + err.Error()
	}
	var parts []string
	for i, tab := range res.Tables {
		var b strings.Builder
		if len(res.Tables) > 1 {
			// a name the query gave the table is part of the result
			b.WriteString("--- table")
			if tab.Name != fmt.Sprintf("Table_%d", i) {
				b.WriteString(" " + tab.Name)
			}
			b.WriteString("\n")
		}
		var hdr []string
		for _, col := range tab.Columns {
			hdr = append(hdr, col.Name+":"+col.Type)
		}
		b.WriteString(strings.Join(hdr, ", "))
		rows := make([]string, len(tab.Rows))
		for i, row := range tab.Rows {
			cells := make([]string, len(row))
			for j, v := range row {
				cells[j] = JSONValue(v)
			}
			rows[i] = strings.Join(cells, ", ")
		}
		if !tab.Ordered() {
			rows = append([]string{"# unordered"}, rows...)
		}
		for _, r := range rows {
			b.WriteString("\n" + r)
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "\n")
}

// isTableLine reports whether line starts a table of a result of several:
// `--- table`, or `--- table Name` when the query named it.
func isTableLine(line string) bool {
	return line == "--- table" || strings.HasPrefix(line, "--- table ")
}

// splitTables splits a rendered result of several tables into its
// `--- table` lines and the tables' text.
func splitTables(s string) (heads, tables []string) {
	var cur []string
	for _, l := range strings.Split(s, "\n") {
		if isTableLine(strings.TrimRight(l, " ")) {
			if heads != nil {
				tables = append(tables, strings.Join(cur, "\n"))
			}
			heads, cur = append(heads, strings.TrimRight(l, " ")), nil
			continue
		}
		cur = append(cur, l)
	}
	return heads, append(tables, strings.Join(cur, "\n"))
}

// caseMatches compares a rendered result with the expectation: an error
// by substring, tables line by line (as multisets when unordered).
func caseMatches(got, want string) bool {
	want = strings.TrimSpace(want)
	if strings.HasPrefix(want, "error:") {
		return strings.HasPrefix(got, "error:") && strings.Contains(got, strings.TrimSpace(strings.TrimPrefix(want, "error:")))
	}
	gh, gt := splitTables(got)
	wh, wt := splitTables(want)
	if !slices.Equal(gh, wh) || len(gt) != len(wt) {
		return false
	}
	for i := range gt {
		g := strings.Split(gt[i], "\n")
		w := strings.Split(strings.TrimSpace(wt[i]), "\n")
		unordered := len(g) > 1 && g[1] == "# unordered"
		if unordered {
			g = append(g[:1], g[2:]...)
		}
		// expectations may carry comments
		var wl []string
		for _, l := range w {
			if !strings.HasPrefix(l, "#") {
				wl = append(wl, strings.TrimRight(l, " "))
			}
		}
		if len(g) != len(wl) {
			return false
		}
		if unordered {
			g = append(g[:1], sorted(g[1:])...)
			wl = append(wl[:1], sorted(wl[1:])...)
		}
		for j := range g {
			if g[j] != wl[j] {
				return false
			}
		}
	}
	return true
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
