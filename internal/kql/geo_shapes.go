package kql

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/golang/geo/r2"
	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
	h3 "github.com/uber/h3-go/v4"
)

// This file holds the geospatial functions on lines and polygons: their
// measures (length, area, perimeter, centroid), densification and
// simplification, coverings by S2 and H3 cells, intersection tests,
// intersections and unions, and geo_from_wkt. Points, cells and the
// point-to-shape distances are in geo.go.
//
// Kusto's model, which these follow: coordinates are WGS-84 degrees,
// longitude first; the Earth is a sphere of radius 6,371,010 m (the
// documented line lengths reproduce to every digit with it); every edge of
// a line or polygon is the geodesic between its vertices, shorter than 180
// degrees; a polygon ring encloses the smaller of the two regions it
// divides the sphere into. An invalid shape or argument gives null, never
// an error.
//
// The boolean operations (intersections and unions) run on the sphere with
// S2's predicates: the edges of both operands are split at their crossings,
// the pieces on the boundary of the result are kept, and the pieces are
// joined into loops the way S2Builder does it, so that a result starts at
// the vertex Kusto's starts at.

// shpEarthRadius is the radius of Kusto's spherical Earth, in meters.
const shpEarthRadius = 6371010.0

// shpFunc describes a KQL function of this file: its udf and
// the SQL literals of its optional trailing arguments.
type shpFunc struct {
	udf      string
	min, max int
	defaults []string
}

// shpFuncs are the functions of this file: name, udf, argument counts and
// the defaults of the optional arguments (SQL literals of the udf's types).
var shpFuncs = map[string]shpFunc{
	"geo_from_wkt":                       {"kql_geo_from_wkt", 1, 1, nil},
	"geo_line_length":                    {"kql_geo_line_length", 1, 1, nil},
	"geo_line_centroid":                  {"kql_geo_line_centroid", 1, 1, nil},
	"geo_line_densify":                   {"kql_geo_line_densify", 1, 3, []string{"10.0", "FALSE"}},
	"geo_line_simplify":                  {"kql_geo_line_simplify", 1, 2, []string{"10.0"}},
	"geo_line_interpolate_point":         {"kql_geo_line_interpolate_point", 2, 2, nil},
	"geo_line_locate_point":              {"kql_geo_line_locate_point", 3, 3, nil},
	"geo_closest_point_on_line":          {"kql_geo_closest_point_on_line", 3, 3, nil},
	"geo_closest_point_on_polygon":       {"kql_geo_closest_point_on_polygon", 3, 3, nil},
	"geo_polygon_area":                   {"kql_geo_polygon_area", 1, 1, nil},
	"geo_polygon_perimeter":              {"kql_geo_polygon_perimeter", 1, 1, nil},
	"geo_polygon_centroid":               {"kql_geo_polygon_centroid", 1, 1, nil},
	"geo_polygon_densify":                {"kql_geo_polygon_densify", 1, 3, []string{"10.0", "FALSE"}},
	"geo_polygon_simplify":               {"kql_geo_polygon_simplify", 1, 2, []string{"10.0"}},
	"geo_polygon_to_s2cells":             {"kql_geo_polygon_to_s2cells", 1, 3, []string{"11", "0.0"}},
	"geo_polygon_to_h3cells":             {"kql_geo_polygon_to_h3cells", 1, 3, []string{"6", "0.0"}},
	"geo_line_to_s2cells":                {"kql_geo_line_to_s2cells", 1, 3, []string{"11", "0.0"}},
	"geo_intersects_2lines":              {"kql_geo_intersects_2lines", 2, 2, nil},
	"geo_intersects_2polygons":           {"kql_geo_intersects_2polygons", 2, 2, nil},
	"geo_intersects_line_with_polygon":   {"kql_geo_intersects_line_with_polygon", 2, 2, nil},
	"geo_intersection_2lines":            {"kql_geo_intersection_2lines", 2, 2, nil},
	"geo_intersection_2polygons":         {"kql_geo_intersection_2polygons", 2, 2, nil},
	"geo_intersection_line_with_polygon": {"kql_geo_intersection_line_with_polygon", 2, 2, nil},
	"geo_union_lines_array":              {"kql_geo_union_lines_array", 1, 1, nil},
	"geo_union_polygons_array":           {"kql_geo_union_polygons_array", 1, 1, nil},
	"geo_simplify_polygons_array":        {"kql_geo_simplify_polygons_array", 1, 2, []string{"10.0"}},
}

// shapeFunctions are the geospatial functions on lines and polygons, by
// name.
func shapeFunctions() map[string]fnSpec {
	byName := map[string]udf{}
	for _, u := range shapeUDFs() {
		byName[u.Name] = u
	}
	f := map[string]fnSpec{}
	for name, sf := range shpFuncs {
		u, ok := byName[sf.udf]
		if !ok {
			panic("kql: no shape udf " + sf.udf)
		}
		sf, name := sf, name
		f[name] = fnSpec{sf.min, sf.max, func(t *translator, c *Call, a []texpr) texpr {
			if name == "geo_polygon_to_h3cells" && len(a) == 3 && shpPositiveLiteral(a[2]) {
				t.fail(c, "geo_polygon_to_h3cells with a buffer radius is not supported: cdewatch has no spherical buffer operation")
				return texpr{}
			}
			args := append([]texpr(nil), a...)
			for i := len(args); i < len(u.Args); i++ {
				args = append(args, texpr{sql: sf.defaults[i-sf.min], typ: u.Args[i]})
			}
			return t.udfCall(c, args, u)
		}}
	}
	for _, name := range []string{"geo_line_buffer", "geo_polygon_buffer", "geo_point_buffer"} {
		name := name
		f[name] = fnSpec{0, -1, func(t *translator, c *Call, a []texpr) texpr {
			t.fail(c, "%s is not supported: cdewatch has no spherical buffer operation", name)
			return texpr{}
		}}
	}
	return f
}

// shpPositiveLiteral reports whether an argument is a number literal
// greater than zero.
func shpPositiveLiteral(x texpr) bool {
	if x.lit == nil || x.lit.Null || x.lit.Kind != LitLong && x.lit.Kind != LitInt && x.lit.Kind != LitReal {
		return false
	}
	f, err := strconv.ParseFloat(x.lit.Value, 64)
	return err == nil && f > 0
}

// shapeUDFs are the Go implementations shapeFunctions call.
func shapeUDFs() []udf {
	d, r, l, b, s := tyDynamic, tyReal, tyLong, tyBool, tyString
	return []udf{
		{Name: "kql_geo_from_wkt", Args: []string{s}, Result: d, NullArgs: true, Fn: shpFromWKTFn},
		{Name: "kql_geo_line_length", Args: []string{d}, Result: r, NullArgs: true, Fn: shpLineLength},
		{Name: "kql_geo_line_centroid", Args: []string{d}, Result: d, NullArgs: true, Fn: shpLineCentroid},
		{Name: "kql_geo_line_densify", Args: []string{d, r, b}, Result: d, NullArgs: true, Fn: shpLineDensify},
		{Name: "kql_geo_line_simplify", Args: []string{d, r}, Result: d, NullArgs: true, Fn: shpLineSimplify},
		{Name: "kql_geo_line_interpolate_point", Args: []string{d, r}, Result: d, NullArgs: true, Fn: shpLineInterpolate},
		{Name: "kql_geo_line_locate_point", Args: []string{d, r, r}, Result: r, NullArgs: true, Fn: shpLineLocate},
		{Name: "kql_geo_closest_point_on_line", Args: []string{r, r, d}, Result: d, NullArgs: true, Fn: shpClosestOnLine},
		{Name: "kql_geo_closest_point_on_polygon", Args: []string{r, r, d}, Result: d, NullArgs: true, Fn: shpClosestOnPolygon},
		{Name: "kql_geo_polygon_area", Args: []string{d}, Result: r, NullArgs: true, Fn: shpPolygonArea},
		{Name: "kql_geo_polygon_perimeter", Args: []string{d}, Result: r, NullArgs: true, Fn: shpPolygonPerimeter},
		{Name: "kql_geo_polygon_centroid", Args: []string{d}, Result: d, NullArgs: true, Fn: shpPolygonCentroid},
		{Name: "kql_geo_polygon_densify", Args: []string{d, r, b}, Result: d, NullArgs: true, Fn: shpPolygonDensify},
		{Name: "kql_geo_polygon_simplify", Args: []string{d, r}, Result: d, NullArgs: true, Fn: shpPolygonSimplify},
		{Name: "kql_geo_polygon_to_s2cells", Args: []string{d, l, r}, Result: d, NullArgs: true, Fn: shpPolygonToS2Cells},
		{Name: "kql_geo_polygon_to_h3cells", Args: []string{d, l, r}, Result: d, NullArgs: true, Fn: shpPolygonToH3Cells},
		{Name: "kql_geo_line_to_s2cells", Args: []string{d, l, r}, Result: d, NullArgs: true, Fn: shpLineToS2Cells},
		{Name: "kql_geo_intersects_2lines", Args: []string{d, d}, Result: b, NullArgs: true, Fn: shpIntersects2Lines},
		{Name: "kql_geo_intersects_2polygons", Args: []string{d, d}, Result: b, NullArgs: true, Fn: shpIntersects2Polygons},
		{Name: "kql_geo_intersects_line_with_polygon", Args: []string{d, d}, Result: b, NullArgs: true, Fn: shpIntersectsLinePolygon},
		{Name: "kql_geo_intersection_2lines", Args: []string{d, d}, Result: d, NullArgs: true, Fn: shpIntersection2Lines},
		{Name: "kql_geo_intersection_2polygons", Args: []string{d, d}, Result: d, NullArgs: true, Fn: shpIntersection2Polygons},
		{Name: "kql_geo_intersection_line_with_polygon", Args: []string{d, d}, Result: d, NullArgs: true, Fn: shpIntersectionLinePolygon},
		{Name: "kql_geo_union_lines_array", Args: []string{d}, Result: d, NullArgs: true, Fn: shpUnionLinesArray},
		{Name: "kql_geo_union_polygons_array", Args: []string{d}, Result: d, NullArgs: true, Fn: shpUnionPolygonsArray},
		{Name: "kql_geo_simplify_polygons_array", Args: []string{d, r}, Result: d, NullArgs: true, Fn: shpSimplifyPolygonsArray},
	}
}

// ---- arguments

