package kql

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// literalFromToken converts a numeric, timespan or typed (goo) literal
// token; the second result is an error message, "" when the literal is
// valid.
func literalFromToken(t token) (*Literal, string) {
	lit := &Literal{Pos: t.pos}
	switch t.kind {
	case tLong:
		v, msg := parseLong(t.text)
		if msg != "" {
			return nil, msg
		}
		lit.Kind, lit.Value = LitLong, strconv.FormatInt(v, 10)
	case tReal:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Sprintf("real literal '%s' is out of range", t.text)
		}
		lit.Kind, lit.Value = LitReal, formatReal(f)
	case tTimespan:
		i := strings.IndexFunc(t.text, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' })
		ticks, msg := timespanTicks(t.text[:i], t.text[i:])
		if msg != "" {
			return nil, fmt.Sprintf("timespan literal '%s' %s", t.text, msg)
		}
		lit.Kind, lit.Value = LitTimespan, strconv.FormatInt(ticks, 10)
	case tGoo:
		return gooLiteral(t)
	}
	return lit, ""
}

// parseLong parses a decimal or 0x hexadecimal integer literal.
func parseLong(s string) (int64, string) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		u, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return 0, fmt.Sprintf("hexadecimal literal '%s' is out of range (at most 16 digits)", s)
		}
		return int64(u), ""
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("integer literal '%s' is out of range (a long is at most 9223372036854775807; write a real such as %s.0)", s, s)
	}
	return v, ""
}

// formatReal renders a float as LitReal values are kept: Go's shortest
// 'g' form, always with a '.' or an exponent.
func formatReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// negateLiteral returns -lit for numeric and timespan literals.
func negateLiteral(lit *Literal) (*Literal, bool) {
	out := &Literal{Kind: lit.Kind}
	switch lit.Kind {
	case LitLong, LitInt, LitTimespan:
		v, err := strconv.ParseInt(lit.Value, 10, 64)
		if err != nil || v == math.MinInt64 {
			return nil, false
		}
		out.Value = strconv.FormatInt(-v, 10)
	case LitReal:
		f, err := strconv.ParseFloat(lit.Value, 64)
		if err != nil {
			return nil, false
		}
		out.Value = formatReal(-f)
	case LitDecimal:
		switch {
		case strings.HasPrefix(lit.Value, "-"):
			out.Value = lit.Value[1:]
		default:
			out.Value = "-" + lit.Value
		}
	default:
		return nil, false
	}
	return out, true
}

