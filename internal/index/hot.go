package index

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"
)

// rehydratedTable lists the seq ranges put back into the index by
// Rehydrate, and until when the hot-window expiry leaves them.
var rehydratedTable = qualify(fileSchema, "cdewatch_rehydrated")

// ensureRehydrated creates the rehydration table; it is not part of the
// query catalog, and an index rebuilt from the ledger starts without it.
func (x *Index) ensureRehydrated(ctx context.Context) error {
	return createRehydrated(ctx, x.db)
}

func createRehydrated(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+rehydratedTable+
		` (from_seq UBIGINT NOT NULL, to_seq UBIGINT NOT NULL, until TIMESTAMP NOT NULL, requested TIMESTAMP NOT NULL)`)
	if err != nil {
		return fmt.Errorf("index: create %s: %w", rehydratedTable, err)
	}
	return nil
}

// mappedIndexTables returns the index tables records are written to.
func mappedIndexTables() []string {
	var out []string
	for _, m := range mappings {
		if !slices.Contains(out, m.table) {
			out = append(out, m.table)
		}
	}
	slices.Sort(out)
	return out
}

// ExpireHot deletes the rows received (ReceivedTime) before their table's
// cutoff (the query index keeps a hot window; the ledger keeps everything
// for its own retention), except rows rehydrated until later. Receive
// time, not event time: records imported late (last year's exports) stay
// queryable for the window after they arrived.
// It returns the rows deleted per table.
func (x *Index) ExpireHot(ctx context.Context, cutoff func(table string) time.Time, now time.Time) (map[string]int64, error) {
	// DuckDB calls never see ctx: canceling one interrupts the connection,
	// which DuckDB does not always recover from (the database then cannot
	// be closed and opened again). ctx is checked between tables.
	db := context.WithoutCancel(ctx)
	if err := x.ensureRehydrated(db); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range mappedIndexTables() {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		c := cutoff(t)
		if c.IsZero() {
			continue
		}
		res, err := x.db.ExecContext(db, `DELETE FROM `+qualify(fileSchema, t)+` WHERE "ReceivedTime" < ?`+
			` AND NOT EXISTS (SELECT 1 FROM `+rehydratedTable+` r WHERE `+qualify(fileSchema, t)+`.seq >= r.from_seq AND `+qualify(fileSchema, t)+`.seq < r.to_seq AND r.until > ?)`,
			c.UTC(), now.UTC())
		if err != nil {
			return out, fmt.Errorf("index: expire %s rows before %s: %w", t, c.Format(time.RFC3339), err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			out[t] = n
		}
	}
	if _, err := x.db.ExecContext(db, `DELETE FROM `+rehydratedTable+` WHERE until <= ?`, now.UTC()); err != nil {
		return out, fmt.Errorf("index: drop ended rehydrations: %w", err)
	}
	return out, nil
}

// Rehydrate puts the records from <= seq < to back into the tables, in one
// transaction (replacing any of their rows still there), and keeps them
// from ExpireHot until until. to is capped at what the database file
// covers: later records are the pipeline's (some still in the stage). It
// returns the rows written.
func (x *Index) Rehydrate(ctx context.Context, src Source, from, to uint64, until, now time.Time) (uint64, error) {
	to = min(to, x.stage.flushedTo())
	if from >= to {
		return 0, nil
	}
	bg := context.WithoutCancel(ctx)
	if err := x.ensureRehydrated(bg); err != nil {
		return 0, err
	}
	conn, err := x.db.Conn(bg)
	if err != nil {
		return 0, fmt.Errorf("index: rehydrate: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(bg, "BEGIN TRANSACTION"); err != nil {
		return 0, fmt.Errorf("index: rehydrate: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(bg, "ROLLBACK")
		}
	}()
	for _, t := range mappedIndexTables() {
		if _, err := conn.ExecContext(bg, `DELETE FROM `+qualify(fileSchema, t)+` WHERE seq >= ? AND seq < ?`, from, to); err != nil {
			return 0, fmt.Errorf("index: rehydrate: clear %s: %w", t, err)
		}
	}
	// A part at a time through x.rehydrating and its table function, as
	// flushes write the stage: memory holds one part, not the range.
	x.rehydrateMu.Lock()
	defer x.rehydrateMu.Unlock()
	defer x.rehydrating.reset(0)
	mp := &mapper{x: x}
	var rows uint64
	for f := from; f < to; f += uint64(x.opts.MaxBatch) {
		t := min(f+uint64(x.opts.MaxBatch), to)
		var res batchResult
		chunks, err := mp.stageRange(ctx, src, f, t, &res)
		if err != nil {
			return 0, fmt.Errorf("index: rehydrate %d..%d: %w", from, to-1, err)
		}
		x.rehydrating.reset(0)
		x.rehydrating.add(stagedBatch{from: f, to: t, chunks: chunks})
		tables := map[string]bool{}
		for _, c := range chunks {
			tables[c.l.table] = true
		}
		for _, table := range slices.Sorted(maps.Keys(tables)) {
			if _, err := conn.ExecContext(bg, insertStaged(rehydrateFunction, table, f, t)); err != nil {
				return 0, fmt.Errorf("index: rehydrate %d..%d into %s: %w", f, t-1, table, err)
			}
		}
		rows += res.rows
	}
	if _, err := conn.ExecContext(bg, `INSERT INTO `+rehydratedTable+` VALUES (?, ?, ?, ?)`, from, to, until.UTC(), now.UTC()); err != nil {
		return 0, fmt.Errorf("index: rehydrate: record range: %w", err)
	}
	if _, err := conn.ExecContext(bg, "COMMIT"); err != nil {
		return 0, fmt.Errorf("index: rehydrate: commit: %w", err)
	}
	committed = true
	return rows, nil
}
