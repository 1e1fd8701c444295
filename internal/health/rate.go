package health

import (
	"fmt"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// hourMean is the learned count of records per window in one hour of the
// day: a plain mean over the first windows, then a moving average.
type hourMean struct {
	Mean float64 `json:"mean"`
	N    uint32  `json:"n"`
}

// rateAlpha is the weight of a new window in a learned hour.
const rateAlpha = 0.1

// rateState counts a stream's records per window (of received time) and
// learns the usual count of each hour of the day (UTC).
type rateState struct {
	Win     int64        `json:"win"`     // start of the window being counted, Unix ns
	Count   uint64       `json:"count"`   // records in it
	First   int64        `json:"first"`   // start of the first window
	Partial bool         `json:"partial"` // the window began before the stream was watched
	Hours   [24]hourMean `json:"hours"`
}

// rateObserve counts a record of a watched stream at received time rcv,
// judging the windows it closes.
func (m *Monitor) rateObserve(s *stream, seq uint64, rcv int64, emit func(alert.Alert)) {
	c := &m.cfg.RateDrop
	r := s.rate
	win := int64(c.Window)
	w := rcv - rcv%win
	switch {
	case r.Win == 0:
		r.Win, r.First, r.Partial = w, w, true
	case w > r.Win:
		m.closeWindow(s, seq, emit)
		r.Win, r.Count, r.Partial = w, 0, false
	}
	r.Count++
}

// closeWindow judges the window r.Win of s against what was learned for
// its hour, then learns from it (unless the stream is in a rate failure,
// whose windows would teach it to expect the failure).
func (m *Monitor) closeWindow(s *stream, seq uint64, emit func(alert.Alert)) {
	c := &m.cfg.RateDrop
	r := s.rate
	if r.Partial {
		return
	}
	start := time.Unix(0, r.Win).UTC()
	h := &r.Hours[start.Hour()]
	key := failureKey{ControlRateDrop, s.name}
	f := m.fs.open[key]
	learned := r.Win-r.First >= int64(c.Learning) && h.N >= uint32(c.MinWindows) && h.Mean >= c.MinExpected
	n := float64(r.Count)
	if learned {
		switch {
		case f == nil && n < c.Ratio*h.Mean:
			cause := fmt.Sprintf("%d records received in the %s from %s, where %.0f are usual at this hour",
				r.Count, c.Window, start.Format(time.RFC3339), h.Mean)
			if f = m.fs.start(key, alert.High, start, cause, map[string]any{"count": r.Count, "expected": h.Mean}); f != nil {
				emit(f.alert(RuleRateDrop, "Audit stream rate dropped", s.source, start, []uint64{seq}, true,
					fmt.Sprintf("%s: %s (below %.0f%%): events may be lost", s.name, cause, 100*c.Ratio),
					map[string]string{"count": fmt.Sprint(r.Count), "expected": fmt.Sprintf("%.0f", h.Mean)}))
			}
			return
		case f != nil && n >= c.Recover*h.Mean:
			m.fs.end(f, start, fmt.Sprintf("%d records in the %s from %s (%.0f usual)", r.Count, c.Window, start.Format(time.RFC3339), h.Mean))
			emit(f.alert(RuleRateDrop, "Audit stream rate dropped", s.source, start, []uint64{seq}, false,
				fmt.Sprintf("%s: rate back to %d records per %s after %s", s.name, r.Count, c.Window, f.End.Sub(f.Start).Round(time.Second)), nil))
			f = nil
		}
	}
	if f != nil {
		return
	}
	if h.N < uint32(c.MinWindows) {
		h.N++
		h.Mean += (n - h.Mean) / float64(h.N)
	} else {
		h.Mean += rateAlpha * (n - h.Mean)
	}
}
