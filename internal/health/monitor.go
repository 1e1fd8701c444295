package health

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Monitor watches the sources and cdewatch's own controls. It is a
// detect.Stateful evaluator: the detector calls Eval for every record in
// ledger order and saves the state with its cursor. Tick, called every
// few seconds (Run does), finds what only the passing of time shows
// (silence, lag, a full disk, a jumping clock) and returns the alerts to
// raise. Its methods are safe for concurrent use.
type Monitor struct {
	cfg Config

	mu  sync.Mutex
	wmu sync.Mutex // held while writing self-audit records, taken before mu

	// Persisted with the detector's cursor.
	next     uint64 // every record below was evaluated
	sources  map[string]*source
	streams  int
	overflow uint64 // records of streams beyond MaxStreams
	fs       failureSet

	// Live only.
	lags     map[string]Lag
	ingest   map[string]*redelivery
	clock    ClockWatcher
	disk     *DiskUsage
	diskErr  string
	jumps    uint64
	lastJump time.Duration
	times    *timeMatcher // nil: time changes not classified
	azureOps []string
	rateTabs map[string]bool
}

// source is what is watched of one source.
type source struct {
	all         stream // the source as a whole
	tables      map[string]*stream
	skew        skewState
	audit       *auditStream
	timeChanges map[string]uint64 // by category
}

// stream is one source, or one table of a source, watched for silence.
type stream struct {
	name          string // "<source>" or "<source>/<table>"
	source, table string
	last          int64 // received time of the newest record, Unix ns
	lastSeq       uint64
	records       uint64
	gaps          sketch // gaps of a millisecond or more between records
	maxGap        int64
	rate          *rateState

	rule         *SilenceRule
	ruleResolved bool
	bound        time.Duration // cached learned bound
	boundAt      uint64        // gaps.n when it was computed
}

var _ detect.Stateful = (*Monitor)(nil)

// New returns a monitor with cfg's defaults filled in.
func New(cfg Config) (*Monitor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, lags: map[string]Lag{}, ingest: map[string]*redelivery{}, rateTabs: map[string]bool{}}
	m.reset()
	if !cfg.TimeChange.Off {
		m.times = newTimeMatcher(append(DefaultTimePhrases(), cfg.TimeChange.Phrases...))
		for _, p := range cfg.TimeChange.AzureOperations {
			m.azureOps = append(m.azureOps, strings.ToLower(p))
		}
	}
	if !cfg.RateDrop.Off {
		for _, t := range cfg.RateDrop.Tables {
			m.rateTabs[t] = true
		}
	}
	return m, nil
}

// reset empties the persisted state.
func (m *Monitor) reset() {
	m.next, m.sources, m.streams, m.overflow = 0, map[string]*source{}, 0, 0
	m.fs = newFailureSet()
}

// StateName implements detect.Stateful.
func (m *Monitor) StateName() string { return "health" }

// Evaluated returns the cursor of the records the monitor has evaluated:
// every record below it (but those the detector skips) was.
func (m *Monitor) Evaluated() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next
}

// getSource returns the source named, created on first use; nil when no
// stream can be added.
func (m *Monitor) getSource(name string) *source {
	if s := m.sources[name]; s != nil {
		return s
	}
	if m.streams >= m.cfg.MaxStreams {
		return nil
	}
	name = strings.Clone(name) // the event's strings are the detector's
	s := &source{all: stream{name: name, source: name}, tables: map[string]*stream{}}
	m.sources[name] = s
	m.streams++
	return s
}

// getTable returns a table's stream within src, created on first use; nil
// when no stream can be added.
func (m *Monitor) getTable(src *source, table string) *stream {
	if t := src.tables[table]; t != nil {
		return t
	}
	if m.streams >= m.cfg.MaxStreams {
		return nil
	}
	table = strings.Clone(table)
	t := &stream{name: src.all.source + "/" + table, source: src.all.source, table: table}
	if m.rateTabs[table] {
		t.rate = &rateState{}
	}
	src.tables[table] = t
	m.streams++
	return t
}

