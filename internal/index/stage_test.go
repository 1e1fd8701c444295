package index

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/logtest"
	"github.com/cdewatch/cdewatch/internal/promtest"
)

// TestStageQueriesSeeEachRowOnce queries the index over and over while Run
// stages batches and flushes the stage to the database file every few
// hundred rows: every query must see each row once, and every row below
// the cursor read before it. The source first grows one flush's worth at
// a time, each flushed and queried before the next arrives, so that the
// queries span a known number of flushes on any machine; the rest then
// arrives at once, so that staging runs alongside flushes.
func TestStageQueriesSeeEachRowOnce(t *testing.T) {
	const flushRows, steps = 400, 10
	recs := demoRecords(t, 6000)
	src := newMemSource()
	src.setFail(func(uint64) error { // slow enough for many queries per flush
		time.Sleep(20 * time.Microsecond)
		return nil
	})
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{MaxBatch: 100, FlushRows: flushRows, BatchDelay: -1})
	stop := runIndex(t, x, src)
	var (
		wg          sync.WaitGroup
		queries     atomic.Int64
		done        atomic.Bool
		flushedSeen = map[uint64]bool{}
	)
	wg.Go(func() {
		defer done.Store(true) // also when a query fails
		for !done.Load() {
			c, flushed := x.Cursor(), x.Stats().Flushed
			var n, distinct, below int64
			err := x.DB().QueryRow(`SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE seq < ?) FROM KubeAuditLogs`, c).
				Scan(&n, &distinct, &below)
			if err != nil {
				t.Error(err)
				return
			}
			flushedSeen[flushed] = true
			q := queries.Add(1)
			if n != distinct {
				t.Errorf("query %d: %d rows but %d distinct seq (cursor %d, flushed %d)", q, n, distinct, c, x.Stats().Flushed)
				return
			}
			if below != int64(c) {
				t.Errorf("query %d: %d rows below cursor %d, read before the query (flushed %d)", q, below, c, x.Stats().Flushed)
				return
			}
		}
	})
	// waitQueried waits until flushed holds and two more queries ended, the
	// second of which began after it held.
	waitQueried := func(what string, flushed func() bool) {
		t.Helper()
		ok := eventually(30*time.Second, func() bool { return flushed() || done.Load() })
		q := queries.Load()
		ok = ok && eventually(30*time.Second, func() bool { return queries.Load() >= q+2 || done.Load() })
		if !ok {
			t.Fatalf("%s: not within 30 s (stats %+v, %d queries)", what, x.Stats(), queries.Load())
		}
	}
	for i := range steps {
		end := src.append(recs[i*flushRows : (i+1)*flushRows]...)
		x.Notify()
		waitQueried(fmt.Sprintf("step %d: flush to %d", i, end), func() bool { return x.Stats().Flushed == end })
	}
	src.append(recs[steps*flushRows:]...)
	x.Notify()
	// The last rows, fewer than flushRows, stay staged until stop.
	waitQueried("the rest flushed", func() bool {
		return x.Cursor() == uint64(len(recs)) && x.Stats().Flushed+flushRows > uint64(len(recs))
	})
	done.Store(true)
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queries, %d distinct flushed cursors seen", queries.Load(), len(flushedSeen))
	for i := range steps {
		if end := uint64((i + 1) * flushRows); !flushedSeen[end] {
			t.Errorf("no query saw the flushed cursor at %d", end)
		}
	}
	if s := x.Stats(); s.Flushed != uint64(len(recs)) {
		t.Errorf("after stop: flushed %d, want %d (stop flushes the stage)", s.Flushed, len(recs))
	}
	if n := queryInt(t, x, `SELECT count(*) FROM main.KubeAuditLogs`); n != int64(len(recs)) {
		t.Errorf("%d rows in the file's table after stop, want %d", n, len(recs))
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))
}

