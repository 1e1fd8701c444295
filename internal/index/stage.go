package index

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// The stage: a batch of rows becomes visible to queries by being added to
// the stage, rows the index holds in memory, in columns, rather than by a
// DuckDB transaction. The database file's tables receive the staged rows
// later, in bulk (a flush, flush.go), in one transaction that also
// advances the file's cursor. Adding a batch costs little more than
// mapping its records, so what queries see keeps up with the ledger even
// while DuckDB's writes (the flushes, whose compression costs most of the
// index's CPU) fall behind, until the stage holds Options.StageMemory.
//
// Queries read the views of querySchema, in the file's catalog: each
// table's rows in the file, and the staged rows at or above the file's
// cursor, which the table function stageFunction reads from the stage
// (stagescan.go).
// Every connection's search_path starts with querySchema, so a query that
// names a table, e.g. "KubeAuditLogs", reads its view; the index's own
// statements name the file's tables as main."…".
//
// Flushed rows stay in the stage flushGrace after their flush: a query
// takes its snapshots of the file and of the stage as it binds the
// tables, microseconds apart, so it never sees rows in neither.
//
// After a crash the stage is gone and the file's cursor is where Run
// resumes: what was staged is indexed again from the ledger.
const (
	querySchema = "cdewatch"
	fileSchema  = "main"
	// stageFunction is the table function that reads a table's staged
	// rows with from <= seq < to: stageFunction('KubeAuditLogs', from, to).
	// (Its arguments are positional: the driver fails to bind a named
	// argument left out.)
	stageFunction = "cdewatch_staged_rows"
	// rehydrateFunction reads Rehydrate's stage in the same way.
	rehydrateFunction = "cdewatch_rehydrating_rows"
)

// qualify returns the SQL name of relation name in schema (a schema or
// catalog.schema, unquoted, of this package's own identifiers).
func qualify(schema, name string) string { return schema + "." + quoteIdent(name) }

// createQuerySchema creates the schema of the query views; connInit then
// prepares each new connection: names resolve first in the query views.
const (
	createQuerySchema = "CREATE SCHEMA IF NOT EXISTS " + querySchema
	connInit          = "SET search_path = '" + querySchema + "," + fileSchema + "'"
)

// chunkRows is how many rows a staged chunk holds at most: one DuckDB
// vector, so that a chunk fills one DataChunk of the table function.
var chunkRows = duckdb.GetDataChunkCapacity()

// colKind is how a column's values are held in the stage.
type colKind uint8

const (
	kindString colKind = iota
	kindJSON           // JSON text (validJSON), passed to DuckDB as its JSON type
	kindInt32
	kindInt64
	kindUint64
	kindFloat64
	kindBool
	kindTime // microseconds since the Unix epoch, UTC
)

var kindsBySQL = map[string]colKind{
	"VARCHAR": kindString, "JSON": kindJSON, "INTEGER": kindInt32, "BIGINT": kindInt64,
	"UBIGINT": kindUint64, "DOUBLE": kindFloat64, "BOOLEAN": kindBool, "TIMESTAMP": kindTime,
}

var duckTypes = map[colKind]duckdb.Type{
	kindString: duckdb.TYPE_VARCHAR, kindInt32: duckdb.TYPE_INTEGER,
	kindInt64: duckdb.TYPE_BIGINT, kindUint64: duckdb.TYPE_UBIGINT, kindFloat64: duckdb.TYPE_DOUBLE,
	kindBool: duckdb.TYPE_BOOLEAN, kindTime: duckdb.TYPE_TIMESTAMP,
}

// layout is how one table's rows are staged and read back.
type layout struct {
	table string
	kinds []colKind
	names []string
}