// Eval implements detect.Evaluator. It does no I/O: the self-audit
// records of the failures it starts or ends are queued for the next Tick.
func (m *Monitor) Eval(e *detect.Event, emit func(alert.Alert)) {
	r := &e.Rec
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Seq >= m.next {
		m.next = e.Seq + 1
	}
	if r.Source == event.SelfSource {
		if r.Table == event.TableCdewatchAudit && strings.HasPrefix(r.Action, "health.failure.") {
			m.fs.apply(r)
		}
		return
	}
	if r.Table == event.TableSecurityAlert || r.Received.IsZero() {
		return
	}
	rcv := r.Received.UnixNano()
	src := m.getSource(r.Source)
	if src == nil {
		m.overflow++
		return
	}
	m.observe(&src.all, r, e.Seq, rcv, emit)
	if t := m.getTable(src, r.Table); t != nil {
		m.observe(t, r, e.Seq, rcv, emit)
	} else {
		m.overflow++
	}
	if !r.Time.IsZero() {
		m.skewEvent(src, r, e.Seq, rcv, emit)
	}
	switch r.Table {
	case event.TableKubeAudit:
		if !m.cfg.KubeAudit.Off {
			m.auditEvent(src, r, e.Seq, rcv, emit)
		}
	case event.TableSyslog, event.TableAzureActivity:
		if m.times != nil {
			m.timeEvent(src, r, e.Seq, emit)
		}
	}
}

// observe records the arrival of a record on a stream, ending its silence.
func (m *Monitor) observe(s *stream, r *event.Record, seq uint64, rcv int64, emit func(alert.Alert)) {
	if rcv > s.last {
		if s.last != 0 {
			if gap := rcv - s.last; gap >= int64(time.Millisecond) {
				s.gaps.add(time.Duration(gap))
				s.maxGap = max(s.maxGap, gap)
			}
		}
		s.last, s.lastSeq = rcv, seq
	}
	s.records++
	if len(m.fs.open) > 0 {
		if f := m.fs.open[failureKey{ControlSourceSilent, s.name}]; f != nil {
			m.fs.end(f, r.Received, "records arrived again")
			emit(f.alert(RuleSourceSilent, "Source silent", s.source, r.Received, []uint64{seq}, false,
				fmt.Sprintf("%s sends again after %s of silence (silent since %s)", s.name,
					f.End.Sub(f.Start).Round(time.Second), f.Start.Format(time.RFC3339)), nil))
		}
	}
	if s.rate != nil {
		m.rateObserve(s, seq, rcv, emit)
	}
}

// Bound sources: how a stream's silence bound was set.
const (
	BoundConfigured = "configured"
	BoundLearned    = "learned"
	BoundDefault    = "default"
	BoundOff        = "off"
	BoundLearning   = "learning" // a table not learned yet: not watched
)

// silenceBound returns how long a stream may stay silent (0: not
// watched) and where the bound comes from.
func (m *Monitor) silenceBound(s *stream) (time.Duration, string) {
	c := &m.cfg.Silence
	if !s.ruleResolved {
		s.ruleResolved = true
		for i := range c.Rules {
			if ok, _ := path.Match(c.Rules[i].Match, s.name); ok {
				s.rule = &c.Rules[i]
				break
			}
		}
	}
	if r := s.rule; r != nil {
		if r.Off {
			return 0, BoundOff
		}
		return r.Max, BoundConfigured
	}
	if s.table != "" {
		// A source whose silence is not watched: nor are its tables,
		// unless a rule names them.
		if src := m.sources[s.source]; src != nil {
			if _, from := m.silenceBound(&src.all); from == BoundOff {
				return 0, BoundOff
			}
		}
	}
	if n := s.gaps.n; n >= uint64(c.MinSamples) {
		if s.bound == 0 || n < s.boundAt || n >= s.boundAt+max(1, s.boundAt/64) {
			b := time.Duration(c.Factor * float64(s.gaps.quantile(0.999)))
			s.bound, s.boundAt = min(max(b, c.Floor), c.Ceiling), n
		}
		return s.bound, BoundLearned
	}
	if s.table != "" {
		return 0, BoundLearning
	}
	return max(c.Default, min(time.Duration(c.Factor*float64(s.maxGap)), c.Ceiling)), BoundDefault
}

