package kql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// maxRepeat bounds repeat()'s count: larger arrays would not fit a
// query's result anyway (query.max_bytes).
const maxRepeat = 1 << 20

// fnSpec is a scalar function: its arity and its translation from the
// translated arguments.
type fnSpec struct {
	min, max int // max -1: any number
	impl     func(t *translator, c *Call, a []texpr) texpr
}

// scalarFuncs are the scalar functions, by name.
var scalarFuncs map[string]fnSpec

func init() {
	f := map[string]fnSpec{}
	add := func(names string, min, max int, impl func(t *translator, c *Call, a []texpr) texpr) {
		for _, n := range strings.Fields(names) {
			f[n] = fnSpec{min, max, impl}
		}
	}
	simple := func(typ, tmpl string, argTypes ...string) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			args := make([]any, len(a))
			for i := range a {
				at := argTypes[min(i, len(argTypes)-1)]
				if at == "" {
					args[i] = a[i].sql
				} else {
					args[i] = t.arg(c, i, a[i], at)
				}
			}
			return texpr{sql: fmt.Sprintf(tmpl, args...), typ: typ}
		}
	}

	// time
	add("now", 0, 1, func(t *translator, c *Call, a []texpr) texpr {
		s := sqlTime(t.now)
		if len(a) == 1 {
			s = "(" + s + " + to_microseconds(" + t.arg(c, 0, a[0], tyTimespan) + "))"
		}
		return texpr{sql: s, typ: tyDateTime}
	})
	add("ago", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: "(" + sqlTime(t.now) + " - to_microseconds(" + t.arg(c, 0, a[0], tyTimespan) + "))", typ: tyDateTime}
	})
	add("bin floor", 2, 2, binFn)
	add("bin_at", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		// bin_at(x, size, at) = bin(x - at, size) + at
		switch a[0].typ {
		case tyDateTime:
			at := t.arg(c, 2, a[2], tyDateTime)
			sz := t.arg(c, 1, a[1], tyTimespan)
			return texpr{sql: "try(make_timestamp(CAST(floor((epoch_us(" + a[0].sql + ") - epoch_us(" + at + ")) / CAST(NULLIF(" + sz + ", 0) AS DOUBLE)) AS BIGINT) * " + sz + " + epoch_us(" + at + ")))", typ: tyDateTime}
		}
		x, sz, at := t.arg(c, 0, a[0], tyReal), t.arg(c, 1, a[1], tyReal), t.arg(c, 2, a[2], tyReal)
		typ := a[0].typ
		return texpr{sql: "try(CAST(floor((" + x + " - " + at + ") / NULLIF(" + sz + ", 0)) * " + sz + " + " + at + " AS " + sqlType(typ) + "))", typ: typ}
	})
	day := func(expr string) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			x := t.arg(c, 0, a[0], tyDateTime)
			s := strings.ReplaceAll(expr, "X", x)
			if len(a) > 1 {
				// an offset in units of the period
				n := t.arg(c, 1, a[1], tyLong)
				unit := map[string]string{"startofday": "day", "endofday": "day", "startofweek": "week", "endofweek": "week", "startofmonth": "month", "endofmonth": "month", "startofyear": "year", "endofyear": "year"}[c.Name]
				s = strings.ReplaceAll(expr, "X", "("+x+" + to_"+unit+"s(CAST("+n+" AS INTEGER)))")
			}
			return texpr{sql: s, typ: tyDateTime}
		}
	}
	add("startofday", 1, 2, day("date_trunc('day', X)"))
	add("startofweek", 1, 2, day("(date_trunc('week', X + INTERVAL 1 DAY) - INTERVAL 1 DAY)"))
	add("startofmonth", 1, 2, day("date_trunc('month', X)"))
	add("startofyear", 1, 2, day("date_trunc('year', X)"))
	add("endofday", 1, 2, day("(date_trunc('day', X) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND)"))
	add("endofweek", 1, 2, day("(date_trunc('week', X + INTERVAL 1 DAY) + INTERVAL 6 DAY - INTERVAL 1 MICROSECOND)"))
	add("endofmonth", 1, 2, day("(date_trunc('month', X) + INTERVAL 1 MONTH - INTERVAL 1 MICROSECOND)"))
	add("endofyear", 1, 2, day("(date_trunc('year', X) + INTERVAL 1 YEAR - INTERVAL 1 MICROSECOND)"))
	add("dayofweek", 1, 1, simple(tyTimespan, "(CAST(dayofweek(%s) AS BIGINT) * 86400000000)", tyDateTime))
	add("dayofmonth", 1, 1, simple(tyInt, "CAST(dayofmonth(%s) AS INTEGER)", tyDateTime))
	add("dayofyear", 1, 1, simple(tyInt, "CAST(dayofyear(%s) AS INTEGER)", tyDateTime))
	add("hourofday", 1, 1, simple(tyInt, "CAST(hour(%s) AS INTEGER)", tyDateTime))
	add("getmonth monthofyear", 1, 1, simple(tyInt, "CAST(month(%s) AS INTEGER)", tyDateTime))
	add("getyear", 1, 1, simple(tyInt, "CAST(year(%s) AS INTEGER)", tyDateTime))
	add("week_of_year weekofyear", 1, 1, simple(tyInt, "CAST(weekofyear(%s) AS INTEGER)", tyDateTime))
	add("datetime_part", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		part, ok := a[0].str()
		if !ok {
			t.fail(c, "datetime_part needs the part as a string literal")
		}
		m := map[string]string{"year": "year", "quarter": "quarter", "month": "month", "week_of_year": "weekofyear", "week": "weekofyear", "day": "day", "dayofyear": "dayofyear", "hour": "hour", "minute": "minute", "second": "second", "millisecond": "millisecond", "microsecond": "microsecond"}
		p, ok := m[strings.ToLower(part)]
		if !ok {
			t.fail(c.Args[0], "unknown datetime part %q", part)
		}
		x := t.arg(c, 1, a[1], tyDateTime)
		s := "CAST(" + p + "(" + x + ") AS INTEGER)"
		switch p {
		case "millisecond":
			s = "CAST(millisecond(" + x + ") % 1000 AS INTEGER)"
		case "microsecond":
			s = "CAST(microsecond(" + x + ") % 1000000 AS INTEGER)"
		}
		return texpr{sql: s, typ: tyInt}
	})
	add("datetime_add", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		part, ok := a[0].str()
		if !ok {
			t.fail(c, "datetime_add needs the part as a string literal")
		}
		units := map[string]string{"year": "years", "quarter": "quarter", "month": "months", "week": "weeks", "day": "days", "hour": "hours", "minute": "minutes", "second": "seconds", "millisecond": "milliseconds", "microsecond": "microseconds"}
		u, ok := units[strings.ToLower(part)]
		if !ok {
			t.fail(c.Args[0], "unknown datetime part %q", part)
		}
		n := t.arg(c, 1, a[1], tyLong)
		x := t.arg(c, 2, a[2], tyDateTime)
		if u == "quarter" {
			return texpr{sql: "(" + x + " + to_months(CAST(3 * " + n + " AS INTEGER)))", typ: tyDateTime}
		}
		cast := "CAST(" + n + " AS INTEGER)"
		if u == "milliseconds" || u == "microseconds" || u == "seconds" || u == "minutes" || u == "hours" {
			cast = "CAST(" + n + " AS BIGINT)"
		}
		return texpr{sql: "(" + x + " + to_" + u + "(" + cast + "))", typ: tyDateTime}
	})
	add("datetime_diff", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		part, ok := a[0].str()
		if !ok {
			t.fail(c, "datetime_diff needs the part as a string literal")
		}
		x, y := t.arg(c, 1, a[1], tyDateTime), t.arg(c, 2, a[2], tyDateTime)
		part = strings.ToLower(part)
		switch part {
		case "nanosecond":
			return texpr{sql: "try((epoch_us(" + x + ") - epoch_us(" + y + ")) * 1000)", typ: tyLong} // beyond a long: null
		case "year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond":
		default:
			t.fail(c.Args[0], "unknown datetime part %q (want year, quarter, month, week, day, hour, minute, second, millisecond, microsecond or nanosecond)", part)
		}
		if part == "week" {
			// weeks start on Sunday: count the Sundays crossed (day 3 of
			// the Unix epoch was a Sunday)
			wk := func(v string) string { return "floor((floor(epoch_us(" + v + ") / 86400000000.0) - 3) / 7)" }
			return texpr{sql: "CAST(" + wk(x) + " - " + wk(y) + " AS BIGINT)", typ: tyLong}
		}
		return texpr{sql: "date_diff(" + sqlString(part) + ", " + y + ", " + x + ")", typ: tyLong}
	})
	add("make_datetime", 1, 7, func(t *translator, c *Call, a []texpr) texpr {
		parts := []string{"1", "1", "1", "0", "0", "0"}
		for i := range a {
			typ := tyLong
			if i == 5 {
				typ = tyReal
			}
			parts[i] = t.arg(c, i, a[i], typ)
		}
		return texpr{sql: "try(make_timestamp(" + strings.Join(parts, ", ") + "))", typ: tyDateTime} // an invalid date is null
	})
	add("make_timespan", 1, 5, func(t *translator, c *Call, a []texpr) texpr {
		// (hours, minutes[, seconds]) or (days, hours, minutes, seconds)
		var us []string
		mult := []string{"3600000000", "60000000", "1000000"}
		if len(a) == 4 {
			mult = []string{"86400000000", "3600000000", "60000000", "1000000"}
		}
		for i := range a {
			if i < len(mult) {
				us = append(us, "TRY_CAST("+t.arg(c, i, a[i], tyReal)+" * "+mult[i]+" AS BIGINT)")
			}
		}
		return texpr{sql: "(" + strings.Join(us, " + ") + ")", typ: tyTimespan}
	})
	// out of range: null
	add("unixtime_seconds_todatetime", 1, 1, simple(tyDateTime, "try(make_timestamp(CAST(%s * 1000000 AS BIGINT)))", tyReal))
	add("unixtime_milliseconds_todatetime", 1, 1, simple(tyDateTime, "try(make_timestamp(CAST(%s * 1000 AS BIGINT)))", tyReal))
	add("unixtime_microseconds_todatetime", 1, 1, simple(tyDateTime, "try(make_timestamp(CAST(%s AS BIGINT)))", tyReal))
	add("unixtime_nanoseconds_todatetime", 1, 1, simple(tyDateTime, "try(make_timestamp(CAST(%s / 1000 AS BIGINT)))", tyReal))
	add("format_datetime", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		f, ok := a[1].str()
		if !ok {
			t.fail(c.Args[1], "format_datetime needs the format as a string literal")
		}
		return texpr{sql: formatDateTimeSQL(t.arg(c, 0, a[0], tyDateTime), f), typ: tyString}
	})
	add("format_timespan", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		f, ok := a[1].str()
		if !ok {
			t.fail(c.Args[1], "format_timespan needs the format as a string literal")
		}
		return texpr{sql: formatTimespanSQL(t.arg(c, 0, a[0], tyTimespan), f), typ: tyString}
	})

	// strings
	add("tolower", 1, 1, simple(tyString, "lower(%s)", tyString))
	add("toupper", 1, 1, simple(tyString, "upper(%s)", tyString))
	add("strlen", 1, 1, simple(tyLong, "CAST(length(%s) AS BIGINT)", tyString))
	add("strcat", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = toStringSQL(a[i])
		}
		return texpr{sql: "(" + strings.Join(parts, " || ") + ")", typ: tyString}
	})
	add("strcat_delim", 2, 64, func(t *translator, c *Call, a []texpr) texpr {
		parts := make([]string, len(a)-1)
		for i := range a[1:] {
			parts[i] = toStringSQL(a[i+1])
		}
		return texpr{sql: "concat_ws(" + t.arg(c, 0, a[0], tyString) + ", " + strings.Join(parts, ", ") + ")", typ: tyString}
	})
	add("strcat_array", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		arr := t.arg(c, 0, a[0], tyDynamic)
		return texpr{sql: "coalesce(array_to_string(list_transform(CAST(json_extract(" + arr + ", '$[*]') AS JSON[]), e -> coalesce(json_extract_string(e, '$'), '')), " + t.arg(c, 1, a[1], tyString) + "), '')", typ: tyString}
	})
	add("substring", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		s := t.arg(c, 0, a[0], tyString)
		st := t.arg(c, 1, a[1], tyLong)
		// a negative start counts from the end
		start := "greatest(CASE WHEN " + st + " < 0 THEN " + st + " + length(" + s + ") ELSE " + st + " END, 0) + 1"
		if len(a) == 3 {
			return texpr{sql: "coalesce(substr(" + s + ", " + start + ", greatest(" + t.arg(c, 2, a[2], tyLong) + ", 0)), '')", typ: tyString}
		}
		return texpr{sql: "coalesce(substr(" + s + ", " + start + "), '')", typ: tyString}
	})
	add("split", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		s := "to_json(string_split(" + t.arg(c, 0, a[0], tyString) + ", " + t.arg(c, 1, a[1], tyString) + "))"
		if len(a) == 3 {
			s = "json_array(json_extract_string(" + s + ", '$[' || CAST(" + t.arg(c, 2, a[2], tyLong) + " AS VARCHAR) || ']'))"
		}
		return texpr{sql: s, typ: tyDynamic}
	})
	add("replace_string", 3, 3, simple(tyString, "replace(%s, %s, %s)", tyString))
	add("replace_regex replace", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		repl := t.arg(c, 2, a[2], tyString)
		if s, ok := a[2].str(); ok {
			// Kusto writes groups as \1 (as DuckDB does) or $1
			repl = sqlString(regexp.MustCompile(`\$(\d)`).ReplaceAllString(s, `\$1`))
		}
		return texpr{sql: "regexp_replace(" + t.arg(c, 0, a[0], tyString) + ", " + t.regex(c.Args[1], a[1]) + ", " + repl + ", 'g')", typ: tyString}
	})
	// replace's argument order is (regex, rewrite, text)
	f["replace"] = fnSpec{3, 3, func(t *translator, c *Call, a []texpr) texpr {
		return f["replace_regex"].impl(t, c, []texpr{a[2], a[0], a[1]})
	}}
	trimFn := func(lead, trail bool) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			re := t.regex(c.Args[0], a[0])
			s := t.arg(c, 1, a[1], tyString)
			var alts []string
			if lead {
				alts = append(alts, "'^(?:' || "+re+" || ')+'")
			}
			if trail {
				alts = append(alts, "'(?:' || "+re+" || ')+$'")
			}
			return texpr{sql: "regexp_replace(" + s + ", " + strings.Join(alts, " || '|' || ") + ", '', 'g')", typ: tyString}
		}
	}
	add("trim", 2, 2, trimFn(true, true))
	add("trim_start", 2, 2, trimFn(true, false))
	add("trim_end", 2, 2, trimFn(false, true))
	add("reverse", 1, 1, simple(tyString, "reverse(%s)", tyString))
	add("extract", 3, 4, func(t *translator, c *Call, a []texpr) texpr {
		re := t.regex(c.Args[0], a[0])
		// DuckDB wants the group as a plain constant
		n, ok := int64(0), false
		if a[1].lit != nil && (a[1].lit.Kind == LitLong || a[1].lit.Kind == LitInt) {
			n, ok = a[1].lit.Int()
		}
		if !ok || n < 0 {
			t.fail(c.Args[1], "extract's capture group must be a constant integer such as 1")
		}
		g := strconv.FormatInt(n, 10)
		s := t.arg(c, 2, a[2], tyString)
		x := "CASE WHEN regexp_matches(" + s + ", " + re + ") THEN regexp_extract(" + s + ", " + re + ", " + g + ") END"
		if len(a) == 4 {
			typ := typeOfArg(t, c, a[3])
			return texpr{sql: t.convert(c, texpr{sql: x, typ: tyString}, typ), typ: typ}
		}
		return texpr{sql: "coalesce(" + x + ", '')", typ: tyString}
	})
	add("extract_all", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		re := t.regex(c.Args[0], a[0])
		s := t.arg(c, len(a)-1, a[len(a)-1], tyString)
		groups := 0
		if lit, ok := a[0].str(); ok {
			if r, err := regexp.Compile(lit); err == nil {
				groups = r.NumSubexp()
			}
		}
		switch {
		case groups <= 1:
			g := "0"
			if groups == 1 {
				g = "1"
			}
			return texpr{sql: "CASE WHEN regexp_matches(" + s + ", " + re + ") THEN to_json(regexp_extract_all(" + s + ", " + re + ", " + g + ")) END", typ: tyDynamic}
		default:
			var cols []string
			for i := 1; i <= groups; i++ {
				cols = append(cols, "regexp_extract_all("+s+", "+re+", "+strconv.Itoa(i)+")")
			}
			return texpr{sql: "CASE WHEN regexp_matches(" + s + ", " + re + ") THEN to_json(list_transform(list_zip(" + strings.Join(cols, ", ") + "), e -> [" + zipFields(groups) + "])) END", typ: tyDynamic}
		}
	})
	add("countof", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		s, sub := t.arg(c, 0, a[0], tyString), t.arg(c, 1, a[1], tyString)
		if len(a) == 3 {
			if k, _ := a[2].str(); k == "regex" {
				return texpr{sql: "CAST(len(regexp_extract_all(" + s + ", " + t.regex(c.Args[1], a[1]) + ")) AS BIGINT)", typ: tyLong}
			}
		}
		// plain matches may overlap: countof("aaaa", "aa") is 3
		return texpr{sql: "CAST(CASE WHEN length(" + sub + ") = 0 THEN 0 ELSE len(list_filter(range(greatest(length(" + s + ") - length(" + sub + ") + 1, 0)), i -> substr(" + s + ", i + 1, length(" + sub + ")) = " + sub + ")) END AS BIGINT)", typ: tyLong}
	})
	add("base64_encode_tostring base64_encodestring", 1, 1, simple(tyString, "to_base64(encode(%s))", tyString))
	// not base64, or not UTF-8 once decoded: "" (as Kusto's docs show),
	// not a failed query
	add("base64_decode_tostring base64_decodestring", 1, 1, simple(tyString, "coalesce(try(decode(from_base64(%s))), '')", tyString))
	add("url_decode", 1, 1, simple(tyString, "coalesce(try(url_decode(%s)), '')", tyString))
	add("strrep", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		s, n := t.arg(c, 0, a[0], tyString), t.arg(c, 1, a[1], tyLong)
		if len(a) == 3 {
			d := t.arg(c, 2, a[2], tyString)
			return texpr{sql: "array_to_string(list_transform(range(" + n + "), i -> " + s + "), " + d + ")", typ: tyString}
		}
		return texpr{sql: "repeat(" + s + ", CAST(" + n + " AS BIGINT))", typ: tyString}
	})
	add("string_size", 1, 1, simple(tyLong, "CAST(strlen(%s) AS BIGINT)", tyString))
	add("isascii", 1, 1, simple(tyBool, "regexp_full_match(%s, '[\\x00-\\x7F]*')", tyString))
	add("isutf8", 1, 1, simple(tyBool, "(%s IS NOT NULL)", tyString))

	// conversion
	add("tostring", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: toStringSQL(a[0]), typ: tyString}
	})
	conv := func(typ string) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			x := a[0]
			switch {
			case isIntegral(typ) && (x.typ == tyReal || x.typ == tyDecimal):
				return texpr{sql: "TRY_CAST(trunc(" + x.sql + ") AS " + sqlType(typ) + ")", typ: typ}
			case isIntegral(typ) && x.typ == tyString:
				return texpr{sql: "coalesce(TRY_CAST(" + x.sql + " AS " + sqlType(typ) + "), TRY_CAST(trunc(TRY_CAST(" + x.sql + " AS DOUBLE)) AS " + sqlType(typ) + "))", typ: typ}
			case isIntegral(typ) && x.typ == tyDateTime:
				return texpr{sql: "TRY_CAST(epoch_us(" + x.sql + ") * 10 + " + strconv.FormatInt(epochOffsetMicros*10, 10) + " AS " + sqlType(typ) + ")", typ: typ}
			case isIntegral(typ) && x.typ == tyTimespan:
				return texpr{sql: "TRY_CAST(" + x.sql + " * 10 AS " + sqlType(typ) + ")", typ: typ}
			case typ == tyBool && x.typ == tyString:
				return texpr{sql: "CASE lower(" + x.sql + ") WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE WHEN '1' THEN TRUE WHEN '0' THEN FALSE END", typ: typ}
			case typ == tyTimespan && isNumeric(x.typ):
				return texpr{sql: "TRY_CAST(" + x.sql + " // 10 AS BIGINT)", typ: typ}
			case x.typ == tyTimespan && typ == tyReal:
				return texpr{sql: "CAST(" + x.sql + " * 10 AS DOUBLE)", typ: typ}
			}
			if x.typ == typ {
				return x
			}
			if x.typ == tyDateTime || x.typ == tyTimespan {
				return texpr{sql: sqlNull(typ), typ: typ}
			}
			return texpr{sql: t.convert(c, x, typ), typ: typ}
		}
	}
	add("toint", 1, 1, conv(tyInt))
	add("tolong toint64", 1, 1, conv(tyLong))
	add("todouble toreal", 1, 1, conv(tyReal))
	add("todecimal", 1, 1, conv(tyReal))
	add("tobool toboolean", 1, 1, conv(tyBool))
	add("totimespan time", 1, 1, conv(tyTimespan))
	add("toguid", 1, 1, conv(tyGuid))
	add("parse_json todynamic toobject parse_xml", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		switch a[0].typ {
		case tyDynamic, tyNull:
			return a[0]
		case tyString:
			s := a[0].sql
			return texpr{sql: "CASE WHEN json_valid(" + s + ") THEN CAST(" + s + " AS JSON) ELSE to_json(" + s + ") END", typ: tyDynamic}
		}
		return texpr{sql: toDynamic(a[0]), typ: tyDynamic}
	})
	add("gettype", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		if a[0].typ == tyDynamic {
			s := a[0].sql
			return texpr{sql: "CASE json_type(" + s + ") WHEN 'OBJECT' THEN 'dictionary' WHEN 'ARRAY' THEN 'array' WHEN 'VARCHAR' THEN 'string' WHEN 'BIGINT' THEN 'long' WHEN 'UBIGINT' THEN 'long' WHEN 'DOUBLE' THEN 'real' WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'null' ELSE 'null' END", typ: tyString}
		}
		name := a[0].typ
		if name == tyReal {
			name = "real"
		}
		return texpr{sql: sqlString(name), typ: tyString}
	})

	// dynamic
	add("bag_keys", 1, 1, simple(tyDynamic, "to_json(json_keys(%s))", tyDynamic))
	add("pack bag_pack pack_dictionary", 0, 128, func(t *translator, c *Call, a []texpr) texpr {
		if len(a)%2 != 0 {
			t.fail(c, "%s needs pairs of key and value", c.Name)
		}
		var parts []string
		for i := 0; i < len(a); i += 2 {
			parts = append(parts, t.arg(c, i, a[i], tyString), toDynamic(a[i+1]))
		}
		return texpr{sql: "json_object(" + strings.Join(parts, ", ") + ")", typ: tyDynamic}
	})
	add("pack_array", 0, 128, func(t *translator, c *Call, a []texpr) texpr {
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = toDynamic(a[i])
		}
		return texpr{sql: "json_array(" + strings.Join(parts, ", ") + ")", typ: tyDynamic}
	})
	// repeat(value, count): count copies of value; null for a negative
	// count or one above maxRepeat (the array would not fit a result)
	add("repeat", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		n := t.arg(c, 1, a[1], tyLong)
		return texpr{sql: "CASE WHEN " + n + " BETWEEN 0 AND " + strconv.Itoa(maxRepeat) + " THEN CAST(list_transform(range(" + n + "), i -> " + toDynamic(a[0]) + ") AS JSON) END", typ: tyDynamic}
	})
	add("array_length", 1, 1, simple(tyLong, "CASE WHEN json_type(%[1]s) = 'ARRAY' THEN CAST(json_array_length(%[1]s) AS BIGINT) END", tyDynamic))
	add("set_has_element", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		arr := t.arg(c, 0, a[0], tyDynamic)
		return texpr{sql: "coalesce(list_contains(json_extract_string(" + arr + ", '$[*]'), " + textOf(a[1]) + "), FALSE)", typ: tyBool}
	})
	add("array_concat", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		parts := t.jsonArrays(c, a)
		s := parts[0]
		for _, p := range parts[1:] {
			s = "list_concat(" + s + ", " + p + ")"
		}
		return texpr{sql: "to_json(" + s + ")", typ: tyDynamic}
	})
	add("array_slice", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		arr := "CAST(json_extract(" + t.arg(c, 0, a[0], tyDynamic) + ", '$[*]') AS JSON[])"
		s, e := t.arg(c, 1, a[1], tyLong), t.arg(c, 2, a[2], tyLong)
		n := "len(" + arr + ")"
		from := "(CASE WHEN " + s + " < 0 THEN " + s + " + " + n + " ELSE " + s + " END + 1)"
		to := "(CASE WHEN " + e + " < 0 THEN " + e + " + " + n + " ELSE " + e + " END + 1)"
		return texpr{sql: "to_json(list_slice(" + arr + ", " + from + ", " + to + "))", typ: tyDynamic}
	})
	add("array_reverse", 1, 1, simple(tyDynamic, "to_json(list_reverse(CAST(json_extract(%s, '$[*]') AS JSON[])))", tyDynamic))
	// an element that is not a number (or null) makes the sum null
	add("array_sum", 1, 1, simple(tyReal, "CASE WHEN list_bool_and(list_transform(CAST(json_extract(%[1]s, '$[*]') AS JSON[]), e -> json_type(e) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'NULL'))) THEN list_sum(TRY_CAST(json_extract(%[1]s, '$[*]') AS DOUBLE[])) END", tyDynamic))
	add("set_intersect", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		parts := t.jsonArrays(c, a)
		s := parts[0]
		for _, p := range parts[1:] {
			s = "list_intersect(" + s + ", " + p + ")"
		}
		return texpr{sql: "to_json(list_distinct(" + s + "))", typ: tyDynamic}
	})
	add("set_difference", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		parts := t.jsonArrays(c, a)
		rest := "[]"
		if len(parts) > 1 {
			rest = strings.Join(parts[1:], ", ")
		}
		return texpr{sql: "to_json(list_distinct(list_filter(" + parts[0] + ", e -> NOT list_contains(flatten([" + rest + "]), e))))", typ: tyDynamic}
	})
	add("bag_remove_keys", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		bag := t.arg(c, 0, a[0], tyDynamic)
		keys := "json_extract_string(" + t.arg(c, 1, a[1], tyDynamic) + ", '$[*]')"
		return texpr{sql: "coalesce(CAST(map_from_entries(list_filter(map_entries(CAST(json_transform(" + bag + ", '\"MAP(VARCHAR, JSON)\"') AS MAP(VARCHAR, JSON))), e -> NOT list_contains(" + keys + ", e.key))) AS JSON), '{}')", typ: tyDynamic}
	})
	add("zip", 2, 16, func(t *translator, c *Call, a []texpr) texpr {
		parts := t.jsonArrays(c, a)
		return texpr{sql: "to_json(list_transform(list_zip(" + strings.Join(parts, ", ") + "), e -> [" + zipFields(len(a)) + "]))", typ: tyDynamic}
	})

	// logic and nulls
	add("iff iif", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		typ := commonType(a[1].typ, a[2].typ)
		return texpr{sql: "CASE WHEN " + t.asBool(c.Args[0], a[0]) + " THEN " + t.arg(c, 1, a[1], typ) + " ELSE " + t.arg(c, 2, a[2], typ) + " END", typ: typ}
	})
	add("case", 3, 255, func(t *translator, c *Call, a []texpr) texpr {
		if len(a)%2 == 0 {
			t.fail(c, "case needs pairs of condition and value, then an else value")
		}
		typ := a[len(a)-1].typ
		for i := 1; i < len(a); i += 2 {
			typ = commonType(typ, a[i].typ)
		}
		var b strings.Builder
		b.WriteString("CASE")
		for i := 0; i+1 < len(a); i += 2 {
			b.WriteString(" WHEN " + t.asBool(c.Args[i], a[i]) + " THEN " + t.arg(c, i+1, a[i+1], typ))
		}
		b.WriteString(" ELSE " + t.arg(c, len(a)-1, a[len(a)-1], typ) + " END")
		return texpr{sql: b.String(), typ: typ}
	})
	add("coalesce", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		typ := a[0].typ
		for _, x := range a[1:] {
			typ = commonType(typ, x.typ)
		}
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = t.arg(c, i, a[i], typ)
			if typ == tyString {
				parts[i] = "nullif(" + parts[i] + ", '')"
			}
		}
		s := "coalesce(" + strings.Join(parts, ", ") + ")"
		if typ == tyString {
			s = "coalesce(" + s + ", '')"
		}
		return texpr{sql: s, typ: typ}
	})
	add("isempty", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: "(" + emptySQL(a[0]) + ")", typ: tyBool}
	})
	add("isnotempty notempty", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: "(NOT " + emptySQL(a[0]) + ")", typ: tyBool}
	})
	add("isnull", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: nullSQL(a[0]), typ: tyBool}
	})
	add("isnotnull notnull", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: "(NOT " + nullSQL(a[0]) + ")", typ: tyBool}
	})
	add("not", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return texpr{sql: "(NOT " + t.asBool(c.Args[0], a[0]) + ")", typ: tyBool}
	})
	add("isnan", 1, 1, simple(tyBool, "isnan(%s)", tyReal))
	add("isinf", 1, 1, simple(tyBool, "isinf(%s)", tyReal))
	add("isfinite", 1, 1, simple(tyBool, "isfinite(%s)", tyReal))

	// math
	// outside a function's domain (log of a negative number): null, not a
	// failed query
	mathFn := func(name string) func(t *translator, c *Call, a []texpr) texpr {
		return simple(tyReal, "try("+name+"(%s))", tyReal)
	}
	for _, n := range []string{"sqrt", "exp", "log", "log10", "log2", "sin", "cos", "tan", "asin", "acos", "atan", "degrees", "radians", "exp2", "exp10"} {
		impl := mathFn(n)
		switch n {
		case "log":
			impl = mathFn("ln")
		case "exp2":
			impl = simple(tyReal, "pow(2, %s)", tyReal)
		case "exp10":
			impl = simple(tyReal, "pow(10, %s)", tyReal)
		}
		add(n, 1, 1, impl)
	}
	add("pow power", 2, 2, simple(tyReal, "pow(%s, %s)", tyReal))
	add("atan2", 2, 2, simple(tyReal, "atan2(%s, %s)", tyReal))
	add("pi", 0, 0, simple(tyReal, "pi()"))
	add("abs", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		typ := a[0].typ
		if !isNumeric(typ) && typ != tyTimespan {
			typ = tyReal
		}
		return texpr{sql: "abs(" + t.arg(c, 0, a[0], typ) + ")", typ: typ}
	})
	add("sign", 1, 1, simple(tyReal, "CAST(sign(%s) AS DOUBLE)", tyReal))
	add("round", 1, 2, func(t *translator, c *Call, a []texpr) texpr {
		x := t.arg(c, 0, a[0], tyReal)
		if len(a) == 2 {
			return texpr{sql: "round(" + x + ", CAST(" + t.arg(c, 1, a[1], tyLong) + " AS INTEGER))", typ: tyReal}
		}
		return texpr{sql: "round(" + x + ")", typ: tyReal}
	})
	add("ceiling", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		if isIntegral(a[0].typ) {
			return a[0]
		}
		return texpr{sql: "ceil(" + t.arg(c, 0, a[0], tyReal) + ")", typ: tyReal}
	})
	add("max_of", 1, 64, extremeFn("greatest"))
	add("min_of", 1, 64, extremeFn("least"))
	add("rand", 0, 1, func(t *translator, c *Call, a []texpr) texpr {
		if len(a) == 1 {
			return texpr{sql: "CAST(floor(random() * " + t.arg(c, 0, a[0], tyReal) + ") AS BIGINT)", typ: tyLong}
		}
		return texpr{sql: "random()", typ: tyReal}
	})
	add("bitset_count_ones", 1, 1, simple(tyLong, "CAST(bit_count(%s) AS BIGINT)", tyLong))
	add("binary_and", 2, 2, simple(tyLong, "(%s & %s)", tyLong))
	add("binary_or", 2, 2, simple(tyLong, "(%s | %s)", tyLong))
	add("binary_xor", 2, 2, simple(tyLong, "xor(%s, %s)", tyLong))
	add("binary_not", 1, 1, simple(tyLong, "(~%s)", tyLong))
	add("binary_shift_left", 2, 2, simple(tyLong, "(%s << %s)", tyLong))
	add("binary_shift_right", 2, 2, simple(tyLong, "(%s >> %s)", tyLong))

	// network
	add("ipv4_is_private", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		n := ipv4Number(t.arg(c, 0, a[0], tyString))
		ranges := [][2]int64{{10 << 24, 8}, {172<<24 | 16<<16, 12}, {192<<24 | 168<<16, 16}}
		var parts []string
		for _, r := range ranges {
			parts = append(parts, fmt.Sprintf("(%s >> %d) = %d", n, 32-r[1], r[0]>>(32-r[1])))
		}
		return texpr{sql: "(" + strings.Join(parts, " OR ") + ")", typ: tyBool}
	})
	add("ipv4_is_in_range", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		ip := t.arg(c, 0, a[0], tyString)
		cidr := t.arg(c, 1, a[1], tyString)
		return texpr{sql: ipv4InRange(ip, cidr), typ: tyBool}
	})
	add("parse_ipv4", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		s := t.arg(c, 0, a[0], tyString)
		// a.b.c.d/n keeps the network part
		bits := "coalesce(TRY_CAST(nullif(regexp_extract(" + s + ", '/(\\d+)$', 1), '') AS BIGINT), 32)"
		return texpr{sql: "((" + ipv4Number(s) + " >> (32 - " + bits + ")) << (32 - " + bits + "))", typ: tyLong}
	})
	add("parse_url", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		s := t.arg(c, 0, a[0], tyString)
		re := `'^(?:([A-Za-z][A-Za-z0-9+.-]*)://)?(?:([^:@/]*)(?::([^@/]*))?@)?([^:/?#]*)(?::(\d+))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$'`
		g := func(i int) string { return "regexp_extract(" + s + ", " + re + ", " + strconv.Itoa(i) + ")" }
		return texpr{sql: "json_object('Scheme', " + g(1) + ", 'Host', " + g(4) + ", 'Port', " + g(5) + ", 'Path', " + g(6) + ", 'Username', " + g(2) + ", 'Password', " + g(3) + ", 'Query Parameters', " + queryParams(g(7)) + ", 'Fragment', " + g(8) + ")", typ: tyDynamic}
	})
	add("new_guid", 0, 0, simple(tyGuid, "CAST(uuid() AS VARCHAR)"))
	add("typeof", 1, 1, func(t *translator, c *Call, a []texpr) texpr { return a[0] })
	for _, group := range []map[string]fnSpec{sketchFunctions(), geoFunctions(), shapeFunctions(), seriesFunctions(), moreFunctions()} {
		for name, spec := range group {
			f[name] = spec
		}
	}
	scalarFuncs = f
}

