package kql

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
	h3 "github.com/uber/h3-go/v4"
)

// This file holds the geospatial functions on points and grid cells (S2,
// H3, geohash), the point-to-shape distances and point-in-shape tests.
// The functions on lines and polygons as results are in geo_shapes.go.
//
// Kusto's model, which these follow: coordinates are WGS-84 degrees,
// longitude first; distances are measured on a sphere of radius
// 6,371,010 m (S2's Earth radius; geo_distance_2points' documented example
// gives exactly this radius), and shape edges are geodesics on it. A
// coordinate outside [-180, 180] x [-90, 90], an invalid cell token or an
// invalid shape gives null (or "" for a string result), never an error.

// geoEarthRadius is the radius of Kusto's spherical Earth, in meters.
const geoEarthRadius = 6371010.0

// geoFunctions are the geospatial KQL functions (geo_*), by name.
func geoFunctions() map[string]fnSpec {
	f := map[string]fnSpec{}
	byName := map[string]udf{}
	for _, u := range geoUDFs() {
		byName[u.Name] = u
	}
	// call translates a call to the udf of that name; defaults fill the
	// optional trailing arguments that were left out (as SQL literals of
	// the udf's argument types).
	call := func(name string, min, max int, defaults ...string) fnSpec {
		u, ok := byName[name]
		if !ok {
			panic("kql: no geo udf " + name)
		}
		return fnSpec{min, max, func(t *translator, c *Call, a []texpr) texpr {
			args := append([]texpr(nil), a...)
			for i := len(args); i < len(u.Args); i++ {
				args = append(args, texpr{sql: defaults[i-min], typ: u.Args[i]})
			}
			return t.udfCall(c, args, u)
		}}
	}
	f["geo_point_to_s2cell"] = call("kql_geo_point_to_s2cell", 2, 3, "11")
	f["geo_s2cell_to_central_point"] = call("kql_geo_s2cell_to_central_point", 1, 1)
	f["geo_s2cell_neighbors"] = call("kql_geo_s2cell_neighbors", 1, 1)
	f["geo_s2cell_to_polygon"] = call("kql_geo_s2cell_to_polygon", 1, 1)

	f["geo_point_to_h3cell"] = call("kql_geo_point_to_h3cell", 2, 3, "6")
	f["geo_h3cell_to_central_point"] = call("kql_geo_h3cell_to_central_point", 1, 1)
	f["geo_h3cell_to_polygon"] = call("kql_geo_h3cell_to_polygon", 1, 1)
	f["geo_h3cell_level"] = call("kql_geo_h3cell_level", 1, 1)
	f["geo_h3cell_neighbors"] = call("kql_geo_h3cell_neighbors", 1, 1)
	f["geo_h3cell_rings"] = call("kql_geo_h3cell_rings", 2, 2)
	// the resolution of parent and children defaults to the next level,
	// which a null cannot stand for (a null resolution is invalid)
	f["geo_h3cell_parent"] = call("kql_geo_h3cell_parent", 1, 2, strconv.Itoa(h3NextLevel))
	f["geo_h3cell_children"] = call("kql_geo_h3cell_children", 1, 2, strconv.Itoa(h3NextLevel))

	f["geo_point_to_geohash"] = call("kql_geo_point_to_geohash", 2, 3, "5")
	f["geo_geohash_to_central_point"] = call("kql_geo_geohash_to_central_point", 1, 1)
	f["geo_geohash_neighbors"] = call("kql_geo_geohash_neighbors", 1, 1)
	f["geo_geohash_to_polygon"] = call("kql_geo_geohash_to_polygon", 1, 1)

	f["geo_distance_2points"] = call("kql_geo_distance_2points", 4, 5, "FALSE")
	f["geo_point_in_circle"] = call("kql_geo_point_in_circle", 5, 5)
	f["geo_point_in_polygon"] = call("kql_geo_point_in_polygon", 3, 3)
	f["geo_distance_point_to_line"] = call("kql_geo_distance_point_to_line", 3, 3)
	f["geo_distance_point_to_polygon"] = call("kql_geo_distance_point_to_polygon", 3, 3)
	f["geo_angle"] = call("kql_geo_angle", 6, 6)
	f["geo_azimuth"] = call("kql_geo_azimuth", 4, 4)

	f["geo_info_from_ip_address"] = fnSpec{1, 1, func(t *translator, c *Call, a []texpr) texpr {
		t.fail(c, "geo_info_from_ip_address is not supported: it needs an IP geolocation database, which cdewatch does not have")
		return texpr{}
	}}
	return f
}

// h3NextLevel is the resolution argument the translation passes to
// geo_h3cell_parent and geo_h3cell_children when the query leaves it out:
// "the next level" (one up for the parent, one down for the children).
// A null cannot stand for it, since a null resolution is invalid; this
// value is far outside any resolution a query would write.
const h3NextLevel = -1 << 40

// geoUDFs are the Go implementations the geospatial functions call.
func geoUDFs() []udf {
	us := geoUDFList()
	for i := range us {
		us[i].Fn = geoRecover(us[i].Name, us[i].Fn)
	}
	return us
}

