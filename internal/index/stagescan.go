package index

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// stageFunc returns a table function that reads s; jsonType is DuckDB's
// JSON type.
func (x *Index) stageFunc(s *stage, jsonType duckdb.TypeInfo) duckdb.ParallelChunkTableFunction {
	varchar, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	ubigint, _ := duckdb.NewTypeInfo(duckdb.TYPE_UBIGINT)
	return duckdb.ParallelChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar, ubigint, ubigint}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
			table, _ := args[0].(string)
			l := layouts[table]
			if l == nil {
				return nil, fmt.Errorf("no staged table %q", table)
			}
			from, ok1 := args[1].(uint64)
			to, ok2 := args[2].(uint64)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("the seq range must be two UBIGINTs")
			}
			return &stageScan{l: l, chunks: s.chunksOf(table, from, to), from: from, to: to, threads: x.opts.Threads, jsonType: jsonType}, nil
		},
	}
}

// stageScan is one read of a table's staged rows: the chunks staged when
// the query was bound.
type stageScan struct {
	l        *layout
	chunks   []*chunk
	from, to uint64
	threads  int
	jsonType duckdb.TypeInfo
	next     atomic.Int64
}

// ColumnInfos returns the table's columns. DuckDB takes ownership of the
// types: each call creates them anew (jsonType creates its DuckDB type
// whenever it is passed).
func (s *stageScan) ColumnInfos() []duckdb.ColumnInfo {
	out := make([]duckdb.ColumnInfo, len(s.l.kinds))
	for i, k := range s.l.kinds {
		t := s.jsonType
		if k != kindJSON {
			var err error
			if t, err = duckdb.NewTypeInfo(duckTypes[k]); err != nil {
				panic(fmt.Sprintf("index: column %s.%s: %v", s.l.table, s.l.names[i], err))
			}
		}
		out[i] = duckdb.ColumnInfo{Name: s.l.names[i], T: t}
	}
	return out
}

func (s *stageScan) Cardinality() *duckdb.CardinalityInfo {
	n := 0
	for _, c := range s.chunks {
		n += c.n
	}
	return &duckdb.CardinalityInfo{Cardinality: uint(n)}
}

func (s *stageScan) Init() duckdb.ParallelTableSourceInfo {
	return duckdb.ParallelTableSourceInfo{MaxThreads: max(1, min(s.threads, len(s.chunks)))}
}

func (s *stageScan) NewLocalState() any { return &struct{}{} }

// FillChunk fills out with the next chunk's rows; no rows ends the scan.
func (s *stageScan) FillChunk(_ any, out duckdb.DataChunk) error {
	for {
		i := int(s.next.Add(1) - 1)
		if i >= len(s.chunks) {
			return out.SetSize(0)
		}
		c := s.chunks[i]
		if lo, hi := c.rowsIn(s.from, s.to); hi > lo {
			return c.fill(out, lo, hi)
		}
	}
}

// registerStageFuncs makes stageFunction (x.stage) and rehydrateFunction
// (x.rehydrating) known to the database.
func (x *Index) registerStageFuncs(ctx context.Context) error {
	if !rawVectorOK {
		return errors.New("index: the DuckDB driver built in does not keep its vectors as this version of cdewatch expects (vectortext.go); build cdewatch with the driver version its go.mod names")
	}
	conn, err := x.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("index: connect: %w", err)
	}
	defer conn.Close()
	// The driver creates a JSON type only from one DuckDB reports.
	var jsonType duckdb.TypeInfo
	err = conn.Raw(func(dc any) error {
		st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, "SELECT NULL::JSON")
		if err != nil {
			return err
		}
		defer st.Close()
		jsonType, err = st.(*duckdb.Stmt).ColumnTypeInfo(0)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: read DuckDB's JSON type: %w", err)
	}
	for name, s := range map[string]*stage{stageFunction: &x.stage, rehydrateFunction: &x.rehydrating} {
		if err := duckdb.RegisterTableUDF(conn, name, x.stageFunc(s, jsonType)); err != nil {
			return fmt.Errorf("index: register %s: %w", name, err)
		}
	}
	return nil
}

// stageCall returns the SQL that reads, with table function fn, the rows
// of table with from <= seq < to.
func stageCall(fn, table string, from, to uint64) string {
	return fmt.Sprintf("%s(%s, %d::UBIGINT, %d::UBIGINT)", fn, sqlString(table), from, to)
}

// insertStaged returns the statement that inserts the rows of table with
// from <= seq < to, read with table function fn, into the file's table.
func insertStaged(fn, table string, from, to uint64) string {
	return "INSERT INTO " + qualify(fileSchema, table) + " SELECT * FROM " + stageCall(fn, table, from, to)
}

// fileCursorSQL is the cursor of the database file, as a query's
// snapshot sees it.
var fileCursorSQL = "(SELECT coalesce(max(next_seq), 0) FROM " + qualify(fileSchema, stateName) + ")"

// queryViewStatements returns the DDL of the query views.
func queryViewStatements() []string {
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
		v += "SELECT * FROM " + qualify(fileSchema, r.Name)
		if _, staged := layouts[r.Name]; staged {
			v += " UNION ALL SELECT * FROM " + stageCall(stageFunction, r.Name, 0, math.MaxUint64) +
				" WHERE seq >= " + fileCursorSQL
		}
		out = append(out, v)
	}
	return out
}

// ensureViews creates the query views.
func (x *Index) ensureViews(ctx context.Context) error {
	return x.execTx(ctx, "create the query views", queryViewStatements())
}