var layouts = func() map[string]*layout {
	out := make(map[string]*layout)
	for _, m := range mappings {
		rel := byName[m.table]
		l := &layout{table: m.table}
		hasSeq := false
		for _, c := range rel.Columns {
			k, ok := kindsBySQL[c.SQLType()]
			if !ok {
				panic("index: no staged kind for " + c.SQLType())
			}
			l.kinds = append(l.kinds, k)
			l.names = append(l.names, c.Name)
			hasSeq = hasSeq || c.Name == ColSeq && k == kindUint64
		}
		if !hasSeq {
			panic("index: table " + m.table + " has no UBIGINT seq column")
		}
		out[m.table] = l
	}
	return out
}()

// stagedColumn holds one column of a chunk: numbers in nums (integers as
// their bits, a float's bits, a bool as 0 or 1, a time in microseconds),
// text in bytes with the end of value i at ends[i].
type stagedColumn struct {
	null  []bool
	nums  []uint64
	bytes []byte
	ends  []uint32
}

// chunk holds up to chunkRows rows of one table, in seq order. It is
// immutable once its batch is added to the stage.
type chunk struct {
	l    *layout
	n    int
	seqs []uint64
	cols []stagedColumn
}

// newChunk returns an empty chunk with room for rows rows, and for text
// of textPerRow[i] bytes a row in column i (nil: no estimate).
func newChunk(l *layout, rows int, textPerRow []int) *chunk {
	c := &chunk{l: l, seqs: make([]uint64, 0, rows), cols: make([]stagedColumn, len(l.kinds))}
	for i, k := range l.kinds {
		col := &c.cols[i]
		col.null = make([]bool, 0, rows)
		if k == kindString || k == kindJSON {
			col.ends = make([]uint32, 0, rows)
			if textPerRow != nil {
				col.bytes = make([]byte, 0, textPerRow[i]*rows)
			}
		} else {
			col.nums = make([]uint64, 0, rows)
		}
	}
	return c
}

// add appends a row; vals are the mapping's values, one per column. Text
// that is not valid UTF-8 has its invalid bytes replaced by U+FFFD, as
// DuckDB's VARCHAR requires (fill does not check it again), and a JSON
// value that validJSON rejects becomes NULL.
func (c *chunk) add(seq uint64, vals []cell) error {
	for i, k := range c.l.kinds {
		col := &c.cols[i]
		v := &vals[i]
		null := v.k == cellNull
		if k == kindString || k == kindJSON {
			if !null && v.k != cellText {
				return fmt.Errorf("column %s: a value of kind %s for a text column", c.l.names[i], v.k)
			}
			start := len(col.bytes)
			if v.b != nil {
				col.bytes = append(col.bytes, v.b...)
			} else {
				col.bytes = append(col.bytes, v.s...)
			}
			if !v.checked {
				if t := col.bytes[start:]; !utf8.Valid(t) {
					col.bytes = append(col.bytes[:start], bytes.ToValidUTF8(t, []byte("\uFFFD"))...)
				}
				if k == kindJSON && !null && !validJSON(col.bytes[start:]) {
					col.bytes, null = col.bytes[:start], true
				}
			}
			if len(col.bytes) > math.MaxUint32 {
				return fmt.Errorf("column %s: a chunk holds more than 4 GB of text", c.l.names[i])
			}
			col.null = append(col.null, null)
			col.ends = append(col.ends, uint32(len(col.bytes)))
			continue
		}
		if !null && !numberFits(k, v) {
			return fmt.Errorf("column %s: a value of kind %s for a column of kind %d (or out of its range)", c.l.names[i], v.k, k)
		}
		col.null = append(col.null, null)
		col.nums = append(col.nums, v.n)
	}
	c.seqs = append(c.seqs, seq)
	c.n++
	return nil
}

// numberFits reports whether the number v may go in a column of kind k.
func numberFits(k colKind, v *cell) bool {
	switch k {
	case kindInt32:
		return v.k == cellInt && int64(v.n) == int64(int32(int64(v.n)))
	case kindInt64:
		return v.k == cellInt
	case kindUint64:
		return v.k == cellUint
	case kindFloat64:
		return v.k == cellFloat
	case kindBool:
		return v.k == cellBool
	case kindTime:
		return v.k == cellTime
	}
	return false
}