// Tick finds what the passing of time shows, at wall time now: sources
// silent beyond their bound, consumers lagging, redelivery storms, a nearly
// full disk, a jump of cdewatch's clock, Kubernetes audit requests left
// without their end while their source went quiet. It records the starts
// and ends of failures found here and elsewhere (Eval, ReportControl)
// through Config.Audit, and returns the alerts to raise
// (detect.Detector.Raise): the caller must raise them, or give them back
// with Requeue.
func (m *Monitor) Tick(ctx context.Context, now time.Time) []alert.Alert {
	now = now.UTC()
	// Inputs first, outside the lock: they may do I/O.
	var lags []Lag
	if m.cfg.Consumers != nil {
		lags = m.cfg.Consumers(now)
	}
	if m.cfg.Ledger != nil {
		l, err := LedgerLag(m.cfg.Ledger, DetectorConsumer, m.Evaluated(), now, detectorSkips...)
		if err != nil {
			m.cfg.Log.Error("could not measure the detector's lag", "err", err)
		} else {
			lags = append(lags, l)
		}
	}
	var counts []IngestCount
	if m.cfg.Ingest != nil {
		counts = m.cfg.Ingest()
	}
	var disk *DiskUsage
	var diskErr error
	if m.cfg.Disk.Path != "" {
		u, err := CheckDisk(m.cfg.Disk.Path, m.cfg.Disk.Statfs)
		disk, diskErr = &u, err
	}
	mono := m.cfg.Mono()

	m.mu.Lock()
	for _, l := range lags {
		if l.At.IsZero() {
			l.At = now
		}
		m.lags[l.Consumer] = l
	}
	for _, c := range counts {
		m.reportIngest(c, now)
	}
	horizon := now
	if l, ok := m.lags[DetectorConsumer]; ok && m.cfg.Ledger != nil && l.Oldest > 0 {
		horizon = now.Add(-l.Oldest)
	}
	m.tickClock(now, mono)
	m.tickSilence(horizon)
	m.tickAudit(horizon)
	m.tickLag(now)
	m.tickRedelivery(now)
	if disk != nil {
		m.tickDisk(*disk, diskErr, now)
	}
	alerts := m.fs.alerts
	m.fs.alerts = nil
	m.mu.Unlock()

	if err := m.flush(ctx); err != nil {
		m.cfg.Log.Error("could not record failures in the ledger; will retry", "err", err)
	}
	return alerts
}

// Requeue gives back alerts Tick returned that could not be raised; the
// next Tick returns them again.
func (m *Monitor) Requeue(alerts []alert.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range alerts {
		m.fs.queueAlert(a)
	}
}

// detectorSkips are the tables of the records the detector does not
// evaluate: its own output.
var detectorSkips = []string{event.TableSecurityAlert, event.TableSecurityIncident}

// RaiseFunc records and delivers alerts (detect.Detector.Raise).
type RaiseFunc func(ctx context.Context, alerts []alert.Alert) error

