package kql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// This file holds the series_* functions: Kusto's functions on numeric
// series (dynamic arrays, typically made by make-series). Each is Go code
// reached through one of two udfs (kql_series for a dynamic result,
// kql_series_real for a real) that take the function's name and its
// arguments as JSON text (a scalar argument is converted to a JSON
// scalar). Elements that are not numbers (null, strings, bools) are
// missing values; a real that is not finite is written inside a dynamic
// value as the string "NaN", "Infinity" or "-Infinity", as the engine
// writes such reals elsewhere, and read back as a number. Functions
// returning several columns (series_fit_line, series_fit_2lines,
// series_stats) are expanded by seriesTuple.

// seriesFunctions are the series_* functions on dynamic arrays, by name.
func seriesFunctions() map[string]fnSpec {
	out := map[string]fnSpec{}
	for _, d := range seriesDefs() {
		name := d.name
		u := seriesDynamicUDF
		if d.result == tyReal {
			u = seriesRealUDF
		}
		out[name] = fnSpec{d.min, d.max, func(t *translator, c *Call, a []texpr) texpr {
			args := append([]texpr{{sql: sqlString(name), typ: tyString}}, a...)
			return t.udfCall(c, args, u)
		}}
	}
	for name, tu := range seriesTuples {
		fields := make([]string, len(tu.fields))
		for i, f := range tu.fields {
			fields[i] = f.name
		}
		name, dyn, list := name, tu.dynamic, strings.Join(fields, ", ")
		out[name] = fnSpec{1, -1, func(t *translator, c *Call, a []texpr) texpr {
			if strings.HasPrefix(dyn, "$") {
				t.fail(c, "%s returns several columns (%s) and can be used only as `extend (%s) = %s(...)` or `extend %s(...)`", name, list, list, name, name)
			}
			t.fail(c, "%s returns several columns (%s) and can be used only as `extend (%s) = %s(...)`; to use its result in an expression, call %s, which returns them as one dynamic bag", name, list, list, name, dyn)
			return texpr{}
		}}
	}
	return out
}

// seriesUDFs are the Go implementations seriesFunctions call: two udfs
// (one for the functions returning a dynamic value, one for those
// returning a real) taking the function's name and its arguments, so that
// registering them stays cheap.
func seriesUDFs() []udf { return []udf{seriesDynamicUDF, seriesRealUDF} }

var (
	seriesDynamicUDF = udf{Name: "kql_series", Args: []string{tyString}, Variadic: tyDynamic, Result: tyDynamic, Fn: seriesDispatch}
	seriesRealUDF    = udf{Name: "kql_series_real", Args: []string{tyString}, Variadic: tyDynamic, Result: tyReal, Fn: seriesDispatch}
)

// seriesByName are the series functions, by name, for seriesDispatch.
var seriesByName = func() map[string]seriesDef {
	m := map[string]seriesDef{}
	for _, d := range seriesDefs() {
		m[d.name] = d
	}
	return m
}()

// seriesDispatch runs the series function named by raw[0] on the JSON
// arguments that follow (nil for a null argument).
func seriesDispatch(raw []any) (any, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("a series function was called without its name")
	}
	name, _ := raw[0].(string)
	d, ok := seriesByName[name]
	if !ok {
		return nil, fmt.Errorf("unknown series function %q", name)
	}
	args := make([]any, len(raw)-1)
	for i, r := range raw[1:] {
		s, ok := r.(string)
		if !ok || s == "" {
			continue
		}
		v, err := decodeSeriesJSON(s)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return d.fn(args)
}

// seriesDef is one series function: its KQL name, arity, result type and
// implementation over the decoded JSON arguments (nil for a null or
// missing argument; len(args) is the number given).
type seriesDef struct {
	name     string
	min, max int
	result   string
	fn       func(args []any) (any, error)
}

