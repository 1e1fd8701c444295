package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Source is what the index reads: the ledger (*ledger.Ledger satisfies it),
// or anything shaped like it.
type Source interface {
	// Size returns the number of durable records; it never decreases.
	Size() uint64
	// ReadRange calls fn, in order, for each durable record with
	// from <= seq < to. rec is valid only during the call. An error from
	// fn stops the read and is returned.
	ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error
}

// Errors of Run and Rebuild.
var (
	ErrRunning = errors.New("index: Run or Rebuild is already running")
	ErrClosed  = errors.New("index: closed")
)

// Options configure an Index. Zero values take the defaults.
type Options struct {
	// PollInterval is how often Run checks the source for new records
	// when nothing calls Notify; default 50ms.
	PollInterval time.Duration
	// MaxBatch bounds the records of one batch; default 16384.
	MaxBatch int
	// BatchDelay is the least time between the starts of two batches
	// while fewer than MaxBatch records wait, so that a fast-growing
	// source is staged in batches rather than one per Notify; default
	// 200ms, negative for none. What waits longest becomes visible after
	// about BatchDelay plus the time of one batch.
	BatchDelay time.Duration
	// RetryInterval is the first wait after a failed batch; it doubles
	// up to MaxRetryInterval (default 30s) while batches keep failing.
	// Default 1s.
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration
	// Workers is how many batches Run and Rebuild read and map at once
	// (they commit in order); default 2, or 1 on a single CPU.
	Workers int
	// Threads is DuckDB's thread count, for queries and the index alike;
	// 0: the CPUs Go may use at Open (GOMAXPROCS, which counts container
	// limits where DuckDB's own default counts the node's, and at most
	// NumCPU), or 1 if that is 2 or less. On 2 CPUs, ingest, the index's
	// workers and the stage's flushes already keep both busy under load,
	// and a statement running on two DuckDB threads keeps its caller
	// polling for the other's work: at 50,000 records/s flushes ran
	// slower with 2 threads, while the daily review over 10M events took
	// 0.64 s with 1 thread against 0.51 s with 2 (docs/BENCHMARKS.md).
	Threads int
	// Nice is how much lower than the process's the scheduling priority
	// of the index's writing threads is (the workers' batches and the
	// stage's flushes; queries keep the process's priority), on Linux;
	// default 10, negative for none. When ingest, queries and indexing
	// want more CPU than there is, acknowledging records and answering
	// queries come first: the index falls behind (Stats().Lag; nothing is
	// lost) and catches up when the load drops.
	Nice int
	// MemoryLimit is DuckDB's memory_limit, e.g. "4GB"; "" leaves
	// DuckDB's default (80% of RAM).
	MemoryLimit string
	// FlushRows is how many rows are staged in memory before they are
	// written to the database file in one transaction (a flush, see
	// stage.go); default 245760, two of DuckDB's row groups. A batch is
	// visible to queries once staged, so flushes never delay visibility,
	// and a restart after a crash indexes the staged rows again.
	FlushRows int
	// StageMemory bounds the memory of the staged rows, in bytes (Go
	// heap, outside MemoryLimit); default 1 GiB, about 500,000 audit
	// events of 1.8 KB. When flushes fall behind and the stage holds that
	// much, batches wait.
	StageMemory int64
	// FlushInterval is how long a staged batch waits for a flush when
	// fewer than FlushRows rows are staged; default 10s. Rows a flush left
	// short of a whole row group wait up to another FlushInterval after
	// it. Queries read staged rows more slowly than the file's, so at low
	// rates the stage is kept small.
	FlushInterval time.Duration
	// CheckpointThreshold is DuckDB's checkpoint_threshold, the WAL size
	// at which DuckDB checkpoints by itself; default "1GB". DuckDB's own
	// default (16MB) would recompress the last, growing row group of a
	// table at every checkpoint, many times over at high ingest rates.
	CheckpointThreshold string
	// AllowExternalAccess keeps DuckDB's access to files and the network
	// from SQL (read_csv, COPY, ATTACH, …). Off by default: the index
	// serves queries only from its own tables. Extensions are never
	// installed or loaded automatically either way.
	AllowExternalAccess bool
	Logger              *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 16384
	}
	if o.Threads <= 0 {
		if o.Threads = min(runtime.GOMAXPROCS(0), runtime.NumCPU()); o.Threads <= 2 {
			o.Threads = 1
		}
	}
	if o.Nice == 0 {
		o.Nice = 10
	}
	if o.Workers <= 0 {
		o.Workers = min(2, runtime.NumCPU())
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = 200 * time.Millisecond
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.MaxRetryInterval <= 0 {
		o.MaxRetryInterval = 30 * time.Second
	}
	if o.FlushRows <= 0 {
		o.FlushRows = 245760
	}
	if o.StageMemory <= 0 {
		o.StageMemory = 1 << 30
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 10 * time.Second
	}
	if o.CheckpointThreshold == "" {
		o.CheckpointThreshold = "1GB"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats describes the index's progress.
type Stats struct {
	// Cursor is the number of ledger records the index covers: every
	// record with seq < Cursor is indexed, skipped or counted as invalid.
	Cursor uint64
	// Flushed is the number of ledger records the database file covers:
	// the rest of Cursor is staged in memory (see Options.FlushRows), and
	// after a crash Run resumes from Flushed.
	Flushed uint64
	// Staged is the memory the stage holds, in bytes (at most about
	// Options.StageMemory).
	Staged int64
	// Lag is the number of durable ledger records not yet covered; 0 when
	// no source has been given to Run or Rebuild.
	Lag uint64
	// Indexed counts the rows staged (visible to queries) since Open.
	Indexed uint64
	// Skipped counts records of tables the index has no mapping for,
	// Invalid records that could not be decoded, Missing sequence
	// numbers the source did not return (e.g. payloads dropped by
	// retention). These three are totals since the index was built.
	Skipped, Invalid, Missing uint64
	// SkippedTables counts skipped records by table, since Open.
	SkippedTables map[string]uint64
	// LastCommit is when a batch was last committed, zero if none since
	// Open.
	LastCommit time.Time
	// Err is the error of the last batch if it failed, nil once a batch
	// succeeds again; else that of the last flush of the stage to the
	// database file if it failed, nil once one succeeds.
	Err error
}

// Index is the DuckDB database of the tables queries run on, fed from the
// ledger by Run. Its methods are safe for concurrent use.
type Index struct {
	db       *sql.DB
	inMemory bool
	opts     Options
	log      *slog.Logger

	run       sync.Mutex // held by Run and Rebuild
	cancelMu  sync.Mutex
	cancel    context.CancelFunc // stops the running Run or Rebuild
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	cursor atomic.Uint64 // what queries see: the file and the stage
	stage  stage         // and what the database file covers (stage.flushedTo)
	// rehydrating holds the rows Rehydrate is writing, a part at a time.
	rehydrating stage
	rehydrateMu sync.Mutex // held by Rehydrate
	src         atomic.Pointer[sourceRef]
	notify      chan struct{}

	mu       sync.Mutex
	advanced chan struct{} // closed and replaced whenever cursor moves
	stats    Stats
	flushErr error // the last flush's, nil once one succeeds
	// checkpointFails counts the checkpoints after flushes that failed in
	// a row (another transaction active, usually): logged as a warning
	// only when it is not a passing matter.
	checkpointFails atomic.Int64
	seen            map[string]bool // unknown tables already logged
}

type sourceRef struct{ Source }

// stateName is the table of the cursor: in the database file, one row
// with the cursor the file's tables cover and the counters. It is not in
// the catalog, so queries cannot name it.
const stateName = "_cdewatch_index_cursor"

// createStateStatement returns the DDL of the state table in schema.
func createStateStatement(schema string) string {
	return "CREATE TABLE IF NOT EXISTS " + qualify(schema, stateName) +
		" (worker INTEGER NOT NULL, version VARCHAR NOT NULL, next_seq UBIGINT NOT NULL," +
		" skipped UBIGINT NOT NULL, invalid UBIGINT NOT NULL, missing UBIGINT NOT NULL, updated TIMESTAMP)"
}

// Open opens the index database at path, creating it if needed; path ""
// opens an in-memory database. An index built under another schema
// version is emptied (its cursor reset to 0) so that Run rebuilds it; a
// file in a DuckDB storage format older than storageVersion is replaced
// by an empty one first (openFile).
func Open(path string, opts Options) (*Index, error) {
	opts.setDefaults()
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("index: database path %q must not contain '?' or '#'", path)
	}
	open := connect
	if path != "" {
		open = openFile
	}
	db, err := open(path, opts)
	if err != nil {
		return nil, err
	}
	x := &Index{
		db:       db,
		inMemory: path == "",
		opts:     opts,
		log:      opts.Logger,
		closed:   make(chan struct{}),
		notify:   make(chan struct{}, 1),
		advanced: make(chan struct{}),
		seen:     make(map[string]bool),
	}
	x.stats.SkippedTables = make(map[string]uint64)
	if err := x.registerStageFuncs(context.Background()); err != nil {
		x.db.Close()
		return nil, err
	}
	if err := x.ensureSchema(context.Background()); err != nil {
		x.db.Close()
		return nil, err
	}
	return x, nil
}

// connect opens the DuckDB database at path ("" for one in memory) as
// the index uses it: nothing loaded or fetched at run time, the query
// schema made by the first connection, and a new file written in
// storageVersion.
func connect(path string, opts Options) (*sql.DB, error) {
	cfg := url.Values{}
	cfg.Set("autoinstall_known_extensions", "false")
	cfg.Set("autoload_known_extensions", "false")
	if !opts.AllowExternalAccess {
		cfg.Set("enable_external_access", "false")
	}
	cfg.Set("threads", strconv.Itoa(opts.Threads))
	if opts.MemoryLimit != "" {
		cfg.Set("memory_limit", opts.MemoryLimit)
	}
	cfg.Set("checkpoint_threshold", opts.CheckpointThreshold)
	cfg.Set("storage_compatibility_version", storageVersion)
	// The first connection creates the query schema (in the file, where
	// it stays); later ones only use it: CREATE SCHEMA IF NOT EXISTS is a
	// write transaction even when the schema exists, and a checkpoint
	// fails while one is open.
	var schemaMu sync.Mutex
	schemaMade := false
	connector, err := duckdb.NewConnector(path+"?"+cfg.Encode(), func(e driver.ExecerContext) error {
		schemaMu.Lock()
		defer schemaMu.Unlock()
		stmts := []string{connInit}
		if !schemaMade {
			stmts = []string{createQuerySchema, connInit}
		}
		for _, q := range stmts {
			if _, err := e.ExecContext(context.Background(), q, nil); err != nil {
				return fmt.Errorf("index: prepare a connection: %s: %w", q, err)
			}
		}
		schemaMade = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index: open %q: %w", path, err)
	}
	return sql.OpenDB(connector), nil
}

// DB returns the database for the query layer. Queries see only committed
// batches. The caller must not close it; Close does.
func (x *Index) DB() *sql.DB { return x.db }

// Close stops a running Run or Rebuild, waits for it to return and closes
// the database.
func (x *Index) Close() error {
	x.closeOnce.Do(func() {
		x.cancelMu.Lock()
		close(x.closed)
		if x.cancel != nil {
			x.cancel()
		}
		x.cancelMu.Unlock()
		x.run.Lock()
		defer x.run.Unlock()
		x.closeErr = x.db.Close()
	})
	return x.closeErr
}

// Cursor returns the number of ledger records the index covers: every
// record with seq < Cursor() is visible to queries (or was skipped).
func (x *Index) Cursor() uint64 { return x.cursor.Load() }

// Lag returns the number of durable records of the source given to Run
// (or Rebuild) that the index does not cover yet; 0 before either ran.
func (x *Index) Lag() uint64 {
	ref := x.src.Load()
	if ref == nil {
		return 0
	}
	size, cur := ref.Size(), x.cursor.Load()
	if size <= cur {
		return 0
	}
	return size - cur
}

// Stats returns the index's progress counters.
func (x *Index) Stats() Stats {
	x.mu.Lock()
	s := x.stats
	if s.Err == nil {
		s.Err = x.flushErr
	}
	s.SkippedTables = make(map[string]uint64, len(x.stats.SkippedTables))
	for k, v := range x.stats.SkippedTables {
		s.SkippedTables[k] = v
	}
	x.mu.Unlock()
	s.Cursor = x.cursor.Load()
	s.Flushed = x.stage.flushedTo()
	s.Staged = int64(x.stage.size())
	s.Lag = x.Lag()
	return s
}

// Notify tells Run that the source has grown, so that it reads now rather
// than at its next poll. It never blocks; the ledger's owner may call it
// after every append.
func (x *Index) Notify() {
	select {
	case x.notify <- struct{}{}:
	default:
	}
}

// WaitFor blocks until the record with sequence number seq is covered
// (visible to queries, or skipped), ctx is done or the index is closed.
func (x *Index) WaitFor(ctx context.Context, seq uint64) error {
	for {
		x.mu.Lock()
		ch := x.advanced
		x.mu.Unlock()
		if x.cursor.Load() > seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-x.closed:
			return ErrClosed
		}
	}
}

// start claims the right to write for Run or Rebuild.
func (x *Index) start(ctx context.Context, src Source) (context.Context, func(), error) {
	if !x.run.TryLock() {
		select {
		case <-x.closed:
			return nil, nil, ErrClosed
		default:
			return nil, nil, ErrRunning
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	x.cancelMu.Lock()
	select {
	case <-x.closed:
		x.cancelMu.Unlock()
		cancel()
		x.run.Unlock()
		return nil, nil, ErrClosed
	default:
	}
	x.cancel = cancel
	x.cancelMu.Unlock()
	x.src.Store(&sourceRef{src})
	return ctx, func() {
		x.cancelMu.Lock()
		x.cancel = nil
		x.cancelMu.Unlock()
		cancel()
		x.run.Unlock()
	}, nil
}

// setErr records err (a failed batch, a source that is behind) for Stats().Err.
func (x *Index) setErr(err error) {
	x.mu.Lock()
	x.stats.Err = err
	x.mu.Unlock()
}

// setFlushErr records the error of the last flush (nil: it succeeded).
func (x *Index) setFlushErr(err error) {
	x.mu.Lock()
	x.flushErr = err
	x.mu.Unlock()
}

// ensureSchema creates the tables, or recreates them if they were built
// under another schema version, creates the query views and loads the
// cursor.
func (x *Index) ensureSchema(ctx context.Context) error {
	state := qualify(fileSchema, stateName)
	if _, err := x.db.ExecContext(ctx, createStateStatement(fileSchema)); err != nil {
		return fmt.Errorf("index: create state table: %w", err)
	}
	var n, current int64
	err := x.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE version = ?) FROM `+state, schemaVersion).
		Scan(&n, &current)
	switch {
	case err != nil:
		return fmt.Errorf("index: read state: %w", err)
	case n == 0:
		return x.reset(ctx)
	case current != 1 || n != 1:
		x.log.Warn("index: schema changed; emptying the index, which will be rebuilt from the ledger", "now", schemaVersion)
		return x.reset(ctx)
	}
	if err := x.ensureViews(ctx); err != nil {
		return err
	}
	return x.loadState(ctx)
}

// loadState sets the cursor and counters from the database file, and
// empties the stage: what it held unflushed is to be indexed again.
func (x *Index) loadState(ctx context.Context) error {
	var next, skipped, invalid, missing uint64
	err := x.db.QueryRowContext(context.WithoutCancel(ctx), `SELECT coalesce(max(next_seq), 0),`+
		` CAST(coalesce(sum(skipped), 0) AS UBIGINT), CAST(coalesce(sum(invalid), 0) AS UBIGINT),`+
		` CAST(coalesce(sum(missing), 0) AS UBIGINT) FROM `+qualify(fileSchema, stateName)).
		Scan(&next, &skipped, &invalid, &missing)
	if err != nil {
		return fmt.Errorf("index: read state: %w", err)
	}
	x.stage.reset(next)
	x.mu.Lock()
	x.stats.Skipped, x.stats.Invalid, x.stats.Missing = skipped, invalid, missing
	x.cursor.Store(next)
	x.broadcastLocked()
	x.mu.Unlock()
	return nil
}

// reset drops and recreates every relation and sets the cursor to 0, in one
// transaction, and empties the stage.
func (x *Index) reset(ctx context.Context) error {
	state := qualify(fileSchema, stateName)
	stmts := dropStatements()
	stmts = append(stmts, createStatements()...)
	stmts = append(stmts, `DELETE FROM `+state,
		`INSERT INTO `+state+` VALUES (0, '`+schemaVersion+`', 0, 0, 0, 0, now()::TIMESTAMP)`)
	if err := x.execTx(ctx, "reset", stmts); err != nil {
		return err
	}
	if err := x.ensureViews(ctx); err != nil {
		return err
	}
	x.stage.reset(0)
	x.mu.Lock()
	x.stats.Skipped, x.stats.Invalid, x.stats.Missing = 0, 0, 0
	clear(x.stats.SkippedTables)
	x.cursor.Store(0)
	x.broadcastLocked()
	x.mu.Unlock()
	return nil
}

func (x *Index) broadcastLocked() {
	close(x.advanced)
	x.advanced = make(chan struct{})
}
