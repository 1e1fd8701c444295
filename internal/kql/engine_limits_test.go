package kql

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// openFileDB opens a file-backed DuckDB database, as the index is.
func openFileDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", filepath.Join(tb.TempDir(), "q.duckdb"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestEngineLimits checks that each limit stops a query with a
// *LimitError naming the setting, and that the engine (and the database)
// answer the next query normally — a cancelled DuckDB query must not
// leave the connection or the file unusable.
func TestEngineLimits(t *testing.T) {
	db := openFileDB(t)
	cases := []struct {
		name  string
		opts  Options
		query string
		limit string
		msg   string
	}{
		{"timeout", Options{Timeout: 300 * time.Millisecond}, "range x from 1 to 20000000000 step 1 | summarize dcount(x % 1000000007)", "timeout", "time limit of 300ms"},
		{"max rows", Options{MaxRows: 10}, "range x from 1 to 11 step 1", "max_rows", "more than 10 rows"},
		{"max rows of a later table", Options{MaxRows: 10}, "print 1; range x from 1 to 100 step 1", "max_rows", "query.max_rows"},
		{"max bytes", Options{MaxBytes: 1000}, "range x from 1 to 100 step 1 | extend s = strrep('x', 100)", "max_bytes", "larger than 1000 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng := NewEngine(db, nil, c.opts)
			start := time.Now()
			_, err := eng.Run(context.Background(), c.query)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LimitError", err)
			}
			if le.Limit != c.limit || !strings.Contains(le.Msg, c.msg) {
				t.Errorf("got limit %q: %s; want %q containing %q", le.Limit, le.Msg, c.limit, c.msg)
			}
			if !IsQueryError(err) {
				t.Error("a limit error must count as the query's fault")
			}
			if c.limit == "timeout" && time.Since(start) > 10*time.Second {
				t.Errorf("the query was stopped only after %s", time.Since(start))
			}
			// the engine and the database still answer
			res, err := eng.Run(context.Background(), "print n = 41 + 1")
			if err != nil {
				t.Fatalf("after the limit: %v", err)
			}
			if got := res.Tables[0].Rows[0][0]; got != int64(42) {
				t.Errorf("after the limit: got %v", got)
			}
		})
	}
}

// TestEngineCancel checks that a query cancelled by its caller stops, is
// not reported as a limit, and leaves the database usable.
func TestEngineCancel(t *testing.T) {
	db := openFileDB(t)
	eng := NewEngine(db, nil, Options{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := eng.Run(ctx, "range x from 1 to 20000000000 step 1 | summarize dcount(x % 1000000007)")
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if IsQueryError(err) {
		t.Error("a cancelled query is not the query's fault")
	}
	if _, err := eng.Run(context.Background(), "print 1"); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

// TestPanicIsInternalError: a panic of the engine reaches the caller as an
// *InternalError with its stack, not as a crash of the caller's goroutine
// (a scheduled rule's, a server's).
func TestPanicIsInternalError(t *testing.T) {
	err := func() (err error) {
		defer recoverInternal(&err)
		var m map[string]int
		m["x"]++ // a nil map: the kind of bug it guards against
		return nil
	}()
	var ie *InternalError
	if !errors.As(err, &ie) || len(ie.Stack) == 0 || !strings.Contains(err.Error(), "internal error in the query engine") || IsQueryError(err) {
		t.Fatalf("got %v (%T)", err, err)
	}
	if args := LogArgs(err); len(args) != 4 || args[2] != "stack" {
		t.Errorf("log arguments %v lack the stack", args)
	}
	if args := LogArgs(errors.New("x")); len(args) != 2 {
		t.Errorf("log arguments of a plain error: %v", args)
	}
}
