package kql

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestKustoSetOrder checks the neighbor order model against the orders
// the documentation shows, from the lists in the order they are computed.
func TestKustoSetOrder(t *testing.T) {
	// S2CellId::AppendAllNeighbors order of 89c259's neighbors
	s2 := kustoSetOrder([]string{"89c2f9", "89c251", "89c257", "89c25f", "89c2f7", "89c25b", "89c2f5", "89c25d"})
	if got, want := strings.Join(s2, ","), "89c25d,89c2f9,89c251,89c257,89c25f,89c25b,89c2f7,89c2f5"; got != want {
		t.Errorf("S2 order %s, want %s", got, want)
	}
	// sunny's neighbors row by row from the north-west
	gh := kustoSetOrder([]string{"sunpj", "sunpn", "sunpp", "sunnv", "sunnz", "sunnt", "sunnw", "sunnx"})
	if got, want := strings.Join(gh, ","), "sunnt,sunpj,sunnx,sunpn,sunnv,sunpp,sunnz,sunnw"; got != want {
		t.Errorf("geohash order %s, want %s", got, want)
	}
	if got := kustoSetOrder([]string{"a", "b", "a"}); len(got) != 2 {
		t.Errorf("duplicates kept: %v", got)
	}
}

// TestGeohashNeighborsEdges checks neighbors at a pole and across the
// antimeridian: all distinct, of the same length, touching the cell.
func TestGeohashNeighborsEdges(t *testing.T) {
	for _, gh := range []string{"zzzzz", "bpbpb", "00000", "pbpbp", "b", "z", "u4pruy"} {
		v, err := geoGeohashNeighbors([]any{gh})
		if err != nil || v == nil {
			t.Fatalf("%s: %v %v", gh, v, err)
		}
		var ns []string
		if err := json.Unmarshal([]byte(v.(string)), &ns); err != nil {
			t.Fatal(err)
		}
		if len(ns) < 3 || len(ns) > 8 {
			t.Errorf("%s: %d neighbors %v", gh, len(ns), ns)
		}
		w, s, e, n, _ := geohashDecode(gh)
		seen := map[string]bool{}
		for _, x := range ns {
			if len(x) != len(gh) || x == gh || seen[x] {
				t.Errorf("%s: bad neighbor %q in %v", gh, x, ns)
			}
			seen[x] = true
			w2, s2, e2, n2, ok := geohashDecode(x)
			if !ok {
				t.Fatalf("%s: invalid neighbor %q", gh, x)
			}
			touchLat := s2 <= n && n2 >= s
			touchLng := w2 <= e && e2 >= w || w == -180 && e2 == 180 || e == 180 && w2 == -180
			if !touchLat || !touchLng {
				t.Errorf("%s: neighbor %q does not touch it", gh, x)
			}
		}
	}
}

// FuzzGeohash checks that any string decodes without a panic, that a
// valid geohash's center encodes back to it, and that its neighbors are
// valid geohashes of the same length.
func FuzzGeohash(f *testing.F) {
	for _, s := range []string{"sunny", "dr5ru", "a", "", "xn76m27ty9g4", "zzzzzzzzzzzzzzzzzz", "0000000000000000000", "SUNNY", "sv8wzvy7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, gh string) {
		w, s, e, n, ok := geohashDecode(gh)
		p, _ := geoGeohashToPolygon([]any{gh})
		c, _ := geoGeohashToCentralPoint([]any{gh})
		nb, _ := geoGeohashNeighbors([]any{gh})
		if !ok {
			if p != nil || c != nil || nb != nil {
				t.Fatalf("invalid %q gave %v %v %v", gh, p, c, nb)
			}
			return
		}
		if !(w < e && s < n && w >= -180 && e <= 180 && s >= -90 && n <= 90) {
			t.Fatalf("%q: bad box %v %v %v %v", gh, w, s, e, n)
		}
		if back := geohashEncode((w+e)/2, (s+n)/2, len(gh)); back != strings.ToLower(gh) {
			t.Fatalf("%q: center encodes to %q", gh, back)
		}
		var ns []string
		if err := json.Unmarshal([]byte(nb.(string)), &ns); err != nil {
			t.Fatal(err)
		}
		for _, x := range ns {
			if _, _, _, _, ok := geohashDecode(x); !ok || len(x) != len(gh) {
				t.Fatalf("%q: bad neighbor %q", gh, x)
			}
		}
	})
}