// seriesDefs lists the series functions.
func seriesDefs() []seriesDef {
	var defs []seriesDef
	add := func(name string, min, max int, result string, fn func(args []any) (any, error)) {
		defs = append(defs, seriesDef{name, min, max, result, fn})
	}
	// element-wise functions of one series
	unary := func(name string, keepInt bool, f func(float64) float64) {
		add(name, 1, 1, tyDynamic, func(args []any) (any, error) {
			s, ok := seriesArg(args, 0)
			if !ok {
				return nil, nil
			}
			out := make([]sNum, len(s))
			for i, x := range s {
				if !x.ok {
					continue
				}
				if keepInt && x.isInt {
					out[i] = sInt(int64(f(float64(x.i))))
					continue
				}
				out[i] = sReal(f(x.v))
			}
			return encodeSeries(out), nil
		})
	}
	unary("series_abs", true, math.Abs)
	unary("series_acos", false, math.Acos)
	unary("series_asin", false, math.Asin)
	unary("series_atan", false, math.Atan)
	unary("series_ceiling", true, math.Ceil)
	unary("series_cos", false, math.Cos)
	unary("series_exp", false, math.Exp)
	unary("series_floor", true, math.Floor)
	unary("series_log", false, math.Log)
	unary("series_sign", true, func(x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return x
	})
	unary("series_sin", false, math.Sin)
	unary("series_tan", false, math.Tan)

	// element-wise functions of two series (or a series and a number)
	arith := func(name string, intOp func(a, b int64) int64, op func(a, b float64) float64) {
		add(name, 2, 2, tyDynamic, func(args []any) (any, error) {
			return seriesZip(args, func(a, b sNum) sNum {
				if intOp != nil && a.isInt && b.isInt {
					return sInt(intOp(a.i, b.i))
				}
				return sReal(op(a.v, b.v))
			})
		})
	}
	arith("series_add", func(a, b int64) int64 { return a + b }, func(a, b float64) float64 { return a + b })
	arith("series_subtract", func(a, b int64) int64 { return a - b }, func(a, b float64) float64 { return a - b })
	arith("series_multiply", func(a, b int64) int64 { return a * b }, func(a, b float64) float64 { return a * b })
	arith("series_divide", nil, func(a, b float64) float64 { return a / b })
	arith("series_pow", nil, math.Pow)
	compare := func(name string, op func(c int) bool) {
		add(name, 2, 2, tyDynamic, func(args []any) (any, error) {
			return seriesZip(args, func(a, b sNum) sNum {
				return sBool(op(compareNums(a, b)))
			})
		})
	}
	compare("series_equals", func(c int) bool { return c == 0 })
	compare("series_not_equals", func(c int) bool { return c != 0 })
	compare("series_greater", func(c int) bool { return c > 0 })
	compare("series_greater_equals", func(c int) bool { return c >= 0 })
	compare("series_less", func(c int) bool { return c < 0 })
	compare("series_less_equals", func(c int) bool { return c <= 0 })

	// reductions
	add("series_sum", 1, 1, tyReal, func(args []any) (any, error) {
		s, ok := seriesArg(args, 0)
		if !ok {
			return nil, nil
		}
		sum := 0.0
		for _, x := range s {
			if x.ok {
				sum += x.v
			}
		}
		return sum, nil
	})
	add("series_magnitude", 1, 1, tyReal, func(args []any) (any, error) {
		s, ok := seriesArg(args, 0)
		if !ok {
			return nil, nil
		}
		sum := 0.0
		for _, x := range s {
			if x.ok {
				sum += x.v * x.v
			}
		}
		return math.Sqrt(sum), nil
	})
	add("series_dot_product", 2, 2, tyReal, func(args []any) (any, error) {
		a, b, ok := seriesPair(args)
		if !ok || len(a) == 0 {
			return nil, nil
		}
		sum := 0.0
		for i := range a {
			if a[i].ok && b[i].ok {
				sum += a[i].v * b[i].v
			}
		}
		return sum, nil
	})
	add("series_cosine_similarity", 2, 4, tyReal, func(args []any) (any, error) {
		a, b, ok := seriesPair(args)
		if !ok || len(a) == 0 {
			return nil, nil
		}
		dot, ma, mb := 0.0, 0.0, 0.0
		for i := range a {
			if a[i].ok && b[i].ok {
				dot += a[i].v * b[i].v
			}
			if a[i].ok {
				ma += a[i].v * a[i].v
			}
			if b[i].ok {
				mb += b[i].v * b[i].v
			}
		}
		ma, mb = math.Sqrt(ma), math.Sqrt(mb)
		if m, ok := numberArg(args, 2); ok {
			ma = m
		}
		if m, ok := numberArg(args, 3); ok {
			mb = m
		}
		return dot / (ma * mb), nil
	})
	add("series_pearson_correlation", 2, 2, tyReal, func(args []any) (any, error) {
		a, b, ok := seriesPair(args)
		if !ok {
			return nil, nil
		}
		var xs, ys []float64
		for i := range a {
			if a[i].ok && b[i].ok {
				xs = append(xs, a[i].v)
				ys = append(ys, b[i].v)
			}
		}
		if len(xs) == 0 {
			return nil, nil
		}
		mx, my := mean(xs), mean(ys)
		var sxy, sxx, syy float64
		for i := range xs {
			sxy += (xs[i] - mx) * (ys[i] - my)
			sxx += (xs[i] - mx) * (xs[i] - mx)
			syy += (ys[i] - my) * (ys[i] - my)
		}
		return sxy / math.Sqrt(sxx*syy), nil
	})
	add("series_stats_dynamic", 1, 2, tyDynamic, func(args []any) (any, error) {
		s, ok := seriesArg(args, 0)
		if !ok {
			return nil, nil
		}
		ignore := false
		if len(args) > 1 {
			ignore, _ = args[1].(bool)
		}
		return encodeBag(seriesStats(s, ignore)), nil
	})

	// filling missing values
	add("series_fill_forward", 1, 2, tyDynamic, func(args []any) (any, error) {
		return seriesFill(args, 1, func(s []sNum, missing []bool) {
			for i := 1; i < len(s); i++ {
				if missing[i] && !missing[i-1] {
					s[i], missing[i] = s[i-1], false
				}
			}
		})
	})
	add("series_fill_backward", 1, 2, tyDynamic, func(args []any) (any, error) {
		return seriesFill(args, 1, func(s []sNum, missing []bool) {
			for i := len(s) - 2; i >= 0; i-- {
				if missing[i] && !missing[i+1] {
					s[i], missing[i] = s[i+1], false
				}
			}
		})
	})
	add("series_fill_const", 2, 3, tyDynamic, func(args []any) (any, error) {
		c := sNum{}
		if len(args) > 1 {
			c = toSNum(args[1])
		}
		return seriesFill(args, 2, func(s []sNum, missing []bool) {
			for i := range s {
				if missing[i] {
					s[i] = c
				}
			}
		})
	})
	add("series_fill_linear", 1, 4, tyDynamic, seriesFillLinear)

	// filters
	add("series_fir", 2, 4, tyDynamic, seriesFIR)
	add("series_iir", 3, 3, tyDynamic, seriesIIR)

	// regression
	add("series_fit_line_dynamic", 1, 1, tyDynamic, func(args []any) (any, error) {
		s, ok := seriesArg(args, 0)
		if !ok {
			return nil, nil
		}
		f := fitLine(s, 0, len(s))
		return encodeBag(f.bag(true)), nil
	})
	add("series_fit_2lines_dynamic", 1, 1, tyDynamic, func(args []any) (any, error) {
		s, ok := seriesArg(args, 0)
		if !ok {
			return nil, nil
		}
		return encodeBag(fit2Lines(s)), nil
	})

	// anomalies and seasonality
	add("series_outliers", 1, 5, tyDynamic, seriesOutliers)
	add("series_seasonal", 1, 2, tyDynamic, seriesSeasonal)
	// decomposition (series_decompose.go); the functions returning
	// several columns have an internal variant returning them as one bag
	add("$series_decompose", 1, 5, tyDynamic, seriesDecompose)
	add("$series_decompose_anomalies", 1, 7, tyDynamic, seriesDecomposeAnomalies)
	add("series_decompose_forecast", 2, 5, tyDynamic, seriesDecomposeForecast)
	return defs
}

