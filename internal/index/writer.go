package index

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// writer writes batches in transactions on a connection of its own. Each
// writer is a worker of the pipeline with a state row of its own.
type writer struct {
	x      *Index
	id     int
	conn   *sql.Conn
	vals   []driver.Value
	row    row
	inTx   bool
	schema string // where the open transaction writes
	result batchResult
}

func (x *Index) newWriter(ctx context.Context, id int) (*writer, error) {
	conn, err := x.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("index: connect: %w", err)
	}
	return &writer{x: x, id: id, conn: conn}, nil
}

func (w *writer) close() {
	w.rollback(context.Background())
	w.conn.Close()
}

// batchResult is what one batch covered.
type batchResult struct {
	next                      uint64 // cursor after the batch
	rows                      uint64
	skipped, invalid, missing uint64
	unknown                   map[string]uint64
}

// prepare begins a transaction and appends the rows of the records
// from <= seq < to to the tables of schema, leaving the transaction open
// for commit.
func (w *writer) prepare(ctx context.Context, src Source, from, to uint64, schema string) error {
	w.result = batchResult{next: from}
	w.schema = schema
	if err := ctx.Err(); err != nil {
		return err
	}
	// DuckDB calls never see ctx: canceling one interrupts the
	// connection, which DuckDB does not always recover from cleanly.
	// append checks ctx between records instead.
	if _, err := w.conn.ExecContext(context.WithoutCancel(ctx), "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.inTx = true
	err := w.conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return w.append(ctx, c, src, from, to, schema, &w.result)
	})
	if err != nil {
		return err
	}
	if w.result.next < to {
		// The rest of the range expired (retention): counted as missing.
		w.result.missing += to - w.result.next
		w.result.next = to
	}
	return nil
}

// commit records the cursor the batch reached in the writer's state row
// (in the schema the batch went to) and commits. It commits even if ctx is canceled: what it commits is
// whole.
func (w *writer) commit(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	res := &w.result
	if _, err := w.conn.ExecContext(ctx, `UPDATE `+qualify(w.schema, stateName)+
		` SET next_seq = ?, skipped = skipped + ?, invalid = invalid + ?, missing = missing + ?, updated = now()::TIMESTAMP`+
		` WHERE worker = ?`, res.next, res.skipped, res.invalid, res.missing, w.id); err != nil {
		return fmt.Errorf("update cursor: %w", err)
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	w.inTx = false
	return nil
}

// rollback abandons the open transaction, if any.
func (w *writer) rollback(ctx context.Context) {
	if !w.inTx {
		return
	}
	w.inTx = false
	if _, err := w.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		w.x.log.Warn("index: rollback", "err", err)
	}
}

// append reads the records from <= seq < to and appends their rows to the
// tables of schema.
func (w *writer) append(ctx context.Context, c driver.Conn, src Source, from, to uint64, schema string, res *batchResult) (err error) {
	x := w.x
	apps := make(map[string]*duckdb.Appender, len(mappings))
	defer func() {
		for t, a := range apps {
			if err != nil {
				_ = a.Clear()
				_ = a.Close()
				continue
			}
			if cerr := a.Close(); cerr != nil {
				err = fmt.Errorf("append to %s: %w", t, cerr)
			}
		}
	}()
	r := &w.row
	err = src.ReadRange(from, to, func(seq uint64, rec []byte) error {
		if seq < res.next || seq >= to {
			return fmt.Errorf("source returned seq %d, want %d or more and below %d", seq, res.next, to)
		}
		if seq&63 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		res.missing += seq - res.next
		res.next = seq + 1
		if err := r.rec.UnmarshalBinary(rec); err != nil {
			res.invalid++
			x.log.Error("index: undecodable record skipped", "seq", seq, "err", err)
			return nil
		}
		m := mappings[r.rec.Table]
		if m == nil {
			res.skipped++
			if res.unknown == nil {
				res.unknown = make(map[string]uint64)
			}
			res.unknown[r.rec.Table]++
			x.noteUnknown(r.rec.Table, seq)
			return nil
		}
		if !utf8.Valid(r.rec.Raw) {
			r.rec.Raw = bytes.ToValidUTF8(r.rec.Raw, []byte("\uFFFD"))
		}
		r.seq = seq
		a := apps[m.table]
		if a == nil {
			var err error
			if a, err = newAppender(c, schema, m.table); err != nil {
				return err
			}
			apps[m.table] = a
		}
		w.vals = m.values(w.vals[:0], r)
		if err := a.AppendRow(w.vals...); err != nil {
			return fmt.Errorf("seq %d: append to %s: %w", seq, m.table, err)
		}
		res.rows++
		return nil
	})
	clear(w.vals) // drop references to the source's buffers
	if err != nil {
		return fmt.Errorf("read [%d, %d): %w", from, to, err)
	}
	return nil
}

// errAborted fails a batch whose predecessor failed.
var errAborted = errors.New("an earlier batch failed")

// appendPlan is how rows reach one table: a query appender whose rows have
// DuckDB types, dynamic columns as VARCHAR, and an INSERT that casts those
// to JSON. The cast validates the text (invalid text becomes NULL rather
// than failing the batch) and runs in DuckDB, far faster than encoding in
// Go.
type appendPlan struct {
	columns string // the INSERT's column list and SELECT, after the table
	types   []duckdb.TypeInfo
}

var appendPlans = func() map[string]*appendPlan {
	plans := make(map[string]*appendPlan)
	for _, m := range mappings {
		rel := byName[m.table]
		var names, exprs []string
		p := &appendPlan{}
		for i, c := range rel.Columns {
			names = append(names, quoteIdent(c.Name))
			e := "col" + strconv.Itoa(i+1)
			if c.Type == Dynamic {
				e = "TRY_CAST(" + e + " AS JSON)"
			}
			exprs = append(exprs, e)
			t, err := duckdb.NewTypeInfo(appenderType(c))
			if err != nil {
				panic(fmt.Sprintf("index: column %s.%s: %v", rel.Name, c.Name, err))
			}
			p.types = append(p.types, t)
		}
		p.columns = " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(exprs, ", ") + " FROM appended_data"
		plans[m.table] = p
	}
	return plans
}()

// appenderType is the DuckDB type in which a column's values are appended.
func appenderType(c Column) duckdb.Type {
	switch c.SQLType() {
	case "VARCHAR", "JSON":
		return duckdb.TYPE_VARCHAR
	case "BIGINT":
		return duckdb.TYPE_BIGINT
	case "UBIGINT":
		return duckdb.TYPE_UBIGINT
	case "INTEGER":
		return duckdb.TYPE_INTEGER
	case "DOUBLE":
		return duckdb.TYPE_DOUBLE
	case "BOOLEAN":
		return duckdb.TYPE_BOOLEAN
	case "TIMESTAMP":
		return duckdb.TYPE_TIMESTAMP
	}
	panic("index: no appender type for " + c.SQLType())
}

func newAppender(c driver.Conn, schema, table string) (*duckdb.Appender, error) {
	p := appendPlans[table]
	a, err := duckdb.NewQueryAppender(c, "INSERT INTO "+qualify(schema, table)+p.columns, "", p.types, nil)
	if err != nil {
		return nil, fmt.Errorf("appender for %s: %w", table, err)
	}
	return a, nil
}

// noteUnknown logs the first record of each table without a mapping.
func (x *Index) noteUnknown(table string, seq uint64) {
	x.mu.Lock()
	first := !x.seen[table]
	x.seen[table] = true
	x.mu.Unlock()
	if first {
		x.log.Warn("index: records of a table without a mapping are skipped", "table", table, "first_seq", seq)
	}
}
