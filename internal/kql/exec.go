package kql

import (
	"bytes"
	"context"

	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// execute runs a plan's statements in order, within the engine's time
// limit, and reads their results.
func (e *Engine) execute(ctx context.Context, plan *Plan) (*Result, error) {
	res := &Result{TablesRead: plan.TablesRead}
	var size int64
	for i, st := range plan.Stmts {
		tab, err := e.runStmt(ctx, st, &size)
		if err != nil {
			return nil, e.ctxError(ctx, err)
		}
		switch {
		case st.Name != "":
			tab.Name = st.Name
		case len(plan.Stmts) > 1:
			tab.Name = fmt.Sprintf("Table_%d", i)
		default:
			tab.Name = "PrimaryResult"
		}
		res.Tables = append(res.Tables, tab)
	}
	return res, nil
}

// runStmt runs one statement and scans its rows.
func (e *Engine) runStmt(ctx context.Context, st *StmtPlan, size *int64) (*Table, error) {
	rows, err := e.db.QueryContext(ctx, st.SQL)
	if err != nil {
		return nil, e.dbError(err)
	}
	defer rows.Close()
	tab := &Table{Columns: st.Columns, Chart: st.Chart, ordered: st.Ordered, Rows: [][]any{}}
	n := len(st.Columns)
	vals := make([]any, n)
	ptrs := make([]any, n)
	if n == 0 {
		ptrs = []any{new(any)}
	}
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if len(tab.Rows) >= e.opts.MaxRows {
			return nil, &LimitError{Limit: "max_rows", Msg: fmt.Sprintf("the result has more than %d rows, the most a query may return: add '| take %d' or '| summarize ...', narrow the filter, or raise query.max_rows", e.opts.MaxRows, e.opts.MaxRows)}
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("reading a result row: %w", err)
		}
		row := make([]any, n)
		for i, c := range st.Columns {
			v, sz, err := cell(vals[i], c.Type)
			if err != nil {
				return nil, fmt.Errorf("reading column %s: %w", c.Name, err)
			}
			row[i] = v
			*size += int64(sz)
		}
		if *size > e.opts.MaxBytes {
			return nil, &LimitError{Limit: "max_bytes", Msg: fmt.Sprintf("the result is larger than %d bytes, the most a query may return: project fewer columns, add '| take N', or raise query.max_bytes", e.opts.MaxBytes)}
		}
		tab.Rows = append(tab.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, e.dbError(err)
	}
	return tab, nil
}

// dbError turns a DuckDB failure into an error for the caller. Conversion
// and value errors a query can cause (a bad regular expression built at
// run time, an overflow) are the query's fault.
func (e *Engine) dbError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "subqueries in lambda expressions are not supported") {
		// scan's steps (and some array functions' arguments) run inside
		// DuckDB lambdas
		return &Error{Pos: Pos{Line: 1, Col: 1}, Msg: "a sub-query (toscalar(), a tabular let value, in (table)) cannot be used in scan's steps or in this function's arguments: compute it with extend before and use the column"}
	}
	for _, p := range []string{"Conversion Error", "Invalid Input Error", "Out of Range Error", "Binder Error", "Parser Error", "Not implemented Error"} {
		if strings.Contains(msg, p) {
			return &Error{Pos: Pos{Line: 1, Col: 1}, Msg: "the query failed while running: " + msg}
		}
	}
	return fmt.Errorf("running the query: %w", err)
}

// cell converts a scanned value to the Go type of its KQL column type,
// and returns its size as text.
func cell(v any, typ string) (any, int, error) {
	if v == nil {
		return nil, 4, nil
	}
	switch typ {
	case tyString, tyGuid:
		switch x := v.(type) {
		case string:
			return x, len(x) + 2, nil
		case []byte:
			return string(x), len(x) + 2, nil
		}
		s := fmt.Sprint(v)
		return s, len(s) + 2, nil
	case tyLong, tyInt:
		n, err := toInt64(v)
		return n, 20, err
	case tyReal, tyDecimal:
		switch x := v.(type) {
		case float64:
			return x, 24, nil
		case float32:
			return float64(x), 24, nil
		}
		n, err := toInt64(v)
		return float64(n), 24, err
	case tyBool:
		b, ok := v.(bool)
		if !ok {
			return nil, 0, fmt.Errorf("expected a bool, got %T", v)
		}
		return b, 5, nil
	case tyDateTime:
		tm, ok := v.(time.Time)
		if !ok {
			return nil, 0, fmt.Errorf("expected a timestamp, got %T", v)
		}
		return tm.UTC(), 30, nil
	case tyTimespan:
		n, err := toInt64(v)
		return time.Duration(n) * time.Microsecond, 20, err
	case tyDynamic, tyNull:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, 0, err
			}
			s = string(b)
		}
		if s == "" {
			return nil, 4, nil
		}
		var buf json.RawMessage
		if err := json.Unmarshal([]byte(s), &buf); err != nil {
			// not JSON: keep it as a JSON string
			b, _ := json.Marshal(s)
			return json.RawMessage(b), len(b), nil
		}
		return compactJSON(buf), len(s), nil
	}
	return v, 16, nil
}

func compactJSON(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case *big.Int:
		return x.Int64(), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("expected an integer, got %T", v)
}

// ctxError turns an error that happened because ctx ended into the
// timeout's LimitError or the cancellation; other errors pass unchanged.
func (e *Engine) ctxError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return e.errTimeout()
	case ctx.Err() != nil:
		return fmt.Errorf("running the query: %w", ctx.Err())
	}
	return err
}