// timespanTicks converts a number and a unit (1.5 and "h") to ticks.
func timespanTicks(num, unit string) (int64, string) {
	perUnit, ok := timespanUnits[unit]
	if !ok {
		perUnit, ok = timespanUnits[strings.ToLower(unit)]
		if !ok {
			return 0, fmt.Sprintf("has an unknown unit '%s'%s", unit, didYouMean(unit, timespanUnitNames))
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, "is not a number"
	}
	if perUnit == 0 { // nanoseconds: 1/100 tick
		r.Quo(r, big.NewRat(100, 1))
	} else {
		r.Mul(r, big.NewRat(perUnit, 1))
	}
	return ratToTicks(r)
}

// ratToTicks rounds r to the nearest integer, checking it fits an int64.
func ratToTicks(r *big.Rat) (int64, string) {
	// round half away from zero
	n := new(big.Int).Quo(r.Num(), r.Denom())
	rem := new(big.Rat).Sub(r, new(big.Rat).SetInt(n))
	half := big.NewRat(1, 2)
	if rem.Cmp(half) >= 0 {
		n.Add(n, big.NewInt(1))
	} else if rem.Cmp(new(big.Rat).Neg(half)) <= 0 {
		n.Sub(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		return 0, "is out of range"
	}
	return n.Int64(), ""
}

// gooLiteral converts datetime(...), time(...), int(...), guid(...) and
// the other typed literals.
func gooLiteral(t token) (*Literal, string) {
	lit := &Literal{Pos: t.pos}
	raw := strings.TrimSpace(t.val)
	isNull := raw == "null"
	bad := func(what string) (*Literal, string) {
		return nil, fmt.Sprintf("invalid %s literal %s(%s)%s", t.text, t.text, t.val, what)
	}
	switch t.text {
	case "datetime", "date":
		lit.Kind = LitDateTime
		if !isNull {
			v, ok := parseDateTime(raw)
			if !ok {
				return bad(": write datetime(2024-01-31), datetime(2024-01-31 10:00:00) or datetime(2024-01-31T10:00:00.5Z)")
			}
			lit.Value = v
		}
	case "time", "timespan":
		lit.Kind = LitTimespan
		if !isNull {
			ticks, msg := parseTimespanText(raw)
			if msg != "" {
				return bad(": " + msg)
			}
			lit.Value = strconv.FormatInt(ticks, 10)
		}
	case "guid":
		lit.Kind = LitGuid
		if !isNull {
			g, ok := parseGUID(raw)
			if !ok {
				return bad(": a guid is 32 hexadecimal digits as 8-4-4-4-12")
			}
			lit.Value = g
		}
	case "int", "long":
		lit.Kind = LitLong
		if t.text == "int" {
			lit.Kind = LitInt
		}
		if !isNull {
			s0 := strings.ReplaceAll(raw, " ", "")
			neg := strings.HasPrefix(s0, "-")
			s := strings.TrimLeft(s0, "+-")
			if s == "" || !isDigit(s[0]) || len(s0)-len(s) > 1 {
				return bad("")
			}
			var u uint64
			var err error
			if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
				u, err = strconv.ParseUint(s[2:], 16, 64)
			} else {
				u, err = strconv.ParseUint(s, 10, 64)
			}
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return bad(": out of range")
				}
				return bad(": not an integer")
			}
			var v int64
			switch {
			case !neg && u <= math.MaxInt64:
				v = int64(u)
			case neg && u <= 1<<63:
				v = int64(-u)
			default:
				return bad(": out of range")
			}
			if lit.Kind == LitInt && (v < math.MinInt32 || v > math.MaxInt32) {
				return bad(": out of the range of int")
			}
			lit.Value = strconv.FormatInt(v, 10)
		}
	case "real", "double":
		lit.Kind = LitReal
		if !isNull {
			f, err := strconv.ParseFloat(strings.ReplaceAll(raw, " ", ""), 64)
			if err != nil {
				return bad("")
			}
			lit.Value = formatReal(f)
		}
	case "decimal":
		lit.Kind = LitDecimal
		if !isNull {
			s := strings.ReplaceAll(raw, " ", "")
			if _, ok := new(big.Rat).SetString(s); !ok || strings.ContainsAny(s, "/") || len(s) > 64 {
				return bad("")
			}
			lit.Value = strings.TrimPrefix(s, "+")
		}
	case "bool", "boolean":
		lit.Kind = LitBool
		if !isNull {
			switch strings.ToLower(raw) {
			case "true", "1":
				lit.Value = "true"
			case "false", "0":
				lit.Value = "false"
			default:
				return bad(": write bool(true), bool(false) or bool(null)")
			}
		}
	}
	lit.Null = isNull
	return lit, ""
}