// shpReal reads a numeric udf argument; ok is false for null and for NaN
// or an infinity.
func shpReal(v any) (float64, bool) {
	f, ok := udfFloat(v)
	return f, ok && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// shpBool reads a BOOLEAN udf argument.
func shpBool(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

// shpArgPoint reads a longitude and a latitude argument as a valid
// coordinate.
func shpArgPoint(lngArg, latArg any) (shpVertex, bool) {
	lng, ok1 := shpReal(lngArg)
	lat, ok2 := shpReal(latArg)
	if !ok1 || !ok2 || !shpValidLL(lng, lat) {
		return shpVertex{}, false
	}
	return shpNewVertex(lng, lat), true
}

// ---- vertices

// shpVertex is a vertex: the degrees it was given as (or computed from)
// and its point on the unit sphere.
type shpVertex struct {
	lng, lat float64
	p        s2.Point
}

// shpNewVertex makes the vertex of a coordinate.
func shpNewVertex(lng, lat float64) shpVertex {
	return shpVertex{lng, lat, s2.PointFromLatLng(s2.LatLngFromDegrees(lat, lng))}
}

// shpVertexOf makes the vertex of a point on the sphere.
func shpVertexOf(p s2.Point) shpVertex {
	ll := s2.LatLngFromPoint(p)
	return shpVertex{ll.Lng.Degrees(), ll.Lat.Degrees(), p}
}

// shpValidLL reports whether a coordinate is in range.
func shpValidLL(lng, lat float64) bool {
	return lng >= -180 && lng <= 180 && lat >= -90 && lat <= 90 &&
		!math.IsNaN(lng) && !math.IsNaN(lat)
}

// shpAntipodal reports whether two points are (nearly) antipodal: the
// edge between them is undefined.
func shpAntipodal(a, b s2.Point) bool {
	return a.ApproxEqual(s2.Point{Vector: b.Mul(-1)})
}

// ---- GeoJSON

// shpGeom is a GeoJSON geometry as given: its type and positions (rings
// keep their closing position).
type shpGeom struct {
	kind  string
	pts   []shpVertex     // Point (one), MultiPoint, LineString
	lines [][]shpVertex   // MultiLineString
	polys [][][]shpVertex // Polygon (one), MultiPolygon
	geoms []shpGeom       // GeometryCollection
}

// shpJSONGeom is the part of a GeoJSON object these functions read.
type shpJSONGeom struct {
	Type        string            `json:"type"`
	Coordinates json.RawMessage   `json:"coordinates"`
	Geometries  []json.RawMessage `json:"geometries"`
}

// shpPositions converts GeoJSON positions; ok is false when one is not
// two numbers or not a valid coordinate.
func shpPositions(raw [][]float64) ([]shpVertex, bool) {
	out := make([]shpVertex, len(raw))
	for i, p := range raw {
		if len(p) != 2 || !shpValidLL(p[0], p[1]) {
			return nil, false
		}
		out[i] = shpNewVertex(p[0], p[1])
	}
	return out, true
}

// shpParseGeoJSON reads a GeoJSON geometry of any type; ok is false when it
// is not one or its positions are invalid. Structural validity (ring
// closure, edge lengths) is checked by the readers of lines and polygons.
func shpParseGeoJSON(text string) (shpGeom, bool) {
	var j shpJSONGeom
	if json.Unmarshal([]byte(text), &j) != nil {
		return shpGeom{}, false
	}
	g := shpGeom{kind: j.Type}
	var ok bool
	switch j.Type {
	case "Point":
		var p []float64
		if json.Unmarshal(j.Coordinates, &p) != nil {
			return g, false
		}
		g.pts, ok = shpPositions([][]float64{p})
	case "MultiPoint", "LineString":
		var ps [][]float64
		if json.Unmarshal(j.Coordinates, &ps) != nil {
			return g, false
		}
		g.pts, ok = shpPositions(ps)
	case "MultiLineString":
		var ls [][][]float64
		if json.Unmarshal(j.Coordinates, &ls) != nil {
			return g, false
		}
		ok = true
		for _, l := range ls {
			vs, okL := shpPositions(l)
			ok = ok && okL
			g.lines = append(g.lines, vs)
		}
	case "Polygon", "MultiPolygon":
		var polys [][][][]float64
		if j.Type == "Polygon" {
			var one [][][]float64
			if json.Unmarshal(j.Coordinates, &one) != nil {
				return g, false
			}
			polys = [][][][]float64{one}
		} else if json.Unmarshal(j.Coordinates, &polys) != nil {
			return g, false
		}
		ok = true
		for _, poly := range polys {
			var rings [][]shpVertex
			for _, r := range poly {
				vs, okR := shpPositions(r)
				ok = ok && okR
				rings = append(rings, vs)
			}
			g.polys = append(g.polys, rings)
		}
	case "GeometryCollection":
		ok = true
		for _, raw := range j.Geometries {
			sub, okG := shpParseGeoJSON(string(raw))
			ok = ok && okG
			g.geoms = append(g.geoms, sub)
		}
	}
	return g, ok
}

// shpNum appends a coordinate in the shortest form that reads back the
// same, without an exponent.
func shpNum(b *strings.Builder, v float64) {
	if v == 0 {
		v = 0 // no -0
	}
	b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
}

// shpWritePos appends a position [lng,lat].
func shpWritePos(b *strings.Builder, v shpVertex) {
	b.WriteByte('[')
	shpNum(b, v.lng)
	b.WriteByte(',')
	shpNum(b, v.lat)
	b.WriteByte(']')
}

// shpWritePositions appends an array of positions.
func shpWritePositions(b *strings.Builder, vs []shpVertex) {
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		shpWritePos(b, v)
	}
	b.WriteByte(']')
}

// shpWriteRings appends an array of rings (or lines).
func shpWriteRings(b *strings.Builder, rings [][]shpVertex) {
	b.WriteByte('[')
	for i, r := range rings {
		if i > 0 {
			b.WriteByte(',')
		}
		shpWritePositions(b, r)
	}
	b.WriteByte(']')
}

// shpWriteGeom appends a geometry as compact GeoJSON.
func shpWriteGeom(b *strings.Builder, g shpGeom) {
	b.WriteString(`{"type":"` + g.kind + `",`)
	switch g.kind {
	case "Point":
		b.WriteString(`"coordinates":`)
		shpWritePos(b, g.pts[0])
	case "MultiPoint", "LineString":
		b.WriteString(`"coordinates":`)
		shpWritePositions(b, g.pts)
	case "MultiLineString":
		b.WriteString(`"coordinates":`)
		shpWriteRings(b, g.lines)
	case "Polygon":
		b.WriteString(`"coordinates":`)
		shpWriteRings(b, g.polys[0])
	case "MultiPolygon":
		b.WriteString(`"coordinates":[`)
		for i, p := range g.polys {
			if i > 0 {
				b.WriteByte(',')
			}
			shpWriteRings(b, p)
		}
		b.WriteByte(']')
	case "GeometryCollection":
		b.WriteString(`"geometries":[`)
		for i, sub := range g.geoms {
			if i > 0 {
				b.WriteByte(',')
			}
			shpWriteGeom(b, sub)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
}

// shpJSON renders a geometry as GeoJSON text.
func shpJSON(g shpGeom) string {
	var b strings.Builder
	shpWriteGeom(&b, g)
	return b.String()
}

// shpPointJSON renders a point.
func shpPointJSON(v shpVertex) string {
	return shpJSON(shpGeom{kind: "Point", pts: []shpVertex{v}})
}

// ---- lines

// shpLine is one line of a LineString or MultiLineString.
type shpLine []shpVertex

// shpLinesOf validates the lines of a LineString or MultiLineString
// geometry: each has two or more positions and no edge joins antipodal
// points; a MultiLineString has at least one line.
func shpLinesOf(g shpGeom) ([]shpLine, bool) {
	var raw [][]shpVertex
	switch g.kind {
	case "LineString":
		raw = [][]shpVertex{g.pts}
	case "MultiLineString":
		raw = g.lines
	default:
		return nil, false
	}
	if len(raw) == 0 {
		return nil, false
	}
	out := make([]shpLine, 0, len(raw))
	for _, l := range raw {
		if len(l) < 2 {
			return nil, false
		}
		for i := 1; i < len(l); i++ {
			if shpAntipodal(l[i-1].p, l[i].p) {
				return nil, false
			}
		}
		out = append(out, shpLine(l))
	}
	return out, true
}

// shpParseLines reads a LineString or MultiLineString argument.
func shpParseLines(v any) ([]shpLine, bool) {
	text, ok := udfString(v)
	if !ok {
		return nil, false
	}
	g, ok := shpParseGeoJSON(text)
	if !ok {
		return nil, false
	}
	return shpLinesOf(g)
}

// shpParseOneLine reads a LineString argument.
func shpParseOneLine(v any) (shpLine, bool) {
	lines, ok := shpParseLines(v)
	if !ok || len(lines) != 1 {
		return nil, false
	}
	return lines[0], true
}

// points are the unit-sphere points of a line.
func (l shpLine) points() []s2.Point {
	out := make([]s2.Point, len(l))
	for i, v := range l {
		out[i] = v.p
	}
	return out
}

// length is the length of a line in radians.
func (l shpLine) length() float64 {
	sum := 0.0
	for i := 1; i < len(l); i++ {
		sum += l[i-1].p.Distance(l[i].p).Radians()
	}
	return sum
}

// shpLinesJSON renders lines as a LineString (one) or MultiLineString.
func shpLinesJSON(lines []shpLine) string {
	if len(lines) == 1 {
		return shpJSON(shpGeom{kind: "LineString", pts: lines[0]})
	}
	g := shpGeom{kind: "MultiLineString"}
	for _, l := range lines {
		g.lines = append(g.lines, l)
	}
	return shpJSON(g)
}

// shpLineLength is geo_line_length(line): meters.
func shpLineLength(args []any) (any, error) {
	lines, ok := shpParseLines(args[0])
	if !ok {
		return nil, nil
	}
	sum := 0.0
	for _, l := range lines {
		sum += l.length()
	}
	return sum * shpEarthRadius, nil
}

// shpLineCentroid is geo_line_centroid(line): the length-weighted centroid
// of the edges (S2's polyline centroid).
func shpLineCentroid(args []any) (any, error) {
	lines, ok := shpParseLines(args[0])
	if !ok {
		return nil, nil
	}
	var c s2.Point
	for _, l := range lines {
		for i := 1; i < len(l); i++ {
			c.Vector = c.Add(s2.EdgeTrueCentroid(l[i-1].p, l[i].p).Vector)
		}
	}
	if c.Norm() == 0 {
		return nil, nil
	}
	return shpPointJSON(shpVertexOf(s2.Point{Vector: c.Normalize()})), nil
}

// shpLineInterpolate is geo_line_interpolate_point(line, fraction).
func shpLineInterpolate(args []any) (any, error) {
	l, ok := shpParseOneLine(args[0])
	f, okF := shpReal(args[1])
	if !ok || !okF || f < 0 || f > 1 || l.length() == 0 {
		return nil, nil
	}
	pl := s2.Polyline(l.points())
	p, _ := pl.Interpolate(f)
	switch {
	case f == 0:
		return shpPointJSON(l[0]), nil
	case f == 1:
		return shpPointJSON(l[len(l)-1]), nil
	}
	return shpPointJSON(shpVertexOf(p)), nil
}

// shpLineLocate is geo_line_locate_point(line, lng, lat): the fraction of
// the line's length at which its point closest to the coordinate lies.
func shpLineLocate(args []any) (any, error) {
	l, ok := shpParseOneLine(args[0])
	v, okP := shpArgPoint(args[1], args[2])
	if !ok || !okP || l.length() == 0 {
		return nil, nil
	}
	pl := s2.Polyline(l.points())
	p, next := pl.Project(v.p)
	return pl.Uninterpolate(p, next), nil
}

// shpClosestOnLine is geo_closest_point_on_line(lng, lat, line).
func shpClosestOnLine(args []any) (any, error) {
	v, okP := shpArgPoint(args[0], args[1])
	lines, ok := shpParseLines(args[2])
	if !ok || !okP {
		return nil, nil
	}
	best, bestD := shpVertex{}, math.Inf(1)
	for _, l := range lines {
		if c, d := shpClosestOnChain(v.p, l, false); d < bestD {
			best, bestD = c, d
		}
	}
	return shpPointJSON(best), nil
}

// shpClosestOnChain is the point of a chain of edges (closed when loop is
// set) nearest to p, and its distance in radians. A vertex keeps its given
// degrees.
func shpClosestOnChain(p s2.Point, vs []shpVertex, loop bool) (shpVertex, float64) {
	best, bestD := vs[0], p.Distance(vs[0].p).Radians()
	n := len(vs) - 1
	if loop {
		n = len(vs)
	}
	for i := 0; i < n; i++ {
		a, b := vs[i], vs[(i+1)%len(vs)]
		q := s2.Project(p, a.p, b.p)
		d := p.Distance(q).Radians()
		if d < bestD {
			switch q {
			case a.p:
				best = a
			case b.p:
				best = b
			default:
				best = shpVertexOf(q)
			}
			bestD = d
		}
	}
	return best, bestD
}

// shpClosestOnPolygon is geo_closest_point_on_polygon(lng, lat, polygon):
// the coordinate itself when a polygon holds it.
func shpClosestOnPolygon(args []any) (any, error) {
	v, okP := shpArgPoint(args[0], args[1])
	polys, ok := shpParsePolygons(args[2])
	if !ok || !okP {
		return nil, nil
	}
	if shpPolysContain(polys, v.p) {
		return shpPointJSON(v), nil
	}
	best, bestD := shpVertex{}, math.Inf(1)
	for _, poly := range polys {
		for _, r := range poly {
			if c, d := shpClosestOnChain(v.p, r.vs, true); d < bestD {
				best, bestD = c, d
			}
		}
	}
	return shpPointJSON(best), nil
}

// ---- polygons

// shpRing is a linear ring without its closing position, in the order
// given; ccw tells whether that order has the ring's smaller region on its
// left.
type shpRing struct {
	vs  []shpVertex
	ccw bool
}

// shpPolygon is a shell ring and its hole rings.
type shpPolygon []shpRing

// shpRingOf validates a GeoJSON linear ring: four or more positions, the
// last equal to the first, the others distinct, no antipodal edge.
func shpRingOf(raw []shpVertex) (shpRing, bool) {
	if len(raw) < 4 {
		return shpRing{}, false
	}
	first, last := raw[0], raw[len(raw)-1]
	if first.lng != last.lng || first.lat != last.lat {
		return shpRing{}, false
	}
	vs := raw[:len(raw)-1]
	seen := make(map[s2.Point]bool, len(vs))
	for i, v := range vs {
		if seen[v.p] || shpAntipodal(v.p, vs[(i+1)%len(vs)].p) {
			return shpRing{}, false
		}
		seen[v.p] = true
	}
	pts := make([]s2.Point, len(vs))
	for i, v := range vs {
		pts[i] = v.p
	}
	l := s2.LoopFromPoints(pts)
	return shpRing{vs: append([]shpVertex(nil), vs...), ccw: l.IsNormalized()}, true
}

// loop is the ring as an S2 loop around its smaller region.
func (r shpRing) loop() *s2.Loop {
	return s2.LoopFromPoints(r.oriented(true))
}

// oriented is the ring's points with the smaller region on the left
// (small) or on the right.
func (r shpRing) oriented(small bool) []s2.Point {
	pts := make([]s2.Point, len(r.vs))
	for i, v := range r.vs {
		pts[i] = v.p
	}
	if r.ccw != small {
		shpReversePoints(pts)
	}
	return pts
}

// shpReversePoints reverses a slice of points in place.
func shpReversePoints(p []s2.Point) {
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
}

// shpPolygonsOf validates the polygons of a Polygon or MultiPolygon
// geometry: each has a shell, its rings are valid and do not cross.
func shpPolygonsOf(g shpGeom) ([]shpPolygon, bool) {
	if g.kind != "Polygon" && g.kind != "MultiPolygon" || len(g.polys) == 0 {
		return nil, false
	}
	out := make([]shpPolygon, 0, len(g.polys))
	for _, raw := range g.polys {
		if len(raw) == 0 {
			return nil, false
		}
		poly := make(shpPolygon, 0, len(raw))
		for _, rr := range raw {
			r, ok := shpRingOf(rr)
			if !ok {
				return nil, false
			}
			poly = append(poly, r)
		}
		if shpRingsCross(poly) {
			return nil, false
		}
		out = append(out, poly)
	}
	return out, true
}

// shpPolyCache keeps parsed polygons by their JSON text (nil for an
// invalid one): a query usually passes the same polygon on every row, and
// validating a large one is costly. Parsed polygons are never modified.
var shpPolyCache = struct {
	sync.Mutex
	m map[string][]shpPolygon
}{m: map[string][]shpPolygon{}}

// shpPolyCacheMax bounds the polygons kept.
const shpPolyCacheMax = 256

// shpParsePolygons reads a Polygon or MultiPolygon argument.
func shpParsePolygons(v any) ([]shpPolygon, bool) {
	text, ok := udfString(v)
	if !ok {
		return nil, false
	}
	shpPolyCache.Lock()
	polys, hit := shpPolyCache.m[text]
	shpPolyCache.Unlock()
	if hit {
		return polys, polys != nil
	}
	if g, ok := shpParseGeoJSON(text); ok {
		polys, _ = shpPolygonsOf(g)
	}
	shpPolyCache.Lock()
	if len(shpPolyCache.m) >= shpPolyCacheMax {
		shpPolyCache.m = map[string][]shpPolygon{}
	}
	shpPolyCache.m[text] = polys
	shpPolyCache.Unlock()
	return polys, polys != nil
}

// shpCrossCheckMax bounds the edges of a polygon checked pairwise for
// crossing rings; larger polygons are taken as valid.
const shpCrossCheckMax = 4000

// shpRingsCross reports whether two edges of a polygon's rings cross at a
// point interior to both (rings may share vertices).
func shpRingsCross(poly shpPolygon) bool {
	type edge struct {
		a, b      s2.Point
		ring, pos int
	}
	var edges []edge
	for ri, r := range poly {
		n := len(r.vs)
		for i := 0; i < n; i++ {
			edges = append(edges, edge{r.vs[i].p, r.vs[(i+1)%n].p, ri, i})
		}
	}
	if len(edges) > shpCrossCheckMax {
		return false
	}
	for i := range edges {
		for j := i + 1; j < len(edges); j++ {
			e, f := edges[i], edges[j]
			if e.ring == f.ring {
				n := len(poly[e.ring].vs)
				if f.pos == e.pos+1 || e.pos == 0 && f.pos == n-1 {
					continue
				}
			}
			if s2.CrossingSign(e.a, e.b, f.a, f.b) == s2.Cross {
				return true
			}
		}
	}
	return false
}

// shpPolyContains reports whether a polygon holds p: inside its shell and
// outside its holes.
func shpPolyContains(poly shpPolygon, p s2.Point) bool {
	if !poly[0].loop().ContainsPoint(p) {
		return false
	}
	for _, h := range poly[1:] {
		if h.loop().ContainsPoint(p) {
			return false
		}
	}
	return true
}

// shpPolysContain reports whether any of the polygons holds p.
func shpPolysContain(polys []shpPolygon, p s2.Point) bool {
	for _, poly := range polys {
		if shpPolyContains(poly, p) {
			return true
		}
	}
	return false
}

// area is a polygon's area in steradians.
func (poly shpPolygon) area() float64 {
	a := poly[0].loop().Area()
	for _, h := range poly[1:] {
		a -= h.loop().Area()
	}
	return a
}

// perimeter is the length of a polygon's rings in radians.
func (poly shpPolygon) perimeter() float64 {
	sum := 0.0
	for _, r := range poly {
		n := len(r.vs)
		for i := 0; i < n; i++ {
			sum += r.vs[i].p.Distance(r.vs[(i+1)%n].p).Radians()
		}
	}
	return sum
}

// centroid is a polygon's area-weighted centroid, not normalized.
func (poly shpPolygon) centroid() s2.Point {
	c := poly[0].loop().Centroid().Vector
	for _, h := range poly[1:] {
		c = c.Sub(h.loop().Centroid().Vector)
	}
	return s2.Point{Vector: c}
}

// geoJSON is the polygon's coordinates as GeoJSON rings, each closed.
func (poly shpPolygon) geoJSON() [][]shpVertex {
	out := make([][]shpVertex, len(poly))
	for i, r := range poly {
		out[i] = append(append([]shpVertex(nil), r.vs...), r.vs[0])
	}
	return out
}

// shpPolygonsJSON renders polygons as a Polygon (one) or MultiPolygon.
func shpPolygonsJSON(polys []shpPolygon) string {
	g := shpGeom{kind: "Polygon"}
	if len(polys) != 1 {
		g.kind = "MultiPolygon"
	}
	for _, p := range polys {
		g.polys = append(g.polys, p.geoJSON())
	}
	return shpJSON(g)
}

// shpRegion is the region of several polygons: their union when there are
// more than one, since they may overlap.
func shpRegion(polys []shpPolygon) []shpPolygon {
	if len(polys) < 2 {
		return polys
	}
	items := make([][]shpPolygon, len(polys))
	for i, p := range polys {
		items[i] = []shpPolygon{p}
	}
	u, ok := shpUnionItems(items)
	if !ok {
		return polys
	}
	return u
}

// shpPolygonArea is geo_polygon_area(polygon): square meters of the union
// of its polygons.
func shpPolygonArea(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	if !ok {
		return nil, nil
	}
	sum := 0.0
	for _, p := range shpRegion(polys) {
		sum += p.area()
	}
	return sum * shpEarthRadius * shpEarthRadius, nil
}

// shpPolygonPerimeter is geo_polygon_perimeter(polygon): meters around the
// union of its polygons.
func shpPolygonPerimeter(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	if !ok {
		return nil, nil
	}
	sum := 0.0
	for _, p := range shpRegion(polys) {
		sum += p.perimeter()
	}
	return sum * shpEarthRadius, nil
}

// shpPolygonCentroid is geo_polygon_centroid(polygon): the area-weighted
// centroid of the union of its polygons.
func shpPolygonCentroid(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	if !ok {
		return nil, nil
	}
	var c s2.Point
	for _, p := range shpRegion(polys) {
		c.Vector = c.Add(p.centroid().Vector)
	}
	if c.Norm() == 0 {
		return nil, nil
	}
	return shpPointJSON(shpVertexOf(s2.Point{Vector: c.Normalize()})), nil
}

// ---- densify

// shpTessScale and shpTessFraction are S2's EdgeTessellator constants: the
// error of a planar edge against a geodesic is measured at two points at
// this fraction from either end, and the tolerance scaled by this factor.
const (
	shpTessFraction = 0.31215691082248312
	shpTessScale    = 0.83829992569888509
)

// shpDensifyEdge appends to out the vertices after a of the planar edge
// a-b (in degrees) cut into geodesic edges that stay within tol radians of
// it, as S2's EdgeTessellator does: the edge is halved until the error
// estimate is within the tolerance. The new vertices are on the planar
// edge. budget bounds the vertices added; ok is false when it runs out.
func shpDensifyEdge(a, b shpVertex, tol s1.ChordAngle, out []shpVertex, budget *int) ([]shpVertex, bool) {
	if shpTessError(a, b) <= tol {
		return append(out, b), true
	}
	*budget--
	if *budget < 0 {
		return out, false
	}
	mid := shpNewVertex(a.lng+0.5*(b.lng-a.lng), a.lat+0.5*(b.lat-a.lat))
	out, ok := shpDensifyEdge(a, mid, tol, out, budget)
	if !ok {
		return out, false
	}
	return shpDensifyEdge(mid, b, tol, out, budget)
}

// shpTessError estimates the distance between the planar edge a-b and the
// geodesic between the same points (S2's cubic method); edges longer than
// 90 degrees have an infinite error.
func shpTessError(a, b shpVertex) s1.ChordAngle {
	if a.p.Dot(b.p.Vector) < -1e-14 {
		return s1.InfChordAngle()
	}
	t1, t2 := shpTessFraction, 1-shpTessFraction
	g1, g2 := s2.Interpolate(t1, a.p, b.p), s2.Interpolate(t2, a.p, b.p)
	p1 := shpPlanarPoint(a, b, t1)
	p2 := shpPlanarPoint(a, b, t2)
	return max(s2.ChordAngleBetweenPoints(g1, p1), s2.ChordAngleBetweenPoints(g2, p2))
}

// shpPlanarPoint is the point at fraction t of the planar edge a-b.
func shpPlanarPoint(a, b shpVertex, t float64) s2.Point {
	pa, pb := r2.Point{X: a.lng, Y: a.lat}, r2.Point{X: b.lng, Y: b.lat}
	q := pa.Mul(1 - t).Add(pb.Mul(t))
	return s2.PointFromLatLng(s2.LatLngFromDegrees(q.Y, q.X))
}

// shpDensifyMax is the most vertices a densified shape may have (Kusto's
// documented limit).
const shpDensifyMax = 10485760

// shpDensifyTolerance reads the tolerance of the densify functions:
// meters in [0.1, 10000].
func shpDensifyTolerance(v any) (s1.ChordAngle, bool) {
	t, ok := shpReal(v)
	if !ok || t < 0.1 || t > 10000 {
		return 0, false
	}
	return s1.ChordAngleFromAngle(s1.Angle(t/shpEarthRadius) * shpTessScale), true
}

// shpDensifyChain densifies a chain of planar edges; with wrap, an edge
// whose longitudes are more than 180 degrees apart crosses the
// antimeridian instead of going around the globe.
func shpDensifyChain(vs []shpVertex, tol s1.ChordAngle, wrap bool, budget *int) ([]shpVertex, bool) {
	out := []shpVertex{vs[0]}
	for i := 1; i < len(vs); i++ {
		a, b := vs[i-1], vs[i]
		if wrap && math.Abs(b.lng-a.lng) > 180 {
			bw := b
			if b.lng > a.lng {
				bw.lng -= 360
			} else {
				bw.lng += 360
			}
			start := len(out)
			var ok bool
			if out, ok = shpDensifyEdge(a, bw, tol, out, budget); !ok {
				return nil, false
			}
			for j := start; j < len(out); j++ {
				out[j].lng = shpWrapLng(out[j].lng)
			}
			out[len(out)-1] = b
			continue
		}
		var ok bool
		if out, ok = shpDensifyEdge(a, b, tol, out, budget); !ok {
			return nil, false
		}
	}
	return out, true
}

// shpWrapLng brings a longitude into [-180, 180].
func shpWrapLng(lng float64) float64 {
	for lng > 180 {
		lng -= 360
	}
	for lng < -180 {
		lng += 360
	}
	return lng
}

// shpLineDensify is geo_line_densify(line, tolerance, preserve_crossing).
func shpLineDensify(args []any) (any, error) {
	lines, ok := shpParseLines(args[0])
	tol, okT := shpDensifyTolerance(args[1])
	wrap, okW := shpBool(args[2])
	if !ok || !okT || !okW {
		return nil, nil
	}
	budget := shpDensifyMax
	out := make([]shpLine, len(lines))
	for i, l := range lines {
		d, ok := shpDensifyChain(l, tol, wrap, &budget)
		if !ok {
			return nil, nil
		}
		out[i] = d
	}
	return shpLinesJSON(out), nil
}

// shpPolygonDensify is geo_polygon_densify(polygon, tolerance,
// preserve_crossing).
func shpPolygonDensify(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	tol, okT := shpDensifyTolerance(args[1])
	wrap, okW := shpBool(args[2])
	if !ok || !okT || !okW {
		return nil, nil
	}
	budget := shpDensifyMax
	out := make([]shpPolygon, len(polys))
	for i, poly := range polys {
		for _, r := range poly {
			closed := append(append([]shpVertex(nil), r.vs...), r.vs[0])
			d, ok := shpDensifyChain(closed, tol, wrap, &budget)
			if !ok {
				return nil, nil
			}
			out[i] = append(out[i], shpRing{vs: d[:len(d)-1], ccw: r.ccw})
		}
	}
	return shpPolygonsJSON(out), nil
}

// ---- simplify

// shpSimplifyTolerance reads the tolerance of the simplify functions:
// meters in [0, ~7,800,000] (Kusto's documented range), as radians.
func shpSimplifyTolerance(v any) (float64, bool) {
	t, ok := shpReal(v)
	if !ok || t < 0 || t > 7.8e6 {
		return 0, false
	}
	return t / shpEarthRadius, true
}

// shpSimplifyChain simplifies a chain of vertices: Douglas-Peucker on the
// sphere (a vertex within tol of the geodesic between the kept vertices
// around it is dropped), then vertices closer than tol to the vertex kept
// before them are dropped, so that no two vertices of the result are
// nearer than the tolerance. The first vertex is always kept.
func shpSimplifyChain(vs []shpVertex, tol float64) []shpVertex {
	if len(vs) < 3 {
		return shpDropClose(vs, tol)
	}
	keep := make([]bool, len(vs))
	keep[0], keep[len(vs)-1] = true, true
	type span struct{ i, j int }
	stack := []span{{0, len(vs) - 1}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		far, farD := -1, tol
		for k := s.i + 1; k < s.j; k++ {
			d := s2.DistanceFromSegment(vs[k].p, vs[s.i].p, vs[s.j].p).Radians()
			if d > farD {
				far, farD = k, d
			}
		}
		if far >= 0 {
			keep[far] = true
			stack = append(stack, span{s.i, far}, span{far, s.j})
		}
	}
	var out []shpVertex
	for i, v := range vs {
		if keep[i] {
			out = append(out, v)
		}
	}
	return shpDropClose(out, tol)
}

// shpDropClose drops the vertices nearer than tol to the vertex kept
// before them; the last vertex replaces the one kept before it when they
// are too near, so that a chain keeps its ends.
func shpDropClose(vs []shpVertex, tol float64) []shpVertex {
	if len(vs) == 0 {
		return nil
	}
	out := []shpVertex{vs[0]}
	for i := 1; i < len(vs); i++ {
		if vs[i].p.Distance(out[len(out)-1].p).Radians() < tol || vs[i].p == out[len(out)-1].p {
			if i == len(vs)-1 && len(out) > 1 {
				out[len(out)-1] = vs[i]
			}
			continue
		}
		out = append(out, vs[i])
	}
	return out
}

// shpLineSimplify is geo_line_simplify(line, tolerance): null when a line
// shrinks to a point.
func shpLineSimplify(args []any) (any, error) {
	lines, ok := shpParseLines(args[0])
	tol, okT := shpSimplifyTolerance(args[1])
	if !ok || !okT {
		return nil, nil
	}
	var out []shpLine
	for _, l := range lines {
		s := shpSimplifyChain(l, tol)
		if len(s) >= 2 {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return shpLinesJSON(out), nil
}

// shpSimplifyPolygons simplifies every ring; a ring left with fewer than
// three vertices disappears, and a polygon with it when it is the shell.
func shpSimplifyPolygons(polys []shpPolygon, tol float64) []shpPolygon {
	var out []shpPolygon
	for _, poly := range polys {
		var np shpPolygon
		for i, r := range poly {
			closed := append(append([]shpVertex(nil), r.vs...), r.vs[0])
			s := shpSimplifyChain(closed, tol)
			if len(s) < 4 {
				if i == 0 {
					break
				}
				continue
			}
			nr, ok := shpRingOf(s)
			if !ok {
				if i == 0 {
					break
				}
				continue
			}
			np = append(np, nr)
		}
		if len(np) > 0 {
			out = append(out, np)
		}
	}
	return out
}

// shpPolygonSimplify is geo_polygon_simplify(polygon, tolerance): null
// when nothing is left.
func shpPolygonSimplify(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	tol, okT := shpSimplifyTolerance(args[1])
	if !ok || !okT {
		return nil, nil
	}
	out := shpSimplifyPolygons(polys, tol)
	if len(out) == 0 {
		return nil, nil
	}
	return shpPolygonsJSON(out), nil
}

// ---- cell coverings

// shpMaxS2Cells is the most cells a covering may have (Kusto's limit).
const shpMaxS2Cells = 65536

// shpCover is the tokens of the S2 cells of a level that intersect a
// region, or whose distance to it is at most radius: cells are refined
// from the faces down, keeping those that may intersect. ok is false when
// more than shpMaxS2Cells cells would be needed.
func shpCover(level int, mayIntersect func(s2.Cell) bool) ([]string, bool) {
	var cur []s2.CellID
	for f := 0; f < 6; f++ {
		id := s2.CellIDFromFace(f)
		if mayIntersect(s2.CellFromCellID(id)) {
			cur = append(cur, id)
		}
	}
	for l := 0; l < level; l++ {
		var next []s2.CellID
		for _, id := range cur {
			for _, ch := range id.Children() {
				if mayIntersect(s2.CellFromCellID(ch)) {
					next = append(next, ch)
					if len(next) > shpMaxS2Cells {
						return nil, false
					}
				}
			}
		}
		cur = next
	}
	sort.Slice(cur, func(i, j int) bool { return cur[i] < cur[j] })
	out := make([]string, len(cur))
	for i, id := range cur {
		out[i] = id.ToToken()
	}
	return out, true
}

// shpCellTester tells which cells a shape (polygons or lines), grown by
// a radius, may intersect.
type shpCellTester struct {
	poly   *s2.Polygon
	lines  []*s2.Polyline
	query  *s2.EdgeQuery
	radius s1.ChordAngle
}

// newShpCellTester indexes polygons (their union) or lines for cell
// tests; radius is in radians.
func newShpCellTester(polys []shpPolygon, lines []shpLine, radius float64) *shpCellTester {
	t := &shpCellTester{radius: s1.ChordAngleFromAngle(s1.Angle(radius))}
	index := s2.NewShapeIndex()
	if polys != nil {
		var loops []*s2.Loop
		for _, poly := range shpRegion(polys) {
			for _, r := range poly {
				loops = append(loops, r.loop())
			}
		}
		t.poly = s2.PolygonFromLoops(loops)
		index.Add(t.poly)
	}
	for _, l := range lines {
		pl := s2.Polyline(l.points())
		t.lines = append(t.lines, &pl)
		index.Add(&pl)
	}
	if radius > 0 {
		t.query = s2.NewClosestEdgeQuery(index, s2.NewClosestEdgeQueryOptions())
	}
	return t
}

// mayIntersect reports whether a cell is within the radius of the shape.
func (t *shpCellTester) mayIntersect(c s2.Cell) bool {
	if t.query != nil {
		return t.query.IsDistanceLess(s2.NewMinDistanceToCellTarget(c), t.radius.Successor())
	}
	if t.poly != nil && t.poly.IntersectsCell(c) {
		return true
	}
	for _, l := range t.lines {
		if l.IntersectsCell(c) {
			return true
		}
	}
	return false
}

// shpCellArgs reads the level (0..30) and radius (meters, >= 0) arguments
// of the covering functions.
func shpCellArgs(levelArg, radiusArg any, maxLevel int) (int, float64, bool) {
	level, ok1 := levelArg.(int64)
	radius, ok2 := shpReal(radiusArg)
	if !ok1 || !ok2 || level < 0 || level > int64(maxLevel) || radius < 0 {
		return 0, 0, false
	}
	return int(level), radius / shpEarthRadius, true
}

// shpStringsJSON renders strings as a JSON array.
func shpStringsJSON(s []string) string {
	b, _ := json.Marshal(s)
	if s == nil {
		return "[]"
	}
	return string(b)
}

// shpPolygonToS2Cells is geo_polygon_to_s2cells(polygon, level, radius).
func shpPolygonToS2Cells(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	level, radius, okA := shpCellArgs(args[1], args[2], 30)
	if !ok || !okA {
		return nil, nil
	}
	x := newShpCellTester(polys, nil, radius)
	cells, ok := shpCover(level, x.mayIntersect)
	if !ok {
		return nil, nil
	}
	return shpStringsJSON(cells), nil
}

// shpLineToS2Cells is geo_line_to_s2cells(line, level, radius).
func shpLineToS2Cells(args []any) (any, error) {
	lines, ok := shpParseLines(args[0])
	level, radius, okA := shpCellArgs(args[1], args[2], 30)
	if !ok || !okA {
		return nil, nil
	}
	x := newShpCellTester(nil, lines, radius)
	cells, ok := shpCover(level, x.mayIntersect)
	if !ok {
		return nil, nil
	}
	return shpStringsJSON(cells), nil
}

// shpMaxH3Cells is the most H3 cells a polygon may become (Kusto's limit).
const shpMaxH3Cells = 61680

// shpPolygonToH3Cells is geo_polygon_to_h3cells(polygon, resolution,
// radius): the cells whose centers are inside the polygons, whose edges
// are straight lines in degrees here (as Kusto documents). A positive
// radius is not supported (Kusto buffers the polygon first): a literal one
// fails the translation, a computed one gives null.
func shpPolygonToH3Cells(args []any) (any, error) {
	polys, ok := shpParsePolygons(args[0])
	res, radius, okA := shpCellArgs(args[1], args[2], 15)
	if !ok || !okA || radius > 0 {
		return nil, nil
	}
	var out []string
	seen := map[h3.Cell]bool{}
	for _, poly := range polys {
		gp := h3.GeoPolygon{GeoLoop: shpH3Loop(poly[0])}
		for _, h := range poly[1:] {
			gp.Holes = append(gp.Holes, shpH3Loop(h))
		}
		// a rough count first: the polygon's area over the cells' average
		if est := poly.area() * shpEarthRadius * shpEarthRadius / 1e6 / shpH3AvgAreaKm2(res); est > 4*shpMaxH3Cells {
			return nil, nil
		}
		cells := h3.PolygonToCells(gp, res)
		for _, c := range cells {
			if !seen[c] {
				seen[c] = true
				out = append(out, c.String())
			}
		}
		if len(out) > shpMaxH3Cells {
			return nil, nil
		}
	}
	return shpStringsJSON(out), nil
}

// shpH3AvgAreaKm2 is the average area of an H3 cell of a resolution, in
// square kilometers.
func shpH3AvgAreaKm2(res int) float64 {
	return 4357449.416078383 / math.Pow(7, float64(res))
}

// shpH3Loop is a ring as an H3 loop.
func shpH3Loop(r shpRing) h3.GeoLoop {
	out := make(h3.GeoLoop, len(r.vs))
	for i, v := range r.vs {
		out[i] = h3.LatLng{Lat: v.lat, Lng: v.lng}
	}
	return out
}

// ---- WKT

// shpWKTMaxDepth bounds the nesting of GEOMETRYCOLLECTIONs.
const shpWKTMaxDepth = 32

// shpWKT is a reader of well-known text.
type shpWKT struct {
	s   string
	pos int
}

// shpFromWKT parses well-known text (2D POINT, LINESTRING, POLYGON,
// MULTIPOINT, MULTILINESTRING, MULTIPOLYGON, GEOMETRYCOLLECTION, keywords
// in any case); ok is false for anything else, EMPTY and Z/M coordinates
// included.
func shpFromWKT(s string) (shpGeom, bool) {
	r := &shpWKT{s: s}
	g, ok := r.geometry(0)
	if !ok {
		return shpGeom{}, false
	}
	r.space()
	return g, r.pos == len(r.s)
}

// space skips white space.
func (r *shpWKT) space() {
	for r.pos < len(r.s) && (r.s[r.pos] == ' ' || r.s[r.pos] == '\t' || r.s[r.pos] == '\n' || r.s[r.pos] == '\r') {
		r.pos++
	}
}

// word reads a keyword.
func (r *shpWKT) word() string {
	r.space()
	start := r.pos
	for r.pos < len(r.s) && (r.s[r.pos] >= 'A' && r.s[r.pos] <= 'Z' || r.s[r.pos] >= 'a' && r.s[r.pos] <= 'z') {
		r.pos++
	}
	return strings.ToUpper(r.s[start:r.pos])
}

// peek reports whether the next non-space byte is c.
func (r *shpWKT) peek(c byte) bool {
	r.space()
	return r.pos < len(r.s) && r.s[r.pos] == c
}

// eat consumes c; false when it is not next.
func (r *shpWKT) eat(c byte) bool {
	if !r.peek(c) {
		return false
	}
	r.pos++
	return true
}

// number reads a number.
func (r *shpWKT) number() (float64, bool) {
	r.space()
	start := r.pos
	for r.pos < len(r.s) && strings.IndexByte("+-.0123456789eE", r.s[r.pos]) >= 0 {
		r.pos++
	}
	f, err := strconv.ParseFloat(r.s[start:r.pos], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// position reads "lng lat".
func (r *shpWKT) position() (shpVertex, bool) {
	lng, ok1 := r.number()
	lat, ok2 := r.number()
	if !ok1 || !ok2 || !shpValidLL(lng, lat) {
		return shpVertex{}, false
	}
	return shpNewVertex(lng, lat), true
}

// positions reads "(p, p, ...)"; with parens, each position may be in
// parentheses (MULTIPOINT ((1 2), (3 4))).
func (r *shpWKT) positions(parens bool) ([]shpVertex, bool) {
	if !r.eat('(') {
		return nil, false
	}
	var out []shpVertex
	for {
		wrapped := parens && r.eat('(')
		p, ok := r.position()
		if !ok || wrapped && !r.eat(')') {
			return nil, false
		}
		out = append(out, p)
		if r.eat(')') {
			return out, true
		}
		if !r.eat(',') {
			return nil, false
		}
	}
}

// rings reads "((...), (...))".
func (r *shpWKT) rings() ([][]shpVertex, bool) {
	if !r.eat('(') {
		return nil, false
	}
	var out [][]shpVertex
	for {
		ps, ok := r.positions(false)
		if !ok {
			return nil, false
		}
		out = append(out, ps)
		if r.eat(')') {
			return out, true
		}
		if !r.eat(',') {
			return nil, false
		}
	}
}

// geometry reads one tagged geometry.
func (r *shpWKT) geometry(depth int) (shpGeom, bool) {
	var g shpGeom
	var ok bool
	switch r.word() {
	case "POINT":
		g.kind = "Point"
		g.pts, ok = r.positions(false)
		ok = ok && len(g.pts) == 1
	case "LINESTRING":
		g.kind = "LineString"
		g.pts, ok = r.positions(false)
	case "MULTIPOINT":
		g.kind = "MultiPoint"
		g.pts, ok = r.positions(true)
	case "POLYGON":
		g.kind = "Polygon"
		var rings [][]shpVertex
		rings, ok = r.rings()
		g.polys = [][][]shpVertex{rings}
	case "MULTILINESTRING":
		g.kind = "MultiLineString"
		g.lines, ok = r.rings()
	case "MULTIPOLYGON":
		g.kind = "MultiPolygon"
		if !r.eat('(') {
			return g, false
		}
		for {
			rings, okR := r.rings()
			if !okR {
				return g, false
			}
			g.polys = append(g.polys, rings)
			if r.eat(')') {
				ok = true
				break
			}
			if !r.eat(',') {
				return g, false
			}
		}
	case "GEOMETRYCOLLECTION":
		g.kind = "GeometryCollection"
		if depth >= shpWKTMaxDepth || !r.eat('(') {
			return g, false
		}
		for {
			sub, okG := r.geometry(depth + 1)
			if !okG {
				return g, false
			}
			g.geoms = append(g.geoms, sub)
			if r.eat(')') {
				ok = true
				break
			}
			if !r.eat(',') {
				return g, false
			}
		}
	}
	return g, ok
}

// shpFromWKTFn is geo_from_wkt(wkt).
func shpFromWKTFn(args []any) (any, error) {
	s, ok := udfString(args[0])
	if !ok {
		return nil, nil
	}
	g, ok := shpFromWKT(s)
	if !ok {
		return nil, nil
	}
	return shpJSON(g), nil
}

// ---- boolean operations: shared machinery

// shpMergeRadius is the distance (radians, about 6 micrometers on Earth)
// within which two vertices are the same vertex and a vertex lies on an
// edge. It absorbs the rounding of vertices computed separately for
// adjacent shapes (the corners of neighboring cells).
const shpMergeRadius = 1e-12

// shpReg registers the vertices of a boolean operation: a new vertex
// within shpMergeRadius of a registered one is that one.
type shpReg struct {
	vs     []shpVertex
	bucket map[[3]int64][]int
}

// shpBucketSize is the side of the buckets of shpReg, in unit-sphere
// coordinates; a neighborhood of shpMergeRadius spans at most two buckets
// on each axis.
const shpBucketSize = 1e-9

// newShpReg makes an empty registry.
func newShpReg() *shpReg { return &shpReg{bucket: map[[3]int64][]int{}} }

// key is the bucket of a point.
func (r *shpReg) key(p s2.Point) [3]int64 {
	return [3]int64{int64(math.Floor(p.X / shpBucketSize)), int64(math.Floor(p.Y / shpBucketSize)), int64(math.Floor(p.Z / shpBucketSize))}
}

// add registers v and returns its index (or that of the vertex it merges
// with).
func (r *shpReg) add(v shpVertex) int {
	k := r.key(v.p)
	for dx := int64(-1); dx <= 1; dx++ {
		for dy := int64(-1); dy <= 1; dy++ {
			for dz := int64(-1); dz <= 1; dz++ {
				for _, i := range r.bucket[[3]int64{k[0] + dx, k[1] + dy, k[2] + dz}] {
					if r.vs[i].p == v.p || r.vs[i].p.Distance(v.p).Radians() <= shpMergeRadius {
						return i
					}
				}
			}
		}
	}
	r.vs = append(r.vs, v)
	r.bucket[k] = append(r.bucket[k], len(r.vs)-1)
	return len(r.vs) - 1
}

// shpOpEdge is an edge of an operand of a boolean operation, between two
// registered vertices, with the registered points that split it.
type shpOpEdge struct {
	a, b   int
	op     int // operand: 0 or 1
	chain  int // the loop or line it belongs to, within its operand
	splits []int
}

// shpPiece is a piece of an edge between two consecutive split points.
type shpPiece struct {
	a, b int
	edge int // index of its shpOpEdge
}

// shpCutEdges finds where the edges of operand 0 and operand 1 meet: at a
// crossing both are split at the crossing point; a vertex of one that lies
// on an edge of the other splits that edge.
func shpCutEdges(reg *shpReg, edges []shpOpEdge) {
	shpCutEdgePairs(reg, edges, func(i, j int) bool { return edges[i].op != edges[j].op })
}

// shpCutEdgePairs is shpCutEdges for the pairs of edges pair accepts.
func shpCutEdgePairs(reg *shpReg, edges []shpOpEdge, pair func(i, j int) bool) {
	type bound struct {
		c   s2.Point
		rad float64
	}
	bounds := make([]bound, len(edges))
	for i, e := range edges {
		pa, pb := reg.vs[e.a].p, reg.vs[e.b].p
		mid := pa.Add(pb.Vector)
		c := s2.Point{Vector: mid.Normalize()}
		if mid.Norm() == 0 {
			c = pa
		}
		bounds[i] = bound{c, math.Max(c.Distance(pa).Radians(), c.Distance(pb).Radians()) + 2*shpMergeRadius}
	}
	onEdge := func(v int, e *shpOpEdge) {
		if v == e.a || v == e.b {
			return
		}
		p := reg.vs[v].p
		if s2.DistanceFromSegment(p, reg.vs[e.a].p, reg.vs[e.b].p).Radians() <= shpMergeRadius {
			e.splits = append(e.splits, v)
		}
	}
	for i := range edges {
		for j := i + 1; j < len(edges); j++ {
			if !pair(i, j) {
				continue
			}
			ei, ej := &edges[i], &edges[j]
			if bounds[i].c.Distance(bounds[j].c).Radians() > bounds[i].rad+bounds[j].rad {
				continue
			}
			pa, pb, qa, qb := reg.vs[ei.a].p, reg.vs[ei.b].p, reg.vs[ej.a].p, reg.vs[ej.b].p
			if ei.a != ej.a && ei.a != ej.b && ei.b != ej.a && ei.b != ej.b && s2.CrossingSign(pa, pb, qa, qb) == s2.Cross {
				x := reg.add(shpVertexOf(s2.Intersection(pa, pb, qa, qb)))
				if x != ei.a && x != ei.b {
					ei.splits = append(ei.splits, x)
				}
				if x != ej.a && x != ej.b {
					ej.splits = append(ej.splits, x)
				}
			}
			onEdge(ej.a, ei)
			onEdge(ej.b, ei)
			onEdge(ei.a, ej)
			onEdge(ei.b, ej)
		}
	}
}

// shpPieces cuts every edge at its split points, in order along it.
func shpPieces(reg *shpReg, edges []shpOpEdge) []shpPiece {
	var out []shpPiece
	for i, e := range edges {
		pa := reg.vs[e.a].p
		sp := append([]int(nil), e.splits...)
		sort.Slice(sp, func(x, y int) bool {
			return pa.Distance(reg.vs[sp[x]].p) < pa.Distance(reg.vs[sp[y]].p)
		})
		prev := e.a
		for _, s := range append(sp, e.b) {
			if s == prev {
				continue
			}
			out = append(out, shpPiece{prev, s, i})
			prev = s
		}
	}
	return out
}

// shpMid is the midpoint of a piece.
func shpMid(reg *shpReg, p shpPiece) s2.Point {
	return s2.Point{Vector: reg.vs[p.a].p.Add(reg.vs[p.b].p.Vector).Normalize()}
}

// shpArea is a region for point containment: loops with the region on
// their left; a point is inside when an odd number of the loops'
// smaller sides hold it.
type shpArea struct {
	loops []*s2.Loop
}

// newShpArea makes the region of oriented loops.
func newShpArea(loops [][]shpVertex) shpArea {
	var a shpArea
	for _, l := range loops {
		pts := make([]s2.Point, len(l))
		for i, v := range l {
			pts[i] = v.p
		}
		lp := s2.LoopFromPoints(pts)
		lp.Normalize()
		a.loops = append(a.loops, lp)
	}
	return a
}

// contains reports whether the region holds p.
func (a shpArea) contains(p s2.Point) bool {
	n := 0
	for _, l := range a.loops {
		if l.ContainsPoint(p) {
			n++
		}
	}
	return n%2 == 1
}

// shpKept is a piece of the result with its input edge id.
type shpKept struct {
	a, b int
	id   int
}

// shpAssignIDs numbers the edges that keep a piece in the result, in the
// order of the edges (operand 0's, then operand 1's), as S2's boolean
// operation feeds them to S2Builder; a kept piece takes its edge's id.
func shpAssignIDs(edges []shpOpEdge, pieces []shpPiece, keep []bool) []shpKept {
	ids := make([]int, len(edges))
	for i := range ids {
		ids[i] = -1
	}
	for i, p := range pieces {
		if keep[i] {
			ids[p.edge] = 0
		}
	}
	next := 0
	for op := 0; op < 2; op++ {
		for i, e := range edges {
			if e.op == op && ids[i] == 0 {
				ids[i] = next
				next++
			}
		}
	}
	var out []shpKept
	for i, p := range pieces {
		if keep[i] {
			out = append(out, shpKept{p.a, p.b, ids[p.edge]})
		}
	}
	return out
}

// shpVertexRanks orders registered vertices as S2Builder numbers its
// sites: by S2 cell id, then by registration.
func shpVertexRanks(reg *shpReg) []int {
	idx := make([]int, len(reg.vs))
	ids := make([]s2.CellID, len(reg.vs))
	for i := range idx {
		idx[i] = i
		ids[i] = s2.CellFromPoint(reg.vs[i].p).ID()
	}
	sort.SliceStable(idx, func(x, y int) bool { return ids[idx[x]] < ids[idx[y]] })
	rank := make([]int, len(idx))
	for r, i := range idx {
		rank[i] = r
	}
	return rank
}

// shpTurnAngle is the direction from p towards q, as an angle in the
// tangent plane at p.
func shpTurnAngle(p, q s2.Point) float64 {
	u := p.Ortho()
	w := p.Cross(u)
	d := q.Sub(p.Mul(p.Dot(q.Vector)))
	return math.Atan2(d.Dot(w), d.Dot(u))
}

// shpBuildLoops joins directed edges into loops as S2Builder's
// GetDirectedLoops does (simple loops, left turns at shared vertices):
// edges are taken in the order of their vertices' ranks, each loop is
// rotated to put its highest input edge id last, and the loops are sorted
// by the input edge id of their first edge. Loops are returned as vertex
// indices.
func shpBuildLoops(reg *shpReg, kept []shpKept) ([][]int, bool) {
	rank := shpVertexRanks(reg)
	sort.SliceStable(kept, func(x, y int) bool {
		a, b := kept[x], kept[y]
		if rank[a.a] != rank[b.a] {
			return rank[a.a] < rank[b.a]
		}
		if rank[a.b] != rank[b.b] {
			return rank[a.b] < rank[b.b]
		}
		return a.id < b.id
	})
	out := map[int][]int{}
	for i, e := range kept {
		out[e.a] = append(out[e.a], i)
	}
	// left turn map: at the end v of an edge u->v, the outgoing edge met
	// first turning clockwise from the direction back to u
	left := make([]int, len(kept))
	for i, e := range kept {
		outs := out[e.b]
		switch len(outs) {
		case 0:
			return nil, false
		case 1:
			left[i] = outs[0]
			continue
		}
		v := reg.vs[e.b].p
		back := shpTurnAngle(v, reg.vs[e.a].p)
		best, bestD := -1, math.Inf(1)
		for _, o := range outs {
			d := back - shpTurnAngle(v, reg.vs[kept[o].b].p)
			for d <= 0 {
				d += 2 * math.Pi
			}
			if d < bestD {
				best, bestD = o, d
			}
		}
		left[i] = best
	}
	used := make([]bool, len(kept))
	pathIndex := map[int]int{}
	var loops [][]int // of edge indices
	for start := range kept {
		if used[start] {
			continue
		}
		var path []int
		for e := start; !used[e]; e = left[e] {
			used[e] = true
			path = append(path, e)
			pathIndex[kept[e].a] = len(path) - 1
			ls, ok := pathIndex[kept[e].b]
			if !ok {
				continue
			}
			loop := append([]int(nil), path[ls:]...)
			path = path[:ls]
			for _, e2 := range loop {
				delete(pathIndex, kept[e2].a)
			}
			loops = append(loops, shpCanonicalLoop(kept, loop))
		}
		if len(path) > 0 {
			return nil, false
		}
	}
	sort.SliceStable(loops, func(x, y int) bool {
		a, b := loops[x][0], loops[y][0]
		if kept[a].id != kept[b].id {
			return kept[a].id < kept[b].id
		}
		return a < b
	})
	res := make([][]int, len(loops))
	for i, l := range loops {
		for _, e := range l {
			res[i] = append(res[i], kept[e].a)
		}
	}
	return res, true
}

// shpCanonicalLoop rotates a loop of edges as S2Builder's
// CanonicalizeLoopOrder does: the edge with the highest input edge id
// goes last (of a run of such edges, the run's last).
func shpCanonicalLoop(kept []shpKept, loop []int) []int {
	pos, gap := 0, false
	for i := 1; i < len(loop); i++ {
		cmp := kept[loop[i]].id - kept[loop[pos]].id
		if cmp < 0 {
			gap = true
		} else if cmp > 0 || !gap {
			pos, gap = i, false
		}
	}
	pos++
	if pos == len(loop) {
		pos = 0
	}
	return append(append([]int(nil), loop[pos:]...), loop[:pos]...)
}

// shpLoopsToPolygons groups loops (vertex lists with the region on their
// left) into polygons: a loop enclosing its smaller side is a shell, the
// others are holes, each given to the smallest shell around it.
func shpLoopsToPolygons(loops [][]shpVertex) []shpPolygon {
	type info struct {
		l    *s2.Loop
		hole bool
	}
	infos := make([]info, len(loops))
	for i, vs := range loops {
		pts := make([]s2.Point, len(vs))
		for k, v := range vs {
			pts[k] = v.p
		}
		l := s2.LoopFromPoints(pts)
		hole := !l.IsNormalized()
		if hole {
			l.Invert()
		}
		infos[i] = info{l, hole}
	}
	var polys []shpPolygon
	shellOf := map[int]int{}
	for i, in := range infos {
		if !in.hole {
			shellOf[i] = len(polys)
			polys = append(polys, shpPolygon{shpRing{vs: loops[i], ccw: true}})
		}
	}
	for i, in := range infos {
		if !in.hole {
			continue
		}
		best, bestA := -1, math.Inf(1)
		for j, sh := range infos {
			if sh.hole || !sh.l.Contains(in.l) {
				continue
			}
			if a := sh.l.Area(); a < bestA {
				best, bestA = j, a
			}
		}
		if best < 0 {
			continue
		}
		k := shellOf[best]
		polys[k] = append(polys[k], shpRing{vs: loops[i], ccw: false})
	}
	return polys
}

// shpOperandLoops are the loops of polygons with the region on their
// left (shells counterclockwise, holes clockwise), in S2Polygon's order.
func shpOperandLoops(polys []shpPolygon) [][]shpVertex {
	var out [][]shpVertex
	for _, poly := range polys {
		for i, r := range poly {
			vs := append([]shpVertex(nil), r.vs...)
			if r.ccw != (i == 0) {
				for a, b := 0, len(vs)-1; a < b; a, b = a+1, b-1 {
					vs[a], vs[b] = vs[b], vs[a]
				}
			}
			out = append(out, vs)
		}
	}
	return out
}

// shpNumVertices counts the vertices of polygons.
func shpNumVertices(polys []shpPolygon) int {
	n := 0
	for _, p := range polys {
		for _, r := range p {
			n += len(r.vs)
		}
	}
	return n
}

// shpOverlayResult is the result of a boolean operation: polygons, and
// for an intersection the lower-dimensional parts (touching points and
// shared boundary lines).
type shpOverlayResult struct {
	polys  []shpPolygon
	lines  []shpLine
	points []shpVertex
}

// shpPolygonOverlay computes the union (or intersection) of two polygon
// regions.
func shpPolygonOverlay(a, b []shpPolygon, union bool) (shpOverlayResult, bool) {
	reg := newShpReg()
	var edges []shpOpEdge
	areas := [2]shpArea{}
	for op, polys := range [2][]shpPolygon{a, b} {
		loops := shpOperandLoops(polys)
		areas[op] = newShpArea(loops)
		for li, l := range loops {
			idx := make([]int, len(l))
			for i, v := range l {
				idx[i] = reg.add(v)
			}
			for i := range idx {
				if idx[i] != idx[(i+1)%len(idx)] {
					edges = append(edges, shpOpEdge{a: idx[i], b: idx[(i+1)%len(idx)], op: op, chain: li})
				}
			}
		}
	}
	shpCutEdges(reg, edges)
	pieces := shpPieces(reg, edges)
	type pkey struct{ a, b int }
	byKey := map[pkey][]int{}
	for i, p := range pieces {
		k := pkey{min(p.a, p.b), max(p.a, p.b)}
		byKey[k] = append(byKey[k], i)
	}
	keep := make([]bool, len(pieces))
	shared := make([]bool, len(pieces)) // opposite twins: a boundary line
	for i, p := range pieces {
		op := edges[p.edge].op
		twin := -1
		for _, j := range byKey[pkey{min(p.a, p.b), max(p.a, p.b)}] {
			if edges[pieces[j].edge].op != op {
				twin = j
				break
			}
		}
		if twin >= 0 {
			if pieces[twin].a == p.a {
				keep[i] = op == 0
			} else {
				shared[i] = op == 0
			}
			continue
		}
		in := areas[1-op].contains(shpMid(reg, p))
		keep[i] = in != union
	}
	kept := shpAssignIDs(edges, pieces, keep)
	var res shpOverlayResult
	if len(kept) > 0 {
		loops, ok := shpBuildLoops(reg, kept)
		if !ok {
			return res, false
		}
		vl := make([][]shpVertex, len(loops))
		for i, l := range loops {
			for _, v := range l {
				vl[i] = append(vl[i], reg.vs[v])
			}
		}
		res.polys = shpLoopsToPolygons(vl)
	}
	if union {
		return res, true
	}
	// lower-dimensional parts of an intersection: boundary lines shared
	// by both regions, then points where the boundaries touch
	onResult := map[int]bool{}
	for _, k := range kept {
		onResult[k.a], onResult[k.b] = true, true
	}
	var lineEdges []shpKept
	for i, p := range pieces {
		if shared[i] {
			lineEdges = append(lineEdges, shpKept{p.a, p.b, i})
		}
	}
	for _, chain := range shpChains(lineEdges) {
		var l shpLine
		for _, v := range chain {
			l = append(l, reg.vs[v])
			onResult[v] = true
		}
		res.lines = append(res.lines, l)
	}
	touch := map[int]int{}
	for _, p := range pieces {
		bit := 1 << edges[p.edge].op
		touch[p.a] |= bit
		touch[p.b] |= bit
	}
	for v := range reg.vs {
		if touch[v] == 3 && !onResult[v] {
			res.points = append(res.points, reg.vs[v])
		}
	}
	return res, true
}

// shpChains joins directed edges (in their order) into maximal chains of
// vertex indices: a chain runs through vertices with one edge in and one
// out; edges left over form closed chains.
func shpChains(edges []shpKept) [][]int {
	in, out := map[int]int{}, map[int][]int{}
	for i, e := range edges {
		in[e.b]++
		out[e.a] = append(out[e.a], i)
	}
	used := make([]bool, len(edges))
	var chains [][]int
	walk := func(start int) {
		chain := []int{edges[start].a}
		for e := start; ; {
			used[e] = true
			v := edges[e].b
			chain = append(chain, v)
			if in[v] != 1 || len(out[v]) != 1 || used[out[v][0]] {
				break
			}
			e = out[v][0]
		}
		chains = append(chains, chain)
	}
	for i, e := range edges {
		if !used[i] && (in[e.a] != 1 || len(out[e.a]) != 1) {
			walk(i)
		}
	}
	for i := range edges {
		if !used[i] {
			walk(i)
		}
	}
	return chains
}

// shpUnion2 is the union of two polygon regions.
func shpUnion2(a, b []shpPolygon) ([]shpPolygon, bool) {
	r, ok := shpPolygonOverlay(a, b, true)
	return r.polys, ok
}

// shpResultJSON renders the result of an intersection: each of its parts
// (points, lines, polygons) as the simplest geometry; several parts as a
// GeometryCollection in that order, none as an empty one.
func shpResultJSON(r shpOverlayResult) string {
	var parts []shpGeom
	switch len(r.points) {
	case 0:
	case 1:
		parts = append(parts, shpGeom{kind: "Point", pts: r.points})
	default:
		parts = append(parts, shpGeom{kind: "MultiPoint", pts: r.points})
	}
	switch len(r.lines) {
	case 0:
	case 1:
		parts = append(parts, shpGeom{kind: "LineString", pts: r.lines[0]})
	default:
		g := shpGeom{kind: "MultiLineString"}
		for _, l := range r.lines {
			g.lines = append(g.lines, l)
		}
		parts = append(parts, g)
	}
	if len(r.polys) > 0 {
		g := shpGeom{kind: "Polygon"}
		if len(r.polys) > 1 {
			g.kind = "MultiPolygon"
		}
		for _, p := range r.polys {
			g.polys = append(g.polys, p.geoJSON())
		}
		parts = append(parts, g)
	}
	if len(parts) == 1 {
		return shpJSON(parts[0])
	}
	return shpJSON(shpGeom{kind: "GeometryCollection", geoms: parts})
}

// empty reports whether an intersection is empty.
func (r shpOverlayResult) empty() bool {
	return len(r.points) == 0 && len(r.lines) == 0 && len(r.polys) == 0
}

// shpIntersectPolygons intersects two polygon arguments.
func shpIntersectPolygons(args []any) (shpOverlayResult, bool) {
	a, ok1 := shpParsePolygons(args[0])
	b, ok2 := shpParsePolygons(args[1])
	if !ok1 || !ok2 {
		return shpOverlayResult{}, false
	}
	return shpPolygonOverlay(shpRegion(a), shpRegion(b), false)
}

// shpIntersection2Polygons is geo_intersection_2polygons(p1, p2).
func shpIntersection2Polygons(args []any) (any, error) {
	r, ok := shpIntersectPolygons(args)
	if !ok {
		return nil, nil
	}
	return shpResultJSON(r), nil
}

// shpIntersects2Polygons is geo_intersects_2polygons(p1, p2).
func shpIntersects2Polygons(args []any) (any, error) {
	r, ok := shpIntersectPolygons(args)
	if !ok {
		return nil, nil
	}
	return !r.empty(), nil
}

// shpLineOverlay intersects lines with polygons (withPolys) or with other
// lines: the lines of operand 0 are cut where they meet operand 1; the
// pieces inside the polygons or on the boundary (or along the other
// lines) are joined into lines, and the points where operand 0 only
// touches operand 1 are points.
func shpLineOverlay(lines []shpLine, other []shpLine, polys []shpPolygon) (shpOverlayResult, bool) {
	reg := newShpReg()
	var edges []shpOpEdge
	for li, l := range lines {
		for i := 1; i < len(l); i++ {
			a, b := reg.add(l[i-1]), reg.add(l[i])
			if a != b {
				edges = append(edges, shpOpEdge{a: a, b: b, op: 0, chain: li})
			}
		}
	}
	var area shpArea
	if polys != nil {
		loops := shpOperandLoops(polys)
		area = newShpArea(loops)
		for li, l := range loops {
			for i := range l {
				a, b := reg.add(l[i]), reg.add(l[(i+1)%len(l)])
				if a != b {
					edges = append(edges, shpOpEdge{a: a, b: b, op: 1, chain: li})
				}
			}
		}
	}
	for li, l := range other {
		for i := 1; i < len(l); i++ {
			a, b := reg.add(l[i-1]), reg.add(l[i])
			if a != b {
				edges = append(edges, shpOpEdge{a: a, b: b, op: 1, chain: li})
			}
		}
	}
	shpCutEdges(reg, edges)
	pieces := shpPieces(reg, edges)
	type pkey struct{ a, b int }
	onOther := map[pkey]bool{}
	touch := map[int]int{}
	for _, p := range pieces {
		op := edges[p.edge].op
		if op == 1 {
			onOther[pkey{min(p.a, p.b), max(p.a, p.b)}] = true
		}
		touch[p.a] |= 1 << op
		touch[p.b] |= 1 << op
	}
	var res shpOverlayResult
	onResult := map[int]bool{}
	var cur shpLine
	prevKept, prevEnd, prevChain := false, -1, -1
	flush := func() {
		if len(cur) > 1 {
			res.lines = append(res.lines, cur)
		}
		cur = nil
	}
	for _, p := range pieces {
		e := edges[p.edge]
		if e.op != 0 {
			continue
		}
		keep := onOther[pkey{min(p.a, p.b), max(p.a, p.b)}]
		if !keep && polys != nil {
			keep = area.contains(shpMid(reg, p))
		}
		if !keep {
			prevKept = false
			continue
		}
		if !prevKept || prevEnd != p.a || prevChain != e.chain {
			flush()
			cur = shpLine{reg.vs[p.a]}
		}
		cur = append(cur, reg.vs[p.b])
		onResult[p.a], onResult[p.b] = true, true
		prevKept, prevEnd, prevChain = true, p.b, e.chain
	}
	flush()
	seen := map[int]bool{}
	for _, p := range pieces {
		if edges[p.edge].op != 0 {
			continue
		}
		for _, v := range []int{p.a, p.b} {
			if touch[v] == 3 && !onResult[v] && !seen[v] {
				seen[v] = true
				res.points = append(res.points, reg.vs[v])
			}
		}
	}
	return res, true
}

// shpLinePolygonArgs reads a line and a polygon argument and intersects
// them.
func shpLinePolygonArgs(args []any) (shpOverlayResult, bool) {
	lines, ok1 := shpParseLines(args[0])
	polys, ok2 := shpParsePolygons(args[1])
	if !ok1 || !ok2 {
		return shpOverlayResult{}, false
	}
	return shpLineOverlay(lines, nil, polys)
}

// shpIntersectionLinePolygon is geo_intersection_line_with_polygon(line,
// polygon).
func shpIntersectionLinePolygon(args []any) (any, error) {
	r, ok := shpLinePolygonArgs(args)
	if !ok {
		return nil, nil
	}
	return shpResultJSON(r), nil
}

// shpIntersectsLinePolygon is geo_intersects_line_with_polygon(line,
// polygon).
func shpIntersectsLinePolygon(args []any) (any, error) {
	r, ok := shpLinePolygonArgs(args)
	if !ok {
		return nil, nil
	}
	return !r.empty(), nil
}

// shpTwoLinesArgs reads two line arguments and intersects them.
func shpTwoLinesArgs(args []any) (shpOverlayResult, bool) {
	a, ok1 := shpParseLines(args[0])
	b, ok2 := shpParseLines(args[1])
	if !ok1 || !ok2 {
		return shpOverlayResult{}, false
	}
	return shpLineOverlay(a, b, nil)
}

// shpIntersection2Lines is geo_intersection_2lines(line1, line2).
func shpIntersection2Lines(args []any) (any, error) {
	r, ok := shpTwoLinesArgs(args)
	if !ok {
		return nil, nil
	}
	return shpResultJSON(r), nil
}

// shpIntersects2Lines is geo_intersects_2lines(line1, line2).
func shpIntersects2Lines(args []any) (any, error) {
	r, ok := shpTwoLinesArgs(args)
	if !ok {
		return nil, nil
	}
	return !r.empty(), nil
}

// shpArrayElems reads a dynamic array argument as the JSON texts of its
// elements.
func shpArrayElems(v any) ([]string, bool) {
	text, ok := udfString(v)
	if !ok {
		return nil, false
	}
	var raw []json.RawMessage
	if json.Unmarshal([]byte(text), &raw) != nil {
		return nil, false
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out, true
}

// shpPolygonArray reads an array of polygons and multipolygons; ok is
// false when it is empty or one is invalid.
func shpPolygonArray(v any) ([][]shpPolygon, bool) {
	elems, ok := shpArrayElems(v)
	if !ok || len(elems) == 0 {
		return nil, false
	}
	out := make([][]shpPolygon, len(elems))
	for i, e := range elems {
		g, ok := shpParseGeoJSON(e)
		if !ok {
			return nil, false
		}
		if out[i], ok = shpPolygonsOf(g); !ok {
			return nil, false
		}
	}
	return out, true
}

// shpUnionItems is the union of polygon regions, merged as S2's
// DestructiveUnion does: the two with the fewest vertices first, the
// result queued behind regions of as many vertices.
func shpUnionItems(items [][]shpPolygon) ([]shpPolygon, bool) {
	type item struct {
		n     int
		polys []shpPolygon
	}
	var queue []item
	insert := func(it item) {
		i := sort.Search(len(queue), func(k int) bool { return queue[k].n > it.n })
		queue = append(queue, item{})
		copy(queue[i+1:], queue[i:])
		queue[i] = it
	}
	for _, p := range items {
		insert(item{shpNumVertices(p), p})
	}
	if len(queue) == 0 {
		return nil, true
	}
	for len(queue) > 1 {
		a, b := queue[0], queue[1]
		queue = queue[2:]
		u, ok := shpUnion2(a.polys, b.polys)
		if !ok {
			return nil, false
		}
		insert(item{a.n + b.n, u})
	}
	return queue[0].polys, true
}

// shpUnionPolygonsArray is geo_union_polygons_array(array).
func shpUnionPolygonsArray(args []any) (any, error) {
	items, ok := shpPolygonArray(args[0])
	if !ok {
		return nil, nil
	}
	u, ok := shpUnionItems(items)
	if !ok {
		return nil, nil
	}
	return shpResultJSON(shpOverlayResult{polys: u}), nil
}

// shpSimplifyPolygonsArray is geo_simplify_polygons_array(array,
// tolerance): the union of the polygons, simplified.
func shpSimplifyPolygonsArray(args []any) (any, error) {
	items, ok := shpPolygonArray(args[0])
	tol, okT := shpSimplifyTolerance(args[1])
	if !ok || !okT {
		return nil, nil
	}
	u, ok := shpUnionItems(items)
	if !ok {
		return nil, nil
	}
	s := shpSimplifyPolygons(u, tol)
	if len(s) == 0 {
		return nil, nil
	}
	return shpPolygonsJSON(s), nil
}

// shpUnionLinesArray is geo_union_lines_array(array): the lines of all the
// elements, cut where they cross or meet, each stretch covered by several
// lines kept once, joined into the longest lines.
func shpUnionLinesArray(args []any) (any, error) {
	elems, ok := shpArrayElems(args[0])
	if !ok || len(elems) == 0 {
		return nil, nil
	}
	reg := newShpReg()
	var edges []shpOpEdge
	chain := 0
	for _, e := range elems {
		g, ok := shpParseGeoJSON(e)
		if !ok {
			return nil, nil
		}
		lines, ok := shpLinesOf(g)
		if !ok {
			return nil, nil
		}
		for _, l := range lines {
			for i := 1; i < len(l); i++ {
				a, b := reg.add(l[i-1]), reg.add(l[i])
				if a != b {
					edges = append(edges, shpOpEdge{a: a, b: b, chain: chain})
				}
			}
			chain++
		}
	}
	shpCutEdgePairs(reg, edges, func(i, j int) bool { return true })
	type pkey struct{ a, b int }
	seen := map[pkey]bool{}
	var kept []shpKept
	for i, p := range shpPieces(reg, edges) {
		k := pkey{min(p.a, p.b), max(p.a, p.b)}
		if seen[k] {
			continue
		}
		seen[k] = true
		kept = append(kept, shpKept{p.a, p.b, i})
	}
	var out []shpLine
	for _, c := range shpChains(kept) {
		var l shpLine
		for _, v := range c {
			l = append(l, reg.vs[v])
		}
		out = append(out, l)
	}
	return shpLinesJSON(out), nil
}
