package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ingest"
)

// SourcesAnswer is the answer of GET /v1/sources: per source, what the
// index holds of it (volume, newest event, the share of records missing
// each PCI DSS 10.2.2 detail) and what its receivers counted since the
// process started (rate, rejects, masked card data, refusals).
type SourcesAnswer struct {
	Sources []SourceView `json:"sources"`
	// Indexed is false when the index is disabled or failed: then only
	// the live counts are known.
	Indexed bool   `json:"indexed"`
	Error   string `json:"error,omitempty"`
}

// SourceView is one source in GET /v1/sources.
type SourceView struct {
	Source       string           `json:"source"`
	Records      int64            `json:"records"` // rows in the index
	Tables       map[string]int64 `json:"tables"`  // rows per table
	LastEvent    time.Time        `json:"last_event,omitzero"`
	LastReceived time.Time        `json:"last_received,omitzero"`
	// Missing gives, per 10.2.2 detail, the indexed records without it
	// and their share of Records.
	Missing map[string]MissingShare `json:"missing"`
	// Live is what the receivers counted since the process started; nil
	// for a source that sent nothing since.
	Live *ingest.SourceStats `json:"live,omitempty"`
}

// MissingShare is how many records lack a 10.2.2 detail.
type MissingShare struct {
	Records int64   `json:"records"`
	Share   float64 `json:"share"` // 0..1
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	var ans SourcesAnswer
	var sums []index.SourceSummary
	if s.Sources != nil {
		var err error
		if sums, err = s.Sources(r.Context()); err != nil {
			s.Log.Error("summarizing sources", "err", err)
			ans.Error = "the index could not be read; live counts only"
		} else {
			ans.Indexed = true
		}
	}
	ans.Sources = SourceViews(sums, s.Stats.Snapshot())
	httpjson.Write(w, http.StatusOK, ans)
}

// SourceViews merges the index's summaries with the live counts, by
// source, sorted by source. cdewatch's own records (source "cdewatch")
// are included.
func SourceViews(sums []index.SourceSummary, live []ingest.SourceStats) []SourceView {
	by := map[string]*SourceView{}
	get := func(src string) *SourceView {
		v := by[src]
		if v == nil {
			v = &SourceView{Source: src, Tables: map[string]int64{}, Missing: map[string]MissingShare{}}
			by[src] = v
		}
		return v
	}
	missing := map[string]map[string]int64{}
	for _, sm := range sums {
		v := get(sm.Source)
		v.Records += sm.Records
		v.Tables[sm.Table] += sm.Records
		if sm.LastEvent.After(v.LastEvent) {
			v.LastEvent = sm.LastEvent
		}
		if sm.LastReceived.After(v.LastReceived) {
			v.LastReceived = sm.LastReceived
		}
		if missing[sm.Source] == nil {
			missing[sm.Source] = map[string]int64{}
		}
		for d, n := range sm.Missing {
			missing[sm.Source][d] += n
		}
	}
	for i := range live {
		v := get(live[i].Source)
		v.Live = &live[i]
		if live[i].LastReceived.After(v.LastReceived) {
			v.LastReceived = live[i].LastReceived
		}
	}
	out := make([]SourceView, 0, len(by))
	for src, v := range by {
		for _, d := range event.DetailNames {
			n := missing[src][d]
			share := 0.0
			if v.Records > 0 {
				share = float64(n) / float64(v.Records)
			}
			v.Missing[d] = MissingShare{Records: n, Share: share}
		}
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b SourceView) int {
		switch {
		case a.Source < b.Source:
			return -1
		case a.Source > b.Source:
			return 1
		}
		return 0
	})
	return out
}
