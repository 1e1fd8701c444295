package index

import (
	"context"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// TestHotWindowAndRehydrate: rows older than the hot window leave the
// index; a rehydrated range comes back and stays until its end.
func TestHotWindowAndRehydrate(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var recs [][]byte
	for i := range 30 {
		age := time.Duration(200-i*5) * 24 * time.Hour // 200 days old down to 55
		recs = append(recs, selfRecord(t, event.SelfAudit{Action: "query", Details: map[string]any{"i": i}}, now.Add(-age)))
	}
	src := newMemSource(recs...)
	x := openIndex(t, "", Options{})
	stop := runIndex(t, x, src)
	waitFor(t, x, uint64(len(recs)-1))
	// The hot window and rehydration apply to the database file's tables;
	// stopping Run flushes the stage into them.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cutoff := func(string) time.Time { return now.Add(-90 * 24 * time.Hour) }
	count := func() int64 { return queryInt(t, x, `SELECT count(*) FROM CdewatchAudit`) }

	deleted, err := x.ExpireHot(ctx, cutoff, now)
	if err != nil {
		t.Fatal(err)
	}
	// Ages 200..95 (22 records) are older than 90 days.
	if deleted[TableCdewatchAudit] != 22 || count() != 8 {
		t.Fatalf("deleted %v, %d rows left; want 22 deleted, 8 left", deleted, count())
	}
	n, err := x.Rehydrate(ctx, src, 5, 10, now.Add(24*time.Hour), now)
	if err != nil || n != 5 || count() != 13 {
		t.Fatalf("rehydrate: %d rows, %v; %d rows in the table", n, err, count())
	}
	// Rehydrating again replaces, never duplicates.
	if _, err := x.Rehydrate(ctx, src, 5, 10, now.Add(24*time.Hour), now); err != nil || count() != 13 {
		t.Fatalf("second rehydrate: %v; %d rows", err, count())
	}
	if _, err := x.ExpireHot(ctx, cutoff, now.Add(time.Hour)); err != nil || count() != 13 {
		t.Fatalf("rehydrated rows expired early: %v; %d rows", err, count())
	}
	if _, err := x.ExpireHot(ctx, cutoff, now.Add(25*time.Hour)); err != nil || count() != 8 {
		t.Fatalf("rehydrated rows kept past their end: %v; %d rows", err, count())
	}
	checkExactlyOnce(t, x, TableCdewatchAudit, []uint64{22, 23, 24, 25, 26, 27, 28, 29})
}

// holeySource is a source whose records in [gapFrom, gapTo) expired.
type holeySource struct {
	*memSource
	gapFrom, gapTo uint64
}

func (s holeySource) ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error {
	return s.memSource.ReadRange(from, to, func(seq uint64, rec []byte) error {
		if seq >= s.gapFrom && seq < s.gapTo {
			return nil
		}
		return fn(seq, rec)
	})
}

// TestIndexSkipsExpiredRange: a rebuild over a ledger whose oldest records
// expired covers the gap and counts it as missing.
func TestIndexSkipsExpiredRange(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var recs [][]byte
	for i := range 5000 {
		recs = append(recs, selfRecord(t, event.SelfAudit{Action: "query", Details: map[string]any{"i": i}}, now))
	}
	src := holeySource{newMemSource(recs...), 0, 4000}
	x := openIndex(t, "", Options{})
	runIndex(t, x, src)
	waitFor(t, x, 4999)
	if n := queryInt(t, x, `SELECT count(*) FROM CdewatchAudit`); n != 1000 {
		t.Fatalf("%d rows, want 1000", n)
	}
	if st := x.Stats(); st.Missing != 4000 {
		t.Fatalf("stats %+v, want 4000 missing", st)
	}
}