// sNum is one element of a numeric series: a long (isInt, i) or a real
// (v), or missing (!ok). A bool element (the result of a comparison) has
// isBool set and b.
type sNum struct {
	ok     bool
	isInt  bool
	i      int64
	v      float64
	isBool bool
	b      bool
}

// sInt is a long element.
func sInt(i int64) sNum { return sNum{ok: true, isInt: true, i: i, v: float64(i)} }

// sReal is a real element.
func sReal(v float64) sNum { return sNum{ok: true, v: v} }

// sBool is a bool element.
func sBool(b bool) sNum { return sNum{ok: true, isBool: true, b: b} }

// decodeSeriesJSON decodes one argument, keeping numbers as json.Number.
func decodeSeriesJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("a series function got an argument that is not valid JSON: %v", err)
	}
	return v, nil
}

// toSNum reads a decoded JSON value as a series element.
func toSNum(v any) sNum {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return sInt(i)
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return sReal(f)
		}
	case string:
		switch x {
		case "NaN":
			return sReal(math.NaN())
		case "Infinity", "+Infinity":
			return sReal(math.Inf(1))
		case "-Infinity":
			return sReal(math.Inf(-1))
		}
	}
	return sNum{}
}

// seriesArg returns argument i as a series; ok is false when it is null
// or not an array.
func seriesArg(args []any, i int) ([]sNum, bool) {
	if i >= len(args) {
		return nil, false
	}
	arr, ok := args[i].([]any)
	if !ok {
		return nil, false
	}
	out := make([]sNum, len(arr))
	for j, v := range arr {
		out[j] = toSNum(v)
	}
	return out, true
}

// numberArg returns argument i as a number when it is one.
func numberArg(args []any, i int) (float64, bool) {
	if i >= len(args) {
		return 0, false
	}
	x := toSNum(args[i])
	return x.v, x.ok
}

// operand is a series argument or a number broadcast to any length.
type operand struct {
	s      []sNum
	scalar *sNum
}

// at is the operand's element i: the number itself for a scalar, null
// past the end of a series.
func (o operand) at(i int) sNum {
	if o.scalar != nil {
		return *o.scalar
	}
	if i < len(o.s) {
		return o.s[i]
	}
	return sNum{}
}

// operandArg reads argument i as an operand; ok is false for null.
func operandArg(args []any, i int) (operand, bool) {
	if s, ok := seriesArg(args, i); ok {
		return operand{s: s}, true
	}
	if i < len(args) && args[i] != nil {
		x := toSNum(args[i])
		return operand{scalar: &x}, true
	}
	return operand{}, false
}

