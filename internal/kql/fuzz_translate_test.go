package kql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/cdewatch/cdewatch/internal/index"
)

// fuzzNow is the time now() is at in the fuzz targets.
var fuzzNow = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

// fzSemanticScripts reads the semantics scripts (testdata/semantics) for
// seeds: the query of every case, and the tables the scripts declare
// (name and KQL schema).
func fzSemanticScripts(tb testing.TB) (queries []string, tables map[string][]Column) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "semantics", "*.test"))
	if err != nil {
		tb.Fatal(err)
	}
	tables = map[string][]Column{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			switch {
			case strings.HasPrefix(line, "table "):
				if name, cols, ok := fzTableHeader(line[len("table "):]); ok {
					tables[name] = cols
				}
			case strings.HasPrefix(line, "=== "):
				var q []string
				for i++; i < len(lines) && lines[i] != "---" && lines[i] != "--- table"; i++ {
					q = append(q, lines[i])
				}
				queries = append(queries, strings.Join(q, "\n"))
			}
		}
	}
	return queries, tables
}

// fzTableHeader reads "Name (col:type, ...)".
func fzTableHeader(h string) (string, []Column, bool) {
	open := strings.Index(h, "(")
	if open < 0 || !strings.HasSuffix(strings.TrimSpace(h), ")") {
		return "", nil, false
	}
	name := strings.TrimSpace(h[:open])
	body := strings.TrimSuffix(strings.TrimSpace(h[open+1:]), ")")
	var cols []Column
	for _, f := range strings.Split(body, ",") {
		n, typ, ok := strings.Cut(strings.TrimSpace(f), ":")
		if !ok {
			return "", nil, false
		}
		cols = append(cols, Column{Name: strings.TrimSpace(n), Type: strings.TrimSpace(typ)})
	}
	return name, cols, true
}

// fzEngine opens an in-memory DuckDB (one thread, bounded memory) with
// every table of cdewatch's index and of the semantics scripts, empty,
// and an engine over them. The database also holds a canary table that
// is not in the catalog.
func fzEngine(tb testing.TB, opts Options) (*sql.DB, *Engine) {
	tb.Helper()
	db, err := sql.Open("duckdb", "?threads=1&memory_limit=1GB")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	exec := func(s string) {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	exec("CREATE TABLE fz_canary (v VARCHAR)")
	exec("INSERT INTO fz_canary VALUES ('alive')")
	var defs []TableDef
	for _, r := range index.Relations() {
		def := TableDef{Name: r.Name, Relation: "idx_" + r.Name}
		var ddl []string
		for _, c := range r.Columns {
			def.Columns = append(def.Columns, Column{Name: c.Name, Type: string(c.Type)})
			ddl = append(ddl, sqlIdent(c.Name)+" "+c.SQLType())
		}
		if r.IsView() {
			s := "CREATE VIEW " + sqlIdent(def.Relation) + " AS SELECT * FROM " + sqlIdent("idx_"+r.Base)
			if r.Where != "" {
				s += " WHERE " + r.Where
			}
			exec(s)
		} else {
			exec("CREATE TABLE " + sqlIdent(def.Relation) + " (" + strings.Join(ddl, ", ") + ")")
		}
		defs = append(defs, def)
	}
	_, tables := fzSemanticScripts(tb)
	for name, cols := range tables {
		if _, ok := index.Lookup(name); ok {
			continue
		}
		def := TableDef{Name: name, Relation: "sem_" + name, Columns: cols}
		var ddl []string
		for _, c := range cols {
			ddl = append(ddl, sqlIdent(c.Name)+" "+sqlType(c.Type))
		}
		exec("CREATE TABLE " + sqlIdent(def.Relation) + " (" + strings.Join(ddl, ", ") + ")")
		defs = append(defs, def)
	}
	opts.Now = func() time.Time { return fuzzNow }
	return db, NewEngine(db, defs, opts)
}

// fzParseSeeds are the inputs of the golden parser cases.
func fzParseSeeds(tb testing.TB) []string {
	var out []string
	for _, path := range goldenFiles(tb) {
		for _, c := range readGolden(tb, path).cases {
			out = append(out, c.input)
		}
	}
	return out
}

// FuzzTranslate parses and translates any input: no input makes the
// translator panic; it fails only with an *Error, and every SQL statement
// it makes has the shape hSQLShapeProblem checks (outside quoted literals
// and identifiers no statement separator, comment, control or non-ASCII
// character, statement keyword). Translation may read the database
// (constant folding, bag_unpack's discovery): the tables are empty. The
// corpus is seeded from the golden parser cases, the semantics cases and
// the hostile texts.
func FuzzTranslate(f *testing.F) {
	for _, s := range fzParseSeeds(f) {
		f.Add(s)
	}
	queries, _ := fzSemanticScripts(f)
	for _, q := range queries {
		f.Add(q)
	}
	for _, h := range hostileStrings {
		if len(h.s) < 1000 {
			f.Add("print x = " + hq(h.s) + " | extend [" + hq(h.s) + "] = x")
		}
	}
	_, eng := fzEngine(f, Options{Timeout: 2 * time.Second, MaxRows: 1000})
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			return
		}
		start := time.Now()
		plan, err := eng.Translate(q)
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("Translate took %v", d)
		}
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("translation error %v (%T) is not an *Error", err, err)
			}
			return
		}
		if len(plan.Stmts) == 0 {
			t.Fatalf("a plan without statements")
		}
		for i, st := range plan.Stmts {
			if p := hSQLShapeProblem(st.SQL, nil); p != "" {
				t.Fatalf("statement %d: %s in the SQL:\n%s", i, p, hShort(st.SQL))
			}
		}
	})
}

