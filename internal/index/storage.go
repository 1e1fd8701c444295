package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// storageVersion is the DuckDB storage format an index file is written in
// (DuckDB's storage_compatibility_version). DuckDB writes new files in
// the v1.0 format unless told otherwise, so that older DuckDB releases
// can read them; nothing but this program reads an index file, and
// formats before v1.2 cannot compress text with zstd, which
// Column.Compression asks for (DuckDB then stores it uncompressed).
const storageVersion = "v1.5.0"

// openFile opens the index file at path, first replacing it (upgrade) if
// it is in a storage format older than storageVersion.
func openFile(path string, opts Options) (*sql.DB, error) {
	db, err := connect(path, opts)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	version, err := fileStorageVersion(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	if semver.Compare(version, storageVersion) >= 0 {
		return db, nil
	}
	if err := upgrade(ctx, db, path, opts, version); err != nil {
		return nil, err
	}
	return connect(path, opts)
}

// upgrade replaces the index file at path, open as old in the storage
// format version, with an empty one in storageVersion that keeps the old
// one's rehydrated ranges; Open then finds no schema and the index is
// rebuilt from the ledger. DuckDB keeps a file's format for the file's
// life, so the tables cannot be converted in place. The new file is made
// beside the old one and renamed over it: a crash leaves one or the
// other, whole. upgrade closes old.
func upgrade(ctx context.Context, old *sql.DB, path string, opts Options, version string) error {
	defer old.Close()
	opts.Logger.Warn("index: the index file is in an older DuckDB storage format; replacing it with an empty one, which is rebuilt from the ledger (queries see the ledger's records again as the rebuild reaches them)",
		"path", path, "format", version, "now", storageVersion)
	ranges, err := readRehydrated(ctx, old)
	if err != nil {
		return fmt.Errorf("index: upgrade %s: %w", path, err)
	}
	// Fold the old file's write-ahead log into it: a log left beside the
	// path would be replayed into the new file.
	if _, err := old.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("index: upgrade %s: checkpoint the old file: %w", path, err)
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("index: upgrade %s: close the old file: %w", path, err)
	}
	tmp := path + ".upgrade"
	for _, p := range []string{tmp, tmp + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("index: upgrade %s: %w", path, err)
		}
	}
	if err := writeRehydrated(ctx, tmp, opts, ranges); err != nil {
		return fmt.Errorf("index: upgrade %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("index: upgrade %s: %w", path, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("index: upgrade %s: %w", path, err)
	}
	return nil
}

// fileStorageVersion returns the storage format of db's file, e.g.
// "v1.0.0".
func fileStorageVersion(ctx context.Context, db *sql.DB) (string, error) {
	var tag sql.NullString
	err := db.QueryRowContext(ctx, `SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()`).Scan(&tag)
	if err != nil {
		return "", fmt.Errorf("read the storage format: %w", err)
	}
	v := strings.TrimSuffix(tag.String, "+") // "v1.5.0+": this format or later
	if !semver.IsValid(v) {
		return "", fmt.Errorf("unknown storage format %q", tag.String)
	}
	return v, nil
}

// rehydration is one row of the rehydration table.
type rehydration struct {
	from, to         uint64
	until, requested time.Time
}

func readRehydrated(ctx context.Context, db *sql.DB) ([]rehydration, error) {
	if err := createRehydrated(ctx, db); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT from_seq, to_seq, until, requested FROM `+rehydratedTable)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rehydratedTable, err)
	}
	defer rows.Close()
	var out []rehydration
	for rows.Next() {
		var r rehydration
		if err := rows.Scan(&r.from, &r.to, &r.until, &r.requested); err != nil {
			return nil, fmt.Errorf("read %s: %w", rehydratedTable, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", rehydratedTable, err)
	}
	return out, nil
}

// writeRehydrated creates the database file path with the rehydration
// table holding ranges, and closes it with nothing left in a write-ahead
// log.
func writeRehydrated(ctx context.Context, path string, opts Options, ranges []rehydration) (err error) {
	db, err := connect(path, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	if err := createRehydrated(ctx, db); err != nil {
		return err
	}
	for _, r := range ranges {
		if _, err := db.ExecContext(ctx, `INSERT INTO `+rehydratedTable+` VALUES (?, ?, ?, ?)`, r.from, r.to, r.until, r.requested); err != nil {
			return fmt.Errorf("copy %s: %w", rehydratedTable, err)
		}
	}
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}
