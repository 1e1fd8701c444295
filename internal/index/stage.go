package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The stage: batches are committed into an in-memory database attached
// to the index (stageCatalog), not into the database file. The file's
// tables receive the staged rows in bulk (flush), FlushRows at a time, in
// one transaction that also advances the file's cursor. DuckDB writes
// such a bulk insert straight into compressed row groups, so a commit of
// a batch never waits for a checkpoint of the file, and the rows are not
// written twice (once to the WAL, once at the checkpoint).
//
// The stage has two generations (schemas g0 and g1 of stageCatalog),
// each with a copy of every table and a state table of its own: batches
// go to one while the other is flushed. While a flush fails (it is
// retried), batches go on into the other generation up to twice
// FlushRows rows, then wait. A flushed generation is dropped (recreated
// empty) flushGrace after its flush: a query takes its snapshots of the
// file and of the stage as it binds the tables, microseconds apart, so it
// never sees the stage already emptied and the file not yet flushed.
//
// Queries read the views of querySchema, in the file's catalog: each
// table's rows in the file, and those of each generation at or above the
// file's cursor (the rows not flushed yet). Every connection's
// search_path starts with querySchema, so a query that names a table,
// e.g. "KubeAuditLogs", reads its view; the index's own statements name
// the file's tables as main."…".
//
// After a crash the stage is gone and the file's cursor is where Run
// resumes: what was staged is indexed again from the ledger.
const (
	stageCatalog = "cdewatch_stage"
	querySchema  = "cdewatch"
	fileSchema   = "main"
)

// genSchema returns the qualified schema of stage generation g.
func genSchema(g int) string { return stageCatalog + ".g" + strconv.Itoa(g) }

// qualify returns the SQL name of relation name in schema (a schema or
// catalog.schema, unquoted, of this package's own identifiers).
func qualify(schema, name string) string { return schema + "." + quoteIdent(name) }

// connInit prepares each new connection: the stage is attached (once per
// database; ATTACH is shared by its connections) and names resolve first
// in the query views.
var connInit = []string{
	"ATTACH IF NOT EXISTS ':memory:' AS " + stageCatalog,
	"CREATE SCHEMA IF NOT EXISTS " + querySchema,
	"SET search_path = '" + querySchema + "," + fileSchema + "'",
}

// genStatements returns the DDL that (re)creates generation g, empty,
// with the state rows of workers 0 to workers-1.
func genStatements(g, workers int) []string {
	s := genSchema(g)
	out := []string{"DROP SCHEMA IF EXISTS " + s + " CASCADE", "CREATE SCHEMA " + s}
	out = append(out, tableStatements(s)...)
	return append(out, createStateStatement(s),
		"INSERT INTO "+qualify(s, stateName)+" SELECT CAST(w AS INTEGER), '"+schemaVersion+"', 0, 0, 0, 0, now()::TIMESTAMP FROM range("+strconv.Itoa(workers)+") r(w)")
}

// queryViewStatements returns the DDL of the query views.
func queryViewStatements() []string {
	fileCursor := "(SELECT coalesce(max(next_seq), 0) FROM " + qualify(fileSchema, stateName) + ")"
	var out []string
	for _, r := range catalog {
		v := "CREATE OR REPLACE VIEW " + qualify(querySchema, r.Name) + " AS "
		if r.IsView() {
			v += "SELECT * FROM " + qualify(querySchema, r.Base)
			if r.Where != "" {
				v += " WHERE " + r.Where
			}
			out = append(out, v)
			continue
		}
		parts := []string{"SELECT * FROM " + qualify(fileSchema, r.Name)}
		for g := range 2 {
			parts = append(parts, "SELECT * FROM "+qualify(genSchema(g), r.Name)+" WHERE seq >= "+fileCursor)
		}
		out = append(out, v+strings.Join(parts, " UNION ALL "))
	}
	return out
}

// ensureStage creates both generations, empty, and the query views.
func (x *Index) ensureStage(ctx context.Context) error {
	// One transaction per database: DuckDB writes to one per transaction.
	if err := x.execTx(ctx, "create the stage", append(genStatements(0, x.opts.Workers), genStatements(1, x.opts.Workers)...)); err != nil {
		return err
	}
	return x.execTx(ctx, "create the query views", queryViewStatements())
}

// execTx runs stmts in one transaction on a connection of its own.
func (x *Index) execTx(ctx context.Context, what string, stmts []string) error {
	ctx = context.WithoutCancel(ctx)
	conn, err := x.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("index: %s: %w", what, err)
	}
	defer conn.Close()
	return execTxOn(ctx, conn, what, stmts)
}

func execTxOn(ctx context.Context, conn *sql.Conn, what string, stmts []string) error {
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("index: %s: begin: %w", what, err)
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("index: %s: %s: %w", what, s, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("index: %s: commit: %w", what, err)
	}
	return nil
}

// flushGen moves every row of generation g into the file's tables and
// advances the file's cursor to the cursor g reached (in g's state table,
// committed with its rows), adding g's counters to the file's, in one
// transaction; then it checkpoints the file (cheap: the bulk insert wrote
// its full row groups already). It returns the file's new cursor.
// Generation g must receive no more batches.
func (x *Index) flushGen(ctx context.Context, g int) (uint64, error) {
	ctx = context.WithoutCancel(ctx)
	s := genSchema(g)
	st, file := qualify(s, stateName), qualify(fileSchema, stateName)
	stmts := make([]string, 0, len(mappings)+1)
	for _, t := range mappedIndexTables() {
		stmts = append(stmts, "INSERT INTO "+qualify(fileSchema, t)+" SELECT * FROM "+qualify(s, t))
	}
	stmts = append(stmts, "UPDATE "+file+" SET next_seq = greatest(next_seq, (SELECT max(next_seq) FROM "+st+"))"+
		", skipped = skipped + (SELECT coalesce(sum(skipped), 0) FROM "+st+")"+
		", invalid = invalid + (SELECT coalesce(sum(invalid), 0) FROM "+st+")"+
		", missing = missing + (SELECT coalesce(sum(missing), 0) FROM "+st+")"+
		", updated = now()::TIMESTAMP")
	if err := x.execTx(ctx, "flush the stage to the database file", stmts); err != nil {
		return 0, err
	}
	var next uint64
	if err := x.db.QueryRowContext(ctx, "SELECT max(next_seq) FROM "+file).Scan(&next); err != nil {
		return 0, fmt.Errorf("index: read the cursor after a flush: %w", err)
	}
	x.fileCursor.Store(next)
	if !x.inMemory {
		// Not fatal: DuckDB checkpoints at CheckpointThreshold anyway.
		if _, err := x.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			x.log.Warn("index: checkpoint failed", "err", err)
		}
	}
	return next, nil
}

// dropGen empties generation g.
func (x *Index) dropGen(ctx context.Context, g int) error {
	return x.execTx(ctx, "empty stage generation "+strconv.Itoa(g), genStatements(g, x.opts.Workers))
}