// geoRecover turns a panic of fn (a bug, or the H3 library meeting an
// input it does not expect) into an error of the query rather than a
// crash of the process.
func geoRecover(name string, fn func([]any) (any, error)) func([]any) (any, error) {
	return func(args []any) (v any, err error) {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("%s failed: %v", strings.TrimPrefix(name, "kql_"), r)
			}
		}()
		return fn(args)
	}
}

// geoUDFList lists the udfs of geoUDFs.
func geoUDFList() []udf {
	return []udf{
		{Name: "kql_geo_point_to_s2cell", Args: []string{tyReal, tyReal, tyLong}, Result: tyString, Fn: geoPointToS2Cell},
		{Name: "kql_geo_s2cell_to_central_point", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoS2CellToCentralPoint},
		{Name: "kql_geo_s2cell_neighbors", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoS2CellNeighbors},
		{Name: "kql_geo_s2cell_to_polygon", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoS2CellToPolygon},

		{Name: "kql_geo_point_to_h3cell", Args: []string{tyReal, tyReal, tyLong}, Result: tyString, Fn: geoPointToH3Cell},
		{Name: "kql_geo_h3cell_to_central_point", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoH3CellToCentralPoint},
		{Name: "kql_geo_h3cell_to_polygon", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoH3CellToPolygon},
		{Name: "kql_geo_h3cell_level", Args: []string{tyString}, Result: tyInt, NullArgs: true, Fn: geoH3CellLevel},
		{Name: "kql_geo_h3cell_neighbors", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoH3CellNeighbors},
		{Name: "kql_geo_h3cell_rings", Args: []string{tyString, tyLong}, Result: tyDynamic, NullArgs: true, Fn: geoH3CellRings},
		{Name: "kql_geo_h3cell_parent", Args: []string{tyString, tyLong}, Result: tyString, Fn: geoH3CellParent},
		{Name: "kql_geo_h3cell_children", Args: []string{tyString, tyLong}, Result: tyDynamic, NullArgs: true, Fn: geoH3CellChildren},

		{Name: "kql_geo_point_to_geohash", Args: []string{tyReal, tyReal, tyLong}, Result: tyString, Fn: geoPointToGeohash},
		{Name: "kql_geo_geohash_to_central_point", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoGeohashToCentralPoint},
		{Name: "kql_geo_geohash_neighbors", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoGeohashNeighbors},
		{Name: "kql_geo_geohash_to_polygon", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: geoGeohashToPolygon},

		{Name: "kql_geo_distance_2points", Args: []string{tyReal, tyReal, tyReal, tyReal, tyBool}, Result: tyReal, Fn: geoDistance2Points},
		{Name: "kql_geo_point_in_circle", Args: []string{tyReal, tyReal, tyReal, tyReal, tyReal}, Result: tyBool, NullArgs: true, Fn: geoPointInCircle},
		{Name: "kql_geo_point_in_polygon", Args: []string{tyReal, tyReal, tyDynamic}, Result: tyBool, NullArgs: true, Fn: geoPointInPolygon},
		{Name: "kql_geo_distance_point_to_line", Args: []string{tyReal, tyReal, tyDynamic}, Result: tyReal, NullArgs: true, Fn: geoDistancePointToLine},
		{Name: "kql_geo_distance_point_to_polygon", Args: []string{tyReal, tyReal, tyDynamic}, Result: tyReal, NullArgs: true, Fn: geoDistancePointToPolygon},
		{Name: "kql_geo_angle", Args: []string{tyReal, tyReal, tyReal, tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: geoAngle},
		{Name: "kql_geo_azimuth", Args: []string{tyReal, tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: geoAzimuth},
	}
}

// ---- argument helpers

// geoValidPoint reports whether lng, lat are a valid coordinate: finite,
// longitude in [-180, 180], latitude in [-90, 90].
func geoValidPoint(lng, lat float64) bool {
	return lng >= -180 && lng <= 180 && lat >= -90 && lat <= 90
}

// geoPointArgs reads a longitude and a latitude argument; ok is false when
// either is null or the coordinate is invalid.
func geoPointArgs(lngArg, latArg any) (lng, lat float64, ok bool) {
	lng, ok1 := udfFloat(lngArg)
	lat, ok2 := udfFloat(latArg)
	if !ok1 || !ok2 || !geoValidPoint(lng, lat) {
		return 0, 0, false
	}
	return lng, lat, true
}

// geoS2Point is the unit-sphere point of a coordinate in degrees.
func geoS2Point(lng, lat float64) s2.Point {
	return s2.PointFromLatLng(s2.LatLngFromDegrees(lat, lng))
}

// ---- GeoJSON output

// geoNum writes a coordinate as a JSON number, in the shortest form that
// reads back as the same float64.
func geoNum(b *strings.Builder, v float64) {
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
}

// geoPointJSON is a GeoJSON point.
func geoPointJSON(lng, lat float64) string {
	var b strings.Builder
	b.WriteString(`{"type":"Point","coordinates":[`)
	geoNum(&b, lng)
	b.WriteByte(',')
	geoNum(&b, lat)
	b.WriteString("]}")
	return b.String()
}

// geoPolygonJSON is a GeoJSON polygon of one ring, given as [lng, lat]
// vertices without the closing vertex, which it adds.
func geoPolygonJSON(ring [][2]float64) string {
	var b strings.Builder
	b.WriteString(`{"type":"Polygon","coordinates":[[`)
	for i := 0; i <= len(ring); i++ {
		v := ring[i%len(ring)]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		geoNum(&b, v[0])
		b.WriteByte(',')
		geoNum(&b, v[1])
		b.WriteByte(']')
	}
	b.WriteString("]]}")
	return b.String()
}

// geoStringsJSON is a JSON array of strings.
func geoStringsJSON(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// geoLngLat is the [lng, lat] in degrees of a unit-sphere point.
func geoLngLat(p s2.Point) [2]float64 {
	ll := s2.LatLngFromPoint(p)
	return [2]float64{ll.Lng.Degrees(), ll.Lat.Degrees()}
}

// ---- S2

// geoS2Cell parses an S2 cell token; ok is false for an invalid one.
func geoS2Cell(token string) (s2.CellID, bool) {
	if token == "" || len(token) > 16 {
		return 0, false
	}
	for i := 0; i < len(token); i++ {
		if !isHexDigit(token[i]) {
			return 0, false
		}
	}
	id := s2.CellIDFromToken(token)
	if !id.IsValid() {
		return 0, false
	}
	return id, true
}

// isHexDigit reports whether c is 0-9, a-f or A-F.
func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// geoPointToS2Cell is geo_point_to_s2cell(lng, lat, level): the token of
// the cell at level (0..30) holding the point, or "".
func geoPointToS2Cell(args []any) (any, error) {
	lng, lat, ok := geoPointArgs(args[0], args[1])
	level, okL := udfInt(args[2])
	if !ok || !okL || level < 0 || level > s2.MaxLevel {
		return "", nil
	}
	return s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat, lng)).Parent(int(level)).ToToken(), nil
}

// geoS2CellToCentralPoint is geo_s2cell_to_central_point(token).
func geoS2CellToCentralPoint(args []any) (any, error) {
	tok, _ := udfString(args[0])
	id, ok := geoS2Cell(tok)
	if !ok {
		return nil, nil
	}
	c := geoLngLat(id.Point())
	return geoPointJSON(c[0], c[1]), nil
}

// geoS2CellToPolygon is geo_s2cell_to_polygon(token): the cell's four
// vertices in S2's counterclockwise order, closed.
func geoS2CellToPolygon(args []any) (any, error) {
	tok, _ := udfString(args[0])
	id, ok := geoS2Cell(tok)
	if !ok {
		return nil, nil
	}
	cell := s2.CellFromCellID(id)
	ring := make([][2]float64, 4)
	for k := range ring {
		ring[k] = geoLngLat(cell.Vertex(k))
	}
	return geoPolygonJSON(ring), nil
}

// geoS2CellNeighbors is geo_s2cell_neighbors(token): the cells of the
// same level that share an edge or a vertex with the cell, in Kusto's
// order (see kustoSetOrder).
func geoS2CellNeighbors(args []any) (any, error) {
	tok, _ := udfString(args[0])
	id, ok := geoS2Cell(tok)
	if !ok {
		return nil, nil
	}
	var toks []string
	for _, n := range id.AllNeighbors(id.Level()) {
		toks = append(toks, n.ToToken())
	}
	return geoStringsJSON(kustoSetOrder(toks)), nil
}

// kustoSetOrder lists distinct keys in the order Kusto's engine returns
// the neighbors of an S2 cell or a geohash: it collects them in a hash set
// (MSVC's std::unordered_set<std::string>: FNV-1a hash, 8 buckets, a new
// key placed at the end of the element list when its bucket is empty and
// in front of its bucket's elements otherwise) and lists the set. The
// documented examples (geo_s2cell_neighbors('89c259'),
// geo_geohash_neighbors('sunny')) come out in exactly this order. The set
// grows its buckets past 8 keys, which neighbor lists never reach; longer
// inputs are returned deduplicated in their own order.
func kustoSetOrder(keys []string) []string {
	var list []string
	seen := map[string]bool{}
	first := map[uint64]string{} // a bucket's first key in list order
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		b := fnv1a64(k) & 7
		f, ok := first[b]
		if !ok {
			list = append(list, k)
			first[b] = k
			continue
		}
		for i, x := range list {
			if x == f {
				list = append(list[:i], append([]string{k}, list[i:]...)...)
				break
			}
		}
		first[b] = k
	}
	if len(list) > 8 {
		list = list[:0]
		seen = map[string]bool{}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				list = append(list, k)
			}
		}
	}
	return list
}