// Run calls Tick every Config.TickInterval until ctx ends, raising the
// alerts it returns; alerts that cannot be raised are kept for the next
// tick.
func (m *Monitor) Run(ctx context.Context, raise RaiseFunc) error {
	t := time.NewTicker(m.cfg.TickInterval)
	defer t.Stop()
	for {
		if alerts := m.Tick(ctx, m.cfg.Now()); len(alerts) > 0 {
			if err := raise(ctx, alerts); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				m.cfg.Log.Error("could not raise health alerts; will retry", "alerts", len(alerts), "err", err)
				m.Requeue(alerts)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sortedSources returns the sources in name order.
func (m *Monitor) sortedSources() []*source {
	out := make([]*source, 0, len(m.sources))
	for _, s := range m.sources {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *source) int { return strings.Compare(a.all.source, b.all.source) })
	return out
}

func sortedTables(src *source) []*stream {
	out := make([]*stream, 0, len(src.tables))
	for _, t := range src.tables {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *stream) int { return strings.Compare(a.table, b.table) })
	return out
}

// tickSilence starts the failures of the streams silent beyond their
// bound at horizon. The tables of a silent source are not judged apart.
func (m *Monitor) tickSilence(horizon time.Time) {
	for _, src := range m.sortedSources() {
		if m.checkSilence(&src.all, horizon) {
			continue
		}
		for _, t := range sortedTables(src) {
			m.checkSilence(t, horizon)
		}
	}
}

// checkSilence starts s's silence failure when due; it reports whether s
// is silent.
func (m *Monitor) checkSilence(s *stream, horizon time.Time) bool {
	key := failureKey{ControlSourceSilent, s.name}
	if m.fs.open[key] != nil {
		return true
	}
	b, from := m.silenceBound(s)
	if b <= 0 || s.last == 0 {
		return false
	}
	last := time.Unix(0, s.last).UTC()
	silent := horizon.Sub(last)
	if silent <= b {
		return false
	}
	cause := fmt.Sprintf("no records since %s (%s; bound %s, %s)", last.Format(time.RFC3339), silent.Round(time.Second), b, from)
	if f := m.fs.start(key, alert.High, last, cause, map[string]any{"bound_seconds": b.Seconds(), "bound_from": from, "last_seq": s.lastSeq}); f != nil {
		m.fs.queueAlert(f.alert(RuleSourceSilent, "Source silent", s.source, last, []uint64{s.lastSeq}, true,
			fmt.Sprintf("%s silent: %s", s.name, cause), map[string]string{"bound": b.String(), "bound_from": from}))
	}
	return true
}

// tickAudit sweeps the Kubernetes audit streams up to horizon, for the
// requests of a source that went quiet. Without Config.Ledger it does
// nothing: a detector catching up would see requests whose ends it has
// not reached yet as lost (Eval's sweeps, on the source's own received
// times, still run).
func (m *Monitor) tickAudit(horizon time.Time) {
	if m.cfg.Ledger == nil {
		return
	}
	for _, src := range m.sortedSources() {
		if a := src.audit; a != nil {
			m.sweepAudit(src, a, horizon.UnixNano(), m.fs.queueAlert)
		}
	}
}

// lagBound returns the bound of a consumer.
func (m *Monitor) lagBound(consumer string) (uint64, time.Duration) {
	c := &m.cfg.Lag
	recs, age := c.MaxRecords, c.MaxAge
	if b, ok := c.PerConsumer[consumer]; ok {
		if b.MaxRecords > 0 {
			recs = b.MaxRecords
		}
		if b.MaxAge > 0 {
			age = b.MaxAge
		}
	}
	return recs, age
}

// tickLag starts and ends the consumers' lag failures. A lag reported
// more than three tick intervals (at least 30s) ago is not judged.
func (m *Monitor) tickLag(now time.Time) {
	stale := max(3*m.cfg.TickInterval, 30*time.Second)
	names := make([]string, 0, len(m.lags))
	for n := range m.lags {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		l := m.lags[n]
		if now.Sub(l.At) > stale {
			continue
		}
		maxRecs, maxAge := m.lagBound(n)
		key := failureKey{ControlConsumerLag, n}
		f := m.fs.open[key]
		over := l.Behind > maxRecs || l.Oldest > maxAge
		switch {
		case over && f == nil:
			cause := fmt.Sprintf("%d records behind, the oldest received %s ago (bounds %d records, %s)", l.Behind, l.Oldest.Round(time.Second), maxRecs, maxAge)
			if f = m.fs.start(key, alert.High, now, cause, map[string]any{"behind": l.Behind, "oldest_seconds": l.Oldest.Seconds()}); f != nil {
				m.fs.queueAlert(f.alert(RuleConsumerLag, "Consumer of the ledger lagging", "", now, nil, true,
					fmt.Sprintf("%s is lagging: %s", n, cause), nil))
			}
		case !over && f != nil:
			m.fs.end(f, now, fmt.Sprintf("%d records behind", l.Behind))
			m.fs.queueAlert(f.alert(RuleConsumerLag, "Consumer of the ledger lagging", "", now, nil, false,
				fmt.Sprintf("%s caught up after %s", n, f.End.Sub(f.Start).Round(time.Second)), nil))
		}
	}
}

// ReportLag records the lag of a consumer of the ledger; the next Tick
// judges it against its bound. A zero At is the wall clock now.
func (m *Monitor) ReportLag(l Lag) {
	if l.At.IsZero() {
		l.At = m.cfg.Now()
	}
	l.At = l.At.UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lags[l.Consumer] = l
}

// ReportIngest records a source's cumulative ingest counts at the wall
// clock now; the next Tick judges the redeliveries within the window.
func (m *Monitor) ReportIngest(c IngestCount) {
	now := m.cfg.Now().UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reportIngest(c, now)
}

func (m *Monitor) reportIngest(c IngestCount, now time.Time) {
	r := m.ingest[c.Source]
	if r == nil {
		if len(m.ingest) >= m.cfg.MaxStreams {
			return
		}
		r = &redelivery{}
		m.ingest[c.Source] = r
	}
	r.observe(ingestSample{at: now, stored: c.Stored, duplicates: c.Duplicates}, m.cfg.Redelivery.Window)
}

// tickRedelivery starts and ends redelivery-storm failures.
func (m *Monitor) tickRedelivery(now time.Time) {
	c := &m.cfg.Redelivery
	if c.Off {
		return
	}
	names := make([]string, 0, len(m.ingest))
	for n := range m.ingest {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := m.ingest[n]
		if len(r.samples) < 2 {
			continue
		}
		first, last := r.samples[0], r.samples[len(r.samples)-1]
		stored, dup := last.stored-first.stored, last.duplicates-first.duplicates
		ratio := 0.0
		if stored+dup > 0 {
			ratio = float64(dup) / float64(stored+dup)
		}
		storm := dup >= c.MinDuplicates && ratio >= c.Ratio
		key := failureKey{ControlRedelivery, n}
		f := m.fs.open[key]
		switch {
		case storm && f == nil:
			cause := fmt.Sprintf("%d redelivered records in %s, %.0f%% of what the source sent: it retries deliveries cdewatch stored (slow or failed responses?)",
				dup, last.at.Sub(first.at).Round(time.Second), 100*ratio)
			if f = m.fs.start(key, alert.Medium, now, cause, map[string]any{"duplicates": dup, "stored": stored}); f != nil {
				m.fs.queueAlert(f.alert(RuleRedelivery, "Redelivery storm", n, now, nil, true, fmt.Sprintf("source %s: %s", n, cause), nil))
			}
		case !storm && f != nil:
			m.fs.end(f, now, fmt.Sprintf("%d redelivered records in the window", dup))
			m.fs.queueAlert(f.alert(RuleRedelivery, "Redelivery storm", n, now, nil, false,
				fmt.Sprintf("source %s: redeliveries back to normal after %s", n, f.End.Sub(f.Start).Round(time.Second)), nil))
		}
	}
}

// tickDisk starts and ends the disk-space failure.
func (m *Monitor) tickDisk(u DiskUsage, err error, now time.Time) {
	c := &m.cfg.Disk
	m.disk, m.diskErr = &u, ""
	key := failureKey{ControlDiskSpace, c.Path}
	f := m.fs.open[key]
	var cause string
	switch {
	case err != nil:
		m.diskErr = err.Error()
		cause = err.Error()
	case u.low(c.MinFreeBytes, c.MinFreeRatio):
		cause = fmt.Sprintf("%d bytes available (%.1f%% of %d): below %d bytes or %.1f%%", u.Available, 100*u.Ratio, u.Total, c.MinFreeBytes, 100*c.MinFreeRatio)
	}
	switch {
	case cause != "" && f == nil:
		if f = m.fs.start(key, alert.High, now, cause, map[string]any{"available_bytes": u.Available, "total_bytes": u.Total}); f != nil {
			m.fs.queueAlert(f.alert(RuleDiskSpace, "Data directory nearly full", "", now, nil, true,
				fmt.Sprintf("%s: %s; the ledger pushes back when it cannot write", c.Path, cause), nil))
		}
	case cause == "" && f != nil:
		m.fs.end(f, now, fmt.Sprintf("%d bytes available", u.Available))
		m.fs.queueAlert(f.alert(RuleDiskSpace, "Data directory nearly full", "", now, nil, false,
			fmt.Sprintf("%s: %d bytes available again after %s", c.Path, u.Available, f.End.Sub(f.Start).Round(time.Second)), nil))
	}
}

// tickClock checks cdewatch's own clock; a jump is a failure that starts
// and ends at once, recorded with its size.
func (m *Monitor) tickClock(now time.Time, mono time.Duration) {
	if m.cfg.Clock.Off {
		return
	}
	jump := m.clock.Check(now, mono)
	if jump <= m.cfg.Clock.MaxJump && jump >= -m.cfg.Clock.MaxJump {
		return
	}
	m.jumps++
	m.lastJump = jump
	dir := "forward"
	if jump < 0 {
		dir = "backward"
	}
	cause := fmt.Sprintf("the wall clock jumped %s by %s relative to the monotonic clock (bound %s): timestamps around %s may be off",
		dir, jump.Abs().Round(time.Millisecond), m.cfg.Clock.MaxJump, now.Format(time.RFC3339))
	key := failureKey{ControlClockJump, "wall-clock"}
	if f := m.fs.start(key, alert.High, now, cause, map[string]any{"jump_seconds": jump.Seconds()}); f != nil {
		m.fs.end(f, now, "a jump is instantaneous")
		m.fs.queueAlert(f.alert(RuleClockJump, "cdewatch's clock jumped", "", now, nil, true, cause,
			map[string]string{"jump": jump.String()}))
	}
}
