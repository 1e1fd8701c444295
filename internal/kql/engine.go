package kql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// TableDef describes a table the engine may query: its KQL name, the
// DuckDB relation that holds it and its columns with their KQL types.
type TableDef struct {
	Name string
	// Relation is the DuckDB table or view name; "" means Name.
	Relation string
	Columns  []Column
	// Doc is a one-line description, shown when a query names a table
	// that does not exist.
	Doc string
	// TypeColumn adds Log Analytics' Type column, the table's name, to
	// the columns (unless they have one).
	TypeColumn bool
	// Of names the table this one is another name for, or a part of
	// (AKSAudit of KubeAuditLogs): a search of every table, or of tables
	// matched by a wildcard, leaves it out when Of is searched too, so
	// that no row is found twice.
	Of string
}

// Options configure an Engine. Zero fields take their defaults.
type Options struct {
	// Timeout bounds the run time of one query (default 30 s).
	Timeout time.Duration
	// MaxRows bounds the rows of each result table (default 500,000, as
	// Kusto's query result truncation limit).
	MaxRows int
	// MaxBytes bounds the size of the whole result, counted as the text of
	// its cells (default 64 MiB).
	MaxBytes int64
	// Now returns the time now() and ago() refer to (default time.Now).
	// It is read once per query.
	Now func() time.Time
	// Limits bound the parser.
	Limits Limits
}

// DefaultOptions are the options NewEngine fills in.
var DefaultOptions = Options{Timeout: 30 * time.Second, MaxRows: 500_000, MaxBytes: 64 << 20}

// Engine runs KQL queries over a DuckDB database. It is safe for
// concurrent use; each Run is independent.
type Engine struct {
	db     *sql.DB
	tables map[string]*TableDef
	names  []string // table names, sorted
	opts   Options

	regMu   sync.Mutex
	regDone bool // the Go-implemented functions are registered
}

// registerFunctions registers the Go-implemented functions once; a
// failure is retried at the next query.
func (e *Engine) registerFunctions() error {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	if e.regDone {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := RegisterFunctions(ctx, e.db); err != nil {
		return err
	}
	e.regDone = true
	return nil
}

// NewEngine returns an engine that queries db, where the given tables
// exist. The engine does not own db.
func NewEngine(db *sql.DB, tables []TableDef, opts Options) *Engine {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultOptions.Timeout
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultOptions.MaxRows
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultOptions.MaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{db: db, tables: map[string]*TableDef{}, opts: opts}
	for i := range tables {
		t := tables[i]
		if t.Relation == "" {
			t.Relation = t.Name
		}
		if t.TypeColumn && !slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Name == "Type" }) {
			t.Columns = append(slices.Clip(t.Columns), Column{Name: "Type", Type: tyString})
		} else {
			t.TypeColumn = false
		}
		e.tables[t.Name] = &t
	}
	e.names = sortedKeys(e.tables)
	return e
}

// LimitError reports a query stopped by one of the engine's limits: its
// run time, or the size of its result. Limit names the setting.
type LimitError struct {
	Limit string // "timeout", "max_rows" or "max_bytes"
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// InternalError reports a bug of the engine met while handling a query (a
// panic): the query fails with it instead of the caller crashing.
type InternalError struct {
	Value any    // what the engine panicked with
	Stack []byte // where
}

func (e *InternalError) Error() string {
	return fmt.Sprintf("internal error in the query engine, please report it with the query: %v", e.Value)
}

// LogArgs are the slog arguments that report err: "err", and "stack"
// when it is an *InternalError.
func LogArgs(err error) []any {
	args := []any{"err", err}
	var ie *InternalError
	if errors.As(err, &ie) {
		args = append(args, "stack", string(ie.Stack))
	}
	return args
}

// recoverInternal turns a panic into an *InternalError in *err; deferred
// by the entry points.
func recoverInternal(err *error) {
	if r := recover(); r != nil {
		*err = &InternalError{Value: r, Stack: debug.Stack()}
	}
}

// IsQueryError reports whether err is the query's fault (a syntax or
// semantic *Error, or a *LimitError) rather than the engine's.
func IsQueryError(err error) bool {
	var qe *Error
	var le *LimitError
	return errors.As(err, &qe) || errors.As(err, &le)
}

// Run parses, translates and executes a query. Errors: *Error for a
// query that is wrong (with its line and column), *LimitError when a
// limit stopped it, *InternalError for a bug of the engine, anything else
// for a failure of the database. On an
// error after some statements ran, the result holds nothing.
func (e *Engine) Run(ctx context.Context, src string) (res *Result, err error) {
	defer recoverInternal(&err)
	q, err := ParseWithLimits(src, e.opts.Limits)
	if err != nil {
		return nil, err
	}
	if err := e.registerFunctions(); err != nil {
		return nil, err
	}
	// the time limit covers translation too: a few operators read the
	// data to plan (bag_unpack finds its columns)
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	plan, err := e.translate(ctx, q, e.opts.Now())
	if err != nil {
		return nil, e.ctxError(ctx, err)
	}
	return e.execute(ctx, plan)
}

// errTimeout builds the error for a query that ran out of time.
func (e *Engine) errTimeout() error {
	return &LimitError{Limit: "timeout", Msg: fmt.Sprintf("the query ran longer than its time limit of %s and was stopped: narrow the time range or the tables it reads, or raise query.timeout", e.opts.Timeout)}
}