// seriesZip applies op element-wise to two operands: the result is as
// long as the longer series; an element missing on either side (or past
// the end of the shorter series) gives null.
func seriesZip(args []any, op func(a, b sNum) sNum) (any, error) {
	a, ok1 := operandArg(args, 0)
	b, ok2 := operandArg(args, 1)
	if !ok1 || !ok2 {
		return nil, nil
	}
	n := max(len(a.s), len(b.s))
	if a.scalar != nil && b.scalar != nil {
		return nil, nil
	}
	out := make([]sNum, n)
	for i := range out {
		x, y := a.at(i), b.at(i)
		if x.ok && y.ok {
			out[i] = op(x, y)
		}
	}
	return encodeSeries(out), nil
}

// seriesPair reads two series (or a series and a number) of the length
// of the shorter series.
func seriesPair(args []any) ([]sNum, []sNum, bool) {
	a, ok1 := operandArg(args, 0)
	b, ok2 := operandArg(args, 1)
	if !ok1 || !ok2 || a.scalar != nil && b.scalar != nil {
		return nil, nil, false
	}
	n := len(a.s)
	switch {
	case a.scalar != nil:
		n = len(b.s)
	case b.scalar != nil:
	default:
		n = min(len(a.s), len(b.s))
	}
	x, y := make([]sNum, n), make([]sNum, n)
	for i := 0; i < n; i++ {
		x[i], y[i] = a.at(i), b.at(i)
	}
	return x, y, true
}

// compareNums compares two numbers: -1, 0 or 1 (longs exactly).
func compareNums(a, b sNum) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	switch {
	case a.v < b.v:
		return -1
	case a.v > b.v:
		return 1
	case a.v == b.v:
		return 0
	}
	// NaN: unordered; it equals nothing
	return 2
}

// encodeSeries writes a series as a JSON array.
func encodeSeries(s []sNum) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		writeSNum(&b, x)
	}
	b.WriteByte(']')
	return b.String()
}

// writeSNum writes one element: null, a bool, a long, or a real with a
// fraction or exponent (1.0, 0.25, 1e+21), non-finite reals as strings.
func writeSNum(b *bytes.Buffer, x sNum) {
	switch {
	case !x.ok:
		b.WriteString("null")
	case x.isBool:
		b.WriteString(strconv.FormatBool(x.b))
	case x.isInt:
		b.WriteString(strconv.FormatInt(x.i, 10))
	default:
		b.WriteString(seriesReal(x.v))
	}
}

// seriesReal renders a real inside a dynamic value.
func seriesReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	}
	s := formatReal64(f)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// bagEntries is a JSON object whose values are sNum, []sNum or nested
// bagEntries, in order.
type bagEntries []struct {
	k string
	v any
}

// add appends a key and its value.
func (e *bagEntries) add(k string, v any) {
	*e = append(*e, struct {
		k string
		v any
	}{k, v})
}

// encodeBag writes a bag as a JSON object.
func encodeBag(e bagEntries) string {
	var b bytes.Buffer
	writeBag(&b, e)
	return b.String()
}

// writeBag writes a bag as a JSON object to b.
func writeBag(b *bytes.Buffer, e bagEntries) {
	b.WriteByte('{')
	for i, kv := range e {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteJSON(kv.k))
		b.WriteByte(':')
		switch v := kv.v.(type) {
		case sNum:
			writeSNum(b, v)
		case []sNum:
			b.WriteString(encodeSeries(v))
		case bagEntries:
			writeBag(b, v)
		default:
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
}

// mean is the average of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// seriesStats computes series_stats_dynamic's bag: min, min_idx, max,
// max_idx, avg, stdev, variance (sample), sum and len. With a
// non-finite element (null, NaN, ±inf) every statistic but len is null,
// unless ignore is set, in which case those elements are skipped.
func seriesStats(s []sNum, ignore bool) bagEntries {
	var vals []float64
	var idx []int
	bad := false
	for i, x := range s {
		if !x.ok || math.IsNaN(x.v) || math.IsInf(x.v, 0) {
			bad = true
			continue
		}
		vals = append(vals, x.v)
		idx = append(idx, i)
	}
	var e bagEntries
	null := sNum{}
	if bad && !ignore || len(vals) == 0 {
		for _, k := range []string{"min", "min_idx", "max", "max_idx", "avg", "stdev", "variance", "sum"} {
			e.add(k, null)
		}
		e.add("len", sInt(int64(len(s))))
		return e
	}
	mn, mx, mi, xi := vals[0], vals[0], idx[0], idx[0]
	sum := 0.0
	for j, v := range vals {
		if v < mn {
			mn, mi = v, idx[j]
		}
		if v > mx {
			mx, xi = v, idx[j]
		}
		sum += v
	}
	avg := sum / float64(len(vals))
	variance := 0.0
	if len(vals) > 1 {
		for _, v := range vals {
			variance += (v - avg) * (v - avg)
		}
		variance /= float64(len(vals) - 1)
	}
	e.add("min", sReal(mn))
	e.add("min_idx", sInt(int64(mi)))
	e.add("max", sReal(mx))
	e.add("max_idx", sInt(int64(xi)))
	e.add("avg", sReal(avg))
	e.add("stdev", sReal(math.Sqrt(variance)))
	e.add("variance", sReal(variance))
	e.add("sum", sReal(sum))
	e.add("len", sInt(int64(len(s))))
	return e
}

// seriesFill runs a fill function: args[0] is the series and
// args[placeholder] (when given and not null) the value that marks a
// missing element; by default a null (or other non-number) does. fill
// replaces missing elements and clears their mark.
func seriesFill(args []any, placeholder int, fill func(s []sNum, missing []bool)) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	missing := missingMarks(s, args, placeholder)
	fill(s, missing)
	return encodeSeries(s), nil
}

