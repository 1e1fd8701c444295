package index

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// mapper reads ledger records and computes their rows.
type mapper struct {
	x    *Index
	vals []driver.Value
	row  row
	b    builder
}

// batchResult is what one batch covered.
type batchResult struct {
	next                      uint64 // cursor after the batch
	rows                      uint64
	skipped, invalid, missing uint64
	unknown                   map[string]uint64
	// marks places the counts by seq, so that a flush that ends inside
	// the batch adds those of its part to the file's counters.
	marks []mark
}

// mark counts records of a batch that have no row: a skipped or invalid
// record at seq, or missing records, the last of them at seq.
type mark struct {
	seq                       uint64
	skipped, invalid, missing uint64
}

// mapRange reads the records from <= seq < to and calls emit with the
// index table and the values of each one's row (valid during the call
// only), accounting for them in res; sequence numbers the source does not
// return (expired by retention) are counted as missing.
func (mp *mapper) mapRange(ctx context.Context, src Source, from, to uint64, res *batchResult, emit func(table string, seq uint64, vals []driver.Value) error) error {
	*res = batchResult{next: from}
	x := mp.x
	r := &mp.row
	err := src.ReadRange(from, to, func(seq uint64, rec []byte) error {
		if seq < res.next || seq >= to {
			return fmt.Errorf("source returned seq %d, want %d or more and below %d", seq, res.next, to)
		}
		if seq&63 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if seq > res.next {
			res.missing += seq - res.next
			res.marks = append(res.marks, mark{seq: seq - 1, missing: seq - res.next})
		}
		res.next = seq + 1
		if err := r.rec.UnmarshalBinary(rec); err != nil {
			res.invalid++
			res.marks = append(res.marks, mark{seq: seq, invalid: 1})
			x.log.Error("index: undecodable record skipped", "seq", seq, "err", err)
			return nil
		}
		m := mappings[r.rec.Table]
		if m == nil {
			res.skipped++
			res.marks = append(res.marks, mark{seq: seq, skipped: 1})
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
		mp.vals = m.values(mp.vals[:0], r)
		if err := emit(m.table, seq, mp.vals); err != nil {
			return fmt.Errorf("seq %d: %s: %w", seq, m.table, err)
		}
		res.rows++
		return nil
	})
	clear(mp.vals) // drop references to the source's buffers
	if err != nil {
		return fmt.Errorf("read [%d, %d): %w", from, to, err)
	}
	if res.next < to {
		// The rest of the range expired (retention): counted as missing.
		res.missing += to - res.next
		res.marks = append(res.marks, mark{seq: to - 1, missing: to - res.next})
		res.next = to
	}
	return nil
}

// stageRange maps the records from <= seq < to into chunks of their own,
// for the stage.
func (mp *mapper) stageRange(ctx context.Context, src Source, from, to uint64, res *batchResult) ([]*chunk, error) {
	mp.b.start(to)
	err := mp.mapRange(ctx, src, from, to, res, mp.b.add)
	return mp.b.chunks, err
}

// appendRange appends the rows of the records from <= seq < to to the
// file's tables, in the transaction open on c.
func (mp *mapper) appendRange(ctx context.Context, c driver.Conn, src Source, from, to uint64, res *batchResult) (err error) {
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
	return mp.mapRange(ctx, src, from, to, res, func(table string, _ uint64, vals []driver.Value) error {
		a := apps[table]
		if a == nil {
			var err error
			if a, err = newAppender(c, table); err != nil {
				return err
			}
			apps[table] = a
		}
		return a.AppendRow(vals...)
	})
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
	k, ok := kindsBySQL[c.SQLType()]
	if !ok {
		panic("index: no appender type for " + c.SQLType())
	}
	return duckTypes[k]
}

func newAppender(c driver.Conn, table string) (*duckdb.Appender, error) {
	p := appendPlans[table]
	a, err := duckdb.NewQueryAppender(c, "INSERT INTO "+qualify(fileSchema, table)+p.columns, "", p.types, nil)
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
