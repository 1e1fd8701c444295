package kql

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// seriesCall runs a series function's Go implementation on JSON
// arguments.
func seriesCall(t *testing.T, name string, args ...string) any {
	t.Helper()
	raw := []any{name}
	for _, a := range args {
		raw = append(raw, a)
	}
	v, err := seriesDispatch(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestSeriesFunctionsGo checks the series kernels directly, where the
// semantic cases cannot reach: non-finite values, placeholders, the
// period detection and the tuple columns' names.
func TestSeriesFunctionsGo(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want any
	}{
		{"series_add", []string{`[1, 2.5, "NaN"]`, `1`}, `[2,3.5,"NaN"]`},
		{"series_greater", []string{`[1, null, 3]`, `[0, 1]`}, `[true,null,null]`},
		{"series_equals", []string{`["NaN"]`, `["NaN"]`}, `[false]`},
		{"series_sign", []string{`[-2, 0, 0.5]`}, `[-1,0,1.0]`},
		{"series_floor", []string{`[1.5, -1.5, 2]`}, `[1.0,-2.0,2]`},
		{"series_fill_backward", []string{`[0, 1, 0]`, `0`}, `[1,1,0]`},
		{"series_iir", []string{`[1, 1, 1]`, `[1]`, `[0]`}, nil},
		{"series_fir", []string{`[1, 2, 3, 4]`, `[1, 1]`, `false`, `true`}, `[1.0,3.0,5.0,7.0]`},
		{"series_outliers", []string{`[null, 1, 1, 1]`}, `[0.0,0.0,0.0,0.0]`},
		{"series_dot_product", []string{`[]`, `[]`}, nil},
		{"series_sum", []string{`[1, "a", 2.5]`}, 3.5},
	}
	for _, c := range cases {
		if got := seriesCall(t, c.name, c.args...); got != c.want {
			t.Errorf("%s(%s) = %v, want %v", c.name, strings.Join(c.args, ", "), got, c.want)
		}
	}
	if got := seriesCall(t, "series_magnitude", `[3, 4]`); got != 5.0 {
		t.Errorf("series_magnitude = %v", got)
	}
	if _, err := seriesDispatch([]any{"series_outliers", `[1]`, `"nope"`}); err == nil {
		t.Error("series_outliers accepted an unknown kind")
	}
}

// TestDetectPeriod checks the period detection behind series_seasonal on
// the series of series-periods-detect-function.md, whose period is 14
// bins, and on a series without a period.
func TestDetectPeriod(t *testing.T) {
	doc := `[80, 139, 87, 110, 68, 54, 50, 51, 53, 133, 86, 141, 97, 156, 94, 149, 95, 140, 77, 61, 50, 54, 47, 133, 72, 152, 94, 148, 105, 162, 101, 160, 87, 63, 53, 55, 54, 151, 103, 189, 108, 183, 113, 175, 113, 178, 90, 71, 62, 62, 65, 165, 109, 181, 115, 182, 121, 178, 114, 170]`
	v, _ := decodeSeriesJSON(doc)
	s, _ := seriesArg([]any{v}, 0)
	if p := detectPeriod(s, 0.7); p != 14 {
		t.Errorf("detectPeriod = %d, want 14", p)
	}
	v, _ = decodeSeriesJSON(`[1, 5, 2, 8, 3, 3, 9, 1, 4, 7, 2, 6]`)
	s, _ = seriesArg([]any{v}, 0)
	if p := detectPeriod(s, 0.7); p != 0 {
		t.Errorf("detectPeriod of noise = %d, want 0", p)
	}
}

// TestSeriesTuple checks the columns seriesTuple gives for
// series_fit_line and series_stats, running their SQL.
func TestSeriesTuple(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := RegisterFunctions(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	tr := &translator{eng: NewEngine(db, nil, Options{})}
	sc := &scope{env: (&env{}).child(), r: &rel{cols: []col{{name: "y", typ: tyDynamic, id: "c1"}}}}
	src := `SELECT CAST('[2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30]' AS JSON) AS "c1"`

	names, cols, ok := tr.seriesTuple(sc, &Call{Name: "series_fit_line", Args: []Expr{&Ident{Name: "y"}}})
	if !ok || len(names) != 6 || names[0] != "series_fit_line_y_rsquare" || names[5] != "series_fit_line_y_line_fit" {
		t.Fatalf("series_fit_line columns: %v", names)
	}
	var rsquare, slope float64
	var line string
	if err := db.QueryRow("SELECT "+cols[0].sql+", "+cols[1].sql+", CAST("+cols[5].sql+" AS VARCHAR) FROM ("+src+")").Scan(&rsquare, &slope, &line); err != nil {
		t.Fatal(err)
	}
	// series-fit-line-function.md: 0.982, 2.730
	if math.Abs(rsquare-0.982900730884447) > 1e-12 || math.Abs(slope-2.7307692307692313) > 1e-12 {
		t.Errorf("rsquare %v, slope %v", rsquare, slope)
	}
	var fit []float64
	if err := json.Unmarshal([]byte(line), &fit); err != nil || len(fit) != 12 || math.Abs(fit[0]-1.0641025641025599) > 1e-12 {
		t.Errorf("line_fit %s (%v)", line, err)
	}

	names, cols, ok = tr.seriesTuple(sc, &Call{Name: "series_stats", Args: []Expr{&Ident{Name: "y"}}})
	if !ok || strings.Join(names, ",") != "series_stats_y_min,series_stats_y_min_idx,series_stats_y_max,series_stats_y_max_idx,series_stats_y_avg,series_stats_y_stdev,series_stats_y_variance" {
		t.Fatalf("series_stats columns: %v", names)
	}
	var minIdx int64
	if err := db.QueryRow("SELECT " + cols[1].sql + " FROM (" + src + ")").Scan(&minIdx); err != nil || minIdx != 0 || cols[1].typ != tyLong {
		t.Errorf("min_idx %d %s (%v)", minIdx, cols[1].typ, err)
	}
	if _, _, ok := tr.seriesTuple(sc, &Call{Name: "series_sum", Args: []Expr{&Ident{Name: "y"}}}); ok {
		t.Error("series_sum is not a tuple function")
	}
}
