package kql

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The decomposition functions (series_decompose, series_decompose_anomalies,
// series_decompose_forecast), as Kusto documents them: the seasonal
// component is the median of the points at the same phase, the trend is
// fitted to the series without it ("avg": its mean, "linefit": a line,
// "none": 0), the baseline is their sum and the residual what is left.
// The last test_points points are left out of the learning and only
// predicted. The period, when asked to be detected (-1), is found by
// detectPeriod (an approximation of Kusto's series_periods_detect).

// decompArgs are the options of a decomposition.
type decompArgs struct {
	seasonality int     // -1: detect; 0: none
	trend       string  // avg, linefit or none
	testPoints  int     // points at the end left out of the learning
	threshold   float64 // the score a detected period needs
}

// decomposition is the result of series_decompose.
type decomposition struct {
	baseline, seasonal, trend, residual []sNum
}

// parseDecompArgs reads the arguments of a decomposition function from
// index i on, in the order seasonality, trend, test_points (when withTest),
// seasonality_threshold; d holds the defaults.
func parseDecompArgs(name string, args []any, i int, withTest bool, d decompArgs) (decompArgs, error) {
	if v, ok := numberArg(args, i); ok {
		d.seasonality = int(v)
	}
	if i+1 < len(args) && args[i+1] != nil {
		t, _ := args[i+1].(string)
		d.trend = strings.ToLower(t)
	}
	next := i + 2
	if withTest {
		if v, ok := numberArg(args, next); ok {
			d.testPoints = int(v)
		}
		next++
	}
	if v, ok := numberArg(args, next); ok {
		d.threshold = v
	}
	switch {
	case d.seasonality < -1:
		return d, fmt.Errorf("%s: seasonality %d: use -1 (detect), 0 (none) or a period in points", name, d.seasonality)
	case d.trend != "avg" && d.trend != "linefit" && d.trend != "none":
		return d, fmt.Errorf("%s: unknown trend %q (use \"avg\", \"linefit\" or \"none\")", name, d.trend)
	case d.testPoints < 0:
		return d, fmt.Errorf("%s: test_points must not be negative", name)
	}
	return d, nil
}

// decompose splits s into seasonal, trend and residual components.
func decompose(s []sNum, a decompArgs) decomposition {
	n := len(s)
	learn := max(n-a.testPoints, 0)
	period := a.seasonality
	if period < 0 {
		period = detectPeriod(s[:learn], a.threshold)
	}
	d := decomposition{baseline: make([]sNum, n), seasonal: make([]sNum, n), trend: make([]sNum, n), residual: make([]sNum, n)}
	for i := range d.seasonal {
		d.seasonal[i] = sReal(0)
	}
	if period > 0 && period <= learn {
		for ph := 0; ph < period; ph++ {
			var vals []float64
			for i := ph; i < learn; i += period {
				if s[i].ok && !math.IsNaN(s[i].v) {
					vals = append(vals, s[i].v)
				}
			}
			if len(vals) == 0 {
				continue
			}
			sort.Float64s(vals)
			m := vals[len(vals)/2]
			if len(vals)%2 == 0 {
				m = (vals[len(vals)/2-1] + m) / 2
			}
			for i := ph; i < n; i += period {
				d.seasonal[i] = sReal(m)
			}
		}
	}
	// the trend of the series without its seasonal component
	deseason := make([]sNum, learn)
	for i := range deseason {
		if s[i].ok && !math.IsNaN(s[i].v) {
			deseason[i] = sReal(s[i].v - d.seasonal[i].v)
		}
	}
	switch a.trend {
	case "avg":
		var vals []float64
		for _, x := range deseason {
			if x.ok {
				vals = append(vals, x.v)
			}
		}
		m := 0.0
		if len(vals) > 0 {
			m = mean(vals)
		}
		for i := range d.trend {
			d.trend[i] = sReal(m)
		}
	case "linefit":
		f := fitLine(deseason, 0, learn)
		slope, icept := f.slope, f.interception
		if math.IsNaN(slope) {
			slope, icept = 0, 0
		}
		for i := range d.trend {
			d.trend[i] = sReal(slope*float64(i+1) + icept)
		}
	default:
		for i := range d.trend {
			d.trend[i] = sReal(0)
		}
	}
	for i := range s {
		d.baseline[i] = sReal(d.seasonal[i].v + d.trend[i].v)
		if s[i].ok && !math.IsNaN(s[i].v) {
			d.residual[i] = sReal(s[i].v - d.baseline[i].v)
		}
	}
	return d
}

// seriesDecompose is series_decompose(series [, seasonality [, trend [,
// test_points [, seasonality_threshold]]]]) as one bag: baseline,
// seasonal, trend, residual.
func seriesDecompose(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	a, err := parseDecompArgs("series_decompose", args, 1, true, decompArgs{seasonality: -1, trend: "avg", threshold: 0.6})
	if err != nil {
		return nil, err
	}
	d := decompose(s, a)
	var b bagEntries
	b.add("baseline", d.baseline)
	b.add("seasonal", d.seasonal)
	b.add("trend", d.trend)
	b.add("residual", d.residual)
	return encodeBag(b), nil
}

// seriesDecomposeAnomalies is series_decompose_anomalies(series [,
// threshold [, seasonality [, trend [, test_points [, ad_method [,
// seasonality_threshold]]]]]]) as one bag: ad_flag (1 above, -1 below the
// threshold, else 0), ad_score (Tukey's fences on the residual, as
// series_outliers scores them with ad_method "ctukey", 10th–90th
// percentiles, or "tukey", 25th–75th, over the learning points) and
// baseline.
func seriesDecomposeAnomalies(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	threshold := 1.5
	if v, ok := numberArg(args, 1); ok {
		threshold = v
	}
	a := decompArgs{seasonality: -1, trend: "linefit", threshold: 0.6}
	var err error
	// seasonality, trend and test_points come before ad_method,
	// seasonality_threshold after it
	if a, err = parseDecompArgs("series_decompose_anomalies", args[:min(len(args), 5)], 2, true, a); err != nil {
		return nil, err
	}
	method := "ctukey"
	if len(args) > 5 && args[5] != nil {
		m, _ := args[5].(string)
		method = strings.ToLower(m)
	}
	lo, hi := 10.0, 90.0
	switch method {
	case "ctukey":
	case "tukey":
		lo, hi = 25, 75
	default:
		return nil, fmt.Errorf("series_decompose_anomalies: unknown ad_method %q (use \"ctukey\" or \"tukey\")", method)
	}
	if v, ok := numberArg(args, 6); ok {
		a.threshold = v
	}
	d := decompose(s, a)
	learn := max(len(s)-a.testPoints, 0)
	var vals []float64
	for _, x := range d.residual[:learn] {
		if x.ok {
			vals = append(vals, x.v)
		}
	}
	flags, scores := make([]sNum, len(s)), make([]sNum, len(s))
	for i := range s {
		flags[i], scores[i] = sNum{ok: true, isInt: true}, sReal(0)
	}
	if len(vals) > 0 {
		sort.Float64s(vals)
		q1, q3 := percentileOf(vals, lo), percentileOf(vals, hi)
		for i, x := range d.residual {
			if !x.ok {
				continue
			}
			score := tukeyScore(x.v, q1, q3)
			scores[i] = sReal(score)
			switch {
			case score > threshold:
				flags[i].i = 1
			case score < -threshold:
				flags[i].i = -1
			}
		}
	}
	var b bagEntries
	b.add("ad_flag", flags)
	b.add("ad_score", scores)
	b.add("baseline", d.baseline)
	return encodeBag(b), nil
}

// seriesDecomposeForecast is series_decompose_forecast(series, points [,
// seasonality [, trend [, seasonality_threshold]]]): the baseline learnt
// from all but the last points points, over the whole series.
func seriesDecomposeForecast(args []any) (any, error) {
	s, ok := seriesArg(args, 0)
	if !ok {
		return nil, nil
	}
	points, ok := numberArg(args, 1)
	if !ok || points < 0 {
		return nil, fmt.Errorf("series_decompose_forecast: points must be a number of points, at least 0")
	}
	a, err := parseDecompArgs("series_decompose_forecast", args, 2, false, decompArgs{seasonality: -1, trend: "linefit", threshold: 0.6})
	if err != nil {
		return nil, err
	}
	a.testPoints = int(points)
	return encodeSeries(decompose(s, a).baseline), nil
}
