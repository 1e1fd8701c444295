package kql

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// cdewatch keeps the "sketches" of hll() and tdigest() exactly: an hll
// value is the dynamic array of the distinct values seen, a tdigest value
// the dynamic array of every value. dcount_hll and percentile_tdigest are
// then exact (Kusto's are estimates within their documented error), and a
// sketch grows with the data it summarizes instead of staying small.

// sketchAggregate translates hll(), hll_merge(), tdigest() and
// tdigest_merge() as aggregations.
func (t *translator) sketchAggregate(c *Call, args []texpr, res func(sql, typ string) texpr) texpr {
	if len(args) < 1 {
		t.fail(c, "%s needs a value", c.Name)
	}
	x := args[0]
	switch c.Name {
	case "hll":
		return res("coalesce(to_json(list(DISTINCT "+toDynamic(x)+" ORDER BY "+toDynamic(x)+") FILTER (WHERE "+x.sql+" IS NOT NULL)), '[]')", tyDynamic)
	case "tdigest":
		return res("coalesce(to_json(list("+toDynamic(x)+" ORDER BY "+toDynamic(x)+") FILTER (WHERE "+x.sql+" IS NOT NULL)), '[]')", tyDynamic)
	case "hll_merge":
		return res("coalesce(to_json(list_distinct(flatten(list(CAST(json_extract("+t.arg(c, 0, x, tyDynamic)+", '$[*]') AS JSON[]))))), '[]')", tyDynamic)
	}
	// tdigest_merge, merge_tdigest
	return res("coalesce(to_json(flatten(list(CAST(json_extract("+t.arg(c, 0, x, tyDynamic)+", '$[*]') AS JSON[])))), '[]')", tyDynamic)
}

// sketchFunctions are the scalar functions over sketches.
func sketchFunctions() map[string]fnSpec {
	elems := func(t *translator, c *Call, i int, a texpr) string {
		return "CAST(json_extract(" + t.arg(c, i, a, tyDynamic) + ", '$[*]') AS JSON[])"
	}
	merge := func(distinct bool) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			s := elems(t, c, 0, a[0])
			for i := 1; i < len(a); i++ {
				s = "list_concat(" + s + ", " + elems(t, c, i, a[i]) + ")"
			}
			if distinct {
				s = "list_distinct(" + s + ")"
			}
			return texpr{sql: "to_json(" + s + ")", typ: tyDynamic}
		}
	}
	nums := func(t *translator, c *Call, a texpr) string {
		return "list_sort(CAST(json_extract(" + t.arg(c, 0, a, tyDynamic) + ", '$[*]') AS DOUBLE[]))"
	}
	return map[string]fnSpec{
		"hll_merge":     {2, 64, merge(true)},
		"merge_tdigest": {2, 64, merge(false)},
		"tdigest_merge": {2, 64, merge(false)},
		"dcount_hll": {1, 1, func(t *translator, c *Call, a []texpr) texpr {
			return texpr{sql: "CAST(coalesce(json_array_length(" + t.arg(c, 0, a[0], tyDynamic) + "), 0) AS BIGINT)", typ: tyLong}
		}},
		"percentile_tdigest": {2, 3, func(t *translator, c *Call, a []texpr) texpr {
			typ := tyReal
			if len(a) == 3 {
				typ = typeOfArg(t, c, a[2])
			}
			l := nums(t, c, a[0])
			p := t.arg(c, 1, a[1], tyReal)
			// nearest rank: the smallest value with at least p% of the values at or below it
			s := "list_extract(" + l + ", CAST(greatest(ceil(" + p + " / 100.0 * len(" + l + ")), 1) AS BIGINT))"
			return texpr{sql: t.convert(c, texpr{sql: s, typ: tyReal}, typ), typ: typ}
		}},
		"rank_tdigest": {2, 2, func(t *translator, c *Call, a []texpr) texpr {
			l := nums(t, c, a[0])
			return texpr{sql: "CAST(len(list_filter(" + l + ", v -> v <= " + t.arg(c, 1, a[1], tyReal) + ")) AS BIGINT)", typ: tyLong}
		}},
	}
}

// isScalarMerge reports whether c is the scalar form of a sketch merge:
// hll_merge and tdigest_merge of two or more sketches (with one argument
// they are aggregations).
func isScalarMerge(c *Call) bool {
	switch c.Name {
	case "hll_merge", "tdigest_merge", "merge_tdigest":
		return len(c.Args) > 1
	}
	return false
}

