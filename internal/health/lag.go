package health

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// Lag is how far a consumer of the ledger (the index, the detector, a
// forwarder, the archiver) is behind.
type Lag struct {
	Consumer string
	// Behind is the number of durable records it has not processed;
	// Oldest the age of the oldest of them (0 when none), at At.
	Behind uint64
	Oldest time.Duration
	At     time.Time
}

// DetectorConsumer is the consumer name under which the monitor reports
// the detector's own lag (see Config.Ledger).
const DetectorConsumer = "detect"

// errFound stops a ledger read.
var errFound = errors.New("found")

// LedgerLag measures the lag of a consumer whose cursor is next (every
// record below it processed): the records from next to the ledger's
// size, and the age at now of the oldest of them, by its received time.
// Records of the tables in skip (e.g. the SecurityAlert records a
// detector does not evaluate) and records that do not decode are not
// counted as unprocessed when they are the oldest.
func LedgerLag(l LedgerReader, consumer string, next uint64, now time.Time, skip ...string) (Lag, error) {
	lag := Lag{Consumer: consumer, At: now}
	size := l.Size()
	if next >= size {
		return lag, nil
	}
	first := size
	var rec event.Record
	err := l.ReadRange(next, size, func(seq uint64, b []byte) error {
		if rec.UnmarshalBinary(b) != nil || slices.Contains(skip, rec.Table) {
			return nil
		}
		first = seq
		lag.Oldest = max(now.Sub(rec.Received), 0)
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return lag, fmt.Errorf("measure the lag of %s: %w", consumer, err)
	}
	lag.Behind = size - first
	return lag, nil
}

// IngestCount is what a source delivered since the process started: the
// records stored and the redeliveries skipped (ingest.SourceStats's
// Records and Duplicates).
type IngestCount struct {
	Source     string
	Stored     uint64
	Duplicates uint64
}

// ingestSample is an IngestCount at a time.
type ingestSample struct {
	at                 time.Time
	stored, duplicates uint64
}

// redelivery holds the recent samples of one source's counts.
type redelivery struct {
	samples []ingestSample // oldest first, spanning the window
}

// observe adds a sample and returns the records stored and redelivered
// within the window before it. Counts that go down (a restart) start
// afresh.
func (r *redelivery) observe(s ingestSample, window time.Duration) (stored, dup uint64) {
	if n := len(r.samples); n > 0 && (s.stored < r.samples[n-1].stored || s.duplicates < r.samples[n-1].duplicates) {
		r.samples = r.samples[:0]
	}
	r.samples = append(r.samples, s)
	// Keep the newest sample at or before the window's start as the base.
	i := 0
	for i+1 < len(r.samples) && !r.samples[i+1].at.After(s.at.Add(-window)) {
		i++
	}
	r.samples = r.samples[i:]
	base := r.samples[0]
	return s.stored - base.stored, s.duplicates - base.duplicates
}
