package kql

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The KQL scalar types, as the translator tracks them.
const (
	tyString   = "string"
	tyLong     = "long"
	tyInt      = "int"
	tyReal     = "real"
	tyBool     = "bool"
	tyDateTime = "datetime"
	tyTimespan = "timespan"
	tyDynamic  = "dynamic"
	tyGuid     = "guid"
	tyDecimal  = "decimal"
	// tyNull is the type of an untyped null (dynamic(null) written as a
	// scalar converts to any type).
	tyNull = "null"
)

// sqlType is the DuckDB type that holds each KQL type. A timespan is a
// count of microseconds; a guid is text; decimal is held as a double.
func sqlType(t string) string {
	switch t {
	case tyString, tyGuid:
		return "VARCHAR"
	case tyLong:
		return "BIGINT"
	case tyInt:
		return "INTEGER"
	case tyReal, tyDecimal:
		return "DOUBLE"
	case tyBool:
		return "BOOLEAN"
	case tyDateTime:
		return "TIMESTAMP"
	case tyTimespan:
		return "BIGINT"
	case tyDynamic, tyNull:
		return "JSON"
	}
	return "VARCHAR"
}

// isNumeric reports whether t is int, long, real or decimal.
func isNumeric(t string) bool {
	return t == tyLong || t == tyInt || t == tyReal || t == tyDecimal
}

// isIntegral reports whether t is int or long.
func isIntegral(t string) bool { return t == tyLong || t == tyInt }

// sqlString quotes s as a DuckDB string literal. Every text that comes from
// a query reaches SQL through this function (or as a bound parameter): a
// quote is doubled, and a NUL, which DuckDB strings cannot hold, is written
// as chr(0).
func sqlString(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		parts := strings.Split(s, "\x00")
		for i, p := range parts {
			parts[i] = sqlString(p)
		}
		return "(" + strings.Join(parts, " || chr(0) || ") + ")"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// sqlIdent quotes a DuckDB identifier. Only the names of catalog
// relations and columns, and the translator's own generated names, are
// passed here; names written in a query never are.
func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// sqlLong renders an int64 as a BIGINT literal.
func sqlLong(v int64) string {
	if v == math.MinInt64 {
		return "CAST(-9223372036854775808 AS BIGINT)"
	}
	return "CAST(" + strconv.FormatInt(v, 10) + " AS BIGINT)"
}

// sqlReal renders a float64 as a DOUBLE literal.
func sqlReal(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "CAST(" + sqlString(formatReal64(f)) + " AS DOUBLE)"
	}
	return "CAST(" + strconv.FormatFloat(f, 'g', -1, 64) + " AS DOUBLE)"
}

// sqlTime renders a time as a TIMESTAMP literal (microsecond precision).
func sqlTime(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "'"
}

// sqlNull is a typed null.
func sqlNull(t string) string { return "CAST(NULL AS " + sqlType(t) + ")" }

// sqlJSON renders a Go value as a JSON literal.
func sqlJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	return "CAST(" + sqlString(string(b)) + " AS JSON)"
}

// ticksPerMicro converts Kusto ticks (100 ns) to microseconds.
const ticksPerMicro = 10

// epochOffsetMicros is the time from 0001-01-01 (where Kusto's datetime
// ticks start, and bin() aligns) to 1970-01-01, in microseconds.
const epochOffsetMicros = 62135596800 * 1_000_000

// jsonPointer renders the JSON pointer (RFC 6901) of one object key.
func jsonPointer(key string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

func fnCall(name string, args ...string) string {
	return name + "(" + strings.Join(args, ", ") + ")"
}

func paren(s string) string { return "(" + s + ")" }

// ident is the SQL name of the n-th generated column.
func genIdent(n int) string { return fmt.Sprintf("c%d", n) }