// arg converts argument i of a call to typ.
func (t *translator) arg(c *Call, i int, x texpr, typ string) string {
	var pos Node = c
	if i < len(c.Args) {
		pos = c.Args[i]
	}
	return t.convert(pos, x, typ)
}

// typeOfArg reads a typeof(T) argument.
func typeOfArg(t *translator, c *Call, x texpr) string {
	if x.lit != nil && x.lit.Kind == LitType {
		return x.lit.Value
	}
	t.fail(c, "%s needs a type such as typeof(long) as its last argument", c.Name)
	return ""
}

// binFn is bin(value, size) and floor(value, size).
func binFn(t *translator, c *Call, a []texpr) texpr {
	x, size := a[0], a[1]
	switch x.typ {
	case tyDateTime:
		sz := t.arg(c, 1, size, tyTimespan)
		// Kusto aligns datetime bins to 0001-01-01
		off := strconv.FormatInt(epochOffsetMicros, 10)
		return texpr{sql: "make_timestamp(((epoch_us(" + x.sql + ") + " + off + ") // " + sz + ") * " + sz + " - " + off + ")", typ: tyDateTime, name: x.name}
	case tyTimespan:
		sz := t.arg(c, 1, size, tyTimespan)
		return texpr{sql: "(CAST(floor(CAST(" + x.sql + " AS DOUBLE) / NULLIF(" + sz + ", 0)) AS BIGINT) * " + sz + ")", typ: tyTimespan, name: x.name}
	case tyLong, tyInt:
		if isIntegral(size.typ) {
			return texpr{sql: "(CAST(floor(CAST(" + x.sql + " AS DOUBLE) / NULLIF(" + size.sql + ", 0)) AS BIGINT) * " + size.sql + ")", typ: tyLong, name: x.name}
		}
	case tyDynamic:
		x = texpr{sql: dynTo(x.sql, tyReal), typ: tyReal, name: x.name}
	}
	if !isNumeric(x.typ) {
		t.fail(c, "bin needs a number, datetime or timespan, not a %s", x.typ)
	}
	return texpr{sql: "(floor(CAST(" + x.sql + " AS DOUBLE) / NULLIF(" + t.arg(c, 1, size, tyReal) + ", 0)) * " + t.arg(c, 1, size, tyReal) + ")", typ: tyReal, name: x.name}
}

