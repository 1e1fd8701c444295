package index

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"
)

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

// checkpointFailsWarn is how many checkpoints after flushes must fail in a
// row (and every how many more) for a warning.
const checkpointFailsWarn = 5

// flushPlan is what one flush covers: the records from <= seq < to.
type flushPlan struct {
	from, to                  uint64
	rows                      int
	tables                    map[string]int // rows by table
	skipped, invalid, missing uint64
}

// rowGroupRows is the number of rows of a DuckDB row group.
const rowGroupRows = 122880

// planFlush returns the next flush: what fills whole row groups of the
// table with the most staged rows, or all that the stage holds if that
// table's rows fill none (or fill them exactly). DuckDB writes whole row
// groups of a bulk insert straight to the file; a partial last row group
// is merged with the next rows at a checkpoint, compressing them all
// again, which costs more than the insert.
func (x *Index) planFlush(ctx context.Context) (flushPlan, error) {
	f := x.stage.plan(x.stage.end())
	if x.inMemory || f.rows == 0 {
		return f, nil
	}
	big, n := "", 0
	for t, r := range f.tables {
		if r > n || r == n && t < big {
			big, n = t, r
		}
	}
	var total int64
	err := x.db.QueryRowContext(context.WithoutCancel(ctx), `SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?`,
		fileSchema, big).Scan(&total)
	if err != nil {
		return f, fmt.Errorf("index: read the size of %s: %w", big, err)
	}
	if fill := alignedRows(int(total%rowGroupRows), n); fill < n {
		f = x.stage.plan(x.stage.after(big, fill))
	}
	return f, nil
}

// alignedRows returns how many of n staged rows of a table whose last row
// group holds tail rows to flush: as many as end on a row group boundary,
// or all n when they reach none (or end on one).
func alignedRows(tail, n int) int {
	if fill := (tail+n)/rowGroupRows*rowGroupRows - tail; fill > 0 {
		return fill
	}
	return n
}

// flush writes the staged rows of f into the file's tables and advances
// the file's cursor to f.to, adding f's counters to the file's, in one
// transaction. After a large flush it checkpoints the file (cheap: the
// bulk insert wrote its full row groups already); smaller ones stay in
// the WAL until DuckDB checkpoints by itself.
func (x *Index) flush(ctx context.Context, f flushPlan) error {
	ctx = context.WithoutCancel(ctx)
	stmts := make([]string, 0, len(f.tables)+1)
	for _, t := range slices.Sorted(maps.Keys(f.tables)) {
		stmts = append(stmts, insertStaged(stageFunction, t, f.from, f.to))
	}
	stmts = append(stmts, fmt.Sprintf("UPDATE %s SET next_seq = greatest(next_seq, %d), skipped = skipped + %d,"+
		" invalid = invalid + %d, missing = missing + %d, updated = now()::TIMESTAMP",
		qualify(fileSchema, stateName), f.to, f.skipped, f.invalid, f.missing))
	if err := x.execTx(ctx, "flush the stage to the database file", stmts); err != nil {
		return err
	}
	x.stage.markFlushed(f.to)
	if !x.inMemory && f.rows >= min(x.opts.FlushRows, rowGroupRows) {
		// Not fatal: the next large flush checkpoints again, and DuckDB
		// checkpoints at CheckpointThreshold anyway. A checkpoint fails
		// while another transaction writes; only a run of failures is
		// worth a warning.
		start := time.Now()
		if _, err := x.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			n := x.checkpointFails.Add(1)
			lvl := slog.LevelDebug
			if n%checkpointFailsWarn == 0 {
				lvl = slog.LevelWarn
			}
			x.log.Log(ctx, lvl, "index: checkpoint after a flush failed; the write-ahead log grows until one succeeds", "failed_in_a_row", n, "err", err)
		} else {
			x.checkpointFails.Store(0)
		}
		x.log.Debug("index: checkpoint", "took", time.Since(start))
	}
	return nil
}
