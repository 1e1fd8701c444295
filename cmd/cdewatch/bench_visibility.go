package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// visibilityMetric is the index's cursor on /metrics: every ledger record
// below it is queryable.
const visibilityMetric = "cdewatch_index_visible_records"

// visibilitySample is one reading of the index's cursor.
type visibilitySample struct {
	at      time.Time // when the reading arrived
	visible uint64
}

// probeVisibility reads the index's cursor from the server's /metrics
// every interval until ctx ends, and returns the readings. A failed
// reading ends the probe with an error, and the readings so far.
func probeVisibility(ctx context.Context, server, token string, interval time.Duration) ([]visibilitySample, error) {
	var out []visibilitySample
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		v, err := readVisible(ctx, server, token)
		if ctx.Err() != nil {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, visibilitySample{at: time.Now(), visible: v})
		select {
		case <-ctx.Done():
			return out, nil
		case <-t.C:
		}
	}
}

// readVisible reads the index's cursor from /metrics.
func readVisible(ctx context.Context, server, token string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", visibilityMetric, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read %s: GET /metrics: %s", visibilityMetric, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), visibilityMetric+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("read %s: %w", visibilityMetric, err)
			}
			return uint64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", visibilityMetric, err)
	}
	return 0, fmt.Errorf("read %s: /metrics does not have it (is the index enabled?)", visibilityMetric)
}

// visibilityLatencies returns, for each acknowledged request, the time
// from its acknowledgement to the first reading at or after it that shows
// all its records queryable; unseen counts the requests no reading covers.
// Readings must be in time order, as probeVisibility returns them. A
// latency is at most the probe's interval (plus one scrape) too long.
func visibilityLatencies(acks []benchAck, samples []visibilitySample) (lat []time.Duration, unseen int) {
	for _, a := range acks {
		i, _ := slices.BinarySearchFunc(samples, a.at, func(s visibilitySample, t time.Time) int { return s.at.Compare(t) })
		// The cursor only grows: the first reading that covers a.end.
		j, _ := slices.BinarySearchFunc(samples[i:], a.end, func(s visibilitySample, end uint64) int {
			if s.visible < end {
				return -1
			}
			return 1
		})
		if i+j == len(samples) {
			unseen++
			continue
		}
		lat = append(lat, samples[i+j].at.Sub(a.at))
	}
	return lat, unseen
}

// visibilityReport summarizes visibilityLatencies.
func visibilityReport(acks []benchAck, samples []visibilitySample, interval time.Duration) string {
	lat, unseen := visibilityLatencies(acks, samples)
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Millisecond)
	}
	s := fmt.Sprintf("query index visibility, acknowledgement to queryable (cursor read every %v), %d requests: p50 %v p90 %v p99 %v max %v",
		interval, len(lat), q(0.50), q(0.90), q(0.99), q(1))
	if unseen > 0 {
		s += fmt.Sprintf("; %d requests never seen queryable", unseen)
	}
	return s
}