// commonType is the type two branches of iff/case/coalesce share.
func commonType(a, b string) string {
	switch {
	case a == b:
		return a
	case a == tyNull:
		return b
	case b == tyNull:
		return a
	case isNumeric(a) && isNumeric(b):
		return arithType(a, b)
	case a == tyDynamic || b == tyDynamic:
		return tyDynamic
	}
	return a
}

// emptySQL is Kusto's isempty: null, or "" for a string.
func emptySQL(x texpr) string {
	switch x.typ {
	case tyString, tyGuid:
		return "coalesce(" + x.sql + " = '', TRUE)"
	case tyDynamic:
		return "coalesce(json_extract_string(" + x.sql + ", '$') = '' OR json_type(" + x.sql + ") = 'NULL', TRUE)"
	case tyNull:
		return "TRUE"
	}
	return "(" + x.sql + " IS NULL)"
}

// nullSQL is Kusto's isnull: never for a string, null or a JSON null for a
// dynamic value.
func nullSQL(x texpr) string {
	switch x.typ {
	case tyString:
		return "FALSE"
	case tyDynamic:
		return "(" + x.sql + " IS NULL OR json_type(" + x.sql + ") = 'NULL')"
	}
	return "(" + x.sql + " IS NULL)"
}

// textOf renders a scalar as the text json_extract_string gives for the
// same JSON value.
func textOf(x texpr) string {
	switch x.typ {
	case tyString, tyGuid:
		return x.sql
	case tyDynamic:
		return "json_extract_string(" + x.sql + ", '$')"
	case tyBool:
		return "CASE WHEN " + x.sql + " THEN 'true' ELSE 'false' END"
	}
	return "CAST(" + x.sql + " AS VARCHAR)"
}