// missingMarks marks the elements equal to the placeholder argument, or
// the non-numeric ones when it is null or not given.
func missingMarks(s []sNum, args []any, placeholder int) []bool {
	missing := make([]bool, len(s))
	var ph *sNum
	if placeholder < len(args) && args[placeholder] != nil {
		x := toSNum(args[placeholder])
		if x.ok {
			ph = &x
		}
	}
	for i, x := range s {
		if ph == nil {
			missing[i] = !x.ok
		} else {
			missing[i] = x.ok && compareNums(x, *ph) == 0
		}
	}
	return missing
}

// seriesFillLinear is series_fill_linear(series [, placeholder [,
// fill_edges [, constant]]]): missing elements between two values are
// interpolated linearly (truncated to longs when every value of the
// series is a long), those at the edges take the nearest value (unless
// fill_edges is false), and a series of missing values only is filled
// with the constant (0 by default; a null constant keeps them).
func seriesFillLinear(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	missing := missingMarks(s, args, 1)
	edges := true
	if len(args) > 2 {
		if b, ok := args[2].(bool); ok {
			edges = b
		}
	}
	allInt := true
	var known []int
	for i, x := range s {
		if !missing[i] {
			known = append(known, i)
			if x.ok && !x.isInt {
				allInt = false
			}
		}
	}
	if len(known) == 0 {
		c := sReal(0)
		if len(args) > 3 {
			c = toSNum(args[3])
		}
		for i := range s {
			s[i] = c
		}
		return encodeSeries(s), nil
	}
	for k := 0; k+1 < len(known); k++ {
		lo, hi := known[k], known[k+1]
		if hi-lo < 2 || !s[lo].ok || !s[hi].ok {
			continue
		}
		for i := lo + 1; i < hi; i++ {
			v := s[lo].v + (s[hi].v-s[lo].v)*float64(i-lo)/float64(hi-lo)
			if allInt {
				s[i] = sInt(int64(v))
			} else {
				s[i] = sReal(v)
			}
		}
	}
	if edges {
		first, last := known[0], known[len(known)-1]
		for i := 0; i < first; i++ {
			s[i] = s[first]
		}
		for i := last + 1; i < len(s); i++ {
			s[i] = s[last]
		}
	}
	return encodeSeries(s), nil
}

// seriesFIR is series_fir(series, filter [, normalize [, center]]):
// y[i] = Σ filter[j]·x[i-j] (x is 0 before the start and after the end),
// the filter divided by the sum of its coefficients when normalize is
// set (by default, unless a coefficient is negative; normalizing a filter
// with a negative coefficient gives null), and shifted by half its length
// when center is set so that the window is around i.
func seriesFIR(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	f, ok2 := seriesArg(args, 1)
	if !ok || !ok2 || len(f) == 0 {
		return nil, nil
	}
	neg := false
	sum := 0.0
	coef := make([]float64, len(f))
	for j, c := range f {
		if !c.ok {
			return nil, nil
		}
		coef[j] = c.v
		sum += c.v
		if c.v < 0 {
			neg = true
		}
	}
	normalize := !neg
	if len(args) > 2 && args[2] != nil {
		b, ok := args[2].(bool)
		if !ok {
			return nil, nil
		}
		normalize = b
	}
	center := false
	if len(args) > 3 {
		center, _ = args[3].(bool)
	}
	if normalize {
		if neg || sum == 0 {
			return nil, nil
		}
		for j := range coef {
			coef[j] /= sum
		}
	}
	shift := 0
	if center {
		shift = (len(coef) - 1) / 2
	}
	out := make([]sNum, len(s))
	for i := range s {
		y := 0.0
		valid := true
		for j, c := range coef {
			k := i + shift - j
			if k < 0 || k >= len(s) {
				continue
			}
			if !s[k].ok {
				valid = false
				break
			}
			y += c * s[k].v
		}
		if valid {
			out[i] = sReal(y)
		}
	}
	return encodeSeries(out), nil
}