// fnv1a64 is the 64-bit FNV-1a hash of s.
func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// ---- H3

// geoH3Cell parses an H3 cell token (hexadecimal); ok is false for an
// invalid one.
func geoH3Cell(token string) (h3.Cell, bool) {
	if token == "" || len(token) > 16 {
		return 0, false
	}
	for i := 0; i < len(token); i++ {
		if !isHexDigit(token[i]) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(token, 16, 64)
	if err != nil {
		return 0, false
	}
	c := h3.Cell(v)
	if !c.IsValid() {
		return 0, false
	}
	return c, true
}

// geoPointToH3Cell is geo_point_to_h3cell(lng, lat, resolution): the
// token of the cell at resolution (0..15) holding the point, or "".
func geoPointToH3Cell(args []any) (any, error) {
	lng, lat, ok := geoPointArgs(args[0], args[1])
	res, okR := udfInt(args[2])
	if !ok || !okR || res < 0 || res > 15 {
		return "", nil
	}
	c := h3.LatLngToCell(h3.NewLatLng(lat, lng), int(res))
	if !c.IsValid() {
		return "", nil
	}
	return c.String(), nil
}

// geoH3CellToCentralPoint is geo_h3cell_to_central_point(token).
func geoH3CellToCentralPoint(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	if !ok {
		return nil, nil
	}
	ll := c.LatLng()
	return geoPointJSON(ll.Lng, ll.Lat), nil
}

// geoH3CellToPolygon is geo_h3cell_to_polygon(token): the cell boundary
// in H3's counterclockwise order, closed.
func geoH3CellToPolygon(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	if !ok {
		return nil, nil
	}
	bnd := c.Boundary()
	ring := make([][2]float64, len(bnd))
	for i, v := range bnd {
		ring[i] = [2]float64{v.Lng, v.Lat}
	}
	return geoPolygonJSON(ring), nil
}

// geoH3CellLevel is geo_h3cell_level(token): the resolution, or null.
func geoH3CellLevel(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	if !ok {
		return nil, nil
	}
	return int32(c.Resolution()), nil
}

// geoH3CellNeighbors is geo_h3cell_neighbors(token): the cells at grid
// distance 1, in H3's grid-disk order.
func geoH3CellNeighbors(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	if !ok {
		return nil, nil
	}
	toks := []string{}
	for _, n := range h3.GridDisk(c, 1) {
		if n != 0 && n != c {
			toks = append(toks, n.String())
		}
	}
	return geoStringsJSON(toks), nil
}

// geoH3CellRings is geo_h3cell_rings(token, distance): an array of rings,
// ring k holding the cells at grid distance k (0..142).
func geoH3CellRings(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	k, _ := udfInt(args[1])
	if !ok || k < 0 || k > 142 {
		return nil, nil
	}
	rings := make([][]string, k+1)
	for d, ring := range h3.GridDiskDistances(c, int(k)) {
		rings[d] = []string{}
		for _, n := range ring {
			if n != 0 {
				rings[d] = append(rings[d], n.String())
			}
		}
	}
	b, _ := json.Marshal(rings)
	return string(b), nil
}

// geoH3CellParent is geo_h3cell_parent(token, resolution): the parent at
// resolution (0..14; by default the next level up), or "".
func geoH3CellParent(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	res, okR := udfInt(args[1])
	if !ok || !okR {
		return "", nil
	}
	if res == h3NextLevel {
		res = int64(c.Resolution()) - 1
	}
	if res < 0 || res > 14 || res > int64(c.Resolution()) {
		return "", nil
	}
	p := c.Parent(int(res))
	if !p.IsValid() {
		return "", nil
	}
	return p.String(), nil
}

// geoH3CellChildren is geo_h3cell_children(token, resolution): the
// children at resolution (1..15, at most 5 levels below the cell; by
// default the next level down), or null.
func geoH3CellChildren(args []any) (any, error) {
	tok, _ := udfString(args[0])
	c, ok := geoH3Cell(tok)
	res, _ := udfInt(args[1])
	if !ok {
		return nil, nil
	}
	level := int64(c.Resolution())
	if res == h3NextLevel {
		res = level + 1
	}
	if res < 1 || res > 15 || res < level || res-level > 5 {
		return nil, nil
	}
	toks := []string{}
	for _, ch := range c.Children(int(res)) {
		if ch != 0 {
			toks = append(toks, ch.String())
		}
	}
	return geoStringsJSON(toks), nil
}

// ---- geohash

// geohashAlphabet is geohash's base-32 alphabet.
const geohashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz"

// geohashMaxLen is the longest geohash Kusto accepts.
const geohashMaxLen = 18

// geohashEncode is the geohash of length n (1..18) of a valid coordinate:
// bits alternate longitude and latitude, starting with longitude, each one
// halving the interval (the upper half holds its midpoint).
func geohashEncode(lng, lat float64, n int) string {
	lngLo, lngHi := -180.0, 180.0
	latLo, latHi := -90.0, 90.0
	out := make([]byte, n)
	even := true
	for i := 0; i < n; i++ {
		v := 0
		for bit := 0; bit < 5; bit++ {
			v <<= 1
			if even {
				mid := (lngLo + lngHi) / 2
				if lng >= mid {
					v |= 1
					lngLo = mid
				} else {
					lngHi = mid
				}
			} else {
				mid := (latLo + latHi) / 2
				if lat >= mid {
					v |= 1
					latLo = mid
				} else {
					latHi = mid
				}
			}
			even = !even
		}
		out[i] = geohashAlphabet[v]
	}
	return string(out)
}

// geohashDecode is the rectangle of a geohash: west, south, east, north.
// ok is false when gh is not 1..18 characters of the alphabet (in either
// case).
func geohashDecode(gh string) (w, s, e, n float64, ok bool) {
	if len(gh) == 0 || len(gh) > geohashMaxLen {
		return 0, 0, 0, 0, false
	}
	w, e, s, n = -180, 180, -90, 90
	even := true
	for i := 0; i < len(gh); i++ {
		c := gh[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		v := strings.IndexByte(geohashAlphabet, c)
		if v < 0 {
			return 0, 0, 0, 0, false
		}
		for bit := 4; bit >= 0; bit-- {
			up := v>>bit&1 == 1
			if even {
				mid := (w + e) / 2
				if up {
					w = mid
				} else {
					e = mid
				}
			} else {
				mid := (s + n) / 2
				if up {
					s = mid
				} else {
					n = mid
				}
			}
			even = !even
		}
	}
	return w, s, e, n, true
}

// geoPointToGeohash is geo_point_to_geohash(lng, lat, accuracy): the
// geohash of length accuracy (1..18) holding the point, or "".
func geoPointToGeohash(args []any) (any, error) {
	lng, lat, ok := geoPointArgs(args[0], args[1])
	acc, okA := udfInt(args[2])
	if !ok || !okA || acc < 1 || acc > geohashMaxLen {
		return "", nil
	}
	return geohashEncode(lng, lat, int(acc)), nil
}

// geoGeohashToCentralPoint is geo_geohash_to_central_point(geohash): the
// center of the geohash rectangle.
func geoGeohashToCentralPoint(args []any) (any, error) {
	gh, _ := udfString(args[0])
	w, s, e, n, ok := geohashDecode(gh)
	if !ok {
		return nil, nil
	}
	return geoPointJSON((w+e)/2, (s+n)/2), nil
}

// geoGeohashToPolygon is geo_geohash_to_polygon(geohash): the rectangle
// from its south-west corner, counterclockwise, closed.
func geoGeohashToPolygon(args []any) (any, error) {
	gh, _ := udfString(args[0])
	w, s, e, n, ok := geohashDecode(gh)
	if !ok {
		return nil, nil
	}
	return geoPolygonJSON([][2]float64{{w, s}, {e, s}, {e, n}, {w, n}}), nil
}

// geoGeohashNeighbors is geo_geohash_neighbors(geohash): the geohashes of
// the same length around it, in Kusto's order (see kustoSetOrder; they
// are computed row by row from the north-west one). Longitudes wrap at the
// antimeridian; beyond a pole there is no neighbor.
func geoGeohashNeighbors(args []any) (any, error) {
	gh, _ := udfString(args[0])
	w, s, e, n, ok := geohashDecode(gh)
	if !ok {
		return nil, nil
	}
	gh = strings.ToLower(gh)
	cx, cy := (w+e)/2, (s+n)/2
	dx, dy := e-w, n-s
	var out []string
	for _, d := range [][2]float64{{-1, 1}, {0, 1}, {1, 1}, {-1, 0}, {1, 0}, {-1, -1}, {0, -1}, {1, -1}} {
		lat := cy + d[1]*dy
		if lat < -90 || lat > 90 {
			continue
		}
		lng := cx + d[0]*dx
		if lng > 180 {
			lng -= 360
		} else if lng < -180 {
			lng += 360
		}
		if h := geohashEncode(lng, lat, len(gh)); h != gh {
			out = append(out, h)
		}
	}
	return geoStringsJSON(kustoSetOrder(out)), nil
}

// ---- distances and angles between points

// geoDistance2Points is geo_distance_2points(lng1, lat1, lng2, lat2,
// use_spheroid): the great-circle distance in meters on Kusto's sphere,
// or the geodesic distance on the WGS-84 ellipsoid when use_spheroid.
func geoDistance2Points(args []any) (any, error) {
	lng1, lat1, ok1 := geoPointArgs(args[0], args[1])
	lng2, lat2, ok2 := geoPointArgs(args[2], args[3])
	if !ok1 || !ok2 {
		return nil, nil
	}
	if sph, _ := args[4].(bool); sph {
		return vincentyDistance(lng1, lat1, lng2, lat2), nil
	}
	return geoSphereDistance(lng1, lat1, lng2, lat2), nil
}

// geoSphereDistance is the great-circle distance in meters between two
// valid coordinates.
func geoSphereDistance(lng1, lat1, lng2, lat2 float64) float64 {
	a := s2.LatLngFromDegrees(lat1, lng1)
	b := s2.LatLngFromDegrees(lat2, lng2)
	return a.Distance(b).Radians() * geoEarthRadius
}

// vincentyDistance is the geodesic distance in meters on the WGS-84
// ellipsoid between two valid coordinates (Vincenty's inverse formula).
// For nearly antipodal points, where the iteration does not converge, it
// returns the distance along the meridian-scaled great circle instead.
func vincentyDistance(lng1, lat1, lng2, lat2 float64) float64 {
	const a = 6378137.0
	const f = 1 / 298.257223563
	const b = a * (1 - f)
	rad := math.Pi / 180
	L := (lng2 - lng1) * rad
	U1 := math.Atan((1 - f) * math.Tan(lat1*rad))
	U2 := math.Atan((1 - f) * math.Tan(lat2*rad))
	sinU1, cosU1 := math.Sincos(U1)
	sinU2, cosU2 := math.Sincos(U2)
	lambda := L
	for iter := 0; iter < 200; iter++ {
		sinL, cosL := math.Sincos(lambda)
		sinSigma := math.Sqrt((cosU2*sinL)*(cosU2*sinL) + (cosU1*sinU2-sinU1*cosU2*cosL)*(cosU1*sinU2-sinU1*cosU2*cosL))
		if sinSigma == 0 {
			return 0 // the same point
		}
		cosSigma := sinU1*sinU2 + cosU1*cosU2*cosL
		sigma := math.Atan2(sinSigma, cosSigma)
		sinAlpha := cosU1 * cosU2 * sinL / sinSigma
		cos2Alpha := 1 - sinAlpha*sinAlpha
		cos2SigmaM := 0.0
		if cos2Alpha != 0 {
			cos2SigmaM = cosSigma - 2*sinU1*sinU2/cos2Alpha
		}
		C := f / 16 * cos2Alpha * (4 + f*(4-3*cos2Alpha))
		prev := lambda
		lambda = L + (1-C)*f*sinAlpha*(sigma+C*sinSigma*(cos2SigmaM+C*cosSigma*(-1+2*cos2SigmaM*cos2SigmaM)))
		if math.Abs(lambda-prev) < 1e-12 {
			u2 := cos2Alpha * (a*a - b*b) / (b * b)
			A := 1 + u2/16384*(4096+u2*(-768+u2*(320-175*u2)))
			B := u2 / 1024 * (256 + u2*(-128+u2*(74-47*u2)))
			dSigma := B * sinSigma * (cos2SigmaM + B/4*(cosSigma*(-1+2*cos2SigmaM*cos2SigmaM)-B/6*cos2SigmaM*(-3+4*sinSigma*sinSigma)*(-3+4*cos2SigmaM*cos2SigmaM)))
			return b * A * (sigma - dSigma)
		}
	}
	return geoSphereDistance(lng1, lat1, lng2, lat2) * (a + b) / 2 / geoEarthRadius
}

// geoPointInCircle is geo_point_in_circle(lng, lat, center_lng,
// center_lat, radius): whether the point lies in the spherical cap of that
// radius in meters (a negative radius is invalid).
func geoPointInCircle(args []any) (any, error) {
	lng, lat, ok1 := geoPointArgs(args[0], args[1])
	clng, clat, ok2 := geoPointArgs(args[2], args[3])
	r, ok3 := udfFloat(args[4])
	if !ok1 || !ok2 || !ok3 || !(r >= 0) {
		return nil, nil
	}
	return geoSphereDistance(lng, lat, clng, clat) <= r, nil
}

// geoAzimuth is geo_azimuth(lng1, lat1, lng2, lat2): the initial bearing
// of the geodesic from point 1 to point 2, clockwise from true north, in
// radians in [0, 2pi); null for equal or antipodal points.
func geoAzimuth(args []any) (any, error) {
	lng1, lat1, ok1 := geoPointArgs(args[0], args[1])
	lng2, lat2, ok2 := geoPointArgs(args[2], args[3])
	if !ok1 || !ok2 {
		return nil, nil
	}
	az, ok := geoBearing(lng1, lat1, lng2, lat2)
	if !ok {
		return nil, nil
	}
	return az, nil
}

// geoAngle is geo_angle(lng1, lat1, lng2, lat2, lng3, lat3): the angle
// at point 2 from the line to point 1 clockwise to the line to point 3, in
// radians in [0, 2pi); null when point 2 equals or is antipodal to point
// 1 or point 3.
func geoAngle(args []any) (any, error) {
	lng1, lat1, ok1 := geoPointArgs(args[0], args[1])
	lng2, lat2, ok2 := geoPointArgs(args[2], args[3])
	lng3, lat3, ok3 := geoPointArgs(args[4], args[5])
	if !ok1 || !ok2 || !ok3 {
		return nil, nil
	}
	a1, okA := geoBearing(lng2, lat2, lng1, lat1)
	a3, okB := geoBearing(lng2, lat2, lng3, lat3)
	if !okA || !okB {
		return nil, nil
	}
	ang := math.Mod(a3-a1, 2*math.Pi)
	if ang < 0 {
		ang += 2 * math.Pi
	}
	if ang >= 2*math.Pi {
		ang = 0
	}
	return ang, nil
}

// geoBearing is the initial bearing in radians, in [0, 2pi), of the
// geodesic from point 1 to point 2 on the sphere; ok is false when the
// points are equal or antipodal (no single geodesic).
func geoBearing(lng1, lat1, lng2, lat2 float64) (float64, bool) {
	p1, p2 := geoS2Point(lng1, lat1), geoS2Point(lng2, lat2)
	if p1.ApproxEqual(p2) || p1.ApproxEqual(s2.Point{Vector: p2.Mul(-1)}) {
		return 0, false
	}
	rad := math.Pi / 180
	phi1, phi2 := lat1*rad, lat2*rad
	dl := (lng2 - lng1) * rad
	y := math.Sin(dl) * math.Cos(phi2)
	x := math.Cos(phi1)*math.Sin(phi2) - math.Sin(phi1)*math.Cos(phi2)*math.Cos(dl)
	az := math.Atan2(y, x)
	if az < 0 {
		az += 2 * math.Pi
	}
	if az >= 2*math.Pi {
		az = 0
	}
	return az, true
}

// ---- shapes given as GeoJSON

// geoLines are the lines of a LineString or MultiLineString, as
// unit-sphere points.
type geoLines [][]s2.Point

// geoPolys are the polygons of a Polygon or MultiPolygon: each a shell
// loop and hole loops, every loop normalized to enclose at most half the
// sphere.
type geoPolys []geoPoly

// geoPoly is one polygon: a shell and its holes.
type geoPoly struct {
	shell *s2.Loop
	holes []*s2.Loop
}

// geoShapeCache keeps parsed shapes by their JSON text: a query usually
// passes the same literal shape on every row.
var geoShapeCache = struct {
	sync.Mutex
	m map[string]any // geoLines, geoPolys, or nil for invalid
}{m: map[string]any{}}

// geoShapeCacheMax bounds the number of shapes kept.
const geoShapeCacheMax = 256

// geoCachedShape returns parse(text), remembering it.
func geoCachedShape(kind, text string, parse func(string) any) any {
	key := kind + "\x00" + text
	geoShapeCache.Lock()
	v, ok := geoShapeCache.m[key]
	geoShapeCache.Unlock()
	if ok {
		return v
	}
	v = parse(text)
	geoShapeCache.Lock()
	if len(geoShapeCache.m) >= geoShapeCacheMax {
		geoShapeCache.m = map[string]any{}
	}
	geoShapeCache.m[key] = v
	geoShapeCache.Unlock()
	return v
}

// geoJSONShape is the part of a GeoJSON geometry these functions read.
type geoJSONShape struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// geoParsePositions converts GeoJSON positions ([lng, lat] pairs) to
// unit-sphere points; ok is false for a position that is not exactly two
// numbers or not a valid coordinate.
func geoParsePositions(pos [][]float64) ([]s2.Point, bool) {
	pts := make([]s2.Point, len(pos))
	for i, p := range pos {
		if len(p) != 2 || !geoValidPoint(p[0], p[1]) {
			return nil, false
		}
		pts[i] = geoS2Point(p[0], p[1])
	}
	return pts, true
}

// geoParseLines reads a GeoJSON LineString or MultiLineString; nil when
// it is invalid: a line needs two or more valid positions, and no edge may
// join antipodal points.
func geoParseLines(text string) any {
	var g geoJSONShape
	if json.Unmarshal([]byte(text), &g) != nil {
		return nil
	}
	var raw [][][]float64
	switch g.Type {
	case "LineString":
		var one [][]float64
		if json.Unmarshal(g.Coordinates, &one) != nil {
			return nil
		}
		raw = [][][]float64{one}
	case "MultiLineString":
		if json.Unmarshal(g.Coordinates, &raw) != nil || len(raw) == 0 {
			return nil
		}
	default:
		return nil
	}
	var out geoLines
	for _, l := range raw {
		pts, ok := geoParsePositions(l)
		if !ok || len(pts) < 2 {
			return nil
		}
		for i := 1; i < len(pts); i++ {
			if geoAntipodal(pts[i-1], pts[i]) {
				return nil
			}
		}
		out = append(out, pts)
	}
	return out
}

// geoAntipodal reports whether two points are (nearly) antipodal, which
// leaves the edge between them undefined.
func geoAntipodal(a, b s2.Point) bool {
	return a.ApproxEqual(s2.Point{Vector: b.Mul(-1)})
}

// geoParsePolygons reads a GeoJSON Polygon or MultiPolygon; nil when it
// is invalid. Kusto's constraints: each ring has four or more positions,
// the last equal to the first, distinct vertices otherwise, valid
// coordinates, no antipodal edge; rings do not cross. A ring encloses the
// smaller of the two regions it divides the sphere into.
func geoParsePolygons(text string) any {
	var g geoJSONShape
	if json.Unmarshal([]byte(text), &g) != nil {
		return nil
	}
	var raw [][][][]float64
	switch g.Type {
	case "Polygon":
		var one [][][]float64
		if json.Unmarshal(g.Coordinates, &one) != nil {
			return nil
		}
		raw = [][][][]float64{one}
	case "MultiPolygon":
		if json.Unmarshal(g.Coordinates, &raw) != nil || len(raw) == 0 {
			return nil
		}
	default:
		return nil
	}
	var out geoPolys
	for _, poly := range raw {
		if len(poly) == 0 {
			return nil
		}
		var loops []*s2.Loop
		for _, ring := range poly {
			l := geoRingLoop(ring)
			if l == nil {
				return nil
			}
			loops = append(loops, l)
		}
		if geoLoopsCross(loops) {
			return nil
		}
		out = append(out, geoPoly{shell: loops[0], holes: loops[1:]})
	}
	return out
}

// geoRingLoop is the loop of a GeoJSON linear ring, normalized; nil when
// the ring is invalid.
func geoRingLoop(ring [][]float64) *s2.Loop {
	if len(ring) < 4 {
		return nil
	}
	first, last := ring[0], ring[len(ring)-1]
	if len(first) != 2 || len(last) != 2 || first[0] != last[0] || first[1] != last[1] {
		return nil
	}
	pts, ok := geoParsePositions(ring[:len(ring)-1])
	if !ok {
		return nil
	}
	seen := make(map[s2.Point]bool, len(pts))
	for i, p := range pts {
		if seen[p] || geoAntipodal(p, pts[(i+1)%len(pts)]) {
			return nil
		}
		seen[p] = true
	}
	l := s2.LoopFromPoints(pts)
	l.Normalize()
	return l
}

// geoCrossCheckMax bounds the edges a polygon may have for the check that
// its rings do not cross (a pairwise check; larger polygons are taken as
// valid).
const geoCrossCheckMax = 4000

// geoLoopsCross reports whether two edges of the loops cross (at a point
// interior to both; rings may share vertices). Adjacent edges of a loop
// are not compared.
func geoLoopsCross(loops []*s2.Loop) bool {
	type edge struct {
		a, b     s2.Point
		loop, at int
	}
	var edges []edge
	for li, l := range loops {
		n := l.NumVertices()
		for i := 0; i < n; i++ {
			edges = append(edges, edge{l.Vertex(i), l.Vertex((i + 1) % n), li, i})
		}
	}
	if len(edges) > geoCrossCheckMax {
		return false
	}
	for i := range edges {
		for j := i + 1; j < len(edges); j++ {
			e, f := edges[i], edges[j]
			if e.loop == f.loop {
				n := loops[e.loop].NumVertices()
				if f.at == e.at+1 || e.at == 0 && f.at == n-1 {
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

// contains reports whether a polygon set holds p: p is in a shell and in
// none of its holes.
func (ps geoPolys) contains(p s2.Point) bool {
	for _, poly := range ps {
		if !poly.shell.ContainsPoint(p) {
			continue
		}
		inHole := false
		for _, h := range poly.holes {
			if h.ContainsPoint(p) {
				inHole = true
				break
			}
		}
		if !inHole {
			return true
		}
	}
	return false
}

// distance is the angle from p to the nearest edge of the polygons.
func (ps geoPolys) distance(p s2.Point) s1.Angle {
	best := s1.InfAngle()
	for _, poly := range ps {
		for _, l := range append([]*s2.Loop{poly.shell}, poly.holes...) {
			n := l.NumVertices()
			for i := 0; i < n; i++ {
				if d := s2.DistanceFromSegment(p, l.Vertex(i), l.Vertex((i+1)%n)); d < best {
					best = d
				}
			}
		}
	}
	return best
}

// geoShapeArgs reads a point and a shape argument, parsing the shape with
// parse (cached); ok is false when either is invalid.
func geoShapeArgs(args []any, kind string, parse func(string) any) (s2.Point, any, bool) {
	lng, lat, ok := geoPointArgs(args[0], args[1])
	text, okS := udfString(args[2])
	if !ok || !okS {
		return s2.Point{}, nil, false
	}
	shape := geoCachedShape(kind, text, parse)
	if shape == nil {
		return s2.Point{}, nil, false
	}
	return geoS2Point(lng, lat), shape, true
}

// geoPointInPolygon is geo_point_in_polygon(lng, lat, polygon).
func geoPointInPolygon(args []any) (any, error) {
	p, shape, ok := geoShapeArgs(args, "polygon", geoParsePolygons)
	polys, _ := shape.(geoPolys)
	if !ok || polys == nil {
		return nil, nil
	}
	return polys.contains(p), nil
}

// geoDistancePointToPolygon is geo_distance_point_to_polygon(lng, lat,
// polygon): 0 inside, else the distance in meters to the nearest edge.
func geoDistancePointToPolygon(args []any) (any, error) {
	p, shape, ok := geoShapeArgs(args, "polygon", geoParsePolygons)
	polys, _ := shape.(geoPolys)
	if !ok || polys == nil {
		return nil, nil
	}
	if polys.contains(p) {
		return 0.0, nil
	}
	return polys.distance(p).Radians() * geoEarthRadius, nil
}

// geoDistancePointToLine is geo_distance_point_to_line(lng, lat, line):
// the distance in meters to the nearest edge of the line(s).
func geoDistancePointToLine(args []any) (any, error) {
	p, shape, ok := geoShapeArgs(args, "line", geoParseLines)
	lines, _ := shape.(geoLines)
	if !ok || lines == nil {
		return nil, nil
	}
	best := s1.InfAngle()
	for _, l := range lines {
		for i := 1; i < len(l); i++ {
			if d := s2.DistanceFromSegment(p, l[i-1], l[i]); d < best {
				best = d
			}
		}
	}
	return best.Radians() * geoEarthRadius, nil
}