// fzRunSeeds are queries that need no table: print, datatable and range
// queries of the semantics and golden cases, the hostile texts, and a few
// more.
func fzRunSeeds(tb testing.TB) []string {
	queries, _ := fzSemanticScripts(tb)
	queries = append(queries, fzParseSeeds(tb)...)
	var out []string
	for _, q := range queries {
		body := strings.TrimSpace(q)
		for strings.HasPrefix(body, "//") {
			_, body, _ = strings.Cut(body, "\n")
			body = strings.TrimSpace(body)
		}
		for _, p := range []string{"print", "datatable", "range"} {
			if strings.HasPrefix(body, p) {
				out = append(out, q)
				break
			}
		}
	}
	for _, h := range hostileStrings {
		if len(h.s) < 1000 {
			out = append(out, "print x = "+hq(h.s)+" | extend ["+hq(h.s)+"] = strcat(x, x), d = dynamic({"+hq(h.s)+": 1}) | extend v = d["+hq(h.s)+"]")
		}
	}
	return append(out,
		`print x = 1, y = "a'b", z = dynamic({"k": [1, 2]})`,
		`range x from 1 to 10 step 1 | summarize s = sum(x), c = count() by b = x % 3 | order by b asc`,
		`datatable(a:long, s:string)[1, "x", 2, "y"] | extend t = strcat(s, a) | where a > 1`,
		`range t from datetime(2024-01-01) to datetime(2024-01-02) step 1h | summarize count() by bin(t, 6h)`,
		`print d = dynamic(["a", "b"]) | mv-expand d | project v = tostring(d)`,
		`range x from 1 to 5000 step 1 | project x`,
	)
}

// FuzzRun parses, translates and runs any input on an in-memory DuckDB
// (a 2 s time limit, 1000 rows at most): no input makes the engine
// panic; a failure is an *Error, a *LimitError or an error of the
// database; a result respects the row limit and has the shape its
// columns say; and afterwards the engine still answers a query and a
// table outside its catalog is unchanged.
func FuzzRun(f *testing.F) {
	for _, s := range fzRunSeeds(f) {
		f.Add(s)
	}
	db, eng := fzEngine(f, Options{Timeout: 2 * time.Second, MaxRows: 1000, MaxBytes: 16 << 20})
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		res, err := eng.Run(context.Background(), src)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("Run took %v, with a time limit of 2 s", d)
		}
		if err != nil {
			var qe *Error
			var le *LimitError
			var de *duckdb.Error
			if !errors.As(err, &qe) && !errors.As(err, &le) && !errors.As(err, &de) {
				t.Errorf("error %v (%T) is not an *Error, a *LimitError or a DuckDB error", err, err)
			}
		} else {
			for i, tab := range res.Tables {
				if len(tab.Rows) > 1000 {
					t.Errorf("table %d: %d rows, over the limit of 1000", i, len(tab.Rows))
				}
				for _, row := range tab.Rows {
					if len(row) != len(tab.Columns) {
						t.Fatalf("table %d: a row of %d cells for %d columns", i, len(row), len(tab.Columns))
					}
				}
			}
		}
		if msg := fzEngineAlive(eng, db); msg != "" {
			t.Fatalf("after the query: %s", msg)
		}
	})
}

// fzEngineAlive checks that the engine answers a query and that the
// canary table outside its catalog is unchanged; it returns what is wrong,
// or "".
func fzEngineAlive(eng *Engine, db *sql.DB) string {
	res, err := eng.Run(context.Background(), `print ok = "alive"`)
	if err != nil {
		return fmt.Sprintf("the engine fails a simple query: %v", err)
	}
	if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 || res.Tables[0].Rows[0][0] != "alive" {
		return fmt.Sprintf("the engine answers a simple query with %v", res.Tables)
	}
	var s string
	if err := db.QueryRow("SELECT string_agg(v, ',') FROM fz_canary").Scan(&s); err != nil || s != "alive" {
		return fmt.Sprintf("the canary table outside the catalog changed: %q, %v", s, err)
	}
	return ""
}