// size returns the memory c holds, in bytes.
func (c *chunk) size() int {
	n := 8 * cap(c.seqs)
	for i := range c.cols {
		col := &c.cols[i]
		n += cap(col.null) + 8*cap(col.nums) + cap(col.bytes) + 4*cap(col.ends)
	}
	return n
}

// rowsIn returns the rows of c with from <= seq < to: [lo, hi).
func (c *chunk) rowsIn(from, to uint64) (lo, hi int) {
	lo, _ = slices.BinarySearch(c.seqs, from)
	hi, _ = slices.BinarySearch(c.seqs, to)
	return lo, hi
}

// fill writes rows [lo, hi) of c into out, projected columns only: text
// column by column in one call into DuckDB each (assignText), numbers
// value by value into the vector's memory.
func (c *chunk) fill(out duckdb.DataChunk, lo, hi int) error {
	for i, k := range c.l.kinds {
		vec, err := out.GetVector(i)
		if err != nil {
			continue // not projected
		}
		col := &c.cols[i]
		if k == kindString || k == kindJSON {
			assignText(vec, col, lo, hi)
			continue
		}
		for r := lo; r < hi; r++ {
			o := r - lo
			switch {
			case col.null[r]:
				err = out.SetValue(i, o, nil)
			case k == kindInt32:
				err = duckdb.SetChunkValue(out, i, o, int32(int64(col.nums[r])))
			case k == kindInt64:
				err = duckdb.SetChunkValue(out, i, o, int64(col.nums[r]))
			case k == kindUint64:
				err = duckdb.SetChunkValue(out, i, o, col.nums[r])
			case k == kindFloat64:
				err = duckdb.SetChunkValue(out, i, o, math.Float64frombits(col.nums[r]))
			case k == kindBool:
				err = duckdb.SetChunkValue(out, i, o, col.nums[r] != 0)
			case k == kindTime:
				err = duckdb.SetChunkValue(out, i, o, time.UnixMicro(int64(col.nums[r])).UTC())
			}
			if err != nil {
				return fmt.Errorf("staged %s.%s: %w", c.l.table, c.l.names[i], err)
			}
		}
	}
	return out.SetSize(hi - lo)
}

// builder stages the rows of one batch, the records below to, in chunks
// of its own.
type builder struct {
	to     uint64
	open   map[string]*chunk
	chunks []*chunk
	// textPerRow estimates the text of a row of each table, by column,
	// from the table's last full chunk: a new chunk allocates its memory
	// once rather than growing it.
	textPerRow map[string][]int
}

// start begins a batch of the records below to.
func (b *builder) start(to uint64) {
	b.to, b.chunks = to, nil
	clear(b.open)
}

func (b *builder) add(table string, seq uint64, vals []cell) error {
	c := b.open[table]
	if c == nil {
		if b.open == nil {
			b.open, b.textPerRow = make(map[string]*chunk), make(map[string][]int)
		}
		// Room for the rest of the batch, at most a chunk.
		c = newChunk(layouts[table], int(min(b.to-seq, uint64(chunkRows))), b.textPerRow[table])
		b.open[table] = c
		b.chunks = append(b.chunks, c)
	}
	if err := c.add(seq, vals); err != nil {
		return err
	}
	if c.n == chunkRows {
		delete(b.open, table)
		est := b.textPerRow[table]
		if est == nil {
			est = make([]int, len(c.cols))
			b.textPerRow[table] = est
		}
		for i := range c.cols {
			// An eighth more than the mean, for the next chunk's variance.
			est[i] = len(c.cols[i].bytes) * 9 / 8 / c.n
		}
	}
	return nil
}

// stagedBatch is one committed batch in the stage.
type stagedBatch struct {
	from, to uint64
	chunks   []*chunk
	marks    []mark
	added    time.Time
	bytes    int // the memory its chunks hold
}