// sketchName is the name Kusto gives an unnamed call of a sketch function
// of one column: dcount_hll_merged, percentile_tdigest_merged.
func sketchName(fn string, arg string) string {
	switch fn {
	case "dcount_hll", "percentile_tdigest", "rank_tdigest":
		if arg != "" {
			return fn + "_" + strings.TrimSpace(arg)
		}
	}
	return ""
}

// dcountIntersect is evaluate dcount_intersect(hll1, hll2, ...): columns
// s0, s1, ... with the distinct count of the first set, of the first two
// intersected, and so on.
func (t *translator) dcountIntersect(e *env, r *rel, v *Evaluate) *rel {
	sc := &scope{env: e, r: r}
	cols := append([]col(nil), r.cols...)
	exprs := passThrough(cols)
	acc := ""
	for i, a := range v.Call.Args {
		x := t.expr(sc, a)
		l := "CAST(json_extract(" + t.convert(a, x, tyDynamic) + ", '$[*]') AS VARCHAR[])"
		if acc == "" {
			acc = l
		} else {
			acc = "list_intersect(" + acc + ", " + l + ")"
		}
		cols = append(cols, col{name: "s" + itoa(i), typ: tyLong, id: t.newID()})
		exprs = append(exprs, "CAST(len(list_distinct("+acc+")) AS BIGINT)")
	}
	return t.project(r, cols, exprs)
}

// buildSchemaUDF computes buildschema(): the merged schema of dynamic
// values. A property seen with one type maps to its type name, with
// several to the list of them in the order first seen; an object maps to
// its own schema, an array to {"`indexer`": the schema of its elements}.
var buildSchemaUDF = udf{Name: "kql_buildschema", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	s, _ := udfString(args[0])
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var values []any
	if err := dec.Decode(&values); err != nil {
		return nil, err
	}
	root := &schemaNode{}
	for _, v := range values {
		if obj, ok := v.(map[string]any); ok {
			root.addObject(obj, rawKeyOrder(v))
		}
	}
	b, err := json.Marshal(root.objectJSON())
	return string(b), err
}}

// schemaNode is the schema of the values seen at one place: type names in
// order, and the schemas of objects and arrays found there.
type schemaNode struct {
	types []any // type names (string) and the object/indexer schemas, in order
	keys  []string
	props map[string]*schemaNode
	elems *schemaNode
	obj   bool
	arr   bool
}

func (n *schemaNode) addType(name string) {
	for _, t := range n.types {
		if t == name {
			return
		}
	}
	n.types = append(n.types, name)
}

func (n *schemaNode) add(v any) {
	switch x := v.(type) {
	case map[string]any:
		if !n.obj {
			n.obj = true
			n.types = append(n.types, "\x00object")
		}
		n.addObject(x, sortedMapKeys(x))
	case []any:
		if !n.arr {
			n.arr = true
			n.elems = &schemaNode{}
			n.types = append(n.types, "\x00array")
		}
		for _, e := range x {
			n.elems.add(e)
		}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			n.addType("double")
		} else {
			n.addType("long")
		}
	case string:
		n.addType("string")
	case bool:
		n.addType("bool")
	}
}

func (n *schemaNode) addObject(obj map[string]any, keys []string) {
	if n.props == nil {
		n.props = map[string]*schemaNode{}
	}
	for _, k := range keys {
		p, ok := n.props[k]
		if !ok {
			p = &schemaNode{}
			n.props[k] = p
			n.keys = append(n.keys, k)
		}
		p.add(obj[k])
	}
}

// objectJSON renders the properties of n as an ordered JSON object.
func (n *schemaNode) objectJSON() orderedBag {
	bag := orderedBag{}
	for _, k := range n.keys {
		bag = append(bag, bagEntry{k, n.props[k].json()})
	}
	return bag
}

// json renders n: one type alone, or the list of types.
func (n *schemaNode) json() any {
	var out []any
	for _, t := range n.types {
		switch t {
		case "\x00object":
			out = append(out, n.objectJSON())
		case "\x00array":
			out = append(out, orderedBag{{"`indexer`", n.elems.json()}})
		default:
			out = append(out, t)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// sortedMapKeys returns the keys of m sorted (the decoder loses their
// written order below the top level).
func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rawKeyOrder returns the keys of a top-level object in sorted order.
func rawKeyOrder(v any) []string {
	m, _ := v.(map[string]any)
	return sortedMapKeys(m)
}

// itoa formats a small non-negative index for generated SQL names.
func itoa(i int) string { return strconv.Itoa(i) }
