package kql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// udf is a scalar function written in Go and registered in DuckDB, for
// the KQL functions SQL cannot express well (geospatial functions, parsers
// of odd formats). A translation calls it by Name.
//
// Arguments and the result are passed as DuckDB values of the KQL types
// given (dynamic as JSON text in a VARCHAR, timespan as BIGINT
// microseconds, datetime as TIMESTAMP); Fn receives nil for a null
// argument unless NullArgs is set, in which case a null argument gives a
// null result without calling Fn. Fn returns nil for null. Fn must be
// safe for concurrent use and must not keep its arguments.
type udf struct {
	Name     string // SQL name; by convention kql_<function>
	Args     []string
	Variadic string // KQL type of further arguments; "" for none
	Result   string
	NullArgs bool // any null argument makes the result null
	Fn       func(args []any) (any, error)
}

// udfTypes maps a KQL type to the DuckDB type a udf exchanges it as.
func udfType(kqlType string) (duckdb.TypeInfo, error) {
	var t duckdb.Type
	switch kqlType {
	case tyString, tyGuid, tyDynamic:
		t = duckdb.TYPE_VARCHAR
	case tyLong, tyTimespan:
		t = duckdb.TYPE_BIGINT
	case tyInt:
		t = duckdb.TYPE_INTEGER
	case tyReal:
		t = duckdb.TYPE_DOUBLE
	case tyBool:
		t = duckdb.TYPE_BOOLEAN
	case tyDateTime:
		t = duckdb.TYPE_TIMESTAMP
	default:
		return nil, fmt.Errorf("no DuckDB type for %s", kqlType)
	}
	return duckdb.NewTypeInfo(t)
}

// scalarUDF adapts a udf to duckdb.ScalarFunc.
type scalarUDF struct {
	u   udf
	cfg duckdb.ScalarFuncConfig
}

func (s *scalarUDF) Config() duckdb.ScalarFuncConfig { return s.cfg }

func (s *scalarUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		args := make([]any, len(values))
		for i, v := range values {
			args[i] = v
		}
		return s.u.Fn(args)
	}}
}

// allUDFs lists every Go-implemented function.
func allUDFs() []udf {
	var out []udf
	out = append(out, geoUDFs()...)
	out = append(out, shapeUDFs()...)
	out = append(out, seriesUDFs()...)
	out = append(out, moreUDFs()...)
	out = append(out, opUDFs()...)
	return out
}

// RegisterFunctions registers cdewatch's Go-implemented KQL functions in
// the DuckDB database behind db, where they are visible to every
// connection. Functions already registered (by another engine on the same
// database) are left as they are. The engine calls it before its first
// query.
func RegisterFunctions(ctx context.Context, db *sql.DB) error {
	return registerFunctions(ctx, db)
}

func registerFunctions(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("registering the KQL functions: %w", err)
	}
	defer conn.Close()
	have := map[string]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT DISTINCT function_name FROM duckdb_functions() WHERE starts_with(function_name, 'kql_')")
	if err != nil {
		return fmt.Errorf("registering the KQL functions: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("registering the KQL functions: %w", err)
		}
		have[n] = true
	}
	rows.Close()
	for _, u := range allUDFs() {
		if have[u.Name] {
			continue
		}
		cfg := duckdb.ScalarFuncConfig{SpecialNullHandling: !u.NullArgs}
		for _, a := range u.Args {
			ti, err := udfType(a)
			if err != nil {
				return fmt.Errorf("registering %s: %w", u.Name, err)
			}
			cfg.InputTypeInfos = append(cfg.InputTypeInfos, ti)
		}
		if u.Variadic != "" {
			ti, err := udfType(u.Variadic)
			if err != nil {
				return fmt.Errorf("registering %s: %w", u.Name, err)
			}
			cfg.VariadicTypeInfo = ti
		}
		rt, err := udfType(u.Result)
		if err != nil {
			return fmt.Errorf("registering %s: %w", u.Name, err)
		}
		cfg.ResultTypeInfo = rt
		if err := duckdb.RegisterScalarUDF(conn, u.Name, &scalarUDF{u: u, cfg: cfg}); err != nil {
			return fmt.Errorf("registering the KQL function %s: %w", u.Name, err)
		}
	}
	return nil
}

// udfCall translates a call of a KQL function implemented by a udf: the
// arguments are converted to the udf's types, a dynamic result is cast
// back to JSON.
func (t *translator) udfCall(c *Call, a []texpr, u udf) texpr {
	args := make([]string, len(a))
	for i := range a {
		typ := u.Variadic
		if i < len(u.Args) {
			typ = u.Args[i]
		}
		if typ == tyDynamic {
			args[i] = "CAST(" + t.arg(c, i, a[i], tyDynamic) + " AS VARCHAR)"
			continue
		}
		args[i] = t.arg(c, i, a[i], typ)
	}
	s := u.Name + "(" + joinComma(args) + ")"
	if u.Result == tyDynamic {
		s = "CAST(" + s + " AS JSON)"
	}
	return texpr{sql: s, typ: u.Result}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// udfFloat reads a numeric udf argument; ok is false for null.
func udfFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// udfInt reads an integral udf argument (a real is truncated); ok is false
// for null and NaN.
func udfInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case float64:
		return int64(x), !math.IsNaN(x)
	}
	return 0, false
}

// udfString reads a VARCHAR udf argument (a dynamic one is JSON text); ok
// is false for null.
func udfString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}