// stage holds the committed batches, in seq order, from those not yet
// dropped after their flush to the last.
type stage struct {
	mu      sync.RWMutex
	batches []stagedBatch
	flushed uint64 // the file's cursor as the stage knows it
	bytes   int    // the memory the batches' chunks hold
}

// add appends a committed batch.
func (s *stage) add(b stagedBatch) {
	for _, c := range b.chunks {
		b.bytes += c.size()
	}
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.bytes += b.bytes
	s.mu.Unlock()
}

// reset empties the stage; the file covers the records below flushed.
func (s *stage) reset(flushed uint64) {
	s.mu.Lock()
	s.batches, s.flushed, s.bytes = nil, flushed, 0
	s.mu.Unlock()
}

// size returns the memory the stage holds, in bytes.
func (s *stage) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// pending returns the rows not flushed yet, and when the oldest batch
// with records not flushed was added (zero if none).
func (s *stage) pending() (rows int, oldest time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.batches {
		if b.to <= s.flushed {
			continue
		}
		if oldest.IsZero() {
			oldest = b.added
		}
		for _, c := range b.chunks {
			lo, hi := c.rowsIn(s.flushed, math.MaxUint64)
			rows += hi - lo
		}
	}
	return rows, oldest
}

// end returns the cursor after the last batch.
func (s *stage) end() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.batches); n > 0 {
		return s.batches[n-1].to
	}
	return s.flushed
}

// plan returns what a flush of the records from the file's cursor to to
// covers: its rows by table and the counts of records without one.
func (s *stage) plan(to uint64) (f flushPlan) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f.from, f.to = s.flushed, max(to, s.flushed)
	f.tables = make(map[string]int)
	for _, b := range s.batches {
		if b.to <= f.from || b.from >= f.to {
			continue
		}
		for _, c := range b.chunks {
			if lo, hi := c.rowsIn(f.from, f.to); hi > lo {
				f.tables[c.l.table] += hi - lo
				f.rows += hi - lo
			}
		}
		for _, m := range b.marks {
			if m.seq >= f.from && m.seq < f.to {
				f.skipped += m.skipped
				f.invalid += m.invalid
				f.missing += m.missing
			}
		}
	}
	return f
}

// after returns the seq that follows the n-th row (from 1) of table not
// flushed yet; 0 if there are fewer.
func (s *stage) after(table string, n int) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.batches {
		if b.to <= s.flushed {
			continue
		}
		for _, c := range b.chunks {
			if c.l.table != table {
				continue
			}
			lo, hi := c.rowsIn(s.flushed, math.MaxUint64)
			if n <= hi-lo {
				return c.seqs[lo+n-1] + 1
			}
			n -= hi - lo
		}
	}
	return 0
}

// flushedTo returns the file's cursor: the file covers the records below.
func (s *stage) flushedTo() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.flushed
}

// markFlushed records that the file covers the records below to.
func (s *stage) markFlushed(to uint64) {
	s.mu.Lock()
	s.flushed = max(s.flushed, to)
	s.mu.Unlock()
}

// drop removes the batches that end at or below to.
func (s *stage) drop(to uint64) {
	s.mu.Lock()
	i := 0
	for i < len(s.batches) && s.batches[i].to <= to {
		s.bytes -= s.batches[i].bytes
		s.batches[i] = stagedBatch{}
		i++
	}
	s.batches = s.batches[i:]
	s.mu.Unlock()
}

// chunksOf returns the chunks of table with rows in [from, to).
func (s *stage) chunksOf(table string, from, to uint64) []*chunk {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*chunk
	for _, b := range s.batches {
		if b.to <= from || b.from >= to {
			continue
		}
		for _, c := range b.chunks {
			if c.l.table == table && c.seqs[0] < to && c.seqs[c.n-1] >= from {
				out = append(out, c)
			}
		}
	}
	return out
}