// seriesIIR is series_iir(series, numerators b, denominators a):
// y[i] = (Σ b[j]·x[i-j] - Σ_{j≥1} a[j]·y[i-j]) / a[0], with values before
// the start taken as 0. A missing element of the series counts as 0.
func seriesIIR(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	bs, ok2 := seriesArg(args, 1)
	as, ok3 := seriesArg(args, 2)
	if !ok || !ok2 || !ok3 || len(as) == 0 || len(bs) == 0 {
		return nil, nil
	}
	for _, c := range append(append([]sNum(nil), bs...), as...) {
		if !c.ok {
			return nil, nil
		}
	}
	if as[0].v == 0 {
		return nil, nil
	}
	y := make([]float64, len(s))
	out := make([]sNum, len(s))
	for i := range s {
		v := 0.0
		for j, b := range bs {
			if i-j >= 0 && s[i-j].ok {
				v += b.v * s[i-j].v
			}
		}
		for j := 1; j < len(as); j++ {
			if i-j >= 0 {
				v -= as[j].v * y[i-j]
			}
		}
		y[i] = v / as[0].v
		out[i] = sReal(y[i])
	}
	return encodeSeries(out), nil
}

// lineFit is a least-squares line over a part of a series: x is the
// position of an element counted from 1 (over the whole series), y its
// value.
type lineFit struct {
	rsquare, slope, interception, variance, rvariance float64
	// rss and tss are the residual and total sums of squares
	rss, tss float64
	line     []sNum
}

// fitLine fits a line to the numeric elements of s[lo:hi]; line holds the
// fitted values at every position of the part. variance is the sample
// variance of the values, rvariance the residual sum of squares over
// n-1, rsquare 1 - rss/tss.
func fitLine(s []sNum, lo, hi int) lineFit {
	var xs, ys []float64
	for i := lo; i < hi; i++ {
		if s[i].ok {
			xs = append(xs, float64(i+1))
			ys = append(ys, s[i].v)
		}
	}
	var f lineFit
	n := float64(len(xs))
	if len(xs) == 0 {
		nan := math.NaN()
		f = lineFit{rsquare: nan, slope: nan, interception: nan, variance: nan, rvariance: nan}
	} else {
		mx, my := mean(xs), mean(ys)
		var sxy, sxx float64
		for i := range xs {
			sxy += (xs[i] - mx) * (ys[i] - my)
			sxx += (xs[i] - mx) * (xs[i] - mx)
		}
		if sxx != 0 {
			f.slope = sxy / sxx
		}
		f.interception = my - f.slope*mx
		for i := range xs {
			r := ys[i] - (f.slope*xs[i] + f.interception)
			f.rss += r * r
			f.tss += (ys[i] - my) * (ys[i] - my)
		}
		if n > 1 {
			f.variance = f.tss / (n - 1)
			f.rvariance = f.rss / (n - 1)
		}
		f.rsquare = 1
		if f.tss != 0 {
			f.rsquare = 1 - f.rss/f.tss
		}
	}
	for i := lo; i < hi; i++ {
		f.line = append(f.line, sReal(f.slope*float64(i+1)+f.interception))
	}
	return f
}

// bag renders the fit as series_fit_line_dynamic does (with line_fit
// when withLine).
func (f lineFit) bag(withLine bool) bagEntries {
	var e bagEntries
	e.add("rsquare", sReal(f.rsquare))
	e.add("slope", sReal(f.slope))
	e.add("variance", sReal(f.variance))
	e.add("rvariance", sReal(f.rvariance))
	e.add("interception", sReal(f.interception))
	if withLine {
		e.add("line_fit", f.line)
	}
	return e
}

// fit2Lines is series_fit_2lines_dynamic: for every split index k (each
// side holding at least two elements) a line is fitted to s[:k] and one
// to s[k:]; the split with the largest total r-square (1 - (rss_left +
// rss_right) / tss) wins.
func fit2Lines(s []sNum) bagEntries {
	whole := fitLine(s, 0, len(s))
	best := -1
	var bl, br lineFit
	bestR := math.Inf(-1)
	for k := 2; k <= len(s)-2; k++ {
		l, r := fitLine(s, 0, k), fitLine(s, k, len(s))
		rs := 1.0
		if whole.tss != 0 {
			rs = 1 - (l.rss+r.rss)/whole.tss
		}
		if rs > bestR {
			best, bestR, bl, br = k, rs, l, r
		}
	}
	var e bagEntries
	if best < 0 {
		nan := sReal(math.NaN())
		e.add("rsquare", nan)
		e.add("split_idx", sNum{})
		e.add("variance", sReal(whole.variance))
		e.add("rvariance", nan)
		e.add("line_fit", whole.line)
		return e
	}
	n := 0
	for _, x := range s {
		if x.ok {
			n++
		}
	}
	rvar := 0.0
	if n > 1 {
		rvar = (bl.rss + br.rss) / float64(n-1)
	}
	e.add("rsquare", sReal(bestR))
	e.add("split_idx", sInt(int64(best)))
	e.add("variance", sReal(whole.variance))
	e.add("rvariance", sReal(rvar))
	e.add("line_fit", append(append([]sNum(nil), bl.line...), br.line...))
	e.add("right", br.bag(false))
	e.add("left", bl.bag(false))
	return e
}

