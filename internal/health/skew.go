package health

import (
	"fmt"
	"path"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// skewState measures one source's offsets, received − event time: in
// the current and the previous window (the quantiles reported) and over
// its lifetime (count and sum), with the runs of consecutive records
// beyond or within the bounds.
type skewState struct {
	cur, prev sketch
	winStart  int64 // Unix ns
	count     uint64
	sum       float64 // seconds

	ahead, behind, within int   // lengths of the current runs
	observed              int64 // the offset of the current run beyond bounds nearest to them, ns

	rule         *SkewRule
	ruleResolved bool
}

// skewRule returns the skew rule of a source, if any.
func (m *Monitor) skewRule(source string) *SkewRule {
	for i := range m.cfg.Skew.Rules {
		if ok, _ := path.Match(m.cfg.Skew.Rules[i].Match, source); ok {
			return &m.cfg.Skew.Rules[i]
		}
	}
	return nil
}

// skewBounds returns the bounds that apply to a source; off when not
// checked.
func (m *Monitor) skewBounds(src *source) (ahead, behind time.Duration, off bool) {
	s := &src.skew
	if !s.ruleResolved {
		s.rule, s.ruleResolved = m.skewRule(src.all.source), true
	}
	ahead, behind = m.cfg.Skew.MaxAhead, m.cfg.Skew.MaxBehind
	if r := s.rule; r != nil {
		if r.Off {
			return 0, 0, true
		}
		if r.MaxAhead > 0 {
			ahead = r.MaxAhead
		}
		if r.MaxBehind > 0 {
			behind = r.MaxBehind
		}
	}
	return ahead, behind, false
}

// skewEvent measures the offset of one record and starts or ends the
// source's skew failure.
func (m *Monitor) skewEvent(src *source, r *event.Record, seq uint64, rcv int64, emit func(alert.Alert)) {
	c := &m.cfg.Skew
	s := &src.skew
	d := rcv - r.Time.UnixNano()
	win := int64(c.Window)
	w := rcv - rcv%win
	switch {
	case s.winStart == 0:
		s.winStart = w
	case w >= s.winStart+2*win:
		s.prev, s.cur, s.winStart = sketch{}, sketch{}, w
	case w > s.winStart:
		s.prev, s.cur, s.winStart = s.cur, sketch{}, w
	}
	s.cur.add(time.Duration(d))
	s.count++
	s.sum += time.Duration(d).Seconds()

	maxAhead, maxBehind, off := m.skewBounds(src)
	if off {
		return
	}
	switch {
	case d < -int64(maxAhead):
		if s.ahead == 0 || d > s.observed {
			s.observed = d
		}
		s.ahead, s.behind, s.within = s.ahead+1, 0, 0
	case d > int64(maxBehind):
		if s.behind == 0 || d < s.observed {
			s.observed = d
		}
		s.behind, s.ahead, s.within = s.behind+1, 0, 0
	default:
		s.within, s.ahead, s.behind = s.within+1, 0, 0
	}
	key := failureKey{ControlTimeSkew, src.all.source}
	f := m.fs.open[key]
	switch {
	case f == nil && (s.ahead >= c.Run || s.behind >= c.Run):
		obs := time.Duration(s.observed)
		var cause string
		if obs < 0 {
			cause = fmt.Sprintf("%d consecutive records have event times at least %s ahead of cdewatch's clock (bound %s): the source's clock is ahead, or cdewatch's behind",
				c.Run, (-obs).Round(time.Millisecond), maxAhead)
		} else {
			cause = fmt.Sprintf("%d consecutive records were received at least %s after their event time (bound %s): the source's clock is behind, or its delivery delayed",
				c.Run, obs.Round(time.Millisecond), maxBehind)
		}
		at := r.Received
		if f = m.fs.start(key, alert.High, at, cause, map[string]any{"offset_seconds": obs.Seconds()}); f != nil {
			emit(f.alert(RuleTimeSkew, "Source clock off", src.all.source, at, []uint64{seq}, true,
				fmt.Sprintf("source %s: %s", src.all.source, cause),
				map[string]string{"offset": obs.String()}))
		}
	case f != nil && s.within >= c.Run:
		m.fs.end(f, r.Received, fmt.Sprintf("%d consecutive records within bounds", c.Run))
		emit(f.alert(RuleTimeSkew, "Source clock off", src.all.source, r.Received, []uint64{seq}, false,
			fmt.Sprintf("source %s: event times back within bounds after %s", src.all.source, f.End.Sub(f.Start).Round(time.Second)), nil))
	}
}

// SkewStats is the distribution of a source's offsets, received − event
// time (positive: received after the event time), over the current and
// the previous window of SkewConfig.Window.
type SkewStats struct {
	Source string `json:"source"`
	// Count and Sum (seconds) cover every record measured since the state
	// began; the quantiles, Min and Max the window.
	Count  uint64  `json:"count"`
	Sum    float64 `json:"sum_seconds"`
	Window uint64  `json:"window_count"`
	P50    float64 `json:"p50_seconds"`
	P99    float64 `json:"p99_seconds"`
	Min    float64 `json:"min_seconds"`
	Max    float64 `json:"max_seconds"`
	// Failing says a skew failure of the source lasts.
	Failing bool `json:"failing"`
}

func (m *Monitor) skewStats(src *source) SkewStats {
	s := &src.skew
	var w sketch
	w.merge(&s.prev)
	w.merge(&s.cur)
	st := SkewStats{Source: src.all.source, Count: s.count, Sum: s.sum, Window: w.n,
		Failing: m.fs.open[failureKey{ControlTimeSkew, src.all.source}] != nil}
	if w.n > 0 {
		st.P50, st.P99 = w.quantile(0.5).Seconds(), w.quantile(0.99).Seconds()
		st.Min, st.Max = time.Duration(w.min).Seconds(), time.Duration(w.max).Seconds()
	}
	return st
}
