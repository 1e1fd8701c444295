package kql

import (
	"math"
	"testing"
)

// FuzzWKT checks that geo_from_wkt's parser never panics and that what it
// accepts renders as GeoJSON that reads back as the same geometry.
func FuzzWKT(f *testing.F) {
	for _, s := range []string{
		"POINT (1 2)",
		"LINESTRING (1 2, 3 4)",
		"POLYGON ((0 0, 2 0, 2 2, 0 0))",
		"MULTIPOINT (1 1, 2 2, 3 3)",
		"MULTIPOINT ((1 1), (2 2))",
		"MULTILINESTRING ((1 1, 2 2, 3 3), (4 4, 5 5))",
		"MULTIPOLYGON (((0 0, 2 0, 2 2, 0 0)),((10 10, 12 10, 12 12, 10 10)))",
		"GEOMETRYCOLLECTION (POINT (1 1),LINESTRING (2 2, 3 3, 4 4),POLYGON ((10 10, 12 10, 12 12, 10 10)))",
		"GEOMETRYCOLLECTION (GEOMETRYCOLLECTION (POINT (1e1 -2.5E-1)))",
		"POINT EMPTY", "POINT Z (1 2 3)", "", "(", "POINT (1 2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, ok := shpFromWKT(s)
		if !ok {
			return
		}
		text := shpJSON(g)
		back, ok := shpParseGeoJSON(text)
		if !ok {
			t.Fatalf("%q: the GeoJSON %s does not read back", s, text)
		}
		if again := shpJSON(back); again != text {
			t.Fatalf("%q: %s reads back as %s", s, text, again)
		}
	})
}

// TestShapeFunctionsOnOddInput calls every shape function with odd
// arguments: none may panic or fail; each gives null or a value.
func TestShapeFunctionsOnOddInput(t *testing.T) {
	odd := []any{nil, "", "null", "[]", "{}", `{"type":"Polygon"}`, `{"type":"Polygon","coordinates":[[]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]],[[5,5]]]}`,
		`{"type":"LineString","coordinates":[[0,0],[180,0]]}`,
		`{"type":"LineString","coordinates":[[0,0],[0,0]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[0,0],[1,0],[1,1],[0,0]]]]}`,
		`[{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}]`,
		`[{"type":"LineString","coordinates":[[0,0],[1,0]]},{"type":"LineString","coordinates":[[1,0],[0,0]]}]`,
		int64(3), 0.5, -1.0, math.NaN(), true}
	for _, u := range shapeUDFs() {
		args := make([]any, len(u.Args))
		for _, a := range odd {
			for i := range args {
				args[i] = a
				if _, err := u.Fn(args); err != nil {
					t.Errorf("%s(%v): %v", u.Name, args, err)
				}
			}
		}
	}
}

// TestShapeUnionOfIdenticalPolygons checks that a polygon united with
// itself, or intersected with itself, is the same polygon.
func TestShapeUnionOfIdenticalPolygons(t *testing.T) {
	p := `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}`
	u, _ := shpUnionPolygonsArray([]any{"[" + p + "," + p + "]"})
	if u != p {
		t.Errorf("union: %v", u)
	}
	i, _ := shpIntersection2Polygons([]any{p, p})
	if i != p {
		t.Errorf("intersection: %v", i)
	}
}
