package kql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGraphWalksAgainstEnumeration compares graph-match with a plain
// enumeration in Go, on random small graphs (self-loops and parallel
// edges included), in every cycles= mode: two fixed edges, and
// variable-length edges in every direction, with and without a condition
// on an end node (which changes where the walks start) or on the edges
// (which prunes them).
func TestGraphWalksAgainstEnumeration(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := NewEngine(db, nil, Options{Timeout: 20 * time.Second})
	rng := rand.New(rand.NewPCG(7, 11))
	for g := range 12 {
		n := 2 + rng.IntN(5)
		var edges [][3]int // src, dst, weight
		for range 1 + rng.IntN(9) {
			edges = append(edges, [3]int{rng.IntN(n), rng.IntN(n), rng.IntN(3)})
		}
		var rows []string
		for i, e := range edges {
			rows = append(rows, fmt.Sprintf("%d, %d, %d, %d", i, e[0], e[1], e[2]))
		}
		table := "datatable(eid:long, s:long, d:long, w:long)[" + strings.Join(rows, ", ") + "]\n| make-graph s --> d with_node_id=id\n"
		for _, dir := range []string{"->", "<-", "--"} {
			for _, cycles := range []string{"unique_edges", "none", "all"} {
				// two fixed edges, the second of either direction
				q := table + "| graph-match cycles=" + cycles + " (a)-[x]->(b)-[y]-(c) project a.id, b.id, c.id, x.eid, y.eid"
				want := []string{}
				for i, x := range edges {
					for j, y := range edges {
						var cs []int // y leaves b forward, or enters b (a self-loop once)
						if y[0] == x[1] {
							cs = append(cs, y[1])
						}
						if y[1] == x[1] && y[0] != y[1] {
							cs = append(cs, y[0])
						}
						for _, c := range cs {
							ok := cycles == "all" || cycles == "unique_edges" && i != j ||
								cycles == "none" && x[0] != x[1] && x[0] != c && x[1] != c
							if ok {
								want = append(want, fmt.Sprintf("%d %d %d %d %d", x[0], x[1], c, i, j))
							}
						}
					}
				}
				res, err := eng.Run(context.Background(), q)
				if err != nil {
					t.Fatalf("graph %d: %v\n%s", g, err, q)
				}
				got := []string{}
				for _, r := range res.Tables[0].Rows {
					got = append(got, fmt.Sprintf("%d %d %d %d %d", r[0], r[1], r[2], r[3], r[4]))
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("graph %d, edges %v:\n%s\ngot  %q\nwant %q", g, edges, q, got, want)
				}

				lo, hi := rng.IntN(2), 1+rng.IntN(3)
				start := rng.IntN(n)
				for _, cond := range []string{"", "a", "b", "w"} {
					pattern := "(a)-[e*%d..%d]->(b)"
					switch dir {
					case "<-":
						pattern = "(a)<-[e*%d..%d]-(b)"
					case "--":
						pattern = "(a)-[e*%d..%d]-(b)"
					}
					q := table + fmt.Sprintf("| graph-match cycles=%s "+pattern, cycles, lo, hi)
					keep := func(a, b int, path []int) bool { return true }
					switch cond {
					case "a":
						q += fmt.Sprintf(" where a.id == %d", start)
						keep = func(a, b int, path []int) bool { return a == start }
					case "b":
						q += fmt.Sprintf(" where b.id == %d", start)
						keep = func(a, b int, path []int) bool { return b == start }
					case "w":
						q += " where all(e, w > 0)"
						keep = func(a, b int, path []int) bool {
							for _, i := range path {
								if edges[i][2] == 0 {
									return false
								}
							}
							return true
						}
					}
					q += " project a.id, b.id, p = map(e, eid)"
					want := enumerateWalks(n, edges, dir, cycles, lo, hi, keep)
					res, err := eng.Run(context.Background(), q)
					if err != nil {
						t.Fatalf("graph %d: %v\n%s", g, err, q)
					}
					var got []string
					for _, r := range res.Tables[0].Rows {
						var p []int
						if err := json.Unmarshal([]byte(JSONValue(r[2])), &p); err != nil {
							t.Fatalf("path %v: %v", r[2], err)
						}
						got = append(got, walkKey(int(r[0].(int64)), int(r[1].(int64)), p))
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("graph %d, edges %v:\n%s\ngot  %q\nwant %q", g, edges, q, got, want)
					}
				}
			}
		}
	}
}

// enumerateWalks lists the matches of (a)-[e*lo..hi]-(b) in direction dir
// under a cycles mode, as sorted keys.
func enumerateWalks(n int, edges [][3]int, dir, cycles string, lo, hi int, keep func(a, b int, path []int) bool) []string {
	out := []string{}
	var walk func(a, at int, path, nodes []int)
	walk = func(a, at int, path, nodes []int) {
		// cycles=none: distinct node variables are distinct nodes, so not
		// even zero hops match a node with itself
		if len(path) >= lo && (cycles != "none" || at != a) && keep(a, at, path) {
			out = append(out, walkKey(a, at, path))
		}
		if len(path) == hi {
			return
		}
		for i, e := range edges {
			var next []int
			if (dir == "->" || dir == "--") && e[0] == at {
				next = append(next, e[1])
			}
			if (dir == "<-" || dir == "--") && e[1] == at {
				next = append(next, e[0])
			}
			if dir == "--" && e[0] == at && e[1] == at {
				next = next[:1] // a self-loop is one step either way
			}
			for _, to := range next {
				if cycles == "unique_edges" && slices.Contains(path, i) || cycles == "none" && slices.Contains(nodes, to) {
					continue
				}
				walk(a, to, append(slices.Clone(path), i), append(slices.Clone(nodes), to))
			}
		}
	}
	for a := range n {
		// the graph's nodes are the ends of its edges
		if slices.ContainsFunc(edges, func(e [3]int) bool { return e[0] == a || e[1] == a }) {
			walk(a, a, nil, []int{a})
		}
	}
	slices.Sort(out)
	return out
}

func walkKey(a, b int, path []int) string {
	return fmt.Sprintf("%d>%d:%v", a, b, path)
}