// TestStageFlushFailure makes flushes fail (a unique index on the file's
// table and a row there with the seq of a staged one): batches keep
// committing into the stage until it holds its bound, Stats reports the
// error, and once the row is gone the stage is flushed and every record
// is indexed once.
func TestStageFlushFailure(t *testing.T) {
	recs := demoRecords(t, 3000)
	src := newMemSource(recs...)
	const bound = 1 << 20
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{MaxBatch: 100, FlushRows: 500, StageMemory: bound, RetryInterval: 20 * time.Millisecond})
	for _, q := range []string{
		`CREATE UNIQUE INDEX intruder ON main.KubeAuditLogs (seq)`,
		`INSERT INTO main.KubeAuditLogs (seq, Caller) VALUES (10, 'intruder')`,
	} {
		if _, err := x.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	runIndex(t, x, src)
	eventually(10*time.Second, func() bool { return x.Stats().Err != nil })
	// Let the batches run into the stage's bound.
	time.Sleep(300 * time.Millisecond)
	s := x.Stats()
	if s.Err == nil || !strings.Contains(s.Err.Error(), "flush the stage") {
		t.Fatalf("Stats().Err = %v, want the failed flush", s.Err)
	}
	if s.Flushed != 0 {
		t.Errorf("flushed %d while every flush fails", s.Flushed)
	}
	// Batches are handed out until the stage holds its bound; those in
	// flight then still commit, and no more.
	if size := x.stage.size(); size < bound {
		t.Errorf("the stage holds %d bytes while flushes fail, want its bound %d", size, bound)
	}
	if s.Cursor >= uint64(len(recs)) {
		t.Errorf("cursor %d: the whole source was staged, beyond the bound", s.Cursor)
	}
	time.Sleep(100 * time.Millisecond)
	if c := x.Cursor(); c != s.Cursor {
		t.Errorf("cursor moved from %d to %d with the stage full", s.Cursor, c)
	}
	m := indexMetrics(t, x)
	if m["cdewatch_index_failing"] != 1 || m["cdewatch_index_visible_records"] != float64(s.Cursor) || m["cdewatch_index_flushed_records"] != 0 ||
		m["cdewatch_index_stage_bytes"] < bound || m["cdewatch_index_stage_limit_bytes"] != bound {
		t.Errorf("metrics while flushes fail: %v", m)
	}
	if got := queryInt(t, x, `SELECT count(*) FROM KubeAuditLogs WHERE Caller <> 'intruder'`); got != int64(s.Cursor) {
		t.Errorf("%d rows visible, want the %d staged", got, s.Cursor)
	}
	if _, err := x.DB().Exec(`DELETE FROM main.KubeAuditLogs WHERE Caller = 'intruder'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, x, uint64(len(recs)-1))
	eventually(10*time.Second, func() bool { return x.Stats().Err == nil })
	if s := x.Stats(); s.Flushed == 0 || s.Err != nil {
		t.Fatalf("after the row was removed: flushed %d, Err %v", s.Flushed, s.Err)
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))
	if m := indexMetrics(t, x); m["cdewatch_index_failing"] != 0 || m["cdewatch_index_visible_records"] != float64(len(recs)) {
		t.Errorf("metrics once flushes succeed: %v", m)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
}

// indexMetrics returns the values of x's Prometheus metrics by name.
func indexMetrics(tb testing.TB, x *Index) map[string]float64 {
	tb.Helper()
	out := promtest.Gauges(tb, x.Collector())
	if len(out) != 5 {
		tb.Errorf("%d metrics, want 5: %v", len(out), out)
	}
	return out
}

// TestStageLostOnCrash: what the stage held when the process ended without
// a flush is indexed again from the file's cursor, once.
func TestStageLostOnCrash(t *testing.T) {
	recs := demoRecords(t, 1200)
	src := newMemSource(recs...)
	path := filepath.Join(t.TempDir(), "index.duckdb")
	x := openIndex(t, path, Options{MaxBatch: 100, FlushRows: 500})
	// Index by hand, as a run that ends without flushing: the pipeline
	// with no finish.
	ctx := context.Background()
	p, err := x.newPipeline(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	for p.assigned < uint64(len(recs)) {
		p.assign(min(p.assigned+100, uint64(len(recs))))
		<-p.inflight[len(p.inflight)-1].done
		p.inflight = p.inflight[:0]
		// No cycle for the last 200 records: a flush started then (when
		// a slow first flush had just ended) would take them all.
		if p.assigned > uint64(len(recs))-200 {
			continue
		}
		if _, err := p.cycle(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for a flush in progress, then stop without flushing the rest.
	if p.flushing {
		<-p.flushDone
		p.flushEnded()
	}
	p.stop()
	flushed := x.Stats().Flushed
	if flushed == 0 || flushed >= uint64(len(recs)) {
		t.Fatalf("flushed %d of %d records; want part", flushed, len(recs))
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = openIndex(t, path, Options{MaxBatch: 100, FlushRows: 500})
	if c := x.Cursor(); c != flushed {
		t.Errorf("reopened at %d, want the flushed cursor %d", c, flushed)
	}
	if n := queryInt(t, x, `SELECT count(*) FROM KubeAuditLogs`); n != int64(flushed) {
		t.Errorf("%d rows after reopening, want the %d flushed", n, flushed)
	}
	runIndex(t, x, src)
	waitFor(t, x, uint64(len(recs)-1))
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, uint64(len(recs))))
}

// TestStagedRowsMatchFlushed renders every table while its rows are
// staged (read through the stage's table function) and again once they
// are flushed to the database file: the two must be identical, value for
// value (types, NULLs, microseconds, JSON text).
func TestStagedRowsMatchFlushed(t *testing.T) {
	src := fixtureSource(t)
	src.append(azureSampleRecords(t)...)
	src.append(demoRecords(t, 50)...)
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{FlushInterval: time.Hour})
	stop := runIndex(t, x, src)
	waitFor(t, x, src.Size()-1)
	staged := map[string][]byte{}
	for _, table := range mappedIndexTables() {
		if n := queryInt(t, x, `SELECT count(*) FROM `+qualify(fileSchema, table)); n != 0 {
			t.Fatalf("%s: %d rows in the file before the flush; want them all staged", table, n)
		}
		staged[table] = renderRows(t, x, table)
	}
	if err := stop(); err != nil { // flushes the stage
		t.Fatal(err)
	}
	var tables []string
	for _, table := range mappedIndexTables() {
		n := queryInt(t, x, `SELECT count(*) FROM `+qualify(fileSchema, table))
		if n > 0 {
			tables = append(tables, table)
		}
		if got := renderRows(t, x, table); !bytes.Equal(got, staged[table]) {
			t.Errorf("%s: rows read from the stage differ from the same rows in the file\nstaged:\n%s\nflushed:\n%s", table, staged[table], got)
		}
	}
	for _, want := range []string{TableKubeAuditLogs, TableCdewatchAudit, TableAzureActivity, TableSigninLogs, TableAKSControlPlane} {
		if !slices.Contains(tables, want) {
			t.Errorf("no rows of %s: the comparison does not cover it (tables with rows: %v)", want, tables)
		}
	}
}

// TestStagedText stages text as a mapping hands it over (bypassing the
// mappings, which clean most of it first) and reads it back through the
// query view, staged and then flushed: VARCHAR text made valid UTF-8, JSON
// kept byte for byte when validJSON accepts it and NULL when not, and
// DuckDB's JSON functions reading every JSON value kept.
func TestStagedText(t *testing.T) {
	l := layouts[TableKubeAuditLogs]
	col := func(name string) int {
		i := slices.Index(l.names, name)
		if i < 0 {
			t.Fatalf("no column %s", name)
		}
		return i
	}
	seqCol, verbCol, userCol := col(ColSeq), col("Verb"), col("User")
	type want struct {
		verb, user sql.NullString
	}
	var wants []want
	c := newChunk(l, 64, nil)
	add := func(verb, user any, w want) {
		vals := make([]cell, len(l.kinds))
		seq := uint64(c.n)
		vals[seqCol], vals[verbCol], vals[userCol] = unsigned(seq), anyCell(t, verb), anyCell(t, user)
		if err := c.add(seq, vals); err != nil {
			t.Fatal(err)
		}
		wants = append(wants, w)
	}
	str := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	add("get", nil, want{verb: str("get")})
	add("", []byte(`{}`), want{verb: str(""), user: str(`{}`)})
	add(nil, "[]", want{user: str("[]")})
	add("de\xffl\xc3", nil, want{verb: str("de\uFFFDl\uFFFD")})
	add(nil, []byte("{\"a\":\"b\xff\"}"), want{user: str("{\"a\":\"b\uFFFD\"}")})
	for _, v := range validJSONCases {
		w := want{}
		if v.ok {
			w.user = str(v.text)
		}
		add(nil, []byte(v.text), w)
	}
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{})
	x.stage.add(stagedBatch{from: 0, to: uint64(c.n), chunks: []*chunk{c}, added: time.Now()})
	x.cursor.Store(uint64(c.n))
	check := func(where string) {
		t.Helper()
		rows, err := x.DB().Query(`SELECT seq, Verb, User::VARCHAR, User IS NULL OR json_valid(User) FROM KubeAuditLogs ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for ; rows.Next(); n++ {
			var seq int
			var got want
			var readable bool
			if err := rows.Scan(&seq, &got.verb, &got.user, &readable); err != nil {
				t.Fatal(err)
			}
			if got != wants[seq] || !readable {
				t.Errorf("%s: row %d: Verb %v, User %.60v (JSON readable: %v); want Verb %v, User %.60v",
					where, seq, got.verb, got.user, readable, wants[seq].verb, wants[seq].user)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != len(wants) {
			t.Errorf("%s: %d rows, want %d", where, n, len(wants))
		}
	}
	check("staged")
	f, err := x.planFlush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := x.flush(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	x.stage.drop(f.to)
	if n := queryInt(t, x, `SELECT count(*) FROM main.KubeAuditLogs`); n != int64(len(wants)) {
		t.Fatalf("%d rows in the file after the flush, want %d", n, len(wants))
	}
	check("flushed")
}

// TestChunkAddChecksKinds checks that a chunk takes a value only in a
// column of its kind, and an integer in an INTEGER column only when it
// fits.
func TestChunkAddChecksKinds(t *testing.T) {
	l := &layout{table: "t",
		kinds: []colKind{kindString, kindJSON, kindInt32, kindInt64, kindUint64, kindFloat64, kindBool, kindTime},
		names: []string{"s", "j", "i32", "i64", "u64", "f64", "b", "t"}}
	ok := []cell{text("a"), textBytes([]byte(`{}`)), integer(int32(-5)), integer(int64(1) << 40), unsigned(7),
		{k: cellFloat, n: 1}, boolean(true), timestamp(time.Unix(1, 0))}
	for _, tc := range []struct {
		name string
		col  int
		v    cell
		err  string // "" if taken
	}{
		{"text in a string column", 0, text("x"), ""},
		{"bytes in a JSON column", 1, textBytes([]byte(`[1]`)), ""},
		{"NULL in a string column", 0, cell{}, ""},
		{"NULL in an INTEGER column", 2, cell{}, ""},
		{"int32 range in an INTEGER column", 2, integer(int64(-1) << 31), ""},
		{"beyond int32 in an INTEGER column", 2, integer(int64(1) << 31), "column i32: a value of kind integer"},
		{"integer in a text column", 0, integer(1), "column s: a value of kind integer for a text column"},
		{"text in a BIGINT column", 3, text("1"), "column i64: a value of kind text"},
		{"signed in a UBIGINT column", 4, integer(1), "column u64: a value of kind integer"},
		{"unsigned in a BIGINT column", 3, unsigned(1), "column i64: a value of kind unsigned integer"},
		{"bool in a TIMESTAMP column", 7, boolean(true), "column t: a value of kind bool"},
		{"time in a BOOLEAN column", 6, timestamp(time.Unix(1, 0)), "column b: a value of kind time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChunk(l, 4, nil)
			vals := slices.Clone(ok)
			vals[tc.col] = tc.v
			err := c.add(1, vals)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("add: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("add: %v, want an error with %q", err, tc.err)
			case tc.err == "" && c.n != 1:
				t.Fatalf("%d rows, want 1", c.n)
			}
		})
	}
}

// A checkpoint after a large flush fails while another transaction
// writes; the flush still counts, and only a run of such failures is a
// warning (one every checkpointFailsWarn in a row), not each.
func TestCheckpointFailuresWarnWhenRepeated(t *testing.T) {
	var logged bytes.Buffer
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{FlushRows: 10,
		Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()
	if _, err := x.db.ExecContext(ctx, "CREATE TABLE blocker (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	conn, err := x.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"BEGIN TRANSACTION", "INSERT INTO blocker VALUES (1)"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	src := &cycleSource{recs: demoRecords(t, 20), n: 1000}
	flush := func(i int) {
		t.Helper()
		stageRecords(t, x, src, uint64(i*20), uint64((i+1)*20))
		f, err := x.planFlush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.flush(ctx, f); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
		x.stage.drop(f.to)
	}
	for i := range checkpointFailsWarn + 1 {
		flush(i)
	}
	warns := strings.Count(logged.String(), "level=WARN")
	debugs := strings.Count(logged.String(), "level=DEBUG msg=\"index: checkpoint after a flush failed")
	if warns != 1 || debugs != checkpointFailsWarn {
		t.Errorf("%d flushes with a writer active: %d warnings and %d debug messages about checkpoints, want 1 and %d:\n%s",
			checkpointFailsWarn+1, warns, debugs, checkpointFailsWarn, logged.String())
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	flush(checkpointFailsWarn + 1)
	if n := x.checkpointFails.Load(); n != 0 {
		t.Errorf("after a checkpoint succeeded, %d failures in a row are counted, want 0", n)
	}
	var next uint64
	if err := x.db.QueryRowContext(ctx, "SELECT next_seq FROM "+qualify(fileSchema, stateName)).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if want := uint64(20 * (checkpointFailsWarn + 2)); next != want {
		t.Errorf("the file's cursor is at %d after the flushes, want %d", next, want)
	}
}

// A flush ends on a row group boundary of its largest table when its rows
// reach one, so that DuckDB writes whole row groups compressed and no
// checkpoint compresses a partial one again.
func TestAlignedRows(t *testing.T) {
	const g = rowGroupRows
	for _, c := range []struct{ tail, n, want int }{
		{0, 100, 100},                           // reaches no boundary: all
		{0, g, g},                               // ends on one
		{0, 241_849, g},                         // 1.97 groups: one
		{0, 2*g + 5, 2 * g},                     // two
		{118_969, 127_165, 2*g - 118_969},       // completes the partial group and one more
		{100_000, 10_000, 10_000},               // still short of the boundary
		{100_000, g - 100_000, g - 100_000},     // exactly to it
		{100_000, g - 100_000 + 1, g - 100_000}, // one past it
	} {
		if got := alignedRows(c.tail, c.n); got != c.want {
			t.Errorf("alignedRows(tail %d, n %d) = %d, want %d", c.tail, c.n, got, c.want)
		}
	}
}

// Flushes are due at FlushRows rows, or when the oldest row is
// FlushInterval old, but not within FlushInterval of the last flush's end:
// rows a flush left short of a row group wait for more.
func TestFlushDue(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	p := &pipeline{x: &Index{opts: Options{FlushRows: 1000, FlushInterval: 10 * time.Second}}}
	for _, c := range []struct {
		name            string
		rows            int
		oldest, lastEnd time.Duration // before now
		want            bool
	}{
		{"few and young", 10, 5 * time.Second, time.Hour, false},
		{"FlushRows", 1000, time.Second, 0, true},
		{"old, no flush lately", 10, 10 * time.Second, time.Hour, true},
		{"old, a flush just ended", 10, 15 * time.Second, 3 * time.Second, false},
		{"old, the last flush an interval ago", 10, 25 * time.Second, 10 * time.Second, true},
	} {
		p.flushEnd = now.Add(-c.lastEnd)
		if got := p.flushDue(c.rows, now.Add(-c.oldest), now); got != c.want {
			t.Errorf("%s: flushDue = %v, want %v", c.name, got, c.want)
		}
	}
}

// Every connection resolves table names to the query views, while only
// the first creates their schema: CREATE SCHEMA IF NOT EXISTS is a write
// transaction in DuckDB even when the schema exists, and a checkpoint
// fails while one is open (checked here too, as the reason).
func TestConnectionsAndQuerySchema(t *testing.T) {
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{})
	ctx := context.Background()
	if _, err := x.db.ExecContext(ctx, "CALL enable_logging('QueryLog')"); err != nil {
		t.Fatal(err)
	}
	var conns []*sql.Conn
	for i := range 4 { // held at once: some opened now
		c, err := x.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		var n int
		if err := c.QueryRowContext(ctx, "SELECT count(*) FROM KubeAuditLogs").Scan(&n); err != nil {
			t.Fatalf("connection %d: the query views do not resolve: %v", i, err)
		}
	}
	var inits, creates int
	err := x.db.QueryRowContext(ctx, "SELECT count(*) FILTER (WHERE message = ?), count(*) FILTER (WHERE message = ?) FROM duckdb_logs",
		connInit, createQuerySchema).Scan(&inits, &creates)
	if err != nil {
		t.Fatal(err)
	}
	if inits < 1 || creates != 0 { // the pool may reuse up to two idle connections
		t.Errorf("connections opened after the first ran %q %d times and %q %d times, want at least once and never", connInit, inits, createQuerySchema, creates)
	}
	c := conns[0]
	for _, q := range []string{"BEGIN TRANSACTION", createQuerySchema} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conns[1].ExecContext(ctx, "CHECKPOINT"); err == nil {
		t.Error("a checkpoint succeeded while CREATE SCHEMA IF NOT EXISTS was open: DuckDB no longer counts it as a write")
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

// A stage that fills up (flushes behind the load) is logged, once while
// it stays full and at most every stageFullWarnEvery; indexing goes on as
// flushes free it.
func TestStageFullWarns(t *testing.T) {
	var logged logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{StageMemory: 1, FlushRows: 50, MaxBatch: 50, BatchDelay: -1, Logger: log})
	recs := demoRecords(t, 400)
	src := newMemSource(recs...)
	runIndex(t, x, src)
	waitFor(t, x, uint64(len(recs)-1))
	if n := strings.Count(logged.String(), "the stage is full"); n != 1 {
		t.Errorf("%d warnings about a full stage, want 1:\n%s", n, logged.String())
	}
}