// FuzzGeoCells feeds arbitrary tokens and levels to the S2 and H3
// functions: none may fail or panic, and a valid token's results are
// consistent.
func FuzzGeoCells(f *testing.F) {
	for _, s := range []string{"89c259", "1234567", "a", "862a1072fffffff", "861f8894fffffff", "8001fffffffffff", "1", "X", "", "0x862a1072fffffff", "ffffffffffffffff"} {
		f.Add(s, int64(3), 1.5, 2.5)
	}
	f.Fuzz(func(t *testing.T, tok string, level int64, lng, lat float64) {
		for _, fn := range []func([]any) (any, error){geoS2CellToCentralPoint, geoS2CellNeighbors, geoS2CellToPolygon,
			geoH3CellToCentralPoint, geoH3CellToPolygon, geoH3CellLevel, geoH3CellNeighbors} {
			if _, err := fn([]any{tok}); err != nil {
				t.Fatal(err)
			}
		}
		k := level % 200
		for _, fn := range []func([]any) (any, error){geoH3CellParent, geoH3CellChildren} {
			if _, err := fn([]any{tok, k}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := geoH3CellRings([]any{tok, k % 8}); err != nil {
			t.Fatal(err)
		}
		for _, fn := range []func([]any) (any, error){geoPointToS2Cell, geoPointToH3Cell, geoPointToGeohash} {
			v, err := fn([]any{lng, lat, level})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := v.(string); !ok {
				t.Fatalf("%v: not a string", v)
			}
		}
		if s2tok, _ := geoPointToS2Cell([]any{lng, lat, level}); s2tok != "" {
			if _, ok := geoS2Cell(s2tok.(string)); !ok {
				t.Fatalf("geo_point_to_s2cell gave an invalid token %q", s2tok)
			}
		}
		if h3tok, _ := geoPointToH3Cell([]any{lng, lat, level}); h3tok != "" {
			if lv, _ := geoH3CellLevel([]any{h3tok}); lv != int32(level) {
				t.Fatalf("geo_point_to_h3cell at %d gave %q of level %v", level, h3tok, lv)
			}
		}
	})
}

// FuzzGeoShapes feeds arbitrary JSON to the shape functions: they return
// null for what is not a valid shape and never fail or panic.
func FuzzGeoShapes(f *testing.F) {
	for _, s := range []string{
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[10,10],[10,10],[0,0]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}`,
		`{"type":"LineString","coordinates":[[0,0],[1,1]]}`,
		`{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2],[3,3]]]}`,
		`{"type":"LineString"}`, `null`, `[]`, `{"type":"Polygon","coordinates":[[[0,0],[180,0],[0,0],[0,0]]]}`,
	} {
		f.Add(s, 0.5, 0.5)
	}
	f.Fuzz(func(t *testing.T, shape string, lng, lat float64) {
		for _, fn := range []func([]any) (any, error){geoPointInPolygon, geoDistancePointToPolygon, geoDistancePointToLine} {
			v, err := fn([]any{lng, lat, shape})
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := v.(float64); ok && (math.IsNaN(d) || d < 0) {
				t.Fatalf("distance %v", d)
			}
		}
	})
}

// TestGeoShapeConcurrent calls the polygon functions from several
// goroutines on one cached polygon large enough for S2 to index it, as
// DuckDB does on its threads (run with -race to check the sharing).
func TestGeoShapeConcurrent(t *testing.T) {
	var ring [][]float64
	for i := 0; i < 100; i++ {
		a := 2 * math.Pi * float64(i) / 100
		ring = append(ring, []float64{10 + math.Cos(a), 20 + math.Sin(a)})
	}
	ring = append(ring, ring[0])
	b, _ := json.Marshal(map[string]any{"type": "Polygon", "coordinates": [][][]float64{ring}})
	poly := string(b)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 50; i++ {
				in, e := geoPointInPolygon([]any{10.0 + float64(g%2)*5, 20.0, poly})
				if e != nil || in != (g%2 == 0) {
					err = fmt.Errorf("goroutine %d: in=%v err=%v", g, in, e)
					break
				}
				if _, e := geoDistancePointToPolygon([]any{12.0, 20.0, poly}); e != nil {
					err = e
					break
				}
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