// jsonArrays converts each argument to a DuckDB list of its JSON
// elements.
func (t *translator) jsonArrays(c *Call, a []texpr) []string {
	parts := make([]string, len(a))
	for i := range a {
		parts[i] = "CAST(json_extract(" + t.arg(c, i, a[i], tyDynamic) + ", '$[*]') AS JSON[])"
	}
	return parts
}

func extremeFn(name string) func(t *translator, c *Call, a []texpr) texpr {
	return func(t *translator, c *Call, a []texpr) texpr {
		typ := a[0].typ
		for _, x := range a[1:] {
			typ = commonType(typ, x.typ)
		}
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = t.arg(c, i, a[i], typ)
		}
		return texpr{sql: name + "(" + strings.Join(parts, ", ") + ")", typ: typ}
	}
}

func zipFields(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("e[%d]", i+1)
	}
	return strings.Join(parts, ", ")
}

// ipv4Number is the SQL of an IPv4 address's 32-bit number, null when the
// text is not a dotted quad.
func ipv4Number(s string) string {
	re := `'^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:/\d+)?$'`
	oct := func(i int) string {
		return "TRY_CAST(regexp_extract(" + s + ", " + re + ", " + strconv.Itoa(i) + ") AS BIGINT)"
	}
	return "(CASE WHEN regexp_matches(" + s + ", " + re + ") THEN " + oct(1) + " * 16777216 + " + oct(2) + " * 65536 + " + oct(3) + " * 256 + " + oct(4) + " END)"
}

// ipv4InRange is the SQL testing that an address is in a CIDR range
// (a.b.c.d/n, or an address alone for /32).
func ipv4InRange(ip, cidr string) string {
	bits := "coalesce(TRY_CAST(nullif(regexp_extract(" + cidr + ", '/(\\d+)$', 1), '') AS BIGINT), 32)"
	shift := "(32 - " + bits + ")"
	return "((" + ipv4Number(ip) + " >> " + shift + ") = (" + ipv4Number(cidr) + " >> " + shift + "))"
}

// queryParams renders a URL query string as a JSON object.
func queryParams(q string) string {
	return "coalesce(CAST(map_from_entries(list_transform(list_filter(string_split(" + q + ", '&'), p -> p <> ''), p -> {'k': split_part(p, '=', 1), 'v': url_decode(substr(p, length(split_part(p, '=', 1)) + 2))})) AS JSON), '{}')"
}
