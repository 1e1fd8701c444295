package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// SourceSummary is what the index holds of one source in one table.
type SourceSummary struct {
	Source       string
	Table        string
	Records      int64
	LastEvent    time.Time // newest TimeGenerated; zero if none
	LastReceived time.Time // newest ReceivedTime
	// Missing counts, per 10.2.2 detail (event.DetailNames), the rows
	// whose Missing column names it.
	Missing map[string]int64
}

// Sources summarizes every table by source: volume, newest event and
// the records missing each 10.2.2 detail. It reads the indexed rows, so
// it covers what the index holds (the query window), durably.
func (x *Index) Sources(ctx context.Context) ([]SourceSummary, error) {
	var parts []string
	for _, r := range catalog {
		if r.IsView() {
			continue
		}
		parts = append(parts, fmt.Sprintf(`SELECT %s AS t, "Source", "TimeGenerated", "ReceivedTime", "Missing" FROM %s`, sqlString(r.Name), qualify(querySchema, r.Name)))
	}
	cols := []string{`"Source"`, "t", "count(*)", `max("TimeGenerated")`, `max("ReceivedTime")`}
	for _, d := range event.DetailNames {
		cols = append(cols, fmt.Sprintf(`count(*) FILTER (WHERE list_contains(string_split("Missing", ','), %s))`, sqlString(d)))
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM (" + strings.Join(parts, " UNION ALL ") + `) GROUP BY ALL ORDER BY "Source", t`
	rows, err := x.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("summarize sources: %w", err)
	}
	defer rows.Close()
	var out []SourceSummary
	for rows.Next() {
		var s SourceSummary
		var last, recv sql.NullTime
		miss := make([]int64, len(event.DetailNames))
		dst := []any{&s.Source, &s.Table, &s.Records, &last, &recv}
		for i := range miss {
			dst = append(dst, &miss[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("summarize sources: %w", err)
		}
		if last.Valid {
			s.LastEvent = last.Time.UTC()
		}
		if recv.Valid {
			s.LastReceived = recv.Time.UTC()
		}
		s.Missing = make(map[string]int64, len(miss))
		for i, d := range event.DetailNames {
			s.Missing[d] = miss[i]
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarize sources: %w", err)
	}
	return out, nil
}

func sqlString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
