package index

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/semver"

	"github.com/cdewatch/cdewatch/internal/logtest"
)

// TestStorageUpgrade: an index file in an older DuckDB storage format is
// replaced by an empty one in storageVersion, which keeps its rehydrated
// ranges and is rebuilt from the ledger; a file in storageVersion is
// kept.
func TestStorageUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.duckdb")
	until := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	requested := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

	// An index as DuckDB writes it by default (the v1.0 format), current
	// in every other way, covering 5 records, with one rehydrated range.
	old, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append(createStatements(), createStateStatement(fileSchema),
		`INSERT INTO `+qualify(fileSchema, stateName)+` VALUES (0, '`+schemaVersion+`', 5, 0, 0, 0, now()::TIMESTAMP)`)
	for _, s := range stmts {
		if _, err := old.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := createRehydrated(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO `+rehydratedTable+` VALUES (10, 20, ?, ?)`, until, requested); err != nil {
		t.Fatal(err)
	}
	if v, err := fileStorageVersion(ctx, old); err != nil || semver.Compare(v, storageVersion) >= 0 {
		t.Fatalf("the old file's format is %q (%v), want one before %s", v, err, storageVersion)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	for i, want := range []struct {
		warned bool
		cursor uint64
	}{
		{warned: true, cursor: 0},  // replaced: rebuilt from the ledger
		{warned: false, cursor: 7}, // kept: the cursor set below
	} {
		var logs logtest.Buffer
		x, err := Open(path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if v, err := fileStorageVersion(ctx, x.DB()); err != nil || v != storageVersion {
			t.Errorf("open %d: the file's format is %q (%v), want %s", i, v, err, storageVersion)
		}
		if got := strings.Contains(logs.String(), "older DuckDB storage format"); got != want.warned {
			t.Errorf("open %d: warned %v, want %v; log:\n%s", i, got, want.warned, logs.String())
		}
		if c := x.Cursor(); c != want.cursor {
			t.Errorf("open %d: cursor %d, want %d", i, c, want.cursor)
		}
		ranges, err := readRehydrated(ctx, x.DB())
		if err != nil {
			t.Fatal(err)
		}
		if len(ranges) != 1 || ranges[0].from != 10 || ranges[0].to != 20 || !ranges[0].until.Equal(until) || !ranges[0].requested.Equal(requested) {
			t.Errorf("open %d: rehydrated ranges %+v, want [10, 20) until %v requested %v", i, ranges, until, requested)
		}
		// Something to lose if the second open replaced the file again.
		if _, err := x.DB().ExecContext(ctx, `UPDATE `+qualify(fileSchema, stateName)+` SET next_seq = 7`); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".upgrade"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the upgrade left %s.upgrade behind (%v)", path, err)
	}
}

// TestColumnCompression: the columns with a Compression are written with
// it (not DuckDB's fallback to none, as in a file of an older storage
// format).
func TestColumnCompression(t *testing.T) {
	x := openIndex(t, filepath.Join(t.TempDir(), "index.duckdb"), Options{})
	src := newMemSource(auditRecords(t, fixtureEvents(t))...)
	stop := runIndex(t, x, src)
	waitFor(t, x, src.Size()-1)
	if err := stop(); err != nil { // flushes the stage into the file
		t.Fatal(err)
	}
	if _, err := x.DB().Exec("CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range Relations() {
		for _, c := range r.Columns {
			if c.Compression == "" || r.IsView() {
				continue
			}
			rows, err := x.DB().Query(`SELECT DISTINCT compression FROM pragma_storage_info('`+qualify(fileSchema, r.Name)+`')`+
				` WHERE column_name = ? AND segment_type <> 'VALIDITY'`, c.Name)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			rows.Close()
			if len(got) == 0 {
				continue // no rows in the fixture
			}
			if len(got) != 1 || !strings.EqualFold(got[0], c.Compression) {
				t.Errorf("%s.%s: segments compressed %v, want %s", r.Name, c.Name, got, c.Compression)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no column with a Compression has rows in the fixture")
	}
}