var (
	isoDateTime = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$`)
	commaDate   = regexp.MustCompile(`^(\d{4})\s*,\s*(\d{1,2})\s*,\s*(\d{1,2})$`)
	usDateTime  = regexp.MustCompile(`^(\d{1,2})[-/](\d{1,2})[-/](\d{4})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?$`)
	spacedDash  = regexp.MustCompile(`\s*-\s*`)
	onlyDate    = regexp.MustCompile(`^[\d\s-]+$`)
)

// parseDateTime parses the contents of datetime(...) and returns the
// canonical RFC 3339 UTC form with up to 7 fraction digits.
func parseDateTime(s string) (string, bool) {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if onlyDate.MatchString(s) {
		s = spacedDash.ReplaceAllString(s, "-")
	}
	var y, mo, d, h, mi, sec int
	var frac, zone string
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	if m := isoDateTime.FindStringSubmatch(s); m != nil {
		y, mo, d, h, mi, sec = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5]), atoi(m[6])
		frac, zone = m[7], m[8]
	} else if m := commaDate.FindStringSubmatch(s); m != nil {
		y, mo, d = atoi(m[1]), atoi(m[2]), atoi(m[3])
	} else if m := usDateTime.FindStringSubmatch(s); m != nil {
		mo, d, y, h, mi, sec = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5]), atoi(m[6])
		frac = m[7]
	} else {
		for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, "Mon, 2 Jan 2006 15:04:05 MST", "2 Jan 2006 15:04:05 MST"} {
			if tm, err := time.Parse(layout, s); err == nil {
				return formatDateTime(tm), true
			}
		}
		return "", false
	}
	if len(frac) > 7 {
		if strings.Trim(frac[7:], "0") != "" {
			return "", false
		}
		frac = frac[:7]
	}
	ns := 0
	if frac != "" {
		ns = atoi((frac + "000000000")[:9])
	}
	if y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return "", false
	}
	tm := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if tm.Day() != d {
		return "", false // 2023-02-30
	}
	switch {
	case zone == "" || zone == "Z" || zone == "z" || zone == "UTC":
	default:
		z := strings.ReplaceAll(zone, ":", "")
		off := (atoi(z[1:3])*60 + atoi(z[3:5])) * 60
		if z[0] == '-' {
			off = -off
		}
		tm = tm.Add(-time.Duration(off) * time.Second)
	}
	if tm.Year() < 1 || tm.Year() > 9999 {
		return "", false
	}
	return formatDateTime(tm), true
}

// formatDateTime renders t (at tick precision) as LitDateTime values are
// kept.
func formatDateTime(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if ticks := t.Nanosecond() / 100; ticks != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%07d", ticks), "0")
	}
	return s + "Z"
}

var (
	spanWithUnit = regexp.MustCompile(`^([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]*)$`)
	spanClock    = regexp.MustCompile(`^([+-])?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$`)
)

// parseTimespanText parses the contents of time(...): `2` (days),
// `15 seconds`, `1.12:34:56.7` ([d.]hh:mm[:ss[.fffffff]]).
func parseTimespanText(s string) (int64, string) {
	if m := spanWithUnit.FindStringSubmatch(s); m != nil {
		unit := m[2]
		if unit == "" {
			unit = "d"
		}
		ticks, msg := timespanTicks(m[1], unit)
		if msg != "" {
			return 0, "the value " + msg
		}
		return ticks, ""
	}
	m := spanClock.FindStringSubmatch(s)
	if m == nil {
		return 0, "write time(1.12:30:00), time(15 seconds) or time(2) for 2 days"
	}
	atoi := func(x string) *big.Int { n, _ := new(big.Int).SetString("0"+x, 10); return n }
	h, mi, sec := atoi(m[3]).Int64(), atoi(m[4]).Int64(), atoi(m[5]).Int64()
	if h > 23 || mi > 59 || sec > 59 {
		return 0, "hours, minutes and seconds are at most 23, 59 and 59"
	}
	total := new(big.Int).Mul(atoi(m[2]), big.NewInt(864e9))
	total.Add(total, big.NewInt(h*36e9+mi*6e8+sec*1e7))
	if f := m[6]; f != "" {
		total.Add(total, atoi((f + "0000000")[:7]))
	}
	if m[1] == "-" {
		total.Neg(total)
	}
	if !total.IsInt64() {
		return 0, "out of range"
	}
	return total.Int64(), ""
}

// parseGUID returns the canonical form of a guid: lower case, 8-4-4-4-12.
func parseGUID(s string) (string, bool) {
	h := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(h) != 32 || strings.Count(s, "-") != 0 && strings.Count(s, "-") != 4 {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if !isHex(h[i]) {
			return "", false
		}
	}
	if strings.Count(s, "-") == 4 && (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') {
		return "", false
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

// Int returns the value of a non-null LitLong or LitInt literal.
func (l *Literal) Int() (int64, bool) {
	if l.Null || l.Kind != LitLong && l.Kind != LitInt {
		return 0, false
	}
	v, err := strconv.ParseInt(l.Value, 10, 64)
	return v, err == nil
}

// Float returns the value of a non-null LitReal or LitDecimal literal.
func (l *Literal) Float() (float64, bool) {
	if l.Null || l.Kind != LitReal && l.Kind != LitDecimal {
		return 0, false
	}
	f, err := strconv.ParseFloat(l.Value, 64)
	return f, err == nil
}

// Ticks returns the value of a non-null LitTimespan literal in ticks
// (100 ns).
func (l *Literal) Ticks() (int64, bool) {
	if l.Null || l.Kind != LitTimespan {
		return 0, false
	}
	v, err := strconv.ParseInt(l.Value, 10, 64)
	return v, err == nil
}

// Time returns the value of a non-null LitDateTime literal, in UTC.
func (l *Literal) Time() (time.Time, bool) {
	if l.Null || l.Kind != LitDateTime {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, l.Value)
	return t.UTC(), err == nil
}
