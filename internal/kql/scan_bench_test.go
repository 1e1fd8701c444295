package kql

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// BenchmarkScan measures scan over N ordered rows of range: fill-forward
// outputs every row, sequence outputs 2% of them (a start and a stop in
// every 100 rows). See docs/BENCHMARKS.md.
func BenchmarkScan(b *testing.B) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng := NewEngine(db, nil, Options{Timeout: 10 * time.Minute})
	queries := map[string]string{
		"fill-forward": `range x from 1 to %d step 1
| extend v = iff(x %% 3 == 0, "", tostring(x))
| scan declare (f:string="") with (step s1: true => f = iff(isempty(v), s1.f, v);)
| count`,
		"sequence": `range x from 1 to %d step 1
| extend e = case(x %% 100 == 0, "start", x %% 100 == 5, "stop", "other")
| scan with_match_id=m with (step s1: e == "start"; step s2: e == "stop" and x - s1.x <= 10;)
| count`,
	}
	for _, name := range []string{"fill-forward", "sequence"} {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				q := fmt.Sprintf(queries[name], n)
				for b.Loop() {
					res, err := eng.Run(context.Background(), q)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 {
						b.Fatalf("unexpected result %+v", res)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
