package kql

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGraph measures the graph operators on a generated graph of N
// nodes with two edges out of each (x → (7x+1) mod N, x → (13x+5) mod N):
// walks from chosen starts, walks from every node, a fixed two-hop join
// and weak components; build-and-list-edges is the cost of making the
// graph. matches/s counts the rows found.
func BenchmarkGraph(b *testing.B) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng := NewEngine(db, nil, Options{Timeout: 10 * time.Minute})
	const edges = `let N = %d;
range x from 0 to N - 1 step 1
| extend t = pack_array((7 * x + 1) %% N, (13 * x + 5) %% N)
| mv-expand y = t to typeof(long)
| project x, y, w = (x + y) %% 10
| make-graph x --> y with_node_id=id
`
	queries := []struct{ name, q string }{
		{"build-and-list-edges", `| graph-to-table edges | count`},
		{"walks-1..4-from-100-starts", `| graph-match (a)-[e*1..4]->(b) where a.id < 100 project b.id | count`},
		{"walks-1..6-filtered-edges", `| graph-match (a)-[e*1..6]->(b) where a.id < 100 and all(e, w < 8) project b.id | count`},
		{"walks-1..3-from-every-node", `| graph-match (a)-[e*1..3]->(b) project b.id | count`},
		{"fixed-two-hops", `| graph-match (a)-->(b)-->(c) project c.id | count`},
		{"shortest-from-10-starts", `| graph-shortest-paths (a)-[e*1..8]->(b) where a.id < 10 project b.id | count`},
		{"weak-components", `| graph-mark-components | graph-to-table nodes | summarize dcount(ComponentId)`},
	}
	for _, q := range queries {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d", q.name, n), func(b *testing.B) {
				src := fmt.Sprintf(edges, n) + q.q
				var found int64
				for b.Loop() {
					res, err := eng.Run(context.Background(), src)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 {
						b.Fatalf("unexpected result %+v", res)
					}
					found = res.Tables[0].Rows[0][0].(int64)
				}
				b.ReportMetric(float64(found), "matches")
				b.ReportMetric(float64(found)*float64(b.N)/b.Elapsed().Seconds(), "matches/s")
			})
		}
	}
}