// percentileOf is the p-th percentile (0..100) of sorted values, by
// linear interpolation between the closest ranks.
func percentileOf(sorted []float64, p float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	r := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(r))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (r-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// seriesOutliers is series_outliers(series [, kind [, ignore_val [,
// min_percentile [, max_percentile]]]]): Tukey's fences. With the low
// and high percentiles q1 and q3 of the values (25 and 75 for "tukey",
// min_percentile and max_percentile, 10 and 90 by default, for
// "ctukey"), a value above q3 scores (x - q3) / (q3 - q1), one below q1
// (x - q1) / (q3 - q1), others 0; so a score beyond ±1.5 is outside
// Tukey's fences. Missing values and ignore_val score 0.
func seriesOutliers(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	kind := "ctukey"
	if len(args) > 1 && args[1] != nil {
		k, _ := args[1].(string)
		kind = strings.ToLower(k)
	}
	lo, hi := 10.0, 90.0
	switch kind {
	case "tukey":
		lo, hi = 25, 75
	case "ctukey":
		if v, ok := numberArg(args, 3); ok {
			lo = v
		}
		if v, ok := numberArg(args, 4); ok {
			hi = v
		}
		if lo < 2 || hi > 98 || lo >= hi {
			return nil, fmt.Errorf("series_outliers: the percentiles must be in [2, 98], the minimum below the maximum")
		}
	default:
		return nil, fmt.Errorf("series_outliers: unknown kind %q (use \"tukey\" or \"ctukey\")", kind)
	}
	missing := missingMarks(s, args, 2)
	var vals []float64
	for i, x := range s {
		if x.ok && !missing[i] && !math.IsNaN(x.v) {
			vals = append(vals, x.v)
		}
	}
	out := make([]sNum, len(s))
	if len(vals) == 0 {
		for i := range out {
			out[i] = sReal(0)
		}
		return encodeSeries(out), nil
	}
	sort.Float64s(vals)
	q1, q3 := percentileOf(vals, lo), percentileOf(vals, hi)
	for i, x := range s {
		score := 0.0
		if x.ok && !missing[i] && !math.IsNaN(x.v) {
			score = tukeyScore(x.v, q1, q3)
		}
		out[i] = sReal(score)
	}
	return encodeSeries(out), nil
}

// tukeyScore is v's distance beyond the percentiles q1 and q3, in units of
// q3 - q1 (positive above q3, negative below q1, 0 between them).
func tukeyScore(v, q1, q3 float64) float64 {
	switch {
	case v > q3:
		return (v - q3) / (q3 - q1)
	case v < q1:
		return (v - q1) / (q3 - q1)
	}
	return 0
}

// seriesSeasonal is series_seasonal(series [, period]): the median of the
// values at the same phase of every period. With period -1 (the default)
// the period is detected (detectPeriod); when none is, or the period is
// 0, the result is zeros.
func seriesSeasonal(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	period := int64(-1)
	if len(args) > 1 && args[1] != nil {
		p := toSNum(args[1])
		if !p.ok {
			return nil, nil
		}
		period = int64(p.v)
	}
	if period < 0 {
		period = int64(detectPeriod(s, 0.7))
	}
	out := make([]sNum, len(s))
	if period <= 0 || int(period) > len(s) {
		for i := range out {
			out[i] = sReal(0)
		}
		return encodeSeries(out), nil
	}
	p := int(period)
	for ph := 0; ph < p; ph++ {
		var vals []float64
		for i := ph; i < len(s); i += p {
			if s[i].ok {
				vals = append(vals, s[i].v)
			}
		}
		m := sNum{}
		if len(vals) > 0 {
			sort.Float64s(vals)
			h := len(vals) / 2
			if len(vals)%2 == 1 {
				m = sReal(vals[h])
			} else {
				m = sReal((vals[h-1] + vals[h]) / 2)
			}
		}
		for i := ph; i < len(s); i += p {
			out[i] = m
		}
	}
	return encodeSeries(out), nil
}

// seriesField is one column of a series function that returns several
// columns: its name, its path in the dynamic value of the _dynamic
// variant, and its type.
type seriesField struct {
	name, path, typ string
}

// seriesTuples are the series functions that return several columns, with
// the function returning the same values as one dynamic bag and the
// columns in Kusto's order.
var seriesTuples = map[string]struct {
	dynamic string
	fields  []seriesField
}{
	"series_fit_line": {"series_fit_line_dynamic", []seriesField{
		{"rsquare", "rsquare", tyReal}, {"slope", "slope", tyReal}, {"variance", "variance", tyReal},
		{"rvariance", "rvariance", tyReal}, {"interception", "interception", tyReal}, {"line_fit", "line_fit", tyDynamic},
	}},
	"series_fit_2lines": {"series_fit_2lines_dynamic", []seriesField{
		{"rsquare", "rsquare", tyReal}, {"split_idx", "split_idx", tyLong}, {"variance", "variance", tyReal},
		{"rvariance", "rvariance", tyReal}, {"line_fit", "line_fit", tyDynamic},
		{"right_rsquare", "right/rsquare", tyReal}, {"right_slope", "right/slope", tyReal},
		{"right_interception", "right/interception", tyReal}, {"right_variance", "right/variance", tyReal},
		{"right_rvariance", "right/rvariance", tyReal},
		{"left_rsquare", "left/rsquare", tyReal}, {"left_slope", "left/slope", tyReal},
		{"left_interception", "left/interception", tyReal}, {"left_variance", "left/variance", tyReal},
		{"left_rvariance", "left/rvariance", tyReal},
	}},
	"series_decompose": {"$series_decompose", []seriesField{
		{"baseline", "baseline", tyDynamic}, {"seasonal", "seasonal", tyDynamic},
		{"trend", "trend", tyDynamic}, {"residual", "residual", tyDynamic},
	}},
	"series_decompose_anomalies": {"$series_decompose_anomalies", []seriesField{
		{"ad_flag", "ad_flag", tyDynamic}, {"ad_score", "ad_score", tyDynamic}, {"baseline", "baseline", tyDynamic},
	}},
	"series_stats": {"series_stats_dynamic", []seriesField{
		{"min", "min", tyReal}, {"min_idx", "min_idx", tyLong}, {"max", "max", tyReal},
		{"max_idx", "max_idx", tyLong}, {"avg", "avg", tyReal}, {"stdev", "stdev", tyReal},
		{"variance", "variance", tyReal},
	}},
}

// seriesTuple translates a call of a series function that returns
// several columns (series_fit_line, series_fit_2lines, series_stats):
// the names Kusto gives the columns (series_fit_line_y_rsquare, ...) and
// their values, computed from the function's _dynamic variant. ok is
// false when x is not such a call. It is meant for project and extend:
// `extend (a, b) = series_fit_line(y)` takes the first columns under the
// names given, `extend series_fit_line(y)` all of them.
func (t *translator) seriesTuple(sc *scope, x Expr) (names []string, cols []texpr, ok bool) {
	c, isCall := x.(*Call)
	if !isCall {
		return nil, nil, false
	}
	tu, found := seriesTuples[c.Name]
	if !found || sc.env.lookup(c.Name) != nil {
		return nil, nil, false
	}
	dyn := t.expr(sc, &Call{Pos: c.Pos, Name: tu.dynamic, Args: c.Args})
	prefix := c.Name + "_"
	if len(c.Args) > 0 {
		if arg := t.expr(sc, c.Args[0]); arg.name != "" {
			prefix += arg.name + "_"
		}
	}
	for _, f := range tu.fields {
		// the path is a JSON pointer of this file's own constant names
		v := texpr{sql: "json_extract(" + dyn.sql + ", " + sqlString("/"+f.path) + ")", typ: tyDynamic}
		if f.typ != tyDynamic {
			v = texpr{sql: dynTo(v.sql, f.typ), typ: f.typ}
		}
		names = append(names, prefix+f.name)
		cols = append(cols, v)
	}
	return names, cols, true
}

// detectPeriod finds the seasonal period of a series for
// series_seasonal, or returns 0 when it has none. Kusto detects it with
// series_periods_detect, whose scoring it does not document; this is an
// approximation with the same documented limits (a period has at least 4
// points and spans less than half the series): the autocorrelation of the
// series at lag p is Pearson's coefficient of s[:n-p] and s[p:], and the
// period is its first peak (a lag scoring at least as much as both
// neighbouring lags) that reaches threshold.
func detectPeriod(s []sNum, threshold float64) int {
	n := len(s)
	score := func(p int) float64 {
		if p < 1 || p > n-2 {
			return math.Inf(-1)
		}
		var xs, ys []float64
		for i := 0; i+p < n; i++ {
			if s[i].ok && s[i+p].ok {
				xs = append(xs, s[i].v)
				ys = append(ys, s[i+p].v)
			}
		}
		if len(xs) < 2 {
			return math.Inf(-1)
		}
		mx, my := mean(xs), mean(ys)
		var sxy, sxx, syy float64
		for i := range xs {
			sxy += (xs[i] - mx) * (ys[i] - my)
			sxx += (xs[i] - mx) * (xs[i] - mx)
			syy += (ys[i] - my) * (ys[i] - my)
		}
		if sxx == 0 || syy == 0 {
			return math.Inf(-1)
		}
		return sxy / math.Sqrt(sxx*syy)
	}
	for p := 4; 2*p < n; p++ {
		if r := score(p); r >= threshold && r >= score(p-1) && r >= score(p+1) {
			return p
		}
	}
	return 0
}
